"""Rare rows of a Zipf embedding table: SGD and momentum vs Adam and AdamW.

Row k of the `embedding_sparsity` table gets a gradient only in the batches that contain token k,
so the rows of rare tokens get few gradients. SGD's step on a row is proportional to how often
the row appears in the batch (the loss is a batch mean), so its lr is capped by the frequent rows
and a rare row moves by about lr/batch_size of its error per appearance; Adam divides each
coordinate's step by its own gradient scale, so a rare row's first appearance already moves it by
about lr per coordinate. AdamW's decoupled decay multiplies every row by 1 - lr*wd each step,
including rows that never got a gradient, while Adam and SGD leave those rows where they are.

Claims (step 1 is the first logged step; `B.error` is the mean distance of bucket B's rows to the
teacher rows, `B.norm` their mean norm; each optimizer at its best lr = the config with the
lowest final rare.error, mean over seeds, by the selection rule `summary` uses):
1. and 2. the rare bucket's error falls far faster under Adam than under SGD and under momentum,
   each at its best lr: the share of the step-1 error removed by the end, Adam's over the
   baseline's, is >= 5x (paired per-seed ratio: the whole 95% interval above 5x to hold, below
   to fail). A baseline whose best lr is not bracketed by its grid makes the lead an upper
   bound: the claim cannot hold then;
3. the gap is about rarity: SGD at its best lr removes >= 90% of the frequent bucket's error
   (95% t-interval of the per-seed share);
4. AdamW's decay shrinks the rare rows, which get no gradient at most steps: at AdamW's best
   (lr, weight_decay > 0), its rare rows' mean norm (end over step 1) is <= 0.95 and <= 0.95x
   Adam's at the same lr (paired per-seed ratio, whole interval). This is the criterion as
   first written (a 5% margin); a later edit had replaced it by "below Adam's at every (lr,
   wd)" without a stated reason and is undone. A row that never got a gradient would end at
   (1 - lr*wd)^(T-1) of its norm; the rare rows do get the odd gradient, which pulls them back
   towards the teacher's norm. Its two parts are Holm-adjusted, as in every multi-part claim;
5. on the task's own metric too (test_loss: the exact expected loss over the token
   distribution, dominated by the frequent rows), Adam at its best lr is as good as momentum at
   its best: Adam's best test_loss is at most 1.01x momentum's (paired per-seed ratio, whole 95%
   interval inside the margin: non-inferiority; the margin is the project's one minimum effect,
   `claims.MIN_EFFECT`, a convention set for every claim at once; each best lr chosen on test_loss, which is the objective itself
   here, not a held-out sample). SGD's best is shown beside them. Written before the sweep
   ran, because the rare-row claims alone do not say what the optimizers
   achieve on the task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from adamlab.analysis.grid_edges import grid_edges
from adamlab.analysis.stats import p_beyond, paired_comparison, t_interval
from adamlab.experiments.claims import (
    MIN_EFFECT,
    Claim,
    Part,
    comparison_part,
    guard,
    interval_text,
    interval_verdict,
    number,
    parts_verdict,
    percent,
    times,
    unmeasured,
)
from adamlab.experiments.measures import (
    LR,
    best_row,
    budget_note,
    config_values,
    logged_steps,
    values_at_step,
)
from adamlab.store.tables import HP_PREFIX, Results

TASK = "embedding_sparsity"
#: Adam's share of the rare error removed over a baseline's, at least
FASTER_FACTOR = 5.0
#: share of the frequent bucket's error SGD removes at its best lr, at least
FREQUENT_FIT = 0.9
#: AdamW's rare-row norm (end over step 1) at most this, and at most this times Adam's
SHRINK = 0.95
#: "as good as" on the task's own metric: Adam's best test_loss at most this times momentum's
#: (the project's one minimum effect, `adamlab.experiments.claims.MIN_EFFECT`)
TASK_LOSS_MARGIN = 1 + MIN_EFFECT
TASK_LOSS = "test_loss"

RARE_ERROR, FREQUENT_ERROR, RARE_NORM = "rare.error", "frequent.error", "rare.norm"


def claims(results: Results) -> list[Claim]:
    trials = results.trials[results.trials["task"] == TASK]
    if trials.empty:
        return [unmeasured(TASK, "rare rows: Adam vs SGD", "", f"no {TASK} trial")]
    return [
        faster_on_rare_rows_claim(results, trials, ("adam",), ("sgd",)),
        faster_on_rare_rows_claim(results, trials, ("adam",), ("momentum", "nesterov")),
        frequent_rows_fit_claim(results, trials, ("sgd",)),
        decay_shrinks_rare_rows_claim(results, trials),
        task_loss_claim(results, trials),
    ]


def _of(trials: pd.DataFrame, optimizers: Sequence[str]) -> pd.DataFrame:
    return trials[trials["optimizer"].isin(optimizers)]


def error_removed(results: Results, trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per config of `trials`: `value` (final `metric`, ±inf if unstable), `start` (seed mean at
    step 1), `removed` = 1 - value/start, the share of the step-1 error gone by the end, and
    `seed_removed` (seed -> 1 - final/start of that seed, over the ok seeds)."""
    configs = config_values(results, trials, metric)
    start_of = dict(zip(trials["trial_id"], values_at_step(results, trials, metric, 1), strict=True))
    seed_of = dict(zip(trials["trial_id"], trials["seed"].astype(int), strict=True))
    starts, per_seed = [], []
    for _, row in configs.iterrows():
        ids = list(row["ok_trial_ids"])
        seed_start = {seed_of[t]: start_of[t] for t in ids}
        starts.append(float(sum(seed_start.values()) / len(ids)) if ids else math.nan)
        per_seed.append({
            s: 1.0 - v / seed_start[s] for s, v in row["seed_values"].items()
            if s in seed_start and seed_start[s] > 0
        })
    configs["start"] = starts
    configs["removed"] = 1.0 - configs["value"] / configs["start"]
    configs["seed_removed"] = per_seed
    return configs


