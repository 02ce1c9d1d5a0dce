"""What a sweep's run will do before it does it: which trials are already recorded (and
skipped), which of those failed, and which were made in another environment ("stale", see
adamlab.store.staleness), settled by the run's stale policy (refuse, rerun or accept).

`plan_sweep` reads the folder without writing it (for --dry-run, and before a run opens the
folder); `survey_newcomers` checks, with the folder locked, the records another sweep wrote
meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adamlab.store import layout
from adamlab.store.layout import ResultsFolder
from adamlab.store.staleness import refuse_stale, survey
from adamlab.sweep.environment import capture_environment, data_hash_of
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.resolved import Sweep
from adamlab.sweep.trials import Trial, expand_trials


@dataclass
class SweepPlan:
    sweep: Sweep
    #: every trial of the sweep, in order
    trials: list[Trial]
    #: ids that already have a record (and will be skipped)
    done: set[str]
    #: recorded trials made in another environment: {trial id: that environment, described}
    stale: dict[str, str] = field(default_factory=dict)
    #: of `done`, the failed ones (skipped unless --retry-failed)
    failed: set[str] = field(default_factory=set)
    #: the recorded ids whose records were read and checked (identity, environment, data)
    surveyed: set[str] = field(default_factory=set)

    @property
    def pending(self) -> list[Trial]:
        return [t for t in self.trials if t.trial_id not in self.done]

    @property
    def results_dir(self) -> Path:
        return self.sweep.output



def done_ids(folder: ResultsFolder, trials: list[Trial], retry_failed: bool) -> set[str]:
    done = folder.finished_ids() & {t.trial_id for t in trials}
    if retry_failed:
        done -= folder.failed_ids(done)
    return done


def plan_sweep(sweep: Sweep, *, retry_failed: bool = False) -> SweepPlan:
    """The sweep's trials, which are already done and which of those are stale (made in another
    environment), without writing anything (for --dry-run, and before a run opens the folder)."""
    trials = expand_trials(sweep)
    plan = SweepPlan(sweep, trials, set())
    if (sweep.output / layout.MANIFEST).exists():
        # a folder from a newer adamlab, or another sweep's, is an error here too
        layout.check_owner(sweep.output, layout.read_manifest(sweep.output), sweep.name)
        folder = ResultsFolder(sweep.output)
        recorded = folder.finished_ids() & {t.trial_id for t in trials}
        _survey(plan, folder, recorded)
        plan.done = recorded - plan.failed if retry_failed else recorded
        plan.stale = {tid: env for tid, env in plan.stale.items() if tid in plan.done}
    return plan


def _survey(plan: SweepPlan, folder: ResultsFolder, ids: set[str]) -> dict[str, str]:
    """Read and check the records of `ids` (adamlab.store.staleness.survey) into the plan; the
    stale ones among them."""
    by_id = {t.trial_id: t for t in plan.trials}
    stale, failed = survey(
        folder, ids, capture_environment(),
        identities={tid: by_id[tid].identity() for tid in ids if tid in by_id},
        data_hash=lambda record: data_hash_of(
            record.task, record.task_params, record.task_target,
            by_id[record.trial_id].folder if record.trial_id in by_id else None,
        ),
    )
    plan.stale.update(stale)
    plan.failed |= failed
    plan.surveyed |= ids
    return stale


def survey_newcomers(plan: SweepPlan, folder: ResultsFolder, options: SweepOptions,
                     stale_note: dict[str, Any]) -> None:
    """With the folder locked: check the records that appeared since the plan was made (another
    sweep wrote them meanwhile) as the plan's were, and settle their staleness the same way."""
    recorded = folder.finished_ids() & {t.trial_id for t in plan.trials}
    new = _survey(plan, folder, recorded - plan.surveyed)
    if options.retry_failed:  # failed records run again: their environment does not matter
        plan.stale = {tid: env for tid, env in plan.stale.items() if tid not in plan.failed}
        new = {tid: env for tid, env in new.items() if tid not in plan.failed}
    if new:
        stale_note.clear()
        stale_note.update(settle_stale(plan, options.stale))


def settle_stale(plan: SweepPlan, policy: str) -> dict[str, Any]:
    """Stale records settled by `policy` (adamlab.sweep.options.STALE_POLICIES): "refuse" to mix
    them with this run's, "rerun" them, or "accept" them; what was done, for the run's
    provenance entry."""
    if not plan.stale:
        return {}
    if policy == "rerun":
        plan.done -= set(plan.stale)
        return {"stale_rerun": len(plan.stale)}
    if policy == "accept":
        return {"stale_accepted": {
            "count": len(plan.stale), "environments": sorted(set(plan.stale.values())),
            "trial_ids": sorted(plan.stale),
        }}
    raise refuse_stale(str(plan.results_dir), plan.stale, capture_environment())
