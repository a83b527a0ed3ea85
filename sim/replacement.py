"""When owners are back in the market.

At purchase each car gets a replacement date: a lease runs its term (2-3 years); an owned car is kept for a
Weibull-distributed time whose hazard rises with age (shape > 1; mean 4-5 years). Dissatisfaction brings the
date forward: an owner left below ``early_replace_below`` by a service event may shop within six months
(lessees less often: breaking a lease is costly). Pre-scheduled dates mean no per-month hazard draw for
every buyer.

The per-car formulas (``draw_holding_months``, ``draw_early_replacement``) are compiled and shared by both
engines; ``holding_months`` and ``early_replacement`` apply them element-wise.
"""

from __future__ import annotations

from math import gamma
from typing import NamedTuple

import numpy as np

from sim.jit import jit
from sim.sampling import uniform_integer
from sim.scenario import Market

MIN_HOLDING_MONTHS = 6
EARLY_REPLACEMENT_MONTHS = 6  # an unhappy owner who replaces early does so within this many months
LESSEE_EARLY_FACTOR = 0.3  # breaking a lease is costly: lessees replace early this much less often


class Holding(NamedTuple):
    """How long cars are kept, as compiled code reads it (from ``[market]``: ``lease_months``,
    ``ownership_months_mean``, ``ownership_shape``)."""
    lease_min: int  # shortest lease term, months (lease_months[0])
    lease_max: int  # longest, months (lease_months[1])
    ownership_scale: float  # Weibull scale (months) giving the mean ownership length ownership_months_mean
    ownership_shape: float  # Weibull shape

    @classmethod
    def of(cls, market: Market) -> Holding:
        """The holding law of the scenario's ``[market]``."""
        return cls.from_values(market.lease_months, market.ownership_months_mean, market.ownership_shape)

    @classmethod
    def from_values(cls, lease_months: tuple[int, int], ownership_months_mean: float,
                    ownership_shape: float) -> Holding:
        """The holding law with lease terms uniform over ``lease_months`` (months, both included) and owned cars
        kept a Weibull time of mean ``ownership_months_mean`` (months) and shape ``ownership_shape`` (> 0)."""
        scale = ownership_months_mean / gamma(1.0 + 1.0 / ownership_shape)
        return cls(int(lease_months[0]), int(lease_months[1]), float(scale), float(ownership_shape))


def lease_probability(propensity: np.ndarray, mix: np.ndarray, trend: float | np.ndarray | None) -> np.ndarray:
    """P(lease) per segment: its propensity, scaled so the mix-weighted mean follows the market trend. For an
    array of trends (months), a row per trend."""
    if trend is None:
        return propensity
    mean = float((propensity * mix).sum())  # (not np.dot: a BLAS call wakes its threads, which then spin)
    factor = np.asarray(trend, dtype=np.float64)[..., None] / mean if mean > 0 else np.zeros(np.shape(trend) + (1,))
    return np.clip(propensity * factor, 0.0, 1.0)


@jit
def draw_holding_months(rng, leased: bool, h: Holding) -> int:
    """Months until a new car is replaced (at least six): a uniform lease term, or a Weibull ownership time."""
    if leased:
        months = uniform_integer(rng, h.lease_min, h.lease_max)
    else:
        months = int(np.rint(h.ownership_scale * rng.weibull(h.ownership_shape)))
    return max(months, MIN_HOLDING_MONTHS)


@jit
def draw_new_car(rng, lease_probability: float, h: Holding) -> tuple[bool, int]:
    """A new car: leased (with ``lease_probability``) or owned, and the months until it is replaced."""
    leased = rng.random() < lease_probability
    return leased, draw_holding_months(rng, leased, h)


@jit
def draw_early_replacement(rng, s: float, leased: bool, below: float, probability: float) -> int:
    """Months until an early replacement (1 to ``EARLY_REPLACEMENT_MONTHS``) for an owner left at satisfaction
    ``s``, 0 if none."""
    if s >= below:
        return 0  # no draw needed: only unhappy owners consider it
    if rng.random() < probability * (LESSEE_EARLY_FACTOR if leased else 1.0):
        return uniform_integer(rng, 1, EARLY_REPLACEMENT_MONTHS)
    return 0


# ---- the same, element-wise over arrays ---------------------------------------------------------------------
@jit
def _holdings(rng, leased, h):
    out = np.empty(leased.size, dtype=np.int64)
    for k in range(leased.size):
        out[k] = draw_holding_months(rng, leased[k], h)
    return out


def holding_months(rng: np.random.Generator, leased: np.ndarray, lease_months: tuple[int, int],
                   ownership_months_mean: float, ownership_shape: float) -> np.ndarray:
    """Months until the car is replaced, for each new car (int64, at least 6)."""
    holding = Holding.from_values(lease_months, ownership_months_mean, ownership_shape)
    return _holdings(rng, np.asarray(leased, bool), holding)


@jit
def _early_all(rng, s, leased, below, probability):
    out = np.empty(s.size, dtype=np.int64)
    for k in range(s.size):
        out[k] = draw_early_replacement(rng, s[k], leased[k], below, probability)
    return out


def early_replacement(rng: np.random.Generator, s: np.ndarray, leased: np.ndarray, below: float,
                      probability: float) -> np.ndarray:
    """Months until an early replacement (1-6) for owners it applies to, 0 for the rest."""
    s = np.asarray(s, np.float64)
    return _early_all(rng, s, np.broadcast_to(np.asarray(leased, bool), s.shape).copy(), float(below),
                      float(probability))
