"""Satisfaction with the owned brand: loss-averse updates, decay toward a baseline, and service recovery.

* A bad experience hurts more than a good one helps: the update weighs losses by ``loss_aversion``
  (Anderson & Sullivan 1993).
* Between events satisfaction decays exponentially toward a baseline. It is stored lazily with the month it
  was last written and decayed on read, so months without events cost nothing.
* Service recovery (Dillard & Bates): an owner left very unhappy complains; a complaint resolved within 90
  days restores much of the loss, one resolved in 90-180 days less, one never resolved nothing.

Each formula is written for one owner (``decayed``, ``updated``, ``draw_resolution_delay``) and compiled; both
engines call these. The array versions (``current``, ``update``, ``resolution_delay``) apply them element-wise.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from sim.jit import jit, record
from sim.sampling import uniform_integer
from sim.scenario import Satisfaction

# Complaint resolution (Dillard & Bates): within 90 days, in 90-180 days, or never. Delays are whole months.
FAST_RESOLUTION_MONTHS = 3  # a complaint resolved within this many months (90 days) is resolved fast
SLOW_RESOLUTION_MONTHS = 6  # ... within this many (180 days), slowly


class SatisfactionParams(NamedTuple):
    """The ``[satisfaction]`` parameters, as compiled code reads them."""
    learning_rate: float
    loss_aversion: float
    decay_months: float
    new_car: float
    baseline: float
    complaint_below: float
    recovery_fast: float
    recovery_slow: float
    take_back_below: float
    take_back_probability: float
    take_back_satisfaction: float
    early_replace_below: float
    early_replace_probability: float
    repurchase_carryover: float

    @classmethod
    def of(cls, p: Satisfaction) -> SatisfactionParams:
        """The parameters of ``p`` (the scenario's ``[satisfaction]``), field by field (``sim.jit.record``)."""
        return record(cls, p)


@jit
def decayed(sat: float, months_since: float, baseline: float, decay_months: float) -> float:
    """Satisfaction ``months_since`` months after it was ``sat``: exponential decay toward ``baseline``."""
    return toward(baseline, sat, math.exp(-months_since / decay_months))


@jit
def toward(baseline: float, sat: float, factor: float) -> float:
    """Satisfaction ``sat`` decayed toward ``baseline`` by ``factor`` (``decay_factors``): what ``decayed`` returns."""
    return baseline + (sat - baseline) * factor


@jit
def decay_factors(months: int, decay_months: float) -> np.ndarray:
    """``math.exp(-k / decay_months)`` for k = 0 .. months: the factor by which satisfaction ``k`` months old
    has moved toward the baseline, as a table (the compiled passes read it rather than call ``exp``)."""
    out = np.empty(months + 1)
    for k in range(months + 1):
        out[k] = math.exp(-k / decay_months)
    return out


@jit
def updated(s: float, x: float, learning_rate: float, loss_aversion: float) -> float:
    """Satisfaction after an experience ``x``: gains weigh ``learning_rate``, losses ``loss_aversion`` times more."""
    weight = learning_rate * loss_aversion if x < 0 else learning_rate
    return min(max(s + weight * x, -1.0), 1.0)


@jit
def draw_resolution_delay(rng, p_fast: float, p_slow: float) -> int:
    """Months until a complaint is resolved: 1-3 (within 90 days) with probability ``p_fast``, 4-6 (90-180 days)
    with ``p_slow``, or 0 = never (``FAST_RESOLUTION_MONTHS``, ``SLOW_RESOLUTION_MONTHS``)."""
    u = rng.random()
    if u < p_fast:
        return uniform_integer(rng, 1, FAST_RESOLUTION_MONTHS)
    if u < p_fast + p_slow:
        return uniform_integer(rng, FAST_RESOLUTION_MONTHS + 1, SLOW_RESOLUTION_MONTHS)
    return 0


# ---- the same, element-wise over arrays ---------------------------------------------------------------------
@jit
def _current_all(sat, sat_month, month, baseline, decay_months):
    out = np.empty(sat.size, dtype=np.float32)
    for k in range(sat.size):
        out[k] = decayed(sat[k], month - sat_month[k], baseline, decay_months)
    return out


def current(sat: np.ndarray, sat_month: np.ndarray, month: int, baseline: float, decay_months: float) -> np.ndarray:
    """Satisfaction as of ``month`` given its value as of ``sat_month`` (float32)."""
    sat, sat_month = np.broadcast_arrays(np.asarray(sat, np.float32), np.asarray(sat_month, np.int64))
    out = _current_all(sat.ravel(), sat_month.ravel(), int(month), float(baseline), float(decay_months))
    return out.reshape(sat.shape)


@jit
def _update_all(s, x, learning_rate, loss_aversion):
    out = np.empty(s.size, dtype=np.float32)
    for k in range(s.size):
        out[k] = updated(s[k], x[k], learning_rate, loss_aversion)
    return out


def update(s: np.ndarray, x: np.ndarray, learning_rate: float, loss_aversion: float) -> np.ndarray:
    """Satisfaction after experiences ``x`` (float32), element-wise."""
    s, x = np.broadcast_arrays(np.asarray(s, np.float64), np.asarray(x, np.float64))
    return _update_all(s.ravel(), x.ravel(), float(learning_rate), float(loss_aversion)).reshape(s.shape)


@jit
def _delays(rng, p_fast, p_slow):
    out = np.empty(p_fast.size, dtype=np.int64)
    for k in range(p_fast.size):
        out[k] = draw_resolution_delay(rng, p_fast[k], p_slow[k])
    return out


def resolution_delay(rng: np.random.Generator, p_fast: np.ndarray, p_slow: np.ndarray) -> np.ndarray:
    """Months until each complaint is resolved: 1-3 (within 90 days), 4-6 (90-180 days), or 0 = never."""
    return _delays(rng, np.asarray(p_fast, np.float64), np.asarray(p_slow, np.float64))
