"""A small PPO agent and two tiny environments, in numpy, for the workload benchmark.

Written out by hand so the benchmark needs no gym, no download and no GPU: a vectorised CartPole
with the classic dynamics (Barto, Sutton & Anderson 1983, as in gym's ``cartpole.py``) and a
corridor whose left end pays a small reward at once and whose far right end pays more (a trap for
a policy that stops exploring too soon). The agent is PPO with a one-hidden-layer tanh policy and
value network, GAE, optional advantage normalisation, an entropy bonus, gradient-norm clipping and
Adam or SGD — the knobs whose misuse the benchmark injects.

``train(spec, seed)`` returns a :class:`Trace`: what a real trainer would log per update (losses,
entropy, KL, clip fraction, explained variance, learning rate) and per finished episode (return,
length), with the environment's best return and action count for the label checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CARTPOLE_SCALE = np.array([2.4, 3.0, 0.21, 3.0])


class CartPole:
    """``n`` CartPoles stepped together; an episode ends on a fall or after ``max_steps``."""

    actions = 2

    def __init__(self, n: int, rng: np.random.Generator, max_steps: int = 200) -> None:
        self.n, self.rng, self.max_steps = n, rng, max_steps
        self.s = rng.uniform(-0.05, 0.05, (n, 4))
        self.t = np.zeros(n, dtype=int)
        self.max_return = float(max_steps)
        self.good_return = 0.5 * max_steps

    def obs(self) -> np.ndarray:
        return self.s / CARTPOLE_SCALE

    def step(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, xd, th, thd = self.s.T
        force = np.where(a == 1, 10.0, -10.0)
        ct, st = np.cos(th), np.sin(th)
        temp = (force + 0.05 * thd**2 * st) / 1.1
        tha = (9.8 * st - ct * temp) / (0.5 * (4 / 3 - 0.1 * ct**2 / 1.1))
        xa = temp - 0.05 * tha * ct / 1.1
        tau = 0.02
        self.s = np.stack([x + tau * xd, xd + tau * xa, th + tau * thd, thd + tau * tha], 1)
        self.t += 1
        fell = (np.abs(self.s[:, 0]) > 2.4) | (np.abs(self.s[:, 2]) > 0.2095)
        done = fell | (self.t >= self.max_steps)
        if done.any():
            self.s[done] = self.rng.uniform(-0.05, 0.05, (int(done.sum()), 4))
            self.t[done] = 0
        return np.ones(self.n), done, fell


class Corridor:
    """Cells 0..length-1, start ``start``; the left end pays ``trap``, the right end 1; both end it.

    With ``trap`` > 0 near the start and the big reward far away, a policy that turns
    deterministic early settles for the trap; with ``trap`` = 0 and the right end out of reach of
    a random walk, no reward is ever seen.
    """

    actions = 2

    def __init__(self, n: int, rng: np.random.Generator, length: int = 11, start: int = 1, trap: float = 0.5, max_steps: int = 30) -> None:
        self.n, self.rng, self.length, self.start, self.trap, self.max_steps = n, rng, length, start, trap, max_steps
        self.pos = np.full(n, start)
        self.t = np.zeros(n, dtype=int)
        self.max_return = 1.0
        self.good_return = 0.9  # the far reward, not the trap

    def obs(self) -> np.ndarray:
        o = np.zeros((self.n, self.length))
        o[np.arange(self.n), self.pos] = 1.0
        return o

    def step(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.pos = np.clip(self.pos + np.where(a == 1, 1, -1), 0, self.length - 1)
        self.t += 1
        left, right = self.pos == 0, self.pos == self.length - 1
        r = np.where(right, 1.0, np.where(left, self.trap, 0.0))
        ended = left | right
        done = ended | (self.t >= self.max_steps)
        self.pos[done] = self.start
        self.t[done] = 0
        return r, done, ended


class MLP:
    """tanh(x W1 + b1) W2 + b2 with its hand-written backward pass."""

    def __init__(self, rng: np.random.Generator, n_in: int, n_out: int, hidden: int, out_scale: float) -> None:
        self.W1 = rng.normal(0, 1 / np.sqrt(n_in), (n_in, hidden))
        self.b1 = np.zeros(hidden)
        self.W2 = rng.normal(0, out_scale / np.sqrt(hidden), (hidden, n_out))
        self.b2 = np.zeros(n_out)

    @property
    def params(self) -> list[np.ndarray]:
        return [self.W1, self.b1, self.W2, self.b2]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.tanh(x @ self.W1 + self.b1)
        return h @ self.W2 + self.b2, h

    def backward(self, x: np.ndarray, h: np.ndarray, dy: np.ndarray) -> list[np.ndarray]:
        dh = (dy @ self.W2.T) * (1 - h * h)
        return [x.T @ dh, dh.sum(0), h.T @ dy, dy.sum(0)]


class Optimizer:
    """Adam or plain SGD over a list of arrays, updated in place."""

    def __init__(self, params: list[np.ndarray], lr: float, kind: str) -> None:
        self.params, self.lr, self.kind, self.t = params, lr, kind, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            if self.kind == "sgd":
                p -= self.lr * g
                continue
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= self.lr * (m / (1 - 0.9**self.t)) / (np.sqrt(v / (1 - 0.999**self.t)) + 1e-8)


@dataclass(frozen=True)
class AgentSpec:
    """One PPO configuration; the defaults train CartPole well."""

    env: str = "cartpole"  # cartpole | trap (corridor with a near small reward) | sparse (corridor, goal out of reach)
    updates: int = 60
    n_envs: int = 8
    horizon: int = 64
    lr: float = 3e-3
    optimizer: str = "adam"
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    clip_range: float = 0.2
    epochs: int = 4
    max_grad_norm: float = 0.5  # 0: no clipping
    norm_adv: bool = True
    reward_scale: float = 1.0
    lr_jump_at: float = 0.0  # share of the run after which the lr is multiplied by lr_jump (0: never)
    lr_jump: float = 1.0
    lr_decay: bool = False  # linear decay to 0 (ML-Agents' default)
    train_policy: bool = True  # False: the optimizer holds only the value net (a real bug)
    hidden: int = 32


@dataclass
class Trace:
    """What one run logs, in env steps."""

    updates: list[dict[str, float]] = field(default_factory=list)  # per update, at its last env step
    episodes: list[tuple[int, float, int]] = field(default_factory=list)  # (env step, return, length)
    max_return: float = 1.0
    good_return: float = 1.0  # what a policy that solved the task earns
    n_actions: int = 2


def _env(spec: AgentSpec, rng: np.random.Generator):
    if spec.env == "cartpole":
        return CartPole(spec.n_envs, rng)
    if spec.env == "trap":
        return Corridor(spec.n_envs, rng, length=11, start=1, trap=0.5, max_steps=30)
    if spec.env == "sparse":
        return Corridor(spec.n_envs, rng, length=41, start=20, trap=0.0, max_steps=18)
    raise ValueError(f"unknown env {spec.env!r}")


def _softmax(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return np.exp(logp), logp


def _gae(rewards: np.ndarray, values: np.ndarray, last: np.ndarray, ended: np.ndarray, done: np.ndarray) -> np.ndarray:
    adv = np.zeros_like(rewards)
    g = np.zeros(rewards.shape[1])
    for t in reversed(range(len(rewards))):
        nxt = last if t == len(rewards) - 1 else values[t + 1]
        delta = rewards[t] + 0.99 * nxt * (1 - ended[t]) - values[t]
        g = delta + 0.99 * 0.95 * (1 - done[t]) * g
        adv[t] = g
    return adv


def train(spec: AgentSpec, seed: int) -> Trace:
    """Run PPO per ``spec`` and return what it would log."""
    rng = np.random.default_rng(seed)
    env = _env(spec, rng)
    obs = env.obs()
    pi = MLP(rng, obs.shape[1], env.actions, spec.hidden, 0.01)
    vf = MLP(rng, obs.shape[1], 1, spec.hidden, 1.0)
    opt = Optimizer((pi.params if spec.train_policy else []) + vf.params, spec.lr, spec.optimizer)
    trace = Trace(max_return=env.max_return, good_return=env.good_return, n_actions=env.actions)
    ep_ret, ep_len, step = np.zeros(spec.n_envs), np.zeros(spec.n_envs, dtype=int), 0
    for u in range(spec.updates):
        frac = u / max(spec.updates - 1, 1)
        opt.lr = spec.lr * (1 - frac if spec.lr_decay else 1.0) * (spec.lr_jump if spec.lr_jump_at and frac >= spec.lr_jump_at else 1.0)
        batch, obs, step = _rollout(spec, env, pi, vf, obs, rng, ep_ret, ep_len, step, trace)
        stats = _update(spec, pi, vf, opt, batch, rng)
        stats.update(step=step, lr=opt.lr)
        trace.updates.append(stats)
    return trace


def _rollout(spec, env, pi, vf, obs, rng, ep_ret, ep_len, step, trace):
    O, A, R, E, D, LP = [], [], [], [], [], []
    for _ in range(spec.horizon):
        p, _ = _softmax(pi.forward(obs)[0])
        a = np.minimum((rng.random(spec.n_envs)[:, None] > p.cumsum(1)).sum(1), env.actions - 1)
        r, done, ended = env.step(a)
        step += spec.n_envs
        ep_ret += r
        ep_len += 1
        for i in np.nonzero(done)[0]:
            trace.episodes.append((step, float(ep_ret[i]), int(ep_len[i])))
            ep_ret[i], ep_len[i] = 0.0, 0
        O.append(obs)
        A.append(a)
        R.append(r * spec.reward_scale)
        E.append(ended)
        D.append(done)
        LP.append(np.log(p[np.arange(spec.n_envs), a] + 1e-30))
        obs = env.obs()
    O_, R_ = np.array(O), np.array(R)
    d = O_.shape[-1]
    V = vf.forward(O_.reshape(-1, d))[0][:, 0].reshape(R_.shape)
    adv = _gae(R_, V, vf.forward(obs)[0][:, 0], np.array(E, dtype=float), np.array(D, dtype=float))
    batch = (O_.reshape(-1, d), np.array(A).reshape(-1), np.array(LP).reshape(-1), adv.reshape(-1), (adv + V).reshape(-1))
    return batch, obs, step


def _update(spec, pi, vf, opt, batch, rng) -> dict[str, float]:
    O, A, LP, ADV, RET = batch
    rows = []
    for _ in range(spec.epochs):
        for mb in np.array_split(rng.permutation(len(O)), max(1, len(O) // 128)):
            rows.append(_minibatch(spec, pi, vf, opt, O[mb], A[mb], LP[mb], ADV[mb], RET[mb]))
    m = np.nanmean(np.array(rows, dtype=float), axis=0)
    values = vf.forward(O)[0][:, 0]
    var = float(np.var(RET))
    ev = float(1 - np.var(RET - values) / var) if var > 0 else float("nan")
    pl, vl, ent, kl, cf = (float(x) for x in m)
    return {"policy_loss": pl, "value_loss": vl, "entropy": ent, "approx_kl": kl, "clip_fraction": cf,
            "explained_variance": ev, "loss": pl + spec.vf_coef * vl - spec.ent_coef * ent}


def _minibatch(spec, pi, vf, opt, x, a, old_lp, adv, ret) -> tuple[float, ...]:
    n = len(x)
    logits, hp = pi.forward(x)
    p, logp = _softmax(logits)
    new_lp = logp[np.arange(n), a]
    ratio = np.exp(np.clip(new_lp - old_lp, -50, 50))
    if spec.norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    c = spec.clip_range
    surr = np.minimum(ratio * adv, np.clip(ratio, 1 - c, 1 + c) * adv)
    active = ~(((adv > 0) & (ratio > 1 + c)) | ((adv < 0) & (ratio < 1 - c)))
    onehot = np.zeros_like(p)
    onehot[np.arange(n), a] = 1
    H = -(p * logp).sum(1)
    dlogits = -(active * ratio * adv)[:, None] * (onehot - p) / n + spec.ent_coef * p * (logp + H[:, None]) / n
    v, hv = vf.forward(x)
    dv = spec.vf_coef * 2 * (v[:, 0] - ret)[:, None] / n
    grads = (pi.backward(x, hp, dlogits) if spec.train_policy else []) + vf.backward(x, hv, dv)
    if spec.max_grad_norm:
        norm = np.sqrt(sum(float((g * g).sum()) for g in grads))
        if norm > spec.max_grad_norm:
            grads = [g * (spec.max_grad_norm / norm) for g in grads]
    with np.errstate(all="ignore"):
        opt.step(grads)
    log_ratio = new_lp - old_lp
    return (-float(surr.mean()), float(((v[:, 0] - ret) ** 2).mean()), float(H.mean()),
            float(((ratio - 1) - log_ratio).mean()), float((np.abs(ratio - 1) > c).mean()))
