"""Smoke tests of ``advisor tune`` on the real PyTorch trainer (tiny configs; the full run is
benchmarks/bench_tune.py)."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from backends.config import TrainConfig  # noqa: E402
from advisor.tune import load_trainer, tune, tune_live  # noqa: E402

TORCH = load_trainer("torch")


@pytest.fixture(autouse=True)
def _private_training_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))


def tiny(*overrides):
    return TrainConfig().with_overrides(["model.width=32", "data.n_train=400", *overrides]).to_dict()


def test_tune_repairs_a_learning_rate_far_too_high(tmp_path):
    cfg = tiny("optim.name=momentum", "optim.lr=30", "schedule.kind=constant", "train.epochs=4")
    r = tune(TORCH, cfg, out=str(tmp_path / "o"), seeds=2, rounds=3, workers=1)
    assert r.verified, r.attempts
    assert r.final_config["optim"]["lr"] < 1.0 or r.final_config["optim"]["clip_norm"] > 0
    assert all(c == [] or "non-finite" not in c for c in r.final_conditions)
    assert r.rounds[0]["after"]["mean"] < r.rounds[0]["before"]["mean"]


def test_live_early_stop_beats_the_plain_run(tmp_path):
    cfg = tiny("data.n_train=150", "data.label_noise=0.3", "model.width=512", "optim.lr=0.001", "train.epochs=80", "schedule.kind=constant")
    res = tune_live(TORCH, cfg, out=str(tmp_path / "live"), seeds=2, workers=1)
    assert res["verified"], res
    for seed in res["per_seed"]:
        assert [a["action"] for a in seed["applied"]] == ["early_stop"]
        assert seed["live_steps"] < seed["plain_steps"]
    assert res["after"]["mean"] < res["before"]["mean"]
    json.dumps(res, allow_nan=False)


def test_trainer_reports_delivered_val_loss_when_restoring(tmp_path):
    from backends.torch_trainer import train

    cfg = TrainConfig.from_dict(tiny("data.n_train=150", "data.label_noise=0.3", "model.width=512", "optim.lr=0.001", "train.epochs=40", "schedule.kind=constant", "early_stop.patience=3", "early_stop.restore_best=true"))
    r = train(cfg, str(tmp_path / "r"))
    assert r.restored_step == r.best_val_step and r.final_val_loss == r.best_val_loss


def test_crashed_run_delivers_its_broken_weights(tmp_path):
    from backends.torch_trainer import train

    cfg = TrainConfig.from_dict(tiny("data.nan_from_step=30", "train.epochs=10"))
    r = train(cfg, str(tmp_path / "r"))
    assert r.diverged and r.best_val_step > 0
    import math

    assert not math.isfinite(r.final_val_loss)  # not the last evaluation before the crash
