"""Real small RL and GAN runs, trained here and logged with real libraries' tag names
(benchmarks/workloads.py), read back by the analyzer: each labelled condition is found, healthy runs
stay quiet at warning level, and no supervised loss-shape rule speaks on an RL or GAN run."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("torch")

from benchmarks import workloads as W  # noqa: E402

# (case, seed): one of each condition, several writers, and a healthy corridor agent whose entropy
# reaches ~0 at the optimum (a run entropy-collapse must not alarm on).
PICKS = (
    ("rl/healthy/cartpole-sb3", 1),
    ("rl/healthy/corridor-rllib", 1),
    ("rl/no-learning/policy-not-optimised-mlagents", 1),
    ("rl/no-learning/sparse-cleanrl", 1),
    ("rl/entropy-collapse/corridor-noent-torchrl", 1),
    ("rl/reward-collapse/lr-jump-sb3", 1),
    ("gan/healthy/gd", 1),
    ("gan/discriminator-overpowering/lr10x-5steps", 1),
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("workloads"))
    by_name = {c.name: c for c in W.CASES}
    W.generate([(by_name[name], seed) for name, seed in PICKS], out, workers=1)
    return out


def test_manifest(generated):
    with open(os.path.join(generated, "manifest.json")) as fh:
        labels = json.load(fh)
    assert len(labels) == len(PICKS)
    assert {lab["split"] for lab in labels} == {"test"}
    assert sum(lab["verified"] for lab in labels) >= len(PICKS) - 1
    assert all(lab["run"].startswith("run-") and lab["case"] not in lab["run"] for lab in labels)


def test_conditions_found_healthy_quiet_no_supervised_findings(generated):
    res = W.score(generated, "all")
    assert res["n"] >= len(PICKS) - 1
    missed = {cond: hits for cond, hits in res["per"].items() if not all(hits)}
    assert missed == {}, res["rows"]
    assert res["healthy_warnings"] == [] and res["supervised"] == [] and res["wrong_workload"] == []
    assert {"no-learning", "reward-collapse", "discriminator-overpowering"} <= set(res["per"])


def test_remedies_come_from_the_run(generated):
    from advisor.analyze import analyze

    with open(os.path.join(generated, "manifest.json")) as fh:
        labels = {lab["run"]: lab for lab in json.load(fh)}
    for r in analyze([generated]).report.runs:
        lab = labels[r.run]
        for f in r.findings:
            acts: dict = {}
            for rem in f.remedies:  # the first remedy of each action
                acts.setdefault(rem.action, dict(rem.params))
            if f.condition == "reward-collapse":
                assert acts["early_stop"]["step"] == f.evidence["best_step"] and acts["early_stop"]["restore_best"] is True
                assert acts["scale_lr"]["factor"] < 0.1  # the logged rate rose 300x before the collapse
            if f.condition == "discriminator-overpowering":
                what = acts["balance_adversaries"]["what"]
                assert "0.001 to 0.0001" in what and "instead of 5" in what, what
            if f.condition == "entropy-collapse" and f.severity.value == "warning":
                assert "entropy_coef" in acts and acts["entropy_coef"]["factor"] > 1
        assert r.workload == lab["workload"]
