"""Independent symptom checks: does the logged curve show what the injected cause should produce?

These are deliberately simple (means of heads and tails, running medians, ratios), written
without looking at the analyzer, so that a run counts as evidence only when its numbers show the
symptom by a plain reading. A case whose check fails is kept but marked ``verified: false``.
Each check returns (passed, text) where the text gives the numbers it looked at.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .cadence import Logged, Series
from .spec import Case

Result = tuple[bool, str]


def _fin(s: Series | None) -> np.ndarray:
    return np.array([]) if s is None else s.values[np.isfinite(s.values)]


def _head(v: np.ndarray, frac: float = 0.1) -> float:
    return float(np.mean(v[: max(1, int(len(v) * frac))]))


def _tail(v: np.ndarray, frac: float = 0.1) -> float:
    return float(np.mean(v[-max(1, int(len(v) * frac)):]))


def _smooth(v: np.ndarray, width: int) -> np.ndarray:
    """Centred running median: robust to the spikes that noisy cadences produce."""
    width = max(1, min(width, len(v)))
    half = width // 2
    return np.array([np.median(v[max(0, i - half): i + half + 1]) for i in range(len(v))])


def _corr(v: np.ndarray) -> float:
    if len(v) < 3 or np.std(v) == 0:
        return 0.0
    return float(np.corrcoef(np.arange(len(v)), v)[0, 1])


def any_nonfinite(lg: Logged) -> bool:
    return any(s is not None and not np.isfinite(s.values).all() for s in (lg.train_loss, lg.val_loss))


def chance(lg: Logged) -> float:
    return math.log(lg.num_classes) if lg.num_classes else float("nan")


# ----------------------------------------------------------------------------- per-condition checks


def lr_too_high(case: Case, lg: Logged) -> Result:
    v = lg.train_loss.values
    if not np.isfinite(v).all():
        return False, "non-finite loss (relabel non-finite)"
    n10 = max(2, len(v) // 10)
    jump = float(np.max(v[:n10]) / v[0])
    c = chance(lg)
    # a window-mean or epoch-mean cadence folds the first blow-up into the first logged point:
    # then the early loss is far above ln C rather than far above the first point
    early = float(np.max(v[:n10]) / c) if lg.num_classes else 0.0
    s = _smooth(v, max(3, len(v) // 20))
    at_chance = float(np.mean(np.abs(s - c) <= 0.1 * c)) if lg.num_classes else 0.0
    # a spike: 3x the running median of the 20 points before it, and at least half the first loss
    ref = np.array([np.median(v[max(0, i - 20): i]) for i in range(1, len(v))])
    spikes = int(np.sum((v[1:] > 3.0 * ref) & (v[1:] > 0.5 * v[0])))
    text = (f"max loss in first 10% = {jump:.3g}x the first point, {early:.3g}x ln C; share of smoothed points "
            f"within 10% of ln C = {at_chance:.2f}; spikes (>3x running median, >v0/2) = {spikes}")
    return jump > 3.0 or early > 3.0 or at_chance >= 0.9 or spikes >= 3, text


def non_finite(case: Case, lg: Logged) -> Result:
    bad = [n for n, s in (("train", lg.train_loss), ("val", lg.val_loss)) if not np.isfinite(s.values).all()]
    first = next((int(s.steps[~np.isfinite(s.values)][0]) for s in (lg.train_loss, lg.val_loss)
                  if not np.isfinite(s.values).all()), -1)
    return bool(bad), f"non-finite in {bad or 'nothing'} from step {first}"


def divergence(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    s = _smooth(v, max(3, len(v) // 20))
    m = int(np.argmin(s))
    rise = float(_tail(s, 0.05) / max(s[m], 1e-12))
    persist = _corr(s[m:])
    text = f"smoothed train loss min at {m / len(s):.0%} of the run, end/min = {rise:.2f}, rise correlation after min = {persist:.2f}"
    return m < 0.7 * len(s) and rise >= 1.5 and persist >= 0.6, text


def exploding_gradients(case: Case, lg: Logged) -> Result:
    g = lg.grad_norm.values if lg.grad_norm is not None else np.array([])
    fin = g[np.isfinite(g)]
    if not len(fin):
        return False, "no finite grad norm logged"
    # the first logged steps are the initialisation's gradient, not an explosion: a norm that is
    # huge at step 0 and ordinary from step 2 on has not exploded
    skip = max(2, len(g) // 100)
    if len(fin) <= skip + 2:
        return False, "too few grad norm points"
    early = fin[skip : skip + max(3, len(fin) // 10)]
    base, level = float(np.median(early)), float(np.median(fin[skip:]))
    top = float(np.max(np.where(np.isfinite(g[skip:]), g[skip:], np.inf)))
    # orders of magnitude above its early or its typical level, or simply astronomically large
    ok = top > 100 * base or top > 100 * level or top > 1e4
    text = f"grad norm max {top:.3g} vs early median {base:.3g} and run median {level:.3g}"
    return ok, text


def vanishing_gradients(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    still_high = _tail(v, 0.2) > 0.8 * _head(v, 0.1)
    if lg.layers:
        names = sorted(lg.layers, key=lambda k: int(k.removeprefix("layer")))
        first, last = float(np.median(lg.layers[names[0]].values)), float(np.median(lg.layers[names[-1]].values))
        ratio = first / max(last, 1e-30)
        text = f"first/last layer grad norm = {ratio:.2g}; train tail/head = {_tail(v, 0.2) / _head(v):.2f}"
        return ratio < 1e-2 and still_high, text
    g = _fin(lg.grad_norm)
    med = float(np.median(g)) if len(g) else float("nan")
    return med < 1e-3 and still_high, f"median global grad norm {med:.2g}; train tail/head = {_tail(v, 0.2) / _head(v):.2f}"


def no_learning(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    change = abs(_tail(v, 0.2) - _head(v, 0.1)) / max(_head(v, 0.1), 1e-12)
    ok = change < 0.05
    text = f"train loss changed {change:.1%} head->tail"
    if lg.val_acc is not None and lg.num_classes and len(lg.val_acc.values) >= 2:
        # an untrained net can beat chance on clustered data; what must not happen is improvement
        acc = lg.val_acc.values
        gain = float(np.mean(acc[-3:]) - np.mean(acc[:3]))
        ok = ok and gain < 0.1
        text += f"; val acc {np.mean(acc[:3]):.2f} -> {np.mean(acc[-3:]):.2f} (chance {1 / lg.num_classes:.2f})"
    return ok, text


def plateau(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    final = _tail(v, 0.1)
    win = max(3, int(0.2 * len(v)))
    level, where = 0.0, -1.0
    for start in range(0, max(1, len(v) // 2 - win // 2), max(1, len(v) // 100)):
        seg = v[start: start + win]
        third = max(1, len(seg) // 3)
        # flat: the window's first and last thirds agree within 5% (robust to per-batch noise)
        if abs(seg[:third].mean() - seg[-third:].mean()) < 0.05 * seg.mean() and seg.mean() > level:
            level, where = float(seg.mean()), start / len(v)
    text = f"highest flat 20% window (starting by mid-run) at level {level:.3g} from {where:.0%}; final {final:.3g}"
    return level > 0 and final < 0.6 * level, text


def slow_convergence(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    s = _smooth(v, max(3, len(v) // 20))
    trend = _corr(s)
    q = len(s) // 4
    late = float((s[-q] - s[-1]) / max(s[-q], 1e-12)) if q else 0.0
    ratio = float(_tail(s) / max(_head(s), 1e-12))
    text = f"trend corr {trend:.2f}, still falling {late:.1%} over the last quarter, tail/head {ratio:.2f}"
    return trend < -0.8 and late > 0.03 and ratio > 0.4, text


def oscillation(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    short = _smooth(v, max(3, len(v) // 50))
    long = _smooth(v, max(5, len(v) // 5))
    exc = (short - long) / np.maximum(long, 1e-12)
    # a swing: the short-term level leaves the long-term trend by more than 25%, on alternating sides
    sides = np.sign(exc[np.abs(exc) > 0.25])
    swings = int(np.sum(sides[1:] != sides[:-1])) + (1 if len(sides) else 0)
    progress = (_head(v, 0.2) - _tail(v, 0.2)) / max(_head(v, 0.2), 1e-12)
    text = f"{swings} swings of >25% around the trend, net progress {progress:.1%}"
    return swings >= 4 and progress < 0.5, text


def unshuffled_data(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    stride = int(np.median(np.diff(lg.train_loss.steps))) if len(v) > 1 else 1
    period = lg.steps_per_epoch / max(1, stride)
    lag = round(period)
    if lag < 2 or len(v) < 3 * lag:
        return False, f"epoch period {period:.1f} points: too few to see a repeat"
    r = v - _smooth(v, lag)
    ac = float(np.corrcoef(r[:-lag], r[lag:])[0, 1])
    return ac > 0.3, f"autocorrelation at the epoch period ({lag} points) = {ac:.2f}"


def gradient_noise(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    half = v[len(v) // 2:]
    noise = float(np.std(np.diff(half)) / math.sqrt(2))
    level = float(np.mean(half))
    progress = max(_head(v, 0.1) - _tail(v, 0.2), 1e-12)
    text = f"late step-to-step noise sd {noise:.3g} vs late level {level:.3g} and progress {progress:.3g}"
    return noise > 0.5 * level and noise > 0.25 * progress, text


def overfitting(case: Case, lg: Logged) -> Result:
    val = lg.val_loss.values
    m = int(np.argmin(val))
    rise = float(val[-1] / max(val[m], 1e-12))
    t = lg.train_loss
    at_min = float(np.mean(t.values[np.abs(t.steps - lg.val_loss.steps[m]) <= max(1, np.ptp(t.steps) // 20)]))
    fell = _tail(t.values) < 0.9 * at_min
    text = f"val end/min = {rise:.2f} (min at eval {m}/{len(val)}), train at val-min {at_min:.3g} -> end {_tail(t.values):.3g}"
    return rise >= 1.1 and fell, text


def underfitting(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    high = _tail(v, 0.2) / max(_head(v, 0.1), 1e-12)
    s = _smooth(v, max(3, len(v) // 10))
    late = abs(s[int(0.7 * len(s))] - s[-1]) / max(s[-1], 1e-12)
    gap = abs(lg.val_loss.values[-1] - _tail(v, 0.2)) / max(_tail(v, 0.2), 1e-12)
    text = f"train tail/head {high:.2f}, change over last 30% {late:.1%}, |val-train|/train {gap:.2f}"
    return high > 0.4 and late < 0.1 and gap < 0.25, text


def still_improving(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    s = _smooth(v, max(3, len(v) // 10))
    q = max(1, len(s) // 5)
    t_drop = (s[-q] - s[-1]) / max(s[-q], 1e-12)
    val = lg.val_loss.values
    k = max(2, len(val) // 4)
    v_drop = (val[-k] - val[-1]) / max(val[-k], 1e-12)
    ok = t_drop > 0.03 and v_drop > 0.02 and val[-1] <= val.min() * 1.001
    return bool(ok), f"train fell {t_drop:.1%} over the last 20%, val fell {v_drop:.1%} over the last quarter of evals"


def lr_decay_needed(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    progress = 1 - _tail(v, 0.2) / max(_head(v, 0.1), 1e-12)
    tail = v[int(0.6 * len(v)):]
    a, b = tail[: len(tail) // 2], tail[len(tail) // 2:]
    flat = abs(np.mean(a) - np.mean(b)) / max(np.mean(b), 1e-12)
    cv = float(np.std(tail) / max(np.mean(tail), 1e-12))
    text = f"progress {progress:.0%}, last-40% halves differ {flat:.1%}, tail noise cv {cv:.2f}"
    return progress > 0.5 and flat < 0.1 and cv > 0.1, text


def schedule_misconfigured(case: Case, lg: Logged) -> Result:
    if lg.lr is None:
        return False, "no lr logged"
    lr, st = lg.lr.values, lg.lr.steps
    top = float(lr.max())
    span = max(1, st[-1] - st[0])
    floor_at = int(np.argmax(lr <= 0.01 * top)) if (lr <= 0.01 * top).any() else -1
    floor_frac = (st[floor_at] - st[0]) / span if floor_at >= 0 else 1.0
    peak_frac = (st[int(np.argmax(lr))] - st[0]) / span
    text = f"max lr {top:.3g}, first at <=1% of max at {floor_frac:.0%} of the run, peak at {peak_frac:.0%}"
    return top < 1e-6 or floor_frac < 0.5 or (peak_frac > 0.9 and lr[0] < 0.5 * top), text


def val_below_train(case: Case, lg: Logged) -> Result:
    t, val = lg.train_loss, lg.val_loss
    tv = np.interp(val.steps, t.steps, _smooth(t.values, max(3, len(t.values) // 20)))
    below = float(np.mean(val.values[1:] < 0.9 * tv[1:])) if len(val.values) > 1 else 0.0
    return below >= 0.8, f"val < 0.9 x train at {below:.0%} of evaluations"


def data_mismatch(case: Case, lg: Logged) -> Result:
    v = _fin(lg.train_loss)
    t_change = abs(_tail(v, 0.2) - _head(v, 0.2)) / max(_head(v, 0.2), 1e-12)
    val = lg.val_loss.values
    v_drop = (val[0] - np.mean(val[-3:])) / max(val[0], 1e-12)
    return t_change < 0.05 and v_drop > 0.1, f"train changed {t_change:.1%}, val fell {v_drop:.1%}"


def noisy_validation(case: Case, lg: Logged) -> Result:
    val = lg.val_loss.values
    if len(val) < 8:
        return False, "too few evaluations"
    noise = float(np.std(np.diff(val[len(val) // 4:])) / math.sqrt(2))
    trend = abs(_head(_smooth(val, 5), 0.2) - _tail(_smooth(val, 5), 0.2))
    level = float(np.mean(val[len(val) // 4:]))
    text = f"val step-to-step noise {noise:.3g} vs trend {trend:.3g} and level {level:.3g}"
    return noise > 0.3 * trend or noise > 0.15 * level, text


def clipping_saturated(case: Case, lg: Logged) -> Result:
    if lg.grad_norm is None or case.optim.clip is None:
        return False, "no grad norm or clip"
    share = float(np.mean(lg.grad_norm.values > case.optim.clip))
    return share >= 0.9, f"grad norm above the clip {case.optim.clip} at {share:.0%} of logged steps"


def bad_initial_loss(case: Case, lg: Logged) -> Result:
    first = float(lg.train_loss.values[0])
    if lg.num_classes:
        c = chance(lg)
        return first > 3 * c, f"first loss {first:.3g} vs ln C = {c:.3g} ({first / c:.1f}x)"
    return first > 10.0, f"first loss {first:.3g} vs standardised-target variance 1"


def healthy(case: Case, lg: Logged) -> Result:
    if any_nonfinite(lg):
        return False, "non-finite values"
    val = lg.val_loss.values
    near = float(val[-1] / max(val.min(), 1e-12))
    v = lg.train_loss.values
    fell = _tail(v, 0.1) / max(_head(v, 0.1), 1e-12)
    text = f"final val / min val = {near:.3f}, train tail/head = {fell:.2f}"
    # a task whose floor is high (hard-*: overlapping classes, noisy targets) cannot fall to 70% of
    # its start; there the check is that it learned at all and ended at its best
    if case.loop.pretrain:
        # a resumed model starts at its floor: it need not fall, only not climb away from it
        return near <= 1.05 and fell < 1.3, text
    return near <= 1.05 and fell < (0.9 if case.variant.startswith("hard-") else 0.7), text


CHECKS: dict[str, Callable[[Case, Logged], Result]] = {
    "lr-too-high": lr_too_high, "non-finite": non_finite, "divergence": divergence,
    "exploding-gradients": exploding_gradients, "vanishing-gradients": vanishing_gradients,
    "no-learning": no_learning, "plateau": plateau, "slow-convergence": slow_convergence,
    "oscillation": oscillation, "unshuffled-data": unshuffled_data, "gradient-noise": gradient_noise,
    "overfitting": overfitting, "underfitting": underfitting, "still-improving": still_improving,
    "lr-decay-needed": lr_decay_needed, "schedule-misconfigured": schedule_misconfigured,
    "val-below-train": val_below_train, "data-mismatch": data_mismatch, "noisy-validation": noisy_validation,
    "clipping-saturated": clipping_saturated, "bad-initial-loss": bad_initial_loss, "healthy": healthy,
}

# Info-level conditions (SPEC §2) that are fine to report on any run where their symptom shows.
INFO_SYMPTOMS: tuple[str, ...] = ("still-improving", "gradient-noise", "noisy-validation", "val-below-train")


def verify(case: Case, lg: Logged, condition: str) -> Result:
    try:
        ok, text = CHECKS[condition](case, lg)
    except (ValueError, IndexError, ZeroDivisionError) as exc:  # too few points for the check
        return False, f"check could not run: {exc}"
    return bool(ok), text


def info_symptoms(case: Case, lg: Logged) -> list[str]:
    """Info conditions whose own check passes on this run (they go to also_ok)."""
    if any_nonfinite(lg):
        return []
    found = [c for c in INFO_SYMPTOMS if verify(case, lg, c)[0]]
    if case.optim.schedule == "constant" and verify(case, lg, "lr-decay-needed")[0]:
        found.append("lr-decay-needed")
    return found
