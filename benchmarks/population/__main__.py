"""python -m benchmarks.population --out DIR [--size ci|full] [--workers N] [--only GLOB] [--seeds K] [--first-seed S]"""

from __future__ import annotations

import argparse
import os
import sys

from .cases import jobs
from .runner import generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.population", description=__doc__)
    ap.add_argument("--out", required=True, help="output directory (one run directory per case and seed)")
    ap.add_argument("--size", choices=("ci", "full"), default="ci")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", default="", help="glob on case names, e.g. 'overfitting/*' or '*lstm*'")
    ap.add_argument("--seeds", type=int, default=0, help="seeds per case (default: 1 for ci, 2 for full)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds start here (even: dev split, odd: test)")
    ap.add_argument("--list", action="store_true", help="print the selected cases and exit")
    args = ap.parse_args(argv)
    selected = jobs(args.size, args.only, args.seeds, args.first_seed)
    if not selected:
        print(f"no case matches {args.only!r}", file=sys.stderr)
        return 2
    if args.list:
        for case, seed in selected:
            print(f"{case.name} s{seed} [{case.condition}] {case.variant}")
        return 0
    _, failed = generate(selected, args.out, max(1, args.workers))
    if failed:
        print(f"{len(failed)} job(s) failed and are not in the manifest", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
