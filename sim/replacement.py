"""When owners are back in the market.

At purchase each car gets a replacement date: a lease runs its term (2-3 years); an owned car is kept for a
Weibull-distributed time whose hazard rises with age (shape > 1; mean 4-5 years). Dissatisfaction brings the
date forward: an owner left below ``early_replace_below`` by a service event may shop within six months
(lessees less often: breaking a lease is costly). Pre-scheduled dates mean no per-month hazard draw for
every buyer.
"""

from __future__ import annotations

from math import gamma

import numpy as np


def lease_probability(propensity: np.ndarray, mix: np.ndarray, trend: float | None) -> np.ndarray:
    """P(lease) per segment: its propensity, scaled so the mix-weighted mean follows the market trend."""
    if trend is None:
        return propensity
    mean = float(np.dot(propensity, mix))
    return np.clip(propensity * (trend / mean if mean > 0 else 0.0), 0.0, 1.0)


def holding_months(rng: np.random.Generator, leased: np.ndarray, lease_months: tuple[int, int],
                   own_mean: float, own_shape: float) -> np.ndarray:
    """Months until the car is replaced, for each new car (int64, at least 6)."""
    n = leased.size
    lease = rng.integers(lease_months[0], lease_months[1] + 1, n)
    scale = own_mean / gamma(1.0 + 1.0 / own_shape)
    own = np.rint(scale * rng.weibull(own_shape, n)).astype(np.int64)
    return np.maximum(np.where(leased, lease, own), 6)


def early_replacement(rng: np.random.Generator, s: np.ndarray, leased: np.ndarray, below: float,
                      probability: float) -> np.ndarray:
    """Months until an early replacement (1-6) for owners it applies to, 0 for the rest."""
    p = np.where(s < below, probability * np.where(leased, 0.3, 1.0), 0.0)
    hit = rng.random(s.size) < p
    return np.where(hit, rng.integers(1, 7, s.size), 0)
