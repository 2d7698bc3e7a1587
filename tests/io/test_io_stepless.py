"""Streams logged without a step (add_scalar(tag, value), no global_step): every point at step 0.

Without placing them, a repeated step keeps only the point written last and a 500-point curve
reads as one point: an overfitting run got "no findings"."""

from __future__ import annotations

import numpy as np
import pytest

from advisor.analyze import analyze
from advisor.io.discover import discover
from advisor.io.runs import load_run
from advisor.io.stepless import place_stepless
from advisor.io.writer import EventWriter


def _overfitting_points(n=500, every=50):
    rng = np.random.default_rng(0)
    for i in range(n):
        yield "train_loss", float(2.3 * np.exp(-i / 100) + 0.1 + rng.normal(0, 0.02)), i
        if i % every == every - 1:
            yield "val_loss", float(2.3 * np.exp(-i / 100) + 0.3 + 0.002 * i), i


def test_a_run_logged_without_steps_is_read_in_the_order_it_was_written(tmp_path):
    with EventWriter(str(tmp_path / "run")) as w:
        for k, (tag, v, i) in enumerate(_overfitting_points()):
            w.add_scalar(tag, v, 0, wall_time=1_700_000_000.0 + k * 0.01)
    run = load_run(discover(str(tmp_path)).runs[0])
    train, val = run.series["train_loss"], run.series["val_loss"]
    assert len(train) == 500 and list(train.steps[:3]) == [0, 1, 2]
    assert len(val) == 10 and list(val.steps[:2]) == [49, 99]  # after the train point written before it
    assert any("no step was logged" in p and "train_loss (500)" in p for p in run.problems)
    rep = analyze([str(tmp_path)]).report.runs[0]
    assert "overfitting" in [f.condition for f in rep.findings]


def test_a_stepless_stream_beside_stepped_ones_is_placed_by_wall_time(tmp_path):
    with EventWriter(str(tmp_path / "run")) as w:
        for k, (tag, v, i) in enumerate(_overfitting_points()):
            w.add_scalar(tag, v, 10 * i if tag == "train_loss" else 0, wall_time=1_700_000_000.0 + i)
    run = load_run(discover(str(tmp_path)).runs[0])
    assert list(run.series["train_loss"].steps[:2]) == [0, 10]
    assert list(run.series["val_loss"].steps[:2]) == [490, 990]
    assert any("placed on the steps of train_loss by their wall times" in p for p in run.problems)


def test_split_directories_logged_without_steps_keep_their_relative_places(tmp_path):
    # Keras-like train/ and validation/ files, both without steps: wall time interleaves them
    for split, tag, count, dt, off in (("train", "epoch_loss", 30, 1.0, 0.5), ("validation", "epoch_loss", 10, 3.0, 0.7)):
        with EventWriter(str(tmp_path / "run" / split)) as w:
            for i in range(count):
                w.add_scalar(tag, 1.0 / (i + 1), 0, wall_time=1_700_000_000.0 + (i + 1) * dt + off)
    run = load_run(discover(str(tmp_path)).runs[0])
    assert list(run.series["train/epoch_loss"].steps[:3]) == [0, 1, 2]
    assert list(run.series["validation/epoch_loss"].steps[:3]) == [2, 5, 8]


def test_a_few_points_at_one_step_are_left_as_written():
    s = np.zeros(2, dtype=np.int64)
    streams = {"final": (s, np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.arange(2))}
    out, notes = place_stepless(streams)
    assert notes == [] and list(out["final"][0]) == [0, 0]


def test_the_tensorboard_plugin_places_them_the_same_way(tmp_path):
    pytest.importorskip("tensorboard")
    from tests.test_tb_plugin import Harness

    with EventWriter(str(tmp_path / "logs" / "run")) as w:
        for k, (tag, v, i) in enumerate(_overfitting_points()):
            w.add_scalar(tag, v, 0, wall_time=1_700_000_000.0 + k * 0.01)
    h = Harness(tmp_path / "logs")
    got = h.json("/report")
    assert "overfitting" in [f["condition"] for f in got["runs"][0]["findings"]]
    assert any("no step was logged" in p for p in got["runs"][0]["problems"])


def _write(path, points):
    with EventWriter(str(path)) as w:
        for k, (tag, v, step) in enumerate(points):
            w.add_scalar(tag, v, step, wall_time=1_700_000_000.0 + k * 0.01)


