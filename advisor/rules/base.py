"""What every rule shares: the per-run :class:`Context` and the :class:`RuleSpec` registry entry.

A rule module has a docstring (its documentation: what, why, signals, the exact trigger,
remedies in order, known false positives), ``ID``, ``SEVERITY``, ``SIGNALS``, a frozen
``Params`` dataclass with defaults, and a pure ``detect(ctx, params) -> list[Finding]``.
The context computes each curve once per run (lazily) so twenty rules cost one pass.
"""

from __future__ import annotations

import dataclasses
import math
import types
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from advisor.errors import UsageError
from advisor.io import hparams
from advisor.io.roles import Signals
from advisor.model import Finding, Remedy, Role, Run, Series, Severity
from advisor.signals import Curve, make_curve, median, percent_scale, rolling_median


@dataclass(frozen=True)
class TaskMetric:
    """A held-out metric and which way is better."""

    tag: str
    curve: Curve
    higher_is_better: bool

    def best(self) -> tuple[int, float]:
        """(step, value) of its best evaluation."""
        vals = self.curve.values if self.higher_is_better else -self.curve.values
        i = int(np.argmax(vals))
        return int(self.curve.steps[i]), float(self.curve.values[i])

    def at(self, step: float) -> float:
        """Its value at the last evaluation at or before ``step`` (the first one if none is)."""
        i = int(np.searchsorted(self.curve.steps, step, side="right")) - 1
        return float(self.curve.values[max(i, 0)])


