"""Healthy runs: a sampled grid over families, optimisers, schedules, cadences and writers.

Every base recipe carries a sensible lr per optimiser (what a practitioner would pick for that
model) and a length range in which it converges without overfitting. Combinations are sampled
with a fixed generator, not taken as a full product.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .recipe import D, L, M, O, case, log
from .spec import EPOCH, Case, DataSpec, LogSpec, ModelSpec


@dataclass(frozen=True)
class Base:
    key: str
    data: DataSpec
    model: ModelSpec
    lrs: tuple[tuple[str, float], ...]  # healthy lr per optimiser
    steps: tuple[int, int]
    batch: int = 32
    weight_decay: float = 0.0


BASES: tuple[Base, ...] = (
    Base("digits-mlp", D("digits"), M("mlp", 64, 2, dropout=0.1),
         (("sgd", 0.1), ("momentum", 0.02), ("adam", 1e-3), ("adamw", 1e-3)), (300, 900), weight_decay=1e-4),
    Base("digits-cnn", D("digits"), M("cnn", 32),
         (("sgd", 0.05), ("momentum", 0.01), ("adam", 1e-3), ("adamw", 1e-3)), (200, 450)),
    Base("spirals-mlp", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3),
         (("sgd", 0.3), ("momentum", 0.05), ("adam", 1e-3), ("adamw", 1e-3)), (1000, 2500), batch=64, weight_decay=5e-4),
    Base("blobs-mlp", D("blobs", n=4000), M("mlp", 32, 2),
         (("sgd", 0.05), ("momentum", 0.01), ("adam", 1e-3), ("adamw", 1e-3)), (300, 1200), batch=64),
    Base("friedman-mlp", D("friedman", n=4000), M("mlp", 64, 2),
         (("sgd", 0.05), ("momentum", 0.01), ("adam", 3e-3), ("adamw", 3e-3)), (800, 2500)),
    Base("breast-mlp", D("breast_cancer"), M("mlp", 32, 2, dropout=0.2),
         (("sgd", 0.05), ("momentum", 0.01), ("adam", 1e-3), ("adamw", 1e-3)), (150, 400), batch=16, weight_decay=1e-3),
    Base("wine-mlp", D("wine"), M("mlp", 32, 2),
         (("sgd", 0.05), ("momentum", 0.01), ("adam", 1e-3), ("adamw", 1e-3)), (200, 350), batch=16, weight_decay=1e-3),
    Base("iris-mlp", D("iris"), M("mlp", 16, 2),
         (("sgd", 0.1), ("momentum", 0.02), ("adam", 2e-3), ("adamw", 2e-3)), (200, 450), batch=16, weight_decay=1e-3),
    Base("seqcls-lstm", D("seqcls", n=5000), M("lstm", 32),
         (("sgd", 0.5), ("momentum", 0.1), ("adam", 3e-3), ("adamw", 3e-3)), (300, 600), batch=64),
    Base("majority-transformer", D("majority", n=6000), M("transformer", 32, 1),
         (("sgd", 0.1), ("momentum", 0.01), ("adam", 1e-3), ("adamw", 2e-3)), (200, 400), batch=32, weight_decay=1e-4),
    Base("seqcls-rnn", D("seqcls", n=5000), M("rnn", 32, activation="tanh"),
         (("sgd", 0.1), ("momentum", 0.02), ("adam", 3e-3), ("adamw", 3e-3)), (500, 900), batch=64),
)
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "onecycle", "cyclic", "linear")
# writer -> the train-loss cadences its users commonly choose
CADENCES: dict[str, tuple[int, ...]] = {
    "torch": (1, 10, 50, EPOCH), "tbx": (1, 10, 50, EPOCH), "lightning": (10, 50),
    "hf": (10, 50, 200), "keras": (EPOCH,), "spec": (1, 10),
}
WRITERS = tuple(CADENCES)


def _logspec(rng: random.Random, writer: str, steps: int, regression: bool) -> LogSpec:
    """A plausible logging setup: cadence the writer's users pick, and optional extras."""
    usable = [e for e in CADENCES[writer] if e == EPOCH or steps // e >= 8]
    every = rng.choice(usable)
    mode = ""
    if writer in ("torch", "tbx") and every > 1 and every != EPOCH:
        mode = rng.choice(("instant", "mean"))  # loss.item() at the step, or running_loss / N
    if writer == "lightning":
        mode = rng.choice(("instant", "epoch_mean"))  # on_epoch=True adds train_loss_epoch
    return log(writer, every, mode, grad_norm=rng.random() < 0.4 or writer == "hf", lr=rng.random() < 0.5,
               accuracy=not regression and rng.random() < 0.8, hparams=rng.random() < 0.3,
               config_json=rng.random() < 0.25, layer_norms=writer in ("spec", "torch") and rng.random() < 0.15,
               version=rng.choice((0, 0, 1, 3)) if writer == "lightning" else 0)


def sampled(n: int, seed: int = 1234) -> list[Case]:
    """n healthy cases; bases, optimisers and writers cycle with co-prime strides, the rest is drawn."""
    rng = random.Random(seed)
    out: list[Case] = []
    for i in range(n):
        base = BASES[i % len(BASES)]
        opt = OPTIMIZERS[(i // len(BASES) + i) % len(OPTIMIZERS)]
        writer = WRITERS[(i * 5 + i // 7) % len(WRITERS)]
        steps = rng.randrange(base.steps[0], base.steps[1] + 1, 50)
        sched = rng.choice(SCHEDULES)
        lr = dict(base.lrs)[opt]
        optim = O(opt, lr, batch_size=base.batch, weight_decay=base.weight_decay, schedule=sched,
                  warmup=0.05 if sched in ("warmup_cosine", "linear") else 0.0)
        evals = rng.choice((5, 10, 20, 30, 50))
        early = rng.choice((0, 0, 0, 5)) if steps >= 600 else 0
        logspec = _logspec(rng, writer, steps, base.data.name == "friedman")
        variant = f"{i:03d}-{base.key}-{opt}-{sched}-{writer}"
        out.append(case("healthy", variant, base.data, base.model, optim, L(steps, evals, early_stop=early), logspec))
    return out


def long_runs() -> list[Case]:
    """A few long converged runs (5k-20k steps) on small fast models, logged sparsely."""
    h = "healthy"
    return [
        case(h, "long-friedman-20k-adamw-cosine-hf", D("friedman", n=8000), M("mlp", 32, 2), O("adamw", 1e-3, schedule="cosine", batch_size=64), L(20000, 40, early_stop=8), log("hf", 200, grad_norm=True, lr=True)),
        case(h, "long-spirals-12k-sgd-step-torch", D("spirals", n=10000, difficulty=2.0), M("mlp", 32, 3), O("sgd", 0.1, schedule="step", batch_size=64), L(12000, 30), log("torch", 200, "mean")),
        case(h, "long-blobs-8k-adam-onecycle-tbx", D("blobs", n=8000), M("mlp", 32, 2), O("adam", 1e-3, schedule="onecycle", batch_size=64), L(8000, 40, early_stop=10), log("tbx", 50, lr=True)),
        case(h, "long-blobs-10k-momentum-const-spec", D("blobs", n=8000, classes=3), M("mlp", 16, 1), O("momentum", 0.002, batch_size=64, weight_decay=1e-3), L(10000, 50), log("spec", 50, lr=True, grad_norm=True)),
        case(h, "long-friedman-6k-sgd-cyclic-lightning", D("friedman", n=6000), M("mlp", 32, 2), O("sgd", 0.05, schedule="cyclic", batch_size=64), L(6000, 60), log("lightning", 50, lr=True)),
        case(h, "long-spirals-8k-adamw-warmupcos-spec", D("spirals", n=10000, difficulty=2.0), M("mlp", 32, 3), O("adamw", 3e-3, schedule="warmup_cosine", warmup=0.05, batch_size=64), L(8000, 100, early_stop=8), log("spec", 10, lr=True)),
    ]


def small_batches() -> list[Case]:
    """Healthy runs with noisy small batches at an lr scaled down to match, logged every step."""
    h = "healthy"
    return [
        case(h, "smallbatch-digits-mlp-bs8-sgd-cosine-torch1", D("digits"), M("mlp", 64, dropout=0.1), O("sgd", 0.02, batch_size=8, schedule="cosine", weight_decay=1e-4), L(1200, 12), log("torch", 1)),
        case(h, "smallbatch-friedman-mlp-bs8-adam-step-spec1", D("friedman", n=4000), M("mlp", 64), O("adam", 5e-4, batch_size=8, schedule="step"), L(2000, 10), log("spec", 1, lr=True)),
        case(h, "smallbatch-spirals-mlp-bs8-momentum-cosine-tbx1", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3), O("momentum", 0.01, batch_size=8, schedule="cosine"), L(3000, 15), log("tbx", 1)),
        case(h, "smallbatch-blobs-mlp-bs4-sgd-onecycle-lightning10", D("blobs", n=4000), M("mlp", 32), O("sgd", 0.01, batch_size=4, schedule="onecycle"), L(1500, 10), log("lightning", 10)),
        case(h, "smallbatch-wine-mlp-bs4-adam-linear-hf10", D("wine"), M("mlp", 32), O("adam", 3e-4, batch_size=4, schedule="linear", weight_decay=1e-3), L(400, 10), log("hf", 10)),
        case(h, "smallbatch-seqcls-lstm-bs8-adamw-warmupcos-torch10", D("seqcls", n=4000), M("lstm", 32), O("adamw", 1e-3, batch_size=8, schedule="warmup_cosine", warmup=0.05), L(1200, 12), log("torch", 10)),
    ]


def hard_tasks() -> list[Case]:
    """Healthy runs on tasks whose floor is high: overlapping classes (blobs spread far beyond
    their spacing) and noisy regression targets. A capable model stops at a loss well above zero
    with train and validation together, as an underfit one does; only the task sets the level."""
    h = "healthy"
    return [
        case(h, "hard-blobs8-spread5-mlp64-adam-torch1", D("blobs", n=4000, classes=8, difficulty=5.0), M("mlp", 64, 2), O("adam", 1e-3, batch_size=64), L(800, 10), log("torch", 1)),
        case(h, "hard-blobs6-spread6-mlp64-momentum-lightning10", D("blobs", n=4000, classes=6, difficulty=6.0), M("mlp", 64, 2), O("momentum", 0.02, batch_size=64), L(1000, 10), log("lightning", 10)),
        case(h, "hard-blobs4-spread4-mlp128-adamw-cosine-hf10", D("blobs", n=4000, classes=4, difficulty=4.0), M("mlp", 128, 2), O("adamw", 1e-3, schedule="cosine", batch_size=64), L(1000, 10), log("hf", 10, lr=True)),
        case(h, "hard-blobs10-spread6-mlp64-sgd-step-tbx-epoch", D("blobs", n=4000, classes=10, difficulty=6.0), M("mlp", 64, 2), O("sgd", 0.05, schedule="step", batch_size=64), L(1000, 10), log("tbx", EPOCH)),
        case(h, "hard-friedman-noisy-mlp32-adam-spec10", D("friedman", n=4000, target_noise=1.0), M("mlp", 32, 2), O("adam", 1e-3, batch_size=64, weight_decay=1e-3), L(500, 10), log("spec", 10, lr=True)),
        case(h, "hard-spirals-jitter3-mlp64-adam-keras", D("spirals", n=4000, difficulty=3.0), M("mlp", 64, 3), O("adam", 1e-3, batch_size=64), L(600, 12), log("keras")),
    ]


def restarts_and_big_batches() -> list[Case]:
    """Healthy runs under warm restarts (SGDR: the rate jumps back to its top three times, and
    the loss with it) and under batches of 512-1024 (smooth curves, few steps an epoch)."""
    h = "healthy"
    return [
        case(h, "sgdr-digits-mlp-sgd-torch1", D("digits"), M("mlp", 64, 2, dropout=0.1), O("sgd", 0.1, schedule="restarts"), L(800, 16), log("torch", 1)),
        case(h, "sgdr-spirals-mlp-adam-tbx10", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3), O("adam", 3e-3, schedule="restarts", batch_size=64), L(1000, 20), log("tbx", 10, lr=True)),
        case(h, "sgdr-seqcls-lstm-adamw-hf10", D("seqcls", n=5000), M("lstm", 32), O("adamw", 3e-3, schedule="restarts", batch_size=64), L(600, 12), log("hf", 10)),
        case(h, "sgdr-friedman-mlp-momentum-spec1", D("friedman", n=4000), M("mlp", 64), O("momentum", 0.01, schedule="restarts"), L(1600, 16), log("spec", 1, lr=True)),
        case(h, "bigbatch-digits-mlp-adam-bs512-torch1", D("digits"), M("mlp", 64), O("adam", 3e-3, batch_size=512), L(150, 10), log("torch", 1)),
        case(h, "bigbatch-spirals-mlp-momentum-bs1024-lightning10", D("spirals", n=8000, difficulty=1.5), M("mlp", 64, 3), O("momentum", 0.05, batch_size=1024), L(600, 12), log("lightning", 10)),
    ]


def resumed() -> list[Case]:
    """Healthy runs that start from a trained model (``pretrain`` steps of Adam before logging):
    a resumed run or a fine-tune at a small rate. The loss starts at its floor and stays there."""
    h = "healthy"
    return [
        case(h, "resume-digits-mlp-sgd-torch1", D("digits"), M("mlp", 64, 2, dropout=0.1), O("sgd", 0.01), L(300, 10, pretrain=400), log("torch", 1)),
        case(h, "resume-spirals-mlp-adam1e-4-tbx10", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3), O("adam", 1e-4, batch_size=64), L(600, 12, pretrain=1500), log("tbx", 10, lr=True)),
        case(h, "resume-seqcls-lstm-adamw3e-4-hf10", D("seqcls", n=5000), M("lstm", 32), O("adamw", 3e-4, batch_size=64), L(400, 10, pretrain=400), log("hf", 10)),
        case(h, "resume-friedman-mlp-momentum-spec1", D("friedman", n=4000), M("mlp", 64), O("momentum", 0.003), L(600, 12, pretrain=1500), log("spec", 1, lr=True)),
        case(h, "resume-blobs-mlp-adam-cosine-lightning10", D("blobs", n=4000), M("mlp", 32), O("adam", 3e-4, schedule="cosine", batch_size=64), L(400, 8, pretrain=300), log("lightning", 10)),
        case(h, "resume-digits-cnn-adam-keras", D("digits"), M("cnn", 32), O("adam", 1e-4), L(300, 10, pretrain=300), log("keras")),
    ]


def keras_batch_logs() -> list[Case]:
    """Keras with TensorBoard(update_freq=N): besides epoch_loss, a batch_loss every N batches that
    is the mean of the epoch's losses so far — a sawtooth with the epoch period on a healthy run."""
    h = "healthy"
    return [
        case(h, "kbatch-digits-mlp-adam-keras1", D("digits"), M("mlp", 64, 2, dropout=0.1), O("adam", 1e-3), L(500, 15), log("keras", 1)),
        case(h, "kbatch-spirals-mlp-adam-keras10", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3), O("adam", 3e-3, batch_size=64), L(800, 16), log("keras", 10, lr=True)),
        case(h, "kbatch-seqcls-lstm-adam-keras5", D("seqcls", n=5000), M("lstm", 32), O("adam", 3e-3, batch_size=64), L(500, 10), log("keras", 5)),
        case(h, "kbatch-wine-mlp-sgd-keras1", D("wine"), M("mlp", 32), O("sgd", 0.05, batch_size=16), L(300, 10), log("keras", 1)),
        case(h, "kbatch-friedman-mlp-momentum-cosine-keras20", D("friedman", n=4000), M("mlp", 64), O("momentum", 0.01, schedule="cosine"), L(1500, 15), log("keras", 20)),
        case(h, "kbatch-digits-cnn-sgd-step-keras2", D("digits"), M("cnn", 32), O("sgd", 0.05, schedule="step"), L(450, 10), log("keras", 2)),
    ]


def label_smoothing() -> list[Case]:
    """Cross-entropy against smoothed targets (0.1-0.2), in training and evaluation: the loss's
    floor sits well above zero however well the model fits."""
    h = "healthy"
    return [
        case(h, "ls0.1-digits-mlp-adam-torch1", D("digits"), M("mlp", 64, 2, dropout=0.1), O("adam", 1e-3), L(600, 10, label_smoothing=0.1), log("torch", 1)),
        case(h, "ls0.2-digits-cnn-sgd-lightning10", D("digits"), M("cnn", 32), O("sgd", 0.05), L(450, 10, label_smoothing=0.2), log("lightning", 10)),
        case(h, "ls0.1-seqcls-lstm-adamw-hf10", D("seqcls", n=5000), M("lstm", 32), O("adamw", 3e-3, batch_size=64), L(500, 10, label_smoothing=0.1), log("hf", 10)),
        case(h, "ls0.2-wine-mlp-adam-keras", D("wine"), M("mlp", 32), O("adam", 3e-3, batch_size=16), L(300, 10, label_smoothing=0.2), log("keras")),
        case(h, "ls0.2-blobs-mlp-adam-cosine-spec1", D("blobs", n=4000), M("mlp", 32), O("adam", 1e-3, schedule="cosine", batch_size=64), L(600, 12, label_smoothing=0.2), log("spec", 1, lr=True, hparams=True)),
        case(h, "ls0.1-spirals-mlp-adam-tbx10", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3), O("adam", 3e-3, batch_size=64), L(1200, 12, label_smoothing=0.1), log("tbx", 10)),
    ]


