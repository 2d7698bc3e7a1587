import argparse
import ast
import html.parser
import json
import math
import os
import pathlib
import subprocess
import sys
import types

import pytest

from advisor.errors import UsageError
from advisor.tune import compare, condition_state, config_diff, load_trainer, targets, tune
from advisor.render import tune_report
from tests import fake_trainer

FAKE = load_trainer("tests.fake_trainer")


@pytest.fixture(autouse=True)
def _no_training_cache(monkeypatch):
    """These tests count trainings: no cache unless a test asks for one."""
    monkeypatch.setenv("ADVISOR_CACHE", "off")


def cfg(**kw):
    return {**fake_trainer.DEFAULT, **kw}


@pytest.fixture()
def markers(tmp_path, monkeypatch):
    d = tmp_path / "markers"
    monkeypatch.setenv("FAKE_TRAINER_MARKERS", str(d))
    return lambda: len(os.listdir(d)) if d.exists() else 0


def test_diverging_config_is_repaired_and_verified(tmp_path, markers):
    r = tune(FAKE, cfg(lr=3.0), out=str(tmp_path / "o"), seeds=3, workers=1)
    assert r.verified and r.stop_reason == "healthy"
    assert r.final_config["lr"] < 1.0
    applied = r.rounds[0]
    assert applied["condition"] in ("exploding-gradients", "non-finite", "divergence")
    assert applied["applied"]["action"] == "scale_lr"
    assert applied["before"]["mean"] == math.inf and math.isfinite(applied["after"]["mean"])
    assert applied["condition_gone"] and applied["verified"]
    # the first candidate (clipping) does not help this toy and is recorded as not verified
    assert any(not a["verified"] for a in r.attempts)
    assert markers() == r.trainings


def test_overfitting_early_stop_at_best_step(tmp_path):
    r = tune(FAKE, cfg(overfit=1.0), out=str(tmp_path / "o"), seeds=3, workers=1)
    first = r.rounds[0]
    assert first["condition"] == "overfitting" and first["applied"]["action"] == "early_stop"
    assert 100 <= first["applied"]["params"]["step"] <= 200  # the val minimum of this toy is near 30-45%
    assert first["after"]["mean"] < first["before"]["mean"] - 3 * first["noise"]
    assert first["improved_seeds"] == 3 and first["effect_size"] > 1


def test_clear_gain_is_kept_while_the_condition_stays(tmp_path):
    """lr 0.002 crawls; x3 helps a lot but still crawls: keep it, and the next x3 finishes the job."""
    r = tune(FAKE, cfg(lr=0.002), out=str(tmp_path / "o"), seeds=3, workers=1)
    first, second = r.rounds[:2]
    assert first["condition"] == second["condition"] == "slow-convergence"
    assert first["kept"] and not first["verified"] and not first["condition_gone"]
    assert first["after"]["mean"] < first["before"]["mean"] - 3 * first["noise"]
    assert second["verified"] and second["config_hash_before"] == first["config_hash_after"]
    assert r.verified and r.stop_reason == "healthy"
    assert r.final_config["lr"] == pytest.approx(0.018)
    assert [row[-1].split(" (")[0] for row in tune_report.rows(r)] == ["kept: clear gain, condition stays", "verified"]


def test_unfixable_config_is_an_answer_not_a_search(tmp_path, markers):
    """Labels broken: no-learning, whose only auto remedy (normalization) this trainer cannot apply.
    Tune says what a person must do and trains no candidate (the rate must not move either:
    raising it was the old, wrong-way advice)."""
    r = tune(FAKE, cfg(broken_labels=True), out=str(tmp_path / "o"), seeds=2, workers=1, budget=3)
    assert not r.verified and r.stop_reason.startswith("not auto-repairable: check_data: labels")
    assert r.final_config == r.initial_config and r.attempts == []
    assert markers() == 2  # the two diagnosis runs, no candidate


