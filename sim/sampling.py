"""Event sampling in O(events): who, out of n, has an event this month.

Drawing a uniform number for every buyer every month would make the work per month proportional to the
population. Instead the gaps between successive buyers with an event are geometric, so the sorted indices
of a Bernoulli(p) sample of ``range(n)`` cost O(n·p) draws. Per-buyer rates that differ are handled by
thinning: sample at the highest rate, then keep each candidate with probability rate / highest rate.
"""

from __future__ import annotations

import numpy as np


def bernoulli_indices(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Sorted, distinct indices i in [0, n), each included independently with probability ``p``."""
    if n <= 0 or p <= 0.0:
        return np.empty(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(n, dtype=np.int64)
    if p < 1e-9:  # gaps of ~1/p would overflow the cumulative sum: draw the count, then the indices
        k = int(rng.binomial(n, p))
        return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
    mean = n * p
    chunk = int(mean + 6.0 * np.sqrt(mean) + 16)
    out = []
    last = -1
    while True:
        gaps = rng.geometric(p, size=chunk)
        pos = last + np.cumsum(gaps)
        if pos[-1] >= n:
            out.append(pos[pos < n])
            break
        out.append(pos)
        last = int(pos[-1])
    return np.concatenate(out) if len(out) > 1 else out[0]


def thinned_indices(rng: np.random.Generator, n: int, p_max: float, rate_of) -> np.ndarray:
    """Indices with per-index probability ``rate_of(candidates)`` ≤ ``p_max``, sampled by thinning."""
    candidates = bernoulli_indices(rng, n, p_max)
    if candidates.size == 0:
        return candidates
    keep = rng.random(candidates.size) * p_max < rate_of(candidates)
    return candidates[keep]
