"""Event-file reading benchmark: advisor's reader against TensorBoard's readers, in one run.

    python benchmarks/bench_read.py                  # 5.25M scalars: 1050 runs x 5 tags x 1000 steps
    python benchmarks/bench_read.py --scale 0.1      # a tenth of the runs
    python benchmarks/bench_read.py --data DIR       # keep (and reuse) the generated corpus in DIR
    python benchmarks/bench_read.py --layouts tbx-mixed,tf2,keras   # which extra layouts ('' for none)
    python benchmarks/bench_read.py --baseline main  # the layouts read by main's reader too (before/after)
    python benchmarks/bench_read.py --layouts keras,keras-ragged   # Keras runs of many lengths too

The corpus is generated deterministically, laid out byte for byte as torch's SummaryWriter
writes it (benchmarks/_corpus.py). Measured side by side, after one untimed pass that puts
the files in the page cache:

* advisor, one process, CRC checks on (the default) and off; parallel across files;
* advisor's peak memory, in a fresh process, against the size of the arrays it returns;
* TensorBoard's EventAccumulator (``Reload()``, every tensor kept), tbparse, and TensorBoard's
  Rust data server (one ``--reload once`` load cycle, from its own log).

Then each further writer layout (benchmarks/_layouts.py: tensorboardX with mixed cadences, TF2
tensor summaries, Keras per-epoch files; and keras-ragged: Keras runs of 20-200 epochs, few files
of one size, read in one pass of a fresh process) is read by advisor (one process, CRC on and
off) and by the Rust data server, per CPU-second; with ``--baseline`` by another advisor too.

Peers are optional (skipped with a note when missing). Slow peers read a subset of the runs
and are compared per scalar; the table says how many scalars each one read. Timings are
the best of ``--repeat`` passes; "cpu" is the process's CPU time (its honest per-core
figure on a shared machine), "wall" the elapsed time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks._corpus import DEFAULT_TAGS, write_corpus
from benchmarks._layouts import LAYOUTS, write_layout


@dataclass
class Result:
    name: str
    scalars: int
    wall: float
    cpu: float | None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.scalars / self.wall if self.wall > 0 else float("nan")

    @property
    def cpu_rate(self) -> float | None:
        return self.scalars / self.cpu if self.cpu else None


def _cpu() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def best_of(repeat: int, fn) -> tuple[float, float, object]:
    """(best wall, cpu of that pass, its result) over ``repeat`` passes."""
    best: tuple[float, float, object] | None = None
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        out = fn()
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu, out)
        del out
    assert best is not None
    return best


# --------------------------------------------------------------------------- advisor


def bench_ours(paths: list[str], repeat: int) -> tuple[list[Result], list[tuple[int, float, float]]]:
    """Single process with CRC checks on and off, parallel; and the wall time per worker count."""
    from advisor.io.parallel import cpu_count, read_event_files
    from advisor.io.tfevents import read_event_file

    out = []
    for verify in (True, False):
        wall, cpu, res = best_of(repeat, lambda: [read_event_file(p, verify_crc=verify) for p in paths])
        n = sum(ef.n_scalars for ef in res)  # type: ignore[attr-defined]
        out.append(Result(f"advisor, 1 process, CRC {'on' if verify else 'off'}", n, wall, cpu))
    cores = cpu_count()
    scaling = []
    for workers in sorted({w for w in (1, 2, 4, 8, 16, 32, 64) if w < cores} | {cores}):
        wall, cpu, res = best_of(repeat, lambda: read_event_files(paths, workers=workers))
        scaling.append((workers, wall, cpu))
    n = sum(ef.n_scalars for ef in res)  # type: ignore[attr-defined]
    out.append(Result(f"advisor, parallel ({cores} processes), CRC on", n, wall, cpu, "cpu: all processes"))
    return out, scaling


def measure_memory(paths_file: str) -> dict:
    """Run in a fresh process: read every file, keep the results, report the peaks."""
    import tracemalloc

    import numpy as np  # noqa: F401  (imported before the baseline)

    from advisor.io import _fast  # noqa: F401
    from advisor.io.tfevents import read_event_file

    with open(paths_file) as fh:
        paths = fh.read().split("\n")
    base_rss = _proc_status("VmRSS")
    results = [read_event_file(p) for p in paths]
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child started by a big
    # parent reports the parent's peak.
    peak_rss = _proc_status("VmHWM")
    decoded = sum(a.nbytes for ef in results for d in ef.scalars.values() for a in (d.steps, d.values, d.wall_times, d.seq))
    n = sum(ef.n_scalars for ef in results)
    del results
    tracemalloc.start()
    kept = [read_event_file(p) for p in paths]  # held while the peak is read
    traced_peak = tracemalloc.get_traced_memory()[1]
    del kept
    tracemalloc.stop()
    return {"scalars": n, "decoded": decoded, "rss_growth": peak_rss - base_rss, "traced_peak": traced_peak}


def _proc_status(field: str) -> int:
    """A memory figure of this process from /proc (bytes)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def bench_memory(paths: list[str], tmp: str) -> dict:
    listing = os.path.join(tmp, "paths.txt")
    with open(listing, "w") as fh:
        fh.write("\n".join(paths))
    code = f"import sys, json; sys.path.insert(0, {REPO!r}); from benchmarks.bench_read import measure_memory; print(json.dumps(measure_memory({listing!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- peers


