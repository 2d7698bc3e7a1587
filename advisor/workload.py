"""Which kind of training a run is — ``supervised``, ``rl``, ``gan`` or ``unknown`` — read from its tags.

The supervised rules judge the shape of a loss curve; a PPO agent's value loss grows as its
returns grow and a GAN's two losses swing against each other by design, so the workload decides
which rules may speak (``RuleSpec.workloads``) and which streams the run's signals are.

Tags are read by features, the way ``advisor.io.roles`` reads them: a tag is split into word
tokens and each token set is matched against small vocabularies, not a list of exact names.

* reinforcement learning: a reward or return (``rollout/ep_rew_mean`` of Stable-Baselines3,
  ``charts/episodic_return`` of CleanRL, ``ray/tune/episode_reward_mean`` of RLlib,
  ``Environment/Cumulative Reward`` of Unity ML-Agents, ``train/reward`` of TorchRL), episode
  length, policy entropy (``train/entropy_loss`` is its negative), value and policy losses,
  approximate KL, clip fraction, explained variance. A reward (not a preference-model reward:
  ``rewards/chosen``) makes a run ``rl``; without one, two of the losses and statistics only an
  RL trainer writes (value loss, policy loss, episode length, clip fraction, explained variance).
* GAN: a generator loss and a discriminator loss (``G_loss``/``D_loss``, ``loss_G``,
  ``Loss/Generator``, ``d_loss_real``/``d_loss_fake``, ``gen``/``disc``, ``errG``).
* supervised: anything else with a loss, an accuracy or a task metric — detection losses with
  mAP (YOLO) included.
* unknown: nothing recognisable, or signs of two workloads at once (a reward and a G/D pair),
  or one RL-only stream without a reward. The report says so; it does not guess.

The user overrides the reading in ``advisor.toml`` (``workload = "rl"``, or per run glob under
``[workloads]``); the streams are then still found by their features.

For ``rl`` and ``gan`` this module also picks the streams the rules read (:class:`Workload.roles`):
reward, episode length, entropy, value and policy loss, KL; generator and discriminator loss
(discriminator parts that share their steps are summed when no total is logged). The train loss
of such a run is a real total (SB3's ``train/loss``, RLlib's ``total_loss``) or one named loss
(the policy loss; the generator loss), never a sum of unlike losses.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from advisor.io.tags import DISC_WORDS, GEN_WORDS, POLICY_WORDS, TOTAL_WORDS, VALUE_WORDS, features, tokens
from advisor.model import Role, Run, Series

KINDS = ("supervised", "rl", "gan", "unknown")

_REWARD = {"reward", "rewards", "return", "returns", "rew"}
# Preference optimisation (DPO's rewards/chosen) and reward-model training log "rewards" too.
_NOT_RL_REWARD = {"chosen", "rejected", "margin", "margins", "accuracies", "model", "loss", "mse", "mae", "acc", "accuracy"}
_EPISODE = {"ep", "episode", "episodes", "episodic"}
_LENGTH = {"len", "length", "lengths"}
_LOSSY = {"loss", "losses", "err", "error", "cost", "objective"}
_ADVERSARIAL = {"gan", "adv", "adversarial", "real", "fake"}
_RECONSTRUCTION = {"l1", "l2", "mse", "recon", "reconstruction", "rec", "cycle", "cyc", "idt", "identity", "perceptual", "vgg", "content", "pixel", "feat", "fm"}
_COEF = {"coef", "coeff", "coefficient", "beta", "target"}
_CLEAN_NAME = {"loss", "losses", "total", "mean", "avg", "train", "training", "err"}
_ORDER_STATS = {"min", "max", "median", "std", "var", "p10", "p90"}

RL_KINDS = ("reward", "episode_length", "entropy", "value_loss", "policy_loss", "kl", "clip_fraction", "explained_variance")
# Streams only an RL trainer writes (entropy and KL are logged by other models too).
_RL_ONLY = {"value_loss", "policy_loss", "episode_length", "clip_fraction", "explained_variance"}
_ROLE_OF = {
    "reward": Role.REWARD,
    "episode_length": Role.EPISODE_LENGTH,
    "entropy": Role.ENTROPY,
    "value_loss": Role.VALUE_LOSS,
    "policy_loss": Role.POLICY_LOSS,
    "kl": Role.APPROX_KL,
    "gen_loss": Role.GEN_LOSS,
    "disc_loss": Role.DISC_LOSS,
}
_LABEL = {"gen_loss": "generator loss", "disc_loss": "discriminator loss", "kl": "KL"}


@dataclass(frozen=True)
class Workload:
    """A run's workload, the words that say why, and the streams picked for its rules."""

    kind: str
    evidence: str
    roles: Mapping[Role, Series] = field(default_factory=dict)
    source: str = "tags"  # "tags" or "config"
    notes: tuple[str, ...] = ()


