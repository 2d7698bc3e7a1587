"""Generated reinforcement-learning and GAN runs with known faults, and how well advisor reads them.

    python -m benchmarks.workloads --out DIR [--size ci|full] [--only GLOB] [--workers N]
    python -m benchmarks.workloads --score DIR [--split dev|test|all]

Each case trains a real small agent or GAN (``benchmarks/_wl_rl.py``: PPO in numpy on CartPole or
a corridor; ``benchmarks/_wl_gan.py``: a torch GAN on a ring of 2-D Gaussians), healthy or with a
fault injected the way people inject it by accident (entropy coefficient 0 with a large step, a
reward scaled by 100 without advantage normalisation, a learning rate multiplied by 300 half-way,
a policy left out of the optimizer, a reward the agent never reaches, a discriminator with 10x
the generator's learning rate and 5 steps per generator step, ...), and logs it with
``torch.utils.tensorboard.SummaryWriter`` under the tag names of a real library (Stable-Baselines3,
CleanRL, Unity ML-Agents, RLlib, TorchRL; common G/D names for GANs).

Labels come from the trainer's own ground truth, not from the logged curves advisor reads: the
true return per env-step bin against the environment's best return, the policy's entropy against
ln(#actions), the discriminator's accuracy on fresh real and generated samples. A run whose
intended fault did not show is relabelled by the first check that holds, else marked unverified
(and not scored). ``DIR/manifest.json`` lists every run: run, case, seed, split (dev = even seed,
test = odd), workload, condition, expected, verified, check. Thresholds are chosen on dev only.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks._wl_gan import GanSpec, GanTrace  # noqa: E402
from benchmarks._wl_rl import AgentSpec, Trace  # noqa: E402

HEALTHY = "healthy"
RL_CONDITIONS = ("no-learning", "entropy-collapse", "reward-collapse")
GAN_CONDITIONS = ("discriminator-overpowering",)
T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Case:
    name: str
    workload: str  # rl | gan
    condition: str  # intended
    writer: str
    agent: AgentSpec | None = None
    gan: GanSpec | None = None
    why: str = ""


def _rl(name: str, condition: str, writer: str, why: str, **kw: Any) -> Case:
    return Case(name, "rl", condition, writer, agent=AgentSpec(**kw), why=why)


def _gan(name: str, condition: str, writer: str, why: str, **kw: Any) -> Case:
    return Case(name, "gan", condition, writer, gan=GanSpec(**kw), why=why)


CASES: tuple[Case, ...] = (
    _rl("rl/healthy/cartpole-sb3", HEALTHY, "sb3", "PPO defaults"),
    _rl("rl/healthy/cartpole-mlagents", HEALTHY, "mlagents", "linear lr decay, small entropy bonus", lr_decay=True, ent_coef=0.005),
    _rl("rl/healthy/cartpole-cleanrl-noent", HEALTHY, "cleanrl", "no entropy bonus (SB3's default) at a sane lr", ent_coef=0.0),
    _rl("rl/healthy/corridor-rllib", HEALTHY, "rllib", "converges to the far reward: entropy reaches ~0 at the optimum", env="trap", ent_coef=0.05),
    _rl("rl/healthy/cartpole-torchrl", HEALTHY, "torchrl", "PPO defaults", lr=2e-3),
    _rl("rl/no-learning/lr-tiny-sb3", "no-learning", "sb3", "learning rate 1e-6", lr=1e-6),
    _rl("rl/no-learning/policy-not-optimised-mlagents", "no-learning", "mlagents", "optimizer built over the value net only", train_policy=False),
    _rl("rl/no-learning/sparse-cleanrl", "no-learning", "cleanrl", "the only reward is out of a random walk's reach", env="sparse"),
    _rl("rl/no-learning/lr-tiny-rllib", "no-learning", "rllib", "learning rate 1e-7", lr=1e-7),
    _rl("rl/entropy-collapse/corridor-noent-cleanrl", "entropy-collapse", "cleanrl", "no entropy bonus, lr 0.03: settles for the near reward", env="trap", ent_coef=0.0, lr=0.03),
    _rl("rl/entropy-collapse/lr-high-sb3", "entropy-collapse", "sb3", "no entropy bonus, Adam lr 0.2", lr=0.2, ent_coef=0.0),
    _rl("rl/entropy-collapse/reward-x100-mlagents", "entropy-collapse", "mlagents", "reward x100, SGD, no advantage normalisation or clipping",
        optimizer="sgd", lr=0.01, reward_scale=100.0, norm_adv=False, max_grad_norm=0.0, ent_coef=0.0),
    _rl("rl/entropy-collapse/corridor-noent-torchrl", "entropy-collapse", "torchrl", "no entropy bonus, lr 0.05", env="trap", ent_coef=0.0, lr=0.05),
    _rl("rl/entropy-collapse/corridor-lr-high-sb3", "entropy-collapse", "sb3", "no entropy bonus, Adam lr 0.3", env="trap", ent_coef=0.0, lr=0.3),
    _rl("rl/entropy-collapse/reward-x100-cleanrl", "entropy-collapse", "cleanrl", "reward x100, SGD, no advantage normalisation or clipping",
        optimizer="sgd", lr=0.01, reward_scale=100.0, norm_adv=False, max_grad_norm=0.0, ent_coef=0.0),
    _rl("rl/reward-collapse/lr-jump-sb3", "reward-collapse", "sb3", "lr multiplied by 300 at 40% of the run", lr_jump_at=0.4, lr_jump=300.0, ent_coef=0.0),
    _rl("rl/reward-collapse/lr-jump-cleanrl", "reward-collapse", "cleanrl", "lr multiplied by 100 at 50% of the run", lr_jump_at=0.5, lr_jump=100.0, ent_coef=0.0),
    _rl("rl/reward-collapse/lr-jump-mlagents", "reward-collapse", "mlagents", "lr multiplied by 300 at 45% of the run", lr_jump_at=0.45, lr_jump=300.0),
    _rl("rl/reward-collapse/lr-jump-rllib", "reward-collapse", "rllib", "lr multiplied by 200 at 40% of the run", lr_jump_at=0.4, lr_jump=200.0, ent_coef=0.0),
    _gan("gan/healthy/gd", HEALTHY, "gd", "equal lrs, one D step per G step"),
    _gan("gan/healthy/loss-named", HEALTHY, "named", "equal lrs, one D step per G step", steps=800),
    _gan("gan/healthy/real-fake", HEALTHY, "realfake", "equal lrs 5e-4", g_lr=5e-4, d_lr=5e-4, steps=800),
    _gan("gan/healthy/totals", HEALTHY, "totals", "equal lrs, a total D tag beside its parts"),
    _gan("gan/discriminator-overpowering/lr10x-5steps", "discriminator-overpowering", "loss_gd", "D lr 10x G lr, 5 D steps per G step",
         g_lr=1e-4, d_lr=1e-3, d_steps=5),
    _gan("gan/discriminator-overpowering/lr10x-wide", "discriminator-overpowering", "gendisc", "D lr 10x G lr, 3 D steps, D 4x wider",
         g_lr=2e-4, d_lr=2e-3, d_steps=3, d_hidden=128),
    _gan("gan/discriminator-overpowering/lr10x-totals", "discriminator-overpowering", "totals", "D lr 10x G lr, 5 D steps per G step",
         g_lr=1e-4, d_lr=1e-3, d_steps=5),
    _gan("gan/discriminator-overpowering/lr20x-named", "discriminator-overpowering", "named", "D lr 20x G lr, 2 D steps per G step",
         g_lr=1e-4, d_lr=2e-3, d_steps=2),
)


@dataclass
class Label:
    run: str
    case: str
    seed: int
    split: str
    workload: str
    condition: str
    expected: list[str] = field(default_factory=list)
    intended: str = ""
    verified: bool = True
    check: str = ""
    writer: str = ""
    seconds: float = 0.0


def jobs(size: str, only: str = "", seeds: int = 0) -> list[tuple[Case, int]]:
    n = seeds or (4 if size == "ci" else 8)
    cases = [c for c in CASES if not only or fnmatch.fnmatchcase(c.name, only)]
    return [(c, s) for c in cases for s in range(n)]


def run_name(case: Case, seed: int) -> str:
    """An opaque directory name: the label must not leak into what the analyzer reads."""
    return f"run-{hashlib.sha1(case.name.encode()).hexdigest()[:10]}-s{seed}"


# -- labels from ground truth ---------------------------------------------------------------------


def _binned(steps: np.ndarray, values: np.ndarray, lo: float, hi: float, bins: int = 10) -> np.ndarray:
    edges = np.linspace(lo, hi, bins + 1)
    idx = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, bins - 1)
    return np.array([values[idx == b].mean() if np.any(idx == b) else np.nan for b in range(bins)])


def rl_checks(tr: Trace) -> dict[str, tuple[bool, str]]:
    """Each condition's ground-truth test on a trace: (holds, what it saw)."""
    steps = np.array([e[0] for e in tr.episodes], dtype=float)
    rets = np.array([e[1] for e in tr.episodes], dtype=float)
    last = float(tr.updates[-1]["step"])
    b = _binned(steps, rets, 0, last) if len(rets) else np.full(10, np.nan)
    b = np.where(np.isfinite(b), b, 0.0)  # a bin without a finished episode earned nothing
    ent = np.array([u["entropy"] for u in tr.updates])
    hmax, top = float(np.log(tr.n_actions)), tr.max_return
    initial, final, best = float(b[0]), float(b[-2:].mean()), float(b.max())
    low = ent < 0.05 * hmax
    collapse_at = int(np.argmax(low)) / len(ent) if low.any() else 1.0
    text = f"return {initial:.3g} -> best {best:.3g} -> final {final:.3g} (solved at {tr.good_return:g}); entropy min {ent.min():.3f} (ln A {hmax:.3f}), <5% at {collapse_at:.2f}"
    good = tr.good_return
    never_paid = bool(len(rets) and np.ptp(rets) == 0)  # not one episode paid anything else
    return {
        "no-learning": (bool((ent.min() >= 0.9 * hmax or never_paid) and abs(final - initial) <= 0.25 * max(abs(initial), 0.05 * top)), text),
        "entropy-collapse": (bool(collapse_at < 0.5 and final < good and float(b[: max(1, int(collapse_at * 10))].max()) < good), text),
        "reward-collapse": (bool(best >= good and final <= 0.4 * best and b[-3:].max() <= 0.5 * best), text),
        HEALTHY: (bool(final >= good and final >= 0.6 * best), text),
    }


