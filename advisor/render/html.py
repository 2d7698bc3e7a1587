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
"""

from __future__ import annotations

import html
import math
import re
from bisect import bisect_left
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Iterable, Mapping, Sequence

from advisor.model import Curves, Finding, Report, RunReport, Severity
from advisor.render.common import (
    alarming,
    anchor,
    causal_links,
    comparison,
    curve_endpoints,
    evidence_items,
    fmt_steps,
    ordered,
    remedy_cells,
    role_label,
    step_range,
    worst,
)
from advisor.render.text import summary_line


def esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


# -- chart geometry and scales --------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """An SVG chart's size and the plot area inside its margins."""

    width: int
    height: int
    left: int = 60
    right: int = 14
    top: int = 24
    bottom: int = 26

    @property
    def x0(self) -> float:
        return float(self.left)

    @property
    def x1(self) -> float:
        return float(self.width - self.right)

    @property
    def y0(self) -> float:  # top of the plot area
        return float(self.top)

    @property
    def y1(self) -> float:  # bottom of the plot area
        return float(self.height - self.bottom)


BIG = Frame(760, 280)
SMALL = Frame(370, 170, left=52)


@dataclass(frozen=True)
class Scale:
    """Maps data values to pixels: ``lo..hi`` (log10 space when ``log``) onto ``a..b``."""

    lo: float
    hi: float
    a: float
    b: float
    log: bool = False

    def __call__(self, v: float) -> float:
        t = math.log10(v) if self.log else v
        return self.a + (t - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def clamp(self, v: float) -> float:
        lo, hi = sorted((self.a, self.b))
        return min(hi, max(lo, self(v)))

    def ticks(self, n: int = 5) -> list[float]:
        if self.log:
            first, last = math.ceil(self.lo - 1e-9), math.floor(self.hi + 1e-9)
            decades = list(range(first, last + 1))
            every = max(1, math.ceil(len(decades) / n))
            return [10.0**d for d in decades[::every]]
        return nice_ticks(self.lo, self.hi, n)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 times a power of ten) inside ``lo..hi``, about ``n`` of them."""
    span = hi - lo
    if not (span > 0 and math.isfinite(span)):
        return [lo]
    mag = 10.0 ** math.floor(math.log10(span / max(1, n)))
    steps = [m * mag for m in (1, 2, 5, 10, 20)]
    step = min(steps, key=lambda st: abs(math.floor(hi / st) - math.ceil(lo / st) + 1 - n))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    return [round(k * step, digits + 1) for k in range(first, last + 1)]


def x_scale(steps: Iterable[float], frame: Frame) -> Scale:
    pts = [float(s) for s in steps if s is not None and math.isfinite(float(s))]
    lo, hi = (min(pts), max(pts)) if pts else (0.0, 1.0)
    if hi <= lo:  # one step: centre it
        lo, hi = lo - 1.0, hi + 1.0
    return Scale(lo, hi, frame.x0, frame.x1)


def y_scale(values: Iterable[float], frame: Frame) -> Scale | None:
    """Linear, or log10 when every value is positive and they span more than two decades."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return None
    lo, hi = min(v), max(v)
    log = lo > 0 and hi / lo > 100.0
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:  # constant: a band around the value
        pad = abs(lo) * 0.1 or 1.0
    else:
        pad = (hi - lo) * 0.06
    return Scale(lo - pad, hi + pad, frame.y1, frame.y0, log)


def value_labels(ticks: Sequence[float], log: bool = False) -> list[str]:
    """Y tick labels in one style per axis, with just the digits that tell neighbours apart."""

    def sci(v: float, digits: int) -> str:
        return re.sub(
            r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), f"{v:.{digits}e}"
        )

    if log or len(ticks) < 2:
        return [f"{v:g}" if 1e-4 <= abs(v) < 1e5 or v == 0 else sci(v, 0) for v in ticks]
    step = min(b - a for a, b in pairwise(ticks))
    top = max(abs(v) for v in ticks)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    if decimals <= 5 and top < 1e5:
        return [f"{v:.{decimals}f}" for v in ticks]
    digits = max(0, math.floor(math.log10(top)) - math.floor(math.log10(step) + 1e-9))
    return ["0" if v == 0 else sci(v, digits) for v in ticks]


