"""A content-addressed cache of finished trainings, shared across tunings and ``--out`` directories.

A training is addressed by the sha256 of its canonical description: the trainer's name, the
config as canonical JSON (sorted keys), the seed, the trainer's options, and the code version —
advisor's version and a hash of every ``.py`` file of the package the trainer is imported from
(``backends`` for the reference trainers, your own package for yours), so editing the trainer's
code is a miss. An entry holds the executor's outcome (``outcome.json``) and a copy of the logdir
the training wrote; a hit copies that logdir into the tuning's ``--out`` and is diagnosed again
there, so the findings always come from the current rules.

Only trainings that finished (``ok``) are cached; a crash or a usage error is tried again. Entries
are written to a temporary directory and renamed into place, so a reader never sees half of one
and two tunings writing the same entry at once both succeed.

Location: ``$ADVISOR_CACHE``, else ``$XDG_CACHE_HOME/advisor/trainings``, else
``~/.cache/advisor/trainings``; ``ADVISOR_CACHE=off`` (or ``advisor tune --no-cache``) disables it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Mapping

import advisor

DEFAULT = "default"  # TuneOptions.cache: resolve the location from the environment
OFF = "off"


def cache_root(setting: str | None) -> str | None:
    """The cache directory for a ``TuneOptions.cache`` setting (None or ``off``: no cache)."""
    if setting is None or setting == OFF:
        return None
    if setting != DEFAULT:
        return setting
    env = os.environ.get("ADVISOR_CACHE")
    if env:
        return None if env == OFF else env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "advisor", "trainings")


@functools.cache
def code_version(module_name: str) -> str:
    """advisor's version and a hash of the sources of the package ``module_name`` lives in."""
    top = module_name.partition(":")[0].split(".")[0]
    h = hashlib.sha256(f"advisor {advisor.__version__}\n".encode())
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        roots = list(spec.submodule_search_locations or [])
        files = []
        for root in roots:
            for dirpath, dirnames, names in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
                files += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".py")]
        if not roots and spec.origin and os.path.isfile(spec.origin):
            files = [spec.origin]
        for path in files:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            h.update(os.path.relpath(path, os.path.dirname(roots[0]) if roots else os.path.dirname(path)).encode() + b"\0")
            h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class TrainingCache:
    """Finished trainings of one trainer under ``root``, addressed by :meth:`key`."""

    root: str
    trainer: str  # the name load_trainer takes
    module_name: str  # where it is imported from (its package's sources are part of the key)

    def key(self, config: Mapping[str, Any], seed: int, options: Mapping[str, Any] | None = None) -> str:
        desc = {"trainer": self.trainer, "config": config, "seed": int(seed), "options": dict(options or {}), "code": code_version(self.module_name)}
        return hashlib.sha256(json.dumps(desc, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()

    def _dir(self, key: str) -> str:
        return os.path.join(self.root, key[:2], key)

    def restore(self, key: str, logdir: str) -> dict[str, Any] | None:
        """The cached outcome record, with its logdir copied to ``logdir``; None on a miss."""
        entry = self._dir(key)
        try:
            with open(os.path.join(entry, "outcome.json"), encoding="utf-8") as fh:
                rec = json.load(fh)
            if not isinstance(rec, dict) or rec.get("ok") is not True:
                return None
            if os.path.lexists(logdir):
                shutil.rmtree(logdir)
            shutil.copytree(os.path.join(entry, "logdir"), logdir)
        except (OSError, ValueError):
            return None
        return rec

    def store(self, key: str, logdir: str, record: Mapping[str, Any]) -> None:
        """Keep a finished training (its outcome record and a copy of its logdir); never raises."""
        if record.get("ok") is not True or not os.path.isdir(logdir):
            return
        entry = self._dir(key)
        if os.path.isdir(entry):
            return
        tmp = None
        try:
            os.makedirs(os.path.dirname(entry), exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(entry))
            shutil.copytree(logdir, os.path.join(tmp, "logdir"))
            with open(os.path.join(tmp, "outcome.json"), "w", encoding="utf-8") as fh:
                json.dump(dict(record), fh, default=str, allow_nan=True)
            os.rename(tmp, entry)
            tmp = None
        except OSError:
            pass  # a full disk or a concurrent writer: the cache is an optimisation only
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
