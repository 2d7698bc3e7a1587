"""Score the analyzer against a labelled corpus (``fixtures/manifest.json``).

For every pathological run: recall (an expected condition is reported) and top-1 (the
first-priority finding is an expected one). For healthy runs: no finding at warning or above.
Per condition: recall over the runs that expect it, precision over the runs it was reported in
(at any severity, and at warning or above), and the confusion between each run's expected
(primary) condition and the condition reported first.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping

from advisor.analyze import analyze
from advisor.model import Finding, Severity


@dataclass
class Evaluation:
    runs: int = 0
    pathological: int = 0
    healthy: int = 0
    recalled: int = 0
    top1: int = 0
    healthy_loud: list[tuple[str, str]] = field(default_factory=list)  # (run, condition) at warning+
    missing: list[str] = field(default_factory=list)  # manifest runs not found by discovery
    extra: list[str] = field(default_factory=list)  # discovered runs not in the manifest
    misses: list[tuple[str, list[str], list[str]]] = field(default_factory=list)  # (run, expected, reported)
    wrong_top: list[tuple[str, list[str], str]] = field(default_factory=list)
    per_condition: dict[str, dict[str, int]] = field(default_factory=dict)
    confusion: dict[str, Counter] = field(default_factory=dict)  # expected primary -> reported first

    @property
    def recall(self) -> float:
        return self.recalled / self.pathological if self.pathological else 1.0

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.pathological if self.pathological else 1.0


def evaluate(root: str, manifest: Mapping[str, Any] | None = None) -> Evaluation:
    if manifest is None:
        with open(os.path.join(root, "manifest.json")) as fh:
            manifest = json.load(fh)
    expected = manifest["runs"]
    result = analyze([root])
    found: dict[str, tuple[Finding, ...]] = {r.run: r.findings for r in result.report.runs}
    ev = Evaluation()
    ev.missing = sorted(set(expected) - set(found))
    ev.extra = sorted(set(found) - set(expected))
    stats: dict[str, dict[str, int]] = defaultdict(lambda: Counter())  # type: ignore[arg-type]
    for run, spec in sorted(expected.items()):
        if run not in found:
            continue
        fs = found[run]
        reported = [f.condition for f in fs]
        loud = {f.condition for f in fs if f.severity.rank >= Severity.WARNING.rank}
        exp = list(spec.get("expect", []))
        ev.runs += 1
        for cond in set(reported):
            stats[cond]["reported"] += 1
            stats[cond]["reported_ok"] += cond in exp
        for cond in loud:
            stats[cond]["loud"] += 1
            stats[cond]["loud_ok"] += cond in exp
        if spec.get("healthy"):
            ev.healthy += 1
            ev.healthy_loud.extend((run, c) for c in sorted(loud))
            ev.confusion.setdefault("healthy", Counter())[reported[0] if loud else "(quiet)"] += 1
            continue
        ev.pathological += 1
        primary = exp[0] if exp else "?"
        for cond in exp:
            stats[cond]["expected"] += 1
            stats[cond]["found"] += cond in reported
        if set(exp) & set(reported):
            ev.recalled += 1
        else:
            ev.misses.append((run, exp, reported))
        if reported and reported[0] in exp:
            ev.top1 += 1
        else:
            ev.wrong_top.append((run, exp, reported[0] if reported else "(nothing)"))
        ev.confusion.setdefault(primary, Counter())[reported[0] if reported else "(nothing)"] += 1
    ev.per_condition = {k: dict(v) for k, v in sorted(stats.items())}
    return ev


def format_report(ev: Evaluation) -> str:
    lines = [
        f"runs scored: {ev.runs} ({ev.pathological} pathological, {ev.healthy} healthy)",
        f"recall (an expected condition reported): {ev.recalled}/{ev.pathological} = {ev.recall:.3f}",
        f"top-1 (first finding is expected):       {ev.top1}/{ev.pathological} = {ev.top1_rate:.3f}",
        f"healthy runs with warning/critical findings: {len({r for r, _ in ev.healthy_loud})} ({', '.join(f'{r}: {c}' for r, c in ev.healthy_loud) or 'none'})",
    ]
    if ev.missing or ev.extra:
        lines.append(f"discovery: missing {ev.missing}, unexpected {ev.extra}")
    lines.append("")
    lines.append(f"{'condition':24s} {'recall':>9s} {'precision':>10s} {'precision(warn+)':>17s}")
    for cond, s in ev.per_condition.items():
        rec = f"{s.get('found', 0)}/{s.get('expected', 0)}" if s.get("expected") else "-"
        prec = f"{s.get('reported_ok', 0)}/{s.get('reported', 0)}" if s.get("reported") else "-"
        precw = f"{s.get('loud_ok', 0)}/{s.get('loud', 0)}" if s.get("loud") else "-"
        lines.append(f"{cond:24s} {rec:>9s} {prec:>10s} {precw:>17s}")
    lines.append("")
    lines.append("confusion: expected (primary) -> reported first")
    for exp, c in sorted(ev.confusion.items()):
        lines.append(f"  {exp:24s} " + ", ".join(f"{k} x{n}" for k, n in c.most_common()))
    if ev.misses:
        lines.append("")
        lines.append("missed:")
        lines.extend(f"  {r}: expected {e}, reported {rep}" for r, e, rep in ev.misses)
    if ev.wrong_top:
        lines.append("wrong first finding:")
        lines.extend(f"  {r}: expected {e}, first {t}" for r, e, t in ev.wrong_top)
    return "\n".join(lines) + "\n"
