"""Confidence intervals over replications, written once.

A replication is an independent run (its own ``SeedSequence`` child), so replication means are i.i.d. and the
Student t interval applies (Law 2015, *Simulation Modeling and Analysis*, 5th ed., section 9.4.1). A metric
that is bounded (a share, a loyalty rate) has its interval clipped to the bounds: an interval never claims a
value the metric cannot take.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def t_half_width(sd: np.ndarray | float, n: np.ndarray | int, confidence: float = CONFIDENCE) -> np.ndarray:
    """Half-width of the t interval of a mean of ``n`` i.i.d. values with sample s.d. ``sd`` (NaN where n < 2).

    Args:
        sd: sample standard deviations (ddof=1), any shape.
        n: number of values behind each, broadcastable to ``sd``.
        confidence: two-sided level, in (0, 1).

    Returns:
        The half-widths, the broadcast shape (a float for scalar inputs), in the units of ``sd``.
    """
    sd, n = np.broadcast_arrays(np.asarray(sd, dtype=float), np.asarray(n, dtype=float))
    out = np.full(sd.shape, np.nan)
    ok = n >= 2
    out[ok] = stats.t.ppf(0.5 + confidence / 2, n[ok] - 1) * sd[ok] / np.sqrt(n[ok])
    return out if out.ndim else float(out)


def mean_interval(values, confidence: float = CONFIDENCE, bounds: tuple[float, float] | None = None
                  ) -> tuple[float, float, float]:
    """Mean and two-sided t interval of i.i.d. ``values`` (NaNs dropped): ``(mean, low, high)``.

    With fewer than two values the interval is NaN; with ``bounds`` it is clipped to them. With no values
    all three are NaN.

    Args:
        values: one value per replication (any array-like of numbers).
        confidence: two-sided level, in (0, 1).
        bounds: ``(lowest, highest)`` the metric can take (``(0, 1)`` for a share), or None.

    Returns:
        ``(mean, low, high)`` as floats.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    half = t_half_width(values.std(ddof=1) if values.size > 1 else np.nan, values.size, confidence)
    low, high = mean - half, mean + half
    if bounds is not None and not np.isnan(half):
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, float(low), float(high)
