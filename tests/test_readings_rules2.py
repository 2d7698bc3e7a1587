"""Rule forms for the last real readings that disagreed (benchmarks/readings): a loss logged as
a running mean at one step per epoch (no-learning), and a loss that keeps spiking off its floor
(lr-too-high); each on a curve shaped like the run and on its healthy look-alikes."""

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


# -- no-learning from a running mean logged every batch at the epoch's step ---------------------


def _running_mean(per_batch: np.ndarray, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """Keras-style: each batch writes the epoch's mean so far, all at the epoch's step."""
    chunks = np.split(per_batch, epochs)
    vals = np.concatenate([np.cumsum(c) / np.arange(1, len(c) + 1) for c in chunks])
    return np.repeat(np.arange(epochs), len(chunks[0])), vals


def _epoch_run(per_batch: np.ndarray, acc: float | None = None, hparams=None, epochs: int = 3) -> Context:
    s, v = _running_mean(per_batch, epochs)
    curves = {"train/loss": (s, v)}
    if acc is not None:
        curves["val/acc"] = (np.arange(epochs), np.full(epochs, acc) + np.linspace(0, 0.004, epochs))
    return _ctx(curves, hparams)


def test_series_counts_the_points_collapsed_into_each_step():
    s = Series.from_points("a", [0, 0, 0, 1, 1, 1, 2, 2, 2], np.arange(9.0))
    assert list(s.values) == [2.0, 5.0, 8.0] and s.per_step == 3
    assert Series.from_points("a", [0, 1, 2], [1.0, 2.0, 3.0]).per_step == 1


def test_no_learning_reads_a_flat_running_mean_of_many_batches_per_epoch():
    rng = np.random.default_rng(0)
    flat = 17.4 + rng.normal(0, 0.15, 3 * 1875)  # stuck at a saturated softmax's loss
    got = _detect("no-learning", _epoch_run(flat))
    assert len(got) == 1
    ev = got[0].evidence
    assert ev["points_per_step"] == 1875 and ev["band"] < 0.02
    assert "3 logged steps" in got[0].summary and "1875 points" in got[0].summary
    # with the class count known and accuracy at chance, still no learning
    assert len(_detect("no-learning", _epoch_run(flat, acc=0.09, hparams={"num_classes": 10}))) == 1


def test_no_learning_epoch_form_quiet_when_it_learns_or_has_converged_or_has_few_points():
    rng = np.random.default_rng(1)
    n = 3 * 1875
    t = np.arange(n)
    learning = 2.3 * np.exp(-t / 1500.0) + 0.2 + rng.normal(0, 0.05, n)
    assert _detect("no-learning", _epoch_run(learning)) == []
    converged = 0.05 + rng.normal(0, 0.005, n)  # a fine-tuned model at rest: low, not stuck
    assert _detect("no-learning", _epoch_run(converged)) == []
    # flat loss, but accuracy far above chance: the model learns what the loss does not show
    flat = 1.2 + rng.normal(0, 0.1, n)
    assert _detect("no-learning", _epoch_run(flat, acc=0.8, hparams={"num_classes": 10})) == []
    # three epoch means, one point a step: too little to judge, as before
    one_each = _ctx({"train/loss": (np.arange(3), np.array([17.67, 17.65, 17.68]))})
    assert _detect("no-learning", one_each) == []
    # a slow, steady fall across the epochs is not a flat band
    slow = np.linspace(3.0, 2.7, n) + rng.normal(0, 0.05, n)
    assert _detect("no-learning", _epoch_run(slow)) == []
