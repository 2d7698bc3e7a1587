"""Rule forms for the blind set extra16 (benchmarks/readings): YOLO runs that start from trained
weights (told by a task metric an untrained model scores zero on), and a YOLO bias warmup whose
first epochs' rate is no peak the run held; each on a curve shaped like the run and on the
look-alike the rule must still catch."""

from __future__ import annotations

import numpy as np

from advisor.config import AnalyzeConfig
from advisor.engine import Engine

from tests.test_readings_rules import _ctx, _detect


def _yolo(train: np.ndarray, val: np.ndarray, map_: np.ndarray | None, lr: np.ndarray | None = None):
    n = len(train)
    ep = np.arange(n)
    curves = {
        "train/box_loss": (ep, train * 0.4), "train/obj_loss": (ep, train * 0.45), "train/cls_loss": (ep, train * 0.15),
        "val/box_loss": (ep, val * 0.4), "val/obj_loss": (ep, val * 0.45), "val/cls_loss": (ep, val * 0.15),
    }
    if map_ is not None:
        curves["metrics/mAP_0.5:0.95"] = (ep, map_)
    if lr is not None:
        curves["x/lr0"] = (ep, lr)
    return _ctx(curves)


def _flat(seed: int, n: int, level: float, noise: float) -> np.ndarray:
    return level * (1 + np.random.default_rng(seed).normal(0, noise, n))


def _nolearn(seed: int, map_: np.ndarray | None):
    ctx = _yolo(_flat(seed, 100, 0.163, 0.03), _flat(seed + 50, 100, 0.127, 0.03), map_)
    return ctx, _detect("no-learning", ctx)


def test_a_detector_resumed_from_trained_weights_that_gains_nothing_is_not_no_learning():
    # Arilzz's YOLOv5-Lite: continued from an earlier run's last.pt, mAP@0.5:0.95 at 0.19-0.21 and
    # every loss at its epoch-0 level for 100 epochs: the extra epochs were wasted, nothing is
    # broken. The same losses with an mAP that starts at zero (an untrained detector) are no-learning.
    fired = 0
    for seed in range(8):
        blind, without = _nolearn(seed, None)
        trained, got = _nolearn(seed, _flat(seed + 99, 100, 0.20, 0.05))
        scratch, from_zero = _nolearn(seed, np.abs(_flat(seed + 99, 100, 0.002, 0.5)))
        assert trained.started_trained and not scratch.started_trained and not blind.started_trained
        assert got == []
        assert [f.severity.value for f in from_zero] == [f.severity.value for f in without]
        fired += len(without)
    assert fired >= 5  # the flat curves are no-learning's when nothing says the start was trained


def test_a_fine_tune_whose_metric_collapses_is_not_started_trained():
    # a trained start the run then wrecks (mAP 0.3 -> 0.05) is judged as any run
    m = np.concatenate([np.full(10, 0.3), np.full(90, 0.05)])
    assert not _yolo(_flat(0, 100, 0.163, 0.06), _flat(1, 100, 0.127, 0.03), m).started_trained


def _slow(n: int, seed: int) -> np.ndarray:
    t = np.linspace(0, 1, n)
    return 0.145 * (1 - 0.29 * t) * (1 + np.random.default_rng(seed).normal(0, 0.004, n))


def test_a_fine_tune_falling_slowly_from_its_trained_start_is_only_noted():
    # YOLOC: YOLOv5s from COCO weights on coco128, mAP@0.5:0.95 0.30 -> 0.56 while the summed loss
    # fell 29% of its (already trained) start over 30 epochs at SGD 0.0089
    n = 30
    m = np.linspace(0.30, 0.56, n)
    got = _detect("slow-convergence", _yolo(_slow(n, 0), _slow(n, 1) * 0.75, m))
    assert len(got) == 1 and got[0].severity.value == "info" and got[0].evidence["started_trained"]
    # from scratch (mAP from zero) the same slow loss is the warning
    got = _detect("slow-convergence", _yolo(_slow(n, 0), _slow(n, 1) * 0.75, np.linspace(0.0, 0.2, n)))
    assert len(got) == 1 and got[0].severity.value == "warning" and "started_trained" not in got[0].evidence


