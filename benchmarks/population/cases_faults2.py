"""Fault recipes, part 2: generalisation, training length, schedules, validation and heads."""

from __future__ import annotations

from .recipe import D, L, M, O, case, log
from .spec import Case, DataSpec, LogSpec


def overfitting() -> list[Case]:
    c = "overfitting"
    # few training samples, a wide model, long training and some label noise
    return [
        case(c, "digits150-mlp512-adam", D("digits", train_size=150, label_noise=0.2), M("mlp", 512), O("adam", 1e-3), L(800, 16), log("torch", 10), ci=True),
        case(c, "breast100-mlp256-adam", D("breast_cancer", train_size=100, label_noise=0.2), M("mlp", 256, 3), O("adam", 1e-3, batch_size=16), L(1000, 20), log("hf", 10)),
        case(c, "spirals150-mlp256-adamw", D("spirals", train_size=150, label_noise=0.25), M("mlp", 256, 3), O("adamw", 3e-3, weight_decay=0.0001), L(2000, 20), log("spec", 10)),
        case(c, "seqcls150-lstm64-lightning", D("seqcls", train_size=150, label_noise=0.1), M("lstm", 64), O("adam", 3e-3, batch_size=16), L(600, 10), log("lightning", 10)),
        case(c, "digits200-cnn-sgd", D("digits", train_size=200, label_noise=0.2), M("cnn", 64), O("momentum", 0.02), L(500, 10), log("tbx", 10)),
        case(c, "seqcls200-lstm-adam", D("seqcls", train_size=200), M("lstm", 64), O("adam", 3e-3, batch_size=16), L(600, 12), log("torch", 1)),
        case(c, "digits100-mlp256-momentum-hf", D("digits", train_size=100, label_noise=0.1), M("mlp", 256, 2), O("momentum", 0.02, batch_size=16), L(1000, 20), log("hf", 50)),
        case(c, "wine60-mlp256-keras", D("wine", train_size=60, label_noise=0.25), M("mlp", 256, 2), O("adam", 1e-3, batch_size=8), L(640, 25), log("keras")),
    ]


def underfitting() -> list[Case]:
    c = "underfitting"
    cap = {"capacity": "up"}
    return [
        case(c, "spirals-width2-adam", D("spirals"), M("mlp", 2, 1), O("adam", 1e-2), L(1200, 12), log("torch", 1), ci=True, direction=cap),
        case(c, "spirals-linear-sgd", D("spirals"), M("mlp", 2, 0), O("sgd", 0.1), L(2000, 10), log("tbx", 10), direction=cap),
        case(c, "spirals-width3-tanh-momentum", D("spirals"), M("mlp", 3, 1, activation="tanh"), O("momentum", 0.05), L(3000, 15), log("hf", 50), direction=cap),
        case(c, "spirals-width2-depth2-adamw", D("spirals", difficulty=2.0), M("mlp", 2, 2), O("adamw", 1e-2), L(3000, 15), log("spec", 10, lr=True, hparams=True, config_json=True), direction=cap),
        case(c, "digits-width2-adam", D("digits"), M("mlp", 2, 1), O("adam", 3e-3), L(2500, 10), log("lightning", 10), direction=cap),
        case(c, "spirals-width2-sgd-hf", D("spirals"), M("mlp", 2, 1), O("sgd", 0.1), L(2000, 10), log("hf", 10), direction=cap),
        case(c, "spirals-width2-keras", D("spirals"), M("mlp", 2, 1), O("adam", 1e-2), L(1500, 30), log("keras"), direction=cap),
        case(c, "digits-width2-tanh-sgd", D("digits"), M("mlp", 2, 1, activation="tanh"), O("sgd", 0.1), L(600, 10), log("tbx", 1), direction=cap),
    ]


def still_improving() -> list[Case]:
    c = "still-improving"
    # healthy recipes stopped at a fraction of the steps they need
    return [
        case(c, "spirals-adam-300", D("spirals"), M("mlp", 64, 3), O("adam", 1e-3), L(300, 10), log("torch", 1), ci=True),
        case(c, "friedman-adam-250", D("friedman"), M("mlp", 64), O("adam", 1e-3), L(250, 10), log("hf", 10, lr=True)),
        case(c, "digits-sgd-200", D("digits"), M("mlp", 64), O("sgd", 0.02), L(200, 8), log("tbx", 1)),
        case(c, "spirals-sgd-400-lightning", D("spirals"), M("mlp", 64, 3), O("sgd", 0.1, batch_size=64), L(400, 8), log("lightning", 10)),
        case(c, "majority-transformer-200", D("majority"), M("transformer", 32, 1), O("adamw", 3e-4), L(200, 8), log("spec", 1)),
        case(c, "blobs-momentum-150", D("blobs", difficulty=1.5), M("mlp", 32), O("momentum", 0.002), L(300, 10), log("torch", 10)),
        case(c, "wine-adam-keras", D("wine"), M("mlp", 32), O("adam", 3e-4, batch_size=16), L(200, 10), log("keras")),
        case(c, "digits-cnn-200", D("digits"), M("cnn", 32), O("sgd", 0.01), L(200, 8), log("spec", 1)),
    ]


