"""`adamlab report`: the claims table, --check exit codes, one-line errors, and a real run."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from experiments_testing import record, write_folder
from test_experiments_embedding import embedding_records

from adamlab.cli.app import main
from adamlab.experiments.registry import experiment_names, judge
from adamlab.store.tables import load_results

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, " ".join(out.out.split()), out.err


def folder(tmp_path: Path, sweep: str = "embedding_sparsity", **changes) -> Path:
    return write_folder(tmp_path / sweep, _records(**changes), sweep)


def _records(**changes):
    """Embedding trials (sgd, momentum, adam, adamw x 3 lrs x 3 seeds): every claim holds by
    default."""
    return embedding_records(**changes)


def test_report_prints_each_claim_measured_and_its_verdict(capsys, tmp_path):
    code, out, err = run_cli(capsys, "report", folder(tmp_path))
    assert code == 0, err
    assert "embedding_sparsity: rare rows of a Zipf embedding table" in out
    # the folder was written by hand, not by configs/embedding_sparsity.yaml
    assert (f"not made from configs/embedding_sparsity.yaml as it stands; reproduce with: adamlab "
            f"sweep {tmp_path / 'embedding_sparsity' / 'sweep.yaml'}") in out
    assert "36 trials" in out and "Claims about the method" in out
    for heading in ("claim", "measured", "criterion", "verdict"):
        assert heading in out
    assert out.count("✓ holds") == 5 and "✗" not in out
    assert out.endswith("5 of 5 claims hold. No criteria stored in this folder (made before "
                        "adamlab stored them): judged with today's criteria.")
    assert run_cli(capsys, "report", folder(tmp_path), "--check")[0] == 0


def test_report_names_the_config_only_when_the_folder_was_made_from_it(capsys, tmp_path, monkeypatch):
    import json

    from adamlab.sweep.schema import load_sweep
    from adamlab.sweep.trials import expand_trials

    monkeypatch.chdir(REPO_ROOT)
    path = folder(tmp_path)
    manifest = json.loads((path / "adamlab-results.json").read_text())
    manifest["trial_ids"] = [t.trial_id for t in expand_trials(load_sweep("configs/embedding_sparsity.yaml"))]
    (path / "adamlab-results.json").write_text(json.dumps(manifest))
    code, out, err = run_cli(capsys, "report", path)
    assert code == 0, err
    assert "reproduce with: adamlab sweep configs/embedding_sparsity.yaml" in out


def test_check_exits_1_when_a_claim_fails(capsys, tmp_path):
    path = folder(tmp_path, momentum_rare=1.1)
    code, out, err = run_cli(capsys, "report", path)
    assert code == 0 and "4 of 5 claims hold (1 fail)." in out and "✗ fails" in out
    code, out, err = run_cli(capsys, "report", path, "--check")
    assert code == 1
    assert err.strip() == "error: --check: 1 of 5 claims and checks do not hold"


def test_check_exits_1_when_a_claim_is_inconclusive(capsys, tmp_path):
    path = write_folder(tmp_path / "two", _records(seeds=(0, 1)), "embedding_sparsity")
    code, out, _ = run_cli(capsys, "report", path)
    assert "0 of 5 claims hold (5 inconclusive)." in out and "~ inconclusive" in out
    assert run_cli(capsys, "report", path, "--check")[0] == 1


def test_report_json_lists_every_claim_with_its_verdict_and_kind(capsys, tmp_path):
    code = main(["report", str(folder(tmp_path, momentum_rare=1.1)), "--json"])
    claims = json.loads(capsys.readouterr().out)
    assert code == 0 and len(claims) == 5
    assert set(claims[0]) >= {"task", "claim", "measured", "criterion", "verdict", "kind"}
    assert [c["verdict"] for c in claims] == ["holds", "fails", "holds", "holds", "holds"]
    assert {c["kind"] for c in claims} == {"claim"} and claims[0]["task"] == "embedding_sparsity"


def test_report_markdown_tables(capsys, tmp_path):
    code = main(["report", str(folder(tmp_path)), "--markdown"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("**Claims about the method**\n\n| task | claim | measured | criterion |")
    assert out.count("| ✓ holds |") == 5 and "5 of 5 claims hold.\n" in out
    assert out.rstrip().endswith("judged with today's criteria.")
    assert "Implementation checks" not in out


def test_check_exits_1_when_a_claim_cannot_be_measured(capsys, tmp_path):
    only_sgd = [record("embedding_sparsity", "sgd", {"lr": 10.0}, 0, {
        1: {"rare.error": 5.5, "frequent.error": 5.5}, 500: {"rare.error": 5.0, "frequent.error": 0.1}})]
    path = write_folder(tmp_path / "e", only_sgd, "embedding_sparsity")
    code, out, _ = run_cli(capsys, "report", path, "--check")
    assert code == 1
    # SGD's one lr is untuned: its fit of the frequent rows cannot be called either way
    assert "0 of 5 claims hold (1 inconclusive, 4 not measurable)." in out


def test_unknown_sweep_name_needs_experiment(capsys, tmp_path):
    path = write_folder(tmp_path / "mine", _records(), "my-embedding-run")
    code, out, err = run_cli(capsys, "report", path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "sweep 'my-embedding-run' is not one of the experiments" in err
    assert ", ".join(experiment_names()) in err and "--experiment NAME" in err
    code, out, _ = run_cli(capsys, "report", path, "--experiment", "embedding_sparsity")
    assert code == 0 and "5 of 5 claims hold" in out


def test_unknown_experiment_is_a_one_line_error(capsys, tmp_path):
    code, out, err = run_cli(capsys, "report", folder(tmp_path), "--experiment", "adam_paper")
    assert code == 1 and out == ""
    assert err.strip() == (
        "error: --experiment: unknown experiment 'adam_paper'; allowed: "
        + ", ".join(experiment_names())
    )


def test_not_a_results_folder_is_a_one_line_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "report", tmp_path / "nowhere")
    assert code == 1 and err.strip() == f"error: {tmp_path / 'nowhere'}: no such results folder"


def test_cut_down_quickstart_end_to_end(capsys, tmp_path):
    config = yaml.safe_load((REPO_ROOT / "configs" / "quickstart.yaml").read_text())
    config.update(name="quickstart-mini", steps=30, seeds=[0], log_every=10, eval_every=30)
    chosen = {"sgd": 10.0, "momentum": 10.0, "adam": 0.1, "adamw": 0.1}
    for entry in config["optimizers"]:
        assert chosen[entry["name"]] in entry["lr"]
        entry["lr"] = [chosen[entry["name"]]]  # one lr of each grid, stable on the embedding task
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(config))
    out_dir = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out_dir), "--quiet", "--threads", "1"]) == 0
    capsys.readouterr()
    code, out, err = run_cli(capsys, "report", out_dir)
    assert code == 1 and "sweep 'quickstart-mini' is not one of the experiments" in err
    code, out, err = run_cli(capsys, "report", out_dir, "--experiment", "quickstart", "--check")
    experiment, claims = judge(load_results(out_dir), "quickstart")
    assert experiment.name == "quickstart" and len(claims) == 3
    assert code == (0 if all(c.holds for c in claims) else 1)
    # bias-corrected Adam's first step is lr on every coordinate, even after 30 steps of run
    assert claims[0].verdict == "holds" and "1.00× lr" in claims[0].measured
    assert claims[0].kind == "implementation check"
    assert all(c.verdict != "not measurable" for c in claims), [c.measured for c in claims]
    # one seed and one lr per optimizer: no claim about the method can be decided
    assert all(c.verdict == "inconclusive" for c in claims[1:]), [c.why for c in claims]
    assert "quickstart: Adam/AdamW vs SGD and momentum" in out and "8 trials" in out


def test_update_experiments_replaces_each_block_with_its_command_output(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "update_experiments", REPO_ROOT / "docs" / "update_experiments.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder(tmp_path)  # tmp_path/embedding_sparsity
    text = ("intro\n<!-- BEGIN: adamlab report results/embedding_sparsity --markdown -->\n"
            "stale table\n<!-- END -->\nafter\n")
    fresh = module.refresh(text, tmp_path)
    assert "stale table" not in fresh and fresh.startswith("intro\n<!-- BEGIN: adamlab report")
    assert "| ✓ holds |" in fresh and "5 of 5 claims hold.\n" in fresh
    assert "judged with today's criteria.\n<!-- END -->\nafter\n" in fresh
    assert module.refresh(fresh, tmp_path) == fresh  # idempotent
