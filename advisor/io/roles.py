"""Decide which stream is the train loss, the val loss, the learning rate, ... in a run.

Names differ by writer — ``train/loss`` (advisor, HF), ``Loss/train`` (SummaryWriter habit),
``train_loss_step`` / ``val_loss`` / ``lr-Adam`` (Lightning), ``epoch_loss`` under ``train/`` and
``validation/`` (Keras), ``loss/batch`` under ``train_log/`` (Catalyst), ``x/lr0`` (YOLO) — so
resolution works on features, not a list of exact names: each tag is split into tokens, the
split directory (or a token such as ``val``) gives its side, a table of patterns gives its kind
(loss, accuracy, other metric with a direction, lr, gradient norm, update ratio, epoch), and
candidates are scored (a plain ``loss`` beats ``box_loss``; per-step beats per-epoch for
training, the reverse for validation; single points lose). Loss components that share their
steps and have no total (``box_loss`` + ``obj_loss`` + ``cls_loss``) are summed into one derived
stream — but never unlike losses (policy + value + entropy, generator + discriminator: see
:func:`loss_family`) and never a group holding a total of its own, which would count its parts
twice. For a run whose workload (``advisor.workload``) is ``rl`` or ``gan`` the losses are not
resolved here at all: the caller pins the roles it read (reward, entropy, generator loss, ...),
and the train loss is a real total or one named loss, never a sum. A user mapping (``[signals]`` in advisor.toml, or ``[tool.advisor.signals]`` in
pyproject.toml) overrides any role with a tag name or glob. Roles that cannot be found are
reported as unresolved, never guessed.
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from advisor.io.tags import EVAL_ONLY, TOTAL_WORDS, Features, features, loss_family, tag_side, tokens
from advisor.model import Role, Run, Series


@dataclass(frozen=True)
class Signals:
    """A run's resolved roles: role -> series key, plus what could not be resolved."""

    roles: Mapping[Role, str]
    directions: Mapping[str, str] = field(default_factory=dict)  # series key -> 'min' | 'max'
    layer_grad_norms: tuple[str, ...] = ()
    derived: Mapping[str, Series] = field(default_factory=dict)  # synthetic streams (summed losses)
    unresolved: tuple[Role, ...] = ()
    notes: tuple[str, ...] = ()

    def get(self, run: Run, role: Role) -> Series | None:
        key = self.roles.get(role)
        if key is None:
            return None
        return self.derived.get(key) or run.series.get(key)

    def as_tags(self) -> dict[str, str]:
        return {r.value: k for r, k in self.roles.items()}


REPORTED_ROLES = (Role.TRAIN_LOSS, Role.VAL_LOSS, Role.LR, Role.GRAD_NORM)
# What a report lists as "not found" for the other workloads: the streams their rules read.
REPORTED_BY_WORKLOAD = {"rl": (Role.REWARD, Role.ENTROPY, Role.LR), "gan": (Role.GEN_LOSS, Role.DISC_LOSS, Role.LR)}


# Which task metric a user reads first, when a run logs several.
_METRIC_RANK = {"map": 5.0, "ap": 5.0, "ap50": 4.5, "ap75": 4.0, "wer": 4.0, "cer": 3.5, "miou": 4.0, "fwiou": 3.5, "f1": 4.0, "bleu": 4.0, "exprate": 4.0, "rouge": 3.0, "auc": 3.0, "auroc": 3.0, "iou": 3.0, "dice": 3.0, "r2": 3.0}


def _score(f: Features, want_side: str) -> float:
    score = max((_METRIC_RANK.get(t, 0.0) for t in f.tokens), default=0.0) if f.kind == "metric" else 0.0
    # detection: the mAP averaged over IoU 0.5:0.95 (COCO's AP, 0.9 of YOLO's fitness) before mAP@0.5
    score += 0.5 if f.kind == "metric" and "map" in f.tokens and "95" in f.tokens else 0.0
    score += 10 if f.generic else 0
    score += 8 if "total" in f.tokens else 0
    score += 1 if f.side == want_side else 0
    if f.n < 3:
        score -= 20
    if want_side == "train":
        score += math.log10(max(f.n, 1))
        score += 0.5 if f.per_step else 0
    else:
        score += 2 if f.per_epoch else 0
        score -= 2 if f.per_step else 0
        score += 0.1 * math.log10(max(f.n, 1))
    return score


