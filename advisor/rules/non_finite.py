"""Loss or a metric became NaN or ±Inf.

Why it matters: once a loss is non-finite the weights usually are too; every later step is
wasted and the run cannot recover on its own.

Signals: any loss (train or validation); also accuracy, other metrics and the gradient norm.

Trigger: a NaN or ±Inf value in the train loss, the validation loss, a resolved metric or the
gradient norm. The first such step is the onset.

What preceded it is read from the last ``lookback`` of the finite part: a gradient norm
that grew ``growth``-fold or more is an explosion; a significant upward trend of the loss is
divergence.

Remedies, ordered by what preceded the first non-finite value:
  * non-finite from the very first point while the gradient norm (if logged) was finite:
    the inputs or the loss computation (0/0, log 0) -> ``sanitize_inputs``, ``check_data``;
  * after fewer than ``early_points`` finite points (an early blow-up): a learning rate orders
    of magnitude too high -> ``scale_lr`` 0.01, ``clip_grad_norm``, ``warmup``, then the inputs;
  * gradient norm growing by orders of magnitude before it (exploding gradients) ->
    ``clip_grad_norm`` at about the 90th percentile of the healthy norm, ``scale_lr`` 0.1,
    ``warmup``;
  * train loss rising before it (divergence) -> ``scale_lr`` 0.1, ``clip_grad_norm``, ``warmup``;
  * a sudden jump from a healthy, falling loss (a bad batch) -> ``sanitize_inputs``,
    ``clip_grad_norm``, ``check_data``.
  Clipping by value instead of by norm can flip the update direction; clip by norm.

A gradient norm that is non-finite at no more than ``max_skipped_share`` of its points and none of
its last tenth, while every loss stays finite, is reported at info: a mixed-precision loss scaler
(fp16 autocast with dynamic scaling) skips the steps whose scaled gradients overflow, most often
while it calibrates in the first steps, and training goes on unharmed.

A stream that recovered — non-finite at no more than 5% of its points, none in its last tenth
(``advisor.signals.finite_part``) — is the ``recovered`` form: a warning when the train loss went
non-finite and trained on, info when only an evaluation did while the train loss stayed finite;
not the early blow-up cause; and the other rules read the finite points, whose findings stand
(the engine drops nothing for this form).

Known false positives: none for the loss itself; a metric that is legitimately undefined at
some steps (e.g. a ratio with an empty denominator logged as NaN) is reported at info level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advisor import remedies as R
from advisor.model import Finding, Remedy, Role, Severity
from advisor.rules.base import Context, finding
from advisor.signals import finite_part, fmt, mann_kendall_z, median

ID = "non-finite"
SEVERITY = Severity.CRITICAL
SIGNALS = ("any loss",)
WORKLOADS = ("supervised", "unknown", "rl", "gan")  # a NaN means the same in every workload


@dataclass(frozen=True)
class Params:
    growth: float = 10.0  # gradient-norm growth (x) before the NaN that counts as exploding
    lookback: float = 0.2  # fraction of the finite prefix examined for what preceded the NaN
    early_points: int = 10  # fewer finite train-loss points than this before the NaN: an early blow-up
    max_skipped_share: float = 0.05  # a non-finite gradient norm this rare, with finite losses: skipped steps


# A non-finite value in one of these means the optimisation itself broke (critical): the losses
# and gradient norm of any workload, and an RL agent's reward and policy entropy.
_CRITICAL_ROLES = (
    Role.TRAIN_LOSS, Role.VAL_LOSS, Role.GRAD_NORM, Role.REWARD, Role.ENTROPY, Role.VALUE_LOSS, Role.POLICY_LOSS,
    Role.GEN_LOSS, Role.DISC_LOSS,
)


def _first_bad(ctx: Context) -> tuple[Role, int, float, int] | None:
    """(role, step, value, count) of the earliest non-finite value among the monitored roles."""
    best = None
    for role in (*_CRITICAL_ROLES, Role.TRAIN_ACC, Role.VAL_ACC, Role.TRAIN_METRIC, Role.VAL_METRIC):
        s = ctx.series(role)
        if s is None or not len(s):
            continue
        bad = ~np.isfinite(s.values)
        if bad.any():
            i = int(np.argmax(bad))
            cand = (role, int(s.steps[i]), float(s.values[i]), int(bad.sum()))
            # Earliest step wins; at equal steps a loss beats a metric (role order).
            if best is None or cand[1] < best[1]:
                best = cand
    return best


def clip_threshold(ctx: Context, before_step: float | None = None) -> float | None:
    """About the 90th percentile of the healthy gradient norm (the early, finite part)."""
    g = ctx.grad
    if g is None or g.n < 5:
        return None
    vals = g.values if before_step is None else g.values[g.steps < before_step]
    if vals.size < 5:
        vals = g.values
    # Healthy part: the first half of what came before the trouble.
    head = vals[: max(5, vals.size // 2)]
    head = head[np.isfinite(head) & (head > 0)]
    if head.size == 0:
        return None
    q = float(np.quantile(head, 0.9))
    return float(f"{q:.2g}") if q > 0 else None


def _cause(ctx: Context, p: Params, role: Role, step: int, evidence: dict, recovered: bool) -> tuple[str, float | None]:
    """What preceded the first non-finite value (and the gradient-norm growth before it)."""
    s_first = ctx.series(role)
    at_start = s_first is not None and step == int(s_first.steps[0])
    grad_finite_at_start = ctx.grad is not None and ctx.grad.n > 0 and ctx.grad.steps[0] <= step
    growth = None
    g = ctx.grad
    if g is not None and g.n >= 5:
        prior = g.values[g.steps <= step]
        if prior.size >= 5:
            early = float(median(prior[: max(3, prior.size // 5)]))
            late = float(np.max(prior[-max(3, int(prior.size * p.lookback)) :]))
            if early > 0 and math.isfinite(late):
                growth = late / early
                evidence["grad_norm_growth"] = round(growth, 2)
    rising = False
    prior = _finite_before(ctx, step)
    if prior.size >= 8:
        k = max(4, int(prior.size * p.lookback))
        tail = prior[-k:]
        z = mann_kendall_z(tail)
        rising = z > 2.6 and tail[-1] > median(prior[: max(3, prior.size // 5)])
        evidence["loss_trend_before"] = round(z, 2)
    # (a stream that recovered was not blown up by its first steps: the run trained on)
    early = 0 < prior.size < p.early_points and not at_start and not recovered
    if at_start and (grad_finite_at_start or ctx.grad is None):
        return "inputs", growth
    if early:
        return "early", growth
    if growth is not None and growth >= p.growth:
        return "exploding", growth
    if rising:
        return "diverging", growth
    return "sudden", growth


def _finite_before(ctx: Context, step: int) -> np.ndarray:
    """The train loss's finite points before ``step`` (a recovered curve goes on past it)."""
    train = ctx.train
    return np.empty(0) if train is None else train.values[train.steps < step]


