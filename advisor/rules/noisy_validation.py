"""Validation noise is large relative to its trend: the val set is too small or evaluated too rarely.

Why it matters: decisions taken on validation — early stopping, learning-rate cuts, model
selection — are only as good as its signal. When evaluation-to-evaluation noise is comparable
to the improvement being measured, those decisions are coin flips.

Signals: val loss (or val accuracy when no val loss is logged).

Trigger: with at least ``min_evals`` points, the robust point-to-point noise of the validation
metric (MAD of first differences) exceeds ``max_ratio`` of its total improvement (first level to the
best of a wide rolling-median trend)
and ``min_rel`` of its level, while the train loss is ``calm_ratio`` times calmer (as below: a model
that bounces moves its val loss too, which says nothing about the val set) — or, after the initial fall, the noise over the second half of the
evaluations exceeds ``late_rel`` of the level there while the train loss (binned) is at least
``calm_ratio`` times calmer relative to its own level (the jumps come from the val set, not
from a model that is itself bouncing: that would be oscillation or gradient noise) — or the val
set is known to be tiny: its accuracy moves in whole steps of 1/n for an n of at most
``tiny_val_set`` examples (``val_set_size``), so the jumps are its own. Last, with the val loss calm: the task metric jumping ``metric_rel`` of
its level between evaluations in the second half, ``metric_over_loss`` times the val loss's
relative move, in a model whose metric gained ``metric_gain`` of that level since its first
evaluations — the metric's evaluation (few objects, a confidence threshold) is the noise.

Remedies: ``larger_val_set``; ``eval_more_often`` when evaluations are sparse (fewer than
``sparse`` points), so that a smoothed curve can be trusted.

Known false positives: validation on tiny held-out sets by design (few-shot), where the noise
is a known property.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import binned_noise, diff_noise, fmt, level_scale, median, pct, percent_scale, rolling_median

ID = "noisy-validation"
SEVERITY = Severity.INFO
SIGNALS = ("val metric",)


@dataclass(frozen=True)
class Params:
    min_evals: int = 8
    max_ratio: float = 0.5
    min_rel: float = 0.02
    sparse: int = 20
    late_rel: float = 0.1
    calm_ratio: float = 1.5
    tiny_val_set: int = 25  # examples: accuracy moves in steps of 4% or more
    metric_rel: float = 0.05  # the task metric's jumps between evaluations, of its level ...
    metric_over_loss: float = 5.0  # ... and over the calm val loss's relative jumps
    metric_gain: float = 0.5  # ... in a model whose metric gained this share of its late level


def detect(ctx: Context, p: Params) -> list[Finding]:
    v = ctx.val
    name = "val loss"
    lower_better = True
    if v is None or v.n < p.min_evals:
        v = ctx.val_acc
        name = "val accuracy"
        lower_better = False
    if v is None or v.n < p.min_evals:
        return []
    y = v.bvals
    noise = diff_noise(y)  # unbiased for independent noise on a slow trend
    # The improvement is measured on a wide median trend, so noise does not inflate it.
    trend = rolling_median(y, max(5, len(y) // 5))
    first = float(median(y[:3]))
    best = float(trend.min() if lower_better else trend.max())
    improvement = abs(first - best)
    level = level_scale(y, float(median(y)))
    ratio = noise / improvement if improvement > 0 else np.inf
    n_val = val_set_size(ctx)
    tiny = 0 < (n_val or 0) <= p.tiny_val_set
    train_noise = _train_noise(ctx)
    late_ratio = _late_noise(v.values, p, tiny, train_noise)
    # noise comparable to the improvement is the val set's only when the model itself is calm by
    # comparison: a model bouncing (oscillation, a rate too high, a noise floor) moves its val loss
    # as much, and that says nothing about the val set
    noisy = noise > p.min_rel * level and ratio > p.max_ratio and (tiny or _train_calmer(train_noise, noise / level, p))
    if level == 0 or (not noisy and late_ratio is None):
        return _metric_jumps(ctx, p) if lower_better else []
    measured = fmt(improvement) if improvement > 0 else f"none: it never improved on its first evaluations, {fmt(first)}"
    rem = [R.larger_val_set(f"{name} noise ({fmt(noise)}) is comparable to the improvement it measures ({measured})")]
    if v.n < p.sparse:
        every = max(1, int((float(v.steps[-1]) - float(v.steps[0])) / max(4 * v.n, 1)))
        rem.append(R.eval_more_often(every, "more evaluations let a smoothed curve be trusted"))
    evidence = {
        "noise": noise,
        "improvement": improvement,
        "noise_over_improvement": round(float(min(ratio, 1e6)), 3),
        "evaluations": v.n,
        "late_noise_over_level": None if late_ratio is None else round(late_ratio, 3),
        # how many times the train loss's own relative noise the validation's is (the engine ranks
        # a val set that clearly makes its own noise with the faults in the run's input)
        "late_noise_over_train": _over_train(train_noise, late_ratio),
        "val_set_size_from_accuracy": n_val,
        "step_range": [int(v.steps[0]), int(v.steps[-1])],
        "signal": "val_loss" if lower_better else "val_acc",
    }
    if noisy:
        times = f"{ratio:.1f}x" if ratio < 1000 else "over 1000x"
        summary = (
            f"{name} noise {fmt(noise)} is {times} its improvement {fmt(improvement)} over {v.n} evaluations: decisions taken on it are unreliable"
            if improvement > 0 else
            f"{name} never improved on its first evaluations ({fmt(first)}) over {v.n} evaluations and moves by {fmt(noise)} "
            f"between them: decisions taken on it are unreliable"
        )
    else:
        why = f"; its accuracy moves in steps of 1/{n_val}, a val set of about {n_val} examples" if tiny else " while the train loss is calm"
        summary = (
            f"{name} jumps by about {pct(late_ratio)} of its level between evaluations in the second half of "
            f"the run ({v.n} evaluations){why}: the val set is too small to rank checkpoints"
        )
    conf = margin_confidence(float(min(ratio, 100)), p.max_ratio, 1.0, base=0.5)
    if late_ratio is not None:
        conf = max(conf, margin_confidence(late_ratio, p.late_rel, 0.2, base=0.5))
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(v.steps[0]))]


def _metric_jumps(ctx: Context, p: Params) -> list[Finding]:
    """The task metric jumping while the val loss beside it is calm: over the second half of the
    evaluations the metric moves ``metric_rel`` of its level or more between evaluations, at least
    ``metric_over_loss`` times the val loss's relative move (a detector's mAP swinging 0.5 -> 0.77
    -> 0.60 between epochs whose box loss moves under 1%: few objects, a confidence threshold)."""
    tm, v = ctx.task_metric, ctx.val
    if tm is None or v is None or tm.curve.n < p.min_evals:
        return []
    late = np.asarray(tm.curve.values[tm.curve.n // 2 :], dtype=float)
    lvl = abs(float(median(late)))
    loss_late = np.asarray(v.values[v.n // 2 :], dtype=float)
    loss_lvl = level_scale(loss_late, float(median(loss_late)))
    if late.size < 4 or lvl == 0 or loss_late.size < 4 or loss_lvl == 0:
        return []
    rel, loss_rel = diff_noise(late) / lvl, diff_noise(loss_late) / loss_lvl
    if rel <= p.metric_rel or rel < p.metric_over_loss * loss_rel:
        return []
    # a model that learned: a metric bouncing around chance (a run that never learned) moves
    # relatively much between evaluations for reasons of its own
    gained = (float(median(late)) - float(median(tm.curve.values[:3]))) * (1 if tm.higher_is_better else -1)
    if gained < p.metric_gain * lvl:
        return []
    evidence = {"metric": tm.tag, "late_noise_over_level": round(rel, 3), "val_loss_late_noise_over_level": round(loss_rel, 4),
                "evaluations": tm.curve.n, "step_range": [int(tm.curve.steps[0]), int(tm.curve.steps[-1])], "signal": "val_metric"}
    summary = (f"{tm.tag} jumps by about {pct(rel)} of its level between evaluations in the second half of the run while the val "
               f"loss moves {pct(loss_rel)}: the metric's evaluation is noisy (few examples or objects, a threshold), so its best "
               f"checkpoint is a lucky evaluation")
    rem = [R.larger_val_set(f"{tm.tag} moves {pct(rel)} between evaluations of one model state")]
    return [finding(ID, SEVERITY, margin_confidence(rel, p.metric_rel, 0.2, base=0.5), summary, evidence, rem, onset=int(tm.curve.steps[0]))]


def val_set_size(ctx: Context) -> int | None:
    """The validation set's size read off its accuracy's granularity: the smallest n (up to 200)
    for which every logged value is a whole number of n-ths — 8 distinct values at least, else
    None (a fraction of 20 examples moves in steps of 0.05)."""
    acc = ctx.val_acc
    if acc is None or acc.n < 8:
        return None
    v = np.unique(np.round(np.asarray(acc.values, dtype=float) / percent_scale(acc.values), 6))
    if v.size < 8:
        return None
    ns = np.arange(2, 201)
    x = v[:, None] * ns  # every value as a count of n-ths, for every n at once
    whole = np.all(np.abs(x - np.round(x)) < 1e-3 * ns, axis=0)
    return int(ns[np.argmax(whole)]) if whole.any() else None


def _late_noise(vals: np.ndarray, p: Params, tiny_val_set: bool, train_noise: float | None) -> float | None:
    """Relative noise of the second half of the evaluations, when it is large and the train loss
    is calm by comparison — or the val set is known to be tiny (None otherwise)."""
    late = np.asarray(vals[len(vals) // 2 :], dtype=float)
    lvl = level_scale(vals, float(median(late)))
    if late.size < 4 or lvl == 0:
        return None
    rel = diff_noise(late) / lvl
    if rel <= p.late_rel:
        return None
    # (a val set known to be tiny makes its own noise: no need for a calm train loss)
    return rel if tiny_val_set or _train_calmer(train_noise, rel, p) else None


def _over_train(train_noise: float | None, rel: float | None) -> float | None:
    if rel is None or train_noise is None:
        return None
    return round(rel / train_noise, 2) if train_noise > 0 else 1e6


def _train_noise(ctx: Context) -> float | None:
    """The train loss's relative noise (binned, second half); None without a train loss to compare."""
    t = ctx.train
    if t is None or t.bvals.size < 8:
        return None
    tb = t.bvals[t.bvals.size // 2 :]
    t_lvl = level_scale(tb, float(median(tb)))
    return binned_noise(tb) / t_lvl if t_lvl > 0 else None


def _train_calmer(train_noise: float | None, rel: float, p: Params) -> bool:
    """Whether the train loss (its relative noise ``train_noise``: :func:`_train_noise`) is at least
    ``calm_ratio`` times calmer, relative to its own level, than the validation's relative noise
    ``rel`` (True when there is no train loss to compare with)."""
    return train_noise is None or rel >= p.calm_ratio * train_noise
