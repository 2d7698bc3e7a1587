"""JAX/optax adapter: a transformation that records gradient and update norms in its own state.

::

    import optax
    from advisor.live import Monitor
    from advisor.live.optax import monitored

    tx = monitored(optax.adam(1e-3))                 # any GradientTransformation, any nesting
    opt_state = tx.init(params)

    @jax.jit
    def train_step(params, opt_state, batch):        # or many steps in a lax.scan
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    mon = Monitor(every=50)
    for step in range(n_steps):
        params, opt_state, loss = train_step(params, opt_state, next(batches))
        mon.log(step, loss=loss)                     # a jax array: read at the cadence
        mon.log_optax(opt_state)                     # reads the state only every `every` steps

Inside ``update`` the transformation computes, in float32 and with no host callback, the
global norm of the incoming gradients, of the outgoing updates and (when ``params`` are passed)
of the parameters, plus the learning rate when an ``inject_hyperparams`` state is found inside
the wrapped transformation. Each goes into a fixed-size ring of the last ``history`` updates
(indexed by ``count % history``), so the state never grows and the whole thing works under
``jit``, ``lax.scan`` and ``pmap`` like any optax state.

The host reads the ring now and then — :class:`StateReader` (used by ``Monitor.log_optax``), or
:func:`drain` — in one ``jax.device_get``, and gets the updates made since its last read. Read
at least every ``history`` updates (e.g. after each ``lax.scan`` chunk of at most ``history``
steps) or the oldest ones are overwritten; a reader says when that happened. Recorded as
``train/grad_norm``, ``train/update_ratio`` (‖update‖/‖params‖) and ``train/lr``; the update
norm itself is kept as ``train/update_norm``.

``act=`` (see :mod:`advisor.live.act`): ``Monitor(act=True)`` plus one call per step of
:func:`apply` — ``params, opt_state = apply(mon, params, opt_state)`` after ``mon.log`` — cuts the
learning rate of an ``optax.inject_hyperparams`` state, clips gradients inside the
:func:`monitored` transformation (its state's ``max_norm``), and restores the best params (a
host copy taken at each new validation minimum) when it stops or after a fault.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    import optax
except ImportError as e:  # pragma: no cover - exercised only without jax
    raise ImportError("advisor.live.optax needs JAX and optax: pip install training-advisor[jax]") from e

if TYPE_CHECKING:
    from advisor.live.recorder import Recorder

log = logging.getLogger("advisor.live")

TAGS = {"grad_norm": "train/grad_norm", "update_ratio": "train/update_ratio", "lr": "train/lr", "update_norm": "train/update_norm"}


class MonitoredState(NamedTuple):
    """The wrapped transformation's state plus rings of the last ``history`` updates' norms."""

    inner: Any
    count: Any  # int32: updates made so far
    grad_norm: Any  # (history,) float32
    update_norm: Any
    param_norm: Any  # NaN when update() was called without params
    lr: Any  # NaN when no learning rate is found in the inner state
    max_norm: Any = None  # float32: gradients are clipped to this global norm (inf: off; act= sets it)


def _norm(tree: Any) -> Any:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if hasattr(x, "dtype")]
    if not leaves:
        return jnp.asarray(jnp.nan, jnp.float32)
    return jnp.sqrt(sum(jnp.sum(jnp.square(jnp.abs(x).astype(jnp.float32))) for x in leaves))


def _find_lr(state: Any) -> Any:
    """The learning rate held in an inject_hyperparams state inside ``state``, else NaN."""
    found = []

    def visit(x: Any) -> None:
        hp = getattr(x, "hyperparams", None)
        if isinstance(hp, dict):
            for k in ("learning_rate", "lr"):
                if k in hp:
                    found.append(hp[k])
                    return

    jax.tree_util.tree_map(visit, state, is_leaf=lambda x: isinstance(getattr(x, "hyperparams", None), dict))
    if found:
        return jnp.asarray(found[0], jnp.float32).reshape(())
    return jnp.asarray(jnp.nan, jnp.float32)


def monitored(tx: Any, history: int = 128) -> Any:
    """Wrap an optax transformation so its state records per-update norms (see the module doc)."""
    if history < 1:
        raise ValueError("history must be at least 1")
    inner_tx = optax.with_extra_args_support(tx)
    k = int(history)

    def init_fn(params: Any) -> MonitoredState:
        ring = jnp.full((k,), jnp.nan, jnp.float32)
        return MonitoredState(inner_tx.init(params), jnp.zeros([], jnp.int32), ring, ring, ring, ring, jnp.asarray(jnp.inf, jnp.float32))

    def update_fn(updates: Any, state: MonitoredState, params: Any = None, **extra: Any) -> tuple[Any, MonitoredState]:
        g = _norm(updates)
        if state.max_norm is not None:  # clipping act= turned on (a no-op at inf)
            scale = jnp.minimum(1.0, state.max_norm / jnp.maximum(g, 1e-12))
            updates = jax.tree_util.tree_map(lambda x: (x * scale).astype(x.dtype) if hasattr(x, "dtype") else x, updates)
        new_updates, inner = inner_tx.update(updates, state.inner, params, **extra)
        i = state.count % k
        p = _norm(params) if params is not None else jnp.asarray(jnp.nan, jnp.float32)
        new = MonitoredState(
            inner=inner,
            count=state.count + 1,
            grad_norm=state.grad_norm.at[i].set(g),
            update_norm=state.update_norm.at[i].set(_norm(new_updates)),
            param_norm=state.param_norm.at[i].set(p),
            lr=state.lr.at[i].set(_find_lr(inner)),
            max_norm=state.max_norm,
        )
        return new_updates, new

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def find_state(opt_state: Any) -> MonitoredState | None:
    """The first :class:`MonitoredState` inside an optimizer state (chain, inject_hyperparams, ...)."""
    if isinstance(opt_state, MonitoredState):
        return opt_state
    for leaf in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, MonitoredState)):
        if isinstance(leaf, MonitoredState):
            return leaf
    return None


def drain(opt_state: Any, since: int = 0) -> tuple[dict[str, np.ndarray], int, int]:
    """The records of updates ``since`` .. now from a monitored state, in one host transfer.

    Returns (columns, count, lost): ``columns`` maps ``update`` (0-based update index),
    ``grad_norm``, ``update_norm``, ``update_ratio`` and ``lr`` to arrays in update order;
    ``count`` is the number of updates so far (pass it as ``since`` next time); ``lost`` is how
    many updates since ``since`` were already overwritten in the ring.
    """
    st = find_state(opt_state)
    if st is None:
        raise ValueError("no advisor.live.optax.monitored(...) state found in this optimizer state")
    count, gn, un, pn, lr = jax.device_get((st.count, st.grad_norm, st.update_norm, st.param_norm, st.lr))
    count = int(np.asarray(count).reshape(-1)[0])  # under pmap every replica holds the same count
    gn, un, pn, lr = (np.asarray(a, dtype=np.float64).reshape(-1, np.shape(a)[-1])[0] for a in (gn, un, pn, lr))
    k = gn.shape[0]
    first = max(since, count - k, 0)
    lost = max(0, first - since)
    upd = np.arange(first, count, dtype=np.int64)
    idx = upd % k
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = un[idx] / pn[idx]
    cols = {"update": upd, "grad_norm": gn[idx], "update_norm": un[idx], "update_ratio": ratio, "lr": lr[idx]}
    return cols, count, lost


class StateReader:
    """Reads a monitored state now and then and hands new records to a monitor's recorder."""

    def __init__(self) -> None:
        self.count = 0  # updates read so far
        self.calls = 0  # times the monitor offered a state
        self.history: int | None = None  # the ring's length, known after the first read
        self.last_read_step: int | None = None
        self.lost = 0

    def due(self, step: int, every: int) -> bool:
        """Whether to read at ``step`` (a host-side check: no traversal, no transfer)."""
        if self.last_read_step is None or step < self.last_read_step:
            return True
        gap = step - self.last_read_step
        return gap >= (min(every, max(1, self.history // 2)) if self.history else every)

    def read_into(self, recorder: Recorder, opt_state: Any, step: int | None) -> None:
        """Record the updates made since the last read (an overwritten ring is reported)."""
        cols, count, lost = drain(opt_state, self.count)
        if self.history is None:
            self.history = int(find_state(opt_state).grad_norm.shape[-1])
        if count < self.count:  # a fresh optimizer state (restart)
            cols, count, lost = drain(opt_state, 0)
        self.count = count
        if lost:
            self.lost += lost
            recorder.report_failure("optax ring", RuntimeError(f"{lost} update(s) were overwritten before they were read: read the state more often or use monitored(tx, history=...) larger"))
        n = len(cols["update"])
        if not n:
            return
        steps = cols["update"] if step is None else cols["update"] - (count - 1) + int(step)
        for name, tag in TAGS.items():
            vals = cols[name]
            fin = np.isfinite(vals)
            if name in ("update_ratio", "lr") and not fin.any():
                continue  # not available (no params passed / no injected learning rate)
            for s, v in zip(steps.tolist(), vals.tolist()):
                recorder.record(tag, s, v)


# -- act= ---------------------------------------------------------------------------------------


def _scale_lr(opt_state: Any, factor: float) -> tuple[Any, int]:
    """``opt_state`` with every ``inject_hyperparams`` learning rate multiplied by ``factor``."""
    hits = [0]

    def fix(x: Any) -> Any:
        hp = getattr(x, "hyperparams", None)
        if isinstance(hp, dict):
            for k in ("learning_rate", "lr"):
                if k in hp:
                    hits[0] += 1
                    return x._replace(hyperparams={**hp, k: jnp.asarray(hp[k]) * factor})
        return x

    out = jax.tree_util.tree_map(fix, opt_state, is_leaf=lambda x: isinstance(getattr(x, "hyperparams", None), dict))
    return out, hits[0]


def _set_clip(opt_state: Any, max_norm: float) -> Any:
    return jax.tree_util.tree_map(
        lambda x: x._replace(max_norm=jnp.asarray(max_norm, jnp.float32)) if isinstance(x, MonitoredState) else x,
        opt_state,
        is_leaf=lambda x: isinstance(x, MonitoredState),
    )


def apply(mon: Any, params: Any, opt_state: Any) -> tuple[Any, Any]:
    """``act=`` on the optax path: call once per step (and once before the loop), after
    ``mon.log``; returns the (params, opt_state) to go on with. Cheap when there is nothing to do.

    Keeps a host copy of ``params`` at each new validation minimum (and before the first
    update), cuts the learning rate of an ``optax.inject_hyperparams`` state, turns on the
    clipping of a :func:`monitored` state, restores the best params on a stop.
    """
    acts = getattr(mon, "actions", None)
    if acts is None:
        return params, opt_state
    try:
        if acts.initial is None:
            acts.initial = jax.device_get(params)
        if acts.want_snapshot:
            acts.snapshot, acts.want_snapshot = jax.device_get(params), False
        queue = acts.target.queue
        while queue:
            plan = queue.pop(0)
            weights, _ = plan.weights(acts)
            if weights is not None:
                params = jax.tree_util.tree_map(lambda new, old: jnp.asarray(new, dtype=old.dtype), weights, params)
            if plan.kind == "lr":
                opt_state, n = _scale_lr(opt_state, plan.lr_factor)
                if not n:
                    mon.recorder.report_failure("act lr", RuntimeError("no optax.inject_hyperparams learning rate in the optimizer state: wrap the optimizer in optax.inject_hyperparams to let act= change it"))
            elif plan.kind == "clip":
                opt_state = _set_clip(opt_state, plan.max_norm)
    except Exception as e:
        mon.recorder.report_failure("act", e)
    return params, opt_state