def _lr_bias_warmup(n: int, lr0: float = 0.001, bias0: float = 0.1, warm: int = 3) -> np.ndarray:
    """YOLO's x/lr of the bias group: from warmup_bias_lr down to lr0 over the warmup, then a
    linear decay to lrf * lr0 at the last epoch."""
    decay = lr0 * (1 - np.arange(n) / (n - 1) * 0.977)
    lr = decay.copy()
    for i in range(warm):
        lr[i] = bias0 + (decay[i] - bias0) * (i + 1) / (warm + 1) if i else bias0 * 0.67
    return lr


def test_a_bias_warmup_start_is_not_the_peak_a_floor_is_judged_against():
    # RepSE-CBAMNet: x/lr0 0.067 at epoch 0, 0.0011 by epoch 2, then 0.00098 -> 2.3e-5 linearly over
    # 150 epochs: read against 0.067, "1% of the peak" was reached at epoch 51 — a decay to the end
    # is no floor
    n = 150
    t = np.linspace(0, 1, n)
    loss = 12 * np.exp(-4 * t) + 2
    ctx = _yolo(loss, loss * 3, np.clip(t * 2, 0, 0.66), lr=_lr_bias_warmup(n))
    assert _detect("schedule-misconfigured", ctx) == []


def test_a_schedule_that_ends_early_after_a_bias_warmup_is_still_found():
    # the same start, then a decay that reaches its floor (1e-5) a third of the way in and sits there
    n = 150
    lr = _lr_bias_warmup(n)
    lr[3:] = np.maximum(0.001 * (1 - np.arange(n - 3) / 47), 1e-5)
    t = np.linspace(0, 1, n)
    loss = 12 * np.exp(-4 * np.minimum(t, 0.33)) + 2
    got = _detect("schedule-misconfigured", _yolo(loss, loss * 3, np.clip(t * 2, 0, 0.66), lr=lr))
    assert len(got) == 1 and got[0].evidence["floor_step"] < 60


def test_a_loss_that_jumped_to_a_level_it_kept_says_the_rate_is_too_high_not_unclear():
    # LuoMaoyuan01's VQ-VAE (extra16): L1 0.095 at its first points, 0.17-0.21 within three epochs,
    # then 0.157 +- 0.006 for 145 epochs. The later points reach the early peak's level, as a loss
    # of single examples does — but their lower decile sits 1.6x above the start, not near it.
    from advisor.rules.lr_evidence import excursions, lr_direction

    rng = np.random.default_rng(0)
    head = [0.0946, 0.1699, 0.1855, 0.0723, 0.2106, 0.1686, 0.1558, 0.1707, 0.1629, 0.16]
    v = np.concatenate([head, 0.157 + rng.normal(0, 0.006, 209)])
    ctx = _ctx({"train/loss": (49 + 50 * np.arange(v.size), v)})
    assert excursions(ctx.train).jump > 1.5
    assert lr_direction(ctx)[0] == "down"
    (nl,) = _detect("no-learning", ctx)
    acts = [(r.action, r.params.get("factor")) for r in nl.remedies]
    assert ("scale_lr", 0.1) in acts and not any(a == "scale_lr" and f > 1 for a, f in acts)
    # and it does not say the loss "stayed at its initial level" about a loss that ended 19% above it
    assert "never got below its initial level" in nl.summary and "stayed" not in nl.summary


def test_a_loss_of_single_examples_switching_modes_is_no_jump():
    # a batch-1 binary cross-entropy (extra2's LSTM): points in a low mode near 0.35-0.5 and a high
    # one near 0.75-1.16; the early "peak" is the high mode, reached again and again, and the low
    # mode keeps coming back to the start: no jump, no direction from it
    from advisor.rules.lr_evidence import excursions

    v = np.array([0.809, 0.331, 0.365, 0.347, 1.163, 0.756, 0.761, 0.377, 0.756, 1.097, 1.087, 0.415, 0.421, 0.429, 0.431,
                  0.435, 0.445, 1.018, 1.009, 0.729, 0.474, 0.466, 0.474, 0.98, 0.732, 0.722, 0.5, 0.72, 0.943, 0.938,
                  0.498, 0.503, 0.509, 0.522, 0.512, 0.532, 0.9, 0.88])
    ctx = _ctx({"train_loss_step": (49 + 50 * np.arange(v.size), v)})
    assert excursions(ctx.train).jump == 1.0  # the early ratio is 3.2x; the low mode coming back rules it out


