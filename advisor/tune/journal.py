"""The tuning journal: an append-only JSONL of finished trainings and decisions, and resuming from it.

Every line is flushed and fsynced when written, so a kill at any moment loses at most the line
being written; on ``--resume`` such a cut line is skipped and exactly that training is redone.
Records (one JSON object a line, told apart by ``type``):

* ``start``: backend, config hash and config, seeds, metric, time (``mode: live`` for tune --live);
* ``run``: one finished training, keyed by ``config_hash`` and ``seed``: its logdir, the
  executor's outcome (``ok``, ``result`` or ``error``, ``seconds``) and the run's findings;
* ``attempt``: one remedy tried and its verdict; ``end``: why tuning stopped.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Mapping

from advisor.errors import UsageError
from advisor.model import Finding

RunKey = tuple[str, int]  # (config hash, seed)


class Journal:
    """Append-only JSONL of finished trainings and tuning decisions; survives kills.

    A resumed journal may hold damage — a line cut by a kill, or lines edited by hand — so every
    line is checked: one that is not a JSON object of a known shape is skipped and listed in
    ``problems`` (its training, if it was one, is redone). A journal that cannot be read at all
    (a directory, no permission) is a usage error.
    """

    def __init__(self, path: str, resume: bool) -> None:
        self.path = path
        self.runs: dict[RunKey, dict[str, Any]] = {}
        self.header: dict[str, Any] | None = None
        self.problems: list[str] = []
        if os.path.lexists(path):
            if not resume:
                raise UsageError(f"{path} exists: pass --resume to continue it, or choose another --out")
            self._load()

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                data = fh.read()
        except OSError as e:
            raise UsageError(f"cannot read the journal {self.path}: {e.strerror or e}") from None
        bad: list[int] = []
        for no, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            rec = _parse(raw)
            if rec is None:
                bad.append(no)
            elif rec["type"] == "run":
                self.runs[(rec["config_hash"], int(rec["seed"]))] = rec
            elif rec["type"] == "start" and self.header is None:
                self.header = rec
        if bad:
            shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
            self.problems.append(f"{self.path}: skipped {len(bad)} unreadable line(s) ({shown}); their trainings are redone")
        if data and not data.endswith(b"\n"):
            # A kill mid-line left it unterminated: end it, so the next record starts a line of its own.
            self._append(b"\n")

    def begin(self, backend: str, config: dict[str, Any], config_hash: str, seeds: int, metric: str, mode: str | None = None) -> None:
        """Write the ``start`` record, or check that a resumed journal tuned this same config."""
        if self.header is not None:
            if self.header.get("config_hash") != config_hash:
                raise UsageError(f"{os.path.dirname(self.path)} holds a tuning of another config; use another --out")
            return
        mode_key = {"mode": mode} if mode else {}
        self.write({"type": "start", **mode_key, "backend": backend, "config_hash": config_hash, "config": config, "seeds": seeds, "metric": metric, "time": time.time()})

    def add_run(self, rec: dict[str, Any]) -> None:
        """Journal one finished training (a ``run`` record) and index it for reuse."""
        self.write(rec)
        self.runs[(rec["config_hash"], int(rec["seed"]))] = rec

    def write(self, rec: Mapping[str, Any]) -> None:
        self._append((json.dumps(rec, default=str, allow_nan=True) + "\n").encode("utf-8"))

    def _append(self, data: bytes) -> None:
        try:
            with open(self.path, "ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as e:
            raise UsageError(f"cannot write the journal {self.path}: {e.strerror or e}") from None


def _parse(raw: bytes) -> dict[str, Any] | None:
    """One journal line as a record, or None when it is not one (cut, edited, not UTF-8)."""
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
        return None
    if rec["type"] == "run":
        return rec if _valid_run(rec) else None
    if rec["type"] == "start":
        return rec if isinstance(rec.get("config_hash"), str) else None
    return rec


def _valid_run(rec: Mapping[str, Any]) -> bool:
    seed = rec.get("seed")
    if not isinstance(rec.get("config_hash"), str) or isinstance(seed, bool) or not isinstance(seed, int):
        return False
    findings = rec.get("findings", [])
    if not isinstance(findings, list):
        return False
    try:
        for f in findings:
            if not isinstance(f, dict):
                return False
            Finding.from_dict(f)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True