def _best_by_rare_error(results: Results, trials: pd.DataFrame) -> pd.Series | None:
    best = best_row(error_removed(results, trials, RARE_ERROR))
    return best if best is not None and math.isfinite(best["value"]) else None


def _names(optimizers: Sequence[str]) -> str:
    """How claims name a group of registry optimizers: by the first (momentum for
    momentum/nesterov)."""
    return optimizers[0]


def unbracketed(name: str, results: Results, trials: pd.DataFrame, best: pd.Series) -> list[str]:
    """The hyperparameters of `best` (a config of `trials`) its grid does not bracket."""
    configs = config_values(results, trials, RARE_ERROR)
    row = configs[configs["config_id"] == best["config_id"]].iloc[0]
    return [f"{name}: {e.detail}" for e in grid_edges(configs, row).values() if not e.bracketed]


def faster_on_rare_rows_claim(
    results: Results, trials: pd.DataFrame, fast: Sequence[str], slow: Sequence[str]
) -> Claim:
    text = f"rare rows: error falls far faster under {_names(fast)} than {_names(slow)}, each at its best lr"
    criterion = (f"share of the step-1 rare.error removed, {_names(fast)} ÷ {_names(slow)} ≥ "
                 f"{FASTER_FACTOR:g}× (paired per-seed ratio, whole 95% interval)")
    fast_trials, slow_trials = _of(trials, fast), _of(trials, slow)
    fast_best = _best_by_rare_error(results, fast_trials)
    slow_best = _best_by_rare_error(results, slow_trials)
    if fast_best is None or slow_best is None:
        missing = _names(fast) if fast_best is None else _names(slow)
        return unmeasured(TASK, text, criterion, f"no stable {missing} trial with {RARE_ERROR} logged")
    last = max(logged_steps(results, trials, RARE_ERROR))
    mine, theirs = fast_best["seed_removed"], slow_best["seed_removed"]
    shared = sorted(set(mine) & set(theirs))
    if shared and all(mine[s] > 0 and theirs[s] > 0 for s in shared):
        comparison = paired_comparison(mine, theirs, scale="ratio")
        speedup, low, high = comparison.estimate, comparison.low, comparison.high
        verdict = interval_verdict(low, high, FASTER_FACTOR, above=True)
    else:  # the baseline removed nothing (or made it worse) on some seed: no log-ratio
        speedup = fast_best["removed"] / slow_best["removed"] if slow_best["removed"] > 0 else math.inf
        low = high = math.nan
        verdict = "holds" if shared and all(mine[s] > 0 >= theirs[s] for s in shared) else "inconclusive"
    measured = (
        f"rare.error at step {last}: {_names(slow)} (lr={slow_best[LR]:.3g}) {number(slow_best['value'])}, "
        f"{_names(fast)} (lr={fast_best[LR]:.3g}) {number(fast_best['value'])}, from "
        f"{number(fast_best['start'])}; removed {percent(slow_best['removed'])} vs "
        f"{percent(fast_best['removed'])} → {times(speedup)}{interval_text(low, high)} "
        f"over {len(shared)} paired seeds"
        + budget_note(_names(fast), config_values(results, fast_trials, RARE_ERROR),
                      _names(slow), config_values(results, slow_trials, RARE_ERROR))
    )
    claim = Claim(TASK, text, measured, criterion, verdict, speedup,
                  why="the interval straddles the criterion" if verdict == "inconclusive" else "")
    return guard(
        claim, n_seeds=len(shared),
        unbracketed_against=unbracketed(_names(slow), results, slow_trials, slow_best),
        unbracketed_for=unbracketed(_names(fast), results, fast_trials, fast_best),
    )