def bench_event_accumulator(paths: list[str], repeat: int) -> list[Result]:
    try:
        from tensorboard.backend.event_processing import plugin_event_accumulator as pea
        from tensorboard.util import tensor_util
    except ImportError:
        return [Result("TensorBoard EventAccumulator", 0, 0, None, "skipped: tensorboard not installed")]

    def load(extract: bool) -> int:
        n = 0
        for p in paths:
            acc = pea.EventAccumulator(p, size_guidance={"tensors": 0, "scalars": 0})
            acc.Reload()
            for tag in acc.Tags()["tensors"]:
                events = acc.Tensors(tag)
                n += len(events)
                if extract:
                    [(e.step, e.wall_time, tensor_util.make_ndarray(e.tensor_proto).item()) for e in events]
        return n

    out = []
    for extract, label in ((False, "Reload()"), (True, "Reload() + values as numbers")):
        wall, cpu, n = best_of(repeat, lambda: load(extract))
        out.append(Result(f"TensorBoard EventAccumulator, {label}", n, wall, cpu))  # type: ignore[arg-type]
    return out


def bench_tbparse(run_dirs: list[str], repeat: int) -> Result:
    try:
        from tbparse import SummaryReader
    except ImportError:
        return Result("tbparse", 0, 0, None, "skipped: tbparse not installed")

    def load() -> int:
        return sum(len(SummaryReader(d).scalars) for d in run_dirs)

    wall, cpu, n = best_of(repeat, load)
    return Result("tbparse SummaryReader(...).scalars", n, wall, cpu)  # type: ignore[arg-type]


def rust_server() -> str | None:
    try:
        import tensorboard_data_server

        path = tensorboard_data_server.server_binary()
    except Exception:
        return None
    return path if path and os.path.exists(path) else None


def bench_rust(logdir: str, n_scalars: int, repeat: int, checksum: bool) -> Result:
    name = f"TensorBoard Rust data server, --{'checksum' if checksum else 'no-checksum'}"
    binary = rust_server()
    if binary is None:
        return Result(name, 0, 0, None, "skipped: tensorboard-data-server not installed")
    best: Result | None = None
    for _ in range(repeat):
        got = _rust_once(binary, logdir, checksum)
        if got is None:
            return Result(name, 0, 0, None, "skipped: no 'Finished load cycle' line in its log")
        cycle, cpu = got
        r = Result(name, n_scalars, cycle, cpu, "load cycle from its log; cpu: all its threads")
        if best is None or r.wall < best.wall:
            best = r
    assert best is not None
    return best


