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

RunKey = tuple[str, int]  # (config hash, seed)


class Journal:
    """Append-only JSONL of finished trainings and tuning decisions; survives kills."""

    def __init__(self, path: str, resume: bool) -> None:
        self.path = path
        self.runs: dict[RunKey, dict[str, Any]] = {}
        self.header: dict[str, Any] | None = None
        if os.path.exists(path):
            if not resume:
                raise UsageError(f"{path} exists: pass --resume to continue it, or choose another --out")
            self._load()

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill: that run is simply redone
                if rec.get("type") == "run":
                    self.runs[(rec["config_hash"], int(rec["seed"]))] = rec
                elif rec.get("type") == "start" and self.header is None:
                    self.header = rec

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
        line = json.dumps(rec, default=str, allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