def gan_checks(tr: GanTrace) -> dict[str, tuple[bool, str]]:
    acc = np.array([a for _, a in tr.d_acc])
    late = float(acc[int(0.6 * len(acc)):].mean())
    on = tr.on_mode[-1][1]
    text = f"D accuracy on fresh samples over the last 40%: {late:.2f}; generated samples on a mode at the end: {on:.2f}"
    return {"discriminator-overpowering": (late >= 0.9, text), HEALTHY: (late <= 0.85, text)}


def _label(case: Case, seed: int, rel: str, checks: dict[str, tuple[bool, str]], seconds: float) -> Label:
    order = [case.condition] + [c for c in (*RL_CONDITIONS, *GAN_CONDITIONS, HEALTHY) if c != case.condition and c in checks]
    condition = next((c for c in order if checks[c][0]), case.condition)
    verified = checks[condition][0]
    return Label(run=rel, case=case.name, seed=seed, split="dev" if seed % 2 == 0 else "test", workload=case.workload,
                 condition=condition, expected=[] if condition == HEALTHY else [condition], intended=case.condition,
                 verified=verified, check=checks[condition][1], writer=case.writer, seconds=round(seconds, 2))


# -- writing: one SummaryWriter per run, tag names of the library the case imitates ----------------

Scalars = list[tuple[str, int, float]]  # (tag, step, value) in write order


