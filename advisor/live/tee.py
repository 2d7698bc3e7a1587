"""The tee: every point a recorder drains, also written as a TensorBoard event file.

With ``Monitor(tee=DIR)`` the live run is readable by ``advisor analyze`` and TensorBoard at full
resolution. The file is advisor's own :class:`~advisor.io.writer.EventWriter`; this module makes
it safe to run beside a training loop on a disk that can fill up:

* the writer flushes only when the tee says so (once per drain), never on its own inside
  ``add_scalar``: an automatic flush that failed there would drop the rest of the drain;
* a flush that fails (``ENOSPC``) leaves the file at its last whole record and keeps the records
  buffered (see :meth:`EventWriter.flush <advisor.io.writer.EventWriter.flush>`), so once space
  returns each is written exactly once;
* while the disk refuses them, at most :data:`TEE_BACKLOG` points wait in memory; beyond that new
  points are dropped from the file (reported once), never from the monitor.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

#: Points the tee holds while its disk refuses them (about 50 bytes each: 25 MB); beyond this it drops
#: new points until a write succeeds, so a disk that stays full does not grow memory.
TEE_BACKLOG = 500_000

#: What one drain hands the tee: tag -> (steps, values, wall times), in arrival order.
Columns = dict[str, tuple[list[int], list[float], list[float]]]

#: How the tee reports its failures: :meth:`Recorder.report_failure <advisor.live.recorder.Recorder.report_failure>`.
Report = Callable[[str, BaseException], None]


class Tee:
    """An event file in ``logdir`` that takes a recorder's drained columns; see the module doc."""

    def __init__(self, logdir: str, hparams: Mapping[str, Any] | None, report: Report) -> None:
        from advisor.io.writer import EventWriter

        self._writer = EventWriter(logdir, flush_secs=math.inf, max_buffer=sys.maxsize)
        if hparams:
            self._writer.add_hparams(dict(hparams))
        self._report = report
        self.backlog = 0  # points buffered since the last flush that succeeded

    @property
    def writer(self) -> Any:
        """The event writer (the findings table goes in with ``add_text``)."""
        return self._writer

    @property
    def path(self) -> str:
        """The event file."""
        return self._writer.path

    def write(self, cols: Columns) -> None:
        """Buffer one drain's points (unless the backlog is full) and try to write everything
        buffered. Never raises: failures go to ``report``."""
        n = sum(len(s) for s, _, _ in cols.values())
        if self.backlog and self.backlog + n > TEE_BACKLOG:
            self._flush()  # the disk may take the backlog now; else these points stay out
        if self.backlog + n > TEE_BACKLOG:
            msg = f"the tee's disk refused {self.backlog} points; new points are left out of the file until it takes them"
            self._report("tee backlog", RuntimeError(msg))
        else:
            self.backlog += n
            try:
                for tag, (s, v, w) in cols.items():
                    for st, val, wt in zip(s, v, w):
                        self._writer.add_scalar(tag, val, st, wall_time=wt)
            except Exception as e:
                self._report("tee", e)
        self._flush()

    def _flush(self) -> None:
        try:
            self._writer.flush()
            self.backlog = 0
        except Exception as e:
            self._report("tee", e)

    def close(self) -> None:
        """Write what is buffered and close the file (a failure is reported, not raised)."""
        try:
            self._writer.close()
        except Exception as e:
            self._report("tee", e)
