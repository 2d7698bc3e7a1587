"""CRC-32C (Castagnoli), as TFRecord framing uses it, with TensorFlow's masking.

Pure Python with a slicing-by-8 table for single records (the writer, the general reader),
and numpy tables for the vectorised reader, which checks many records at once.

Long messages (histograms, images, graphs) take the numpy route: the message is cut into
64-byte blocks whose CRC registers are computed at once with per-position tables (CRC is
linear), then combined pairwise with "append N zero bytes" operators.
"""

from __future__ import annotations

import struct

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


#: Messages at least this long use the numpy route.
NUMPY_MIN = 1024
_BLOCK = 64  # bytes per block of the numpy route (its tables stay in cache)
_CHUNK = 1 << 20  # bytes handled per numpy pass: bounds the temporaries (about 9 bytes per byte)


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data`` (optionally continuing from ``crc``)."""
    mv = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
    if len(mv) >= NUMPY_MIN:
        for i in range(0, len(mv), _CHUNK):
            crc = _crc32c_numpy(mv[i : i + _CHUNK], crc)
        return crc
    c = crc ^ 0xFFFFFFFF
    n = len(mv)
    n8 = n & ~7
    if n8:
        # Slicing-by-8 over 32-bit words unpacked all at once (indexing bytes one by one is slower).
        words = iter(struct.unpack_from(f"<{n8 // 4}I", mv, 0))
        t0, t1, t2, t3, t4, t5, t6, t7 = _T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7
        for lo, hi in zip(words, words):
            lo ^= c
            c = (
                t7[lo & 0xFF]
                ^ t6[(lo >> 8) & 0xFF]
                ^ t5[(lo >> 16) & 0xFF]
                ^ t4[lo >> 24]
                ^ t3[hi & 0xFF]
                ^ t2[(hi >> 8) & 0xFF]
                ^ t1[(hi >> 16) & 0xFF]
                ^ t0[hi >> 24]
            )
    for i in range(n8, n):
        c = _T0[(c ^ mv[i]) & 0xFF] ^ (c >> 8)
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


def unmask_array(masked: np.ndarray) -> np.ndarray:
    """The CRCs a uint32 array of masked CRCs stands for (the inverse of :func:`mask_array`)."""
    crc = masked - np.uint32(_MASK_DELTA)
    return (crc << np.uint32(15)) | (crc >> np.uint32(17))


def crc32c_rows(block: np.ndarray) -> np.ndarray:
    """CRC-32C of each row of a 2-D uint8 array (all rows the same length), vectorised."""
    c = np.full(block.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(block.shape[1]):
        c = TABLE[(c ^ block[:, j]) & 0xFF] ^ (c >> np.uint32(8))
    return c ^ np.uint32(0xFFFFFFFF)


_POS: np.ndarray | None = None  # flattened (_BLOCK, 256): column j -> table of a byte followed by _BLOCK-1-j bytes
_POS_BASE = np.arange(_BLOCK, dtype=np.int32) * 256
_SHIFTS: list[np.ndarray] = []  # level l: (4, 256) tables appending _BLOCK * 2**l zero bytes to a register


def _zero_step(t: np.ndarray) -> np.ndarray:
    """Registers after one more zero byte (the CRC update is linear in the register)."""
    return TABLE[t & 0xFF] ^ (t >> np.uint32(8))


def _apply(shift: np.ndarray, r: np.ndarray) -> np.ndarray:
    return shift[0][r & 0xFF] ^ shift[1][(r >> np.uint32(8)) & 0xFF] ^ shift[2][(r >> np.uint32(16)) & 0xFF] ^ shift[3][r >> np.uint32(24)]


def _tables() -> np.ndarray:
    global _POS
    if _POS is None:
        pos = np.empty((_BLOCK, 256), dtype=np.uint32)
        t = TABLE.copy()
        for d in range(_BLOCK):
            pos[_BLOCK - 1 - d] = t
            t = _zero_step(t)
        basis = (np.arange(256, dtype=np.uint32)[None, :] << (np.arange(4, dtype=np.uint32)[:, None] * np.uint32(8))).astype(np.uint32)
        for _ in range(_BLOCK):
            basis = _zero_step(basis)
        _SHIFTS.append(basis)
        _POS = pos.reshape(-1)
    return _POS


def _shift(level: int) -> np.ndarray:
    while len(_SHIFTS) <= level:
        prev = _SHIFTS[-1]
        _SHIFTS.append(_apply(prev, prev.reshape(-1)).reshape(4, 256))
    return _SHIFTS[level]


def _crc32c_numpy(mv: memoryview, crc: int) -> int:
    pos = _tables()
    n = len(mv)
    rows = -(-n // _BLOCK)
    pad = rows * _BLOCK - n
    buf = np.zeros(rows * _BLOCK, dtype=np.uint8)
    buf[pad:] = np.frombuffer(mv, dtype=np.uint8)
    # Starting from register R equals starting from 0 with R xor-ed into the first 4 bytes;
    # leading zero bytes then change nothing, so the front padding is harmless.
    buf[pad : pad + 4] ^= np.frombuffer(struct.pack("<I", crc ^ 0xFFFFFFFF), dtype=np.uint8)
    idx = buf.reshape(rows, _BLOCK) + _POS_BASE
    r = np.bitwise_xor.reduce(pos.take(idx), axis=1)
    level = 0
    while len(r) > 1:
        if len(r) % 2:
            r = np.concatenate((np.zeros(1, dtype=np.uint32), r))  # a zero block in front
        r = _apply(_shift(level), r[0::2]) ^ r[1::2]
        level += 1
    return int(r[0]) ^ 0xFFFFFFFF
