"""The chart primitives the renderers share: the HTML report and the tune report draw their SVG
charts here, and the PNG charts take their ticks from here.

Frames and scales (linear, or log10 when positive values span more than two decades), the tick
rules (:class:`TickRule`), tick labels, and one chart as a standalone SVG element: curves, axes,
a legend, and the findings drawn on it: a finding's ``step_range`` shaded in its severity's
colour, ``best_step`` as a dashed line with a ring on the validation curve, the non-finite point
as a red line.

Every string a user controls is escaped with ``html.escape(..., quote=True)`` (:func:`esc`).
"""

from __future__ import annotations

import html
import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise
from typing import Any

from advisor.model import Curves, Finding, Severity
from advisor.render.common import curve_endpoints, fmt_steps, role_label, step_range


def esc(s: Any) -> str:
    """Any value as text safe in HTML/SVG text and in quoted attributes alike."""
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
        if not self.hi > self.lo:  # a span floats cannot resolve (steps near 2**63): the middle
            return (self.a + self.b) / 2
        return self.a + (t - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def clamp(self, v: float) -> float:
        lo, hi = sorted((self.a, self.b))
        return min(hi, max(lo, self(v)))

    def ticks(self, n: int = 5) -> list[float]:
        return nice_ticks(self.lo, self.hi, n, log=self.log)


class TickRule(Enum):
    """Which tick rule an axis uses. The SVG and PNG charts each keep the rule they always had:
    the two differ in effect (0..5.5 with n=5 reads 0..5 by ones in SVG, 0, 2, 4 in PNG), and
    moving one chart type onto the other's rule would change its output."""

    # The 1-2-5 step whose tick count is nearest n, values rounded to the step's digits. Log
    # axes: bounds in log10 units (as Scale holds them), every k-th whole decade, about n.
    SVG = "svg"
    # The smallest 1-2-5 step giving at most n intervals, values stepped from the first. Log
    # axes: bounds as data values, every whole decade inside them (else the bounds themselves).
    PNG = "png"


def nice_ticks(lo: float, hi: float, n: int = 5, *, log: bool = False, rule: TickRule = TickRule.SVG) -> list[float]:
    """Tick values for an axis over ``lo..hi``: 1, 2, 5 times a power of ten, or whole decades
    when ``log``; about ``n`` of them, by ``rule`` (see :class:`TickRule` for each rule's units)."""
    if rule is TickRule.PNG:
        return _png_decades(lo, hi) if log else _png_linear(lo, hi, n)
    return _svg_decades(lo, hi, n) if log else _svg_linear(lo, hi, n)


def _svg_linear(lo: float, hi: float, n: int) -> list[float]:
    span = hi - lo
    if not (span > 0 and math.isfinite(span)):
        return [lo]
    mag = 10.0 ** math.floor(math.log10(span / max(1, n)))
    steps = [m * mag for m in (1, 2, 5, 10, 20)]
    step = min(steps, key=lambda st: abs(math.floor(hi / st) - math.ceil(lo / st) + 1 - n))
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    return [round(k * step, digits + 1) for k in range(first, last + 1)]


def _svg_decades(lo: float, hi: float, n: int) -> list[float]:
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    decades = list(range(first, last + 1))
    every = max(1, math.ceil(len(decades) / n))
    return [10.0**d for d in decades[::every]]


def _png_linear(lo: float, hi: float, n: int) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _png_decades(lo: float, hi: float) -> list[float]:
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [10.0**k for k in range(a, b + 1) if lo <= 10.0**k <= hi] or [lo, hi]


def x_scale(steps: Iterable[float], frame: Frame) -> Scale:
    pts = [float(s) for s in steps if s is not None and math.isfinite(float(s))]
    lo, hi = (min(pts), max(pts)) if pts else (0.0, 1.0)
    if hi <= lo:  # one step: centre it (a pad of 1 vanishes in float64 beyond 2**53: use the spacing there)
        pad = max(1.0, 4 * math.ulp(lo))
        lo, hi = lo - pad, hi + pad
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
    ys = y_scale((v for c in curves.values() for v in (*c.values, *getattr(c, "lo", ()), *getattr(c, "hi", ()))), frame)
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
    out = _band(c, cls, xs, ys)
    out.append(f'<path class="line {cls}" data-role="{esc(role)}" d="{d}"><title>{esc(tip)}</title></path>')
    if 0 < len(pts) < DOTS_BELOW:
        out.append(
            f'<g class="dots {cls}">'
            + "".join(f'<circle cx="{xs(s):.1f}" cy="{ys(v):.1f}" r="2.2"/>' for s, v in pts)
            + "</g>"
        )
    return out


def _band(c: Any, cls: str, xs: Scale, ys: Scale) -> list[str]:
    """Each bin's min-max range as a shaded band behind the median line (a spike stays visible)."""
    lo, hi = list(getattr(c, "lo", ()) or ()), list(getattr(c, "hi", ()) or ())
    if not lo or len(lo) != len(hi) or len(lo) != len(c.steps):
        return []
    ok = [
        (float(st), float(a), float(b))
        for st, a, b in zip(c.steps, lo, hi)
        if math.isfinite(float(a)) and math.isfinite(float(b)) and (not ys.log or float(a) > 0)
    ]
    if len(ok) < 2:
        return []
    top = " ".join(f"{xs(st):.1f},{ys(b):.1f}" for st, _, b in ok)
    bottom = " ".join(f"{xs(st):.1f},{ys(a):.1f}" for st, a, _ in reversed(ok))
    peak = max(b for _, _, b in ok)
    tip = f"{_band_label(cls)} min-max of each plotted bin (highest {peak:.4g})"
    return [f'<polygon class="band {cls}" points="{top} {bottom}"><title>{esc(tip)}</title></polygon>']


def _band_label(cls: str) -> str:
    return {"c-train": "train", "c-val": "val", "c-lr": "learning rate", "c-grad": "grad norm"}.get(cls, "curve")


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
