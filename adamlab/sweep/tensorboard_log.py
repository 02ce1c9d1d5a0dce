"""`adamlab sweep ... --tensorboard DIR`: each trial run, as a TensorBoard run.

One run per trial at DIR/<task>/<variant>/<trial_id>: every logged metric as a scalar at its
step (train_loss, the task's metrics, opt.*), and the trial's configuration in the HParams
plugin (the hyperparameters, task parameters, task, variant, optimizer and seed, with the
trial's status and its final value of each metric), so the parallel-coordinates view compares
the trials of a sweep. Written when a trial's record is, from the record (what TensorBoard shows
is what the results folder holds). Trials done before this run are written from their records
when the sweep starts, unless DIR already has their run. Needs the `tensorboard` package
(pip install 'adamlab[tensorboard]').
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from adamlab.errors import AdamlabError
from adamlab.store.layout import TRIALS_DIR
from adamlab.store.records import load_record

INSTALL_HINT = "pip install 'adamlab[tensorboard]'"


def require_tensorboard() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise AdamlabError(f"--tensorboard: needs the tensorboard package: {INSTALL_HINT}")


def run_dir(root: Path, record) -> Path:
    return root / _part(record.task) / _part(record.variant) / record.trial_id


def write_trial(root: Path, record) -> Path:
    """The event file of one ended trial (see the module docstring); returns its folder."""
    # lazy: TensorBoard's writer loads torch; a sweep loads it when a trial ended
    from torch.utils.tensorboard import SummaryWriter

    # lazy: as the line above
    from torch.utils.tensorboard.summary import hparams

    folder = run_dir(root, record)
    log = record.metrics
    with SummaryWriter(log_dir=str(folder)) as writer:
        for step, metric, value in zip(
            log["step"], log["metric"], log["value"], strict=True
        ):
            if value is not None:
                writer.add_scalar(metric, float(value), int(step))
        config = {
            "task": record.task, "variant": record.variant, "optimizer": record.optimizer,
            "seed": record.seed, "status": record.status,
            **{f"hp.{k}": _hparam(v) for k, v in record.hparams.items()},
            **{f"task.{k}": _hparam(v) for k, v in record.task_params.items()},
        }
        finals = {f"final.{k}": float(v) for k, v in record.final.items() if v is not None}
        experiment, session_start, session_end = hparams(config, finals)
        file_writer = writer._get_file_writer()
        for summary in (experiment, session_start, session_end):
            file_writer.add_summary(summary)
        for name, value in finals.items():
            writer.add_scalar(name, value, record.steps_run)
    return folder


class TensorBoardLog:
    """A sweep listener (see adamlab.sweep.execute.SweepListener) writing each ended trial."""
    def __init__(self, root: str | Path):
        require_tensorboard()
        self.root = Path(root)
        self.written = 0

    def sweep_started(self, plan) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AdamlabError(f"--tensorboard {self.root}: cannot create it: {exc.strerror}") from None
        for trial_id in sorted(plan.done):
            record = load_record(plan.results_dir / TRIALS_DIR / f"{trial_id}.json")
            if not run_dir(self.root, record).exists():
                write_trial(self.root, record)
                self.written += 1

    def trial_started(self, trial) -> None:
        pass

    def trial_ended(self, trial, record) -> None:
        write_trial(self.root, record)
        self.written += 1


def _hparam(value):
    """A value the HParams plugin takes: numbers, strings and booleans as they are, else text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "none" if value is None else str(value)


def _part(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(text))
