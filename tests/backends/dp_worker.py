"""One backend, one config, before and after the remedy tune would apply: run single-device, data
parallel (flax with several host devices) or under torchrun. Rank 0 prints one JSON line.

    python -m tests.backends.dp_worker BACKEND OUTDIR KEY=VALUE...
"""

from __future__ import annotations

import json
import os
import sys

from advisor.analyze import analyze
from advisor.tune import load_trainer, targets
from backends.config import TrainConfig

SHAPE = ["data.n_train=256", "data.n_val=128", "data.n_test=128", "data.batch_size=32", "model.width=32",
         "train.layer_every=4", "device=cpu"]


def findings(logdir: str) -> list[dict]:
    return [f.to_dict() for r in analyze([logdir], workers=1).report.runs for f in r.findings]


def emit(record: dict) -> None:
    """One JSON line in one write: the ranks share torchrun's stdout pipe, and a line written in
    pieces (``print`` writes the text and its newline separately when stdout is unbuffered) can be
    split by the other rank's line. A pipe write under PIPE_BUF bytes is atomic."""
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), (json.dumps(record) + "\n").encode())


def live_and_stop(train, config: dict, logdir: str, rank0: bool) -> None:
    """The live monitor (rank 0's) applies remedies on every rank; rank 0 alone asks to stop at step
    16, and every rank stops there. Each rank prints what it did."""
    from backends.control import Control

    control = Control()

    def callback(step: int, scalars: dict) -> None:
        if rank0 and step >= 16:
            control.stop("rank 0 asked")

    r = train({**config, "train": {**config["train"], "epochs": 4}}, logdir, 0, control=control, callback=callback, auto_remedy=True)
    emit({"rank": int(os.environ.get("RANK", "0")), "steps": r.steps, "stop": r.stop_reason,
          "applied": [(a["step"], a["action"]) for a in r.applied], "live_findings": len(r.live_findings)})


def main() -> None:
    backend, out, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
    trainer = load_trainer(backend)
    train = trainer.provider().train
    before = TrainConfig().with_overrides(SHAPE + overrides).to_dict()
    rank0 = os.environ.get("RANK", "0") == "0"
    parallel = os.environ.get("WORLD_SIZE", "1") != "1"
    if parallel:  # one group for the three trainings (each trainer would join and leave one itself)
        import torch.distributed as dist

        dist.init_process_group("gloo")
    res_a = train(before, os.path.join(out, "before"), 0)
    found_a = findings(os.path.join(out, "before")) if rank0 else []
    # Every rank picks the same remedy: from rank 0's findings (its logs are the run's).
    todo = targets([{"findings": found_a}]) if rank0 else []
    remedy = dict(todo[0].remedies[0]) if todo and todo[0].remedies else None
    if parallel:
        box = [remedy]
        dist.broadcast_object_list(box, src=0)
        remedy = box[0]
    after = trainer.apply(before, remedy) if remedy else before
    res_b = train(after, os.path.join(out, "after"), 0)
    if backend == "torch":  # ranks are torch's (flax shards within one process)
        live_and_stop(train, before, os.path.join(out, "live"), rank0)
    if rank0:
        found_b = findings(os.path.join(out, "after"))
        emit({
            "device": res_a.device, "remedy": remedy,
            "before": sorted((f["condition"], f["severity"]) for f in found_a),
            "after": sorted((f["condition"], f["severity"]) for f in found_b),
            "val": [res_a.final_val_loss, res_b.final_val_loss], "steps": [res_a.steps, res_b.steps],
        })
    if parallel:
        dist.destroy_process_group()
        # Skip the interpreter's teardown, where gloo may abort a rank after its work is done
        # (SIGABRT, "terminate called without an active exception"; see tests/live/test_torch.py).
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
