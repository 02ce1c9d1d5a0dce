"""Value specs, grid expansion and trial ids."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adamlab.optimizers.registry import get_spec, optimizer_names
from adamlab.sweep.resolved import OptimizerPlan, Sweep, TaskPlan
from adamlab.sweep.trials import Trial, canonical_json, expand_trials
from adamlab.sweep.values import ValueSpecError, expand_values, linspace, logspace


def test_logspace_reads_as_written():
    assert logspace(1e-4, 1e-1, 4) == [1e-4, 1e-3, 1e-2, 1e-1]
    assert logspace(1e-5, 1e-1, 9)[1:3] == [3.16227766017e-05, 1e-4]
    assert logspace(0.5, 0.5, 1) == [0.5]


def test_linspace_reads_as_written():
    assert linspace(0.0, 1.0, 11) == [i / 10 for i in range(11)]
    assert linspace(0.0, 0.1, 3) == [0.0, 0.05, 0.1]


def test_expand_values_shapes_and_paths():
    assert expand_values(0.1) == ([0.1], [""])
    assert expand_values([1, 2]) == ([1, 2], ["[0]", "[1]"])
    assert expand_values({"logspace": [1e-2, 1e-1, 2]}) == ([0.01, 0.1], [".logspace", ".logspace"])
    with pytest.raises(ValueSpecError) as info:
        expand_values({"linspace": [0, 1, 0]})
    assert (info.value.path, info.value.message) == (".linspace[2]", "count must be an integer >= 1, got 0")
    with pytest.raises(ValueSpecError, match="list items must be scalars"):
        expand_values([[1, 2]])


def _trial(**changes) -> Trial:
    fields = dict(
        task="quadratic", task_params={"dim": 2, "noise": 0.0}, optimizer="sgd",
        hparams={"lr": 0.1, "weight_decay": 0.0}, seed=0, steps=10, batch_size=4, log_every=5,
        eval_every=10, divergence_factor=1000.0, device="cpu",
    )
    fields.update(changes)
    return Trial(**fields)


def test_trial_id_is_pinned():
    # The id is the results folder's key: changing how it is computed orphans every existing
    # result. If this fails, bump the results layout_version instead of updating the number.
    trial = _trial()
    assert canonical_json(trial.identity()) == (
        '{"batch_size":4,"device":"cpu","divergence_factor":1000.0,"eval_every":10,'
        '"hparams":{"lr":0.1,"weight_decay":0.0},"log_every":5,"optimizer":"sgd","seed":0,'
        '"steps":10,"task":"quadratic","task_params":{"dim":2,"noise":0.0}}'
    )
    assert trial.trial_id == "650c7a5439507eec"  # sha256sum of the line above, first 16


def test_trial_id_ignores_labels_and_device_index_but_not_config():
    base = _trial()
    assert _trial(variant="my-sgd", device_spec="cpu").trial_id == base.trial_id
    assert _trial(device="cuda", device_spec="cuda:1").trial_id == _trial(device="cuda").trial_id
    for change in (
        {"seed": 1}, {"steps": 11}, {"hparams": {"lr": 0.1, "weight_decay": 1e-4}},
        {"task_params": {"dim": 3, "noise": 0.0}}, {"log_every": 1}, {"eval_every": 5},
        {"divergence_factor": 10.0}, {"device": "cuda"}, {"batch_size": 8}, {"optimizer": "momentum"},
    ):
        assert _trial(**change).trial_id != base.trial_id, change


def _sweep(tasks, optimizers, seeds=(0,)) -> Sweep:
    return Sweep(
        name="s", description="", source="s.yaml", output=Path("out"), seeds=tuple(seeds),
        device="cpu", divergence_factor=1e3, stack_size=None, tasks=tuple(tasks),
        optimizers=tuple(optimizers),
    )


def _task(name="quadratic", steps=10, **params) -> TaskPlan:
    return TaskPlan(name=name, params=params, steps=steps, batch_size=4, log_every=5, eval_every=steps)


def _entry(optimizer, label=None, **grid) -> OptimizerPlan:
    full = {k: grid.get(k, [v]) for k, v in get_spec(optimizer).defaults.items()}
    return OptimizerPlan(label=label or optimizer, optimizer=optimizer, grid=full)


def test_expansion_order_and_count():
    sweep = _sweep(
        [_task(dim=2), _task(dim=3)],
        [_entry("adam", lr=[1e-3, 1e-2], beta2=[0.99, 0.999, 0.9999]), _entry("sgd", lr=[0.1])],
        seeds=[0, 1],
    )
    trials = expand_trials(sweep)
    assert len(trials) == 2 * (2 * 3 + 1) * 2
    first = trials[:3]
    assert [(t.task_params["dim"], t.hparams["lr"], t.hparams["beta2"], t.seed) for t in first] == [
        (2, 1e-3, 0.99, 0), (2, 1e-3, 0.99, 1), (2, 1e-3, 0.999, 0),
    ]
    assert len({t.trial_id for t in trials}) == len(trials)


def test_entries_resolving_to_the_same_config_are_one_trial_under_the_first_label():
    sweep = _sweep([_task()], [_entry("adam", lr=[1e-3, 1e-2]), _entry("adam", label="adam-again", lr=[1e-2, 1e-1])])
    trials = expand_trials(sweep)
    assert [(t.variant, t.hparams["lr"]) for t in trials] == [("adam", 1e-3), ("adam", 1e-2), ("adam-again", 1e-1)]


_values = st.lists(
    st.floats(min_value=1e-6, max_value=10, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=4, unique=True,
)


@st.composite
def sweeps(draw):
    names = draw(st.lists(st.sampled_from(optimizer_names()), min_size=1, max_size=4, unique=True))
    entries = []
    for name in names:
        keys = [k for k, v in get_spec(name).defaults.items() if isinstance(v, float) and not isinstance(v, bool)]
        swept = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
        entries.append(_entry(name, **{k: draw(_values) for k in swept}))
    dims = draw(st.lists(st.integers(1, 50), min_size=1, max_size=3, unique=True))
    seeds = draw(st.lists(st.integers(0, 2**31), min_size=1, max_size=4, unique=True))
    return _sweep([_task(dim=d) for d in dims], entries, seeds)


@settings(max_examples=60, deadline=None)
@given(sweeps())
def test_count_is_the_product_and_ids_are_unique_and_stable(sweep):
    trials = expand_trials(sweep)
    per_task = sum(math.prod(len(v) for v in e.grid.values()) for e in sweep.optimizers)
    assert len(trials) == len(sweep.tasks) * per_task * len(sweep.seeds)
    assert len({t.trial_id for t in trials}) == len(trials)
    assert [t.trial_id for t in expand_trials(sweep)] == [t.trial_id for t in trials]
    # the id is a function of the identity alone: rebuilding each trial gives the same id
    for trial in trials[:5]:
        assert Trial(**trial.identity()).trial_id == trial.trial_id


def test_schedules_and_weight_decay_scaling_name_a_trial_only_when_not_at_their_defaults(tmp_path):
    from adamlab.sweep.schema import load_sweep

    def trials_of(entry: str):
        path = tmp_path / "s.yaml"
        path.write_text("name: s\nsteps: 10\ntasks: [quadratic]\noptimizers:\n" + entry)
        return expand_trials(load_sweep(path))

    plain = trials_of("  - name: adamw\n    lr: 0.01\n")
    explicit = trials_of(
        "  - name: adamw\n    lr: 0.01\n    schedule: constant\n    warmup_steps: 0\n"
        "    weight_decay_scaling: lr\n"
    )
    assert [t.trial_id for t in plain] == [t.trial_id for t in explicit]
    assert "schedule" not in plain[0].hparams and "weight_decay_scaling" not in plain[0].hparams
    swept = trials_of(
        "  - name: adamw\n    lr: 0.01\n    schedule: [constant, cosine]\n    warmup_steps: [0, 5]\n"
        "    weight_decay_scaling: [lr, schedule]\n"
    )
    assert len({t.trial_id for t in swept}) == 8
    assert plain[0].trial_id in {t.trial_id for t in swept}
    cosine = [t for t in swept if t.hparams.get("schedule") == "cosine"]
    assert len(cosine) == 4 and all(t.hparams["schedule"] == "cosine" for t in cosine)
    assert {t.hparams.get("warmup_steps", 0) for t in swept} == {0, 5}
    assert "warmup_steps=5" in next(t for t in swept if "warmup_steps" in t.hparams).label(
        {"adamw": ["lr", "warmup_steps"]})
