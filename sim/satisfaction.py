"""Satisfaction with the owned brand: loss-averse updates, decay toward a baseline, and service recovery.

* A bad experience hurts more than a good one helps: the update weighs losses by ``loss_aversion``
  (Anderson & Sullivan 1993).
* Between events satisfaction decays exponentially toward a baseline. It is stored lazily with the month it
  was last written and decayed on read, so months without events cost nothing.
* Service recovery (Dillard & Bates): an owner left very unhappy complains; a complaint resolved within 90
  days restores much of the loss, one resolved in 90-180 days less, one never resolved nothing.
"""

from __future__ import annotations

import numpy as np


def current(sat: np.ndarray, sat_month: np.ndarray, month: int, baseline: float, decay_months: float) -> np.ndarray:
    """Satisfaction as of ``month`` given its value as of ``sat_month``."""
    w = np.exp(-(month - sat_month.astype(np.float32)) / np.float32(decay_months))
    return (baseline + (sat - baseline) * w).astype(np.float32)


def update(s: np.ndarray, x: np.ndarray, learning_rate: float, loss_aversion: float) -> np.ndarray:
    """Satisfaction after an experience ``x``: gains weigh ``learning_rate``, losses ``loss_aversion`` times more."""
    weight = np.where(x < 0, learning_rate * loss_aversion, learning_rate).astype(np.float32)
    return np.clip(s + weight * x, -1.0, 1.0).astype(np.float32)


def resolution_delay(rng: np.random.Generator, p_fast: np.ndarray, p_slow: np.ndarray) -> np.ndarray:
    """Months until each complaint is resolved: 1-3 (within 90 days), 4-6 (90-180 days), or 0 = never."""
    u = rng.random(p_fast.size)
    fast = u < p_fast
    slow = ~fast & (u < p_fast + p_slow)
    delay = np.zeros(p_fast.size, dtype=np.int64)
    delay[fast] = rng.integers(1, 4, int(fast.sum()))
    delay[slow] = rng.integers(4, 7, int(slow.sum()))
    return delay
