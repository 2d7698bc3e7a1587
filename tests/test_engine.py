import pytest

from advisor import remedies as R
from advisor.config import AnalyzeConfig
from advisor.engine import Engine, rank, resolve, severity_at_least
from advisor.errors import UsageError
from advisor.model import Finding, Severity


def F(cond, sev=Severity.WARNING, conf=0.5, onset=0, **ev):
    return Finding(cond, sev, conf, f"{cond} seen", ev, (R.scale_lr(0.1),), onset)


def test_rank_by_severity_confidence_onset():
    out = rank([F("a", Severity.INFO, 0.9), F("b", Severity.CRITICAL, 0.1), F("c", Severity.WARNING, 0.8, 5), F("d", Severity.WARNING, 0.8, 1)])
    assert [f.condition for f in out] == ["b", "d", "c", "a"]
    assert [f.priority for f in out] == [1, 2, 3, 4]


def test_conflicts_drop_moot_findings():
    out = resolve([F("overfitting"), F("still-improving", Severity.INFO, 0.9), F("underfitting")])
    assert [f.condition for f in out] == ["overfitting"]
    out = resolve([F("non-finite", Severity.CRITICAL, cause="inputs"), F("plateau"), F("oscillation"), F("gradient-noise", Severity.INFO)])
    assert [f.condition for f in out] == ["non-finite"]


def test_root_cause_ranked_first_and_severity_raised():
    out = resolve([F("no-learning", Severity.CRITICAL, 0.9), F("vanishing-gradients", Severity.WARNING, 0.6)])
    assert [f.condition for f in out] == ["vanishing-gradients", "no-learning"]
    assert out[0].severity == Severity.CRITICAL and out[0].evidence["explains"] == ["no-learning"]
    assert out[1].evidence["explained_by"] == "vanishing-gradients"


def test_causes_of_the_issue_rank_before_their_symptoms():
    # class-sorted data that never learns: the order first, never "raise the lr" first
    out = resolve([F("no-learning", Severity.CRITICAL, 0.95), F("unshuffled-data", Severity.WARNING, 0.6)])
    assert [f.condition for f in out] == ["unshuffled-data", "no-learning"] and out[0].severity == Severity.CRITICAL
    out = resolve([F("val-below-train", Severity.INFO, 0.9), F("data-mismatch", Severity.WARNING, 0.6)])
    assert [f.condition for f in out] == ["data-mismatch", "val-below-train"]
    out = resolve([F("noisy-validation", Severity.INFO, 0.9), F("lr-decay-needed", Severity.INFO, 0.5)])
    assert [f.condition for f in out] == ["lr-decay-needed", "noisy-validation"]


def test_a_fault_in_the_runs_input_ranks_before_optimisation_findings_of_its_severity():
    # a first loss of 22 from a biased head (info) before a confident lr-decay suggestion (info);
    # corrupted train labels (data-mismatch) before the slow loss they make; severity still first
    out = resolve([F("lr-decay-needed", Severity.INFO, 0.93), F("bad-initial-loss", Severity.INFO, 0.67)])
    assert [f.condition for f in out] == ["bad-initial-loss", "lr-decay-needed"]
    out = resolve([F("slow-convergence", Severity.WARNING, 0.9), F("data-mismatch", Severity.WARNING, 0.6)])
    assert [f.condition for f in out] == ["data-mismatch", "slow-convergence"]
    out = resolve([F("overfitting", Severity.WARNING, 0.6), F("bad-initial-loss", Severity.INFO, 0.99)])
    assert [f.condition for f in out] == ["overfitting", "bad-initial-loss"]
    # a val set too small (validation jumping 10x as much as the train loss, relative to their levels)
    # before a suggestion to decay the rate read off the train loss; at 1.7x the weights bouncing at a
    # constant rate move both, and confidence decides
    nv = dict(late_noise_over_level=0.38, late_noise_over_train=10.0)
    out = resolve([F("lr-decay-needed", Severity.INFO, 0.92), F("noisy-validation", Severity.INFO, 0.87, **nv)])
    assert [f.condition for f in out] == ["noisy-validation", "lr-decay-needed"]
    nv["late_noise_over_train"] = 1.7
    out = resolve([F("lr-decay-needed", Severity.INFO, 0.92), F("noisy-validation", Severity.INFO, 0.87, **nv)])
    assert [f.condition for f in out] == ["lr-decay-needed", "noisy-validation"]
    out = resolve([F("lr-decay-needed", Severity.INFO, 0.92), F("noisy-validation", Severity.INFO, 0.6, late_noise_over_level=0.2, val_set_size_from_accuracy=20)])
    assert [f.condition for f in out] == ["noisy-validation", "lr-decay-needed"]


def test_underfitting_explains_the_flat_end_a_decay_would_barely_lower():
    out = resolve([F("lr-decay-needed", Severity.INFO, 0.93), F("underfitting", Severity.INFO, 0.6)])
    assert [f.condition for f in out] == ["underfitting", "lr-decay-needed"]
    assert out[1].evidence["explained_by"] == "underfitting"


def test_nonfinite_cause_must_match_to_be_explained():
    out = resolve([F("non-finite", Severity.CRITICAL, 0.99, 10, cause="inputs"), F("exploding-gradients", Severity.CRITICAL, 0.5, 10)])
    assert "explained_by" not in out[[f.condition for f in out].index("non-finite")].evidence
    out = resolve([F("non-finite", Severity.CRITICAL, 0.99, 10, cause="exploding"), F("exploding-gradients", Severity.CRITICAL, 0.5, 8)])
    assert [f.condition for f in out] == ["exploding-gradients", "non-finite"]


