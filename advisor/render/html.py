"""One self-contained HTML page: summary table, sweep, and per run its curves with the findings
drawn on them, then the findings with their evidence and remedies.

Offline by construction: inline CSS, inline SVG charts, and a few lines of inline JavaScript
that only add conveniences (expand/collapse all, a run filter, opening a linked run); without
them every run is still reachable and readable. Runs without warnings start collapsed so a tree
of hundreds of runs stays usable.

Every string a user controls is escaped with ``html.escape(..., quote=True)``, in text and in
attributes alike; element ids are generated (``run-3``), never derived from run names.

Charts: train and val loss share one chart (log y-axis when the values span more than two
decades), accuracy, learning rate and gradient norm get small charts when logged. A finding is
drawn on the chart of its ``signal`` (the loss chart otherwise): its ``step_range`` shaded in
its severity's colour, ``best_step`` as a dashed line, the non-finite point as a red line.
The drawing itself lives in advisor.render.svg (the tune report draws with it too).
"""

from __future__ import annotations

import dataclasses

from collections.abc import Mapping, Sequence
from typing import Any

from advisor.model import Curves, Finding, Report, RunReport, Severity
from advisor.render.common import (
    by_severity,
    alarming,
    anchor,
    causal_links,
    comparison,
    evidence_items,
    fmt_steps,
    ordered,
    remedy_cells,
    role_label,
    workload_line,
    worst,
)
from advisor.render.svg import BIG, SMALL, Mark, esc, finding_marks, svg_chart
from advisor.render.text import summary_line

# -- charts ---------------------------------------------------------------------------------------

CHARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reward", ("reward",)),  # an RL or GAN run's key chart comes first (supervised runs have neither)
    ("adversarial losses", ("disc_loss", "gen_loss")),
    ("loss", ("train_loss", "val_loss")),
    ("accuracy", ("train_acc", "val_acc")),
    ("learning rate", ("lr",)),
    ("grad norm", ("grad_norm",)),
    ("policy entropy", ("entropy",)),
)


def chart_svgs(r: RunReport, curves: Curves) -> list[tuple[str, str]]:
    """Every chart of one run as (title, standalone SVG), loss first, with its findings drawn on them."""
    present = [
        (title, {role: curves[role] for role in roles if role in curves})
        for title, roles in CHARTS
    ]
    present = [(t, cs) for t, cs in present if cs]
    if not present:
        return []
    placed: dict[str, list[Mark]] = {t: [] for t, _ in present}
    for fd in ordered(r.findings):  # lanes stack in priority order
        sig = fd.evidence.get("signal")
        home = next((t for t, cs in present if sig in cs), present[0][0])
        placed[home] += finding_marks(fd)
    # The curves' own span, not the run's: a run may log other tags far past its losses.
    steps = [s for c in curves.values() for s in (*c.steps, c.nonfinite_step) if s is not None]
    span = (min(steps), max(steps)) if steps else r.steps
    return [(title, svg_chart(title, cs, placed[title], BIG if i == 0 else SMALL, span)) for i, (title, cs) in enumerate(present)]


def run_charts(r: RunReport, curves: Curves) -> list[str]:
    """Every chart of one run (loss big, the rest small) as figures."""
    svgs = chart_svgs(r, curves)
    if not svgs:
        return []
    out = [f'<figure class="chart-{"big" if i == 0 else "small"}">{svg}</figure>' for i, (_, svg) in enumerate(svgs)]
    return ['<div class="charts">', *out, "</div>"]


def standalone_svg(svg: str) -> str:
    """One chart as an SVG document of its own (its styles inside), for an ``<img>`` or a file."""
    rules = [line for line in CSS.splitlines() if line.startswith((":root", "svg"))]
    style = "<style>" + "".join(rules).replace("font-family:inherit", "font-family:sans-serif") + "</style>"
    head, sep, rest = svg.partition(">")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + head + sep + style + rest

# -- the page -------------------------------------------------------------------------------------


def _badge(s: Severity | None) -> str:
    if s is None:
        return '<span class="badge ok">ok</span>'
    return f'<span class="badge {s.value}">{s.value}</span>'


def _code(s: Any) -> str:
    return f"<code>{esc(s)}</code>"


def _ids(prefix: str, findings: Sequence[Finding]) -> dict[str, str]:
    """condition -> element id of its finding (generated, never from user text)."""
    out: dict[str, str] = {}
    for n, f in enumerate(findings, 1):
        out.setdefault(f.condition, f"{prefix}-f{n}")
    return out


