"""sim/finance.py: what service events earn and cost, new-car margin, customer lifetime value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.brand_arrays import BrandArrays
from sim.finance import event_money, lifetime_value, new_car_margin
from sim.scenario import Costs
from sim.service import BREAKDOWN, GOODWILL, RECALL, REPAIR, ROUTINE
from tests.conftest import make_brand_arrays

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=150)
KINDS = (ROUTINE, REPAIR, GOODWILL, BREAKDOWN, RECALL)


def make_ba(n: int = 2, **overrides) -> BrandArrays:
    return make_brand_arrays(n, **overrides)


def money(kind, brand, age, ba, c=None):
    revenue, cost = event_money(kind, np.asarray(brand, np.int64), np.asarray(age), ba, c or Costs())
    assert revenue.shape == cost.shape == (len(brand),)
    return revenue, cost


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_non_negative(kind):
    ba = make_ba(3, complimentary_maintenance_months=[0, 36, 48], loaner_cars=[False, True, True],
                 roadside_level=[0, 2, 3],
                 recall_handling=[0.1, 0.5, 0.95])
    brand = np.array([0, 1, 2, 0, 1, 2])
    revenue, cost = money(kind, brand, [1, 10, 30, 50, 70, 200], ba)
    assert np.all(revenue >= 0) and np.all(cost > 0)


def test_complimentary_maintenance_is_free_to_young_cars_only():
    c = Costs()
    ba = make_ba(2, complimentary_maintenance_months=[36, 0])
    revenue, cost = money(ROUTINE, [0, 0, 0, 0, 1, 1], [0, 35, 36, 80, 0, 80], ba)
    np.testing.assert_allclose(revenue, [0, 0, c.maintenance_price, c.maintenance_price, c.maintenance_price,
                                         c.maintenance_price])
    # the visit costs the same whether or not the owner pays for it
    assert np.ptp(cost) == 0


def test_routine_cost_rises_with_dealer_quality():
    c = Costs()
    ba = make_ba(2, dealer_service_quality=[0.2, 0.9])
    _, cost = money(ROUTINE, [0, 1], [10, 10], ba)
    assert cost[1] - cost[0] == pytest.approx(c.service_quality_cost * 0.7)


@pytest.mark.parametrize("kind", [REPAIR, BREAKDOWN])
def test_warranty_repairs_earn_nothing(kind):
    c = Costs(warranty_months=48)
    ba = make_ba(1)
    revenue, _ = money(kind, [0, 0, 0, 0], [0, 47, 48, 150], ba, c)
    np.testing.assert_allclose(revenue, [0, 0, c.repair_price, c.repair_price])


@pytest.mark.parametrize("kind", [REPAIR, BREAKDOWN])
def test_loaners_add_cost(kind):
    c = Costs()
    ba = make_ba(2, loaner_cars=[False, True])
    _, cost = money(kind, [0, 1], [10, 10], ba, c)
    assert cost[1] - cost[0] == pytest.approx(c.loaner_cost)


def test_loaners_do_not_touch_other_events():
    ba = make_ba(2, loaner_cars=[False, True])
    for kind in (ROUTINE, GOODWILL, RECALL):
        revenue, cost = money(kind, [0, 1], [10, 10], ba)
        assert revenue[0] == revenue[1] and cost[0] == cost[1], kind


def test_roadside_levels_add_breakdown_cost():
    c = Costs()
    ba = make_ba(4, roadside_level=[0, 1, 2, 3])
    _, cost = money(BREAKDOWN, [0, 1, 2, 3], [10] * 4, ba, c)
    assert np.all(np.diff(cost) > 0)
    np.testing.assert_allclose(cost - cost[0], np.array(c.rescue_cost) - c.rescue_cost[0])
    # repairs that do not strand the car do not pay for rescue
    _, repair_cost = money(REPAIR, [0, 1, 2, 3], [10] * 4, ba, c)
    assert np.ptp(repair_cost) == 0


def test_goodwill_is_a_pure_cost():
    c = Costs()
    revenue, cost = money(GOODWILL, [0, 1], [10, 100], make_ba(2))
    assert np.all(revenue == 0)
    np.testing.assert_allclose(cost, c.goodwill_cost)


def test_recall_cost_rises_with_handling():
    c = Costs()
    ba = make_ba(2, recall_handling=[0.1, 0.95])
    revenue, cost = money(RECALL, [0, 1], [10, 10], ba, c)
    assert np.all(revenue == 0)
    assert cost[1] - cost[0] == pytest.approx(c.recall_handling_cost * 0.85)


def test_unknown_kind():
    with pytest.raises(ValueError):
        event_money(42, np.zeros(1, np.int64), np.zeros(1), make_ba(1), Costs())


def test_new_car_margin():
    ba = make_ba(2, price=[40000, 30000], discount=[0.0, 0.1], new_car_margin=[0.2, 0.1])
    np.testing.assert_allclose(new_car_margin(np.array([0, 1, 1]), ba), [8000.0, 2700.0, 2700.0])


# ---- customer lifetime value -------------------------------------------------------------------------------------
@HYP
@given(m=st.floats(1.0, 1e5), r1=st.floats(0.0, 0.99), r2=st.floats(0.0, 0.99), d=st.floats(0.0, 1.0))
def test_clv_increases_with_retention(m, r1, r2, d):
    lo, hi = sorted((r1, r2))
    v = lifetime_value(np.array([m, m]), np.array([lo, hi]), d)
    assert v[1] >= v[0]
    if hi > lo + 1e-6:
        assert v[1] > v[0]


@HYP
@given(m1=st.floats(-1e5, 1e5), m2=st.floats(-1e5, 1e5), r=st.floats(0.0, 1.0), d=st.floats(0.0, 1.0))
def test_clv_increases_with_margin(m1, m2, r, d):
    lo, hi = sorted((m1, m2))
    v = lifetime_value(np.array([lo, hi]), np.array([r, r]), d)
    assert v[1] >= v[0]
    assert np.all(np.isfinite(v))


def test_clv_formula_and_limits():
    # no retention: one year of margin (paid now, so no discounting)
    assert lifetime_value(np.array([100.0]), np.array([0.0]), 0.1)[0] == pytest.approx(100.0)
    # geometric sum: m * (1 + d) / (1 + d - r)
    assert lifetime_value(np.array([100.0]), np.array([0.8]), 0.1)[0] == pytest.approx(100 * 1.1 / 0.3)
    # retention is capped below 1, so a perfectly loyal customer is worth a finite amount
    v = lifetime_value(np.array([100.0, 100.0]), np.array([1.0, 1.5]), 0.0)
    assert np.all(np.isfinite(v)) and v[0] == v[1]
