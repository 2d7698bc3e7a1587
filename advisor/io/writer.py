"""Write TensorBoard event files: scalars, text and hparams, with correct TFRecord CRCs.

What it writes reads back identically in TensorBoard (a test proves it with its
EventAccumulator). Records are buffered and written by :meth:`EventWriter.flush`, which also
runs on its own every ``flush_secs`` seconds (checked as records are added), when the buffer
grows past ``max_buffer`` bytes, and on :meth:`close`. A writer is a context manager.

A failed write (a full disk) leaves no partial record: the file is cut back to its last whole
record and the records stay buffered, so a later flush writes each of them exactly once.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import time
from typing import Any, Iterable, Mapping

from advisor.io import wire
from advisor.io.records import frame

_counter = itertools.count()

# Plugin names and the hparams plugin's tag names, as TensorBoard defines them.
_HPARAMS_PLUGIN = "hparams"
_HP_EXPERIMENT = "_hparams_/experiment"
_HP_SESSION_START = "_hparams_/session_start_info"
_HP_SESSION_END = "_hparams_/session_end_info"
_DT_STRING = 7


def event_bytes(wall_time: float, step: int = 0, *, summary: bytes | None = None, file_version: str | None = None, session_log: bytes | None = None) -> bytes:
    out = wire.field_double(1, wall_time)
    if step:
        out += wire.field_varint(2, step)
    if file_version is not None:
        out += wire.field_str(3, file_version)
    if summary is not None:
        out += wire.field_bytes(5, summary)
    if session_log is not None:
        out += wire.field_bytes(7, session_log)
    return out


def scalar_value(tag: str, value: float) -> bytes:
    """Summary.Value{tag, simple_value}."""
    return wire.field_str(1, tag) + wire.field_float(2, value)


def _plugin_metadata(plugin: str, content: bytes = b"", data_class: int = 0) -> bytes:
    plugin_data = wire.field_str(1, plugin) + (wire.field_bytes(2, content) if content else b"")
    out = wire.field_bytes(1, plugin_data)
    if data_class:
        out += wire.field_varint(4, data_class)
    return out


def _string_tensor(texts: Iterable[bytes], shape: Iterable[int] = ()) -> bytes:
    dims = b"".join(wire.field_bytes(2, wire.field_varint(1, d)) for d in shape)
    out = wire.field_varint(1, _DT_STRING) + wire.field_bytes(2, dims)
    for t in texts:
        out += wire.field_bytes(8, t)
    return out


def text_value(tag: str, text: str) -> bytes:
    """Summary.Value of the text plugin, as TensorBoard's own text summary writes it."""
    return (
        wire.field_str(1, tag)
        + wire.field_bytes(9, _plugin_metadata("text", data_class=2))
        + wire.field_bytes(8, _string_tensor([text.encode("utf-8")], shape=(1,)))
    )


def _pb_value(v: Any) -> bytes:
    """Python value -> google.protobuf.Value."""
    if v is None:
        return wire.field_varint(1, 0)
    if isinstance(v, bool):
        return wire.field_varint(4, int(v))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return wire.field_double(2, float(v))
    if isinstance(v, (list, tuple)):
        return wire.field_bytes(6, b"".join(wire.field_bytes(1, _pb_value(x)) for x in v))
    if isinstance(v, Mapping):
        return wire.field_bytes(5, b"".join(wire.field_bytes(1, wire.field_str(1, str(k)) + wire.field_bytes(2, _pb_value(x))) for k, x in v.items()))
    return wire.field_str(3, str(v))


