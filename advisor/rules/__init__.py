"""One module per condition of SPEC §2; :data:`RULES` is the single registry.

``advisor rules`` lists them; ``advisor explain ID`` prints a module's docstring and parameters.
"""

from __future__ import annotations

from advisor.rules import (
    bad_initial_loss,
    clipping_saturated,
    data_mismatch,
    discriminator_overpowering,
    divergence,
    entropy_collapse,
    exploding_gradients,
    gradient_noise,
    lr_decay_needed,
    lr_too_high,
    no_learning,
    noisy_validation,
    non_finite,
    oscillation,
    overfitting,
    plateau,
    reward_collapse,
    schedule_misconfigured,
    slow_convergence,
    still_improving,
    underfitting,
    unshuffled_data,
    val_below_train,
    validation_overuse,
    vanishing_gradients,
)
from advisor.rules.base import RuleSpec

RULES: tuple[RuleSpec, ...] = tuple(
    RuleSpec.from_module(m)
    for m in (
        non_finite,
        lr_too_high,
        divergence,
        exploding_gradients,
        vanishing_gradients,
        no_learning,
        plateau,
        slow_convergence,
        oscillation,
        unshuffled_data,
        gradient_noise,
        overfitting,
        underfitting,
        still_improving,
        lr_decay_needed,
        schedule_misconfigured,
        val_below_train,
        data_mismatch,
        noisy_validation,
        clipping_saturated,
        bad_initial_loss,
        entropy_collapse,
        reward_collapse,
        discriminator_overpowering,
        validation_overuse,
    )
)

BY_ID: dict[str, RuleSpec] = {r.id: r for r in RULES}
CONDITION_IDS: tuple[str, ...] = tuple(BY_ID)


def get(rule_id: str) -> RuleSpec:
    from advisor.errors import UsageError

    try:
        return BY_ID[rule_id]
    except KeyError:
        raise UsageError(f"unknown condition id {rule_id!r} (see `advisor rules`)") from None
