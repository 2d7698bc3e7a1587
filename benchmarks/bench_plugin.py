"""The Advisor TensorBoard plugin on a 50-run logdir: route latency cold vs cached, and how many runs
are diagnosed again after one run grows.

Peers measured in the same run: the first (cold) request, which reads and diagnoses every run
through the data provider, and ``advisor analyze`` of the same logdir (the offline path). The
plugin is served as TensorBoard serves it (its WSGI app over the multiplexer data provider, the
``--load_fast=false`` loader), so the figures are the plugin's own work, not HTTP or the Rust server.

    python benchmarks/bench_plugin.py [--runs 50] [--points 2000] [--repeat 20]

Targets (issue 16): every route < 300 ms on a cached 50-run logdir; after touching one run, one
diagnosis.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tensorboard import context as tb_context  # noqa: E402
from tensorboard.backend import application  # noqa: E402
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer  # noqa: E402
from tensorboard.plugins import base_plugin  # noqa: E402
from werkzeug import test as wtest  # noqa: E402
from werkzeug import wrappers  # noqa: E402

from advisor.analyze import analyze  # noqa: E402
from advisor.io.writer import EventWriter  # noqa: E402
from advisor.tb_plugin.plugin import AdvisorPlugin  # noqa: E402
from tests import synth  # noqa: E402

SHAPES = (synth.healthy_step_decay, synth.overfitting, synth.divergence, synth.slow, synth.plateau)


def make_logdir(root: str, runs: int, points: int) -> list[str]:
    names = []
    for i in range(runs):
        name = f"run-{i:03d}"
        synth.write_run(os.path.join(root, name), SHAPES[i % len(SHAPES)](seed=i, n=points))
        names.append(name)
    return names


def timed(client, path: str, repeat: int = 1) -> tuple[float, bytes]:
    times, body = [], b""
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200, (path, r.status_code, r.data[:200])
        body = r.data
    return statistics.median(times), body


def over_http(root: str, runs: int, repeat: int, one: str) -> dict[str, float]:
    """Median route latency in ms through a real tensorboard server, first request and cached."""
    import urllib.request

    from tests.tb_browser import TensorBoardServer

    srv = TensorBoardServer(root)
    try:
        base = srv.url.rstrip("/") + "/data/plugin/advisor"
        out: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the server loads in the background: wait for every run
            t = time.perf_counter()
            with urllib.request.urlopen(base + "/runs", timeout=120) as r:
                n = len(json.loads(r.read())["runs"])
            out.setdefault("first /runs (read + diagnose)", (time.perf_counter() - t) * 1000)
            if n == runs:
                break
            time.sleep(1)
        for route in ("/runs", f"/run?run={one}", f"/chart?run={one}&index=0", "/report"):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                with urllib.request.urlopen(base + route, timeout=60) as r:
                    r.read()
                times.append((time.perf_counter() - t) * 1000)
            out[f"cached {route}"] = statistics.median(times)
        return out
    finally:
        srv.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--points", type=int, default=2000, help="training steps per run (train loss, val every 100)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--http", action="store_true", help="also time the routes over HTTP on a real tensorboard process (its default loader)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as root:
        names = make_logdir(root, args.runs, args.points)
        mx = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"scalars": 0})
        mx.AddRunsFromDirectory(root)
        mx.Reload()
        provider = data_provider.MultiplexerDataProvider(mx, root)
        plugin = AdvisorPlugin(base_plugin.TBContext(logdir=root, data_provider=provider, multiplexer=mx))
        client = wtest.Client(application.TensorBoardWSGI([plugin]), wrappers.Response)
        pre = "/data/plugin/advisor"
        one = names[len(names) // 2]

        cold, _ = timed(client, pre + "/runs")
        cold_diag = plugin.diagnoser.diagnoses
        t = time.perf_counter()
        analyze([root], workers=1)
        offline = time.perf_counter() - t
        t = time.perf_counter()  # TensorBoard's own read of every point (what the cold request waits on)
        provider.read_scalars(tb_context.RequestContext(), experiment_id="", plugin_name="scalars", downsample=10**9)
        tb_read = time.perf_counter() - t

        cached = {}
        for route in ("/runs", f"/run?run={one}", f"/chart?run={one}&index=0", "/report", f"/report?run={one}"):
            cached[route], _ = timed(client, pre + route, args.repeat)
        after_cached = plugin.diagnoser.diagnoses

        (existing,) = os.listdir(os.path.join(root, one))
        with EventWriter(os.path.join(root, one), filename=existing) as w:  # one run grows by one point
            w.add_scalar("train/loss", 0.3, args.points + 10, wall_time=1_800_000_000.0)
        mx.Reload()
        touched, body = timed(client, pre + "/runs")
        rediagnosed = plugin.diagnoser.diagnoses - after_cached
        assert len(json.loads(body)["runs"]) == args.runs
        http = over_http(root, args.runs, args.repeat, one) if args.http else None

    print(f"plugin on {args.runs} runs x {args.points} steps (multiplexer data provider, WSGI in process)")
    print(f"  cold /runs (read + diagnose all):     {cold * 1000:8.1f} ms   ({cold_diag} diagnoses)")
    print(f"  TensorBoard's read_scalars, all runs: {tb_read * 1000:8.1f} ms   (peer: the data provider alone, inside the cold request)")
    print(f"  advisor analyze, same logdir:         {offline * 1000:8.1f} ms   (peer: the offline path, 1 worker)")
    for route, s in cached.items():
        print(f"  cached {route:<30} {s * 1000:8.1f} ms   ({cold / s:6.1f}x faster than cold)")
    print(f"  after touching one run, /runs:        {touched * 1000:8.1f} ms   ({rediagnosed} run(s) re-diagnosed)")
    if http:
        print("over HTTP, a real tensorboard process (default loader: the Rust data server when installed):")
        for route, ms in http.items():
            print(f"  {route:<38} {ms:8.1f} ms")
    worst = max(cached.values())
    print(f"target: cached routes < 300 ms -> worst {worst * 1000:.1f} ms: {'met' if worst < 0.3 else 'NOT met'}")
    print(f"target: only the changed run re-diagnosed -> {rediagnosed}: {'met' if rediagnosed == 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