def _hparam_scalar(v: Any) -> Any:
    """Hyperparameters as TensorBoard shows them: numbers, strings and bools; the rest as text."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def hparams_values(hparams: Mapping[str, Any], metrics: Iterable[str] = (), start_time: float | None = None) -> list[bytes]:
    """The three Summary.Values of the hparams plugin (experiment, session start, session end)."""
    hp = {str(k): _hparam_scalar(v) for k, v in hparams.items()}
    # Experiment: HParamInfo{name=1, type=4} for each hparam, MetricInfo{name=MetricName{tag=2}} per metric.
    infos = b""
    for k, v in hp.items():
        kind = 3 if isinstance(v, bool) else 2 if isinstance(v, (int, float)) else 1  # BOOL, FLOAT64, STRING
        infos += wire.field_bytes(4, wire.field_str(1, k) + wire.field_varint(4, kind))
    for m in metrics:
        infos += wire.field_bytes(5, wire.field_bytes(1, wire.field_str(2, m)))
    experiment = infos
    start = b"".join(wire.field_bytes(1, wire.field_str(1, k) + wire.field_bytes(2, _pb_value(v))) for k, v in hp.items())
    start += wire.field_double(5, time.time() if start_time is None else start_time)
    end = wire.field_varint(1, 1)  # status STATUS_SUCCESS
    out = []
    for tag, fno, body in ((_HP_EXPERIMENT, 2, experiment), (_HP_SESSION_START, 3, start), (_HP_SESSION_END, 4, end)):
        content = wire.field_bytes(fno, body)  # HParamsPluginData{version=0, <kind>=body}
        out.append(
            wire.field_str(1, tag)
            + wire.field_bytes(9, _plugin_metadata(_HPARAMS_PLUGIN, content))
            + wire.field_bytes(8, _string_tensor([], ()))
        )
    return out


def default_filename(suffix: str = "") -> str:
    """``events.out.tfevents.<time>.<host>.<pid>.<n>``, the torch SummaryWriter convention."""
    host = socket.gethostname() or "localhost"
    return f"events.out.tfevents.{int(time.time())}.{host}.{os.getpid()}.{next(_counter)}{suffix}"


class EventWriter:
    """Writes one event file in ``logdir``. Create, ``add_*``, ``close`` (or use ``with``)."""

    def __init__(self, logdir: str | os.PathLike[str], filename: str | None = None, flush_secs: float = 2.0, max_buffer: int = 1 << 20) -> None:
        self.logdir = os.fspath(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        self.path = os.path.join(self.logdir, filename or default_filename())
        self.flush_secs = flush_secs
        self.max_buffer = max_buffer
        self._buf: list[bytes] = []
        self._buffered = 0
        self._last_flush = time.monotonic()
        # Unbuffered: each write reports how many bytes reached the file, so a flush knows exactly
        # what a full disk kept (a buffered file would hold some back and write it again later).
        self._fh = open(self.path, "ab", buffering=0)
        self._size = self._fh.seek(0, os.SEEK_END)  # bytes of whole records in the file
        self._closed = False
        self._add(event_bytes(time.time(), file_version="brain.Event:2"))
        self.flush()

    # -- public API ------------------------------------------------------------------------------

    def add_scalar(self, tag: str, value: float, step: int, wall_time: float | None = None) -> None:
        self.add_scalars({tag: value}, step, wall_time)

    def add_scalars(self, values: Mapping[str, float], step: int, wall_time: float | None = None) -> None:
        """One event per tag (the layout every writer uses, and the one the fast reader expects)."""
        wt = time.time() if wall_time is None else wall_time
        for tag, v in values.items():
            self._add(event_bytes(wt, int(step), summary=wire.field_bytes(1, scalar_value(tag, _as_float(v)))))

    def add_text(self, tag: str, text: str, step: int = 0, wall_time: float | None = None) -> None:
        wt = time.time() if wall_time is None else wall_time
        self._add(event_bytes(wt, int(step), summary=wire.field_bytes(1, text_value(tag, text))))

    def add_hparams(self, hparams: Mapping[str, Any], metrics: Iterable[str] = (), wall_time: float | None = None) -> None:
        """The run's hyperparameters, read by TensorBoard's HParams dashboard and by advisor."""
        wt = time.time() if wall_time is None else wall_time
        for value in hparams_values(hparams, metrics, start_time=wt):
            self._add(event_bytes(wt, 0, summary=wire.field_bytes(1, value)))

    def add_session_start(self, step: int, wall_time: float | None = None) -> None:
        """Mark that a training session starts (or resumes from a checkpoint) at ``step``.

        The first START in a run starts it; each later one is a restart, and TensorBoard (and
        advisor) then drop the points written before it at steps >= ``step``. So call it when
        training starts and again whenever it resumes.
        """
        wt = time.time() if wall_time is None else wall_time
        self._add(event_bytes(wt, int(step), session_log=wire.field_varint(1, 1)))

    def add_raw_event(self, payload: bytes) -> None:
        """Append an already serialised Event (tests and converters)."""
        self._add(payload)

    def flush(self) -> None:
        """Write the buffered records. When that fails (OSError), none of them is in the file and
        all stay buffered for the next flush (where the file cannot be truncated, the bytes that
        reached it stay and only the rest is buffered)."""
        if self._buf and not self._closed:
            self._append(b"".join(self._buf))
            self._buf.clear()
            self._buffered = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._fh.close()
        self._closed = True

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten writer still loses nothing it was given
        try:
            self.close()
        except Exception:
            pass

    # -- internals -------------------------------------------------------------------------------

    def _append(self, data: bytes) -> None:
        """Append whole records: all of ``data``, or after a failed write none of it."""
        view, done = memoryview(data), 0
        try:
            while done < len(data):
                n = self._fh.write(view[done:])
                if not n:  # 0 or None: the file took nothing and said no error
                    raise OSError(errno.EIO, f"write to {self.path} made no progress")
                done += n
        except BaseException:
            self._cut_back(data)
            raise
        self._size += done

    def _cut_back(self, data: bytes) -> None:
        """After a failed write: truncate the file to its last whole record (where the failed
        write started). Where truncating fails too, keep the bytes that reached the file and
        buffer only the rest, so the record is completed, not written twice."""
        try:
            self._fh.truncate(self._size)
            return
        except (OSError, ValueError):
            pass
        try:
            reached = self._fh.seek(0, os.SEEK_END) - self._size
        except (OSError, ValueError):
            return
        if 0 < reached <= len(data):
            self._size += reached
            self._buf[:] = [data[reached:]] if reached < len(data) else []
            self._buffered = len(data) - reached

    def _add(self, payload: bytes) -> None:
        if self._closed:
            raise ValueError("EventWriter is closed")
        rec = frame(payload)
        self._buf.append(rec)
        self._buffered += len(rec)
        if self._buffered >= self.max_buffer or time.monotonic() - self._last_flush >= self.flush_secs:
            self.flush()


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        if hasattr(v, "item"):
            return float(v.item())
        raise

