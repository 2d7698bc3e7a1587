"""The centred rolling median every rule's smoothing uses, with shrinking windows at the edges.

Split from :mod:`advisor.signals` (which re-exports :func:`rolling_median`): it is called
thousands of times per corpus on short binned curves, so its edges have a fast path.
"""

from __future__ import annotations

import math

import numpy as np


def rolling_median(y: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling median with shrinking windows at the edges (same length as ``y``)."""
    y = np.ascontiguousarray(y, dtype=float)
    n = y.size
    w = max(1, min(int(window), n))
    if w % 2 == 0:
        w -= 1
    if w <= 1:
        return y.copy()
    h = w // 2
    out = np.empty(n)
    if np.isfinite(y).all():
        # an odd window's median is its middle element: one partition, no np.median overhead
        out[h : n - h] = np.partition(_windows(y, w), h, axis=1)[:, h]
    else:
        out[h : n - h] = np.median(_windows(y, w), axis=1)  # NaN propagates as before
    if h <= 8:  # short windows (binned_noise's 5 points): sort the few edge windows in Python
        out[:h], out[n - h :] = _edge_medians(y[: 2 * h].tolist(), h, False), _edge_medians(y[n - 2 * h :].tolist(), h, True)
        return out
    # Edges: shrinking windows, both ends at once through NaN-padded views.
    head = np.concatenate([np.full(h, np.nan), y[: 2 * h], np.full(max(0, 3 * h - n), np.nan)])[: 3 * h]
    tail = np.concatenate([np.full(max(0, 3 * h - n), np.nan), y[-2 * h :], np.full(h, np.nan)])[-3 * h :]
    edges = _nan_row_median(np.concatenate([_windows(head, w)[:h], _windows(tail, w)[-h:]]))
    out[:h], out[n - h :] = edges[:h], edges[h:]
    return out


def _edge_medians(vals: list[float], h: int, tail: bool) -> list[float]:
    """The ``h`` shrinking edge windows' medians of a centred rolling median (NaN ignored, as
    :func:`_nan_row_median` does): at the head, point i sees the first i + h + 1 values; at the
    tail, mirrored."""
    out = []
    for i in range(h):
        win = vals[i : 2 * h] if tail else vals[: i + h + 1]
        srt = sorted(v for v in win if v == v)
        c = len(srt)
        out.append((srt[(c - 1) // 2] + srt[c // 2]) / 2 if c else math.nan)
    return out


def _windows(a: np.ndarray, w: int) -> np.ndarray:
    """The length-``w`` windows of a contiguous 1-D array as a read-only strided view (what
    ``sliding_window_view`` returns, without its per-call overhead)."""
    st = a.strides[0]
    return np.lib.stride_tricks.as_strided(a, shape=(a.size - w + 1, w), strides=(st, st), writeable=False)


def _nan_row_median(rows: np.ndarray) -> np.ndarray:
    """Median of each row ignoring NaN (every row has at least one value): sort, index the middle."""
    s = np.sort(rows, axis=1)  # NaN sorts last
    c = np.sum(~np.isnan(rows), axis=1)
    r = np.arange(rows.shape[0])
    return (s[r, (c - 1) // 2] + s[r, c // 2]) / 2
