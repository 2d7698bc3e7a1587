"""Real TensorBoard logs from public projects (../shared/realruns): read, discover, resolve."""

import os
import time

import pytest

from advisor.analyze import analyze
from advisor.io.discover import discover
from advisor.io.runs import load_run
from advisor.io.roles import resolve
from advisor.model import Role

ROOT = os.environ.get("ADVISOR_REALRUNS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "realruns"))
pytestmark = pytest.mark.skipif(not os.path.isdir(ROOT), reason="../shared/realruns not present")

# Run directories listed in SOURCES.md (29), as discovery groups them.
EXPECTED_RUNS = 29

# Runs whose directory holds a second training (or stage) that writes the same tags from an earlier step:
# version_0 of pixel-level-image-analysis was written on two machines a day apart; Catalyst's
# chess-board valid_log gets a second file when its later stage starts at step 64.
RESTARTED = {
    "Dawidemm__pixel-level-image-analysis/lightning_logs/version_0": "events.out.tfevents.1698402708",
    "zaaabik__chess-board-key-points/logs": "events.out.tfevents.1597100497",
}


def test_every_run_discovered():
    runs = discover(ROOT).runs
    assert len(runs) == EXPECTED_RUNS
    names = {r.name for r in runs}
    assert "zaaabik__chess-board-key-points/logs" in names  # Catalyst train_log/valid_log/_base_log merged
    assert "snehankekre__streamlit-tensorboard/examples/logs/fit/20210613-221927" in names  # Keras train/validation


def test_train_loss_resolved_wherever_a_loss_exists():
    for rf in discover(ROOT).runs:
        run = load_run(rf)
        sig = resolve(run)
        has_loss = any("loss" in k.lower() or "cost" in k.lower() for k in run.series)
        if has_loss:
            assert Role.TRAIN_LOSS in sig.roles, rf.name
        if rf.name in RESTARTED:
            # a later file writes the same tags again from an earlier step: said once, not a read failure
            (problem,) = run.problems
            assert problem.startswith(RESTARTED[rf.name]) and "again from step" in problem, problem
        else:
            assert not run.problems, (rf.name, run.problems)


def test_specific_resolutions():
    runs = {rf.name: resolve(load_run(rf)).roles for rf in discover(ROOT).runs}
    assert runs["EnderXiao__SATD/lightning_logs/version_0"][Role.LR] == "lr-SGD"
    assert runs["AguLeon__LoRA_RoBERTa_AGNews/runs/run0"][Role.VAL_LOSS] == "eval/loss"
    assert runs["jtkim-kaist__end-point-detection/logs"][Role.VAL_LOSS] == "valid/Training_procedure/cost"
    yolo = runs["mkang315__RCS-YOLO/runs/train/exp"]
    assert yolo[Role.TRAIN_LOSS] == "train/box_loss+obj_loss+cls_loss" and yolo[Role.LR] == "x/lr0"


def test_analyze_whole_corpus_no_crash():
    t = time.perf_counter()
    result = analyze([ROOT], curves=True)
    assert len(result.report.runs) == EXPECTED_RUNS
    assert all(not any("rule" in p for p in r.problems) for r in result.report.runs)
    # the LoRA runs 0-3 never left ln(4) with accuracy at chance: a real failure, found
    lora = {r.run: r for r in result.report.runs if "LoRA" in r.run}
    for i in range(4):
        assert lora[f"AguLeon__LoRA_RoBERTa_AGNews/runs/run{i}"].findings[0].condition == "no-learning"
    assert not [f for f in lora["AguLeon__LoRA_RoBERTa_AGNews/runs/run4"].findings if f.severity.rank >= 2]
    assert time.perf_counter() - t < 120
