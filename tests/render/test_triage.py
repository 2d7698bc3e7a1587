"""What a new user hit first (issue 16): runs as a triage list, --only-problems, a run named by its
directory, spikes that charts keep, help with examples, no reStructuredText in the terminal,
and a tune chart with axis labels, a legend and colours that differ."""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
import pytest

from advisor.cli import TUNE_METRICS, build_parser, main
from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.model import Finding, Report, RunReport, Severity
from advisor.pipeline import diagnose_run
from advisor.render import render
from advisor.render.html import chart_svgs
from advisor.render.png import line_chart
from advisor.render.tune_report import TUNE_COLORS
from tests import synth

SEVERITIES = {"zeta-crit": Severity.CRITICAL, "alpha-info": Severity.INFO, "beta-warn": Severity.WARNING, "alpha-crit": Severity.CRITICAL}
EXPECTED = ["alpha-crit", "zeta-crit", "beta-warn", "alpha-info", "a-healthy"]


def _report() -> Report:
    runs = [RunReport(run="a-healthy", steps=(0, 10), signals={})]
    for name, sev in SEVERITIES.items():
        f = Finding("plateau", sev, 0.8, f"summary of {name}", {"step_range": [1, 5]}, priority=1)
        runs.append(RunReport(run=name, steps=(0, 10), signals={}, findings=(f,)))
    return Report(tuple(runs))


def _positions(text: str) -> list[int]:
    return [text.index(n) for n in EXPECTED]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_runs_ordered_by_severity_then_name(fmt):
    text = render(fmt, _report(), {})
    pos = _positions(text)
    assert pos == sorted(pos), fmt


def test_only_problems_leaves_healthy_runs_out(tmp_path, capsys):
    synth.write_run(str(tmp_path / "healthy"), synth.healthy_step_decay(0, 1200))
    synth.write_run(str(tmp_path / "overfit"), synth.overfitting(0))
    assert main(["analyze", str(tmp_path), "--only-problems", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "overfit" in out and "healthy  (" not in out
    assert "1 run(s) without warnings not shown" in out and "2 run(s):" in out
    main(["analyze", str(tmp_path), "--color", "never"])
    assert "healthy  (" in capsys.readouterr().out


def test_a_run_that_is_the_analysed_path_is_named_by_its_directory(tmp_path, capsys):
    run = tmp_path / "my-run"
    synth.write_run(str(run), synth.overfitting(0))
    main(["analyze", str(run), "--format", "json", "--fail-on", "never"])
    assert [r["run"] for r in json.loads(capsys.readouterr().out)["runs"]] == ["my-run"]


def test_chart_keeps_a_spike_the_bin_median_hides():
    c = synth.healthy_step_decay(n=3000)
    s, v = c["train/loss"]
    v = v.copy()
    v[1500] = 675.0
    c["train/loss"] = (s, v)
    a = diagnose_run(synth.run_of(c), Engine.from_config(AnalyzeConfig()), curves=True)
    curve = a.curves["train_loss"]
    assert max(curve.values) < 10 and max(curve.hi) == 675.0 and min(curve.lo) == pytest.approx(float(np.min(v)))
    svg = chart_svgs(a.report, a.curves)[0][1]
    assert 'class="band c-train"' in svg and "highest 675" in svg
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([0-9.e+-]+)<', svg)]
    assert max(ticks) >= 675  # the value axis reaches the spike


def test_help_has_examples_and_every_tune_option_is_explained(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "advisor analyze runs/" in out and "tensorboard --logdir" in out
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    tune = sub.choices["tune"]
    undocumented = [a.dest for a in tune._actions if a.dest != "help" and not a.help]
    assert undocumented == []


def test_metric_names_are_the_ones_tune_accepts_and_the_readme_names():
    from advisor.tune.verify import METRICS

    assert set(TUNE_METRICS) == set(METRICS)
    readme = open("README.md", encoding="utf-8").read()
    named = re.findall(r"`--metric` chooses (.+?), or any key", readme.replace("\n", " "))[0]
    names = re.findall(r"`([a-z_]+)`", named)
    assert names and all(name in TUNE_METRICS for name in names)


def test_explain_and_rules_print_no_restructuredtext(capsys):
    from advisor.rules import RULES

    for r in RULES:
        main(["explain", r.id])
        out = capsys.readouterr().out
        assert "``" not in out and not re.search(r":(class|func|mod|attr):`", out), r.id
    main(["rules"])
    assert "`" not in capsys.readouterr().out


def test_tune_chart_has_axis_labels_legend_and_distinct_colours():
    x = np.arange(100)
    lines = [(f"{k} {s} loss", x, np.exp(-x / (20 + i))) for i, (k, s) in enumerate([("initial", "train"), ("initial", "val"), ("final", "train"), ("final", "val")])]
    plain = _pixels(line_chart(lines, title="t", colors=TUNE_COLORS))
    labelled = _pixels(line_chart(lines, title="t", colors=TUNE_COLORS, xlabel="step", ylabel="loss"))
    assert (labelled[-14:] != 255).any() and not (plain[-14:] != 255).any()  # "step" under the axis
    for col in TUNE_COLORS:  # every line and its legend swatch in its own colour
        assert (labelled == np.array(col, dtype=np.uint8)).all(axis=2).sum() > 50
    dist = [sum((a - b) ** 2 for a, b in zip(c1, c2)) ** 0.5 for i, c1 in enumerate(TUNE_COLORS) for c2 in TUNE_COLORS[i + 1 :]]
    assert min(dist) > 100


def _pixels(png: bytes) -> np.ndarray:
    import struct
    import zlib

    pos, chunks, w, h = 8, [], 0, 0
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert (raw[:, 0] == 0).all()  # filter type 0 (none), as encode_png writes
    return raw[:, 1:].reshape(h, w, 3)
