"""Findings where users look: the ``advisor/findings`` text summary from a monitor's tee and from
``advisor analyze --write-summaries`` (a separate event file; the user's files untouched)."""

from __future__ import annotations

import glob
import os

from advisor.cli import main
from advisor.io.tfevents import read_event_file
from advisor.live import Monitor
from advisor.live.summary import markdown
from tests import synth

from .helpers import nan_at


def _texts(d: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in sorted(glob.glob(os.path.join(d, "*tfevents*"))):
        out.update(read_event_file(f).texts)
    return out


def test_a_monitor_writes_its_findings_table_into_the_tee(tmp_path):
    mon = Monitor(every=50, on_finding=None, tee=str(tmp_path))
    for s, v in enumerate(nan_at(300, 200)):
        mon.log(s, loss=float(v))
    mon.close()
    table = _texts(str(tmp_path))["advisor/findings"]
    assert table.startswith("| severity | condition | summary | remedy |")
    assert "| critical | non-finite |" in table


def test_markdown_escapes_pipes_and_says_when_there_is_nothing():
    assert "no findings" in markdown([])


def test_analyze_write_summaries_adds_a_separate_event_file(tmp_path, capsys):
    run = tmp_path / "run"
    synth.write_run(str(run), {"train/loss": (list(range(300)), list(nan_at(300, 150)))})
    before = {p: open(p, "rb").read() for p in glob.glob(str(run / "*"))}
    code = main(["analyze", str(tmp_path), "--write-summaries", "--format", "json"])
    assert code == 1  # a critical finding
    after = glob.glob(str(run / "*"))
    new = [p for p in after if p not in before]
    assert len(new) == 1 and new[0].endswith(".advisor")
    assert all(open(p, "rb").read() == b for p, b in before.items())  # user files untouched
    assert "| critical | non-finite |" in read_event_file(new[0]).texts["advisor/findings"]
    capsys.readouterr()
    assert main(["analyze", str(tmp_path), "--format", "json"]) == 1  # the run still reads the same


def test_analyze_reports_why_a_live_callback_stopped_the_run(tmp_path):
    from advisor.analyze import analyze
    from advisor.io.writer import EventWriter

    w = EventWriter(tmp_path / "run")
    for i in range(50):
        w.add_scalar("train/loss", 2.0 - i * 0.01, i)
    w.add_text("advisor/findings", "stopped at step 49: critical divergence\n\n| severity | condition | summary | remedy |\n|---|---|---|---|", 49)
    w.close()
    (rep,) = analyze([str(tmp_path)]).report.runs
    assert any("stopped at step 49: critical divergence" in n for n in rep.notes)
