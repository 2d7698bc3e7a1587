"""``act=``: a live monitor applies the live-capable remedies inside the user's own loop.

::

    mon = Monitor(model, optimizer, act=True)         # or act={"lr", "clip", "stop"}

What it does, on a finding the monitor delivers (the finding's own remedies decide):

* ``"lr"`` — a ``scale_lr`` remedy below 1 (``lr-too-high``, ``divergence``, a non-finite
  loss): the learning rate is multiplied by the factor (bounded to [1e-3, 0.5]) — PyTorch through
  ``optimizer.param_groups``, optax through an ``optax.inject_hyperparams`` state's
  ``hyperparams["learning_rate"]``, Keras through ``optimizer.learning_rate``. When the weights
  were thrown away by the fault (``lr-too-high``, ``divergence``, ``non-finite``) and a copy from
  the best evaluation is kept, that copy is restored first (the optimizer's state is reset);
* ``"clip"`` — a ``clip_grad_norm`` remedy (``exploding-gradients``): the global gradient norm
  is clipped to ``max_norm`` before every later optimizer step;
* ``"stop"`` — an ``early_stop`` remedy (``overfitting``): ``should_stop`` is set and the weights
  of the best evaluation are restored.

The best weights: at each new minimum of the validation loss the monitor keeps one copy of the
weights on the host (one model's memory, replaced at each new minimum). Pacing: at most one
action per cadence window, none for ``cooldown`` windows after one (default 2), at most ``cap``
per run (default 3). Each action is logged (logger ``advisor.live``), kept in
``mon.actions.taken``, added to ``mon.report()``'s notes and to the ``advisor/findings`` table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from advisor.live.recorder import tag_for
from advisor.model import Finding

if TYPE_CHECKING:
    from advisor.live.monitor import Monitor

log = logging.getLogger("advisor.live")

KINDS = frozenset({"lr", "clip", "stop"})
#: Faults that throw the weights away: an lr cut also restores the best weights kept.
DAMAGING = frozenset({"lr-too-high", "divergence", "non-finite"})
LR_BOUNDS = (1e-3, 0.5)
VAL_TAGS = ("val/loss",)


@dataclass(frozen=True)
class Action:
    """One thing the monitor did to the run."""

    step: int
    kind: str  # "lr" | "clip" | "stop"
    condition: str
    detail: str

    def line(self) -> str:
        return f"advisor acted at step {self.step} on {self.condition}: {self.detail}"


@dataclass
class Plan:
    """What a finding asks for (None: nothing the enabled actions can do)."""

    kind: str
    lr_factor: float = 1.0
    max_norm: float = math.inf
    restore: bool = False
    onset: int | None = None  # the fault's first step: weights kept after it are not restored

    def weights(self, actions: Actions) -> tuple[Any, str]:
        """The copy to restore and how to say so: the best evaluation's, unless it comes after a
        fault's onset (then the weights before the first update, when kept); (None, "") if none."""
        if not self.restore:
            return None, ""
        a = actions
        if a.snapshot is not None and (self.onset is None or self.kind == "stop" or (a.best_step is not None and a.best_step < self.onset)):
            return a.snapshot, restored_text(a)
        if a.initial is not None and self.kind != "stop":
            return a.initial, "; restored the weights from before the first update"
        return None, ""


def kinds_of(act: Any) -> frozenset[str]:
    """``act=True`` / a set of names -> the enabled kinds; a bad name is a ValueError."""
    if act is True:
        return KINDS
    if not act:
        return frozenset()
    names = frozenset([act] if isinstance(act, str) else act)
    bad = names - KINDS
    if bad:
        raise ValueError(f"unknown act action(s) {sorted(bad)} (choose from {sorted(KINDS)})")
    return names


def plan_for(f: Finding, kinds: frozenset[str]) -> Plan | None:
    """The action a finding's remedies ask for, among the enabled kinds."""
    for r in f.remedies:
        p = r.params
        if r.action == "scale_lr" and "lr" in kinds and float(p.get("factor", 1.0)) < 1.0:
            lo, hi = LR_BOUNDS
            return Plan("lr", lr_factor=min(hi, max(lo, float(p["factor"]))), restore=f.condition in DAMAGING)
        if r.action == "clip_grad_norm" and "clip" in kinds and float(p.get("max_norm") or 0) > 0:
            return Plan("clip", max_norm=float(p["max_norm"]))
        if r.action == "early_stop" and "stop" in kinds:
            return Plan("stop", restore=bool(p.get("restore_best", True)))
    if f.condition == "non-finite" and "lr" in kinds:  # its remedies are about the data; the weights are lost
        return Plan("lr", lr_factor=0.1, restore=True)
    return None


