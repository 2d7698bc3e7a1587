"""Rule forms added for real runs a person read (benchmarks/readings): each on a curve shaped
like the run and on its healthy look-alike."""

from __future__ import annotations

import numpy as np

from advisor.io.roles import resolve
from advisor.model import Run, Series
from advisor.rules import BY_ID
from advisor.rules.base import Context
from advisor.workload import classify


def _ctx(curves: dict[str, tuple[np.ndarray, np.ndarray]], hparams=None) -> Context:
    series = {}
    for tag, (s, v) in curves.items():
        ser = Series.from_points(tag, np.asarray(s), np.asarray(v, float))
        series[ser.key] = ser
    run = Run("r", "/x/r", series, hparams=dict(hparams or {}))
    wl = classify(run)
    return Context(run, resolve(run, None, wl.kind, wl.roles), wl.kind)


def _detect(rid: str, ctx: Context):
    spec = BY_ID[rid]
    return spec.detect(ctx, spec.make_params())


# -- plateau on an RL run's evaluation reward ------------------------------------------------


def _ppo(eval_reward: np.ndarray, rollout: np.ndarray) -> Context:
    n = len(rollout)
    steps = np.arange(n) * 8192
    es = np.linspace(steps[0], steps[-1], len(eval_reward)).astype(int)
    return _ctx({
        "rollout/ep_rew_mean": (steps, rollout),
        "eval/mean_reward": (es, eval_reward),
        "train/entropy_loss": (steps, np.full(n, 1.5)),
        "train/value_loss": (steps, np.linspace(0.3, 0.01, n)),
        "train/learning_rate": (steps, np.full(n, 3e-5)),
    })


def test_plateau_reads_the_eval_reward_when_logged():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 200)
    ev = 80 + 730 * np.clip(t / 0.42, 0, 1) + rng.normal(0, 25, t.size)  # flat ~810 from 42%
    t2 = np.linspace(0, 1, 245)
    # the rolling training mean lags and has a late bump: alone it hides the stall
    ro = 50 + 480 * np.clip(t2 / 0.45, 0, 1) + 120 * np.exp(-((t2 - 0.85) / 0.04) ** 2) + rng.normal(0, 20, t2.size)
    got = _detect("plateau", _ppo(ev, ro))
    assert len(got) == 1 and got[0].evidence["form"] == "lasting" and got[0].severity.value == "info"
    assert 0.35 < 1 - got[0].evidence["plateau_fraction_of_run"] < 0.5
    assert "reward stopped improving" in got[0].summary


def test_plateau_quiet_while_the_eval_reward_still_rises():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 200)
    ev = 80 + 730 * np.sqrt(t) + rng.normal(0, 10, t.size)
    ro = 50 + 600 * np.sqrt(np.linspace(0, 1, 245))
    assert _detect("plateau", _ppo(ev, ro)) == []


# -- lr-decay-needed on a task metric that flattened while the loss still falls ---------------


def _detector(metric: np.ndarray, lr: np.ndarray) -> Context:
    n = len(metric)
    steps = np.arange(n)
    t = np.linspace(0, 1, n)
    loss = 0.05 + 0.17 * np.exp(-4 * t)  # still falling at the end
    return _ctx({
        "train/box_loss": (steps, loss),
        "val/box_loss": (steps, loss * 0.9),
        "metrics/mAP_0.5:0.95": (steps, metric),
        "x/lr0": (steps, lr),
    })


def _map(n: int, flat_from: float, seed: int) -> np.ndarray:
    t = np.linspace(0, 1, n)
    rng = np.random.default_rng(seed)
    return 0.58 * (1 - np.exp(-5 * np.clip(t / flat_from, 0, 1))) + rng.normal(0, 0.006, n)


def test_lr_decay_needed_on_a_flattened_task_metric():
    n = 400
    got = _detect("lr-decay-needed", _detector(_map(n, 0.6, 0), np.linspace(0.0094, 0.0090, n)))
    assert len(got) == 1
    f = got[0]
    assert f.evidence["signal"] == "metrics/mAP_0.5:0.95" and "metrics/mAP_0.5:0.95" in f.summary
    assert f.evidence["flat_fraction_of_run"] >= 0.3 and f.evidence["late_fraction_of_gain"] <= 0.05


