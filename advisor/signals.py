"""Numeric primitives every rule shares: robust levels, noise, trends, changepoints, periods.

Per-step losses are noisy and long, so rules never compare two raw points. A stream is first
cut at its first non-finite value, then reduced to at most ``MAX_BINS`` equal-count bins of
medians (a :class:`Curve`); levels, slopes and changepoints are computed on those, with noise
measured on the raw points. Every threshold a rule uses is relative to the curve's own scale
and noise. All functions accept empty and constant input and never mutate their arguments.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from advisor.smoothing import rolling_median

MAX_BINS = 200
_MAD_TO_SIGMA = 1.4826


# --------------------------------------------------------------------------- basics


def level_scale(values: np.ndarray, level: float) -> float:
    """What a change of a loss is measured against: its level (a positive loss's floor is 0),
    or — for a loss that goes to 0 or below (a Gaussian or flow NLL, a loss with a bonus
    subtracted), whose floor is unknown — the larger of the level and the range it moved over:
    a rise from -0.0001 to 0.0001 is not a 200% rise."""
    v = _finite(values)
    if v.size == 0 or float(np.min(v)) > 0:
        return abs(level)
    return max(abs(level), float(np.max(v) - np.min(v)))


def positive(values: np.ndarray) -> bool:
    """Whether every finite value is above 0 (a loss whose changes read as percentages)."""
    v = _finite(values)
    return v.size > 0 and float(np.min(v)) > 0


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[np.isfinite(v)]


def median(x: np.ndarray) -> float:
    """Median of a finite 1-D array via one partition (np.median's overhead dominates small arrays)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return math.nan
    k = n // 2
    if n <= 16:  # a handful of points (median of the first three): sorting a list beats a partition
        lst = x.ravel().tolist()
        if all(v == v for v in lst):  # (NaN: np.partition's order, below)
            lst.sort()
            return float(lst[k]) if n % 2 else float((lst[k - 1] + lst[k]) / 2)
    if n % 2:
        return float(np.partition(x, k)[k])
    part = np.partition(x, (k - 1, k))
    return float((part[k - 1] + part[k]) / 2)


def first_nonfinite(values: np.ndarray) -> int | None:
    """Index of the first NaN/Inf in ``values``, or None."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    return int(np.argmax(bad))


# A stream whose non-finite points are this rare, and whose last tenth is finite, recovered: a few
# NaN epochs in a run that went on training (an fp16 overflow, one bad batch) leave the rest of
# the curve to be read; a stream that stays non-finite stops at its first NaN.
RECOVERED_MAX_SHARE = 0.05


def finite_part(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None, bool]:
    """(steps, values, first non-finite step or None, recovered): the finite prefix of a stream,
    or — when it recovered (see ``RECOVERED_MAX_SHARE``) — every finite point of it."""
    cut = first_nonfinite(values)
    if cut is None:
        return steps, values, None, False
    bad = ~np.isfinite(values)
    tail = bad[-max(3, bad.size // 10):]
    if bad.sum() <= RECOVERED_MAX_SHARE * bad.size and not tail.any():
        return steps[~bad], values[~bad], int(steps[cut]), True
    return steps[:cut], values[:cut], int(steps[cut]), False


def robust_sigma(x: np.ndarray) -> float:
    """MAD-based standard deviation (0 for fewer than 2 points)."""
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return 0.0
    return float(_MAD_TO_SIGMA * median(np.abs(x - median(x))))


def diff_noise(y: np.ndarray) -> float:
    """Point-to-point noise: robust sigma of first differences / sqrt(2).

    Insensitive to slow trends, so it measures the noise around a curve without fitting one.
    """
    y = np.asarray(y, dtype=float)
    if y.size < 3:
        return 0.0
    d = np.diff(y)
    return float(_MAD_TO_SIGMA * median(np.abs(d - median(d))) / math.sqrt(2.0))


def level(y: np.ndarray, frac: float = 0.1, at: str = "start", min_points: int = 1) -> float:
    """Median of the first (or last) ``frac`` of ``y`` (at least ``min_points``); NaN if empty."""
    y = np.asarray(y, dtype=float)
    if y.size == 0:
        return math.nan
    k = max(min_points, int(math.ceil(frac * y.size)))
    k = min(k, y.size)
    part = y[:k] if at == "start" else y[-k:]
    return median(part)


# --------------------------------------------------------------------------- binning


def bin_medians(steps: np.ndarray, values: np.ndarray, max_bins: int = MAX_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-count bins: (median step, median value, points per bin) for at most ``max_bins`` bins."""
    n = len(values)
    if n <= max_bins:
        return np.asarray(steps, dtype=float), np.asarray(values, dtype=float), np.ones(n, dtype=np.int64)
    size = int(math.ceil(n / max_bins))
    k = int(math.ceil(n / size))
    pad = k * size - n
    v = np.asarray(values, dtype=float)
    s = np.asarray(steps, dtype=float)
    if pad:
        v = np.concatenate([v, np.full(pad, np.nan)])
        s = np.concatenate([s, np.full(pad, np.nan)])
    v = v.reshape(k, size)
    s = s.reshape(k, size)
    counts = np.full(k, size, dtype=np.int64)
    counts[-1] = size - pad
    # Steps are sorted, so a bin's median step is its middle element (no sort needed).
    mid = size // 2
    st = (s[:, (size - 1) // 2] + s[:, mid]) / 2
    if pad:
        # Only the last bin is padded: full bins take the fast median, the last its own.
        med = np.empty(k)
        med[:-1] = np.median(v[:-1], axis=1)
        med[-1] = median(v[-1, : size - pad])
        st[-1] = median(s[-1, : size - pad])
        return st, med, counts
    return st, np.median(v, axis=1), counts


@dataclass(frozen=True, eq=False)
class Curve:
    """A stream prepared for rules: the finite prefix (every finite point when it recovered, see
    :func:`finite_part`), its binned medians and its noise."""

    steps: np.ndarray  # raw steps of the finite prefix
    values: np.ndarray  # raw values of the finite prefix
    bsteps: np.ndarray  # binned median steps
    bvals: np.ndarray  # binned median values
    bcount: np.ndarray  # points per bin
    noise: float  # per-point noise (diff_noise of the raw values)
    bnoise: float  # noise of the binned medians (residual around a rolling median)
    nonfinite_step: int | None  # step of the first NaN/Inf in the full stream
    n_total: int  # points in the full stream, non-finite included
    recovered: bool = False  # a few non-finite points, then finite again: the curve holds every finite point

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def cut_short(self) -> bool:
        """The stream went non-finite and stayed so: the curve stops at its first NaN (a stream
        that recovered holds every finite point and reads as a whole)."""
        return self.nonfinite_step is not None and not self.recovered

    @property
    def point_bins(self) -> bool:
        """Every bin holds one logged point: with sparse logging each is one minibatch's loss."""
        return self.bcount.size > 0 and int(np.max(self.bcount)) <= 1

    @property
    def span(self) -> float:
        # In floats: int64 steps spanning more than 2**63 overflow when subtracted as integers.
        return float(self.steps[-1]) - float(self.steps[0]) if self.n > 1 else 0.0

    def start(self) -> float:
        """Initial level: median of the first 1% of points, at most 10 (the first for short curves)."""
        k = min(max(1, self.n // 100), 10)
        return median(self.values[:k]) if self.n else math.nan

    def end(self, frac: float = 0.1) -> float:
        """Final level: median of the last points (at least 3 when there are enough)."""
        return level(self.values, frac, "end", min_points=1 if self.n < 10 else 3)

    def smooth_min(self) -> tuple[float, float]:
        """(step, value) of the minimum of the binned medians."""
        if self.n == 0:
            return math.nan, math.nan
        i = int(np.argmin(self.bvals))
        return float(self.bsteps[i]), float(self.bvals[i])

    def window(self, lo_step: float, hi_step: float) -> tuple[np.ndarray, np.ndarray]:
        """Binned (steps, values) with lo_step <= step <= hi_step."""
        m = (self.bsteps >= lo_step) & (self.bsteps <= hi_step)
        return self.bsteps[m], self.bvals[m]

    def at_fraction(self, frac: float) -> float:
        """The step at ``frac`` of the span."""
        return float(self.steps[0] + frac * self.span) if self.n else math.nan


def make_curve(steps: np.ndarray, values: np.ndarray, max_bins: int = MAX_BINS) -> Curve:
    values = np.asarray(values, dtype=float)
    steps = np.asarray(steps)
    n_total = values.size
    steps, values, nonfinite_step, recovered = finite_part(steps, values)
    bs, bv, bc = bin_medians(steps, values, max_bins)
    return Curve(
        steps=steps,
        values=values,
        bsteps=bs,
        bvals=bv,
        bcount=bc,
        noise=diff_noise(values),
        bnoise=binned_noise(bv),
        nonfinite_step=nonfinite_step,
        n_total=n_total,
        recovered=recovered,
    )


def binned_noise(bv: np.ndarray) -> float:
    """Noise of a short (binned) curve: robust sigma of its residual around a 5-point median."""
    if bv.size < 5:
        return diff_noise(bv)
    return robust_sigma(bv - rolling_median(bv, 5))


# --------------------------------------------------------------------------- smoothing & trend


_PAIRS: dict[int, tuple[np.ndarray, ...]] = {}  # n -> the index pairs i < j (at most max_points' worth)


def _pairs(n: int) -> tuple[np.ndarray, ...]:
    """The index pairs i < j of n points, built once per n (every caller caps n at its max_points)."""
    return _PAIRS.get(n) or _PAIRS.setdefault(n, tuple(a.astype(np.int32) for a in np.triu_indices(n, k=1)))


def theil_sen(x: np.ndarray, y: np.ndarray, max_points: int = 120) -> float:
    """Median of pairwise slopes (robust to outliers); 0 for fewer than 2 distinct x."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 2:
        return 0.0
    if x.size > max_points:
        idx = np.linspace(0, x.size - 1, max_points).round().astype(int)
        x, y = x[idx], y[idx]
    i, j = _pairs(x.size)
    dx = x[j] - x[i]
    ok = dx != 0
    if not ok.any():
        return 0.0
    return float(np.median((y[j] - y[i])[ok] / dx[ok]))


def mann_kendall_z(y: np.ndarray, max_points: int = 150) -> float:
    """Mann-Kendall trend statistic as a z-score (negative = falling); 0 for < 4 points.

    Distribution-free: it asks only whether later points tend to be lower or higher, so it
    tolerates outliers and any noise shape. |z| > 2.6 is a trend at about the 1% level for
    independent noise; binned medians are close to independent.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 4:
        return 0.0
    if n > max_points:
        idx = np.linspace(0, n - 1, max_points).round().astype(int)
        y = y[idx]
        n = y.size
    i, j = _pairs(n)
    s = float(np.sign(y[j] - y[i]).sum())
    var = n * (n - 1) * (2 * n + 5) / 18.0
    return (s - math.copysign(1.0, s)) / math.sqrt(var) if s else 0.0  # continuity correction


def rising_p_exact(y: np.ndarray, max_points: int = 30) -> float:
    """One-sided exact p-value that ``y`` rises (Kendall's test against order, no ties assumed).

    For the few evaluations a validation curve often has (4 to 10), the normal approximation of
    :func:`mann_kendall_z` is poor; the exact null distribution of the number of inversions of a
    random order (Mahonian numbers, built once per n) is cheap. 1.0 for fewer than 3 points.
    """
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    n = y.size
    if n < 3 or n > max_points:
        return 1.0
    i, j = _pairs(n)
    inversions = int(np.count_nonzero(y[j] < y[i]))
    return _at_most_inversions(n)[inversions] / math.factorial(n)


def rising_p(y: np.ndarray) -> float:
    """One-sided p that ``y`` rises: exact up to 30 points, Mann-Kendall's normal p past that."""
    y = np.asarray(y, dtype=float)
    return rising_p_exact(y) if np.count_nonzero(np.isfinite(y)) <= 30 else 0.5 * math.erfc(mann_kendall_z(y) / math.sqrt(2.0))


@functools.lru_cache(maxsize=64)
def _at_most_inversions(n: int) -> tuple[int, ...]:
    """How many orders of ``n`` items have at most k inversions, for each k (exact integers)."""
    counts = [1]  # permutations of k items by number of inversions
    for k in range(2, n + 1):
        nxt = [0] * (len(counts) + k - 1)
        for inv, c in enumerate(counts):
            nxt[inv : inv + k] = [x + c for x in nxt[inv : inv + k]]
        counts = nxt
    return tuple(itertools.accumulate(counts))


def in_order(c: "Curve | None", rising: bool, p_max: float, min_n: int = 6) -> bool:
    """The curve (``min_n`` to 30 finite points) moves in order — up when ``rising``, else down —
    at an exact one-sided Kendall p below ``p_max``, and ends at its extreme (highest or lowest)."""
    if c is None or c.cut_short or not min_n <= c.n <= 30:
        return False
    y = c.values if rising else -c.values
    return rising_p_exact(y) < p_max and float(y[-1]) >= float(np.max(y)) - 1e-12


def percent_scale(values: np.ndarray) -> float:
    """100 for an accuracy logged in percent (any value above 1.5), else 1: divide by it."""
    return 100.0 if float(np.nanmax(values)) > 1.5 else 1.0


def best_changepoint(y: np.ndarray, min_size: int = 3) -> tuple[int, float]:
    """Single mean-shift changepoint: (index where the second segment starts, SSE reduction ratio).

    The ratio is 1 - SSE(two means)/SSE(one mean): near 1 for a clean step, near 0 for none.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2 * min_size:
        return n, 0.0
    c1 = np.cumsum(y)
    c2 = np.cumsum(y * y)
    total_sse = c2[-1] - c1[-1] ** 2 / n
    if total_sse <= 0:
        return n, 0.0
    k = np.arange(min_size, n - min_size + 1)
    left_sse = c2[k - 1] - c1[k - 1] ** 2 / k
    right_sum = c1[-1] - c1[k - 1]
    right_sq = c2[-1] - c2[k - 1]
    right_sse = right_sq - right_sum**2 / (n - k)
    sse = left_sse + right_sse
    i = int(np.argmin(sse))
    return int(k[i]), float(1.0 - sse[i] / total_sse)


def flat_run(bvals: np.ndarray, tol: float) -> tuple[int, int]:
    """Longest index range [a, b) over which the binned curve stays within ``tol`` of its range.

    A two-pointer sweep with running min/max (deques), O(n).
    """
    from collections import deque

    y = np.asarray(bvals, dtype=float)
    n = y.size
    best = (0, 0)
    lo_q: deque[int] = deque()
    hi_q: deque[int] = deque()
    a = 0
    for b in range(n):
        while lo_q and y[lo_q[-1]] >= y[b]:
            lo_q.pop()
        lo_q.append(b)
        while hi_q and y[hi_q[-1]] <= y[b]:
            hi_q.pop()
        hi_q.append(b)
        while y[hi_q[0]] - y[lo_q[0]] > tol:
            a += 1
            if lo_q[0] < a:
                lo_q.popleft()
            if hi_q[0] < a:
                hi_q.popleft()
        if b + 1 - a > best[1] - best[0]:
            best = (a, b + 1)
    return best


def total_variation_ratio(y: np.ndarray) -> float:
    """Sum of |steps| over |net change|: 1 for a monotone curve, large for a swinging one."""
    y = np.asarray(y, dtype=float)
    if y.size < 3:
        return 1.0
    tv = float(np.abs(np.diff(y)).sum())
    net = abs(float(y[-1] - y[0]))
    if net == 0:
        return math.inf if tv > 0 else 1.0
    return tv / net


# --------------------------------------------------------------------------- periodicity


def detrend_moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """y minus its centred moving average over ``window`` points (edges: shrinking windows).

    With ``window`` equal to a period, the average removes that periodic component entirely,
    so the residual keeps it while losing the trend.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    w = max(1, min(int(window), n))
    c = np.concatenate([[0.0], np.cumsum(y)])
    h_lo = w // 2
    h_hi = w - h_lo
    idx = np.arange(n)
    lo = np.clip(idx - h_lo, 0, n)
    hi = np.clip(idx + h_hi, 0, n)
    return y - (c[hi] - c[lo]) / np.maximum(hi - lo, 1)


def fold_strength(resid: np.ndarray, period: int) -> float:
    """Share of variance explained by phase (index mod period): ~period/n for pure noise."""
    r = np.asarray(resid, dtype=float)
    n = r.size
    if period < 2 or n < 2 * period:
        return 0.0
    k = (n // period) * period
    r = r[:k]
    total = float(np.var(r))
    if total <= 0:
        return 0.0
    phase_means = r.reshape(-1, period).mean(axis=0)
    return float(np.var(phase_means) / total)


def autocorrelation(y: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocorrelation for lags 0..max_lag via FFT (y is mean-centred first)."""
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2:
        return np.ones(1)
    y = y - y.mean()
    nfft = 1 << int(math.ceil(math.log2(2 * n)))
    f = np.fft.rfft(y, nfft)
    ac = np.fft.irfft(f * np.conj(f), nfft)[: max_lag + 1]
    if ac[0] <= 0:
        return np.zeros(max_lag + 1)
    return ac / ac[0]


def dominant_period(resid: np.ndarray, min_period: int, max_period: int) -> tuple[int, float]:
    """(lag, autocorrelation) of the highest ACF peak in [min_period, max_period]; (0, 0) if none."""
    r = np.asarray(resid, dtype=float)
    max_period = min(max_period, r.size // 2)
    if max_period <= min_period:
        return 0, 0.0
    ac = autocorrelation(r, max_period)
    seg = ac[min_period : max_period + 1]
    # A peak: higher than both neighbours.
    inner = (seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])
    if not inner.any():
        return 0, 0.0
    cand = np.nonzero(inner)[0] + 1
    best = cand[np.argmax(seg[cand])]
    return int(best + min_period), float(seg[best])


def fmt(x: float, digits: int = 3) -> str:
    """Compact number for summaries: 0.412, 3.1e-05, 1.2e+04, nan."""
    if x is None or not math.isfinite(x):
        return str(x)
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e5):
        return f"{x:.{max(1, digits - 1)}e}"
    return f"{x:.{digits}g}"


def times(x: float) -> str:
    """A ratio for summaries: 3.2x, 424x, 3.4e+08x — never a run of nine digits."""
    if x is None or not math.isfinite(x):
        return f"{x}x"
    return f"{x:.1f}x" if abs(x) < 100 else f"{x:.0f}x" if abs(x) < 1e5 else f"{x:.1e}x"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%" if math.isfinite(x) else str(x)
