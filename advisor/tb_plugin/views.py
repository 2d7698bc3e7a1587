"""The JSON the Advisor tab reads: a triage list of runs, one run in full, and its charts.

Plain data only: the page builds its elements with ``textContent``, so nothing here is markup.
Findings carry their text already formatted by :mod:`advisor.render.common` (the same words
the HTML and Markdown reports use).
"""

from __future__ import annotations

from typing import Any

from advisor.model import Finding, RunReport
from advisor.pipeline import RunAnalysis
from advisor.render.common import evidence_items, fmt_steps, ordered, remedy_cells, role_label, step_range, workload_line, worst
from advisor.render.text import summary_line


def finding_json(f: Finding) -> dict[str, Any]:
    sr = step_range(f)
    return {
        "condition": f.condition,
        "severity": f.severity.value,
        "confidence": round(f.confidence, 3),
        "priority": f.priority,
        "summary": f.summary,
        "onset": None if sr is None else fmt_steps(sr),
        "evidence": [{"key": k, "label": label, "text": text} for k, label, text in evidence_items(f.evidence)],
        "remedies": [
            dict(zip(("action", "params", "kind", "applies", "rationale"), remedy_cells(r)))
            for r in f.remedies
        ],
    }


def run_row(r: RunReport) -> dict[str, Any]:
    """One line of the triage list: the run, its worst severity and top finding."""
    fs = ordered(r.findings)
    sev = worst(fs)
    return {
        "run": r.run,
        "severity": sev.value if sev else None,
        "steps": fmt_steps(r.steps),
        "findings": len(fs),
        "conditions": [f.condition for f in fs],
        "top": None if not fs else {"condition": fs[0].condition, "severity": fs[0].severity.value, "summary": fs[0].summary},
    }


def runs_payload(rows: list[RunReport], sweep: tuple[Finding, ...], report: Any) -> dict[str, Any]:
    return {"runs": [run_row(r) for r in rows], "sweep": [finding_json(f) for f in ordered(sweep)], "summary": summary_line(report)}


def run_payload(a: RunAnalysis, charts: list[str]) -> dict[str, Any]:
    r = a.report
    return {
        **run_row(r),
        "workload": workload_line(r),
        "signals": [{"role": role_label(role), "tag": tag, "points": r.counts.get(tag)} for role, tag in r.signals.items()],
        "unresolved": [role_label(u) for u in r.unresolved],
        "notes": list(r.notes),
        "problems": list(r.problems),
        "detail": [finding_json(f) for f in ordered(r.findings)],
        "charts": [{"title": t, "index": i} for i, t in enumerate(charts)],
        "points": r.n_points,
        "series": r.n_series,
    }