def test_lr_decay_needed_quiet_while_the_metric_rises_or_the_rate_decays():
    n = 400
    t = np.linspace(0, 1, n)
    rising = 0.6 * np.sqrt(t) + np.random.default_rng(2).normal(0, 0.006, n)
    assert _detect("lr-decay-needed", _detector(rising, np.full(n, 0.01))) == []
    cosine = 0.01 * 0.5 * (1 + np.cos(np.pi * t)) + 1e-5  # the rate is being decayed already
    assert _detect("lr-decay-needed", _detector(_map(n, 0.6, 3), cosine)) == []


# -- oscillation: a loss that keeps blowing up from the floor it reached ----------------------


def _sup(loss: np.ndarray) -> Context:
    n = len(loss)
    return _ctx({"train/epoch_loss": (np.arange(n), loss), "validation/epoch_loss": (np.arange(n), loss * 1.07)})


def _spiky(n: int, seed: int) -> np.ndarray:
    """Falls to a floor of ~7e-5 within the first tenth, then blows up 100-5000x every 20-40
    epochs and recovers (an LSTM under Adam at 3x its sibling's rate)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = 7e-5 + 0.48 * np.exp(-t / 60.0)
    y = base * np.exp(rng.normal(0, 0.05, n))
    i = n // 5  # calm on its floor first
    while i < n:
        width = int(rng.integers(15, 30))
        y[i : i + width] *= 10 ** (rng.uniform(2, 3.7) * np.exp(-np.arange(width)[: n - i] / 15.0))
        i += width + int(rng.integers(5, 15))
    return y


def test_oscillation_sees_a_loss_that_keeps_blowing_up_from_its_floor():
    got = _detect("oscillation", _sup(_spiky(4000, 0)))
    assert len(got) == 1 and got[0].evidence["form"] == "spikes"
    ev = got[0].evidence
    assert ev["spike_episodes"] >= 3 and ev["median_over_floor"] >= 3 and ev["max_over_floor"] >= 100
    assert got[0].remedies[0].action == "scale_lr" and got[0].remedies[0].params["factor"] < 1


def test_oscillation_spike_form_quiet_on_healthy_heavy_tailed_losses():
    rng = np.random.default_rng(4)
    n = 4000
    t = np.arange(n)
    # per-batch cross-entropy of a model that memorised its data: mostly ~1e-3, a hard batch now and then
    memorised = (1e-3 + 2.0 * np.exp(-t / 200.0)) * np.exp(rng.normal(0, 0.4, n))
    memorised[rng.random(n) < 0.04] *= 50
    assert _detect("oscillation", _sup(memorised)) == []
    # a loss still falling by decades: the floor is where it ends, not a level it left
    falling = 0.5 * np.exp(-t / 500.0) * np.exp(rng.normal(0, 0.3, n)) + 1e-7
    assert _detect("oscillation", _sup(falling)) == []


def test_the_new_forms_summaries_agree_with_their_numbers():
    from tests.test_summaries import contradictions

    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 200)
    ev = 80 + 730 * np.clip(t / 0.42, 0, 1) - 160 * (t > 0.6) + rng.normal(0, 25, t.size)  # ends below its stall
    out = _detect("plateau", _ppo(ev, 50 + 480 * np.clip(np.linspace(0, 1, 245) / 0.45, 0, 1)))
    out += _detect("lr-decay-needed", _detector(_map(400, 0.6, 0), np.full(400, 0.0094)))
    out += _detect("oscillation", _sup(_spiky(4000, 1)))
    assert {f.condition for f in out} == {"plateau", "lr-decay-needed", "oscillation"}
    assert "never went beyond it" in [f for f in out if f.condition == "plateau"][0].summary
    for f in out:
        assert contradictions(f.summary) == [], f.summary