def test_a_step_counter_that_restarts_every_epoch_is_read_in_write_order(tmp_path):
    # add_scalar("train_loss", loss, batch_idx): ten epochs of 100 batches over steps 0-99. Keeping
    # the point written last at each step left only the last epoch — a flat loss that read as a
    # critical rate too high and a data mismatch beside a falling validation loss.
    rng = np.random.default_rng(3)
    loss = (0.2 + 2.1 * np.exp(-np.arange(1000) / 250)) * rng.lognormal(0, 0.15, 1000)
    pts = []
    for i, v in enumerate(loss):
        pts.append(("train_loss", float(v), i % 100))
        if i % 100 == 99:
            pts.append(("val_loss", float(0.25 + 2.0 * np.exp(-(i + 1) / 250)), i // 100))
    _write(tmp_path / "batchidx", pts)
    run = load_run(discover(str(tmp_path / "batchidx")).runs[0])
    train = run.series["train_loss"]
    assert len(train) == 1000 and int(train.steps[-1]) == 999 and train.values[0] > 5 * train.values[-1]
    assert any("fall back to 0 9 times" in p for p in run.problems)
    rep = analyze([str(tmp_path / "batchidx")]).report.runs[0]
    assert not {"lr-too-high", "data-mismatch", "no-learning"} & {f.condition for f in rep.findings}


def test_re_runs_written_into_one_file_and_a_resume_are_not_unrolled(tmp_path):
    # three trainings from scratch into one writer start over at each fall: the last still wins at
    # each step, as before, and the run says so; a resume falls back to a middle step, once
    rng = np.random.default_rng(4)
    runs = [(0.2 + 2.1 * np.exp(-np.arange(300) / 80)) * rng.lognormal(0, 0.15, 300) for _ in range(3)]
    _write(tmp_path / "reruns", [("train_loss", float(v), i) for r in runs for i, v in enumerate(r)])
    run = load_run(discover(str(tmp_path / "reruns")).runs[0])
    assert len(run.series["train_loss"]) == 300 and not any("carry on" in p for p in run.problems)
    assert any("3 trainings written into one file" in p for p in run.problems)
    resumed = [("train_loss", float(v), i) for i, v in enumerate(runs[0])] + [("train_loss", float(v), 200 + i) for i, v in enumerate(runs[1][150:])]
    _write(tmp_path / "resumed", resumed)
    run = load_run(discover(str(tmp_path / "resumed")).runs[0])
    assert int(run.series["train_loss"].steps[-1]) == 349 and not any("fall back" in p for p in run.problems)


def test_a_per_epoch_counter_over_a_loss_that_never_moved_keeps_the_first_epoch(tmp_path):
    # SGD at a rate far too high, the step a per-epoch batch index: the loss blew up in the first
    # epoch, then sat at ln 10 for seven epochs. Whether such a stream carries on or starts over
    # cannot be told (its values never left their start), and keeping the last written point at
    # each step threw the first epoch's blow-up away: the run read as no-learning, whose advice
    # does not lower the rate. Laid end to end it keeps the blow-up.
    rng = np.random.default_rng(5)
    loss = np.log(10) + rng.normal(0, 0.05, 315)
    loss[11:15] = [15.0, 13.1, 9.3, 8.7]
    _write(tmp_path / "stuck", [("loss/train", float(v), i % 45) for i, v in enumerate(loss)])
    run = load_run(discover(str(tmp_path / "stuck")).runs[0])
    train = run.series["loss/train"]
    assert len(train) == 315 and float(train.values[12]) == pytest.approx(13.1)
    assert any("cannot be told" in p for p in run.problems)
    rep = analyze([str(tmp_path / "stuck")]).report.runs[0]
    assert rep.findings and rep.findings[0].condition == "lr-too-high"


def test_a_stuck_stream_with_blow_ups_at_epoch_ends_keeps_every_epoch(tmp_path):
    # The same slip (seed 53): the first epochs end on blow-ups (4.6, 9.3, 2.6), so the values
    # right after those falls, back at the usual 2.3, read as restarts, and the stream kept only
    # its last epoch (a flat 2.3: critical no-learning, whose advice does not lower the rate). A
    # stream whose median sits at its first points cannot say it started over; laid end to end,
    # the blow-ups stay in the curve.
    rng = np.random.default_rng(6)
    loss = np.log(10) + rng.normal(0, 0.03, 315)
    loss[7:16] = [4.1, 5.0, 4.6, 5.3, 7.6, 7.6, 2.6, 7.0, 6.0]
    loss[40:45] = [2.05, 3.1, 4.59, 9.26, 2.64]
    loss[87:90] = [1.81, 2.5, 2.83]
    _write(tmp_path / "tie", [("loss/train", float(v), i % 45) for i, v in enumerate(loss)])
    run = load_run(discover(str(tmp_path / "tie")).runs[0])
    assert len(run.series["loss/train"]) == 315 and any("cannot be told" in p for p in run.problems)
    rep = analyze([str(tmp_path / "tie")]).report.runs[0]
    assert rep.findings and rep.findings[0].condition == "lr-too-high"


def test_a_second_launch_continuing_the_first_in_one_file_comes_after_it(tmp_path):
    # a notebook's training cell run again into the same writer (hsuanchunlin, extra30): 71 epochs
    # 0.074 -> 0.0545, then 5 more logged at steps 0..4 from the trained model. The last write won
    # at steps 0..4, splicing the second launch's 0.0548 in front of the first's 0.074: a flat
    # curve, read as critical no-learning
    first = 0.054 + 0.02 * np.exp(-np.arange(71) / 20)
    second = first[-1] - 0.0001 * np.arange(1, 6)
    _write(tmp_path / "cell", [("train/loss", float(v), i) for i, v in enumerate(first)] + [("train/loss", float(v), i) for i, v in enumerate(second)])
    run = load_run(discover(str(tmp_path / "cell")).runs[0])
    s = run.series["train/loss"]
    assert len(s) == 76 and int(s.steps[-1]) == 75 and abs(float(s.values[0]) - first[0]) < 1e-6
    assert any("once" in p and "continuing the first" in p for p in run.problems)
    # the same fall with the values starting over is a second training: the last write wins, as before
    _write(tmp_path / "again", [("train/loss", float(v), i) for i, v in enumerate(first)] + [("train/loss", float(v), i) for i, v in enumerate(first[:5])])
    run = load_run(discover(str(tmp_path / "again")).runs[0])
    assert len(run.series["train/loss"]) == 71 and any("once and its values start over" in p for p in run.problems)
