"""Loss falls steadily but far too slowly: the learning rate is too low.

Why it matters: a healthy curve falls fast, then decelerates. A curve that falls at the same
slow pace from start to end, having removed little of its initial loss, is being held back by
the step size; a larger learning rate gets there many times sooner.

Signals: train loss (lr if logged, to quote it).

Trigger: the binned train loss falls with a steady, significant trend (Mann-Kendall z below
``min_z``; for a short curve of at most 30 points, exact Kendall p below ``short_p``), has removed less than ``max_progress`` (but at least ``min_progress``) of its
initial value, and has not
decelerated: the fall in the second half is at least ``min_decel`` of the fall in the first
half (and under ``max_accel`` times it: a first half that made under a tenth of the second's fall
sat flat, then fell — a stall, ``plateau``'s case, not a steady pace), and it is still falling at the end (or validation, evaluated whole, is: exact Kendall p —
Mann-Kendall's past 30 evaluations — below ``val_p`` over its late evaluations, ending at its lowest). It must be smooth — noise under ``max_rel_noise`` of the level — since a noisy, slow
curve points at the batch or the data rather than the step size.

Needs at least ``min_points`` points.

Not when validation (6 to 30 evaluations) rises in order over the run to its highest at the end
(exact Kendall p below ``val_p``): a train loss creeping down while validation gets worse is
memorisation (shuffled labels), not a slow descent.

Reported at info instead when the run declares its optimizer and a rate at or above the bottom
of that family's usual range (Adam and kin 3e-4, SGD 0.01): the rate is not evidently the cause;
and when the task metric (validation accuracy, mAP, ...; at least
``metric_min_evals`` evaluations) has stayed within ``metric_tol`` of its best over the last
``metric_flat_share`` of its evaluations: the slow loss is not what holds the run back; and when the run starts from a trained model
(``Context.trained_start`` by its accuracy or a zero-chance task metric: a fine-tune's loss starts
near its floor, so its share of the initial loss says little about the step).

Remedies: ``scale_lr`` by a factor from how little progress was made (10 below 10% progress,
else 3), ``optimizer`` adam for plain SGD, ``train_longer`` as the fallback.

Known false positives: very hard tasks early in a long schedule (the run shows only its start);
regression losses whose floor is far above zero (progress is measured against the initial
value, assuming a floor near zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.lr_evidence import declared_lr
from advisor.signals import fmt, in_order, pct, rising_p, rising_p_exact

ID = "slow-convergence"
SEVERITY = Severity.WARNING
SIGNALS = ("train loss",)


@dataclass(frozen=True)
class Params:
    max_progress: float = 0.5
    min_progress: float = 0.01
    min_decel: float = 0.5
    max_accel: float = 10.0  # a second half falling this many times the first: flat, then a fall
    min_z: float = -4.0
    max_rel_noise: float = 0.05
    min_points: int = 10
    short_p: float = 3e-5
    val_p: float = 0.01
    metric_min_evals: int = 5
    metric_flat_share: float = 0.4
    metric_tol: float = 0.005


def _steady_fall(b, z_all: float, p: Params) -> bool:
    """A significant fall over the whole binned curve: Mann-Kendall z below ``min_z``, or — for a
    short curve (a per-epoch log of a few dozen points), whose z cannot reach that far — the exact
    Kendall p of a fall below ``short_p`` (about the same level)."""
    if z_all <= p.min_z:
        return True
    return len(b) <= 30 and rising_p_exact(-np.asarray(b)) < p.short_p


def val_still_falling(ctx: Context, late_start: float, val_p: float = 0.01, min_share: float = 0.0) -> bool:
    """Validation (at least 6 evaluations) falls significantly over the late window (exact
    Kendall p below ``val_p`` over its last evaluations, at least 5), by at least ``min_share`` of
    its whole fall, and ends at its lowest: a train loss whose late trend is lost in per-batch
    noise has not flattened when the val set, evaluated whole, keeps going down."""
    v = ctx.val
    if v is None or v.n < 6 or v.cut_short:
        return False
    late = v.values[v.steps >= late_start]
    if late.size < 5:
        late = v.values[-5:]
    lowest = float(np.min(v.values))
    whole = float(v.values[0]) - lowest
    if min_share > 0 and not (whole > 0 and float(late[0]) - float(late[-1]) >= min_share * whole):
        return False
    return rising_p(-late) < val_p and float(v.values[-1]) <= lowest + 1e-12


def detect(ctx: Context, p: Params) -> list[Finding]:
    got = ctx.finite_train(p.min_points)
    if got is None:
        return []
    c, sh = got
    if not (p.min_progress <= sh.progress < p.max_progress):
        return []
    if not _steady_fall(c.bvals, sh.z_all, p) or not p.min_decel <= sh.decel < p.max_accel or sh.rel_noise > p.max_rel_noise:
        return []
    if not sh.still_falling and sh.late_drop < 0.1 and not val_still_falling(ctx, sh.late_start, p.val_p):
        return []  # it flattened: that is underfitting or a plateau, not a slow descent
    if in_order(ctx.val, rising=True, p_max=p.val_p):
        return []  # the train loss creeps down while validation gets worse: memorising, not converging
    factor = 10.0 if sh.progress < 0.1 else 3.0
    lr_txt = ""
    dl = declared_lr(ctx)  # the logged rate's peak (a warmup's first value is no rate the run trained at)
    lr0 = dl.lr
    if lr0:
        lr_txt = f" at lr {fmt(float(lr0))}" + (" (its peak)" if ctx.lr is not None and ctx.lr.n > 1 else "")
    opt = str(ctx.param("optimizer") or "").lower()
    rem = [R.scale_lr(factor, f"the loss falls at a steady, slow pace{lr_txt}: the step is too small")]
    if opt in ("sgd", ""):
        rem.append(R.optimizer("adam", rationale="Adam converges fast; return to SGD with momentum to fine-tune"))
    rem.append(R.train_longer(2.0, "if the learning rate must stay, more steps are the other way down"))
    evidence = {
        "initial_loss": sh.v0,
        "final_loss": sh.vend,
        "progress": round(sh.progress, 3),
        "second_half_vs_first_half_fall": round(sh.decel, 2),
        "trend_z": round(sh.z_all, 2),
        "step_range": [int(c.steps[0]), int(c.steps[-1])],
        "signal": "train_loss",
    }
    if lr0:
        evidence["lr"] = float(lr0)
    pace = "no deceleration" if sh.decel >= 1 else "only mildly slowing"
    summary = (
        f"train loss fell steadily but slowly{lr_txt}: {fmt(sh.v0)} -> {fmt(sh.vend)} ({pct(sh.progress)} of the initial loss) "
        f"and the second half fell {sh.decel:.1f}x as much as the first ({pace})"
    )
    severity = SEVERITY
    if dl.usual:
        # a rate in its optimizer's usual range is not evidently what holds the run back
        severity = Severity.INFO
        summary += f"; {dl.describe()} is in the usual range: the schedule, batch or data may be slowing it"
        evidence["lr_in_usual_range"] = True
    if ctx.trained_start in ("accuracy", "metric"):
        # progress is measured against an untrained start; a fine-tune starts near its floor (the
        # generalisation gap alone does not say it here: a slow run from scratch has one too)
        severity = Severity.INFO
        summary += "; the run starts from a trained model, whose loss has little left to fall"
        evidence["started_trained"] = ctx.trained_start
    if (sat := _metric_saturated(ctx, p)) is not None:
        # the metric the run is judged by stopped gaining: the slow loss is not holding it back
        severity = Severity.INFO
        summary += f"; {sat[0]} has sat at its best ({fmt(sat[1])}) over the last {pct(sat[2])} of its evaluations"
        evidence.update(task_metric=sat[0], task_metric_flat_share=round(sat[2], 3))
    conf = margin_confidence(p.max_progress - sh.progress, 0.0, 0.2, base=0.55)
    return [finding(ID, severity, conf, summary, evidence, rem, onset=int(c.steps[0]))]


def _metric_saturated(ctx: Context, p: Params) -> tuple[str, float, float] | None:
    """(tag, best, share) when the task metric (at least ``metric_min_evals`` evaluations) has
    been within ``metric_tol`` (relative) of its best over at least the last ``metric_flat_share``
    of its evaluations."""
    tm = ctx.task_metric
    if tm is None or tm.curve.n < p.metric_min_evals:
        return None
    v = tm.curve.values if tm.higher_is_better else -tm.curve.values
    floor = float(np.max(v)) - p.metric_tol * max(abs(float(np.max(v))), 1e-12)
    k = v.size  # the final stretch of evaluations that all stay near the best
    while k > 0 and v[k - 1] >= floor:
        k -= 1
    share = (v.size - k) / v.size
    if share < p.metric_flat_share:
        return None
    return tm.tag, float(tm.best()[1]), share
