"""``--executor ray``: on a real local Ray cluster (one per module: Ray starts slowly), analyze and
tune give what the local executor gives, and a killed worker's training is retried and journaled once."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from advisor.analyze import analyze
from advisor.cli import main
from advisor.errors import UsageError
from advisor.ray_executor import batches, parse_executor
from advisor.render import render
from advisor.tune import load_trainer, tune
from advisor.tune.ray_executor import pack, unpack, use_executor
from tests import fake_trainer, synth

ray = pytest.importorskip("ray")

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
SHAPES = (synth.overfitting, synth.divergence, synth.slow, synth.healthy_step_decay, synth.plateau, synth.no_learning)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """36 small runs of six shapes: more batches than the cluster has CPUs, so order matters."""
    root = tmp_path_factory.mktemp("sweep")
    for i in range(36):
        synth.write_run(str(root / f"run{i:03d}"), SHAPES[i % len(SHAPES)](seed=i, n=400), hparams={"lr": 0.1 * (1 + i % 3)})
    return str(root)


def _json(paths, **kw):
    return render("json", analyze(paths, **kw).report, {})


def test_parse_executor():
    assert parse_executor(None) == ("local", None) and parse_executor("local") == ("local", None)
    assert parse_executor("ray") == ("ray", None) and parse_executor("ray=ray://head:10001") == ("ray", "ray://head:10001")
    for bad in ("dask", "ray=", "Ray"):
        with pytest.raises(UsageError):
            parse_executor(bad)


def test_batches_are_contiguous_and_bounded():
    items = list(range(1000))
    parts = batches(items, cpus=2, max_batch=64)
    assert [x for p in parts for x in p] == items and max(map(len, parts)) <= 64 and len(parts) >= 8


def test_bad_executor_is_exit_2(capsys):
    assert main(["analyze", str(FIXTURES / "torch"), "--executor", "spark"]) == 2
    assert "--executor" in capsys.readouterr().err
    if not ray.is_initialized():  # (run before the module's cluster starts) an unreachable head: at once
        assert main(["analyze", str(FIXTURES / "torch"), "--executor", "ray=127.0.0.1:1"]) == 2
        err = capsys.readouterr().err
        assert "cannot reach the Ray cluster" in err and err.count("\n") == 1


def test_resource_request_follows_the_device():
    from advisor.tune.executors import TrainJob
    from advisor.tune.ray_executor import resources_of

    job = lambda device: TrainJob("tests.fake_trainer", {"device": device}, "/x", 0, 1)  # noqa: E731
    assert resources_of(job("cuda")) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert resources_of(job("cuda:1"))["num_gpus"] == 1.0
    assert resources_of(job("cpu"))["num_gpus"] == 0.0 and resources_of(job("auto"))["num_gpus"] == 0.0


def test_pack_unpack_stays_inside_the_logdir(tmp_path):
    src = tmp_path / "a"
    (src / "train").mkdir(parents=True)
    (src / "train" / "events.out.tfevents.1").write_bytes(b"\x00\x01")
    files = pack(str(src))
    files["../../escape"] = b"x"
    unpack(str(tmp_path / "b"), files)
    assert (tmp_path / "b" / "train" / "events.out.tfevents.1").read_bytes() == b"\x00\x01"
    assert not (tmp_path / "escape").exists()


def _slow_first(chunk, shared):
    import time

    time.sleep(0.3 if chunk[0] == 0 else 0.0)  # the first batch finishes last
    return [shared + x for x in chunk]


def test_map_ordered_streams_in_order_with_a_bounded_window(cluster):
    from advisor.ray_executor import map_ordered

    chunks = [list(range(i, i + 3)) for i in range(0, 30, 3)]
    seen = []
    parts = list(map_ordered(cluster, _slow_first, chunks, 100, window=3, progress=seen.append))
    assert parts == [[100 + x for x in c] for c in chunks] and sum(seen) == 30


def test_analyze_fixtures_same_json_as_local(cluster):
    paths = [str(FIXTURES / "torch"), str(FIXTURES / "keras")]
    assert _json(paths, executor="ray") == _json(paths, workers=1)


def test_analyze_sweep_same_json_and_order_as_local(cluster, sweep):
    local = _json([sweep], workers=2)
    remote = _json([sweep], executor="ray")
    assert remote == local
    runs = [r["run"] for r in json.loads(remote)["runs"]]
    assert runs == sorted(runs) and len(runs) == 36


def test_cli_analyze_executor_ray(cluster, sweep, capsys):
    assert main(["analyze", sweep, "--format", "json", "--fail-on", "never", "--executor", "ray"]) == 0
    remote = capsys.readouterr().out
    assert main(["analyze", sweep, "--format", "json", "--fail-on", "never"]) == 0
    assert remote == capsys.readouterr().out


FAKE = load_trainer("tests.fake_trainer")


def test_tune_on_ray_matches_local(cluster, tmp_path):
    cfg = {**fake_trainer.DEFAULT, "overfit": 1.0}
    a = tune(FAKE, cfg, out=str(tmp_path / "a"), seeds=2, rounds=1, workers=1)
    with use_executor("ray"):
        b = tune(FAKE, cfg, out=str(tmp_path / "b"), seeds=2, rounds=1, workers=1)
    assert a.rounds[0]["after"]["per_seed"] == b.rounds[0]["after"]["per_seed"]
    assert a.final_config == b.final_config and a.verified == b.verified


def test_cli_tune_executor_ray(cluster, tmp_path, capsys):
    import argparse

    from advisor.commands.tune import run

    p = tmp_path / "c.json"
    p.write_text(json.dumps({"lr": 3.0}))
    ns = argparse.Namespace(backend="tests.fake_trainer", config=str(p), rounds=1, seeds=2, out=str(tmp_path / "o"), format="json", metric="val_loss",
                            resume=False, live=False, workers=1, budget=None, target="warning", executor="ray")
    assert run(ns) == 0
    assert json.loads(capsys.readouterr().out)["final_config"]["lr"] < 1


def test_killed_worker_is_retried_and_journaled_once(cluster, tmp_path):
    out = tmp_path / "t"
    cfg = {**fake_trainer.DEFAULT, "lr": 3.0}  # diverges: tune retrains a patched config too
    with use_executor("ray"):
        res = tune(load_trainer("tests.dying_trainer"), cfg, out=str(out), seeds=1, rounds=1, workers=1)
    runs = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines() if '"type": "run"' in line]
    keys = [(r["config_hash"], r["seed"]) for r in runs]
    assert len(keys) == len(set(keys)) >= 2  # the first config and at least one candidate
    assert all(r["ok"] for r in runs), [r.get("error") for r in runs]
    attempts = [p for p in out.rglob("attempt-*")]
    assert len(attempts) == len(keys)  # every training died once, and came back
    first = runs[0]
    assert not any("1000000" in json.dumps(f) for f in first["findings"])  # the dead attempt's log is gone
    assert res.final_config["lr"] < 3.0
    assert len(os.listdir(first["logdir"])) == 2  # one event file (the retry's) and config.json


def test_remote_node_logs_come_back(cluster, tmp_path):
    from advisor.tune.executors import TrainJob
    from advisor.tune.ray_executor import train_remote

    job = TrainJob("tests.fake_trainer", dict(fake_trainer.DEFAULT, steps=60), str(tmp_path / "run"), 0, 1)
    outcome, files = ray.get(ray.remote(train_remote).remote(job, "another-node"))
    assert outcome.ok and any("tfevents" in name for name in files) and "config.json" in files
