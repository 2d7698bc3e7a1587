"""An evaluation population for advisor: real small trainings, each with a known cause.

    python -m benchmarks.population --out DIR [--size ci|full] [--workers N] [--only GLOB] [--seeds K]

Each case is a short plain-PyTorch script (no framework) on a bundled or generated dataset; its
run is written in one ecosystem's layout with that ecosystem's real logging semantics, and
DIR/manifest.json labels it. Nothing here imports ``advisor`` or ``backends``: the population
must stay an independent yardstick.

Modules, in the order a run flows through them:

    spec          Case (data / model / optim / loop / log specs), Label, the condition list
    recipe        shorthands for writing cases: log(writer, every, mode, ...), case(...)
    cases_healthy the healthy grid (sampled, not a full product), long runs, the ci dozen
    cases_faults  lr-too-high .. gradient-noise recipes (several variants each)
    cases_faults2 overfitting .. bad-initial-loss recipes
    cases         all cases; selection by size, glob and seed count
    data          digits / wine / breast_cancer / iris, spirals, blobs, friedman, adding, seqcls, majority
    models        MLP, small CNN, LSTM / RNN (IRNN), tiny transformer encoder; init faults
    optim         optimisers and per-step schedules, including the misconfigured ones
    train         the training loop: a per-step Trace of loss, lr, grad norm, evaluations
    cadence       what each writer would log from a Trace (instant, window mean, epoch mean)
    writers       torch / tensorboardX / SPEC layouts; writers_eco: Lightning, HF Trainer, Keras TF2
    checks        independent symptom checks (``verified``), and info symptoms for ``also_ok``
    runner        the process pool, labels, manifest.json and the timing summary

Manifest entry (one per run): ``run`` (directory relative to DIR: the directory holding the
event files, or for Keras the one holding train/ and validation/), ``case``, ``seed``, ``split``
(dev for even seeds, test for odd), ``condition`` (what the logs show: the injected condition,
or ``non-finite`` when a recipe overshot into NaN/Inf), ``injected`` (the recipe's condition),
``expected`` (ids acceptable as the top finding), ``also_ok`` (true of the run too, fine to
report), ``direction`` (knob -> up/down/on/check implied by the cause; knobs: lr, batch_size,
capacity, depth, regularization, steps, clip_norm, warmup, shuffle, val_size, data), ``knobs``,
``verified`` / ``check`` (the independent check and the numbers it saw), ``variant``,
``seconds`` / ``cpu_seconds``.
"""

from .spec import CONDITIONS, HEALTHY

__all__ = ["CONDITIONS", "HEALTHY"]
