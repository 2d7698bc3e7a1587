"""One memory budget for all of a recorder's streams, not only for each.

A :class:`~advisor.live.reservoir.Reservoir` bounds one stream (about 0.35 MB at the default
shape of a 1024-point raw window and 512 bins), but a model with ten thousand layers, or a loop
logging per-feature statistics, has ten thousand streams: gigabytes. :class:`MemoryBudget`
bounds their total (``Memory.budget``, 64 MiB by default) by coarsening streams as they
multiply, in tiers:

1. per-layer gradient norms first (``train/grad_norm/<layer>``, or what the role resolution
   found to be per-layer norms): the rules only compare them across layers;
2. then every other stream;
3. never the streams the diagnosis stands on: the standard tags (``train/loss``, ``val/loss``,
   ``train/lr``, ...) and whatever tag the role resolution picked for a role (a train loss
   logged as ``Loss/train``). These keep their full raw window and bins.

Coarsening steps a tier down a :func:`ladder` of shapes — bins halve to :data:`MIN_BINS`, then
the raw window to :data:`MIN_WINDOW` — and applies the shape to its streams
(:meth:`Reservoir.resize`: the oldest raw points go into bins, bins merge pairwise); new streams
of the tier start at it. It is planned when streams are added, on the bytes each could hold on
a long run (:meth:`Shape.worst_bytes`), so streams start coarse instead of filling up and being
cut down later; a monitor whose streams fit at the full shape (up to about 170 at 64 MiB) pays
nothing. When even the coarsest shapes may not fit, the real bytes (:attr:`Reservoir.nbytes`)
are watched, and the recorder reports once if they go over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from advisor.live.reservoir import BIN_BYTES, POINT_BYTES, STREAM_BYTES, Reservoir

#: Tiers; coarsened in the order of COARSEN_ORDER, KEEP never.
KEEP, OTHER, LAYER = 0, 1, 2
COARSEN_ORDER = (LAYER, OTHER)

#: The tags the adapters give per-layer gradient norms (``train/grad_norm/<layer>``).
LAYER_PREFIX = "train/grad_norm/"

#: The coarsest a stream gets: 16 recent points raw, at most 8 closed bins.
MIN_WINDOW, MIN_BINS = 16, 4

#: Partial bins a long run's carry chain may hold in the projection (one per doubling of the
#: bin width: 20 covers a stream of millions of points at the coarsest shape).
CARRY_BINS = 20


@dataclass(frozen=True)
class Shape:
    """How much of a stream is kept: the raw window and the bin count."""

    window: int
    bins: int

    def worst_bytes(self, head: int) -> int:
        """About the most bytes a stream of this shape holds on a long run."""
        return STREAM_BYTES + (head + self.window) * POINT_BYTES + (2 * self.bins + CARRY_BINS) * BIN_BYTES


def ladder(full: Shape) -> tuple[Shape, ...]:
    """The shapes a tier steps down through: bins halve first (on a long run they hold most of
    a stream's bytes, and the recent raw window is what per-step rules read), then the window."""
    out = [full]
    while out[-1].bins // 2 >= MIN_BINS:
        out.append(Shape(full.window, out[-1].bins // 2))
    while out[-1].window // 2 >= MIN_WINDOW:
        out.append(Shape(out[-1].window // 2, out[-1].bins))
    return tuple(out)


class MemoryBudget:
    """The shape of each stream under one budget for all of them; see the module docstring.

    Args:
        total: bytes for all streams together; None: no bound (each stream at ``full``).
        full: the shape of a stream that is not coarsened.
        head: first points every stream keeps raw.
        keep: tags never coarsened (the standard tags).
    """

    def __init__(self, total: int | None, full: Shape, head: int, keep: Iterable[str]) -> None:
        self.total, self.head = total, head
        self.ladder = ladder(full)
        self.rungs = {KEEP: 0, OTHER: 0, LAYER: 0}  # each tier's step down the ladder
        self._named_keep = frozenset(keep)
        self._keep: frozenset[str] = frozenset()  # resolved roles
        self._layers: frozenset[str] = frozenset()  # resolved per-layer gradient norms
        self.projected_over = False  # even the coarsest shapes may not fit: watch the real bytes

    def tier(self, tag: str) -> int:
        if tag in self._keep or tag in self._named_keep:
            return KEEP
        if tag in self._layers or tag.startswith(LAYER_PREFIX):
            return LAYER
        return OTHER

    def shape(self, tier: int) -> Shape:
        return self.ladder[self.rungs[tier]]

    def reservoir(self, tag: str) -> Reservoir:
        """A new stream's reservoir, at its tier's current shape."""
        s = self.shape(self.tier(tag))
        return Reservoir(s.window, s.bins, self.head)

    def prioritize(self, keep: Iterable[str], layers: Iterable[str], series: Mapping[str, Reservoir]) -> None:
        """What the role resolution found: ``keep`` (each role's tag) is never coarsened,
        ``layers`` (per-layer gradient norms) first. Streams whose tier changed are reshaped."""
        keep, layers = frozenset(keep), frozenset(layers)
        if keep == self._keep and layers == self._layers:
            return
        self._keep, self._layers = keep, layers - keep
        self.plan(series)

    def plan(self, series: Mapping[str, Reservoir]) -> None:
        """Step tiers down the ladder (never up) until the streams' projected bytes fit, and
        reshape the streams whose shape changed. Call it when streams were added."""
        if self.total is not None and len(series) * self.ladder[0].worst_bytes(self.head) > self.total:
            self._step_down(series, self.total)  # else it fits at the full shape: nothing to count
        for tag, res in series.items():
            _fit(res, self.shape(self.tier(tag)))

    def _step_down(self, series: Mapping[str, Reservoir], total: int) -> None:
        count = {KEEP: 0, OTHER: 0, LAYER: 0}
        for tag in series:
            count[self.tier(tag)] += 1

        def projected() -> int:
            return sum(n * self.shape(t).worst_bytes(self.head) for t, n in count.items())

        for tier in COARSEN_ORDER:
            while count[tier] and projected() > total and self.rungs[tier] + 1 < len(self.ladder):
                self.rungs[tier] += 1
        self.projected_over = projected() > total

    def over(self, series: Mapping[str, Reservoir]) -> int | None:
        """The bytes the streams hold when that is over the budget (possible only once even the
        coarsest shapes do not fit the projection), else None."""
        if not self.projected_over or self.total is None:
            return None
        used = sum(res.nbytes for res in series.values())
        return used if used > self.total else None


def _fit(res: Reservoir, shape: Shape) -> None:
    if (res.window, res.max_bins) != (shape.window, shape.bins):
        res.resize(shape.window, shape.bins)
