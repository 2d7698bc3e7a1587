"""Workloads: reading supervised / rl / gan / unknown from tags, the streams picked for each, the
config override, and rule selection by workload (SPEC §2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from advisor.config import from_mapping
from advisor.engine import Engine
from advisor.errors import UsageError
from advisor.io.roles import resolve
from advisor.model import Role, Run, Series
from advisor.pipeline import diagnose_run
from advisor.workload import classify, tag_kind

SB3 = ("rollout/ep_rew_mean", "rollout/ep_len_mean", "train/entropy_loss", "train/value_loss", "train/policy_gradient_loss",
       "train/approx_kl", "train/clip_fraction", "train/explained_variance", "train/loss", "train/learning_rate")
CLEANRL = ("charts/episodic_return", "charts/episodic_length", "losses/value_loss", "losses/policy_loss", "losses/entropy",
           "losses/approx_kl", "losses/old_approx_kl", "losses/clipfrac", "losses/explained_variance", "charts/learning_rate")
RLLIB = ("ray/tune/episode_reward_mean", "ray/tune/episode_len_mean", "ray/tune/info/learner/default_policy/learner_stats/entropy",
         "ray/tune/info/learner/default_policy/learner_stats/policy_loss", "ray/tune/info/learner/default_policy/learner_stats/vf_loss",
         "ray/tune/info/learner/default_policy/learner_stats/total_loss", "ray/tune/info/learner/default_policy/learner_stats/kl")
MLAGENTS = ("Environment/Cumulative Reward", "Environment/Episode Length", "Policy/Entropy", "Losses/Value Loss",
            "Losses/Policy Loss", "Policy/Learning Rate", "Policy/Extrinsic Reward", "Policy/Extrinsic Value Estimate")
TORCHRL = ("train/reward", "train/episode_length", "train/loss_objective", "train/loss_critic", "train/loss_entropy", "train/entropy", "train/lr")
YOLO = ("train/box_loss", "train/obj_loss", "train/cls_loss", "val/box_loss", "val/obj_loss", "val/cls_loss", "metrics/mAP_0.5", "x/lr0")


def make_run(tags, n: int = 60, values=None, name: str = "r", hparams=None) -> Run:
    series = {}
    for i, tag in enumerate(tags):
        v = values[tag] if values and tag in values else 1.0 + 0.1 * np.sin(np.arange(n) + i)
        s = Series.from_points(tag, np.arange(len(v)) * 100, v)
        series[s.key] = s
    return Run(name, f"/x/{name}", series, hparams=dict(hparams or {}))


@pytest.mark.parametrize("tags", [SB3, CLEANRL, RLLIB, MLAGENTS, TORCHRL], ids=["sb3", "cleanrl", "rllib", "mlagents", "torchrl"])
def test_rl_libraries_read_as_rl(tags):
    wl = classify(make_run(tags))
    assert wl.kind == "rl", wl.evidence
    assert "reward" in wl.evidence and Role.REWARD in wl.roles and Role.ENTROPY in wl.roles


def test_rl_streams_picked_and_never_summed():
    wl = classify(make_run(SB3))
    assert wl.roles[Role.REWARD].key == "rollout/ep_rew_mean"
    assert wl.roles[Role.TRAIN_LOSS].key == "train/loss"  # SB3's own total, not policy + value
    ml = classify(make_run(MLAGENTS))
    assert ml.roles[Role.REWARD].key == "Environment/Cumulative Reward"
    assert ml.roles[Role.TRAIN_LOSS].key == "Losses/Policy Loss" and any("not summed" in n for n in ml.notes)
    rllib = classify(make_run(RLLIB))
    assert rllib.roles[Role.POLICY_LOSS].key.endswith("/policy_loss") and rllib.roles[Role.TRAIN_LOSS].key.endswith("/total_loss")
    clean = classify(make_run(CLEANRL))
    assert clean.roles[Role.APPROX_KL].key == "losses/approx_kl" and clean.roles[Role.ENTROPY].key == "losses/entropy"


@pytest.mark.parametrize("pair", [("G_loss", "D_loss"), ("loss_G", "loss_D"), ("Loss/Generator", "Loss/Discriminator"),
                                  ("loss/gen", "loss/disc"), ("errG", "errD"), ("G_GAN", "D_real")])
def test_gan_pairs_read_as_gan(pair):
    run = make_run(pair)
    wl = classify(run)
    assert wl.kind == "gan"
    assert wl.roles[Role.GEN_LOSS].key == pair[0] and wl.roles[Role.DISC_LOSS].key == pair[1]
    sig = resolve(run, None, wl.kind, wl.roles)
    assert sig.roles[Role.TRAIN_LOSS] == pair[0] and "+" not in sig.roles[Role.TRAIN_LOSS]


def test_gan_discriminator_parts_summed_but_a_total_never_double_counted():
    run = make_run(("g_loss", "d_loss_real", "d_loss_fake"))
    parts = classify(run)
    assert parts.roles[Role.DISC_LOSS].key == "d_loss_real+d_loss_fake"
    np.testing.assert_allclose(parts.roles[Role.DISC_LOSS].values, run.series["d_loss_real"].values + run.series["d_loss_fake"].values)
    sig = resolve(run, None, parts.kind, parts.roles)
    assert sig.get(run, Role.DISC_LOSS) is parts.roles[Role.DISC_LOSS]
    totals = classify(make_run(("Loss/G_total", "Loss/D_total", "Loss/D_real", "Loss/D_fake")))
    assert totals.roles[Role.DISC_LOSS].key == "Loss/D_total"


def test_pix2pix_generator_game_is_read_on_its_adversarial_term():
    # pix2pix / CycleGAN: G_GAN (adversarial), G_L1 (reconstruction, 10-40x larger), D_real,
    # D_fake. Read on G_L1 the discriminator looked "near 0" beside a "high" generator loss and a
    # healthy run got discriminator-overpowering.
    rng = np.random.default_rng(0)
    n = 250
    values = {"G_GAN": 1 + 0.3 * rng.random(n), "G_L1": 30 * np.exp(-np.arange(n) / 75) + 8,
              "D_real": 0.5 + 0.2 * rng.random(n), "D_fake": 0.5 + 0.2 * rng.random(n)}
    run = make_run(tuple(values), values=values)
    wl = classify(run)
    assert wl.kind == "gan" and wl.roles[Role.GEN_LOSS].key == "G_GAN"
    assert "discriminator-overpowering" not in [f.condition for f in diagnose_run(run, Engine.from_config()).report.findings]
    # a total beside the adversarial term: the game is still read on the adversarial term
    both = classify(make_run(("loss_G", "loss_G_GAN", "loss_G_L1", "loss_D")))
    assert both.roles[Role.GEN_LOSS].key == "loss_G_GAN"


def test_supervised_components_summed_as_before_but_not_unlike_losses():
    sig = resolve(make_run(YOLO))
    assert sig.roles[Role.TRAIN_LOSS] == "train/box_loss+obj_loss+cls_loss"
    assert classify(make_run(YOLO)).kind == "supervised"
    # policy + value under one directory, read without a workload: never one summed loss
    sig = resolve(make_run(("losses/value_loss", "losses/policy_loss")))
    assert "+" not in sig.roles[Role.TRAIN_LOSS]
    # a group holding its own total is not a set of parts
    sig = resolve(make_run(("Loss/G_total", "Loss/G_adv", "Loss/G_l1")))
    assert "+" not in sig.roles[Role.TRAIN_LOSS]


@pytest.mark.parametrize("strict,loose", [("metrics/mAP_0.5:0.95", "metrics/mAP_0.5"), ("metrics/mAP50-95(B)", "metrics/mAP50(B)")])
def test_detection_task_metric_is_the_map_over_iou_range(strict, loose):
    # YOLOv5 and Ultralytics log both; COCO's AP (0.9 of YOLO's fitness) is the one a user judges by
    sig = resolve(make_run(YOLO[:-2] + (loose, strict, "x/lr0")))
    assert sig.roles[Role.VAL_METRIC] == strict
    assert resolve(make_run(YOLO)).roles[Role.VAL_METRIC] == "metrics/mAP_0.5"  # alone, mAP@0.5 is still read


@pytest.mark.parametrize("tags,kind", [
    (("train/loss", "val/loss", "train/accuracy"), "supervised"),
    (("loss", "rewards/chosen", "rewards/rejected", "rewards/margins"), "supervised"),  # DPO: a preference loss
    (("train/cross_entropy", "val/cross_entropy"), "supervised"),
    (("Losses/Value Loss", "train/loss"), "unknown"),  # one RL-only stream, no reward
    (("G_loss",), "unknown"),
    (("foo", "bar"), "unknown"),
    (("reward", "G_loss", "D_loss"), "unknown"),
    (("train/loss", "val/loss", "val/returns"), "unknown"),  # a lone return beside a validation loss
    (("loss", "reward"), "rl"),  # REINFORCE: a surrogate loss and the reward
    (("policy_loss", "value_loss"), "rl"),  # self-play / AlphaZero-style without a logged reward
])
def test_kinds(tags, kind):
    wl = classify(make_run(tags))
    assert wl.kind == kind, wl.evidence
    if kind == "unknown":
        assert wl.evidence.startswith("not recognised")


def test_tag_kinds():
    assert tag_kind("train/cross_entropy") is None and tag_kind("train/ent_coef_loss") is None
    assert tag_kind("train/entropy_loss") == "entropy" and tag_kind("d_model") is None
    assert tag_kind("ray/tune/info/learner/default_policy/learner_stats/total_loss") is None
    assert tag_kind("train/critic_loss") == "value_loss"
    # a WGAN's critic is the discriminator
    assert classify(make_run(("loss_G", "loss_critic"))).kind == "gan"


def test_unknown_run_takes_no_family_loss_for_its_train_loss():
    run = make_run(("Losses/Value Loss", "step_time"))
    sig = resolve(run, None, "unknown")
    assert Role.TRAIN_LOSS not in sig.roles


def test_config_override():
    cfg = from_mapping({"workload": "supervised", "workloads": {"runs/ppo*": "rl", "gan/*": "gan"}})
    assert cfg.workload_for("runs/ppo-3") == "rl" and cfg.workload_for("gan/a") == "gan" and cfg.workload_for("x") == "supervised"
    assert from_mapping({}).workload_for("x") is None
    with pytest.raises(UsageError):
        from_mapping({"workload": "reinforcement"})
    with pytest.raises(UsageError):
        from_mapping({"workloads": {"a*": "nope"}})
    with pytest.raises(UsageError):
        from_mapping({"workloads": "rl"})
    run = make_run(("loss", "val_loss"), name="runs/ppo-1")
    a = diagnose_run(run, Engine.from_config(cfg))
    assert a.report.workload == "rl" and "set in the config" in a.report.workload_evidence
    assert a.report.to_dict()["workload"] == "rl"


def _ppo_run(reward, value_loss, entropy, name="ppo", extra=None):
    n = len(reward)
    vals = {"rollout/ep_rew_mean": reward, "train/value_loss": value_loss, "train/entropy_loss": -np.asarray(entropy),
            "train/policy_gradient_loss": -0.01 + 0.002 * np.sin(np.arange(n)), "train/learning_rate": np.full(n, 3e-4)}
    vals.update(extra or {})
    return make_run(tuple(vals), values=vals, name=name)


def test_rising_value_loss_is_no_divergence():
    """The issue's PPO agent: reward -14 -> 28, value loss growing with the returns (normal)."""
    n = 200
    t = np.arange(n) / n
    reward = -14 + 42 * t + np.random.default_rng(0).normal(0, 1.5, n)
    run = _ppo_run(reward, 5 + 400 * t**2, 1.6 - 0.5 * t, extra={"train/loss": 2 + 200 * t**2})
    a = diagnose_run(run, Engine.from_config())
    assert a.report.workload == "rl"
    assert [f.condition for f in a.report.findings if f.severity.rank >= 2] == []
    assert "divergence" not in {f.condition for f in a.report.findings}