def frequent_rows_fit_claim(results: Results, trials: pd.DataFrame, optimizers: Sequence[str]) -> Claim:
    text = f"the gap is rarity: {_names(optimizers)} at its best lr fits the frequent rows"
    criterion = (f"{_names(optimizers)} removes ≥ {100 * FREQUENT_FIT:g}% of the step-1 "
                 "frequent.error (whole 95% t-interval of the per-seed share)")
    chosen = _of(trials, optimizers)
    best = _best_by_rare_error(results, chosen)
    if best is None:
        return unmeasured(TASK, text, criterion, f"no stable {_names(optimizers)} trial")
    frequent = error_removed(results, chosen, FREQUENT_ERROR)
    row = frequent[frequent["config_id"] == best["config_id"]].iloc[0]
    shares = list(row["seed_removed"].values())
    low, high = t_interval(shares)
    verdict = interval_verdict(low, high, FREQUENT_FIT, above=True)
    measured = (
        f"lr={best[LR]:.3g}: frequent.error {number(row['start'])} → {number(row['value'])} "
        f"(removed {percent(row['removed'])}{interval_text(low, high, percent)}); rare rows "
        f"removed {percent(best['removed'])}"
    )
    claim = Claim(TASK, text, measured, criterion, verdict, float(row["removed"]),
                  why="the interval straddles the criterion" if verdict == "inconclusive" else "")
    return guard(claim, n_seeds=len(shares),
                 unbracketed_any=unbracketed(_names(optimizers), results, chosen, best))


def norm_ratio(results: Results, trials: pd.DataFrame) -> pd.DataFrame:
    """Per config: rare.norm at the end over rare.norm at step 1 (seed means; per seed in
    `seed_ratio`)."""
    configs = error_removed(results, trials, RARE_NORM)
    configs["norm_ratio"] = configs["value"] / configs["start"]
    configs["seed_ratio"] = [
        {s: 1.0 - removed for s, removed in seeds.items()} for seeds in configs["seed_removed"]
    ]
    return configs


def decay_shrinks_rare_rows_claim(results: Results, trials: pd.DataFrame) -> Claim:
    text = "AdamW's decay shrinks the rare rows (no gradient at most steps) below where Adam leaves them"
    criterion = (f"at AdamW's best (lr, wd > 0): its rare.norm (end ÷ step 1) ≤ {SHRINK:g} and "
                 f"≤ {SHRINK:g}× Adam's at the same lr (paired per-seed, whole 95% interval; Holm over the "
                 "two)")
    adamw = _of(trials, ("adamw",))
    if not adamw.empty:
        adamw = adamw[adamw[HP_PREFIX + "weight_decay"] > 0]
    adam = _of(trials, ("adam",))
    if adamw.empty or adam.empty:
        return unmeasured(TASK, text, criterion, "needs adam trials and adamw trials with weight_decay > 0")
    best = _best_by_rare_error(results, adamw)
    if best is None:
        return unmeasured(TASK, text, criterion, "no stable adamw trial with weight_decay > 0")
    adamw_ratios = norm_ratio(results, adamw)
    row = adamw_ratios[adamw_ratios["config_id"] == best["config_id"]].iloc[0]
    lr, wd = float(row[LR]), float(row[HP_PREFIX + "weight_decay"])
    adam_ratios = norm_ratio(results, adam)
    same_lr = adam_ratios[(adam_ratios[LR] == lr)
                          & adam_ratios["norm_ratio"].map(lambda v: math.isfinite(v))]
    if same_lr.empty:
        return unmeasured(TASK, text, criterion, f"no stable Adam config at lr={lr:.3g}")
    adam_row = same_lr.iloc[0]
    last = int(adamw["steps"].max())
    untouched = (1.0 - lr * wd) ** (last - 1)
    own_low, own_high = t_interval(list(row["seed_ratio"].values()))
    p_above, p_below = p_beyond(list(row["seed_ratio"].values()), SHRINK)
    own = Part("AdamW's own shrink", p_below, p_above)
    comparison = paired_comparison(row["seed_ratio"], adam_row["seed_ratio"], scale="ratio")
    if comparison is None:
        return unmeasured(TASK, text, criterion, "AdamW and Adam share no ok seed at that lr")
    versus = comparison_part("AdamW ÷ Adam", row["seed_ratio"], adam_row["seed_ratio"],
                             scale="ratio", threshold=SHRINK, above=False)
    verdict = parts_verdict([own, versus])
    everywhere = _below_everywhere(adamw_ratios, adam_ratios)
    measured = (
        f"at lr={lr:.3g}, wd={wd:g}: AdamW {number(row['norm_ratio'])}"
        f"{interval_text(own_low, own_high, number)}, Adam {number(adam_row['norm_ratio'])}; "
        f"AdamW ÷ Adam {times(comparison.estimate)}{interval_text(comparison.low, comparison.high)} "
        f"(a row never updated: (1−lr·wd)^{last - 1} = {number(untouched)}); {everywhere}"
    )
    claim = Claim(TASK, text, measured, criterion, verdict, float(row["norm_ratio"]),
                  why="an interval straddles the criterion" if verdict == "inconclusive" else "")
    return guard(claim, n_seeds=comparison.n)


