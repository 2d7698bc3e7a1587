"""Rules revised on the real runs of extra29 (read blind): each test builds the shape described and
fails on the code before the change."""

from __future__ import annotations

import numpy as np

from tests.test_readings_rules import _ctx, _detect


def _resumed(train_end: float, val_best: float, acc0: float = 0.946, n: int = 90):
    """A Keras run continuing a trained binary classifier (BradWangW, extra29): epoch-level train
    loss from 0.167, validation from 0.201, val accuracy from ``acc0``, 90 epochs of noise."""
    rng = np.random.default_rng(5)
    steps = np.arange(n)
    t = np.linspace(0, 1, n)
    train = 0.167 + (train_end - 0.167) * t + rng.normal(0, 0.006, n)
    train[0] = 0.167
    val = 0.201 + (val_best - 0.201) * t + rng.normal(0, 0.004, n)
    val[0] = 0.201
    acc = np.clip(acc0 + rng.normal(0, 0.004, n), 0, 1)
    acc[0] = acc0
    return _ctx({
        "train/epoch_loss": (steps, train),
        "validation/epoch_loss": (steps, val),
        "train/epoch_accuracy": (steps, np.clip(0.969 + rng.normal(0, 0.004, n), 0, 1)),
        "validation/epoch_accuracy": (steps, acc),
    })


def test_a_resumed_model_that_the_whole_run_barely_moved_is_a_plateau_at_info():
    ctx = _resumed(0.161, 0.189)
    assert ctx.trained_start == "accuracy"
    (f,) = _detect("plateau", ctx)
    assert f.severity.value == "info" and f.evidence["form"] == "trained-flat"
    assert "started from a trained model" in f.summary and "90 evaluations" in f.summary
    assert f.remedies[0].action == "early_stop" and f.remedies[0].params["step"] == 0
    assert all(r.action != "scale_lr" for r in f.remedies)  # never a larger rate for a trained model


def test_a_resumed_model_that_validation_still_improved_is_not():
    # validation 0.201 -> 0.15 (-25%): the run bought something
    assert _detect("plateau", _resumed(0.161, 0.15)) == []


def test_a_resumed_model_whose_train_loss_climbed_did_not_merely_stay():
    # the train loss rose 40% from where the trained model started: something else happened
    assert all(f.evidence.get("form") != "trained-flat" for f in _detect("plateau", _resumed(0.234, 0.2)))