def test_json_matches_spec_and_outputs_written(tmp_path):
    out = tmp_path / "o"
    r = tune(FAKE, cfg(lr=3.0), out=str(out), seeds=2, workers=1)
    paths = tune_report.write_outputs(r, str(out))
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert set(d) >= {"backend", "verified", "rounds", "initial_config", "final_config"}
    rnd = d["rounds"][0]
    assert set(rnd) >= {"round", "condition", "applied", "metric", "before", "after", "condition_gone", "verified"}
    assert set(rnd["before"]) == {"mean", "std", "per_seed"} and len(rnd["after"]["per_seed"]) == 2
    assert rnd["before"]["mean"] == "inf"  # JSON has no infinity: non-finite numbers become strings
    assert json.loads(open(paths["json"]).read())["backend"] == "tests.fake_trainer"
    png = open(paths["png"], "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    page = open(paths["html"]).read()
    html.parser.HTMLParser().feed(page)
    assert "<svg" in page and "scale_lr" in page
    assert json.load(open(paths["config"]))["lr"] == r.final_config["lr"]
    text = tune_report.text(r, paths)
    assert "verified" in text and "lr: 3 -> " in text


def test_resume_redoes_nothing_finished_and_survives_a_cut_line(tmp_path, markers):
    out = str(tmp_path / "o")
    r1 = tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1)
    n = markers()
    with pytest.raises(UsageError):
        tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1)  # exists, no --resume
    r2 = tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1, resume=True)
    assert markers() == n and r2.final_config == r1.final_config
    # a kill in the middle of writing the last run line: exactly that run is redone
    jp = os.path.join(out, "journal.jsonl")
    lines = open(jp).read().splitlines(keepends=True)
    last_run = max(i for i, line in enumerate(lines) if '"type": "run"' in line)
    with open(jp, "w") as fh:
        fh.writelines(lines[:last_run])
        fh.write(lines[last_run][: len(lines[last_run]) // 2])
    tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1, resume=True)
    assert markers() == n + 1
    with pytest.raises(UsageError):
        tune(FAKE, cfg(lr=0.5), out=out, seeds=2, workers=1, resume=True)  # another config


def test_parallel_seeds_match_serial(tmp_path):
    a = tune(FAKE, cfg(overfit=1.0), out=str(tmp_path / "a"), seeds=2, workers=1)
    b = tune(FAKE, cfg(overfit=1.0), out=str(tmp_path / "b"), seeds=2, workers=2)
    assert a.rounds[0]["after"]["per_seed"] == b.rounds[0]["after"]["per_seed"]
    assert a.final_config == b.final_config


def test_compare_statistics():
    c = compare([1.0, 1.1, 0.9], [0.5, 0.6, 0.4], True)
    assert c.improved and c.improved_seeds == 3 and c.effect_size > 5
    c = compare([1.0, 1.4, 0.6], [0.95, 1.35, 0.55], True)  # gain smaller than the seed noise
    assert not c.improved and c.improvement < c.noise
    c = compare([1.0, 1.0, 1.0], [0.5, 1.2, 1.2], True)  # one seed better, two worse
    assert not c.improved
    c = compare([math.inf, math.inf], [0.3, 0.31], True)  # rescued from divergence
    assert c.improved and c.improvement == math.inf
    c = compare([0.8, 0.82], [0.9, 0.91], False)  # accuracy: higher is better
    assert c.improved
    assert compare([1.0], [0.5], True).improved and not compare([1.0], [0.999], True).improved


def _f(cond, sev="warning", conf=0.8, prio=1, remedies=()):
    return {"condition": cond, "severity": sev, "confidence": conf, "priority": prio, "summary": cond, "remedies": list(remedies)}


def test_targets_majority_and_median_params():
    es = lambda s: {"action": "early_stop", "params": {"step": s, "restore_best": True}, "kind": "auto"}
    recs = [
        {"findings": [_f("overfitting", remedies=[es(100), {"action": "check_data", "params": {}, "kind": "manual"}]), _f("noisy-validation", "info")]},
        {"findings": [_f("overfitting", remedies=[es(140)])]},
        {"findings": [_f("overfitting", remedies=[es(120)]), _f("plateau", prio=2)]},
    ]
    t = targets(recs)
    assert [x.condition for x in t] == ["overfitting"]  # plateau in 1/3 seeds, info never
    assert t[0].remedies == ({"action": "early_stop", "params": {"step": 120, "restore_best": True}, "rationale": ""},)


def test_condition_state_weaker_counts():
    before = [{"ok": True, "findings": [_f("overfitting", "warning", 0.9)]}] * 3
    after = [
        {"ok": True, "findings": []},
        {"ok": True, "findings": [_f("overfitting", "info", 0.9)]},
        {"ok": True, "findings": [_f("overfitting", "warning", 0.85)]},
    ]
    state = condition_state(after, "overfitting", before)
    assert state.gone and state.seeds == 2


def test_config_diff():
    assert config_diff({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 5, "d": 3}, "e": 0}) == {"b.c": (2, 5), "e": (None, 0)}


