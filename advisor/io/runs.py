"""Load a discovered run: read its event files, merge them per split, attach metadata.

Files of one split merge in name (write) order. Every SessionLog START but the run's first
purges what was written before it at the same or later steps (a run resumed from a
checkpoint), as TensorBoard's accumulator does across a run's files. Then each stream is normalised: steps sorted, and where a step repeats the point written
last wins — deterministic for duplicate and non-monotonic steps alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from advisor.io.discover import HPARAMS_SIDE, RunFiles, is_url
from advisor.io.hparams import pipeline_config
from advisor.io.stepless import FILE_STRIDE, series_of
from advisor.io.tfevents import EventFile, read_event_file
from advisor.model import Run

CONFIG_NAMES = ("config.json",)


def load_run(rf: RunFiles, files: Iterable[EventFile] | None = None, verify_crc: bool = True) -> Run:
    """Read (unless ``files`` are given, in the order of ``rf.files``) and merge one run."""
    remote = is_url(rf.path)
    if files is None and remote:
        from advisor.io.remote import read_run

        files = read_run(rf, verify_crc=verify_crc)
    elif files is None:
        files = [read_event_file(p, verify_crc=verify_crc) for p, _ in rf.files]
    files = list(files)
    by_split: dict[str | None, list[EventFile]] = {}
    for (_, split), ef in zip(rf.files, files):
        by_split.setdefault(split, []).append(ef)

    hparams: dict[str, Any] = {}
    texts: dict[str, str] = {}
    problems: list[str] = []
    non_scalar = 0
    streams = {}
    for split, efs in by_split.items():
        if split != HPARAMS_SIDE:
            merged, went_back = _merge(efs)
            streams.update({(split, tag): st for tag, st in merged.items()})
            problems.extend(went_back)
    series, placed = series_of(streams)
    problems.extend(placed)
    for split, efs in by_split.items():
        for ef in efs:
            hparams.update(ef.hparams)
            texts.update({(f"{split}/{k}" if split and split != HPARAMS_SIDE else k): t for k, t in ef.texts.items()})
            non_scalar += ef.non_scalar
            rel = os.path.relpath(ef.path, rf.path)
            problems.extend(f"{rel}: {p}" for p in ef.problems)
    return Run(
        name=rf.name,
        path=rf.path,
        series=series,
        hparams=hparams,
        texts=texts,
        config=_read_remote_config(rf) if remote else _read_config(rf),
        files=tuple(p for p, _ in rf.files),
        problems=tuple(problems),
        non_scalar=non_scalar,
        records=sum(ef.records for ef in files),
    )


def read_ahead(runs: Iterable[RunFiles]) -> Iterator[RunFiles]:
    """``runs`` in order; where they are remote (object storage), their files are fetched a
    group of runs ahead while each is read (:func:`advisor.io.remote.read_ahead`)."""
    runs = list(runs)
    if not any(is_url(rf.path) for rf in runs):
        return iter(runs)
    from advisor.io.remote import read_ahead as remote_read_ahead

    return remote_read_ahead(runs)


def _merge(efs: list[EventFile]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], list[str]]:
    """Concatenate the files of one split in order and apply cross-file restart purges: each
    tag's steps, values, wall times and write order (file index * stride + record index), and
    the messages that say which files went back in steps without a START."""
    if len(efs) == 1:
        return {t: (d.steps, d.values, d.wall_times, d.seq) for t, d in efs[0].scalars.items()}, []
    # TensorBoard reads a run's files in order into one accumulator: the run's first START opens
    # the session and purges nothing; every later one (a resume, often a new file) purges what
    # came before at the same or later steps. Each file already applied its own later STARTs.
    restarts = sorted((i * FILE_STRIDE + q, step) for i, ef in enumerate(efs) for q, step in ef.restarts)[1:]
    parts: dict[str, list[tuple[np.ndarray, ...]]] = {}
    for i, ef in enumerate(efs):
        for tag, d in ef.scalars.items():
            parts.setdefault(tag, []).append((d.steps, d.values, d.wall_times, d.seq + i * FILE_STRIDE))
    out = {}
    went_back: dict[int, list[tuple[str, int, int, bool]]] = {}
    for tag, chunks in parts.items():
        s, v, w, q = (np.concatenate([c[k] for c in chunks]) for k in range(4))
        if restarts:
            keep = np.ones(len(s), dtype=bool)
            for seq, step in restarts:
                keep &= ~((q < seq) & (s >= step))
            s, v, w, q = s[keep], v[keep], w[keep], q[keep]
        out[tag] = (s, v, w, q)
        _went_back(tag, chunks, went_back)
    return out, [_went_back_message(efs[i].path, got) for i, got in sorted(went_back.items())]


def _went_back(tag: str, chunks: list[tuple[np.ndarray, ...]], went_back: dict[int, list[tuple[str, int, int, bool]]]) -> None:
    """Note a later file that writes ``tag`` from a step before the one the earlier files had
    reached, with no START (torch and Keras writers never write one): another training written
    into the same directory (a re-run), a resume that did not say so, or a later stage of the
    same one (Catalyst's) — or, when the later file was written while the earlier one still was,
    several processes writing the same run (distributed ranks that all log). Which it is the files
    do not say, so the points are read as TensorBoard reads them — the later file's win at the
    steps both hold, the earlier file's stay elsewhere (TensorBoard draws a zigzag) — and the
    run's problems say so."""
    reached, last_wall = None, -np.inf
    for st, _, w, q in chunks:
        if not len(st):
            continue
        first = int(st[0])
        if reached is not None and first < reached:
            went_back.setdefault(int(q[0]) // FILE_STRIDE, []).append((tag, first, reached, bool(w[0] < last_wall)))
        reached = int(st.max()) if reached is None else max(reached, int(st.max()))
        last_wall = max(last_wall, float(np.max(w)))


def _went_back_message(path: str, got: list[tuple[str, int, int, bool]]) -> str:
    tags = ", ".join(g[0] for g in got[:3]) + (f" and {len(got) - 3} more" if len(got) > 3 else "")
    _, first, reached, concurrent = got[0]
    what = ("it was written while an earlier file still was: several processes (distributed ranks?) log this run"
            if concurrent else "two trainings, or two stages, may be written into this directory")
    return (f"{os.path.basename(path)} writes {tags} again from step {first} (earlier files had reached step {reached}) "
            f"without a restart marker: {what}; read as TensorBoard reads them (the later points win at the steps both "
            f"files hold)")


def _read_remote_config(rf: RunFiles) -> dict[str, Any]:
    from advisor.io.remote import read_config

    return read_config(rf)


def _read_config(rf: RunFiles) -> dict[str, Any]:
    """config.json beside the event files (the reference trainers write one), if readable; else the
    schedule of a TF Object Detection API ``pipeline.config`` in the run's directory."""
    dirs = [rf.path] + sorted({os.path.dirname(p) for p, split in rf.files if split})
    got = first_json_object(os.path.join(d, name) for d in dirs for name in CONFIG_NAMES)
    if got:
        return got
    try:
        with open(os.path.join(rf.path, "pipeline.config"), encoding="utf-8", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return {}
    return pipeline_config(text)


def first_json_object(paths: Iterable[str]) -> dict[str, Any]:
    """The first of ``paths`` that reads as a JSON object ({} when none does)."""
    for p in paths:
        try:
            with open(p, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return {}
