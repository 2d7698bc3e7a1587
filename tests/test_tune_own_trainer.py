"""The protocol a user implements (README: "Tune your own trainer"), end to end on the worked
example: a plain PyTorch script wrapped in ~30 lines (examples/own_trainer)."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorboard")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_advisor_tune_repairs_the_example_trainer_end_to_end(tmp_path):
    cfg = tmp_path / "too-fast.json"
    cfg.write_text(json.dumps({"lr": 3.0}))  # plain SGD at 3 on the example's blobs: the loss explodes to NaN
    env = {**os.environ, "PYTHONPATH": ROOT, "ADVISOR_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "advisor", "tune", "--backend", "examples.own_trainer.tune", "--config", str(cfg),
           "--out", str(tmp_path / "out"), "--workers", "1", "--format", "json"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout)
    assert r["verified"] and r["stop_reason"] == "healthy"
    first = r["rounds"][0]
    assert first["applied"]["action"] == "scale_lr" and r["final_config"]["lr"] < 1.0
    assert first["before"]["mean"] == "inf" and first["after"]["mean"] < 0.5
    assert r["trainings"] == 4  # 2 seeds to diagnose, 2 to verify: a rescue from divergence is decided at 2 seeds
    # the same tuning again, into another directory: every training comes from the cache
    p2 = subprocess.run(cmd[:-6] + ["--out", str(tmp_path / "out2"), "--workers", "1", "--format", "json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    lines = (tmp_path / "out2" / "journal.jsonl").read_text().splitlines()
    runs = [json.loads(x) for x in lines if '"type": "run"' in x]
    assert p2.returncode == 0 and len(runs) == 4 and all(x["cached"] for x in runs)
    assert json.loads(p2.stdout)["final_config"] == r["final_config"]


def test_the_example_is_a_plain_script_and_a_thirty_line_wrapper(tmp_path):
    from examples.own_trainer import tune as wrapper

    with open(wrapper.__file__) as fh:
        assert len(fh.read().splitlines()) <= 40
    c = wrapper.load_config(str(_write(tmp_path / "c.json", {"lr": 1.0})))
    assert c["lr"] == 1.0 and c["optimizer"] == "sgd"
    assert wrapper.apply(c, {"action": "scale_lr", "params": {"factor": 0.1}})["lr"] == pytest.approx(0.1)
    assert wrapper.apply(c, {"action": "dropout", "params": {"rate": 0.1}}) == c  # unsupported: unchanged, tune skips it
    with pytest.raises(ValueError):
        wrapper.load_config(str(_write(tmp_path / "bad.json", {"nonsense": 1})))


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_the_example_takes_tunes_early_stop_hook(tmp_path):
    """tune.py's train names ``callback``: tune's watch reaches the script, which stops a run gone to NaN."""
    from advisor.tune import load_trainer
    from advisor.tune.watch import Watch
    from examples.own_trainer import tune as wrapper

    trainer = load_trainer("examples.own_trainer.tune")
    c = {**wrapper.load_config(str(_write(tmp_path / "c.json", {"lr": 3.0})))}
    w = Watch()
    stopped = trainer.train(c, str(tmp_path / "a"), 0, w)
    full = trainer.train(c, str(tmp_path / "b"), 0)
    assert w.reason and "non-finite" in w.reason
    assert stopped["steps"] == w.step < full["steps"] == 8 * 8
