"""Read TensorBoard event files (TFRecord framing + Event protos) into scalar arrays.

No protobuf or tensorboard import. This is the reader, the top of the event-file layers:

* :mod:`advisor.io.records`     TFRecord framing and its masked CRC-32C;
* :mod:`advisor.io.events`      Event / Summary / Value decoding (the general decoder);
* :mod:`advisor.io.accumulator` per-tag arrays, restarts and TensorBoard's purges;
* :mod:`advisor.io._fast`       the vectorised decoder, same results, used by default;
* this module: :func:`read_event_file`, :class:`EventFileReader` (incremental polls).

Damage is survivable: a record whose payload CRC fails is skipped and counted; a header that
fails its CRC or claims an absurd length is damage, scanned past to the next record that checks
(:func:`advisor.io.records.resync`), and the bytes skipped are reported; a file with no record
in its first bytes is no event file; an incomplete last record (a writer still writing) stops
cleanly and is reported. Nothing here raises on bad bytes; problems come back as one-line
messages.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.io import _fast, _fast_file
from advisor.io.accumulator import Accumulator, TagData
from advisor.io.events import decode_records_general
from advisor.io.records import FOOTER, HEADER, MAX_RECORD, NOT_TFRECORD, U64, Damage

#: Bytes read and decoded at a time (a larger record is read whole).
READ_CHUNK = 16 << 20
#: Bytes kept from the start of the file and from just before the offset, re-checked at each
#: poll: a file truncated and rewritten in place can grow past the offset between two polls, and
#: then neither its size nor its inode says so, but these bytes do (a new file_version's wall
#: time, the last record's values and CRC).
WITNESS = 64
#: Ranges of damage listed one per line; more are summed up in one.
MAX_DAMAGE_LINES = 3


@dataclass(frozen=True)
class EventFile:
    """What one event file holds, decoded."""

    path: str
    scalars: dict[str, TagData]
    hparams: dict[str, Any]
    texts: dict[str, str]
    file_version: str | None
    # (record index, step) of each SessionLog START. Within the file, every START but the first
    # purged earlier points at steps >= its step (the first starts the session, as TensorBoard
    # reads it); a reader merging a run's files applies the run's STARTs after its first.
    restarts: tuple[tuple[int, int], ...]
    records: int  # records read (valid framing)
    bytes_read: int
    non_scalar: int  # summary values that are not scalars
    bad_crc: int  # records skipped because their payload CRC failed
    bad_records: int  # records whose payload was not a decodable Event
    truncated: bool  # the file ends inside a record
    problems: tuple[str, ...]  # one line each: truncation, bad CRCs, corruption, unreadable

    @property
    def n_scalars(self) -> int:
        return sum(len(t.steps) for t in self.scalars.values())

    @property
    def is_event_file(self) -> bool:
        return self.records > 0


class EventFileReader:
    """Reads one event file, incrementally: each :meth:`poll` decodes only appended bytes.

    An incomplete record at the end (a writer still writing) is left for the next poll. A file
    that shrank, was replaced or was rewritten in place (its first bytes or the bytes before the
    offset changed) is read again from the start. One limit: a record that fails its CRC and
    ends exactly where the file ended at a poll is counted as damaged in place; should later
    bytes show that its length was wrong (records.check_record), a read of the whole file
    decides it as damage and finds the records inside it, which this reader has passed.
    """

    def __init__(self, path: str | os.PathLike[str], verify_crc: bool = True, *, fast: bool = True) -> None:
        self.path = os.fspath(path)
        self.verify_crc = verify_crc
        self.fast = fast  # False: the general per-record decoder only (same results, slower)
        self.offset = 0
        self._acc = Accumulator()
        self._problems: list[str] = []
        self._stopped: str | None = None  # a fatal message: the file is not read further
        self._truncated = False
        self._size = 0  # the file's size when last read
        self._stamp: tuple[int, int, int, int] | None = None  # (device, inode, size, mtime) at the last poll
        self._head = b""  # the file's first bytes, as decoded (at most WITNESS)
        self._tail = b""  # the bytes just before the offset, as decoded (at most WITNESS)
        self._follow = True  # False: read once (read_event_file), no later poll needs the witness bytes
        self._planned = False  # the whole-file plans were asked about the bytes being decoded already

    def poll(self) -> int:
        """Decode what was appended since the last poll; return the number of new records."""
        if self._stamp is None:  # nothing to compare with yet: open, then ask the open file
            return self._first_poll()
        try:
            st = os.stat(self.path)
        except OSError as e:
            self._note(f"unreadable: {e.strerror or e}")
            return 0
        return self._poll(st, None)

    def _first_poll(self) -> int:
        """:meth:`poll` with one path lookup; a regular file of at most READ_CHUNK bytes (all
        that the first read would take) is read whole by one system call."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            self._note(f"unreadable: {e.strerror or e}")
            return 0
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and 0 < st.st_size <= READ_CHUNK and self.offset == 0 and self._stopped is None:
                return self._poll_whole(st, os.read(fd, st.st_size))
            with open(fd, "rb", closefd=False) as fh:
                return self._poll(st, fh)
        except OSError as e:
            self._note(f"unreadable: {e.strerror or e}")
            return 0
        finally:
            os.close(fd)

    def _poll_whole(self, st: os.stat_result, data: bytes) -> int:
        """:meth:`_poll` of a reader at offset 0 given the whole file (``st``: its status): the first
        chunk of :meth:`_read_new`, done in place; its loop only when it would go on."""
        if len(data) != st.st_size:  # the file changed since its status: as a read of a file would
            return self._poll(st, _Bytes(data))
        self._stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        before = self._acc.records
        try:
            self._consume(memoryview(data), 0, True)
            if self._stopped is None and 0 < self.offset < st.st_size:
                self._read_new(_Bytes(data), st.st_size)  # past damage: on from the offset
            else:
                self._finish(st.st_size)
        except (OSError, ValueError, MemoryError) as e:
            self._note(f"unreadable: {getattr(e, 'strerror', None) or e}")
            self._stamp = None  # try again at the next poll
        return self._acc.records - before

    def _poll(self, st: os.stat_result, fh: Any) -> int:
        """:meth:`poll` given the file's status (and the file, when it is open already)."""
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return 0  # not touched since the last poll: not even opened
        if self._stamp is not None and (stamp[:2] != self._stamp[:2] or st.st_size < self.offset):
            self._reset()  # replaced, or shrank below what was read
        self._stamp = stamp
        before = self._acc.records
        try:
            with open(self.path, "rb") if fh is None else _Borrowed(fh) as fh:
                if self.offset and not self._unchanged(fh):
                    self._reset()  # rewritten in place: the bytes already decoded are gone
                if self._stopped is None and self.offset < st.st_size:
                    self._read_new(fh, st.st_size)
        except (OSError, ValueError, MemoryError) as e:
            self._note(f"unreadable: {getattr(e, 'strerror', None) or e}")
            self._stamp = None  # try again at the next poll
        return self._acc.records - before

    def _read_new(self, fh: Any, size: int) -> None:
        """Decode from the offset up to ``size``, a chunk at a time, so that a large file costs
        its results, not its size."""
        while self._stopped is None and self.offset < size:
            if self._acc.damage.open_at is not None:
                past = _past_hole(fh, self.offset, size)
                if past != self.offset:
                    self.offset, self._tail = past, b""  # the witness bytes must end at the offset
            at = self.offset
            want = READ_CHUNK
            while True:
                fh.seek(at)
                data = fh.read(min(want, size - at))
                eof = at + len(data) >= size
                self._consume(memoryview(data), at, eof)
                if self.offset != at or eof or self._stopped is not None:
                    break
                # Nothing decided in the chunk: a record larger than it, or one whose successor
                # is (see records.check_record), or damage to look past: read more at once.
                want = max(2 * want, _claimed(data))
            if self.offset == at:
                break  # what is left is a tail still being written: the next poll's
        self._finish(size)

    def _finish(self, size: int) -> None:
        """After reading up to ``size``: whether a record is left incomplete (truncated)."""
        self._size = size
        damaged_tail = self._acc.damage.open_at is not None  # the bytes left are damage, not a record
        self._truncated = self._stopped is None and self.offset < size and not damaged_tail

    def _unchanged(self, fh: Any) -> bool:
        """Whether the bytes kept at the start and before the offset are still there."""
        fh.seek(0)
        if fh.read(len(self._head)) != self._head:
            return False
        fh.seek(self.offset - len(self._tail))
        return fh.read(len(self._tail)) == self._tail

    def _witness(self, buf: memoryview, base: int) -> None:
        """Keep the first bytes and the bytes before the new offset (``buf`` starts at ``base``)."""
        if base < WITNESS and len(self._head) == base:
            self._head += bytes(buf[: min(self.offset, WITNESS) - base])
        self._tail = (self._tail + bytes(buf[max(0, self.offset - base - WITNESS) : self.offset - base]))[-WITNESS:]

    def _reset(self) -> None:
        self.offset = 0
        self._head = self._tail = b""
        self._acc = Accumulator()
        self._problems = []
        self._stopped = None
        self._truncated = False

    def _note(self, msg: str) -> None:
        if msg not in self._problems:
            self._problems.append(msg)

    def _consume(self, buf: memoryview, base: int, eof: bool) -> None:
        """Decode the records of ``buf`` (which starts at file offset ``base``; ``eof``: the file
        ends where it does)."""
        if self.fast:
            pos, fatal = _fast.decode_records(buf, 0, len(buf), base, self._acc, self.verify_crc, eof=eof, planned=self._planned)
        else:
            pos, fatal = decode_records_general(buf, 0, len(buf), base, self._acc, self.verify_crc, eof=eof)
        self.offset = base + pos
        if self._follow:
            self._witness(buf, base)
        if fatal:
            self._stopped = fatal
            self._note(fatal)

    def result(self) -> EventFile:
        """Everything decoded so far."""
        acc = self._acc
        scalars = acc.tag_data()  # before the counts: it counts numbers under non-scalar tags
        acc.resolve()
        problems = list(self._problems) + damage_problems(acc.damage, acc.records, self._size)
        if self._truncated:
            problems.append(f"truncated record at byte {self.offset} (the writer may still be writing); read what came before")
        if acc.bad_crc:
            problems.append(f"{acc.bad_crc} record(s) failed their CRC check and were skipped")
        if acc.bad_records:
            problems.append(f"{acc.bad_records} record(s) were not decodable events and were skipped")
        return _from_accumulator(self.path, acc, scalars, self.offset, self._truncated, problems)