def lr_decay_needed() -> list[Case]:
    c = "lr-decay-needed"
    fr, sp = D("friedman", n=4000), D("spirals", difficulty=3.0)
    # constant lr on tasks with irreducible noise: real progress, then a noisy floor that a decay
    # would get below
    return [
        case(c, "friedman-sgd-const", fr, M("mlp", 64), O("sgd", 0.1, batch_size=16), L(2500, 10), log("torch", 1), ci=True),
        case(c, "spirals-adam-const", sp, M("mlp", 64, 3), O("adam", 1e-2, batch_size=16), L(3000, 15), log("tbx", 1)),
        case(c, "blobs-sgd-bs8", D("blobs", n=4000, difficulty=1.5), M("mlp", 32), O("sgd", 0.1, batch_size=8), L(3000, 15), log("spec", 1, lr=True)),
        case(c, "friedman-adam-const", fr, M("mlp", 64), O("adam", 1e-2, batch_size=16), L(4000, 15), log("lightning", 2, lr=True)),
        case(c, "friedman-adam-const-torch5", fr, M("mlp", 64), O("adam", 1e-2, batch_size=16), L(3000, 10), log("torch", 5)),
        case(c, "friedman-momentum-const-spec", fr, M("mlp", 64), O("momentum", 0.05, batch_size=16), L(3000, 10), log("spec", 1)),
        case(c, "spirals-adam-const-lightning", sp, M("mlp", 64, 3), O("adam", 1e-2, batch_size=16), L(3000, 10), log("lightning", 1)),
        case(c, "spirals-sgd-const-tbx", sp, M("mlp", 64, 3), O("sgd", 0.3, batch_size=16), L(3000, 10), log("tbx", 2)),
    ]


def schedule_misconfigured() -> list[Case]:
    c = "schedule-misconfigured"
    return [
        case(c, "linear-horizon-quarter-adamw", D("digits"), M("mlp", 64), O("adamw", 1e-3, schedule="linear", horizon=0.25, warmup=0.02), L(400, 10), log("hf", 10, lr=True), ci=True, also_ok=("still-improving",)),
        case(c, "cosine-tmax-quarter-sgd", D("spirals"), M("mlp", 64, 3), O("sgd", 0.3, schedule="cosine", horizon=0.25), L(1500, 15), log("torch", 10, lr=True)),
        case(c, "cosine-tmax-epochs-cnn", D("digits"), M("cnn", 32), O("momentum", 0.02, schedule="cosine_epochs"), L(400, 10), log("lightning", 1, lr=True)),
        case(c, "warmup-whole-run-adam", D("friedman"), M("mlp", 64), O("adam", 3e-3, schedule="warmup_only", warmup=1.0), L(1000, 10), log("tbx", 10, lr=True), direction={"warmup": "down"}),
        case(c, "never-stepped-adamw-transformer", D("majority"), M("transformer", 32, 1), O("adamw", 6e-4, schedule="never"), L(250, 10), log("hf", 10, lr=True), also_ok=("no-learning",), direction={"lr": "up"}),
        case(c, "never-stepped-adam-lstm", D("seqcls"), M("lstm", 32), O("adam", 1e-3, schedule="never"), L(300, 10), log("spec", 1, lr=True, hparams=True), also_ok=("no-learning",), direction={"lr": "up"}),
        case(c, "linear-horizon-third-keras", D("wine"), M("mlp", 32), O("adam", 3e-3, schedule="linear", horizon=0.3, batch_size=16), L(450, 10), log("keras", lr=True)),
        case(c, "warmup-longer-than-run-spec", D("blobs"), M("mlp", 32), O("sgd", 0.1, schedule="warmup_only", warmup=1.5), L(800, 10), log("spec", 10, lr=True), direction={"warmup": "down"}),
        case(c, "cosine-tmax-quarter-adam-hf", D("breast_cancer"), M("mlp", 32), O("adam", 1e-3, schedule="warmup_cosine", warmup=0.02, horizon=0.2), L(600, 10), log("hf", 10, lr=True)),
    ]