def _rust_once(binary: str, logdir: str, checksum: bool) -> tuple[float, float] | None:
    """One load cycle: its duration (from the server's own log) and the server's CPU time."""
    args = [binary, "--logdir", logdir, "--reload", "once", "-v", "--samples-per-plugin", "scalars=all", "--port", "0"]
    args.append("--checksum" if checksum else "--no-checksum")
    with tempfile.TemporaryDirectory() as tmp:
        args += ["--port-file", os.path.join(tmp, "port")]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cycle = None
        deadline = time.time() + 600
        assert proc.stderr is not None
        for line in proc.stderr:
            m = re.search(r"Finished load cycle \(([\d.]+)(ms|s|µs|us)\)", line)
            if m:
                value, unit = float(m.group(1)), m.group(2)
                cycle = value / 1000 if unit == "ms" else value / 1e6 if unit in ("µs", "us") else value
                break
            if time.time() > deadline:
                break
        proc.terminate()
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
    if cycle is None:
        return None
    return cycle, usage.ru_utime + usage.ru_stime


def bench_layouts(layouts: list[str], root: str, n_scalars: int, repeat: int, peers: bool, baseline: str | None = None) -> None:
    """Each layout's sweep read by advisor (one process, CRC on and off) and by the Rust data
    server (--checksum), per CPU-second; the target is >= 2.5M scalars/cpu-s with CRC on.
    ``baseline``: another advisor tree (a directory holding ``advisor/``), read in a fresh
    process the same way, CRC on, for a before/after in the same run."""
    from advisor.io.tfevents import read_event_file

    print(f"\nwriter layouts (benchmarks/_layouts.py), about {n_scalars} scalars each; scalars per CPU-second, best of {repeat}:")
    head = f"  {'layout':12s} {'runs':>6s} {'files':>6s} {'scalars':>9s} {'CRC on':>9s} {'CRC off':>9s} {'Rust --checksum':>16s} {'ours/Rust':>9s}"
    print(head + (f" {'ours, fresh':>11s} {'baseline':>11s} {'ours/base':>9s}" if baseline else ""))
    for name in layouts:
        if name == RAGGED:
            runs, d, paths = write_ragged(root, n_scalars)
        else:
            _, per_step, val_rate = LAYOUTS[name]
            per = per_step + val_rate
            steps = 100 if name == "keras" else 5000  # Keras logs per epoch: many small runs
            runs = max(1, round(n_scalars / (per * steps)))
            d = os.path.join(root, f"{name}-{runs}x{steps}")
            paths = write_layout(d, name, runs, steps)
        for p in paths:
            with open(p, "rb") as fh:
                fh.read()
        rates = []
        for verify in (True, False):
            _, cpu, res = best_of(repeat, lambda: [read_event_file(p, verify_crc=verify) for p in paths])
            n = sum(ef.n_scalars for ef in res)  # type: ignore[attr-defined]
            rates.append(n / cpu if cpu else float("nan"))
        if name == RAGGED:
            # Plans come from the files a sweep repeats; reading it again repeats every size, so
            # ours (and the baseline) are measured in one pass of a fresh process instead.
            rates = [_baseline_rate(REPO, paths, 1, d, verify, processes=repeat) or float("nan") for verify in (True, False)]
        rust = bench_rust(d, n, repeat, True) if peers else Result("rust", 0, 0, None, "skipped: --no-peers")
        rr = rust.cpu_rate
        tail = f"{rr / 1e6:15.2f}M {rates[0] / rr:8.2f}x" if rr else f"  {rust.note}"
        if baseline:
            # Both measured alike (fresh processes, CRC on), one after the other.
            passes, procs = (1, repeat) if name == RAGGED else (repeat, 1)
            mine = rates[0] if name == RAGGED else _baseline_rate(REPO, paths, passes, d, processes=procs)
            base = _baseline_rate(baseline, paths, passes, d, processes=procs)
            tail += f" {mine / 1e6:10.2f}M {base / 1e6:10.2f}M {mine / base:8.2f}x" if base and mine else "  baseline: no figure"
        print(f"  {name:12s} {runs:6d} {len(paths):6d} {n:9d} {rates[0] / 1e6:8.2f}M {rates[1] / 1e6:8.2f}M {tail}")


#: Keras per-epoch files of runs of many lengths (early stopping): 20 to 200 epochs, few files
#: of one size; not in benchmarks/_layouts.py's LAYOUTS (written here, from its keras()).
RAGGED = "keras-ragged"