def _finding(f: Finding, n: int, fid: str, ids: Mapping[str, str], runs: Mapping[str, str]) -> str:
    num = f.priority if f.priority > 0 else n
    onset = f' <span class="muted">from step {esc(f.onset)}</span>' if f.onset is not None else ""
    conf = f'<span class="conf" title="confidence">confidence {f.confidence:.2f}<meter min="0" max="1" value="{f.confidence:.3f}"></meter></span>'
    head = f'<div class="f-head"><span class="prio">{num}</span> {_badge(f.severity)} <code class="cond">{esc(f.condition)}</code> {conf}{onset}</div>'
    out = [f'<li class="finding sev-{f.severity.value}" id="{fid}">', head, f'<p class="summary">{esc(f.summary)}</p>']
    for label, conds in causal_links(f):
        links = ", ".join(f'<a href="#{ids[c]}">{_code(c)}</a>' if c in ids else _code(c) for c in conds)
        out.append(f'<p class="links">{esc(label)} {links}</p>')
    items = evidence_items(f.evidence)
    if items:
        dl = "".join(
            f"<div><dt>{esc(label)}</dt><dd>{_run_link(str(f.evidence[k]), runs) if k == 'best_run' else esc(v)}</dd></div>"
            for k, label, v in items
        )
        out.append(f'<dl class="evidence">{dl}</dl>')
    comp = comparison(f.evidence)
    if comp:
        header, rows = comp
        body = "".join(
            "<tr>"
            + "".join(f"<td>{_run_link(c, runs) if j == 1 else esc(c)}</td>" for j, c in enumerate(row))
            + "</tr>"
            for row in rows
        )
        out.append(
            f'<table class="comparison"><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in header)}</tr></thead><tbody>{body}</tbody></table>'
        )
    if f.remedies:
        rows = []
        for rem in f.remedies:
            action, params, kind, live, why = remedy_cells(rem)
            applies = esc(live) if kind == "auto" else "—"
            rows.append(
                f'<tr><td>{_code(action)}</td><td>{_code(params) if params else ""}</td><td><span class="kind {esc(kind)}">{esc(kind)}</span></td><td>{applies}</td><td>{esc(why)}</td></tr>'
            )
        out.append(
            '<table class="remedies"><thead><tr><th>remedy</th><th>params</th><th>kind</th><th>applies</th><th>why</th></tr></thead><tbody>'
            + "".join(rows)
            + "</tbody></table>"
        )
    out.append("</li>")
    return "".join(out)


def _run_link(name: str, runs: Mapping[str, str]) -> str:
    return f'<a href="#{runs[name]}">{_code(name)}</a>' if name in runs else esc(name)


def _findings(prefix: str, findings: Sequence[Finding], runs: Mapping[str, str]) -> str:
    fs = ordered(findings)
    ids = _ids(prefix, fs)
    return (
        '<ol class="findings">'
        + "".join(_finding(f, n, f"{prefix}-f{n}", ids, runs) for n, f in enumerate(fs, 1))
        + "</ol>"
    )


def _run(i: int, r: RunReport, curves: Mapping[str, Any], runs: Mapping[str, str]) -> str:
    aid = anchor(i)
    sev = worst(r.findings)
    n = len(r.findings)
    state = f"{n} finding{'s' if n != 1 else ''}" if n else ("no findings" if r.steps else "no scalar data")
    summary = (
        f'<summary>{_badge(sev)} <code class="run-name">{esc(r.run)}</code> '
        f'<span class="muted">steps {esc(fmt_steps(r.steps))} · {state}</span></summary>'
    )
    body = [f'<p class="muted">{r.n_series} series · {r.n_points} points</p>', f'<p class="muted workload">workload: {esc(workload_line(r))}</p>']
    if r.signals:
        rows = "".join(
            f"<tr><td>{esc(role_label(role))}</td><td>{_code(tag)}</td><td>{esc(r.counts.get(tag, ''))}</td></tr>"
            for role, tag in r.signals.items()
        )
        body.append(
            f'<table class="signals"><thead><tr><th>signal</th><th>tag</th><th>points</th></tr></thead><tbody>{rows}</tbody></table>'
        )
    if r.unresolved:
        body.append(f'<p class="muted">not found: {esc(", ".join(role_label(u) for u in r.unresolved))}</p>')
    body += [f'<p class="note">note: {esc(note)}</p>' for note in r.notes]
    body += run_charts(r, curves)
    if r.findings:
        body.append(_findings(aid, r.findings, runs))
    elif r.steps:
        body.append('<p class="healthy">✓ no findings</p>')
    if r.problems:
        body.append('<ul class="problems">' + "".join(f"<li>{esc(p)}</li>" for p in r.problems) + "</ul>")
    open_ = " open" if alarming(r) else ""
    cls = f"run sev-{sev.value}" if sev else "run"
    return f'<details class="{cls}" id="{aid}" data-name="{esc(r.run)}"{open_}>{summary}<div class="run-body">{"".join(body)}</div></details>'


