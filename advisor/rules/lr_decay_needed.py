"""Loss has flattened at the end under a constant learning rate; a decay would go lower.

Why it matters: at a constant learning rate SGD-style optimisers settle into a noise floor set
by the step size. Cutting the rate (÷2 to ÷10 when progress stalls, repeated down to about
1/1000 of the start) lets the loss descend below that floor — usually the cheapest gain left.

Signals: train loss, and the learning rate (logged, or a constant schedule in the config; when
neither says, the loss's own noise floor).

Trigger: the learning rate was constant over the second half of the run — or, when nothing says
what it was, the train loss ends on a noise floor that did not shrink (the relative step-to-step
noise of the last ``tail`` of the points is at least ``noise_floor`` of the level and at least
``keep_noise`` of the noise in the stretch before it; a decaying rate shrinks it) — the train loss made
real progress (it ends below ``max_ratio`` of its initial value — a flat, high loss is
underfitting instead) and has flattened (no significant fall in its last quarter, under 5% of
the progress made there).

A second form, on the task metric: when a task metric is logged (mAP, F1, BLEU — the metric the
user judges the run by, not an accuracy) and the train loss has made real progress but still
falls, flattening is judged on the metric: over the last ``metric_tail`` of the run or more, its
window medians never gained more than ``metric_gain`` of its whole gain, while the logged rate
varied by less than ``lr_spread`` (ratio) over the second half (or the config says constant) and
validation loss, when logged, is not rising (that would be overfitting's case). The summary
names the metric.

Not when validation (6 evaluations or more, evaluated whole) still falls over the late window —
exact Kendall p under ``val_p``, by at least ``val_share`` of its whole fall — to its lowest at the
end: the train loss's flat end is then its per-batch noise, and the run is still improving.

Needs at least ``min_points`` points.

Remedies: ``lr_schedule`` plateau (cut by ``factor``; ``patience`` evaluations, or more from
the evaluation cadence; floor at 1/1000 of the initial rate) or a step/cosine decay; ``scale_lr`` 0.1 applies live.

Known false positives: runs that are already at the irreducible loss (a decay then gains
little — the advice is cheap to try); schedules applied outside the logged learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor import remedies as R
from advisor.model import Finding, Role, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.slow_convergence import val_still_falling
import numpy as np

from advisor.signals import diff_noise, fmt, median, pct

ID = "lr-decay-needed"
SEVERITY = Severity.INFO
SIGNALS = ("train loss", "lr (logged or configured)")


@dataclass(frozen=True)
class Params:
    max_ratio: float = 0.6
    patience: int = 3
    factor: float = 0.2
    min_points: int = 10
    tail: float = 0.2
    noise_floor: float = 0.05
    keep_noise: float = 0.75
    metric_tail: float = 0.3
    metric_gain: float = 0.05
    lr_spread: float = 1.1
    val_p: float = 0.01  # validation still falling: exact Kendall p over its late evaluations
    val_share: float = 0.05  # ... by at least this share of its whole fall


def detect(ctx: Context, p: Params) -> list[Finding]:
    got = ctx.finite_train(p.min_points)
    if got is None:
        return []
    c, sh = got
    known = ctx.lr_constant_late
    floor = _noise_floor(c.values, p) if known is None else None
    ratio = sh.vend / sh.v0 if sh.v0 > 0 else 1.0
    metric = None
    if not sh.end_flat and ratio < p.max_ratio:  # the loss still falls: the task metric may have flattened
        metric = _flat_metric(ctx, p)
    if metric is None and (not (known is True or floor is not None) or not sh.end_flat or sh.v0 <= 0):
        return []
    if ratio >= p.max_ratio:
        return []
    if metric is None and val_still_falling(ctx, sh.late_start, p.val_p, p.val_share):
        return []  # validation, evaluated whole, still falls to its lowest: the train loss's flat end is its noise
    lr0 = None
    if ctx.lr is not None and ctx.lr.n:
        lr0 = float(ctx.lr.values[-1])
    elif ctx.num_param("lr"):
        lr0 = ctx.num_param("lr")
    min_lr = lr0 / 1000 if lr0 else None
    v = ctx.val
    patience = p.patience
    if v is not None and v.n >= 6:
        patience = max(2, min(10, v.n // 10))
    rem = [
        R.lr_schedule("plateau", "cut the rate when progress stalls, down to 1/1000 of the start", factor=p.factor, patience=patience, min_lr=min_lr),
        R.scale_lr(0.1, "a one-off cut, applicable to a running trainer"),
        R.lr_schedule("cosine", "a decay over the whole run from the start", min_lr=min_lr),
    ]
    lr_txt = f" (lr {fmt(lr0)})" if lr0 else ""
    evidence = {
        "flat_since_step": int(sh.late_start),
        "final_loss": sh.vend,
        "late_fraction_of_fall": round(sh.late_drop, 3),
        "step_range": [int(sh.late_start), int(c.steps[-1])],
        "signal": "train_loss",
    }
    if lr0:
        evidence["lr"] = lr0
    how = f"under a constant learning rate{lr_txt}"
    if floor is not None:
        evidence["noise_floor"] = round(floor, 3)
        how = f"on a noise floor that did not shrink (step-to-step noise {pct(floor)} of the level; the learning rate is not logged)"
    summary = (
        f"train loss flattened at {fmt(sh.vend)} from step {int(sh.late_start)} {how}; "
        f"only {pct(max(sh.late_drop, 0))} of its fall came after that"
    )
    if metric is not None:
        evidence.update(metric)
        summary = (
            f"{metric['signal']} flattened at {fmt(metric['metric_level'])} from step {metric['flat_since_step']} "
            f"(the last {pct(metric['flat_fraction_of_run'])} of the run gained {pct(metric['late_fraction_of_gain'])} of its whole gain) "
            f"under a nearly constant learning rate{lr_txt}, while the train loss still falls"
        )
    conf = margin_confidence(p.max_ratio - ratio, 0.0, 0.3, base=0.5 if floor is None else 0.45)
    onset = metric["flat_since_step"] if metric is not None else int(sh.late_start)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=onset)]


def _flat_metric(ctx: Context, p: Params) -> dict | None:
    """Evidence that the task metric (mAP, F1, BLEU: the run's own ``VAL_METRIC``, not an accuracy)
    stopped improving over the last ``metric_tail`` of the run — its window medians never again
    gain more than ``metric_gain`` of their whole gain — under a learning rate that varied by less
    than ``lr_spread`` over the second half, while validation loss (when logged) is not rising
    (then it is overfitting's case). None otherwise."""
    tm = ctx.task_metric
    lr = ctx.lr
    if tm is None or tm.tag != ctx.tag(Role.VAL_METRIC) or tm.curve.n < p.min_points or tm.curve.span <= 0:
        return None
    if lr is not None and lr.n >= 3:
        half = lr.values[lr.steps >= lr.steps[0] + lr.span / 2]
        if half.size == 0 or not float(np.min(half)) > 0 or float(np.max(half)) > p.lr_spread * float(np.min(half)):
            return None
    elif ctx.lr_constant_late is not True:
        return None
    v = ctx.val
    if v is not None and v.n >= 4 and float(median(v.values[-max(2, v.n // 10) :])) > 1.05 * float(np.min(v.values)):
        return None
    y = tm.curve.values if tm.higher_is_better else -tm.curve.values
    n = len(y)
    h = max(1, n // 20)
    smooth = np.array([median(y[max(0, i - h) : i + h + 1]) for i in range(n)])
    gain = float(np.max(smooth) - smooth[0])
    if not gain > 0:
        return None
    later_best = np.maximum.accumulate(smooth[::-1])[::-1]
    k = int(np.nonzero(later_best - smooth <= p.metric_gain * gain)[0][0])
    steps = tm.curve.steps
    tail = 1.0 - (float(steps[k]) - float(steps[0])) / tm.curve.span
    if k == 0 or tail < p.metric_tail:
        return None
    return {
        "signal": tm.tag,
        "flat_since_step": int(steps[k]),
        "metric_level": float(smooth[k] if tm.higher_is_better else -smooth[k]),
        "flat_fraction_of_run": round(tail, 3),
        "late_fraction_of_gain": round(max(float(later_best[k] - smooth[k]), 0.0) / gain, 3),
        "step_range": [int(steps[k]), int(steps[-1])],
    }


def _noise_floor(values: np.ndarray, p: Params) -> float | None:
    """Relative noise of the last points when it is large and no smaller than just before
    (what a constant rate leaves; a decay shrinks it), else None."""
    y = np.asarray(values, dtype=float)
    k = int(len(y) * p.tail)
    if k < 10 or len(y) < 2 * k:
        return None
    last, prev = y[-k:], y[-2 * k : -k]
    lvl, lvl_prev = abs(float(median(last))), abs(float(median(prev)))
    if lvl == 0 or lvl_prev == 0:
        return None
    rel, rel_prev = diff_noise(last) / lvl, diff_noise(prev) / lvl_prev
    if rel < p.noise_floor or rel < p.keep_noise * rel_prev:
        return None
    return rel
