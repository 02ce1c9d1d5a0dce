"""`adamlab sweep CONFIG --set KEY=VALUE` and `seeds: N`: edits validated like the file, named
in errors, kept in the folder's sweep.yaml; a folder holding another sweep's results is refused."""

from __future__ import annotations

import pytest
import yaml
from sweep_testing import manifest, quick_sweep, records, write_yaml

from adamlab.cli.app import main
from adamlab.errors import AdamlabError
from adamlab.sweep.overrides import parse_override
from adamlab.sweep.schema import SweepConfigError, load_sweep
from adamlab.sweep.trials import expand_trials


def test_parse_override_reads_dotted_keys_and_yaml_values():
    assert parse_override("steps=60") == (("steps",), 60)
    assert parse_override("optimizers.0.lr=[1e-3, 1e-2]") == (("optimizers", 0, "lr"), [0.001, 0.01])
    assert parse_override("tasks.1.params.noise=0.5") == (("tasks", 1, "params", "noise"), 0.5)
    assert parse_override("description=a b") == (("description",), "a b")
    for bad, message in (("steps", "expected KEY=VALUE"), ("a..b=1", "empty part"),
                         ("seeds=[0, 1", "the value is not YAML")):
        with pytest.raises(AdamlabError, match=message):
            parse_override(bad)


def test_overrides_change_the_sweep_as_the_file_would(tmp_path):
    path = quick_sweep(tmp_path, steps=40)
    sweep = load_sweep(path, overrides=("steps=20", "seeds=[3]", "optimizers.1.lr=[0.5]",
                                        "tasks.0.params.dim=3"))
    edited = write_yaml(tmp_path, path.read_text().replace("steps: 40", "steps: 20")
                        .replace("seeds: [0, 1]", "seeds: [3]")
                        .replace("lr: [0.01, 0.1]\n", "lr: [0.5]\n", 2)
                        .replace("dim: 5", "dim: 3"), name="edited.yaml")
    by_hand = load_sweep(edited)
    # the adam entry keeps its lrs (only optimizers.1 was set); the file edited by hand sets both
    assert [t.trial_id for t in expand_trials(sweep) if t.variant == "sgd"] == \
        [t.trial_id for t in expand_trials(by_hand) if t.variant == "sgd"]
    assert sweep.tasks[0].steps == 20 and sweep.seeds == (3,)
    assert sweep.overrides[0] == "steps=20"


def test_an_override_problem_names_the_set_not_a_line(tmp_path):
    path = quick_sweep(tmp_path)
    with pytest.raises(SweepConfigError) as caught:
        load_sweep(path, overrides=("optimizers.0.beta2=1.5", "stepz=3"))
    lines = caught.value.lines
    assert f"{path}: optimizers[0].beta2: must be in [0, 1), got 1.5 (from --set optimizers.0.beta2=1.5)" in lines
    assert any(line.startswith(f"{path}: stepz: unknown key") and line.endswith("(from --set stepz=3)")
               for line in lines)
    with pytest.raises(AdamlabError, match=r"--set optimizers.7.lr=1: optimizers has 2 item\(s\); "
                                           r"the index must be 0 to 2"):
        load_sweep(path, overrides=("optimizers.7.lr=1",))


def test_a_seed_count_is_the_first_n_seeds_with_their_trial_ids(tmp_path):
    listed = load_sweep(quick_sweep(tmp_path, seeds="[0, 1, 2]"))
    counted = load_sweep(quick_sweep(tmp_path, seeds="3"))
    assert counted.seeds == (0, 1, 2)
    assert [t.trial_id for t in expand_trials(counted)] == [t.trial_id for t in expand_trials(listed)]
    with pytest.raises(SweepConfigError, match="seeds: a seed count must be 1 to"):
        load_sweep(quick_sweep(tmp_path, seeds="0"))


def test_the_effective_sweep_is_stored_in_the_folder(tmp_path, capsys):
    path = quick_sweep(tmp_path, steps=10)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "-o", str(out), "-q", "--set", "seeds=1",
                 "--set", "optimizers.0.lr=[0.05]", "--set", "optimizers.1.lr=0.05"]) == 0, \
        capsys.readouterr().err
    stored = (out / "sweep.yaml").read_text()
    assert "--set 'optimizers.0.lr=[0.05]'" in stored
    resolved = yaml.safe_load(stored)
    assert resolved["seeds"] == [0] and resolved["optimizers"][1]["lr"] == 0.05
    assert len(records(out)) == 3  # adam 1 lr x 2 beta2 + sgd 1 lr, one seed
    # the stored file runs the same trials: nothing left to do
    assert main(["sweep", str(out / "sweep.yaml"), "-o", str(out), "-q"]) == 0
    assert "3 already done" in capsys.readouterr().out


def test_a_folder_of_another_sweep_is_refused_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "results" / "quickstart"
    assert main(["sweep", str(quick_sweep(tmp_path, name="quickstart", steps=5)), "-o", str(out),
                 "-q", "--set", "seeds=1"]) == 0
    before = sorted(p.name for p in (out / "trials").iterdir())
    mine = quick_sweep(tmp_path, name="first_sweep", steps=5)
    for extra in ([], ["--dry-run"]):
        assert main(["sweep", str(mine), "-o", str(out), "-q", *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert err == (f"error: {out}: holds the results of sweep 'quickstart', not of 'first_sweep'; "
                       "give this sweep its own folder (output: in the YAML, or --out)")
    assert sorted(p.name for p in (out / "trials").iterdir()) == before
    assert manifest(out)["sweep"] == "quickstart"
