"""bench_tune's --target: which findings tune acts on for each recipe."""

from advisor.model import Severity
from benchmarks.bench_tune import _target


def test_recipe_target_follows_the_conditions_rule_severity():
    assert _target("recipe", "gradient-noise") == Severity.INFO  # advice-level: only info reaches it
    assert _target("recipe", "still-improving") == Severity.INFO
    assert _target("recipe", "lr-too-high") == Severity.WARNING  # anything above info acts from warning
    assert _target("recipe", "overfitting") == Severity.WARNING


def test_fixed_targets_ignore_the_recipe():
    assert _target("info", "overfitting") == Severity.INFO
    assert _target("warning", "gradient-noise") == Severity.WARNING