def test_a_slow_run_from_scratch_keeps_its_warning_though_its_gap_looks_resumed():
    # a population recipe (SGD 3e-4 on Friedman, HF Trainer names): the train loss falls 0.98 -> 0.75
    # at a steady pace while validation sits 1.18x above it from its first evaluation — the gap that
    # tells a resumed model at its floor when nothing moves, not a fine-tune's start here
    rng = np.random.default_rng(3)
    s = 50 * np.arange(1, 41)
    tr = 0.978 - 0.23 * (s - 50) / 1950 + rng.normal(0, 0.002, s.size)
    es = np.linspace(130, 2000, 15).astype(int)
    va = 1.18 * (0.978 - 0.23 * (es - 50) / 1950)
    ctx = _ctx({"train/loss": (s, tr), "eval/loss": (es, va), "train/learning_rate": (s, np.full(s.size, 3e-4))})
    assert ctx.trained_start == "gap"
    got = _detect("slow-convergence", ctx)
    assert len(got) == 1 and got[0].severity.value == "warning" and "started_trained" not in got[0].evidence


def _thrown_then_cut(cut_epoch: int, recover_epoch: int, seed: int = 0):
    """CoMER at SGD 0.08 (extra17): the loss learns to 0.84 by epoch 50, is thrown to ~1.7 and sits
    there, and falls back at ``recover_epoch``; the plateau scheduler cuts the rate 4x at
    ``cut_epoch``."""
    rng = np.random.default_rng(seed)
    n, spe = 300, 973
    ep = np.arange(n)
    loss = np.where(ep < 51, 0.84 + 3.0 * np.exp(-ep / 10), 1.7 - 0.005 * (ep - 51))
    after = ep >= recover_epoch
    loss[after] = 0.9 * np.exp(-(ep[after] - recover_epoch) / 60) + 0.05
    loss = loss * (1 + rng.normal(0, 0.01, n))
    lr = np.where(ep < cut_epoch, 0.08, 0.02)
    return _ctx({"train_loss": (ep * spe, loss), "lr-SGD": (ep * spe, lr)})


def test_a_loss_thrown_back_that_recovers_only_when_the_rate_is_cut_is_lr_too_high():
    (f,) = _detect("lr-too-high", _thrown_then_cut(cut_epoch=74, recover_epoch=75))
    assert f.severity.value == "warning" and f.evidence["form"] == "gave-back"
    assert f.evidence["recovered_after_cut_at"] == 74 * 973 and "cut at step" in f.summary
    assert f.remedies[0].action == "scale_lr" and f.remedies[0].params["factor"] < 1


def test_a_loss_that_recovers_on_its_own_or_long_before_a_cut_is_not():
    # back at epoch 75 with the rate still 0.08 (cut at epoch 150): the run won its progress back by itself
    assert _detect("lr-too-high", _thrown_then_cut(cut_epoch=150, recover_epoch=75)) == []
    # back at epoch 152, a hundred epochs after a cut at 52: the cut did not end the climb
    assert _detect("lr-too-high", _thrown_then_cut(cut_epoch=52, recover_epoch=152)) == []


