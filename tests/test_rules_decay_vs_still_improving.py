"""lr-decay-needed says the loss flattened; not while validation still clearly falls (issue 12).

Adam at 1e-3 for 250 steps on a regression task: the per-step train loss is noisy enough that its
last quarter shows no significant fall, while validation, evaluated whole, falls 0.31 -> 0.18 over
its last evaluations to its lowest at the end. The run is still improving; "flattened, decay the
rate" contradicted that on the same report.
"""

import numpy as np

from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth
from tests.test_summaries import contradictions

ENGINE = Engine.from_config()


def _report(val_late_fall: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    steps = np.arange(10, 251, 10)
    train = (0.17 + 0.9 * np.exp(-steps / 40.0)) * rng.lognormal(0, 0.12, steps.size)
    vs = np.arange(25, 251, 25)
    val = 0.9 * np.exp(-vs / 25.0) + 0.18 + val_late_fall * np.clip((250 - vs) / 175.0, 0, 1)
    lr = np.full(steps.size, 1e-3)
    curves = {"train/loss": (steps, train), "eval/loss": (vs, val), "train/learning_rate": (steps, lr)}
    return diagnose_run(synth.run_of(curves), ENGINE).report


def test_validation_still_falling_clearly_is_not_a_flattened_run():
    for seed in range(3):
        conds = [f.condition for f in _report(0.12, seed).findings]
        assert "lr-decay-needed" not in conds, conds


def test_a_validation_creep_of_a_hair_leaves_the_decay_suggestion():
    seen = [("lr-decay-needed" in [f.condition for f in _report(0.0005, seed).findings]) for seed in range(3)]
    assert all(seen)


def test_a_run_still_falling_when_its_linear_decay_reached_zero_is_still_improving():
    # YOLOv5's 20-epoch fine-tune: lr 0.01 decayed linearly to 1e-4, every val loss at its minimum
    # on the last epoch and the train loss still falling. Three readers of such runs said "stopped
    # too early": the anneal finishing does not make more steps useless — stretch it with them
    ep = np.arange(20)
    train = 0.09 + 0.12 * np.exp(-ep / 7.0)
    val = 0.075 + 0.15 * np.exp(-ep / 5.0)
    lr = 0.01 * (1 - (ep + 1) / 20.0) + 1e-4
    rep = diagnose_run(synth.run_of({"train/loss": (ep, train), "val/loss": (ep, val), "x/lr0": (ep, lr)}), ENGINE).report
    found = [f for f in rep.findings if f.condition == "still-improving"]
    assert found and found[0].remedies[0].action == "train_longer"


def test_a_short_late_window_one_step_out_of_order_is_still_falling():
    # the same fine-tune's real train loss: its last six epochs fall with one step out of order,
    # which a Mann-Kendall z over six points scores -2.25 (only perfect order reaches -2.6); the
    # exact Kendall p (0.008) says falling. Validation is lowest at the last epoch
    ep = np.arange(20)
    train = np.array([0.2082, 0.1928, 0.1734, 0.1565, 0.1422, 0.1363, 0.1263, 0.1233, 0.1173, 0.1131,
                      0.1081, 0.1059, 0.1015, 0.0997, 0.0986, 0.0969, 0.0937, 0.0943, 0.0927, 0.092])
    val = np.array([0.2267, 0.2322, 0.2031, 0.1386, 0.1675, 0.1086, 0.1194, 0.117, 0.0996, 0.0975,
                    0.105, 0.0932, 0.087, 0.0835, 0.0902, 0.0859, 0.0819, 0.083, 0.0842, 0.0791])
    rep = diagnose_run(synth.run_of({"train/loss": (ep, train), "val/loss": (ep, val)}), ENGINE).report
    assert "still-improving" in [f.condition for f in rep.findings]
    # two steps out of order in six is no longer a fall the test can stand on
    train2 = train.copy()
    train2[-6:] = [0.0969, 0.0937, 0.0943, 0.092, 0.0927, 0.0921]
    rep = diagnose_run(synth.run_of({"train/loss": (ep, train2), "val/loss": (ep, val)}), ENGINE).report
    assert "still-improving" not in [f.condition for f in rep.findings]


def test_validation_falling_in_order_to_the_end_over_a_noisy_train_loss_is_still_improving():
    # SGD with momentum on blobs, 300 steps, one noisy minibatch logged every 10: the train loss's
    # last quarter falls 12% of its whole fall at a trend z of only -1.4 in the scatter, while all
    # ten evaluations fall in order to the last (1.31 -> 0.18). The run is cut off mid-descent
    steps = np.arange(0, 300, 10)
    train = np.array([1.424, 1.392, 1.355, 1.317, 1.287, 1.245, 1.174, 1.154, 1.063, 1.06, 1.025, 0.969, 0.899, 0.777, 0.712,
                      0.626, 0.58, 0.587, 0.475, 0.435, 0.46, 0.328, 0.272, 0.345, 0.347, 0.287, 0.244, 0.165, 0.266, 0.252])
    vs = np.arange(30, 301, 30)
    val = np.array([1.311, 1.197, 1.052, 0.87, 0.687, 0.53, 0.402, 0.305, 0.231, 0.18])
    rep = diagnose_run(synth.run_of({"Loss/train": (steps, train), "Loss/val": (vs, val)}), ENGINE).report
    assert "still-improving" in [f.condition for f in rep.findings]
    # the same validation over a train loss whose last quarter went back up is not
    up = train.copy()
    up[-8:] = [0.165, 0.2, 0.244, 0.26, 0.28, 0.3, 0.31, 0.33]
    rep = diagnose_run(synth.run_of({"Loss/train": (steps, up), "Loss/val": (vs, val)}), ENGINE).report
    assert "still-improving" not in [f.condition for f in rep.findings]


def _yolo_like(val_tau: float, seed: int = 1):
    """200 epochs of a detector: the summed train loss's flat, noisy objectness term hides its box
    term's slow fall; validation decays with time constant ``val_tau`` epochs, its last six
    evaluations a hair up from its lowest."""
    rng = np.random.default_rng(seed)
    ep = np.arange(200)
    train = 0.06 + 0.05 * np.exp(-ep / 120.0) + 0.17 + rng.normal(0, 0.006, ep.size)  # box + a flat objectness term
    val = 0.19 + 0.13 * np.exp(-ep / val_tau) + rng.normal(0, 0.0005, ep.size)
    val[194:] = val[193] + np.linspace(0.0003, 0.001, 6)
    return diagnose_run(synth.run_of({"train/loss": (ep, train), "val/loss": (ep, val)}), ENGINE).report


def test_validation_trending_down_to_near_its_end_over_a_flat_summed_train_loss_is_still_improving():
    # validation's last quarter brings 10% of its whole fall at a steady pace
    found = [f for f in _yolo_like(100.0).findings if f.condition == "still-improving"]
    assert found and "validation is still falling" in found[0].summary and not contradictions(found[0].summary)
    # validation creeping a hair of its fall at the end: a converged run, not one cut short
    assert "still-improving" not in [f.condition for f in _yolo_like(30.0).findings]


def _sparse(val: np.ndarray, train_points: int = 6):
    # a Hugging Face fine-tune: loss logged every 500 of 3,130 steps, evaluated each epoch
    steps = np.arange(1, train_points + 1) * 500
    train = 5.1 + 0.5 * np.exp(-steps / 900.0)
    vs = np.linspace(313, 3130, val.size).astype(int)
    curves = {"train/loss": (steps, train), "eval/loss": (vs, val)}
    return diagnose_run(synth.run_of(curves), ENGINE).report


def _still(rep):
    return [f for f in rep.findings if f.condition == "still-improving"]


def test_a_train_loss_logged_more_rarely_than_validation_lets_validation_say_still_improving():
    # extra15: bert-mini, eval loss 5.49 -> 4.97 in order over 10 epochs, lowest at the last; six
    # train points were too few for the train-led test, and nothing was said
    val = np.array([5.489, 5.292, 5.216, 5.127, 5.079, 5.043, 5.005, 4.986, 4.970, 4.967])
    got = _still(_sparse(val))
    assert len(got) == 1 and got[0].evidence["train_points"] == 6
    assert "6 times" in got[0].summary and got[0].remedies[0].action == "train_longer"
    # validation flat over its second half (its last point a hair lower): settled, not improving
    flat = np.concatenate([val[:5], [5.079, 5.080, 5.079, 5.081, 5.078]])
    assert _still(_sparse(flat)) == []
    # validation in order but its second half brought under 5% of its fall: converged
    conv = 4.0 + 1.5 * np.exp(-np.arange(10) * 1.2)
    assert _still(_sparse(conv)) == []