def test_bad_inputs(tmp_path):
    with pytest.raises(UsageError):
        tune(FAKE, cfg(), out=str(tmp_path / "o"), metric="nope")
    with pytest.raises(UsageError):
        load_trainer("no.such.module").load_config("x")
    bad = tmp_path / "bad.json"
    bad.write_text('{"lr": 0.1, "nonsense": 1}')
    with pytest.raises(UsageError):
        FAKE.load_config(str(bad))


def test_cli_entry(tmp_path, capsys):
    from advisor.commands.tune import run

    p = tmp_path / "c.json"
    p.write_text(json.dumps({"lr": 3.0}))
    ns = argparse.Namespace(backend="tests.fake_trainer", config=str(p), rounds=2, seeds=2, out=str(tmp_path / "o"), format="json", metric="val_loss", resume=False, live=False, workers=1, budget=None, target="warning")
    assert run(ns) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verified"] is True and d["final_config"]["lr"] < 1


def test_target_info_acts_on_advice(tmp_path):
    from advisor.model import Severity

    # a slow lr leaves the loss still falling at the end: info-level advice, healthy for warning
    r = tune(FAKE, cfg(lr=0.03), out=str(tmp_path / "w"), seeds=2, workers=1)
    assert r.stop_reason == "healthy" and r.attempts == []
    r = tune(FAKE, cfg(lr=0.03), out=str(tmp_path / "i"), seeds=2, workers=1, target=Severity.INFO, budget=2)
    assert r.attempts and r.attempts[0]["condition"] == "still-improving"
    assert r.attempts[0]["applied"]["action"] == "train_longer"


# a user's trainer as an object in a module: load_trainer("package.module:object")
AS_OBJECT = types.SimpleNamespace(train=fake_trainer.train, apply=fake_trainer.apply, load_config=fake_trainer.load_config)
NO_APPLY = types.SimpleNamespace(train=fake_trainer.train, load_config=fake_trainer.load_config)


def test_trainer_by_module_and_object(tmp_path):
    t = load_trainer("tests.test_tune:AS_OBJECT")
    assert t.apply(cfg(), {"action": "scale_lr", "params": {"factor": 0.5}})["lr"] == pytest.approx(0.05)
    r = tune(t, cfg(lr=3.0), out=str(tmp_path / "o"), seeds=1, rounds=1, workers=1)
    assert r.backend == "tests.test_tune:AS_OBJECT" and r.attempts
    with pytest.raises(UsageError, match="provides no apply"):
        load_trainer("tests.test_tune:NO_APPLY").apply(cfg(), {"action": "scale_lr", "params": {"factor": 0.5}})
    with pytest.raises(UsageError, match="has no"):
        load_trainer("tests.test_tune:MISSING").load_config("x")


