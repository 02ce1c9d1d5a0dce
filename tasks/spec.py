"""What a sweep and the analysis need to know about a task, without importing torch: its name,
parameters (a pydantic `Params`), metric goals, the metric summaries rank by, which validation
metric selects each reported one, and where the implementation is.

Each built-in task declares a `TaskSpec` subclass in `<task>_spec.py` beside its implementation
(which subclasses the spec, so the two cannot drift apart); the entry points of this package
name the specs, and `adamlab list`, sweep validation and the read commands use them. A plug-in
task in the user's own file is described from its class (tasks/plugin.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

if TYPE_CHECKING:
    import threading

#: a reported metric `test_X` is selected on `val_X` when the task records it
TEST_PREFIX, VALIDATION_PREFIX = "test_", "val_"
#: the largest integer a parameter may hold: results tables store integers as int64
INT64_MAX = 2**63 - 1


class TaskParams(BaseModel):
    """Base of each task's parameter schema: unknown keys are errors, and every integer (also
    inside a list) fits in int64, whatever the field's own range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _int64(cls, value):
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, int) and not isinstance(item, bool) and not -INT64_MAX - 1 <= item <= INT64_MAX:
                raise ValueError(f"must be an integer within int64 (|n| < 2^63), got {item}")
        return value


def goal_by_name(metric: str) -> str:
    """The default goal: max for *accuracy, min for everything else (losses, errors)."""
    return "max" if metric.endswith("accuracy") else "min"


class TaskSpec:
    #: the name sweeps use, e.g. "quadratic"
    name: ClassVar[str]
    #: one line for `adamlab list`
    summary: ClassVar[str]
    #: pydantic schema of the task's parameters (validated from the sweep YAML)
    Params: ClassVar[type[BaseModel]] = TaskParams
    #: metric name -> "min" or "max": which direction is better; train_loss is always recorded
    metric_goals: ClassVar[dict[str, str]] = {"train_loss": "min"}
    #: the metric summaries rank by unless told otherwise
    primary_metric: ClassVar[str] = "train_loss"
    #: the loss the task is judged by in the experiments (held-out or exact, never one batch's)
    loss_metric: ClassVar[str] = "train_loss"
    #: "module:Class" of the implementation (imported only to train)
    implementation: ClassVar[str] = ""
    #: where it comes from: "built-in", "installed: <dist> <version>", "file: <path>"
    origin: ClassVar[str] = "built-in"
    #: a task class in plain PyTorch (tasks/plugin.py), trained through ModuleTask
    plugin: ClassVar[bool] = False
    #: the file that defines a plug-in, for messages ("" for the built-ins)
    source_file: ClassVar[str] = ""

    @classmethod
    def select_metrics(cls) -> dict[str, str]:
        """Reported metric -> the validation metric that selects it (`test_X` -> `val_X` when the
        task declares both)."""
        goals = cls.metric_goals
        return {
            metric: VALIDATION_PREFIX + metric.removeprefix(TEST_PREFIX)
            for metric in goals
            if metric.startswith(TEST_PREFIX)
            and VALIDATION_PREFIX + metric.removeprefix(TEST_PREFIX) in goals
        }

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """What the results folder records about the task (adamlab-results.json "tasks")."""
        return {
            "primary_metric": cls.primary_metric,
            "metric_goals": dict(cls.metric_goals),
            "select_metrics": cls.select_metrics(),
            "loss_metric": cls.loss_metric,
            "origin": cls.origin,
        }

    @classmethod
    def epoch_steps(cls, params: Any, batch_size: int) -> int | None:
        """Batches per pass over the training data, for `epochs:` sweeps, told without building
        the task; None: build it to know (`steps_per_epoch` of the built task)."""
        return None

    @classmethod
    def uses_sparse_gradients(cls, params: Any) -> bool:
        """Whether the model produces sparse gradients (only sparse-capable optimizers apply,
        and those run on stacks of one member)."""
        return False

    @classmethod
    def check_data(cls, params: Any) -> None:
        """Called once per sweep before any trial runs: make sure the data is at hand (fetch it
        if the task may) or raise AdamlabError in one line saying what is missing and the fix.
        Default: a task that makes its own data has nothing to check."""
        return None

    @classmethod
    def prefetch_data(cls, params: Any) -> threading.Event | None:
        """Start reading the data files the task will read with `params`, in the background: a
        sweep that runs its trials in this process calls it before importing torch, so the
        reading overlaps that import. What is read waits for the task to take it when built
        (or for `discard_prefetched_data`). Returns an event set when the reading is done (None:
        nothing is read). Default: a task that makes its own data reads none."""
        return None

    @classmethod
    def discard_prefetched_data(cls) -> None:
        """Drop what `prefetch_data` read that no task of this process took (the trials went to
        worker processes after all)."""
        return None

    @classmethod
    def memory_bytes(cls, params: Any, batch_size: int) -> int:
        """About how many bytes one trial's model, data, gradients and optimizer state take (an
        upper estimate; a sweep is refused when it exceeds the device's memory). 0: unknown."""
        return 0

    @classmethod
    def data_identity(cls, params: Any) -> str | None:
        """A fingerprint of the data files the task would read with `params`, stored in each
        record's environment so records made on other data are stale (cheap: the same files give
        the same answer in a process without reading them again). None: the task reads no files
        (its data comes from the seed), or they are not found here."""
        return None

    @classmethod
    def member_bytes(cls, params: Any, batch_size: int) -> int:
        """An estimate of the memory one member adds to a stack (parameters, gradients, optimizer
        state, activations), by which automatic stacks are sized to the device's memory."""
        return 0