def test_self_play_uniform_policy_is_no_learning():
    """The issue's self-play agent: flat reward, entropy at ln(27) for the whole run."""
    n = 300
    rng = np.random.default_rng(1)
    vals = {"Environment/Cumulative Reward": rng.normal(0.0, 0.05, n), "Self-play/ELO": 1200 + rng.normal(0, 2, n),
            "Policy/Entropy": np.full(n, math.log(27)) - rng.uniform(0, 0.003, n), "Losses/Value Loss": 0.1 + rng.uniform(0, 0.01, n),
            "Losses/Policy Loss": 0.02 + rng.uniform(0, 0.002, n), "Policy/Learning Rate": np.linspace(3e-4, 1e-5, n)}
    a = diagnose_run(make_run(tuple(vals), values=vals), Engine.from_config())
    top = a.report.findings[0]
    assert a.report.workload == "rl" and top.condition == "no-learning" and top.severity.value == "critical"
    assert top.evidence["uniform_actions"] == 27


def test_gan_swings_are_not_oscillation_and_supervised_rules_stay_out():
    n = 400
    rng = np.random.default_rng(2)
    vals = {"G_loss": 1.5 + 0.8 * np.sin(np.arange(n) / 3) + rng.normal(0, 0.3, n), "D_loss": 1.2 + 0.4 * np.cos(np.arange(n) / 3)}
    a = diagnose_run(make_run(tuple(vals), values=vals), Engine.from_config())
    assert a.report.workload == "gan" and a.report.findings == ()