def _remedies(ctx: Context, cause: str, step: int, growth: float | None) -> tuple[list[Remedy], str]:
    """The remedies for a cause, in order, and the words that explain it."""
    clip = clip_threshold(ctx, step) or 1.0
    n_before = _finite_before(ctx, step).size
    if cause == "inputs":
        rem = [
            R.sanitize_inputs("non-finite from the first step: check inputs and the loss for 0/0 and log 0"),
            R.check_data("inputs and labels for NaN/Inf; the loss for log(0) or division by zero"),
        ]
        why = "from the first logged step, so the inputs or the loss computation are the likely cause"
    elif cause == "exploding":
        rem = [
            R.clip_grad_norm(clip, f"gradient norm grew {fmt(growth)}x before the NaN; clip by norm near its healthy 90th percentile"),
            R.scale_lr(0.1, "a smaller step keeps the gradients from compounding"),
            R.warmup(max(100, int(0.05 * max(step, 1))), "ramp the learning rate up while the gradients settle"),
            R.check_data("inputs for NaN/Inf if clipping does not help"),
        ]
        why = f"after the gradient norm grew {fmt(growth)}x (exploding gradients)"
    elif cause == "early":
        rem = [
            R.scale_lr(0.01, f"the loss blew up after {n_before} finite step(s): the learning rate is likely orders of magnitude too high"),
            R.clip_grad_norm(clip, "bound the first updates"),
            R.warmup(max(100, int(0.05 * max(step, 1))), "ramp the learning rate up from a small value"),
            R.sanitize_inputs("if a smaller rate does not help: check the inputs for NaN/Inf and huge values"),
        ]
        why = f"after only {n_before} finite point(s): a learning rate far too high (or broken inputs)"
    elif cause == "diverging":
        rem = [
            R.scale_lr(0.1, "the loss rose before it went non-finite: the learning rate is too high"),
            R.clip_grad_norm(clip, "bound the update size"),
            R.warmup(max(100, int(0.05 * max(step, 1))), "a warmup avoids the early blow-up"),
        ]
        why = "after the training loss had been rising (divergence)"
    else:
        rem = [
            R.sanitize_inputs("a sudden NaN in a healthy run usually comes from a bad batch: drop or fix non-finite inputs"),
            R.clip_grad_norm(clip, "bound the update a bad batch can make"),
            R.check_data("the batch at that step for NaN/Inf, and the loss for log(0) or 0/0"),
        ]
        why = "suddenly, while the loss had been behaving"
    return rem, why