def imbalanced() -> list[Case]:
    """A majority class of 70-90% (the others subsampled): accuracy starts near the majority's
    share, not 1/C, and the loss near the prior's entropy after the first steps."""
    h = "healthy"
    return [
        case(h, "imb0.9-blobs2-mlp-adam-torch1", D("blobs", n=8000, classes=2, majority=0.9, difficulty=2.0), M("mlp", 32), O("adam", 1e-3, batch_size=64), L(600, 10), log("torch", 1)),
        case(h, "imb0.9-breast-mlp-adam-hf10", D("breast_cancer", majority=0.9), M("mlp", 32, 2, dropout=0.2), O("adam", 1e-3, batch_size=16, weight_decay=1e-3), L(200, 10), log("hf", 10)),
        case(h, "imb0.8-digits-mlp-sgd-lightning10", D("digits", majority=0.8), M("mlp", 64, 2, dropout=0.1), O("sgd", 0.1), L(300, 10), log("lightning", 10)),
        case(h, "imb0.7-blobs5-mlp-momentum-spec1", D("blobs", n=8000, classes=5, majority=0.7, difficulty=2.0), M("mlp", 32), O("momentum", 0.01, batch_size=64), L(800, 10), log("spec", 1, lr=True, hparams=True)),
        case(h, "imb0.9-spirals-mlp-adam-tbx10", D("spirals", n=8000, difficulty=1.5, majority=0.9), M("mlp", 64, 3), O("adam", 3e-3, batch_size=64), L(1200, 12), log("tbx", 10)),
        case(h, "imb0.85-seqcls-lstm-adam-keras", D("seqcls", n=8000, majority=0.85), M("lstm", 32), O("adam", 3e-3, batch_size=64), L(400, 10), log("keras")),
    ]


