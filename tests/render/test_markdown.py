"""The Markdown renderer: structure, escaping of every user string, edge cases."""

from __future__ import annotations

import re

from advisor.model import Finding, Remedy, Report, Severity
from advisor.render import render as dispatch
from advisor.render.common import evidence_items, key_role, ordered
from advisor.render.markdown import md_code, md_text, render

from ._build import causal_pair, curve, evil_report, finding, loss_curves, nonfinite_finding, overfit_report, run_report

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def cells(row: str) -> list[str]:
    """A GFM table row's cells (a pipe escaped with a backslash does not split)."""
    return [c.strip() for c in _UNESCAPED_PIPE.split(row.strip())[1:-1]]


def table_rows(text: str, header_start: str) -> list[list[str]]:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[i:]:
        if not line.startswith("|"):
            break
        rows.append(cells(line))
    return rows


def test_summary_table_has_a_row_per_run_with_worst_severity_and_top_finding():
    report, curves = overfit_report()
    md = render(report, curves)
    rows = table_rows(md, "| Run |")
    assert rows[0] == ["Run", "Steps", "Worst", "Top finding"]
    body = rows[2:]
    assert [r[0] for r in body] == ["[`sweep/overfit`](#run-1)", "[`sweep/healthy`](#run-2)"]
    assert body[0][1] == "0–1000"
    assert "warning" in body[0][2] and "`overfitting`" in body[0][3]
    assert "ok" in body[1][2] and body[1][3] == "—"


def test_dispatch_reaches_the_markdown_renderer():
    report, curves = overfit_report()
    assert dispatch("markdown", report, curves) == render(report, curves)


def test_alarming_runs_get_a_section_and_healthy_runs_fold_into_details():
    report, curves = overfit_report()
    md = render(report, curves)
    assert '<a id="run-1"></a>' in md and "### `sweep/overfit` — ▲ warning" in md
    assert '<a id="run-2"></a><details><summary><code>sweep/healthy</code> — ✓ healthy</summary>' in md
    assert md.count("<details") == md.count("</details>") == 1


def test_finding_shows_priority_severity_confidence_evidence_and_remedies():
    report, curves = overfit_report()
    md = render(report, curves)
    assert "**1. ▲ warning · `overfitting`** · confidence 0.80 · from step 400" in md
    assert "- Evidence: step range `400–end` · best step `400` · signal `val_loss`" in md
    rows = table_rows(md, "| Remedy |")
    assert rows[0] == ["Remedy", "Params", "Kind", "Applies", "Why"]
    assert rows[2] == [
        "`early_stop`",
        "`step=400 restore_best=true`",
        "auto",
        "live",
        "the best weights were at step 400",
    ]
    assert rows[3][:4] == ["`check_data`", "`what=labels`", "manual", "—"]


def test_sparkline_of_the_key_curve():
    report, curves = overfit_report()
    md = render(report, curves)
    # The overfitting finding's signal is val_loss: its sparkline, first and last value.
    vals = curves["sweep/overfit"]["val_loss"].values
    line = next(line for line in md.splitlines() if line.startswith("val loss `"))
    assert re.search(r"`[▁▂▃▄▅▆▇█]{10}`", line)
    assert line.endswith(f"{vals[0]:.4g} → {vals[-1]:.4g}")
    assert key_role(report.runs[1], curves["sweep/healthy"]) == "train_loss"
    assert key_role(report.runs[0], {}) is None


def test_findings_are_listed_by_priority():
    fs = (finding("still-improving", Severity.INFO, priority=2), finding("overfitting", Severity.WARNING, priority=1))
    md = render(Report((run_report("r", fs),)), {})
    assert md.index("`overfitting`**") < md.index("`still-improving`**")
    assert [f.condition for f in ordered(fs)] == ["overfitting", "still-improving"]


def test_table_cells_escape_pipes_in_run_names_and_summaries():
    name = "lr|0.1|bs`32`"
    f = Finding(
        "overfitting",
        Severity.WARNING,
        0.5,
        "a | b",
        {"signal": "val|loss"},
        (Remedy("dropout", {"rate": 0.3}, rationale="x | y"),),
        priority=1,
    )
    md = render(Report((run_report(name, (f,)),)), {})
    summary = table_rows(md, "| Run |")
    assert all(len(r) == 4 for r in summary)
    assert summary[2][0].startswith("[``lr\\|0.1\\|bs`32```](#run-1)") or "\\|" in summary[2][0]
    remedies = table_rows(md, "| Remedy |")
    assert all(len(r) == 5 for r in remedies)
    assert remedies[2][4] == "x \\| y"


