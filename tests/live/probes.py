"""The issue's probes: a 64-wide MLP on sklearn's digits (bundled, no download), trained by
plain SGD, as a user's own loop would — for the live-judgment, ``act`` and benchmark checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def digits(noise_labels: float = 0.0, n_train: int = 1400, seed: int = 0):
    """(x_train, y_train, x_val, y_val) as float32 / int64 numpy arrays; ``noise_labels``: the
    fraction of training labels replaced at random (makes a small model overfit)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    perm = np.random.default_rng(1234).permutation(len(x))
    x, y = x[perm], y[perm]
    xt, yt, xv, yv = x[:n_train], y[:n_train].copy(), x[n_train:], y[n_train:]
    if noise_labels:
        rng = np.random.default_rng(seed + 99)
        flip = rng.random(len(yt)) < noise_labels
        yt[flip] = rng.integers(0, 10, int(flip.sum()))
    return xt, yt, xv, yv


@dataclass
class Result:
    losses: list = field(default_factory=list)
    vals: list = field(default_factory=list)  # (step, val loss)
    stopped_at: int | None = None
    final_val: float = float("nan")  # the delivered model's val loss


def mlp_torch(seed: int = 0, width: int = 64, depth: int = 2):
    import torch

    torch.manual_seed(seed)
    layers, d = [], 64
    for _ in range(depth):
        layers += [torch.nn.Linear(d, width), torch.nn.ReLU()]
        d = width
    return torch.nn.Sequential(*layers, torch.nn.Linear(d, 10))


def train_torch(mon_factory, lr: float, steps: int, seed: int = 0, bs: int = 32, eval_every: int = 25, data=None, width: int = 64, depth: int = 2) -> Result:
    """Train the MLP with SGD for ``steps`` (or until ``mon.should_stop``); ``mon_factory(model,
    opt)`` returns a monitor or None. The delivered model is whatever the weights are at the end."""
    import torch

    torch.set_num_threads(1)  # tiny matrices: threads only contend on a shared machine
    xt, yt, xv, yv = data if data is not None else digits()
    xt, yt, xv, yv = map(torch.as_tensor, (xt, yt, xv, yv))
    model = mlp_torch(seed, width, depth)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    mon = mon_factory(model, opt) if mon_factory else None
    g = torch.Generator().manual_seed(seed)
    res = Result()
    f = torch.nn.functional.cross_entropy
    for step in range(steps):
        idx = torch.randint(0, len(xt), (bs,), generator=g)
        loss = f(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        res.losses.append(loss.detach())
        if mon is not None:
            mon.log(step, loss=loss)
        if step % eval_every == 0 or step == steps - 1:
            with torch.no_grad():
                v = f(model(xv), yv)
            res.vals.append((step, float(v)))
            if mon is not None:
                mon.log(step, val_loss=v)
        if mon is not None and mon.should_stop:
            res.stopped_at = step
            break
    if mon is not None:
        mon.close()
    res.losses = [float(v) for v in res.losses]
    with torch.no_grad():
        res.final_val = float(f(model(xv), yv))
    res.monitor = mon
    return res


def overfit_data():
    """Few training examples, half of their labels random: a 256-wide MLP overfits early."""
    return digits(0.5, n_train=150)


def offline_first(res: Result, condition: str, at: list[int] | None = None, hold: int = 0) -> int | None:
    """The first evaluation step at which ``advisor analyze`` on the run's prefix reports
    ``condition`` (the same rules, run on every point logged up to that step) and goes on
    reporting it on the prefixes to the next ``hold`` evaluations."""
    from advisor.engine import Engine
    from advisor.pipeline import diagnose_run
    from tests.synth import run_of

    from advisor.config import AnalyzeConfig

    eng = Engine.from_config(AnalyzeConfig())
    loss = np.asarray(res.losses)
    vs = np.asarray(res.vals)
    steps = at if at is not None else [int(x) for x in vs[:, 0]]
    streak = []
    for s in steps:
        m = vs[:, 0] <= s
        curves = {"train/loss": (np.arange(s + 1), loss[: s + 1]), "val/loss": (vs[m, 0].astype(int), vs[m, 1])}
        got = diagnose_run(run_of(curves), eng).report.findings
        streak = [*streak, s] if any(f.condition == condition for f in got) else []
        if len(streak) > hold:
            return streak[0]
    return None


def train_optax(mon_factory, lr: float, steps: int, seed: int = 0, bs: int = 32, eval_every: int = 25, data=None, width: int = 64, depth: int = 2) -> Result:
    """The same MLP in JAX, plain SGD through ``optax.inject_hyperparams`` wrapped in
    ``monitored``; ``mon_factory()`` returns a monitor or None (``act=`` applied with
    :func:`advisor.live.optax.apply`)."""
    import jax
    import jax.numpy as jnp
    import optax

    from advisor.live.optax import apply, monitored

    xt, yt, xv, yv = data if data is not None else digits()
    key = jax.random.PRNGKey(seed)
    sizes = [64] + [width] * depth + [10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, k = jax.random.split(key)
        bound = 1.0 / np.sqrt(a)
        params.append({"w": jax.random.uniform(k, (a, b), minval=-bound, maxval=bound), "b": jnp.zeros(b)})

    def loss_fn(p, x, y):
        h = x
        for layer in p[:-1]:
            h = jax.nn.relu(h @ layer["w"] + layer["b"])
        logits = h @ p[-1]["w"] + p[-1]["b"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    tx = monitored(optax.inject_hyperparams(optax.sgd)(learning_rate=lr))
    opt_state = tx.init(params)

    @jax.jit
    def step_fn(p, s, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    val_fn = jax.jit(loss_fn)
    mon = mon_factory() if mon_factory else None
    if mon is not None:
        params, opt_state = apply(mon, params, opt_state)
    rng = np.random.default_rng(seed)
    res = Result()
    for step in range(steps):
        idx = rng.integers(0, len(xt), bs)
        params, opt_state, loss = step_fn(params, opt_state, xt[idx], yt[idx])
        res.losses.append(loss)
        if mon is not None:
            mon.log(step, loss=loss)
            mon.log_optax(opt_state, step)
        if step % eval_every == 0 or step == steps - 1:
            v = float(val_fn(params, xv, yv))
            res.vals.append((step, v))
            if mon is not None:
                mon.log(step, val_loss=v)
        if mon is not None:
            params, opt_state = apply(mon, params, opt_state)
            if mon.should_stop:
                res.stopped_at = step
                break
    if mon is not None:
        mon.close()
    res.losses = [float(v) for v in res.losses]
    res.final_val = float(val_fn(params, xv, yv))
    res.monitor = mon
    return res
