"""Sweep YAML validation: every bad file gives one line per problem naming file, key path, what is
allowed, and the line; everything is found before anything runs."""

from __future__ import annotations

import textwrap

import pytest
import torch

from adamlab.cli.app import main
from adamlab.errors import AdamlabError
from adamlab.sweep.schema import SweepConfigError, load_sweep
from adamlab.sweep.trials import expand_trials

GOOD_HEAD = """\
name: t
steps: 5
tasks:
  - name: quadratic
    params: {dim: 2}
"""


def write(tmp_path, text: str, name: str = "sweep.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(SweepConfigError) as info:
        load_sweep(path)
    prefix = f"{path}: "
    assert all(line.startswith(prefix) for line in info.value.lines), info.value.lines
    return [line[len(prefix):] for line in info.value.lines]


# (YAML text, the one expected problem, after "<file>: ")
BAD_FILES = {
    "unknown top-level key": (
        GOOD_HEAD + "optimizers: [sgd]\ncolour: red\n",
        "colour: unknown key; allowed: name, description, output, seeds, device, steps, epochs, "
        "batch_size, log_every, eval_every, divergence_factor, stack_size, tasks, optimizers (line 7)",
    ),
    "missing name": (
        "steps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "name: required key is missing",
    ),
    "name with a space": (
        "name: my sweep\nsteps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "name: must be a folder name of letters, digits, '_', '.', '-' (not . or ..), got 'my sweep' (line 1)",
    ),
    "steps below 1": (
        "name: t\nsteps: 0\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "steps: must be >= 1, got 0 (line 2)",
    ),
    "steps as text": (
        "name: t\nsteps: '100'\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "steps: must be an integer, got '100' (line 2)",
    ),
    "steps and epochs": (
        "name: t\nsteps: 5\nepochs: 1\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "steps: give steps or epochs, not both (line 2)",
    ),
    "no step count": (
        "name: t\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "tasks[0]: no steps or epochs given; set steps: (or epochs:) at the top level or in this "
        "task entry (line 2)",
    ),
    "epochs on an unbounded task": (
        "name: t\nepochs: 2\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "epochs: task 'quadratic' has no fixed epoch length (unbounded data); use steps: (line 2)",
    ),
    "seeds not a list or a count": (
        "name: t\nseeds: '3'\nsteps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "seeds: must be a list, got '3' (line 2)",
    ),
    "seed given twice": (
        "name: t\nseeds: [0, 1, 0]\nsteps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "seeds[2]: seed 0 is given twice (line 2)",
    ),
    "divergence factor 1": (
        "name: t\nsteps: 5\ndivergence_factor: 1\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "divergence_factor: must be > 1, got 1 (line 3)",
    ),
    "unknown device": (
        "name: t\nsteps: 5\ndevice: gpu\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "device: unknown device 'gpu'; allowed: cpu, cuda, cuda:N, auto (line 3)",
    ),
    "unknown task": (
        "name: t\nsteps: 5\ntasks:\n  - name: cifar\noptimizers: [sgd]\n",
        "tasks[0].name: unknown task 'cifar'; allowed: embedding_sparsity, mnist_mlp, quadratic (for your own, target: module:Class) (line 4)",
    ),
    "task parameter out of range": (
        "name: t\nsteps: 5\ntasks:\n  - name: quadratic\n    params:\n      dim: 0\noptimizers: [sgd]\n",
        "tasks[0].params.dim: must be >= 1, got 0 (line 6)",
    ),
    "unknown task parameter": (
        "name: t\nsteps: 5\ntasks:\n  - name: quadratic\n    params: {dims: 3}\noptimizers: [sgd]\n",
        "tasks[0].params.dims: unknown key; allowed: preset, dim, spectrum, condition, "
        "max_curvature, rotated, problem_seed, noise, noise_shape, theta0 (line 5)",
    ),
    "unknown key in a task entry": (
        "name: t\nsteps: 5\ntasks:\n  - name: quadratic\n    lr: 3\noptimizers: [sgd]\n",
        "tasks[0].lr: unknown key; allowed: name, target, params, steps, epochs, batch_size, log_every, "
        "eval_every (line 5)",
    ),
    "unknown optimizer": (
        GOOD_HEAD + "optimizers:\n  - name: adagrad\n",
        "optimizers[0].name: unknown optimizer 'adagrad'; allowed: adam, adamw, momentum, nesterov, "
        "sgd, sparse_adam, torch_adam, torch_adamw (for a named variant add optimizer: <one of those>; "
        "for your own, target: module:attribute) (line 7)",
    ),
    "variant of an unknown optimizer": (
        GOOD_HEAD + "optimizers:\n  - name: fast\n    optimizer: adamx\n",
        "optimizers[0].optimizer: unknown optimizer 'adamx'; allowed: adam, adamw, momentum, "
        "nesterov, sgd, sparse_adam, torch_adam, torch_adamw (line 8)",
    ),
    "hyperparameter of another optimizer": (
        GOOD_HEAD + "optimizers:\n  - name: adam\n    momentum: 0.9\n",
        "optimizers[0].momentum: unknown hyperparameter for adam; allowed: lr, beta1, beta2, eps, "
        "weight_decay, amsgrad, bias_correction, schedule, warmup_steps (line 8)",
    ),
    "betas as a pair": (
        GOOD_HEAD + "optimizers:\n  - name: adamw\n    betas: [0.9, 0.99]\n",
        "optimizers[0].betas: unknown hyperparameter for adamw (betas are given as beta1 and beta2); "
        "allowed: lr, beta1, beta2, eps, weight_decay, amsgrad, bias_correction, "
        "weight_decay_scaling, schedule, warmup_steps (line 8)",
    ),
    "unknown schedule": (
        GOOD_HEAD + "optimizers:\n  - name: sgd\n    schedule: [cosine, step]\n",
        "optimizers[0].schedule[1]: must be one of constant, cosine, linear, got 'step' (line 8)",
    ),
    "negative warmup": (
        GOOD_HEAD + "optimizers:\n  - name: momentum\n    warmup_steps: -5\n",
        "optimizers[0].warmup_steps: must be >= 0, got -5 (line 8)",
    ),
    "warmup longer than the run": (
        GOOD_HEAD + "optimizers:\n  - name: adam\n    warmup_steps: 1000000\n",
        "optimizers[0].warmup_steps: must be <= the steps of every task, got 1000000 (tasks[0] "
        "quadratic runs 5 steps) (line 8)",
    ),
    "unknown weight_decay_scaling": (
        GOOD_HEAD + "optimizers:\n  - name: adamw\n    weight_decay_scaling: eta\n",
        "optimizers[0].weight_decay_scaling: must be one of lr, schedule, got 'eta' (line 8)",
    ),
    "weight_decay_scaling of adam": (
        GOOD_HEAD + "optimizers:\n  - name: adam\n    weight_decay_scaling: schedule\n",
        "optimizers[0].weight_decay_scaling: unknown hyperparameter for adam; allowed: lr, beta1, "
        "beta2, eps, weight_decay, amsgrad, bias_correction, schedule, warmup_steps (line 8)",
    ),
    "negative learning rate": (
        GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: -0.1\n",
        "optimizers[0].lr: must be >= 0, got -0.1 (line 8)",
    ),
    "beta2 of 1 in a list": (
        GOOD_HEAD + "optimizers:\n  - name: adam\n    beta2: [0.99, 0.999,\n            1.0]\n",
        "optimizers[0].beta2[2]: must be in [0, 1), got 1.0 (line 9)",
    ),
    "negative eps": (
        GOOD_HEAD + "optimizers:\n  - name: adam\n    eps: -1e-8\n",
        "optimizers[0].eps: must be >= 0, got -1e-08 (line 8)",
    ),
    "negative weight decay": (
        GOOD_HEAD + "optimizers:\n  - name: adamw\n    weight_decay: [0.0, -0.01]\n",
        "optimizers[0].weight_decay[1]: must be >= 0, got -0.01 (line 8)",
    ),
    "negative momentum": (
        GOOD_HEAD + "optimizers:\n  - name: momentum\n    momentum: -0.5\n",
        "optimizers[0].momentum: must be >= 0, got -0.5 (line 8)",
    ),
    "learning rate as text": (
        GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: fast\n",
        "optimizers[0].lr: must be a number, got 'fast' (line 8)",
    ),
    "flag as a number": (
        GOOD_HEAD + "optimizers:\n  - name: adam-nobc\n    optimizer: adam\n    bias_correction: 0\n",
        "optimizers[0].bias_correction: must be true or false, got 0 (line 9)",
    ),
    "logspace without a count": (
        GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: {logspace: [1.0e-4, 1.0e-1]}\n",
        "optimizers[0].lr.logspace: must be [start, stop, count], got [0.0001, 0.1] (line 8)",
    ),
    "logspace from zero": (
        GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: {logspace: [0, 1, 3]}\n",
        "optimizers[0].lr.logspace[0]: logspace end points must be > 0, got 0 (they are the "
        "values themselves, not numpy's exponents: np.logspace(-4, -1, 4) is logspace: "
        "[1.0e-4, 1.0e-1, 4]) (line 8)",
    ),
    "range past the allowed values": (
        GOOD_HEAD + "optimizers:\n  - name: adam\n    beta1: {linspace: [0.5, 1.0, 3]}\n",
        "optimizers[0].beta1.linspace: must be in [0, 1), got 1.0 (line 8)",
    ),
    "unknown range kind": (
        GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: {range: [1, 2]}\n",
        "optimizers[0].lr: a mapping must be one of {logspace: [start, stop, count]}, "
        "{linspace: [start, stop, count]}, {loguniform: [low, high], samples: N} or "
        "{uniform: [low, high], samples: N} (optional seed: S), got keys: range (line 8)",
    ),
    "empty list": (
        GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: []\n",
        "optimizers[0].lr: an empty list sweeps nothing; give at least one value (line 8)",
    ),
    "dense-only optimizer on sparse gradients": (
        "name: t\nsteps: 5\ntasks:\n  - name: embedding_sparsity\n    params: {vocab_size: 10, sparse: true}\n"
        "optimizers:\n  - name: adam\n",
        "optimizers[0]: adam cannot take the sparse gradients of tasks[0] (embedding_sparsity with "
        "these params); allowed on sparse gradients: sgd, sparse_adam (line 7)",
    ),
    "old name of stack_size": (
        "name: t\nsteps: 5\nbatch_trials: 0\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "batch_trials: unknown key; allowed: name, description, output, seeds, device, steps, epochs, "
        "batch_size, log_every, eval_every, divergence_factor, stack_size, tasks, optimizers (line 3)",
    ),
    "stack size": (
        "name: t\nsteps: 5\nstack_size: 0\ntasks: [quadratic]\noptimizers: [sgd]\n",
        "stack_size: must be auto or an integer >= 1, got 0 (line 3)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_gives_its_message(tmp_path, case):
    text, expected = BAD_FILES[case]
    assert problems(tmp_path, text) == [expected]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu(tmp_path):
    found = problems(tmp_path, "name: t\nsteps: 5\ndevice: cuda\ntasks: [quadratic]\noptimizers: [sgd]\n")
    assert len(found) == 1
    assert found[0].startswith("device: device 'cuda' asked for, but torch sees no CUDA device")
    assert found[0].endswith("use device: cpu or auto (line 3)")


def test_cuda_from_the_command_line_names_the_option(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    path = write(tmp_path, "name: t\nsteps: 5\ntasks: [quadratic]\noptimizers: [sgd]\n")
    with pytest.raises(SweepConfigError) as info:
        load_sweep(path, device="cuda")
    assert info.value.lines[0].startswith(f"{path}: --device: device 'cuda' asked for")


def test_optimizer_refusals_are_found_before_running(tmp_path):
    # what only the optimizer knows (Nesterov needs momentum > 0; SparseAdam refuses dense
    # gradients) is found by building each configuration once, before any trial
    found = problems(tmp_path, GOOD_HEAD + textwrap.dedent("""\
        optimizers:
          - name: nesterov
            momentum: [0.9, 0.0]
          - sparse_adam
        """))
    assert len(found) == 2, found
    assert found[0].startswith("optimizers[0]: nesterov fails on the dense gradients of tasks[0] (quadratic) "
                               "at momentum=0.0: ValueError: ")
    assert found[0].endswith("(line 7)")
    assert found[1] == (
        "optimizers[1]: sparse_adam fails on the dense gradients of tasks[0] (quadratic): RuntimeError: "
        "SparseAdam does not support dense gradients, please consider Adam instead (line 9)"
    )


def test_every_problem_is_reported_in_file_order(tmp_path):
    found = problems(tmp_path, """\
        name: t
        steps: 0
        tasks:
          - name: quadratic
            params: {dim: -1}
          - nosuch
        optimizers:
          - name: adam
            lr: -1
            beta1: [0.9, 2]
          - name: sgd
            nesterov: true
        """)
    assert [line.split(":")[0] for line in found] == [
        "steps", "tasks[0].params.dim", "tasks[1].name", "optimizers[0].lr",
        "optimizers[0].beta1[1]", "optimizers[1].nesterov",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: t\nsteps: [5\n", "malformed YAML: expected ',' or ']', but got '<stream end>'"),
        ("name: t\n  steps: 5\n", "malformed YAML: mapping values are not allowed here"),
        ("name: t\noptimizers:\n  - name: sgd\n    lr: 0.1\n    lr: 0.2\n",
         "malformed YAML: duplicate key 'lr' (first given on line 4)"),
    ],
)
def test_malformed_yaml_names_line_and_column(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(AdamlabError) as info:
        load_sweep(path)
    message = str(info.value)
    assert message.startswith(f"{path}:")
    line = message[len(str(path)) + 1:].split(":")[0]
    assert line.isdigit()
    assert expected in message


def test_duplicate_key_points_at_the_second_one(tmp_path):
    path = write(tmp_path, "name: t\noptimizers:\n  - name: sgd\n    lr: 0.1\n    lr: 0.2\n")
    with pytest.raises(AdamlabError, match=r":5:5: malformed YAML: duplicate key 'lr'"):
        load_sweep(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty; a sweep needs at least name, tasks and optimizers"),
        ("- a\n- b\n", "must be a mapping of keys (name, tasks, optimizers, ...), got a list"),
    ],
)
def test_empty_or_not_a_mapping(tmp_path, text, expected):
    assert problems(tmp_path, text) == [expected]


def test_missing_file(tmp_path):
    with pytest.raises(AdamlabError, match=r"nope\.yaml: no such file$"):
        load_sweep(tmp_path / "nope.yaml")


def test_exponent_without_a_dot_is_a_number(tmp_path):
    # YAML 1.1 reads 1e-3 as the string "1e-3"; sweeps read it as the number people mean
    sweep = load_sweep(write(tmp_path, GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: [1e-3, 1E-2]\n"))
    assert sweep.optimizers[0].grid["lr"] == [0.001, 0.01]


def test_defaults_are_filled_and_types_coerced(tmp_path):
    sweep = load_sweep(write(tmp_path, GOOD_HEAD + "optimizers:\n  - name: adamw\n    lr: 1\n"))
    grid = sweep.optimizers[0].grid
    assert grid["lr"] == [1.0] and isinstance(grid["lr"][0], float)
    assert grid["weight_decay"] == [0.01]  # AdamW's registry default
    assert sweep.tasks[0].eval_every == 5  # default: at the end only
    assert sweep.tasks[0].params["dim"] == 2 and "noise" in sweep.tasks[0].params
    assert str(sweep.output) == "results/t"


def test_resolved_yaml_loads_back_to_the_same_trials(tmp_path):
    original = load_sweep(write(tmp_path, """\
        name: t
        seeds: [3, 4]
        steps: 7
        log_every: 2
        device: auto
        tasks:
          - name: quadratic
            params: {preset: deepobs, dim: 8}
            steps: 9
        optimizers:
          - name: adam
            lr: {logspace: [1.0e-4, 1.0e-1, 4]}
            beta2: [0.99, 0.999]
          - name: adam-nobc
            optimizer: adam
            bias_correction: false
          - sgd
        """))
    again = load_sweep(write(tmp_path, original.to_yaml(), "resolved.yaml"))
    assert [t.trial_id for t in expand_trials(again)] == [t.trial_id for t in expand_trials(original)]
    assert again.device == "cpu"  # 'auto' is written resolved


def test_cli_prints_one_error_line_per_problem(tmp_path, capsys):
    path = write(tmp_path, GOOD_HEAD + "optimizers:\n  - name: sgd\n    lr: -1\n  - name: adam\n    beta1: 1\n")
    code = main(["sweep", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        f"error: {path}: optimizers[0].lr: must be >= 0, got -1.0 (line 8)",
        f"error: {path}: optimizers[1].beta1: must be in [0, 1), got 1.0 (line 10)",
    ]


def test_cli_missing_file_is_one_line(tmp_path, capsys):
    code = main(["sweep", str(tmp_path / "none.yaml")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == f"error: {tmp_path / 'none.yaml'}: no such file"


def test_the_readme_examples_are_valid_sweeps(tmp_path, repo_root):
    readme = (repo_root / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```yaml\n")[1:]]
    tutorial = next(b for b in blocks if b.startswith("name: first_sweep"))
    reference = next(b for b in blocks if b.startswith("name: my_sweep"))  # not the plug-in example
    sweep = load_sweep(write(tmp_path, tutorial))
    # your first sweep: 1 task x (sgd 4 lr + adam 3 lr) x 3 seeds, in its own folder
    assert len(expand_trials(sweep)) == 1 * (4 + 3) * 3
    assert sweep.name == "first_sweep" and sweep.output.name == "first_sweep"
    sweep = load_sweep(write(tmp_path, reference))
    # 2 tasks x (adam 4 lr x 3 beta2 + adam-nobc + adamw-lh + sgd) x 3 seeds
    assert len(expand_trials(sweep)) == 2 * (4 * 3 + 1 + 1 + 1) * 3
    assert sweep.output.name != "quickstart"  # copying it must not take over the demo's folder
