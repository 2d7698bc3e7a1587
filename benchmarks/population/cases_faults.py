"""Fault recipes, part 1: the loss-shape faults of a too-high or too-low learning rate and friends.

Each function returns a condition's variants across families, optimisers, cadences and writers.
The variant marked ``ci=True`` is the short one the CI size runs.
"""

from __future__ import annotations

from .recipe import D, L, M, O, case, log
from .spec import Case, LogSpec, OptimSpec


def lr_too_high() -> list[Case]:
    c = "lr-too-high"
    jump = ("no-learning",)  # after the jump the units are dead: nothing is learned, honestly so
    return [
        case(c, "sgd2.5-digits-mlp", D("digits"), M("mlp", 64), O("sgd", 2.5), L(300, 10), log("torch", 1), ci=True, also_ok=jump),
        case(c, "momentum0.5-digits-mlp", D("digits"), M("mlp", 128), O("momentum", 0.5), L(500, 10), log("tbx", 10), also_ok=jump),
        case(c, "sgd2-digits-cnn", D("digits"), M("cnn", 32), O("sgd", 2.0), L(300, 10), log("lightning", 10, lr=True), also_ok=jump),
        case(c, "sgd3-breast-mlp", D("breast_cancer"), M("mlp", 32), O("sgd", 3.0), L(400, 8), log("hf", 10, lr=True, grad_norm=True), also_ok=jump),
        case(c, "adam3-digits-mlp", D("digits"), M("mlp", 64), O("adam", 3.0), L(400, 10), log("spec", 1, lr=True, grad_norm=True, hparams=True, config_json=True), also_ok=jump),
        case(c, "adam1-spirals-mlp", D("spirals"), M("mlp", 64, 3), O("adam", 1.0), L(600, 12), log("torch", 10, "mean"), also_ok=jump),
        case(c, "sgd20-seqcls-lstm", D("seqcls"), M("lstm", 32), O("sgd", 20.0), L(300, 10), log("tbx", 1), also_ok=jump),
        case(c, "adamw2-majority-transformer", D("majority"), M("transformer", 32, 1), O("adamw", 2.0), L(250, 10), log("hf", 10, lr=True), also_ok=jump),
        case(c, "adam2-seqcls-lstm", D("seqcls"), M("lstm", 32), O("adam", 2.0), L(300, 10), log("lightning", 10), also_ok=jump),
        case(c, "adam1-wine-keras", D("wine"), M("mlp", 32), O("adam", 1.0, batch_size=16), L(400, 10), log("keras", lr=True), also_ok=jump),
        # the moderate form: still learning, but the loss keeps spiking back up
        case(c, "moderate-adam0.05-digits", D("digits"), M("mlp", 128), O("adam", 0.05), L(600, 15), log("torch", 1), also_ok=("oscillation",)),
        case(c, "moderate-adam0.1-blobs", D("blobs"), M("mlp", 64), O("adam", 0.1), L(600, 15), log("tbx", 1), also_ok=("oscillation",)),
        case(c, "moderate-sgd1-spirals", D("spirals"), M("mlp", 64, 3), O("sgd", 1.0), L(600, 15), log("spec", 1, lr=True), also_ok=("oscillation",)),
    ]


def non_finite() -> list[Case]:
    c = "non-finite"
    lr = {"lr": "down"}
    return [
        case(c, "nan-inputs-digits-mlp", D("digits"), M("mlp", 64), O("adam", 1e-3), L(300, 10, nan_from=0.5), log("torch", 1), ci=True, direction={}),
        case(c, "nan-inputs-friedman-mlp", D("friedman"), M("mlp", 64), O("sgd", 0.05), L(800, 10, nan_from=0.6), log("hf", 10, grad_norm=True, lr=True), direction={}),
        case(c, "nan-inputs-spirals-mlp", D("spirals"), M("mlp", 64, 3), O("momentum", 0.05), L(1000, 10, nan_from=0.4), log("lightning", 50), direction={}),
        case(c, "nan-inputs-seqcls-lstm", D("seqcls"), M("lstm", 32), O("adam", 5e-3), L(400, 10, nan_from=0.7), log("tbx", 10), direction={}),
        case(c, "nan-inputs-digits-cnn", D("digits"), M("cnn", 32), O("adam", 1e-3), L(450, 10, nan_from=0.5), log("keras"), direction={}),
        case(c, "overflow-sgd-friedman", D("friedman"), M("mlp", 64), O("sgd", 2.0), L(300, 10), log("spec", 1, lr=True, grad_norm=True), direction=lr),
        case(c, "overflow-sgd20-blobs", D("blobs"), M("mlp", 64), O("sgd", 20.0), L(300, 10), log("torch", 10), direction=lr),
        case(c, "overflow-sgd5-friedman-hf", D("friedman"), M("mlp", 64), O("sgd", 5.0), L(300, 10), log("hf", 10, grad_norm=True), direction=lr),
    ]


