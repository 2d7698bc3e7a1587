"""Remote logdirs on fsspec's in-process ``memory://`` filesystem: discovery from one listing,
the same report as the local tree byte for byte, watch fetching only appended ranges, errors."""

from __future__ import annotations

import math
import os
import uuid
from pathlib import Path

import pytest

fsspec = pytest.importorskip("fsspec")

from advisor.cli import main
from advisor.io import remote
from advisor.io.writer import EventWriter
from advisor.watch import Watcher
from tests.live.helpers import healthy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def mem():
    """A fresh directory in the memory filesystem: (filesystem, its path, its URL)."""
    fs = fsspec.filesystem("memory")
    root = f"/t-{uuid.uuid4().hex[:8]}"
    yield fs, root, f"memory://{root}"
    fs.rm(root, recursive=True) if fs.exists(root) else None


def upload(fs, local: Path, root: str) -> None:
    for d, _, names in os.walk(local):
        for n in names:
            p = os.path.join(d, n)
            fs.pipe_file(f"{root}/{os.path.relpath(p, local)}", Path(p).read_bytes())


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_fixture_corpus_from_memory_url_gives_the_local_report_byte_for_byte(mem, capsys):
    fs, root, url = mem
    upload(fs, FIXTURES, root)
    local = cli(capsys, "analyze", str(FIXTURES), "--format", "json", "--workers", "1")
    far = cli(capsys, "analyze", url, "--format", "json", "--workers", "1")
    assert local[1].count('"run":') >= 20  # every layout of the corpus is in it
    assert far == local


def test_discovery_is_one_listing_with_sizes_splits_hidden_and_config(mem, monkeypatch):
    fs, root, url = mem
    fs.pipe_file(f"{root}/a/events.out.tfevents.2.h", b"x" * 7)
    fs.pipe_file(f"{root}/a/events.out.tfevents.10.h", b"y" * 3)
    fs.pipe_file(f"{root}/a/config.json", b'{"lr": 0.1}')
    fs.pipe_file(f"{root}/k/train/events.out.tfevents.1.h", b"z")
    fs.pipe_file(f"{root}/k/validation/events.out.tfevents.1.h", b"zz")
    fs.pipe_file(f"{root}/.hidden/events.out.tfevents.1.h", b"q")
    fs.pipe_file(f"{root}/notes.txt", b"-")
    monkeypatch.setattr(type(fs), "info", lambda *a, **k: pytest.fail("stat'ed a file"))
    d = remote.discover_url(url + "/")
    assert [r.name for r in d.runs] == ["a", "k"]
    a, k = d.runs
    assert a.path == f"{url}/a"
    assert [p for p, _ in a.files] == [f"{url}/a/events.out.tfevents.2.h", f"{url}/a/events.out.tfevents.10.h"]  # natural order
    assert a.sizes == (7, 3) and a.config == f"{url}/a/config.json"
    assert [s for _, s in k.files] == ["train", "validation"] and k.sizes == (1, 2) and k.config is None
    assert remote.read_config(a) == {"lr": 0.1}


def test_single_object_url_is_one_run(mem):
    fs, root, url = mem
    fs.pipe_file(f"{root}/r/events.out.tfevents.1.h", b"abc")
    (rf,) = remote.discover_url(f"{url}/r/events.out.tfevents.1.h").runs
    assert rf.name == "events.out.tfevents.1.h" and rf.files == ((f"{url}/r/events.out.tfevents.1.h", None),) and rf.sizes == (3,)