def _gan_word(tset: set[str], context: set[str], words: frozenset[str], n_tokens: int) -> bool:
    """A G or D word that names a player's loss: with a loss word, an adversarial word, or alone."""
    hit = tset & words
    if not hit:
        return False
    if hit <= {"g", "d"}:  # a single letter counts only beside a loss or adversarial word
        return bool(context & (_LOSSY | _ADVERSARIAL | TOTAL_WORDS | {"l1"}))
    return bool(context & (_LOSSY | _ADVERSARIAL | TOTAL_WORDS)) or n_tokens <= 2


def _words(tag: str) -> tuple[list[str], set[str]]:
    """(naming tokens, context tokens): what the stream is, from its last path component (the
    parent's too when that is just ``loss``), and the whole tag for loss and adversarial words.
    RLlib's ``.../default_policy/learner_stats/total_loss`` is a total, not a policy loss."""
    parts = [p for p in tag.split("/") if p]
    leaf = tokens(parts[-1]) if parts else []
    if len(parts) > 1 and set(leaf) <= _LOSSY | _CLEAN_NAME:
        leaf = tokens(parts[-2]) + leaf
    return leaf, set(tokens(tag))


def tag_kind(tag: str) -> str | None:
    """What an RL or GAN stream is (one of :data:`RL_KINDS`, ``gen_loss``, ``disc_loss``), else None."""
    leaf, context = _words(tag)
    tset = set(leaf)
    if tset & _COEF or {"cross", "entropy"} <= tset or tset & {"xent", "bce", "ce"}:
        return None  # entropy coefficients, KL targets, cross-entropy losses
    if "entropy" in tset:
        return "entropy"
    if "kl" in tset:
        return "kl"
    if "clipfrac" in tset or ("clip" in tset and tset & {"fraction", "frac"}):
        return "clip_fraction"
    if "explained" in tset:
        return "explained_variance"
    if tset & _EPISODE and tset & _LENGTH:
        return "episode_length"
    if tset & _REWARD and not tset & _NOT_RL_REWARD:
        return "reward"
    lossy = bool(context & _LOSSY)
    if lossy and tset & VALUE_WORDS:
        return "value_loss"
    if lossy and (tset & POLICY_WORDS or {"loss", "objective"} <= tset):
        return "policy_loss"
    for kind, words in (("gen_loss", GEN_WORDS), ("disc_loss", DISC_WORDS)):
        if _gan_word(tset, context, words, len(leaf)):
            return kind
    return None


def _kinds(run: Run) -> dict[str, list[Series]]:
    out: dict[str, list[Series]] = {}
    for s in run.series.values():
        k = tag_kind(s.tag) if len(s) else None
        if k is not None:
            out.setdefault(k, []).append(s)
    # A WGAN's critic is its discriminator, not a value function.
    if "gen_loss" in out and "reward" not in out:
        critics = [s for s in out.get("value_loss", []) if "critic" in tokens(s.tag)]
        if critics:
            out.setdefault("disc_loss", []).extend(critics)
            out["value_loss"] = [s for s in out["value_loss"] if s not in critics]
            if not out["value_loss"]:
                del out["value_loss"]
    return out


