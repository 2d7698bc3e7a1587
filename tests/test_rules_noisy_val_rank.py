"""Where noisy validation ranks beside a suggestion to decay the rate (issue 12).

A val set of a few dozen examples makes validation jump by a third of its level while the train
loss sits calm: that is the run's input, ranked with the other setup faults. Weights bouncing at a
constant rate move validation about as much as the train loss's own noise: there the decay
suggestion keeps its place (the shipped fixture constant-lr-needs-decay is such a run).
"""

import os

import numpy as np

from advisor.analyze import analyze
from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth

ENGINE = Engine.from_config()
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")


def test_a_tiny_val_set_beside_a_calm_train_loss_ranks_first():
    rng = np.random.default_rng(0)
    steps = np.arange(0, 1200, 10)
    train = 0.033 + 0.4 * np.exp(-steps / 120.0) + rng.normal(0, 0.0008, steps.size)
    es = np.arange(12, 1200, 12)
    val = (0.05 + 0.3 * np.exp(-es / 120.0)) * np.exp(rng.normal(0, 0.35, es.size))
    rep = diagnose_run(synth.run_of({"train/loss": (steps, train), "eval/loss": (es, val), "train/learning_rate": (steps, np.full(steps.size, 3e-3))}), ENGINE).report
    conds = [f.condition for f in rep.findings]
    assert conds[0] == "noisy-validation", conds
    assert rep.findings[0].evidence["late_noise_over_train"] >= 3


def test_validation_bouncing_with_the_weights_leaves_the_decay_suggestion_first():
    for fw in ("jax", "torch"):
        rep = analyze([os.path.join(FIXTURES, fw, "constant-lr-needs-decay")]).report.runs[0]
        assert rep.findings[0].condition == "lr-decay-needed", [f.condition for f in rep.findings]