def test_core_never_imports_backends():
    """Trainers are loaded by name: no module in advisor/ imports backends (the registry holds strings)."""
    root = pathlib.Path(__file__).resolve().parents[1] / "advisor"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "backends" for n in names), path
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("backends."):
                assert path.name == "protocol.py" and path.parent.name == "tune", (path, node.value)


def test_tune_imports_neither_render_nor_commands():
    """One direction: the command and the report import tune, never the other way round."""
    code = "import sys, advisor.tune; print(sorted(m for m in sys.modules if m.startswith(('advisor.render', 'advisor.commands', 'backends'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"



# -- journals damaged by a kill or by hand --------------------------------------------------------------


def _cut_last_run(jp: str) -> None:
    lines = open(jp).read().splitlines(keepends=True)
    last_run = max(i for i, line in enumerate(lines) if '"type": "run"' in line)
    with open(jp, "w") as fh:
        fh.writelines(lines[:last_run])
        fh.write(lines[last_run][: len(lines[last_run]) // 2])


def test_a_second_resume_after_a_cut_line_redoes_nothing(tmp_path, markers):
    """The cut line used to swallow the next record appended to it, so a second resume redid a finished training."""
    out = str(tmp_path / "o")
    tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1)
    jp = os.path.join(out, "journal.jsonl")
    _cut_last_run(jp)
    n = markers()
    tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1, resume=True)
    assert markers() == n + 1  # exactly the cut run
    tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1, resume=True)
    assert markers() == n + 1  # and nothing again


@pytest.mark.parametrize(
    "junk",
    [b"123\n", b"[1,2]\n", b"null\n", b'{"type": "run", "seed": 0}\n', b'{"type": "run", "config_hash": "x", "seed": "zero"}\n',
     b'{"type": "run", "config_hash": "x", "seed": 0, "findings": ["a string"]}\n', b"\xff\xfe\x00garbage\n", b'"a string"\n',
     b'{"type": "run", "config_hash": "x", "seed": 0, "findings": [{"condition": "x"}]}\n'],
)
def test_hand_corrupted_journal_lines_are_skipped_and_reported(tmp_path, markers, junk, capsys):
    out = str(tmp_path / "o")
    tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1)
    n = markers()
    with open(os.path.join(out, "journal.jsonl"), "ab") as fh:
        fh.write(junk)
    r = tune(FAKE, cfg(lr=3.0), out=out, seeds=2, workers=1, resume=True)
    assert markers() == n and r.stop_reason
    assert "skipped 1 unreadable line" in capsys.readouterr().err