def test_an_early_stall_whose_fall_buys_no_accuracy_gives_no_larger_rate():
    # population seed 119, lr-too-high/adam2-seqcls-lstm: Adam at 2 on an LSTM, its first point
    # (step 9) already 6.3 after ten updates, bouncing at ~5 for 80 steps, then down to ~1.6 — while
    # val accuracy stays at 0.31-0.42. Read as an early plateau its first remedy was a 3x larger rate.
    steps = np.arange(9, 300, 10)
    train = np.array([6.3, 5.44, 4.92, 4.9, 3.76, 1.66, 5.8, 6.4, 5.11, 2.31, 1.72, 2.52, 1.93, 1.62, 1.33, 3.19, 1.95, 1.25,
                      3.11, 2.19, 1.48, 1.39, 2.03, 2.69, 1.23, 1.77, 0.94, 1.53, 1.14, 1.63])
    vs = np.arange(29, 300, 30)
    val = np.array([4.08, 3.44, 4.61, 2.13, 1.82, 2.36, 1.69, 1.71, 1.66, 1.69])
    flat_acc = np.array([0.333, 0.312, 0.377, 0.39, 0.368, 0.38, 0.417, 0.38, 0.387, 0.393])
    (f,) = _detect("plateau", _ctx({"train_loss": (steps, train), "val_loss": (vs, val), "val_acc": (vs, flat_acc)}))
    assert f.remedies[0].action == "check_data" and not any(r.action == "scale_lr" and r.params["factor"] > 1 for r in f.remedies)
    assert f.evidence["val_acc_end"] - f.evidence["val_acc_during"] < 0.1
    # the same curves with the accuracy jumping after the stall (a saddle escaped: +0.27 to +0.81 on
    # the population's plateau recipes) keep the larger rate
    jump_acc = np.array([0.333, 0.312, 0.377, 0.6, 0.7, 0.75, 0.8, 0.82, 0.83, 0.85])
    (g,) = _detect("plateau", _ctx({"train_loss": (steps, train), "val_loss": (vs, val), "val_acc": (vs, jump_acc)}))
    assert g.remedies[0].action == "scale_lr" and g.remedies[0].params["factor"] == 3.0


def _val_at_chance(train_acc: np.ndarray):
    """A 10-class classifier logging every 10 steps (196 per epoch), validation once per epoch at
    chance (0.116-0.134) with its loss above ln 10."""
    steps = np.arange(9, 784, 10)
    n = steps.size
    loss = 2.286 * np.exp(-np.linspace(0, 0.9, n))
    vs = np.array([195, 391, 587, 783])
    return _ctx({"train_loss": (steps, loss), "train_Accuracy": (steps, train_acc(n)),
                 "val_loss": (vs, np.array([2.298, 2.49, 2.582, 2.538])), "val_Accuracy": (vs, np.array([0.124, 0.125, 0.116, 0.134]))},
                {"num_classes": 10})


def test_a_classifier_that_learns_fast_while_validation_sits_at_chance_is_a_split_prepared_apart():
    # SalvatoreCognetta's MobileNetV3 (extra18): train accuracy 0.13 -> 0.39 within the first epoch and
    # 0.65 by the fourth, validation accuracy 0.12-0.13 at every evaluation
    ctx = _val_at_chance(lambda n: np.minimum(0.13 + 0.6 * np.linspace(0, 1, n) ** 0.6, 0.72))
    (f,) = _detect("data-mismatch", ctx)
    assert f.severity.value == "warning" and f.evidence["form"] == "chance-apart"
    # the memorisation reading would be the symptom, not the cause: the engine drops it beside this
    # form, while no-learning alone (``--select no-learning``) still reports the run
    (nl,) = _detect("no-learning", ctx)
    assert nl.evidence["train_loss_fell"]
    findings, _ = Engine.from_config().diagnose(ctx)
    assert [f.condition for f in findings if f.condition in ("data-mismatch", "no-learning")] == ["data-mismatch"]
    only, _ = Engine.from_config(AnalyzeConfig(select=("no-learning",))).diagnose(ctx)
    assert [f.condition for f in only] == ["no-learning"]


def test_memorising_shuffled_labels_slowly_is_still_no_learning():
    # shuffled labels: train accuracy at chance through the first epoch, creeping up only later
    ctx = _val_at_chance(lambda n: 0.1 + 0.5 * np.clip(np.linspace(-0.4, 1, n), 0, 1) ** 2)
    assert _detect("data-mismatch", ctx) == []
    (f,) = _detect("no-learning", ctx)
    assert f.evidence["train_loss_fell"]


