"""The ``advisor`` command line: the parser, and dispatch to :mod:`advisor.commands`.

Exit codes (SPEC §5): 0 = nothing at or above ``--fail-on``; 1 = findings at or above it;
2 = usage error or unreadable input, with one line on stderr. An unexpected internal error
prints one line too (exit 3); set ADVISOR_DEBUG=1 for its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module
from typing import Sequence

from advisor import __version__
from advisor.commands.common import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from advisor.errors import AdvisorError, UsageError
from advisor.terminal import terminal_safe


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error
        raise UsageError(f"{self.prog}: {message}")


EXAMPLES = """\
examples:
  advisor analyze runs/                           every run under runs/, worst first
  advisor analyze runs/ --only-problems           leave runs without warnings out
  advisor analyze runs/ --format html -o report.html
  advisor analyze runs/ --format json --fail-on warning   for CI: exit 1 on a warning
  advisor watch runs/                             follow runs as they train
  advisor tune --backend torch --config bad.toml --seeds 3   apply a remedy, verify over seeds
  advisor rules                                   every condition the analysis knows
  advisor explain overfitting                     what a condition means and what to do
  tensorboard --logdir runs/                      the same findings in TensorBoard's Advisor tab

exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage error or unreadable input
"""
# The names advisor.tune.verify.METRICS accepts (a test keeps the two lists equal).
TUNE_METRICS = ("val_loss", "best_val_loss", "val_accuracy", "best_val_accuracy", "test_loss", "test_accuracy")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="advisor",
        description="Diagnose deep-learning training runs from their TensorBoard logs and say what to change.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    a.add_argument("--only-problems", action="store_true", help="text report: leave out runs without a warning or critical finding")
    a.add_argument("--executor", default="local", metavar="local|ray[=ADDRESS]", help="where runs are read and diagnosed: this machine (default) or a Ray cluster")
    a.add_argument("--write-summaries", action="store_true", help="also write each run's findings as a TensorBoard text summary (advisor/findings) in a new event file in its directory")

    w = sub.add_parser("watch", help="follow event files as they are written; print new findings")
    w.add_argument("paths", nargs="+", metavar="PATH")
    w.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between polls (default 2)")
    w.add_argument("--once", action="store_true", help="analyse what is there now and exit (for scripts)")
    w.add_argument("--config", metavar="FILE")
    w.add_argument("--select", metavar="IDS")
    w.add_argument("--ignore", metavar="IDS")
    w.add_argument("--fail-on", choices=("critical", "warning", "info", "never"), default=None)

    t = sub.add_parser("tune", help="apply recommendations on a reference trainer and verify them over seeds")
    t.add_argument("--backend", required=True, metavar="NAME", help="torch, jax, or your own trainer as package.module[:object] (see README: tuning your own trainer)")
    t.add_argument("--config", required=True, metavar="FILE", help="the trainer config (TOML or JSON)")
    t.add_argument("--rounds", type=int, default=3, metavar="N", help="most rounds of diagnose, apply, re-train (default 3)")
    t.add_argument("--seeds", type=int, default=2, metavar="K", help="seeds per side to start with (default 2; more are added while a verdict is open)")
    t.add_argument("--max-seeds", type=int, default=None, metavar="K", help="most seeds per side (default: 5, or --seeds if larger)")
    t.add_argument("--no-cache", action="store_true", help="do not reuse or store finished trainings ($ADVISOR_CACHE, default ~/.cache/advisor/trainings)")
    t.add_argument("--no-early-stop", action="store_true", help="train every run to its end (default: stop a training once its live monitor confirms a NaN, divergence or lr-too-high, for trainers whose train() takes callback=)")
    t.add_argument("--out", default=None, metavar="DIR", help="where runs, the journal, report.json/html and curves.png go (default: advisor-tune/CONFIG-BACKEND)")
    t.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or the JSON object of SPEC §5")
    t.add_argument(
        "--metric",
        default="val_loss",
        metavar="METRIC",
        help="target metric a remedy must improve: val_loss (default: the delivered model's), best_val_loss, val_accuracy, best_val_accuracy, test_loss, test_accuracy, or any key of your trainer's result (KEY[:max|min])",
    )
    t.add_argument("--resume", action="store_true", help="continue a journal in --out without redoing finished runs")
    t.add_argument("--live", action="store_true", help="apply live-capable remedies during a single run and compare")
    t.add_argument("--workers", type=int, default=None, metavar="N", help="training processes at once (default: by CPU count)")
    t.add_argument("--budget", type=int, default=None, metavar="N", help="most remedies tried in all (default: 2 per round)")
    t.add_argument("--executor", default="local", metavar="local|ray[=ADDRESS]", help="where trainings run: this machine (default) or a Ray cluster")
    t.add_argument("--target", choices=("warning", "info"), default="warning", help="least severe finding to act on (default: warning, i.e. stop when healthy)")

    r = sub.add_parser("rules", help="every condition with its signals, severity and remedies")
    r.add_argument("--format", choices=("text", "json"), default="text")

    e = sub.add_parser("explain", help="one condition: what it means, how it is detected, what to do")
    e.add_argument("id", metavar="ID")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return import_module(f"advisor.commands.{args.command}").run(args)
    except AdvisorError as e:
        print(terminal_safe(f"advisor: error: {e}"), file=sys.stderr)
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
        print(terminal_safe(f"advisor: internal error: {type(e).__name__}: {e} (set ADVISOR_DEBUG=1 for details)"), file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
