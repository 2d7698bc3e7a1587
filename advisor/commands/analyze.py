"""``advisor analyze``: diagnose every run under the given paths and render the report."""

from __future__ import annotations

import argparse
import sys

from advisor.commands.common import EXIT_FINDINGS, EXIT_OK, color_enabled, parse_ids, progress_bar, write_output
from advisor.terminal import terminal_safe


def run(args: argparse.Namespace) -> int:
    from advisor import config as cfgmod
    from advisor.analyze import analyze
    from advisor.engine import severity_at_least
    from advisor.render import render

    cfg = cfgmod.load(args.config).with_cli(select=parse_ids(args.select), ignore=parse_ids(args.ignore), fail_on=args.fail_on)
    cb, stop = progress_bar()
    try:
        result = analyze(args.paths, cfg, workers=args.workers, curves=args.format in ("text", "html", "markdown"), verify_crc=not args.no_crc, progress=cb, executor=getattr(args, "executor", "local"))
    finally:
        stop()
    curves = {r.report.run: r.curves for r in result.runs}
    kw = {}
    if args.format == "text":
        kw["color"] = args.output is None and color_enabled(args.color, sys.stdout)
        kw["only_problems"] = bool(getattr(args, "only_problems", False))
    text = render(args.format, result.report, curves, **kw)
    write_output(text, args.output)
    if args.format != "text" or args.output is not None:
        for r in result.report.runs:
            for p in r.problems:
                print(terminal_safe(f"advisor: {r.run}: {p}"), file=sys.stderr)
        for p in result.report.problems:
            print(terminal_safe(f"advisor: {p}"), file=sys.stderr)
    if getattr(args, "write_summaries", False):
        from advisor.live.summary import write_summaries

        write_summaries(args.paths, result.report.runs)
    findings = [f for r in result.report.runs for f in r.findings] + list(result.report.sweep)
    return EXIT_FINDINGS if severity_at_least(findings, cfg.fail_severity()) else EXIT_OK
