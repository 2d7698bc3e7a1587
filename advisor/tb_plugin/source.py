"""Runs as TensorBoard's data provider sees them, turned into advisor's :class:`~advisor.model.Run`.

TensorBoard names a run by its directory relative to the logdir and keeps a Keras
``train/`` + ``validation/`` pair as two runs; ``advisor analyze`` merges such split
directories into one run. The grouping here applies the same rule (``advisor.io.discover``'s)
to the run names, so both name and merge runs alike. The logdir itself, which TensorBoard names
``.``, is named by its directory name, as ``advisor analyze`` names it.

A group's fingerprint is, per tag, the newest step and wall time the provider lists: any point
appended or rewritten changes it, so a cached diagnosis is reused until its run's data changes.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from advisor.io.discover import HPARAMS_SIDE, _group  # grouping over directory names only: no file access
from advisor.io.hparams import decode_session_start
from advisor.io.runs import first_json_object
from advisor.io.stepless import series_of
from advisor.model import Run

SCALARS = "scalars"
HPARAMS = "hparams"
SESSION_START_TAG = "_hparams_/session_start_info"
_ROOT = os.sep + "__logdir__"  # a stand-in root: the grouping only compares path strings


@dataclass(frozen=True)
class Group:
    """One advisor run: the TensorBoard runs it merges, each with its split (or None)."""

    name: str
    members: tuple[tuple[str, str | None], ...]  # (TensorBoard run name, split directory or None)
    is_root: bool = False  # the logdir itself is the run


def root_name(logdir: str | None) -> str:
    """What ``advisor analyze LOGDIR`` calls a run that is the logdir itself."""
    base = os.path.basename(os.path.normpath(logdir or "")) if logdir else ""
    return base if base not in ("", ".", os.sep) else "logdir"


def group_runs(tb_runs: list[str], logdir: str | None = None) -> list[Group]:
    """Merge split directories (train/ + validation/) into one advisor run, as discovery does."""
    dirs = {(_ROOT if r == "." else os.path.join(_ROOT, *r.split("/"))): [r] for r in tb_runs}
    groups = []
    for rf in _group(_ROOT, dirs):
        name = root_name(logdir) if rf.name == "." else rf.name.replace(os.sep, "/")
        groups.append(Group(name, tuple((tb_run, split) for tb_run, split in rf.files), rf.name == "."))
    return sorted(groups, key=lambda g: g.name)


def fingerprint(listing: Mapping[str, Mapping[str, Any]], group: Group) -> tuple:
    """(run, tag, max step, max wall time) of every tag of the group's runs."""
    out = []
    for tb_run, _ in group.members:
        for tag, ts in sorted((listing.get(tb_run) or {}).items()):
            out.append((tb_run, tag, int(ts.max_step), float(ts.max_wall_time)))
    return tuple(out)


def build_run(
    group: Group, data: Mapping[str, Mapping[str, Any]], hparams: Mapping[str, Any], config: Mapping[str, Any], logdir: str | None = None
) -> Run:
    """A Run from the provider's scalar points (run -> tag -> [ScalarDatum]).

    Its ``path`` is where the run lives under the logdir (never read: signal resolution only
    takes the directory's name as a hint, as it does for ``advisor analyze``).
    """
    streams = {}
    for tb_run, split in group.members:
        if split == HPARAMS_SIDE:
            continue  # add_hparams' subdirectory: the run's hparams (hparams_of), its scalars repeat final metrics
        for tag, points in (data.get(tb_run) or {}).items():
            streams[(split, tag)] = (np.array([p.step for p in points], dtype=np.int64), np.array([p.value for p in points], dtype=float),
                                     np.array([p.wall_time for p in points], dtype=float), np.arange(len(points), dtype=np.int64))
    series, placed = series_of(streams)
    top = logdir or ""
    path = top if group.is_root else posixpath.join(top, group.name)
    return Run(name=group.name, path=path, series=series, hparams=dict(hparams), config=dict(config), problems=tuple(placed),
               records=sum(len(s) for s in series.values()))


def hparams_of(tensor_listing: Mapping[str, Mapping[str, Any]], group: Group) -> dict[str, Any]:
    """The run's hparams from the hparams plugin's session-start metadata, when it was written."""
    out: dict[str, Any] = {}
    for tb_run, _ in group.members:
        ts = (tensor_listing.get(tb_run) or {}).get(SESSION_START_TAG)
        content = getattr(ts, "plugin_content", None)
        if content:
            out.update(decode_session_start(content) or {})
    return out


def config_of(logdir: str | None, group: Group) -> dict[str, Any]:
    """config.json beside the run's event files, read only from a local logdir and only inside it.

    The run names come from the data provider, never from a request; the resolved path is
    checked to stay under the logdir all the same (a symlinked run directory may point out).
    """
    if not logdir or "://" in logdir or not os.path.isdir(logdir):
        return {}
    top = os.path.realpath(logdir)
    dirs: list[str] = []
    for tb_run, split in group.members:  # the run's own directory first, then its split directories
        d = posixpath.dirname(tb_run) if split else tb_run
        dirs += [] if d in dirs else [d]
    dirs += [r for r, s in group.members if s and r not in dirs]
    paths = (os.path.realpath(os.path.join(top, *[p for p in rel.split("/") if p not in ("", ".")], "config.json")) for rel in dirs)
    return first_json_object(p for p in paths if p.startswith(top + os.sep))
