"""sim/replacement.py: lease-or-own, holding times, early replacement after bad service."""

from __future__ import annotations

from math import gamma

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.replacement import early_replacement, holding_months, lease_probability

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=150)
Z = 5.0
P_FLOOR = 1e-6


# ---- holding times -------------------------------------------------------------------------------------------------
def test_leased_cars_within_lease_range_and_uniform():
    rng = np.random.default_rng(1)
    n = 60_000
    h = holding_months(rng, np.ones(n, bool), (24, 36), 54.0, 3.0)
    assert h.dtype == np.int64
    assert h.min() >= 24 and h.max() <= 36
    counts = np.bincount(h - 24, minlength=13)
    assert counts.size == 13 and np.all(counts > 0)  # both ends of the range are reachable
    assert stats.chisquare(counts).pvalue > P_FLOOR


@pytest.mark.parametrize("ownership_months_mean,shape", [(54.0, 3.0), (60.0, 2.0), (40.0, 4.0)])
def test_owned_mean_and_shape(ownership_months_mean, shape):
    rng = np.random.default_rng(2)
    n = 200_000
    h = holding_months(rng, np.zeros(n, bool), (24, 36), ownership_months_mean, shape)
    sd = ownership_months_mean * np.sqrt(gamma(1 + 2 / shape) / gamma(1 + 1 / shape) ** 2 - 1)
    # rounding to whole months and the 6-month floor shift the mean by far less than 0.1 month here
    assert abs(h.mean() - ownership_months_mean) < Z * sd / np.sqrt(n) + 0.1
    assert abs(h.std() - sd) < 0.02 * sd + 0.5
    # Weibull shape > 1: the hazard rises, so the spread is well below an exponential's (sd = mean)
    assert h.std() < 0.6 * ownership_months_mean


def test_leased_and_owned_mixed_per_car():
    rng = np.random.default_rng(3)
    leased = np.arange(10_000) % 3 == 0
    h = holding_months(rng, leased, (24, 36), 80.0, 3.0)
    assert h[leased].max() <= 36 and h[leased].min() >= 24
    assert h[~leased].mean() > 60  # owned cars follow the ownership law, not the lease range


@HYP
@given(lo=st.integers(0, 40), span=st.integers(0, 30), ownership_months_mean=st.floats(6.5, 120.0),
       shape=st.floats(0.6, 6.0),
       n=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_holding_at_least_six_months(lo, span, ownership_months_mean, shape, n, seed):
    rng = np.random.default_rng(seed)
    leased = rng.random(n) < 0.5
    h = holding_months(rng, leased, (lo, lo + span), ownership_months_mean, shape)
    assert h.shape == (n,) and h.dtype == np.int64
    assert np.all(h >= 6)
    assert np.all(h[leased] <= max(lo + span, 6))
    assert np.all(h[leased] >= max(lo, 6))


# ---- lease probability ---------------------------------------------------------------------------------------------
@st.composite
def segment_mix(draw):
    k = draw(st.integers(1, 5))
    propensity = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k)))
    weights = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k)))
    return propensity, weights / weights.sum()


@HYP
@given(pm=segment_mix(), frac=st.floats(0.0, 1.0))
def test_lease_probability_mix_weighted_mean_equals_trend(pm, frac):
    propensity, mix = pm
    mean = float(propensity @ mix)
    trend = frac * mean / propensity.max()  # small enough that no segment has to be clipped at 1
    p = lease_probability(propensity, mix, trend)
    assert float(p @ mix) == pytest.approx(trend, abs=1e-9)
    assert np.all((p >= 0) & (p <= 1))
    # proportional scaling: segments keep their order and ratios
    if trend > 1e-9:  # (denormal trends underflow)
        np.testing.assert_allclose(p / propensity, trend / mean, rtol=1e-9)


@HYP
@given(pm=segment_mix(), trend=st.floats(0.0, 1.0))
def test_lease_probability_is_a_probability(pm, trend):
    propensity, mix = pm
    p = lease_probability(propensity, mix, trend)
    assert np.all((p >= 0) & (p <= 1))
    assume(float(p @ mix) > 0)
    # never overshoots the trend (clipping at 1 can only lower the mean)
    assert float(p @ mix) <= trend + 1e-9


def test_no_trend_keeps_propensities():
    propensity = np.array([0.45, 0.55, 0.6])
    np.testing.assert_array_equal(lease_probability(propensity, np.array([0.25, 0.6, 0.15]), None), propensity)


def test_flagship_like_numbers():
    propensity, mix = np.array([0.45, 0.55, 0.60]), np.array([0.25, 0.60, 0.15])
    for trend in (0.30, 0.50, 0.55):
        assert float(lease_probability(propensity, mix, trend) @ mix) == pytest.approx(trend)


# ---- early replacement ---------------------------------------------------------------------------------------------
@HYP
@given(s=st.lists(st.floats(-1, 1), min_size=1, max_size=50), below=st.floats(-1, 1), prob=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_early_replacement_only_below_threshold(s, below, prob, seed):
    rng = np.random.default_rng(seed)
    s = np.array(s)
    leased = rng.random(s.size) < 0.5
    months = early_replacement(rng, s, leased, below, prob)
    assert months.shape == s.shape
    assert np.all(months[s >= below] == 0)
    assert np.all((months == 0) | ((months >= 1) & (months <= 6)))
    if prob == 0:
        assert not months.any()


def test_early_replacement_frequency_and_lessees_less_often():
    rng = np.random.default_rng(4)
    n = 100_000
    s = np.full(n, -0.8)
    leased = np.arange(n) % 2 == 0
    q = 0.4
    months = early_replacement(rng, s, leased, -0.6, q)
    owners, lessees = months[~leased], months[leased]
    m = owners.size
    assert abs(np.count_nonzero(owners) - m * q) < Z * np.sqrt(m * q * (1 - q))
    assert np.count_nonzero(lessees) < np.count_nonzero(owners) - Z * np.sqrt(m)
    # the delay is 1..6 months, uniform
    counts = np.bincount(owners[owners > 0] - 1, minlength=6)
    assert counts.size == 6 and stats.chisquare(counts).pvalue > P_FLOOR


def test_early_replacement_probability_one_hits_every_unhappy_owner():
    s = np.array([-0.9, -0.7, -0.5, 0.5])
    months = early_replacement(np.random.default_rng(0), s, np.zeros(4, bool), -0.6, 1.0)
    assert np.all(months[:2] >= 1) and np.all(months[2:] == 0)