def test_a_journal_that_cannot_be_used_is_a_usage_error(tmp_path):
    out = tmp_path / "o"
    (out / "journal.jsonl").mkdir(parents=True)
    with pytest.raises(UsageError) as e:
        tune(FAKE, cfg(lr=3.0), out=str(out), seeds=2, workers=1, resume=True)
    assert "journal" in str(e.value) and "\n" not in str(e.value)


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_kill_9_of_tune_leaves_no_worker_behind(tmp_path):
    """Spawned training workers (and the resource tracker) used to outlive a killed tune."""
    import signal
    import subprocess
    import sys
    import time

    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg(lr=3.0)))
    env = {**os.environ, "FAKE_TRAINER_SLEEP": "30", "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    proc = subprocess.Popen([sys.executable, "-m", "advisor", "tune", "--backend", "tests.fake_trainer", "--config", str(p),
                             "--seeds", "2", "--workers", "2", "--out", str(tmp_path / "o")], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(_children(proc.pid)) < 2:
        time.sleep(0.2)
    kids = _children(proc.pid)
    assert len(kids) >= 2, "the workers never started"
    time.sleep(1.0)  # let them reach the training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    alive = kids
    while time.time() < deadline and alive:
        alive = {k for k in alive if os.path.exists(f"/proc/{k}") and open(f"/proc/{k}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"}
        time.sleep(0.2)
    assert not alive, f"{len(alive)} worker(s) outlived the killed tune"


# -- unrepairable, sequential verification, the training cache ---------------------------------------------


def _mismatch_train(config, logdir, seed):
    """Train loss flat while val loss falls: data-mismatch, whose only remedies are manual."""
    import numpy as np

    from advisor.io.writer import EventWriter

    rng = np.random.default_rng(seed)
    with EventWriter(logdir) as w:
        for i in range(400):
            w.add_scalars({"train/loss": 2.3 + rng.normal(0, 0.02)}, i, wall_time=1.7e9 + i)
            if i % 20 == 0:
                w.add_scalar("val/loss", 2.3 * math.exp(-i / 150) + 0.3 + rng.normal(0, 0.005), i, wall_time=1.7e9 + i)
    return {"final_val_loss": 0.3, "best_val_loss": 0.3}


MISMATCH = types.SimpleNamespace(train=_mismatch_train, apply=fake_trainer.apply, load_config=fake_trainer.load_config)


def test_only_manual_remedies_stop_at_once_with_exit_1(tmp_path, capsys):
    from advisor.commands.tune import run

    r = tune(load_trainer("tests.test_tune:MISMATCH"), cfg(), out=str(tmp_path / "o"), seeds=2, workers=1)
    assert r.stop_reason.startswith("not auto-repairable: check_data: that the logged train loss is the optimised one")
    assert r.attempts == [] and r.trainings == 2 and not r.verified
    p = tmp_path / "c.json"
    p.write_text("{}")
    ns = argparse.Namespace(backend="tests.test_tune:MISMATCH", config=str(p), rounds=3, seeds=2, out=str(tmp_path / "cli"), format="text", metric="val_loss",
                            resume=False, live=False, workers=1, budget=None, target="warning", max_seeds=None, no_cache=True)
    assert run(ns) == 1
    assert "not auto-repairable: check_data" in capsys.readouterr().out


def test_sequential_decisions():
    from advisor.tune.sequential import betainc, decide, t_sf

    assert t_sf(6.2, 2) == pytest.approx(0.0125208, rel=1e-5)  # scipy.stats.t.sf
    assert t_sf(3.0, 8) == pytest.approx(0.00853584, rel=1e-5) and t_sf(-1.0, 4) == pytest.approx(0.81304952, rel=1e-6)
    assert betainc(2.0, 3.0, 0.4) == pytest.approx(0.5248, rel=1e-6)
    clear = decide([2.30, 2.31], [0.08, 0.09], True, looks=4, last=False)
    assert clear.accepted and clear.level == pytest.approx(0.05 / 4) and clear.seeds == 2
    close = decide([0.50, 0.52], [0.45, 0.48], True, looks=4, last=False)
    assert close.state == "open" and close.p_value > close.level
    assert decide([0.50, 0.52], [0.45, 0.48], True, looks=4, last=True).state == "reject"  # no seeds left
    assert decide([0.50, 0.52, 0.51], [0.45, 0.48, 0.47], True, looks=4, last=False).accepted
    assert decide([0.5, 0.6, 0.55], [0.52, 0.5, 0.6], True, looks=4, last=False).state == "reject"  # futility
    assert decide([0.5, 0.5], [0.6, 0.7], True, looks=4, last=False).state == "reject"  # worse
    inf = math.inf
    assert decide([inf, inf], [0.3, 0.4], True, looks=4, last=False).accepted  # rescued in every seed
    assert decide([0.3, 0.4], [0.2, inf], True, looks=4, last=False).state == "reject"  # ruins a seed
    assert decide([0.8, 0.82], [0.95, 0.96], False, looks=1, last=True).accepted  # accuracy: higher is better


def test_one_more_seed_only_while_the_verdict_is_open(tmp_path):
    """Seed noise of the size of the gain leaves 2 seeds undecided: tune adds seeds, up to --max-seeds."""
    r = tune(load_trainer("tests.test_tune:NOISY"), cfg(overfit=1.0), out=str(tmp_path / "o"), seeds=2, max_seeds=4, workers=1, rounds=1, budget=1)
    a = r.attempts[0]
    assert a["seeds"] > 2 and len(a["after"]["per_seed"]) == a["seeds"] and len(a["before"]["per_seed"]) >= a["seeds"]
    assert a["test_level"] == pytest.approx(0.05 / 3)
    assert a["seeds"] == 4 and not a["kept"] and "no seeds left" in a["decision"]  # open to the end: rejected
    clear = tune(FAKE, cfg(lr=3.0), out=str(tmp_path / "c"), seeds=2, workers=1)
    assert clear.rounds[0]["seeds"] == 2  # a rescue from divergence needs no more seeds


def _noisy_train(config, logdir, seed):
    res = fake_trainer.train(config, logdir, seed)
    jitter = 0.3 if seed % 2 else -0.3  # seed-to-seed noise on the delivered metric of the size of the gain
    return {**res, "final_val_loss": res["final_val_loss"] + jitter, "best_val_loss": res["best_val_loss"] + jitter}


NOISY = types.SimpleNamespace(train=_noisy_train, apply=fake_trainer.apply, load_config=fake_trainer.load_config)


def test_kept_runs_are_the_next_baseline_and_nothing_trains_twice(tmp_path, markers):
    r = tune(FAKE, cfg(lr=0.002), out=str(tmp_path / "o"), seeds=2, workers=1)
    assert len(r.rounds) >= 2 and markers() == r.trainings
    seen = [open(os.path.join(tmp_path / "markers", m)).read() + m.split("-")[1] for m in os.listdir(tmp_path / "markers")]
    assert len(seen) == len(set(seen))  # no (config, seed) trained twice


def test_cache_is_shared_across_out_directories(tmp_path, markers, monkeypatch):
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "cache"))
    a = tune(FAKE, cfg(lr=3.0), out=str(tmp_path / "a"), seeds=2, workers=1)
    n = markers()
    b = tune(FAKE, cfg(lr=3.0), out=str(tmp_path / "b"), seeds=2, workers=1)
    assert markers() == n  # every training came from the cache
    assert b.final_config == a.final_config and b.rounds[0]["after"]["per_seed"] == a.rounds[0]["after"]["per_seed"]
    recs = [json.loads(x) for x in open(tmp_path / "b" / "journal.jsonl")]
    runs = [x for x in recs if x["type"] == "run"]
    assert runs and all(x.get("cached") for x in runs) and all(x["seconds"] >= 0 for x in runs)
    assert all(os.path.isdir(x["logdir"]) and x["logdir"].startswith(str(tmp_path / "b")) for x in runs)
    assert [x["findings"] for x in runs] == [x["findings"] for x in json.loads("[" + ",".join(open(tmp_path / "a" / "journal.jsonl").read().split("\n")[:-1]) + "]") if x["type"] == "run"][: len(runs)]
    tune(FAKE, cfg(lr=3.0), out=str(tmp_path / "c"), seeds=2, workers=1, cache=None)  # --no-cache
    assert markers() == n + b.trainings


