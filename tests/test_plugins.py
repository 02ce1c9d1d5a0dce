"""Plug-ins: a Lion optimizer and a task in plain PyTorch, written outside the project, run from a
sweep beside them; their records equal a hand-written loop with the same task object; bad
targets are refused before anything runs; editing the user's file makes its records stale."""

from __future__ import annotations

import json
import math
import shutil
import textwrap
from pathlib import Path

import pytest
import torch

from adamlab.cli.app import main
from adamlab.store.records import load_record
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.schema import SweepConfigError, load_sweep

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STEPS = 30


def _beside(tmp_path: Path, yaml_text: str) -> Path:
    """The example optimizer and task files copied into tmp_path with a sweep beside them."""
    for name in ("my_optimizers.py", "my_tasks.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    config = tmp_path / "sweep.yaml"
    config.write_text(textwrap.dedent(yaml_text))
    return config


LION_SWEEP = f"""\
    name: plug
    seeds: [0, 1]
    steps: {STEPS}
    log_every: 10
    eval_every: 15
    tasks:
      - name: teacher
        target: my_tasks:TeacherRegression
        params: {{hidden: 8}}
    optimizers:
      - name: lion
        target: my_optimizers:Lion
        lr: [3.0e-4, 1.0e-3]
        betas: [[0.9, 0.99], [0.95, 0.98]]
        weight_decay: 0.1
      - name: adam
        lr: 1.0e-2
      - sgd
    """


@pytest.fixture
def ran(tmp_path):
    config = _beside(tmp_path, LION_SWEEP)
    out = tmp_path / "out"
    result = run_sweep(load_sweep(config).with_output(out))
    return config, out, result


def _records(out: Path):
    return [load_record(p) for p in sorted((out / "trials").glob("*.json"))]


def _hand_loop(tmp_path: Path, seed: int, make_optimizer, make_scheduler=None) -> dict[str, float]:
    """The loop a user would write: seed, build the task, model(), then per step loss, backward,
    step; evaluate() at the end."""
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        import my_tasks
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(seed)
    task = my_tasks.TeacherRegression(seed=seed, device=torch.device("cpu"), hidden=8)
    model = task.model()
    optimizer = make_optimizer(model.parameters())
    scheduler = make_scheduler(optimizer) if make_scheduler is not None else None
    for step in range(1, STEPS + 1):
        optimizer.zero_grad()
        task.loss(model, task.batch(step)).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return task.evaluate(model)


def test_plugin_records_equal_a_hand_written_loop(ran, tmp_path):
    _, _, result = ran
    assert result.counts()["finished"] == len(result.records) == 2 * (4 + 1 + 1)
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        from my_optimizers import Lion
    finally:
        sys.path.remove(str(tmp_path))
    from adamlab.optimizers.adam import Adam

    checked = 0
    for record in result.records:
        hp = record.hparams
        if record.variant == "lion":
            assert record.optimizer_target == "my_optimizers:Lion"
            assert set(hp) == {"lr", "betas", "weight_decay"} and isinstance(hp["betas"], list)

            def make(params, hp=hp):
                return Lion(params, lr=hp["lr"], betas=tuple(hp["betas"]), weight_decay=hp["weight_decay"])
        elif record.variant == "adam":
            def make(params, hp=hp):
                return Adam(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
        else:
            def make(params, hp=hp):
                return torch.optim.SGD(params, lr=hp["lr"])
        expected = _hand_loop(tmp_path, record.seed, make)
        for metric, value in expected.items():
            assert math.isclose(record.final[metric], value, rel_tol=1e-4), (record.variant, metric)
        checked += 1
    assert checked == 12
    lion = next(r for r in result.records if r.variant == "lion")
    # the record says how the stack ran: the user's class over per-member views, vmapped members
    assert "my_optimizers.Lion x " in lion.environment.implementation
    assert "members: vmap" in lion.environment.implementation
    assert {Path(p).name for p in lion.environment.plugins} == {"my_optimizers.py", "my_tasks.py"}


def test_summary_json_lists_the_plugin_beside_adam_and_sgd(ran, capsys):
    _, out, _ = ran
    assert main(["summary", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    variants = {row["variant"] for row in rows}
    assert {"lion", "adam", "sgd"} <= variants
    lion = next(row for row in rows if row["variant"] == "lion")
    assert lion["task"] == "teacher" and lion["select_metric"] == "val_loss"
    assert lion["metric"] == "test_loss" and "betas" in lion["hparams"]
    manifest = json.loads((out / "adamlab-results.json").read_text())
    declared = manifest["tasks"]["teacher"]
    assert declared["select_metrics"] == {"test_loss": "val_loss"}
    assert declared["target"] == "my_tasks:TeacherRegression"
    trials = (out / "trials.csv").read_text()
    assert "hp.betas" in trials and '"[0.9,0.99]"' in trials


def test_editing_the_users_optimizer_file_makes_its_records_stale(ran, capsys):
    config, out, _ = ran
    optimizer_file = config.parent / "my_optimizers.py"
    optimizer_file.write_text(optimizer_file.read_text() + "\n# tuned\n")
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "8 trial record(s) were made with an earlier version of" in err[0]
    assert str(optimizer_file.resolve()) in err[0] and "--rerun-stale" in err[0]
    assert main(["sweep", str(config), "--out", str(out), "-q", "--accept-stale"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(config), "--out", str(out), "-q", "--rerun-stale"]) == 0
    assert "8 run (8 finished), 4 already done" in capsys.readouterr().out
    # the re-run ran the file as it is now (loaded again in this process), and says so
    import my_optimizers

    from adamlab.sweep.environment import file_hash

    assert my_optimizers.__adamlab_stamp__ == file_hash(optimizer_file)
    lion = [r for r in _records(out) if r.variant == "lion"]
    assert {r.environment.plugins[str(optimizer_file.resolve())] for r in lion} == {file_hash(optimizer_file)}


@pytest.mark.parametrize("yaml_part, expected", [
    ("  - name: lino\n    target: nowhere_module:Lion\n",
     "optimizers[1].target: module 'nowhere_module' not found (neither in {folder} nor on sys.path) (line 9)"),
    ("  - name: lino\n    target: my_optimizers:Lino\n",
     "optimizers[1].target: my_optimizers ({folder}/my_optimizers.py) has no 'Lino'; its optimizer "
     "classes: Lion (line 9)"),
    ("  - name: lino\n    target: my_tasks:TeacherRegression\n",
     "optimizers[1].target: my_tasks:TeacherRegression is not an optimizer: a torch.optim.Optimizer "
     "subclass or a callable (params, **kwargs) -> Optimizer; it has no step, zero_grad, state_dict, "
     "load_state_dict, add_param_group (line 9)"),
    ("  - name: lion\n    target: my_optimizers:Lion\n    momentum: 0.9\n",
     "optimizers[1].momentum: unknown keyword for my_optimizers:Lion (its constructor takes: lr, "
     "betas, weight_decay, schedule, warmup_steps) (line 10)"),
    ("  - name: lion\n    target: my_optimizers:Lion\n    betas: [0.9, 0.99]\n",
     "optimizers[1].betas: takes a list: give it as [[...]] (e.g. [[0.9, 0.99]]), one list per "
     "value; a plain list is a sweep axis of scalars, got [0.9, 0.99] (line 10)"),
])
def test_bad_optimizer_targets_are_one_line_before_anything_runs(tmp_path, capsys, yaml_part, expected):
    config = _beside(tmp_path, "name: bad\nsteps: 2\ntasks:\n  - name: teacher\n"
                               "    target: my_tasks:TeacherRegression\noptimizers:\n  - sgd\n" + yaml_part)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {config}: {expected.format(folder=tmp_path.resolve())}"]
    assert not (tmp_path / "out").exists()


def test_a_class_without_the_task_methods_is_refused_naming_them(tmp_path):
    config = _beside(tmp_path, "name: bad\nsteps: 2\ntasks:\n  - name: t\n    target: my_optimizers:Lion\n"
                               "optimizers: [sgd]\n")
    with pytest.raises(SweepConfigError) as caught:
        load_sweep(config)
    assert caught.value.lines == [
        f"{config}: tasks[0].target: my_optimizers:Lion is not a task: it has no model, batch, loss, "
        f"evaluate (a task defines model, batch, loss, evaluate) (line 5)"
    ]


def test_unknown_task_params_are_refused_with_the_constructors_keywords(tmp_path):
    config = _beside(tmp_path, "name: bad\nsteps: 2\ntasks:\n  - name: t\n    target: my_tasks:TeacherRegression\n"
                               "    params: {depth: 3}\noptimizers: [sgd]\n")
    with pytest.raises(SweepConfigError) as caught:
        load_sweep(config)
    assert caught.value.lines == [
        f"{config}: tasks[0].params.depth: unknown key; allowed: dim, hidden, batch_size, noise (line 6)"
    ]


def test_a_plugin_that_raises_fails_its_trial_and_the_sweep_goes_on(tmp_path):
    (tmp_path / "broken.py").write_text(textwrap.dedent("""\
        import torch

        class Exploding(torch.optim.SGD):
            def step(self, closure=None):
                if self.state.get("steps", 0) >= 3:
                    raise RuntimeError("exploded at step 4")
                self.state["steps"] = self.state.get("steps", 0) + 1
                return super().step(closure)
        """))
    config = _beside(tmp_path, """\
        name: boom
        steps: 6
        tasks:
          - name: quadratic
            params: {dim: 3}
        optimizers:
          - name: exploding
            target: broken:Exploding
            lr: 0.1
          - sgd
        """)
    result = run_sweep(load_sweep(config).with_output(tmp_path / "out"))
    by_variant = {r.variant: r for r in result.records}
    assert by_variant["sgd"].status == "finished"
    failed = by_variant["exploding"]
    assert failed.status == "failed" and failed.error == "RuntimeError: exploded at step 4"
    trace = (tmp_path / "out" / "errors" / f"{failed.trial_id}.txt").read_text()
    assert "broken.py" in trace and "exploded at step 4" in trace


def test_a_plugin_follows_the_schedule_as_a_torch_lr_scheduler_would(tmp_path):
    config = _beside(tmp_path, f"""\
        name: sched
        steps: {STEPS}
        tasks:
          - name: teacher
            target: my_tasks:TeacherRegression
            params: {{hidden: 8}}
        optimizers:
          - name: lion
            target: my_optimizers:Lion
            lr: [1.0e-3, 3.0e-3]
            schedule: linear
            warmup_steps: 5
        """)
    result = run_sweep(load_sweep(config).with_output(tmp_path / "out"))
    import sys

    from adamlab.optimizers.schedules import Schedule

    sys.path.insert(0, str(tmp_path))
    try:
        from my_optimizers import Lion
    finally:
        sys.path.remove(str(tmp_path))
    schedule = Schedule("linear", 5, STEPS)
    for record in result.records:
        assert record.hparams == {"lr": record.hparams["lr"], "schedule": "linear", "warmup_steps": 5}
        def make(params, lr=record.hparams["lr"]):
            return Lion(params, lr=lr)

        def make_scheduler(optimizer):  # LambdaLR's epoch e is the lr of step e + 1
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: schedule.multiplier(e + 1))

        expected = _hand_loop(tmp_path, record.seed, make, make_scheduler)
        for metric, value in expected.items():
            assert math.isclose(record.final[metric], value, rel_tol=1e-4), metric