def fmt_step(v: float) -> str:
    """A step exactly (tooltips and labels name real steps)."""
    return str(int(v)) if float(v).is_integer() else f"{v:.6g}"


def step_labels(ticks: Sequence[float]) -> list[str]:
    """X tick labels sharing one unit, chosen by the largest: 0, 50k, 100k, 150k."""
    top = max((abs(t) for t in ticks), default=0.0)
    div, unit = next(((d, u) for d, u in ((1e9, "G"), (1e6, "M"), (1e4, "k")) if top >= d), (1.0, ""))
    if unit == "k":
        div = 1e3
    return [f"{t / div:.4g}{unit if t else ''}" for t in ticks]


# -- charts ---------------------------------------------------------------------------------------

SEV_COLOUR = {Severity.CRITICAL: "#cf222e", Severity.WARNING: "#d4a72c", Severity.INFO: "#0969da"}
# Train and val curves keep their colours on every chart; lr and grad norm have their own.
ROLE_CLASS = {"lr": "c-lr", "grad_norm": "c-grad"} | {
    f"{split}_{metric}": f"c-{split}" for split in ("train", "val") for metric in ("loss", "acc")
}
CHARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loss", ("train_loss", "val_loss")),
    ("accuracy", ("train_acc", "val_acc")),
    ("learning rate", ("lr",)),
    ("grad norm", ("grad_norm",)),
)
DOTS_BELOW = 40  # draw each point as a dot when a curve has fewer (sparse evaluations)


@dataclass(frozen=True)
class Mark:
    """One finding drawn on a chart: an onset range, a best step or a non-finite point."""

    kind: str  # "range" | "best" | "nonfinite"
    start: float
    end: float
    severity: Severity
    label: str
    condition: str = ""


def finding_marks(f: Finding) -> list[Mark]:
    out = []
    ev = f.evidence
    sr = step_range(f)
    if sr is not None:
        a, b = (_num(x) for x in sr)
        out.append(
            Mark(
                "range",
                a if a is not None else -math.inf,
                b if b is not None else math.inf,
                f.severity,
                f"{f.condition}: steps {fmt_steps(sr)}",
                f.condition,
            )
        )
    best = _num(ev.get("best_step"))
    if best is not None:
        out.append(Mark("best", best, best, f.severity, f"{f.condition}: best at step {fmt_step(best)}", f.condition))
    nf = _num(ev.get("first_nonfinite_step"))
    if nf is not None:
        out.append(
            Mark("nonfinite", nf, nf, Severity.CRITICAL, f"first non-finite value at step {fmt_step(nf)}", f.condition)
        )
    return out