def _below_everywhere(adamw: pd.DataFrame, adam: pd.DataFrame) -> str:
    """'AdamW below Adam at K of N (lr, wd)': the seed means, for the record."""
    pairs = []
    for _, row in adamw.iterrows():
        same = adam[adam[LR] == row[LR]]
        if same.empty or not (math.isfinite(row["norm_ratio"]) and math.isfinite(same["norm_ratio"].iloc[0])):
            continue
        pairs.append(row["norm_ratio"] / same["norm_ratio"].iloc[0])
    if not pairs:
        return "no other (lr, wd) to compare"
    below = sum(p < 1.0 for p in pairs)
    return (f"seed means: AdamW below Adam at {below} of {len(pairs)} (lr, wd), AdamW ÷ Adam "
            f"{number(min(pairs))}–{number(max(pairs))}")


def task_loss_claim(results: Results, trials: pd.DataFrame) -> Claim:
    text = f"on the task's own metric ({TASK_LOSS}) adam at its best is as good as momentum at its best"
    criterion = (f"adam's best {TASK_LOSS} ÷ momentum's best < {TASK_LOSS_MARGIN:g} (paired per-seed "
                 "ratio, whole 95% interval: non-inferiority at 2.5%)")
    bests = {}
    for name, optimizers in (("sgd", ("sgd",)), ("momentum", ("momentum", "nesterov")),
                             ("adam", ("adam",))):
        chosen = _of(trials, optimizers)
        configs = config_values(results, chosen, TASK_LOSS) if not chosen.empty else chosen
        best = best_row(configs) if not chosen.empty else None
        if best is not None and math.isfinite(best["value"]):
            bests[name] = (configs, best)
    if "adam" not in bests or "momentum" not in bests:
        return unmeasured(TASK, text, criterion, f"no stable adam or momentum trial with {TASK_LOSS}")
    (adam_configs, adam), (momentum_configs, momentum) = bests["adam"], bests["momentum"]
    comparison = paired_comparison(adam["seed_values"], momentum["seed_values"], scale="ratio")
    if comparison is None:
        return unmeasured(TASK, text, criterion, "adam's and momentum's bests share no ok seed")
    high, low = comparison.high, comparison.low
    verdict = parts_verdict([comparison_part("adam ÷ momentum", adam["seed_values"],
                                             momentum["seed_values"], scale="ratio",
                                             threshold=TASK_LOSS_MARGIN, above=False)])
    shown = "; ".join(f"{name} (lr={best[LR]:.3g}) {number(best['value'], 4)}"
                      for name, (_, best) in bests.items())
    measured = (f"best {TASK_LOSS} at step {int(trials['steps'].max())}: {shown}; adam ÷ momentum "
                f"{times(comparison.estimate)}{interval_text(low, high)} over {comparison.n} "
                "paired seeds" + budget_note("adam", adam_configs, "momentum", momentum_configs))
    claim = Claim(TASK, text, measured, criterion, verdict, comparison.estimate,
                  why="the interval straddles the margin" if verdict == "inconclusive" else "")
    row_of = {
        name: configs[configs["config_id"] == best["config_id"]].iloc[0]
        for name, (configs, best) in bests.items()
    }
    return guard(
        claim, n_seeds=comparison.n,
        unbracketed_for=[f"adam: {e.detail}" for e in
                         grid_edges(adam_configs, row_of["adam"]).values() if not e.bracketed],
        unbracketed_against=[f"momentum: {e.detail}" for e in
                             grid_edges(momentum_configs, row_of["momentum"]).values()
                             if not e.bracketed],
    )
