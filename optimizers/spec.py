"""What a sweep needs to know about an optimizer, without importing torch.

An optimizer is described by an `OptimizerSpec`: its name, a one-line summary, where its
implementation is (`target`, "module:callable", imported only when a trial builds it) and its
hyperparameters as a pydantic `Params` model: each field's default, its allowed range
(`Field(ge=..., lt=...)`) or choices (`Literal[...]`), and, on the model, which hyperparameters may
differ between the members of one stack (`per_member`) and which a trial names only when they
are not at their defaults (`optional`, so adding one leaves existing trial ids unchanged).

The built-ins declare theirs in `builtin.py`; a plug-in optimizer (a torch.optim.Optimizer
subclass or a factory in the user's file) gets one from its constructor's signature
(`plugin.py`). Both reach a sweep through the same door (`registry.py`).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from adamlab.optimizers.schedules import SCHEDULES


class OptimizerParams(BaseModel):
    """Base of every optimizer's hyperparameters: the schedule, which every optimizer takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: hyperparameters that may differ between the members of one stack
    per_member: ClassVar[tuple[str, ...]] = ()
    #: hyperparameters a trial names only when they differ from their defaults
    optional: ClassVar[tuple[str, ...]] = ("schedule", "warmup_steps")
    #: a plug-in whose constructor takes **kwargs: any keyword is passed on
    open_keywords: ClassVar[bool] = False
    #: a plug-in's keywords without a default: the sweep must give them
    required: ClassVar[tuple[str, ...]] = ()

    schedule: Literal["constant", "cosine", "linear"] = Field(
        "constant", description="lr_t = lr x eta_t: " + " | ".join(SCHEDULES)
    )
    warmup_steps: int = Field(0, ge=0, description="linear warmup eta_t = t/N over the first N steps")


@dataclass(frozen=True)
class Bounds:
    """An allowed numeric interval (low, high may be infinite)."""

    low: float = -math.inf
    low_included: bool = True
    high: float = math.inf
    high_included: bool = True

    def contains(self, value: float) -> bool:
        above = value >= self.low if self.low_included else value > self.low
        below = value <= self.high if self.high_included else value < self.high
        return above and below

    def rule(self) -> str:
        """'must be >= 0' or 'must be in [0, 1)'."""
        if math.isinf(self.high):
            return f"must be {'>=' if self.low_included else '>'} {self.low:g}"
        if math.isinf(self.low):
            return f"must be {'<=' if self.high_included else '<'} {self.high:g}"
        return (f"must be in {'[' if self.low_included else '('}{self.low:g}, {self.high:g}"
                f"{']' if self.high_included else ')'}")

    @property
    def unbounded(self) -> bool:
        return math.isinf(self.low) and math.isinf(self.high)


def field_bounds(info: FieldInfo) -> Bounds:
    """The numeric interval of a pydantic field's ge/gt/le/lt constraints."""
    bounds = Bounds()
    for item in info.metadata:
        for attr, low, included in (("ge", True, True), ("gt", True, False),
                                    ("le", False, True), ("lt", False, False)):
            limit = getattr(item, attr, None)
            if limit is None:
                continue
            if low:
                bounds = Bounds(float(limit), included, bounds.high, bounds.high_included)
            else:
                bounds = Bounds(bounds.low, bounds.low_included, float(limit), included)
    return bounds


def field_choices(info: FieldInfo) -> tuple[Any, ...] | None:
    """The values of a Literal field, else None."""
    annotation = info.annotation
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return None


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    summary: str
    #: "module:callable" called as callable(params, **hyperparameters) -> torch.optim.Optimizer
    target: str
    #: the hyperparameters: defaults, ranges, choices, per_member, optional
    Params: type[OptimizerParams]
    #: accepts sparse gradients (nn.Embedding(sparse=True))
    sparse_ok: bool = False
    #: "module:callable" of a hand-stacked form, called as callable(params, members) with one
    #: hyperparameter dict per member; None: the generic stack of K torch optimizers
    stacked: str | None = None
    #: where it comes from: "built-in", "installed: <distribution> <version>", "file: <path>"
    origin: str = "built-in"
    #: a plug-in given by `target:` in a sweep: hyperparameters are its constructor keywords,
    #: passed as the YAML gives them (a trial records the ones given, and lr)
    plugin: bool = False
    #: the file that defines a plug-in, for messages ("" for the built-ins)
    source_file: str = ""

    @property
    def defaults(self) -> dict[str, Any]:
        """The hyperparameters every trial names, with their defaults, in declaration order."""
        return {name: info.get_default(call_default_factory=True)
                for name, info in self.Params.model_fields.items()
                if name not in self.Params.optional}

    @property
    def optional(self) -> dict[str, Any]:
        """Hyperparameters a trial names only when not at these defaults."""
        fields = self.Params.model_fields
        return {name: fields[name].get_default(call_default_factory=True)
                for name in self.Params.optional if name in fields}

    @property
    def per_member(self) -> tuple[str, ...]:
        """A hand-stacked form's own list; in the generic stack (one optimizer instance per
        member) every hyperparameter but the schedule may differ."""
        if self.stacked is not None:
            return self.Params.per_member
        return tuple(k for k in self.allowed() if k not in OptimizerParams.optional)

    def allowed(self) -> dict[str, Any]:
        """Every hyperparameter a sweep may give, with its default."""
        return {**self.defaults, **self.optional}

    def field(self, name: str) -> FieldInfo:
        return self.Params.model_fields[name]

    def shared_hparams(self, hparams: dict[str, Any]) -> dict[str, Any]:
        """What the members of one stack must have in common (amsgrad, bias_correction, ...)."""
        return {k: v for k, v in hparams.items() if k not in self.per_member}

    def trial_hparams(self, hparams: dict[str, Any]) -> dict[str, Any]:
        """`hparams` as a trial records them: optional hyperparameters at their defaults left out."""
        optional = self.optional
        if self.plugin:  # the keywords the YAML gives are kept, even at the constructor's default
            optional = {k: v for k, v in optional.items() if k in OptimizerParams.optional}
        return {k: v for k, v in hparams.items()
                if not (k in optional and same_value(v, optional[k]))}


def same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )
