"""How much the diagnosis costs: runs x tags x points analysed per second, and linearity.

    python benchmarks/bench_analyze.py                 # 1000 runs x 5 tags x 5000 points, 2 workers
    python benchmarks/bench_analyze.py --runs 200 --workers 1
    python benchmarks/bench_analyze.py --pipeline 200  # also read+analyse 200 runs from event files
    python benchmarks/bench_analyze.py --baseline 601a24b --corpus fixtures  # cost per run vs another revision

The issue's target: 1,000 runs x 5 tags x 5,000 points analysed in under 10 s on 2 cores,
linear in points. Runs are synthetic mixtures of healthy and faulty shapes, generated inside
each worker (so the measurement is analysis, not data transfer). Timings print with their
ratio to the target; nothing here asserts.

``--baseline REV --corpus DIR``: the diagnosis cost per run of this tree and of another advisor
(a git revision, or a directory holding ``advisor/``) on the same real runs — each loaded once,
then diagnosed three times in a fresh process, best pass in process CPU time — and their ratio
(issue 12: within 1.5x of the code it was filed on, 601a24b).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from advisor.engine import Engine  # noqa: E402
from advisor.model import Run, Series  # noqa: E402
from advisor.pipeline import diagnose_run  # noqa: E402


def make_run(i: int, points: int) -> Run:
    """Five tags of ``points`` points: train/val loss, lr, grad norm, accuracy; shape varies with i."""
    rng = np.random.default_rng(i)
    s = np.arange(points)
    t = s / points
    kind = i % 5
    train = (0.1 + 2.2 * np.exp(-t / 0.15)) * (1 + rng.normal(0, 0.08, points))
    val = 0.2 + 2.0 * np.exp(-t / 0.15) + rng.normal(0, 0.01, points)
    lr = np.where(t < 0.5, 0.1, 0.01)
    grad = 1 + 0.2 * rng.random(points)
    if kind == 1:  # overfitting
        val = val + 0.8 * np.maximum(t - 0.3, 0)
    elif kind == 2:  # divergence into NaN
        train = train + 30 * np.maximum(t - 0.6, 0) ** 2
        train[int(0.9 * points) :] = np.nan
        grad[int(0.8 * points) :] *= np.logspace(0, 4, points - int(0.8 * points))
    elif kind == 3:  # slow
        train = 2.3 - 0.5 * t + rng.normal(0, 0.01, points)
        lr = np.full(points, 1e-5)
    acc = 1 - 0.9 * np.exp(-t / 0.2)
    series = {}
    for tag, v in (("train/loss", train), ("val/loss", val), ("train/lr", lr), ("train/grad_norm", grad), ("train/accuracy", acc)):
        series[tag] = Series.from_points(tag, s, v)
    return Run(f"run{i}", f"/bench/run{i}", series)


def _work(args: tuple[list[int], int]) -> tuple[int, float]:
    ids, points = args
    engine = Engine.from_config()
    runs = [make_run(i, points) for i in ids]
    t = time.perf_counter()
    n = 0
    for r in runs:
        n += len(diagnose_run(r, engine).report.findings)
    return n, time.perf_counter() - t


def engine_time(runs: int, points: int, workers: int) -> tuple[float, int]:
    """Wall seconds to analyse ``runs`` runs (data generated beforehand inside the workers)."""
    ids = list(range(runs))
    if workers == 1:
        n, dt = _work((ids, points))
        return dt, n
    chunks = [(ids[k::workers], points) for k in range(workers)]
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
        results = list(ex.map(_work, chunks))
    # Workers start together; the slowest one bounds the wall time of the analysis.
    return max(dt for _, dt in results), sum(n for n, _ in results)


def pipeline_time(runs: int, points: int, workers: int) -> tuple[float, float]:
    """(read+analyse seconds, read-only seconds) for runs written as event files."""
    from advisor.analyze import analyze
    from advisor.io.discover import discover
    from advisor.io.tfevents import read_event_file
    from advisor.io.writer import EventWriter

    with tempfile.TemporaryDirectory() as d:
        for i in range(runs):
            r = make_run(i, points)
            with EventWriter(os.path.join(d, f"run{i:04d}"), max_buffer=1 << 24) as w:
                for k in range(points):
                    w.add_scalars({tag: s.values[k] for tag, s in r.series.items()}, k, wall_time=1.7e9 + k)
        t = time.perf_counter()
        for rf in discover(d).runs:
            for p, _ in rf.files:
                read_event_file(p)
        read = time.perf_counter() - t
        t = time.perf_counter()
        analyze([d], workers=workers)
        total = time.perf_counter() - t
    return total, read


COST_CODE = """
import json, sys, time
from advisor.analyze import find_runs
from advisor.engine import Engine
from advisor.io.runs import load_run
from advisor.pipeline import diagnose_run
runs, _ = find_runs([sys.argv[1]])
loaded = [load_run(r) for r in runs]
eng = Engine.from_config()
best = None
for _ in range(3):
    t = time.process_time()
    for r in loaded:
        diagnose_run(r, eng)
    dt = time.process_time() - t
    best = dt if best is None else min(best, dt)
print(json.dumps({"runs": len(loaded), "cpu": best}))
"""


def cost_per_run(tree: str, corpus: str) -> tuple[int, float] | None:
    """(runs, CPU seconds per run) of the advisor in ``tree`` diagnosing the runs under ``corpus``."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-c", COST_CODE, os.path.abspath(corpus)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": tree}, cwd=tree)
    if out.returncode:
        print(f"  {tree}: failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["runs"], got["cpu"] / max(got["runs"], 1)


def compare_cost(spec: str, corpus: str, rounds: int = 2) -> None:
    from bench_read import baseline_tree

    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline_tree(spec, tmp)
        ours, theirs = [], []
        for _ in range(rounds):  # interleaved: a load change on a shared machine hits both
            for tree, acc in ((repo, ours), (base, theirs)):
                got = cost_per_run(tree, corpus)
                if got:
                    acc.append(got)
        if not ours or not theirs:
            return
        (na, a), (nb, b) = min(ours, key=lambda g: g[1]), min(theirs, key=lambda g: g[1])
        print(f"  diagnosis cost on {corpus}: ours {1000 * a:.2f} ms/run, {spec} {1000 * b:.2f} ms/run -> ours/baseline {a / b:.2f}x")
        if na != nb:
            # discovery changed what a run is (add_hparams' subdirectory is no longer a run of its
            # own): the cost of the whole corpus is the like-for-like figure
            print(f"  the two find {na} and {nb} runs in it: the whole corpus costs ours {na * a:.2f} s, {spec} {nb * b:.2f} s "
                  f"-> ours/baseline {na * a / (nb * b):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pipeline", type=int, default=0, metavar="RUNS", help="also time read+analyse of this many runs from event files")
    ap.add_argument("--baseline", help="compare the cost per run with this git revision (or directory holding advisor/); needs --corpus")
    ap.add_argument("--corpus", help="a directory of runs for --baseline")
    a = ap.parse_args()
    if a.baseline:
        if not a.corpus:
            ap.error("--baseline needs --corpus DIR")
        compare_cost(a.baseline, a.corpus)
        return
    print(f"advisor analysis benchmark: {a.runs} runs x 5 tags x {a.points} points, {a.workers} worker(s), {os.cpu_count()} CPUs")
    dt, n = engine_time(a.runs, a.points, a.workers)
    pts = a.runs * 5 * a.points
    target = 10.0 * (a.runs / 1000) * (a.points / 5000)
    print(f"  analysis: {dt:.2f} s for {pts / 1e6:.1f}M points ({pts / dt / 1e6:.1f}M points/s, {1000 * dt / a.runs * a.workers:.1f} ms per run per worker), {n} findings")
    print(f"  target (scaled to this size): {target:.2f} s -> ratio target/actual = {target / dt:.2f}x ({'met' if dt < target else 'NOT met'})")
    print("  linearity (1 worker, 40 runs, ms per run):")
    base = None
    for p in (1250, 2500, 5000, 10000, 20000):
        t1, _ = engine_time(40, p, 1)
        per = 1000 * t1 / 40
        base = base or per / p
        print(f"    {p:>6} points/tag: {per:7.2f} ms/run  ({per / p * 1000:.2f} us per point per run; x{per / (base * p):.2f} of linear from the smallest)")
    if a.pipeline:
        total, read = pipeline_time(a.pipeline, a.points, a.workers)
        print(f"  pipeline on {a.pipeline} runs from event files: read+analyse {total:.2f} s with {a.workers} worker(s); reading alone (1 process) {read:.2f} s")


if __name__ == "__main__":
    main()