def divergence() -> list[Case]:
    c = "divergence"
    ok = ("lr-too-high",)

    def ramp(name: str, lr: float, factor: float) -> OptimSpec:
        # an lr that keeps growing (a warmup with no end, a finder left in): loss falls, then climbs
        return O(name, lr, lr_growth=factor, schedule="ramp")

    return [
        case(c, "adam-ramp-digits-mlp", D("digits"), M("mlp", 64), ramp("adam", 1e-3, 1000.0), L(400, 10), log("torch", 1), ci=True, also_ok=ok),
        case(c, "sgd-ramp-spirals-mlp", D("spirals"), M("mlp", 64, 3), ramp("sgd", 0.05, 300.0), L(800, 10), log("tbx", 10, lr=True), also_ok=ok),
        case(c, "momentum-ramp-digits-mlp", D("digits"), M("mlp", 64), ramp("momentum", 0.005, 300.0), L(600, 12), log("lightning", 10), also_ok=ok),
        case(c, "sgd-ramp-friedman-mlp", D("friedman"), M("mlp", 64), ramp("sgd", 0.005, 100.0), L(1200, 12), log("hf", 10, lr=True, grad_norm=True), also_ok=ok),
        case(c, "adamw-ramp-spirals-mlp", D("spirals"), M("mlp", 64, 3), ramp("adamw", 1e-3, 300.0), L(800, 16), log("spec", 1, lr=True), also_ok=ok),
        case(c, "adamw-ramp-majority-transformer", D("majority"), M("transformer", 32, 1), ramp("adamw", 1e-3, 1000.0), L(300, 10), log("hf", 10, lr=True), also_ok=ok),
        case(c, "adam-ramp-seqcls-lstm", D("seqcls"), M("lstm", 32), ramp("adam", 3e-3, 300.0), L(400, 10), log("torch", 10), also_ok=ok),
        case(c, "sgd-ramp-friedman-keras", D("friedman"), M("mlp", 64), ramp("sgd", 0.01, 100.0), L(1500, 10), log("keras", lr=True), also_ok=ok),
    ]


def exploding_gradients() -> list[Case]:
    c = "exploding-gradients"
    ok = ("divergence", "lr-too-high")

    def irnn(scale: float) -> M:
        return M("rnn", 32, activation="relu", init_scale=scale)

    def ramp(name: str, lr: float, factor: float) -> OptimSpec:
        return O(name, lr, lr_growth=factor, schedule="ramp")

    # Nets without clipping or normalisation under a rate that rises by orders of magnitude: they
    # train at first, then the gradient norm grows by orders of magnitude mid-run, before or as the
    # loss gives way (a norm that is huge only at the first step is the initialisation, not this)
    return [
        case(c, "irnn-momentum-ramp-torch1", D("adding"), irnn(1.0), ramp("momentum", 1e-4, 1e4), L(300, 10), log("torch", 1, grad_norm=True), ci=True, also_ok=ok),
        case(c, "irnn-sgd-ramp-spec1", D("adding"), irnn(1.0), ramp("sgd", 3e-4, 1e4), L(400, 10), log("spec", 1, grad_norm=True, lr=True, hparams=True), also_ok=ok),
        case(c, "deep-mlp-sgd-ramp-hf1", D("friedman"), M("mlp", 64, 6), ramp("sgd", 1e-3, 1e4), L(400, 10), log("hf", 1, grad_norm=True, lr=True), also_ok=ok),
        case(c, "irnn-sgd-ramp-lightning1", D("adding"), irnn(1.0), ramp("sgd", 3e-4, 3e3), L(400, 10), log("lightning", 1, grad_norm=True), also_ok=ok),
        case(c, "deep-mlp-momentum-ramp-tbx10", D("digits"), M("mlp", 64, 6), ramp("momentum", 1e-3, 3e3), L(400, 10), log("tbx", 10, grad_norm=True), also_ok=ok),
        case(c, "irnn-x1.02-sgd-ramp-torch2", D("adding"), irnn(1.02), ramp("sgd", 1e-4, 1e4), L(400, 10), log("torch", 2, grad_norm=True), also_ok=ok),
        case(c, "deep-cnn-sgd-ramp-hf10", D("digits"), M("cnn", 32, 4), ramp("sgd", 3e-3, 3e3), L(500, 10), log("hf", 10, grad_norm=True), also_ok=ok),
        case(c, "irnn-sgd-ramp-spec10-layers", D("adding"), irnn(1.0), ramp("sgd", 1e-4, 1e4), L(400, 10), log("spec", 10, grad_norm=True, layer_norms=True), also_ok=ok),
    ]


