"""Assemble the event files of ``extra.json`` (or, with ``--manifest``, ``extra2.json``) from git snapshots.

The runs are other people's data and are not committed here; ``extra-MANIFEST.json`` names, for
every file, its repository, commit, path, git blob, size and sha256. Given a directory holding a
bare or normal git directory per repository (``<root>/<owner>+<name>/repo`` as the project's
``fetch`` tool leaves them, or ``<root>/<owner>+<name>``), this copies each file out of git byte
for byte to ``<out>/<file>`` and checks its size and sha256; a mismatch or a missing blob is
reported and the file is not written.

    python benchmarks/readings/assemble_extra.py --mirrors /work/.mirror --out /work/realruns-extra
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _git_dir(root: str, repo: str) -> str | None:
    base = os.path.join(root, repo.replace("/", "+"))
    # a bare snapshot (base/repo or base itself), or a clone with a work tree (base/repo/.git)
    for cand in (os.path.join(base, "repo", ".git"), os.path.join(base, "repo"), base):
        if os.path.isdir(cand):
            return cand
    return None


def _blob(git_dir: str, entry: dict) -> bytes | None:
    for ref in (entry.get("git_blob"), f"{entry['commit']}:{entry['original_path']}"):
        if not ref:
            continue
        proc = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "blob", ref],
                              capture_output=True, check=False)
        if proc.returncode == 0:
            return proc.stdout
    return None


def assemble(mirrors: str, out: str, manifest: str) -> tuple[int, list[str]]:
    """Write every manifest file under ``out``; return (written, problems)."""
    with open(manifest, encoding="utf-8") as fh:
        entries = json.load(fh)
    written, problems = 0, []
    for e in entries:
        gd = _git_dir(mirrors, e["repo"])
        if gd is None:
            problems.append(f"{e['file']}: no snapshot of {e['repo']} under {mirrors}")
            continue
        data = _blob(gd, e)
        if data is None:
            problems.append(f"{e['file']}: blob not in the snapshot of {e['repo']}")
            continue
        if len(data) != e["bytes"] or hashlib.sha256(data).hexdigest() != e["sha256"]:
            problems.append(f"{e['file']}: size or sha256 differs from the manifest")
            continue
        dest = os.path.join(out, e["file"])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as fh:
            fh.write(data)
        written += 1
    return written, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirrors", required=True, help="directory of <owner>+<name> git snapshots")
    ap.add_argument("--out", required=True, help="where the runs are written")
    ap.add_argument("--manifest", default=os.path.join(HERE, "extra-MANIFEST.json"))
    args = ap.parse_args(argv)
    written, problems = assemble(args.mirrors, args.out, args.manifest)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{written} files written to {args.out}; {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
