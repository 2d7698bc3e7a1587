"""Every rule through the same battery: degenerate inputs, determinism, no mutation."""


import numpy as np
import pytest

from advisor.io.roles import resolve
from advisor.model import Finding, Run, Series
from advisor.rules import RULES
from advisor.rules.base import Context

RUN_RULES = [r for r in RULES if r.scope == "run"]
TAGS = ("train/loss", "val/loss", "train/lr", "train/grad_norm", "train/accuracy", "val/accuracy", "train/grad_norm/l1.weight", "train/grad_norm/l2.weight")


def _run(make):
    series = {}
    for tag in TAGS:
        s, v = make(tag)
        ser = Series.from_points(tag, s, v)
        series[ser.key] = ser
    return Run("r", "/x/r", series, hparams={"batch_size": 8, "max_grad_norm": 1.0, "num_classes": 10})


def _s(n, f):
    return lambda tag: (np.arange(n), f(n))


BATTERY = {
    "empty": _s(0, lambda n: np.zeros(0)),
    "one_point": _s(1, lambda n: np.ones(1)),
    "two_points": _s(2, lambda n: np.array([1.0, 0.5])),
    "constant": _s(500, lambda n: np.full(n, 2.0)),
    "zeros": _s(500, lambda n: np.zeros(n)),
    "all_nan": _s(50, lambda n: np.full(n, np.nan)),
    "nan_middle": _s(300, lambda n: np.where(np.arange(n) == 150, np.nan, np.linspace(2, 1, n))),
    "inf_start": _s(300, lambda n: np.r_[np.inf, np.linspace(2, 1, n - 1)]),
    "negative": _s(300, lambda n: -np.linspace(1, 5, n)),
    "huge": _s(200_000, lambda n: 1 + np.exp(-np.arange(n) / 2e4) + 0.01 * np.sin(np.arange(n))),
    "unsorted": lambda tag: (np.array([5, 1, 3, 2, 4, 0, 9, 7, 8, 6] * 3) + np.repeat([0, 10, 20], 10), np.linspace(2, 1, 30)),
    "tiny_scale": _s(400, lambda n: 1e-9 * (1 + np.exp(-np.arange(n) / 50))),
    "huge_scale": _s(400, lambda n: 1e12 * (1 + np.exp(-np.arange(n) / 50))),
}


@pytest.mark.parametrize("rule", RUN_RULES, ids=lambda r: r.id)
@pytest.mark.parametrize("case", list(BATTERY))
def test_rule_battery(rule, case):
    run = _run(BATTERY[case])
    before = {k: (s.steps.copy(), s.values.copy()) for k, s in run.series.items()}
    sig = resolve(run)
    params = rule.make_params()
    out1 = rule.detect(Context(run, sig), params)
    out2 = rule.detect(Context(run, sig), params)
    assert isinstance(out1, list)
    assert [f.to_dict() for f in out1] == [f.to_dict() for f in out2], "not deterministic"
    for f in out1:
        assert isinstance(f, Finding) and f.condition == rule.id
        assert 0 <= f.confidence <= 1 and f.summary
        f.to_dict()  # JSON-able
    for k, s in run.series.items():
        assert np.array_equal(s.steps, before[k][0]) and np.array_equal(s.values, before[k][1], equal_nan=True)
        assert not s.values.flags.writeable


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_documented(rule):
    doc = rule.doc
    assert len(doc) > 300, "docstring should say what, why, signals, trigger, remedies, false positives"
    low = doc.lower()
    for word in ("signals", "trigger", "remed", "false positive"):
        assert word in low, f"{rule.id} docstring lacks {word!r}"
    for name, _ in rule.param_docs():
        assert f"``{name}``" in doc, f"{rule.id}: parameter {name} undocumented"


def test_rule_ids_match_spec():
    spec = {
        "non-finite", "divergence", "exploding-gradients", "vanishing-gradients", "no-learning", "plateau",
        "slow-convergence", "oscillation", "unshuffled-data", "gradient-noise", "overfitting", "underfitting",
        "still-improving", "lr-decay-needed", "schedule-misconfigured", "val-below-train", "data-mismatch",
        "noisy-validation", "clipping-saturated", "bad-initial-loss", "validation-overuse", "lr-too-high",
        "entropy-collapse", "reward-collapse", "discriminator-overpowering",
    }
    assert {r.id for r in RULES} == spec
