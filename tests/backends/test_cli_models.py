"""The trainers' command line (SPEC §5) and model-level behaviour (dropout only while training)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from backends.tasks import build
from trainer_helpers import BACKENDS, TINY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, needle", [
    (["--set", "optim.lr=-1"], "optim.lr"),
    (["--set", "model.kind=transformer"], "model.kind"),
    (["--config", "/nonexistent/x.toml"], "cannot read"),
    (["--set", "optim.lr"], "KEY=VALUE"),
])
def test_bad_configs_exit_2_with_one_line(tmp_path, args, needle):
    p = _cli(BACKENDS["torch"], "--logdir", str(tmp_path), *args)
    assert p.returncode == 2 and needle in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_missing_logdir_is_a_usage_error():
    p = _cli(BACKENDS["jax"])
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "--logdir" in p.stderr


def test_cli_trains_from_a_config_file_and_prints_a_summary(tmp_path):
    TINY.save(tmp_path / "tiny.toml")
    p = _cli(BACKENDS["torch"], "--config", str(tmp_path / "tiny.toml"), "--set", "train.epochs=1",
             "--logdir", str(tmp_path / "run"), "--seed", "2")
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert "best val loss" in line and "test loss" in line and "8 steps" in line
    assert os.path.exists(tmp_path / "run" / "config.json")


def test_torch_dropout_only_in_training():
    import torch

    from backends.torch_trainer.models import build_model

    cfg = TINY.with_overrides({"model.dropout": 0.5})
    data = build(cfg.data)
    model = build_model(cfg.model, data)
    x = torch.as_tensor(data.x_val[:16])
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_flax_dropout_only_in_training():
    from backends.flax_trainer.models import build_model

    cfg = TINY.with_overrides({"model.dropout": 0.5})
    data = build(cfg.data)
    model = build_model(cfg.model, data, seed=0)
    x = data.x_val[:16]
    assert not np.array_equal(np.asarray(model(x, train=True)), np.asarray(model(x, train=True)))
    assert np.array_equal(np.asarray(model(x, train=False)), np.asarray(model(x, train=False)))


@pytest.mark.parametrize("kind", ["cnn", "lstm", "rnn"])
def test_other_architectures_build_the_same_layers_in_both_frameworks(kind):
    import jax
    from flax import nnx

    from backends.flax_trainer.engine import _layer_of
    from backends.torch_trainer.models import build_model as torch_model
    from backends.flax_trainer.models import build_model as flax_model

    over = {"model.kind": kind, "model.width": 8, "model.norm": "layernorm"}
    if kind != "cnn":
        over |= {"data.task": "adding", "data.seq_len": 6, "model.activation": "tanh"}
    cfg = TINY.with_overrides(over)
    data = build(cfg.data)
    t = torch_model(cfg.model, data)
    torch_layers = {n.rsplit(".", 1)[0] for n, _ in t.named_parameters()}
    _, params, _ = nnx.split(flax_model(cfg.model, data, 0), nnx.Param, ...)
    flax_layers = {_layer_of(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
    assert torch_layers == flax_layers
    n_torch = sum(p.numel() for p in t.parameters())
    n_flax = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
    # torch's nn.RNN/LSTM carry two bias vectors where flax's cells carry one.
    assert n_torch == n_flax or (kind != "cnn" and 0 < n_torch - n_flax <= 4 * 8 * cfg.model.depth)
