"""CRC-32C (Castagnoli), as TFRecord framing uses it, with TensorFlow's masking.

Pure Python with a slicing-by-8 table for single records (the writer, the general reader),
and numpy tables for the vectorised reader, which checks many records at once.
"""

from __future__ import annotations

import numpy as np

_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8


def _make_tables() -> list[list[int]]:
    t0 = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[n] >> 8) ^ t0[prev[n] & 0xFF] for n in range(256)])
    return tables


_T = _make_tables()
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _T

#: The byte table as a numpy array, for vectorised CRCs.
TABLE = np.array(_T0, dtype=np.uint32)


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data`` (optionally continuing from ``crc``)."""
    mv = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
    c = crc ^ 0xFFFFFFFF
    n = len(mv)
    i = 0
    end8 = n - (n % 8)
    t0, t1, t2, t3, t4, t5, t6, t7 = _T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7
    while i < end8:
        lo = c ^ (mv[i] | (mv[i + 1] << 8) | (mv[i + 2] << 16) | (mv[i + 3] << 24))
        c = (
            t7[lo & 0xFF]
            ^ t6[(lo >> 8) & 0xFF]
            ^ t5[(lo >> 16) & 0xFF]
            ^ t4[lo >> 24]
            ^ t3[mv[i + 4]]
            ^ t2[mv[i + 5]]
            ^ t1[mv[i + 6]]
            ^ t0[mv[i + 7]]
        )
        i += 8
    while i < n:
        c = t0[(c ^ mv[i]) & 0xFF] ^ (c >> 8)
        i += 1
    return c ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    """TensorFlow's CRC masking: rotate right by 15 and add a constant (mod 2**32)."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    return mask(crc32c(data))


def mask_array(crc: np.ndarray) -> np.ndarray:
    """Vectorised :func:`mask` over a uint32 array."""
    crc = crc.astype(np.uint32, copy=False)
    return (((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)).astype(np.uint32)


def crc32c_rows(block: np.ndarray) -> np.ndarray:
    """CRC-32C of each row of a 2-D uint8 array (all rows the same length), vectorised."""
    c = np.full(block.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(block.shape[1]):
        c = TABLE[(c ^ block[:, j]) & 0xFF] ^ (c >> np.uint32(8))
    return c ^ np.uint32(0xFFFFFFFF)