def vanishing_gradients() -> list[Case]:
    c = "vanishing-gradients"
    ok = ("no-learning", "plateau")

    def lg(writer: str, every: int) -> LogSpec:
        return log(writer, every, grad_norm=True, layer_norms=True)

    return [
        case(c, "sigmoid8-digits-sgd", D("digits"), M("mlp", 32, 8, activation="sigmoid"), O("sgd", 0.1), L(300, 10), lg("torch", 10), ci=True, also_ok=ok),
        case(c, "sigmoid10-digits-sgd", D("digits"), M("mlp", 32, 10, activation="sigmoid"), O("sgd", 0.5), L(600, 10), lg("spec", 1), also_ok=ok),
        case(c, "sigmoid12-spirals-momentum", D("spirals"), M("mlp", 32, 12, activation="sigmoid"), O("momentum", 0.05), L(600, 10), lg("tbx", 10), also_ok=ok),
        case(c, "sigmoid8-spirals-adam", D("spirals"), M("mlp", 32, 8, activation="sigmoid"), O("adam", 1e-4), L(600, 10), lg("lightning", 10), also_ok=ok),
        case(c, "sigmoid8-breast-sgd", D("breast_cancer"), M("mlp", 32, 8, activation="sigmoid"), O("sgd", 0.1), L(500, 10), lg("spec", 10), also_ok=ok),
        case(c, "sigmoid10-blobs-sgd", D("blobs"), M("mlp", 64, 10, activation="sigmoid"), O("sgd", 0.2), L(600, 10), lg("torch", 50), also_ok=ok),
        case(c, "sigmoid12-wine-momentum", D("wine"), M("mlp", 32, 12, activation="sigmoid"), O("momentum", 0.05, batch_size=16), L(500, 10), lg("tbx", 1), also_ok=ok),
        case(c, "sigmoid9-digits-adamw", D("digits"), M("mlp", 64, 9, activation="sigmoid"), O("adamw", 1e-4), L(500, 10), lg("lightning", 50), also_ok=ok),
    ]


def no_learning() -> list[Case]:
    c = "no-learning"
    data, lr_up = {"data": "check"}, {"lr": "up"}
    # a rate held at 1e-7 for the whole run is, in the logs, what a scheduler that never stepped
    # shows too (schedule-misconfigured's never-stepped cases accept no-learning the same way)
    tiny = ("schedule-misconfigured",)
    return [
        case(c, "shuffled-labels-digits-mlp", D("digits", label_noise=1.0), M("mlp", 32), O("adam", 1e-3), L(300, 10), log("torch", 1), ci=True, direction=data),
        case(c, "shuffled-labels-seqcls-lstm-hf", D("seqcls", label_noise=1.0), M("lstm", 32), O("adam", 1e-3), L(300, 10), log("hf", 10), direction=data),
        case(c, "shuffled-labels-spirals-keras", D("spirals", label_noise=1.0), M("mlp", 32, 2), O("adam", 1e-3), L(600, 10), log("keras"), direction=data),
        case(c, "lr1e-7-digits-cnn", D("digits"), M("cnn", 32), O("adam", 1e-7), L(300, 10), log("lightning", 10, lr=True), direction=lr_up, also_ok=tiny),
        case(c, "lr1e-7-majority-transformer", D("majority"), M("transformer", 32, 1), O("sgd", 1e-7), L(250, 10), log("spec", 1, lr=True, hparams=True), direction=lr_up, also_ok=tiny),
        case(c, "lr1e-7-breast-mlp", D("breast_cancer"), M("mlp", 32), O("adamw", 1e-7), L(400, 10), log("tbx", 10), direction=lr_up, also_ok=tiny),
        case(c, "frozen-seqcls-lstm", D("seqcls"), M("lstm", 32), O("adam", 3e-3), L(300, 10, frozen=True), log("torch", 10), direction={}),
        case(c, "frozen-wine-mlp", D("wine"), M("mlp", 32), O("momentum", 0.01, batch_size=16), L(300, 10, frozen=True), log("hf", 10, grad_norm=True), direction={}),
    ]


