"""What a run says about its learning rate: the rate and optimizer it declares, and whether its
loss ever climbed above where it started.

Shared by ``lr-too-high`` and ``no-learning``: a loss that sits at its initial level can mean a
rate far too high (units died after a jump, or Adam bouncing in place) or far too small; only
evidence decides the direction, and without it neither rule may push the rate either way.

Two kinds of evidence:

* declared: the peak of a logged learning-rate stream, else a hyperparameter (``lr``,
  ``learning_rate``, …), and the optimizer from the hyperparameters or from a Lightning
  ``lr-<Optimizer>`` tag. Adaptive optimizers (Adam and kin) and SGD have different usual
  ranges; a rate is *high* above ``ADAPTIVE_HIGH`` / ``SGD_HIGH`` and *low* below
  ``ADAPTIVE_LOW`` / ``SGD_LOW`` (priors only: used together with what the curve shows).
* seen: the loss's excursions above its initial value — an early *jump* (the largest 3-point
  rolling median in the first tenth of the points, over the initial loss) and *bumps* later on
  (episodes of binned medians above the initial loss by a margin). A healthy run never climbs
  back above its initialisation loss; a run whose steps are too large does.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.model import Role, Series
from advisor.rules.base import Context
from advisor.signals import Curve, median, percent_scale, robust_sigma, rolling_median, times

ADAPTIVE = ("adam", "adamw", "nadam", "radam", "adamax", "rmsprop", "adagrad", "adadelta", "ranger", "lamb", "adafactor", "lion")
SGD_LIKE = ("sgd", "momentum", "nesterov")
ADAPTIVE_HIGH, ADAPTIVE_LOW = 0.1, 1e-6
SGD_HIGH, SGD_LOW = 2.0, 1e-5
# Where a cut should bring a rate that is far too high: the top of each family's usual range.
ADAPTIVE_TARGET, SGD_TARGET = 1e-3, 0.05
# The bottom of each family's usual working range (Adam's 3e-4, SGD's 0.01): a rate at or above
# it is not evidently too small.
ADAPTIVE_USUAL_LOW, SGD_USUAL_LOW = 3e-4, 1e-2


@dataclass(frozen=True)
class DeclaredLr:
    """The rate and optimizer a run declares (None where it does not say)."""

    lr: float | None
    source: str | None  # where the rate came from, for the evidence
    optimizer: str | None
    family: str | None  # "adaptive" | "sgd" | None

    @property
    def high(self) -> bool:
        # Optimizer unknown: only a rate too high for every family counts.
        limit = {"adaptive": ADAPTIVE_HIGH, "sgd": SGD_HIGH}.get(self.family or "", SGD_HIGH)
        return self.lr is not None and self.lr >= limit

    @property
    def usual(self) -> bool:
        """The declared rate is at or above the bottom of its (known) family's usual range."""
        limit = {"adaptive": ADAPTIVE_USUAL_LOW, "sgd": SGD_USUAL_LOW}.get(self.family or "")
        return limit is not None and self.lr is not None and self.lr >= limit

    @property
    def low(self) -> bool:
        # Optimizer unknown: only a rate too low for every family counts.
        limit = {"adaptive": ADAPTIVE_LOW, "sgd": SGD_LOW}.get(self.family or "", ADAPTIVE_LOW)
        return self.lr is not None and 0 < self.lr <= limit

    def evidence(self) -> dict:
        """The rate and where it came from, for a finding's evidence (empty when not declared)."""
        return {} if self.lr is None else {"lr": self.lr, "lr_source": self.source}

    def cut_factor(self) -> float | None:
        """The factor that brings a declared high rate to its family's usual top, else None."""
        if not self.high or self.lr is None:
            return None
        target = ADAPTIVE_TARGET if self.family == "adaptive" else SGD_TARGET
        return target / self.lr

    def describe(self) -> str:
        if self.lr is None:
            return "the learning rate is not logged"
        opt = f"{self.optimizer} " if self.optimizer else ""
        return f"{opt}lr {self.lr:.3g} ({self.source})"


def _family(name: str | None) -> str | None:
    if not name:
        return None
    low = name.lower()
    if any(a in low for a in ADAPTIVE):
        return "adaptive"
    if any(s in low for s in SGD_LIKE):
        return "sgd"
    return None


