"""Shorthands for writing cases: a log spec per writer habit and a case constructor."""

from __future__ import annotations

from .spec import EPOCH, Case, DataSpec, LogSpec, LoopSpec, ModelSpec, OptimSpec

# The default loss reduction of each writer at a given cadence (see cadence.py).
_MODE = {"hf": "mean", "keras": "epoch_mean"}


def log(writer: str, every: int | None = None, mode: str = "", **kw: object) -> LogSpec:
    """A LogSpec with the writer's habitual loss reduction unless one is given. ``every``: the
    train-loss cadence in steps (default 1); Keras logs per epoch unless a cadence is given — then
    TensorBoard(update_freq=every) adds ``batch_loss`` beside ``epoch_loss``."""
    if writer == "keras" and every is None:
        every = EPOCH
    every = 1 if every is None else every
    if not mode:
        mode = "epoch_mean" if every == EPOCH or writer == "keras" else _MODE.get(writer, "instant")
    return LogSpec(writer=writer, log_every=every, loss_mode=mode, **kw)  # type: ignore[arg-type]  # flags only


def case(condition: str, variant: str, data: DataSpec, model: ModelSpec, optim: OptimSpec, loop: LoopSpec,
         logspec: LogSpec, *, ci: bool = False, also_ok: tuple[str, ...] = (), alt: tuple[str, ...] = (),
         direction: dict[str, str] | None = None) -> Case:
    return Case(
        name=f"{condition}/{variant}", condition=condition, variant=variant, data=data, model=model, optim=optim,
        loop=loop, log=logspec, also_ok=also_ok, expected_extra=alt,
        direction=tuple(sorted(direction.items())) if direction is not None else (), ci=ci,
    )


D, M, O, L = DataSpec, ModelSpec, OptimSpec, LoopSpec
