"""What one case is: the knobs of a small training script and the label of the fault it carries.

A case is a frozen dataclass so that it can be shipped to a spawned worker, hashed into a name
and dumped into the manifest as plain JSON. The fields are grouped the way an engineer thinks
about a script: the data, the model, the optimiser and schedule, the loop, and the logging.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# SPEC §2 conditions the population injects (validation-overuse needs a sweep and is not a run's).
CONDITIONS: tuple[str, ...] = (
    "lr-too-high",
    "non-finite",
    "divergence",
    "exploding-gradients",
    "vanishing-gradients",
    "no-learning",
    "plateau",
    "slow-convergence",
    "oscillation",
    "unshuffled-data",
    "gradient-noise",
    "overfitting",
    "underfitting",
    "still-improving",
    "lr-decay-needed",
    "schedule-misconfigured",
    "val-below-train",
    "data-mismatch",
    "noisy-validation",
    "clipping-saturated",
    "bad-initial-loss",
)
HEALTHY = "healthy"

# Writers (tag layouts) a case can be logged with.
WRITERS: tuple[str, ...] = ("torch", "tbx", "lightning", "hf", "keras", "spec")
# log_every value meaning "once per epoch" (the Keras habit, and many plain scripts').
EPOCH = 0


@dataclass(frozen=True)
class DataSpec:
    name: str  # digits | wine | breast_cancer | iris | spirals | blobs | friedman | adding | seqcls | majority
    n: int = 0  # synthetic sample count (0: the dataset's default)
    train_size: int = 0  # keep only this many training samples (0: all)
    val_size: int = 0  # validation samples (0: a fifth of the data)
    label_noise: float = 0.0  # share of training labels replaced at random (validation stays clean)
    target_noise: float = 0.0  # regression: noise sd added to training targets only
    difficulty: float = 1.0  # synthetic noise level (spiral jitter, blob spread)
    classes: int = 4  # blobs: number of centres
    majority: float = 0.0  # class 0's share after subsampling the other classes (0: as generated)
    target_scale: float = 0.0  # regression: targets in raw units times this, not standardised (0: standardised)


@dataclass(frozen=True)
class ModelSpec:
    family: str  # mlp | cnn | lstm | rnn | transformer
    width: int = 64
    depth: int = 2  # hidden layers (mlp), encoder layers (transformer), conv blocks (cnn)
    activation: str = "relu"
    dropout: float = 0.0
    init_scale: float = 1.0  # multiplies the default init of every weight (rnn: the recurrent matrix)
    out_bias: float = 0.0  # added to the output bias at init (a broken head)


@dataclass(frozen=True)
class OptimSpec:
    name: str  # sgd | momentum | adam | adamw
    lr: float
    batch_size: int = 32
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"  # see optim.make_scheduler; "never": a LambdaLR whose step() is never called
    horizon: float = 1.0  # the schedule's length as a share of the run (misconfigured: 0.25)
    warmup: float = 0.0  # warmup share of the run
    clip: float | None = None  # max grad norm
    lr_growth: float = 1.0  # schedule "ramp": the lr is multiplied by this over the run, geometrically


@dataclass(frozen=True)
class LoopSpec:
    steps: int
    eval_count: int = 20
    shuffle: bool = True
    early_stop: int = 0  # patience in evaluations (0: none)
    nan_from: float = 0.0  # share of the run after which a corrupted shard feeds NaN inputs
    frozen: bool = False  # the optimiser holds a stale copy of the parameters
    sort_by_class: bool = False  # unshuffled and ordered by label
    val_sample: int = 0  # evaluate on a fresh random subset of this many samples (one val batch)
    pretrain: int = 0  # steps of Adam 1e-3 before the logged run starts (a resumed or fine-tuned model)
    label_smoothing: float = 0.0  # cross-entropy against smoothed targets (train and validation)
    head_only: float = 0.0  # transfer learning: after ``pretrain``, a fresh head trains alone for this share of the run


@dataclass(frozen=True)
class LogSpec:
    writer: str = "torch"
    log_every: int = 1  # train-loss cadence in steps, or EPOCH
    loss_mode: str = "instant"  # instant | mean (over the window) | epoch_mean
    grad_norm: bool = False
    layer_norms: bool = False
    lr: bool = False
    accuracy: bool = True
    hparams: bool = False
    config_json: bool = False
    version: int = 0  # lightning_logs/version_N
    batch_index_steps: bool = False  # plain writers: add_scalar(..., batch_idx) — the step restarts every epoch


@dataclass(frozen=True)
class Case:
    name: str
    condition: str  # one of CONDITIONS or HEALTHY
    variant: str  # the recipe's short description (why the fault is there)
    data: DataSpec
    model: ModelSpec
    optim: OptimSpec
    loop: LoopSpec
    log: LogSpec
    also_ok: tuple[str, ...] = ()
    expected_extra: tuple[str, ...] = ()  # honest alternatives to the condition as top finding
    direction: tuple[tuple[str, str], ...] = ()  # knob directions the cause implies
    ci: bool = False  # part of the --size ci selection
    seeds: int = 0  # seeds for this case in full (0: the --seeds default)

    def knobs(self) -> dict[str, Any]:
        """Flat knob dict for the manifest: the axes the scorer slices results by, then the rest."""
        o, lp, lg = self.optim, self.loop, self.log
        head: dict[str, Any] = {
            "family": self.model.family,
            "data": self.data.name,
            "optimizer": o.name,
            "lr": o.lr,
            "batch_size": o.batch_size,
            "schedule": o.schedule,
            "steps": lp.steps,
            "log_every": "epoch" if lg.log_every == EPOCH else lg.log_every,
            "eval_count": lp.eval_count,
            "writer": lg.writer,
        }
        rest = {k: v for k, v in _flat(self).items() if k not in head}
        return {**head, **rest}


def _flat(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in ("data", "model", "optim", "loop", "log"):
        for k, v in dataclasses.asdict(getattr(case, group)).items():
            out[f"{group}.{k}" if k in out or k == "name" else k] = v
    return out


@dataclass
class Label:
    """The manifest entry of one generated run."""

    run: str
    case: str
    seed: int
    split: str
    condition: str
    injected: str  # the recipe's condition; differs from `condition` when a run overshot into NaN
    expected: list[str]
    also_ok: list[str]
    direction: dict[str, str]
    knobs: dict[str, Any]
    verified: bool
    check: str
    variant: str = ""
    actual_steps: int = 0
    seconds: float = 0.0  # wall clock of the worker
    cpu_seconds: float = 0.0  # CPU time of the worker (what sizes the run on a dedicated core)
    extra: dict[str, Any] = field(default_factory=dict)