def test_duplicates_merge_remedies():
    a = Finding("plateau", Severity.WARNING, 0.4, "a", {}, (R.scale_lr(3),), 0)
    b = Finding("plateau", Severity.WARNING, 0.7, "b", {}, (R.optimizer("adam"),), 0)
    out = resolve([a, b])
    assert len(out) == 1 and out[0].summary == "b" and [r.action for r in out[0].remedies] == ["optimizer", "scale_lr"]


def test_engine_select_ignore_and_params():
    e = Engine.from_config(AnalyzeConfig(select=("overfitting", "divergence")))
    assert {s.id for s, _ in e.rules} == {"overfitting", "divergence"}
    e = Engine.from_config(AnalyzeConfig(ignore=("overfitting",)))
    assert "overfitting" not in {s.id for s, _ in e.rules}
    e = Engine.from_config(AnalyzeConfig(rules={"overfitting": {"patience": 7}}))
    params = dict((s.id, p) for s, p in e.rules)["overfitting"]
    assert params.patience == 7


@pytest.mark.parametrize(
    "cfg",
    [
        AnalyzeConfig(select=("nope",)),
        AnalyzeConfig(rules={"overfitting": {"nope": 1}}),
        AnalyzeConfig(rules={"overfitting": {"patience": "x"}}),
        AnalyzeConfig(rules={"overfitting": {"patience": 2.5}}),
    ],
)
def test_engine_rejects_bad_config(cfg):
    with pytest.raises(UsageError):
        Engine.from_config(cfg)


def test_severity_at_least():
    fs = [F("a", Severity.WARNING)]
    assert severity_at_least(fs, Severity.WARNING) and not severity_at_least(fs, Severity.CRITICAL)
    assert not severity_at_least(fs, None)


def test_failing_rule_is_a_problem_not_a_crash(monkeypatch):
    from advisor.rules import base
    from tests import synth
    from advisor.pipeline import diagnose_run

    e = Engine.from_config()
    spec, params = e.rules[0]
    broken = base.RuleSpec(spec.id, spec.severity, spec.signals, spec.params, lambda ctx, p: 1 / 0, spec.doc)
    e2 = Engine(((broken, params),) + e.rules[1:], e.sweep_rules)
    run = synth.run_of(synth.overfitting(0))
    report = diagnose_run(run, e2).report
    assert any("ZeroDivisionError" in p for p in report.problems)
    assert "overfitting" in [f.condition for f in report.findings]


def test_nice_factor():
    from advisor.rules.base import nice_factor

    assert nice_factor(1 / 10.8) == 0.1 and nice_factor(0.3) == 0.2 and nice_factor(0.04) == 0.05
    assert nice_factor(1e-5) == 0.01 and nice_factor(3.0) == 0.5 and nice_factor(float("nan")) == 0.01


def test_a_lower_finding_may_not_turn_a_knob_the_first_one_set():
    def G(cond, sev, *rems):
        return Finding(cond, sev, 0.6, f"{cond} seen", {}, rems, 0)

    # an overfitting run whose validation also sits below train: raise dropout, not remove it
    out = resolve([
        G("val-below-train", Severity.INFO, R.dropout(0.0), R.larger_val_set()),
        G("overfitting", Severity.WARNING, R.weight_decay(5e-4), R.dropout(0.3)),
    ])
    assert [f.condition for f in out] == ["overfitting", "val-below-train"]
    assert [r.action for r in out[0].remedies] == ["weight_decay", "dropout"]
    assert [r.action for r in out[1].remedies] == ["larger_val_set"]
    # a rate lowered first is not raised after; a second cut of it stays
    out = resolve([G("lr-too-high", Severity.CRITICAL, R.scale_lr(0.1)), G("noisy-validation", Severity.INFO, R.scale_lr(3.0), R.warmup(100)),
                   G("oscillation", Severity.WARNING, R.scale_lr(0.3))])
    assert [[r.params.get("factor") for r in f.remedies] for f in out] == [[0.1], [0.3], [None]]


def test_a_lasting_plateau_drops_still_improving_but_an_early_one_does_not():
    out = resolve([F("plateau", Severity.INFO, 0.4, form="lasting"), F("still-improving", Severity.INFO, 0.8)])
    assert [f.condition for f in out] == ["plateau"]
    out = resolve([F("plateau", Severity.WARNING, 0.6, form="early"), F("still-improving", Severity.INFO, 0.8)])
    assert sorted(f.condition for f in out) == ["plateau", "still-improving"]


def test_a_rate_far_too_high_keeps_the_no_learning_it_explains_ranked_after_it():
    # readers of runs whose loss jumped at the first steps and then sat at ln C name both (extra30's
    # BERT fine-tune at lr 1e-3, extra31's CNN at batch 4): the cause first, the symptom linked to it
    out = resolve([F("no-learning", Severity.CRITICAL, 0.9), F("lr-too-high", Severity.CRITICAL, 0.7), F("underfitting", Severity.INFO)])
    assert [f.condition for f in out] == ["lr-too-high", "no-learning"]
    assert out[1].evidence["explained_by"] == "lr-too-high"
