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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
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
        n = self.count + newer.count
        a, b = self.value, newer.value
        if math.isnan(a):
            value = b
        elif math.isnan(b):
            value = a
        else:
            value = (a * self.count + b * newer.count) / n
        return Bin(
            count=n,
            step_lo=self.step_lo,
            step_hi=newer.step_hi,
            step_mean=(self.step_mean * self.count + newer.step_mean * newer.count) / n,
            value=value,
            vmin=_nanfn(min, self.vmin, newer.vmin),
            vmax=_nanfn(max, self.vmax, newer.vmax),
            wall=newer.wall,
            bad_step=self.bad_step if self.bad_step is not None else newer.bad_step,
            bad_value=self.bad_value if self.bad_step is not None else newer.bad_value,
        )


def _nanfn(fn, a: float, b: float) -> float:
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return fn(a, b)


class Reservoir:
    """History of one stream in O(head + window + bins) memory; see the module docstring."""

    def __init__(self, window: int = 1024, bins: int = 512, head: int = 32) -> None:
        if window < 1 or bins < 2 or head < 0:
            raise ValueError("window >= 1, bins >= 2 and head >= 0 are required")
        self.window, self.max_bins, self.head = int(window), int(bins), int(head)
        self.width = 1  # points per closed bin
        self._head: list[tuple[int, float, float]] = []
        self._raw_s = np.empty(0, dtype=np.int64)
        self._raw_v = np.empty(0, dtype=np.float64)
        self._raw_w = np.empty(0, dtype=np.float64)
        self._closed: list[Bin] = []
        self._carry: list[Bin | None] = []  # carry[k]: a partial bin of 2**k points, or None
        self.total = 0  # points ever added

    def __len__(self) -> int:
        return self.total

    @property
    def n_stored(self) -> int:
        """How many summaries are held (the memory bound this class guarantees)."""
        return len(self._head) + len(self._raw_s) + len(self._closed) + sum(c is not None for c in self._carry)

    def extend(self, steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> None:
        """Append points in write order."""
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        walls = np.asarray(walls, dtype=np.float64).reshape(-1)
        n = len(steps)
        if n == 0:
            return
        self.total += n
        k = min(max(self.head - len(self._head), 0), n)
        if k:
            self._head.extend(zip(steps[:k].tolist(), values[:k].tolist(), walls[:k].tolist()))
            steps, values, walls = steps[k:], values[k:], walls[k:]
        if not len(steps):
            return
        self._raw_s = np.concatenate([self._raw_s, steps])
        self._raw_v = np.concatenate([self._raw_v, values])
        self._raw_w = np.concatenate([self._raw_w, walls])
        over = len(self._raw_s) - self.window
        if over > 0:
            for s, v, w in zip(self._raw_s[:over].tolist(), self._raw_v[:over].tolist(), self._raw_w[:over].tolist()):
                self._push(Bin.point(s, v, w))
            self._raw_s, self._raw_v, self._raw_w = self._raw_s[over:], self._raw_v[over:], self._raw_w[over:]

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
        if len(self._closed) > 2 * self.max_bins:
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
        for hs, hv, hw in self._head:
            s.append(hs)
            v.append(hv)
            w.append(hw)
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
        steps = np.concatenate([np.asarray(s, dtype=np.int64), self._raw_s])
        values = np.concatenate([np.asarray(v, dtype=np.float64), self._raw_v])
        walls = np.concatenate([np.asarray(w, dtype=np.float64), self._raw_w])
        return steps, values, walls

    def last(self) -> tuple[int, float] | None:
        """The most recent (step, value)."""
        if len(self._raw_s):
            return int(self._raw_s[-1]), float(self._raw_v[-1])
        if self._head:
            return self._head[-1][0], self._head[-1][1]
        return None

    def extremes(self) -> tuple[float, float]:
        """(min, max) over every finite point ever added (spikes in old history included)."""
        parts = [x for _, x, _ in self._head if math.isfinite(x)]
        fin = self._raw_v[np.isfinite(self._raw_v)]
        lo = [float(fin.min())] if fin.size else []
        hi = [float(fin.max())] if fin.size else []
        for b in self.bins():
            if not math.isnan(b.vmin):
                lo.append(b.vmin)
                hi.append(b.vmax)
        lo += parts
        hi += parts
        return (min(lo), max(hi)) if lo else (math.nan, math.nan)
