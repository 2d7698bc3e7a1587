"""The ``advisor`` command: analyze, watch, tune, rules, explain.

Exit codes (SPEC §5): 0 = nothing at or above ``--fail-on``; 1 = findings at or above it;
2 = usage error or unreadable input, with one line on stderr. An unexpected internal error
prints one line too (exit 3); set ADVISOR_DEBUG=1 for its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Sequence

from advisor import __version__
from advisor.errors import AdvisorError, UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error
        raise UsageError(f"{self.prog}: {message}")


def parse_ids(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(t for t in text.replace(",", " ").split() if t)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="advisor", description="Diagnose deep-learning training runs from their TensorBoard logs and say what to change.")
    p.add_argument("--version", action="version", version=f"advisor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    a = sub.add_parser("analyze", help="diagnose every run under PATH(s)", description="Diagnose every run under PATH(s).")
    a.add_argument("paths", nargs="+", metavar="PATH")
    a.add_argument("--format", choices=("text", "json", "markdown", "html"), default="text")
    a.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    a.add_argument("--fail-on", choices=("critical", "warning", "info", "never"), default=None, help="exit 1 when a finding is at least this severe (default: critical)")
    a.add_argument("--select", metavar="IDS", help="only these condition ids (comma-separated)")
    a.add_argument("--ignore", metavar="IDS", help="skip these condition ids")
    a.add_argument("--config", metavar="FILE", help="advisor.toml or pyproject.toml with [tool.advisor]")
    a.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: by CPU count and number of runs)")
    a.add_argument("--no-crc", action="store_true", help="skip CRC checks when reading (faster, less safe)")
    a.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    w = sub.add_parser("watch", help="follow event files as they are written; print new findings")
    w.add_argument("paths", nargs="+", metavar="PATH")
    w.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between polls (default 2)")
    w.add_argument("--once", action="store_true", help="analyse what is there now and exit (for scripts)")
    w.add_argument("--config", metavar="FILE")
    w.add_argument("--select", metavar="IDS")
    w.add_argument("--ignore", metavar="IDS")
    w.add_argument("--fail-on", choices=("critical", "warning", "info", "never"), default=None)

    t = sub.add_parser("tune", help="apply recommendations on a reference trainer and verify them over seeds")
    t.add_argument("--backend", choices=("torch", "jax"), required=True)
    t.add_argument("--config", required=True, metavar="FILE", help="the trainer config (TOML or JSON)")
    t.add_argument("--rounds", type=int, default=3, metavar="N")
    t.add_argument("--seeds", type=int, default=3, metavar="K")
    t.add_argument("--out", default=None, metavar="DIR")
    t.add_argument("--format", choices=("text", "json"), default="text")
    t.add_argument("--metric", default="val_loss", help="target metric: val_loss (default), val_accuracy, test_loss, test_accuracy")
    t.add_argument("--resume", action="store_true", help="continue a journal in --out without redoing finished runs")
    t.add_argument("--live", action="store_true", help="apply live-capable remedies during a single run and compare")
    t.add_argument("--workers", type=int, default=None, metavar="N")
    t.add_argument("--budget", type=int, default=None, metavar="N", help="most remedies tried in all (default: 2 per round)")
    t.add_argument("--target", choices=("warning", "info"), default="warning", help="least severe finding to act on (default: warning, i.e. stop when healthy)")

    r = sub.add_parser("rules", help="every condition with its signals, severity and remedies")
    r.add_argument("--format", choices=("text", "json"), default="text")

    e = sub.add_parser("explain", help="one condition: what it means, how it is detected, what to do")
    e.add_argument("id", metavar="ID")
    return p


def _color(mode: str, stream) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def write_output(text: str, path: str | None) -> None:
    """Write to stdout, or atomically to ``path`` (a crash never leaves a half-written file)."""
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UsageError(f"cannot write {path}: directory {d} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".advisor-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def _progress():
    """A progress callback drawing a bar on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.console import Console

    prog = Progress(TextColumn("analysing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    state: dict = {}

    def cb(done: int, total: int) -> None:
        if "task" not in state:
            if total < 20:
                return
            prog.start()
            state["task"] = prog.add_task("runs", total=total)
        prog.update(state["task"], completed=done)

    return cb, (lambda: prog.stop() if "task" in state else None)


def cmd_analyze(args: argparse.Namespace) -> int:
    from advisor import config as cfgmod
    from advisor.analyze import analyze
    from advisor.engine import severity_at_least
    from advisor.render import render

    cfg = cfgmod.load(args.config).with_cli(select=parse_ids(args.select), ignore=parse_ids(args.ignore), fail_on=args.fail_on)
    cb, stop = _progress()
    try:
        result = analyze(args.paths, cfg, workers=args.workers, curves=args.format in ("text", "html", "markdown"), verify_crc=not args.no_crc, progress=cb)
    finally:
        stop()
    curves = {r.report.run: r.curves for r in result.runs}
    kw = {}
    if args.format == "text":
        kw["color"] = args.output is None and _color(args.color, sys.stdout)
    text = render(args.format, result.report, curves, **kw)
    write_output(text, args.output)
    if args.format != "text" or args.output is not None:
        for r in result.report.runs:
            for p in r.problems:
                print(f"advisor: {r.run}: {p}", file=sys.stderr)
        for p in result.report.problems:
            print(f"advisor: {p}", file=sys.stderr)
    findings = [f for r in result.report.runs for f in r.findings] + list(result.report.sweep)
    return EXIT_FINDINGS if severity_at_least(findings, cfg.fail_severity()) else EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    import json

    from advisor.remedies import ACTIONS
    from advisor.rules import RULES

    if args.format == "json":
        data = [
            {"id": r.id, "severity": r.severity.value, "signals": list(r.signals), "title": r.title, "scope": r.scope, "params": {k: v for k, v in r.param_docs()}}
            for r in RULES
        ]
        write_output(json.dumps(data, indent=2) + "\n", None)
        return EXIT_OK
    lines = []
    width = max(len(r.id) for r in RULES)
    for r in RULES:
        lines.append(f"{r.id:<{width}}  {r.severity.value:<8}  {r.title}")
        lines.append(f"{'':<{width}}  {'':<8}  signals: {', '.join(r.signals)}")
    lines.append("")
    lines.append("remedy actions: " + ", ".join(f"{a} ({s.kind})" for a, s in ACTIONS.items()))
    lines.append("`advisor explain ID` for what a condition means, how it is detected and what to do.")
    write_output("\n".join(lines) + "\n", None)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from advisor import rules

    r = rules.get(args.id)
    out = [f"{r.id}  [{r.severity.value}, {r.scope}]", "", r.doc, "", "Parameters (set in advisor.toml under [rules." + r.id + "]):"]
    for name, default in r.param_docs():
        out.append(f"  {name} = {default!r}")
    write_output("\n".join(out) + "\n", None)
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    from advisor.watch import run_watch

    return run_watch(args)


def cmd_tune(args: argparse.Namespace) -> int:
    from advisor.tune import run_tune

    return run_tune(args)


COMMANDS = {"analyze": cmd_analyze, "rules": cmd_rules, "explain": cmd_explain, "watch": cmd_watch, "tune": cmd_tune}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except AdvisorError as e:
        print(f"advisor: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("advisor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = None  # type: ignore[assignment]
        except Exception:
            pass
        return EXIT_OK
    except Exception as e:  # never a traceback for the user; one line and a distinct code
        if os.environ.get("ADVISOR_DEBUG"):
            raise
        print(f"advisor: internal error: {type(e).__name__}: {e} (set ADVISOR_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
