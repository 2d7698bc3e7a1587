"""tune's early stop: a training stops once a critical condition is confirmed live (advisor.tune.watch),
through the optional ``callback`` keyword of the trainer protocol."""

import json
import os

import pytest

from advisor.tune import load_trainer, metric_values, tune
from advisor.tune.cache import TrainingCache
from advisor.tune.journal import Journal
from advisor.tune.protocol import config_hash, takes_keyword
from advisor.tune.runner import Runner
from advisor.tune.watch import Watch
from tests import fake_trainer

FAKE = load_trainer("tests.fake_trainer")  # train(config, logdir, seed): no hook
WATCHED = load_trainer("tests.fake_trainer:WATCHED")  # train(config, logdir, seed, *, callback=None)


def cfg(**kw):
    return {**fake_trainer.DEFAULT, **kw}


@pytest.fixture(autouse=True)
def _no_training_cache(monkeypatch):
    monkeypatch.setenv("ADVISOR_CACHE", "off")


def test_takes_keyword_needs_the_name():
    def named(config, logdir, seed, *, callback=None): ...
    def positional(config, logdir, seed, callback=None): ...
    def loose(config, logdir, seed, **options): ...
    def plain(config, logdir, seed): ...

    assert takes_keyword(named, "callback") and takes_keyword(positional, "callback")
    assert not takes_keyword(loose, "callback")  # **kwargs may forward anywhere: no hook for it
    assert not takes_keyword(plain, "callback")


def test_watch_stops_a_confirmed_critical_run_and_lets_healthy_ones_finish(tmp_path):
    w = Watch()
    r = fake_trainer.train_watched(cfg(lr=3.0), str(tmp_path / "bad"), 0, callback=w)
    # the toy's validation loss falls first (an lr-too-high is vetoed), then the run blows up into NaN
    assert w.reason and ("divergence" in w.reason or "non-finite" in w.reason) and w.step is not None
    assert r["steps"] == w.step + 1 < 400
    for i, kw in enumerate(({}, {"lr": 0.002}, {"overfit": 1.0})):  # crawling or overfitting: not critical
        w = Watch()
        r = fake_trainer.train_watched(cfg(**kw), str(tmp_path / f"ok{i}"), 0, callback=w)
        assert w.reason is None and r["steps"] == 400


def test_trainer_without_the_hook_trains_to_the_end(tmp_path):
    w = Watch()
    res = FAKE.train(cfg(lr=3.0), str(tmp_path / "a"), 0, w)
    assert res["steps"] == 400 and w.reason is None  # never called: the watch saw nothing
    res = WATCHED.train(cfg(lr=3.0), str(tmp_path / "b"), 0, Watch())
    assert res["steps"] < 400


def _runs(out):
    return Journal(os.path.join(out, "journal.jsonl"), resume=True).runs


def test_tune_stops_the_broken_baseline_and_still_verifies_the_repair(tmp_path):
    out = str(tmp_path / "o")
    r = tune(WATCHED, cfg(lr=3.0), out=out, seeds=2, workers=1)
    assert r.verified and r.final_config["lr"] < 1.0
    runs = _runs(out)
    first = [runs[(config_hash(r.initial_config), s)] for s in r.seeds]
    assert all(x["stopped"]["step"] < 400 and x["stopped"]["condition"] in ("divergence", "non-finite") for x in first)
    assert metric_values(first, "val_loss") == [float("inf")] * 2  # stopped blowing up: scored as diverged
    assert all(x["result"]["steps"] < 400 for x in first)
    final = [runs[(config_hash(r.final_config), s)] for s in r.seeds]
    assert all(x["result"]["steps"] == 400 and "stopped" not in x for x in final)
    # resume: the same decisions from the journal, nothing trained again
    again = tune(WATCHED, cfg(lr=3.0), out=out, seeds=2, workers=1, resume=True)
    assert again.final_config == r.final_config and [a["verified"] for a in again.attempts] == [a["verified"] for a in r.attempts]
    assert len(_runs(out)) == len(runs)


def test_early_stop_off_trains_every_run_to_its_end(tmp_path):
    out = str(tmp_path / "o")
    r = tune(WATCHED, cfg(lr=3.0), out=out, seeds=2, workers=1, early_stop=False, rounds=1)
    assert not any("stopped" in x for x in _runs(out).values())
    assert all(_runs(out)[(config_hash(r.initial_config), s)]["result"]["steps"] == 400 for s in r.seeds)


def test_watched_and_full_trainings_are_cached_apart(tmp_path):
    """A run the watch stopped is not a full-length run of the same config and seed."""
    cache = TrainingCache(str(tmp_path / "cache"), WATCHED.name, WATCHED.module_name)
    for watch, name in ((True, "w"), (False, "f")):
        out = str(tmp_path / name)
        runner = Runner(WATCHED, out, Journal(os.path.join(out, "journal.jsonl"), resume=False), 1, cache=cache, watch=watch)
        rec = runner.train_all(cfg(lr=3.0), [0])[0]
        assert ("stopped" in rec) == watch and not rec.get("cached")
    out = str(tmp_path / "again")
    runner = Runner(WATCHED, out, Journal(os.path.join(out, "journal.jsonl"), resume=False), 1, cache=cache, watch=True)
    rec = runner.train_all(cfg(lr=3.0), [0])[0]
    assert rec.get("cached") and rec["stopped"]["step"] < 400 and rec["result"]["steps"] < 400
    with open(os.path.join(out, "journal.jsonl")) as fh:
        assert any(json.loads(line).get("stopped") for line in fh)