class Actions:
    """The pacing, the best-weights bookkeeping and the log of a monitor's actions. The adapters
    apply a :class:`Plan` with :meth:`Target.apply` (see the module docstring)."""

    def __init__(self, mon: Monitor, kinds: frozenset[str], target: Any, cooldown: int = 2, cap: int = 3) -> None:
        self.mon, self.kinds, self.target = mon, kinds, target
        self.window = mon.cadence.unit
        self.cooldown, self.cap = int(cooldown), int(cap)
        self.taken: list[Action] = []
        self.best: float = math.inf  # the best validation loss seen
        self.best_step: int | None = None
        self.snapshot: Any = None  # the weights at the best evaluation (the target's format)
        self.initial: Any = None  # the weights before the first update, when the target saw them
        self.want_snapshot = False  # a new best arrived: the target copies the weights when it can
        self.__name__ = "advisor act"

    # -- the best weights ------------------------------------------------------------------------

    def observe(self, step: int, scalars: Mapping[str, Any] | None, named: Mapping[str, Any]) -> None:
        """Called by ``log``: a validation loss below the best so far marks the weights to keep."""
        v = None
        for k, x in named.items():
            if tag_for(k) in VAL_TAGS:
                v = x
        for k, x in (scalars or {}).items():
            if k in VAL_TAGS:
                v = x
        if v is None:
            return
        val = float(v)  # an evaluation is rare: one host read of its loss
        if math.isfinite(val) and val < self.best:
            self.best, self.best_step = val, int(step)
            self.want_snapshot = True
            snap = getattr(self.target, "snapshot", None)
            if callable(snap):
                self.snapshot = snap()
                self.want_snapshot = self.snapshot is None

    # -- deciding --------------------------------------------------------------------------------

    def _allowed(self, step: int) -> bool:
        if len(self.taken) >= self.cap:
            return False
        if not self.taken:
            return True
        return step - self.taken[-1].step >= max(1, self.cooldown) * self.window

    def __call__(self, mon: Monitor, f: Finding) -> None:
        step = int(mon.step or 0)
        plan = plan_for(f, self.kinds)
        if plan is None or not self._allowed(step):
            return
        if plan.kind == "clip" and any(a.kind == "clip" for a in self.taken):
            return
        plan.onset = f.onset
        detail = self.target.apply(plan, self)
        if not detail:
            return
        if plan.kind == "stop":
            mon.should_stop = True
        a = Action(step, plan.kind, f.condition, detail)
        self.taken.append(a)
        log.warning("%s", a.line())
        sink = getattr(mon, "summary", None)
        if sink is not None:
            sink.note(mon, a.line())

    def lines(self) -> tuple[str, ...]:
        return tuple(a.line() for a in self.taken)


class PendingTarget:
    """The framework-free monitor's target: plans wait for the loop to apply them
    (:func:`advisor.live.optax.apply` does, with the params and the optimizer state)."""

    def __init__(self) -> None:
        self.queue: list[Plan] = []

    def apply(self, plan: Plan, actions: Actions) -> str:
        self.queue.append(plan)
        _, restored = plan.weights(actions)
        if plan.kind == "lr":
            return f"learning rate x{plan.lr_factor:.3g}{restored}"
        if plan.kind == "clip":
            return f"gradient norm clipped to {plan.max_norm:.4g}"
        return f"stopped{restored}"


def restored_text(actions: Actions) -> str:
    return f"; restored the weights of step {actions.best_step} (val loss {actions.best:.4g})"


def attach(mon: Monitor, act: Any, target: Any, cooldown: int = 2, cap: int = 3) -> Actions | None:
    """Enable ``act`` on ``mon`` with ``target`` (the adapter that changes the optimizer)."""
    kinds = kinds_of(act)
    if not kinds:
        return None
    actions = Actions(mon, kinds, target, cooldown, cap)
    mon._callbacks.append(actions)  # called as (monitor, finding), like the built-ins
    return actions


def own_lr_changes_removed(findings: tuple[Finding, ...], actions: Actions | None) -> tuple[Finding, ...]:
    """Findings without a ``schedule-misconfigured`` that the monitor's own learning-rate cut
    made: after an ``"lr"`` action the logged rate steps down and stays there, which that rule
    reads as a schedule whose horizon ended early. Its finding is dropped when it starts at or
    after one window before the first cut (an earlier one is the user's schedule)."""
    cuts = [a.step for a in actions.taken if a.kind == "lr"] if actions is not None else []
    if not cuts:
        return findings
    since = min(cuts) - actions.window
    return tuple(f for f in findings if not (f.condition == "schedule-misconfigured" and (f.onset is None or f.onset >= since)))


def notes_with(notes: Iterable[str], actions: Actions | None) -> tuple[str, ...]:
    return tuple(notes) + (actions.lines() if actions is not None else ())
