"""The RL and GAN rules: the contract battery on their own streams, and each trigger on curves
shaped like the condition and like its look-alikes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from advisor.io.roles import resolve
from advisor.model import Finding, Run, Series
from advisor.rules import BY_ID
from advisor.rules.base import Context
from advisor.workload import classify
from tests.test_rules_contract import BATTERY

RL_TAGS = ("rollout/ep_rew_mean", "train/entropy_loss", "train/value_loss", "train/policy_gradient_loss", "train/approx_kl", "train/learning_rate")
GAN_TAGS = ("G_loss", "D_loss")
RL_RULES = ("no-learning", "entropy-collapse", "reward-collapse", "non-finite", "still-improving", "plateau")
GAN_RULES = ("discriminator-overpowering", "non-finite")


def _ctx(tags, make, hparams=None) -> tuple[Run, Context]:
    series = {}
    for tag in tags:
        s, v = make(tag)
        ser = Series.from_points(tag, s, v)
        series[ser.key] = ser
    run = Run("r", "/x/r", series, hparams=dict(hparams or {}))
    wl = classify(run)
    return run, Context(run, resolve(run, None, wl.kind, wl.roles), wl.kind)


@pytest.mark.parametrize("case", list(BATTERY))
@pytest.mark.parametrize("tags,rules", [(RL_TAGS, RL_RULES), (GAN_TAGS, GAN_RULES)], ids=["rl", "gan"])
def test_battery(tags, rules, case):
    run, ctx = _ctx(tags, BATTERY[case])
    before = {k: s.values.copy() for k, s in run.series.items()}
    for rid in rules:
        spec = BY_ID[rid]
        out1 = spec.detect(ctx, spec.make_params())
        out2 = spec.detect(Context(run, ctx.signals, ctx.workload), spec.make_params())
        assert [f.to_dict() for f in out1] == [f.to_dict() for f in out2]
        for f in out1:
            assert isinstance(f, Finding) and f.condition == rid and f.summary and 0 <= f.confidence <= 1
            f.to_dict()
    for k, s in run.series.items():
        assert np.array_equal(s.values, before[k], equal_nan=True)


def _rl(reward, entropy, n=None, lr=None, kl=None, value_loss=None, hparams=None):
    n = len(reward)
    vals = {"rollout/ep_rew_mean": np.asarray(reward, float), "train/entropy_loss": -np.asarray(entropy, float),
            "train/value_loss": np.ones(n) if value_loss is None else value_loss, "train/learning_rate": np.full(n, 3e-4) if lr is None else lr}
    if kl is not None:
        vals["train/approx_kl"] = kl
    return _ctx(tuple(vals), lambda tag: (np.arange(n) * 2048, vals[tag]), hparams)[1]


def _detect(rid, ctx):
    spec = BY_ID[rid]
    return spec.detect(ctx, spec.make_params())


T = np.linspace(0, 1, 120)
NOISE = np.random.default_rng(0).normal(0, 1, 120)


def test_entropy_collapse_premature_warns_with_remedies():
    ctx = _rl(20 - 10 * np.minimum(T * 5, 1) + NOISE, 0.69 * np.exp(-T * 40) + 1e-4, hparams={"ent_coef": 0.0},
              kl=np.r_[np.full(10, 0.3), np.full(110, 0.001)])
    (f,) = _detect("entropy-collapse", ctx)
    assert f.severity.value == "warning" and f.evidence["collapse_fraction"] < 0.2
    assert f.remedies[0].action == "entropy_coef" and "is 0" in f.remedies[0].rationale
    assert f.remedies[1].action == "scale_lr" and f.remedies[1].params["factor"] == 0.1


def test_entropy_converged_after_learning_is_at_most_info():
    ctx = _rl(20 + 180 * np.minimum(T * 4, 1) + NOISE, 0.69 * np.exp(-T * 20) + 1e-4)
    fs = _detect("entropy-collapse", ctx)
    assert all(f.severity.value == "info" for f in fs)


def test_entropy_slow_decay_or_continuous_is_silent():
    assert _detect("entropy-collapse", _rl(20 + NOISE, 0.69 - 0.4 * T)) == []
    # a Gaussian policy's differential entropy crosses zero: no floor, no collapse
    assert _detect("entropy-collapse", _rl(20 + NOISE, 1.4 - 3 * T)) == []


def test_reward_collapse_with_a_logged_lr_jump():
    reward = np.where(T < 0.45, 20 + 160 * np.minimum(T * 4, 1), 9.0) + NOISE
    lr = np.where(T < 0.4, 3e-3, 0.9)
    (f,) = _detect("reward-collapse", _rl(reward, np.full(120, 0.5), lr=lr))
    acts = {r.action: r.params for r in f.remedies}
    assert acts["early_stop"]["restore_best"] and acts["early_stop"]["step"] == f.evidence["best_step"]
    assert acts["scale_lr"]["factor"] <= 0.01 and f.evidence["lr_rise"] == pytest.approx(300)


def test_reward_dip_that_recovers_or_noise_is_silent():
    dip = 20 + 160 * np.minimum(T * 4, 1) - 120 * ((T > 0.5) & (T < 0.7)) + 3 * NOISE
    assert _detect("reward-collapse", _rl(dip, np.full(120, 0.5))) == []
    assert _detect("reward-collapse", _rl(20 + 5 * NOISE, np.full(120, 0.5))) == []


def test_rl_no_learning_needs_a_random_policy_or_a_reward_that_never_paid():
    assert _detect("no-learning", _rl(20 + NOISE, np.full(120, math.log(3))))[0].evidence["uniform_actions"] == 3
    assert _detect("no-learning", _rl(20 + NOISE, 1.0 - 0.9 * T)) == []  # the policy changed
    (never,) = _detect("no-learning", _rl(np.zeros(120), 0.69 - 0.4 * T))  # no episode paid anything
    assert never.severity.value == "critical" and any("never" in r.params.get("what", "") for r in never.remedies)
    tiny = _rl(20 + NOISE, np.full(120, 0.69), kl=np.zeros(120), hparams={"learning_rate": 1e-7})
    acts = [r.action for r in _detect("no-learning", tiny)[0].remedies]
    assert acts == ["check_data", "scale_lr"]


def test_rl_reward_still_rising_at_the_end_is_still_improving_and_not_no_learning():
    # a Reacher cut off mid-climb: -61 -> -43, its best at the end, half its gain in the last
    # quarter — 28% of the start's magnitude, under the 30% that no-learning calls "flat"
    reward = -61 + 18 * np.clip((T - 0.5) / 0.5, 0, 1) ** 1.2 + 0.3 * NOISE
    ctx = _rl(reward, 1.4 - 2.5 * T)  # a Gaussian policy's entropy: no floor
    (f,) = _detect("still-improving", ctx)
    assert f.evidence["signal"] == "reward" and f.evidence["late_fraction_of_gain"] > 0.3
    assert f.remedies[0].action == "train_longer"
    assert _detect("no-learning", ctx) == []


def test_rl_reward_at_its_ceiling_or_converged_is_not_still_improving():
    # CartPole: the episode mean creeps to 500 early in the last quarter and sits there
    capped = np.minimum(16 + 560 * T, 500.0)
    assert _detect("still-improving", _rl(capped, 0.69 - 0.4 * T)) == []
    # a policy that converged: the last quarter adds a hair of the gain
    assert _detect("still-improving", _rl(-61 + 57 * (1 - np.exp(-T * 8)) + 0.2 * NOISE, 0.69 - 0.4 * T)) == []
    # the losses of an RL run are never read as a still-falling train loss
    ctx = _rl(20 + NOISE, np.full(120, 0.5), value_loss=np.linspace(10, 1, 120))
    assert _detect("still-improving", ctx) == []


def _gan(d, g, hparams=None):
    vals = {"D_loss": np.asarray(d, float), "G_loss": np.asarray(g, float)}
    return _ctx(tuple(vals), lambda tag: (np.arange(len(vals[tag])) * 10, vals[tag]), hparams)[1]


def test_discriminator_overpowering():
    d = np.r_[1.38, 0.3, np.full(118, 0.02)]
    g = np.r_[0.69, 2.0, np.linspace(3, 8, 118)]
    (f,) = _detect("discriminator-overpowering", _gan(d, g, {"d_lr": 2e-3, "g_lr": 2e-4, "n_critic": 3}))
    assert "from 0.002 to 0.0002" in f.remedies[0].params["what"] and "instead of 3" in f.remedies[0].params["what"]
    assert f.remedies[0].kind == "manual"


def test_balanced_or_wasserstein_gans_are_silent():
    swing = 1.3 + 0.3 * np.sin(np.arange(120) / 2)
    assert _detect("discriminator-overpowering", _gan(swing, 0.8 + 0.4 * np.cos(np.arange(120) / 2))) == []
    assert _detect("discriminator-overpowering", _gan(-np.linspace(0.1, 5, 120), np.linspace(0.1, 5, 120))) == []


def test_entropy_collapsed_to_exact_zero_is_read_with_the_right_sign():
    # SB3 logs -entropy: a stream that sits at ~0 after the first point has a median of either sign
    ent = np.r_[0.11, np.full(119, 2.4e-7)]
    ctx = _rl(0.5 + 0.01 * NOISE, ent)
    (f,) = _detect("entropy-collapse", ctx)
    assert f.evidence["negated"] is True and f.evidence["collapse_fraction"] < 0.05


def test_late_total_collapse_that_costs_reward_warns_but_late_convergence_does_not():
    reward = np.where(T < 0.6, 10 * np.minimum(T * 3, 1), 2.0) + 0.1 * NOISE
    ent = np.where(T < 0.6, 1.1 * (1 - T), 1e-6)
    (f,) = _detect("entropy-collapse", _rl(reward, ent))
    assert f.severity.value == "warning" and f.evidence["late_degenerate"] is True
    # the same late collapse after which the agent keeps its reward: converged, not flagged late
    assert _detect("entropy-collapse", _rl(10 * np.minimum(T * 3, 1) + 0.1 * NOISE, ent)) == []


def test_late_collapse_counts_when_nothing_was_learned_or_episodes_stop_completing():
    # the reward never left its start (a sparse 0, a few stray episodes): a collapse at 60% is premature too
    sparse = np.where(np.random.default_rng(2).random(120) < 0.15, 0.02 * np.sign(NOISE), 0.0)
    ent = np.where(T < 0.6, 1.1 * (1 - T), 1e-3)
    (f,) = _detect("entropy-collapse", _rl(sparse, ent))
    assert f.severity.value == "warning" and "premature" in f.summary and "late_degenerate" not in f.evidence
    (nl,) = _detect("no-learning", _rl(sparse, ent))  # every bin's median reward is exactly 0
    assert nl.severity.value == "critical" and "almost every episode" in nl.remedies[0].params["what"]
    # a reward that rose (even by a little more than noise) and kept it: a converged policy, silent
    assert _detect("entropy-collapse", _rl(10 * np.minimum(T * 3, 1) + 0.1 * NOISE, ent)) == []
    assert _detect("no-learning", _rl(0.02 * NOISE, ent)) == []  # a noisy reward is not one number
    assert _detect("no-learning", _rl(0.5 + sparse, ent)) == []  # a near reward paid every episode is a payoff
    # the reward stream ends at the collapse while the entropy is logged for the rest: no episode ends any more
    n, m = 15, 12
    vals = {"Environment/Cumulative Reward": 0.63 + 0.35 * np.minimum(np.arange(m) / 2, 1), "Policy/Entropy": np.r_[1.95 * np.exp(-np.arange(11) / 4), 0.01, 8e-4, 5e-4, 4e-4],
            "Losses/Value Loss": np.full(n, 0.01), "Losses/Policy Loss": np.full(n, 0.24)}
    ctx = _ctx(tuple(vals), lambda tag: (2000 + 2000 * np.arange(len(vals[tag])), vals[tag]))[1]
    (late,) = _detect("entropy-collapse", ctx)
    assert late.evidence["late_degenerate"] is True and late.evidence["collapse_step"] == 24000


def test_an_absurd_learning_rate_is_the_first_remedy_of_a_collapse():
    ent = np.r_[0.11, np.full(119, 2.4e-7)]
    (f,) = _detect("entropy-collapse", _rl(0.5 + 0.01 * NOISE, ent, lr=np.linspace(0.99, 0.01, 120)))
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] <= 1e-3 and "0.99" in f.remedies[0].rationale
    (g,) = _detect("entropy-collapse", _rl(0.5 + 0.01 * NOISE, ent))  # at 3e-4 the entropy bonus comes first
    assert [r.action for r in g.remedies[:2]] == ["entropy_coef", "scale_lr"] and g.remedies[1].params["factor"] == 0.3


def test_rl_plateau_reads_the_reward_never_the_losses():
    reward = 100 * np.minimum(T * 5, 1) + 3 * NOISE  # solved by a fifth of the run, flat after
    (f,) = _detect("plateau", _rl(reward, 0.69 - 0.3 * T, value_loss=1 + 50 * T))
    assert f.severity.value == "info" and f.evidence["signal"] == "reward"
    assert f.evidence["plateau_fraction_of_run"] >= 0.7 and f.evidence["plateau_level"] > 90
    assert _detect("plateau", _rl(100 * T + 3 * NOISE, 0.69 - 0.3 * T)) == []  # still rising


@pytest.mark.parametrize("stream", ["reward", "entropy", "value_loss"])
def test_non_finite_on_rl_streams_is_critical(stream):
    reward, ent, vl = 10 * T + NOISE, 0.69 - 0.3 * T, 1 + T
    bad = {"reward": reward, "entropy": ent, "value_loss": vl}[stream].copy()
    bad[80:] = np.nan
    kw = {"reward": reward, "entropy": ent, "value_loss": vl, stream: bad}
    (f,) = _detect("non-finite", _rl(kw["reward"], kw["entropy"], value_loss=kw["value_loss"]))
    assert f.severity.value == "critical" and f.evidence["first_nonfinite_step"] == 80 * 2048


def test_discriminator_that_won_before_the_first_log_is_found_from_the_levels():
    rng = np.random.default_rng(1)
    d = np.abs(rng.normal(0.05, 0.1, 20))  # ~0 from the first point (a resumed run)
    g = 8 + 4 * np.abs(rng.normal(0, 1, 20))  # high, no trend
    (f,) = _detect("discriminator-overpowering", _gan(d, g))
    assert f.evidence["form"] == "won-from-start" and f.evidence["g_min"] >= 2.5
    # a balanced game at the same scale of noise: silent
    assert _detect("discriminator-overpowering", _gan(0.7 + 0.1 * rng.normal(size=20), 1.2 + 0.3 * rng.normal(size=20))) == []


def test_rl_no_learning_when_the_reward_only_fell_under_a_policy_as_random_as_it_began():
    # PPO on HalfCheetah (extra16): the reward sat near 0.02, fell to -0.18 and stayed, while the
    # Gaussian policy's entropy stayed at 6.0-6.2 — it never did better than its random start
    fell = 0.02 - 0.2 * np.minimum(T * 4, 1) + 0.02 * NOISE
    (nl,) = _detect("no-learning", _rl(fell, np.full(120, 6.2) - 0.1 * T))
    assert nl.severity.value == "critical" and "never rose above its initial level" in nl.summary
    assert "uniform" not in nl.summary and nl.evidence.get("uniform_actions") is None  # 6.2 is no ln k of a count
    assert _detect("no-learning", _rl(fell, 6.2 - 3.0 * T)) == []  # the policy changed: not no-learning
    assert _detect("no-learning", _rl(fell[::-1], np.full(120, 6.2))) == []  # it rose: it learned


def test_an_entropy_reads_as_uniform_over_k_actions_only_where_k_is_distinguishable():
    from advisor.rules.rl_signals import uniform_over

    assert uniform_over(math.log(2)) == 2 and uniform_over(math.log(6) * 1.01) == 6 and uniform_over(math.log(18)) == 18
    assert uniform_over(math.log(18.5)) is None  # between ln 18 and ln 19
    assert uniform_over(6.2186) is None  # ln 502 to four digits, by chance


def test_rl_lr_too_high_from_the_approximate_kl_per_update_and_never_from_a_loss():
    # SB3 PPO on Breakout at lr 0.005 (extra17): approx_kl median 0.37, 99% of updates over 0.1
    rng = np.random.default_rng(0)
    kl = np.exp(rng.normal(np.log(0.37), 0.5, 120))
    reward = 2 + 6 * np.minimum(T * 20, 1) + 0.3 * NOISE
    (f,) = _detect("lr-too-high", _rl(reward, np.full(120, 0.4), kl=kl, lr=np.full(120, 0.005)))
    assert f.severity.value == "info" and f.evidence["signal"] == "approx_kl"
    first = f.remedies[0]
    assert first.action == "scale_lr" and first.params["factor"] <= 0.5
    # a healthy continuous-control agent sits at 0.001-0.07 (the highest real healthy run: 0.075)
    assert _detect("lr-too-high", _rl(reward, np.full(120, 0.4), kl=np.full(120, 0.07) + 0.01 * np.abs(NOISE))) == []
    # without a KL, nothing: an RL run's losses (a value loss growing with the returns) are not judged
    growing = np.exp(np.linspace(0, 6, 120))
    assert _detect("lr-too-high", _rl(reward, np.full(120, 0.4), value_loss=growing)) == []
