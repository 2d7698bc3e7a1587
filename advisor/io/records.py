"""TFRecord framing, the lowest layer of an event file: where each record starts and ends.

A record is a uint64 payload length, the masked CRC-32C of those 8 bytes, the payload and the
masked CRC-32C of the payload (all little-endian). This module knows the frame and its CRCs,
and how to find the next record past damaged framing (:func:`resync`); what a payload means
(an Event) is :mod:`advisor.io.events`' business.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from advisor.io.crc32c import crc32c_rows, mask_array, masked_crc32c

HEADER = 12  # uint64 length + uint32 masked CRC of the length
FOOTER = 4  # uint32 masked CRC of the payload
#: A record claiming more than this is not believed even with a valid header CRC.
MAX_RECORD = 1 << 30

U64 = struct.Struct("<Q")  # the length field
U32 = struct.Struct("<I")  # a masked CRC

#: Masked header CRC by record length. Public so that the vectorised reader can look lengths
#: up inline (one dict lookup per peeked header) and fall back to :func:`header_crc`.
HEADER_CRCS: dict[int, int] = {}


def header_crc(length: int) -> int:
    """The masked CRC a record header of ``length`` carries (cached: lengths repeat)."""
    crc = HEADER_CRCS.get(length)
    if crc is None:
        crc = masked_crc32c(U64.pack(length))
        if len(HEADER_CRCS) < 1 << 16:
            HEADER_CRCS[length] = crc
    return crc


def frame(payload: bytes) -> bytes:
    """Wrap one serialized Event in TFRecord framing."""
    header = U64.pack(len(payload))
    return header + U32.pack(masked_crc32c(header)) + payload + U32.pack(masked_crc32c(payload))


# --------------------------------------------------------------------------- damage


#: Damage at the very start of a file is looked past only this far: a real event file begins
#: with a small file_version record, so one with no record in its first bytes is no event file
#: (text, zeros, another format) and is not scanned to its end.
LEADING_SCAN = 1 << 16
#: The first window of positions a resync scan checks at once; each next one is 8x larger, up to
#: the last (which bounds the scan's temporaries, about 4 bytes per position).
SCAN_WINDOW = 4096
MAX_SCAN_WINDOW = 1 << 22

OK, TAIL, DAMAGED = 0, 1, 2  # what check_frame finds at a position
NOT_TFRECORD = "not a TFRecord event file (bad header at byte 0)"


def check_frame(buf: memoryview, pos: int, end: int, verify_crc: bool = True, eof: bool = True) -> tuple[int, int]:
    """(OK, TAIL or DAMAGED, payload length) of the record header at ``pos``.

    TAIL: the record does not end before ``end`` (a writer may still be writing it). DAMAGED: the
    header fails its CRC, or claims more than :data:`MAX_RECORD` bytes, or (``eof``: the file
    ends at ``end``) claims more than the file holds while a whole record lies inside what it
    claims (no writer still writing this record wrote that). The header CRC is checked even
    when payload CRCs are not (as TensorFlow's and TensorBoard's readers do): it costs a cached
    lookup, and a wrong length unchecked misframes the rest of the file (a run of zeros reads as
    empty records, 16 bytes each; a length off by one reads the next records as one).
    """
    if pos + HEADER > end:
        return TAIL, 0
    length = U64.unpack_from(buf, pos)[0]
    if length > MAX_RECORD or U32.unpack_from(buf, pos + 8)[0] != header_crc(length):
        return DAMAGED, length
    if pos + HEADER + length + FOOTER <= end:
        return OK, length
    if eof and resync(buf, pos + 1, end, verify_crc, eof=True)[1]:
        return DAMAGED, length
    return TAIL, length


def check_record(buf: memoryview, pos: int, end: int, verify_crc: bool, eof: bool) -> tuple[int, int, bool | None]:
    """:func:`check_frame`, and whether the record's length can be trusted: (status, payload
    length, whether its payload passes its CRC, None where that was not asked).

    A record whose payload fails its CRC is damage too when the header after it is damaged or a
    whole record lies inside it: bytes were lost inside it (a torn write that a restarted writer
    appended after), so its length runs into the records that follow, and a resync from its
    start finds them. So a record is decided once its successor's header is there (TAIL until
    then), or where the file ends (``eof``: at ``end``): exactly after it, or inside a
    successor that is not whole yet (then only a record whose payload checks; one that fails
    waits for the rest). With CRC checks off the payload CRC is asked only where the header
    after the record is not sound.
    """
    status, length = check_frame(buf, pos, end, verify_crc, eof)
    if status != OK:
        return status, length, None
    p0, nxt = pos + HEADER, pos + HEADER + length + FOOTER
    if nxt + HEADER > end and not eof:
        return TAIL, length, None  # its successor's header is in the next bytes: decided with them
    after = check_frame(buf, nxt, end, verify_crc, eof)[0] if nxt < end else OK
    if after == OK and not verify_crc:
        return OK, length, None
    crc_ok = payload_ok(buf, p0, p0 + length)
    if crc_ok:
        return OK, length, True
    if after == DAMAGED or holds_record(buf, pos, nxt):
        return DAMAGED, length, False
    return after, length, False  # OK: a payload damaged in place; TAIL: decided later


def holds_record(buf: memoryview, pos: int, nxt: int) -> bool:
    """Whether a whole record (its header and payload CRCs passing) lies inside the frame from
    ``pos`` to ``nxt`` after its first byte: then that frame's length is wrong."""
    return resync(buf, pos + 1, nxt, verify_crc=True)[1]


