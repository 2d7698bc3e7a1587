"""CRC-32C: known vectors, the numpy route equals the byte-wise definition, masking."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.io import crc32c as C


def bytewise(data: bytes, crc: int = 0) -> int:
    """The CRC-32C definition, one byte at a time."""
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def test_known_vectors():
    assert C.crc32c(b"123456789") == 0xE3069283
    assert C.crc32c(b"") == 0
    assert C.crc32c(b"\x00" * 32) == 0x8A9136AA  # RFC 3720 B.4
    assert C.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert C.crc32c(bytes(range(32))) == 0x46DD794E


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=600), crc=st.integers(0, 2**32 - 1))
def test_python_route_matches_definition(data, crc):
    assert C.crc32c(data, crc) == bytewise(data, crc)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(C.NUMPY_MIN, 40_000), crc=st.integers(0, 2**32 - 1), seed=st.integers(0, 2**31))
def test_numpy_route_matches_python_route(n, crc, seed):
    data = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    fast = C.crc32c(data, crc)
    saved = C.NUMPY_MIN
    C.NUMPY_MIN = 1 << 62
    try:
        assert fast == C.crc32c(data, crc)
    finally:
        C.NUMPY_MIN = saved


def test_numpy_route_chunks_and_continues(monkeypatch):
    monkeypatch.setattr(C, "_CHUNK", 5000)  # several chunks, continued one from another
    data = np.random.default_rng(1).integers(0, 256, 23_457, dtype=np.uint8).tobytes()
    assert C.crc32c(data) == bytewise(data)
    assert C.crc32c(memoryview(data)[3:]) == bytewise(data[3:])


def test_rows_and_masks():
    rows = np.random.default_rng(2).integers(0, 256, (50, 37), dtype=np.uint8)
    assert C.crc32c_rows(rows).tolist() == [C.crc32c(r.tobytes()) for r in rows]
    crcs = C.crc32c_rows(rows)
    assert C.mask_array(crcs).tolist() == [C.mask(int(c)) for c in crcs]
    assert C.unmask_array(C.mask_array(crcs)).tolist() == crcs.tolist()
    assert C.masked_crc32c(b"abc") == C.mask(C.crc32c(b"abc"))
