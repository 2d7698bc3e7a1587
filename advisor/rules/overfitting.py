"""Validation loss rises from its minimum while training loss keeps falling; the gap widens.

Why it matters: past the validation minimum, more training fits noise in the training set
and the model generalises worse; the best weights were at the minimum, and every step after
it is wasted compute.

Signals: train and val loss (val accuracy, when logged, refines the severity).

Trigger: with at least ``min_evals`` validation points, the (3-point median smoothed) val loss
has its minimum at least ``patience`` evaluations and ``min_after`` of the run before the end;
from there it rises by at least ``min_rise`` of its minimum (or by ``min_give_back`` of what
validation had gained from its first evaluations: a model that barely learned gives most of it
back with a rise of a few percent — reported at info; or by ``small_rise`` in a steady trend, a
Mann-Kendall z of ``small_rise_z`` or more over ``small_rise_evals`` evaluations or more from the
minimum on — info too) and clearly — by more than ``noise_k``
times its own noise and ``late_noise_k`` times the point noise of the evaluations' second half
(where a flattened val loss bounces; the binned noise of the whole curve is mostly its smooth
early fall) and, past ``small_n`` evaluations, as a trend (Mann-Kendall z of the
evaluations from the minimum on at least ``min_trend_z``) or as a level shift (the median of the
later half of those evaluations, ``shift_min_points`` at least, clears the minimum by the same
noise tests: a val loss that jumped up and stayed up has a flat trend after the jump), or, with at most ``small_n`` evaluations (where a noise estimate is poor),
with the points from the minimum on rising in order at an exact one-sided p of at most
``max_p`` — and the last evaluation still above the minimum by more than ``end_noise_k`` point
noises of the second half (the model the run ended with is the worse one; a cyclic rate lifts
the val loss in each high-rate phase and brings it back down to its minimum at the end) — while the train loss did not rise (by more than half its binned noise; 1.3 point-noises
when every logged point is one minibatch, its level then a 9-point median's) and kept a
downward binned trend (Mann-Kendall) from the val minimum on, unless it already sat under
``near_floor`` of its start there, and the train/val gap widened. If the val
accuracy is still at its best at the end, the rising loss is overconfidence rather than lost
accuracy, and the finding drops to info; so does a run whose configured early stopping
ended it within its patience of the best point (the overfitting was caught). A val loss that
merely stopped improving for
``flat_after`` of the run while train loss fell by ``flat_train_drop`` more is reported at
info level (train falls, val flat). Two more info-level forms: with at most ``tiny_n``
evaluations (3 or more), every evaluation after the minimum above it, the last by ``min_rise``,
while train fell ``flat_train_drop`` (or ``tiny_train_drop`` in a clear trend: a Mann-Kendall z
of at most ``tiny_train_z`` over 6 bins or more) — too few points for a test, and the summary
says so; and a
gap that keeps widening while validation still creeps down: over the second half train fell by
``gap_train_drop`` or more, validation by under ``gap_val_drop``, and val/train ended at
``gap_ratio`` or more, up by half.

Remedies: ``early_stop`` at the best step with ``restore_best`` (patience from the cadence),
``weight_decay``, ``dropout``, more data or augmentation (``check_data``), less ``capacity``.

Known false positives: a val loss that rises from overconfidence while accuracy improves
(downgraded when val accuracy is logged); a few noisy evaluations (guarded by the noise test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Remedy, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import diff_noise, fmt, level_scale, mann_kendall_z, median, pct, positive, rising_p_exact, rolling_median

ID = "overfitting"
SEVERITY = Severity.WARNING
SIGNALS = ("train loss", "val loss")


@dataclass(frozen=True)
class Params:
    min_evals: int = 4
    patience: int = 3
    small_n: int = 12
    max_p: float = 0.05
    min_after: float = 0.1
    min_rise: float = 0.08
    noise_k: float = 3.0
    late_noise_k: float = 2.0  # the rise over the point noise of the evaluations' second half
    min_trend_z: float = 1.0  # a tendency up (p ~ 0.16), not a significance test: the noise test did that
    flat_after: float = 0.3
    flat_train_drop: float = 0.2
    near_floor: float = 0.1  # train at the val minimum at or below this share of its start: already fitted
    tiny_n: int = 6
    tiny_train_drop: float = 0.1  # a few evaluations: train's fall after the minimum, when it is a clear trend
    tiny_train_z: float = -2.0
    gap_train_drop: float = 0.5
    gap_val_drop: float = 0.1
    gap_ratio: float = 2.0
    end_noise_k: float = 1.0  # the last evaluation stays above the minimum by this many late point noises
    min_give_back: float = 0.5  # ... or the rise gives back this share of validation's gain
    small_rise: float = 0.03  # ... or a small rise (info) that is a steady trend:
    small_rise_z: float = 3.0  # ... Mann-Kendall z of the evaluations from the minimum on
    small_rise_evals: int = 10  # ... over at least this many
    shift_min_points: int = 5  # a level shift: the later half of the evaluations after the minimum


def _train_fits(t, best_step: float, t_best: float, t_end: float, near_floor: float) -> bool:
    """Memorising needs a train loss that went on falling after the val minimum — its binned
    trend from there is downward (Mann-Kendall, with 6 bins or more; the two levels otherwise) —
    or one that already sat near its floor (under ``near_floor`` of its start). A train loss
    drifting up from far above its floor while val climbs is a model wandering, not fitting."""
    t0 = t.start()
    if t0 > 0 and t_best <= near_floor * t0:
        return True
    after = t.bvals[t.bsteps >= best_step]
    return mann_kendall_z(after) < 0 if after.size >= 6 else t_end <= t_best


def _train_not_rising(t, best_step: float, t_best: float, t_end: float, p: Params) -> bool:
    """The train loss did not rise after the val minimum (by more than half its binned noise) and
    went on fitting (:func:`_train_fits`)."""
    t_noise = max(t.bnoise, 1e-12)
    # one minibatch a point: both levels are medians of a few noisy batches, their difference
    # about 0.65 of a point's noise: allow twice that, not half a (binned) noise
    tol = 1.3 * t_noise if t.bvals.size >= 15 and t.point_bins else 0.5 * t_noise
    return t_end <= t_best + tol and _train_fits(t, best_step, t_best, t_end, p.near_floor)


def _fell_between_evaluations(t, v, best_step: float) -> tuple[float, float] | None:
    """(the train loss's mean over the later half of the evaluation interval that ended at the val
    minimum — its level just before it, not the fall into it —, its mean over the last interval)
    when the per-interval means fell from the one to the other by more than 2 standard errors and
    never rose above the first on the way: a train loss whose points
    scatter far more than it moves (one noisy minibatch a step, 130 of them an epoch) fits on in
    its epoch means while its point trend and its level at one step say nothing. None otherwise."""
    edges = np.concatenate(([-np.inf], v.steps.astype(float)))
    k = int(np.searchsorted(v.steps, best_step))
    if k >= v.n - 1:
        return None
    stats = []
    for j, (lo, hi) in enumerate(zip(edges[k:-1], edges[k + 1 :])):
        y = t.values[(t.steps > lo) & (t.steps <= hi)]
        y = y[y.size // 2 :] if j == 0 else y  # the level just before the minimum, not the fall into it
        if y.size < 5:
            return None
        stats.append((float(np.mean(y)), float(np.var(y, ddof=1)) / y.size))
    (m0, s0), (m1, s1) = stats[0], stats[-1]
    if m1 >= m0 - 2.0 * np.sqrt(s0 + s1) or any(m > m0 for m, _ in stats[1:]):
        return None
    return m0, m1


def _train_level(ctx: Context, step: float) -> float | None:
    t = ctx.train
    if t is None or t.n < 3:
        return None
    # one minibatch a point (sparse logging): the level is a 9-point median's, not a lucky batch's
    level = rolling_median(t.bvals, 9) if t.bvals.size >= 15 and t.point_bins else t.bvals
    return float(np.interp(step, t.bsteps, level))


def best_val(ctx: Context) -> tuple[int, float, np.ndarray] | None:
    """(best step, best raw value, smoothed binned val) — shared with other val rules."""
    v = ctx.val
    if v is None or v.n < 3:
        return None
    sm = rolling_median(v.bvals, 3) if len(v.bvals) >= 5 else v.bvals.copy()
    i = int(np.argmin(sm))
    lo = v.bsteps[max(0, i - 1)]
    hi = v.bsteps[min(len(sm) - 1, i + 1)]
    m = (v.steps >= lo) & (v.steps <= hi)
    j = int(np.argmin(np.where(m, v.values, np.inf)))
    return int(v.steps[j]), float(v.values[j]), sm


def _regularisers(ctx: Context) -> list[Remedy]:
    """Remedies after early stopping, scaled from what the run already uses."""
    wd = ctx.num_param("weight_decay") or 0.0
    drop = ctx.num_param("dropout") or 0.0
    return [
        R.weight_decay(max(5e-4, wd * 10) if wd else 5e-4, "L2 regularisation narrows the train/val gap"),
        R.dropout(min(0.5, drop + 0.2) if drop else 0.3, "dropout regularises the wide layers"),
        R.check_data("more training data or augmentation"),
        R.capacity(width_factor=0.5, rationale="a smaller model has less room to memorise"),
    ]


def _rise_severity(ctx: Context, p: Params, evals_after: int, evidence: dict) -> tuple[Severity, str]:
    """Warning, or info when early stopping already acted or val accuracy is still at its best."""
    severity = Severity.WARNING
    acc_txt = ""
    es = ctx.early_stopping
    if es is not None and evals_after <= es.get("patience", p.patience) + 1:
        # Early stopping did its job: the run ended within its patience of the best point.
        severity = Severity.INFO
        acc_txt = f"; early stopping ended the run {evals_after} evaluations after the best point" + (" and restored it" if es.get("restore_best") else "")
        evidence["early_stopping"] = es
    tm = ctx.task_metric
    if tm is not None:
        m_step, m_best = tm.best()
        if m_step >= int(tm.curve.steps[-max(1, tm.curve.n // 10)]):
            # The metric the user cares about is still at its best at the end: stopping at the
            # val-loss minimum would give up what it gained (the loss rises from overconfidence).
            severity = Severity.INFO
            acc_txt = f"; {tm.tag} is still at its best at the end ({fmt(m_best)} at step {m_step}), so the loss rises from overconfidence"
            evidence["task_metric"] = tm.tag
            evidence["task_metric_still_improving"] = True
    return severity, acc_txt


def _stop_remedy(ctx: Context, best_step: int, patience: int, wasted: float, evidence: dict) -> Remedy:
    """Early stopping at the val-loss minimum — or, when a task metric is logged, at its best
    evaluation if that came later (the user judges the run by the metric, not the loss)."""
    tm = ctx.task_metric
    if tm is not None:
        m_step, m_best = tm.best()
        evidence["task_metric"] = tm.tag
        if m_step > best_step:
            evidence["task_metric_best_step"] = m_step
            return R.early_stop(
                step=m_step,
                patience=patience,
                restore_best=True,
                rationale=f"{tm.tag} was best at step {m_step} ({fmt(m_best)}), after the val-loss minimum at step {best_step}; stop on {tm.tag}",
            )
    return R.early_stop(
        step=best_step,
        patience=patience,
        restore_best=True,
        rationale=f"the best weights were at step {best_step}; {pct(wasted)} of the run came after them",
    )


def _small_rise(v, after: np.ndarray, v_best: float, rise: float, rel_rise: float, p: Params) -> tuple[str, dict] | None:
    """(summary note, evidence) for a rise under ``min_rise`` that still counts — at info: one
    that gives back ``min_give_back`` of what validation had gained (a model that barely learned
    gives back most of a small gain with a rise of a few percent), or a rise of ``small_rise`` or
    more that is a trend no noise makes (Mann-Kendall z of the ``small_rise_evals`` or more
    evaluations from the minimum on at least ``small_rise_z``). None otherwise."""
    gained = float(median(v.values[:3])) - v_best
    if gained > 0 and rise >= p.min_give_back * gained:
        return f"; small against its level, it gives back {pct(rise / gained)} of what validation had gained", {"gave_back": round(rise / gained, 3)}
    z = mann_kendall_z(after) if after.size >= p.small_rise_evals else 0.0
    if rel_rise >= p.small_rise and z >= p.small_rise_z:
        return f"; small against its level, but a steady trend over {after.size} evaluations (z={z:.1f})", {"small_steady_rise": True}
    return None


def _clear_rise(v, after: np.ndarray, rise: float, noise: float, p: Params) -> tuple[bool, float, float]:
    """(the rise is clear, the exact p of the points from the minimum on rising in order — 1.0
    past ``small_n`` evaluations —, the point noise of the evaluations' second half)."""
    # Few evaluations: the noise estimate is poor (the early fall inflates it), but an exact
    # order test on the points from the minimum on is valid at any n.
    p_rise = rising_p_exact(after) if v.n <= p.small_n else 1.0
    # The binned noise of the whole curve is mostly its smooth early fall: judge the rise by the
    # point noise of the evaluations' second half too, where a flattened val loss bounces
    late_noise = _late_noise(v)
    # Many evaluations: the rise must be a trend too (Mann-Kendall z of the evaluations from the
    # minimum on at least ``min_trend_z``), not the last two bouncing above an old minimum — or a
    # level shift (a val loss that jumped up after its minimum and stayed up, whose trend after
    # the jump is flat): the later half of the evaluations from the minimum on
    # (``shift_min_points`` at least) sits clear of the minimum by the same noise tests
    tail = after[after.size // 2 :]
    shifted = tail.size >= p.shift_min_points and _clears(float(median(tail)) - float(after[0]), noise, late_noise, p)
    trend_ok = v.n <= p.small_n or after.size < 6 or mann_kendall_z(after) >= p.min_trend_z or shifted
    clear = (_clears(rise, noise, late_noise, p) and trend_ok) or p_rise <= p.max_p
    return clear, p_rise, late_noise


def _clears(rise: float, noise: float, late_noise: float, p: Params) -> bool:
    return rise > p.noise_k * noise and rise > p.late_noise_k * late_noise


def _rise_evidence(evidence: dict, after: np.ndarray, n: int, p_rise: float) -> None:
    evidence["rise_trend_z"] = round(mann_kendall_z(after), 2)
    evidence["evaluations"] = n
    if p_rise < 1.0:
        evidence["rise_p_exact"] = round(p_rise, 4)


def _by(values, rise: float, rel_rise: float) -> str:
    """How much a loss rose: a percentage of a positive loss, else (a loss that reaches 0 or
    below, whose level is no scale) the amount and its share of the range the loss moved over."""
    return pct(rel_rise) if positive(values) else f"by {fmt(rise)} ({pct(rel_rise)} of the range it moved over)"


def _late_noise(v) -> float:
    """The point noise of the evaluations' second half (0 with fewer than 10)."""
    return diff_noise(v.values[v.n // 2 :]) if v.n >= 10 else 0.0


def detect(ctx: Context, p: Params) -> list[Finding]:
    v = ctx.val
    t = ctx.train
    if v is None or t is None or t.n < 3 or v.n < 3:
        return []
    if v.n < p.min_evals:
        return _tiny(ctx, p)
    bv = best_val(ctx)
    if bv is None:
        return []
    best_step, best_raw, sm = bv
    i_best = int(np.argmin(sm))
    v_best = float(sm[i_best])
    evals_after = int((v.steps > best_step).sum())
    last = max(ctx.last_step, int(v.steps[-1]))
    frac_after = (last - best_step) / max(last - ctx.first_step, 1)
    if evals_after < p.patience or frac_after < p.min_after:
        return _tiny(ctx, p) or _widening(ctx, p)
    k_end = max(2, v.n // 10) if v.n >= 10 else 2
    v_end = float(median(v.values[-k_end:]))
    noise = max(v.bnoise, 1e-12)
    rise = v_end - v_best
    rel_rise = rise / base if (base := level_scale(v.values, v_best)) else 0.0
    t_best = _train_level(ctx, best_step)
    t_end = t.end()
    if t_best is None:
        return []
    train_not_rising = _train_not_rising(t, best_step, t_best, t_end, p)
    if not train_not_rising and (means := _fell_between_evaluations(t, v, best_step)) is not None:
        train_not_rising, (t_best, t_end) = True, means
    gap_best = v_best - t_best
    gap_end = v_end - t_end
    wasted = frac_after
    evidence = {
        "best_step": best_step, "best_val_loss": best_raw, "final_val_loss": v_end, "train_loss_at_best": t_best,
        "final_train_loss": t_end, "gap_at_best": gap_best, "gap_at_end": gap_end, "wasted_fraction": round(wasted, 3),
        "step_range": [best_step, last], "signal": "val_loss",
    }
    patience = max(p.patience, min(20, v.n // 10))
    rem_stop = _stop_remedy(ctx, best_step, patience, wasted, evidence)
    regs = _regularisers(ctx)
    after = v.values[v.steps >= best_step]
    clear, p_rise, late_noise = _clear_rise(v, after, rise, noise, p)
    # the model the run ended with is worse than the best one: its last evaluation is still up (a
    # cyclic rate lifts the val loss in each high-rate phase and brings it back to its minimum)
    ends_up = float(v.values[-1]) - v_best > p.end_noise_k * late_noise
    # under min_rise only: its trend test is work a large rise does not need
    small = _small_rise(v, after, v_best, rise, rel_rise, p) if 0 < rise and rel_rise < p.min_rise else None
    if rise > 0 and (rel_rise >= p.min_rise or small) and clear and train_not_rising and gap_end > gap_best and ends_up:
        severity, acc_txt = _rise_severity(ctx, p, evals_after, evidence)
        if small is not None:
            # small against its level: worth knowing (the best weights were earlier), no alarm
            severity = Severity.INFO
            acc_txt += small[0]
            evidence.update(small[1])
        _rise_evidence(evidence, after, v.n, p_rise)
        summary = (
            f"val loss rose {_by(v.values, rise, rel_rise)} from its minimum {fmt(best_raw)} at step {best_step} to {fmt(v_end)} over its "
            f"last {k_end} evaluations (to step {int(v.steps[-1])}; {evals_after} of {v.n} after the minimum) while train loss went "
            f"{fmt(t_best)} -> {fmt(t_end)}; {pct(wasted)} of the run came after the best point{acc_txt}"
        )
        conf = margin_confidence(max(rise / noise, p.noise_k * (1 + (p.max_p - p_rise) / p.max_p) if p_rise <= p.max_p else 0.0), p.noise_k, 3.0, base=0.55)
        return [finding(ID, severity, conf, summary, evidence, [rem_stop, *regs], onset=best_step)]
    # Train falls, val flat.
    t_drop = (t_best - t_end) / abs(t_best) if t_best else 0.0
    if frac_after >= p.flat_after and t_drop >= p.flat_train_drop and gap_end - gap_best > p.noise_k * noise and rel_rise < p.min_rise:
        summary = (
            f"val loss stopped improving at step {best_step} ({fmt(best_raw)}) while train loss fell another "
            f"{pct(t_drop)}; the last {pct(frac_after)} of the run did not help validation"
        )
        evidence["train_drop_after_best"] = round(t_drop, 3)
        conf = margin_confidence(t_drop, p.flat_train_drop, 0.3, base=0.45)
        return [finding(ID, Severity.INFO, conf, summary, evidence, [rem_stop, *regs], onset=best_step)]
    return _widening(ctx, p)


def _tiny(ctx: Context, p: Params) -> list[Finding]:
    """A handful of evaluations, each after the minimum above it, while train keeps falling."""
    v, t = ctx.val, ctx.train
    if v.n > p.tiny_n or v.n < 3:
        return []
    y = v.values
    i = int(np.argmin(y))
    after = y[i + 1 :]
    t_best, t_end = _train_level(ctx, float(v.steps[i])), t.end()
    if after.size < 2 or t_best is None or not t_best:
        return []
    base = level_scale(y, float(y[i]))
    rel_rise = (float(after[-1]) - float(y[i])) / base if base else 0.0
    t_drop = (t_best - t_end) / level_scale(t.values, t_best)
    if not (np.all(after > y[i]) and rel_rise >= p.min_rise and _train_fell(t, float(v.steps[i]), t_drop, p)):
        return []
    best_step = int(v.steps[i])
    last = max(ctx.last_step, int(v.steps[-1]))
    wasted = (last - best_step) / max(last - ctx.first_step, 1)
    evidence = {
        "best_step": best_step, "best_val_loss": float(y[i]), "final_val_loss": float(after[-1]),
        "train_loss_at_best": t_best, "final_train_loss": t_end, "evaluations": v.n, "form": "few-evaluations",
        "wasted_fraction": round(wasted, 3), "step_range": [best_step, last], "signal": "val_loss",
    }
    summary = (
        f"val loss was lowest at step {best_step} ({fmt(float(y[i]))}) and every one of the {after.size} later evaluations was "
        f"higher (last {fmt(float(after[-1]))}, +{pct(rel_rise)}) while train loss fell {pct(t_drop)}: likely overfitting, "
        f"but {v.n} evaluations are too few to be sure"
    )
    rem = [_stop_remedy(ctx, best_step, 1, wasted, evidence), *_regularisers(ctx)]
    return [finding(ID, Severity.INFO, 0.45, summary, evidence, rem, onset=best_step)]


def _train_fell(t, best_step: float, t_drop: float, p: Params) -> bool:
    """The train loss fell after the val minimum: by ``flat_train_drop``, or by ``tiny_train_drop``
    in a clear binned trend (Mann-Kendall z at most ``tiny_train_z`` over 6 bins or more) — the
    train curve is the well-sampled one; its fall needs no margin for noise when it is a trend."""
    if t_drop >= p.flat_train_drop:
        return True
    after = t.bvals[t.bsteps >= best_step]
    return t_drop >= p.tiny_train_drop and after.size >= 6 and mann_kendall_z(after) <= p.tiny_train_z


def _widening(ctx: Context, p: Params) -> list[Finding]:
    """Validation still creeping down while train falls steeply: the gap keeps widening."""
    v, t = ctx.val, ctx.train
    if v.n < p.min_evals or t.n < 10 or v.cut_short:
        return []
    mid = float(v.steps[0] + (v.steps[-1] - v.steps[0]) / 2)
    # the level around the middle, not the one evaluation there: a noisy val set's spike at the
    # midpoint would otherwise read as a fall over the second half
    near = np.abs(v.steps - mid) <= 0.1 * (v.steps[-1] - v.steps[0])
    v_mid = float(median(v.values[near])) if near.sum() >= 3 else float(np.interp(mid, v.bsteps, v.bvals))
    v_end = float(median(v.values[-max(2, v.n // 10) :]))
    t_mid, t_end = _train_level(ctx, mid), t.end()
    if t_mid is None or t_mid <= 0 or t_end <= 0 or v_mid <= 0:
        return []
    t_drop, v_drop = (t_mid - t_end) / t_mid, (v_mid - v_end) / v_mid
    ratio_mid, ratio_end = v_mid / t_mid, v_end / t_end
    if not (t_drop >= p.gap_train_drop and v_drop < p.gap_val_drop and ratio_end >= p.gap_ratio and ratio_end >= 1.5 * ratio_mid):
        return []
    last = max(ctx.last_step, int(v.steps[-1]))
    evidence = {
        "train_drop_second_half": round(t_drop, 3), "val_drop_second_half": round(v_drop, 3),
        "val_over_train_mid": round(ratio_mid, 3), "val_over_train_end": round(ratio_end, 3), "form": "widening-gap",
        "evaluations": v.n, "step_range": [int(mid), last], "signal": "val_loss",
    }
    moved = f"moved only {pct(v_drop)}" if v_drop >= 0 else f"rose {pct(-v_drop)}"
    summary = (
        f"over the second half train loss fell {pct(t_drop)} ({fmt(t_mid)} -> {fmt(t_end)}) while val loss {moved} "
        f"({fmt(v_mid)} -> {fmt(v_end)}): val/train went {ratio_mid:.1f}x -> {ratio_end:.1f}x, the model is memorising"
    )
    rem = [*_regularisers(ctx), R.early_stop(step=int(mid), patience=max(p.patience, min(20, v.n // 10)), restore_best=True,
                                             rationale="later training mostly fits the training set")]
    return [finding(ID, Severity.INFO, 0.45, summary, evidence, rem, onset=int(mid))]
