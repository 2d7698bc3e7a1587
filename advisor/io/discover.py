"""Find training runs in a directory tree and group their event files.

A run is a directory that directly holds event files (any file whose name contains
``tfevents``, TensorBoard's own test). Several files in one directory merge in name order,
which is write order for every writer's naming scheme. A directory whose subdirectories are
splits — Keras ``train/`` + ``validation/``, ``train/`` + ``valid/``, Catalyst ``train_log/`` +
``valid_log/``, ``train/`` + ``test/`` — or whose own event files sit beside one split
subdirectory (TF Estimator's ``eval/``) is one run whose streams carry the split as a role hint
(a lone ``train/`` is a run of its own: Ultralytics names runs ``train``, ``train2``, ...); leaf subdirectories beside the splits (Catalyst ``_base_log/``, TimeGAN's extra
streams) join that run too. ``SummaryWriter.add_scalars``' per-key subdirectories (``Loss_train/``,
``Loss_val/`` beside the writer's own file) are that run's splits, keyed by the key
(:func:`_add_scalars_sides`). Hidden directories are skipped; symlinked directories are followed
once (loops are safe). Lightning's ``lightning_logs/version_N`` and Hugging Face's
``runs/<date>_<host>`` are ordinary run directories.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from dataclasses import dataclass

#: Subdirectory names that mean "this is one split of the parent run", by canonical split.
SPLIT_NAMES: dict[str, str] = {}
for _canon, _names in {
    "train": ("train", "training", "train_log", "train_logs", "trn", "train_inner"),  # fairseq: train_inner per update
    "val": ("validation", "valid", "val", "valid_log", "val_log", "validation_log", "eval", "evaluation", "dev"),
    "test": ("test", "test_log", "testing"),
}.items():
    for _n in _names:
        SPLIT_NAMES[_n] = _canon


# ``SummaryWriter.add_hparams`` (torch, tensorboardX; the Hugging Face Trainer calls it) writes
# the run's hyperparameters into a subdirectory named by ``str(time.time())``. It is part of
# the run that holds it: discovery merges it into its parent as this side, whose files give the
# run its hparams and texts but no series (its scalars repeat the run's final metrics).
HPARAMS_SIDE = "#hparams"
_HPARAMS_DIR = re.compile(r"^\d{9,11}\.\d+$")


def is_hparams_dir(name: str) -> bool:
    """Whether a directory's name is the ``time.time()`` stamp ``add_hparams`` names its subdirectory by."""
    return _HPARAMS_DIR.match(name) is not None


def split_kind(name: str | None) -> str | None:
    """Canonical split ('train', 'val', 'test') of a directory name, or None. TF Estimator names
    a named evaluation's directory ``eval_<name>`` (the Object Detection API's is ``eval_0``)."""
    if not name:
        return None
    low = name.lower()
    return SPLIT_NAMES.get(low) or ("val" if low.startswith("eval_") and len(low) > 5 else None)


def is_event_file_name(name: str) -> bool:
    return "tfevents" in name


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: object) -> bool:
    """Whether ``path`` is a URL (``s3://bucket/runs``): read through :mod:`advisor.io.remote`."""
    return isinstance(path, str) and _URL.match(path) is not None


@dataclass(frozen=True)
class RunFiles:
    """The event files of one run, each with the split subdirectory it came from (or None)."""

    name: str  # relative to the analysed root (the root's own name when the root is the run)
    path: str  # absolute run directory
    files: tuple[tuple[str, str | None], ...]  # (absolute path, split dir name or None)


@dataclass(frozen=True)
class Discovery:
    runs: tuple[RunFiles, ...]
    problems: tuple[str, ...]  # unreadable directories, broken links, ...


def discover(root: str | os.PathLike[str], name_prefix: str | None = None) -> Discovery:
    """Walk ``root`` (a directory or a single event file) and return its runs, sorted by name."""
    root = os.fspath(root)
    problems: list[str] = []
    if os.path.isfile(root):
        ap = os.path.abspath(root)
        name = name_prefix if name_prefix is not None else os.path.basename(ap)
        return Discovery((RunFiles(name, os.path.dirname(ap), ((ap, None),)),), ())
    event_dirs = _walk(os.path.abspath(root), problems)
    runs = _group(os.path.abspath(root), event_dirs)
    # The analysed path being the run itself: SPEC §4 names it by its directory, never '.'.
    own = name_prefix if name_prefix is not None else (os.path.basename(os.path.abspath(root)) or ".")
    runs = [RunFiles(own if r.name == "." else r.name if name_prefix is None else os.path.join(name_prefix, r.name), r.path, r.files) for r in runs]
    runs.sort(key=lambda r: _natural_key(r.name))
    return Discovery(tuple(runs), tuple(problems))


