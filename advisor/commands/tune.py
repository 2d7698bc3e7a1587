"""``advisor tune``: apply recommendations on a trainer and verify them over seeds.

Argument handling, the progress bar, the outputs (through :mod:`advisor.render.tune_report`)
and the exit code: 0 when a change was verified (or the runs were healthy), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Mapping

from advisor.commands.common import EXIT_FINDINGS, EXIT_OK
from advisor.errors import UsageError
from advisor.model import Severity
from advisor.render import tune_report
from advisor.tune import Trainer, TuneOptions, load_trainer, run_tuning, tune_live
from advisor.tune.ray_executor import use_executor


def run(args: argparse.Namespace) -> int:
    trainer = load_trainer(args.backend)
    if not os.path.isfile(args.config):
        raise UsageError(f"{args.config}: no such config file")
    config = trainer.load_config(args.config)
    out = args.out or os.path.join("advisor-tune", os.path.splitext(os.path.basename(args.config))[0] + f"-{args.backend}")
    with use_executor(getattr(args, "executor", "local")):
        return run_live(trainer, config, out, args) if args.live else run_rounds(trainer, config, out, args)


def run_rounds(trainer: Trainer, config: Mapping[str, Any], out: str, args: argparse.Namespace) -> int:
    """``advisor tune``: rounds of diagnose, patch, retrain, verify; writes the reports under ``out``."""
    cache = None if getattr(args, "no_cache", False) else "default"
    options = TuneOptions(out, args.rounds, args.seeds, args.metric, args.budget, args.resume, args.workers, target=Severity.parse(args.target),
                          max_seeds=getattr(args, "max_seeds", None), cache=cache, early_stop=not getattr(args, "no_early_stop", False))
    log = (lambda s: print(s, file=sys.stderr)) if args.format == "text" else None
    bar, stop = progress_bar()
    try:
        result = run_tuning(trainer, config, options, progress=bar, log=log)
    finally:
        stop()
    paths = tune_report.write_outputs(result, out)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(tune_report.text(result, paths))
    return EXIT_OK if result.verified else EXIT_FINDINGS


def run_live(trainer: Trainer, config: Mapping[str, Any], out: str, args: argparse.Namespace) -> int:
    """``advisor tune --live``: plain vs live-remedied runs per seed; writes live.json under ``out``."""
    res = tune_live(trainer, config, out=out, seeds=args.seeds, metric=args.metric, resume=args.resume, workers=args.workers)
    with open(os.path.join(out, "live.json"), "w") as fh:
        json.dump(res, fh, indent=2, allow_nan=False)
    if args.format == "json":
        sys.stdout.write(json.dumps(res, indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(tune_report.live_text(res, out))
    return EXIT_OK if res["verified"] else EXIT_FINDINGS


def progress_bar() -> tuple[Callable[[int, float], None] | None, Callable[[], None]]:
    """Trainings done and their mean duration on stderr when it is a terminal; (callback, stop)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("trainings done: {task.completed}"), BarColumn(), TextColumn("avg {task.fields[avg]:.0f}s/run"), TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = prog.add_task("tune", total=None, avg=0.0)
    prog.start()

    def cb(done: int, spent: float) -> None:
        prog.update(task, completed=done, avg=spent / max(done, 1))

    return cb, prog.stop
