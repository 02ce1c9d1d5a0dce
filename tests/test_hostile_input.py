"""Hostile or unlucky sweep files (issue 13, item 1): each is refused at once with one line naming
the file, the key and the limit, before anything is expanded, allocated or run."""

from __future__ import annotations

import pytest

from adamlab.cli.app import main
from adamlab.sweep import preflight
from adamlab.sweep.schema import SweepConfigError, load_sweep
from adamlab.sweep.yaml_source import MAX_DEPTH, MAX_FILE_BYTES

HEAD = "steps: 10\ntasks: [quadratic]\noptimizers: [sgd]\n"


def alias_bomb() -> str:
    lines = ["name: bomb", HEAD.rstrip(), "junk:", "  a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias bomb 9 deep x 9 wide under an unknown key": (
        alias_bomb(), "bomb.yaml:12: with its aliases expanded this part of the file has more than 1,000,000 values",
    ),
    "a grid of 10^8 trials": (
        "name: grid\nsteps: 10\ntasks: [quadratic]\noptimizers:\n  - name: adam\n"
        "    lr: {logspace: [1.0e-6, 1, 100000]}\n    beta2: {linspace: [0.9, 0.999, 1000]}\n",
        "grid.yaml: optimizers: the sweep expands to 100,000,000 trials (1 task(s) x 100,000,000 "
        "optimizer configuration(s) x 1 seed(s)), more than the limit of 100,000; shrink the grids, "
        "or raise the limit with --max-trials (line 4)",
    ),
    "a range of 10^9 points": (
        "name: range\nsteps: 10\ntasks: [quadratic]\noptimizers:\n  - name: sgd\n"
        "    lr: {logspace: [1.0e-6, 1, 1000000000]}\n",
        "range.yaml: optimizers[0].lr.logspace[2]: count 1,000,000,000 is more than the limit of 100,000 trials (--max-trials) (line 6)",
    ),
    "a file over the size cap (a huge list under an unknown key)": (
        "name: big\n" + HEAD + "junk:\n" + "  - 0\n" * (MAX_FILE_BYTES // 6 + 1),
        "big.yaml: 1.0 MB is more than a sweep file may be (1 MB)",
    ),
    "20,000 nested [": (
        "name: deep\n" + HEAD + "junk: " + "[" * 20_000 + "]" * 20_000 + "\n",
        f"deep.yaml: lists and mappings nest too deep to read (more than {MAX_DEPTH} levels)",
    ),
    "nesting just past the depth cap": (
        "name: deep\n" + HEAD + "junk: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",
        f"deep.yaml:5: lists and mappings nest more than {MAX_DEPTH} deep",
    ),
    "steps: 10^15": (
        "name: steps\nsteps: 1000000000000000\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "steps.yaml: tasks[0]: one trial of quadratic needs about 711 PB of memory",
    ),
    "vocab_size: 10^9": (
        "name: vocab\nsteps: 10\ntasks: [{name: embedding_sparsity, params: {vocab_size: 1000000000}}]\noptimizers: [sgd]\n",
        "vocab.yaml: tasks[0]: one trial of embedding_sparsity needs about 625.9 GB of memory",
    ),
    "batch_size: 10^9": (
        "name: batch\nsteps: 10\nbatch_size: 1000000000\ntasks: [embedding_sparsity]\noptimizers: [sgd]\n",
        "batch.yaml: tasks[0]: one trial of embedding_sparsity needs about 372.5 GB of memory",
    ),
    "name: ..": (
        "name: ..\n" + HEAD, "dotdot.yaml: name: must be a folder name of letters, digits, '_', '.', '-' (not . or ..), got '..' (line 1)",
    ),
    "name: .": (
        "name: .\n" + HEAD, "dot.yaml: name: must be a folder name of letters, digits, '_', '.', '-' (not . or ..), got '.' (line 1)",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "sweep"])
def test_hostile_file_is_one_line_and_nothing_runs(tmp_path, capsys, monkeypatch, case, dry_run):
    text, expected = HOSTILE[case]
    name = expected.split(":")[0]
    (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", name, *(["--dry-run"] if dry_run else [])]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err[:2000]
    assert err.startswith(f"error: {expected}"), err
    assert not (tmp_path / "results").exists()  # nothing was written


def test_max_trials_raises_the_limit(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("name: g\nsteps: 5\ntasks: [quadratic]\noptimizers:\n  - name: sgd\n    lr: {logspace: [1.0e-4, 1, 30]}\nseeds: [0, 1]\n")
    with pytest.raises(SweepConfigError, match="expands to 60 trials .* more than the limit of 50"):
        load_sweep(path, max_trials=50)
    assert len(load_sweep(path, max_trials=60).optimizers[0].grid["lr"]) == 30


def test_a_task_too_big_for_the_device_memory_is_refused(tmp_path, monkeypatch):
    from adamlab import host

    path = tmp_path / "e.yaml"
    path.write_text("name: e\nsteps: 5\ntasks: [{name: embedding_sparsity, params: {vocab_size: 100000, dim: 64}}]\noptimizers: [adam]\n")
    load_sweep(path)  # 344 MB: fits here
    monkeypatch.setattr(host, "available_memory", lambda spec: 64 * 2**20)
    with pytest.raises(SweepConfigError, match=r"tasks\[0\]: one trial of embedding_sparsity needs about 344.2 MB .* more than the 64.0 MB cpu has available"):
        load_sweep(path)


def test_available_memory_is_read_for_the_cpu():
    from adamlab.host import available_memory

    assert available_memory("cpu") > 2**20


def test_preflight_cost_does_not_grow_with_the_grid(tmp_path, monkeypatch):
    steps = []
    real = preflight._one_step
    monkeypatch.setattr(preflight, "_one_step", lambda *a: (steps.append(a), real(*a)))
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nsteps: 5\ntasks: [quadratic]\noptimizers:\n  - name: adam\n"
                    "    lr: {logspace: [1.0e-5, 1, 300]}\n    beta2: {linspace: [0.9, 0.999, 300]}\n"
                    "    weight_decay: [0, 0.1, 0.2, 0.3]\n")
    load_sweep(path, max_trials=10**6)
    assert len(steps) <= 3 ** 3


def test_preflight_still_refuses_what_only_the_optimizer_knows_in_a_big_grid(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text("name: n\nsteps: 5\ntasks: [quadratic]\noptimizers:\n  - name: nesterov\n"
                    "    lr: {logspace: [1.0e-5, 1, 200]}\n    momentum: [0, 0.5, 0.8, 0.9, 0.99]\n")
    with pytest.raises(SweepConfigError, match=r"optimizers\[0\]: nesterov fails on the dense gradients .* momentum=0"):
        load_sweep(path)