PIPELINE = """model {
  ssd {
    num_classes: 2
  }
}
train_config {
  batch_size: 4
  optimizer {
    momentum_optimizer {
      learning_rate {
        cosine_decay_learning_rate {
          learning_rate_base: 0.07999999821186066
          total_steps: 50000
          warmup_learning_rate: 0.026666000485420227
          warmup_steps: 1000
        }
      }
      momentum_optimizer_value: 0.8999999761581421
    }
  }
  fine_tune_checkpoint_type: "detection"
  num_steps: 50000
}
"""


def test_a_tf_object_detection_pipeline_config_gives_its_schedule_and_nothing_else():
    from advisor.io.hparams import pipeline_config

    # num_classes counts object classes: it must not become a cross-entropy's class count
    assert pipeline_config(PIPELINE) == {"schedule": "cosine", "schedule_horizon": 50000, "warmup_steps": 1000, "train_steps": 50000}
    assert pipeline_config("train_config {\n  num_steps: 300\n}\n") == {"train_steps": 300}
    assert pipeline_config("not { a config") == {}


def test_a_schedule_sized_for_25x_the_run_never_decays(tmp_path):
    # BernatTreserres' SSD MobileNet (extra18): cosine over 50,000 steps with a 1,000-step warmup,
    # trained 2,000 steps — the rate warms up for half the run and sits at its peak for the rest
    from advisor.analyze import analyze
    from tests import synth

    steps = np.arange(100, 2001, 100)
    lr = np.where(steps <= 1000, 0.0267 + (0.08 - 0.0267) * steps / 1000, 0.08 * (1 - 1e-6 * (steps - 1000)))
    loss = 0.25 + 0.4 * np.exp(-steps / 400)
    run = synth.write_run(str(tmp_path / "my_ssd_mobnet"), {"train:Loss/total_loss": (steps, loss), "train:learning_rate": (steps, lr),
                                                           "eval:Loss/total_loss": (np.array([2000]), np.array([0.49]))})
    (tmp_path / "my_ssd_mobnet" / "pipeline.config").write_text(PIPELINE)
    (rep,) = analyze([run]).report.runs
    f = next(f for f in rep.findings if f.condition == "schedule-misconfigured")
    assert f.severity.value == "warning" and f.evidence["configured_horizon"] == 50000
    assert f.remedies[0].action == "lr_schedule" and f.remedies[0].params["horizon"] == 2000
    # without the config nothing says the flat half was not meant
    (tmp_path / "my_ssd_mobnet" / "pipeline.config").unlink()
    (rep,) = analyze([run]).report.runs
    assert "schedule-misconfigured" not in [f.condition for f in rep.findings]


def test_a_cosine_past_its_period_that_ends_near_zero_again_is_still_past_its_horizon():
    # Opendrivefm (extra19): a 50-epoch cosine in a 150-epoch run — 3e-4 down to 0 at epoch 50, back
    # at the peak at 100, down to ~0 at 150. Ending near zero sent it into the early-floor test,
    # whose "it rises again" returned before the past-horizon form was tried.
    n, spe = 150, 161
    ep = np.arange(n)
    lr = 1.5e-4 * (1 + np.cos(np.pi * ep / 50))
    lr[-1] = 3e-7
    t = np.linspace(0, 1, n)
    loss = 9 * np.exp(-4 * t) + 1.3
    (f,) = _detect("schedule-misconfigured", _ctx({"train/loss": (ep * spe, loss), "lr-AdamW": (ep * spe, lr)}))
    assert f.evidence["form"] == "past-horizon" and 45 * spe <= f.evidence["floor_step"] <= 50 * spe
    # a cosine sized to the run (one half-period over 150 epochs) is not
    whole = 1.5e-4 * (1 + np.cos(np.pi * ep / 149))
    assert _detect("schedule-misconfigured", _ctx({"train/loss": (ep * spe, loss), "lr-AdamW": (ep * spe, whole)})) == []
