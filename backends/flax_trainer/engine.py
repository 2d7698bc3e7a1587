"""The JAX/Flax engine: a whole logging interval (an epoch by default) is one jit-compiled ``lax.scan``.

The nnx model is split once into (graphdef, params, rest) — ``rest`` holds batch statistics and
dropout RNG state — and the scan body is pure JAX: merge, forward, ``value_and_grad``, an optax
chain (``clip_by_global_norm`` -> ``clip`` -> weight decay -> optimizer [-> lookahead]) wrapped
in ``inject_hyperparams`` so that the learning rate (fed per step from the shared schedule),
weight decay and clipping thresholds are state, not constants: changing them never recompiles.
Per-step loss, accuracy, global and per-layer gradient norms and the update ratio come back as
arrays. One interval length for the whole run, with the last interval padded by inactive steps
(``lax.cond`` skips them), means one compilation per run shape.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from backends.config import ConfigError, OptimConfig, TrainConfig
from backends.flax_trainer.models import build_model
from backends.loop import Chunk, nan_rows
from backends.schedule import Schedule
from backends.tasks import Dataset

LOOKAHEAD_K, LOOKAHEAD_ALPHA = 6, 0.5


class LookaheadState(NamedTuple):
    slow: Any
    count: jax.Array


def lookahead(k: int = LOOKAHEAD_K, alpha: float = LOOKAHEAD_ALPHA) -> optax.GradientTransformation:
    """Lookahead (Zhang et al., 2019) as the last link of a chain: the chain's update is the fast step;
    every k steps the slow weights move alpha of the way to the fast ones and the fast ones jump there.
    (``optax.lookahead`` needs a LookaheadParams tree; this keeps plain params, like torch's wrapper.)"""

    def init(params: Any) -> LookaheadState:
        return LookaheadState(jax.tree.map(jnp.array, params), jnp.zeros([], jnp.int32))

    def update(updates: Any, state: LookaheadState, params: Any = None) -> tuple[Any, LookaheadState]:
        fast = optax.apply_updates(params, updates)
        count = state.count + 1
        sync = count % k == 0
        slow = jax.tree.map(lambda s, f: jnp.where(sync, s + alpha * (f - s), s), state.slow, fast)
        new = jax.tree.map(lambda s, f: jnp.where(sync, s, f), slow, fast)
        return jax.tree.map(lambda n, p: n - p, new, params), LookaheadState(slow, count)

    return optax.GradientTransformation(init, update)


def _inf_if_off(v: float) -> float:
    return v if v > 0 else math.inf


def make_tx(cfg: OptimConfig) -> optax.GradientTransformation:
    """The optax chain for ``cfg`` with lr, weight decay and clip thresholds injected as state."""
    b1, b2 = cfg.betas
    name = cfg.name

    def factory(learning_rate: Any, weight_decay: Any, max_norm: Any, clip_value: Any) -> optax.GradientTransformation:
        links = [optax.clip_by_global_norm(max_norm), optax.clip(clip_value)]
        if name == "adamw":
            links.append(optax.adamw(learning_rate, b1, b2, cfg.eps, weight_decay=weight_decay))
        else:
            links.append(optax.add_decayed_weights(weight_decay))  # L2 on the gradient, as torch's weight_decay
            if name == "sgd":
                links.append(optax.sgd(learning_rate))
            elif name == "momentum":
                links.append(optax.sgd(learning_rate, momentum=cfg.momentum))
            elif name == "adam":
                links.append(optax.adam(learning_rate, b1, b2, cfg.eps))
            elif name == "rmsprop":
                links.append(optax.rmsprop(learning_rate, decay=b2, eps=cfg.eps, eps_in_sqrt=False))
            elif name == "adagrad":
                links.append(optax.adagrad(learning_rate, initial_accumulator_value=0.0, eps=1e-10))
            elif name == "adadelta":
                links.append(optax.adadelta(learning_rate, rho=0.9, eps=1e-6))
            else:  # radam, ranger
                links.append(optax.radam(learning_rate, b1, b2, cfg.eps))
                if name == "ranger":
                    links.append(lookahead())
        return optax.chain(*links)

    return optax.inject_hyperparams(factory)(
        learning_rate=cfg.lr, weight_decay=cfg.weight_decay,
        max_norm=_inf_if_off(cfg.clip_norm), clip_value=_inf_if_off(cfg.clip_value),
    )


def resolve_device(name: str) -> jax.Device:
    if name == "auto":
        return jax.devices()[0]  # the default backend: GPU or TPU when present
    platform = {"cuda": "gpu", "gpu": "gpu", "tpu": "tpu", "cpu": "cpu"}[name]
    try:
        return jax.devices(platform)[0]
    except RuntimeError:
        raise ConfigError(f"device: {name!r} requested but jax has no {platform} backend") from None


def data_parallel_devices(dev: jax.Device, batch_size: int) -> list[jax.Device]:
    """Every device of ``dev``'s platform in this process, when there are several and the batch
    splits evenly over them (data parallel); else ``[dev]`` alone."""
    devices = jax.local_devices(backend=dev.platform)
    if len(devices) > 1 and batch_size % len(devices) == 0:
        return devices
    return [dev]


def _layer_of(path: tuple[Any, ...]) -> str:
    keys = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
    keys = [k for k in keys if k != "value"]  # Variable.value
    if "rnn" in keys:  # a recurrent layer's cell holds several dense sublayers; torch's nn.RNN is one layer
        return ".".join(keys[: keys.index("rnn") + 1])
    return ".".join(keys[:-1])


def _task_loss(out: jax.Array, y: jax.Array, regression: bool) -> tuple[jax.Array, jax.Array]:
    if regression:
        return jnp.mean((out - y) ** 2), jnp.zeros(())
    loss = optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
    return loss, jnp.mean(jnp.argmax(out, -1) == y)


class FlaxEngine:
    """Implements :class:`backends.loop.Engine` for JAX/Flax."""

    def __init__(self, cfg: TrainConfig, data: Dataset, schedule: Schedule, steps_per_epoch: int) -> None:
        self.dev = resolve_device(cfg.device)
        # Data parallel over the platform's devices: parameters and data replicated, each step's
        # batch split along its rows (jax.sharding); XLA inserts the gradient all-reduce. The
        # loss, batch statistics and gradients are those of the whole batch, as on one device.
        devices = data_parallel_devices(self.dev, min(cfg.data.batch_size, len(data.x_train)))
        mesh = Mesh(np.array(devices), ("data",))
        self._replicated = NamedSharding(mesh, P())
        self._batch_rows = NamedSharding(mesh, P(None, "data"))  # (steps, batch) row indices
        self.n_devices = len(devices)
        self.device = f"{self.dev.platform}:{self.dev.id}" if len(devices) == 1 else f"{self.dev.platform}:0-{len(devices) - 1} (data parallel)"
        self.cfg = cfg
        self.regression = data.regression
        with jax.default_device(self.dev):
            model = build_model(cfg.model, data, cfg.seed)
            self.graphdef, params, rest = nnx.split(model, nnx.Param, ...)
            self.tx = make_tx(cfg.optim)
            opt_state = self.tx.init(params)
            # Strongly typed hyperparameters: the scan writes float32 lrs into them, and a weak type
            # on the first call would make the second call compile again.
            hp = {k: jnp.asarray(v, jnp.float32) for k, v in opt_state.hyperparams.items()}
            # Committed to the device from the start, so the first and later calls share one compilation.
            self.carry = jax.device_put((params, rest, opt_state._replace(hyperparams=hp)), self._replicated)
        put = lambda a: jax.device_put(a, self._replicated)  # noqa: E731
        self.data = {s: (put(x), put(y)) for s, x, y in (("train", data.x_train, data.y_train),
                                                        ("val", data.x_val, data.y_val),
                                                        ("test", data.x_test, data.y_test))}
        paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        names = [_layer_of(p) for p in paths]
        self.layer_names = list(dict.fromkeys(names))
        self._leaf_layer = np.array([self.layer_names.index(n) for n in names], dtype=np.int32)
        n_bad = nan_rows(cfg, min(cfg.data.batch_size, len(data.x_train)))
        self._train = self._make_train_chunk(n_bad)
        self._eval = self._make_eval()

    # -- compiled functions ------------------------------------------------------------------------

    def _make_train_chunk(self, n_bad: int):
        static = replace(self.cfg.optim, lr=0.0, weight_decay=0.0, clip_norm=0.0, clip_value=0.0)
        fn = _train_chunk_fn(self.graphdef, static, self.regression, tuple(int(i) for i in self._leaf_layer),
                             self.dev.platform != "cpu")
        # Pipeline switches are traced arguments: a NaN-injection or sanitize run reuses the compilation.
        return functools.partial(fn, n_bad=jnp.int32(n_bad), sanitize=jnp.bool_(self.cfg.data.sanitize))

    def _make_eval(self):
        return _eval_fn(self.graphdef, self.regression)

    # -- Engine protocol -------------------------------------------------------------------------

    def run_chunk(self, chunk: Chunk) -> dict[str, np.ndarray]:
        x, y = self.data["train"]
        idx = jax.device_put(chunk.indices, self._batch_rows)
        self.carry, metrics = self._train(self.carry, x, y, idx, chunk.lr, chunk.nan, chunk.active)
        loss, acc, grad_norm, layer_norm, ratio = jax.device_get(metrics)  # one host sync per interval
        n = chunk.n
        out = {"loss": loss[:n], "grad_norm": grad_norm[:n], "update_ratio": ratio[:n]}
        if not self.regression:
            out["accuracy"] = acc[:n]
        for j, name in enumerate(self.layer_names):
            out[f"layer/{name}"] = layer_norm[:n, j]
        return out

    def evaluate(self, split: str) -> tuple[float, float | None]:
        params, rest, _ = self.carry
        x, y = self.data[split]
        loss, acc = jax.device_get(self._eval(params, rest, x, y))
        return float(loss), None if self.regression else float(acc)

    def snapshot(self) -> Any:
        params, rest, _ = self.carry
        return jax.tree.map(jnp.copy, (params, rest))

    def restore(self, snap: Any) -> None:
        params, rest = snap
        self.carry = (params, rest, self.carry[2])

    def set_hyper(self, optim: OptimConfig) -> None:
        params, rest, opt_state = self.carry
        hp = dict(opt_state.hyperparams)
        for key, value in (("weight_decay", optim.weight_decay), ("max_norm", _inf_if_off(optim.clip_norm)),
                           ("clip_value", _inf_if_off(optim.clip_value))):
            hp[key] = jax.device_put(jnp.asarray(value, jnp.float32), self._replicated)  # committed: no recompile
        self.carry = (params, rest, opt_state._replace(hyperparams=hp))


# Compiled functions are cached per static structure (model graph, optimizer kind, pipeline flags),
# so a second run of the same shape — another seed, another lr — reuses the compilation.


@functools.lru_cache(maxsize=32)
def _train_chunk_fn(graphdef: Any, optim: OptimConfig, regression: bool, leaf_layer: tuple[int, ...], donate: bool):
    tx = make_tx(optim)  # hyperparameter values live in the optimizer state, not in this closure
    layer_of_leaf, n_layers = jnp.asarray(leaf_layer, jnp.int32), max(leaf_layer) + 1

    def loss_fn(params, rest, xb, yb):
        model = nnx.merge(graphdef, params, rest, copy=True)  # fresh Variables in this trace: BatchNorm may update them
        out = model(xb, train=True)
        loss, acc = _task_loss(out, yb, regression)
        _, _, new_rest = nnx.split(model, nnx.Param, ...)
        return loss, (acc, new_rest)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_chunk(carry, x_train, y_train, idx, lr, nan, active, n_bad, sanitize):
        def step(carry, xs):
            idx_t, lr_t, nan_t, active_t = xs
            params, rest, opt_state = carry
            xb, yb = x_train[idx_t], y_train[idx_t]
            bad = (jnp.arange(xb.shape[0]) < n_bad) & nan_t
            xb = jnp.where(bad.reshape((-1,) + (1,) * (xb.ndim - 1)), jnp.nan, xb)
            xb = jnp.where(sanitize, jnp.nan_to_num(xb, nan=0.0, posinf=0.0, neginf=0.0), xb)
            (loss, (acc, new_rest)), grads = grad_fn(params, rest, xb, yb)
            leaf_sq = jnp.stack([jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)])
            layer_norm = jnp.sqrt(jax.ops.segment_sum(leaf_sq, layer_of_leaf, n_layers))
            grad_norm = jnp.sqrt(jnp.sum(leaf_sq))  # before clipping
            opt_state.hyperparams["learning_rate"] = lr_t
            updates, new_opt = tx.update(grads, opt_state, params)
            ratio = optax.tree.norm(updates) / jnp.maximum(optax.tree.norm(params), 1e-12)
            new = (optax.apply_updates(params, updates), new_rest, new_opt)
            # Padding steps (past the run's end in its last interval) keep the old state: a select
            # that XLA fuses into the update, cheaper to compile than a lax.cond over the carry.
            new = jax.tree.map(lambda a, b: jnp.where(active_t, a, b), new, carry)
            return new, (loss, acc, grad_norm, layer_norm, ratio)

        return jax.lax.scan(step, carry, (idx, lr, nan, active))

    return jax.jit(train_chunk, donate_argnums=(0,) if donate else ())  # CPU cannot reuse donated buffers


@functools.lru_cache(maxsize=32)
def _eval_fn(graphdef: Any, regression: bool):
    def evaluate(params, rest, x, y):
        out = nnx.merge(graphdef, params, rest)(x, train=False)
        return _task_loss(out, y, regression)

    return jax.jit(evaluate)
