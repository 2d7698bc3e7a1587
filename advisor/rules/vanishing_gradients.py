"""Gradient norm (or the early layers' norm) collapses toward zero while the loss is still high.

Why it matters: layers that get no gradient do not learn. Deep stacks of saturating
activations (sigmoid, tanh) multiply the gradient by < 1 per layer, so the layers near the
input barely move and the loss stalls far above what the model could reach.

Signals: gradient norm, ideally per layer (``train/grad_norm/<layer>``).

Trigger, while the train loss has made less than ``max_progress`` relative progress (and has
not risen by as much: an exploding loss is not a vanishing gradient; nor is a gradient norm
whose running level (5-bin median) grew tenfold, or a non-finite loss — a ratio of layer norms
can be tiny because the last layers exploded):
  * per layer: the median gradient norm of the first third of the layers (input side: names
    in natural order, embeddings/stems first, heads/classifiers/logits last) is below
    ``layer_ratio`` times that of the last third; or
  * global: the running level of the gradient norm falls below ``collapse`` times its early
    level.
A loss that fell well (a converged model has small gradients) never triggers it.

Needs at least ``min_points`` points.

Remedies: ``activation`` relu (for sigmoid/tanh stacks), ``normalization`` batchnorm,
``residual`` connections, then ``scale_lr`` up.

Known false positives: layers frozen on purpose (fine-tuning a head only); per-layer names
that do not sort input-to-output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.signals import fmt, median, rolling_median

ID = "vanishing-gradients"
SEVERITY = Severity.WARNING
SIGNALS = ("gradient norm", "per-layer gradient norms (optional)")


@dataclass(frozen=True)
class Params:
    layer_ratio: float = 1e-3
    collapse: float = 1e-2
    max_progress: float = 0.3
    min_points: int = 5


_INPUT_SIDE = re.compile(r"(^|[^a-z])(embed\w*|input|stem|first|in_proj)([^a-z]|$)")
_OUTPUT_SIDE = re.compile(r"(^|[^a-z])(head|heads|out|output|outputs|classifier|logits|final|fc_out|readout|last|lm_head)([^a-z]|$)")


def depth_key(name: str) -> tuple[int, list[object]]:
    """Order layer names input -> output: embeddings/stems first, heads/classifiers last,
    the rest by natural order (layers.2 before layers.10)."""
    low = name.lower().rsplit("grad_norm", 1)[-1]
    group = 0 if _INPUT_SIDE.search(low) else 2 if _OUTPUT_SIDE.search(low) else 1
    return group, [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", low)]


def _progress(ctx: Context) -> float | None:
    c = ctx.train
    if c is None or c.n < 3:
        return None
    v0, ve = c.start(), c.end()
    return (v0 - ve) / abs(v0) if v0 else 0.0


def _exploding(ctx: Context) -> bool:
    """A loss that went non-finite or rose, or a gradient norm that grew 10x or stayed non-finite (a
    few skipped steps it recovered from are a loss scaler's): not vanishing."""
    c, g = ctx.train, ctx.grad
    if c is not None and c.nonfinite_step is not None:
        return True
    if g is not None and (g.cut_short or (g.n >= 5 and _grew(g) > 10 * max(median(g.values[: max(3, g.n // 10)]), 1e-30))):
        return True
    return False


def _grew(g) -> float:
    """The gradient norm's highest sustained level: the peak of a 5-bin running median. One
    minibatch a point, a single batch's norm can be 10x the early median without any growth
    (a deep sigmoid stack's output layer: 0.002-1.3 from batch to batch)."""
    return float(np.max(rolling_median(g.bvals, 5)))


def detect(ctx: Context, p: Params) -> list[Finding]:
    progress = _progress(ctx)
    # High loss means not yet reduced — not a loss that exploded (negative progress).
    if progress is None or progress >= p.max_progress or progress < -p.max_progress or _exploding(ctx):
        return []
    evidence: dict = {"loss_progress": round(progress, 3), "signal": "grad_norm"}
    layers = [s for s in ctx.layer_grads if len(s) >= p.min_points]
    summary = None
    conf = 0.0
    onset = None
    if len(layers) >= 2:
        layers = sorted(layers, key=lambda s: depth_key(s.key))
        meds = np.array([median(np.abs(s.values[np.isfinite(s.values)])) if np.isfinite(s.values).any() else np.nan for s in layers])
        ok = np.isfinite(meds)
        if ok.sum() >= 2:
            names = [s.key for s, k in zip(layers, ok) if k]
            m = meds[ok]
            third = max(1, len(m) // 3)
            first, last = m[:third], m[-third:]
            lo = float(np.exp(np.mean(np.log(np.maximum(first, 1e-300)))))
            hi = float(np.exp(np.mean(np.log(np.maximum(last, 1e-300)))))
            ratio = lo / hi if hi > 0 else math.inf
            evidence.update(first_layers=names[:third], last_layers=names[-third:], layer_ratio=float(f"{ratio:.3g}"))
            if ratio < p.layer_ratio:
                summary = (
                    f"early layers get {fmt(ratio)}x the gradient of the last layers "
                    f"({fmt(lo)} vs {fmt(hi)}) while the loss {_progress_txt(progress)}"
                )
                conf = margin_confidence(math.log10(p.layer_ratio / max(ratio, 1e-300)), 0.0, 1.0, base=0.65)
                onset = int(layers[0].steps[0])
    g = ctx.grad
    if summary is None and g is not None and g.n >= p.min_points:
        early = float(median(g.values[: max(3, g.n // 10)]))
        late = float(median(g.values[-max(3, g.n // 10) :]))
        if early > 0:
            ratio = late / early
            evidence.update(early_grad_norm=early, late_grad_norm=late, collapse_ratio=float(f"{ratio:.3g}"))
            if ratio < p.collapse:
                below = np.nonzero(g.bvals < early * math.sqrt(p.collapse))[0]
                onset = int(g.bsteps[below[0]]) if below.size else int(g.steps[0])
                summary = (
                    f"gradient norm collapsed to {fmt(ratio)}x its early level ({fmt(early)} -> {fmt(late)}) "
                    f"while the loss {_progress_txt(progress)}"
                )
                conf = margin_confidence(math.log10(p.collapse / max(ratio, 1e-300)), 0.0, 1.0, base=0.6)
    if summary is None:
        return []
    act = str(ctx.param("activation") or "").lower()
    rem = []
    if act in ("sigmoid", "tanh", "") or "sigmoid" in act or "tanh" in act:
        rem.append(R.activation("relu", "relu does not saturate, so gradients survive depth"))
    rem += [
        R.normalization("batchnorm", "normalised pre-activations stay out of the saturated range"),
        R.residual(True, "skip connections carry the gradient past saturated layers"),
        R.scale_lr(3.0, "a larger step moves the weakly-updated layers"),
    ]
    if act == "relu":
        rem.insert(0, R.activation("elu", "dead relus pass no gradient; elu keeps a small one"))
    evidence["step_range"] = [onset, ctx.last_step]
    return [finding(ID, SEVERITY, conf, summary, evidence, rem, onset=onset)]


def _progress_txt(progress: float) -> str:
    """'made only 5% progress', or 'made no progress' for a loss that ended at or above its start."""
    return f"made only {100 * progress:.0f}% progress" if progress >= 0.005 else "made no progress"