def _from_accumulator(path: str, acc: Accumulator, scalars: Any, bytes_read: int, truncated: bool, problems: list[str]) -> EventFile:
    """The EventFile of what ``acc`` decoded (``scalars``: its ``tag_data()``, taken before
    ``resolve()``)."""
    return _event_file(
        path=path,
        scalars=scalars,
        hparams=dict(acc.hparams),
        texts=dict(acc.texts),
        file_version=acc.file_version,
        restarts=tuple(acc.restarts),
        records=acc.records,
        bytes_read=bytes_read,
        non_scalar=acc.non_scalar,
        bad_crc=acc.bad_crc,
        bad_records=acc.bad_records,
        truncated=truncated,
        problems=tuple(problems),
    )


def _event_file(**fields: Any) -> EventFile:
    """``EventFile(**fields)``, made without the frozen dataclass's per-field setattr calls
    (a small file's fixed cost)."""
    out = object.__new__(EventFile)
    out.__dict__.update(fields)
    return out


class _Bytes:
    """A file's bytes, read already, as the reader reads a file (seek, read)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = memoryview(data), 0

    def seek(self, pos: int) -> int:
        self.pos = pos
        return pos

    def read(self, n: int) -> memoryview:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


class _Borrowed:
    """A file already open, used in a ``with`` block that leaves closing it to its owner."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def __enter__(self) -> Any:
        return self.fh

    def __exit__(self, *exc: object) -> None:
        return None


