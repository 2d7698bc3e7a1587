"""Remote logdirs: a sweep analysed from a local S3-compatible server against the same sweep on disk.

    python benchmarks/bench_remote.py                      # 1,000 runs x 300 steps, then 10,000 runs
    python benchmarks/bench_remote.py --runs 200 --big 0   # smaller; no 10k pass
    python benchmarks/bench_remote.py --data DIR           # keep (and reuse) the generated corpus

A moto standalone server (``python -m moto.server``) is started in its own process on a free
port, the sweep (benchmarks/_corpus.py: torch SummaryWriter layout, 5 tags) is uploaded to it,
and ``advisor analyze URL --format json`` runs as a fresh process against the local directory
and against ``s3://bench/sweep``, best of ``--repeat``; the two reports must be equal byte for
byte. The endpoint reaches advisor only through ``AWS_ENDPOINT_URL_S3``. Printed: wall times,
the ratio remote/local (target: within 2x), and for the ``--big`` sweep the listing time, the
analysis time and the analysing process tree's peak RSS (its largest process, from wait4).

The server shares the machine's cores with advisor, so on a small machine the remote figure
includes the server's own CPU time; the ratio is the honest one for this setup.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks._corpus import write_corpus

BUCKET = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def run_advisor(env: dict[str, str], *argv: str) -> tuple[float, int, str, int]:
    """(wall seconds, exit code, stdout, peak RSS in MiB of the largest process of its tree)."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (read after the child exits)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "advisor", *argv], stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    return wall, proc.returncode, out.read().decode(), usage.ru_maxrss // 1024


def upload(fs, local: str, prefix: str) -> float:
    t = time.perf_counter()
    fs.put(local, prefix, recursive=True)
    return time.perf_counter() - t


def compare(env: dict[str, str], local: str, url: str, repeat: int) -> tuple[float, float, bool, int]:
    best_local = best_remote = float("inf")
    same = True
    rss = 0
    for _ in range(repeat):
        wl, _, a, _ = run_advisor(env, "analyze", local, "--format", "json")
        wr, _, b, r = run_advisor(env, "analyze", url, "--format", "json")
        best_local, best_remote = min(best_local, wl), min(best_remote, wr)
        same = same and a == b and a.count('"run":') > 0
        rss = max(rss, r)
    return best_local, best_remote, same, rss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--big", type=int, default=10000, help="runs of the listing/memory pass (0: skip)")
    ap.add_argument("--big-steps", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--data", help="keep the generated corpora here")
    args = ap.parse_args(argv)

    import s3fs

    root = args.data or tempfile.mkdtemp(prefix="advisor-bench-remote-")
    port = free_port()
    server = start_server(port)
    env = {**os.environ, "PYTHONPATH": REPO, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3")})
    try:
        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        local = os.path.join(root, f"sweep-{args.runs}x{args.steps}")
        write_corpus(local, args.runs, args.steps)
        up = upload(fs, local, f"{BUCKET}/sweep")
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs_ in os.walk(local) for f in fs_)
        print(f"sweep: {args.runs} runs x {args.steps} steps x 5 tags, {size / 2**20:.1f} MiB (uploaded in {up:.1f}s); {os.cpu_count()} cores")
        wl, wr, same, _ = compare(env, local, f"s3://{BUCKET}/sweep", args.repeat)
        print(f"  advisor analyze DIR       {wl:7.2f} s")
        print(f"  advisor analyze s3://...  {wr:7.2f} s   ratio remote/local {wr / wl:.2f}x (target <= 2x)   same JSON: {same}")
        if args.big:
            big = os.path.join(root, f"sweep-{args.big}x{args.big_steps}")
            write_corpus(big, args.big, args.big_steps)
            up = upload(fs, big, f"{BUCKET}/big")
            print(f"big sweep: {args.big} runs x {args.big_steps} steps (uploaded in {up:.1f}s)")
            from advisor.io.remote import discover_url

            t = time.perf_counter()
            n = len(discover_url(f"s3://{BUCKET}/big").runs)
            print(f"  listed {n} runs in {time.perf_counter() - t:.2f} s (one recursive listing, no stat per file)")
            wl, _, a, rss_l = run_advisor(env, "analyze", big, "--format", "json")
            wr, rc, b, rss_r = run_advisor(env, "analyze", f"s3://{BUCKET}/big", "--format", "json")
            print(f"  analyze local {wl:.1f} s, peak RSS {rss_l} MiB; s3 {wr:.1f} s (exit {rc}), peak RSS {rss_r} MiB; ratio {wr / wl:.2f}x; same JSON: {a == b}")
    finally:
        server.terminate()
        server.wait()
        if not args.data:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
