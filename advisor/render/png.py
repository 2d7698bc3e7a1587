"""Line charts as PNG without matplotlib: a numpy canvas, a 5x7 bitmap font, zlib encoding.

Enough for before/after training curves: several named lines on shared axes (log y when the
values span more than two decades), tick labels and a legend.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Sequence

import numpy as np

from advisor.render.svg import TickRule, nice_ticks

# 5x7 glyphs, one string of 7 rows (5 bits each, MSB left) per character.
_FONT_ROWS = {
    "0": "0E 11 13 15 19 11 0E", "1": "04 0C 04 04 04 04 0E", "2": "0E 11 01 02 04 08 1F",
    "3": "1F 02 04 02 01 11 0E", "4": "02 06 0A 12 1F 02 02", "5": "1F 10 1E 01 01 11 0E",
    "6": "06 08 10 1E 11 11 0E", "7": "1F 01 02 04 08 08 08", "8": "0E 11 11 0E 11 11 0E",
    "9": "0E 11 11 0F 01 02 0C", ".": "00 00 00 00 00 0C 0C", "-": "00 00 00 1F 00 00 00",
    "+": "00 04 04 1F 04 04 00", ":": "00 0C 0C 00 0C 0C 00", "/": "00 01 02 04 08 10 00",
    "_": "00 00 00 00 00 00 1F", "(": "02 04 08 08 08 04 02", ")": "08 04 02 02 02 04 08",
    "%": "18 19 02 04 08 13 03", "=": "00 00 1F 00 1F 00 00", ",": "00 00 00 00 0C 04 08",
    " ": "00 00 00 00 00 00 00", "x": "00 00 11 0A 04 0A 11", ">": "08 04 02 01 02 04 08",
    "<": "02 04 08 10 08 04 02", "*": "00 04 15 0E 15 04 00", "[": "0E 08 08 08 08 08 0E",
    "]": "0E 02 02 02 02 02 0E", "'": "04 04 08 00 00 00 00", "!": "04 04 04 04 04 00 04",
    "a": "00 00 0E 01 0F 11 0F", "b": "10 10 16 19 11 11 1E", "c": "00 00 0E 10 10 11 0E",
    "d": "01 01 0D 13 11 11 0F", "e": "00 00 0E 11 1F 10 0E", "f": "06 09 08 1C 08 08 08",
    "g": "00 0F 11 11 0F 01 0E", "h": "10 10 16 19 11 11 11", "i": "04 00 0C 04 04 04 0E",
    "j": "02 00 06 02 02 12 0C", "k": "10 10 12 14 18 14 12", "l": "0C 04 04 04 04 04 0E",
    "m": "00 00 1A 15 15 11 11", "n": "00 00 16 19 11 11 11", "o": "00 00 0E 11 11 11 0E",
    "p": "00 00 1E 11 1E 10 10", "q": "00 00 0D 13 0F 01 01", "r": "00 00 16 19 10 10 10",
    "s": "00 00 0E 10 0E 01 1E", "t": "08 08 1C 08 08 09 06", "u": "00 00 11 11 11 13 0D",
    "v": "00 00 11 11 11 0A 04", "w": "00 00 11 11 15 15 0A", "y": "00 00 11 11 0F 01 0E",
    "z": "00 00 1F 02 04 08 1F",
}
_FONT = {c: np.array([[int(h, 16) >> (4 - b) & 1 for b in range(5)] for h in rows.split()], dtype=bool) for c, rows in _FONT_ROWS.items()}

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75)]


def _text(img: np.ndarray, x: int, y: int, text: str, color=(60, 60, 60), scale: int = 1) -> None:
    for i, ch in enumerate(text.lower()):
        g = _FONT.get(ch, _FONT[" "])
        if scale > 1:
            g = np.kron(g, np.ones((scale, scale), dtype=bool))
        x0 = x + i * 6 * scale
        h, w = g.shape
        if y < 0 or x0 < 0 or y + h > img.shape[0] or x0 + w > img.shape[1]:
            continue
        img[y : y + h, x0 : x0 + w][g] = color


def _line(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, color, width: int = 2) -> None:
    n = int(max(abs(x1 - x0), abs(y1 - y0)) * 2) + 2
    xs = np.linspace(x0, x1, n)
    ys = np.linspace(y0, y1, n)
    for dx in range(-(width // 2), width - width // 2):
        for dy in range(-(width // 2), width - width // 2):
            xi = np.clip(np.round(xs).astype(int) + dx, 0, img.shape[1] - 1)
            yi = np.clip(np.round(ys).astype(int) + dy, 0, img.shape[0] - 1)
            img[yi, xi] = color


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e") if a < 1e-2 or a >= 1e4 else f"{v:.3g}"


def line_chart(
    lines: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    title: str = "",
    width: int = 720,
    height: int = 400,
    colors: Sequence[tuple[int, int, int]] | None = None,
    xlabel: str = "",
    ylabel: str = "",
) -> bytes:
    """A PNG (bytes) of named lines [(label, xs, ys)] with a legend and axis labels; non-finite
    points break a line."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    left, right, bottom = 70, 20, 40 + (14 if xlabel else 0)
    top = (30 if title else 15) + (14 if ylabel else 0)
    if ylabel:  # above the value axis (a 5x7 bitmap font does not rotate)
        _text(img, 4, top - 14, ylabel[:60], (20, 20, 20))
    if xlabel:
        _text(img, left + (width - left - right) // 2 - 3 * len(xlabel[:60]), height - 14, xlabel[:60], (20, 20, 20))
    pw, ph = width - left - right, height - top - bottom
    xs_all = np.concatenate([np.asarray(x, float) for _, x, _ in lines]) if lines else np.zeros(0)
    ys_all = np.concatenate([np.asarray(y, float) for _, _, y in lines]) if lines else np.zeros(0)
    ok = np.isfinite(xs_all) & np.isfinite(ys_all)
    if title:
        _text(img, left, 8, title[:100], (20, 20, 20), 2 if len(title) < 45 else 1)
    img[top : top + ph, left] = (120, 120, 120)
    img[top + ph, left : left + pw] = (120, 120, 120)
    if not ok.any():
        _text(img, left + 20, top + ph // 2, "no data")
        return encode_png(img)
    x_lo, x_hi = float(xs_all[ok].min()), float(xs_all[ok].max())
    yv = ys_all[ok]
    pos = yv[yv > 0]
    log = bool(pos.size == yv.size and pos.size and pos.max() / pos.min() > 100)
    y_lo, y_hi = (float(pos.min()), float(pos.max())) if log else (float(yv.min()), float(yv.max()))
    if y_hi <= y_lo:
        y_lo, y_hi = y_lo - 0.5 * (abs(y_lo) or 1), y_hi + 0.5 * (abs(y_hi) or 1)
    if x_hi <= x_lo:
        x_hi = x_lo + 1

    def px(x):
        return left + (np.asarray(x, float) - x_lo) / (x_hi - x_lo) * (pw - 1)

    def py(y):
        y = np.asarray(y, float)
        if log:
            y = np.log10(np.maximum(y, 1e-300))
            lo, hi = math.log10(y_lo), math.log10(y_hi)
        else:
            lo, hi = y_lo, y_hi
        return top + ph - 1 - (y - lo) / (hi - lo) * (ph - 1)

    for t in nice_ticks(y_lo, y_hi, log=log, rule=TickRule.PNG):
        yy = int(round(float(py(t))))
        if top <= yy < top + ph:
            img[yy, left : left + pw : 3] = (225, 225, 225)
            _text(img, 4, yy - 3, _fmt(t)[:10])
    for t in nice_ticks(x_lo, x_hi, rule=TickRule.PNG):
        xx = int(round(float(px(t))))
        if left <= xx < left + pw:
            img[top + ph : top + ph + 4, xx] = (120, 120, 120)
            label = _fmt(t)
            _text(img, xx - 3 * len(label), top + ph + 8, label)
    colors = list(colors or PALETTE)
    box_w = 26 + 6 * max((len(lbl[:20]) for lbl, _, _ in lines), default=0)
    img[top + 2 : top + 8 + 12 * len(lines), left + pw - box_w - 8 : left + pw - 2] = 255  # the legend's own ground
    for i, (label, xs, ys) in enumerate(lines):
        col = colors[i % len(colors)]
        x = px(xs)
        y = py(ys)
        good = np.isfinite(np.asarray(xs, float)) & np.isfinite(np.asarray(ys, float))
        for j in range(len(x) - 1):
            if good[j] and good[j + 1]:
                _line(img, float(x[j]), float(y[j]), float(x[j + 1]), float(y[j + 1]), col)
    for i, (label, _, _) in enumerate(lines):  # drawn last, over the lines
        col = colors[i % len(colors)]
        ly = top + 6 + 12 * i
        img[ly + 2 : ly + 4, left + pw - box_w : left + pw - box_w + 18] = col
        _text(img, left + pw - box_w + 24, ly, label[:20], col)
    return encode_png(img)


def encode_png(img: np.ndarray) -> bytes:
    """RGB uint8 array (H, W, 3) -> PNG bytes."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