def scales_and_lengths() -> list[Case]:
    """Regression targets in raw units (loss in the hundreds to thousands), 50-100 classes (ln C
    near 4-4.6), and runs of 60-80 steps."""
    h = "healthy"
    return [
        case(h, "raw100-friedman-mlp-adam-torch1", D("friedman", n=4000, target_scale=100.0), M("mlp", 64), O("adam", 3e-3, batch_size=64), L(1500, 15), log("torch", 1)),
        case(h, "raw10-friedman-mlp-adam-cosine-hf10", D("friedman", n=4000, target_scale=10.0), M("mlp", 64), O("adam", 3e-3, schedule="cosine", batch_size=64), L(1500, 15), log("hf", 10, lr=True)),
        case(h, "c100-blobs-mlp128-adam-torch1", D("blobs", n=20000, classes=100, difficulty=0.3), M("mlp", 128, 2), O("adam", 2e-3, batch_size=128), L(1500, 15), log("torch", 1)),
        case(h, "c50-blobs-mlp128-adamw-lightning10", D("blobs", n=10000, classes=50, difficulty=0.3), M("mlp", 128, 2), O("adamw", 2e-3, batch_size=128), L(800, 12), log("lightning", 10)),
        case(h, "short60-digits-mlp-adam-torch1", D("digits"), M("mlp", 64, 2), O("adam", 3e-3), L(60, 5), log("torch", 1)),
        case(h, "short80-spirals-mlp-adam-spec1", D("spirals", n=4000), M("mlp", 64, 3), O("adam", 1e-2, batch_size=64), L(80, 4), log("spec", 1, lr=True)),
    ]