def _windows(tr: Trace, size: int = 100):
    """(update, the last ``size`` finished episodes' (return, length)) per update: SB3's
    ep_info_buffer and RLlib's episode_reward_mean both average the last 100 episodes."""
    window: list[tuple[float, int]] = []
    ei = 0
    for u in tr.updates:
        while ei < len(tr.episodes) and tr.episodes[ei][0] <= u["step"]:
            window = (window + [tr.episodes[ei][1:]])[-size:]
            ei += 1
        yield u, window


def _sb3(tr: Trace) -> Scalars:
    out: Scalars = []
    for u, window in _windows(tr):
        s = int(u["step"])
        if window:
            out += [("rollout/ep_rew_mean", s, float(np.mean([r for r, _ in window]))), ("rollout/ep_len_mean", s, float(np.mean([n for _, n in window])))]
        out += [("time/fps", s, 2000.0), ("train/entropy_loss", s, -u["entropy"]), ("train/policy_gradient_loss", s, u["policy_loss"]),
                ("train/value_loss", s, u["value_loss"]), ("train/approx_kl", s, u["approx_kl"]), ("train/clip_fraction", s, u["clip_fraction"]),
                ("train/loss", s, u["loss"]), ("train/explained_variance", s, u["explained_variance"]), ("train/learning_rate", s, u["lr"]),
                ("train/clip_range", s, 0.2)]
    return out


