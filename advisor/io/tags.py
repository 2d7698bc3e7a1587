"""The vocabulary of tag names: tokens, side (train / val / test), kind (loss, accuracy, metric
with a direction, lr, gradient norm, ...) and the loss families that are never summed.

``advisor.io.roles`` scores these features to pick each role; the workload reader uses the same
tokens to tell a supervised run from an RL or GAN one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from advisor.io.discover import split_kind
from advisor.model import Series

_TRAIN_TOKENS = {"train", "training", "trn", "tr"}
_VAL_TOKENS = {"val", "valid", "validation", "eval", "evaluation", "dev", "vl"}
_TEST_TOKENS = {"test", "testing"}
_GRANULARITY = {"step", "steps", "batch", "batches", "iter", "iters", "iteration", "iterations", "epoch", "epochs", "global"}
_PER_STEP = {"step", "steps", "batch", "batches", "iter", "iters", "iteration", "iterations"}
_LOSS = {"loss", "losses", "cost", "nll", "xent", "crossentropy", "ce", "bce", "objective"}
_LOSS_EXCLUDE = {"scale", "scaler", "std", "var", "variance", "weight", "weights", "ratio", "coef", "coeff", "lr", "ppl", "perplexity"}
_ACC = {"acc", "accuracy", "top1", "acc1", "accu"}
_HIGHER = {"map", "f1", "auc", "auroc", "precision", "recall", "iou", "miou", "fwiou", "dice", "bleu", "rouge", "r2", "exprate", "psnr", "ssim", "kappa", "mcc", "top5", "acc5",
           "ap", "ap50", "ap75", "aps", "apm", "apl"}  # COCO's AP as Detectron2 names it: bbox/AP, segm/AP50
_LOWER = {"error", "err", "mae", "mse", "rmse", "perplexity", "ppl", "wer", "cer", "fid", "mape"}
EVAL_ONLY = {"perplexity", "ppl", "wer", "cer", "fid"}  # lower-is-better metrics computed on held-out data
_IGNORE = {"runtime", "second", "seconds", "flos", "time", "memory", "mem", "momentum", "hp", "throughput", "samples", "tokens", "speed", "duration", "count"}

_LR_RE = re.compile(r"(^|[^a-z])(lr\d*|learning[_ \-]?rate)([^a-z]|$)")
_GRAD_RE = re.compile(r"grad(ient)?s?[_\- ]?(2(\.0)?[_ ])?(l2[_ ]?)?norm|global[_ ]?norm|(^|[/_])gnorm($|[/_])")  # gnorm: fairseq
_UPDATE_RE = re.compile(r"update[_\- ]?(to[_\- ]?(weight|param)|ratio|/param)|updates?[_ ]ratio")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_MAP = re.compile(r"mAP(?=[^a-z]|$)")
# IoU and its averages are one word each (mIoU, fwIoU: Detectron2's semantic-segmentation evaluator;
# camel-case splitting read "mIoU" as m + io + u)
_IOU = re.compile(r"(mIoU|mIOU|fwIoU|MeanIoU|IoU|IOU|Iou)(?=[^a-z]|$)")
_SPLIT = re.compile(r"[^a-z0-9]+")
_LAYER_SUFFIX = re.compile(r"grad(ient)?s?[_\- ]?(2(\.0)?[_ ])?(l2[_ ]?)?norm[_ ]?(total|global|all)?$|(^|/)gnorm$")


# Words that put a loss in a family of its own: losses of different families are different
# objectives (a PPO agent's policy and value losses, a GAN's two players) and are never summed.
POLICY_WORDS = frozenset({"policy", "actor", "pg", "pi", "surrogate", "surr"})
VALUE_WORDS = frozenset({"value", "vf", "critic", "qf", "qf1", "qf2", "q"})
GEN_WORDS = frozenset({"g", "gen", "generator", "netg", "errg"})
DISC_WORDS = frozenset({"d", "dis", "disc", "discriminator", "netd", "errd"})
TOTAL_WORDS = frozenset({"total", "sum", "overall", "combined", "all"})
_FAMILIES = (("policy", POLICY_WORDS), ("value", VALUE_WORDS), ("generator", GEN_WORDS), ("discriminator", DISC_WORDS), ("entropy", frozenset({"entropy"})), ("kl", frozenset({"kl"})))


def loss_family(toks: tuple[str, ...] | list[str]) -> str | None:
    """The objective a loss tag belongs to (``policy``, ``value``, ``generator``, ...), or None
    for a component of one ordinary loss (``box_loss``, ``cls_loss``)."""
    tset = set(toks)
    if {"cross", "entropy"} <= tset:
        return None  # cross-entropy is a supervised loss, not a policy's entropy
    for name, words in _FAMILIES:
        if tset & words:
            return name
    return None


def tokens(tag: str) -> list[str]:
    """Lower-case word tokens of a tag: 'train/lossStep' -> ['train', 'loss', 'step'];
    'metrics/mAP50(B)' -> ['metrics', 'map', '50', 'b'] (mAP is one word, not m + AP)."""
    return list(_tokens(tag))


@functools.lru_cache(maxsize=1 << 16)
def _tokens(tag: str) -> tuple[str, ...]:
    # Cached: roles and the workload reader both tokenise every tag of a run (thousands, with
    # per-layer gradient norms).
    tag = _MAP.sub("map_", tag)
    tag = _IOU.sub(lambda m: "_" + {"m": "miou", "f": "fwiou", "M": "miou"}.get(m.group(1)[0], "iou") + "_", tag)
    return tuple(t for t in _SPLIT.split(_CAMEL.sub(r"\1_\2", tag).lower()) if t)


@dataclass(frozen=True)
class Features:
    key: str
    side: str | None  # 'train', 'val', 'test' or None
    kind: str | None  # 'loss', 'acc', 'metric', 'lr', 'grad_norm', 'grad_norm_layer', 'update_ratio', 'epoch'
    direction: str | None  # 'min' or 'max' for losses and metrics
    generic: bool  # nothing but the kind (and side/granularity words) in the name
    per_step: bool
    per_epoch: bool
    n: int
    tokens: tuple[str, ...]


def tag_side(toks: list[str]) -> str | None:
    for t in toks:
        if t in _TRAIN_TOKENS:
            return "train"
        if t in _VAL_TOKENS:
            return "val"
        if t in _TEST_TOKENS:
            return "test"
    return None


def _explicit_side(tag: str) -> str | None:
    """A side the tag states outright: a path component of its own (``val/loss``, ``loss/val``)
    or beside the metric's name (``val_loss``, ``loss_train``), or right before Lightning's
    ``_step``/``_epoch`` suffix (``val_loss_train_step``) — not a word inside another name
    (``Training_procedure/cost``)."""
    kinds = _LOSS | _ACC | _HIGHER | _LOWER | {"lr"}
    for comp in tag.split("/"):
        toks = tokens(comp)
        if not toks:
            continue
        if len(toks) == 1:
            side = tag_side(toks)
        elif len(toks) >= 3 and toks[-1] in _GRANULARITY and tag_side(toks[-2:-1]):
            # Lightning's `{name}_step` / `{name}_epoch` of a name that ends with its split
            # (`val_loss_train_step`: the user's `val_loss` measured on the train split)
            side = tag_side(toks[-2:-1])
        elif toks[1] in kinds:
            side = tag_side(toks[:1])
        elif toks[-2] in kinds:
            side = tag_side(toks[-1:])
        else:
            side = None
        if side is not None:
            return side
    return None


def _kind(tag_l: str, tset: set[str]) -> str | None:
    """What a (lower-cased) tag or path component measures, from its words; None if nothing."""
    if tag_l in ("epoch", "epochs", "train/epoch", "trainer/epoch"):
        return "epoch"
    if tset & _IGNORE or tag_l.startswith("hp_metric"):
        return None
    if _GRAD_RE.search(tag_l):
        return "grad_norm"
    if _UPDATE_RE.search(tag_l):
        return "update_ratio"
    if _LR_RE.search(tag_l) and not tset & _LOSS:
        return "lr"
    if (tset & _LOSS or {"cross", "entropy"} <= tset) and not tset & _LOSS_EXCLUDE:
        return "loss"
    if tset & _ACC:
        return "acc"
    if tset & _HIGHER:
        return "metric_max"
    if tset & _LOWER:
        return "metric_min"
    return None


def features(s: Series, run_hint: str | None = None) -> Features:
    tag_l = s.tag.lower()
    toks = tokens(s.tag)
    tset = set(toks)
    # A tag that names its side keeps it (``val/loss`` under a train/ directory is still the
    # validation loss); the split directory, then the run directory's name, decide otherwise.
    side = _explicit_side(s.tag)
    if side is None and s.split:
        side = split_kind(s.split)
    if side is None:
        side = tag_side(toks)
    if side is None and not s.split:
        side = split_kind(run_hint)
    # a bare index (pytorch_tabular's train_loss_0 for its first target) names no other quantity
    rest = {t for t in tset - _TRAIN_TOKENS - _VAL_TOKENS - _TEST_TOKENS - _GRANULARITY if not t.isdigit()}
    # The kind comes from the last path component when that names one by itself: a run name
    # written into the tag ("LR-low, opt_SGD, arch_high/train_loss") is no learning rate, and
    # its words do not unmake the loss. Otherwise the whole tag decides ("Loss/train", "x/lr0").
    leaf = s.tag.rsplit("/", 1)[-1]
    kind = _kind(leaf.lower(), set(tokens(leaf))) if leaf != s.tag else None
    if kind in (None, "epoch"):
        kind = _kind(tag_l, tset)
    direction: str | None = None
    generic = False
    if kind in ("grad_norm", "grad_norm_layer"):
        layer = not _LAYER_SUFFIX.search(tag_l.rstrip("/")) and not (tset & {"total", "global"})
        kind = "grad_norm_layer" if layer else "grad_norm"
    elif kind == "loss":
        direction = "min"
        generic = rest <= _LOSS | {"total", "avg", "mean"}
    elif kind == "acc" and tset & {"real", "fake", "gan", "adversarial"}:
        kind = None  # a discriminator's accuracy on real or generated samples is no task accuracy
    elif kind == "acc":
        direction = "max"
        generic = rest <= _ACC | {"avg", "mean"}
    elif kind in ("metric_max", "metric_min"):
        kind, direction = "metric", kind[7:]
    return Features(
        key=s.key,
        side=side,
        kind=kind,
        direction=direction,
        generic=generic,
        per_step=bool(tset & _PER_STEP),
        per_epoch=bool(tset & {"epoch", "epochs"}),
        n=len(s),
        tokens=tuple(toks),
    )