def val_below_train() -> list[Case]:
    c = "val-below-train"
    return [
        case(c, "dropout0.8-digits-mlp", D("digits"), M("mlp", 256, 2, dropout=0.8), O("adam", 1e-3), L(400, 10), log("torch", 10), ci=True),
        case(c, "dropout0.8-digits-mlp-tbx", D("digits"), M("mlp", 128, 2, dropout=0.8), O("sgd", 0.05), L(600, 12), log("tbx", 10)),
        case(c, "dropout0.75-spirals-mlp", D("spirals"), M("mlp", 256, 3, dropout=0.75), O("adamw", 1e-3), L(1500, 15), log("spec", 10)),
        case(c, "dropout0.8-digits-cnn", D("digits"), M("cnn", 64, dropout=0.8), O("momentum", 0.02), L(400, 10), log("lightning", 10)),
        case(c, "dropout0.7-breast-mlp", D("breast_cancer"), M("mlp", 128, 2, dropout=0.7), O("sgd", 0.05), L(500, 10), log("hf", 10)),
        case(c, "dropout0.8-digits-mlp-torch1", D("digits"), M("mlp", 256, 2, dropout=0.8), O("adamw", 1e-3), L(500, 10), log("torch", 1)),
        case(c, "dropout0.5-majority-transformer", D("majority"), M("transformer", 64, 1, dropout=0.5), O("adamw", 1e-3), L(300, 10), log("spec", 1)),
        case(c, "dropout0.8-friedman-keras", D("friedman"), M("mlp", 256, 2, dropout=0.8), O("adam", 1e-3), L(1000, 20), log("keras")),
    ]


def data_mismatch() -> list[Case]:
    c = "data-mismatch"
    data = {"data": "check"}

    def blobs(k: int, noise: float) -> DataSpec:
        return D("blobs", n=4000, classes=k, difficulty=0.5, label_noise=noise)

    # the training labels are corrupted (a pipeline bug) while validation is clean: the training
    # loss barely moves while the validation loss improves
    return [
        case(c, "blobs2-train-labels-corrupt-sgd", blobs(2, 0.8), M("mlp", 16), O("sgd", 0.05), L(600, 12), log("torch", 1), ci=True, direction=data),
        case(c, "blobs2-train-labels-momentum-hf", blobs(2, 0.8), M("mlp", 16), O("momentum", 0.005), L(800, 16), log("hf", 10), direction=data),
        case(c, "blobs3-train-labels-sgd-keras", blobs(3, 0.85), M("mlp", 16), O("sgd", 0.02), L(1500, 10), log("keras"), direction=data),
        case(c, "blobs4-train-labels-sgd-spec", blobs(4, 0.9), M("mlp", 16), O("sgd", 0.05), L(800, 16), log("spec", 1, lr=True), direction=data),
        case(c, "blobs3-train-labels-sgd-lightning", blobs(3, 0.85), M("mlp", 32, 2), O("sgd", 0.03), L(1000, 10), log("lightning", 10), direction=data),
        case(c, "blobs2-train-labels-tbx-mean", blobs(2, 0.85), M("mlp", 16, 1), O("sgd", 0.03, batch_size=64), L(1000, 20), log("tbx", 10, "mean"), direction=data),
        case(c, "blobs3-train-labels-adamw-hf", blobs(3, 0.85), M("mlp", 16), O("adamw", 1e-4), L(800, 16), log("hf", 10), direction=data),
        case(c, "blobs4-train-labels-momentum-torch", blobs(4, 0.9), M("mlp", 32), O("momentum", 0.005), L(800, 20), log("torch", 10), direction=data),
    ]


