"""Findings where users already look: a TensorBoard text summary (tag ``advisor/findings``).

Monitors and callbacks write, at each new finding, the table of the run's current findings into
the run: through the logger's own writer when there is one (Lightning's TensorBoardLogger,
Hugging Face's TensorBoard callback: anything with ``add_text(tag, text, step)``), else into the
``tee`` event file. ``advisor analyze --write-summaries`` adds the same table to every analysed
run in a separate event file (``...tfevents...advisor``), leaving the user's files untouched.
TensorBoard shows the table under its Text tab; the text plugin renders Markdown.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from advisor.model import Finding

if TYPE_CHECKING:
    from advisor.live.monitor import Monitor

log = logging.getLogger("advisor.live")

TAG = "advisor/findings"
#: The suffix of the event file ``--write-summaries`` adds to a run.
SUFFIX = ".advisor"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown(findings: Iterable[Finding], note: str = "") -> str:
    """The findings as a Markdown table (severity, condition, summary, first remedy)."""
    rows = ["| severity | condition | summary | remedy |", "|---|---|---|---|"]
    for f in findings:
        rem = ""
        if f.remedies:
            r = f.remedies[0]
            params = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())
            rem = f"{r.action} {params}".strip()
        rows.append(f"| {f.severity.value} | {f.condition} | {_cell(f.summary)} | {_cell(rem)} |")
    if len(rows) == 2:
        rows.append("| | | no findings | |")
    return (note.strip() + "\n\n" if note else "") + "\n".join(rows)


class TextSink:
    """An ``on_finding`` callback that writes the monitor's findings table through ``add_text``
    (a writer's method: ``add_text(tag, text, step)``) at each new finding; :meth:`note` adds a
    line above the table (the reason a callback stopped the run). Failures are reported by the
    monitor, never raised."""

    def __init__(self, add_text: Callable[..., Any]) -> None:
        self.add_text = add_text
        self.notes: list[str] = []
        self.__name__ = "advisor/findings summary"

    def __call__(self, mon: Monitor, f: Finding) -> None:
        self.write(mon)

    def write(self, mon: Monitor) -> None:
        shown = {x.condition for x in mon.findings}
        delivered = [a.finding for a in mon.alerts if a.finding.condition not in shown]
        text = markdown([*mon.findings, *_latest(delivered)], "\n\n".join(self.notes))
        self.add_text(TAG, text, int(mon.step or 0))
        flush = getattr(getattr(self.add_text, "__self__", None), "flush", None)
        if callable(flush):
            flush()

    def note(self, mon: Monitor, line: str) -> None:
        self.notes.append(line)
        try:
            self.write(mon)
        except Exception as e:
            mon.recorder.report_failure("findings summary", e)


def _latest(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per condition (the last delivered), in delivery order."""
    by: dict[str, Finding] = {}
    for f in findings:
        by[f.condition] = f
    return list(by.values())


def attach(mon: Monitor, writer: Any) -> TextSink | None:
    """Write ``mon``'s findings through ``writer`` (anything with ``add_text``); None if it has none."""
    add = getattr(writer, "add_text", None)
    if not callable(add):
        return None
    sink = TextSink(add)
    mon._callbacks.append(sink)  # called as (monitor, finding), like the built-ins
    return sink


def write_summaries(paths: Sequence[str], reports: Iterable[Any]) -> list[str]:
    """Write each analysed run's findings table into a new event file in its directory (the
    user's files untouched); return the files written. ``reports``: SPEC §4 run entries."""
    from advisor.analyze import find_runs
    from advisor.io.writer import EventWriter, default_filename

    dirs = {r.name: r.path for r in find_runs(paths)[0]}
    out = []
    for rep in reports:
        d = dirs.get(rep.run)
        if d is None or not os.path.isdir(d):
            continue
        last = rep.steps[1] if rep.steps else 0
        try:
            with EventWriter(d, filename=default_filename(SUFFIX)) as w:
                w.add_text(TAG, markdown(rep.findings), int(last))
                out.append(w.path)
        except OSError as e:  # a read-only run directory: say so, write the others
            print(f"advisor: {rep.run}: could not write its findings summary ({e.strerror or e})", file=sys.stderr)
    return out