def write_ragged(root: str, n_scalars: int) -> tuple[int, str, list[str]]:
    """A sweep of Keras runs of 20-200 epochs (seeded), about ``n_scalars`` scalars: (runs, its directory, file paths)."""
    from benchmarks._layouts import keras

    per_epoch = 5  # 3 train scalars, 2 validation
    runs = max(1, round(n_scalars / (per_epoch * 110)))
    epochs = np.random.default_rng(0).integers(20, 201, runs).tolist()
    d = os.path.join(root, f"{RAGGED}-{runs}")
    paths = []
    for i, n in enumerate(epochs):
        for rel, data in sorted(keras(i, n).items()):
            p = os.path.join(d, f"run_{i:04d}", rel)
            paths.append(p)
            if not os.path.exists(p):
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as fh:
                    fh.write(data)
    return runs, d, paths


def _baseline_rate(tree: str, paths: list[str], repeat: int, tmp: str, verify: bool = True, processes: int = 1) -> float | None:
    """Scalars per CPU-second of the advisor in ``tree`` reading ``paths`` (CRC checks on unless
    ``verify`` is False), in a fresh process, as :func:`bench_layouts` measures ours (best of
    ``repeat`` passes, after the imports); the best of ``processes`` such processes."""
    rates = [_fresh_rate(tree, paths, repeat, tmp, verify) for _ in range(processes)]
    got = [r for r in rates if r]
    return max(got) if got else None