def _skipped_steps(ctx: Context, p: Params) -> bool:
    """Only the gradient norm went non-finite, at no more than ``max_skipped_share`` of its points
    and none of its last tenth, while every loss stayed finite: a mixed-precision loss scaler
    skipping the steps whose scaled gradients overflowed (fp16's dynamic scaling does this by
    design, most often in the first steps while it calibrates), not a broken optimisation."""
    g = ctx.series(Role.GRAD_NORM)
    if g is None or len(g) < 10:
        return False
    bad = ~np.isfinite(g.values)
    if bad.mean() > p.max_skipped_share or bad[-max(1, len(g) // 10):].any():
        return False
    for role in (Role.TRAIN_LOSS, Role.VAL_LOSS):
        s = ctx.series(role)
        if s is not None and len(s) and not np.isfinite(s.values).all():
            return False
    return ctx.series(Role.TRAIN_LOSS) is not None


def _skipped_finding(ctx: Context, step: int, value: float, count: int) -> Finding:
    tag = ctx.tag(Role.GRAD_NORM) or Role.GRAD_NORM.value
    g = ctx.series(Role.GRAD_NORM)
    evidence = {"first_nonfinite_step": step, "signal": Role.GRAD_NORM.value, "tag": tag, "value": str(value),
                "nonfinite_points": count, "share": round(count / max(len(g), 1), 4), "cause": "skipped-steps", "form": "skipped-steps",
                "step_range": [step, ctx.last_step]}
    summary = (f"{tag} was {value} at {count} of {len(g)} logged steps (first at step {step}) while every loss stayed "
               "finite and training went on: a mixed-precision loss scaler skipping overflowed steps looks like this, "
               "and is harmless while it stays rare")
    rem = [R.check_data("if the run is not in fp16/bf16 autocast, the batches at those steps (a loss scaler explains them otherwise)")]
    return finding(ID, Severity.INFO, 0.5, summary, evidence, rem, onset=step)


def detect(ctx: Context, p: Params) -> list[Finding]:
    hit = _first_bad(ctx)
    if hit is None:
        return []
    role, step, value, count = hit
    if role == Role.GRAD_NORM and _skipped_steps(ctx, p):
        return [_skipped_finding(ctx, step, value, count)]
    tag = ctx.tag(role) or role.value
    is_loss = role in _CRITICAL_ROLES
    train = ctx.train
    evidence: dict = {"first_nonfinite_step": step, "signal": role.value, "tag": tag, "value": str(value), "nonfinite_points": count}
    back = _recovered(ctx)
    cause, growth = _cause(ctx, p, role, step, evidence, back is not None)
    evidence["cause"] = cause
    evidence["step_range"] = [step, ctx.last_step]
    rem, why = _remedies(ctx, cause, step, growth)
    severity = Severity.CRITICAL if is_loss else Severity.INFO
    last_ok = None
    if train is not None and train.n:
        last_ok = float(train.values[-1])
        evidence["last_finite_train_loss"] = last_ok
    summary = f"{tag} became {value} at step {step} ({count} non-finite point{'s' if count != 1 else ''}) {why}"
    if is_loss and back is not None:
        # a few NaN points in a run that trained on: the rules read its finite points, and the
        # engine lets what they show stand (NO_CONFLICT_FORMS)
        evidence.update(form="recovered", finite_after=back)
        train_broke = train is not None and train.nonfinite_step is not None
        # the train loss stayed finite: an evaluation went non-finite, the training did not
        if train_broke or ctx.series(Role.TRAIN_LOSS) is None:
            severity = Severity.WARNING
            summary += f"; training went on and recovered: the last {back} logged points are finite"
        else:
            severity = Severity.INFO
            summary += (f"; the train loss stayed finite and the last {back} points are finite again: an evaluation "
                        "that overflowed (fp16) or met a broken batch, not the training itself")
    return [finding(ID, severity, 0.99 if is_loss else 0.6, summary, evidence, rem, onset=step)]


def _recovered(ctx: Context) -> int | None:
    """Finite points after the last non-finite one, when every loss (and the gradient norm) that
    went non-finite recovered (:func:`advisor.signals.finite_part`); None when one did not."""
    after = None
    for role in _CRITICAL_ROLES:
        s = ctx.series(role)
        if s is None or not len(s) or np.isfinite(s.values).all():
            continue
        if not finite_part(s.steps, s.values)[3]:
            return None
        last_bad = int(np.flatnonzero(~np.isfinite(s.values))[-1])
        n = int(s.values.size - last_bad - 1)
        after = n if after is None else min(after, n)
    return after
