"""The early stop tune asks of a training: stop once a critical condition is confirmed live.

A trainer whose ``train`` accepts a ``callback`` keyword gets a :class:`Watch` there: it calls
``callback(step, scalars)`` at its logging points (``scalars``: that step's values, names as the
live monitor takes them — ``train/loss``, ``loss``, ``val/loss``, ``val_loss``, ...), and when the
call returns a reason (a non-empty string) it stops and returns its result so far. A trainer that
takes no ``callback`` trains to the end, as before; nothing else changes for it.

A trainer that can afford it may also feed every step through ``callback.observe(step, scalars)``
(when the callback has that method; nothing is decided there): the monitor then judges the full
curve, as a live monitor inside the loop does, instead of one point per logging interval — a spike
in the first steps is seen, and a confirmation takes two logging intervals instead of eight.

The watch feeds an :class:`advisor.live.Monitor` (its public API: ``log`` and an ``on_finding``
callable), with its cadence set to the spacing of the trainer's logging points, and asks to stop
when the monitor delivers a **critical** finding of one of :data:`STOP_ON` — the conditions whose
critical form means the rest of the run cannot recover on its own (a NaN, a loss running away,
a learning rate so high that nothing is learned after the first steps). An lr-too-high is not
acted on while the validation loss the trainer reports has come down by :data:`LEARNING` (10%)
from its first value and below the first train loss: something is being learned (heavy dropout on torch made the train loss jump
and sit high, and the live rule called it lr-too-high while the model learned). Neither is a
divergence of the train loss alone, which the rule's evidence says when validation did not rise
with it, while the validation loss says the model learns: batch 16 on overlapping spirals bounced
from 0.25 back to 0.68 in 50 steps and ended fine, yet the stop scored it as diverged; a runaway
lifts the validation loss too, and is stopped at the next evaluation. The decision depends on
the run alone (its config and seed), never on which role the run plays in the tuning, so the
journal, ``--resume`` and the training cache see the same run whichever way it is reached.

What this means for the verification (:mod:`advisor.tune.sequential`): a run stopped for a NaN or
a divergence (:data:`FAILED`) is scored as a diverged run (the worst value: it was blowing up, and
its metric at the stop says nothing of where it would end); a run stopped for ``lr-too-high`` is
scored by its metric at the stop (the trainer's result), at or near chance, as it would have ended.
The finding that stopped it is journaled with the run, and kept among the run's findings when the
offline analysis of the shortened curve does not show it as strongly, so the next round acts on
the condition the run was stopped for. The benchmark re-checks every accepted repair against
full-length runs on fresh seeds.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from advisor.model import Severity

#: Conditions whose confirmed critical form stops a training early.
STOP_ON: tuple[str, ...] = ("non-finite", "divergence", "lr-too-high")
#: A run stopped for one of these scores as diverged (the worst value of the metric).
FAILED: tuple[str, ...] = ("non-finite", "divergence")
#: A validation loss down by this fraction from its first value vetoes an lr-too-high stop.
LEARNING = 0.1
VAL_NAMES = ("val/loss", "val_loss", "validation/loss", "eval/loss", "eval_loss")
TRAIN_NAMES = ("train/loss", "loss", "train_loss")


def _number(v: Any) -> float | None:
    try:
        f = float(v) if v is not None else None
    except (TypeError, ValueError):
        return None
    return f if f is not None and math.isfinite(f) else None


class Watch:
    """``callback(step, scalars) -> reason | None`` for a trainer; see the module docstring."""

    def __init__(self, stop_on: tuple[str, ...] = STOP_ON, name: str = "tune") -> None:
        self.stop_on = frozenset(stop_on)
        self.name = name
        self.reason: str | None = None
        self.finding: dict[str, Any] | None = None  # the finding that stopped the run (Finding.to_dict)
        self.step: int | None = None  # the step the stop was asked at
        self._mon: Any = None
        self._first: int | None = None  # the step of the first logging point
        self._held: list[tuple[int, dict[str, Any]]] = []  # points before the cadence is known
        self._observed: tuple[int, frozenset[str]] = (-1, frozenset())  # the latest observe(): step, names
        self._val: list[float] = []  # [first, lowest] validation loss seen at the logging points
        self._start: float | None = None  # the first train loss seen
        self._vetoed = False  # a critical divergence was vetoed (see _on_finding): look again at each logging point

    def observe(self, step: int, scalars: Mapping[str, Any]) -> None:
        """One step's values, between logging points (optional; decides nothing)."""
        if self.reason is None:
            self._note_start(scalars)
            self._observed = (int(step), frozenset(scalars))
            self._log(int(step), dict(scalars))

    def __call__(self, step: int, scalars: Mapping[str, Any]) -> str | None:
        if self.reason is not None:
            return self.reason
        step = int(step)
        self._note_start(scalars)
        self._note_val(scalars)
        seen = self._observed[1] if self._observed[0] == step else frozenset()
        fresh = {k: v for k, v in scalars.items() if k not in seen}  # what observe() did not give at this step
        if self._mon is None:  # the cadence is the spacing of the first two logging points
            if self._first is None:
                self._first = step
                self._log(step, fresh)
                return None
            from advisor.live import Monitor

            self._mon = Monitor(every=max(1, step - self._first), on_finding=self._on_finding, budget=None, name=self.name)
            held, self._held = self._held, []
            for point in held:
                self._mon.log(*point)
        if fresh:
            self._mon.log(step, fresh)
        if self.reason is None and self._vetoed:  # a vetoed divergence is judged again as validation comes in
            for f in self._mon.findings:
                self._on_finding(f)
        if self.reason is not None:
            self.step = step
        return self.reason

    def _log(self, step: int, scalars: dict[str, Any]) -> None:
        if not scalars:
            return
        if self._mon is None:
            self._held.append((step, scalars))
        else:
            self._mon.log(step, scalars)

    def _note_start(self, scalars: Mapping[str, Any]) -> None:
        if self._start is None:
            v = _number(next((scalars[k] for k in TRAIN_NAMES if k in scalars), None))
            self._start = v

    def _note_val(self, scalars: Mapping[str, Any]) -> None:
        v = _number(next((scalars[k] for k in VAL_NAMES if k in scalars), None))
        if v is not None:
            self._val = [v, v] if not self._val else [self._val[0], min(self._val[1], v)]

    def learning(self) -> bool:
        """Is the validation loss down by :data:`LEARNING` from its first value *and* below the
        first train loss (the untrained model's)? False without both. A critical lr-too-high claims
        nothing is learned; such a validation loss says otherwise (heavy dropout makes the train
        loss jump and sit high while the model learns), where a loss falling back from an explosion
        (Adam at 10: 5650 -> 2072) does not."""
        if not self._val or self._start is None or self._val[0] <= 0:
            return False
        return self._val[1] < (1.0 - LEARNING) * self._val[0] and self._val[1] < self._start

    def _on_finding(self, f: Any) -> None:
        if f.condition == "lr-too-high" and self.learning():
            return
        if f.condition == "divergence" and self.learning() and not (f.evidence or {}).get("val_rising"):
            self._vetoed = True  # the train loss alone rose (a small batch's bounce) while validation says it learns
            return
        if self.reason is None and f.condition in self.stop_on and f.severity is Severity.CRITICAL:
            self.reason = f"advisor tune: {f.condition} confirmed live ({f.summary})"
            self.finding = f.to_dict()

    def stopped(self) -> dict[str, Any] | None:
        """What the journal keeps of a stop: step, reason, condition, finding (None: not stopped)."""
        if self.reason is None:
            return None
        return {"step": self.step, "reason": self.reason, "condition": (self.finding or {}).get("condition"), "finding": self.finding}

    def close(self) -> None:
        if self._mon is not None:
            self._mon.close()