def _num(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _path(xs: Sequence[float], ys: Sequence[float]) -> str:
    parts = []
    pen = "M"
    for x, y in zip(xs, ys):
        if not (math.isfinite(x) and math.isfinite(y)):
            pen = "M"
            continue
        parts.append(f"{pen}{x:.1f},{y:.1f}")
        pen = "L"
    return "".join(parts)


def svg_chart(
    title: str,
    curves: Curves,
    marks: Sequence[Mark] = (),
    frame: Frame = BIG,
    span: Sequence[Any] | None = None,
) -> str:
    """One chart as a standalone, well-formed SVG element.

    ``curves``: role -> :class:`~advisor.model.PlotCurve`; ``span``: steps the x axis
    must cover (every chart of a run gets the same, so their x axes line up).
    """
    steps: list[float] = [float(s) for c in curves.values() for s in c.steps]
    steps += [float(c.nonfinite_step) for c in curves.values() if c.nonfinite_step is not None]
    steps += [float(s) for s in (span or ()) if s is not None]
    xs = x_scale(steps, frame)
    ys = y_scale((v for c in curves.values() for v in c.values), frame)
    f = frame
    label = f"{title}: " + ", ".join(f"{role_label(r)} ({c.tag})" for r, c in curves.items())
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{f.width}" height="{f.height}" '
            f'viewBox="0 0 {f.width} {f.height}" role="img" aria-label="{esc(label)}">'
        ),
        f"<title>{esc(label)}</title>",
        f'<rect class="plot" x="{f.x0:.1f}" y="{f.y0:.1f}" width="{f.x1 - f.x0:.1f}" height="{f.y1 - f.y0:.1f}"/>',
    ]
    out += _ranges([m for m in marks if m.kind == "range"], xs, f)
    out += _axes(xs, ys, f)
    if ys is None:
        out.append(
            f'<text class="empty" x="{(f.x0 + f.x1) / 2:.1f}" y="{(f.y0 + f.y1) / 2:.1f}" text-anchor="middle">no finite values</text>'
        )
    else:
        for role, c in curves.items():
            out += _curve(role, c, xs, ys)
    for m in marks:
        if m.kind == "range" or not (xs.lo <= m.start <= xs.hi):
            continue
        x = xs(m.start)
        cls = "best" if m.kind == "best" else "nonfinite"
        colour = SEV_COLOUR[m.severity] if m.kind == "best" else SEV_COLOUR[Severity.CRITICAL]
        out.append(
            f'<line class="{cls}" x1="{x:.1f}" x2="{x:.1f}" y1="{f.y0:.1f}" y2="{f.y1:.1f}" stroke="{colour}" '
            f'data-condition="{esc(m.condition)}"><title>{esc(m.label)}</title></line>'
        )
        if m.kind == "best" and ys is not None:
            out += _best_dot(m, curves, xs, ys, colour)
        elif m.kind == "nonfinite":
            out.append(_nan_label(x, f))
    for role, c in curves.items():
        nf = _num(c.nonfinite_step)
        if nf is not None and not any(m.kind == "nonfinite" and m.start == nf for m in marks):
            x = xs(nf)
            out.append(
                f'<line class="nonfinite" x1="{x:.1f}" x2="{x:.1f}" y1="{f.y0:.1f}" y2="{f.y1:.1f}" stroke="{SEV_COLOUR[Severity.CRITICAL]}">'
                f"<title>{esc(role_label(role))} non-finite at step {fmt_step(nf)}</title></line>"
            )
            out.append(_nan_label(x, f))
    out += _legend(title + (" (log scale)" if ys is not None and ys.log else ""), curves, f)
    out.append("</svg>")
    return "".join(out)


LANE = 4.0  # height of the strip that names each onset range at the top of the plot
MAX_LANES = 5
SHADE = {Severity.CRITICAL: 0.16, Severity.WARNING: 0.14, Severity.INFO: 0.06}


def _ranges(marks: Sequence[Mark], xs: Scale, f: Frame) -> list[str]:
    """Onset ranges, under everything else: a full-height shade (fainter for info, so that
    overlapping ranges stay legible) and a strip of their own at the top, one lane each."""
    out = []
    lane = 0
    for m in marks:
        if m.start > xs.hi or m.end < xs.lo:
            continue
        a, b = xs.clamp(max(m.start, xs.lo)), xs.clamp(min(m.end, xs.hi))
        w = max(b - a, 2.0)
        colour, tip = SEV_COLOUR[m.severity], f"<title>{esc(m.label)}</title>"
        out.append(
            f'<rect class="onset sev-{m.severity.value}" x="{a:.1f}" y="{f.y0:.1f}" width="{w:.1f}" height="{f.y1 - f.y0:.1f}" '
            f'fill="{colour}" fill-opacity="{SHADE[m.severity]}" data-condition="{esc(m.condition)}" '
            f'data-start="{esc(m.start)}" data-end="{esc(m.end)}">{tip}</rect>'
        )
        if lane < MAX_LANES:
            y = f.y0 + 1 + lane * (LANE + 1)
            out.append(
                f'<rect class="lane" x="{a:.1f}" y="{y:.1f}" width="{w:.1f}" height="{LANE:.1f}" fill="{colour}">{tip}</rect>'
            )
            lane += 1
    return out


