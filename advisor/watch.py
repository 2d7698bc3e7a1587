"""``advisor watch PATH...``: follow event files as they are written and report new findings.

Every ``--interval`` seconds the paths are walked again (new runs and new files are picked up),
each event file is read incrementally (one :class:`~advisor.io.tfevents.EventFileReader` per
file: only appended bytes are decoded; a record still being written is left for the next poll),
and each run whose files changed is diagnosed again by the same engine as ``advisor analyze`` —
at most once per interval per run. A finding is printed once, when its condition first appears
in a run (again only if its severity rises) — at once when critical; below critical, a judgment
on an unfinished run, once it has held while the run grew by half (a healthy curve looks like
slow convergence at its start), or when the run has stopped growing for ``settle`` seconds (it
looks finished: what is found then is printed, as ``advisor analyze`` would). A condition that
describes a finished run (``still-improving``) waits for that. On a terminal a live table shows each run's steps,
latest train and validation loss and worst finding; elsewhere only the finding lines are printed.

Ctrl-C ends it cleanly with the exit code of ``--fail-on`` over the findings of that moment.
``--once`` analyses what is there now, prints the report of ``advisor analyze`` and exits with
its codes. A path that does not exist is one error line and exit code 2; a path without event
files yet is waited on.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.errors import InputError
from advisor.io.discover import RunFiles, discover, is_url
from advisor.io.tfevents import EventFileReader
from advisor.pipeline import analyze_run
from advisor.tracking import END_OF_RUN, FindingTracker
from advisor.model import Finding, Role, RunReport


@dataclass
class WatchedRun:
    """One run being followed: a reader per event file and its latest diagnosis."""

    files: RunFiles
    readers: dict[str, EventFileReader] = field(default_factory=dict)
    dirty: bool = False
    last_diagnosis: float = -math.inf
    report: RunReport | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    tracker: FindingTracker = field(default_factory=lambda: FindingTracker(confirm_growth=0.5, defer=END_OF_RUN))
    last_change: float = -math.inf
    settled: bool = False  # no new data for `settle` seconds: given its final update


class Watcher:
    """Polls paths for event data and diagnoses runs whose files changed."""

    def __init__(
        self, paths: Sequence[str], config: AnalyzeConfig | None = None, interval: float = 2.0, verify_crc: bool = True, settle: float | None = None
    ) -> None:
        self.paths = list(paths)
        self.config = config or AnalyzeConfig()
        self.engine = Engine.from_config(self.config)
        self.mapping = dict(self.config.signals) or None
        self.interval = float(interval)
        self.settle = max(5 * self.interval, 10.0) if settle is None else float(settle)
        self.verify_crc = verify_crc
        self.runs: dict[str, WatchedRun] = {}  # by run directory
        self.problems: list[str] = []

    def discover(self) -> list[RunFiles]:
        found: list[RunFiles] = []
        multi = len(self.paths) > 1
        for p in self.paths:
            if is_url(p):  # object storage: one listing, which also gives every object's size
                found.extend(self._discover_url(p, multi))
                continue
            if not os.path.exists(p):
                if not self.runs:
                    raise InputError(f"{p}: no such file or directory")
                continue  # removed while being watched: keep what was read
            d = discover(p, name_prefix=os.path.normpath(p) if multi else None)
            found.extend(d.runs)
            for msg in d.problems:
                if msg not in self.problems:
                    self.problems.append(msg)
        return found

    def _discover_url(self, url: str, multi: bool) -> list[RunFiles]:
        from advisor.io.remote import discover_url

        try:
            return list(discover_url(url, name_prefix=url.rstrip("/") if multi else None).runs)
        except InputError:
            if not self.runs:
                raise
            return []  # gone, or unreachable for a moment, while being watched: keep what was read

    def poll(self, now: float | None = None, force: bool = False) -> list[tuple[str, Finding]]:
        """Read what was appended, diagnose changed runs; return (run, finding) newly reported."""
        now = time.monotonic() if now is None else now
        for rf in self.discover():
            wr = self.runs.get(rf.path)
            if wr is None:
                wr = self.runs[rf.path] = WatchedRun(rf)
            wr.files = rf
            sizes = getattr(rf, "sizes", None) or [None] * len(rf.files)  # a remote listing's
            for (path, _), size in zip(rf.files, sizes):
                reader = wr.readers.get(path)
                if reader is None:
                    reader = wr.readers[path] = _reader(path, self.verify_crc)
                    wr.dirty = True
                if reader.poll() if size is None else reader.poll(size=size):
                    wr.dirty = True
            if wr.dirty:
                wr.last_change = now
                wr.settled = False
        new: list[tuple[str, Finding]] = []
        for wr in self.runs.values():
            if wr.dirty and (force or now - wr.last_diagnosis >= self.interval):
                new.extend((wr.files.name, f) for f in self._diagnose(wr))
                wr.last_diagnosis = now
                wr.dirty = False
            elif not wr.dirty and not wr.settled and wr.report is not None and now - wr.last_change >= self.settle:
                wr.settled = True
                new.extend((wr.files.name, f) for f in wr.tracker.update(wr.report.findings, _last_step(wr.report), final=True))
        return new

    def _diagnose(self, wr: WatchedRun) -> list[Finding]:
        rf = wr.files
        a = analyze_run(rf, self.engine, self.mapping, files=[wr.readers[p].result() for p, _ in rf.files])
        wr.report = a.report
        wr.train_loss = _last_finite(a.signals.get(a.run, Role.TRAIN_LOSS))
        wr.val_loss = _last_finite(a.signals.get(a.run, Role.VAL_LOSS))
        return wr.tracker.update(a.report.findings, _last_step(wr.report))

    def reports(self) -> list[RunReport]:
        return [wr.report for wr in self.runs.values() if wr.report is not None]

    def findings(self) -> list[Finding]:
        return [f for r in self.reports() for f in r.findings]


def _reader(path: str, verify_crc: bool) -> EventFileReader:
    if is_url(path):
        from advisor.io.remote import RemoteEventFileReader

        return RemoteEventFileReader(path, verify_crc=verify_crc)
    return EventFileReader(path, verify_crc=verify_crc)


def _last_step(r: RunReport) -> int:
    return r.steps[1] if r.steps else 0


def _last_finite(s: Any) -> float | None:
    if s is None or not len(s):
        return None
    for v in reversed(s.values.tolist()):
        if math.isfinite(v):
            return float(v)
    return float(s.values[-1])
