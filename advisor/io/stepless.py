"""Streams logged without a step: ``add_scalar(tag, value)`` with no ``global_step``.

PyTorch's ``SummaryWriter`` and tensorboardX then write every point at step 0, and since a
repeated step keeps only the point written last, a whole curve would collapse into one point —
a run that overfits for 500 steps would read as one healthy number. A stream of at least
``MIN_POINTS`` points that all share one step is placed instead:

* on the steps of the run's streams that do carry steps, by wall time (a validation loss logged
  without a step beside a train loss logged with one), or
* when no stream carries steps, numbered by the densest stream's points (0, 1, 2, ...: one
  logged point a step, as a loop that logs without a step mostly does), every other point taking
  the number of the densest stream's point written last before it (wall time, then the order in
  the file), so that a train and a validation stream keep their relative places.

The run says so (a reader message under ``problems``): the numbers are then not optimizer steps.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np

from advisor.model import Series

MIN_POINTS = 3  # fewer points at one step may be legitimate (a final metric written twice)

Stream = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # steps, values, wall times, write order


def place_stepless(streams: Mapping[Hashable, Stream], names: Mapping[Hashable, str] | None = None) -> tuple[dict[Hashable, Stream], list[str]]:
    """``streams`` with every stepless stream given steps (see the module), and the messages
    that say which streams were placed and how. ``names``: how to call a stream in a message."""
    stepless = [k for k, (s, *_rest) in streams.items() if len(s) >= MIN_POINTS and s.min() == s.max()]
    if not stepless:
        return dict(streams), []
    name = (lambda k: names.get(k, str(k))) if names else str
    out = dict(streams)
    stepped = [k for k, (s, *_rest) in streams.items() if k not in stepless and np.unique(s).size >= MIN_POINTS]
    if stepped:
        ref = max(stepped, key=lambda k: np.unique(streams[k][0]).size)
        rs, _, rw, _ = streams[ref]
        order = np.argsort(rw, kind="stable")
        walls, steps = rw[order], np.maximum.accumulate(rs[order])
        for k in stepless:
            _, v, w, q = streams[k]
            out[k] = (np.rint(np.interp(w, walls, steps)).astype(np.int64), v, w, q)
        how = f"placed on the steps of {name(ref)} by their wall times"
    else:
        # the densest stream is numbered 0, 1, 2, ... (one logged point a step, as a loop that
        # logs without a step mostly does); every other point takes the number of the densest
        # stream's point written last before it (wall time, then order in the file)
        ref = max(stepless, key=lambda k: len(streams[k][0]))
        rs, rv, rw, rq = streams[ref]
        out[ref] = (np.arange(len(rs), dtype=np.int64), rv, rw, rq)
        for k in stepless:
            if k == ref:
                continue
            _, v, w, q = streams[k]
            wall = np.concatenate([rw, w])
            seq = np.concatenate([rq, q])
            is_ref = np.concatenate([np.ones(len(rw), dtype=bool), np.zeros(len(w), dtype=bool)])
            order = np.lexsort((seq, wall))
            before = np.cumsum(is_ref[order])  # densest points written up to each position
            at = np.empty(len(order), dtype=np.int64)
            at[order] = before
            out[k] = (np.maximum(at[len(rw):] - 1, 0), v, w, q)
        how = f"numbered by the points of {name(ref)} in the order they were written: the axis counts its logged points, not optimizer steps"
    first = streams[stepless[0]][0]
    listed = ", ".join(f"{name(k)} ({len(streams[k][0])})" for k in stepless[:4]) + (", ..." if len(stepless) > 4 else "")
    return out, [f"no step was logged: every point of {listed} is at step {int(first[0])}; {how}"]


def series_of(streams: Mapping[tuple[str | None, str], Stream]) -> tuple[dict[str, Series], list[str]]:
    """A run's series from its streams keyed by (split, tag), the stepless ones placed (see
    :func:`place_stepless`), and the messages that say so: what ``load_run`` and the
    TensorBoard plugin's runs share."""
    placed, messages = place_stepless(streams, {k: (f"{k[0]}/{k[1]}" if k[0] else k[1]) for k in streams})
    series: dict[str, Series] = {}
    for (split, tag), (s, v, w, _) in placed.items():
        ser = Series.from_points(tag, s, v, w, split=split)
        series[ser.key] = ser
    return series, messages
