"""The read commands never import torch: what they need about tasks and optimizers (names,
parameters, defaults, metric goals) is the torch-free metadata beside each of them.

One subprocess runs every command in turn through the CLI's `main` and reports, after each,
whether `torch` is in sys.modules, so the first command that pulls it in is named."""

from __future__ import annotations

import json
import subprocess
import sys

from sweep_testing import quick_sweep, write_yaml
from task_testing import tiny_mnist_arrays, write_mnist

from adamlab.sweep.execute import run_sweep
from adamlab.sweep.schema import load_sweep

COMMANDS = [
    ["list"],
    ["list", "tasks"],
    ["summary", "{out}"],
    ["summary", "{out}", "--json"],
    ["summary", "{out}", "--all", "--rule", "best", "--metric", "loss", "--against", "adam"],
    ["summary", "{out}", "--at-step", "20", "--task", "quadratic", "--target", "0.5"],
    ["export", "{out}", "--out", "{tmp}/trials.csv"],
    ["export", "{out}", "--long", "--out", "{tmp}/metrics.csv"],
    ["report", "{out}", "--experiment", "quickstart", "--json"],
    ["sweep", "{config}", "--out", "{out}", "--dry-run"],
    ["sweep", "{config}", "--out", "{out}", "-q"],  # every trial done: nothing to run
    ["sweep", "{epochs}", "--dry-run"],  # an epoch's length from the IDX header, no data loaded
]

PROBE = """
import contextlib, io, json, sys
from adamlab.cli.app import main
seen = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    seen.append([" ".join(argv[:3]) + (": " + err.getvalue()[-300:] if code else ""), code,
                 "torch" in sys.modules])
print(json.dumps(seen))
"""


def test_read_commands_do_not_import_torch(tmp_path):
    config = quick_sweep(tmp_path, steps=20)
    out = tmp_path / "out"
    run_sweep(load_sweep(config).with_output(out))
    write_mnist(tmp_path / "mnist", tiny_mnist_arrays(n_train=600, n_test=100), gz=True)
    epochs = write_yaml(tmp_path, f"""\
        name: by_epochs
        epochs: 2
        batch_size: 50
        tasks:
          - name: mnist_mlp
            params: {{data_dir: {tmp_path / 'mnist'}, download: false}}
        optimizers: [adam]
        """, name="epochs.yaml")
    commands = [[part.format(out=out, tmp=tmp_path, config=config, epochs=epochs) for part in argv]
                for argv in COMMANDS]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], capture_output=True,
                          text=True, check=True, cwd=tmp_path)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    torch_after = [command for command, _, torch in seen if torch]
    assert torch_after == [], f"torch imported by: {torch_after[0]}"
    # every command did its work (report's --json prints the claims, exit 0 without --check)
    assert [code for _, code, _ in seen] == [0] * len(COMMANDS), [c for c, code, _ in seen if code]
