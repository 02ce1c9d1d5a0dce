"""How to run a sweep, as one checked object: `SweepOptions`.

The CLI builds it from its flags and the Python API from its keywords; the executor
(adamlab.sweep.execute.run_sweep) takes it as it is. Every value is checked here, once, when the
object is made: a bad one is an `OptionsError` of one line naming the flag and what it may be.
What the options do is said where they act (adamlab.sweep.execute, .resources, .stacking).
What the sweep file says (its device, its size limits) is read with it, by adamlab.sweep.schema.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from adamlab.errors import AdamlabError

BACKENDS = ("local", "ray")
#: what a run does with recorded trials made in another environment (adamlab.store.staleness):
#: refuse to mix them with its own, run them again, or keep them beside its own
STALE_POLICIES = ("refuse", "rerun", "accept")
STACK_SIZE_RULE = "must be auto or an integer >= 1"


class OptionsError(AdamlabError):
    """A sweep option that is not allowed; the message is one line naming the flag."""


def parse_stack_size(value: Any, *, text: bool = False) -> int | None:
    """A stack size as the sweep file's `stack_size:` or `--stack-size` gives it: "auto" -> None
    (as many trials per stack as share one and fit in memory), an integer >= 1 -> itself;
    `text`: a flag's digits count as the integer they write. Else ValueError(STACK_SIZE_RULE...)."""
    if value == "auto":
        return None
    size = value
    # str.isdigit() also takes '²' and other digits int() cannot read
    if text and isinstance(value, str) and value.isascii() and value.isdigit():
        size = int(value)
    if type(size) is not int or size < 1:
        raise ValueError(f"{STACK_SIZE_RULE}, got {value!r}")
    return size


def stale_policy(rerun_stale: bool, accept_stale: bool) -> str:
    """The stale policy the flags --rerun-stale and --accept-stale ask for."""
    if rerun_stale and accept_stale:
        raise OptionsError("--rerun-stale and --accept-stale: give one of them, not both")
    return "rerun" if rerun_stale else "accept" if accept_stale else "refuse"


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep runs (never which trials it has: that is the sweep file's)."""

    #: stacks run at once in worker processes (None: automatic, adamlab.sweep.resources.auto_jobs)
    jobs: int | None = None
    #: torch threads per stack (None: automatic, adamlab.sweep.resources.auto_threads)
    threads: int | None = None
    #: the most trials per stack: an integer >= 1, "auto", or None for the sweep file's
    #: stack_size: (a flag's digits are read as the integer)
    stack_size: int | str | None = None
    #: where stacks run: "local" (this process or `jobs` workers) or "ray"
    backend: str = "local"
    #: the Ray cluster's address (only with backend "ray"; None: $RAY_ADDRESS or a local one)
    address: str | None = None
    #: run failed trials again (finished and diverged ones stay done)
    retry_failed: bool = False
    #: one of STALE_POLICIES
    stale: str = "refuse"
    #: write into a results folder owned by another user or writable by all
    trust_folder: bool = False
    #: also write every trial as a TensorBoard run under this folder
    tensorboard: Path | None = None
    #: the command line that started the run, for the folder's provenance
    argv: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name, flag in (("jobs", "--jobs"), ("threads", "--threads")):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise OptionsError(f"{flag}: must be an integer >= 1, got {value!r}")
        if self.stack_size is not None:
            try:
                size = parse_stack_size(self.stack_size, text=True)
            except ValueError as exc:
                raise OptionsError(f"--stack-size: {exc}") from None
            object.__setattr__(self, "stack_size", "auto" if size is None else size)
        if self.backend not in BACKENDS:
            raise OptionsError(f"--backend: must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.address is not None and self.backend != "ray":
            raise OptionsError(f"--address {self.address}: a Ray cluster address; it needs --backend ray")
        if self.stale not in STALE_POLICIES:
            raise OptionsError(f"stale: must be one of {', '.join(STALE_POLICIES)}, got {self.stale!r}")
        for name in ("retry_failed", "trust_folder"):
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(f"--{name.replace('_', '-')}: must be true or false, "
                                   f"got {getattr(self, name)!r}")
        if self.tensorboard is not None:
            object.__setattr__(self, "tensorboard", Path(self.tensorboard))
        if self.argv is not None:
            object.__setattr__(self, "argv", tuple(self.argv))

    @classmethod
    def from_keywords(cls, **keywords: Any) -> SweepOptions:
        """The options named by keyword (the Python API's), an unknown one refused by name."""
        allowed = [f.name for f in fields(cls)]
        unknown = [key for key in keywords if key not in allowed]
        if unknown:
            raise OptionsError(f"{unknown[0]}: not a sweep option; allowed: {', '.join(allowed)}")
        return cls(**keywords)

    def stack_size_for(self, file_stack_size: int | None) -> int | None:
        """The most trials per stack (None: automatic), given the sweep file's."""
        if self.stack_size is None:
            return file_stack_size
        return None if self.stack_size == "auto" else self.stack_size
