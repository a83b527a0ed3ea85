"""Confidence intervals over replications, written once.

A replication is an independent run (its own ``SeedSequence`` child), so replication means are i.i.d. and the
Student t interval applies (Law 2015, *Simulation Modeling and Analysis*, 5th ed., section 9.4.1). A metric
that is bounded (a share, a loyalty rate) has its interval clipped to the bounds: an interval never claims a
value the metric cannot take.
"""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.95
# Below this many replications an interval is printed with a warning: with n = 2, 3 or 4 the t quantile is 12.7, 4.3
# or 3.2 (against 2.0 for many), and the s.d. behind it rests on one to three degrees of freedom, so the interval is
# both very wide and itself unreliable (Law 2015, section 9.4.1, recommends at least 5 to 10 replications).
MIN_REPLICATIONS = 5
CLIPPED_NOTE = ("clipped: an interval that ran past what the metric can take (a share or loyalty in [0, 1], "
                "their differences in [-1, 1]) is cut at that limit")


def few_replications(n: int) -> str | None:
    """The warning printed with intervals over ``n`` replications when ``n`` < :data:`MIN_REPLICATIONS`, else None."""
    if n >= MIN_REPLICATIONS:
        return None
    why = "no interval can be drawn" if n < 2 else "the 95% intervals are wide and themselves unreliable"
    return (f"Warning: only {n} replication{'s' * (n != 1)}: {why}; use -r {MIN_REPLICATIONS} or more "
            "before relying on a difference.")


def interval_text(low: float, high: float, n: int, fmt: str = "{:.0%}", confidence: float = CONFIDENCE) -> str:
    """An interval as text, ``"95% CI low to high"`` (each end through ``fmt``), or, where there is none (fewer than
    two values: ``n`` of them), ``"no interval with n replication(s)"``: never "nan%"."""
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return f"no interval with {n} replication{'s' * (n != 1)}"
    return f"{confidence:.0%} CI {fmt.format(low)} to {fmt.format(high)}"


def clip(low, high, bounds: tuple[float, float]):
    """An interval cut to ``bounds`` (arrays or floats): ``(low, high, clipped)``, ``clipped`` True where an end
    ran past a bound (NaN ends are left as they are and never count as clipped)."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    clipped = (low < bounds[0]) | (high > bounds[1])
    low, high = np.where(low < bounds[0], bounds[0], low), np.where(high > bounds[1], bounds[1], high)
    if low.ndim == 0:
        return float(low), float(high), bool(clipped)
    return low, high, clipped


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
    if ok.any():
        from scipy import stats  # here: scipy.stats takes 1-2 s to import, and only intervals need it

        out[ok] = stats.t.ppf(0.5 + confidence / 2, n[ok] - 1) * sd[ok] / np.sqrt(n[ok])
    return out if out.ndim else float(out)


def ratio_interval(numerator, denominator, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """The ratio of two means over paired replications, mean(``numerator``) / mean(``denominator``), with its
    delta-method t interval (the ratio estimator: the variance of numerator - ratio x denominator over n, divided by
    the squared mean denominator; Cochran 1977 ch. 6): ``(ratio, low, high)``. NaN when the mean denominator is 0 or
    there are no values; the interval NaN with fewer than two (and wide when a replication's denominator is near 0
    or of the other sign: the uncertainty is stated, not hidden). A mean of per-replication ratios would let one
    replication with a near-zero or negative denominator flip the sign of the whole.

    Args:
        numerator, denominator: one value per replication each, paired (NaN pairs dropped).
        confidence: two-sided level, in (0, 1).
    """
    x, y = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    nan = float("nan")
    if x.size == 0:
        return nan, nan, nan
    if y.mean() == 0:
        return nan, nan, nan
    ratio = float(x.mean() / y.mean())
    if x.size < 2:
        return ratio, nan, nan
    half = t_half_width((x - ratio * y).std(ddof=1) / abs(y.mean()), x.size, confidence)
    return ratio, float(ratio - half), float(ratio + half)


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
    if bounds is not None:
        low, high, _ = clip(low, high, bounds)
    return mean, float(low), float(high)
