"""Steps per second of the two reference trainers on the same configs (CPU here; CUDA / XLA GPU when present).

    python benchmarks/bench_trainers.py [--repeats 3] [--quick]

Each backend trains each config once to warm up (imports, torch kernels, the XLA compilation,
which JAX caches per shape) and then ``--repeats`` more times; the median of ``steps / wall time``
of whole ``train()`` calls is reported — logging, evaluation and host syncs included, compilation
excluded (it is reported on its own). The JAX/torch ratio is printed per config: the JAX path
must not be slower than PyTorch by more than 2x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from backends.config import TrainConfig  # noqa: E402

CONFIGS = {
    "default (digits MLP 64-128-128-10, batch 64)": [],
    "large MLP (digits, 4x1024, batch 128)": ["model.width=1024", "model.depth=4", "data.batch_size=128"],
    "cnn (digits, 3 conv blocks x32, batch 64)": ["model.kind=cnn", "model.width=32", "model.depth=3"],
}


def bench(module: str, cfg: TrainConfig, repeats: int) -> tuple[float, float, str]:
    import importlib

    trainer = importlib.import_module(module)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        first = trainer.train(cfg, os.path.join(tmp, "warm"))
        warm = time.perf_counter() - t0
        rates, walls = [], []
        for i in range(repeats):
            r = trainer.train(cfg, os.path.join(tmp, f"r{i}"), seed=i)
            rates.append(r.steps / r.wall_time)
            walls.append(r.wall_time)
    # The first call's extra time over a warm call: imports, kernel selection, XLA compilation.
    return statistics.median(rates), max(0.0, warm - statistics.median(walls)), first.device


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="200 steps per run instead of the configs' full length")
    args = p.parse_args()
    print(f"{'config':48s} {'torch steps/s':>14s} {'jax steps/s':>12s} {'jax/torch':>10s} {'jax compile s':>14s}")
    worst = float("inf")
    for name, overrides in CONFIGS.items():
        sets = overrides + (["train.max_steps=200"] if args.quick else ["train.max_steps=600"])
        cfg = TrainConfig().with_overrides(sets)
        t_rate, _, t_dev = bench("backends.torch_trainer", cfg, args.repeats)
        j_rate, j_compile, j_dev = bench("backends.flax_trainer", cfg, args.repeats)
        ratio = j_rate / t_rate
        worst = min(worst, ratio)
        print(f"{name:48s} {t_rate:14.0f} {j_rate:12.0f} {ratio:9.2f}x {j_compile:14.1f}   [{t_dev} / {j_dev}]")
    verdict = "ok" if worst >= 0.5 else "JAX MORE THAN 2x SLOWER THAN TORCH"
    print(f"worst jax/torch steps/s ratio: {worst:.2f}x ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