def _summary_table(report: Report) -> str:
    rows = []
    for i, r in enumerate(report.runs):
        fs = ordered(r.findings)
        top = (
            f'{_code(fs[0].condition)} <span class="muted">{fs[0].confidence:.2f}</span>'
            if fs
            else '<span class="muted">—</span>'
        )
        more = f' <span class="muted">+{len(fs) - 1}</span>' if len(fs) > 1 else ""
        rows.append(
            f'<tr data-name="{esc(r.run)}"><td class="num">{i + 1}</td><td><a href="#{anchor(i)}">{_code(r.run)}</a></td>'
            f"<td>{esc(fmt_steps(r.steps))}</td><td>{_badge(worst(r.findings))}</td><td>{top}{more}</td></tr>"
        )
    return (
        '<table class="summary"><thead><tr><th>#</th><th>run</th><th>steps</th><th>worst</th><th>top finding</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _counts(report: Report) -> str:
    n = {s: 0 for s in Severity}
    for f in [*(f for r in report.runs for f in r.findings), *report.sweep]:
        n[f.severity] += 1
    healthy = sum(1 for r in report.runs if not alarming(r))
    chips = [
        f'<span class="badge {s.value}">{n[s]} {s.value}</span>'
        for s in (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
    ]
    chips.append(f'<span class="badge ok">{healthy} of {len(report.runs)} runs without warnings</span>')
    return '<p class="counts">' + " ".join(chips) + "</p>"


CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--crit:#cf222e;--warn:#9a6700;--info:#0969da;--ok:#1a7f37}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);padding:1px 4px;border-radius:4px;word-break:break-all}
a{color:var(--info);text-decoration:none}a:hover{text-decoration:underline}
.muted{color:var(--muted)}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.num{text-align:right;color:var(--muted)}
table.summary{width:100%}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;line-height:20px;color:#fff;white-space:nowrap}
.badge.critical{background:var(--crit)}.badge.warning{background:#bf8700}.badge.info{background:var(--info)}.badge.ok{background:var(--ok)}
.counts .badge{margin-right:4px}
details.run{border:1px solid var(--line);border-left:4px solid var(--ok);border-radius:6px;margin:10px 0;background:#fff}
details.run.sev-critical{border-left-color:var(--crit)}details.run.sev-warning{border-left-color:#bf8700}details.run.sev-info{border-left-color:var(--info)}
details.run>summary{cursor:pointer;padding:8px 12px;list-style-position:inside}
details.run[open]>summary{border-bottom:1px solid var(--line);background:var(--soft)}
.run-body{padding:4px 16px 12px}
.charts{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.charts figure{margin:6px 0}.chart-big{flex-basis:100%}
svg.chart{max-width:100%;height:auto;font-size:11px;font-family:inherit}
svg .plot{fill:#fff;stroke:var(--line)}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .axis text{fill:var(--muted)}
svg .ctitle{font-weight:600;fill:var(--fg)}
svg .legend{fill:var(--fg)}
svg .empty{fill:var(--muted);font-style:italic}
svg .line{fill:none;stroke-width:1.6;stroke-linejoin:round}
svg .c-train{stroke:#0969da}svg .c-val{stroke:#e16f24}svg .c-lr{stroke:#1a7f37}svg .c-grad{stroke:#8250df}svg .c-other{stroke:#57606a}
svg .dots circle{stroke:none}svg .dots.c-train{fill:#0969da}svg .dots.c-val{fill:#e16f24}svg .dots.c-lr{fill:#1a7f37}svg .dots.c-grad{fill:#8250df}
svg .band{stroke:none;fill-opacity:.22}svg .band.c-train{fill:#0969da}svg .band.c-val{fill:#e16f24}svg .band.c-lr{fill:#1a7f37}svg .band.c-grad{fill:#8250df}svg .band.c-other{fill:#57606a}
svg .onset{stroke:none}svg .lane{fill-opacity:.85}
svg .best{stroke-dasharray:5 3;stroke-width:1.5}
svg .best-dot{fill:#fff;stroke-width:2}
svg .nonfinite{stroke-width:2}
svg .nf-label{fill:var(--crit);font-weight:600}
ol.findings{padding-left:0;list-style:none}
li.finding{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:8px 0}
li.finding.sev-critical{border-left:4px solid var(--crit)}li.finding.sev-warning{border-left:4px solid #bf8700}li.finding.sev-info{border-left:4px solid var(--info)}
li.finding:target{box-shadow:0 0 0 3px #54aeff66}
.f-head{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.prio{font-weight:700;min-width:1.4em}
.cond{font-weight:600}
.conf meter{width:60px;height:8px;margin-left:6px;vertical-align:middle}
p.summary{margin:6px 0}
p.links{margin:4px 0;color:var(--muted)}
dl.evidence{display:flex;flex-wrap:wrap;gap:4px 14px;margin:6px 0;font-size:12.5px}
dl.evidence div{display:flex;gap:4px}dl.evidence dt{color:var(--muted)}dl.evidence dd{margin:0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.kind.auto{color:var(--ok);font-weight:600}.kind.manual{color:#8250df;font-weight:600}
.note{color:var(--muted);font-style:italic;margin:4px 0}
.healthy{color:var(--ok)}
ul.problems li{color:var(--crit)}
#toolbar{margin:8px 0;display:flex;gap:8px;align-items:center}
#toolbar input{font:inherit;padding:3px 8px;border:1px solid var(--line);border-radius:6px;min-width:260px}
#toolbar button{font:inherit;padding:3px 10px;border:1px solid var(--line);border-radius:6px;background:var(--soft);cursor:pointer}
footer{color:var(--muted);font-size:12px;padding:24px 20px}
@media print{details.run{break-inside:avoid}#toolbar{display:none}}
"""

# Conveniences only: the page is complete without them (the toolbar stays hidden).
JS = """
(function(){
function reveal(){var id=location.hash.slice(1),e=id&&document.getElementById(id);for(;e;e=e.parentElement){if(e.tagName==='DETAILS')e.open=true;}}
window.addEventListener('hashchange',reveal);reveal();
var bar=document.getElementById('toolbar');if(!bar)return;bar.hidden=false;
bar.addEventListener('click',function(ev){var v=ev.target.getAttribute('data-open');if(v===null)return;
document.querySelectorAll('details.run').forEach(function(d){if(!d.hidden)d.open=(v==='1');});});
document.getElementById('filter').addEventListener('input',function(ev){var q=ev.target.value.toLowerCase();
document.querySelectorAll('[data-name]').forEach(function(el){el.hidden=q!==''&&el.getAttribute('data-name').toLowerCase().indexOf(q)<0;});});
})();
"""

_LEGEND = (
    "Charts: shaded band = where a finding shows (red critical, amber warning, blue info); dashed line and ring = best "
    "validation step; red line = first non-finite value. Hover a curve or band for details."
)


def render(report: Report, curves: Mapping[str, Curves] | None = None, **_: Any) -> str:
    """The whole report as one self-contained HTML page."""
    report = dataclasses.replace(report, runs=tuple(by_severity(report.runs)))  # a triage list: worst first, then by name
    from advisor import __version__

    curves = curves or {}
    runs = {r.run: anchor(i) for i, r in enumerate(report.runs)}
    title = f"advisor report — {len(report.runs)} run{'s' if len(report.runs) != 1 else ''}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="advisor {esc(__version__)}">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f'<header><h1>advisor report</h1><p class="muted">{esc(summary_line(report))} · advisor {esc(__version__)}</p>{_counts(report)}</header>',
        "<main>",
    ]
    if report.problems:
        out.append(
            '<section id="problems"><h2>Problems</h2><ul class="problems">'
            + "".join(f"<li>{esc(p)}</li>" for p in report.problems)
            + "</ul></section>"
        )
    out.append('<section id="summary"><h2>Runs</h2>')
    if report.runs:
        out.append(_summary_table(report))
    else:
        out.append('<p class="muted">No runs were analysed.</p>')
    out.append("</section>")
    out.append('<section id="sweep"><h2>Sweep</h2>')
    out.append(_findings("sweep", report.sweep, runs) if report.sweep else '<p class="muted">No sweep findings.</p>')
    out.append("</section>")
    if report.runs:
        out.append('<section id="runs"><h2>Details</h2>')
        out.append(
            '<div id="toolbar" hidden><input id="filter" type="search" placeholder="filter runs by name" aria-label="filter runs by name">'
            '<button type="button" data-open="1">expand all</button><button type="button" data-open="0">collapse all</button></div>'
        )
        out += [_run(i, r, curves.get(r.run) or {}, runs) for i, r in enumerate(report.runs)]
        out.append("</section>")
    out.append(f"</main><footer>{esc(_LEGEND)}</footer>")
    out.append(f"<script>{JS}</script></body></html>")
    return "\n".join(out) + "\n"
