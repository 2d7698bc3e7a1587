"""Bounded-memory history of one scalar stream: a raw recent window over downsampled older points.

A live run can last millions of steps; keeping every point would grow without bound. A
:class:`Reservoir` keeps

* the first ``head`` points raw, forever (initial levels: bad initial loss, "ends above its start");
* the last ``window`` points raw (per-step rules look at the end of a run: noise, periods, spikes);
* everything in between as bins of ``width`` points, each with its median-ish representative,
  minimum, maximum, count, step range and its first non-finite point. When there are more than
  ``2 * bins`` bins, adjacent pairs merge and ``width`` doubles, so memory stays
  O(head + window + bins + log(width)) however long the run.

Points leave the raw window one at a time into a binary carry chain (partial bins of 1, 2, 4, ...
points, merged pairwise), so no bin ever needs its raw points: a merged bin's representative is
the count-weighted mean of its halves' representatives (the mean of two medians, "median-ish"),
its min/max are exact, and its first NaN/Inf is kept with its step. A spike or a NaN in old
history is therefore never lost: ``min``/``max`` keep the spike, ``bad_step``/``bad_value`` the
NaN, and :meth:`points` re-emits the first non-finite value at its own step so the rules still
see where the run broke.

The head and the raw window are numpy columns (8 bytes a number); :attr:`Reservoir.nbytes`
estimates what a stream holds and :meth:`Reservoir.resize` coarsens it, which is how
:mod:`advisor.live.budget` keeps thousands of streams within one memory budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)  # no __dict__: thousands of streams hold bins by the thousand
class Bin:
    """Summary of ``count`` consecutive points."""

    count: int
    step_lo: int
    step_hi: int
    step_mean: float
    value: float  # representative (median of a raw block, mean of the halves' when merged)
    vmin: float  # over finite points (nan when none)
    vmax: float
    wall: float  # wall time of the last point
    bad_step: int | None = None  # first non-finite point
    bad_value: float = math.nan

    @classmethod
    def point(cls, step: int, value: float, wall: float) -> Bin:
        if math.isfinite(value):
            return cls(1, step, step, float(step), value, value, value, wall)
        return cls(1, step, step, float(step), math.nan, math.nan, math.nan, wall, step, value)

    def merge(self, newer: Bin) -> Bin:
        # Runs about once per point of a long run: positional fields and no helper calls, so a
        # coarse stream (a small window: most points go through here) stays cheap to feed.
        isnan = math.isnan
        c1, c2 = self.count, newer.count
        n = c1 + c2
        a, b = self.value, newer.value
        value = b if isnan(a) else a if isnan(b) else (a * c1 + b * c2) / n
        lo, lo2, hi, hi2 = self.vmin, newer.vmin, self.vmax, newer.vmax
        vmin = lo2 if isnan(lo) else lo if isnan(lo2) else min(lo, lo2)
        vmax = hi2 if isnan(hi) else hi if isnan(hi2) else max(hi, hi2)
        old_bad = self.bad_step is not None
        return Bin(
            n,
            self.step_lo,
            newer.step_hi,
            (self.step_mean * c1 + newer.step_mean * c2) / n,
            value,
            vmin,
            vmax,
            newer.wall,
            self.bad_step if old_bad else newer.bad_step,
            self.bad_value if old_bad else newer.bad_value,
        )


#: Bytes one stored point or bin costs, and a stream's fixed cost (measured with tracemalloc on
#: CPython 3.11, rounded up; a test checks :attr:`Reservoir.nbytes` against tracemalloc). A raw
#: point is three 8-byte numpy entries; a bin is a slotted object with its boxed numbers.
POINT_BYTES, BIN_BYTES, STREAM_BYTES = 24, 330, 1000

_EMPTY_S = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


class Reservoir:
    """History of one stream in O(head + window + bins) memory; see the module docstring."""

    __slots__ = ("_carry", "_closed", "_head_s", "_head_v", "_head_w", "_raw_s", "_raw_v", "_raw_w", "head", "max_bins", "total", "width", "window")

    def __init__(self, window: int = 1024, bins: int = 512, head: int = 32) -> None:
        _check_shape(window, bins)
        if head < 0:
            raise ValueError("head >= 0 is required")
        self.window, self.max_bins, self.head = int(window), int(bins), int(head)
        self.width = 1  # points per closed bin
        # the head and the raw window as numpy columns (8 bytes a number, not a boxed float);
        # empty ones share one array until the first points arrive
        self._head_s, self._head_v, self._head_w = _EMPTY_S, _EMPTY_F, _EMPTY_F
        self._raw_s, self._raw_v, self._raw_w = _EMPTY_S, _EMPTY_F, _EMPTY_F
        self._closed: list[Bin] = []
        self._carry: list[Bin | None] = []  # carry[k]: a partial bin of 2**k points, or None
        self.total = 0  # points ever added

    def __len__(self) -> int:
        return self.total

    @property
    def n_raw(self) -> int:
        """Points held raw: the head and the recent window."""
        return len(self._head_s) + len(self._raw_s)

    @property
    def n_stored(self) -> int:
        """How many summaries are held (the memory bound this class guarantees)."""
        return self.n_raw + len(self._closed) + sum(c is not None for c in self._carry)

    @property
    def nbytes(self) -> int:
        """About how many bytes this stream holds (an upper estimate; see :data:`BIN_BYTES`)."""
        n_bins = len(self._closed) + sum(c is not None for c in self._carry)
        return STREAM_BYTES + self.n_raw * POINT_BYTES + n_bins * BIN_BYTES

    def resize(self, window: int, bins: int) -> None:
        """Hold the recent ``window`` points raw and at most ``2 * bins`` closed bins from now on.

        Shrinking moves the oldest raw points into bins and merges bins pairwise, as if the
        reservoir had had this shape when they arrived; growing takes effect as points arrive.
        """
        _check_shape(window, bins)
        self.window, self.max_bins = int(window), int(bins)
        self._spill()
        self._compact()

    def extend(self, steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> None:
        """Append points in write order."""
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        walls = np.asarray(walls, dtype=np.float64).reshape(-1)
        n = len(steps)
        if n == 0:
            return
        self.total += n
        k = min(max(self.head - len(self._head_s), 0), n)
        if k:
            self._head_s = np.concatenate([self._head_s, steps[:k]])
            self._head_v = np.concatenate([self._head_v, values[:k]])
            self._head_w = np.concatenate([self._head_w, walls[:k]])
            steps, values, walls = steps[k:], values[k:], walls[k:]
        if not len(steps):
            return
        self._raw_s = np.concatenate([self._raw_s, steps])
        self._raw_v = np.concatenate([self._raw_v, values])
        self._raw_w = np.concatenate([self._raw_w, walls])
        self._spill()

    def _spill(self) -> None:
        """Move the raw points beyond the window into bins, oldest first."""
        over = len(self._raw_s) - self.window
        if over > 0:
            for s, v, w in zip(self._raw_s[:over].tolist(), self._raw_v[:over].tolist(), self._raw_w[:over].tolist()):
                self._push(Bin.point(s, v, w))
            # copies, not views: a view would keep the whole old array alive
            self._raw_s, self._raw_v, self._raw_w = self._raw_s[over:].copy(), self._raw_v[over:].copy(), self._raw_w[over:].copy()

    def _push(self, b: Bin) -> None:
        level = 0
        while True:
            if b.count >= self.width:
                self._close(b)
                return
            if level == len(self._carry):
                self._carry.append(None)
            older = self._carry[level]
            if older is None:
                self._carry[level] = b
                return
            self._carry[level] = None
            b = older.merge(b)
            level += 1

    def _close(self, b: Bin) -> None:
        self._closed.append(b)
        self._compact()

    def _compact(self) -> None:
        """Merge adjacent closed bins pairwise (doubling ``width``) while there are too many."""
        while len(self._closed) > 2 * self.max_bins:
            c = self._closed
            merged = [c[i].merge(c[i + 1]) for i in range(0, len(c) - 1, 2)]
            if len(c) % 2:
                merged.append(c[-1])
            self._closed = merged
            self.width *= 2

    def bins(self) -> list[Bin]:
        """Every summarised (non-raw) part, oldest first: closed bins, then the partial ones."""
        partial = [b for b in reversed(self._carry) if b is not None]  # higher level = older
        return self._closed + partial

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, values, wall times) for analysis: head, bin representatives, raw window.

        A bin that holds a non-finite value emits it at its own step after its representative,
        so the first NaN/Inf of the run is always visible where it happened.
        """
        s: list[float] = []
        v: list[float] = []
        w: list[float] = []
        for b in self.bins():
            rep = round(b.step_mean)
            pair = []
            if not math.isnan(b.value) and rep != b.bad_step:
                pair.append((rep, b.value))
            if b.bad_step is not None:
                pair.append((b.bad_step, b.bad_value))
            for step, value in sorted(pair, key=lambda p: p[0]):  # the bin's mean step can fall after its NaN
                s.append(step)
                v.append(value)
                w.append(b.wall)
        steps = np.concatenate([self._head_s, np.asarray(s, dtype=np.int64), self._raw_s])
        values = np.concatenate([self._head_v, np.asarray(v, dtype=np.float64), self._raw_v])
        walls = np.concatenate([self._head_w, np.asarray(w, dtype=np.float64), self._raw_w])
        return steps, values, walls

    def last(self) -> tuple[int, float] | None:
        """The most recent (step, value)."""
        if len(self._raw_s):
            return int(self._raw_s[-1]), float(self._raw_v[-1])
        if len(self._head_s):
            return int(self._head_s[-1]), float(self._head_v[-1])
        return None

    def extremes(self) -> tuple[float, float]:
        """(min, max) over every finite point ever added (spikes in old history included)."""
        fin = self._raw_v[np.isfinite(self._raw_v)]
        lo = [float(fin.min())] if fin.size else []
        hi = [float(fin.max())] if fin.size else []
        for b in self.bins():
            if not math.isnan(b.vmin):
                lo.append(b.vmin)
                hi.append(b.vmax)
        head = self._head_v[np.isfinite(self._head_v)].tolist()
        lo += head
        hi += head
        return (min(lo), max(hi)) if lo else (math.nan, math.nan)


def _check_shape(window: int, bins: int) -> None:
    if window < 1 or bins < 2:
        raise ValueError("window >= 1 and bins >= 2 are required")
