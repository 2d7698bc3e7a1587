"""Record decoding entry point. Currently delegates to the general per-record decoder.

(The vectorised fast path for the common single-scalar layouts lands here.)
"""

from __future__ import annotations

from advisor.io.tfevents import _Accumulator, decode_records_general


def decode_records(buf: memoryview, pos: int, end: int, base: int, acc: _Accumulator, verify_crc: bool) -> tuple[int, str | None]:
    """Decode every complete record in buf[pos:end]; return (position after the last, fatal message)."""
    return decode_records_general(buf, pos, end, base, acc, verify_crc)
