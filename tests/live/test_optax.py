"""optax adapter: norms recorded in the optimizer state under jit + lax.scan, no host callback."""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp

from advisor.live import Monitor
from advisor.live.optax import MonitoredState, drain, find_state, monitored

K1, K2, K3 = jax.random.split(jax.random.PRNGKey(0), 3)
X = jax.random.normal(K1, (256, 8))
Y = X @ jax.random.normal(K2, (8, 1))


def init_params():
    return {"w1": jax.random.normal(K1, (8, 16)) * 0.3, "b1": jnp.zeros(16), "w2": jax.random.normal(K3, (16, 1)) * 0.3}


def loss_fn(p, x, y):
    return jnp.mean((jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] - y) ** 2)


def make_chunk(tx, n):
    def step(carry, _):
        p, s = carry
        loss, g = jax.value_and_grad(loss_fn)(p, X, Y)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), loss

    @jax.jit
    def chunk(p, s):
        (p, s), losses = jax.lax.scan(step, (p, s), None, length=n)
        return p, s, losses

    return chunk


def global_norm(tree) -> float:
    return math.sqrt(sum(float(jnp.sum(jnp.square(x))) for x in jax.tree_util.tree_leaves(tree)))


TX = monitored(optax.chain(optax.clip_by_global_norm(1.0), optax.inject_hyperparams(optax.adam)(learning_rate=1e-2)), history=64)
CHUNK = make_chunk(TX, 50)


def test_scan_loop_has_no_host_callback_and_state_has_fixed_size():
    params = init_params()
    state = TX.init(params)
    jaxpr = str(jax.make_jaxpr(CHUNK)(params, state))
    assert "callback" not in jaxpr and "io_callback" not in jaxpr and "debug" not in jaxpr
    shapes = [x.shape for x in jax.tree_util.tree_leaves(find_state(state))[-5:]]
    _, state2, _ = CHUNK(params, state)
    assert [x.shape for x in jax.tree_util.tree_leaves(find_state(state2))[-5:]] == shapes
    assert int(find_state(state2).count) == 50


def test_recorded_norms_match_a_reference_step():
    params = init_params()
    state = TX.init(params)
    _, grads = jax.jit(jax.value_and_grad(loss_fn))(params, X, Y)
    updates, state = jax.jit(TX.update)(grads, state, params)
    cols, count, lost = drain(state)
    assert count == 1 and lost == 0 and cols["update"].tolist() == [0]
    np.testing.assert_allclose(cols["grad_norm"][0], global_norm(grads), rtol=1e-5)
    np.testing.assert_allclose(cols["update_norm"][0], global_norm(updates), rtol=1e-5)
    np.testing.assert_allclose(cols["update_ratio"][0], global_norm(updates) / global_norm(params), rtol=1e-5)
    np.testing.assert_allclose(cols["lr"][0], 1e-2, rtol=1e-6)


def test_drain_finds_the_state_in_nests_and_reports_overwritten_updates():
    nested = optax.inject_hyperparams(lambda learning_rate: monitored(optax.sgd(learning_rate), history=8))(learning_rate=0.1)
    params = init_params()
    state = nested.init(params)
    assert isinstance(find_state(state), MonitoredState)
    chunk = make_chunk(nested, 20)
    _, state, _ = chunk(params, state)
    cols, count, lost = drain(state, since=0)
    assert count == 20 and lost == 12 and cols["update"].tolist() == list(range(12, 20))
    assert math.isnan(cols["lr"][0])  # the learning rate lives outside the monitored transform
    cols, count, lost = drain(state, since=20)
    assert len(cols["update"]) == 0 and lost == 0
    with pytest.raises(ValueError, match="monitored"):
        drain(optax.adam(1e-3).init(params))


def test_monitor_reads_the_state_at_the_cadence_only():
    params = init_params()
    state = TX.init(params)
    mon = Monitor(every=50, on_finding=None)
    reads = []
    import advisor.live.optax as lo

    orig = lo.drain

    def counting(*a, **k):
        reads.append(1)
        return orig(*a, **k)

    lo.drain = counting
    try:
        for c in range(6):
            params, state, losses = CHUNK(params, state)
            for i in range(50):
                step = c * 50 + i
                mon.log(step, loss=losses[i])  # jax arrays: read at the cadence in one device_get
                mon.log_optax(state)  # steps count updates: no step needed
    finally:
        lo.drain = orig
    mon.close()
    # not per step: every min(every, history / 2) = 32 steps (steps 0, 32, ..., 288)
    assert len(reads) == 10
    run = mon.run()
    assert len(run.series["train/grad_norm"]) == 300
    assert run.series["train/grad_norm"].steps.tolist() == list(range(300))
    assert {"train/lr", "train/update_ratio", "train/loss"} <= set(run.series)
    assert mon.report().signals["grad_norm"] == "train/grad_norm"
    assert not [f for f in mon.findings if f.severity.rank >= 2]


def test_jax_nan_is_detected_within_a_window():
    tx = monitored(optax.sgd(0.05))
    params = init_params()
    state = tx.init(params)
    chunk = make_chunk(tx, 25)
    mon = Monitor(every=25, on_finding=None, stop_on="critical")
    for c in range(20):
        if c == 12:  # the injected fault: poison the weights
            params = dict(params, w2=params["w2"] * jnp.nan)
        params, state, losses = chunk(params, state)
        for i in range(25):
            mon.log(c * 25 + i, loss=losses[i])
        mon.log_optax(state, c * 25 + 24)
        if mon.should_stop:
            break
    assert mon.should_stop and c == 12
    assert mon.alerts[0].finding.condition in ("non-finite", "exploding-gradients")