def _cleanrl(tr: Trace) -> Scalars:
    out: Scalars = []
    ei = 0
    for u in tr.updates:
        while ei < len(tr.episodes) and tr.episodes[ei][0] <= u["step"]:
            st, r, n = tr.episodes[ei]
            out += [("charts/episodic_return", st, r), ("charts/episodic_length", st, float(n))]
            ei += 1
        s = int(u["step"])
        out += [("charts/learning_rate", s, u["lr"]), ("losses/value_loss", s, u["value_loss"]), ("losses/policy_loss", s, u["policy_loss"]),
                ("losses/entropy", s, u["entropy"]), ("losses/old_approx_kl", s, u["approx_kl"]), ("losses/approx_kl", s, u["approx_kl"]),
                ("losses/clipfrac", s, u["clip_fraction"]), ("losses/explained_variance", s, u["explained_variance"]), ("charts/SPS", s, 2000.0)]
    return out


def _mlagents(tr: Trace, every: int = 2048) -> Scalars:
    """A summary every ``every`` env steps: means over the period (no reward point when no episode ended)."""
    out: Scalars = []
    last = int(tr.updates[-1]["step"])
    ups = np.array([u["step"] for u in tr.updates])
    eps = np.array([e[0] for e in tr.episodes]) if tr.episodes else np.zeros(0)
    for end in range(every, last + 1, every):
        e = [tr.episodes[i] for i in np.nonzero((eps > end - every) & (eps <= end))[0]]
        us = [tr.updates[i] for i in np.nonzero((ups > end - every) & (ups <= end))[0]]
        if e:
            out += [("Environment/Cumulative Reward", end, float(np.mean([x[1] for x in e]))), ("Environment/Episode Length", end, float(np.mean([x[2] for x in e])))]
        if us:
            m = {k: float(np.mean([u[k] for u in us])) for k in ("entropy", "value_loss", "policy_loss", "lr")}
            out += [("Policy/Entropy", end, m["entropy"]), ("Losses/Value Loss", end, m["value_loss"]), ("Losses/Policy Loss", end, abs(m["policy_loss"])),
                    ("Policy/Learning Rate", end, m["lr"]), ("Is Training", end, 1.0)]
    return out


def _rllib(tr: Trace) -> Scalars:
    out: Scalars = []
    p = "ray/tune/info/learner/default_policy/learner_stats/"
    for u, window in _windows(tr):
        s = int(u["step"])
        if window:
            out += [("ray/tune/episode_reward_mean", s, float(np.mean([r for r, _ in window]))), ("ray/tune/episode_len_mean", s, float(np.mean([n for _, n in window])))]
        out += [(p + "entropy", s, u["entropy"]), (p + "policy_loss", s, u["policy_loss"]), (p + "vf_loss", s, u["value_loss"]),
                (p + "total_loss", s, u["loss"]), (p + "kl", s, u["approx_kl"]), (p + "cur_lr", s, u["lr"]), (p + "vf_explained_var", s, u["explained_variance"])]
    return out


def _torchrl(tr: Trace) -> Scalars:
    out: Scalars = []
    ei = 0
    for u in tr.updates:
        s = int(u["step"])
        done = []
        while ei < len(tr.episodes) and tr.episodes[ei][0] <= u["step"]:
            done.append(tr.episodes[ei])
            ei += 1
        if done:
            out += [("train/reward", s, float(np.mean([d[1] for d in done]))), ("train/episode_length", s, float(np.mean([d[2] for d in done])))]
        out += [("train/loss_objective", s, u["policy_loss"]), ("train/loss_critic", s, u["value_loss"]), ("train/loss_entropy", s, -0.01 * u["entropy"]),
                ("train/entropy", s, u["entropy"]), ("train/kl_approx", s, u["approx_kl"]), ("train/clip_fraction", s, u["clip_fraction"]), ("train/lr", s, u["lr"])]
    return out


