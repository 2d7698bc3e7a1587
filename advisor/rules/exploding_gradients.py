"""Gradient norm grows by orders of magnitude or spikes far above its running level.

Why it matters: huge gradients make huge updates; the loss jumps, the weights overflow and
the run ends in NaN. Plain RNNs on long sequences and deep nets without normalisation are
the classic cases.

Signals: the global gradient norm (before clipping).

Trigger: either
  * growth: the running level of the gradient norm (binned medians) rises to ``min_growth``
    times its early level (orders of magnitude) or goes non-finite, while the loss is not
    healthy over that stretch (rising, non-finite, or making less than ``min_progress`` of
    relative progress) — growth with a healthily falling loss is not reported; or
  * spikes: at least ``min_spikes`` points (and ``spike_rate`` of all points) exceed
    ``spike_k`` times the running level (the median of the preceding block of ``window``
    points), again while the loss is not healthy; or
  * an early burst: within the first ``burst_frac`` of the run (at least its first 10 points)
    ``min_burst`` points or more exceed ``spike_k`` times the run's median norm, the train
    loss jumped to ``burst_jump`` times its first value meanwhile — or its first logged value
    already sat ``burst_first`` times above where it settled after the burst — and the loss is
    not healthy after: not healthy over the run, or less than ``min_progress`` progress from where
    it settled (a plain RNN started at the edge of stability: the norm blows up in the first
    steps, settles, and the model never learns; there is no earlier level for the other two forms
    to compare with, and a blown-up first point makes the whole run look like progress). A norm
    far above the rest at the start with a loss that keeps falling after it (a converged model's
    gradients are tiny), or without the loss thrown up, is not reported.
Critical when the norm goes non-finite, the loss goes non-finite or rises; otherwise warning.

Needs at least ``min_points`` points.

On an RL run (an agent logging its networks' gradient norm) only the growth form counts, and only
by ``rl_min_growth`` or to non-finite: a value head's gradient grows with the returns it fits (a
CartPole agent's from ~10 to 500), so orders of magnitude beyond that are needed (a DQN whose
Q-values diverged to 4.7e5 grew its norm 7.6e8-fold).

Remedies: ``clip_grad_norm`` near the 90th percentile of the healthy norm (by norm: clipping
by value can flip the update direction), ``scale_lr`` 0.3, ``weight_decay`` (L2),
``normalization``, ``residual``, ``activation`` (relu -> elu/tanh). For a plain RNN, an LSTM
or GRU cell is the lasting fix.

Known false positives: a norm that rises early from a tiny initial value while the loss falls
well (not reported: the loss must be unhealthy); a handful of isolated spikes (below
``min_spikes``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Severity
from advisor.rules.base import Context, finding, margin_confidence
from advisor.rules.non_finite import clip_threshold
from advisor.signals import fmt, mann_kendall_z, median, times

ID = "exploding-gradients"
SEVERITY = Severity.CRITICAL
SIGNALS = ("gradient norm",)
WORKLOADS = ("supervised", "unknown", "rl")  # rl: the gradient norm of the agent's networks (its loss is judged as a trend only)


@dataclass(frozen=True)
class Params:
    min_growth: float = 100.0
    min_progress: float = 0.2
    spike_k: float = 20.0
    window: int = 50
    min_spikes: int = 5
    spike_rate: float = 0.005
    min_points: int = 10
    burst_frac: float = 0.05  # an early burst: within this share of the run (at least 10 points)
    min_burst: int = 3  # points at ``spike_k`` x the run's median norm or more
    burst_jump: float = 1.5  # the train loss rose to this multiple of its first value during it
    burst_first: float = 3.0  # ... or its first value sat this many times above where it settled after
    rl_min_growth: float = 1e4  # an RL run: growth alone, this far (returns grow a value head's norm)


def _spikes(values: np.ndarray, window: int, k: float) -> np.ndarray:
    """Indices of points above k x the running level (the median of the preceding block).

    Blocks of ``window`` points; each point is compared with the median of the block before
    its own, which is O(n) and as robust as a sliding median for this purpose.
    """
    n = values.size
    if n <= window:
        return np.zeros(0, dtype=np.int64)
    nb = n // window
    med = np.median(values[: nb * window].reshape(nb, window), axis=1)
    block = np.arange(window, n) // window  # block of each point from the second block on
    prev = med[np.minimum(block, nb) - 1]
    cur = values[window:]
    ok = prev > 0
    idx = np.nonzero(ok & (cur > k * np.where(ok, prev, 1.0)))[0]
    return idx + window


def _loss_unhealthy(ctx: Context, from_step: float, p: Params) -> tuple[bool, str]:
    c = ctx.train
    if c is None or c.n < 4:
        return True, "no train loss to judge"
    if c.nonfinite_step is not None:
        return True, f"the loss went non-finite at step {c.nonfinite_step}"
    b = c.bvals[c.bsteps >= from_step]
    if len(b) >= 4 and mann_kendall_z(b) > 2.6:
        return True, "the loss rose meanwhile"
    v0, ve = c.start(), c.end()
    progress = (v0 - ve) / abs(v0) if v0 else 0.0
    if progress < p.min_progress:
        return True, (f"the loss made only {100 * progress:.0f}% progress" if progress >= 0
                      else f"the loss ended {100 * -progress:.0f}% above where it started")
    return False, "the loss fell normally"


def _burst(ctx: Context, p: Params) -> dict | None:
    """An early burst of the gradient norm that threw the loss up and left it unhealthy (see the
    module docstring); its evidence with ``onset``, or None."""
    g, c = ctx.grad, ctx.train
    if g is None or c is None or g.n < 2 * p.min_points or c.n < 4 or g.cut_short or c.cut_short:
        return None
    med = float(median(g.values))
    until = float(g.steps[0]) + p.burst_frac * float(g.steps[-1] - g.steps[0])
    until = max(until, float(g.steps[min(g.n, p.min_points) - 1]))
    early = g.values[g.steps <= until]
    high = np.nonzero(early >= p.spike_k * med)[0] if med > 0 else np.zeros(0, dtype=int)
    first = float(c.values[0])
    during = c.values[c.steps <= until]
    jumped_to = float(np.max(during)) if during.size else math.nan
    after = c.values[c.steps > until]
    if high.size < p.min_burst or first <= 0 or after.size < 4:
        return None
    k = max(2, after.size // 10)
    settled, end = median(after[:k]), median(after[-k:])
    # thrown up during the burst, or already thrown at the first logged point (a plain RNN
    # initialised at the edge of stability logs its blown-up loss first)
    jumped = jumped_to >= p.burst_jump * first
    if not (jumped or first >= p.burst_first * settled):
        return None
    bad, why = _loss_unhealthy(ctx, until, p)
    since = (settled - end) / settled if settled > 0 else 0.0
    if not bad and since < p.min_progress:
        # judged from where the loss settled after the burst, not from the blown-up start
        moved = f"{100 * since:.0f}% progress" if since >= 0 else f"{-100 * since:.0f}% higher"
        bad, why = True, f"after the burst the loss went from {fmt(settled)} to {fmt(end)} ({moved})"
    if not bad:
        return None
    thrown = {"loss_jump": round(jumped_to / first, 2)} if jumped else {"first_over_settled": round(first / settled, 2)}
    return {"onset": int(g.steps[high[0]]), "burst_points": int(high.size), "burst_peak_ratio": round(float(early.max()) / med, 1),
            "burst_until": int(until), **thrown, "why": why}


def detect(ctx: Context, p: Params) -> list[Finding]:
    g = ctx.grad
    if g is None or g.n + (g.nonfinite_step is not None) < p.min_points:
        return []
    vals = g.values
    early = float(median(vals[: max(3, vals.size // 10)])) if vals.size else math.nan
    evidence: dict = {"signal": "grad_norm", "early_grad_norm": early}
    # Growth of the running level over the finite part.
    b = g.bvals
    peak_i = int(np.argmax(b)) if b.size else 0
    peak = float(b[peak_i]) if b.size else math.nan
    finite_growth = peak / early if early > 0 else math.nan
    # A norm that turns NaN together with the loss (bad inputs) did not explode; it explodes
    # when it goes non-finite first, or after growing — and stays so: a few non-finite norms in a
    # run that trained on are steps a loss scaler skipped (non-finite's skipped-steps form)
    loss_nan = ctx.train.nonfinite_step if ctx.train is not None else None
    nonfinite = g.cut_short and (
        loss_nan is None or g.nonfinite_step < loss_nan or (math.isfinite(finite_growth) and finite_growth >= 10)
    )
    growth = math.inf if nonfinite else finite_growth
    onset = None
    kind = None
    if nonfinite or (math.isfinite(growth) and growth >= p.min_growth):
        # Onset: where the running level first exceeds 10x the early level.
        above = np.nonzero(b > 10 * early)[0] if early > 0 else np.zeros(0, dtype=int)
        onset = int(g.bsteps[above[0]]) if above.size else int(g.nonfinite_step or g.steps[-1])
        bad, why = _loss_unhealthy(ctx, onset, p)
        if bad:
            kind = "growth"
            evidence.update(growth=("inf" if not math.isfinite(growth) else round(growth, 1)), why=why)
    spikes = _spikes(vals, p.window, p.spike_k)
    rate = spikes.size / max(vals.size, 1)
    if kind is None and spikes.size >= p.min_spikes and rate >= p.spike_rate:
        # Heavy-tailed per-batch norms are normal with small batches; spikes matter when the
        # loss suffers too.
        bad, why = _loss_unhealthy(ctx, float(g.steps[spikes[0]]), p)
        if bad:
            kind = "spikes"
            evidence["why"] = why
    if kind is None:
        burst = _burst(ctx, p)
        if burst is not None:
            kind, onset = "burst", burst.pop("onset")
            evidence.update(burst)
    if kind == "spikes":
        onset = int(g.steps[spikes[0]])
        ratios = vals[spikes] / np.maximum(median(vals), 1e-30)
        evidence.update(spikes=int(spikes.size), spike_rate=round(rate, 4), max_spike_ratio=round(float(ratios.max()), 1))
    if kind is None or (ctx.workload == "rl" and not (kind == "growth" and growth >= p.rl_min_growth)):
        return []

    c = ctx.train
    loss_bad = c is not None and (c.nonfinite_step is not None or (c.n >= 8 and mann_kendall_z(c.bvals[c.bsteps >= (onset or 0)]) > 2.6))
    severity = Severity.CRITICAL if (nonfinite or loss_bad or kind == "growth") else Severity.WARNING
    clip = clip_threshold(ctx, onset) or (float(f"{np.quantile(vals, 0.9):.2g}") if vals.size else 1.0)
    evidence["suggested_max_norm"] = clip
    evidence["step_range"] = [onset, int(g.steps[-1]) if g.n else onset]
    rem = [
        R.clip_grad_norm(clip, "clip by global norm near the healthy 90th percentile (by norm, not by value)"),
        R.scale_lr(0.3, "smaller steps keep large gradients from compounding"),
        R.weight_decay(1e-4, "L2 keeps weights, and so gradients, from growing"),
        R.normalization("layernorm", "normalised activations keep gradient scales stable"),
        R.residual(True, "residual paths keep gradients well-conditioned through depth"),
        R.activation("elu", "a smoother activation can tame the gradient (relu -> elu/tanh); for a plain RNN use an LSTM/GRU cell"),
    ]
    if kind == "growth":
        g_txt = "to non-finite" if not math.isfinite(growth) else times(growth)
        summary = f"gradient norm grew {g_txt} from its early level {fmt(early)} (peak {fmt(peak)} at step {int(g.bsteps[peak_i])}); {evidence.get('why', '')}"
        conf = 0.95 if nonfinite else margin_confidence(math.log10(growth), math.log10(p.min_growth), 1.0, base=0.7)
    else:
        summary, conf = _burst_or_spikes_text(kind, evidence, p, onset)
    return [finding(ID, severity, conf, summary, evidence, rem, onset=onset)]


def _burst_or_spikes_text(kind: str, evidence: dict, p: Params, onset: int | None) -> tuple[str, float]:
    """The summary and confidence of the burst and spikes forms."""
    if kind == "burst":
        thrown = (f"jumped {times(evidence['loss_jump'])}" if "loss_jump" in evidence
                  else f"had its first logged point already {times(evidence['first_over_settled'])} where it settled")
        summary = (
            f"gradient norm burst to {times(evidence['burst_peak_ratio'])} its median in the first steps ({evidence['burst_points']} "
            f"points above {p.spike_k:.0f}x, to step {evidence['burst_until']}) while the loss {thrown}; {evidence['why']}"
        )
        return summary, margin_confidence(evidence["burst_points"], p.min_burst, 5, base=0.6)
    summary = (
        f"gradient norm spiked above {p.spike_k:.0f}x its running median {evidence['spikes']} times "
        f"({100 * evidence['spike_rate']:.1f}% of steps, up to {times(evidence['max_spike_ratio'])} its median), first at step {onset}; {evidence['why']}"
    )
    return summary, margin_confidence(evidence["spike_rate"], p.spike_rate, 0.02, base=0.6)
