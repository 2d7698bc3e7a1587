"""The command line both trainers share (SPEC §5).

    python -m backends.torch_trainer [--config FILE] [--set KEY=VALUE ...] --logdir DIR [--seed N]
    python -m backends.flax_trainer  [--config FILE] [--set KEY=VALUE ...] --logdir DIR [--seed N]

Without ``--config`` the embedded default trains a healthy digits MLP. A bad config or argument
prints one line on stderr and exits with status 2; the run ends with a one-line summary.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import NoReturn, Sequence

from backends.config import ConfigError, TrainConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def parse_args(prog: str, argv: Sequence[str] | None) -> argparse.Namespace:
    p = _Parser(prog=f"python -m {prog}", description="Train a reference model and log TensorBoard events.")
    p.add_argument("--config", help="TOML or JSON config file (default: the embedded digits MLP)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set optim.lr=0.1 (repeatable)")
    p.add_argument("--logdir", required=True, help="directory for the event file and config.json")
    p.add_argument("--seed", type=int, help="overrides the config's seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of the summary line")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    return p.parse_args(argv)


def main(module: str, backend: str, argv: Sequence[str] | None = None) -> int:
    args = parse_args(module, argv)
    try:
        cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
        if args.overrides:
            cfg = cfg.with_overrides(args.overrides)
        if args.print_config:
            from backends.config import to_toml

            print(to_toml(cfg.to_dict()), end="")
            return 0
        trainer = importlib.import_module(module)
        result = trainer.train(cfg, args.logdir, args.seed, progress=not args.no_progress and sys.stderr.isatty())
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or args.logdir}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0
