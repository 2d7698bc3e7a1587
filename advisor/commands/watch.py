"""``advisor watch``: follow event files as they are written and print new findings."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

from advisor import config as cfgmod
from advisor.commands import analyze as analyze_command
from advisor.commands.common import EXIT_FINDINGS, EXIT_OK, parse_ids
from advisor.engine import severity_at_least
from advisor.errors import InputError, UsageError
from advisor.io.discover import is_url
from advisor.model import Finding
from advisor.terminal import terminal_safe
from advisor.tracking import describe
from advisor.watch import Watcher


def run(args: argparse.Namespace) -> int:
    if not args.interval or args.interval <= 0 or not math.isfinite(args.interval):
        raise UsageError("--interval must be a positive number of seconds")
    for p in args.paths:
        if not is_url(p) and not os.path.exists(p):  # a URL is listed by the Watcher
            raise InputError(f"{p}: no such file or directory")
    if args.once:
        ns = argparse.Namespace(
            paths=args.paths, format="text", output=None, fail_on=args.fail_on, select=args.select, ignore=args.ignore,
            config=args.config, workers=None, no_crc=False, color="auto",
        )
        return analyze_command.run(ns)
    cfg = cfgmod.load(args.config).with_cli(select=parse_ids(args.select), ignore=parse_ids(args.ignore), fail_on=args.fail_on)
    watcher = Watcher(args.paths, cfg, interval=args.interval)
    view = _View(sys.stdout)
    _sigterm_as_interrupt()
    try:
        view.start()
        waiting = False
        while True:
            new = watcher.poll()
            if not watcher.runs and not waiting:
                view.note(f"waiting for event files under {', '.join(args.paths)}")
                waiting = True
            for run, f in new:
                view.finding(run, f)
            view.update(watcher)
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        view.stop(watcher)
    return EXIT_FINDINGS if severity_at_least(watcher.findings(), cfg.fail_severity()) else EXIT_OK


def _sigterm_as_interrupt() -> None:
    """``kill`` ends a watch as cleanly as Ctrl-C (same summary, same exit code)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background
            signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):
        pass


class _View:
    """A rich Live table on a terminal; plain finding lines elsewhere."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
        self.live: Any = None
        self.console: Any = None

    def start(self) -> None:
        if not self.tty:
            return
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.stream)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def note(self, text: str) -> None:
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(terminal_safe(text), style="dim"))
        else:
            print(terminal_safe(f"advisor: {text}"), file=sys.stderr, flush=True)

    def finding(self, run: str, f: Finding) -> None:
        line = terminal_safe(describe(f, run))
        if self.console is not None:
            from rich.text import Text

            from advisor.render.text import SEVERITY_STYLE

            self.console.print(Text(line, style=SEVERITY_STYLE[f.severity]))
        else:
            print(line, file=self.stream, flush=True)

    def update(self, watcher: Watcher) -> None:
        if self.live is not None:
            self.live.update(_table(watcher))

    def stop(self, watcher: Watcher) -> None:
        if self.live is not None:
            self.live.update(_table(watcher))
            self.live.stop()
        reports = watcher.reports()
        worst = [max(r.findings, key=lambda f: f.severity.rank).severity.value for r in reports if r.findings]
        summary = f"advisor watch: {len(reports)} run(s) followed; " + (
            ", ".join(f"{worst.count(s)} {s}" for s in ("critical", "warning", "info") if worst.count(s)) or "no findings"
        )
        print(summary, file=sys.stderr, flush=True)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _table(watcher: Watcher) -> Any:
    from rich.table import Table
    from rich.text import Text

    from advisor.render.text import SEVERITY_STYLE

    t = Table(title="advisor watch", expand=False)
    t.add_column("run", overflow="fold")
    for col in ("steps", "train loss", "val loss", "worst finding"):
        t.add_column(col)
    for wr in watcher.runs.values():
        r = wr.report
        steps = f"{r.steps[0]}–{r.steps[1]}" if r is not None and r.steps else "—"
        if r is not None and r.findings:
            f = max(r.findings, key=lambda f: (f.severity.rank, -f.priority))
            worst = f"[{SEVERITY_STYLE[f.severity]}]{f.severity.value} {f.condition}[/]"
        else:
            worst = "[green]none[/green]" if r is not None else "[dim]reading…[/dim]"
        t.add_row(Text(terminal_safe(wr.files.name)), steps, _fmt(wr.train_loss), _fmt(wr.val_loss), worst)
    return t
