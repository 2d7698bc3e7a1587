"""Per-tag accumulation of decoded points, and TensorBoard's purges on restarts.

The decoders (the general one in :mod:`advisor.io.events`, the vectorised one in
:mod:`advisor.io._fast`) feed an :class:`Accumulator` point by point or in arrays; it keeps
them per tag, decides each tag's plugin by its first metadata, and hands back per-tag arrays
in write order after the purges TensorBoard's EventAccumulator applies (a SessionLog START
after the first; in files without a version-2 file_version, a step that goes backwards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.io.hparams import decode_session_start
from advisor.io.records import Damage


@dataclass(frozen=True)
class TagData:
    """One tag's points in write order (after restart purges): steps, values, wall times."""

    steps: np.ndarray  # int64
    values: np.ndarray  # float64
    wall_times: np.ndarray  # float64
    seq: np.ndarray  # int64 record index within its file (orders points across tags)


def _tag_data(steps: np.ndarray, values: np.ndarray, walls: np.ndarray, seq: np.ndarray) -> TagData:
    """``TagData(steps, values, walls, seq)``, made without the frozen dataclass's per-field
    setattr calls (a small file's fixed cost: one per tag)."""
    out = object.__new__(TagData)
    out.__dict__.update(steps=steps, values=values, wall_times=walls, seq=seq)
    return out