def test_cache_key_covers_config_seed_and_code(tmp_path):
    from advisor.tune.cache import TrainingCache, code_version

    c = TrainingCache(str(tmp_path), "tests.fake_trainer", "tests.fake_trainer")
    k = c.key(cfg(), 0)
    assert k == c.key(dict(reversed(list(cfg().items()))), 0)  # canonical: key order does not matter
    assert len({k, c.key(cfg(), 1), c.key(cfg(lr=0.2), 0), c.key(cfg(), 0, {"auto_remedy": True})}) == 4
    assert code_version("tests.fake_trainer") != code_version("advisor")
    assert c.restore(k, str(tmp_path / "x")) is None  # a miss
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.out.tfevents.1").write_bytes(b"x")
    c.store(k, str(run), {"ok": False, "error": "boom"})  # a failed training is not kept
    assert c.restore(k, str(tmp_path / "x")) is None
    c.store(k, str(run), {"ok": True, "result": {"final_val_loss": 0.5}, "seconds": 2.0})
    assert c.restore(k, str(tmp_path / "x"))["result"] == {"final_val_loss": 0.5}
    assert (tmp_path / "x" / "events.out.tfevents.1").read_bytes() == b"x"
    entry = tmp_path / k[:2] / k / "outcome.json"
    entry.write_text("{cut")  # a damaged entry is a miss, not a crash
    assert c.restore(k, str(tmp_path / "y")) is None


