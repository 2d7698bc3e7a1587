"""TrainConfig: load/save, overrides, validation, and apply() for every auto remedy (no framework needed)."""

from __future__ import annotations

import json

import pytest

from advisor import remedies as R
from advisor.model import Remedy
from backends.config import ConfigError, TrainConfig, apply, steps_per_epoch, total_steps
from backends.control import LIVE_ACTIONS, Control

from trainer_helpers import TINY


def test_defaults_validate_and_round_trip_json_and_toml(tmp_path):
    cfg = TrainConfig().with_overrides(["optim.betas=0.8,0.95", "schedule.milestones=[100, 200]", "model.kind=cnn"])
    for name in ("c.json", "c.toml"):
        cfg.save(tmp_path / name)
        assert TrainConfig.load(tmp_path / name) == cfg
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_overrides_coerce_types():
    cfg = TrainConfig().with_overrides({"optim.lr": "0.1", "data.shuffle": "off", "model.width": "64", "seed": 3})
    assert (cfg.optim.lr, cfg.data.shuffle, cfg.model.width, cfg.seed) == (0.1, False, 64, 3)
    assert TrainConfig().with_overrides(["schedule.milestones=0.5,0.75"]).schedule.milestones == (0.5, 0.75)


@pytest.mark.parametrize("override, needle", [
    (["optim.lr=-1"], "optim.lr"),
    (["optim.lr=abc"], "optim.lr"),
    (["model.kind=transformer"], "model.kind"),
    (["model.dropout=1.5"], "model.dropout"),
    (["nope.x=1"], "unknown key"),
    (["optim=1"], "section"),
    (["optim.lr"], "KEY=VALUE"),
    (["data.task=adding"], "model.kind"),
    (["data.n_train=2000"], "1797 samples"),
    (["data.batch_size=0"], "data.batch_size"),
])
def test_bad_values_raise_one_line_config_errors(override, needle):
    with pytest.raises(ConfigError) as err:
        TrainConfig().with_overrides(override)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_load_reports_unknown_keys_and_parse_errors(tmp_path):
    (tmp_path / "a.toml").write_text("[optim]\nlrr = 0.1\n")
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.load(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text("[optim\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        TrainConfig.load(tmp_path / "b.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        TrainConfig.load(tmp_path / "missing.toml")


# One sample remedy per auto action, and what it must change.
SAMPLES = {
    "scale_lr": (R.scale_lr(0.5), lambda a, b: b.optim.lr == a.optim.lr * 0.5),
    "lr_schedule": (R.lr_schedule("step", milestones=[10, 20], gamma=0.5), lambda a, b: (b.schedule.kind, b.schedule.milestones, b.schedule.gamma) == ("step", (10, 20), 0.5)),
    "warmup": (R.warmup(7), lambda a, b: b.schedule.warmup == 7),
    "clip_grad_norm": (R.clip_grad_norm(2.0), lambda a, b: b.optim.clip_norm == 2.0),
    "weight_decay": (R.weight_decay(0.01), lambda a, b: b.optim.weight_decay == 0.01),
    "dropout": (R.dropout(0.3), lambda a, b: b.model.dropout == 0.3),
    "batch_size": (R.batch_size(16), lambda a, b: b.data.batch_size == 16),
    "shuffle": (R.shuffle(False), lambda a, b: b.data.shuffle is False),
    "optimizer": (R.optimizer("momentum", lr=0.05), lambda a, b: (b.optim.name, b.optim.lr) == ("momentum", 0.05)),
    "early_stop": (R.early_stop(step=12, patience=3), lambda a, b: (b.early_stop.step, b.early_stop.patience, b.early_stop.restore_best) == (12, 3, True)),
    "train_longer": (R.train_longer(2), lambda a, b: b.train.epochs == 2 * a.train.epochs),
    "capacity": (R.capacity(width_factor=2, depth_delta=1), lambda a, b: (b.model.width, b.model.depth) == (2 * a.model.width, a.model.depth + 1)),
    "activation": (R.activation("tanh"), lambda a, b: b.model.activation == "tanh"),
    "normalization": (R.normalization("layernorm"), lambda a, b: b.model.norm == "layernorm"),
    "residual": (R.residual(True), lambda a, b: b.model.residual is True),
    "sanitize_inputs": (R.sanitize_inputs(), lambda a, b: b.data.sanitize is True),
}


def test_every_auto_action_has_a_sample():
    assert set(SAMPLES) == set(R.AUTO_ACTIONS)


@pytest.mark.parametrize("action", sorted(SAMPLES))
def test_apply_patches_what_the_remedy_claims(action):
    remedy, check = SAMPLES[action]
    before = TINY
    after = apply(before, remedy)
    assert check(before, after)
    assert before == TINY  # pure
    # The dict form (as JSON reports carry it) is accepted too.
    assert apply(before, {"action": remedy.action, "params": dict(remedy.params)}) == after


@pytest.mark.parametrize("remedy, needle", [
    ({"action": "nope"}, "unknown remedy"),
    ({"action": "check_data", "params": {"what": "labels"}}, "manual"),
    ({"action": "scale_lr", "params": {}}, "missing parameter"),
    ({"action": "scale_lr", "params": {"factor": -2}}, "positive"),
    ({"action": "scale_lr", "params": {"factor": 2, "x": 1}}, "unknown parameter"),
    ({"action": "optimizer", "params": {"name": "lbfgs"}}, "optim.name"),
    ({"action": "dropout", "params": {"rate": 1.0}}, "model.dropout"),
    ({"action": "early_stop", "params": {}}, "step and/or patience"),
    ("scale_lr", "a remedy is"),
])
def test_apply_rejects_bad_remedies(remedy, needle):
    with pytest.raises(ConfigError, match=needle):
        apply(TINY, remedy)


def test_train_longer_stretches_a_run_length_horizon_but_not_a_chosen_one():
    run = total_steps(TINY)
    follows = TINY.with_overrides({"schedule.horizon": run})
    assert apply(follows, R.train_longer(2)).schedule.horizon == 2 * run
    quarter = TINY.with_overrides({"schedule.horizon": run // 4})
    assert apply(quarter, R.train_longer(2)).schedule.horizon == run // 4
    assert apply(TINY.with_overrides({"train.max_steps": 10}), R.train_longer(3)).train.max_steps == 30


def test_run_length():
    assert steps_per_epoch(TINY) == 8 and total_steps(TINY) == 24
    assert total_steps(TINY.with_overrides({"train.max_steps": 5})) == 5


def test_control_accepts_live_remedies_and_rejects_the_rest():
    c = Control()
    assert set(LIVE_ACTIONS) == {"scale_lr", "lr_schedule", "clip_grad_norm", "weight_decay", "early_stop"}
    c.submit(R.scale_lr(0.1))
    c.submit({"action": "clip_grad_norm", "params": {"max_norm": 1.0}})
    with pytest.raises(ConfigError, match="restart"):
        c.submit(R.dropout(0.5))
    with pytest.raises(ConfigError, match="unknown"):
        c.submit(Remedy("nope"))
    assert [r.action for r in c.drain()] == ["scale_lr", "clip_grad_norm"] and c.drain() == []
    assert c.stop_requested is None
    c.stop("enough")
    assert c.stop_requested == "enough"


def test_both_packages_export_the_tune_protocol_on_dicts(tmp_path):
    """advisor.tune calls train/apply/load_config on the package with plain dicts (no framework imported)."""
    import backends.flax_trainer as jx
    import backends.torch_trainer as pt

    TINY.save(tmp_path / "c.toml")
    for mod in (pt, jx):
        d = mod.load_config(str(tmp_path / "c.toml"))
        assert d == TINY.to_dict()
        patched = mod.apply(d, {"action": "scale_lr", "params": {"factor": 0.5}})
        assert isinstance(patched, dict) and patched["optim"]["lr"] == pytest.approx(d["optim"]["lr"] * 0.5)
        assert callable(mod.train)
    with pytest.raises(ConfigError):
        pt.apply(TINY.to_dict(), {"action": "check_data", "params": {}})


def test_task_sizes_sit_below_config_and_tasks():
    """taskspec imports neither config nor tasks, so the two no longer import each other."""
    import subprocess
    import sys

    code = "import sys, backends.taskspec; print(sorted(m for m in sys.modules if m in ('backends.config', 'backends.tasks')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

