"""Event sampling in O(events): who, out of n, has an event this month.

Drawing a uniform number for every buyer every month would make the work per month proportional to the
population. Instead the gaps between successive buyers with an event are geometric, so the sorted indices
of a Bernoulli(p) sample of ``range(n)`` cost O(n·p) draws. Per-buyer rates that differ are handled by
thinning: sample at the highest rate, then keep each candidate with probability rate / highest rate.
"""

from __future__ import annotations

import math

import numpy as np

from sim.jit import formula, jit


@jit
def bernoulli_positions(rng, n: int, p: float) -> np.ndarray:
    """Sorted, distinct indices i in [0, n), each included independently with probability ``p`` (compiled).

    The gap to the next index is Geometric(p): 1 + floor(E / -log(1 - p)) for an exponential draw E (the
    inverse of its CDF, as numpy draws it)."""
    if n <= 0 or p <= 0.0:
        return np.empty(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(n)
    scale = -1.0 / math.log1p(-p)
    mean = n * p
    out = np.empty(int(mean + 6.0 * math.sqrt(mean) + 16), dtype=np.int64)
    k = 0
    pos = -1
    while True:
        while k < out.size:
            step = rng.standard_exponential() * scale
            if step >= n - pos - 1:  # past the end (compared as a float: a huge gap cannot overflow)
                return out[:k]
            pos += 1 + int(step)
            out[k] = pos
            k += 1
        bigger = np.empty(2 * out.size, dtype=np.int64)  # more than 6 standard deviations above the mean
        bigger[:k] = out
        out = bigger


def bernoulli_indices(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Sorted, distinct indices i in [0, n), each included independently with probability ``p``."""
    return bernoulli_positions(rng, int(n), float(p))


def thinned_indices(rng: np.random.Generator, n: int, p_max: float, rate_of) -> np.ndarray:
    """Indices with per-index probability ``rate_of(candidates)`` ≤ ``p_max``, sampled by thinning."""
    candidates = bernoulli_indices(rng, n, p_max)
    if candidates.size == 0:
        return candidates
    keep = rng.random(candidates.size) * p_max < rate_of(candidates)
    return candidates[keep]


@formula
def uniform_integer(rng, low: int, high: int) -> int:
    """An integer from ``low`` to ``high`` (both included), each equally likely: low + floor(U · (high − low + 1))
    for a uniform U in [0, 1). (In compiled code this is about ten times faster than ``rng.integers``.)"""
    return low + int(rng.random() * (high - low + 1))


@jit
def grown(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` with twice the rows (the new rows uninitialised): for buffers filled in compiled code."""
    out = np.empty((2 * a.shape[0],) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out
