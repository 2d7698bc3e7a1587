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

A stream whose step counter restarts every epoch — ``add_scalar(tag, loss, batch_idx)``, a common
slip for ``global_step`` — writes each epoch over the last at the same steps, and keeping the point
written last at each step would leave only the final epoch: a run that learned reads as a flat
loss. When the steps fall back to the stream's first step at least ``MIN_RESETS`` times, each
stretch between falls rises in order, the stretches are alike in length and the values carry on
across each fall (the first points after it sit nearer the last points before it than the
stream's own first points: training went on — not a re-run, which starts over; at least half of
the falls that can be judged), the stream is
read in write order instead, each stretch after the one before (:func:`_unroll`), and
the run says so. A stream that falls back to its first step once, its values carrying on, holds a
second launch that continued the trained model (a notebook cell run again into the same writer): its
points are placed after the first launch's, and the run says so. A stream that falls back and starts over (its values back near their start:
several trainings written into one file) is read as before — the point written last wins — and
the run says that too. A stream whose values never left their start (within four times its median
point-to-point change, before every fall) cannot tell the two apart; it is laid end to end, which reads the same either
way and keeps the first epoch's points, and the run says it could not tell.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np

from advisor.model import Series

MIN_POINTS = 3  # fewer points at one step may be legitimate (a final metric written twice)
MIN_RESETS = 2  # falls back to the first step that make a per-epoch step counter
FILE_STRIDE = 1 << 40  # write order across a run's files: file index * FILE_STRIDE + record index

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


def _falls_to_start(steps: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Where the steps (in write order) fall back to the stream's first step, and the stride of
    its rises; None when they never fall, or fall to a middle step (a resume)."""
    d = np.diff(steps)
    falls = np.flatnonzero(d < 0)
    if not falls.size:
        return None
    rise = d[d > 0]
    stride = int(np.median(rise)) if rise.size else 1
    if np.any(steps[falls + 1] > int(steps[0]) + stride):
        return None  # falls to a middle step: a resumed run, not an epoch counter
    return falls, stride


def _carried_share(values: np.ndarray, falls: np.ndarray) -> tuple[float, int]:
    """The share of falls across which the values carry on — the first points after a fall sit
    nearer the last points before it than the stream's own first points (training went on) — and
    how many falls could be judged: one whose last points before it are still within four times the
    stream's median point-to-point change of its first points (a loss that never moved) says nothing
    either way, and none does when the stream's median sits that near its first points (a stuck
    loss: a value back at the start is its usual value; a spike at an epoch's end is no trained
    level the next epoch fell back from)."""
    fin = np.isfinite(values)
    if not fin[:3].any():
        return 0.0, 0
    start = float(np.median(values[:3][fin[:3]]))
    steps_noise = np.abs(np.diff(values[fin]))
    noise = float(np.median(steps_noise)) if steps_noise.size else 0.0
    if abs(float(np.median(values[fin])) - start) <= 4 * noise:
        return 0.0, 0  # the stream sits where it started: values back "at the start" say nothing
    carried = judged = 0
    for b in falls + 1:
        before, after = values[max(0, b - 3):b], values[b:b + 3]
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        if not (before.size and after.size):
            continue
        prior = float(np.median(before))
        if abs(prior - start) <= 4 * noise:
            continue  # still where it started: a restart and a carried-on epoch look the same
        a = float(np.median(after))
        judged += 1
        carried += abs(a - prior) < abs(a - start)
    return (carried / judged if judged else 0.0), judged


def _laid_end_to_end(steps: np.ndarray, falls: np.ndarray, stride: int) -> np.ndarray | None:
    """Steps that restart every epoch (falling back to the first step at ``falls``), each stretch
    offset by the stretch length; None when the falls are too few or the stretches unlike each
    other to be one loop's epochs."""
    n = len(steps)
    if falls.size < MIN_RESETS or n < 4 * (falls.size + 1):
        return None
    lengths = np.diff(np.concatenate(([0], falls + 1, [n])))
    if lengths[:-1].min() < 0.5 * np.median(lengths[:-1]) or lengths.min() < 2:
        return None
    period = int(steps.max()) - int(steps[0]) + stride
    return steps.astype(np.int64) + np.repeat(np.arange(lengths.size, dtype=np.int64) * period, lengths)