def _read_kind(kinds: Mapping[str, list[Series]], supervised: list[str], held_out: bool) -> tuple[str, str]:
    """(kind, why) from the stream kinds found and the run's supervised signs."""
    rl = {k for k in kinds if k in RL_KINDS}
    gan = "gen_loss" in kinds and "disc_loss" in kinds
    listing = _listing(kinds, sorted(rl, key=RL_KINDS.index))
    if gan and "reward" in kinds:
        return "unknown", "not recognised: both a reward and a generator/discriminator pair (" + _listing(kinds, ["reward", "gen_loss", "disc_loss"]) + ")"
    if gan:
        return "gan", _listing(kinds, ["gen_loss", "disc_loss"])
    if len(rl & _RL_ONLY) >= 2 or ("reward" in kinds and (rl - {"reward"} or not held_out)):
        return "rl", listing
    if "reward" in kinds:  # a lone "return" beside a validation loss may be a finance metric
        return "unknown", f"not recognised: {_listing(kinds, ['reward'])} but no other RL stream, beside a validation loss"
    if rl & _RL_ONLY or "gen_loss" in kinds or "disc_loss" in kinds:
        one = _listing(kinds, sorted(set(kinds) & (_RL_ONLY | {"gen_loss", "disc_loss"})))
        return "unknown", f"not recognised: {one} without a reward or the other player's loss"
    if supervised:
        return "supervised", ", ".join(supervised)
    return "unknown", "not recognised: no loss, accuracy, task metric, reward or generator/discriminator tags"


def _listing(kinds: Mapping[str, list[Series]], names: list[str]) -> str:
    return ", ".join(f"{_LABEL.get(k, k.replace('_', ' '))} {_best(kinds[k], k).key}" for k in names if k in kinds)


def _supervised_signs(run: Run) -> tuple[list[str], bool]:
    """(what marks a supervised run, whether it has a held-out loss or accuracy)."""
    feats = [features(s) for s in run.series.values() if len(s)]
    signs = []
    losses = sorted(f.key for f in feats if f.kind == "loss")
    if losses:
        signs.append(f"loss {losses[0]}" + (f" (+{len(losses) - 1})" if len(losses) > 1 else ""))
    for kind, word in (("acc", "accuracy"), ("metric", "metric")):
        keys = sorted(f.key for f in feats if f.kind == kind)
        if keys:
            signs.append(f"{word} {keys[0]}")
    held_out = any(f.kind in ("loss", "acc") and f.side in ("val", "test") for f in feats)
    return signs, held_out


def classify(run: Run, override: str | None = None) -> Workload:
    """The run's workload (``override`` from the config wins) and the streams its rules read."""
    kinds = _kinds(run)
    kind, why = _read_kind(kinds, *_supervised_signs(run))
    source = "tags"
    if override is not None and override != kind:
        kind, why, source = override, f"set in the config (the tags read as {kind}: {why})", "config"
    roles, notes = pick_roles(run, kind, kinds)
    return Workload(kind, why, roles, source, notes)


_SUPERVISED_ROLES = ((Role.TRAIN_LOSS, "train loss"), (Role.VAL_LOSS, "val loss"), (Role.VAL_METRIC, "task metric"), (Role.VAL_ACC, "val accuracy"))


def supervised_evidence(roles: Mapping[Role, str]) -> str | None:
    """A supervised run's evidence from its resolved roles (train loss, val loss, task metric)."""
    parts = [f"{label} {roles[r]}" for r, label in _SUPERVISED_ROLES if r in roles]
    return ", ".join(parts) if parts else None


