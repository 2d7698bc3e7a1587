"""Correctness check of the event-file reader: this tree against a baseline reader, file by file.

    python benchmarks/check_read.py                       # real runs + every bench layout, against main
    python benchmarks/check_read.py --baseline DIR        # a directory holding advisor/
    python benchmarks/check_read.py --scalars 400000      # larger generated layouts
    python benchmarks/check_read.py --general             # also this tree's general decoder (CRC off)

Every file is read, in one process per reader and in one order (so that the whole-file plans
and shapes are learned and used as in a sweep), with CRC checks on and off, and once more with
them on (the repeat read of a process that holds plans for every size): each read is reduced to
a digest of everything an EventFile holds (tags in order, every array's dtype and bytes, counts,
problems). The files: the real runs under ../shared/realruns and /work/realruns-extra (or
$ADVISOR_REALRUNS, $ADVISOR_REALRUNS_EXTRA), and generated sweeps of each layout of
benchmarks/bench_read.py (torch, tensorboardX mixed cadences, TF2, Keras, Keras of ragged
lengths), plus damaged copies of ragged Keras files (a byte changed, the last record cut,
a value made NaN). Exit status 1 when any digest differs.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.append(REPO)


def digest(ef: object, ordered: bool = True) -> str:
    """Everything an EventFile holds, hashed (``ordered``: the order of its tags too)."""
    h = hashlib.sha256()
    tags = list(ef.scalars) if ordered else sorted(ef.scalars)  # type: ignore[attr-defined]
    h.update(repr(tags).encode())
    for tag in tags:
        d = ef.scalars[tag]  # type: ignore[attr-defined]
        for a in (d.steps, d.values, d.wall_times, d.seq):
            h.update(str(a.dtype).encode())
            h.update(a.tobytes())
    fields = ("hparams", "texts", "file_version", "restarts", "records", "bytes_read", "non_scalar", "bad_crc", "bad_records", "truncated", "problems")
    h.update(repr([getattr(ef, f) for f in fields]).encode())
    return h.hexdigest()[:16]


def read_digests(paths: list[str], modes: list[str]) -> dict[str, list[list[str]]]:
    """For each mode ('on', 'off', 'on-again', 'general-off'), each file's (ordered, sorted) digests."""
    from advisor.io.tfevents import read_event_file

    out = {}
    for mode in modes:
        verify, fast = mode != "off" and mode != "general-off", mode != "general-off"
        out[mode] = [[digest(ef), digest(ef, False)] for ef in (read_event_file(p, verify, fast=fast) for p in paths)]
    try:  # how the files were read: by whole-file plans, made by shapes
        from advisor.io import _fast_file, _fast_shape

        out["paths"] = [[f"{_fast_file._stats[1]} reads by plans, {sum(u for _, u in _fast_shape._KEYS.values())} by plans new shapes made, {_fast_shape._count[0]} shapes"]]
    except (ImportError, AttributeError):
        pass
    return out


def _in_process(tree: str, listing: str, modes: list[str]) -> dict[str, list[list[str]]]:
    """read_digests in a fresh process whose ``advisor`` is the one in ``tree``."""
    code = (
        "import json, sys\n"
        f"sys.path.append({REPO!r})\n"
        "from benchmarks.check_read import read_digests\n"
        f"paths = open({listing!r}).read().split('\\n')\n"
        f"print(json.dumps(read_digests(paths, {modes!r})))\n"
    )
    env = {**os.environ, "PYTHONPATH": tree}
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree)
    if got.returncode:
        raise SystemExit(f"reader in {tree} failed: {got.stderr.strip().splitlines()[-1:]}")
    return json.loads(got.stdout.strip().splitlines()[-1])


def real_files() -> list[str]:
    roots = [os.environ.get("ADVISOR_REALRUNS", os.path.join(REPO, "..", "shared", "realruns"))]
    roots += [os.environ.get("ADVISOR_REALRUNS_EXTRA", ""), os.path.join(REPO, "..", "shared", "realruns-extra"), "/work/realruns-extra"]
    seen, out = set(), []
    for root in roots:
        if root and os.path.isdir(root) and os.path.realpath(root) not in seen:
            seen.add(os.path.realpath(root))
            out += sorted(glob.glob(os.path.join(root, "**", "*tfevents*"), recursive=True))
    return [p for p in out if os.path.isfile(p)]