def transfer() -> list[Case]:
    """Transfer learning: a pretrained body under a fresh head that trains alone for 30-50% of the
    run, then the body unfreezes (gradual fine-tuning)."""
    h = "healthy"
    return [
        case(h, "ft-digits-mlp-adam-torch1", D("digits"), M("mlp", 64, 2), O("adam", 1e-3), L(600, 12, pretrain=200, head_only=0.4), log("torch", 1)),
        case(h, "ft-spirals-mlp-adam-tbx10", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3), O("adam", 1e-3, batch_size=64), L(800, 12, pretrain=600, head_only=0.3), log("tbx", 10, lr=True)),
        case(h, "ft-seqcls-lstm-adamw-hf10", D("seqcls", n=5000), M("lstm", 32), O("adamw", 1e-3, batch_size=64), L(600, 12, pretrain=200, head_only=0.5), log("hf", 10)),
        case(h, "ft-digits-cnn-momentum-lightning10", D("digits"), M("cnn", 32), O("momentum", 0.01), L(600, 12, pretrain=150, head_only=0.3), log("lightning", 10)),
        case(h, "ft-blobs-mlp-adam-keras", D("blobs", n=4000, difficulty=1.5), M("mlp", 32), O("adam", 1e-3, batch_size=64), L(600, 12, pretrain=100, head_only=0.5), log("keras")),
    ]


