"""Every summary must agree with the numbers it prints: a clause that says a curve is falling
shows its numbers falling, one that says rising shows them rising."""

from __future__ import annotations

import os
import re

import pytest

from advisor.analyze import analyze
from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth

NUM = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
ARROW = re.compile(NUM + r"\s*(?:->|→)\s*" + NUM)
FALL = re.compile(r"\b(fell|falling|fall|dropp\w*|decreas\w*|lower\w*)\b")
RISE = re.compile(r"\b(rose|rising|rise|climb\w*|increas\w*|grew|growing)\b")
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def contradictions(summary: str) -> list[str]:
    bad = []
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
    return bad


def test_the_checker_catches_the_reported_contradiction():
    assert contradictions("train loss was still falling; validation is still falling too (0.867 -> 0.904)")
    assert not contradictions("validation is still falling too (0.904 -> 0.867)")
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
