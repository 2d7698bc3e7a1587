"""`advisor watch`: incremental reading, new runs, findings once, debouncing, Ctrl-C, --once."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from advisor.cli import main
from advisor.io.writer import EventWriter
from advisor.watch import Watcher

from .helpers import healthy


def write(w: EventWriter, values, start: int = 0, tag: str = "train/loss") -> None:
    for i, v in enumerate(values):
        w.add_scalar(tag, float(v), start + i)
    w.flush()


def test_follows_files_as_they_grow_and_reports_each_finding_once(tmp_path):
    loss = healthy(600)
    w = EventWriter(tmp_path / "a")
    write(w, loss[:200])
    watcher = Watcher([str(tmp_path)], interval=0)
    assert watcher.poll() == []
    reader = next(iter(watcher.runs.values())).readers
    (r,) = reader.values()
    offset = r.offset
    write(w, loss[200:300], start=200)
    assert watcher.poll() == []
    assert r.offset > offset  # read incrementally, by the same reader
    write(w, [math.nan] * 20, start=300)
    new = watcher.poll()
    assert [(run, f.condition) for run, f in new] == [("a", "non-finite")]
    write(w, [math.nan] * 20, start=320)
    assert watcher.poll() == []  # not reported twice
    w.close()


def test_new_runs_are_discovered_and_unchanged_runs_not_rediagnosed(tmp_path):
    a = EventWriter(tmp_path / "a")
    write(a, healthy(100))
    watcher = Watcher([str(tmp_path)], interval=0)
    watcher.poll()
    b = EventWriter(tmp_path / "b")
    write(b, [1.0] * 50 + [math.inf])
    new = watcher.poll()
    assert [run for run, _ in new] == ["b"]
    assert sorted(wr.files.name for wr in watcher.runs.values()) == ["a", "b"]
    ra = watcher.runs[str(tmp_path / "a")]
    before = ra.last_diagnosis
    watcher.poll()
    assert ra.last_diagnosis == before  # nothing appended: not diagnosed again
    a.close()
    b.close()


def test_debounce_diagnoses_a_run_at_most_once_per_interval(tmp_path):
    w = EventWriter(tmp_path / "r")
    write(w, healthy(50))
    watcher = Watcher([str(tmp_path)], interval=10.0)
    watcher.poll(now=100.0)
    wr = next(iter(watcher.runs.values()))
    first = wr.last_diagnosis
    write(w, healthy(50), start=50)
    watcher.poll(now=105.0)
    assert wr.last_diagnosis == first and wr.dirty
    watcher.poll(now=111.0)
    assert wr.last_diagnosis == 111.0 and not wr.dirty
    assert wr.report is not None and wr.report.steps == (0, 99)
    w.close()


def test_judgments_wait_for_growth_or_for_the_run_to_settle(tmp_path):
    w = EventWriter(tmp_path / "r")
    rng = np.random.default_rng(0)
    # a slow, steady fall: slow-convergence (a warning), judged on a run still being written
    flat = 2.3 - 0.0008 * np.arange(400) + 0.01 * rng.standard_normal(400)
    write(w, flat[:100])
    watcher = Watcher([str(tmp_path)], interval=0, settle=30.0)
    assert watcher.poll(now=0.0) == []
    write(w, flat[100:140], start=100)
    assert watcher.poll(now=1.0) == []  # has not grown by half yet
    write(w, flat[140:200], start=140)
    assert [f.condition for _, f in watcher.poll(now=2.0)] == ["slow-convergence"]
    w2 = EventWriter(tmp_path / "s")
    write(w2, flat[:100])
    assert watcher.poll(now=3.0) == []
    # settled (both runs stopped growing): given their final update, as `advisor analyze` reads
    # them — a finished run that was still falling steadily also stopped while still improving,
    # which no unfinished run was told
    got = [(r, f.condition) for r, f in watcher.poll(now=40.0)]
    assert got == [("r", "still-improving"), ("s", "slow-convergence"), ("s", "still-improving")]
    assert watcher.poll(now=80.0) == []
    w.close()
    w2.close()


def test_a_partial_record_at_the_end_is_left_for_the_next_poll(tmp_path):
    w = EventWriter(tmp_path / "r")
    write(w, healthy(100))
    w.close()
    path = Path(w.path)
    full = path.read_bytes()
    cut = len(full) - 7
    path.write_bytes(full[:cut])  # a writer in the middle of a record
    watcher = Watcher([str(tmp_path)], interval=0)
    watcher.poll()
    wr = next(iter(watcher.runs.values()))
    assert wr.report.steps == (0, 98)
    with open(path, "ab") as fh:
        fh.write(full[cut:])
    watcher.poll()
    assert wr.report.steps == (0, 99)


def _watch(args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "advisor", "watch", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )  # SIGINT may be ignored when this runs in the background: the watch re-enables it


def test_ctrl_c_ends_cleanly_with_the_fail_on_exit_code(tmp_path):
    w = EventWriter(tmp_path / "run")
    write(w, list(healthy(100)) + [math.nan] * 5)
    proc = _watch([str(tmp_path), "--interval", "0.2", "--fail-on", "critical"])
    first = proc.stdout.readline()  # printed (and flushed) as soon as the finding appears
    assert first.startswith("run: critical non-finite"), first
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert out == ""  # reported once
    assert "Traceback" not in err and "1 critical" in err
    w.close()


def test_once_matches_analyze_and_bad_paths_exit_2(tmp_path, capsys):
    w = EventWriter(tmp_path / "run")
    write(w, list(healthy(100)) + [math.nan])
    w.close()
    assert main(["watch", str(tmp_path), "--once"]) == main(["analyze", str(tmp_path)]) == 1
    assert main(["watch", str(tmp_path), "--once", "--fail-on", "never"]) == 0
    capsys.readouterr()
    assert main(["watch", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file or directory" in err[0]
    assert main(["watch", str(tmp_path), "--interval", "0"]) == 2


def test_live_table_shows_runs_steps_losses_and_worst_finding(tmp_path):
    import io

    from rich.console import Console

    from advisor.commands.watch import _table

    w = EventWriter(tmp_path / "alpha")
    write(w, list(healthy(100)) + [math.nan])
    write(w, [0.9, 0.8], tag="val/loss")
    watcher = Watcher([str(tmp_path)], interval=0)
    watcher.poll()
    buf = io.StringIO()
    Console(file=buf, width=150).print(_table(watcher))
    text = buf.getvalue()
    assert "alpha" in text and "0–100" in text and "critical non-finite" in text and "0.8" in text
    w.close()