GAN_TAGS = {
    "gd": {"g": "G_loss", "d": "D_loss"},
    "loss_gd": {"g": "loss_G", "d": "loss_D"},
    "named": {"g": "Loss/Generator", "d": "Loss/Discriminator"},
    "realfake": {"g": "g_loss", "d_real": "d_loss_real", "d_fake": "d_loss_fake"},
    "gendisc": {"g": "loss/gen", "d": "loss/disc"},
    "totals": {"g": "Loss/G_total", "d": "Loss/D_total", "d_real": "Loss/D_real", "d_fake": "Loss/D_fake"},
}


def _gan_scalars(tr: GanTrace, writer: str) -> Scalars:
    tags = GAN_TAGS[writer]
    series = {"g": tr.g_loss, "d": tr.d_loss, "d_real": tr.d_real, "d_fake": tr.d_fake}
    return [(tags[k], s, float(series[k][i])) for i, s in enumerate(tr.steps) for k in ("d", "d_real", "d_fake", "g") if k in tags]


RL_WRITERS: dict[str, Callable[[Trace], Scalars]] = {"sb3": _sb3, "cleanrl": _cleanrl, "mlagents": _mlagents, "rllib": _rllib, "torchrl": _torchrl}


def _write(out_dir: str, scalars: Scalars, hparams: dict[str, Any]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    os.makedirs(out_dir, exist_ok=True)
    w = SummaryWriter(out_dir)
    try:
        for tag, step, value in scalars:
            w.add_scalar(tag, value, step, walltime=T0 + 0.001 * step)
    finally:
        w.close()
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        json.dump(hparams, fh, indent=1, sort_keys=True)


def run_one(case: Case, seed: int, out: str) -> dict[str, Any]:
    """Train, log and label one (case, seed). Runs inside a worker process."""
    t0 = time.perf_counter()
    rel = run_name(case, seed)
    if case.agent is not None:
        from benchmarks._wl_rl import train

        a = case.agent
        tr = train(a, seed)
        hp = {"algo": "PPO", "learning_rate": a.lr, "ent_coef": a.ent_coef, "vf_coef": a.vf_coef, "clip_range": a.clip_range,
              "n_epochs": a.epochs, "max_grad_norm": a.max_grad_norm, "normalize_advantage": a.norm_adv, "optimizer": a.optimizer}
        _write(os.path.join(out, rel), RL_WRITERS[case.writer](tr), hp)
        checks = rl_checks(tr)
    else:
        from benchmarks._wl_gan import train as train_gan

        g = case.gan
        assert g is not None
        gtr = train_gan(g, seed)
        hp = {"g_lr": g.g_lr, "d_lr": g.d_lr, "d_steps": g.d_steps, "batch_size": g.batch, "g_hidden": g.g_hidden, "d_hidden": g.d_hidden}
        _write(os.path.join(out, rel), _gan_scalars(gtr, case.writer), hp)
        checks = gan_checks(gtr)
    return asdict(_label(case, seed, rel, checks, time.perf_counter() - t0))


def generate(selected: list[tuple[Case, int]], out: str, workers: int) -> list[dict[str, Any]]:
    """Run all jobs (GANs first: they take longest) and write DIR/manifest.json."""
    os.makedirs(out, exist_ok=True)
    ordered = sorted(selected, key=lambda j: (j[0].workload != "gan", j[0].name, j[1]))
    labels: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if workers <= 1:
        results = (run_one(c, s, out) for c, s in ordered)
        labels = list(results)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(run_one, c, s, out) for c, s in ordered]
            labels = [f.result() for f in as_completed(futures)]
    labels.sort(key=lambda d: (d["case"], d["seed"]))
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(labels, fh, indent=1, sort_keys=True)
    n_ok = sum(lab["verified"] for lab in labels)
    print(f"{len(labels)} runs ({n_ok} verified) in {time.perf_counter() - t0:.1f}s -> {out}", file=sys.stderr)
    return labels


