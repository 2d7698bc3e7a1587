"""``advisor explain ID``: what a condition means, how it is detected, what to do."""

from __future__ import annotations

import argparse

from advisor.commands.common import EXIT_OK, write_output


def run(args: argparse.Namespace) -> int:
    from advisor import rules
    from advisor.render.text import plain_text

    r = rules.get(args.id)
    out = [f"{r.id}  [{r.severity.value}, {r.scope}]", "", plain_text(r.doc), "", "Parameters (set in advisor.toml under [rules." + r.id + "]):"]
    for name, default in r.param_docs():
        out.append(f"  {name} = {default!r}")
    write_output("\n".join(out) + "\n", None)
    return EXIT_OK