def noisy_validation() -> list[Case]:
    c = "noisy-validation"
    tiny = {"val_size": 20}

    def sample(k: int, evals: int, steps: int) -> L:
        return L(steps, evals, val_sample=k)  # one small random val batch per evaluation

    return [
        case(c, "valbatch16-digits-mlp", D("digits"), M("mlp", 64), O("adam", 1e-3), sample(16, 80, 400), log("torch", 10), ci=True),
        case(c, "val20-spirals-mlp-sgd-bs8", D("spirals", **tiny), M("mlp", 64, 3), O("sgd", 0.1, batch_size=8), L(800, 100), log("tbx", 10)),
        case(c, "valbatch20-spirals-mlp", D("spirals"), M("mlp", 64, 3), O("adam", 3e-3), sample(20, 100, 1500), log("spec", 10)),
        case(c, "valbatch20-friedman-mlp", D("friedman"), M("mlp", 64), O("adamw", 3e-3), sample(20, 100, 1200), log("hf", 10)),
        case(c, "val20-digits-cnn-bs8", D("digits", **tiny), M("cnn", 32), O("momentum", 0.03, batch_size=8), L(400, 50), log("lightning", 10)),
        case(c, "valbatch16-seqcls-lstm", D("seqcls"), M("lstm", 32), O("adam", 3e-3), sample(16, 60, 500), log("torch", 10)),
        case(c, "valbatch16-majority-transformer", D("majority"), M("transformer", 32, 1), O("adamw", 2e-3), sample(16, 50, 300), log("hf", 10)),
        case(c, "val20-breast-keras-bs4", D("breast_cancer", **tiny), M("mlp", 32), O("sgd", 0.05, batch_size=4), L(1500, 50), log("keras")),
    ]


def clipping_saturated() -> list[Case]:
    c = "clipping-saturated"

    def lg(writer: str, every: int) -> LogSpec:
        return log(writer, every, grad_norm=True, hparams=True, config_json=True)

    return [
        case(c, "clip0.05-digits-sgd", D("digits"), M("mlp", 64), O("sgd", 0.5, clip=0.05), L(400, 10), lg("torch", 1), ci=True),
        case(c, "clip0.01-digits-adam", D("digits"), M("mlp", 64), O("adam", 1e-3, clip=0.01), L(400, 10), lg("spec", 1)),
        case(c, "clip0.05-friedman-sgd", D("friedman"), M("mlp", 64), O("sgd", 0.1, clip=0.05), L(800, 10), lg("hf", 10)),
        case(c, "clip0.02-spirals-momentum", D("spirals"), M("mlp", 64, 3), O("momentum", 0.05, clip=0.02), L(1000, 10), lg("lightning", 10)),
        case(c, "clip0.01-seqcls-lstm-adam", D("seqcls"), M("lstm", 32), O("adam", 3e-3, clip=0.01), L(400, 10), lg("tbx", 10)),
        case(c, "clip0.01-majority-transformer", D("majority"), M("transformer", 32, 1), O("adamw", 2e-3, clip=0.01), L(300, 10), lg("hf", 10)),
        case(c, "clip0.05-digits-cnn-sgd", D("digits"), M("cnn", 32), O("sgd", 0.3, clip=0.05), L(300, 10), lg("spec", 10)),
        case(c, "clip0.02-breast-momentum", D("breast_cancer"), M("mlp", 32), O("momentum", 0.05, clip=0.02), L(500, 10), lg("torch", 10)),
    ]


def bad_initial_loss() -> list[Case]:
    c = "bad-initial-loss"
    return [
        case(c, "bias30-digits-mlp-adam", D("digits"), M("mlp", 64, out_bias=30.0), O("adam", 1e-3), L(300, 10), log("torch", 1), ci=True),
        case(c, "bias20-blobs-mlp-sgd", D("blobs"), M("mlp", 32, out_bias=20.0), O("sgd", 0.05), L(500, 10), log("tbx", 1)),
        case(c, "bias25-spirals-mlp-adamw", D("spirals"), M("mlp", 64, 3, out_bias=25.0), O("adamw", 1e-3), L(1000, 10), log("spec", 1, hparams=True)),
        case(c, "bias40-digits-cnn-momentum", D("digits"), M("cnn", 32, out_bias=40.0), O("momentum", 0.01), L(300, 10), log("lightning", 10)),
        case(c, "bias30-breast-mlp-hf", D("breast_cancer"), M("mlp", 32, out_bias=30.0), O("sgd", 0.01), L(500, 10), log("hf", 10)),
        case(c, "bias30-wine-keras", D("wine"), M("mlp", 32, out_bias=30.0), O("sgd", 0.005, batch_size=16), L(450, 15), log("keras")),
        case(c, "bias20-seqcls-lstm", D("seqcls"), M("lstm", 32, out_bias=20.0), O("adam", 1e-3), L(300, 10), log("torch", 10)),
        case(c, "bias20-majority-transformer", D("majority"), M("transformer", 32, 1, out_bias=20.0), O("adamw", 1e-3), L(250, 10), log("hf", 10)),
    ]
