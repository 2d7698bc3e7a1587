"""The loss pattern repeats with the epoch period: the data order is not shuffled.

Why it matters: a fixed order (worst: sorted by class) makes every epoch replay the same
sequence of biased batches; the model chases the current class, forgets the last, and the
loss traces the same saw-tooth each epoch. Shuffling every epoch removes it.

Signals: per-step train loss; the epoch length when known (an epoch stream or the config).

Trigger: on the per-step train loss (its last ``max_points`` points, at least ``min_periods``
whole periods of at least ``min_period`` steps), detrended by a
moving average over exactly one period, the share of variance explained by the position in
the period (phase) is at least ``min_strength`` and ``min_over_chance`` times what noise alone
gives (period/points) — or, with at least four periods, at least ``rep_strength`` and the
pattern replicates: the phase profile of the even-numbered periods correlates with that of the
odd-numbered ones at ``min_replication`` or more (noise, even autocorrelated noise, does not
repeat in phase; a fixed data order does) and, when the period was inferred from the loss (the
strongest of many candidates, which fits noise a little by construction), the share is at least
``rep_over_chance`` times chance too. The period is the epoch length when known, else the strongest
autocorrelation peak — or, when that shows no pattern, a divisor of it whose phase explains
as much, the strongest first. Not reported when a logged learning rate repeats with the same period
(a cyclic schedule), nor when the loss is a running average reset each epoch (Keras
``batch_loss``: its step-to-step changes shrink through each epoch, to under 10% of the level in
its second half — a class-sorted loss calms after each boundary too, but moves by tens of
percent there), nor when the pattern is each epoch's own level and slope — an epoch staircase: a
model fitting data it has seen before drops its loss at every boundary (fine-tuning for many
epochs), which a moving average turns into a saw-tooth whose abrupt edge is a fall (a class
switch in a sorted order is an abrupt rise, then a decay). Removing each epoch's mean and linear
trend (epochs aligned at the offset that explains most) leaves under ``stair_share`` of the
phase share and under ``stair_over_chance`` times chance; a fixed data order's pattern lives
inside the epoch and survives.

Remedies: ``shuffle`` (every epoch).

Known false positives: curricula or data mixtures that are periodic by design; cyclic
schedules when the learning rate is not logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import detrend_moving_average, dominant_period, fold_strength, median, pct

ID = "unshuffled-data"
SEVERITY = Severity.WARNING
SIGNALS = ("per-step train loss",)


@dataclass(frozen=True)
class Params:
    min_strength: float = 0.2
    min_over_chance: float = 5.0
    min_periods: int = 3
    min_period: int = 8
    max_points: int = 20000
    rep_strength: float = 0.1
    min_replication: float = 0.75
    rep_over_chance: float = 3.0  # replication path with an inferred period: share over chance
    stair_share: float = 0.6  # an epoch staircase: the phase share left after each epoch's level and slope ...
    stair_over_chance: float = 2.5  # ... and that share over chance


def _replication(resid: np.ndarray, period: int) -> float:
    """Correlation of the phase profiles of the even- and odd-numbered periods (0 with under four)."""
    k = (resid.size // period) * period
    m = resid[:k].reshape(-1, period)
    if m.shape[0] < 4:
        return 0.0
    a, b = m[0::2].mean(axis=0), m[1::2].mean(axis=0)
    if np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _divisors(y: np.ndarray, period: int, min_period: int) -> list[int]:
    """Divisors of an inferred period whose phase explains at least as much of the loss, the
    strongest first: a pattern that repeats every d points repeats every k*d too, and the
    autocorrelation peak of a long detrending window can land on a multiple (a TF1 loop
    restarting an unshuffled input pipeline every 10 logged points peaked at 30)."""
    at_period = fold_strength(detrend_moving_average(y, period), period)
    got = []
    for k in range(2, period // min_period + 1):
        if period % k == 0:
            d = period // k
            share = fold_strength(detrend_moving_average(y, d), d)
            if share >= at_period:
                got.append((share, d))
    return [d for _, d in sorted(got, reverse=True)]


def _pattern(y: np.ndarray, period: int, known: bool, p: Params) -> tuple[np.ndarray, float, float, float] | None:
    """(residual, phase share, chance share, replication) when the loss repeats with ``period``."""
    if y.size < p.min_periods * period:
        return None
    resid = detrend_moving_average(y, period)
    strength = fold_strength(resid, period)
    chance = period / max((y.size // period) * period, 1)
    replication = _replication(resid, period)
    strong = strength >= p.min_strength and strength >= p.min_over_chance * chance
    # A period picked as the strongest of many candidates fits noise a little by construction:
    # then the replicated pattern must also stand ``rep_over_chance`` times above chance.
    rep_floor = p.rep_strength if known else max(p.rep_strength, p.rep_over_chance * chance)
    if not strong and not (strength >= rep_floor and replication >= p.min_replication):
        return None
    return resid, strength, chance, replication


def _steps_down(resid: np.ndarray, period: int) -> bool:
    """The period's abrupt edge is a fall: the largest drop between neighbouring phases of the
    mean profile exceeds the largest rise. An epoch staircase drops at each boundary and drifts
    up after a moving average; a class-sorted order jumps up where the class changes (the
    model meets a class it has been drifting away from) and decays from there."""
    k = (resid.size // period) * period
    prof = resid[:k].reshape(-1, period).mean(axis=0)
    d = np.diff(np.append(prof, prof[0]))
    return bool(-d.min() > d.max())


def _within_epoch_share(y: np.ndarray, period: int) -> float:
    """The phase share left once each period's own mean and linear trend are removed, at the
    offset that removes most (epoch boundaries are not known to the point)."""
    x = np.arange(period) - (period - 1) / 2
    best = 1.0
    for off in range(period):
        k = ((y.size - off) // period) * period
        if k < 3 * period:
            break
        m = y[off : off + k].reshape(-1, period)
        m = m - m.mean(axis=1, keepdims=True)
        m = m - (m @ x / float(x @ x))[:, None] * x
        best = min(best, fold_strength(m.ravel(), period))
    return best


def _running_average_signature(y: np.ndarray, period: int) -> bool:
    """True when step-to-step changes shrink strongly through each period and are small in its
    second half (a reset running mean: the j-th point moves the mean by 1/j of its deviation, so
    late in a period it moves by a few percent at most). A class-sorted loss also calms after
    each boundary spike, but every point is still a fresh minibatch: late in the period it
    still moves by tens of percent from one point to the next."""
    k = (y.size // period) * period
    m = y[:k].reshape(-1, period)
    d = np.abs(np.diff(m, axis=1))
    if d.shape[1] < 10:
        return False
    prof = d.mean(axis=0)
    head = prof[: max(1, prof.size // 10)].mean()
    tail = prof[prof.size // 2 :].mean()
    late = d[:, d.shape[1] // 2 :] / np.maximum(np.abs(m[:, 1:][:, d.shape[1] // 2 :]), 1e-12)
    return bool(tail > 0 and head / tail > 4.0 and median(late.ravel()) < 0.1)


def detect(ctx: Context, p: Params) -> list[Finding]:
    c = ctx.train
    if c is None or c.n < p.min_periods * p.min_period:
        return []
    y = c.values[-p.max_points :]
    steps = c.steps[-p.max_points :]
    stride = float(median(np.diff(steps.astype(float)))) if steps.size > 1 else 1.0
    if stride <= 0:
        return []
    spe = ctx.steps_per_epoch
    known = spe is not None
    if known:
        period = int(round(spe / stride))
        if period < p.min_period:
            return []
    else:
        resid = detrend_moving_average(y, max(p.min_period * 4, y.size // 8))
        period, ac = dominant_period(resid, p.min_period, y.size // p.min_periods)
        if period == 0 or ac < 0.2:
            return []
    got = _pattern(y, period, known, p)
    if got is None and not known:  # the inferred peak may sit on a multiple of the pattern's period
        for d in _divisors(y, period, p.min_period):
            got = _pattern(y, d, known, p)
            if got is not None:
                period = d
                break
    if got is None:
        return []
    resid, strength, chance, replication = got
    if _running_average_signature(y, period):
        return []
    if _steps_down(resid, period) and _within_epoch_share(y, period) < min(p.stair_share * strength, p.stair_over_chance * chance):
        return []  # an epoch staircase, not an order
    lr = ctx.lr
    if lr is not None and lr.n >= 2 * period:
        lr_resid = detrend_moving_average(lr.values[-y.size :], period)
        if np.std(lr_resid) > 1e-3 * np.abs(lr.values).max() and fold_strength(lr_resid, period) > 0.5:
            return []  # the learning rate cycles with the same period
    period_steps = int(round(period * stride))
    evidence = {
        "period_steps": period_steps,
        "epoch_steps": spe,
        "phase_variance_share": round(strength, 3),
        "chance_share": round(chance, 4),
        "replication": round(replication, 3),
        "periods_seen": int(y.size // period),
        "step_range": [int(steps[0]), int(steps[-1])],
        "signal": "train_loss",
    }
    where = "the epoch length" if known else "a period inferred from the loss itself"
    summary = (
        f"train loss repeats the same pattern every {period_steps} steps ({where}): the position within the "
        f"period explains {pct(strength)} of its variance (noise alone: {pct(chance)})"
    )
    rem = [R.shuffle(True, "shuffle the training data every epoch so batches are not in a fixed (e.g. class-sorted) order")]
    conf = margin_confidence(strength, p.min_strength, 0.3, base=0.6 if known else 0.5)
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=int(steps[0]))]
