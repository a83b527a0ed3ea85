"""Event sampling in O(events): who, out of n, has an event this month.

Drawing a uniform number for every buyer every month would make the work per month proportional to the
population. Instead the gaps between successive buyers with an event are geometric, so the sorted indices
of a Bernoulli(p) sample of ``range(n)`` cost O(n·p) draws. Per-buyer rates that differ are handled by
thinning: sample at the highest rate, then keep each candidate with probability rate / highest rate.
"""

from __future__ import annotations

import math

import numpy as np

from sim.jit import jit


@jit
def geometric_scale(p: float) -> float:
    """For sampling each of n slots with probability ``p`` by skipping: the gap to the next sampled slot is
    1 + floor(E · scale) for a standard exponential E (Geometric(p), as the inverse of its CDF). 0 for p ≥ 1
    (every slot); infinite for p ≤ 0 (none)."""
    if p <= 0.0:
        return np.inf
    if p >= 1.0:
        return 0.0
    return -1.0 / math.log1p(-p)


@jit
def next_slot(rng, pos: int, n: int, scale: float) -> int:
    """The next slot after ``pos`` sampled with probability p (``scale = geometric_scale(p)``), ``n`` if none."""
    if scale == np.inf:
        return n
    step = rng.standard_exponential() * scale
    if step >= n - pos - 1:  # past the last slot (compared as a float: a huge gap cannot overflow)
        return n
    return pos + 1 + int(step)


@jit
def bernoulli_positions(rng, n: int, p: float) -> np.ndarray:
    """Sorted, distinct indices i in [0, n), each included independently with probability ``p`` (compiled):
    ``next_slot`` from one to the next, as the month's passes over the slots do (``sim.kernels.service_month``)."""
    scale = geometric_scale(p)
    out = np.empty(max(16, int(n * min(max(p, 0.0), 1.0) * 1.1) + 16), dtype=np.int64)
    k = 0
    pos = next_slot(rng, -1, n, scale)
    while pos < n:
        if k == out.size:
            bigger = np.empty(2 * out.size, dtype=np.int64)
            bigger[:k] = out
            out = bigger
        out[k] = pos
        k += 1
        pos = next_slot(rng, pos, n, scale)
    return out[:k]


def bernoulli_indices(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Sorted, distinct indices i in [0, n), each included independently with probability ``p``."""
    return bernoulli_positions(rng, int(n), float(p))


def thinned_indices(rng: np.random.Generator, n: int, p_max: float, rate_of) -> np.ndarray:
    """Indices with per-index probability ``rate_of(candidates)`` ≤ ``p_max``, sampled by thinning.

    Args:
        rng: the stream drawn from.
        n: the indices are ``range(n)``.
        p_max: an upper bound of every index's probability, in [0, 1].
        rate_of: maps an int64 array of candidate indices to their probabilities (same shape, each ≤ ``p_max``).

    Returns:
        The sorted, distinct indices kept (int64).
    """
    candidates = bernoulli_indices(rng, n, p_max)
    if candidates.size == 0:
        return candidates
    keep = rng.random(candidates.size) * p_max < rate_of(candidates)
    return candidates[keep]


@jit
def uniform_integer(rng, low: int, high: int) -> int:
    """An integer from ``low`` to ``high`` (both included), each equally likely: low + floor(U · (high − low + 1))
    for a uniform U in [0, 1). (In compiled code this is about ten times faster than ``rng.integers``.)"""
    return low + int(rng.random() * (high - low + 1))
