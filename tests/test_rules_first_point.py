"""What a run's first logged point is (issue 12, extra8 readings).

A TF1 Estimator logs its first loss at global step 1: the first batch under the initial weights,
not a point after updates. A DNNClassifier on unnormalised features starts at 56.5 nats per example
(5,650 summed over a batch of 100), falls to 0.13 within 100 steps and then learns to 98% accuracy:
a bad initialisation, never "the first steps blew the weights up and the run never recovered", and
never a "jump" — a first point that is the highest of the run is where the loss fell from.
"""

import numpy as np

from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth

ENGINE = Engine.from_config()


def _tf1_run(first: float = 5650.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    steps = np.arange(1, 3000, 100)
    loss = 100 * (0.12 * rng.lognormal(0, 0.3, steps.size))  # summed over a batch of 100
    loss[0] = first
    es = np.array([1000, 2000, 3000])
    curves = {"loss": (steps, loss), "eval:accuracy": (es, np.array([0.9, 0.917, 0.983])), "eval:loss": (es, np.array([15.0, 19.9, 7.6]))}
    return diagnose_run(synth.run_of(curves), ENGINE).report


def test_a_huge_first_point_at_step_1_is_a_bad_start_not_a_rate_too_high():
    for seed in range(3):
        rep = _tf1_run(seed=seed)
        conds = [(f.condition, f.severity.value) for f in rep.findings]
        assert not any(c == "lr-too-high" for c, _ in conds), conds
        assert ("bad-initial-loss", "info") in conds


def test_the_same_point_logged_after_fifty_updates_still_reads_a_blown_up_start():
    # logged at step 50 (Lightning's cadence) the first point already holds updates: a loss of
    # 5,650 there, with the run sitting at the same level after it, is the blow-up form's case
    rng = np.random.default_rng(1)
    steps = np.arange(50, 3000, 100)
    loss = 2.3 * rng.lognormal(0, 0.05, steps.size)
    loss[0] = 5650.0
    es = np.array([1000, 2000, 2950])
    curves = {"loss": (steps, loss), "val:accuracy": (es, np.array([0.1, 0.11, 0.1]))}
    rep = diagnose_run(synth.run_of(curves), ENGINE).report
    lth = [f for f in rep.findings if f.condition == "lr-too-high"]
    assert lth and lth[0].evidence["form"] == "blown-up-start"


def test_a_first_point_that_is_the_highest_is_no_jump():
    # a NeuralProphet forecaster (population of real runs): the first epoch's loss 0.0408, then
    # 0.0036 and a slow drift; the early window's highest point is the first — the loss fell from it.
    # It read "jumped from 0.0037 to 0.0408 by step 1684 ... units have likely died".
    steps = np.arange(1684, 79200, 1684)
    rest = 0.0036 + 0.0034 * np.sin(np.linspace(0, np.pi, steps.size - 1)) ** 2
    loss = np.concatenate([[0.0408], rest])
    rep = diagnose_run(synth.run_of({"Loss": (steps, loss), "Loss_val": (steps, 1.3 * loss)}), ENGINE).report
    assert not any(f.condition == "lr-too-high" and f.evidence.get("form") == "jump" for f in rep.findings)