def batch_index_steps() -> list[Case]:
    """Plain scripts that log the train loss against the batch index within the epoch
    (``add_scalar("loss", loss, batch_idx)``): the step restarts at 0 every epoch."""
    h = "healthy"
    return [
        case(h, "bidx-digits-mlp-adam-torch1", D("digits"), M("mlp", 64, 2, dropout=0.1), O("adam", 1e-3), L(600, 12), log("torch", 1, batch_index_steps=True)),
        case(h, "bidx-spirals-mlp-sgd-tbx1", D("spirals", n=4000, difficulty=1.5), M("mlp", 64, 3), O("sgd", 0.3, batch_size=64), L(1200, 12), log("tbx", 1, batch_index_steps=True)),
        case(h, "bidx-seqcls-lstm-adam-torch10", D("seqcls", n=5000), M("lstm", 32), O("adam", 3e-3, batch_size=64), L(600, 12), log("torch", 10, batch_index_steps=True)),
    ]


def ci_cases() -> list[Case]:
    """About a dozen short healthy runs covering each family, optimiser, schedule, cadence and writer."""
    h = "healthy"
    return [
        case(h, "ci-digits-mlp-adam-const-torch1", D("digits"), M("mlp", 64, dropout=0.1), O("adam", 1e-3), L(250, 10), log("torch", 1), ci=True),
        case(h, "ci-digits-cnn-adam-step-lightning", D("digits"), M("cnn", 16), O("adam", 2e-3, schedule="step"), L(200, 6), log("lightning", 10, lr=True), ci=True),
        case(h, "ci-spirals-mlp-adamw-cosine-spec", D("spirals"), M("mlp", 64, 3), O("adamw", 3e-3, schedule="cosine", batch_size=64), L(600, 12), log("spec", 1, lr=True, grad_norm=True, hparams=True, config_json=True), ci=True),
        case(h, "ci-friedman-mlp-momentum-onecycle-hf", D("friedman"), M("mlp", 32), O("momentum", 0.01, schedule="onecycle"), L(500, 10), log("hf", 10, grad_norm=True, lr=True), ci=True),
        case(h, "ci-blobs-mlp-sgd-cyclic-tbx50", D("blobs", n=4000), M("mlp", 32), O("sgd", 0.05, schedule="cyclic", batch_size=64), L(500, 10), log("tbx", 50, "mean"), ci=True),
        case(h, "ci-wine-mlp-adam-warmupcos-keras", D("wine"), M("mlp", 32), O("adam", 3e-3, schedule="warmup_cosine", warmup=0.05, batch_size=16, weight_decay=1e-2), L(200, 10), log("keras", lr=True), ci=True),
        case(h, "ci-seqcls-lstm-adam-cosine-torch10", D("seqcls", n=3000), M("lstm", 16), O("adam", 3e-3, schedule="cosine", batch_size=64), L(200, 8), log("torch", 10), ci=True),
        case(h, "ci-majority-transformer-adamw-warmupcos-hf", D("majority", n=3000), M("transformer", 32, 1), O("adamw", 2e-3, schedule="warmup_cosine", warmup=0.1, batch_size=64), L(200, 5), log("hf", 10, lr=True), ci=True),
        case(h, "ci-iris-mlp-momentum-linear-spec10", D("iris"), M("mlp", 16), O("momentum", 0.02, schedule="linear", batch_size=16), L(300, 10), log("spec", 10, lr=True), ci=True),
        case(h, "ci-breast-mlp-adamw-const-torch-epoch", D("breast_cancer"), M("mlp", 32, dropout=0.2), O("adamw", 1e-3, batch_size=16, weight_decay=1e-3), L(200, 8), log("torch", EPOCH), ci=True),
        case(h, "ci-friedman-mlp-adam-step-lightning50", D("friedman", n=3000), M("mlp", 32), O("adam", 3e-3, schedule="step", batch_size=64), L(800, 8), log("lightning", 50, "epoch_mean"), ci=True),
        case(h, "ci-spirals-mlp-sgd-const-tbx1", D("spirals"), M("mlp", 64, 3), O("sgd", 0.3, batch_size=64), L(600, 10), log("tbx", 1, grad_norm=True), ci=True),
    ]


def healthy(n_sampled: int = 200) -> list[Case]:
    return ci_cases() + long_runs() + small_batches() + hard_tasks() + restarts_and_big_batches() + resumed() + keras_batch_logs() + label_smoothing() + imbalanced() + scales_and_lengths() + transfer() + batch_index_steps() + sampled(n_sampled)
