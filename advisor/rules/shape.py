"""The shape of a loss curve, measured once and shared by the loss-shape rules.

Levels are medians over several points, trends are Mann-Kendall tests on binned medians, and
every quantity is relative: progress is the fraction of the initial loss removed, the late drop
is a fraction of the whole drop, flatness is judged against the curve's own noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor.signals import Curve, mann_kendall_z, median


@dataclass(frozen=True)
class Shape:
    v0: float  # initial level
    vend: float  # final level
    vmin: float  # minimum of the binned medians
    gain: float  # v0 - vmin
    progress: float  # fraction of the initial loss removed (v0 - vend) / |v0|
    z_all: float  # Mann-Kendall z over the whole curve (negative: falling)
    late_start: float  # step where the late window starts
    z_late: float  # Mann-Kendall z over the late window
    late_drop: float  # fall over the late window as a fraction of the total fall (v0 - vend)
    decel: float  # fall in the second half / fall in the first half (1: linear, ~0: converged)
    rel_noise: float  # binned noise relative to the final level
    n_bins: int

    @property
    def end_flat(self) -> bool:
        """No significant fall in the late window, and under 5% of the progress made there — or
        no downward tendency at all (then a level difference is noise)."""
        return self.z_late > -2.0 and (self.late_drop < 0.05 or self.z_late > -1.0)

    @property
    def still_falling(self) -> bool:
        return self.z_late < -2.6 and self.late_drop >= 0.05


def _level_at(c: Curve, lo: float, hi: float) -> float:
    m = (c.bsteps >= lo) & (c.bsteps <= hi)
    return median(c.bvals[m]) if m.any() else math.nan


def shape(c: Curve, late_frac: float = 0.25, min_late: int = 6) -> Shape | None:
    if c is None or c.n < 5:
        return None
    b = c.bvals
    nb = len(b)
    v0 = c.start()
    vend = c.end()
    vmin = float(b.min())
    scale = abs(v0) if v0 != 0 else max(abs(vend), 1e-12)
    progress = (v0 - vend) / scale
    k = min(max(int(math.ceil(late_frac * nb)), min_late), max(nb // 2, 2))
    late = b[-k:]
    late_start = float(c.bsteps[-k])
    z_late = mann_kendall_z(late)
    total_drop = v0 - vend
    # Fall over the late window: level just before it minus the final level.
    before = median(b[max(0, nb - k - max(2, k // 3)) : nb - k]) if nb - k > 0 else float(late[0])
    late_fall = before - vend
    late_drop = late_fall / total_drop if total_drop > 0 else (0.0 if late_fall <= 0 else 1.0)
    s0, s1 = float(c.steps[0]), float(c.steps[-1])
    mid = (s0 + s1) / 2
    l_mid = _level_at(c, mid - 0.05 * (s1 - s0), mid + 0.05 * (s1 - s0))
    if not math.isfinite(l_mid):
        l_mid = float(np.interp(mid, c.bsteps, b))
    first = v0 - l_mid
    second = l_mid - vend
    decel = second / first if first > 0 else (math.inf if second > 0 else 0.0)
    rel_noise = c.bnoise / abs(vend) if vend else math.inf
    return Shape(
        v0=v0,
        vend=vend,
        vmin=vmin,
        gain=v0 - vmin,
        progress=progress,
        z_all=mann_kendall_z(b),
        late_start=late_start,
        z_late=z_late,
        late_drop=late_drop,
        decel=decel,
        rel_noise=rel_noise,
        n_bins=nb,
    )