_ADVERSARIAL = frozenset({"gan", "adversarial", "adv"})


def _best(cands: list[Features], want_side: str) -> Features | None:
    if not cands:
        return None
    # Ties go to the shorter, then alphabetically first name (x/lr0 before x/lr2).
    return min(cands, key=lambda f: (-_score(f, want_side), len(f.key), f.key))


def _pick(feats: list[Features], kind: str, sides: tuple[str | None, ...], want: str) -> Features | None:
    return _best([f for f in feats if f.kind == kind and f.side in sides], want)


def _summed_components(run: Run, feats: list[Features], side_ok: tuple[str | None, ...], best: Features | None) -> Series | None:
    """Sum loss components (box/obj/cls) that share steps when no total loss exists.

    Components are grouped by directory, steps and family; a group with a member of another
    family (policy beside value) or with a total among its members is not a set of parts."""
    if best is not None and best.generic:
        return None
    comps = [f for f in feats if f.kind == "loss" and f.side in side_ok and f.n >= 3]
    if len(comps) < 2:
        return None
    groups: dict[tuple[str | None, bytes], list[Features]] = {}
    for f in comps:
        s = run.series[f.key]
        parent = os.path.dirname(s.tag)
        groups.setdefault((parent, s.steps.tobytes()), []).append(f)
    group = max(groups.values(), key=lambda g: (len(g), g[0].n))
    if len(group) < 2 or len({loss_family(f.tokens) for f in group}) > 1 or any(TOTAL_WORDS & set(f.tokens) for f in group):
        return None
    if any(_ADVERSARIAL & set(f.tokens) for f in group):
        return None  # a GAN stage's losses (TimeGAN's unsupervised + supervised + feature matching) are unlike objectives
    first = run.series[group[0].key]
    total = np.sum([run.series[f.key].values for f in group], axis=0)
    names = [run.series[f.key].tag.rsplit("/", 1)[-1] for f in group]
    parent = os.path.dirname(first.tag)
    tag = (parent + "/" if parent else "") + "+".join(names)
    return Series.from_points(tag, first.steps, total, first.wall_times, split=first.split)


def _align_axes(run: Run, roles: dict[Role, str], derived: dict[str, Series], notes: list[str]) -> None:
    """Map streams logged per epoch onto the train loss's step axis.

    Catalyst, Lightning's LearningRateMonitor and many custom loops log validation or the
    learning rate with the epoch as the step while the train loss uses the global step. When a
    stream's last step is under 1/5 of the train loss's, its steps are scaled so both end
    together (steps per epoch from the ratio of the spans).
    """
    key = roles.get(Role.TRAIN_LOSS)
    train = derived.get(key) or run.series.get(key) if key else None
    if train is None or len(train) < 2 or train.steps[-1] < 100:
        return
    t_last = float(train.steps[-1])
    for role in (Role.VAL_LOSS, Role.VAL_ACC, Role.VAL_METRIC, Role.LR, Role.TRAIN_ACC, Role.GRAD_NORM):
        k = roles.get(role)
        if k is None or k == key:
            continue
        s = derived.get(k) or run.series.get(k)
        # Epoch counters start at 0 or 1; compare in floats (int64 steps near 2**63 overflow when scaled).
        if s is None or len(s) < 2 or s.steps[0] < 0 or s.steps[-1] <= 0 or float(s.steps[-1]) * 5 > t_last:
            continue
        factor = t_last / float(s.steps[-1])
        derived[k] = Series.from_points(s.tag, np.round(s.steps.astype(float) * factor).astype(np.int64), s.values, s.wall_times, split=s.split)
        notes.append(f"{k} is logged per epoch (steps {int(s.steps[0])}-{int(s.steps[-1])}); mapped onto training steps (x{factor:.0f})")


