"""One memory budget for all of a monitor's streams: thousands of streams stay within it, the
per-layer gradient norms are coarsened first, and the train loss keeps its resolution."""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

import numpy as np

from advisor.live import Monitor, Recorder, Reservoir
from advisor.live.recorder import Memory

MIB = 2**20


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes held by ``obj`` and everything it references (each object once)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, type):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)  # a numpy array that owns its data includes it
    if isinstance(obj, np.ndarray):
        return size if obj.base is None else size + deep_size(obj.base, seen)
    if isinstance(obj, dict):
        return size + sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return size + sum(deep_size(x, seen) for x in obj)
    if hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen)
    for name in getattr(type(obj), "__slots__", ()):
        size += deep_size(getattr(obj, name, None), seen)
    return size


def streams_bytes(rec: Recorder) -> int:
    return deep_size(dict(rec.series))


def run_streams(rec: Recorder, tags: tuple[str, ...], steps: int, every: int = 50) -> None:
    """Log ``tags`` (one vector per step, as the adapters record per-layer norms) and the train
    loss every step, draining at the cadence."""
    rng = np.random.default_rng(0)
    for step in range(steps):
        rec.record(tags, step, rng.random(len(tags)))
        rec.log(step, loss=1.0 / (step + 1))
        if step % every == every - 1 or rec.full:
            rec.drain()
    rec.drain()


def assert_full_resolution(res: Reservoir, steps: int) -> None:
    assert (res.window, res.max_bins) == (Memory().window, Memory().bins)
    got, _, _ = res.points()
    assert got.tolist() == list(range(steps))


def test_ten_thousand_layer_streams_stay_within_the_default_budget():
    rec = Recorder()
    tags = tuple(f"train/grad_norm/blocks.{i}.mlp" for i in range(10_000))
    run_streams(rec, tags, 300)
    used = streams_bytes(rec)
    assert used <= 64 * MIB, f"{used / MIB:.1f} MiB"
    assert Memory().budget == 64 * MIB
    assert rec.series[tags[0]].window < Memory().window  # coarsened
    assert len(rec.series[tags[0]]) == 300  # every point accounted for
    assert_full_resolution(rec.series["train/loss"], 300)


def test_ten_thousand_other_streams_stay_within_the_budget_too():
    rec = Recorder()
    tags = tuple(f"metrics/feature_{i}" for i in range(10_000))
    run_streams(rec, tags, 150)
    assert streams_bytes(rec) <= 64 * MIB
    assert not rec.failures
    assert_full_resolution(rec.series["train/loss"], 150)


def test_layer_streams_are_coarsened_before_the_others():
    rec = Recorder(Memory(budget=6 * MIB))
    layers = tuple(f"train/grad_norm/layer{i}" for i in range(300))
    others = ("train/accuracy", "val/metric", "throughput")
    run_streams(rec, layers + others, 1200)
    assert streams_bytes(rec) <= 6 * MIB
    assert rec.series[layers[0]].window < Memory().window
    for tag in others:
        assert rec.series[tag].window == Memory().window
    assert_full_resolution(rec.series["train/loss"], 1200)


def test_no_budget_means_no_coarsening():
    rec = Recorder(Memory(budget=None))
    tags = tuple(f"train/grad_norm/layer{i}" for i in range(400))
    run_streams(rec, tags, 400)
    assert all(r.window == Memory().window for r in rec.series.values())


def test_a_budget_too_small_even_at_the_coarsest_is_reported_once(caplog):
    rec = Recorder(Memory(budget=1 * MIB))
    tags = tuple(f"train/grad_norm/layer{i}" for i in range(1000))
    with caplog.at_level("WARNING", logger="advisor.live"):
        run_streams(rec, tags, 300)
    assert rec.failures == {"memory budget"}
    assert sum("over the 1 MiB budget" in r.getMessage() for r in caplog.records) == 1
    assert all(len(r) == 300 for r in rec.series.values())  # coarse, but nothing lost
    assert_full_resolution(rec.series["train/loss"], 300)


def test_a_train_loss_under_its_own_name_keeps_its_resolution_once_resolved():
    # "Loss/train" is no standard tag: the first diagnosis resolves it as the train loss, and it
    # is then kept at full resolution while 400 other streams squeeze the budget.
    mon = Monitor(every=50, on_finding=None, budget=None, memory_budget=4 * MIB)
    rng = np.random.default_rng(1)
    extra = [f"stats/s{i}" for i in range(400)]
    for step in range(1500):
        row = dict(zip(extra, rng.random(len(extra)).tolist()))
        row["Loss/train"] = 2.0 / (1 + step / 100)
        mon.log(step, row)
    mon.run()
    res = mon.recorder.series["Loss/train"]
    assert res.window == Memory().window
    assert mon.recorder.series[extra[0]].window < Memory().window
    steps, _, _ = res.points()
    assert steps[-Memory().window :].tolist() == list(range(1500 - Memory().window, 1500))
    assert streams_bytes(mon.recorder) <= 4 * MIB


def test_the_byte_estimate_covers_what_tracemalloc_measures():
    rng = np.random.default_rng(2)
    shapes = [(1024, 512, 32), (64, 16, 32), (16, 4, 32)]
    for window, bins, head in shapes:
        for n in (10, 300, 4000):
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            res = [Reservoir(window, bins, head) for _ in range(10)]
            for r in res:
                for i in range(0, n, 50):
                    s = np.arange(i, min(i + 50, n))
                    r.extend(s, rng.random(len(s)), s * 0.5)
            measured = (tracemalloc.get_traced_memory()[0] - base) / len(res)
            tracemalloc.stop()
            est = res[0].nbytes
            assert measured <= est <= 2 * measured + 2048, (window, bins, n, measured, est)
