"""sim.formats and sim.stats: one writer per kind of number; one interval."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sim.formats import MINUS, MISSING, interval, millions, money, number, percent, points
from sim.stats import mean_interval, t_half_width


def test_writers():
    assert money(-734e6) == f"{MINUS}$734.0M"
    assert money(18_161e6) == "$18.2B"
    assert money(950) == "$950" and money(12_345) == "$12.3k"
    assert money(5e6, plus=True) == "+$5.0M"
    assert millions(-734) == f"{MINUS}$734.0M"
    assert percent(0.123) == "12.3%"
    assert points(0.021) == "+2.1 pp" and points(-0.3) == f"{MINUS}30.0 pp"
    assert number(-0.04, 1) == "0.0"  # no sign on a zero
    assert interval(-1.25, 3.4, number, digits=1) == f"[{MINUS}1.2, 3.4]"
    for write in (money, millions, percent, points, number):
        assert write(float("nan")) == MISSING and write(None) == MISSING
    assert interval(float("nan"), 1.0) == ""


@given(st.floats(-1e15, 1e15))
def test_money_sign_follows_value(x):
    text = money(x)
    assert text.startswith(MINUS) == (x < 0 and text.lstrip(MINUS) not in ("$0",) and not text.startswith("$"))


def test_t_interval_matches_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=7)
    mean, low, high = mean_interval(x)
    ref = stats.t.interval(0.95, 6, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean()) and (low, high) == pytest.approx(ref)
    assert math.isnan(mean_interval([1.0])[1]) and math.isnan(mean_interval([])[0])
    assert np.isnan(t_half_width([1.0, 1.0], [1, 4])[0])


@given(st.lists(st.floats(0, 1), min_size=2, max_size=6))
def test_bounded_interval_stays_in_bounds(values):
    mean, low, high = mean_interval(values, bounds=(0.0, 1.0))
    assert 0.0 <= low <= mean + 1e-12 and mean - 1e-12 <= high <= 1.0


@given(st.lists(st.tuples(st.floats(0.0, 1e6), st.integers(0, 50)), min_size=1, max_size=8),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_t_half_width_is_elementwise_scipy(pairs, confidence):
    """Vectorised over mixed counts: each element is scipy's t interval half-width, NaN where n < 2."""
    sd, n = (np.array(column, dtype=float) for column in zip(*pairs))
    half = t_half_width(sd, n, confidence)
    assert half.shape == sd.shape
    for h, s, k in zip(half, sd, n):
        if k < 2:
            assert np.isnan(h)
        else:
            low, high = stats.t.interval(confidence, k - 1)  # standard t (scipy wants scale > 0; sd may be 0)
            scale = s / np.sqrt(k)
            assert h == pytest.approx(high * scale, rel=1e-12) and -h == pytest.approx(low * scale, rel=1e-12)


def test_a_metric_is_written_in_its_unit():
    """Dollars with a scale, fractions as percentages, anything else plainly (sim.formats.for_metric): an
    optimisation's NPV reads "$3.48B", not "3,477,065,359"."""
    from sim.formats import adaptive, for_metric

    assert for_metric("profit")(3_477_065_359.0) == "$3.48B"
    assert for_metric("service_cost", per="fleet")(812.5) == "$812"
    assert for_metric("sales_share")(0.2041) == "20.4%"
    assert for_metric("sales_share", per="fleet") is adaptive
    assert for_metric("sales") is adaptive
