"""Logdirs in object storage: any fsspec URL (``s3://``, ``gs://``, ``hdfs://``, ``memory://``).

Imported only for a path that has a ``scheme://`` (:func:`advisor.io.discover.is_url`);
fsspec and the filesystem's own package (s3fs, gcsfs, ...) are imported here, lazily, and a
missing one is one line that names the ``remote`` extra.

* Discovery is one recursive listing (``fs.find(..., detail=True)``): every object's size comes
  with it, so no file is stat'ed. The listing is grouped into runs by the same rules as a local
  tree (:func:`advisor.io.discover.group_runs`), and names are relative to the URL analysed, as
  they are to a local directory: the same files give the same report.
* A run's event files are fetched in large ranged reads (at most :data:`RANGE_BYTES` each), all
  at once (the filesystem's concurrent ``cat_ranges``, or a thread pool for a synchronous one),
  then decoded from memory by the same vectorised reader as a local file.
* :class:`RemoteEventFileReader` follows a growing object for ``watch``: a poll given the size
  from the listing fetches only the appended range, plus the :data:`~advisor.io.tfevents.WITNESS`
  bytes before it that show whether the object was rewritten (then it is read again whole).

Credentials come only from each filesystem's standard environment and configuration (for S3
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``, and ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` for an S3-compatible server; for GCS ``GOOGLE_APPLICATION_CREDENTIALS``);
nothing here logs them, and :func:`redact` blanks a ``user:secret@`` in any URL it prints.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from advisor.errors import InputError
from advisor.io.discover import Discovery, RunFiles, group_runs, is_event_file_name, natural_key
from advisor.io.tfevents import WITNESS, EventFile, EventFileReader

#: The largest single ranged read; a larger object is fetched as several ranges at once.
RANGE_BYTES = 32 << 20
#: Ranged reads in flight at once for a synchronous filesystem (async ones batch themselves).
THREADS = 16
#: What the reader of a run fetches before decoding it, at most (larger runs go in batches).
BATCH_BYTES = 256 << 20
CONFIG_NAMES = ("config.json",)

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def redact(text: str, url: str | None = None) -> str:
    """``text`` with the ``user:secret@`` part of every URL in it blanked, and the one of
    ``url`` wherever it appears (a library's message may quote it without the scheme)."""
    m = _USERINFO.match(url or "")
    if m:
        userinfo = m.group(0)[len(m.group("scheme")) : -1]
        text = text.replace(userinfo, "***")
    return _USERINFO.sub(r"\g<scheme>***@", text)


def open_url(url: str) -> tuple[Any, str]:
    """(filesystem, path inside it) for ``url``; an InputError naming what to install or fix."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise InputError(f"{redact(url)}: reading remote logdirs needs fsspec: pip install 'training-advisor[remote]'") from None
    try:
        return url_to_fs(url)
    except ImportError as e:  # the protocol's package (s3fs, gcsfs, ...) is missing
        raise InputError(f"{redact(url)}: {_first_line(e, url)} (pip install 'training-advisor[remote]')") from None
    except Exception as e:  # an unknown protocol, a malformed URL, ...
        raise InputError(f"{redact(url)}: {_first_line(e, url)}") from None


@dataclass(frozen=True)
class RemoteRunFiles(RunFiles):
    """A run in object storage: ``path`` and ``files`` are URLs; the listing's sizes and config
    file come along, so that reading it needs no stat."""

    sizes: tuple[int, ...] = ()
    config: str | None = None  # the URL of a config.json beside its event files


def discover_url(url: str, name_prefix: str | None = None, fs_path: tuple[Any, str] | None = None) -> Discovery:
    """The runs under ``url`` from one recursive listing; a missing bucket or path is an InputError."""
    url = url.rstrip("/") or url
    fs, root = fs_path or open_url(url)
    root = root.rstrip("/") or root
    try:
        fs.invalidate_cache(root)  # a watcher lists again: sizes must be today's
        listing = fs.find(root, detail=True, withdirs=False)
    except FileNotFoundError:
        listing = {}
    except Exception as e:  # a botocore/gcsfs error is no OSError: one line, never a traceback
        raise InputError(f"{redact(url)}: cannot list ({_first_line(e, url)})") from None
    if not listing:
        raise InputError(f"{redact(url)}: no such file or directory")
    return group_listing(url, root, listing, name_prefix)


def group_listing(url: str, root: str, listing: dict[str, dict[str, Any]], name_prefix: str | None = None) -> Discovery:
    """Group a listing (path -> info with 'size') of the tree at ``root`` (``url``) into runs."""

    def to_url(p: str) -> str:
        return url + p[len(root) :]

    if list(listing) == [root]:  # the URL names one object
        if not is_event_file_name(root.rsplit("/", 1)[-1]):
            return Discovery((), ())
        name = name_prefix if name_prefix is not None else root.rsplit("/", 1)[-1]
        parent = url.rsplit("/", 1)[0]
        return Discovery((RemoteRunFiles(name, parent, ((url, None),), sizes=(int(listing[root].get("size") or 0),)),), ())
    event_dirs: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    configs: dict[str, str] = {}
    for p, info in listing.items():
        rel = p[len(root) + 1 :] if p.startswith(root + "/") else None
        if rel is None or info.get("type", "file") != "file" or any(c.startswith(".") for c in rel.split("/")):
            continue  # hidden, as a local walk skips it
        d, _, base = p.rpartition("/")
        if is_event_file_name(base):
            event_dirs.setdefault(d, []).append(p)
            sizes[p] = int(info.get("size") or 0)
        elif base in CONFIG_NAMES:
            configs[d] = p
    for files in event_dirs.values():
        files.sort(key=natural_key)
    runs = []
    for rf in group_runs(root, event_dirs, sep="/"):
        name = rf.name if name_prefix is None else (name_prefix if rf.name == "." else f"{name_prefix}/{rf.name}")
        dirs = [rf.path] + sorted({p.rpartition("/")[0] for p, split in rf.files if split})
        config = next((configs[d] for d in dirs if d in configs), None)
        runs.append(
            RemoteRunFiles(
                name,
                to_url(rf.path),
                tuple((to_url(p), split) for p, split in rf.files),
                sizes=tuple(sizes[p] for p, _ in rf.files),
                config=to_url(config) if config else None,
            )
        )
    runs.sort(key=lambda r: natural_key(r.name))
    return Discovery(tuple(runs), ())


# --------------------------------------------------------------------------- ranged reads


def fetch(urls: Sequence[str], sizes: Sequence[int]) -> list[bytes | Exception]:
    """The whole contents of each object (its listed size), in ranged reads of at most
    RANGE_BYTES, all in flight at once; an object that cannot be read yields its exception."""
    if not urls:
        return []
    schemes = sorted({u.split("://", 1)[0] for u in urls})
    if len(schemes) > 1:  # one filesystem at a time (analyze s3://a gs://b)
        got: dict[int, bytes | Exception] = {}
        for scheme in schemes:
            mine = [i for i, u in enumerate(urls) if u.split("://", 1)[0] == scheme]
            got.update(zip(mine, fetch([urls[i] for i in mine], [sizes[i] for i in mine])))
        return [got[i] for i in range(len(urls))]
    fs, _ = open_url(urls[0])
    paths = [open_url(u)[1] for u in urls]
    spans: list[tuple[int, int, int]] = []  # (object index, start, end)
    for i, size in enumerate(sizes):
        spans.extend((i, a, min(size, a + RANGE_BYTES)) for a in range(0, max(size, 1), RANGE_BYTES))
    parts = _cat_ranges(fs, [paths[i] for i, _, _ in spans], [a for _, a, _ in spans], [b for _, _, b in spans])
    out: list[list[bytes] | Exception] = [[] for _ in urls]
    for (i, _, _), part in zip(spans, parts):
        if isinstance(out[i], Exception):
            continue
        if isinstance(part, Exception):
            out[i] = part
        else:
            out[i].append(part)  # type: ignore[union-attr]
    return [o if isinstance(o, Exception) else b"".join(o) for o in out]


def _cat_ranges(fs: Any, paths: list[str], starts: list[int], ends: list[int]) -> list[Any]:
    if getattr(fs, "async_impl", False):
        return list(fs.cat_ranges(paths, starts, ends, on_error="return"))

    def one(k: int) -> Any:
        try:
            return fs.cat_file(paths[k], start=starts[k], end=ends[k])
        except Exception as e:  # reported per file, never raised
            return e

    if len(paths) == 1:
        return [one(0)]
    with ThreadPoolExecutor(min(THREADS, len(paths))) as pool:
        return list(pool.map(one, range(len(paths))))


def decode(url: str, data: bytes, verify_crc: bool = True) -> EventFile:
    """Decode an event file's bytes, fetched whole, as :func:`read_event_file` reads a local one."""
    reader = RemoteEventFileReader(url, verify_crc=verify_crc)
    reader.poll(size=len(data), data=data)
    ef = reader.result()
    if ef.records == 0 and not ef.problems and not data:
        ef = EventFile(**{**ef.__dict__, "problems": ef.problems + ("empty file",)})
    return ef


def read_urls(urls: Sequence[str], sizes: Sequence[int] | None = None, verify_crc: bool = True) -> list[EventFile]:
    """Read every event file of ``urls`` (sizes from a listing, else asked for), in batches of
    about BATCH_BYTES fetched at once. Never raises for a bad or missing file."""
    urls = list(urls)
    if sizes is None:
        sizes = [_info_size(u) for u in urls]
    out: list[EventFile] = []
    i = 0
    while i < len(urls):
        j, total = i, 0
        while j < len(urls) and (j == i or total + max(sizes[j], 0) <= BATCH_BYTES):
            total += max(sizes[j], 0)
            j += 1
        ok = [k for k in range(i, j) if sizes[k] >= 0]
        got = dict(zip(ok, fetch([urls[k] for k in ok], [sizes[k] for k in ok]))) if ok else {}
        for k in range(i, j):
            data = got.get(k, FileNotFoundError("not found"))
            if isinstance(data, Exception):
                out.append(_unreadable(urls[k], data))
            else:
                out.append(decode(urls[k], data, verify_crc))
        i = j
    return out


def read_run(rf: RunFiles, verify_crc: bool = True) -> list[EventFile]:
    """The event files of a discovered remote run: what :func:`read_ahead` fetched, else
    fetched now, all at once."""
    urls = [p for p, _ in rf.files]
    with _LOCK:
        ready = [_READY.pop(u, None) for u in urls]
    if all(r is not None for r in ready):
        return [_unreadable(u, r) if isinstance(r, Exception) else decode(u, r, verify_crc) for u, r in zip(urls, ready)]  # type: ignore[arg-type]
    sizes = rf.sizes if isinstance(rf, RemoteRunFiles) and len(rf.sizes) == len(rf.files) else None
    return read_urls(urls, sizes, verify_crc)


#: Fetched ahead by read_ahead, by URL, until read_run takes them.
_READY: dict[str, bytes | Exception] = {}
_LOCK = threading.Lock()
#: Runs read_ahead fetches in one go (at most BATCH_BYTES); the next group is fetched while
#: this one is decoded.
AHEAD_RUNS = 64


def read_ahead(runs: Iterable[RunFiles]) -> Iterator[RunFiles]:
    """Yield ``runs`` in order while their files are fetched a group ahead, so that a sweep of
    small remote runs costs a round trip per group rather than per run."""
    groups: list[list[RunFiles]] = []
    total = 0
    for rf in runs:
        size = sum(rf.sizes) if isinstance(rf, RemoteRunFiles) else 0
        if not groups or len(groups[-1]) >= AHEAD_RUNS or total + size > BATCH_BYTES:
            groups.append([])
            total = 0
        groups[-1].append(rf)
        total += size
    if not groups:
        return
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_fetch_group, groups[0])
        for k, group in enumerate(groups):
            pending.result()
            if k + 1 < len(groups):
                pending = pool.submit(_fetch_group, groups[k + 1])
            yield from group
    with _LOCK:  # what a consumer did not take (it stopped early) is not kept
        for rf in (r for g in groups for r in g):
            for u, _ in rf.files:
                _READY.pop(u, None)


