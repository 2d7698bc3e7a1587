"""Sequential verification of one remedy: add seeds only while the decision is open.

A remedy is trained with ``min_seeds`` seeds first (2 by default) and judged against its
baseline (the config it patches, whose runs tune already has). After each look the decision is

* **accept**: a one-sided Welch t-test says the candidate's metric is better than the
  baseline's at level ``alpha / looks`` (Bonferroni alpha spending over the at most
  ``looks = max_seeds - min_seeds + 1`` looks, so the chance of accepting a remedy that does
  not help is at most ``alpha`` over all looks, however the looks correlate), and the candidate
  is better in a majority of seeds (the old rule, kept as a second condition);
* **reject**: the candidate is not better on average, its p-value is above ``FUTILITY_P`` from
  the third seed on, or a seed that trained finitely before diverges now (futility rules that
  only ever stop early with a rejection: they cannot raise the false-acceptance rate);
* **open**: neither; one more seed is trained on each side, up to ``max_seeds``, where an open
  decision is a rejection.

When the starting seeds would train one after another anyway (fewer workers than seeds), the
candidate's first seed is looked at alone (:func:`first_seed_futile`): worse than every baseline
seed with the condition still there, or beyond the worst of them by more than their range, it is
rejected without its second training. Like the other
futility rules it only ever rejects, so it cannot raise the false-acceptance rate; a remedy that
works is lost only when its first seed is worse than every baseline seed.

With ``present`` (how many seeds of each side show the condition being repaired) and
``max_seeds``, there is one more test, at the last look: the condition in every baseline seed
and in no candidate seed (a clean split; Fisher's exact test, p = 1/C(2n, n) = 1/252 at five a
side), with the candidate better on average and in a majority of seeds, and by Welch's test at
the whole alpha as if this were the only look (the gain is not noise either). It answers the noise
pathologies (a batch too small, a rate that never decays), whose baseline spreads so widely from
seed to seed that the metric alone cannot prove a gain over five seeds, while the condition goes
from every seed to none. Under a remedy that does nothing both sides' seeds show the condition
alike, so a clean split has chance at most 1/C(2n, n) (the metric's condition can only lower
it): that is the level the test is given
(:func:`condition_share`), and the Welch looks share the rest of alpha, ``(alpha - share) /
looks`` each (Bonferroni over all the tests). The futility rule waits while the split is clean.

Pure numpy and ``math``: the Student t tail comes from the regularised incomplete beta function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

ALPHA = 0.05  # one-sided false-acceptance rate of one remedy's verification, over all its looks
FUTILITY_P = 0.25  # from the third seed on, a p-value above this stops with a rejection

ACCEPT, REJECT, OPEN = "accept", "reject", "open"


@dataclass(frozen=True)
class Decision:
    """The verdict of one look: ``state`` is accept, reject or open."""

    state: str
    p_value: float  # one-sided Welch p-value that the candidate is better (nan when not computed)
    level: float  # the nominal level this look was tested at (alpha / looks)
    seeds: int  # candidate seeds at this look
    reason: str

    @property
    def accepted(self) -> bool:
        return self.state == ACCEPT


def decide(before: Sequence[float], after: Sequence[float], lower_is_better: bool, looks: int, last: bool, alpha: float = ALPHA,
           present: tuple[int, int] | None = None, max_seeds: int | None = None) -> Decision:
    """One look of the sequential test; ``last``: no further seed may be added (open becomes reject).
    ``present``: (baseline seeds, candidate seeds) showing the condition, and ``max_seeds`` per
    side at the last look: the condition test (see :func:`condition_share`)."""
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    share = condition_share(max_seeds, looks, alpha) if present is not None and max_seeds else 0.0
    level = (alpha - share) / max(1, looks)
    n = a.size
    fb, fa = np.isfinite(b), np.isfinite(a)
    if not fa.any():
        return Decision(REJECT, math.nan, level, n, "every candidate seed diverged")
    paired = min(b.size, a.size)
    if np.any(fb[:paired] & ~fa[:paired]):
        return Decision(REJECT, math.nan, level, n, "a seed that trained finitely before diverges with the remedy")
    if not fb.any():
        if fa.all():
            return Decision(ACCEPT, 0.0, level, n, "rescued from divergence in every seed")
        return _open_or_reject(last, level, n, "some seeds still diverge")
    worst = np.max(np.concatenate([b[fb], a[fa]])) if lower_is_better else np.min(np.concatenate([b[fb], a[fa]]))
    b, a = np.where(fb, b, worst), np.where(fa, a, worst)
    if lower_is_better and min(b.min(), a.min()) > 0:  # a loss: its seed noise is multiplicative
        b, a = np.log(b), np.log(a)
    gain_b, gain_a = (-b, -a) if lower_is_better else (b, a)  # higher is better from here on
    diff = float(np.mean(gain_a) - np.mean(gain_b))
    better = int(np.sum(gain_a[:paired] > gain_b[:paired]))
    p = welch_p(gain_a, gain_b)
    if diff <= 0:
        return Decision(REJECT, p, level, n, "not better on average")
    if math.isnan(p):  # a single seed (--max-seeds 1): no statistics, only a clear relative gain
        ref = abs(float(np.mean(gain_b))) or 1.0
        ok = diff > 0.01 * ref and better > paired / 2
        return Decision(ACCEPT if ok else REJECT, p, level, n, "one seed: no test, a gain above 1%" if ok else "one seed: gain below 1%")
    if p <= level and better > paired / 2:
        return Decision(ACCEPT, p, level, n, f"Welch p {p:.2g} <= {level:.2g}")
    if share > 0 and present is not None and last and better > paired / 2 and p <= alpha:
        c = fisher_p(present[0], b.size, present[1], n)
        if c <= share * (1 + 1e-9):
            return Decision(ACCEPT, c, level, n, f"Welch p {p:.2g} > {level:.2g} (<= {alpha:g} alone); condition in {present[0]}/{b.size} -> {present[1]}/{n} seeds, Fisher p {c:.2g} <= {share:.2g}")
    clean = share > 0 and present == (b.size, 0)  # the condition test may still decide
    if n >= 3 and p > FUTILITY_P and not clean:
        return Decision(REJECT, p, level, n, f"Welch p {p:.2g} > {FUTILITY_P} (futility)")
    return _open_or_reject(last, level, n, f"Welch p {p:.2g} > {level:.2g}", p)


def first_seed_futile(before: Sequence[float], first: float, lower_is_better: bool, persists: bool) -> Decision | None:
    """The look at the candidate's first seed alone: a rejection when its metric is worse than every
    baseline seed's with the condition persisting, or clearly worse — beyond the worst baseline
    seed by more than the baseline seeds' range — without it (or not finite where a baseline seed
    is); else None (train the other starting seeds and decide as usual). No p-value: one seed
    has no spread."""
    b = np.asarray(before, dtype=float)
    if b.size < 2 or not np.isfinite(b).any():
        return None
    why = "the condition persists" if persists else "clearly worse"
    if not math.isfinite(first):
        return Decision(REJECT, math.nan, math.nan, 1, f"the first seed diverged where a baseline seed trained ({why}; futility)")
    if not np.isfinite(b).all():  # a diverged baseline seed is worse than any finite one
        return None
    margin = 0.0 if persists else float(b.max() - b.min())
    worse = first > b.max() + margin if lower_is_better else first < b.min() - margin
    if not worse:
        return None
    by = "" if persists else f" by more than their range {margin:.3g}"
    return Decision(REJECT, math.nan, math.nan, 1, f"the first seed is worse than all {b.size} baseline seeds{by} ({why}; futility)")


def _open_or_reject(last: bool, level: float, n: int, reason: str, p: float = math.nan) -> Decision:
    return Decision(REJECT if last else OPEN, p, level, n, reason + ("; no seeds left" if last else ""))


def condition_share(max_seeds: int, looks: int, alpha: float = ALPHA) -> float:
    """The condition test's level: the chance of a clean split at ``max_seeds`` a side under a
    remedy that does nothing, 1/C(2n, n) (the most it can be: Fisher's test accepts nothing
    else there), when that is below an equal share ``alpha / (looks + 1)``; else 0 — the test
    is left out, it could never accept (fewer than 5 seeds a side)."""
    clean = 1.0 / math.comb(2 * max_seeds, max_seeds)
    return clean if clean <= alpha / (max(1, looks) + 1) else 0.0


def fisher_p(k_before: int, n_before: int, k_after: int, n_after: int) -> float:
    """One-sided p-value of Fisher's exact test that the candidate shows the condition in fewer
    seeds: P(at most ``k_after`` of the ``k_before + k_after`` seeds with the condition fall on
    the candidate's side), hypergeometric."""
    k, total = k_before + k_after, n_before + n_after
    if n_after < 1 or n_before < 1:
        return 1.0
    ways = math.comb(total, n_after)
    return sum(math.comb(k, x) * math.comb(total - k, n_after - x) for x in range(0, k_after + 1)) / ways


def welch_p(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided p-value of Welch's t-test that mean(x) > mean(y)."""
    nx, ny = x.size, y.size
    if nx < 2 or ny < 2:  # no variance estimate on one side: no test
        return math.nan
    vx, vy = float(np.var(x, ddof=1)) / nx, float(np.var(y, ddof=1)) / ny
    d = float(np.mean(x) - np.mean(y))
    se2 = vx + vy
    if se2 <= 0:  # no noise at all on either side
        return 0.0 if d > 0 else (0.5 if d == 0 else 1.0)
    t = d / math.sqrt(se2)
    df = se2 * se2 / ((vx * vx) / (nx - 1) + (vy * vy) / (ny - 1))
    return t_sf(t, df)


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (real, > 0) degrees of freedom."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, Lentz's method)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast on this side only
        return 1.0 - front * _betacf(b, a, 1.0 - x) / b
    return front * _betacf(a, b, x) / a


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h