def plateau() -> list[Case]:
    c = "plateau"
    ok = ("still-improving",)
    # small-init deep tanh nets sit on the saddle at the origin, then escape; so does an LSTM on
    # the adding problem; deep sigmoid nets under Adam escape late
    return [
        case(c, "tanh4-smallinit-blobs-sgd", D("blobs"), M("mlp", 32, 4, activation="tanh", init_scale=0.2), O("sgd", 0.2), L(2000, 12), log("torch", 10), ci=True, also_ok=ok),
        case(c, "tanh4-smallinit-wine-sgd", D("wine"), M("mlp", 32, 4, activation="tanh", init_scale=0.2), O("sgd", 0.2, batch_size=16), L(1500, 15), log("tbx", 1), also_ok=ok),
        case(c, "tanh4-smallinit-iris-sgd", D("iris"), M("mlp", 32, 4, activation="tanh", init_scale=0.2), O("sgd", 0.2, batch_size=16), L(1500, 15), log("spec", 10), also_ok=ok),
        case(c, "tanh4-smallinit-breast-sgd-hf", D("breast_cancer"), M("mlp", 32, 4, activation="tanh", init_scale=0.2), O("sgd", 0.2), L(1500, 12), log("hf", 10), also_ok=ok),
        case(c, "lstm-adding-adam", D("adding"), M("lstm", 32), O("adam", 1e-2), L(800, 16), log("torch", 1), also_ok=ok),
        case(c, "lstm-adding-adamw-lightning", D("adding"), M("lstm", 32), O("adamw", 1e-2), L(900, 12), log("lightning", 10), also_ok=ok),
        case(c, "lstm-adding-adam-hf", D("adding"), M("lstm", 32), O("adam", 5e-3), L(900, 12), log("hf", 10), also_ok=ok),
        case(c, "tanh4-smallinit-blobs-keras", D("blobs"), M("mlp", 32, 4, activation="tanh", init_scale=0.2), O("sgd", 0.2), L(2500, 50), log("keras"), also_ok=ok),
    ]


def slow_convergence() -> list[Case]:
    c = "slow-convergence"
    ok = ("still-improving",)
    # 10-50x below the healthy lr of each recipe: steady, far too slow progress
    return [
        case(c, "adam1e-4-digits-mlp", D("digits"), M("mlp", 64), O("adam", 1e-4), L(400, 10), log("torch", 1), ci=True, also_ok=ok),
        case(c, "sgd3e-3-digits-mlp", D("digits"), M("mlp", 64), O("sgd", 3e-3), L(1500, 10), log("tbx", 10), also_ok=ok),
        case(c, "sgd3e-4-friedman-mlp", D("friedman"), M("mlp", 64), O("sgd", 3e-4), L(2000, 15), log("hf", 50, lr=True), also_ok=ok),
        case(c, "adam3e-5-spirals-mlp", D("spirals"), M("mlp", 64, 3), O("adam", 3e-5), L(2000, 15), log("lightning", 50), also_ok=ok),
        case(c, "momentum1e-4-blobs-mlp", D("blobs"), M("mlp", 32), O("momentum", 1e-4), L(1000, 10), log("spec", 1, lr=True, hparams=True, config_json=True), also_ok=ok),
        case(c, "adamw1e-4-majority-transformer", D("majority"), M("transformer", 32, 1), O("adamw", 1e-4), L(300, 10), log("hf", 10, lr=True), also_ok=ok),
        case(c, "adam1e-4-seqcls-lstm", D("seqcls"), M("lstm", 32), O("adam", 1e-4), L(500, 10), log("torch", 10, "mean"), also_ok=ok),
        case(c, "sgd5e-3-digits-cnn-keras", D("digits"), M("cnn", 32), O("sgd", 5e-3), L(450, 10), log("keras"), also_ok=ok),
    ]


