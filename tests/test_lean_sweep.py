"""A sweep imports only what it runs: no torch._dynamo for the built-in optimizers, no Ray without
--backend ray, no matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sweep_testing import write_yaml

#: runs the sweep at argv[1] into argv[2] as `adamlab sweep -q` does, and prints which of the
#: watched modules were loaded while trials ran and once the sweep ended
PROBE = textwrap.dedent("""\
    import json, sys
    from pathlib import Path
    from adamlab.cli.app import main

    WATCHED = ("torch._dynamo", "pandas", "ray", "matplotlib")
    seen = {"while training": set()}

    from adamlab.sweep import execute
    real_write = execute.ResultsFolder.write_record

    def write_record(self, record, traceback_text=None):
        seen["while training"].update(m for m in WATCHED if m in sys.modules)
        return real_write(self, record, traceback_text)

    execute.ResultsFolder.write_record = write_record
    code = main(["sweep", sys.argv[1], "--out", sys.argv[2], "-q", *sys.argv[3:]])
    print(json.dumps({"code": code, "while training": sorted(seen["while training"]),
                      "at the end": sorted(m for m in WATCHED if m in sys.modules)}))
    """)


def _probe(tmp_path, optimizers: str) -> dict:
    config = write_yaml(tmp_path, f"""\
        name: lean
        steps: 20
        tasks: [quadratic]
        optimizers: {optimizers}
        """)
    result = subprocess.run([sys.executable, "-c", PROBE, str(config), str(tmp_path / "out")],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_sweep_of_the_built_in_optimizers_imports_only_what_it_runs(tmp_path):
    seen = _probe(tmp_path, "[adam, adamw, sgd, momentum, nesterov]")
    assert seen["code"] == 0
    assert seen["while training"] == []
    assert seen["at the end"] == ["pandas"]  # the tables


def test_a_registered_experiments_sweep_stores_its_criteria_without_pandas(tmp_path):
    config = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
    out = tmp_path / "out"
    seen = json.loads(subprocess.run(
        [sys.executable, "-c", PROBE, str(config), str(out), "--set", "steps=5", "--set", "seeds=[0]",
         "--set", "optimizers.0.lr=[0.1]", "--set", "optimizers.1.lr=[0.1]",
         "--set", "optimizers.2.lr=[0.01]", "--set", "optimizers.3.lr=[0.01]"],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert seen["while training"] == []
    stored = json.loads((out / "criteria.json").read_text())
    assert stored["experiment"] == "quickstart" and len(stored["claims"]) == 3


def test_torchs_own_optimizers_still_get_their_dynamo_hooks(tmp_path):
    # the probe can see torch._dynamo: a sweep that builds a torch.optim optimizer loads it
    seen = _probe(tmp_path, "[torch_adam]")
    assert seen["code"] == 0 and "torch._dynamo" in seen["while training"]
