"""Bounded history: raw recent window, downsampled older points, spikes and NaN never lost."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.live import Monitor, Reservoir


def fill(res: Reservoir, values, chunk: int = 50, start: int = 0) -> None:
    values = np.asarray(values, dtype=float)
    for i in range(0, len(values), chunk):
        v = values[i : i + chunk]
        s = np.arange(start + i, start + i + len(v))
        res.extend(s, v, s * 0.1)


def test_memory_is_bounded_on_a_very_long_run():
    res = Reservoir(window=256, bins=64, head=16)
    n = 400_000
    fill(res, np.linspace(5, 1, n), chunk=5000)
    assert res.total == n
    assert res.n_stored <= 16 + 256 + 2 * 64 + 2 + math.ceil(math.log2(res.width)) + 1
    steps, values, _ = res.points()
    assert np.all(np.diff(steps) > 0)
    assert steps[0] == 0 and steps[-1] == n - 1
    # the recent window is raw, the head is raw
    assert np.array_equal(steps[-256:], np.arange(n - 256, n))
    assert np.array_equal(steps[:16], np.arange(16))
    # the downsampled middle follows the curve
    assert np.all(np.diff(values) <= 1e-9)


def test_a_nan_in_old_history_keeps_its_step_and_a_spike_its_height():
    res = Reservoir(window=100, bins=16, head=4)
    v = np.ones(20_000)
    v[3_000] = math.nan
    v[7_777] = 1e6
    fill(res, v)
    steps, values, _ = res.points()
    bad = steps[~np.isfinite(values)]
    assert bad.tolist() == [3_000]
    lo, hi = res.extremes()
    assert hi == 1e6 and lo == 1.0
    assert any(b.vmax == 1e6 for b in res.bins())


def test_monitor_memory_stays_bounded():
    mon = Monitor(every=1000, on_finding=None, window=128, bins=32, head=8, budget=None)
    for step in range(60_000):
        mon.log(step, loss=1.0 / (1 + step))
    mon.run()
    assert sum(r.n_stored for r in mon.recorder.series.values()) < 128 + 64 + 8 + 20


#: A stream's values: finite, NaN and Inf, as a float32 logger could hand them over.
STREAMS = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=600)


def assert_every_point_kept(res: Reservoir, v: np.ndarray) -> None:
    """Every point counted once, exact extremes, steps in order, the first NaN/Inf at its own step."""
    assert res.n_raw + sum(b.count for b in res.bins()) == len(v) == res.total
    fin = v[np.isfinite(v)]
    lo, hi = res.extremes()
    if fin.size:
        assert lo == fin.min() and hi == fin.max()
    steps, vals, _ = res.points()
    assert np.all(np.diff(steps) > 0)
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:  # the first non-finite point is visible at its own step
        first = int(bad[0])
        assert first in steps.tolist()
        assert not np.isfinite(vals[steps.tolist().index(first)])


@settings(max_examples=60, deadline=None)
@given(STREAMS, st.integers(1, 40), st.integers(2, 8), st.integers(0, 5))
def test_bins_account_for_every_point(values, window, bins, head):
    res = Reservoir(window=window, bins=bins, head=head)
    fill(res, values, chunk=7)
    assert_every_point_kept(res, np.asarray(values, dtype=float))


@settings(max_examples=60, deadline=None)
@given(STREAMS, st.integers(1, 40), st.integers(2, 8), st.integers(1, 40), st.integers(2, 8), st.integers(0, 600))
def test_resizing_keeps_every_point_and_the_first_nan(values, window, bins, window2, bins2, cut):
    """A reservoir coarsened (or grown) mid-stream by the memory budget loses no point."""
    res = Reservoir(window=window, bins=bins, head=3)
    v = np.asarray(values, dtype=float)
    cut = min(cut, len(v))
    fill(res, v[:cut], chunk=7)
    res.resize(window2, bins2)
    fill(res, v[cut:], chunk=7, start=cut)
    assert_every_point_kept(res, v)
    assert len(res.bins()) <= 2 * bins2 + len(res._carry)


def test_points_stay_in_step_order_when_a_bins_nan_comes_before_its_mean_step():
    """Found by hypothesis: a bin's representative (its mean step) emitted after a later NaN's step."""
    res = Reservoir(window=1, bins=2, head=0)
    v = np.array([0, 0, 0, 0, 0, np.inf, 0, 0], dtype=float)
    fill(res, list(v), chunk=7)
    steps, vals, _ = res.points()
    assert np.all(np.diff(steps) > 0)
    assert 5 in steps.tolist() and np.isinf(vals[steps.tolist().index(5)])
