"""``advisor tune``: apply recommendations on a trainer and verify them over seeds."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from advisor.tune import run_tune

    return run_tune(args)