def generated_files(root: str, scalars: int) -> dict[str, list[str]]:
    """Each bench layout's sweep of about ``scalars`` scalars, and damaged ragged Keras files."""
    from benchmarks._corpus import write_corpus
    from benchmarks._layouts import write_layout
    from benchmarks.bench_read import write_ragged

    out = {"torch": write_corpus(os.path.join(root, "torch"), max(1, scalars // 5000), 1000)}
    for name, steps, per in (("tbx-mixed", 5000, 4.02), ("tf2", 5000, 4), ("keras", 100, 5)):
        out[name] = write_layout(os.path.join(root, name), name, max(1, round(scalars / (per * steps))), steps)
    out["keras-ragged"] = write_ragged(root, scalars)[2]
    out["damaged"] = _damaged(out["keras-ragged"], os.path.join(root, "damaged"))
    return out


def _damaged(paths: list[str], root: str) -> list[str]:
    """Copies of ragged Keras files, each changed one way: a byte, a cut, a NaN value."""
    rng = np.random.default_rng(7)
    os.makedirs(root, exist_ok=True)
    out = []
    for i, p in enumerate(paths[: min(len(paths), 600)]):
        data = bytearray(open(p, "rb").read())
        kind = i % 3
        if kind == 0:
            at = int(rng.integers(0, len(data)))
            data[at] ^= int(rng.integers(1, 256))
        elif kind == 1:
            data = data[: int(rng.integers(len(data) // 2, len(data)))]
        else:
            at = len(data) - 8  # the last record's float32 value (before its 4-byte CRC)
            data[at : at + 4] = struct.pack("<f", float("nan"))
        q = os.path.join(root, f"{i:04d}-{os.path.basename(p)}")
        with open(q, "wb") as fh:
            fh.write(bytes(data))
        out.append(q)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="main", help="a git revision of this repository or a directory holding advisor/")
    ap.add_argument("--scalars", type=int, default=200_000, help="scalars per generated layout")
    ap.add_argument("--general", action="store_true", help="also this tree's general decoder, CRC off")
    ap.add_argument("--data", help="keep (and reuse) the generated files in DIR")
    args = ap.parse_args(argv)
    from benchmarks.bench_read import baseline_tree

    tmp = tempfile.mkdtemp(prefix="check_read_")
    try:
        sets = {"real": real_files(), **generated_files(args.data or os.path.join(tmp, "gen"), args.scalars)}
        paths = [p for ps in sets.values() for p in ps]
        listing = os.path.join(tmp, "paths.txt")
        with open(listing, "w") as fh:
            fh.write("\n".join(paths))
        base = _in_process(baseline_tree(args.baseline, tmp), listing, ["on", "off"])
        mine = _in_process(REPO, listing, ["on", "off", "on-again"] + (["general-off"] if args.general else []))
        return report(sets, mine, base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(sets: dict[str, list[str]], mine: dict, base: dict) -> int:
    pairs = [("on", "on"), ("off", "off"), ("on-again", "on")] + ([("general-off", "off")] if "general-off" in mine else [])
    bad = 0
    i = 0
    print(f"{'files':14s} {'n':>6s} " + " ".join(f"{a + ' vs base ' + b:>22s}" for a, b in pairs))
    for name, ps in sets.items():
        cells = []
        for a, b in pairs:
            same = sum(mine[a][i + k][0] == base[b][i + k][0] for k in range(len(ps)))
            loose = sum(mine[a][i + k][1] == base[b][i + k][1] for k in range(len(ps)))
            bad += len(ps) - (loose if a == "general-off" else same)  # (the general decoder may order tags otherwise)
            cells.append((f"{same} same" + (f" (+{loose - same} but tag order)" if loose != same else "")).rjust(22))
        print(f"{name:14s} {len(ps):6d} " + " ".join(cells))
        i += len(ps)
    total = sum(len(ps) for ps in sets.values())
    print(f"{total} files, {len(pairs)} comparisons each: {'all identical' if not bad else f'{bad} reads differ'}")
    if "paths" in mine:
        print(f"this tree, all reads: {mine['paths'][0][0]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