def resolve(
    run: Run,
    mapping: Mapping[str, str] | None = None,
    workload: str = "supervised",
    pinned: Mapping[Role, Series] | None = None,
) -> Signals:
    """Resolve every role of ``run``; ``mapping`` (role name -> tag or glob) wins where it matches.

    ``workload`` ``rl`` or ``gan``: the losses are not picked or summed here; ``pinned`` (role ->
    stream, from ``advisor.workload``) gives them, and a stream not in the run becomes a derived one.
    ``unknown``: losses of a family (value, policy, generator, ...) are not taken for the train loss.
    """
    run_hint = os.path.basename(run.path.rstrip(os.sep)) if run.path else None
    # The run directory's name is a side only for runs whose tags name none themselves: in a
    # run named train/ that logs val/loss and metrics/mAP, the name says nothing about them.
    if any(tag_side(tokens(s.tag)) for s in run.series.values()):
        run_hint = None
    feats = [features(s, run_hint) for s in run.series.values() if len(s)]
    roles: dict[Role, str] = {}
    derived: dict[str, Series] = {}
    notes: list[str] = []
    if workload == "unknown":
        # An unrecognised run's value, policy or G/D loss is not a supervised loss to judge.
        _resolve_losses(run, [f for f in feats if f.kind != "loss" or loss_family(f.tokens) is None], roles, derived, notes)
    elif workload not in ("rl", "gan"):
        _resolve_losses(run, feats, roles, derived, notes)
    for role, s in (pinned or {}).items():
        roles[role] = s.key
        if run.series.get(s.key) is not s:
            derived[s.key] = s
    _resolve_others(feats, roles)
    return _finish(run, feats, roles, derived, notes, mapping, REPORTED_BY_WORKLOAD.get(workload, REPORTED_ROLES))


def _step_span(run: Run, key: str) -> str:
    s = run.series[key]
    return f"{int(s.steps[0])}-{int(s.steps[-1])}" if len(s) else "none"


def _spans_training(run: Run, train_key: str | None, key: str) -> bool:
    """Whether a held-out series was evaluated over the training: its steps reach past the train
    loss's first step and cover a tenth of its span. A test loop logged with its batch index as
    the step (``test_loss_step`` at 0-19 after a run of 2,400 steps) is one pass at the end."""
    s = run.series.get(key)
    t = run.series.get(train_key) if train_key else None
    if s is None or t is None or len(s) < 2 or len(t) < 2:
        return True
    t_span = float(t.steps[-1] - t.steps[0])
    return float(s.steps[-1]) > float(t.steps[0]) and float(s.steps[-1] - s.steps[0]) >= 0.1 * t_span


def _drop_placeholders(run: Run, roles: dict[Role, str], derived: dict[str, Series], notes: list[str]) -> None:
    """Leave out a chosen loss that is exactly 0 from its first point and at four in five points
    or more: a loop that skips its evaluation writes zeros (YOLOv5 with ``--notest``). A measured
    loss starts above 0 (no model starts perfect); it may reach an exact 0 later (a separable set
    at huge logits underflows float32), which is kept; so is a part that is always 0 inside a sum
    (YOLO's cls_loss on one class)."""
    for role in (Role.TRAIN_LOSS, Role.VAL_LOSS, Role.TEST_LOSS):
        key = roles.get(role)
        s = (derived.get(key) or run.series.get(key)) if key else None
        if s is None or len(s) < 5:
            continue
        v = s.values
        zeros = int(np.count_nonzero(v == 0.0))
        if v[0] == 0.0 and zeros >= 0.8 * v.size:
            del roles[role]
            derived.pop(key, None)
            notes.append(f"{key} is exactly 0 at {zeros} of {v.size} points: a placeholder, not read as a loss")


