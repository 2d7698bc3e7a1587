"""``advisor rules``: every condition with its signals, severity and remedies."""

from __future__ import annotations

import argparse

from advisor.commands.common import EXIT_OK, write_output


def run(args: argparse.Namespace) -> int:
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
    lines.append("advisor explain ID: what a condition means, how it is detected and what to do.")
    write_output("\n".join(lines) + "\n", None)
    return EXIT_OK
