import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor import signals as S


def test_first_nonfinite():
    assert S.first_nonfinite(np.array([1.0, 2.0])) is None
    assert S.first_nonfinite(np.array([1.0, np.inf, np.nan])) == 1
    assert S.first_nonfinite(np.array([])) is None


def test_robust_sigma_matches_gaussian_and_ignores_outliers():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2.0, 20000)
    assert S.robust_sigma(x) == pytest.approx(2.0, rel=0.05)
    x[:500] = 1e6
    assert S.robust_sigma(x) == pytest.approx(2.0, rel=0.1)


def test_diff_noise_ignores_trend():
    rng = np.random.default_rng(1)
    y = np.linspace(0, 100, 5000) + rng.normal(0, 0.5, 5000)
    assert S.diff_noise(y) == pytest.approx(0.5, rel=0.1)


def test_bin_medians_counts_and_order():
    steps = np.arange(1001)
    vals = steps * 2.0
    bs, bv, bc = S.bin_medians(steps, vals, 100)
    assert len(bs) <= 100 and bc.sum() == 1001
    assert np.all(np.diff(bs) > 0) and np.allclose(bv, bs * 2.0)


def test_bin_medians_short_passthrough():
    bs, bv, bc = S.bin_medians(np.arange(5), np.arange(5.0), 200)
    assert list(bv) == [0, 1, 2, 3, 4] and list(bc) == [1] * 5


def test_rolling_median_edges_and_outliers():
    y = np.array([1, 1, 100, 1, 1, 1.0])
    out = S.rolling_median(y, 3)
    assert out.shape == y.shape and out[2] == 1.0
    assert np.array_equal(S.rolling_median(np.array([]), 5), np.array([]))


def test_theil_sen_robust_slope():
    x = np.arange(100.0)
    y = 3 * x + 1
    y[::10] = 1e4
    assert S.theil_sen(x, y) == pytest.approx(3.0, rel=1e-6)
    assert S.theil_sen(np.array([1.0]), np.array([2.0])) == 0.0


def test_mann_kendall_signs_and_noise():
    assert S.mann_kendall_z(np.arange(50.0)) > 5
    assert S.mann_kendall_z(-np.arange(50.0)) < -5
    rng = np.random.default_rng(3)
    zs = [abs(S.mann_kendall_z(rng.normal(size=60))) for _ in range(200)]
    assert np.mean(np.array(zs) > 2.6) < 0.05  # about a 1% test


def test_best_changepoint_finds_step():
    y = np.r_[np.full(30, 5.0), np.full(20, 1.0)] + np.random.default_rng(0).normal(0, 0.1, 50)
    k, ratio = S.best_changepoint(y)
    assert k == 30 and ratio > 0.95


def test_flat_run_longest():
    y = np.r_[np.linspace(10, 5, 10), np.full(20, 5.0), np.linspace(5, 0, 10)]
    a, b = S.flat_run(y, 0.01)
    assert b - a >= 20 and np.ptp(y[a:b]) <= 0.01


def test_fold_strength_detects_period_not_noise():
    rng = np.random.default_rng(0)
    n, p = 1200, 50
    periodic = np.sin(2 * np.pi * np.arange(n) / p) + rng.normal(0, 0.2, n)
    noise = rng.normal(0, 1, n)
    assert S.fold_strength(S.detrend_moving_average(periodic, p), p) > 0.8
    assert S.fold_strength(S.detrend_moving_average(noise, p), p) < 0.15


def test_dominant_period():
    n, p = 2000, 40
    y = np.sin(2 * np.pi * np.arange(n) / p)
    lag, ac = S.dominant_period(y, 8, 200)
    assert lag == p and ac > 0.9


def test_make_curve_cuts_at_first_nonfinite():
    steps = np.arange(10)
    vals = np.arange(10.0)
    vals[6] = np.nan
    c = S.make_curve(steps, vals)
    assert c.n == 6 and c.nonfinite_step == 6 and c.end() == pytest.approx(4.5, abs=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=0, max_size=300))
