"""The analyzer against the fixture corpus: recall, top-1, and silence on healthy runs."""

import json
import os

import pytest

from advisor.evaluate import evaluate
from advisor.rules import CONDITION_IDS

ROOT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
MANIFEST = os.path.join(ROOT, "manifest.json")


@pytest.fixture(scope="module")
def ev():
    return evaluate(ROOT)


def test_manifest_is_well_formed():
    m = json.load(open(MANIFEST))
    runs = m["runs"]
    assert len(runs) >= 30
    for name, spec in runs.items():
        assert set(spec) >= {"expect", "healthy", "backend", "config"}, name
        assert spec["backend"] in ("torch", "jax")
        assert spec["healthy"] == (spec["expect"] == [])
        assert set(spec["expect"]) <= set(CONDITION_IDS), name
        assert os.path.isdir(os.path.join(ROOT, name)), name
    assert sum(s["healthy"] for s in runs.values()) >= 8
    per_condition = {}
    for spec in runs.values():
        if spec["expect"]:
            per_condition.setdefault(spec["expect"][0], []).append(spec["backend"])
    for cond, backends in per_condition.items():
        assert len(backends) >= 2, f"{cond}: fewer than two runs"
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    assert size < 20e6


def test_every_run_discovered(ev):
    assert ev.missing == [] and ev.extra == []


def test_recall(ev):
    assert ev.recall >= 0.9, ev.misses


def test_top1(ev):
    assert ev.top1_rate >= 0.8, ev.wrong_top


def test_healthy_runs_silent(ev):
    assert ev.healthy_loud == []
