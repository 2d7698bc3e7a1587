"""TFRecord framing, the lowest layer of an event file: where each record starts and ends.

A record is a uint64 payload length, the masked CRC-32C of those 8 bytes, the payload and the
masked CRC-32C of the payload (all little-endian). This module knows the frame and its CRCs;
what a payload means (an Event) is :mod:`advisor.io.events`' business.
"""

from __future__ import annotations

import struct

from advisor.io.crc32c import masked_crc32c

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
