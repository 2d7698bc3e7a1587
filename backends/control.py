"""Live control of a running trainer: submit live-capable remedies, or ask it to stop.

A :class:`Control` is shared between the trainer and anyone else (a live monitor, ``advisor
tune``, a signal handler, another thread). Trainers poll it once per logging interval — for
the JAX trainer that is between compiled chunks, never inside one — apply what was submitted
and record it in ``TrainResult.applied``. Remedies that change the model, the data pipeline or
the optimizer's structure need a restart; :meth:`Control.submit` rejects them at once.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

from advisor.model import Remedy
from advisor.remedies import ACTIONS
from backends.config import ConfigError

LIVE_ACTIONS: tuple[str, ...] = tuple(a for a, s in ACTIONS.items() if s.kind == "auto" and s.live)


class Control:
    """Thread-safe mailbox between a trainer and the outside world."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Remedy] = []
        self._stop_reason: str | None = None

    def submit(self, remedy: Remedy | Mapping[str, Any]) -> None:
        """Queue a live remedy for the next logging interval; raise ConfigError for one that needs a restart."""
        r = remedy if isinstance(remedy, Remedy) else _as_remedy(remedy)
        spec = ACTIONS.get(r.action)
        if spec is None:
            raise ConfigError(f"unknown remedy action {r.action!r}")
        if not (spec.kind == "auto" and spec.live):
            raise ConfigError(
                f"remedy {r.action!r} cannot be applied to a running trainer (live: {', '.join(LIVE_ACTIONS)});"
                " apply it to the config and restart"
            )
        with self._lock:
            self._pending.append(r)

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the trainer to stop cleanly at its next logging interval."""
        with self._lock:
            self._stop_reason = reason

    @property
    def stop_requested(self) -> str | None:
        with self._lock:
            return self._stop_reason

    def drain(self) -> list[Remedy]:
        """Take every pending remedy (the trainer calls this)."""
        with self._lock:
            out, self._pending = self._pending, []
        return out


def _as_remedy(d: Mapping[str, Any]) -> Remedy:
    if not isinstance(d, Mapping) or "action" not in d:
        raise ConfigError("a remedy is an advisor.model.Remedy or a dict {'action': ..., 'params': {...}}")
    return Remedy.from_dict({"params": {}, **d})