def _fetch_group(group: list[RunFiles]) -> None:
    urls, sizes = [], []
    for rf in group:
        if isinstance(rf, RemoteRunFiles) and len(rf.sizes) == len(rf.files):
            urls.extend(p for p, _ in rf.files)
            sizes.extend(rf.sizes)
    try:
        got = fetch(urls, sizes)
    except Exception:  # read_run fetches (and reports) them itself
        return
    with _LOCK:
        _READY.update(zip(urls, got))


def read_config(rf: RunFiles) -> dict[str, Any]:
    """The run's config.json when its listing had one (no request otherwise)."""
    url = rf.config if isinstance(rf, RemoteRunFiles) else None
    if not url:
        return {}
    try:
        fs, path = open_url(url)
        data = json.loads(fs.cat_file(path))
    except Exception:  # unreadable or not JSON: as a local one, ignored
        return {}
    return data if isinstance(data, dict) else {}


def _info_size(url: str) -> int:
    try:
        fs, path = open_url(url)
        return int(fs.info(path).get("size") or 0)
    except Exception:
        return -1


def _unreadable(url: str, e: Exception) -> EventFile:
    msg = "no such file" if isinstance(e, FileNotFoundError) else _first_line(e)
    return EventFile(url, {}, {}, {}, None, (), 0, 0, 0, 0, 0, False, (f"unreadable: {msg}",))