def _acc_train(config, logdir, seed):
    res = fake_trainer.train(config, logdir, seed)
    return {**res, "val_acc": max(0.0, 1.0 - res["final_val_loss"] / 3.0) if math.isfinite(res["final_val_loss"]) else 0.0}


WITH_ACCURACY = types.SimpleNamespace(train=_acc_train, apply=fake_trainer.apply, load_config=fake_trainer.load_config)


def test_verify_on_a_task_metric_the_trainer_returns(tmp_path):
    from advisor.tune.verify import metric_spec

    assert metric_spec("val_accuracy") == (("final_val_accuracy", "best_val_accuracy"), False)
    assert metric_spec("val_acc") == (("val_acc",), False) and metric_spec("val_f1:min") == (("val_f1",), True)
    assert metric_spec("val_ce") == (("val_ce",), True)
    with pytest.raises(UsageError):
        metric_spec("val acc;rm")
    r = tune(load_trainer("tests.test_tune:WITH_ACCURACY"), cfg(overfit=1.0), out=str(tmp_path / "o"), seeds=2, workers=1, metric="val_acc")
    first = r.rounds[0]
    assert first["metric"] == "val_acc" and first["applied"]["action"] == "early_stop" and first["verified"]
    assert first["after"]["mean"] > first["before"]["mean"]  # higher is better for an accuracy
    with pytest.raises(UsageError, match="not in the trainer's result"):
        tune(FAKE, cfg(overfit=1.0), out=str(tmp_path / "x"), seeds=2, workers=1, metric="val_acc")


def _split_train(config, logdir, seed):
    """Seed 1 trains at a sane rate whatever the config says: a slow config reads as healthy there."""
    return fake_trainer.train({**config, "lr": 0.1} if seed == 1 else config, logdir, seed)


SPLIT = types.SimpleNamespace(train=_split_train, apply=fake_trainer.apply, load_config=fake_trainer.load_config)


def test_a_condition_in_half_the_seeds_gets_one_more_seed_not_a_healthy_verdict(tmp_path):
    """Seeds 0 and 1 disagree (slow, healthy): that is undecided, so tune trains seed 2 of the same
    config, which makes the condition a majority it acts on, instead of stopping 'healthy'."""
    r = tune(load_trainer("tests.test_tune:SPLIT"), cfg(lr=0.002), out=str(tmp_path / "o"), seeds=2, workers=1, rounds=1, budget=1)
    assert r.stop_reason != "healthy" and r.attempts, r.stop_reason
    first = r.attempts[0]
    assert len(first["before"]["per_seed"]) >= 3 and first["condition"] in ("slow-convergence", "still-improving")
    # the same data with the majority rule alone (3 seeds of one config: 2 slow, 1 healthy) is a target
    agreed = tune(FAKE, cfg(lr=0.1), out=str(tmp_path / "h"), seeds=2, workers=1, rounds=1)
    assert agreed.stop_reason == "healthy" and agreed.trainings == 2  # agreeing seeds: no extra seed


def test_a_clear_gain_answers_still_improving_even_when_the_longer_runs_still_improve():
    from advisor.tune.verify import ConditionState, answered

    stays = ConditionState(False, 1)
    got = answered("still-improving", stays, accepted=True)
    assert got.gone and got.answered_by_gain and got.seeds == 1
    assert not answered("still-improving", stays, accepted=False).gone  # no clear gain: not answered
    assert not answered("overfitting", stays, accepted=True).gone  # other conditions must go away
    assert answered("still-improving", ConditionState(True, 3), accepted=True) == ConditionState(True, 3)
