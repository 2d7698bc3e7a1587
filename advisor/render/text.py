"""Terminal report: per run, findings first by priority, with evidence, remedies and a sparkline.

Uses rich when it is installed (colour on a terminal, plain text in a pipe or file) and falls
back to plain text otherwise.
"""

from __future__ import annotations

import io
import math
import re
from typing import Mapping, Sequence

import numpy as np

from advisor.model import Curves, Finding, Report, RunReport, Severity
from advisor.render.common import ICON, alarming, by_severity, params_text, workload_line
from advisor.terminal import terminal_safe

_BLOCKS = "▁▂▃▄▅▆▇█"
SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_text(text: str) -> str:
    """Docstring text for a terminal: reStructuredText roles and double backticks dropped."""
    return _RST_ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text).replace("``", "")


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """Unicode block sparkline of at most ``width`` characters (finite values only)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return ""
    if arr.size > width:
        arr = np.array([np.median(chunk) for chunk in np.array_split(arr, width)])
    vals = arr.tolist()
    lo, hi = min(vals), max(vals)
    if hi - lo <= 0:
        return _BLOCKS[0] * len(vals)
    return "".join(_BLOCKS[min(7, int((v - lo) / (hi - lo) * 7.999))] for v in vals)


def _finding_lines(f: Finding) -> list[tuple[str, str]]:
    """(text, style) lines for one finding."""
    sev = f.severity
    head = f"  {f.priority}. {ICON[sev]} {sev.value:<8} {f.condition}  (confidence {f.confidence:.2f})"
    lines = [(head, SEVERITY_STYLE[sev]), (f"       {f.summary}", "")]
    if f.evidence.get("explained_by"):
        lines.append((f"       likely caused by: {f.evidence['explained_by']}", "dim"))
    for r in f.remedies:
        flags = r.kind + (", live" if r.live and r.kind == "auto" else "")
        p = params_text(dict(r.params))
        txt = f"       → {r.action}{(' ' + p) if p else ''}  [{flags}]"
        if r.rationale:
            txt += f"  {r.rationale}"
        lines.append((txt, "green" if r.kind == "auto" else "magenta"))
    return lines


def run_lines(r: RunReport, curves: Curves | None = None) -> list[tuple[str, str]]:
    steps = f"steps {r.steps[0]}–{r.steps[1]}" if r.steps else "no scalar data"
    out = [(f"{r.run}  ({steps}, {r.n_series} series, {r.n_points} points)", "bold")]
    out.append((f"  workload {workload_line(r)}", "dim"))
    if r.signals:
        sig = "   ".join(f"{role}: {tag}" + (f" ({r.counts[tag]})" if tag in r.counts else "") for role, tag in r.signals.items())
        out.append((f"  signals  {sig}", "dim"))
    if r.unresolved:
        out.append((f"  not found: {', '.join(r.unresolved)}", "dim"))
    for n in r.notes:
        out.append((f"  note: {n}", "dim"))
    if curves:
        for role in ("reward", "train_loss", "val_loss", "disc_loss"):
            c = curves.get(role)
            if c and c.values:
                line = sparkline(c.values)
                tail = f"  NaN at step {c.nonfinite_step}" if c.nonfinite_step is not None else ""
                out.append((f"  {role:<10} {line}  {c.values[0]:.4g} → {c.values[-1]:.4g}{tail}", ""))
    if r.findings:
        for f in r.findings:
            out.extend(_finding_lines(f))
    elif r.steps:
        out.append(("  ✓ no findings", "green"))
    for p in r.problems:
        out.append((f"  problem: {p}", "red"))
    return out


def summary_line(report: Report) -> str:
    counts = {s: 0 for s in Severity}
    for r in report.runs:
        for f in r.findings:
            counts[f.severity] += 1
    for f in report.sweep:
        counts[f.severity] += 1
    healthy = sum(1 for r in report.runs if not any(f.severity.rank >= Severity.WARNING.rank for f in r.findings))
    return (
        f"{len(report.runs)} run(s): {counts[Severity.CRITICAL]} critical, {counts[Severity.WARNING]} warning, "
        f"{counts[Severity.INFO]} info finding(s); {healthy} run(s) without warnings"
    )


def render(
    report: Report,
    curves: Mapping[str, Curves] | None = None,
    color: bool | None = None,
    width: int | None = None,
    only_problems: bool = False,
) -> str:
    """The whole report as text (with ANSI colour when ``color``), runs worst first.

    ``only_problems`` leaves out runs without a warning or critical finding (the summary line
    still counts them).
    """
    lines: list[tuple[str, str]] = []
    shown = [r for r in by_severity(report.runs) if alarming(r) or not only_problems]
    for r in shown:
        lines.extend(run_lines(r, (curves or {}).get(r.run)))
        lines.append(("", ""))
    if len(shown) < len(report.runs):
        lines.append((f"{len(report.runs) - len(shown)} run(s) without warnings not shown (--only-problems)", "dim"))
        lines.append(("", ""))
    if report.sweep:
        lines.append(("sweep", "bold"))
        for f in report.sweep:
            lines.extend(_finding_lines(f))
        lines.append(("", ""))
    for p in report.problems:
        lines.append((f"problem: {p}", "red"))
    lines.append((summary_line(report), "bold"))
    try:
        from rich.console import Console
        from rich.text import Text
    except ImportError:  # pragma: no cover - rich is a dependency, but stay usable without it
        return "\n".join(terminal_safe(t) for t, _ in lines) + "\n"
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=bool(color), color_system="standard" if color else None, width=width or 10_000, highlight=False, soft_wrap=True)
    for text, style in lines:
        console.print(Text(terminal_safe(text), style=style or ""), soft_wrap=True)
    return buf.getvalue()