def _axes(xs: Scale, ys: Scale | None, f: Frame) -> list[str]:
    out = ['<g class="axis">']
    ticks = xs.ticks(6 if f.width > 500 else 4)
    for t, text in zip(ticks, step_labels(ticks)):
        x = xs(t)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{f.y0:.1f}" y2="{f.y1:.1f}"/>')
        out.append(f'<text x="{x:.1f}" y="{f.y1 + 16:.1f}" text-anchor="middle">{esc(text)}</text>')
    if ys is not None:
        ticks = ys.ticks(5 if f.height > 200 else 4)
        for t, text in zip(ticks, value_labels(ticks, ys.log)):
            y = ys(t)
            if not (f.y0 - 0.5 <= y <= f.y1 + 0.5):
                continue
            out.append(f'<line class="grid" x1="{f.x0:.1f}" x2="{f.x1:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>')
            out.append(f'<text x="{f.x0 - 5:.1f}" y="{y + 4:.1f}" text-anchor="end">{esc(text)}</text>')
    out.append("</g>")
    return out


def _nan_label(x: float, f: Frame) -> str:
    return f'<text class="nf-label" x="{x - 3:.1f}" y="{f.y0 + 11:.1f}" text-anchor="end">NaN</text>'


def _curve(role: str, c: Mapping[str, Any], xs: Scale, ys: Scale) -> list[str]:
    steps, values = list(c.steps), list(c.values)
    # A value the axis cannot show (non-finite, or <= 0 on a log axis) breaks the line there.
    pts = [
        (float(s), float(v) if math.isfinite(float(v)) and (not ys.log or float(v) > 0) else math.nan)
        for s, v in zip(steps, values)
    ]
    cls = ROLE_CLASS.get(role, "c-other")
    tip = f"{role_label(role)} ({c.tag}): {len(values)} points, {curve_endpoints(c)}"
    d = _path([xs(s) for s, _ in pts], [ys(v) if math.isfinite(v) else math.nan for _, v in pts])
    pts = [(s, v) for s, v in pts if math.isfinite(v)]
    out = [f'<path class="line {cls}" data-role="{esc(role)}" d="{d}"><title>{esc(tip)}</title></path>']
    if 0 < len(pts) < DOTS_BELOW:
        out.append(
            f'<g class="dots {cls}">'
            + "".join(f'<circle cx="{xs(s):.1f}" cy="{ys(v):.1f}" r="2.2"/>' for s, v in pts)
            + "</g>"
        )
    return out


def _best_dot(m: Mark, curves: Curves, xs: Scale, ys: Scale, colour: str) -> list[str]:
    """A ring on the validation curve at the best step (the nearest plotted point)."""
    for role in ("val_loss", "val_acc"):
        c = curves.get(role)
        steps = list(c.steps) if c is not None else []
        if not steps:
            continue
        i = min(bisect_left(steps, m.start), len(steps) - 1)
        if i > 0 and abs(steps[i - 1] - m.start) <= abs(steps[i] - m.start):
            i -= 1
        v = float(c.values[i])
        if math.isfinite(v) and (not ys.log or v > 0):
            return [f'<circle class="best-dot" cx="{xs(m.start):.1f}" cy="{ys(v):.1f}" r="4.5" stroke="{colour}"/>']
    return []


def _legend(title: str, curves: Mapping[str, Any], f: Frame) -> list[str]:
    out = [f'<text class="ctitle" x="{f.x0:.1f}" y="{f.y0 - 8:.1f}">{esc(title)}</text>']
    x = f.x0 + 6.5 * len(title) + 16
    for role in curves if len(curves) > 1 else ():
        name = role_label(role)
        cls = ROLE_CLASS.get(role, "c-other")
        out.append(
            f'<line class="line {cls}" x1="{x:.1f}" x2="{x + 16:.1f}" y1="{f.y0 - 12:.1f}" y2="{f.y0 - 12:.1f}"/>'
        )
        out.append(f'<text class="legend" x="{x + 20:.1f}" y="{f.y0 - 8:.1f}">{esc(name)}</text>')
        x += 28 + 6.5 * len(name)
    return out


def run_charts(r: RunReport, curves: Curves) -> list[str]:
    """Every chart of one run (loss big, the rest small), with its findings drawn on them."""
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
    out = []
    for i, (title, cs) in enumerate(present):
        frame = BIG if i == 0 else SMALL
        out.append(
            f'<figure class="chart-{"big" if i == 0 else "small"}">{svg_chart(title, cs, placed[title], frame, span)}</figure>'
        )
    return ['<div class="charts">', *out, "</div>"]


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
    body = [f'<p class="muted">{r.n_series} series · {r.n_points} points</p>']
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
