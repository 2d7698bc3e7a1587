"""The shared schedule, batch plan and tasks (framework-free)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.config import DataConfig, ScheduleConfig
from backends.loop import BatchPlan
from backends.schedule import Schedule
from backends.tasks import SPECS, build


def test_cosine_reaches_its_floor_at_the_horizon():
    s = Schedule(ScheduleConfig(kind="cosine", horizon=100, min_lr=1e-4), 0.1, run_steps=400)
    lrs = s.lrs(0, 400)
    assert lrs[0] == pytest.approx(0.1)
    assert np.all(np.diff(lrs[:101]) <= 0)
    assert lrs[99] > 1e-4 and np.allclose(lrs[100:], 1e-4)


def test_horizon_defaults_to_the_run():
    s = Schedule(ScheduleConfig(kind="cosine"), 0.1, run_steps=50)
    lrs = s.lrs(0, 60)
    assert lrs[49] > 0 and lrs[50] == 0


def test_warmup_ramps_linearly_then_hands_over():
    s = Schedule(ScheduleConfig(kind="constant", warmup=10), 0.1, run_steps=100)
    lrs = s.lrs(0, 20)
    assert np.allclose(lrs[:10], 0.1 * np.arange(1, 11) / 10) and np.allclose(lrs[10:], 0.1)


def test_step_and_exponential():
    s = Schedule(ScheduleConfig(kind="step", milestones=(10, 20), gamma=0.5), 1.0, 30)
    assert [s.lr(9), s.lr(10), s.lr(20)] == [1.0, 0.5, 0.25]
    frac = Schedule(ScheduleConfig(kind="step", milestones=(0.5,), gamma=0.1), 1.0, 40)
    assert frac.lr(19) == 1.0 and frac.lr(20) == pytest.approx(0.1)
    e = Schedule(ScheduleConfig(kind="exponential", horizon=50, min_lr=0.01, gamma=1.0), 1.0, 100)
    assert e.lr(50) == pytest.approx(0.01) and e.lr(99) == pytest.approx(0.01)


def test_plateau_reduces_after_patience():
    s = Schedule(ScheduleConfig(kind="plateau", patience=2, factor=0.5), 1.0, 100)
    assert not s.observe(1.0)
    assert [s.observe(1.0) for _ in range(3)] == [False, False, True]
    assert s.lr(0) == 0.5


def test_batch_plan_shuffles_per_epoch_or_keeps_order():
    p = BatchPlan(40, 10, shuffle=True, seed=0)
    a, b = p.indices(1, 4, 4), p.indices(5, 4, 4)
    assert sorted(a.ravel()) == list(range(40)) and not np.array_equal(a, b)
    assert not np.array_equal(a.ravel(), np.arange(40))
    assert np.array_equal(BatchPlan(40, 10, shuffle=True, seed=0).indices(1, 4, 4), a)  # deterministic
    fixed = BatchPlan(40, 10, shuffle=False, seed=0)
    assert np.array_equal(fixed.indices(1, 4, 4).ravel(), np.arange(40))
    assert np.array_equal(fixed.indices(5, 4, 4), fixed.indices(1, 4, 4))


@pytest.mark.parametrize("task", sorted(SPECS))
def test_tasks_are_deterministic_and_split_as_asked(task):
    d = DataConfig(task=task, n_train=100, n_val=30, n_test=20)
    a, b = build(d), build(d)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (100, 30, 20)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    assert a.x_train.dtype == np.float32 and np.isfinite(a.x_train).all()


def test_pipeline_faults_and_sanitize():
    d = DataConfig(task="digits", n_train=300, n_val=100, n_test=100)
    clean = build(d)
    srt = build(DataConfig(**{**d.__dict__, "sort_by_class": True}))
    assert np.all(np.diff(srt.y_train) >= 0)
    shuf = build(DataConfig(**{**d.__dict__, "shuffle_labels": True}))
    assert np.array_equal(np.sort(shuf.y_train), np.sort(clean.y_train)) and (shuf.y_train != clean.y_train).mean() > 0.5
    assert np.array_equal(shuf.y_val, clean.y_val)  # only the training pipeline is broken
    noisy = build(DataConfig(**{**d.__dict__, "label_noise": 0.5}))
    assert 0.3 < (noisy.y_train != clean.y_train).mean() < 0.6
    big = build(DataConfig(**{**d.__dict__, "input_scale": 1000.0}))
    assert big.x_train.max() == pytest.approx(1000.0)
    fixed = build(DataConfig(**{**d.__dict__, "input_scale": 1000.0, "sanitize": True}))
    assert abs(fixed.x_train.mean()) < 1e-3 and fixed.x_train.std() == pytest.approx(1.0, abs=0.2)
