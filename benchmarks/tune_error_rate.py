"""The false-acceptance rate of tune's sequential verification, simulated through its own code.

    python benchmarks/tune_error_rate.py                 # 20000 simulated remedies per scenario
    python benchmarks/tune_error_rate.py --n 100000 --max-seeds 5

A remedy that does nothing: baseline and candidate seeds' final losses come from the same
distribution (log-normal, as tune compares losses on a log scale), or — the harder null — the
same median with a different seed-to-seed spread (the candidate 3x or 10x as noisy, or a third or a
tenth). Each simulated remedy goes through :func:`advisor.tune.sequential.decide` look by look the
way :mod:`advisor.tune.loop` does (start at ``--seeds`` per side, one more seed per side while the
decision is open, up to ``--max-seeds``), and the rate at which it is accepted is printed with a 95%
binomial interval, next to the nominal alpha. The Bonferroni split over the looks guarantees at most
alpha whatever the looks' correlation; this shows how much below it the real rate is, and that
Welch's test keeps it below alpha when the two sides' noise differs.

Each seed also shows the condition being repaired or not, with the same chance ``--condition`` on
both sides (the remedy does nothing to it either), and goes through the condition test at the last
look (Fisher's exact test, sharing alpha with the looks) as tune's loop does;
``--condition 0`` leaves the condition test out (the Welch looks alone, at alpha / looks).

A power line per scenario: the same with the candidate better by ``--effect`` (in seed standard
deviations of the baseline, on the log scale).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from advisor.tune.sequential import ALPHA, OPEN, condition_share, decide  # noqa: E402


def accepted(base: np.ndarray, cand: np.ndarray, lo: int, hi: int, shows: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """One simulated remedy through the sequential test (losses: lower is better); ``shows``:
    per seed, whether the baseline's and the candidate's run show the condition."""
    looks = hi - lo + 1
    for n in range(lo, hi + 1):
        present = (int(shows[0][:n].sum()), int(shows[1][:n].sum())) if shows is not None else None
        d = decide(base[:n], cand[:n], True, looks, last=n >= hi, present=present, max_seeds=hi)
        if d.state != OPEN:
            return d.accepted
    return False


def rate(rng: np.random.Generator, n: int, lo: int, hi: int, spread: float, shift: float, condition: float = 0.0) -> tuple[float, float, float]:
    hits = 0
    for _ in range(n):
        base = np.exp(-1.0 + rng.standard_normal(hi))
        cand = np.exp(-1.0 - shift + spread * rng.standard_normal(hi))
        shows = (rng.random(hi) < condition, rng.random(hi) < condition) if condition > 0 else None
        hits += accepted(base, cand, lo, hi, shows)
    p = hits / n
    half = 1.96 * math.sqrt(max(p * (1 - p), 1e-12) / n)
    return p, max(0.0, p - half), p + half


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="simulated remedies per scenario")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--max-seeds", type=int, default=5)
    ap.add_argument("--effect", type=float, default=1.0, help="the better candidate's gain for the power lines (baseline seed sds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--condition", type=float, default=0.5,
                    help="chance that a seed shows the condition, on either side (0: no condition test); 0.5 is the worst case for it")
    a = ap.parse_args()
    if a.n < 1 or a.seeds < 2 or a.max_seeds < a.seeds:
        print("error: --n >= 1, --seeds >= 2 and --max-seeds >= --seeds", file=sys.stderr)
        return 2
    rng = np.random.default_rng(a.seed)
    if not 0.0 <= a.condition <= 1.0:
        print("error: --condition is a chance in [0, 1]", file=sys.stderr)
        return 2
    looks = a.max_seeds - a.seeds + 1
    share = condition_share(a.max_seeds, looks) if a.condition > 0 else 0.0
    print(f"sequential verification, {a.seeds}..{a.max_seeds} seeds per side, nominal alpha {ALPHA} over all tests "
          f"({(ALPHA - share) / looks:.4g} per Welch look" + (f", {share:.3g} for the condition test at the last" if share else "") +
          f"; a seed shows the condition with chance {a.condition:g} on both sides); {a.n} simulated remedies per line")
    for spread in (1.0, 3.0, 10.0, 1 / 3, 0.1):
        p, lo, hi = rate(rng, a.n, a.seeds, a.max_seeds, spread, 0.0, a.condition)
        q, _, _ = rate(rng, max(1, a.n // 4), a.seeds, a.max_seeds, spread, a.effect, a.condition)
        print(f"candidate noise {spread:5.3g}x the baseline's: false acceptance {p:.4f} (95% {lo:.4f}-{hi:.4f}), "
              f"{'within' if hi <= ALPHA else 'OVER' if lo > ALPHA else 'at'} alpha {ALPHA}; power at a gain of {a.effect:g} sd: {q:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
