"""The first-seed futility look (issue 17's compute): when the starting seeds would train one
after another anyway, a candidate whose first seed is worse than every baseline seed and still
shows the condition is rejected without training its second seed."""

import math
import types

import pytest

from advisor.model import Severity
from advisor.tune import tune, load_trainer
from advisor.tune.sequential import first_seed_futile

from tests.test_tune_noise import BATCH1
from tests.test_tune_noise import _train as _noisy_train


@pytest.fixture(autouse=True)
def _no_training_cache(monkeypatch):
    monkeypatch.setenv("ADVISOR_CACHE", "off")


def test_rejects_a_first_seed_worse_than_every_baseline_seed_with_the_condition():
    d = first_seed_futile([0.30, 0.40], 0.45, True, persists=True)
    assert d is not None and d.state == "reject" and d.seeds == 1 and "futility" in d.reason
    higher = first_seed_futile([0.90, 0.92], 0.80, False, persists=True)  # accuracy: higher is better
    assert higher is not None and higher.state == "reject"


@pytest.mark.parametrize(
    "before, first, lower, persists",
    [
        ([0.30, 0.40], 0.35, True, True),  # better than one baseline seed: train the second seed
        ([0.30, 0.40], 0.40, True, True),  # a tie with the worst is not worse than every seed
        ([0.30, 0.40], 0.45, True, False),  # worse, the condition gone, within the baseline's range of the worst seed
        ([0.30], 0.45, True, True),  # one baseline seed: nothing to go on
        ([math.inf, math.inf], 0.45, True, True),  # every baseline seed diverged: any finite seed is better
        ([0.30, math.inf], 0.45, True, True),  # a diverged baseline seed is worse than the candidate
        ([0.90, 0.92], 0.95, False, True),  # accuracy above both
    ],
)
def test_leaves_the_decision_open_otherwise(before, first, lower, persists):
    assert first_seed_futile(before, first, lower, persists) is None


def test_without_the_condition_only_a_clearly_worse_seed_is_rejected():
    d = first_seed_futile([0.30, 0.40], 0.55, True, persists=False)  # beyond the worst by more than the range 0.1
    assert d is not None and d.state == "reject" and "range" in d.reason
    assert first_seed_futile([0.153, 0.153], 1.174, True, persists=False) is not None  # a tenfold rate cut on a settled run
    assert first_seed_futile([0.90, 0.92], 0.85, False, persists=False) is not None  # accuracy 0.05 under the worst, range 0.02


def test_a_diverged_first_seed_where_the_baseline_trained_is_rejected():
    d = first_seed_futile([0.30, 0.40], math.inf, True, persists=True)
    assert d is not None and d.state == "reject" and "diverged" in d.reason


def _worse_train(config, logdir, seed):
    """The noisy batch-1 trainer; the 'remedy' keeps batch 1 (the noise stays) and adds 1.0 to the loss."""
    res = _noisy_train({"batch_size": 1}, logdir, seed)
    bump = float(config.get("penalty", 0.0))
    return {**res, "final_val_loss": res["final_val_loss"] + bump, "best_val_loss": res["best_val_loss"] + bump}


def _worse_apply(config, remedy):
    c = dict(config)
    if remedy["action"] == "batch_size":
        c["penalty"] = 1.0
    return c


WORSE = types.SimpleNamespace(train=_worse_train, apply=_worse_apply, load_config=lambda p: {"batch_size": 1})


@pytest.mark.parametrize("workers, candidate_runs", [(1, 1), (2, 2)])
def test_a_worse_remedy_costs_one_training_when_seeds_run_one_at_a_time(tmp_path, workers, candidate_runs):
    r = tune(load_trainer("tests.test_tune_futility:WORSE"), {"batch_size": 1}, out=str(tmp_path / "o"), rounds=1, workers=workers, target=Severity.INFO, early_stop=False)
    tried = [a for a in r.attempts if a.get("applied", {}).get("action") == "batch_size"]
    assert len(tried) == 1 and not tried[0]["kept"]
    assert tried[0]["seeds"] == candidate_runs
    assert r.trainings == 2 + candidate_runs  # two baseline seeds and the candidate's
    assert r.final_config == {"batch_size": 1} and not r.verified
    if workers == 1:
        assert "futility" in tried[0]["decision"] and tried[0]["after"]["per_seed"][0] == pytest.approx(BATCH1[0] + 1.0)
    else:
        assert "not better on average" in tried[0]["decision"]
