"""Fault recipes, part 3: a second recipe set written after the rules, on other datasets, models
and writers than parts 1 and 2 — a check that each condition is found the way it is caused, not
the way its first recipes happened to look. The labels follow the conventions of parts 1 and 2
(the same also-acceptable findings per condition)."""

from __future__ import annotations

from .recipe import D, L, M, O, case, log
from .spec import Case, OptimSpec


def _ramp(name: str, lr: float, factor: float) -> OptimSpec:
    return O(name, lr, lr_growth=factor, schedule="ramp")


def second_recipes() -> list[Case]:
    srt = {"shuffle": False, "sort_by_class": True}
    jump, tiny = ("no-learning",), ("schedule-misconfigured",)
    return [
        case("overfitting", "r2-iris40-mlp256-adam-hf10", D("iris", train_size=40, label_noise=0.2), M("mlp", 256), O("adam", 3e-3, batch_size=8), L(800, 16), log("hf", 10)),
        case("overfitting", "r2-seqcls200-lstm64-adam-lightning10", D("seqcls", train_size=200, label_noise=0.2), M("lstm", 64), O("adam", 3e-3, batch_size=16), L(1200, 20), log("lightning", 10)),
        case("overfitting", "r2-blobs100-mlp512-adam-keras", D("blobs", train_size=100, label_noise=0.3, difficulty=1.5), M("mlp", 512, 3), O("adam", 1e-3, batch_size=16), L(800, 20), log("keras")),
        case("lr-too-high", "r2-adam5-blobs-mlp-hf10", D("blobs"), M("mlp", 64), O("adam", 5.0), L(400, 10), log("hf", 10, lr=True), also_ok=jump),
        case("lr-too-high", "r2-sgd30-iris-mlp-tbx1", D("iris"), M("mlp", 32), O("sgd", 30.0, batch_size=16), L(300, 10), log("tbx", 1), also_ok=jump),
        case("lr-too-high", "r2-adam2-digits-cnn-keras", D("digits"), M("cnn", 32), O("adam", 2.0), L(450, 10), log("keras", lr=True), also_ok=jump),
        case("divergence", "r2-adam-ramp-seqcls-lstm-spec1", D("seqcls"), M("lstm", 32), _ramp("adam", 1e-3, 1000.0), L(500, 10), log("spec", 1, lr=True), also_ok=("lr-too-high",)),
        case("divergence", "r2-momentum-ramp-blobs-lightning10", D("blobs"), M("mlp", 32), _ramp("momentum", 0.01, 500.0), L(600, 10), log("lightning", 10), also_ok=("lr-too-high",)),
        case("no-learning", "r2-shuffled-labels-blobs-adam-lightning10", D("blobs", label_noise=1.0), M("mlp", 32), O("adam", 1e-3), L(400, 10), log("lightning", 10), direction={"data": "check"}),
        case("no-learning", "r2-lr1e-7-spirals-adam-hf10", D("spirals"), M("mlp", 64, 3), O("adam", 1e-7), L(500, 10), log("hf", 10, lr=True), direction={"lr": "up"}, also_ok=tiny),
        case("unshuffled-data", "r2-sorted-iris-mlp-adam-spec1", D("iris"), M("mlp", 16), O("adam", 1e-3, batch_size=8), L(600, 12, **srt), log("spec", 1)),
        case("unshuffled-data", "r2-sorted-breast-mlp-sgd-torch1", D("breast_cancer"), M("mlp", 32), O("sgd", 0.05, batch_size=16), L(600, 12, **srt), log("torch", 1)),
        case("bad-initial-loss", "r2-bias25-wine-mlp-adam-tbx1", D("wine"), M("mlp", 32, out_bias=25.0), O("adam", 1e-3, batch_size=16), L(300, 10), log("tbx", 1)),
        case("slow-convergence", "r2-sgd1e-3-blobs-mlp-lightning10", D("blobs"), M("mlp", 32), O("sgd", 1e-3), L(1500, 15), log("lightning", 10), also_ok=("still-improving",)),
        case("non-finite", "r2-nan-inputs-wine-mlp-hf10", D("wine"), M("mlp", 32), O("adam", 1e-3, batch_size=16), L(400, 10, nan_from=0.5), log("hf", 10), direction={}),
        case("oscillation", "r2-momentum0.99-blobs", D("blobs"), M("mlp", 64, 2), O("momentum", 0.05, momentum=0.99, batch_size=64), L(800, 16), log("torch", 1), alt=("lr-too-high",), also_ok=("divergence",)),
        case("oscillation", "r2-momentum0.995-wine", D("wine"), M("mlp", 64, 2), O("momentum", 0.02, momentum=0.995, batch_size=16), L(800, 16), log("spec", 1), alt=("lr-too-high",), also_ok=("divergence",)),
        case("gradient-noise", "r2-bs2-blobs-adam-lightning1", D("blobs"), M("mlp", 32), O("adam", 3e-3, batch_size=2), L(1500, 15), log("lightning", 1)),
        case("val-below-train", "r2-dropout0.8-wine-mlp-hf10", D("wine"), M("mlp", 256, 2, dropout=0.8), O("adam", 1e-3, batch_size=16), L(600, 12), log("hf", 10)),
        case("val-below-train", "r2-dropout0.75-blobs-mlp-lightning10", D("blobs", n=4000, difficulty=1.5), M("mlp", 256, 2, dropout=0.75), O("adam", 1e-3), L(800, 12), log("lightning", 10)),
        case("data-mismatch", "r2-blobs4-train-labels-adam-lightning10", D("blobs", n=4000, classes=4, difficulty=0.5, label_noise=0.85), M("mlp", 16), O("adam", 1e-3), L(800, 12), log("lightning", 10), direction={"data": "check"}),
        case("noisy-validation", "r2-valbatch16-blobs-mlp-hf10", D("blobs"), M("mlp", 32), O("adam", 1e-3), L(1200, 80, val_sample=16), log("hf", 10)),
        case("clipping-saturated", "r2-clip0.05-iris-sgd-tbx1", D("iris"), M("mlp", 32), O("sgd", 0.3, clip=0.05, batch_size=16), L(600, 10), log("tbx", 1, grad_norm=True, hparams=True, config_json=True)),
        case("schedule-misconfigured", "r2-cosine-tmax-quarter-adam-blobs-spec10", D("blobs"), M("mlp", 32), O("adam", 3e-3, schedule="cosine", horizon=0.25), L(1000, 10), log("spec", 10, lr=True)),
        case("schedule-misconfigured", "r2-linear-horizon-quarter-sgd-wine-hf10", D("wine"), M("mlp", 32), O("sgd", 0.1, schedule="linear", horizon=0.25, warmup=0.02, batch_size=16), L(600, 10), log("hf", 10, lr=True), also_ok=("still-improving", "plateau")),
        case("plateau", "r2-tanh4-smallinit-wine-sgd-torch1", D("wine"), M("mlp", 32, 4, activation="tanh", init_scale=0.2), O("sgd", 0.2, batch_size=16), L(1500, 15), log("torch", 1), also_ok=("still-improving",)),
        case("overfitting", "r2-bidx-digits150-mlp512-adam-torch1", D("digits", train_size=150, label_noise=0.2), M("mlp", 512), O("adam", 1e-3), L(800, 16), log("torch", 1, batch_index_steps=True)),
        case("lr-too-high", "r2-bidx-sgd2.5-digits-mlp-tbx1", D("digits"), M("mlp", 64), O("sgd", 2.5), L(300, 10), log("tbx", 1, batch_index_steps=True), also_ok=jump),
        case("vanishing-gradients", "r2-sigmoid10-blobs-sgd-spec10", D("blobs"), M("mlp", 32, 10, activation="sigmoid"), O("sgd", 0.1), L(500, 10), log("spec", 10, grad_norm=True, layer_norms=True), also_ok=("no-learning", "plateau")),
    ]