def _score(s: Series, kind: str) -> tuple[float, int, str]:
    """Higher first: a plain or total name, more points, a shorter name."""
    toks = set(tokens(s.tag))
    plain = toks - _CLEAN_NAME - GEN_WORDS - DISC_WORDS - POLICY_WORDS - VALUE_WORDS
    score = 10.0 if not plain else 0.0
    score += 8 if toks & TOTAL_WORDS else 0
    score += 2 if kind == "reward" and toks & (_EPISODE | {"cumulative"}) else 0
    # the mean reward, not the worst, best or middle episode's (min_/max_/median_reward beside it)
    score -= 5 if kind == "reward" and toks & _ORDER_STATS else 0
    score -= 4 if kind == "kl" and "old" in toks else 0
    score -= 2 if kind == "entropy" and toks & _LOSSY else 0  # the entropy itself beats its loss
    # pix2pix / CycleGAN log the generator's adversarial term (G_GAN) beside its reconstruction
    # terms (G_L1, cycle_A, idt_A) and often their total: the game is read on the adversarial
    # term, which a total that adds a reconstruction loss would swamp
    score += 20 if kind == "gen_loss" and toks & _ADVERSARIAL else 0
    score -= 3 if kind == "gen_loss" and toks & _RECONSTRUCTION else 0
    score += 0.5 * math.log10(max(len(s), 1))
    return (score, -len(s.key), s.key)


def _best(cands: list[Series], kind: str) -> Series:
    return max(cands, key=lambda s: _score(s, kind))


def pick_roles(run: Run, kind: str, kinds: Mapping[str, list[Series]] | None = None) -> tuple[dict[Role, Series], tuple[str, ...]]:
    """The streams an rl or gan run's rules read (empty for other workloads), with notes."""
    kinds = _kinds(run) if kinds is None else kinds
    roles: dict[Role, Series] = {}
    notes: list[str] = []
    if kind == "rl":
        for k in RL_KINDS:
            if k in kinds and k in _ROLE_OF:
                roles[_ROLE_OF[k]] = _best(kinds[k], k)
        total = _real_total(run)
        if total is not None:
            roles[Role.TRAIN_LOSS] = total
        elif Role.POLICY_LOSS in roles:
            roles[Role.TRAIN_LOSS] = roles[Role.POLICY_LOSS]
            notes.append(f"train loss is the policy loss {roles[Role.POLICY_LOSS].key}: policy, value and entropy losses are not summed")
    elif kind == "gan":
        if "gen_loss" in kinds:
            roles[Role.GEN_LOSS] = _best(kinds["gen_loss"], "gen_loss")
            roles[Role.TRAIN_LOSS] = roles[Role.GEN_LOSS]
            notes.append(f"train loss is the generator loss {roles[Role.GEN_LOSS].key}: generator and discriminator losses are not summed")
        if "disc_loss" in kinds:
            d = _disc_loss(kinds["disc_loss"])
            roles[Role.DISC_LOSS] = d
            if d.key not in run.series:
                notes.append(f"discriminator loss is the sum of {d.tag}")
    return roles, tuple(notes)


def _real_total(run: Run) -> Series | None:
    """An RL trainer's own total loss (SB3 ``train/loss``, RLlib ``total_loss``): a loss tag that
    names nothing but the loss (and total), so it is the objective the optimizer saw."""
    best = None
    for s in run.series.values():
        f = features(s)
        if f.kind == "loss" and len(s) >= 3 and tag_kind(s.tag) is None and (f.generic or "total" in f.tokens):
            if best is None or len(s) > len(best):
                best = s
    return best


def _disc_loss(cands: list[Series]) -> Series:
    """The discriminator's loss: a plain or total tag, else its real and fake parts summed when
    they share their steps."""
    best = _best(cands, "disc_loss")
    if _score(best, "disc_loss")[0] >= 10 or len(cands) < 2:
        return best
    groups: dict[tuple[str, bytes], list[Series]] = {}
    for s in cands:
        groups.setdefault((os.path.dirname(s.tag), s.steps.tobytes()), []).append(s)
    parts = max(groups.values(), key=len)
    if len(parts) < 2:
        return best
    first = parts[0]
    names = "+".join(s.tag.rsplit("/", 1)[-1] for s in parts)
    parent = os.path.dirname(first.tag)
    total = np.sum([s.values for s in parts], axis=0)
    return Series.from_points((parent + "/" if parent else "") + names, first.steps, total, first.wall_times, split=first.split)