def _unroll(streams: Mapping[Hashable, Stream], names: Mapping[Hashable, str]) -> tuple[dict[Hashable, Stream], list[str]]:
    """Per-epoch step counters unrolled (their values carry on across each fall back to the first
    step), trainings started over within one file noted (their values start over). Falls across
    files are the reader's to report (a later file going back: ``runs._went_back``)."""
    out, messages = dict(streams), []
    for k, (s, v, w, q) in streams.items():
        got = _falls_to_start(s)
        if got is None:
            continue
        falls, stride = got
        if np.any(q[falls] // FILE_STRIDE != q[falls + 1] // FILE_STRIDE):
            continue
        carried, judged = _carried_share(v, falls)
        # a stream that never left its start cannot say whether it started over; laid end to end
        # it reads the same either way, and keeps the first epoch's points (an early blow-up)
        # a tie (one fall after a blow-up at an epoch's end reads as a restart, another as carried
        # on) lays it end to end too: that keeps every point, where the last write wins drops
        # all epochs but one
        steps = _laid_end_to_end(s, falls, stride) if carried >= 0.5 or not judged else None
        if steps is None and falls.size == 1 and judged and carried >= 0.5:
            # one fall, the values carrying on: a second launch that continued the trained model (a
            # notebook cell run again into the same writer) — its points after the first's
            b = int(falls[0]) + 1
            steps = np.concatenate([s[:b], s[b:] - int(s[b]) + int(s[:b].max()) + stride]).astype(np.int64)
            out[k] = (steps, v, w, q)
            messages.append(
                f"{names.get(k, str(k))}: its steps fall back to {int(s[0])} once, at its point {b + 1} of {len(s)}, while its values "
                f"carry on (a second launch continuing the first, written into the same file?): read in write order, the second "
                f"launch after the first (steps {int(steps[0])}-{int(steps[-1])})"
            )
            continue
        if steps is not None:
            out[k] = (steps, v, w, q)
            why = "while its values carry on" if judged else "while its values never leave their start (carried on or started over cannot be told)"
            messages.append(
                f"{names.get(k, str(k))}: its steps fall back to {int(s[0])} {falls.size} times {why} "
                f"(a per-epoch batch index logged as the step?): read in write order, each epoch after the last "
                f"(steps {int(steps[0])}-{int(steps[-1])})"
            )
        elif carried < 0.5 and len(s) >= 8:
            messages.append(
                f"{names.get(k, str(k))}: its steps fall back to {int(s[0])} "
                + (f"{falls.size} times and its values start over each time" if falls.size > 1 else "once and its values start over")
                + f": {falls.size + 1} trainings written into one file; read as "
                f"TensorBoard reads them (the last written point wins at each step)"
            )
    return out, messages


def series_of(streams: Mapping[tuple[str | None, str], Stream]) -> tuple[dict[str, Series], list[str]]:
    """A run's series from its streams keyed by (split, tag), the stepless ones placed (see
    :func:`place_stepless`) and those with a per-epoch step counter unrolled (see
    :func:`_unroll`), and the messages that say so: what ``load_run`` and the
    TensorBoard plugin's runs share."""
    names = {k: (f"{k[0]}/{k[1]}" if k[0] else k[1]) for k in streams}
    placed, messages = place_stepless(streams, names)
    placed, unrolled = _unroll(placed, names)
    messages.extend(unrolled)
    series: dict[str, Series] = {}
    for (split, tag), (s, v, w, _) in placed.items():
        ser = Series.from_points(tag, s, v, w, split=split)
        series[ser.key] = ser
    return series, messages
