"""Values in: what a live monitor keeps of the scalars a training loop hands it.

A :class:`Recorder` is the part of :class:`advisor.live.Monitor` that holds data; the adapters
(``advisor.live.torch``, ``advisor.live.optax``, ``advisor.live.lightning``) feed it through
:meth:`Recorder.record` and report their own failures through :meth:`Recorder.report_failure`.

How it stays cheap. :meth:`Recorder.log` and :meth:`Recorder.record` only append the value as
given (a torch tensor is detached, not read; a jax array is kept as it is) to a pending list.
:meth:`Recorder.drain`, which the monitor calls at its cadence points, moves the pending values
to the host in one go — one ``torch.cat(...).cpu()`` per device, dtype and layout, one
``jax.device_get`` for all jax arrays (:func:`to_host`) — and appends them to a bounded
:class:`~advisor.live.reservoir.Reservoir` per stream, and, with ``tee``, to a TensorBoard event
file at full resolution (:mod:`advisor.live.tee`). One memory budget bounds all reservoirs
together: as streams multiply, per-layer gradient norms and then other streams are coarsened,
the run's main streams never (:mod:`advisor.live.budget`).

Names. Keyword names are mapped onto the tags advisor's role resolution knows (SPEC §6), so
``advisor analyze`` on a ``tee`` directory resolves them the same way:

=================================================  =====================
``log(step, NAME=...)``                            stored as
=================================================  =====================
``loss``, ``train_loss``, ``training_loss``         ``train/loss``
``val_loss``, ``valid_loss``, ``eval_loss``         ``val/loss``
``test_loss``                                      ``test/loss``
``acc``, ``accuracy``, ``train_acc(uracy)``         ``train/accuracy``
``val_acc(uracy)``, ``valid_acc``, ``eval_acc``     ``val/accuracy``
``lr``, ``learning_rate``                          ``train/lr``
``grad_norm``, ``gradient_norm``                   ``train/grad_norm``
``update_ratio``                                   ``train/update_ratio``
anything else (and any name passed in a mapping)   as given
=================================================  =====================

Names in a mapping (``mon.log(step, {"train/grad_norm/fc1": g})``) are kept as given; any tag
the role resolution understands works (``Loss/val``, ``val_f1``, ...), and a ``[signals]``
mapping in the config overrides it.

Failure. Nothing here raises into the training loop: a value that is not a number (a string,
a meta, sparse or quantized tensor, an int too large for a float), a vector where a scalar was
expected, or a failing tee is logged once per kind and tag (logger ``advisor.live``, through
:meth:`Recorder.report_failure`) and skipped. A bad value costs only itself: when the batched
transfer of its group fails, that group is read value by value and the good values are kept.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from advisor.live.budget import MemoryBudget, Shape
from advisor.live.reservoir import Reservoir
from advisor.live.tee import Columns, Tee
from advisor.model import Run, Series

log = logging.getLogger("advisor.live")

ALIASES: dict[str, str] = {}
for _tag, _names in {
    "train/loss": ("loss", "train_loss", "training_loss", "loss_train"),
    "val/loss": ("val_loss", "valid_loss", "validation_loss", "eval_loss", "loss_val"),
    "test/loss": ("test_loss",),
    "train/accuracy": ("acc", "accuracy", "train_acc", "train_accuracy"),
    "val/accuracy": ("val_acc", "val_accuracy", "valid_acc", "validation_accuracy", "eval_acc", "eval_accuracy"),
    "train/lr": ("lr", "learning_rate"),
    "train/grad_norm": ("grad_norm", "gradient_norm", "grad_norm_total"),
    "train/update_ratio": ("update_ratio",),
}.items():
    for _n in _names:
        ALIASES[_n] = _tag

#: Flags of :meth:`Recorder.record` (plain ints, not an enum: they are tested once per value on
#: the transfer path). DROP_NONFINITE: a NaN/Inf value is not a data point (an AMP step the
#: scaler skipped); L2_BY_TAG: a vector of per-parameter norms whose tags repeat, combined per
#: tag as sqrt(sum of squares) (per-layer gradient norms from per-tensor norms).
DROP_NONFINITE, L2_BY_TAG = 1, 2


def tag_for(name: str) -> str:
    """The stored tag for a ``log`` keyword name (see the module docstring)."""
    return ALIASES.get(name, name)


# -- converting logged values ---------------------------------------------------------------------

_HOST, _TORCH, _JAX, _OTHER = 0, 1, 2, 3
_KINDS: dict[type, int] = {float: _HOST, int: _HOST, bool: _HOST}


def _kind(t: type) -> int:
    k = _KINDS.get(t)
    if k is None:
        mod = t.__module__ or ""
        if mod.startswith("torch"):
            k = _TORCH
        elif mod.startswith(("jax", "jaxlib")):
            k = _JAX
        elif mod.startswith("numpy"):
            k = _HOST
        else:
            k = _OTHER
        _KINDS[t] = k
    return k


def to_host(values: Sequence[Any], errors: dict[int, BaseException] | None = None) -> list[np.ndarray | None]:
    """Move many logged values to the host at once; each comes back as a float64 1-d array.

    A value that cannot be read as numbers (a string, an object without ``__float__``, a meta,
    sparse or quantized tensor, an int too large for a float) comes back None, and with
    ``errors`` its exception is stored there by index.

    Torch tensors are concatenated per device, dtype and layout and copied with one ``.cpu()``
    each; jax arrays go through one ``jax.device_get``. This is the only place the monitor reads
    device memory (the tests count its calls to prove there is no per-step sync). A group whose
    batched copy fails is read value by value, so one bad value costs only itself.
    """
    errors = {} if errors is None else errors
    out: list[np.ndarray | None] = [None] * len(values)
    groups: dict[tuple[int, Any], list[int]] = {}
    for i, v in enumerate(values):
        k = _kind(type(v))
        try:
            if k == _TORCH:
                groups.setdefault((k, (v.device, v.dtype, v.layout)), []).append(i)
            elif k == _JAX:
                groups.setdefault((k, None), []).append(i)
            else:
                out[i] = np.asarray(v if isinstance(v, np.ndarray) else [float(v)], dtype=np.float64).reshape(-1)
        except Exception as e:  # OverflowError, a failing __float__, a torch object that is no tensor
            errors[i] = e
    for (k, _), idx in groups.items():
        _group_to_host(_torch_to_host if k == _TORCH else _jax_to_host, values, idx, out, errors)
    return out


def _group_to_host(convert: Callable[[list[Any]], list[np.ndarray]], values: Sequence[Any], idx: list[int], out: list[np.ndarray | None], errors: dict[int, BaseException]) -> None:
    """One batched transfer of ``values[idx]`` into ``out``; when it fails, one per value (slow,
    but only for a batch that holds a value no transfer can read)."""
    try:
        flat = convert([values[i] for i in idx])
    except Exception:
        for i in idx:
            try:
                out[i] = convert([values[i]])[0]
            except Exception as e:
                errors[i] = e
        return
    for i, a in zip(idx, flat):
        out[i] = a


def _torch_to_host(ts: list[Any]) -> list[np.ndarray]:
    torch = sys.modules["torch"]
    sizes = [t.numel() for t in ts]
    flat = torch.cat([t.reshape(-1) for t in ts]).cpu()
    if flat.dtype in (torch.bfloat16, torch.float16) or not (flat.is_floating_point() or flat.dtype in (torch.int64, torch.int32, torch.bool)):
        flat = flat.float()
    arr = flat.numpy().astype(np.float64)
    return np.split(arr, np.cumsum(sizes)[:-1])


def _jax_to_host(xs: list[Any]) -> list[np.ndarray]:
    jax = sys.modules["jax"]
    return [np.asarray(a, dtype=np.float64).reshape(-1) for a in jax.device_get(xs)]


def _keep(v: Any) -> Any:
    """What to hold until the cadence: the value itself, detached from autograd when a tensor."""
    t = type(v)
    if t is float or t is int:
        return v
    if _kind(t) == _TORCH:
        try:
            return v.detach()
        except Exception:  # a torch object that is no tensor: to_host reports it with its tag
            return v
    return v


def _l2_by_tag(tags: Sequence[str], arr: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for t, x in zip(tags, arr.tolist()):
        out[t] = out.get(t, 0.0) + x * x
    return {t: math.sqrt(v) for t, v in out.items()}


# -- the recorder ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """How much a recorder holds: per stream (see :class:`~advisor.live.reservoir.Reservoir`),
    for all streams together (``budget`` bytes, None: no bound; see
    :mod:`advisor.live.budget`) and between cadence points (``max_pending`` values before the
    monitor transfers early)."""

    window: int = 1024
    bins: int = 512
    head: int = 32
    max_pending: int = 100_000
    budget: int | None = 64 * 2**20


#: A pending value: (tag or tuple of tags, step, wall time, value, flags). A plain tuple, not a
#: dataclass: one is built per logged value on the training loop's own time.
_Entry = tuple



class Recorder:
    """Pending values, their host transfer, a reservoir per stream, the tee; see the module doc.

    Args:
        memory: per-stream memory and the pending cap.
        tee: a directory: everything drained is also written there as a TensorBoard event file
            (advisor's own writer), at full resolution.
        hparams: written to ``tee`` (the run's hyperparameters).
    """

    def __init__(self, memory: Memory = Memory(), tee: str | None = None, hparams: Mapping[str, Any] | None = None) -> None:
        self.memory = memory
        self.transfer_seconds = 0.0  # total time spent moving values to the host
        self._pending: list[_Entry] = []
        self._series: dict[str, Reservoir] = {}
        self._budget = MemoryBudget(memory.budget, Shape(memory.window, memory.bins), memory.head, ALIASES.values())
        self._failed: set[str] = set()
        self._tee = Tee(tee, hparams, self.report_failure) if tee is not None else None

    # -- values in -------------------------------------------------------------------------------

    def log(self, step: int, scalars: Mapping[str, Any] | None = None, /, **named: Any) -> None:
        """Queue scalars at ``step``; keyword names are mapped (``loss`` -> ``train/loss``, ...),
        names in ``scalars`` are kept. Nothing is read until :meth:`drain`."""
        self.log_named(step, scalars, named)

    def log_named(self, step: int, scalars: Mapping[str, Any] | None, named: Mapping[str, Any]) -> None:
        """:meth:`log` with the keyword names as a mapping (the monitor's per-step path)."""
        wall = time.time()
        append = self._pending.append
        if scalars:
            for tag, v in scalars.items():
                append((tag, step, wall, _keep(v), 0))
        aliases = ALIASES
        for k, v in named.items():
            append((aliases.get(k, k), step, wall, _keep(v), 0))

    def record(self, tags: str | tuple[str, ...], step: int, value: Any, flags: int = 0) -> None:
        """Queue one value for a framework hook: a scalar under ``tags`` (a tag, kept as given),
        or a 1-d vector with one entry per tag of a tuple. ``flags``: :data:`DROP_NONFINITE`,
        :data:`L2_BY_TAG`. The value is held as given (a device tensor stays on its device)."""
        self._pending.append((tags, step, time.time(), value, flags))

    @property
    def pending(self) -> int:
        """How many values wait for the next :meth:`drain`."""
        return len(self._pending)

    @property
    def full(self) -> bool:
        """Whether the pending values reached ``memory.max_pending`` (time for an early drain)."""
        return len(self._pending) >= self.memory.max_pending

    # -- transfer ----------------------------------------------------------------------------------

    def drain(self) -> dict[str, np.ndarray] | None:
        """Move the pending values to the host, into the reservoirs and the tee.

        Returns the new values per tag (what the tripwires look at), or None when nothing was
        pending. A value that cannot be read is reported and skipped.
        """
        if not self._pending:
            return None
        t0 = time.perf_counter()
        pend, self._pending = self._pending, []
        errors: dict[int, BaseException] = {}
        cols = self._columns(pend, to_host([e[3] for e in pend], errors), errors)
        new: dict[str, np.ndarray] = {}
        n_streams = len(self._series)
        for tag, (s, v, w) in cols.items():
            res = self._series.get(tag)
            if res is None:
                res = self._series[tag] = self._budget.reservoir(tag)
            new[tag] = vals = np.asarray(v, dtype=np.float64)
            res.extend(np.asarray(s, dtype=np.int64), vals, np.asarray(w, dtype=np.float64))
        self._fit_budget(len(self._series) > n_streams)
        self.transfer_seconds += time.perf_counter() - t0
        if self._tee is not None:
            self._tee.write(cols)
        return new

    def _columns(self, pend: list[_Entry], host: list[np.ndarray | None], errors: Mapping[int, BaseException]) -> Columns:
        cols: Columns = {}
        for i, ((tags, step, wall, value, flags), arr) in enumerate(zip(pend, host)):
            if arr is None:
                self._skipped(tags, value, errors.get(i))
                continue
            if isinstance(tags, str):
                if arr.size != 1:
                    self.report_failure(f"shape:{tags}", ValueError(f"{tags}: expected a scalar, got {arr.size} values; skipped"))
                    continue
                pairs: Iterable[tuple[str, float]] = ((tags, arr[0]),)
            elif flags & L2_BY_TAG:
                pairs = _l2_by_tag(tags, arr).items()
            else:
                pairs = zip(tags, arr)
            for tag, v in pairs:
                v = float(v)
                if flags & DROP_NONFINITE and not math.isfinite(v):
                    continue
                c = cols.get(tag)
                if c is None:
                    c = cols[tag] = ([], [], [])
                c[0].append(step)
                c[1].append(v)
                c[2].append(wall)
        return cols

    def _skipped(self, tags: str | tuple[str, ...], value: Any, exc: BaseException | None) -> None:
        """Report a value no transfer could read, once per tag (the tag names the culprit)."""
        why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        self.report_failure(f"value:{tags}", TypeError(f"{tags}: {type(value).__name__} is not a number{why}; skipped"))

    # -- memory ------------------------------------------------------------------------------------

    def _fit_budget(self, added: bool) -> None:
        """After a drain: coarsen streams when new ones joined (see :mod:`advisor.live.budget`),
        and report once if they hold more than the budget at their coarsest."""
        if "memory budget" in self._failed:
            return  # reported: the streams stay at their coarsest, and counting them again is waste
        try:
            if added:
                self._budget.plan(self._series)
            used = self._budget.over(self._series)
        except Exception as e:
            self.report_failure("memory budget", e)
            return
        if used is not None:
            budget = self.memory.budget or 0
            msg = f"{len(self._series)} streams hold {used / 2**20:.0f} MiB at their coarsest, over the {budget / 2**20:.0f} MiB budget; log fewer streams or raise it"
            self.report_failure("memory budget", MemoryError(msg))

    def prioritize(self, keep: Iterable[str], layers: Iterable[str] = ()) -> None:
        """Tell the memory budget what the role resolution found: the tags of the run's roles
        (``keep``: never coarsened) and its per-layer gradient norms (coarsened first)."""
        try:
            self._budget.prioritize(keep, layers, self._series)
        except Exception as e:
            self.report_failure("memory budget", e)

    # -- what is held --------------------------------------------------------------------------------

    @property
    def series(self) -> Mapping[str, Reservoir]:
        """The reservoir of each stream drained so far, by tag (read-only)."""
        return MappingProxyType(self._series)

    def run(self, name: str, hparams: Mapping[str, Any]) -> Run:
        """The drained values as a :class:`~advisor.model.Run` (raw recent window, downsampled
        older history); pending values are not in it."""
        series = {}
        for tag, res in self._series.items():
            s, v, w = res.points()
            series[tag] = Series.from_points(tag, s, v, w)
        return Run(name=name, path="", series=series, hparams=dict(hparams))

    @property
    def tee(self) -> Tee | None:
        """The event file everything drained is also written to (``tee=``), or None."""
        return self._tee

    @property
    def tee_writer(self) -> Any:
        """The tee's event writer (``add_text`` for the findings table), None without a tee."""
        return self._tee.writer if self._tee is not None else None

    def close(self) -> None:
        """Close the tee (the reservoirs stay readable)."""
        if self._tee is not None:
            self._tee.close()

    # -- failure -------------------------------------------------------------------------------------

    def report_failure(self, where: str, exc: BaseException) -> None:
        """Log a failure of the monitor's own machinery once per ``where``, and go on.

        For adapters too: a hook that fails reports here (``"grad hook"``, ``"optax ring"``, ...)
        instead of raising into the training loop.
        """
        if where in self._failed:
            return
        self._failed.add(where)
        log.warning("advisor live monitor: %s failed (%s: %s); continuing without it", where, type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))

    @property
    def failures(self) -> frozenset[str]:
        """Where failures were reported so far (each logged once)."""
        return frozenset(self._failed)