class Accumulator:
    """Collects decoded points per tag; the general and the vectorised decoders both feed it."""

    def __init__(self) -> None:
        self.steps: dict[str, list[Any]] = {}
        self.values: dict[str, list[Any]] = {}
        self.walls: dict[str, list[Any]] = {}
        self.seqs: dict[str, list[Any]] = {}
        self.chunks: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
        # As TensorBoard does, a tag's first value with metadata (by record index) decides its
        # plugin for the whole file; a simple_value counts as "scalars" metadata.
        self.first_meta: dict[str, tuple[int, str]] = {}  # tag -> (record index, plugin name)
        self.hparams_content: tuple[int, bytes] | None = None  # the first hparams session start info
        self.text_candidates: dict[str, list[tuple[int, int, str]]] = {}  # tag -> (record index, step, text)
        self.hparams: dict[str, Any] = {}
        self.texts: dict[str, str] = {}
        self.file_version: str | None = None
        self.versions: list[tuple[int, float]] = []  # (record index, parsed version) of each file_version
        self.restarts: list[tuple[int, int]] = []
        # (record index, step) of the summary events the general decoder read (TensorBoard's
        # out-of-order purge, in files that are not all version 2, needs every summary event's
        # step; a batched record's is in the points already).
        self.marks: list[tuple[np.ndarray, np.ndarray]] = []
        self._purges: tuple | None = None
        self._mark_seqs: list[int] = []
        self._mark_steps: list[int] = []
        self.records = 0
        # Records that the one-record template path (advisor.io._fast_single) may still look
        # up beyond its cache (building a template is costly: a few per file, at its start).
        self.template_tries = 8
        self.damage = Damage()  # byte ranges skipped as damaged framing
        self.non_scalar = 0
        self.bad_crc = 0
        self.bad_records = 0

    def add(self, tag: str, step: int, value: float, wall: float, seq: int) -> None:
        lst = self.steps.get(tag)
        if lst is None:
            self.steps[tag], self.values[tag], self.walls[tag], self.seqs[tag] = [], [], [], []
            lst = self.steps[tag]
        lst.append(step)
        self.values[tag].append(value)
        self.walls[tag].append(wall)
        self.seqs[tag].append(seq)

    def note_meta(self, tag: str, seq: int, plugin: str) -> None:
        """A value of ``tag`` with metadata naming ``plugin`` at record ``seq`` (the earliest wins)."""
        first = self.first_meta.get(tag)
        if first is None or seq < first[0]:
            self.first_meta[tag] = (seq, plugin)

    def resolve(self) -> None:
        """Texts and hparams as the tags' first metadata decides them (call before reading them)."""
        restarts, legacy = self._purges if self._purges is not None else self._purge_events()
        self.texts = {}
        for tag, cands in self.text_candidates.items():
            if self.first_meta.get(tag, (0, ""))[1] != "text":
                continue
            q = np.array([c[0] for c in cands], dtype=np.int64)
            order = np.argsort(q, kind="stable")
            q, s = q[order], np.array([c[1] for c in cands], dtype=np.int64)[order]
            kept = np.flatnonzero(_kept(q, s, restarts, legacy))
            if len(kept):
                self.texts[tag] = cands[int(order[kept[-1]])][2]  # the last one standing
        if self.hparams_content is not None:
            hp = decode_session_start(self.hparams_content[1])
            self.hparams = hp if hp is not None else {}

    def mark(self, seq: int, step: int) -> None:
        self._mark_seqs.append(seq)
        self._mark_steps.append(step)

    def add_arrays(self, tag: str, steps: np.ndarray, values: np.ndarray, walls: np.ndarray, seqs: np.ndarray) -> None:
        """Add many points of one tag at once (the vectorised path)."""
        listed = self.seqs.get(tag)
        if listed and len(seqs) and listed[-1] < seqs[0] and tag not in self.chunks:
            # The tag's first points, decoded one by one, come right before these (a small
            # file's first record, then its batch): one chunk, so that none is assembled later.
            chunk = (
                np.concatenate((self.steps[tag], steps)),
                np.concatenate((self.values[tag], values)),
                np.concatenate((self.walls[tag], walls)),
                np.concatenate((listed, seqs)),
            )
            if all(a.dtype == b.dtype for a, b in zip(chunk, (steps, values, walls, seqs))):
                self.steps[tag], self.values[tag], self.walls[tag], self.seqs[tag] = [], [], [], []
                self.chunks[tag] = [chunk]
                return
        self._flush_lists(tag)
        self.chunks.setdefault(tag, []).append((steps, values, walls, seqs))

    def _flush_lists(self, tag: str) -> None:
        if self.steps.get(tag):
            self.chunks.setdefault(tag, []).append(
                (
                    np.array(self.steps[tag], dtype=np.int64),
                    np.array(self.values[tag], dtype=np.float64),
                    np.array(self.walls[tag], dtype=np.float64),
                    np.array(self.seqs[tag], dtype=np.int64),
                )
            )
            self.steps[tag], self.values[tag], self.walls[tag], self.seqs[tag] = [], [], [], []

    def tag_data(self) -> dict[str, TagData]:
        for tag in list(self.steps):
            self._flush_lists(tag)
        restarts, legacy = self._purges = self._purge_events()
        purging = len(restarts[0]) or len(legacy[0])
        first_meta = self.first_meta
        out: dict[str, TagData] = {}
        compact = False  # whether the chunks change (a tag dropped, chunks joined, points purged)
        for tag, chunks in self.chunks.items():
            first = first_meta.get(tag)
            if first is not None and first[1] != "scalars":  # numbers under another plugin's tag (no metadata at all: scalars)
                self.non_scalar += sum(len(c[0]) for c in chunks)
                compact = True
                continue
            if len(chunks) == 1:
                s, v, w, q = chunks[0]
            else:
                s, v, w, q = _assemble(chunks)
                compact = True
            if purging:
                keep = _kept(q, s, restarts, legacy)
                if not keep.all():
                    s, v, w, q = s[keep], v[keep], w[keep], q[keep]
                    compact = True
            if len(s):
                out[tag] = _tag_data(s, v, w, q)
            else:
                compact = True
        if compact:
            # Compact so that an incremental reader does not re-concatenate everything each poll.
            self.chunks = {t: [(d.steps, d.values, d.wall_times, d.seq)] for t, d in out.items()}
        return out

    def _flush_marks(self) -> None:
        if self._mark_seqs:
            self.marks.append((np.array(self._mark_seqs, dtype=np.int64), np.array(self._mark_steps, dtype=np.int64)))
            self._mark_seqs, self._mark_steps = [], []

    def _purge_events(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The events that purge earlier points, as TensorBoard's EventAccumulator decides them.

        Returns ((seqs, steps) of the restarts that purge every tag, (seqs, steps) of the
        out-of-order events that purge their own tags). With a file_version of 2 or more read
        before it, a SessionLog START is a restart except the first (that one starts the
        session). Before such a file_version, an event whose step is below the step of the
        previous summary event purges its tags instead.
        """
        none = _NO_EVENTS
        versions = self.versions
        if not self.restarts and versions and (len(versions) == 1 and versions[0][0] == 0 and versions[0][1] >= 2 or min(v[0] for v in versions) == 0 and all(v[1] >= 2 for v in versions)):
            # Version 2 from the first record on and no SessionLog START (every current writer,
            # most files): nothing purges; decided without arrays (a small file's fixed cost).
            # Marks matter only to the out-of-order purge of other files: kept, compacted late.
            if len(self._mark_seqs) > 4096:
                self._flush_marks()
            return none, none
        versions = sorted(self.versions)
        vseq = np.array([v[0] for v in versions], dtype=np.int64)
        vok = np.array([v[1] >= 2 for v in versions], dtype=bool)

        def is_v2(seqs: np.ndarray) -> np.ndarray:
            i = np.searchsorted(vseq, seqs, side="right") - 1  # the latest version at or before
            return (i >= 0) & vok[np.maximum(i, 0)] if len(vseq) else np.zeros(len(seqs), dtype=bool)

        starts = sorted(self.restarts)
        sq = np.array([r[0] for r in starts], dtype=np.int64)
        ss = np.array([r[1] for r in starts], dtype=np.int64)
        v2 = is_v2(sq)
        first = np.flatnonzero(v2)[:1]
        v2[first] = False
        restarts = (sq[v2], ss[v2])
        self._flush_marks()
        if versions and all(v[1] >= 2 for v in versions) and versions[0][0] == 0:
            return restarts, none  # version 2 from the first record on (every current writer)
        # Every summary event in record order: the general decoder's marks and the points.
        parts = self.marks + [(c[3], c[0]) for chunks in self.chunks.values() for c in chunks]
        if not parts:
            return restarts, none
        mq = np.concatenate([m[0] for m in parts])
        ms = np.concatenate([m[1] for m in parts])
        order = np.argsort(mq, kind="stable")
        mq, ms = mq[order], ms[order]
        first = np.ones(len(mq), dtype=bool)
        first[1:] = mq[1:] != mq[:-1]  # one mark per event (an event may hold several points)
        mq, ms = mq[first], ms[first]
        self.marks = [(mq, ms)]  # kept: a later purge must not lose earlier events' steps
        prev = np.concatenate([[-1], ms[:-1]])  # TensorBoard starts from most_recent_step = -1
        late = (ms < prev) & ~is_v2(mq)
        return restarts, (mq[late], ms[late])


#: (record indices, steps) of no events; read-only, shared.
_NO_EVENTS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
for _a in _NO_EVENTS:
    _a.flags.writeable = False


def _assemble(chunks: list) -> tuple[np.ndarray, ...]:
    """One tag's chunks as four arrays in record order.

    Field by field, releasing each chunk's array once copied and handing the freed memory back
    to the OS, so that a large file's points are never held twice over.
    """
    total = sum(len(c[0]) for c in chunks)
    ordered = all(len(a[3]) and len(b[3]) and a[3][-1] < b[3][0] for a, b in zip(chunks, chunks[1:]))
    if total * 8 < _TRIM_BYTES:  # small: fewest calls
        s, v, w, q = (np.concatenate([c[k] for c in chunks]) for k in range(4))
    else:
        parts = [list(c) for c in chunks]
        chunks.clear()
        out = []
        for field, dtype in enumerate((np.int64, np.float64, np.float64, np.int64)):
            dst = np.empty(total, dtype)
            at = 0
            for part in parts:
                k = len(part[field])
                dst[at : at + k] = part[field]
                part[field] = None
                at += k
            out.append(dst)
            _trim()
        s, v, w, q = out
    if not ordered:
        # Chunks interleave (a vectorised run and records decoded one by one, or several
        # values of one tag in one event): the record index restores write order.
        order = np.argsort(q, kind="stable")
        s, v, w, q = s[order], v[order], w[order], q[order]
    return s, v, w, q


_TRIM_BYTES = 1 << 20


def _trim() -> None:
    """Return freed heap memory to the OS (glibc keeps it otherwise); a no-op elsewhere."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _kept(q: np.ndarray, s: np.ndarray, restarts: tuple[np.ndarray, np.ndarray], legacy: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Which points of one tag (records q in order, steps s) survive the purges."""
    events_q, events_s = restarts
    if len(legacy[0]):
        mine = np.isin(q, legacy[0])  # out-of-order events purge only their own tags
        events_q, events_s = np.concatenate([events_q, q[mine]]), np.concatenate([events_s, s[mine]])
    if not len(events_q):
        return np.ones(len(q), dtype=bool)
    return ~_purged(q, s, events_q, events_s)


def _purged(q: np.ndarray, s: np.ndarray, events_q: np.ndarray, events_s: np.ndarray) -> np.ndarray:
    """Points (record q, step s) purged by a later event (record > q) at a step <= s."""
    order = np.argsort(events_q, kind="stable")
    eq, es = events_q[order], events_s[order]
    suffix_min = np.minimum.accumulate(es[::-1])[::-1]  # the lowest step of the events from k on
    k = np.searchsorted(eq, q, side="right")  # the first event after each point
    has = k < len(eq)
    out = np.zeros(len(q), dtype=bool)
    out[has] = suffix_min[k[has]] <= s[has]
    return out