def test_only_workload_rules_run():
    eng = Engine.from_config()
    for spec, _ in eng.rules:
        if spec.id in ("entropy-collapse", "reward-collapse"):
            assert spec.workloads == ("rl",)
        elif spec.id == "discriminator-overpowering":
            assert spec.workloads == ("gan",)
        elif spec.id == "non-finite":
            assert set(spec.workloads) == {"supervised", "unknown", "rl", "gan"}
        elif spec.id in ("no-learning", "plateau", "still-improving", "lr-too-high", "exploding-gradients"):  # rl: judged on the reward (lr-too-high: the approximate KL; exploding-gradients: the gradient norm), never on a loss
            assert "rl" in spec.workloads and "gan" not in spec.workloads
        else:
            assert spec.workloads == ("supervised", "unknown"), spec.id


def test_nan_reward_loss_is_non_finite_for_rl():
    n = 100
    pl = np.r_[np.full(60, -0.01), np.full(40, np.nan)]
    run = _ppo_run(np.linspace(10, 50, n), np.linspace(1, 2, n), np.full(n, 0.6), extra={"train/policy_gradient_loss": pl})
    conds = {f.condition for f in diagnose_run(run, Engine.from_config()).report.findings}
    assert "non-finite" in conds


def test_text_markdown_html_show_the_workload():
    from advisor.model import Report
    from advisor.render import html, markdown, text

    r = diagnose_run(_ppo_run(np.linspace(0, 10, 50), np.ones(50), np.full(50, 0.6)), Engine.from_config()).report
    rep = Report((r,))
    assert "workload rl: reward rollout/ep_rew_mean" in text.render(rep)
    assert "**Workload:** rl" in markdown.render(rep)
    assert "workload: rl: reward rollout/ep_rew_mean" in html.render(rep)
