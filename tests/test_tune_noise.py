"""The noise pathologies (issue 17): a remedy that takes the condition out of every seed while
the baseline's metric spreads too widely from seed to seed for a t-test over five seeds.

The per-seed final losses are the ones the torch batch-size-1 recipe gave (batch 1, SGD 0.05:
0.13 to 0.76; batch 32: 0.10 to 0.12). Welch's test cannot accept that at its level (p 0.025
at five a side); Fisher's exact test on the condition (in 5/5 baseline seeds, 0/5 candidate
seeds: p 1/252) can, at its share of alpha, with the gain significant by Welch's test alone (p <= 0.05).
"""

import math
import types

import numpy as np
import pytest

from advisor.io.writer import EventWriter
from advisor.model import Severity
from advisor.tune import load_trainer, tune
from advisor.tune.sequential import condition_share, decide, fisher_p

BATCH1 = [0.7615, 0.1325, 0.2381, 0.6671, 0.1650, 0.30, 0.50]
BATCH32 = [0.1232, 0.1098, 0.1032, 0.1098, 0.1150, 0.11, 0.12]


@pytest.fixture(autouse=True)
def _no_training_cache(monkeypatch):
    monkeypatch.setenv("ADVISOR_CACHE", "off")


def test_condition_share_is_the_chance_of_a_clean_split():
    assert condition_share(5, 4) == pytest.approx(1 / 252)
    assert condition_share(6, 5) == pytest.approx(1 / 924)
    assert condition_share(4, 3) == 0.0 and condition_share(2, 1) == 0.0  # 1/70, 1/6: above an equal share, left out


def test_fisher_p_is_the_hypergeometric_tail():
    assert fisher_p(5, 5, 0, 5) == pytest.approx(1 / 252)
    assert fisher_p(2, 2, 0, 2) == pytest.approx(1 / 6)
    assert fisher_p(4, 5, 1, 5) == pytest.approx((math.comb(5, 1) * math.comb(5, 4) + 1) / 252)
    assert fisher_p(3, 5, 3, 5) > 0.5 and fisher_p(0, 5, 0, 5) == 1.0


def test_condition_test_accepts_at_the_last_look_only():
    b, a = BATCH1[:5], BATCH32[:5]
    without = decide(b, a, True, looks=4, last=True)
    assert without.state == "reject" and without.p_value > without.level  # Welch alone: no
    d = decide(b, a, True, looks=4, last=True, present=(5, 0), max_seeds=5)
    assert d.accepted and d.p_value == pytest.approx(1 / 252) and "Fisher" in d.reason
    assert d.level == pytest.approx((0.05 - 1 / 252) / 4)  # the Welch looks share what the condition test leaves
    assert decide(b[:4], a[:4], True, looks=4, last=False, present=(4, 0), max_seeds=5).state == "open"  # not yet the last look
    assert not decide(b, a, True, looks=4, last=True, present=(5, 1), max_seeds=5).accepted  # one candidate seed keeps it: p 0.02
    assert not decide(b, a, True, looks=4, last=True, present=(5, 0)).accepted  # no max_seeds: no condition test
    small = [0.1716, 0.1837, 0.1848, 0.1696, 0.1699], [0.1706, 0.1704, 0.1685, 0.1681, 0.1685]  # jax exploding-rnn, cosine
    assert not decide(*small, True, looks=4, last=True, present=(5, 0), max_seeds=5).accepted  # clean split, Welch p 0.06 > 0.05
    worse = decide(a, b, True, looks=4, last=True, present=(5, 0), max_seeds=5)  # the condition gone but the metric worse
    assert worse.state == "reject"


def test_futility_waits_while_the_condition_split_is_clean():
    b, a = [0.50, 0.30, 0.52], [0.45, 0.33, 0.50]  # a small gain, Welch p well above 0.25 at 3 seeds
    assert decide(b, a, True, looks=4, last=False).state == "reject"
    assert decide(b, a, True, looks=4, last=False, present=(3, 0), max_seeds=5).state == "open"
    assert decide(b, a, True, looks=4, last=False, present=(3, 1), max_seeds=5).state == "reject"


def _train(config, logdir, seed):
    """Batch 1: a train loss buried in step noise and a final val loss that is a lottery over
    seeds; batch 32: the same fall, smooth, and a steady final loss."""
    rng = np.random.default_rng(seed)
    small = int(config["batch_size"]) < 8
    n = 600
    t = np.arange(n) / n
    level = 0.2 + 2.1 * np.exp(-8 * t)
    train = level * rng.exponential(1.0, n) if small else level + rng.normal(0, 0.01, n)  # one example's loss: spread as wide as its level
    lr = 0.05 * 0.5 * (1 + np.cos(np.pi * t))  # a decaying rate: no lr-decay-needed here
    with EventWriter(logdir) as w:
        w.add_hparams({"batch_size": int(config["batch_size"]), "lr": 0.05})
        for i in range(n):
            w.add_scalars({"train/loss": train[i], "train/lr": lr[i]}, i, wall_time=1.7e9 + i)
            if i % 20 == 19:
                w.add_scalar("val/loss", 0.3 + 2.0 * np.exp(-8 * t[i]), i, wall_time=1.7e9 + i)
    final = (BATCH1 if small else BATCH32)[seed % len(BATCH1)]
    return {"final_val_loss": final, "best_val_loss": final, "steps": n}


def _apply(config, remedy):
    c = dict(config)
    if remedy["action"] == "batch_size":
        c["batch_size"] = int(remedy["params"]["value"])
    return c


NOISY_BATCH = types.SimpleNamespace(train=_train, apply=_apply, load_config=lambda p: {"batch_size": 1})


def test_a_larger_batch_is_verified_by_the_condition_test(tmp_path):
    r = tune(load_trainer("tests.test_tune_noise:NOISY_BATCH"), {"batch_size": 1}, out=str(tmp_path / "o"), rounds=1, workers=1, target=Severity.INFO, early_stop=False)
    first = r.attempts[0]
    assert first["condition"] == "gradient-noise" and first["applied"]["action"] == "batch_size"
    assert first["seeds"] == 5 and "Fisher" in first["decision"]
    assert first["verified"] and first["gone_in_seeds"] == 5
    assert r.final_config["batch_size"] >= 32 and r.verified


def test_a_crashed_run_counts_as_showing_the_condition():
    from advisor.tune.verify import shows

    f = {"condition": "gradient-noise", "severity": "info", "confidence": 0.9, "summary": "", "evidence": {}, "remedies": []}
    recs = [{"ok": True, "findings": [f]}, {"ok": True, "findings": []}, {"ok": False, "findings": []}]
    assert shows(recs, "gradient-noise") == 2  # a crash shows no finding, but is not cured
    assert shows(recs, "lr-decay-needed") == 1