def _optimizer_name(ctx: Context) -> str | None:
    v: Any = ctx.param("optimizer")
    if isinstance(v, str) and v.strip():
        return v.strip().rsplit(".", 1)[-1]
    tag = ctx.tag(Role.LR) or ""
    m = re.search(r"lr[-_/]([A-Za-z]+)", tag)  # Lightning's LearningRateMonitor: lr-Adam, lr-SGD
    return m.group(1) if m else None


def declared_lr(ctx: Context) -> DeclaredLr:
    """The peak logged learning rate (else the configured one) and the optimizer."""
    lr: float | None = None
    source = None
    c = ctx.lr
    if c is not None and c.n:
        peak = float(np.max(c.values))
        if math.isfinite(peak) and peak > 0:
            lr, source = peak, f"peak of {ctx.tag(Role.LR)}"
    if lr is None:
        v = ctx.num_param("lr")
        if v is not None and v > 0:
            lr, source = v, "hyperparameters"
    opt = _optimizer_name(ctx)
    return DeclaredLr(lr, source, opt, _family(opt))


@dataclass(frozen=True)
class Excursions:
    """How far, and how often, the loss climbed above its initial value."""

    ref: float  # the initial loss
    peak: float  # the early peak (3-point rolling median)
    log_noise: float  # point-to-point noise of log(loss) after the early window
    jump: float  # early peak / initial loss (1 when within the noise)
    jump_step: int  # where the early peak was
    early_end_step: int  # last step of the early window
    bumps: int  # later episodes of binned medians above start * (1 + margin)
    bump_peak: float  # highest binned median after the early window, / start
    start: float  # the level climbs and progress are judged from: ref after a jump, else robust to a lucky first point


def clears_noise(ratio: float, log_noise: float, k: float = 4.0) -> bool:
    """Whether a ratio of loss levels is more than ``k`` times the curve's log-scale noise."""
    return math.log(max(ratio, 1e-300)) >= k * log_noise


