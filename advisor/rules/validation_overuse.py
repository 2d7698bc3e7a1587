"""Many runs in one directory were selected against the same validation set.

Why it matters: every run tuned and picked by the same validation score leaks a little of
that set into the choice; after many runs the best validation score is optimistic, and the
chosen configuration may just fit the validation set's noise. Keep a held-out test set that
is looked at once, or use k-fold cross-validation.

Signals: a sweep — several runs side by side, each with a validation metric.

Trigger: at least ``min_runs`` sibling runs (same parent directory) log a validation loss or
accuracy, and their logged hyperparameters differ in at most ``max_varying`` keys (a search
over one setup; a directory of unrelated experiments is not one). When the runs differ in exactly one logged hyperparameter, the evidence lists each
value's best validation score and the wall time it took to reach it: compare runs by metric
against wall time, not epochs.

Remedies: ``check_data`` (hold out a test set used once, or k-fold), ``larger_val_set``.

Known false positives: seeds of one configuration (repetitions, not selection); runs that
already report a separate test metric (confidence is lowered).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from advisor import remedies as R
from advisor.model import Finding, Severity, SweepEntry
from advisor.rules.base import finding

ID = "validation-overuse"
SEVERITY = Severity.INFO
SIGNALS = ("a sweep of runs with validation metrics",)
SCOPE = "sweep"


@dataclass(frozen=True)
class Params:
    min_runs: int = 10
    max_varying: int = 6


def _varying(entries: list[SweepEntry]) -> list[str]:
    keys = set().union(*(e.hparams.keys() for e in entries)) if entries else set()
    out = []
    for k in sorted(keys):
        vals = {repr(e.hparams.get(k)) for e in entries}
        if len(vals) > 1:
            out.append(k)
    return out


def detect(entries: list[SweepEntry], p: Params) -> list[Finding]:
    groups: dict[str, list[SweepEntry]] = {}
    for e in entries:
        if e.best_val is None:
            continue
        groups.setdefault(os.path.dirname(e.run) or ".", []).append(e)
    out = []
    for parent, group in sorted(groups.items()):
        if len(group) < p.min_runs:
            continue
        varying = _varying(group)
        if len(varying) > p.max_varying:
            continue  # a collection of different experiments, not a search over one setup
        best = min(group, key=lambda e: e.best_val if e.best_val is not None else math.inf)
        with_test = sum(e.has_test for e in group)
        evidence: dict[str, Any] = {
            "directory": parent,
            "runs": len(group),
            "best_run": best.run,
            "best_val": best.best_val if best.best_val_metric != "val_acc" else -best.best_val,
            "metric": best.best_val_metric,
            "runs_with_test_metric": with_test,
            "varying_hparams": varying[:20],
        }
        if len(varying) == 1:
            key = varying[0]
            table = sorted(
                (
                    {"value": e.hparams.get(key), "run": e.run, "best_val": e.best_val if e.best_val_metric != "val_acc" else -e.best_val, "seconds_to_best": e.time_to_best}
                    for e in group
                ),
                key=lambda r: str(r["value"]),
            )
            evidence["comparison"] = {"hparam": key, "rows": table}
        rem = [
            R.check_data("hold out a test set that is evaluated once at the end, or use k-fold cross-validation"),
            R.larger_val_set("a larger validation set leaks less per selection"),
        ]
        one = f"; they differ only in {varying[0]} — compare them by validation metric against wall time, not epochs" if len(varying) == 1 else ""
        summary = (
            f"{len(group)} runs in {parent} were selected against one validation set (best: {best.run}); "
            f"its score is optimistic{one}"
        )
        conf = 0.6 if with_test < len(group) / 2 else 0.35
        out.append(finding(ID, SEVERITY, conf, summary, evidence, rem))
    return out