def _walk(root: str, problems: list[str]) -> dict[str, list[str]]:
    """Map each directory under root that holds event files to those files (sorted)."""
    out: dict[str, list[str]] = {}
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
        except OSError as e:
            problems.append(f"{d}: cannot read directory ({e.strerror or e})")
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            continue  # a symlink loop, or the same directory reached twice
        seen.add(ident)
        files: list[str] = []
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            problems.append(f"{d}: cannot read directory ({e.strerror or e})")
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir(follow_symlinks=True):
                    subdirs.append(e.path)
                elif is_event_file_name(e.name):
                    if e.is_file(follow_symlinks=True) or _is_regular(e.path):
                        files.append(e.path)
                    elif e.is_symlink() and not os.path.exists(e.path):
                        problems.append(f"{e.path}: broken symbolic link")
            except OSError as exc:
                problems.append(f"{e.path}: cannot read ({exc.strerror or exc})")
        if files:
            out[d] = sorted(files, key=_natural_key)
        stack.extend(reversed(subdirs))
    return out


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def group_runs(root: str, event_dirs: dict[str, list[str]], sep: str = "/") -> list[RunFiles]:
    """Group directories holding event files (directory -> its files, sorted) under ``root``
    into runs, by the rules of a local walk; for a listing of '/'-separated object paths."""
    if sep != os.sep:
        raise ValueError(f"separator {sep!r} is not this platform's")
    return _group(root, event_dirs)


def natural_key(s: str) -> list[object]:
    return _natural_key(s)


def _group(root: str, event_dirs: dict[str, list[str]]) -> list[RunFiles]:
    """Merge split subdirectories into their parent run; every other event dir is a run."""
    children_of: dict[str, list[str]] = {}
    for d in event_dirs:
        if d != root:
            children_of.setdefault(os.path.dirname(d), []).append(d)
    prefixes = sorted(event_dirs)
    has_nested = {d: _has_below(prefixes, d + os.sep) for d in event_dirs}
    consumed: set[str] = set()
    runs: list[RunFiles] = []
    for parent, children in children_of.items():
        if parent != root and not parent.startswith(root + os.sep):
            continue  # never merge above what the user pointed at
        leaves = [c for c in children if not has_nested[c]]
        # add_hparams' time-named subdirectory belongs to the run beside it
        stamped = [c for c in leaves if is_hparams_dir(os.path.basename(c))] if event_dirs.get(parent) else []
        leaves = [c for c in leaves if c not in stamped]
        # add_scalars' per-key subdirectories: one side each, named by the key's split
        scal = _add_scalars_sides(leaves) if event_dirs.get(parent) else {}
        kinds = {split_kind(os.path.basename(c)) for c in leaves if c not in scal} - {None}
        # A split needs a sibling split (Keras train/ + validation/), or a parent that holds the
        # other side itself (TF Estimator's model_dir + eval/), or TF2 summary files (``.v2``: the
        # Keras callback writes <log_dir>/train and <log_dir>/validation, and a fit without
        # validation data only the first). A lone train/ of other writers is a run of its own
        # (Ultralytics names its runs train, train2, ...).
        tf2 = bool(kinds) and all(f.endswith(".v2") for c in leaves if split_kind(os.path.basename(c)) for f in event_dirs[c])
        split = len(kinds) >= 2 or bool(kinds and event_dirs.get(parent)) or tf2 or bool(scal)
        if not split and not stamped:
            continue
        leaves = leaves if split else []
        files: list[tuple[str, str | None]] = [(f, None) for f in event_dirs.get(parent, [])]
        for c in leaves:
            files.extend((f, scal.get(c, os.path.basename(c))) for f in event_dirs[c])
        for c in stamped:
            files.extend((f, HPARAMS_SIDE) for f in event_dirs[c])
        consumed.update(leaves)
        consumed.update(stamped)
        consumed.add(parent)
        runs.append(RunFiles(_rel(root, parent), parent, tuple(files)))
    for d, files in event_dirs.items():
        if d not in consumed:
            runs.append(RunFiles(_rel(root, d), d, tuple((f, None) for f in files)))
    return runs


_SCALARS_DIR = re.compile(r"^(.+)_([^_]+)$")


def _add_scalars_sides(leaves: list[str]) -> dict[str, str]:
    """{leaf: side} for ``SummaryWriter.add_scalars``' subdirectories: torch and tensorboardX
    write ``add_scalars("Loss", {"train": ..., "val": ...})`` into ``<log_dir>/Loss_train`` and
    ``<log_dir>/Loss_val`` (each holding the tag ``Loss``) beside the writer's own file in
    ``<log_dir>``. A leaf named ``<main tag>_<key>`` whose key is a split name, when leaves of the
    run name two splits or more, is that split of the run (the side is the key: ``train/Loss``).
    Sweeps (``runs/exp_1``, ``runs/exp_2``) have no split key and no file of the parent's own."""
    sides = {}
    for c in leaves:
        m = _SCALARS_DIR.match(os.path.basename(c))
        if m and split_kind(m.group(2)) is not None:
            sides[c] = m.group(2)
    return sides if len({split_kind(v) for v in sides.values()}) >= 2 else {}


def _has_below(ordered: list[str], prefix: str) -> bool:
    """Whether a string of the sorted ``ordered`` starts with ``prefix``: they sort together,
    from the first one not below it (a bisection: a sweep of 10,000 runs is not quadratic)."""
    i = bisect.bisect_left(ordered, prefix)
    return i < len(ordered) and ordered[i].startswith(prefix)


def _rel(root: str, d: str) -> str:
    rel = os.path.relpath(d, root)
    return "." if rel == os.curdir else rel


def _natural_key(s: str) -> list[object]:
    """Sort 'version_10' after 'version_9'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]
