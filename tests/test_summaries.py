"""Every summary must agree with the numbers it prints: a clause that says a curve is falling
shows its numbers falling, one that says rising shows them rising."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from advisor.analyze import analyze
from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth

NUM = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
ARROW = re.compile(NUM + r"\s*(?:->|→)\s*" + NUM)
FALL = re.compile(r"\b(fell|falling|fall|dropp\w*|decreas\w*|lower\w*)\b")
RISE = re.compile(r"\b(rose|rising|rise|climb\w*|increas\w*|grew|growing)\b")
STAY = re.compile(r"\b(stayed|stays|staying|stuck)\b")
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


NEGATIVE_CHANGE = re.compile(r"\b(fell|rose|moved only|made only|grew|dropped)\s+-\d")
UNREADABLE = re.compile(r"\b\d{9,}(?:\.\d+)?x")


def contradictions(summary: str) -> list[str]:
    bad = [f"a change word with a negative amount: {m.group(0)!r}" for m in NEGATIVE_CHANGE.finditer(summary)]
    bad += [f"an unreadable ratio: {m.group(0)!r}" for m in UNREADABLE.finditer(summary)]
    for clause in re.split(r"[;:]", summary):
        for m in ARROW.finditer(clause):
            a, b = float(m.group(1)), float(m.group(2))
            # the words that govern this arrow: after the last "while", "and", "but", "then" or comma
            before = re.split(r"\b(?:while|and|but|then)\b|,", clause[: m.start()])[-1]
            says_fall = FALL.search(before) and not RISE.search(before[FALL.search(before).end():])
            says_rise = RISE.search(before) and not FALL.search(before[RISE.search(before).end():])
            if says_fall and b > a:
                bad.append(f"says falling but {a} -> {b}: {clause.strip()}")
            if says_rise and b < a:
                bad.append(f"says rising but {a} -> {b}: {clause.strip()}")
            if STAY.search(before) and a > 0 and b > 0 and max(a / b, b / a) > 1.5:
                bad.append(f"says it stayed but {a} -> {b}: {clause.strip()}")
    return bad


def test_the_checker_catches_the_reported_contradiction():
    assert contradictions("train loss was still falling; validation is still falling too (0.867 -> 0.904)")
    assert contradictions("over the second half train loss fell 58% while val loss moved only -97% (0.915 -> 1.8)")
    assert contradictions("early layers get 2e-07x the gradient while the loss made only -1% progress")
    assert contradictions("after the gradient norm grew 12145567055252920320x (exploding gradients)")
    assert not contradictions("after the gradient norm grew 1.21e+19x; the loss made no progress")
    assert not contradictions("validation is still falling too (0.904 -> 0.867)")
    assert contradictions("train loss stayed at its initial level (0.697 -> 2.39) while the learning rate is far above")
    assert not contradictions("train loss stayed at its initial level (2.3 -> 2.33) while the learning rate is far above")
    assert not contradictions("val loss rose 8% from its minimum 0.9 to 1.02 while train loss went 1.18 -> 0.5")


def _synthetic_findings():
    engine = Engine.from_config()
    builders = list(synth.HEALTHY.values()) + [getattr(synth, n) for n in ("overfitting", "divergence", "no_learning", "slow", "plateau", "unshuffled", "short_schedule")]
    for build in builders:
        for seed in range(3):
            for f in diagnose_run(synth.run_of(build(seed)), engine).report.findings:
                yield f


def test_synthetic_summaries_agree_with_their_numbers():
    bad = [(f.condition, c) for f in _synthetic_findings() for c in contradictions(f.summary)]
    assert bad == []


@pytest.mark.skipif(not os.path.isdir(FIXTURES), reason="fixtures not present")
def test_fixture_summaries_agree_with_their_numbers():
    report = analyze([FIXTURES]).report
    bad = [(r.run, f.condition, c) for r in report.runs for f in r.findings for c in contradictions(f.summary)]
    assert bad == []


def test_progress_and_growth_words_read_right_at_the_extremes():
    from advisor.rules.vanishing_gradients import _progress_txt
    from advisor.signals import fmt

    assert _progress_txt(-0.01) == "made no progress" and not contradictions(f"the loss {_progress_txt(-0.01)}")
    assert _progress_txt(0.05) == "made only 5% progress"
    assert not contradictions(f"after the gradient norm grew {fmt(1.2145567e19)}x (exploding gradients)")


def test_ratios_and_a_loss_that_ended_higher_read_right():
    # a gradient that grew 1.6e16 times printed as "15550691934346090x"; a loss that ended above
    # its start as "made only -3% progress"
    from advisor.signals import times

    assert [times(x) for x in (3.16, 424.4, 343825030.0)] == ["3.2x", "424x", "3.4e+08x"]
    assert not contradictions(f"train loss jumped from 0.365 to 1.16 ({times(343825030.0)}) by step 249")
    from advisor.rules.exploding_gradients import Params, _loss_unhealthy
    from advisor.rules.base import Context
    from advisor.io.roles import resolve

    loss = np.concatenate([np.full(40, 2.3), 2.37 + 0.01 * (-1.0) ** np.arange(10)])
    run = synth.run_of({"train/loss": (np.arange(50), loss)})
    ctx = Context(run, resolve(run), "supervised")
    unhealthy, why = _loss_unhealthy(ctx, 40.0, Params())
    assert unhealthy and not contradictions(f"gradient norm grew 424x; {why}") and "above where it started" in why


def _declared_high_rate(loss: np.ndarray):
    """A loss logged every 10 steps under a logged learning rate of 14 (no optimizer family uses
    that): lr-too-high's findings on it."""
    from advisor.rules import BY_ID
    from tests.test_readings_rules import _ctx

    steps = np.arange(10, 10 * loss.size + 1, 10)
    ctx = _ctx({"train/loss": (steps, loss), "train/lr": (steps, np.full(loss.size, 14.0))})
    spec = BY_ID["lr-too-high"]
    return spec.detect(ctx, spec.make_params())


@pytest.mark.parametrize("course, words", [
    ("rose", "ended above its initial level"),
    ("came-back", "then climbed back up"),
    ("stayed", "stayed at its initial level"),
])
def test_a_declared_rate_summary_says_what_the_loss_did(course, words):
    # the declared form said "stayed at its initial level (0.697 -> 2.39)" for a loss that more
    # than tripled, and for one that learned to 0.16 and climbed back (population dev seeds)
    rng = np.random.default_rng(5)
    t = np.linspace(0, 1, 120)
    level = {"rose": 0.7 + 1.7 * t,
             "came-back": np.where(t < 0.3, 1.3 - 1.15 * t / 0.3, 0.15 + 1.1 * (t - 0.3) / 0.7),
             "stayed": np.full(t.size, 2.3)}[course]
    (f,) = _declared_high_rate(level * rng.lognormal(0, 0.03, t.size))
    assert f.evidence["form"] == "declared", f.evidence
    assert words in f.summary and contradictions(f.summary) == [], f.summary
