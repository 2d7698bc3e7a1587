"""underfitting judges a classifier's accuracy from chance, not from zero (issue 12).

A 3-wide tanh net on two-class spirals stalls at 0.79 accuracy with its loss at 68% of its start:
58% of the way from chance to perfect, where a ten-class model sits at 0.62. Read as a raw 0.79,
it passed for a model that fits.
"""

import numpy as np

from advisor.engine import Engine
from advisor.pipeline import diagnose_run
from tests import synth

ENGINE = Engine.from_config()


def _run(acc_end: float, classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    steps = np.arange(50, 3001, 50)
    loss = 0.44 + 0.23 * np.exp(-steps / 500.0) + rng.normal(0, 0.003, steps.size)
    es = np.arange(200, 3001, 200)
    val = loss[::4][: es.size] + 0.01
    acc = acc_end - (acc_end - 1.0 / classes) * np.exp(-es / 500.0) + rng.normal(0, 0.004, es.size)
    curves = {"train/loss": (steps, loss), "eval/loss": (es, val), "eval/accuracy": (es, acc)}
    return diagnose_run(synth.run_of(curves, hparams={"num_labels": classes}), ENGINE).report


def _underfit(rep):
    return [f for f in rep.findings if f.condition == "underfitting"]


def test_a_two_class_model_at_079_accuracy_with_a_high_flat_loss_underfits():
    got = _underfit(_run(0.79, 2))
    assert len(got) == 1 and got[0].severity.value == "info"
    assert got[0].remedies[0].action == "capacity"


def test_the_same_curves_at_079_on_ten_classes_are_no_underfitting():
    # 0.79 on ten classes is 77% of the way from chance: with the loss at 68% of its start, a fit
    assert _underfit(_run(0.79, 10)) == []


def _context(first_acc: float, first_loss: float, eval_at_start: bool = True):
    from advisor.io.roles import resolve
    from advisor.rules.base import Context

    steps = np.arange(0, 2001, 20)
    loss = 0.9 + (first_loss - 0.9) * np.exp(-steps / 300.0)
    es = np.arange(0 if eval_at_start else 200, 2001, 200)
    acc = 0.62 - (0.62 - first_acc) * np.exp(-es / 300.0)
    run = synth.run_of({"train/loss": (steps, loss), "val/accuracy": (es, acc)})
    return Context(run, resolve(run))


def test_the_class_count_from_a_start_where_loss_and_accuracy_agree():
    # 10 classes: the untrained model's first evaluation scores 0.1 at a loss of ln 10; the model
    # ends at 62%, above where a late accuracy can name the count
    assert _context(0.1, np.log(10)).num_classes == 10
    assert _context(0.5, np.log(2)).num_classes == 2
    # they disagree (a first loss of 2.3 with a majority-class accuracy of 0.4): no count
    assert _context(0.4, np.log(10)).num_classes is None
    # the first evaluation came after updates (0.38 already): no count from it
    assert _context(0.38, np.log(10), eval_at_start=False).num_classes is None


def test_a_loss_pinned_at_ln_c_names_the_count_over_a_first_evaluation_a_little_off():
    # a real SGD run (extra15): first evaluation 0.1106 (1/9.04) at a loss of 2.303 = ln 10
    # to 0.01%; nine classes put chance at 0.111 and called 0.177 "never above chance"
    assert _context(0.1106, 2.3029).num_classes == 10
    # an untrained first loss a little above ln 10 (2.36, nearer ln 11) pins nothing: the accuracy's count
    assert _context(0.1, 2.36).num_classes == 10