class Context:
    """One run as the rules see it: resolved signals, prepared curves, hyperparameters, and its
    workload (``supervised``, ``rl``, ``gan`` or ``unknown``; see ``advisor.workload``)."""

    def __init__(self, run: Run, signals: Signals, workload: str = "supervised", num_classes: int | None = None, partial: bool = False) -> None:
        self.run = run
        self.partial = partial  # still being written: whole-run judgments wait for the end
        self.signals = signals
        self.workload = workload
        self.configured_classes = num_classes  # the config file's num_classes (runs' own hparams win)

    # -- streams -----------------------------------------------------------------------------

    def series(self, role: Role) -> Series | None:
        return self.signals.get(self.run, role)

    def tag(self, role: Role) -> str | None:
        return self.signals.roles.get(role)

    def _curve(self, role: Role) -> Curve | None:
        s = self.series(role)
        if s is None or len(s) == 0:
            return None
        return make_curve(s.steps, s.values)

    @cached_property
    def train(self) -> Curve | None:
        return self._curve(Role.TRAIN_LOSS)

    @cached_property
    def val(self) -> Curve | None:
        return self._curve(Role.VAL_LOSS)

    @cached_property
    def test(self) -> Curve | None:
        return self._curve(Role.TEST_LOSS)

    @cached_property
    def lr(self) -> Curve | None:
        return self._curve(Role.LR)

    @cached_property
    def grad(self) -> Curve | None:
        return self._curve(Role.GRAD_NORM)

    @cached_property
    def train_acc(self) -> Curve | None:
        return self._curve(Role.TRAIN_ACC)

    @cached_property
    def val_acc(self) -> Curve | None:
        return self._curve(Role.VAL_ACC)

    @cached_property
    def task_metric(self) -> TaskMetric | None:
        """The held-out metric a user judges the run by: a task metric (mAP, F1, BLEU, ...) when
        one is logged, else validation accuracy. Advice that stops or shortens training consults it."""
        for role in (Role.VAL_METRIC, Role.VAL_ACC):
            c = self._curve(role)
            tag = self.tag(role)
            if c is None or tag is None or c.n < 3 or c.cut_short:
                continue
            higher = self.signals.directions.get(tag, "max") == "max"
            return TaskMetric(tag, c, higher)
        return None

    @cached_property
    def train_shape(self):  # -> advisor.rules.shape.Shape | None
        from advisor.rules.shape import shape

        return shape(self.train) if self.train is not None else None

    @cached_property
    def val_shape(self):  # -> advisor.rules.shape.Shape | None
        from advisor.rules.shape import shape

        return shape(self.val) if self.val is not None else None

    def finite_train(self, min_points: int = 0, min_bins: int = 0):  # -> tuple[Curve, Shape] | None
        """(train curve, its shape) when the train loss has enough points and never went
        non-finite, or recovered from a few non-finite points (its finite points are the curve) —
        the precondition of every rule that judges the loss curve's shape."""
        c, sh = self.train, self.train_shape
        if c is None or sh is None or c.n < min_points or len(c.bvals) < min_bins or c.cut_short:
            return None
        return c, sh

    @cached_property
    def lr_constant_late(self) -> bool | None:
        """Whether the learning rate was constant over the second half (None: unknown)."""
        lr = self.lr
        if lr is not None and lr.n >= 3:
            half = lr.values[lr.steps >= lr.steps[0] + lr.span / 2]
            if half.size == 0:
                return None
            hi, lo = float(np.max(half)), float(np.min(half))
            return bool(hi > 0 and lo >= hi / 1.01)
        sched = self.param("schedule")
        if isinstance(sched, str) and sched:
            return sched.lower() in ("constant", "none", "constant_with_warmup", "fixed")
        return None

    @cached_property
    def lr_annealed(self) -> bool:
        """Whether a logged learning rate ends far below its peak (a schedule ran its course)."""
        lr = self.lr
        if lr is None or lr.n < 3:
            return False
        peak = float(np.max(lr.values))
        return bool(peak > 0 and float(lr.values[-1]) <= 0.05 * peak)

    @cached_property
    def chance_accuracy(self) -> float | None:
        """1/C for a classifier with C classes (see :attr:`num_classes`), else None."""
        c = self.num_classes
        return 1.0 / c if c else None

    @cached_property
    def layer_grads(self) -> list[Series]:
        return [self.run.series[k] for k in self.signals.layer_grad_norms if k in self.run.series]

    @cached_property
    def last_step(self) -> int:
        steps = [int(s.steps[-1]) for r in (Role.TRAIN_LOSS, Role.VAL_LOSS) if (s := self.series(r)) is not None and len(s)]
        return max(steps) if steps else 0

    @cached_property
    def first_step(self) -> int:
        steps = [int(s.steps[0]) for r in (Role.TRAIN_LOSS, Role.VAL_LOSS) if (s := self.series(r)) is not None and len(s)]
        return min(steps) if steps else 0

    # -- hyperparameters ----------------------------------------------------------------------

    @cached_property
    def params(self) -> dict[str, Any]:
        """Hyperparameters from hparams, config.json and a Hugging Face args text, flattened."""
        return hparams.merged_params(self.run.hparams, self.run.config, self.run.texts)

    def param(self, name: str) -> Any:
        """A hyperparameter by canonical name (see advisor.io.hparams.PARAM_ALIASES), or None."""
        return hparams.param(self.params, name)

    def num_param(self, name: str) -> float | None:
        return hparams.num_param(self.params, name)

    @cached_property
    def early_stopping(self) -> dict[str, Any] | None:
        """Early stopping as configured (patience in evaluations, stop step), or None."""
        return hparams.early_stopping(self.params)

    @cached_property
    def num_classes(self) -> int | None:
        """The class count: from the hyperparameters (any alias that holds a real one; configs use
        0 for 'default'), else the config file's ``num_classes``, else when an accuracy and a loss
        agree on it — the accuracy sits at 1/C while the loss sits at ln C for the same C, late in
        the run or at its untrained start (:meth:`_classes_from_start`). Never from the loss alone."""
        return hparams.num_classes(self.params) or self.configured_classes or self._classes_from_curves() or self._classes_from_start()

    def _classes_from_curves(self) -> int | None:
        """C when a loss and an accuracy agree on it: the loss sits at ln C and the accuracy near
        1/C — from 0.85/C up to 1.3/C, since a model stuck at its class priors scores the
        majority class's share, and down to 0.5/C when the loss sits within 1% of ln C (a model at
        chance scores below 1/C on a small or differently balanced val set: shuffled labels). C is read from the accuracy (1/C nearest its late median), with
        the loss within 15% of ln C; the count the loss's level reads (e^loss), when the
        accuracy allows it too, wins when the loss sits within 2.5% of its ln C, nearer than to the
        first's: a stuck loss pins C better than a few noisy evaluations (0.114 reads as 9
        classes, a loss at 2.30 as 10), while a loss well off every ln C (a model worse than
        uniform) cannot move it. A count is never one the run's start rules out
        (:meth:`_started_below`): a model that started at 0.09 and a loss of 2.33 and learned its
        way to 0.35 is an underfit 10-class model, not a 3-class one at chance."""
        for acc in (self.val_acc, self.train_acc):
            if acc is None or acc.n < 3 or acc.cut_short:
                continue
            late = acc.values[acc.n // 2 :]
            a = median(late) / percent_scale(acc.values)
            losses = [x for x in (self.train, self.val) if x is not None and x.n >= 3]
            if not 0.001 < a <= 0.55 or not losses:
                continue
            first = int(round(1.0 / a))
            gaps = {}
            for c in dict.fromkeys([first] + [int(round(math.exp(min(x.end(), 7.0)))) for x in losses]):
                if not 2 <= c <= 1000 or a > 1.3 / c or self._started_below(c):
                    continue
                gap = min(abs(x.end() - math.log(c)) / math.log(c) for x in losses)
                if a >= 0.85 / c or (a >= 0.5 / c and gap <= 0.01):
                    gaps[c] = gap
            pinned = min((c for c in gaps if gaps[c] <= 0.025), key=gaps.__getitem__, default=None)
            if pinned is not None:
                return pinned
            if gaps.get(first, 1.0) <= 0.15:
                return first
            near = min((c for c in gaps if gaps[c] <= 0.15), key=gaps.__getitem__, default=None)
            if near is not None:
                return near
        return None

    def _classes_from_start(self) -> int | None:
        """C when the run's start agrees on it: the train loss's first points (median of three) within
        10% of ln C while the accuracy's first (the first validation evaluation, else the median of
        the train accuracy's first three points; either within the first 2% of the run, before
        training moved it) lies between 0.7/C and 1.3/C — an untrained
        classifier scores about 1/C at a loss of about ln C. Either alone can mislead (a first loss
        already carrying updates, a majority-class accuracy); the two together name the count."""
        t = self.train
        if t is None or t.n < 3 or not np.all(np.isfinite(t.values[:3])):
            return None
        loss0 = median(t.values[:3])
        if loss0 <= 0:
            return None
        start_by = float(t.steps[0]) + 0.02 * max(float(t.steps[-1] - t.steps[0]), 1.0)
        for acc, k in ((self.val_acc, 1), (self.train_acc, 3)):
            if acc is None or acc.n < 3 or not np.all(np.isfinite(acc.values[:k])) or float(acc.steps[0]) > start_by:
                continue
            a0 = median(acc.values[:k]) / percent_scale(acc.values)
            if not 0.001 < a0 <= 0.55:
                return None
            first = float(t.values[0])
            cands = {c for c in (int(round(1.0 / a0)), int(round(math.exp(min(loss0, 7.0)))), int(round(math.exp(min(first, 7.0))))) if 2 <= c <= 1000}
            fits = [c for c in cands if abs(loss0 - math.log(c)) <= 0.1 * math.log(c) and 0.7 / c <= a0 <= 1.3 / c]
            # the accuracy's count first: the first losses may already carry a few updates — unless
            # the very first loss (the untrained model's) sits within 0.5% of one count's ln C (a
            # first evaluation at 0.111 reads 9 classes; a loss at 2.303 pins 10 — ln C of
            # neighbouring counts lie 4% apart at 10 classes, so 2.36 pins nothing)
            pinned = [c for c in fits if abs(first - math.log(c)) <= 0.005 * math.log(c)]
            if len(pinned) == 1:
                return pinned[0]
            return min(fits, key=lambda c: abs(1.0 / a0 - c)) if fits else None
        return None

    def _started_below(self, c: int) -> bool:
        """The run's start rules out C classes: its train accuracy's first points (median of three)
        sat under 0.7/C while its train loss's sat above 1.5 ln C. At the start a classifier
        scores about 1/C of its true class count at a loss near ln C; either alone can mislead (a
        few one-minibatch accuracies at 0, a first loss that already holds a blow-up). Not the
        validation accuracy: evaluated after training began, a model fitting shuffled labels
        scores below chance there (0.05 on 10 classes)."""
        a, t = self.train_acc, self.train
        if a is None or t is None or a.n < 3 or t.n < 3 or a.cut_short:
            return False
        early_acc = median(a.values[:3]) / percent_scale(a.values)
        return early_acc < 0.7 / c and median(t.values[:3]) > 1.5 * math.log(c)

    @property
    def started_trained(self) -> bool:
        return self.trained_start is not None

    @cached_property
    def trained_start(self) -> str | None:
        """The run's first logged state is an already trained model (a resumed run, a fine-tune
        at a small rate): its accuracy starts at 2.2 times chance or more (at least 0.5; 0.8 for
        two classes or when C is not known; the first validation evaluation, else the median of
        the train accuracy's first three points) while its train loss starts low (the median of
        its first three points under half of ln C, or under 0.3 when C is not known — a model
        right on 80% of examples with an average probability of 0.74 on the true class), and its
        accuracy never falls more than 0.15 below where it started (a rolling median of three).
        Such a loss has nothing left to fall: that it stays where it started, or that its
        one-minibatch points climb to many times a level near zero, says nothing about the rate.
        A model stuck at a skewed class prior starts at ln C, not low. Without an accuracy, the
        generalisation gap (:func:`trained_start.gap_from_start`) or a task metric whose untrained
        value is zero (:func:`trained_start.metric_from_start`) says it. Which of the three said it
        ("accuracy", "gap", "metric"), or None: the gap is the weakest — a run that learns slowly
        from scratch has its gap too."""
        t = self.train
        acc = self.val_acc if self.val_acc is not None else self.train_acc
        if t is None or t.n < 3 or t.cut_short:
            return None
        if acc is None or acc.cut_short:
            from advisor.rules import trained_start

            return "metric" if trained_start.metric_from_start(self) else "gap" if trained_start.gap_from_start(self) else None
        scale = percent_scale(acc.values)
        first_acc = (acc.values[0] if acc is self.val_acc else median(acc.values[:3])) / scale
        c = self.num_classes
        ceiling = 0.5 * math.log(c) if c else 0.3
        need = min(0.8, max(0.5, 2.2 / c)) if c else 0.8  # 2.2x chance, at least 0.5; 0.8 for two classes
        # and stays trained: a model the rate wrecks later (accuracy 0.97 -> 0.36) is judged as any
        lowest = float(np.min(rolling_median(acc.values, 3) if acc.n >= 5 else acc.values)) / scale
        return "accuracy" if first_acc >= need and median(t.values[:3]) <= ceiling and lowest >= first_acc - 0.15 else None

    @cached_property
    def steps_per_epoch(self) -> int | None:
        """Optimizer steps per epoch, from an epoch stream or the config, when knowable."""
        ep = self.series(Role.EPOCH)
        if ep is not None and len(ep) >= 3:
            v = np.floor(ep.values + 1e-9)
            change = np.nonzero(np.diff(v) > 0)[0]
            if len(change) >= 2:
                steps_at = ep.steps[change + 1].astype(float)
                per = np.diff(steps_at) / np.maximum(np.diff(v[change + 1]), 1)
                spe = float(median(per))
                if spe >= 2:
                    return int(round(spe))
        return hparams.steps_per_epoch_from(self.params)


SUPERVISED_WORKLOADS: tuple[str, ...] = ("supervised", "unknown")
ALL_WORKLOADS: tuple[str, ...] = ("supervised", "unknown", "rl", "gan")


@dataclass(frozen=True)
class RuleSpec:
    """A registry entry: everything known about one rule without running it."""

    id: str
    severity: Severity
    signals: tuple[str, ...]
    params: type
    detect: Callable[[Context, Any], list[Finding]]
    doc: str
    scope: str = "run"  # "run" or "sweep"
    # The workloads whose runs the rule judges (a module's WORKLOADS): the supervised loss-shape
    # rules read nothing right in an RL agent's value loss or a GAN's adversarial losses.
    workloads: tuple[str, ...] = SUPERVISED_WORKLOADS

    @classmethod
    def from_module(cls, mod: types.ModuleType) -> "RuleSpec":
        return cls(
            id=mod.ID,
            severity=mod.SEVERITY,
            signals=tuple(mod.SIGNALS),
            params=mod.Params,
            detect=mod.detect,
            doc=(mod.__doc__ or "").strip(),
            scope=getattr(mod, "SCOPE", "run"),
            workloads=tuple(getattr(mod, "WORKLOADS", SUPERVISED_WORKLOADS)),
        )

    @property
    def title(self) -> str:
        return self.doc.splitlines()[0] if self.doc else self.id

    def make_params(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """Default parameters with ``overrides`` applied and type-checked."""
        base = self.params()
        if not overrides:
            return base
        fields = {f.name: f for f in dataclasses.fields(base)}
        clean = {}
        for k, v in overrides.items():
            if k not in fields:
                known = ", ".join(sorted(fields)) or "none"
                raise UsageError(f"rule {self.id} has no parameter {k!r} (known: {known})")
            default = getattr(base, k)
            try:
                if isinstance(default, bool):
                    if not isinstance(v, bool):
                        raise TypeError
                    clean[k] = v
                elif isinstance(default, int):
                    if isinstance(v, bool) or float(v) != int(v):
                        raise TypeError
                    clean[k] = int(v)
                elif isinstance(default, float):
                    if isinstance(v, bool):
                        raise TypeError
                    clean[k] = float(v)
                else:
                    clean[k] = v
            except (TypeError, ValueError, OverflowError):
                raise UsageError(f"rule {self.id}: parameter {k} must be like {default!r}, not {v!r}") from None
            _check_range(self.id, k, default, clean[k])
        return dataclasses.replace(base, **clean)

    def param_docs(self) -> list[tuple[str, Any]]:
        return [(f.name, f.default) for f in dataclasses.fields(self.params)]


# A parameter may move this many times its default's magnitude (or 1) and no further: beyond that
# it no longer tunes a rule but switches it off, which `ignore` says plainly.
PARAM_RANGE = 1000.0


def _check_range(rule: str, name: str, default: Any, value: Any) -> None:
    """Numbers stay finite, keep their default's sign, and stay within PARAM_RANGE of its size."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return
    v = float(value)
    bound = PARAM_RANGE * max(abs(float(default)), 1.0)
    wrong_sign = v < 0 if default >= 0 else v > 0
    if not math.isfinite(v) or wrong_sign or abs(v) > bound:
        sign = "non-negative" if default >= 0 else "non-positive"
        raise UsageError(f"rule {rule}: parameter {name} must be a finite, {sign} number of magnitude at most {bound:g}, not {value!r} (default {default!r}; use `ignore` to switch a rule off)")


def finding(
    spec_id: str,
    severity: Severity,
    confidence: float,
    summary: str,
    evidence: Mapping[str, Any],
    remedies: Iterable[Remedy] = (),
    onset: int | None = None,
) -> Finding:
    ev = dict(evidence)
    if onset is not None and "step_range" not in ev:
        ev["step_range"] = [int(onset), None]
    return Finding(spec_id, severity, confidence, summary, ev, tuple(remedies), onset)


def clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    if not math.isfinite(x):
        return lo
    return min(hi, max(lo, x))


def margin_confidence(value: float, threshold: float, scale: float, base: float = 0.5) -> float:
    """Confidence that rises from ``base`` at the threshold toward 1 as ``value`` clears it."""
    if not math.isfinite(value):
        return 1.0 if value > 0 else base
    extra = (value - threshold) / scale if scale > 0 else 1.0
    return clamp(base + (1 - base) * (1 - math.exp(-max(extra, 0.0))), 0.0, 0.99)


def nice_factor(x: float, lo: float = 0.01, hi: float = 0.5) -> float:
    """A learning-rate factor rounded to 1, 2 or 5 times a power of ten, within [lo, hi]."""
    if not math.isfinite(x) or x <= 0:
        return lo
    x = min(hi, max(lo, x))
    e = math.floor(math.log10(x))
    m = x / 10**e
    m = 1 if m < 1.5 else 2 if m < 3.5 else 5 if m < 7.5 else 10
    return float(f"{min(hi, max(lo, m * 10**e)):.3g}")


def warmup_steps(ctx: Context) -> int:
    """A warmup of about 5% of the run, at least 100 steps: what the remedies that ramp the rate
    up from a small value ask for."""
    return max(100, int(0.05 * max(int(ctx.last_step), 1)))


def pow2_batch(current: float | None, factor: float = 4.0) -> int:
    """The next power-of-two batch size, in the 32-256 range practitioners start from."""
    if current is None or current <= 0:
        return 64
    target = max(32, min(256, current * factor))
    return int(2 ** round(math.log2(target)))
