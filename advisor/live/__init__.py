"""Live monitoring inside a training loop (SPEC §7).

``from advisor.live import Monitor`` is framework-free (numbers, numpy, torch or jax scalars);
``advisor.live.torch``, ``advisor.live.optax`` and ``advisor.live.lightning`` are thin adapters
that import their framework only when imported themselves.
"""

from advisor.live.core import ALIASES, FindingAlarm, Monitor, tag_for
from advisor.live.reservoir import Reservoir
from advisor.tracking import Alert, FindingTracker

__all__ = ["ALIASES", "Alert", "FindingAlarm", "FindingTracker", "Monitor", "Reservoir", "tag_for"]
