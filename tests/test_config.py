import pytest

from advisor.config import AnalyzeConfig, from_mapping, load
from advisor.errors import UsageError
from advisor.model import Severity


def test_defaults_when_no_file(tmp_path):
    cfg = load(None, cwd=str(tmp_path))
    assert cfg == AnalyzeConfig() and cfg.fail_severity() == Severity.CRITICAL


def test_advisor_toml(tmp_path):
    (tmp_path / "advisor.toml").write_text('fail_on = "warning"\nignore = ["noisy-validation"]\n[signals]\ntrain_loss = "my/loss"\n[rules.overfitting]\npatience = 5\n')
    cfg = load(None, cwd=str(tmp_path))
    assert cfg.fail_on == "warning" and cfg.ignore == ("noisy-validation",)
    assert cfg.signals == {"train_loss": "my/loss"} and cfg.rules == {"overfitting": {"patience": 5}}


def test_pyproject_tool_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n[tool.advisor]\nselect = "overfitting, divergence"\n')
    assert load(None, cwd=str(tmp_path)).select == ("overfitting", "divergence")
    (tmp_path / "pyproject.toml").write_text('[project]\nname="x"\n')
    assert load(None, cwd=str(tmp_path)) == AnalyzeConfig()
    with pytest.raises(UsageError):
        load(str(tmp_path / "pyproject.toml"))


@pytest.mark.parametrize(
    "text",
    ["fail_on = 'loud'", "nonsense = 1", "num_classes = 1", "num_classes = 'ten'", "num_classes = 2.5", "[signals]\nfoo = 'x'", "[signals]\ntrain_loss = 3", "rules = 3", "select = [1, 2]", "this is not toml ==="],
)
def test_bad_configs_one_clear_error(tmp_path, text):
    p = tmp_path / "advisor.toml"
    p.write_text(text)
    with pytest.raises(UsageError) as e:
        load(str(p))
    assert "\n" not in str(e.value) and str(e.value)


def test_missing_file():
    with pytest.raises(UsageError):
        load("/nonexistent/advisor.toml")


def test_with_cli_overrides():
    cfg = from_mapping({"ignore": ["a"], "fail_on": "info"}).with_cli(select=("b",), ignore=("c",), fail_on="never")
    assert cfg.select == ("b",) and cfg.ignore == ("a", "c") and cfg.fail_severity() is None


# -- values that used to end in an internal error (exit 3) or silently switch a rule off ----------------


@pytest.mark.parametrize(
    "text",
    [
        "[rules.overfitting]\npatience = inf",
        "[rules.overfitting]\npatience = nan",
        "[rules.overfitting]\nmin_rise = -0.5",
        "[rules.overfitting]\nmin_rise = nan",
        "[rules.overfitting]\nmin_rise = 1e12",
        "[rules.divergence]\nmin_points = 99999999999",
        "[rules.no-learning]\ntrend_z = 3.0",
    ],
)
def test_rule_parameters_are_range_checked(tmp_path, text):
    from advisor.engine import Engine

    p = tmp_path / "advisor.toml"
    p.write_text(text)
    with pytest.raises(UsageError) as e:
        Engine.from_config(load(str(p)))
    assert "\n" not in str(e.value) and "parameter" in str(e.value)


def test_reasonable_rule_parameters_still_accepted(tmp_path):
    from advisor.engine import Engine

    p = tmp_path / "advisor.toml"
    p.write_text("[rules.overfitting]\npatience = 10\nmin_rise = 0.5\n[rules.no-learning]\ntrend_z = 0\n")
    engine = Engine.from_config(load(str(p)))
    params = {spec.id: prm for spec, prm in engine.rules}
    assert params["overfitting"].patience == 10 and params["overfitting"].min_rise == 0.5
    assert params["no-learning"].trend_z == 0.0


@pytest.mark.parametrize("text", ["tool = 5", "[tool]\nadvisor = 5", "[tool]\nadvisor = 'x'"])
@pytest.mark.parametrize("explicit", [True, False])
def test_malformed_pyproject_tool_tables(tmp_path, text, explicit):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(UsageError) as e:
        load(str(tmp_path / "pyproject.toml")) if explicit else load(cwd=str(tmp_path))
    assert "\n" not in str(e.value)


def test_num_classes_from_the_config_sets_the_chance_level_unless_the_run_declares_it(tmp_path):
    import numpy as np

    from advisor.engine import Engine
    from advisor.pipeline import diagnose_run
    from tests import synth

    steps = np.arange(400)
    loss = 0.2 + 9.0 * np.exp(-steps / 30)  # starts at 9.2: 4x ln 10, but only 2x ln 100
    (tmp_path / "advisor.toml").write_text("num_classes = 10\n")
    eng = Engine.from_config(load(None, cwd=str(tmp_path)))

    def bad_init(hparams=None):
        run = synth.run_of({"train/loss": (steps, loss)}, hparams=hparams)
        return {x.condition: x for x in diagnose_run(run, eng).report.findings}.get("bad-initial-loss")

    assert bad_init().evidence["classes"] == 10
    assert bad_init({"num_classes": 100}) is None  # the run's own hparams win over the config
    assert {x.condition for x in diagnose_run(synth.run_of({"train/loss": (steps, loss)}), Engine.from_config()).report.findings}.isdisjoint({"bad-initial-loss"})
