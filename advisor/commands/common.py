"""What every command shares: exit codes, id lists, where output goes, the progress bar."""

from __future__ import annotations

import os
import sys
import tempfile

from advisor.errors import UsageError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def parse_ids(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(t for t in text.replace(",", " ").split() if t)


def color_enabled(mode: str, stream) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def write_output(text: str, path: str | None) -> None:
    """Write to stdout, or atomically to ``path`` (a crash never leaves a half-written file)."""
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UsageError(f"cannot write {path}: directory {d} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".advisor-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def progress_bar():
    """A progress callback drawing a bar on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.console import Console

    prog = Progress(TextColumn("analysing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    state: dict = {}

    def cb(done: int, total: int) -> None:
        if "task" not in state:
            if total < 20:
                return
            prog.start()
            state["task"] = prog.add_task("runs", total=total)
        prog.update(state["task"], completed=done)

    return cb, (lambda: prog.stop() if "task" in state else None)
