"""The readings sets under benchmarks/readings: well-formed, every run's files named with their
provenance, and no run from a repository issue 12 reserves for use elsewhere."""

from __future__ import annotations

import glob
import json
import os
import re

import pytest

from advisor.rules import BY_ID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READINGS = os.path.join(ROOT, "benchmarks", "readings")
SETS = sorted(p for p in glob.glob(os.path.join(READINGS, "*.json")) if not p.endswith("-MANIFEST.json"))
WORDS = set(BY_ID) | {"healthy", "unclear"}


def _reserved() -> set[str]:
    """The reserved repositories, as the readings README lists them (one place for the list)."""
    text = open(os.path.join(READINGS, "README.md"), encoding="utf-8").read()
    start = text.index("reserves for use elsewhere:")
    block = text[start : text.index("A collector's brief", start)]
    return set(re.findall(r"[\w.-]+/[\w.-]*[\w-]", block))


def test_the_reserved_list_is_read():
    got = _reserved()
    assert len(got) == 18 and "tylerkf/urop-cifar10-simple" in got and "5PCD3/Weather-Prediction-Using-YOLOV8" in got


@pytest.mark.parametrize("path", SETS, ids=os.path.basename)
def test_readings_are_well_formed(path):
    readings = json.load(open(path, encoding="utf-8"))
    assert readings, path
    runs = [r["run"] for r in readings]
    assert len(runs) == len(set(runs)), "a run read twice"
    for r in readings:
        assert r["verdict"] and set(r["verdict"]) <= WORDS, (r["run"], r["verdict"])
        assert set(r.get("also") or []) <= WORDS and set(r.get("must_not") or []) <= WORDS, r["run"]
        assert not set(r["verdict"]) & set(r.get("must_not") or []), r["run"]
        assert len(r.get("reasoning", "")) > 40, r["run"]


@pytest.mark.parametrize("path", [p for p in SETS if os.path.exists(p[:-5] + "-MANIFEST.json")], ids=os.path.basename)
def test_every_read_run_has_its_files_named_and_none_is_reserved(path):
    readings = json.load(open(path, encoding="utf-8"))
    manifest = json.load(open(path[:-5] + "-MANIFEST.json", encoding="utf-8"))
    named = {e["run"] for e in manifest}
    assert {r["run"] for r in readings} <= named
    for e in manifest:
        assert re.fullmatch(r"[0-9a-f]{40}", e["commit"]) and re.fullmatch(r"[0-9a-f]{64}", e["sha256"]) and e["bytes"] >= 0
    assert not {e["repo"] for e in manifest} & _reserved()


def test_a_reading_is_matched_to_its_run_by_the_folder_it_names():
    # the scorer resolves only the identifier: the run itself, the one run below the folder named
    # (ML-Agents' results/ppo holding ReachTarget/), or the run above a split folder named (a Keras
    # run that logged only train/, which discovery reads as the run's split)
    from benchmarks.diagnosis_accuracy import _report_for

    reports = {"a/results/ppo/ReachTarget": "agent", "b/tensorboard": "keras", "c/run": "plain"}
    assert _report_for("c/run", reports) == "plain"
    assert _report_for("a/results/ppo", reports) == "agent"
    assert _report_for("b/tensorboard/train", reports) == "keras"
    assert _report_for("b/tensorboard/version_0", reports) is None
    assert _report_for("c/run/train", {**reports, "c/run/train/x": "below"}) == "below"
