"""Markdown and HTML from the real pipeline: event files written with EventWriter, analysed, rendered."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from advisor.analyze import analyze
from advisor.cli import main
from advisor.render import markdown
from advisor.render.html import render as render_html
from advisor.render.svg import BIG

from ._build import write_run, write_tree

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("runs"))
    write_tree(root)
    write_run(os.path.join(root, "nanrun"), "nan", seed=2)
    return root


@pytest.fixture(scope="module")
def analysis(tree):
    return analyze([tree], curves=True, workers=1)


def curves_of(analysis):
    return {r.report.run: r.curves for r in analysis.runs}


def report_of(analysis, name):
    return next(r.report for r in analysis.runs if r.report.run == name)


def first_chart(page: str, run: str, severity: str) -> tuple[str, ET.Element]:
    """The open section of ``run`` (a run with warnings) and its first chart, parsed."""
    pattern = rf'<details class="run sev-{severity}" id="run-\d+" data-name="{run}" open>.*?</details>'
    block = re.search(pattern, page, re.S).group(0)
    return block, ET.fromstring(re.search(r"<svg .*?</svg>", block, re.S).group(0))


def x_of(curves):
    """The chart's step -> pixel map: all charts of a run span the steps of all its curves."""
    steps = [s for c in curves.values() for s in (*c.steps, c.nonfinite_step) if s is not None]
    lo, hi = min(steps), max(steps)
    return lambda s: BIG.x0 + (s - lo) / (hi - lo) * (BIG.x1 - BIG.x0)


def test_the_pipeline_finds_what_the_runs_were_built_to_show(analysis):
    found = {r.report.run: [f.condition for f in r.report.findings] for r in analysis.runs}
    assert found["healthy"] == []
    assert "overfitting" in found["overfit"]
    assert "non-finite" in found["nanrun"]


def test_html_draws_the_overfitting_onset_and_best_step(analysis):
    page = render_html(analysis.report, curves_of(analysis))
    _, chart = first_chart(page, "overfit", "warning")
    roles = [p.get("data-role") for p in chart.iter(SVG + "path")]
    assert roles == ["train_loss", "val_loss"]
    f = next(f for f in report_of(analysis, "overfit").findings if f.condition == "overfitting")
    start, end = f.evidence["step_range"]
    best = f.evidence["best_step"]
    x = x_of(curves_of(analysis)["overfit"])
    rect = next(
        e for e in chart.iter(SVG + "rect") if e.get("data-condition") == "overfitting" and "onset" in e.get("class")
    )
    assert float(rect.get("x")) == pytest.approx(x(start), abs=0.06)
    assert float(rect.get("x")) + float(rect.get("width")) == pytest.approx(min(x(end), BIG.x1), abs=0.11)
    best_line = next(e for e in chart.iter(SVG + "line") if e.get("class") == "best")
    assert float(best_line.get("x1")) == pytest.approx(x(best), abs=0.06)


def test_html_marks_the_nonfinite_point(analysis):
    page = render_html(analysis.report, curves_of(analysis))
    block, chart = first_chart(page, "nanrun", "critical")
    nf_step = curves_of(analysis)["nanrun"]["train_loss"].nonfinite_step
    assert nf_step == 400
    lines = [e for e in chart.iter(SVG + "line") if e.get("class") == "nonfinite"]
    assert len(lines) == 1 and float(lines[0].get("x1")) == pytest.approx(
        x_of(curves_of(analysis)["nanrun"])(nf_step), abs=0.06
    )
    assert "<dt>first nonfinite step</dt><dd>400</dd>" in block


def test_markdown_from_the_pipeline(analysis):
    md = markdown.render(analysis.report, curves_of(analysis))
    for name in ("healthy", "overfit", "nanrun"):
        assert f"[`{name}`](#run-" in md
    assert "### `nanrun` — ✖ critical" in md and "### `overfit` — ▲ warning" in md
    assert "<code>healthy</code> — ✓ healthy</summary>" in md
    assert "**non-finite at step 400**" in md


class _Strict(HTMLParser):
    """Counts tags and checks that every element that must close does, in order."""

    VOID = frozenset({"meta", "input", "br", "img", "hr", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.names: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "details":
            self.names.append(dict(attrs)["data-name"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


@pytest.mark.parametrize("fmt", ["html", "markdown"])
def test_cli_writes_a_report_with_every_run(tree, tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    rc = main(["analyze", tree, "--format", fmt, "--output", str(out), "--workers", "1"])
    assert rc == 1  # the NaN run is critical: --fail-on critical by default
    text = out.read_text(encoding="utf-8")
    if fmt == "html":
        p = _Strict()
        p.feed(text)
        p.close()
        assert p.errors == [] and p.stack == []
        assert sorted(p.names) == ["healthy", "nanrun", "overfit"]
    else:
        assert all(f"`{name}`" in text for name in ("healthy", "nanrun", "overfit"))
