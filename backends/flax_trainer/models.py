"""flax.nnx models built from a :class:`~backends.config.ModelConfig`, mirroring the torch ones layer for layer.

Inputs are channels-last (images NHWC, sequences NTC). ``model(x, train)`` takes ``train`` as a
Python bool, so the training and evaluation paths compile separately and carry no branches.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from backends import arch
from backends.config import ModelConfig
from backends.tasks import Dataset

_ACTIVATIONS = {"relu": jax.nn.relu, "elu": jax.nn.elu, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
                "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


def initializer(spec: arch.InitSpec) -> jax.nn.initializers.Initializer:
    if spec.kind == "orthogonal":
        return jax.nn.initializers.orthogonal(scale=spec.scale)
    if spec.kind == "normal":
        return jax.nn.initializers.normal(stddev=spec.scale)
    return jax.nn.initializers.variance_scaling(spec.scale, spec.mode, "normal")


def _norm(kind: str, features: int, rngs: nnx.Rngs, conv: bool = False) -> nnx.Module | None:
    if kind == "batchnorm":  # torch's defaults: momentum 0.1 (flax counts it the other way), eps 1e-5
        return nnx.BatchNorm(features, momentum=0.9, epsilon=1e-5, rngs=rngs)
    if kind == "layernorm":
        return nnx.GroupNorm(features, num_groups=1, epsilon=1e-5, rngs=rngs) if conv else nnx.LayerNorm(features, epsilon=1e-5, rngs=rngs)
    return None


class Block(nnx.Module):
    """Linear (or 3x3 conv) -> norm -> activation -> dropout, with an optional identity skip."""

    def __init__(self, cfg: ModelConfig, d_in: int, index: int, rngs: nnx.Rngs, conv: bool = False) -> None:
        init = initializer(arch.init_spec(cfg))
        if conv:
            self.conv = nnx.Conv(d_in, cfg.width, (3, 3), padding="SAME", kernel_init=init, rngs=rngs)
        else:
            self.linear = nnx.Linear(d_in, cfg.width, kernel_init=init, rngs=rngs)
        self.is_conv = conv
        self.norm = _norm(cfg.norm, cfg.width, rngs, conv)
        self.act = _ACTIVATIONS[cfg.activation]
        self.drop = nnx.Dropout(cfg.dropout, rngs=rngs) if cfg.dropout and not conv else None
        self.pool = conv and index < arch.CNN_POOLED_BLOCKS
        self.residual = arch.block_residual(cfg, index)

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        h = self.conv(x) if self.is_conv else self.linear(x)
        if self.norm is not None:
            h = self.norm(h, use_running_average=not train) if isinstance(self.norm, nnx.BatchNorm) else self.norm(h)
        h = self.act(h)
        if self.drop is not None:
            h = self.drop(h, deterministic=not train)
        h = x + h if self.residual else h
        return nnx.max_pool(h, (2, 2), strides=(2, 2)) if self.pool else h


class MLP(nnx.Module):
    def __init__(self, cfg: ModelConfig, d_in: int, d_out: int, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.List([Block(cfg, d_in if i == 0 else cfg.width, i, rngs) for i in range(cfg.depth)])
        self.head = nnx.Linear(cfg.width, d_out, kernel_init=initializer(arch.head_init(cfg)), rngs=rngs)

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = x.reshape(x.shape[0], -1)
        for block in self.hidden:
            x = block(x, train)
        return self.head(x)


class CNN(nnx.Module):
    def __init__(self, cfg: ModelConfig, channels: int, d_out: int, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.List([Block(cfg, channels if i == 0 else cfg.width, i, rngs, conv=True) for i in range(cfg.depth)])
        self.drop = nnx.Dropout(cfg.dropout, rngs=rngs)
        self.head = nnx.Linear(arch.cnn_flat_size(cfg), d_out, kernel_init=initializer(arch.head_init(cfg)), rngs=rngs)

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        for block in self.hidden:
            x = block(x, train)
        return self.head(self.drop(x.reshape(x.shape[0], -1), deterministic=not train))


class RecurrentLayer(nnx.Module):
    """One recurrent layer: ``rnn`` scans a SimpleCell or LSTMCell over time."""

    def __init__(self, cfg: ModelConfig, d_in: int, rngs: nnx.Rngs) -> None:
        kinit = initializer(arch.init_spec(cfg))
        rinit = initializer(arch.init_spec(cfg, recurrent_weight=True))
        if cfg.kind == "lstm":
            cell = nnx.LSTMCell(d_in, cfg.width, kernel_init=kinit, recurrent_kernel_init=rinit, rngs=rngs)
        else:
            cell = nnx.SimpleCell(d_in, cfg.width, activation_fn=_ACTIVATIONS[cfg.activation],
                                  kernel_init=kinit, recurrent_kernel_init=rinit, rngs=rngs)
        self.rnn = nnx.RNN(cell)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.rnn(x)


class Recurrent(nnx.Module):
    def __init__(self, cfg: ModelConfig, d_in: int, d_out: int, rngs: nnx.Rngs) -> None:
        self.hidden = nnx.List([RecurrentLayer(cfg, d_in if i == 0 else cfg.width, rngs) for i in range(cfg.depth)])
        self.residual = cfg.residual
        self.drop = nnx.Dropout(cfg.dropout, rngs=rngs)
        self.norm = _norm(cfg.norm, cfg.width, rngs)
        self.head = nnx.Linear(cfg.width, d_out, kernel_init=initializer(arch.head_init(cfg)), rngs=rngs)

    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        last = len(self.hidden) - 1
        for i, layer in enumerate(self.hidden):
            h = layer(x)
            h = self.drop(h, deterministic=not train) if i < last else h
            x = x + h if self.residual and i > 0 else h
        h = x[:, -1]
        if self.norm is not None:
            h = self.norm(h, use_running_average=not train) if isinstance(self.norm, nnx.BatchNorm) else self.norm(h)
        return self.head(self.drop(h, deterministic=not train))


def build_model(cfg: ModelConfig, data: Dataset, seed: int) -> nnx.Module:
    rngs = nnx.Rngs(params=seed, dropout=seed + 1)
    if cfg.kind == "mlp":
        return MLP(cfg, math.prod(data.input_shape), data.out_dim, rngs)
    if cfg.kind == "cnn":
        return CNN(cfg, data.input_shape[-1], data.out_dim, rngs)
    return Recurrent(cfg, data.input_shape[-1], data.out_dim, rngs)