def excursions(c: Curve, early_frac: float = 0.1, margin: float = 0.2, noise_k: float = 4.0, over_rest: float = 1.5) -> Excursions | None:
    """The loss's climbs above its start; None when the loss is not positive at the start.

    Per-batch losses are noisy (with batch size 1 a point can be a tenth or ten times the level),
    so both tests are relative to the curve's own noise: the early jump must clear ``noise_k``
    times the early points' log-scale noise and stand ``over_rest`` times above the 90th
    percentile of the points after the early window, and the later climbs are counted on binned medians
    against the first bin's median when the start has no jump to explain away.
    """
    if c.n < 5:
        return None
    v = c.values
    ref = min(float(v[0]), median(v[:3]))
    if not (ref > 0 and math.isfinite(ref)):
        return None
    k = max(5, int(math.ceil(early_frac * c.n)))
    early = v[:k]
    sm = rolling_median(early, 3) if early.size >= 9 else early
    i = int(np.argmax(sm))
    jump = float(sm[i]) / ref
    # Point-to-point noise of the loss after the early window (the jump itself must not count as
    # noise); the whole curve when that part is short.
    rest = v[k:] if c.n - k >= 8 else v
    pos = rest[rest > 0]
    noise = robust_sigma(np.diff(np.log(pos))) / math.sqrt(2) if pos.size >= 5 else 0.0
    if i == 0:
        jump = 1.0  # the first point itself is the highest: the loss fell from its start, it jumped nowhere
    elif not clears_noise(jump, noise, noise_k):
        jump = 1.0  # within the early points' own noise: no jump
    elif rest.size >= 5 and float(sm[i]) < over_rest * float(np.percentile(rest, 90)) and float(np.percentile(rest, 10)) < over_rest * ref:
        # the rest of the run reaches it again: per-example losses (batch 1) switch between modes
        # (a binary cross-entropy near 0.4 or 1.1 by the label), which point-to-point noise,
        # small within a mode, does not see. Not when the rest stays far above the start (its lower
        # decile ``over_rest`` times it; a low mode sits near the start): the loss jumped to a level
        # it then kept.
        jump = 1.0
    early_end = float(c.steps[min(k, c.n) - 1])
    later = c.bvals[c.bsteps > early_end]
    # Without a jump the start level is the first bin's, or the first points' median (robust to
    # a lucky first batch or two).
    base = ref if jump > 1.0 else max(ref, float(c.bvals[0]), median(v[: max(5, c.n // 50)]))
    # a climb must clear the binned curve's own noise too: with a few noisy points per bin (a
    # short prefix of a small-batch run) medians exceed the start by chance
    above = later > max(base * (1 + margin), base + 3.0 * c.bnoise)
    bumps = int(np.count_nonzero(above[1:] & ~above[:-1]) + (1 if above.size and above[0] else 0))
    peak = float(np.max(later)) / base if later.size else 0.0
    return Excursions(ref, float(sm[i]), noise, jump, int(c.steps[i]), int(early_end), bumps, peak, base)


def chance_loss(ctx: Context) -> float | None:
    """ln C for a classifier whose class count is known, else None."""
    c = ctx.num_classes
    return math.log(c) if c else None


def lr_direction(ctx: Context) -> tuple[str | None, str]:
    """Which way the evidence says the rate is off for a loss that does not move: ("down" | "up"
    | None, why). None means unclear — neither a climb above the start nor a declared rate says."""
    declared = declared_lr(ctx)
    c = ctx.train
    ex = excursions(c) if c is not None and not c.cut_short else None
    if declared.high:
        return "down", f"{declared.describe()} is far above the usual range for its optimizer"
    if ex is not None and (ex.jump >= 2.0 or ex.bumps >= 1):
        return "down", f"the loss climbed above its initial value {ex.ref:.3g} (up to {times(max(ex.jump, ex.bump_peak))})"
    if declared.low:
        return "up", f"{declared.describe()} is far below the usual range for its optimizer"
    return None, "the direction is unclear: no climb above the start and no declared rate"


@dataclass(frozen=True)
class BlownUpStart:
    """A classifier's first logged loss that already holds a blow-up (see :func:`blown_up_start`)."""

    first: float  # the first logged loss
    level: float  # median of the rest of the run
    after: float  # level over 10-30% of the points
    end: float  # level over the last 10%
    progress: float  # (after - end) / after


def first_logged_after_updates(ctx: Context, c: Curve) -> bool:
    """The train loss's first logged point already includes updates: logged after step 1 (a
    sparse cadence: Lightning's every 50 steps) or an epoch aggregate (``epoch_loss``). It is then
    not the initialisation's loss, and the run's true start was higher. A point at step 1 is the
    first batch's loss under the initial weights in the common 1-based counters (TF1 Estimators'
    global step, a Trainer's first logged step): the update it drove came after it."""
    s = ctx.series(Role.TRAIN_LOSS)
    return s is not None and (float(c.steps[0]) > 1 or "epoch" in s.tag.lower())


def epoch_twin(ctx: Context) -> Series | None:
    """The train loss's epoch-mean twin when the train loss is logged per step beside one —
    PyTorch Lightning's ``<name>_step`` and ``<name>_epoch`` from one ``self.log(...,
    on_step=True, on_epoch=True)`` — with 2 points at least. Each of its points is the mean over
    an epoch's steps: the level of a per-example loss that single logged minibatches only sample;
    its first point, the first epoch's mean, holds the steps before the first per-step point
    (logged after ``log_every_n_steps`` updates), whose loss the per-step curve never shows."""
    s = ctx.series(Role.TRAIN_LOSS)
    if s is None or not s.tag.endswith("_step") or len(s) < 2:
        return None
    twin = ctx.run.series.get(f"{s.split}/{s.tag[:-5]}_epoch" if s.split else f"{s.tag[:-5]}_epoch")
    return twin if twin is not None and len(twin) >= 2 and np.all(np.isfinite(twin.values)) else None


def blown_up_start(ctx: Context, c: Curve, min_first: float = 20.0, min_ratio: float = 300.0, max_after: float = 0.3) -> BlownUpStart | None:
    """The first logged point of a classifier's train loss is at least ``min_first`` and
    ``min_ratio`` times the median of the rest of the run, and the loss then made less than
    ``max_after`` progress (from its level over 10-30% of the points to its last tenth).

    Only when that first point already includes updates — logged after step 0 (a sparse cadence)
    or an epoch aggregate (``epoch_loss``): a point logged at step 0 is the initialisation's loss,
    which no learning rate has touched yet (that is ``bad-initial-loss``). A cross-entropy of 20
    means e^-20 on the true class — no initialisation of a working classifier starts there — and
    a bad initialisation that the first updates undo is followed by learning, not by a stall.
    """
    if c.n < 10 or not first_logged_after_updates(ctx, c):
        return None
    if ctx.train_acc is None and ctx.val_acc is None and not ctx.num_classes:
        return None
    v = c.values
    first, level = float(v[0]), median(v[1:])
    if not (first >= min_first and level > 0 and first >= min_ratio * level):
        return None
    n = v.size
    after = median(v[max(1, n // 10) : max(2, (3 * n) // 10)])
    end = median(v[-max(1, n // 10) :])
    progress = (after - end) / after if after > 0 else 0.0
    if progress >= max_after:
        return None
    return BlownUpStart(first, level, after, end, progress)


@dataclass(frozen=True)
class GaveBack:
    """A loss that learned and then gave a share of its progress back (see :func:`gave_back`)."""

    start: float  # median of the first coarse bin
    best: float  # lowest coarse-bin median before the climb
    best_step: int
    peak: float  # the climb's bin median
    peak_step: int
    share: float  # (peak - best) / (start - best): the share of the progress given back
    z: float  # the climb over the two bins' standard errors
    end: float  # median of the last two bins
    end_share: float  # (end - lowest) / (start - lowest): what the run still had not won back at its end
    progress: float  # (start - lowest) / start
    cut_at: int | None = None  # the step of a rate cut that ended the give-back (lr_learned.cut_step)


def gave_back(c: Curve, max_bins: int = 20, min_per_bin: int = 8, min_z: float = 5.0) -> GaveBack | None:
    """The largest share of its progress a positive loss gave back, on coarse equal-count bins (at
    most ``max_bins``, at least ``min_per_bin`` points each): for every bin, its rise over the
    lowest bin before it, as a share of the drop from the first bin to that lowest one — counted
    only where the rise clears ``min_z`` standard errors of the two medians (each from its bin's
    own spread: the median of m points of spread s is known to about 1.25 s / sqrt(m)).

    A healthy run, however noisy its minibatches, descends: its bin medians rise only by their
    standard error. Steps too large for where the loss now is throw it back up a long way, for
    many updates at a time, and it ends above its best. None when the loss is too short or not
    positive at the start."""
    k = min(max_bins, c.n // min_per_bin)
    if k < 5:
        return None
    parts = np.array_split(c.values, k)
    b = np.array([median(x) for x in parts])
    if not b[0] > 0:
        return None
    se = np.array([1.2533 * robust_sigma(x) / math.sqrt(x.size) for x in parts])
    ends = np.cumsum([x.size for x in parts]) - 1
    found = None
    j = 0  # the lowest bin before bin i (the first, on a tie)
    for i in range(1, k):
        gain = b[0] - b[j]
        if gain > 0 and b[i] > b[j]:
            z = (b[i] - b[j]) / max(math.hypot(se[i], se[j]), 1e-12 * b[0])
            share = (b[i] - b[j]) / gain
            if z >= min_z and (found is None or share > found[2]):
                found = (j, i, share, z)
        if b[i] < b[j]:
            j = i
    if found is None:
        return None
    j, i, share, z = found
    lowest = float(np.min(b))
    end = median(b[-2:])
    steps = c.steps
    return GaveBack(float(b[0]), float(b[j]), int(steps[ends[j]]), float(b[i]), int(steps[ends[i]]), float(share), float(z),
                    end, max(0.0, (end - lowest) / (b[0] - lowest)), (float(b[0]) - lowest) / float(b[0]))


def thrown_back(ctx: Context, c: Curve, floor: float, step_factor: float = 10.0, epoch_factor: float = 3.0, epoch_floor: float | None = None) -> tuple[int, float, float] | None:
    """(step, level, lowest before it) where a classifier's train loss, after it had learned, was
    thrown back to a cross-entropy of at least ``floor`` (e^-20 on the true class for 20: no
    working model returns there): two consecutive points at least ``step_factor`` times the
    lowest loss before them — one minibatch of a memorised set can hold a single huge loss — or,
    for an epoch aggregate (whose point is a whole epoch's mean), one point ``epoch_factor`` times
    it. The first point is the initialisation's (``bad-initial-loss``), never the throw.
    ``epoch_floor``: the floor for an epoch aggregate, when it differs (a mean over a whole epoch
    needs no margin for one minibatch's huge loss)."""
    if ctx.train_acc is None and ctx.val_acc is None and not ctx.num_classes:
        return None
    s = ctx.series(Role.TRAIN_LOSS)
    epoch = s is not None and "epoch" in s.tag.lower()
    v = c.values
    if v.size < 4:
        return None
    low = np.minimum.accumulate(v)[1:-1]  # lowest up to point i, for the pair (or point) starting at i + 1
    level = v[2:] if epoch else np.minimum(v[1:-1], v[2:])
    factor = epoch_factor if epoch else step_factor
    if epoch and epoch_floor is not None:
        floor = epoch_floor
    hit = np.flatnonzero((level >= floor) & (low > 0) & (level >= factor * low))
    if hit.size == 0:
        return None
    i = int(hit[np.argmax(level[hit])])
    return int(c.steps[i + (2 if epoch else 1)]), float(level[i]), float(low[i])


@dataclass(frozen=True)
class Thrashing:
    """A classifier that did not learn while its validation loss lurched (see :func:`thrashing`)."""

    evals: int  # validation-loss evaluations
    acc_first: float  # validation accuracy at its first evaluation (a fraction)
    acc_late: float  # ... the median of its second half
    acc_best: float
    change: float  # median |change of ln val loss| between consecutive evaluations
    reversals: int  # direction reversals of the val loss between consecutive changes
    turns: int  # ... out of this many
    train_ratio: float  # train loss: median of its last tenth over the median of its first tenth


def thrashing(ctx: Context, c: Curve, min_evals: int = 6, min_change: float = 0.15, min_reversals: float = 0.5,
              max_gain: float = 0.05, min_train_ratio: float = 0.2, max_acc: float = 0.8) -> Thrashing | None:
    """A classifier whose validation accuracy, over its second half, is no more than ``max_gain``
    above its first evaluation and never reached ``max_acc``, while its validation loss changed by a median ``min_change`` (in
    log: 16%) between consecutive evaluations, reversing direction at ``min_reversals`` of the
    turns or more, and its train loss ``c`` kept ``min_train_ratio`` of its start.

    Steps too large do not descend: each update throws the weights somewhere else, and the
    validation loss lurches up and down from one evaluation to the next while accuracy goes
    nowhere. A model that reached ``max_acc`` before its first evaluation has learned: its lurching
    validation loss is the noise of a floor (a constant rate that wants decay). A rate too small leaves the validation loss smooth; an overfitting or noisy-val run
    learns (its train loss falls far, its accuracy rises), and a healthy run whose accuracy was
    already high at its first evaluation moves its validation loss in steady steps."""
    val, acc = ctx.val, ctx.val_acc
    if val is None or acc is None or val.n < min_evals or acc.n < 4 or c.n < 8:
        return None
    lv = val.values
    if val.cut_short or not np.all(lv > 0) or acc.cut_short:
        return None
    d = np.diff(np.log(lv))
    change = float(np.median(np.abs(d)))
    signs = np.sign(d)
    turns = signs.size - 1
    reversals = int(np.sum(signs[1:] * signs[:-1] < 0))
    if change < min_change or turns < 3 or reversals < min_reversals * turns:
        return None
    a = acc.values / percent_scale(acc.values)
    first, late, best = float(a[0]), median(a[acc.n // 2 :]), float(np.max(a))
    if late > first + max_gain or best >= max_acc:
        return None
    k = max(1, c.n // 10)
    head = median(c.values[:k])
    ratio = median(c.values[-k:]) / head if head > 0 else 0.0
    if ratio < min_train_ratio:
        return None
    return Thrashing(val.n, first, late, best, change, reversals, turns, ratio)
