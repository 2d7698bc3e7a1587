"""Rule forms for the last real readings that disagreed (benchmarks/readings): a loss logged as
a running mean at one step per epoch (no-learning), and a loss that keeps spiking off its floor
(lr-too-high); each on a curve shaped like the run and on its healthy look-alikes."""

from __future__ import annotations

import numpy as np

from advisor.model import Series
from advisor.rules.base import Context
from tests.test_readings_rules import _ctx, _detect, _spiky


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


# -- lr-too-high on a loss that keeps spiking off its floor ------------------------------------


def _sup(loss: np.ndarray) -> Context:
    n = len(loss)
    return _ctx({"train/epoch_loss": (np.arange(n), loss), "validation/epoch_loss": (np.arange(n), loss * 1.07)})


def test_lr_too_high_sees_a_loss_that_keeps_spiking_off_its_floor():
    got = _detect("lr-too-high", _sup(_spiky(4000, 0)))
    assert len(got) == 1 and got[0].severity.value == "warning"
    ev = got[0].evidence
    assert ev["form"] == "keeps-spiking" and ev["spike_episodes"] >= 5 and ev["max_over_floor"] >= 100
    assert got[0].remedies[0].action == "scale_lr" and got[0].remedies[0].params["factor"] < 1
    assert "keeps spiking" in got[0].summary and f"{ev['spike_episodes']} times" in got[0].summary


def test_keeps_spiking_quiet_on_gradient_noise_and_healthy_small_batch_losses():
    rng = np.random.default_rng(7)
    n = 4000
    t = np.arange(n)
    # small-batch per-batch loss: heavy log-normal noise around a slowly falling level
    small_batch = (0.3 + 2.0 * np.exp(-t / 300.0)) * np.exp(rng.normal(0, 0.8, n))
    # a model that memorised its data: ~1e-3, a hard batch (50x) now and then
    memorised = (1e-3 + 2.0 * np.exp(-t / 200.0)) * np.exp(rng.normal(0, 0.4, n))
    memorised[rng.random(n) < 0.04] *= 50
    # gradient noise on a plateau: wide batch-to-batch scatter, no floor it leaves and returns to
    plateau_noise = 0.7 * np.exp(rng.standard_t(3, n) * 0.5)
    for y in (small_batch, memorised, plateau_noise):
        assert [f for f in _detect("lr-too-high", _sup(y)) if f.evidence.get("form") == "keeps-spiking"] == []
    # spikes that stay under two decades over the floor: the oscillation's, not a too-high rate
    mild = _spiky(4000, 2)
    floor = np.percentile(mild[:2000], 5)
    mild = np.minimum(mild, 60 * floor)
    assert [f for f in _detect("lr-too-high", _sup(mild)) if f.evidence.get("form") == "keeps-spiking"] == []


def test_the_new_forms_summaries_agree_with_their_numbers():
    from tests.test_summaries import contradictions

    rng = np.random.default_rng(3)
    out = _detect("no-learning", _epoch_run(17.4 + rng.normal(0, 0.15, 3 * 1875)))
    out += _detect("lr-too-high", _sup(_spiky(4000, 1)))
    assert {f.condition for f in out} == {"no-learning", "lr-too-high"}
    for f in out:
        assert contradictions(f.summary) == [], f.summary
