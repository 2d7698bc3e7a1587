"""``analyze --executor ray`` against the local executor on a generated sweep of small runs.

    python benchmarks/bench_ray.py                  # 2,000 runs x (200 train + 20 val + 200 lr) points
    python benchmarks/bench_ray.py --runs 500 --keep /tmp/sweep500   # keep (and reuse) the sweep
    python benchmarks/bench_ray.py --keep /tmp/sweep --rss-only      # only the driver's peak memory

Checks that the JSON report is byte-for-byte the local executor's, then times, in one process:
local with 1 and 2 worker processes, and a local Ray cluster of 1 then 2 CPUs (each cluster's
start is timed apart; each cluster analyses twice: the first call also starts Ray's worker
processes). Prints seconds and the ratios; nothing here asserts. On a 2-core machine shared
with other work, 2 workers cannot be twice as fast as 1: the ratio printed is what was measured.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from advisor.analyze import analyze  # noqa: E402
from advisor.io.writer import EventWriter  # noqa: E402
from advisor.render import render  # noqa: E402


def write_sweep(root: str, runs: int, points: int = 200) -> None:
    """Small runs of five shapes (healthy, overfitting, diverging, slow, plateau)."""
    for i in range(runs):
        rng = np.random.default_rng(i)
        t = np.arange(points) / points
        kind = i % 5
        train = 0.2 + 2.1 * np.exp(-6 * t) * (1 + rng.normal(0, 0.05, points))
        val = 0.3 + 2.0 * np.exp(-6 * t) + rng.normal(0, 0.01, points)
        lr = np.full(points, 0.1)
        if kind == 1:
            val = val + 1.5 * np.maximum(t - 0.3, 0)
        elif kind == 2:
            train = train + 40 * np.maximum(t - 0.5, 0) ** 2
            train[int(0.85 * points) :] = np.nan
        elif kind == 3:
            train = 2.3 - 0.3 * t + rng.normal(0, 0.01, points)
            lr = np.full(points, 1e-5)
        elif kind == 4:
            train = np.where(t < 0.3, train, train[int(0.3 * points)] + rng.normal(0, 0.01, points))
        with EventWriter(os.path.join(root, f"run{i:05d}"), max_buffer=1 << 22) as w:
            w.add_hparams({"lr": float(lr[0]), "kind": kind})
            for k in range(points):
                w.add_scalars({"train/loss": train[k], "train/lr": lr[k]}, k, wall_time=1.7e9 + k)
                if k % 10 == 9:
                    w.add_scalar("val/loss", val[k], k, wall_time=1.7e9 + k)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def report_json(root: str, **kw) -> str:
    return render("json", analyze([root], **kw).report, {})


def ray_times(root: str, cpus: int, reference: str) -> tuple[float, float, float, bool]:
    """(cluster start s, first analysis s, second analysis s, same JSON as local)."""
    import ray

    start, _ = timed(lambda: ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR))
    try:
        first, out = timed(lambda: report_json(root, executor="ray"))
        second, out2 = timed(lambda: report_json(root, executor="ray"))
    finally:
        ray.shutdown()
    return start, first, second, out == reference and out2 == reference


RSS_SNIPPET = """
import logging, resource, sys
sys.path.insert(0, {root!r})
kind, path = sys.argv[1], sys.argv[2]
if kind == "ray":
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
from advisor.analyze import analyze
analyze([path], executor="ray" if kind == "ray" else "local", workers=1 if kind == "local1" else 2)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def driver_rss(root: str) -> None:
    """Peak RSS of the analysing process alone (a fresh one per executor): with Ray the driver
    holds the run list and the reports, the workers (not counted) read the data."""
    import subprocess

    code = RSS_SNIPPET.format(root=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    for kind in ("local1", "local2", "ray"):
        out = subprocess.run([sys.executable, "-c", code, kind, root], capture_output=True, text=True, check=True).stdout
        print(f"  peak RSS of the analysing process, {kind:6}: {int(out.split()[-1]):5d} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--keep", metavar="DIR", help="write the sweep here (reused when it holds one already)")
    ap.add_argument("--rss-only", action="store_true", help="only the driver's peak memory per executor")
    a = ap.parse_args()
    root = a.keep or tempfile.mkdtemp(prefix="bench-ray-")
    if not (os.path.isdir(root) and len(os.listdir(root)) == a.runs):
        t, _ = timed(lambda: write_sweep(root, a.runs))
        print(f"wrote {a.runs} runs under {root} in {t:.1f} s")
    print(f"advisor --executor ray benchmark: {a.runs} runs, {os.cpu_count()} CPUs on this machine, load average {os.getloadavg()[0]:.1f} at start")
    if a.rss_only:
        driver_rss(root)
        return
    l1, reference = timed(lambda: report_json(root, workers=1))
    l2, out2 = timed(lambda: report_json(root, workers=2))
    print(f"  local, 1 process : {l1:6.2f} s ({1000 * l1 / a.runs:.2f} ms/run)")
    print(f"  local, 2 workers : {l2:6.2f} s (x{l1 / l2:.2f} of 1 process; same JSON: {out2 == reference})")
    rows = {}
    for cpus in (1, 2):
        start, first, second, same = ray_times(root, cpus, reference)
        rows[cpus] = second
        print(f"  ray, {cpus} CPU(s)    : {second:6.2f} s warm, {first:6.2f} s first call, cluster start {start:.1f} s; same JSON as local: {same}")
    driver_rss(root)
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} (above {os.cpu_count()}: other work shared the cores)")
    print(f"  ray scaling 1 -> 2 workers: x{rows[1] / rows[2]:.2f} (warm); ray 2 CPUs vs local 2 workers: x{l2 / rows[2]:.2f}")


if __name__ == "__main__":
    main()
