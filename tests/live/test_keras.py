"""Keras 3 adapter (torch backend here: no TensorFlow needed): batch and epoch logs reach the
monitor; act=True lowers optimizer.learning_rate on lr-too-high and stops with the best weights."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is first imported
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
pytest.importorskip("sklearn")

from advisor.live.keras import AdvisorCallback

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras on numpy 2

from .probes import digits, overfit_data


def model(lr: float, width: int = 64, seed: int = 0):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(width, activation="relu"), keras.layers.Dense(width, activation="relu"), keras.layers.Dense(10)])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def fit(m, cb, data, epochs, batch_size=32):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        xt, yt, xv, yv = data
        return m.fit(xt, yt, validation_data=(xv, yv), epochs=epochs, batch_size=batch_size, callbacks=[cb] if cb else [], verbose=0)
    finally:
        torch.set_num_threads(threads)


def test_logs_reach_the_monitor_and_the_plan_is_known():
    cb = AdvisorCallback(every=20, on_finding=None)
    fit(model(0.05), cb, digits(n_train=320), epochs=3)
    run = cb.monitor.run()
    assert len(run.series["train/loss"]) == 30 and len(run.series["val/loss"]) == 3
    assert cb.monitor.hparams["optimizer"] == "SGD" and cb.monitor.hparams["lr"] == pytest.approx(0.05)
    assert cb.monitor._tracker.total_steps == 30 and cb.monitor.closed


def test_act_lowers_the_learning_rate_when_it_is_far_too_high():
    m = model(8.0)
    cb = AdvisorCallback(every=20, on_finding=None, act=True)
    fit(m, cb, digits(n_train=640), epochs=3)
    taken = cb.monitor.actions.taken
    assert taken and taken[0].kind == "lr", [(a.step, a.finding.condition) for a in cb.monitor.alerts]
    assert float(keras.ops.convert_to_numpy(m.optimizer.learning_rate)) < 8.0 * 0.5


def test_act_stops_overfitting_with_the_best_weights():
    data = overfit_data()
    m = model(0.5, width=256)
    cb = AdvisorCallback(every=20, on_finding=None, act=True)
    hist = fit(m, cb, data, epochs=60, batch_size=16)
    vals = hist.history["val_loss"]
    assert len(vals) < 60 and cb.monitor.actions.taken[-1].kind == "stop"
    xv, yv = data[2], data[3]
    final = float(m.evaluate(xv, yv, verbose=0))
    assert final == pytest.approx(min(vals), rel=1e-3)
    assert final < vals[-1]
