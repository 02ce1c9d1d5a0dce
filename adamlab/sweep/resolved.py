"""The resolved sweep: `Sweep`, with a `TaskPlan` per task entry and an `OptimizerPlan` per
optimizer entry, every default filled in and every step count known (adamlab.sweep.schema makes
it from a file; adamlab.sweep.trials expands it into trials).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from adamlab.optimizers.registry import get_spec
from adamlab.optimizers.spec import OptimizerSpec
from adamlab.sweep.yaml_source import YamlDocument


@dataclass(frozen=True)
class TaskPlan:
    """A task entry with everything resolved: its validated parameters and its step counts."""

    name: str
    #: the task's Params, defaults filled, as JSON-safe values
    params: dict[str, Any]
    steps: int
    batch_size: int
    log_every: int
    eval_every: int
    uses_sparse_gradients: bool = False
    #: "module:Class" of a plug-in task ("" for a registered one)
    target: str = ""


@dataclass(frozen=True)
class OptimizerPlan:
    """An optimizer entry: the registry name, the entry's label and its per-hyperparameter values.

    `grid` holds every hyperparameter of the optimizer in registry order (defaults as one-value
    lists); the entry's configurations are the cartesian product of its lists.
    """

    label: str
    optimizer: str
    grid: dict[str, list[Any]]
    #: "module:attribute" of a plug-in optimizer ("" for a registered one)
    target: str = ""


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    #: the file it was read from, as given
    source: str
    output: Path
    seeds: tuple[int, ...]
    #: device as asked for ('cpu', 'cuda', 'cuda:1'); 'auto' is resolved to 'cpu' or 'cuda'
    device: str
    divergence_factor: float
    #: the most trials per stack; None = automatic (as many as share one and fit in memory)
    stack_size: int | None
    tasks: tuple[TaskPlan, ...]
    optimizers: tuple[OptimizerPlan, ...]
    #: the keys the YAML gave explicitly per optimizer entry (for display of what varies)
    explicit_hparams: tuple[tuple[str, ...], ...] = field(default=())
    #: the folder plug-in modules are imported from first (the sweep file's); None: sys.path only
    folder: str | None = None
    #: the YAML it was validated from (for the line numbers of later checks)
    document: YamlDocument | None = field(default=None, compare=False, repr=False)
    #: whether every optimizer entry was built and stepped (check_optimizers); a run does it
    #: before its first trial when validation left it out
    optimizers_checked: bool = field(default=False, compare=False)
    #: the command-line overrides applied to the file ("KEY=VALUE", in order)
    overrides: tuple[str, ...] = field(default=())

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    def with_output(self, output: str | Path) -> Sweep:
        return replace(self, output=Path(output))

    def resolved(self) -> dict[str, Any]:
        """The sweep as a YAML-ready mapping, every default filled in.

        Loading it back (it is valid sweep YAML) gives exactly the same trials.
        """
        return {
            "name": self.name,
            "description": self.description,
            "output": str(self.output),
            "seeds": list(self.seeds),
            "device": self.device,
            "divergence_factor": self.divergence_factor,
            "stack_size": "auto" if self.stack_size is None else self.stack_size,
            "tasks": [
                {
                    "name": t.name,
                    **({"target": t.target} if t.target else {}),
                    "params": dict(t.params),
                    "steps": t.steps,
                    "batch_size": t.batch_size,
                    "log_every": t.log_every,
                    "eval_every": t.eval_every,
                }
                for t in self.tasks
            ],
            "optimizers": [
                {
                    "name": o.label,
                    **({"target": o.target} if o.target else {"optimizer": o.optimizer}),
                    **{k: _resolved_values(v) for k, v in o.grid.items()},
                }
                for o in self.optimizers
            ],
        }

    def optimizer_spec(self, plan: OptimizerPlan) -> OptimizerSpec:
        return get_spec(plan.optimizer, plan.target, self.folder)

    def to_yaml(self) -> str:
        header = f"# resolved from {self.source} by adamlab: every default filled in\n"
        if self.overrides:
            header += "# with " + " ".join(f"--set {o!r}" for o in self.overrides) + "\n"
        return header + yaml.safe_dump(self.resolved(), sort_keys=False, allow_unicode=True)


def _resolved_values(values: list[Any]) -> Any:
    """A grid as YAML gives it: one scalar, a list, or a list of lists for list values."""
    if len(values) == 1 and not isinstance(values[0], list):
        return values[0]
    return list(values)
