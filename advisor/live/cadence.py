"""When a live monitor transfers values and diagnoses, and how long a run says it will be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cadence:
    """When the monitor transfers values and diagnoses (see the module docstring)."""

    every: int | None = 50  # steps between cadence points; None: only ``seconds``
    seconds: float | None = None  # also a cadence point after this many seconds
    budget: float = 0.005  # most fraction of wall time spent diagnosing; 0: no limit

    @classmethod
    def of(cls, every: int | None, seconds: float | None, budget: float | None) -> Cadence:
        """From ``Monitor``'s keyword arguments; a cadence that can never fire is an error."""
        if every is None and seconds is None:
            raise ValueError("set every (steps) and/or seconds for the diagnosis cadence")
        if every is not None and int(every) < 1:
            raise ValueError("every must be a positive number of steps")
        return cls(int(every) if every is not None else None, float(seconds) if seconds else None, float(budget) if budget else 0.0)

    @property
    def unit(self) -> int:
        """The steps one cadence window stands for in the step-based defaults (50 when only
        ``seconds`` drives the cadence)."""
        return self.every or 50


#: hparams keys that give a run's planned length in steps.
PLANNED_KEYS = ("total_steps", "max_steps", "num_steps", "num_training_steps", "steps")


def planned_steps(hparams: Mapping[str, Any]) -> int | None:
    for k in PLANNED_KEYS:
        v = hparams.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return int(v)
    return None
