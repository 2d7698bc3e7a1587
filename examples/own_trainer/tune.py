"""``advisor tune --backend examples.own_trainer.tune --config my.json``: the protocol around train.py."""

import json

from examples.own_trainer import train as script


def load_config(path):  # a config file as a dict; a ValueError is reported as bad input
    with open(path) as fh:
        cfg = json.load(fh)
    unknown = set(cfg) - set(script.DEFAULTS)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    return {**script.DEFAULTS, **cfg}


def apply(config, remedy):  # one SPEC §3 remedy as a pure patch; others leave the config as it is
    c, p = dict(config), remedy.get("params") or {}
    action = remedy["action"]
    if action == "scale_lr":
        c["lr"] = config["lr"] * float(p["factor"])
    elif action == "optimizer" and p.get("name") in ("sgd", "adam"):
        c["optimizer"] = p["name"]
        c["lr"] = float(p.get("lr", c["lr"]))
    elif action == "weight_decay":
        c["weight_decay"] = float(p["value"])
    elif action == "batch_size":
        c["batch_size"] = int(p["value"])
    elif action == "train_longer":
        c["epochs"] = round(config["epochs"] * float(p["factor"]))
    return c


def train(config, logdir, seed, callback=None):  # train once; the result dict holds the metric tune verifies on
    return script.run(config, logdir, seed, callback)  # callback (optional): tune asks to stop a hopeless run
