"""What every command shares: exit codes, id lists, where output goes, the progress bar."""

from __future__ import annotations

import os
import stat
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
    """Write to stdout, or to ``path`` without ever leaving it half-written.

    A regular file (new, or an existing one) is written to a temporary file beside it and renamed
    over it, keeping an existing file's mode (a new one gets the umask's). A symlink is followed:
    its target is replaced and the link stays. Anything else that exists (a FIFO, a device, a
    process substitution) is written through, since renaming over it would replace the node.
    A full disk or device is exit 2 with one line.
    """
    if path is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as e:
            if isinstance(e, BrokenPipeError):
                raise
            raise UsageError(f"cannot write to standard output: {e.strerror or e}") from None
        return
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_through(text, path)
        return
    d = os.path.dirname(target)
    if not os.path.isdir(d):
        raise UsageError(f"cannot write {path}: directory {d} does not exist")
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=".advisor-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def _write_through(text: str, path: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
