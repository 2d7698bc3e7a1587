"""Trainers across devices: the torch trainer under torchrun (DDP, gloo, 2 processes) and the flax
trainer sharded over 2 host devices find the same conditions as one device on the same config, and
the remedy tune picks from those findings works the same in both modes (``dp_worker``). Under
torchrun, rank 0's live monitor's remedy and rank 0's stop request reach both ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATHOLOGY = ["optim.name=momentum", "optim.lr=10", "schedule.kind=constant", "train.epochs=3"]
TIMEOUT = 300


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1", **env}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _lines(proc: subprocess.Popen) -> list[dict]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("a data-parallel training hung")
    assert proc.returncode == 0, err[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _same(single: dict, parallel: dict) -> None:
    assert "parallel" not in single["device"] and "parallel" in parallel["device"]
    assert single["before"] and parallel["before"] == single["before"]  # the same findings ...
    assert parallel["remedy"] == single["remedy"] is not None  # ... the same remedy applied ...
    assert parallel["after"] == single["after"] != single["before"]  # ... with the same effect
    assert parallel["steps"] == single["steps"]
    assert parallel["val"] == pytest.approx(single["val"], rel=1e-3)


def _run(backend: str, tmp_path, parallel_cmd: list[str], parallel_env: dict[str, str], single_env: dict[str, str]):
    worker = ["-m", "tests.backends.dp_worker", backend]
    procs = [_start([sys.executable, *worker, str(tmp_path / "single"), *PATHOLOGY], single_env),
             _start([*parallel_cmd, *worker, str(tmp_path / "parallel"), *PATHOLOGY], parallel_env)]
    return [_lines(p) for p in procs]  # both modes train at once


@pytest.mark.slow
def test_torch_ddp_matches_one_process(tmp_path):
    pytest.importorskip("torch")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    single, parallel = _run("torch", tmp_path, torchrun, {}, {})
    summary = lambda lines: next(d for d in lines if "device" in d)  # noqa: E731
    _same(summary(single), summary(parallel))
    ranks = sorted((d for d in parallel if "rank" in d), key=lambda d: d["rank"])
    assert [d["rank"] for d in ranks] == [0, 1]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 16 and ranks[1]["stop"] == ranks[0]["stop"] == "control: rank 0 asked"
    assert ranks[0]["applied"] == ranks[1]["applied"] and ranks[0]["applied"]  # rank 0's live remedy, on both
    assert ranks[0]["live_findings"] and not ranks[1]["live_findings"]  # one monitor: rank 0's
    assert sum(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "parallel" / "before")) == 1  # rank 0 logs


@pytest.mark.slow
def test_flax_sharded_matches_one_device(tmp_path):
    pytest.importorskip("jax")
    two = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    single, parallel = _run("jax", tmp_path, [sys.executable], two, {"XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"})
    summary = lambda lines: next(d for d in lines if "device" in d)  # noqa: E731
    _same(summary(single), summary(parallel))