# -- scoring ---------------------------------------------------------------------------------------

WORKLOAD_CONDITIONS = {"no-learning", "entropy-collapse", "reward-collapse", "discriminator-overpowering", "non-finite"}


def score(directory: str, split: str = "test") -> dict[str, Any]:
    """Analyze DIR and compare with its manifest: recall per condition, healthy warnings,
    supervised-loss findings on RL/GAN runs, workload classification."""
    from advisor.analyze import analyze

    with open(os.path.join(directory, "manifest.json")) as fh:
        labels = [lab for lab in json.load(fh) if lab["verified"] and (split == "all" or lab["split"] == split)]
    reports = {r.run: r for r in analyze([directory]).report.runs}
    per: dict[str, list[bool]] = {}
    loud_hits: dict[str, list[bool]] = {}
    healthy_warn, supervised, wrong_workload, rows = [], [], [], []
    for lab in labels:
        r = reports.get(lab["run"])
        found = {f.condition: f for f in (r.findings if r else ())}
        loud = sorted(c for c, f in found.items() if f.severity.rank >= 2)
        if lab["condition"] == HEALTHY:
            per.setdefault(HEALTHY, []).append(not loud)
            if loud:
                healthy_warn.append((lab["case"], lab["seed"], loud))
        else:
            per.setdefault(lab["condition"], []).append(lab["condition"] in found)
            loud_hits.setdefault(lab["condition"], []).append(lab["condition"] in loud)
        # a finding judged on a loss of an RL/GAN run is a supervised rule speaking out of turn;
        # the plateau of an RL run's reward is the reward's, and lr-too-high from a PPO agent's
        # approximate KL per update is the KL's, not a loss's
        stray = sorted(c for c, f in found.items() if c not in WORKLOAD_CONDITIONS and f.evidence.get("signal") not in ("reward", "approx_kl"))
        if stray:
            supervised.append((lab["case"], lab["seed"], stray))
        wl = getattr(r, "workload", None)
        if wl != lab["workload"]:
            wrong_workload.append((lab["case"], lab["seed"], wl))
        rows.append((lab["case"], lab["seed"], lab["condition"], sorted(f"{c}:{f.severity.value}" for c, f in found.items())))
    return {"per": per, "loud": loud_hits, "healthy_warnings": healthy_warn, "supervised": supervised, "wrong_workload": wrong_workload, "rows": rows, "n": len(labels)}


def print_score(res: dict[str, Any], split: str, verbose: bool = False) -> None:
    print(f"split {split}: {res['n']} verified runs")
    print(f"{'condition':28s} {'recall (any severity)':>22s}   at warning+")
    for cond, hits in sorted(res["per"].items()):
        if cond == HEALTHY:
            print(f"{cond:28s} {sum(hits):4d}/{len(hits):<4d} {sum(hits) / len(hits):5.2f}   quiet at warning+")
            continue
        loud = res["loud"][cond]
        print(f"{cond:28s} {sum(hits):4d}/{len(hits):<4d} {sum(hits) / len(hits):5.2f}   {sum(loud)}/{len(loud)}")
    print(f"healthy runs with a warning+: {len(res['healthy_warnings'])}  {res['healthy_warnings']}")
    print(f"RL/GAN runs with a supervised-loss finding: {len(res['supervised'])}  {res['supervised']}")
    print(f"runs whose workload was misread: {len(res['wrong_workload'])}  {res['wrong_workload']}")
    if verbose:
        for row in res["rows"]:
            print("  ", *row)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.workloads", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="generate runs into this directory")
    ap.add_argument("--size", choices=("ci", "full"), default="ci")
    ap.add_argument("--only", default="", help="glob on case names, e.g. 'gan/*'")
    ap.add_argument("--seeds", type=int, default=0, help="seeds per case (default: 4 for ci, 8 for full)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--score", help="score advisor on a generated directory")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="test")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.out and not args.score:
        ap.error("give --out DIR to generate or --score DIR to score")
    if args.out:
        selected = jobs(args.size, args.only, args.seeds)
        if not selected:
            print(f"no case matches {args.only!r}", file=sys.stderr)
            return 2
        generate(selected, args.out, max(1, args.workers))
    if args.score:
        print_score(score(args.score, args.split), args.split, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
