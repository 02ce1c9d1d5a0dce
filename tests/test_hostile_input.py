"""Hostile or unlucky sweep files: each is refused at once with one line naming
the file, the key and the limit, before anything is expanded, allocated or run."""

from __future__ import annotations

import json

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
    "a NUL byte": (
        "name: nul\nsteps: 5\x00\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "nul.yaml:2: character U+0000 is not allowed in a YAML file (control characters other than tab and newline are refused)",
    ),
    "a BEL byte": (
        "name: bel\x07\nsteps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "bel.yaml:1: character U+0007 is not allowed in a YAML file",
    ),
    "steps: 10^12 with log_every and eval_every as large": (
        "name: steps\nsteps: 1000000000000\nlog_every: 1000000000000\neval_every: 1000000000000\n"
        "tasks: [quadratic]\noptimizers: [sgd]\n",
        # (the estimate follows adamlab.sweep.resources' work model; the limit and the way out are fixed)
        "steps12.yaml: tasks[0]: 1,000,000,000,000 steps of quadratic would take about ",
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


# ---------------------------------------------------------------- odd options, labels


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err[:2000]
    return err


def test_max_steps_replaces_the_work_bound(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps: 1000000000000\nlog_every: 1000000000000\ntasks: [quadratic]\noptimizers: [sgd]\n")
    assert main(["sweep", str(path), "--dry-run"]) == 1
    assert _one_line(capsys).endswith(
        "a step), more than the 7 days a sweep may ask for; lower its "
        "steps, or allow them with --max-steps 1000000000000 (line 4)"
    )
    assert main(["sweep", str(path), "--dry-run", "--max-steps", "1000"]) == 1
    assert _one_line(capsys) == (
        f"error: {path}: tasks[0]: quadratic runs 1,000,000,000,000 steps, more than --max-steps 1,000 (line 4)"
    )
    assert main(["sweep", str(path), "--dry-run", "--max-steps", "1000000000000"]) == 0


def test_a_digit_that_int_cannot_read_is_one_line(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n")
    assert main(["sweep", str(path), "--stack-size", "\u00b2", "--out", str(tmp_path / "out")]) == 2
    assert _one_line(capsys) == "error: --stack-size: must be auto or an integer >= 1, got '\u00b2'"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("grid, shown", [
    ("warmup_steps: [0, 2]", "warmup_steps=2"),
    ("schedule: [constant, cosine]", "schedule=cosine"),
])
def test_dry_run_of_optional_hyperparameters_at_their_default(tmp_path, capsys, grid, shown):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nsteps: 5\ntasks: [quadratic]\noptimizers:\n  - name: adam\n    lr: 0.001\n    {grid}\n")
    assert main(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 trials: 0 done, 2 to run" in out and shown in out


def test_export_long_and_wide_together_is_refused(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsteps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "out"), "--long", "--wide"]) == 2
    assert _one_line(capsys) == (
        "error: Invalid value for --long/--wide: give --long or --wide, not both (see 'adamlab export --help')"
    )


HOSTILE_LABEL = "\u00e4dam/../\u202e\x1b[31mred\x07"


def _no_raw_controls(text: str) -> None:
    for raw in ("\x1b", "\u202e", "\x07"):
        assert raw not in text, repr(text[:300])


def test_labels_with_escapes_and_bidi_overrides_print_escaped(tmp_path, capsys, monkeypatch):
    """From the YAML (a variant's name) and from a results folder (a record's variant)."""
    from adamlab.cli.console import stdout

    monkeypatch.setattr(stdout, "width", 400)  # no label wrapped inside its table cell
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nsteps: 5\ntasks: [quadratic]\noptimizers:\n"
        f"  - name: {json.dumps(HOSTILE_LABEL)}\n    optimizer: adam\n  - sgd\n"
    )
    out = tmp_path / "out"
    escaped = "/../\\u202e\\u001b[31mred"  # (a BEL may be dropped by Rich instead)
    for command in (["sweep", str(path), "--dry-run"], ["sweep", str(path), "--out", str(out)],
                    ["summary", str(out)], ["summary", str(out), "--json"]):
        assert main(command) == 0
        captured = capsys.readouterr()
        _no_raw_controls(captured.out + captured.err)
        assert escaped in captured.out
    record = next((out / "trials").glob("*.json"))
    data = json.loads(record.read_text())
    data["variant"] = "\u2066evil\x1b]0;title\x07"
    record.write_text(json.dumps(data))
    assert main(["summary", str(out), "--all"]) == 0
    captured = capsys.readouterr()
    _no_raw_controls(captured.out)
    assert "\\u2066evil\\u001b]0;title" in captured.out


def test_printable_keeps_text_and_escapes_controls():
    from adamlab.cli.console import printable

    assert printable("ädam ★ ≤ 3\n\tx") == "ädam ★ ≤ 3\n\tx"
    assert printable("a\x1b[31m\u202e\r\x85\U000e0041") == "a\\u001b[31m\\u202e\\u000d\\u0085\\udb40\\udc41"
    assert json.loads('"' + printable("\u202e\U000e0041") + '"') == "\u202e\U000e0041"
