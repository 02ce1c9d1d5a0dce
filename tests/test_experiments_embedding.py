"""Embedding-sparsity claims (dense and sparse gradients) on hand-built per-bucket logs."""

from __future__ import annotations

import pytest
from experiments_testing import record, results_of

from adamlab.experiments import embedding_sparse, embedding_sparsity
from adamlab.experiments.embedding_sparsity import error_removed

TASK = "embedding_sparsity"
START = {"rare.error": 5.5, "frequent.error": 5.5, "rare.norm": 4.0}


def trial(optimizer, lr, seed, end, *, wd=None, status="finished"):
    hp = {"lr": lr} if wd is None else {"lr": lr, "weight_decay": wd}
    log = {1: dict(START)}
    if status == "diverged":
        log[30] = {"train_loss": float("nan")}
    else:
        log[500] = {**START, **end}
    return record(TASK, optimizer, hp, seed, log, status=status)


def embedding_results(*, momentum_rare=4.95, adamw_norm=3.6, sparse=False):
    records = []
    for seed in (0, 1):
        records += [
            trial("sgd", 1.0, seed, {"rare.error": 5.445, "frequent.error": 1.0}),
            trial("sgd", 10.0, seed, {"rare.error": 5.225, "frequent.error": 0.011}),
            trial("sgd", 100.0, seed, {}, status="diverged"),
        ]
        if sparse:
            records += [trial("sparse_adam", 0.1, seed, {"rare.error": 2.2})]
            continue
        records += [
            trial("momentum", 1.0, seed, {"rare.error": 5.4}),
            trial("momentum", 10.0, seed, {"rare.error": momentum_rare}),
            trial("adam", 0.01, seed, {"rare.error": 4.4, "rare.norm": 3.9}),
            trial("adam", 0.1, seed, {"rare.error": 2.2, "rare.norm": 4.0}),
            trial("adamw", 0.01, seed, {"rare.error": 4.3, "rare.norm": 3.8}, wd=0.01),
            trial("adamw", 0.1, seed, {"rare.error": 2.75, "rare.norm": adamw_norm}, wd=0.01),
        ]
    return results_of(records, sweep="sparse" if sparse else TASK)


def test_share_of_error_removed_per_config():
    results = embedding_results()
    sgd = results.trials[results.trials["optimizer"] == "sgd"]
    removed = error_removed(results, sgd, "rare.error")
    assert removed["removed"].tolist()[:2] == pytest.approx([0.01, 0.05])
    assert removed["value"].tolist()[2] == float("inf")  # the diverged lr is unstable


def test_adam_far_faster_on_rare_rows_and_adamw_shrinks_them():
    vs_sgd, vs_momentum, frequent, decay = embedding_sparsity.claims(embedding_results())
    assert vs_sgd.status == "holds" and vs_sgd.value == pytest.approx(0.6 / 0.05)
    assert "sgd (lr=10) 5.22, adam (lr=0.1) 2.2" in vs_sgd.measured
    assert "removed 5.0% vs 60.0% → 12.0×" in vs_sgd.measured
    assert vs_momentum.status == "holds" and vs_momentum.value == pytest.approx(6.0)
    assert frequent.status == "holds" and frequent.value == pytest.approx(1 - 0.011 / 5.5)
    assert decay.status == "holds" and decay.value == pytest.approx(0.9)
    assert "AdamW 0.9, Adam 1" in decay.measured and "at 2 of 2 (lr, wd)" in decay.measured
    assert "(1−lr·wd)^499 = 0.607" in decay.measured


def test_momentum_as_fast_as_adam_fails_the_momentum_claim():
    claims = embedding_sparsity.claims(embedding_results(momentum_rare=1.1))
    assert claims[0].status == "holds"
    assert claims[1].status == "fails" and claims[1].value == pytest.approx(0.6 / 0.8)


def test_adamw_rows_no_smaller_than_adams_fail_the_decay_claim():
    decay = embedding_sparsity.claims(embedding_results(adamw_norm=4.1))[3]
    assert decay.status == "fails" and "at 1 of 2 (lr, wd)" in decay.measured


def test_sparse_adam_against_sgd():
    faster, frequent = embedding_sparse.claims(embedding_results(sparse=True))
    assert faster.status == "holds" and faster.value == pytest.approx(12.0)
    assert "sparse_adam" in faster.claim
    assert frequent.status == "holds"


def test_without_the_task_every_claim_is_unmeasured():
    results = results_of([record("quadratic", "adam", {"lr": 0.1}, 0, {1: {"loss": 1.0}})])
    assert [c.status for c in embedding_sparsity.claims(results)] == ["unmeasured"]
    assert [c.status for c in embedding_sparse.claims(results)] == ["unmeasured"]
    missing_adam = results_of([trial("sgd", 10.0, 0, {"rare.error": 5.0, "frequent.error": 0.1})])
    claims = embedding_sparsity.claims(missing_adam)
    assert [c.status for c in claims] == ["unmeasured", "unmeasured", "holds", "unmeasured"]
