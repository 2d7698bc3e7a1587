"""Tripwires: cheap checks of each newly transferred chunk that call for a diagnosis now.

A live monitor diagnoses only when a diagnosis fits its time budget (0.5% of the wall time by
default). A critical fault must not wait for the budget, so every chunk the recorder drains is
also looked at here, in microseconds: a NaN/Inf in any stream, a train loss giving back a quarter
of its gain, a gradient norm 10x its start or a 20x spike, validation losses rising above their best. A tripwire only asks for a diagnosis;
the engine still decides what it is. Critical faults are therefore diagnosed at the first
cadence point where they show, whatever the budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from advisor.io.roles import Signals
from advisor.live.reservoir import Reservoir
from advisor.model import Role

#: The streams that get a tripwire, by resolved role, and which check each runs.
ARMED_ROLES = ((Role.TRAIN_LOSS, "loss"), (Role.GRAD_NORM, "grad"), (Role.VAL_LOSS, "val"))
#: Val tripwire: evaluations in a row above the best one (by ``VAL_MARGIN`` of it) that call for
#: a diagnosis (overfitting's rule then counts the evidence itself).
VAL_PATIENCE = 2
VAL_MARGIN = 0.01


class Tripwire:
    """A cheap check of each new chunk of the train loss or gradient norm that calls for a
    diagnosis now, whatever the time budget (the engine still decides what it is).

    Loss: the end of the chunk gave back ``min_rise`` of the gain so far (initial level minus the
    lowest chunk median) or is above the initial level — the divergence rule's own threshold.
    Gradient norm: the chunk's median is 10x its initial level, or its maximum is 20x the
    previous chunk's median (the exploding-gradients rule's growth and spike scales).
    Val loss (few points, one per evaluation): the latest ``VAL_PATIENCE`` evaluations are all
    above the best one so far — the start of an overfitting the rule may confirm.
    """

    def __init__(self, kind: str, min_rise: float, head: np.ndarray | None) -> None:
        self.kind, self.min_rise = kind, min_rise
        self.initial: float | None = None
        self.low = math.inf
        self.last: float | None = None
        self.above = 0  # val: evaluations in a row above the best
        if head is not None:
            self._start(head)

    def _start(self, vals: np.ndarray) -> None:
        if self.kind == "val":
            self._val(vals[np.isfinite(vals)])
            return
        fin = vals[np.isfinite(vals)]
        if fin.size >= 5:
            self.initial = float(np.median(fin[:16]))

    def _val(self, vals: np.ndarray) -> bool:
        hit = False
        for v in vals.tolist():
            if v < self.low:
                self.low, self.above = v, 0
            elif v > self.low + VAL_MARGIN * abs(self.low):
                self.above += 1
                # an evaluation costs far more than a diagnosis: ask at each one past the best
                hit = hit or self.above >= VAL_PATIENCE
        return hit

    def trips(self, vals: np.ndarray) -> bool:
        if self.kind == "val":
            return self._val(vals)
        if self.initial is None:
            self._start(vals)
            return False
        med = float(np.median(vals))
        if self.kind == "loss":
            # the chunk's end (its last fifth, as the recent view's end level) against the
            # lowest chunk median so far
            end = float(np.median(vals[-max(5, len(vals) // 5) :]))
            gain = self.initial - self.low
            hit = end > self.initial or (gain > 0 and end - self.low >= self.min_rise * gain)
            self.low = min(self.low, med)
        else:
            hit = med >= 10 * self.initial or (self.last is not None and float(np.max(vals)) >= 20 * self.last)
            self.last = med
        return bool(hit)


class Tripwires:
    """The monitor's tripwires: a NaN/Inf check on every stream, plus a :class:`Tripwire` on the
    train loss and the gradient norm once a diagnosis has resolved which tags they are."""

    def __init__(self, min_rise: float) -> None:
        self.min_rise = min_rise
        self._by_tag: dict[str, Tripwire] = {}
        self._val_tags: frozenset[str] = frozenset()

    def arm(self, signals: Signals, series: Mapping[str, Reservoir]) -> None:
        """Tripwires on the resolved train loss and gradient norm (each armed once, on its tag);
        the stream's first points, when already recorded, give its initial level."""
        for role, kind in ARMED_ROLES:
            tag = signals.roles.get(role)
            if tag is not None and tag not in self._by_tag:
                res = series.get(tag)
                head = res.points()[1] if res is not None else None
                self._by_tag[tag] = Tripwire(kind, self.min_rise, head if kind == "val" or head is None else head[:16])
        self._val_tags = frozenset(t for t, w in self._by_tag.items() if w.kind == "val")

    @property
    def val_tags(self) -> frozenset[str]:
        """The armed validation-loss tags: a new point there asks for a cadence point now."""
        return self._val_tags

    def check(self, new: Mapping[str, np.ndarray]) -> bool:
        """Whether newly drained values (tag -> values) call for a diagnosis now. Every armed
        tripwire sees its chunk (each keeps state), even once one has tripped."""
        urgent = False
        for tag, vals in new.items():
            if not np.isfinite(vals).all():
                urgent = True
            elif tag in self._by_tag:
                urgent = self._by_tag[tag].trips(vals) or urgent
        return urgent
