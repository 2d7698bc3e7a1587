"""The case list and its selection by size, name glob and seed count."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from . import cases_faults as f1
from . import cases_faults2 as f2
from . import cases_faults3 as f3
from .cases_healthy import healthy
from .spec import Case

FAULTS: tuple[Callable[[], list[Case]], ...] = (
    f1.lr_too_high, f1.non_finite, f1.divergence, f1.exploding_gradients, f1.vanishing_gradients,
    f1.no_learning, f1.plateau, f1.slow_convergence, f1.oscillation, f1.unshuffled_data, f1.gradient_noise,
    f2.overfitting, f2.underfitting, f2.still_improving, f2.lr_decay_needed, f2.schedule_misconfigured,
    f2.val_below_train, f2.data_mismatch, f2.noisy_validation, f2.clipping_saturated, f2.bad_initial_loss,
    f3.second_recipes,
)


def all_cases() -> list[Case]:
    out = healthy() + [c for fn in FAULTS for c in fn()]
    names = [c.name for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate case names: {sorted(dup)}")
    return out


def jobs(size: str, only: str = "", seeds: int = 0, first_seed: int = 0) -> list[tuple[Case, int]]:
    """(case, seed) pairs. ci: the ci cases, one seed each alternating 0/1 so both splits appear.
    ``first_seed``: seeds start there (``--seeds 1 --first-seed 3``: a fresh test seed alone)."""
    cases = [c for c in all_cases() if size == "full" or c.ci]
    if only:
        cases = [c for c in cases if fnmatch.fnmatch(c.name, only) or fnmatch.fnmatch(c.condition, only)]
    if size == "ci" and not seeds and not first_seed:
        return [(c, i % 2) for i, c in enumerate(cases)]
    k = seeds or 2
    return [(c, s) for c in cases for s in range(first_seed, first_seed + (c.seeds or k))]