def payload_ok(buf: memoryview, p0: int, p1: int) -> bool:
    """Whether the payload buf[p0:p1] matches the masked CRC stored right after it."""
    return U32.unpack_from(buf, p1)[0] == masked_crc32c(buf[p0:p1])


@dataclass
class Damage:
    """Byte ranges of one file skipped as damage (file offsets); the last may still be open."""

    ranges: list[tuple[int, int]] = field(default_factory=list)
    open_at: int | None = None  # where the damage being scanned past began

    def skip(self, buf: memoryview, pos: int, end: int, base: int, verify_crc: bool, leading: bool, eof: bool) -> tuple[int, str | None]:
        """Scan ``buf[pos:end]`` (at file offset ``base``) for where records resume.

        Returns (where to go on, fatal message or None). The damage is closed at the record
        found; when none is found yet it stays open and the position is where the scan must go
        on once more bytes are there. ``leading``: no record has been read from this file;
        ``eof``: the file ends at ``end``.
        """
        assert self.open_at is not None
        limit = end
        if leading and self.open_at == 0:
            limit = min(end, max(pos, LEADING_SCAN - base))
        q, found = resync(buf, pos, end, verify_crc, limit, eof)
        if found:
            self.ranges.append((self.open_at, base + q))
            self.open_at = None
        elif leading and self.open_at == 0 and base + q >= LEADING_SCAN:
            self.open_at = None  # not an event file at all: one message, no damage ranges
            return q, NOT_TFRECORD
        return q, None


def resync(buf: memoryview, pos: int, end: int, verify_crc: bool, limit: int | None = None, eof: bool = False) -> tuple[int, bool]:
    """The first position from ``pos`` where a record plausibly starts: its header passes its
    CRC, its length is at most :data:`MAX_RECORD`, and with CRC checks on its payload passes its
    CRC too. Returns (position, True) when found; else (where a scan must go on once more bytes
    are there, False): a record that does not end before ``end`` cannot be checked yet. With
    ``eof`` (the file ends at ``end``) the scan looks past such a record for a whole one, and
    returns the first it passed only when there is none (it may be one still being written).

    Vectorised: every position's length field and header CRC field are read at once; only the
    positions with a plausible length get their header CRC computed, and a run of zeros (a
    hole, a crash's zeroed blocks) has none, since an all-zero header is never valid.
    """
    stop = min(end - HEADER + 1, end if limit is None else limit)
    data = np.frombuffer(buf, dtype=np.uint8)
    window = SCAN_WINDOW
    passed: int | None = None  # the first candidate that runs past the end
    while pos < stop:
        hi = min(stop, pos + window)
        for p in _header_candidates(data, pos, hi).tolist():
            p1 = p + HEADER + U64.unpack_from(buf, p)[0]
            if p1 + FOOTER > end:
                if not eof:
                    return p, False  # decided once the rest of it is there
                passed = p if passed is None else passed
            elif not verify_crc or payload_ok(buf, p + HEADER, p1):
                return p, True
        pos = hi
        window = min(window * 8, MAX_SCAN_WINDOW)
    return (passed if passed is not None else max(pos, stop)), False


def _header_candidates(data: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Positions in [lo, hi) whose 12 bytes are a valid record header of a plausible length."""
    n = hi - lo
    if not data[lo : hi + HEADER - 1].any():
        return np.zeros(0, dtype=np.intp)  # zeros (a crash's zeroed blocks): no header, checked fast
    lengths = np.ndarray((n,), dtype="<u8", buffer=data, offset=lo, strides=(1,))
    crcs = np.ndarray((n,), dtype="<u4", buffer=data, offset=lo + 8, strides=(1,))
    cand = np.flatnonzero((lengths <= MAX_RECORD) & ((lengths != 0) | (crcs != 0)))
    if not len(cand):
        return cand + lo
    rows = np.lib.stride_tricks.as_strided(data[lo:], shape=(n, 8), strides=(1, 1))[cand]
    ok = mask_array(crc32c_rows(rows)) == crcs[cand]
    return cand[ok] + lo


assert header_crc(0) != 0  # _header_candidates drops all-zero headers unchecked
