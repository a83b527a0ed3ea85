"""sim/satisfaction.py: lazy decay toward a baseline, loss-averse updates, complaint resolution delays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.satisfaction import current, resolution_delay, update

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=200)
Z = 5.0
P_FLOOR = 1e-6

unit = st.floats(-1.0, 1.0, allow_nan=False, width=32)


# ---- decay ----------------------------------------------------------------------------------------------------
@HYP
@given(s=unit, baseline=st.floats(-1, 1), month=st.integers(-100, 3000), decay=st.floats(0.5, 200))
def test_no_elapsed_time_returns_the_stored_value(s, baseline, month, decay):
    out = current(np.array([s], np.float32), np.array([month], np.int16), month, baseline, decay)
    assert out.dtype == np.float32
    assert out[0] == pytest.approx(s, abs=1e-6)


@HYP
@given(s=unit, baseline=st.floats(-1, 1), decay=st.floats(0.5, 200), steps=st.lists(st.integers(0, 600), min_size=2,
                                                                                      max_size=8))
def test_decay_moves_monotonically_toward_the_baseline(s, baseline, decay, steps):
    months = np.sort(np.array(steps))
    stored = np.array([s], np.float32)
    out = np.array([current(stored, np.array([0], np.int16), int(m), baseline, decay)[0] for m in months])
    gap = out.astype(np.float64) - baseline
    tol = 1e-6
    # never overshoots the baseline: stays on the side it started on
    assert np.all(gap * (s - baseline) >= -tol)
    # distance to the baseline never grows as time passes
    assert np.all(np.diff(np.abs(gap)) <= tol)
    # and it is never farther than the stored value
    assert np.all(np.abs(gap) <= abs(s - baseline) + tol)


@pytest.mark.parametrize("elapsed", [1, 6, 12, 36, 120])
def test_decay_is_exponential_with_decay_months(elapsed):
    s, baseline, tau = np.float32(-0.8), 0.1, 12.0
    out = current(np.array([s]), np.array([100], np.int16), 100 + elapsed, baseline, tau)[0]
    assert out == pytest.approx(baseline + (s - baseline) * np.exp(-elapsed / tau), abs=1e-6)


def test_decay_approaches_the_baseline_in_the_long_run():
    out = current(np.array([0.9, -0.9], np.float32), np.array([0, 0], np.int16), 2000, -0.2, 12.0)
    np.testing.assert_allclose(out, [-0.2, -0.2], atol=1e-6)


def test_decay_is_elementwise_with_per_buyer_months():
    sat = np.array([0.5, 0.5, -0.5], np.float32)
    sat_month = np.array([10, 4, 10], np.int16)
    out = current(sat, sat_month, 10, 0.0, 6.0)
    np.testing.assert_allclose(out, [0.5, 0.5 * np.exp(-1.0), -0.5], rtol=1e-6)


# ---- loss-averse update ------------------------------------------------------------------------------------------
@HYP
@given(s=st.floats(-0.2, 0.2), a=st.floats(1e-3, 0.5), lr=st.floats(0.01, 0.5), la=st.floats(1.0, 5.0))
def test_losses_weigh_loss_aversion_times_gains(s, a, lr, la):
    s32 = np.array([s], np.float32)
    x = np.float32(a)
    up = update(s32, np.array([x]), lr, la)[0]
    down = update(s32, np.array([-x]), lr, la)[0]
    assume(-1.0 < down and up < 1.0)  # before clipping
    gain, loss = float(up) - float(s32[0]), float(s32[0]) - float(down)
    assert gain > 0 and loss > 0
    assert loss == pytest.approx(la * gain, rel=1e-4, abs=1e-6)
    assert gain == pytest.approx(lr * float(x), rel=1e-4, abs=1e-6)


@HYP
@given(s=unit, x=st.floats(-10, 10, width=32), lr=st.floats(0.0, 1.0), la=st.floats(1.0, 5.0))
def test_update_stays_within_bounds(s, x, lr, la):
    out = update(np.array([s], np.float32), np.array([x], np.float32), lr, la)
    assert out.dtype == np.float32
    assert -1.0 <= out[0] <= 1.0


@HYP
@given(s=unit, x=st.floats(-2, 2, width=32), lr=st.floats(0.0, 1.0), la=st.floats(1.0, 5.0))
def test_update_moves_in_the_direction_of_the_experience(s, x, lr, la):
    out = float(update(np.array([s], np.float32), np.array([x], np.float32), lr, la)[0])
    if x > 0:
        assert out >= s - 1e-7
    elif x < 0:
        assert out <= s + 1e-7
    else:
        assert out == pytest.approx(s, abs=1e-7)


def test_update_is_elementwise():
    s = np.array([0.0, 0.0, 0.9, -0.9], np.float32)
    x = np.array([0.4, -0.4, 0.8, -0.8], np.float32)
    out = update(s, x, 0.25, 2.0)
    np.testing.assert_allclose(out, [0.1, -0.2, 1.0, -1.0], atol=1e-6)


# ---- complaint resolution -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p_fast,p_slow", [(0.3, 0.3), (0.75, 0.2), (0.0, 0.5), (0.6, 0.0), (0.0, 0.0), (1.0, 0.0)])
def test_resolution_delay_distribution(p_fast, p_slow):
    rng = np.random.default_rng(42)
    n = 60_000
    d = resolution_delay(rng, np.full(n, p_fast), np.full(n, p_slow))
    assert d.dtype == np.int64 and d.shape == (n,)
    assert set(np.unique(d)) <= {0, 1, 2, 3, 4, 5, 6}
    fast, slow, never = (d >= 1) & (d <= 3), (d >= 4), d == 0
    probs = np.array([p_fast, p_slow, 1 - p_fast - p_slow])
    counts = np.array([fast.sum(), slow.sum(), never.sum()])
    for c, q in zip(counts, probs):
        if q in (0.0, 1.0):
            assert c == q * n
        else:
            assert abs(c - n * q) < Z * np.sqrt(n * q * (1 - q))
    # within each band, the months are uniform
    for band, lo in ((fast, 1), (slow, 4)):
        if band.sum() > 100:
            months = np.bincount(d[band] - lo, minlength=3)
            assert months.size == 3
            assert stats.chisquare(months).pvalue > P_FLOOR


def test_resolution_delay_per_complaint_probabilities():
    """Each complaint uses its own brand's probabilities."""
    rng = np.random.default_rng(3)
    n = 40_000
    p_fast = np.where(np.arange(n) % 2 == 0, 0.9, 0.1)
    p_slow = np.where(np.arange(n) % 2 == 0, 0.05, 0.3)
    d = resolution_delay(rng, p_fast, p_slow)
    for parity, qf, qs in ((0, 0.9, 0.05), (1, 0.1, 0.3)):
        sub = d[np.arange(n) % 2 == parity]
        m = sub.size
        assert abs(((sub >= 1) & (sub <= 3)).sum() - m * qf) < Z * np.sqrt(m * qf * (1 - qf))
        assert abs((sub >= 4).sum() - m * qs) < Z * np.sqrt(m * qs * (1 - qs))


def test_resolution_delay_empty():
    assert resolution_delay(np.random.default_rng(0), np.zeros(0), np.zeros(0)).size == 0
