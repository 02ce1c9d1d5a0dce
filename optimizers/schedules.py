"""Learning-rate schedules: the multiplier eta_t of the base lr at each step, for every optimizer.

With T steps, 1-based step t and N = warmup_steps (default 0):
- warmup: eta_t = t / N for t <= N (linear from lr/N at step 1 up to lr at step N);
- then `constant` (the default): eta_t = 1;
  `cosine`: eta_t = (1 + cos(pi * (t - N) / (T - N))) / 2, from ~1 just after the warmup to 0
  at step T (Loshchilov & Hutter's cosine annealing without restarts);
  `linear`: eta_t = 1 - (t - N) / (T - N), likewise down to 0 at step T.
The lr in force at step t is lr * eta_t. eta_t is also what AdamW's `weight_decay_scaling:
schedule` multiplies the decay by (Loshchilov & Hutter, Algorithm 2), so there the decay does
not depend on the base lr.

In a sweep, `schedule` and `warmup_steps` are hyperparameters of every optimizer entry (and
sweep axes like any other); a trial names them only when they are not at their defaults, so a
trial without a schedule has the id it always had. The members of one stack share a schedule.
Torch-free: the CLI and config validation import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SCHEDULES = ("constant", "cosine", "linear")
#: AdamW's decoupled decay per step: lr_t * wd (torch's) or eta_t * wd (Loshchilov & Hutter)
WEIGHT_DECAY_SCALINGS = ("lr", "schedule")
#: the schedule hyperparameters every optimizer entry takes, with their defaults
SCHEDULE_DEFAULTS: dict[str, Any] = {"schedule": "constant", "warmup_steps": 0}


@dataclass(frozen=True)
class Schedule:
    name: str = "constant"
    warmup_steps: int = 0
    #: T, the trial's step count
    total_steps: int = 1

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.name!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or (
            self.warmup_steps < 0
        ):
            raise ValueError(f"warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")

    @classmethod
    def of(cls, hparams: dict[str, Any], total_steps: int) -> Schedule:
        """The schedule a trial's hyperparameters name (defaults where they name none)."""
        return cls(hparams.get("schedule", "constant"), hparams.get("warmup_steps", 0), total_steps)

    @property
    def constant(self) -> bool:
        """eta_t = 1 at every step."""
        return self.name == "constant" and self.warmup_steps == 0

    def multiplier(self, step: int) -> float:
        """eta_t at 1-based step `step`."""
        warmup = self.warmup_steps
        if warmup and step <= warmup:
            return step / warmup
        if self.name == "constant":
            return 1.0
        span = self.total_steps - warmup
        if span <= 0:
            return 1.0
        done = (step - warmup) / span
        if self.name == "cosine":
            return (1.0 + math.cos(math.pi * done)) / 2.0
        return 1.0 - done


def split_schedule(hparams: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the optimizer's own hyperparameters, the schedule's) of a trial's hyperparameters."""
    own = {k: v for k, v in hparams.items() if k not in SCHEDULE_DEFAULTS}
    schedule = {k: v for k, v in hparams.items() if k in SCHEDULE_DEFAULTS}
    return own, schedule
