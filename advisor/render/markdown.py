"""Markdown report for pull requests and issues (GitHub-flavoured Markdown).

A summary table of every run, then one section per run (signals, a sparkline of its key curve,
findings by priority with evidence and remedies, problems), then the sweep. Runs without
warnings are folded into ``<details>`` so a big tree stays readable.

Every string a user controls (run names, tags, summaries, rationales, problems) is escaped:
identifiers go into code spans sized past their longest backtick run, prose gets a backslash
before each Markdown metacharacter, and table cells also escape ``|``. Nothing a user wrote can
open a table cell, a heading, a link or an HTML tag.

The format-neutral helpers (which curve is key, which evidence to show, how numbers and step
ranges read) live in advisor.render.common, shared with the HTML renderer.
"""

from __future__ import annotations

import dataclasses

import html
import re
from typing import Any, Iterable, Mapping, Sequence

from advisor.model import Curves, Finding, Report, RunReport, Severity
from advisor.render.common import (
    by_severity,
    ICON,
    alarming,
    anchor,
    causal_links,
    comparison,
    curve_endpoints,
    evidence_items,
    fmt_steps,
    key_role,
    ordered,
    remedy_cells,
    role_label,
    workload_line,
    worst,
)
from advisor.render.text import sparkline, summary_line

# -- Markdown escaping ----------------------------------------------------------------------------

# Inline metacharacters; "(", ">", "!", "#" and "+" are inert once "[", "<" and line starts are.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<|~&$])")
_LEADING = re.compile(r"^([-=+>#]|\d+(?=[.)]))")


def md_text(s: Any) -> str:
    """Prose a user controls, as inert Markdown on one line (backslash before each metacharacter)."""
    t = " ".join(str(s).split())
    t = _MD_SPECIAL.sub(r"\\\1", t)
    # A leading list marker, quote or numbered item would restructure the line.
    return _LEADING.sub(_inert_start, t)


def _inert_start(m: re.Match[str]) -> str:
    tok = m.group(1)
    return tok + "\\" if tok.isdigit() else "\\" + tok


def md_code(s: Any, table: bool = False) -> str:
    """An identifier a user controls as a code span that no backtick inside it can close.

    In a table cell ``|`` is escaped too (GFM splits cells before it parses code spans).
    """
    t = " ".join(str(s).split()) or " "
    if table:
        t = t.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", t)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if t.startswith("`") or t.endswith("`") else ""
    return f"{fence}{pad}{t}{pad}{fence}"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [_row(header), _row("---" for _ in header), *(_row(r) for r in rows)]


def _sev(s: Severity | None) -> str:
    return f"{ICON[s]} {s.value}" if s else "✓ ok"


# -- the report -----------------------------------------------------------------------------------



def _summary_table(report: Report) -> list[str]:
    rows = []
    for i, r in enumerate(report.runs):
        top = ordered(r.findings)
        top_txt = f"{md_code(top[0].condition, table=True)} (confidence {top[0].confidence:.2f})" if top else "—"
        if len(top) > 1:
            top_txt += f" +{len(top) - 1}"
        rows.append(
            [f"[{md_code(r.run, table=True)}](#{anchor(i)})", fmt_steps(r.steps), _sev(worst(r.findings)), top_txt]
        )
    return _table(["Run", "Steps", "Worst", "Top finding"], rows)


