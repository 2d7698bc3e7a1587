"""The HTML renderer: charts (scales, curves, finding overlays), page structure, escaping."""

from __future__ import annotations

import dataclasses
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from advisor.model import Finding, Report, Severity
from advisor.render import render as dispatch
from advisor.render.html import JS, render, run_charts
from advisor.render.svg import (
    BIG,
    SMALL,
    Mark,
    TickRule,
    finding_marks,
    nice_ticks,
    step_labels,
    svg_chart,
    value_labels,
    y_scale,
)

from ._build import (
    EVIL,
    causal_pair,
    curve,
    evil_report,
    finding,
    loss_curves,
    nonfinite_finding,
    overfit_report,
    run_report,
)

SVG = "{http://www.w3.org/2000/svg}"


def svg(text: str) -> ET.Element:
    return ET.fromstring(text)


def find(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    return [e for e in root.iter(SVG + tag) if cls is None or cls in (e.get("class") or "").split()]


def x_at(step: float, lo: float, hi: float, frame=BIG) -> float:
    return frame.x0 + (step - lo) / (hi - lo) * (frame.x1 - frame.x0)


class Page(HTMLParser):
    """Collects every start tag with its attributes, and the text of script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


# -- charts ---------------------------------------------------------------------------------------


def test_a_path_per_curve():
    root = svg(svg_chart("loss", loss_curves()))
    paths = find(root, "path", "line")
    assert [p.get("data-role") for p in paths] == ["train_loss", "val_loss"]
    assert all(p.get("d").startswith("M") and p.get("d").count("L") >= 9 for p in paths)
    assert find(root, "text", "ctitle")[0].text == "loss"


def test_onset_range_is_shaded_at_its_steps():
    curves = {"train_loss": curve(range(0, 1001, 10), np.linspace(1, 0.5, 101))}
    mark = Mark("range", 400, 800, Severity.WARNING, "overfitting: steps 400–800", "overfitting")
    rect = find(svg(svg_chart("loss", curves, [mark])), "rect", "onset")[0]
    assert float(rect.get("x")) == pytest.approx(x_at(400, 0, 1000), abs=0.06)
    assert float(rect.get("width")) == pytest.approx(x_at(800, 0, 1000) - x_at(400, 0, 1000), abs=0.11)
    assert float(rect.get("y")) == BIG.y0 and float(rect.get("height")) == BIG.y1 - BIG.y0
    assert rect.get("data-condition") == "overfitting" and "sev-warning" in rect.get("class")
    assert rect.get("fill") == "#d4a72c"  # the warning colour
    assert rect.find(SVG + "title").text == "overfitting: steps 400–800"


def test_open_ended_and_out_of_range_onsets_are_clipped_to_the_plot():
    curves = {"train_loss": curve(range(0, 1001, 10), np.linspace(1, 0.5, 101))}
    f_open = finding(step_range=[250, None])
    f_start = finding(step_range=[None, 500])
    f_outside = finding(step_range=[5000, 6000])
    marks = [m for f in (f_open, f_start, f_outside) for m in finding_marks(f)]
    rects = find(svg(svg_chart("loss", curves, marks)), "rect", "onset")
    assert len(rects) == 2  # the range past the data is not drawn
    a, b = rects
    assert float(a.get("x")) == pytest.approx(x_at(250, 0, 1000), abs=0.06)
    assert float(a.get("x")) + float(a.get("width")) == pytest.approx(BIG.x1, abs=0.11)
    assert float(b.get("x")) == pytest.approx(BIG.x0, abs=0.06)
    assert float(b.get("width")) == pytest.approx(x_at(500, 0, 1000) - BIG.x0, abs=0.11)


def test_best_step_and_nonfinite_markers():
    curves = loss_curves(last=1000)
    curves["train_loss"] = dataclasses.replace(curves["train_loss"], nonfinite_step=1000)
    best = finding(best_step=400, step_range=[400, None], signal="val_loss")
    nan = finding("non-finite", Severity.CRITICAL, first_nonfinite_step=900)
    root = svg(svg_chart("loss", curves, finding_marks(best) + finding_marks(nan)))
    (best_line,) = find(root, "line", "best")
    assert float(best_line.get("x1")) == pytest.approx(x_at(400, 0, 1000), abs=0.06)
    assert find(root, "circle", "best-dot")  # a ring on the val curve at the best step
    xs = sorted(float(e.get("x1")) for e in find(root, "line", "nonfinite"))
    assert xs == pytest.approx([x_at(900, 0, 1000), x_at(1000, 0, 1000)], abs=0.06)
    assert len([t for t in find(root, "text", "nf-label") if t.text == "NaN"]) == 2


def test_log_axis_when_values_span_more_than_two_decades():
    steps = range(100)
    wide = svg(svg_chart("loss", {"train_loss": curve(steps, np.geomspace(10, 0.01, 100))}))
    narrow = svg(svg_chart("loss", {"train_loss": curve(steps, np.linspace(10, 0.2, 100))}))
    assert find(wide, "text", "ctitle")[0].text == "loss (log scale)"
    assert find(narrow, "text", "ctitle")[0].text == "loss"
    assert y_scale([10, 0.01], BIG).log and not y_scale([10, 0.2], BIG).log and not y_scale([-1, 1000], BIG).log
    # Log ticks are powers of ten, inside the plot.
    labels = [t.text for t in find(wide, "g", "axis")[0].iter(SVG + "text") if t.get("text-anchor") == "end"]
    assert labels == ["0.01", "0.1", "1", "10"]


def test_single_point_constant_and_empty_series():
    one = svg(svg_chart("loss", {"train_loss": curve([5], [0.3])}))
    (path,) = find(one, "path", "line")
    x, y = map(float, path.get("d")[1:].split(","))
    assert x == pytest.approx((BIG.x0 + BIG.x1) / 2) and BIG.y0 < y < BIG.y1
    assert find(one, "circle")  # a dot, since a one-point path draws nothing

    flat = svg(svg_chart("lr", {"lr": curve(range(50), [0.001] * 50)}, frame=SMALL))
    ys = {float(p.split(",")[1]) for p in re.findall(r"[\d.]+,[\d.]+", find(flat, "path", "line")[0].get("d"))}
    assert len(ys) == 1 and SMALL.y0 < ys.pop() < SMALL.y1

    empty = svg(svg_chart("loss", {"train_loss": curve([], [], nonfinite_step=0)}))
    assert not find(empty, "path") and find(empty, "text", "empty")[0].text == "no finite values"
    assert find(empty, "line", "nonfinite")


def test_charts_per_run_and_where_findings_go():
    curves = loss_curves()
    curves["lr"] = curve(range(0, 1001, 100), [0.1] * 5 + [0.01] * 6, "lr")
    curves["val_acc"] = curve(range(0, 1001, 100), np.linspace(0.3, 0.9, 11), "val/acc")
    sched = finding("schedule-misconfigured", signal="lr", step_range=[500, None])
    over = finding("overfitting", priority=2, signal="val_loss", step_range=[400, None], best_step=400)
    html = "".join(run_charts(run_report("r", (sched, over)), curves))
    charts = [svg(s) for s in re.findall(r"<svg .*?</svg>", html, re.S)]
    titles = [find(c, "text", "ctitle")[0].text for c in charts]
    assert titles == ["loss", "accuracy", "learning rate"]
    assert [r.get("data-condition") for r in find(charts[0], "rect", "onset")] == ["overfitting"]
    assert [r.get("data-condition") for r in find(charts[2], "rect", "onset")] == ["schedule-misconfigured"]
    assert float(charts[0].get("width")) == BIG.width and float(charts[2].get("width")) == SMALL.width
    assert run_charts(run_report("r"), {}) == []


def test_svg_and_png_keep_their_own_tick_rules():
    # The PNG charts step by the smallest 1-2-5 giving at most n intervals; the SVG charts by the
    # count nearest n. Log axes: SVG thins decades to about n (bounds in log10 units), PNG does not.
    assert nice_ticks(0, 5.5, 5) == [0, 1, 2, 3, 4, 5]
    assert nice_ticks(0, 5.5, 5, rule=TickRule.PNG) == [0, 2, 4]
    assert nice_ticks(math.log10(0.01), math.log10(15), 2, log=True) == pytest.approx([0.01, 1])
    assert nice_ticks(0.01, 15, 2, log=True, rule=TickRule.PNG) == pytest.approx([0.01, 0.1, 1, 10])


def test_ticks():
    assert nice_ticks(0, 1000, 6) == [0, 200, 400, 600, 800, 1000]
    assert nice_ticks(1.3905, 1.3985, 5) == pytest.approx([1.392, 1.394, 1.396, 1.398])
    assert step_labels([0, 50000, 100000]) == ["0", "50k", "100k"]
    assert step_labels([0, 500000, 1000000]) == ["0", "0.5M", "1M"]
    # One style per axis, with the digits that tell neighbouring ticks apart.
    assert value_labels([0.0, 0.5, 1.0]) == ["0.0", "0.5", "1.0"]
    assert value_labels([0.24085, 0.2409, 0.24095]) == ["0.24085", "0.24090", "0.24095"]
    assert value_labels([0, 1e-6, 2e-6]) == ["0", "1e-6", "2e-6"]
    assert value_labels([0.01, 1, 100, 1e6], log=True) == ["0.01", "1", "100", "1e6"]


# -- the page -------------------------------------------------------------------------------------


def test_page_is_self_contained_and_parses():
    report, curves = overfit_report()
    page = render(report, curves)
    assert dispatch("html", report, curves) == page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    p = parse(page)
    # Nothing is fetched: no src attributes, no links out of the page, no CSS imports or urls.
    assert not [a for _, attrs in p.tags for a in attrs if a == "src"]
    assert all(attrs["href"].startswith("#") for tag, attrs in p.tags if "href" in attrs)
    assert (
        "@import" not in page
        and "url(" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert p.scripts == [JS]


def test_summary_table_links_every_run_and_details_fold_healthy_runs():
    report, curves = overfit_report()
    p = parse(render(report, curves))
    links = [attrs["href"] for tag, attrs in p.tags if tag == "a"]
    assert links[:2] == ["#run-1", "#run-2"]
    details = [attrs for tag, attrs in p.tags if tag == "details"]
    assert [d["id"] for d in details] == ["run-1", "run-2"]
    assert [d["data-name"] for d in details] == ["sweep/overfit", "sweep/healthy"]
    assert "open" in details[0] and "open" not in details[1]


def test_findings_list_with_badge_confidence_and_remedies():
    report, curves = overfit_report()
    page = render(report, curves)
    item = re.search(r'<li class="finding sev-warning" id="run-1-f1">.*?</li>', page, re.S).group(0)
    assert (
        '<span class="prio">1</span> <span class="badge warning">warning</span> <code class="cond">overfitting</code>'
        in item
    )
    assert "confidence 0.80" in item and "from step 400" in item
    assert "<dt>step range</dt><dd>400–end</dd>" in item and "<dt>best step</dt><dd>400</dd>" in item
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", item)
    assert rows[0][:2] == ("<code>early_stop</code>", "<code>step=400 restore_best=true</code>")
    assert "auto" in rows[0][2] and rows[0][3] == "live"
    assert "manual" in rows[1][2] and rows[1][3] == "—"


def test_causal_links_point_at_the_other_finding():
    cause, effect = causal_pair()
    page = render(Report((run_report("r", (effect, cause)),)), {})
    assert 'explains <a href="#run-1-f2"><code>non-finite</code></a>' in page
    assert 'likely caused by <a href="#run-1-f1"><code>exploding-gradients</code></a>' in page


def test_malicious_strings_inject_nothing():
    page = render(*evil_report())
    p = parse(page)
    assert p.scripts == [JS]  # the only script is ours
    assert [t for t, _ in p.tags].count("script") == 1
    # No attribute but the ones the renderer writes (an injected one would be onmouseover or x').
    names = {a for _, attrs in p.tags for a in attrs}
    assert not [a for a in names if a.startswith("on")]
    assert names <= {"lang", "charset", "name", "content", "id", "class", "href", "hidden", "type", "placeholder", "aria-label", "data-open",
                     "data-name", "data-role", "data-condition", "data-start", "data-end", "open", "title", "min", "max", "value",
                     "xmlns", "width", "height", "viewbox", "role", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "d", "fill",
                     "fill-opacity", "stroke", "text-anchor"}  # fmt: skip
    assert "<script>alert" not in page and EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;alert(2)&#x27; x=&#x27;|`#" in page
    # Attribute values carry the name intact (escaped in the source, restored by the parser).
    assert {attrs.get("data-name") for t, attrs in p.tags if t == "details"} == {EVIL, EVIL + "2"}
    allowed = {"html", "head", "meta", "title", "style", "body", "header", "main", "footer", "section", "h1", "h2", "p", "span", "code", "a",
               "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "div", "ol", "ul", "li", "dl", "dt", "dd", "meter", "figure",
               "svg", "rect", "line", "path", "circle", "g", "text", "input", "button", "script"}  # fmt: skip
    assert {t for t, _ in p.tags} <= allowed


def test_empty_report():
    page = render(Report(()), {})
    parse(page)
    assert "No runs were analysed." in page and "No sweep findings." in page
    assert "<details" not in page and "<svg" not in page


def test_run_without_scalar_data():
    r = run_report("no-data", steps=None, problems=("events.out: not a TFRecord file",))
    page = render(Report((r,)), {"no-data": {}})
    block = re.search(r'<details class="run" id="run-1".*?</details>', page, re.S).group(0)
    assert "no scalar data" in block and "<svg" not in block
    assert '<ul class="problems"><li>events.out: not a TFRecord file</li></ul>' in block


def test_nonfinite_evidence_values_are_serialized():
    f = nonfinite_finding(30)
    curves = {"r": {"train_loss": curve([0, 10, 20], [1, 0.9, 0.8], "loss", nonfinite_step=30)}}
    page = render(Report((run_report("r", (f,)),)), curves)
    assert "<dt>value</dt><dd>nan</dd>" in page and "<dt>peak</dt><dd>inf</dd>" in page
    chart = svg(re.search(r"<svg .*?</svg>", page, re.S).group(0))
    (line,) = find(chart, "line", "nonfinite")  # the finding's and the curve's point coincide: one line
    assert float(line.get("x1")) == pytest.approx(BIG.x1, abs=0.06)


def test_sweep_section_links_runs_in_its_comparison():
    rows = [
        {"value": 0.1, "run": "a", "best_val": 0.5, "seconds_to_best": None},
        {"value": 0.01, "run": "b", "best_val": 0.4, "seconds_to_best": 3.0},
    ]
    sweep = Finding(
        "validation-overuse",
        Severity.INFO,
        0.6,
        "2 runs selected",
        {"best_run": "b", "comparison": {"hparam": "lr", "rows": rows}},
        priority=1,
    )
    page = render(Report((run_report("a"), run_report("b")), sweep=(sweep,)), {})
    section = re.search(r'<section id="sweep">.*?</section>', page, re.S).group(0)
    assert '<dt>best run</dt><dd><a href="#run-2"><code>b</code></a></dd>' in section
    assert "<th>lr</th><th>run</th><th>best val</th><th>seconds to best</th>" in section
    assert '<td>0.1</td><td><a href="#run-1"><code>a</code></a></td><td>0.5</td><td>—</td>' in section


def test_hundreds_of_runs_stay_usable():
    runs = tuple(
        run_report(f"sweep/run{i:03d}", (finding(step_range=[200, None]),) if i % 10 == 0 else ()) for i in range(300)
    )
    curves = {r.run: loss_curves(400) for r in runs}
    page = render(Report(runs), curves)
    p = parse(page)
    details = [a for t, a in p.tags if t == "details"]
    assert len(details) == 300
    assert sum("open" in d for d in details) == 30  # only runs with warnings start open
    assert len([a for t, a in p.tags if t == "tr" and "data-name" in a]) == 300
    assert len(page) < 300 * 40_000  # about 20 kB a run with two 400-point curves


def test_degenerate_curve_values_do_not_break_charts():
    curves = {"train_loss": curve([0, 1, 2, 3], [1.0, math.nan, 0.5, math.inf]), "val_loss": curve([2, 2], [0.0, 0.0])}
    root = svg(svg_chart("loss", curves))
    d = find(root, "path", "line")[0].get("d")
    assert d.count("M") == 2 and "nan" not in d and "inf" not in d