def _claimed(data: bytes) -> int:
    """Bytes that the record at the start of ``data`` and its successor's header take, as its
    header claims (0 when it claims no plausible length)."""
    if len(data) < HEADER:
        return 0
    length = U64.unpack_from(data, 0)[0]
    return HEADER + length + FOOTER + HEADER if length <= MAX_RECORD else 0


def _past_hole(fh: Any, offset: int, size: int) -> int:
    """Where a scan past damage can go on, skipping a hole at ``offset`` (bytes the filesystem
    does not store: zeros, which never hold a record header; a header may start in the last
    HEADER - 1 of them). A sparse file of gigabytes of zeros is not read at all."""
    seek_data = getattr(os, "SEEK_DATA", None)
    if seek_data is None:
        return offset
    try:
        fd = fh.fileno()
    except (AttributeError, OSError, ValueError):  # not an OS file (an object fetched whole)
        return offset
    here = os.lseek(fd, 0, os.SEEK_CUR)  # put back after: the buffered file object relies on it
    try:
        data = os.lseek(fd, offset, seek_data)
    except OSError as e:  # ENXIO: a hole up to the end; anything else: the filesystem cannot say
        data = size if e.errno == errno.ENXIO else offset
    finally:
        os.lseek(fd, here, os.SEEK_SET)
    return max(offset, min(data, size) - HEADER + 1)