def _resolve_losses(run: Run, feats: list[Features], roles: dict[Role, str], derived: dict[str, Series], notes: list[str]) -> None:
    """The train and validation loss of a supervised (or unrecognised) run."""
    tl = _pick(feats, "loss", ("train", None), "train")
    summed = _summed_components(run, feats, ("train", None), tl)
    if summed is not None and (tl is None or summed.steps.size >= 0.5 * tl.n):
        derived[summed.key] = summed
        roles[Role.TRAIN_LOSS] = summed.key
        notes.append(f"train loss is the sum of {summed.tag}")
    elif tl is not None:
        epoch = _keras_epoch_twin(feats, tl)
        if epoch is not None:
            notes.append(f"train loss is {epoch.key}: {tl.key} beside it is Keras' running mean over the epoch so far")
            tl = epoch
        tl = _per_example_twin(run, feats, tl, notes)
        roles[Role.TRAIN_LOSS] = tl.key
    vl = _pick(feats, "loss", ("val",), "val")
    if vl is None:
        vl = _pick(feats, "loss", ("test",), "val")
        if vl is not None and not _spans_training(run, roles.get(Role.TRAIN_LOSS), vl.key):
            notes.append(f"no validation loss; {vl.key} holds one evaluation pass (steps {_step_span(run, vl.key)}), not a curve over training")
            vl = None
        elif vl is not None:
            notes.append(f"no validation loss; using {vl.key} as the held-out loss")
    else:
        te = _pick(feats, "loss", ("test",), "val")
        if te is not None and te.key != vl.key:
            roles[Role.TEST_LOSS] = te.key
    summed_v = _summed_components(run, feats, ("val",), vl)
    if summed_v is not None:
        derived[summed_v.key] = summed_v
        roles[Role.VAL_LOSS] = summed_v.key
    elif vl is not None:
        roles[Role.VAL_LOSS] = _per_example_twin(run, feats, vl, notes).key
    _drop_placeholders(run, roles, derived, notes)


