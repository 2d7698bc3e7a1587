"""Remote logdirs against a real S3-compatible server: moto's standalone server on a free port,
started here as s3fs's own test suite does. The endpoint and the (dummy) credentials reach
s3fs only through the standard AWS environment variables, as a user's would."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from tests import synth

REPO = Path(__file__).resolve().parents[2]
BUCKET = "advisor-sweeps"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_env():
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        yield fs, env
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        server.stop()


def _sweep(root: Path) -> Path:
    """A generated sweep: healthy and faulty runs of a few layouts, a Keras run with splits."""
    builders = [synth.healthy_step_decay, synth.overfitting, synth.divergence, synth.no_learning, synth.plateau, synth.slow]
    for i in range(12):
        b = builders[i % len(builders)]
        synth.write_run(str(root / f"lr_{i % 3}" / f"seed_{i}"), b(seed=i, n=400), hparams={"lr": 10.0 ** -(i % 3 + 2)}, config={"seed": i})
    shutil.copytree(REPO / "fixtures" / "keras", root / "keras")
    return root


def _advisor(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "advisor", *argv], check=False, capture_output=True, text=True, env=full, cwd=REPO, timeout=240)


def test_sweep_from_s3_gives_the_local_report_byte_for_byte(s3_env, tmp_path):
    fs, env = s3_env
    local = _sweep(tmp_path / "sweep")
    fs.put(str(local), f"{BUCKET}/team/sweep", recursive=True)
    here = _advisor(env, "analyze", str(local), "--format", "json")
    there = _advisor(env, "analyze", f"s3://{BUCKET}/team/sweep", "--format", "json")
    assert here.stdout.count('"run":') >= 13, here.stderr
    assert (there.returncode, there.stdout, there.stderr) == (here.returncode, here.stdout, here.stderr)
    # A run inside the sweep, named relative to what was analysed, as locally.
    one = _advisor(env, "analyze", f"s3://{BUCKET}/team/sweep/keras/", "--format", "json", "--workers", "1")
    one_local = _advisor(env, "analyze", str(local / "keras"), "--format", "json", "--workers", "1")
    assert one.stdout == one_local.stdout and one.returncode == one_local.returncode


def test_missing_bucket_or_prefix_is_one_line_and_exit_2(s3_env):
    _, env = s3_env
    for url in ("s3://no-such-bucket-here/runs", f"s3://{BUCKET}/no/such/prefix"):
        r = _advisor(env, "analyze", url)
        assert r.returncode == 2 and r.stdout == "", r.stderr
        assert r.stderr == f"advisor: error: {url}: no such file or directory\n"
    assert env["AWS_SECRET_ACCESS_KEY"] not in r.stderr
