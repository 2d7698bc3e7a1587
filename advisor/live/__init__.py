"""Live monitoring inside a training loop (SPEC §7).

``from advisor.live import Monitor`` is framework-free (numbers, numpy, torch or jax scalars);
``advisor.live.torch``, ``advisor.live.optax`` and ``advisor.live.lightning`` are thin adapters
that import their framework only when imported themselves.

The parts: :mod:`~advisor.live.monitor` (the thin :class:`Monitor`: cadence, time budget,
diagnosis, tracking, callbacks), :mod:`~advisor.live.recorder` (values in: names, host transfer,
reservoirs, tee; the API the adapters feed), :mod:`~advisor.live.tripwire` (checks that call for
a diagnosis now), :mod:`~advisor.live.recent` (divergence on the recent window),
:mod:`~advisor.live.callbacks` (where findings go), :mod:`~advisor.live.reservoir` (bounded
history of one stream), :mod:`~advisor.live.budget` (one memory budget for all streams),
:mod:`~advisor.live.tee` (the full-resolution event file).
"""

from advisor.live.callbacks import FindingAlarm
from advisor.live.monitor import Monitor
from advisor.live.recorder import ALIASES, Recorder, tag_for
from advisor.live.reservoir import Reservoir
from advisor.tracking import Alert, FindingTracker

__all__ = ["ALIASES", "Alert", "FindingAlarm", "FindingTracker", "Monitor", "Recorder", "Reservoir", "tag_for"]