def _per_example_twin(run: Run, feats: list[Features], chosen: Features, notes: list[str]) -> Features:
    """The per-example loss logged beside a batch-summed one: TF1 canned estimators write
    ``loss`` (summed over the batch) and ``average_loss`` (its mean) at the same steps. A loss at
    the same steps whose values are a constant ``k`` >= 2 times smaller (the ratio within 0.1%) is
    the same loss on the scale of ln C, without the dip a short last batch gives a sum."""
    ref = run.series[chosen.key]
    head = os.path.dirname(ref.tag)
    for f in feats:
        s = run.series[f.key]
        if f.kind != "loss" or f.key == chosen.key or os.path.dirname(s.tag) != head or len(s) != len(ref) or len(s) < 3:
            continue
        if not np.array_equal(s.steps, ref.steps) or not (np.all(np.isfinite(s.values)) and np.all(np.isfinite(ref.values))):
            continue
        pos = (s.values > 1e-12) & (ref.values > 1e-12)  # a batch fitted exactly logs 0 (or 1e-38) in both
        if pos.sum() < max(3, len(s) // 2) or np.any(np.abs(ref.values[~pos]) > 1e-6) or np.any(np.abs(s.values[~pos]) > 1e-6):
            continue
        ratio = ref.values[pos] / s.values[pos]
        k = float(np.median(ratio))
        if k >= 2.0 and float(np.max(np.abs(ratio / k - 1.0))) <= 1e-3:
            notes.append(f"{f.key} is the loss per example; {chosen.key} beside it is the same loss summed over the batch ({k:.3g}x)")
            return f
    return chosen


def _keras_epoch_twin(feats: list[Features], tl: Features) -> Features | None:
    """For Keras' ``batch_<name>`` (TensorBoard(update_freq=N): the mean of the epoch's batches so
    far, reset each epoch — a sawtooth that per-step noise, period and trend tests misread), its
    ``epoch_<name>`` twin in the same directory when that has at least 8 points."""
    head, _, base = tl.key.rpartition("/")
    if not base.startswith("batch_"):
        return None
    twin = f"{head}/epoch_" if head else "epoch_"
    twin += base[len("batch_"):]
    return next((f for f in feats if f.key == twin and f.n >= 8), None)


def _resolve_others(feats: list[Features], roles: dict[Role, str]) -> None:
    """Accuracy, task metric, learning rate, gradient norm, update ratio, epoch."""
    for role, kind, sides, want in (
        (Role.TRAIN_ACC, "acc", ("train", None), "train"),
        (Role.VAL_ACC, "acc", ("val",), "val"),
        (Role.TRAIN_METRIC, "metric", ("train",), "train"),
        # A task metric that names no side (metrics/mAP50, BLEU) is an evaluation metric.
        (Role.VAL_METRIC, "metric", ("val",), "val"),
        (Role.LR, "lr", ("train", None), "train"),
        (Role.GRAD_NORM, "grad_norm", ("train", None), "train"),
        (Role.UPDATE_RATIO, "update_ratio", ("train", None), "train"),
        (Role.EPOCH, "epoch", ("train", None), "train"),
    ):
        f = _pick(feats, kind, sides, want)
        if f is not None:
            roles[role] = f.key
    if Role.VAL_METRIC not in roles:  # a task metric naming no side (metrics/mAP50, BLEU, an eval perplexity) is an evaluation metric
        f = _best([f for f in feats if f.kind == "metric" and f.side is None and (f.direction == "max" or set(f.tokens) & EVAL_ONLY)], "val")
        if f is not None:
            roles[Role.VAL_METRIC] = f.key
    _evaluation_accuracy(feats, roles)
    if Role.VAL_ACC not in roles:
        f = _pick(feats, "acc", ("test",), "val")
        if f is not None and any(g.key == roles.get(Role.VAL_LOSS) and g.side == "test" for g in feats):
            roles[Role.VAL_ACC] = f.key


def _evaluation_accuracy(feats: list[Features], roles: dict[Role, str]) -> None:
    """An accuracy that names no side, written beside a side-less task metric at its cadence and
    not the train loss's, is the evaluator's (Detectron2's ``sem_seg/mACC`` next to
    ``sem_seg/mIoU``), not the train accuracy."""
    by_key = {f.key: f for f in feats}
    acc, metric, loss = (by_key.get(roles.get(r, "")) for r in (Role.TRAIN_ACC, Role.VAL_METRIC, Role.TRAIN_LOSS))
    if acc is None or metric is None or loss is None or acc.side is not None or metric.side is not None:
        return
    if os.path.dirname(acc.key) != os.path.dirname(metric.key) or acc.n != metric.n or acc.n * 2 > loss.n:
        return
    del roles[Role.TRAIN_ACC]
    roles.setdefault(Role.VAL_ACC, acc.key)


def _finish(
    run: Run,
    feats: list[Features],
    roles: dict[Role, str],
    derived: dict[str, Series],
    notes: list[str],
    mapping: Mapping[str, str] | None,
    reported: tuple[Role, ...],
) -> Signals:
    """Apply the user mapping, align per-epoch axes, and package the result."""
    if mapping:
        keys = list(run.series)
        for role_name, pattern in mapping.items():
            role = Role(role_name)
            match = [k for k in keys if k == pattern] or sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern))
            if match:
                roles[role] = match[0]
            else:
                roles.pop(role, None)
                notes.append(f"mapped {role.value} = {pattern!r} matches no tag in this run")

    _align_axes(run, roles, derived, notes)
    directions = {f.key: f.direction for f in feats if f.direction}
    for k in derived:
        directions[k] = "min"
    layers = tuple(sorted(f.key for f in feats if f.kind == "grad_norm_layer"))
    unresolved = tuple(r for r in reported if r not in roles)
    return Signals(roles, directions, layers, derived, unresolved, tuple(notes))
