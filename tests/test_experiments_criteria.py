"""Pre-registered criteria: stored by a folder's first sweep, compared by `report`, and hashed
from source so that any commit's criterion can be recomputed."""

from __future__ import annotations

import json

import pytest
from experiments_testing import write_folder
from test_experiments_embedding import embedding_records

from adamlab.cli.app import main
from adamlab.experiments.criteria import (
    CHANGED,
    CRITERIA_FILE,
    Criterion,
    constant,
    criterion_hash,
    definition,
    installed_source,
    numbers,
)
from adamlab.experiments.registry import EXPERIMENTS, store_criteria


def test_every_reference_of_every_criterion_names_a_definition():
    missing = [ref for e in EXPERIMENTS.values() for c in e.criteria for ref in c.code
               if not definition(installed_source(ref.split(":")[0]), ref.split(":")[1])]
    assert missing == []
    for experiment in EXPERIMENTS.values():
        keys = [c.key for c in experiment.criteria]
        assert experiment.criteria and len(keys) == len(set(keys)), experiment.name


def test_each_claim_matches_exactly_one_criterion():
    from experiments_testing import results_of

    results = results_of(embedding_records(), sweep="embedding_sparsity")
    experiment = EXPERIMENTS["embedding_sparsity"]
    for claim in experiment.claims(results):
        assert sum(c.matches(claim.claim) for c in experiment.criteria) == 1, claim.claim


def test_the_hash_follows_the_code_it_names_and_nothing_else():
    source = "A = 1\n\ndef f(x):\n    return x + A\n\ndef g():\n    return 0\n"
    criterion = Criterion("k", "phrase", ("m:f", "m:A"))
    base = criterion_hash(criterion, lambda module: source)
    assert base == criterion_hash(criterion, lambda module: source.replace("return 0", "return 9"))
    assert base != criterion_hash(criterion, lambda module: source.replace("A = 1", "A = 2"))
    assert base != criterion_hash(criterion, lambda module: source.replace("x + A", "x - A"))


def report(capsys, path, *extra):
    code = main(["report", str(path), "--markdown", *map(str, extra)])
    return code, capsys.readouterr().out


def test_report_judges_with_the_stored_criteria_and_says_when_they_changed(tmp_path, capsys):
    path = write_folder(tmp_path / "e", embedding_records(), "embedding_sparsity")
    _, out = report(capsys, path)
    assert "No criteria stored in this folder" in out and out.count("✓ holds") == 5
    store_criteria(path, "embedding_sparsity")
    stored = json.loads((path / CRITERIA_FILE).read_text())
    assert stored["experiment"] == "embedding_sparsity"
    assert stored["claims"]["faster_than_sgd"]["numbers"]["FASTER_FACTOR"] == 5.0
    _, out = report(capsys, path)
    assert "Judged with the criteria stored by the folder's first sweep." in out
    # the criterion of one claim changed after these results: that claim is not judged
    stored["claims"]["task_loss"]["hash"] = "0" * 16
    (path / CRITERIA_FILE).write_text(json.dumps(stored))
    store_criteria(path, "embedding_sparsity")  # a later sweep keeps the first one's criteria
    assert json.loads((path / CRITERIA_FILE).read_text())["claims"]["task_loss"]["hash"] == "0" * 16
    _, out = report(capsys, path)
    assert out.count("✓ holds") == 4 and CHANGED in out and "(task_loss)" in out
    _, out = report(capsys, path, "--current-criteria")
    assert out.count("✓ holds") == 5 and "judged with today's criteria (--current-criteria)" in out


def test_the_first_sweep_into_a_folder_stores_the_criteria(tmp_path):
    config = tmp_path / "embedding_sparse.yaml"
    config.write_text("name: embedding_sparse\nsteps: 3\nbatch_size: 64\nlog_every: 1\n"
                      "tasks:\n  - name: embedding_sparsity\n    params: {sparse: true, "
                      "vocab_size: 50, dim: 2}\noptimizers:\n  - name: sgd\n    lr: 0.1\n")
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--quiet", "--threads", "1"]) == 0
    stored = json.loads((out / CRITERIA_FILE).read_text())
    assert set(stored["claims"]) == {"faster_than_sgd", "frequent_rows"}


def test_a_docstring_or_comment_does_not_change_a_criterion_but_code_does():
    source = 'def rule(x):\n    """Old words."""\n    return x + 1  # why\n'
    criterion = Criterion("k", "phrase", ("m:rule",))
    base = criterion_hash(criterion, lambda module: source)
    reworded = source.replace("Old words.", "New words.").replace("# why", "# because")
    assert criterion_hash(criterion, lambda module: reworded) == base
    assert criterion_hash(criterion, lambda module: source.replace("x + 1", "x + 2")) != base


def test_a_criteria_file_that_is_a_link_is_neither_followed_nor_replaced(tmp_path, capsys):
    path = write_folder(tmp_path / "e", embedding_records(), "embedding_sparsity")
    outside = tmp_path / "private.json"
    (path / CRITERIA_FILE).symlink_to(outside)  # dangling: a write through it would create it
    store_criteria(path, "embedding_sparsity")
    assert not outside.exists() and (path / CRITERIA_FILE).is_symlink()
    code = main(["report", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "not a regular entry of the results folder" in err
    assert len(err.strip().splitlines()) == 1


def test_the_numbers_read_from_source_are_the_values_the_code_runs_with():
    import importlib

    for experiment in EXPERIMENTS.values():
        for criterion in experiment.criteria:
            constants = {ref.split(":")[1]: getattr(importlib.import_module(ref.split(":")[0]),
                                                    ref.split(":")[1])
                         for ref in criterion.code if ref.split(":")[1].isupper()}
            stored = numbers(criterion)
            assert set(stored) == {n for n, v in constants.items()
                                   if isinstance(v, (int, float, str, bool, tuple))}
            for name, value in stored.items():
                assert value == (list(constants[name]) if isinstance(constants[name], tuple)
                                 else constants[name]), (experiment.name, name)


def test_a_constant_is_evaluated_from_source_through_names_and_imports():
    sources = {
        "m": "from n import BASE\nfrom n import OTHER as ALIAS\nMARGIN = 1 + BASE\n"
             "PAIR = (BASE, -2 * ALIAS)\ndef f():\n    return 0\nCALLED = f()\n",
        "n": "BASE = 0.01\nOTHER = 3\n",
    }
    assert constant("m", "MARGIN", sources.__getitem__) == 1 + 0.01
    assert constant("m", "PAIR", sources.__getitem__) == (0.01, -6)
    for name in ("CALLED", "f", "MISSING"):
        with pytest.raises(LookupError):
            constant("m", name, sources.__getitem__)
    criterion = Criterion("k", "p", ("m:MARGIN", "m:CALLED", "m:f"))
    assert numbers(criterion, sources.__getitem__) == {"MARGIN": 1.01}