def test_large_objects_are_fetched_in_several_ranges_and_damage_is_reported(mem, monkeypatch, tmp_path):
    fs, root, url = mem
    with EventWriter(tmp_path / "r") as w:
        for i in range(3000):
            w.add_scalar("train/loss", 1.0 / (i + 1), i)
    (local,) = list((tmp_path / "r").iterdir())
    data = bytearray(local.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one damaged record in the middle
    fs.pipe_file(f"{root}/r/{local.name}", bytes(data))
    monkeypatch.setattr(remote, "RANGE_BYTES", 4096)
    calls = []
    real = type(fs).cat_file
    monkeypatch.setattr(type(fs), "cat_file", lambda self, p, start=None, end=None, **k: calls.append((start, end)) or real(self, p, start=start, end=end, **k))
    (rf,) = remote.discover_url(url).runs
    (ef,) = remote.read_run(rf)
    assert len(calls) == math.ceil(len(data) / 4096) and calls[0] == (0, 4096)
    assert ef.n_scalars == 2999 and any("CRC" in p for p in ef.problems)


def test_watch_fetches_only_the_appended_range_and_reports_the_new_finding(mem, tmp_path):
    fs, root, url = mem
    w = EventWriter(tmp_path / "a")
    name = None

    def mirror() -> int:
        nonlocal name
        w.flush()
        (f,) = list((tmp_path / "a").iterdir())
        name = f.name
        data = f.read_bytes()
        fs.pipe_file(f"{root}/a/{f.name}", data)  # objects are rewritten whole
        return len(data)

    loss = healthy(300)
    for i, v in enumerate(loss[:200]):
        w.add_scalar("train/loss", float(v), i)
    first = mirror()
    watcher = Watcher([url], interval=0)
    assert watcher.poll() == []
    (reader,) = next(iter(watcher.runs.values())).readers.values()
    assert isinstance(reader, remote.RemoteEventFileReader) and reader.requests == [(0, first)]
    assert watcher.poll() == [] and len(reader.requests) == 1  # same size: nothing fetched
    for i in range(200, 220):
        w.add_scalar("train/loss", math.nan, i)
    second = mirror()
    new = watcher.poll()
    assert [(run, f.condition) for run, f in new] == [("a", "non-finite")]
    assert reader.requests[1:] == [(first - remote.WITNESS, second)]  # the appended bytes and the witness
    w.close()


def test_watch_rereads_an_object_rewritten_with_other_bytes(mem, tmp_path):
    fs, root, url = mem
    fs.pipe_file(f"{root}/a/events.out.tfevents.1.h", b"")
    with EventWriter(tmp_path / "x") as w:
        for i in range(50):
            w.add_scalar("train/loss", 1.0, i)
    with EventWriter(tmp_path / "y") as w:
        for i in range(80):
            w.add_scalar("train/loss", 2.0, i)
    (x,), (y,) = list((tmp_path / "x").iterdir()), list((tmp_path / "y").iterdir())
    fs.pipe_file(f"{root}/a/events.out.tfevents.1.h", x.read_bytes())
    reader = remote.RemoteEventFileReader(f"{url}/a/events.out.tfevents.1.h")
    reader.poll()
    fs.pipe_file(f"{root}/a/events.out.tfevents.1.h", y.read_bytes())  # longer, different bytes
    reader.poll()
    assert reader.requests[-1] == (0, y.stat().st_size)
    values = reader.result().scalars["train/loss"].values
    assert len(values) == 80 and set(values.tolist()) == {2.0}


def test_missing_paths_and_secrets_in_urls_are_one_line_exit_2(mem, capsys):
    rc, out, err = cli(capsys, "analyze", mem[2] + "/nothing-here")
    assert rc == 2 and out == "" and err == f"advisor: error: {mem[2]}/nothing-here: no such file or directory\n"
    rc, out, err = cli(capsys, "analyze", "nosuchproto-xyz://bucket/x")
    assert rc == 2 and err.count("\n") == 1 and "nosuchproto-xyz" in err
    rc, out, err = cli(capsys, "watch", mem[2] + "/nothing-here", "--once")
    assert rc == 2 and err.count("\n") == 1
    assert remote.redact("cannot open s3://AKIA:s3cr3t@bucket/x") == "cannot open s3://***@bucket/x"
    assert remote.redact("Invalid bucket name AKIA:s3cr3t@bucket", "s3://AKIA:s3cr3t@bucket/x") == "Invalid bucket name ***@bucket"


def test_read_event_files_reads_urls_like_paths(mem, tmp_path):
    from advisor.io.parallel import read_event_files

    fs, root, url = mem
    with EventWriter(tmp_path / "r") as w:
        for i in range(100):
            w.add_scalar("train/loss", 1.0 / (i + 1), i)
    (local,) = list((tmp_path / "r").iterdir())
    fs.pipe_file(f"{root}/r/{local.name}", local.read_bytes())
    far, missing = read_event_files([f"{url}/r/{local.name}", f"{url}/r/events.out.tfevents.gone"])
    near = read_event_files([str(local)])[0]
    assert far.scalars["train/loss"].values.tolist() == near.scalars["train/loss"].values.tolist()
    assert far.records == near.records and missing.problems == ("unreadable: no such file",)


def test_a_local_tree_and_a_url_analysed_together(mem, tmp_path, capsys):
    fs, root, url = mem
    for name, values in (("far", [1.0] * 40 + [float("nan")]), ("near", [1.0] * 40 + [float("inf")])):
        with EventWriter(tmp_path / name) as w:
            for i, v in enumerate(values):
                w.add_scalar("train/loss", v, i)
    upload(fs, tmp_path / "far", f"{root}/far")
    rc, out, err = cli(capsys, "analyze", str(tmp_path / "near"), url, "--format", "json", "--workers", "1")
    assert err == "" and f'"run": "{url}/far"' in out and f'"run": "{tmp_path / "near"}"' in out
    assert out.count('"condition": "non-finite"') == 2
