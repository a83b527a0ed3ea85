"""Brand-level dynamics: service reputation and prestige, both moving slowly.

* Service reputation follows the satisfaction of the brand's owners after their service visits (what a
  CSI survey measures), as an exponential moving average over ``reputation_months``.
* Prestige moves toward a target: the brand's starting prestige, raised by sales-share gains over its
  reference share (success is glamorous) and lowered by discounting (cheapening the brand).
"""

from __future__ import annotations

import numpy as np


def follow(current: np.ndarray, observed: np.ndarray, has_observation: np.ndarray, months: float) -> np.ndarray:
    """Move ``current`` a step of 1/``months`` toward ``observed`` where there is an observation."""
    return np.where(has_observation, current + (observed - current) / months, current)


def prestige_target(initial: np.ndarray, share: np.ndarray, reference_share: np.ndarray, discount: np.ndarray,
                    share_weight: float, discount_erosion: float) -> np.ndarray:
    """Where each brand's prestige is heading, clipped to [0, 1].

    ``initial + share_weight * (share - reference_share) - discount_erosion * discount``, element-wise over
    brands: starting prestige, raised by sales-share gains over the reference share (``choice.prestige_share_weight``)
    and lowered by discounting (``choice.prestige_discount_erosion``, per unit of discount fraction).
    """
    return np.clip(initial + share_weight * (share - reference_share) - discount_erosion * discount, 0.0, 1.0)


def move_toward(value: np.ndarray, target: np.ndarray, months: float) -> np.ndarray:
    """One month's step of ``value`` a 1/``months`` part of the way to ``target`` (~63% of the gap in ``months``)."""
    return value + (target - value) / months