def outside_code(line: str) -> str:
    """The text of a Markdown line outside its code spans, backslash escapes removed
    (CommonMark: an escaped backtick opens nothing; a run of n backticks closes at the next run
    of exactly n)."""
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and not line[i + 1].isalnum():
            i += 2
            continue
        if line[i] == "`":
            run = re.match(r"`+", line[i:]).group(0)
            close = re.compile(r"(?<!`)" + run + r"(?!`)").search(line, i + len(run))
            if close:
                i = close.end()
                continue
        out.append(line[i])
        i += 1
    return "".join(out)


def test_user_strings_cannot_inject_markup():
    md = render(*evil_report())
    ours = re.compile(r"</?(a|details|summary|code)\b")
    for line in md.splitlines():
        bare = outside_code(line)
        # Outside code spans only our own tags remain; "<script" can only be inert text.
        assert all(ours.match(bare, m.start()) for m in re.finditer("<", bare)), line
        # A line starts with something we wrote, never with a user's "#".
        assert not re.match(r"#+ <|#+ \"", line)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;" in md  # the folded run, in <summary>
    # Tables keep their shape.
    assert all(len(row) == 4 for row in table_rows(md, "| Run |"))
    assert all(len(row) == 5 for row in table_rows(md, "| Remedy |"))


def test_md_text_and_md_code_escaping():
    assert md_text("# not a heading") == "\\# not a heading"
    assert md_text("1. not a list") == "1\\. not a list"
    assert md_text("- not a bullet") == "\\- not a bullet"
    assert md_text("*a* _b_ [c](d) <e> `f` a|b") == "\\*a\\* \\_b\\_ \\[c\\](d) \\<e> \\`f\\` a\\|b"
    assert md_text("two\nlines") == "two lines"
    assert md_code("plain") == "`plain`"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`start") == "`` `start ``"
    assert md_code("a|b", table=True) == "`a\\|b`" and md_code("a|b") == "`a|b`"


def test_empty_report():
    md = render(Report(()), {})
    assert md.startswith("# advisor report\n")
    assert "No runs were analysed." in md and "No sweep findings." in md
    assert "| Run |" not in md


def test_run_without_scalar_data():
    r = run_report("empty-run", steps=None, problems=("events.out: not a TFRecord file",))
    md = render(Report((r,)), {"empty-run": {}})
    assert "| [`empty-run`](#run-1) | no scalar data |" in md
    assert "— no scalar data</summary>" in md
    assert "- events.out: not a TFRecord file" in md
    assert "✓ No findings." not in md


def test_nonfinite_evidence_values_are_serialized():
    f = nonfinite_finding(40)
    md = render(
        Report((run_report("r", (f,)),)),
        {"r": {"train_loss": curve([0, 10, 20, 30], [1, 0.9, 0.8, 0.7], "loss", nonfinite_step=40)}},
    )
    ev = {k: v for k, _, v in evidence_items(f.evidence)}
    assert ev["value"] == "nan" and ev["peak"] == "inf" and ev["low"] == "-inf"
    assert "value `nan`" in md and "peak `inf`" in md and "first nonfinite step `40`" in md
    assert "**non-finite at step 40**" in md


def test_sweep_section_with_comparison_table():
    rows = [
        {"value": 0.1, "run": "a|b", "best_val": 0.5, "seconds_to_best": None},
        {"value": 0.01, "run": "c", "best_val": float("nan"), "seconds_to_best": 12.0},
    ]
    sweep = Finding(
        "validation-overuse",
        Severity.INFO,
        0.6,
        "3 runs in sweep were selected",
        {"comparison": {"hparam": "lr", "rows": rows}},
        priority=1,
    )
    md = render(Report((run_report("a|b"),), sweep=(sweep,)), {})
    assert "## Sweep" in md and "`validation-overuse`" in md
    table = table_rows(md, "| lr |")
    assert table[0] == ["lr", "run", "best val", "seconds to best"]
    assert table[2] == ["`0.1`", "`a\\|b`", "`0.5`", "`—`"]
    assert table[3][2] == "`nan`"


def test_causal_links_are_named():
    md = render(Report((run_report("r", causal_pair()),)), {})
    assert "- Explains: `non-finite`" in md
    assert "- Likely caused by: `exploding-gradients`" in md


def test_every_run_of_many_is_listed_once():
    runs = tuple(run_report(f"run{i:03d}", (finding(),) if i % 7 == 0 else ()) for i in range(300))
    curves = {f"run{i:03d}": loss_curves(20) for i in range(300)}
    md = render(Report(runs), curves)
    assert len(table_rows(md, "| Run |")) == 302
    assert md.count("<details") == 300 - len(range(0, 300, 7))
    assert all(f'id="run-{i + 1}"' in md for i in range(300))
