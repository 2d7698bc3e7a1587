"""Both trainers: SPEC §6 tags, the protocol advisor.tune uses, and that each remedy does what it claims.

Every test here runs once per backend. Most vary only host-side knobs of one tiny config, so the
JAX path compiles that shape once for the whole module.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from advisor import remedies as R
from advisor.remedies import AUTO_ACTIONS
from backends.config import ConfigError, apply
from backends.control import Control
from trainer_helpers import TINY, read_run, scalars

SGD = TINY.with_overrides({"optim.name": "sgd", "optim.lr": 0.1, "train.layer_every": 1})


def test_logs_spec_tags_hparams_and_config(trainer, tmp_path):
    r = trainer.train(TINY, str(tmp_path), seed=1)
    assert r.steps == 24 and not r.diverged and not r.stopped_early and r.logdir == str(tmp_path)
    s = scalars(str(tmp_path))
    for tag in ("train/loss", "train/accuracy", "train/lr", "train/grad_norm"):
        assert list(s[tag][0]) == list(range(1, 25)), tag
    layers = [t for t in s if t.startswith("train/grad_norm/")]
    assert {"train/grad_norm/hidden.0.linear", "train/grad_norm/hidden.1.linear", "train/grad_norm/head"} <= set(layers)
    assert list(s["train/update_ratio"][0]) == [1, 4, 8, 12, 16, 20, 24]
    assert list(s["val/loss"][0]) == [8, 16, 24] and "val/accuracy" in s
    assert list(s["test/accuracy"][0]) == [24] and r.test_accuracy == pytest.approx(s["test/accuracy"][1][0], abs=1e-6)
    ef = read_run(str(tmp_path))
    assert ef.hparams["optim.lr"] == TINY.optim.lr and ef.hparams["seed"] == 1
    cfg = json.load(open(os.path.join(tmp_path, "config.json")))
    assert cfg["seed"] == 1 and cfg["model"]["width"] == 32
    d = r.to_dict()
    for key in ("best_val_loss", "best_val_step", "best_val_accuracy", "final_train_loss", "final_val_loss", "test_loss",
                "test_accuracy", "steps", "stopped_early", "stop_reason", "diverged", "wall_time", "logdir", "applied"):
        assert key in d
    assert r.best_val_step in (8, 16, 24) and r.best_val_loss == min(s["val/loss"][1])
    assert math.isclose(r.final_train_loss, float(np.mean(s["train/loss"][1][-8:])), rel_tol=1e-5)


def test_accepts_a_plain_dict_and_is_deterministic_per_seed(trainer, tmp_path):
    a = trainer.train(TINY.to_dict(), str(tmp_path / "a"), seed=3)
    b = trainer.train(TINY, str(tmp_path / "b"), seed=3)
    trainer.train(TINY, str(tmp_path / "c"), seed=4)
    la, lb, lc = (scalars(str(tmp_path / x))["train/loss"][1] for x in "abc")
    np.testing.assert_allclose(la, lb, rtol=1e-5)
    assert not np.allclose(la, lc)
    assert a.best_val_loss == pytest.approx(b.best_val_loss, rel=1e-5)


def test_grad_norm_clipping_bounds_the_step(trainer, tmp_path):
    # Plain SGD without weight decay: ||dtheta|| = lr * ||clipped grad||, so the update ratio times
    # ||theta|| is bounded by lr * max_norm while the logged (pre-clip) norm exceeds max_norm.
    cfg = SGD.with_overrides({"optim.clip_norm": 0.05, "schedule.kind": "constant"})
    trainer.train(cfg, str(tmp_path / "clip"))
    trainer.train(SGD.with_overrides({"schedule.kind": "constant"}), str(tmp_path / "free"))
    clip, free = scalars(str(tmp_path / "clip")), scalars(str(tmp_path / "free"))
    assert np.all(clip["train/grad_norm"][1] > 0.05)
    assert np.max(clip["train/update_ratio"][1]) < 0.5 * np.min(free["train/update_ratio"][1][:8])


def test_shuffle_changes_batch_order(trainer, tmp_path):
    trainer.train(TINY, str(tmp_path / "on"))
    trainer.train(apply(TINY, R.shuffle(False)), str(tmp_path / "off"))
    on, off = scalars(str(tmp_path / "on"))["train/loss"][1], scalars(str(tmp_path / "off"))["train/loss"][1]
    assert on[0] != off[0]  # a different first batch (the init is the same)


def test_early_stop_at_a_step(trainer, tmp_path):
    r = trainer.train(apply(TINY, R.early_stop(step=10)), str(tmp_path))
    assert r.steps == 10 and r.stopped_early and "early_stop.step" in r.stop_reason
    assert list(scalars(str(tmp_path))["val/loss"][0]) == [8, 10]


def test_early_stop_patience_stops_and_restores_the_best_weights(trainer, tmp_path):
    # A learning rate that jumps 100x after the first epoch: val loss gets worse from there on.
    cfg = TINY.with_overrides({"optim.lr": 1e-3, "schedule.kind": "step", "schedule.milestones": "8",
                               "schedule.gamma": 100.0, "train.epochs": 8})
    cfg = apply(cfg, R.early_stop(patience=2, restore_best=True))
    r = trainer.train(cfg, str(tmp_path))
    assert r.stopped_early and "did not improve" in r.stop_reason and r.steps < 64
    assert r.restored_step == r.best_val_step < r.steps
    # The returned weights are the best's: final_val_loss describes them, and the test evaluation
    # used them (its loss is close to the best val loss, not to the last one logged).
    assert r.final_val_loss == r.best_val_loss
    last_logged = scalars(str(tmp_path))["val/loss"][1][-1]
    assert abs(r.test_loss - r.best_val_loss) < abs(r.test_loss - last_logged) or not math.isfinite(last_logged)


def test_schedule_reaches_its_floor_where_its_horizon_says(trainer, tmp_path):
    cfg = apply(SGD, R.lr_schedule("cosine", horizon=6, min_lr=0.0))
    trainer.train(cfg, str(tmp_path))
    s = scalars(str(tmp_path))
    lr, ratio = s["train/lr"][1], s["train/update_ratio"][1]
    assert lr[0] == pytest.approx(0.1) and lr[5] > 0 and np.all(lr[6:] == 0)
    assert np.all(ratio[6:] == 0) and np.all(ratio[:5] > 0)  # the optimizer really used that rate


def test_warmup_ramps(trainer, tmp_path):
    cfg = apply(SGD.with_overrides({"schedule.kind": "constant"}), R.warmup(8))
    trainer.train(cfg, str(tmp_path))
    s = scalars(str(tmp_path))
    np.testing.assert_allclose(s["train/lr"][1][:10], 0.1 * np.minimum(np.arange(1, 11) / 8, 1), rtol=1e-6)
    ratio = s["train/update_ratio"][1]
    assert ratio[0] < 0.5 * ratio[7]


def test_divergence_is_logged_and_stops_cleanly(trainer, tmp_path):
    cfg = TINY.with_overrides({"model.depth": 4, "model.activation": "elu", "optim.name": "momentum", "optim.lr": 10.0,
                               "schedule.kind": "constant"})
    r = trainer.train(cfg, str(tmp_path))
    assert r.diverged and not math.isfinite(scalars(str(tmp_path))["train/loss"][1][-1]) and r.steps < 24
    assert "non-finite" in r.stop_reason


def test_nan_inputs_diverge_and_sanitize_inputs_fixes_them(trainer, tmp_path):
    bad = TINY.with_overrides({"data.nan_from_step": 5})
    r = trainer.train(bad, str(tmp_path / "bad"))
    assert r.diverged and r.steps == 5
    fixed = trainer.train(apply(bad, R.sanitize_inputs()), str(tmp_path / "fixed"))
    assert not fixed.diverged and fixed.steps == 24


def test_live_control_applies_live_remedies_and_stops(trainer, tmp_path):
    control = Control()
    seen: list[int] = []

    def callback(step, scalars):
        seen.append(step)
        if step == 8:
            control.submit(R.scale_lr(0.5))
            control.submit(R.clip_grad_norm(1.0))
            control.submit(R.weight_decay(1e-4))
        if step == 16:
            control.stop("enough")
        raise RuntimeError("a broken monitor must not kill training")

    cfg = TINY.with_overrides({"schedule.kind": "constant"})
    r = trainer.train(cfg, str(tmp_path), control=control, callback=callback)
    assert seen == [8, 16] and r.steps == 16 and r.stopped_early and "enough" in r.stop_reason
    assert [(a["step"], a["action"]) for a in r.applied] == [(8, "scale_lr"), (8, "clip_grad_norm"), (8, "weight_decay")]
    lr = scalars(str(tmp_path))["train/lr"][1]
    assert lr[7] == pytest.approx(TINY.optim.lr) and lr[8] == pytest.approx(TINY.optim.lr / 2)
    assert "control/applied" in read_run(str(tmp_path)).texts
    with pytest.raises(ConfigError):
        control.submit(R.capacity(width_factor=2))


# Remedies that change the network or the pipeline: each one must train on both backends and
# change what it claims (checked on the logged layers or the step count). Tiny shapes keep the
# JAX compilations cheap.
STRUCTURAL = TINY.with_overrides({"train.epochs": 1})


@pytest.mark.parametrize("action", sorted(AUTO_ACTIONS))
def test_every_auto_action_trains(trainer, tmp_path, action):
    from test_config import SAMPLES

    remedy, _ = SAMPLES[action]
    cfg = apply(STRUCTURAL, remedy)
    r = trainer.train(cfg, str(tmp_path))
    assert not r.diverged and r.steps > 0
    layers = {t for t in scalars(str(tmp_path)) if t.startswith("train/grad_norm/")}
    if action == "normalization":
        assert "train/grad_norm/hidden.0.norm" in layers
    elif action == "capacity":
        assert "train/grad_norm/hidden.2.linear" in layers
    elif action == "batch_size":
        assert r.steps == 256 // 16
    elif action == "train_longer":
        assert r.steps == 2 * 8
    elif action == "early_stop":
        assert r.steps == 8  # step 12 is past this 8-step run: no early stop


@pytest.mark.slow
def test_default_config_reaches_95_percent_on_digits_with_both_backends(tmp_path):
    """Same config, comparable results: the embedded default (digits MLP) on both backends, fixed seeds."""
    import backends.flax_trainer as jax_trainer
    import backends.torch_trainer as torch_trainer

    accs = {}
    for name, mod in (("torch", torch_trainer), ("jax", jax_trainer)):
        r = mod.train(None, str(tmp_path / name), seed=0)
        assert not r.diverged and r.best_val_accuracy >= 0.95, (name, r.best_val_accuracy)
        accs[name] = r.best_val_accuracy
    assert abs(accs["torch"] - accs["jax"]) <= 0.02, accs