def _finding(f: Finding, n: int) -> list[str]:
    num = f.priority if f.priority > 0 else n
    onset = f" · from step {f.onset}" if f.onset is not None else ""
    out = [f"**{num}. {_sev(f.severity)} · {md_code(f.condition)}** · confidence {f.confidence:.2f}{onset}", ""]
    out.append(md_text(f.summary) or "_(no summary)_")
    out.append("")
    items = evidence_items(f.evidence)
    if items:
        out.append("- Evidence: " + " · ".join(f"{md_text(label)} {md_code(v)}" for _, label, v in items))
    for label, ids in causal_links(f):
        out.append(f"- {label.capitalize()}: " + ", ".join(md_code(c) for c in ids))
    if items or causal_links(f):
        out.append("")
    comp = comparison(f.evidence)
    if comp:
        header, rows = comp
        out.extend(_table([md_text(h) for h in header], ([md_code(c, table=True) for c in row] for row in rows)))
        out.append("")
    if f.remedies:
        rows = []
        for rem in f.remedies:
            action, params, kind, live, why = remedy_cells(rem)
            cells = [
                md_code(action, table=True),
                md_code(params, table=True) if params else "",
                md_text(kind),
                live if kind == "auto" else "—",
            ]
            rows.append([*cells, md_text(why)])
        out.extend(_table(["Remedy", "Params", "Kind", "Applies", "Why"], rows))
        out.append("")
    return out


def _findings(findings: Sequence[Finding]) -> list[str]:
    out: list[str] = []
    for n, f in enumerate(ordered(findings), 1):
        out.extend(_finding(f, n))
    return out


def _run_body(r: RunReport, curves: Mapping[str, Any]) -> list[str]:
    out = [f"{fmt_steps(r.steps)} · {r.n_series} series · {r.n_points} points", ""]
    out += [f"**Workload:** {md_text(workload_line(r))}", ""]
    if r.signals:
        sig = " · ".join(
            f"{md_text(role_label(role))} {md_code(tag)}" + (f" ({r.counts[tag]})" if tag in r.counts else "")
            for role, tag in r.signals.items()
        )
        out += [f"**Signals:** {sig}", ""]
    if r.unresolved:
        out += ["**Not found:** " + ", ".join(md_text(role_label(u)) for u in r.unresolved), ""]
    for note in r.notes:
        out += [f"> Note: {md_text(note)}", ""]
    role = key_role(r, curves)
    if role:
        c = curves[role]
        line = f"{md_text(role_label(role))} {md_code(sparkline(c.values))} {curve_endpoints(c)}"
        if c.nonfinite_step is not None:
            line += f" · **non-finite at step {c.nonfinite_step}**"
        out += [line, ""]
    if r.findings:
        out += _findings(r.findings)
    elif r.steps:
        out += ["✓ No findings.", ""]
    if r.problems:
        out += ["**Problems:**", ""] + [f"- {md_text(p)}" for p in r.problems] + [""]
    return out


def _run(i: int, r: RunReport, curves: Mapping[str, Any]) -> list[str]:
    body = _run_body(r, curves)
    # An empty <a id> is the anchor GitHub keeps (it drops ids on most other tags).
    target = f'<a id="{anchor(i)}"></a>'
    if alarming(r):
        return [target, "", f"### {md_code(r.run)} — {_sev(worst(r.findings))}", "", *body]
    # Folded: <summary> is HTML, so the name is HTML-escaped there, not Markdown-escaped.
    state = _sev(worst(r.findings)) if r.findings else ("✓ healthy" if r.steps else "no scalar data")
    head = (
        f"{target}<details><summary><code>{html.escape(' '.join(r.run.split()), quote=True)}</code> — {state}</summary>"
    )
    return [head, "", *body, "</details>", ""]


def render(report: Report, curves: Mapping[str, Curves] | None = None, **_: Any) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    report = dataclasses.replace(report, runs=tuple(by_severity(report.runs)))  # a triage list: worst first, then by name
    curves = curves or {}
    out = ["# advisor report", "", md_text(summary_line(report)), ""]
    if not report.runs:
        out += ["No runs were analysed.", ""]
    else:
        out += _summary_table(report) + ["", "## Runs", ""]
        for i, r in enumerate(report.runs):
            out += _run(i, r, curves.get(r.run) or {})
    out += ["## Sweep", ""]
    out += _findings(report.sweep) if report.sweep else ["No sweep findings.", ""]
    if report.problems:
        out += ["## Problems", ""] + [f"- {md_text(p)}" for p in report.problems] + [""]
    return "\n".join(out).rstrip("\n") + "\n"