def damage_problems(damage: Damage, records: int, size: int) -> list[str]:
    """One line per range of damaged framing skipped (a summary line past a few); damage still
    open at the end runs to the end of the file (``size``)."""
    ranges = list(damage.ranges)
    if damage.open_at is not None:
        if damage.open_at == 0 and not records and not ranges:
            return [NOT_TFRECORD]  # nothing in the file was a record
        ranges.append((damage.open_at, max(size, damage.open_at)))
    if len(ranges) > MAX_DAMAGE_LINES:
        total = sum(b - a for a, b in ranges)
        return [f"skipped {total} bytes of damage in {len(ranges)} places (the first at byte {ranges[0][0]})"]
    return [f"skipped {b - a} bytes of damage at byte {a}" for a, b in ranges]


def read_event_file(path: str | os.PathLike[str], verify_crc: bool = True, *, fast: bool = True) -> EventFile:
    """Read a whole event file. Never raises on bad content; see :attr:`EventFile.problems`."""
    got = _read_planned(os.fspath(path), verify_crc) if fast else None
    if isinstance(got, EventFile):
        return got
    reader = EventFileReader(path, verify_crc=verify_crc, fast=fast)
    reader._follow = False
    if got is not None:  # a small file the plans did not read: decoded from the bytes read
        reader._planned = True
        reader._poll_whole(*got)
        reader._planned = False
    else:
        reader.poll()
    ef = reader.result()
    if ef.records == 0 and not ef.problems:
        size = _size(reader.path)
        if size == 0:
            ef = _with_problem(ef, "empty file")
    return ef


def _read_planned(path: str, verify_crc: bool) -> EventFile | tuple[os.stat_result, bytes] | None:
    """A small regular file (a sweep's) read whole and decoded by a whole-file plan
    (:mod:`advisor.io._fast_file`), as :class:`EventFileReader` would read it, with none of its
    bookkeeping: its EventFile; else its status and bytes (for the reader to decode), or None
    (not such a file, or unreadable: the reader reads it)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) and 0 < st.st_size <= min(_fast_file.MAX_FILE, READ_CHUNK)):
            return None
        data = os.read(fd, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) != st.st_size:
        return None
    acc = Accumulator()
    if not _fast_file.decode_file(memoryview(data), np.frombuffer(data, dtype=np.uint8), acc, verify_crc):
        return st, data
    scalars = acc.tag_data()
    acc.resolve()
    return _from_accumulator(path, acc, scalars, len(data), False, damage_problems(acc.damage, acc.records, len(data)))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _with_problem(ef: EventFile, msg: str) -> EventFile:
    return EventFile(**{**ef.__dict__, "problems": ef.problems + (msg,)})