def test_primitives_never_raise(values):
    y = np.array(values, dtype=float)
    steps = np.arange(len(y))
    c = S.make_curve(steps, y)
    finite = c.values
    for fn in (S.diff_noise, S.robust_sigma, S.mann_kendall_z, S.total_variation_ratio):
        fn(finite)
    S.rolling_median(finite, 5)
    S.flat_run(finite, 0.1)
    S.best_changepoint(finite)
    assert c.n + (c.nonfinite_step is not None) <= len(y) + 1


def test_fmt_and_pct():
    assert S.fmt(0.41234) == "0.412"
    assert "e" in S.fmt(3.1e-5)
    assert S.fmt(math.nan) == "nan"
    assert S.pct(0.38) == "38%"


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 60), st.integers(1, 40), st.integers(0, 10_000))
def test_rolling_median_matches_brute_force(n, w, seed):
    y = np.random.default_rng(seed).normal(size=n)
    ww = min(w, n)
    ww = ww - 1 if ww % 2 == 0 else ww
    h = ww // 2
    ref = np.array([np.median(y[max(0, i - h) : min(n, i + h + 1)]) for i in range(n)]) if ww > 1 else y
    assert np.allclose(S.rolling_median(y, w), ref)


def test_in_order_reads_a_run_of_evaluations_in_either_direction():
    from advisor.signals import in_order, make_curve

    up = make_curve(np.arange(8), np.linspace(1.0, 2.0, 8))
    assert in_order(up, rising=True, p_max=0.001) and not in_order(up, rising=False, p_max=0.001)
    down = make_curve(np.arange(8), np.linspace(2.0, 1.0, 8))
    assert in_order(down, rising=False, p_max=0.001)
    ends_off = make_curve(np.arange(8), np.r_[np.linspace(1.0, 2.0, 7), 1.9])  # not at its highest at the end
    assert not in_order(ends_off, rising=True, p_max=0.5)
    assert not in_order(make_curve(np.arange(5), np.linspace(1.0, 2.0, 5)), rising=True, p_max=0.5)  # under min_n
    assert not in_order(make_curve(np.arange(40), np.linspace(1.0, 2.0, 40)), rising=True, p_max=0.5)  # over 30
    assert not in_order(None, rising=True, p_max=0.5)


def test_percent_scale():
    from advisor.signals import percent_scale

    assert percent_scale(np.array([0.2, 0.9])) == 1.0 and percent_scale(np.array([20.0, 91.0])) == 100.0


def test_rolling_median_equals_the_median_of_each_shrinking_window():
    # the partition fast path and the NaN-padded edges against the definition, NaN included
    from advisor.signals import rolling_median

    rng = np.random.default_rng(7)
    for _ in range(400):
        n = int(rng.integers(1, 60))
        w = int(rng.integers(0, 25))
        y = rng.normal(size=n) * rng.choice([1.0, 1e-6, 1e6])
        if rng.random() < 0.3:
            y = np.round(y, 1)  # ties
        if rng.random() < 0.2:
            y[rng.integers(0, n)] = np.nan
        ww = max(1, min(w, n))
        ww -= 1 - ww % 2
        h = ww // 2
        want = np.array([np.median(y[max(0, i - h): i + h + 1]) if h <= i < n - h else
                         np.nanmedian(y[max(0, i - h): i + h + 1]) if np.isfinite(y[max(0, i - h): i + h + 1]).any() else np.nan
                         for i in range(n)]) if ww > 1 else y
        assert np.array_equal(rolling_median(y, w), want, equal_nan=True), (n, w)


def test_rising_p_goes_on_past_thirty_points_where_the_exact_test_stops():
    from advisor.signals import rising_p, rising_p_exact

    y = np.arange(40.0) + np.random.default_rng(0).normal(0, 2.0, 40)
    assert rising_p_exact(y) == 1.0  # by design: the exact distribution is built up to 30 points
    assert rising_p(y) < 1e-6 and rising_p(-y) > 0.99
    assert rising_p(y[:12]) == rising_p_exact(y[:12])
    flat = np.random.default_rng(1).normal(0, 1.0, 60)
    assert 0.01 < rising_p(flat) < 0.99