def oscillation() -> list[Case]:
    c = "oscillation"
    alt, ok = ("lr-too-high",), ("divergence",)
    # heavy-ball momentum 0.99+ with an lr that is fine without it: the loss swings in long waves
    return [
        case(c, "momentum0.99-spirals", D("spirals"), M("mlp", 64, 3), O("momentum", 0.03, momentum=0.99, batch_size=64), L(600, 12), log("torch", 1), ci=True, alt=alt, also_ok=ok),
        case(c, "momentum0.995-spirals", D("spirals"), M("mlp", 64, 3), O("momentum", 0.01, momentum=0.995, batch_size=64), L(800, 16), log("spec", 1, lr=True), alt=alt, also_ok=ok),
        case(c, "momentum0.99-digits", D("digits"), M("mlp", 64), O("momentum", 0.03, momentum=0.99, batch_size=64), L(800, 16), log("tbx", 1), alt=alt, also_ok=ok),
        case(c, "momentum0.995-digits", D("digits"), M("mlp", 64), O("momentum", 0.01, momentum=0.995, batch_size=64), L(800, 16), log("lightning", 10), alt=alt, also_ok=ok),
        case(c, "momentum0.995-digits-torch10", D("digits"), M("mlp", 64), O("momentum", 0.01, momentum=0.995, batch_size=64), L(800, 16), log("torch", 10), alt=alt, also_ok=ok),
        case(c, "momentum0.99-spirals-hf", D("spirals"), M("mlp", 64, 3), O("momentum", 0.03, momentum=0.99, batch_size=64), L(1000, 10), log("hf", 10), alt=alt, also_ok=ok),
        case(c, "momentum0.99-digits-cnn", D("digits"), M("cnn", 32), O("momentum", 0.03, momentum=0.99, batch_size=64), L(400, 8), log("spec", 1), alt=alt, also_ok=ok),
        case(c, "momentum0.995-breast", D("breast_cancer"), M("mlp", 32), O("momentum", 0.03, momentum=0.99, batch_size=64), L(800, 16), log("tbx", 1), alt=alt, also_ok=ok),
    ]


def unshuffled_data() -> list[Case]:
    c = "unshuffled-data"
    srt = {"shuffle": False, "sort_by_class": True}
    return [
        case(c, "sorted-digits-mlp-sgd", D("digits"), M("mlp", 64), O("sgd", 0.05), L(450, 10, **srt), log("torch", 1), ci=True),
        case(c, "sorted-blobs-mlp-adam", D("blobs"), M("mlp", 32), O("adam", 1e-3), L(900, 15, **srt), log("tbx", 1)),
        case(c, "sorted-wine-mlp-momentum", D("wine"), M("mlp", 32), O("momentum", 0.01, batch_size=8), L(600, 12, **srt), log("spec", 1)),
        case(c, "sorted-iris-mlp-sgd", D("iris"), M("mlp", 16), O("sgd", 0.1, batch_size=8), L(600, 12, **srt), log("lightning", 1)),
        case(c, "sorted-breast-mlp-adamw", D("breast_cancer"), M("mlp", 32), O("adamw", 1e-3, batch_size=16), L(600, 12, **srt), log("torch", 2)),
        case(c, "sorted-digits-cnn-adam", D("digits"), M("cnn", 32), O("adam", 1e-3), L(450, 10, **srt), log("spec", 1)),
        case(c, "sorted-seqcls-lstm-adam", D("seqcls"), M("lstm", 32), O("adam", 3e-3, batch_size=64), L(500, 10, **srt), log("tbx", 1)),
        case(c, "sorted-majority-transformer", D("majority"), M("transformer", 32, 1), O("adamw", 1e-3, batch_size=64), L(250, 10, **srt), log("hf", 1)),
    ]


def gradient_noise() -> list[Case]:
    c = "gradient-noise"
    return [
        case(c, "bs1-digits-sgd", D("digits"), M("mlp", 64), O("sgd", 0.05, batch_size=1), L(1200, 12), log("torch", 1), ci=True),
        case(c, "bs2-spirals-adam", D("spirals"), M("mlp", 64, 3), O("adam", 3e-3, batch_size=2), L(2000, 20), log("tbx", 1)),
        case(c, "bs1-friedman-sgd", D("friedman"), M("mlp", 64), O("sgd", 0.02, batch_size=1), L(2000, 20), log("spec", 1, lr=True)),
        case(c, "bs1-friedman-momentum", D("friedman"), M("mlp", 64), O("momentum", 0.005, batch_size=1), L(1500, 15), log("lightning", 1)),
        case(c, "bs1-digits-adam", D("digits"), M("mlp", 64), O("adam", 3e-3, batch_size=1), L(1200, 10), log("torch", 5)),
        case(c, "bs2-seqcls-lstm", D("seqcls"), M("lstm", 32), O("adam", 1e-2, batch_size=2), L(800, 10), log("spec", 1)),
        case(c, "bs1-breast-sgd", D("breast_cancer"), M("mlp", 32), O("sgd", 0.1, batch_size=1), L(1500, 15), log("tbx", 2)),
        case(c, "bs2-majority-transformer", D("majority"), M("transformer", 32, 1), O("adamw", 3e-3, batch_size=2), L(500, 10), log("torch", 1)),
    ]