def _fresh_rate(tree: str, paths: list[str], repeat: int, tmp: str, verify: bool) -> float | None:
    listing = os.path.join(tmp, ".paths.txt")
    with open(listing, "w") as fh:
        fh.write("\n".join(paths))
    code = (
        "import json, resource, sys\n"
        "from advisor.io.tfevents import read_event_file\n"
        f"paths = open({listing!r}).read().split('\\n')\n"
        "best = None\n"
        f"for _ in range({repeat}):\n"
        "    u = resource.getrusage(resource.RUSAGE_SELF); c0 = u.ru_utime + u.ru_stime\n"
        f"    n = sum(read_event_file(p, {verify}).n_scalars for p in paths)\n"
        "    u = resource.getrusage(resource.RUSAGE_SELF); c = u.ru_utime + u.ru_stime - c0\n"
        "    best = c if best is None else min(best, c)\n"
        "print(json.dumps({'scalars': n, 'cpu': best}))\n"
    )
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree)
    if out.returncode:
        print(f"  baseline failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["scalars"] / got["cpu"] if got["cpu"] else None


def baseline_tree(spec: str, tmp: str) -> str:
    """A directory holding the ``advisor`` package of ``spec``: a directory as it is, or a git
    revision of this repository exported into ``tmp`` (``git archive``)."""
    if os.path.isdir(os.path.join(spec, "advisor")):
        return os.path.abspath(spec)
    out = os.path.join(tmp, "baseline")
    os.makedirs(out, exist_ok=True)
    archive = subprocess.run(["git", "-C", REPO, "archive", spec, "advisor"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", out], input=archive, check=True)
    return out


# --------------------------------------------------------------------------- report


def report(results: list[Result], ours: Result, mem: dict | None, header: str, scaling: list[tuple[int, float, float]]) -> None:
    print(header)
    print(f"{'reader':58s} {'scalars':>10s} {'wall s':>8s} {'scalars/s':>11s} {'cpu s':>8s} {'scalars/cpu-s':>13s} {'ours/peer':>9s}")
    for r in results:
        if not r.scalars:
            print(f"{r.name:58s} {r.note}")
            continue
        cpu = f"{r.cpu:8.2f}" if r.cpu is not None else f"{'-':>8s}"
        cpu_rate = f"{r.cpu_rate / 1e6:11.2f}M" if r.cpu_rate else f"{'-':>12s}"
        ratio = f"{ours.rate / r.rate:8.1f}x" if r is not ours and not r.name.startswith("advisor") else ""
        print(f"{r.name:58s} {r.scalars:10d} {r.wall:8.3f} {r.rate / 1e6:10.2f}M {cpu} {cpu_rate} {ratio:>9s}  {r.note}")
    if scaling:
        one = scaling[0][1]
        print("\nadvisor.io.parallel.read_event_files, CRC on (wall, speed-up, cpu of all processes): ")
        print("  " + "; ".join(f"{w} worker{'s' if w > 1 else ''} {t:.2f}s ({one / t:.2f}x, cpu {c:.2f}s)" for w, t, c in scaling))
        print(f"  a speed-up needs idle cores: load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if mem:
        print(
            f"\nadvisor peak memory reading {mem['scalars']} scalars: decoded arrays {mem['decoded'] / 2**20:.0f} MiB; "
            f"RSS growth {mem['rss_growth'] / 2**20:.0f} MiB ({mem['rss_growth'] / mem['decoded']:.2f}x); "
            f"tracemalloc peak {mem['traced_peak'] / 2**20:.0f} MiB ({mem['traced_peak'] / mem['decoded']:.2f}x)"
        )
    print(f"\nratios: ours = '{ours.name}' ({ours.rate / 1e6:.2f}M scalars/s wall), per scalar against each peer's wall rate")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="corpus directory (kept and reused); default: a temporary directory")
    ap.add_argument("--runs", type=int, default=1050)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the number of runs (e.g. 0.1)")
    ap.add_argument("--repeat", type=int, default=3, help="passes per measurement; the best counts")
    ap.add_argument("--peer-scalars", type=int, default=250_000, help="scalars the slow Python peers read (a subset of runs)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--layouts", default=",".join(LAYOUTS), help=f"more writer layouts read side by side with the Rust server ({', '.join([*LAYOUTS, RAGGED])}; '' for none)")
    ap.add_argument("--layout-scalars", type=int, default=2_000_000, help="scalars per extra layout (times --scale)")
    ap.add_argument("--baseline", help="also read the layouts with another advisor: a git revision (e.g. main) or a directory holding advisor/")
    args = ap.parse_args(argv)

    runs = max(1, round(args.runs * args.scale))
    tmp = tempfile.mkdtemp(prefix="bench_read_")
    root = args.data or os.path.join(tmp, "corpus")
    try:
        t0 = time.perf_counter()
        paths = write_corpus(root, runs, args.steps)
        gen = time.perf_counter() - t0
        total = runs * args.steps * len(DEFAULT_TAGS)
        for p in paths:  # into the page cache: every reader below reads from memory
            with open(p, "rb") as fh:
                while fh.read(1 << 22):
                    pass
        size = sum(os.path.getsize(p) for p in paths)
        header = (
            f"corpus: {runs} runs x {len(DEFAULT_TAGS)} tags x {args.steps} steps = {total} scalars, {size / 2**20:.0f} MiB "
            f"(torch SummaryWriter layout; ready in {gen:.1f}s) at {root}\n"
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; best of {args.repeat}\n"
        )
        results, scaling = bench_ours(paths, args.repeat)
        ours = results[0]
        base = baseline_tree(args.baseline, tmp) if args.baseline else None
        if base:  # this tree and the baseline measured alike: fresh processes, one after the other
            mine, theirs = (_baseline_rate(tree, paths, args.repeat, tmp) for tree in (REPO, base))
            for rate, label in ((mine, "this tree"), (theirs, f"baseline {args.baseline}")):
                cpu = total / rate if rate else 0.0
                note = f"ours/baseline {mine / theirs:.2f}x per cpu-s" if mine and theirs and rate is theirs else ""
                results.append(Result(f"advisor, {label}, fresh process, CRC on", total if rate else 0, cpu, cpu or None, note or ("" if rate else "failed")))
        mem = None if args.no_memory else bench_memory(paths, tmp)
        if not args.no_peers:
            per_run = args.steps * len(DEFAULT_TAGS)
            k = max(1, min(runs, args.peer_scalars // per_run))
            subset = paths[:k]
            results += bench_event_accumulator(subset, args.repeat)
            results.append(bench_tbparse([os.path.dirname(p) for p in subset], max(1, args.repeat - 1)))
            for checksum in (True, False):
                results.append(bench_rust(root, total, args.repeat, checksum))
        report(results, ours, mem, header, scaling)
        layouts = [name for name in args.layouts.split(",") if name]
        if layouts:
            bench_layouts(layouts, os.path.join(os.path.dirname(root), "layouts") if args.data else os.path.join(tmp, "layouts"), round(args.layout_scalars * args.scale), args.repeat, not args.no_peers, base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