def test_reference_trainer_stops_when_its_callback_returns_a_reason(tmp_path):
    pytest.importorskip("torch")
    import backends.torch_trainer as tt
    from tests.backends.trainer_helpers import TINY

    seen = []

    def callback(step, scalars):
        seen.append(step)
        return "enough" if len(seen) == 2 else None  # None (and any non-string) goes on

    r = tt.train(TINY, str(tmp_path), 0, callback=callback)
    assert r.stop_reason == "enough" and r.stopped_early and r.steps == seen[1] < 24
    assert len(seen) == 2 and r.final_val_loss == r.final_val_loss  # evaluated at the stop


def test_observed_steps_let_the_watch_confirm_sooner(tmp_path):
    """Fed every step through observe(), the watch sees the first steps' spike and confirms within
    two logging intervals; from the logging points alone it needs several more."""

    def feed(watch, observe):
        for i in range(400):
            loss = 2.3 if i == 0 else (2.3 * 50 if i < 4 else 2.31 + 0.01 * ((i * 7) % 3))
            s = {"train/loss": loss, "train/lr": 10.0}
            if observe:
                watch.observe(i, s)
            if i % 20 == 19 and watch(i, {**s, "val/loss": 2.31}):
                return i
        return None

    fine, coarse = feed(Watch(), True), feed(Watch(), False)
    assert fine is not None and fine <= 59
    assert coarse is None or coarse > fine


def test_a_run_stopped_for_a_nan_or_divergence_scores_as_diverged():
    from advisor.tune import metric_values

    def rec(condition):
        return {"ok": True, "result": {"final_val_loss": 1.2}, "stopped": {"step": 50, "condition": condition}}

    assert metric_values([rec("divergence"), rec("non-finite"), rec("lr-too-high"), {"ok": True, "result": {"final_val_loss": 0.5}}], "val_loss") == [
        float("inf"), float("inf"), 1.2, 0.5]  # lr-too-high: its metric at the stop (at chance), as it would end


def test_the_finding_a_run_was_stopped_for_stays_with_the_run():
    from advisor.tune.runner import with_stop_finding

    live = {"condition": "divergence", "severity": "critical", "summary": "live"}
    offline = [{"condition": "plateau", "severity": "info"}, {"condition": "divergence", "severity": "warning"}]
    assert with_stop_finding(offline, {"finding": live}) == [live, offline[0]]  # the stronger live one replaces it
    strong = [{"condition": "divergence", "severity": "critical", "summary": "offline"}]
    assert with_stop_finding(strong, {"finding": live}) == strong
    assert with_stop_finding(offline, None) == offline and with_stop_finding(offline, {"step": 3}) == offline


def test_a_falling_validation_loss_vetoes_an_lr_too_high_stop():
    """Heavy dropout: the train loss jumps and sits high (the live rule says lr-too-high), while the
    validation loss falls well below the start; Adam at 10: the validation loss falls back from an
    explosion, still far above the start. Only the second is stopped."""

    def feed(val):
        w = Watch()
        for i in range(400):
            s = {"train/loss": 2.3 if i == 0 else (2.3 * 50 if i < 4 else 2.31 + 0.01 * ((i * 7) % 3)), "train/lr": 10.0}
            w.observe(i, s)
            if i % 20 == 19 and w(i, {**s, "val/loss": val(i)}):
                return w
        return w

    dropout = feed(lambda i: max(0.5, 2.2 - 0.02 * i))
    assert dropout.reason is None and dropout.learning()
    exploded = feed(lambda i: 5000.0 / (1 + i))
    assert exploded.reason and "lr-too-high" in exploded.reason and not exploded.learning()


@pytest.mark.parametrize("flag", [[], ["--no-early-stop"]])
def test_cli_no_early_stop_flag(tmp_path, capsys, flag):
    from advisor.cli import main

    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg(lr=3.0)))
    out = str(tmp_path / "o")
    code = main(["tune", "--backend", "tests.fake_trainer:WATCHED", "--config", str(p), "--out", out, "--seeds", "2", "--rounds", "1", "--workers", "1", "--no-cache", "--format", "json", *flag])
    assert code in (0, 1)
    stopped = [x for x in _runs(out).values() if "stopped" in x]
    assert bool(stopped) == (not flag)


def test_a_train_loss_bounce_while_validation_falls_is_not_a_divergence_stop():
    """Batch 16 on overlapping spirals: the per-batch train loss falls to 0.25 and bounces back up
    to chance (0.68) over a few dozen steps, which the live divergence rule confirms, while the
    validation loss keeps falling; the run ends fine. A runaway whose validation rises with it is
    still stopped."""
    import numpy as np

    def feed(val, runaway):
        w = Watch()
        rng = np.random.default_rng(0)
        for i in range(600):
            base = 0.25 + 0.45 * np.exp(-i / 60)
            bump = (0.43 * min(1.0, (i - 450) / 45) if i >= 450 else 0.0) if not runaway else (0.02 * max(0, i - 450))
            s = {"train/loss": float(base + bump + 0.01 * rng.standard_normal()), "train/lr": 0.05}
            w.observe(i, s)
            if i % 31 == 30 and w(i, {**s, "val/loss": val(i)}):
                return w
        return w

    bounce = feed(lambda i: 0.3 + 0.4 * np.exp(-i / 80), runaway=False)
    assert bounce.reason is None and bounce.learning()
    runaway = feed(lambda i: 0.3 + 0.4 * np.exp(-i / 80) + (0.05 * max(0, i - 450)), runaway=True)
    assert runaway.reason and "divergence" in runaway.reason