def _first_line(e: BaseException, url: str | None = None) -> str:
    text = str(e).strip().splitlines()
    return redact(text[0] if text else type(e).__name__, url)


# --------------------------------------------------------------------------- following an object


class _Window(io.RawIOBase):
    """A read-only file over the bytes of an object from ``base`` on; reads outside them are
    fetched (and recorded in ``requests``)."""

    def __init__(self, reader: RemoteEventFileReader, data: bytes, base: int) -> None:
        self.reader, self.data, self.base, self.pos = reader, memoryview(data), base, 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else self.pos + pos
        return self.pos

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        end = self.base + len(self.data) if n < 0 else self.pos + n
        if self.base <= self.pos and end <= self.base + len(self.data):
            out = self.data[self.pos - self.base : end - self.base]  # type: ignore[assignment]
        else:
            out = self.reader._fetch(self.pos, end)
        self.pos += len(out)
        return out

    def readable(self) -> bool:
        return True


class RemoteEventFileReader(EventFileReader):
    """:class:`EventFileReader` for an object URL: each :meth:`poll` fetches only what was
    appended (and the witness bytes before it), in one ranged read.

    Objects are rewritten whole rather than appended to; a rewrite that kept the bytes already
    read is an append. A rewrite that changed them (the witness bytes before the offset differ)
    or shrank the object is read again from the start. ``requests`` records the (start, end)
    ranges fetched, for tests and for a curious user.
    """

    def __init__(self, url: str, verify_crc: bool = True) -> None:
        super().__init__(url, verify_crc=verify_crc)
        self.requests: list[tuple[int, int]] = []
        self._seen: int | None = None  # the size at the last poll

    def _fetch(self, start: int, end: int) -> bytes:
        fs, path = open_url(self.path)
        self.requests.append((start, end))
        return fs.cat_file(path, start=start, end=end)

    def poll(self, size: int | None = None, data: bytes | None = None) -> int:  # type: ignore[override]
        """Decode what was appended; ``size``: the object's size from a listing (else asked);
        ``data``: its whole contents, already fetched."""
        before = self._acc.records
        try:
            if size is None:
                fs, path = open_url(self.path)
                size = int(fs.info(path).get("size") or 0)
            if size == self._seen and data is None:
                return 0
            if size < self.offset:
                self._reset()
            self._seen = size
            if data is not None:
                self._reset()
                window = _Window(self, data, 0)
            elif self._stopped is None and self.offset < size:
                start = self.offset - len(self._tail)
                window = _Window(self, self._fetch(start, size), start)
                if self.offset and window.data[: len(self._tail)] != self._tail:
                    self._reset()  # rewritten, not appended to: read it all again
                    window = _Window(self, self._fetch(0, size), 0)
            else:
                return 0
            if self._stopped is None and self.offset < size:
                self._read_new(window, size)
        except (OSError, ValueError, MemoryError) as e:
            self._note(f"unreadable: {_first_line(e)}")
            self._seen = None  # try again at the next poll
        return self._acc.records - before


__all__ = ["WITNESS", "RemoteEventFileReader", "RemoteRunFiles", "discover_url", "read_run", "read_urls", "redact"]
