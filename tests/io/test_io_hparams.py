"""Hyperparameter parsing: a run's params merged from its sources and looked up by alias."""

from __future__ import annotations

import json
import math

from advisor.io import hparams as H


def test_flatten_nests_with_dots():
    assert H.flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": None}) == {"a.b": 1, "a.c.d": "x", "e": None}


def test_merged_params_later_sources_win():
    texts = {"args/text_summary": json.dumps({"lr": 1.0, "optim": {"name": "sgd"}}), "notes": "{not json", "args": "[1, 2]"}
    params = H.merged_params({"lr": 0.5, "bs": 8}, {"lr": 0.1, "model": {"width": 64}}, texts)
    assert params == {"lr": 0.1, "optim.name": "sgd", "bs": 8, "model.width": 64}


def test_param_exact_key_then_last_dotted_part():
    params = {"optimizer.learning_rate": 0.3, "LR": None, "train.Batch_Size": 32, "dropout": "", "model.dropout": 0.1}
    assert H.param(params, "lr") == 0.3
    assert H.param(params, "batch_size") == 32  # keys compare lower-cased on their last part
    assert H.param(params, "dropout") == ""  # an exact key wins even when empty
    assert H.param(params, "unknown_name") is None
    assert H.param({"seed": 3}, "seed") == 3  # a name without aliases is its own alias


def test_param_matches_slash_and_dotted_nesting_and_multi_part_aliases():
    # Lightning's log_hyperparams flattens nested dicts with '/', Hydra configs name the
    # optimizer's class under _target_, Lightning CLI under class_path
    assert H.param({"model/optimizer/lr": 3.0}, "lr") == 3.0
    assert H.param({"hparams/optimizer": "adam"}, "optimizer") == "adam"
    assert H.param({"optimizer.lr": 1.0, "optimizer._target_": "torch.optim.Adam"}, "optimizer") == "torch.optim.Adam"
    assert H.param({"model/optimizer/class_path": "torch.optim.AdamW"}, "optimizer") == "torch.optim.AdamW"
    assert H.param({"cfg.optim.name": "sgd"}, "optimizer") == "sgd"
    assert H.param({"optimizer_name": "adam"}, "optimizer") == "adam"
    assert H.param({"learning_rate_decay": 0.5}, "lr") is None  # a whole part, never a prefix
    assert H.num_classes({"data/num_classes": 10}) == 10
    assert H.early_stopping({"callbacks/early_stopping/patience": 5}) == {"patience": 5}
    assert H.steps_per_epoch_from({"data/steps_per_epoch": 100}) == 100



def test_a_declared_binary_cross_entropy_loss_makes_two_classes():
    # Lightning logs a criterion passed to the module as its repr; Keras compiles with a name
    assert H.num_classes({"criterion": "<function binary_cross_entropy at 0x10466e200>"}) == 2
    assert H.num_classes({"loss": "binary_crossentropy"}) == 2
    assert H.num_classes({"model/loss_fn": "BCEWithLogitsLoss()"}) == 2
    assert H.num_classes({"criterion": "CrossEntropyLoss()"}) is None
    assert H.num_classes({"loss": "mse"}) is None
    assert H.num_classes({"num_classes": 5, "loss": "bce"}) == 5  # a declared count wins

def test_num_param_only_finite_numbers():
    params = {"lr": "0.01", "shuffle": True, "clip": math.inf, "wd": "heavy"}
    assert H.num_param(params, "lr") == 0.01
    assert H.num_param(params, "shuffle") is None
    assert H.num_param(params, "clip") is None
    assert H.num_param(params, "weight_decay") is None


def test_early_stopping_num_classes_and_steps_per_epoch():
    assert H.early_stopping({"train.early_stopping.patience": 5, "train.early_stopping.restore_best": 1}) == {"patience": 5, "restore_best": True}
    assert H.early_stopping({"early_stopping.patience": 0}) is None  # 0 means off
    assert H.early_stopping({"patience": 3.0}) == {"patience": 3}
    assert H.num_classes({"data.num_classes": 0, "n_labels": 10}) == 10
    assert H.num_classes({"classes": True, "num_classes": 2.5}) is None
    assert H.steps_per_epoch_from({"run.steps_per_epoch": 50}) == 50
    assert H.steps_per_epoch_from({"run.steps_per_epoch": 1, "steps_per_epoch": False}) is None
