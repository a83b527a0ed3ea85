"""sim/finance.py: what service events earn and cost, new-car margin, customer lifetime value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.brand_arrays import BrandArrays
from sim.finance import event_money, lifetime_value, new_car_margin, service_margin_per_car_year, typical_event_rates
from sim.scenario import Costs, ServiceEvents
from sim.service import BREAKDOWN, EVENT_KINDS, GOODWILL, RECALL, REPAIR, ROUTINE
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
    # the repair's parts and labour plus the cost of reaching the owner, never paid by the owner (even out of warranty)
    c = Costs()
    revenue, cost = money(GOODWILL, [0, 1], [10, 100], make_ba(2))
    assert np.all(revenue == 0)
    np.testing.assert_allclose(cost, c.repair_cost + c.goodwill_cost)


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


# ---- service margin per car-year -------------------------------------------------------------------------------
AGES = np.arange(60) + 0.5  # one car of each month of age, 0-5 years: a luxury fleet (kept about five years)
INCUMBENT = dict(dealer_service_quality=0.45, complimentary_maintenance_months=0, loaner_cars=False, roadside_level=1,
                 proactive_goodwill=0.0, recall_handling=0.3, take_back_guarantee=False, defects_per_car_year=0.8)


def fleet_margin(ba, c=None, b=0, se=None, **kw):
    """Mean service margin per car-year of brand ``b``'s cars aged AGES, at the typical event rates; also the rates."""
    brand = np.full(AGES.size, b)
    rates = typical_event_rates(brand, AGES, ba, se or ServiceEvents())
    return service_margin_per_car_year(rates, brand, AGES, ba, c or Costs(), **kw).mean(), rates


def fleet_revenue(ba, rates, c=None, b=0):
    brand = np.full(AGES.size, b)
    return sum((rates[k] * event_money(k, brand, AGES, ba, c or Costs())[0]).mean() for k in range(len(EVENT_KINDS)))


def test_typical_event_rates():
    se = ServiceEvents()
    ba = make_ba(1, defects_per_car_year=0.8, proactive_goodwill=0.25)
    rates = typical_event_rates(np.zeros(3, np.int64), np.array([0.0, 24.0, 48.0]), ba, se)
    assert rates.shape == (len(EVENT_KINDS), 3)
    np.testing.assert_allclose(rates[ROUTINE], 12.0 / se.maintenance_interval_months)
    defects = 0.8 * (1.0 + se.defect_age_growth * np.array([0.0, 2.0, 4.0]))  # rising with age
    np.testing.assert_allclose(rates[[REPAIR, GOODWILL, BREAKDOWN]].sum(axis=0), defects)
    np.testing.assert_allclose(rates[GOODWILL], 0.25 * defects)
    np.testing.assert_allclose(rates[RECALL], [se.recalls_per_brand_year * se.recall_reach] * 2 + [0.0])


def test_incumbent_service_is_profitable():
    # no complimentary maintenance, no loaners, roadside level 1: a positive margin, a realistic share of what owners
    # pay after the maker's warranty repairs (dealers' gross is 47% of service and parts sales, NADA)
    ba = make_ba(1, **INCUMBENT)
    margin, rates = fleet_margin(ba, complaints_per_car_year=0.1)
    share = margin / fleet_revenue(ba, rates)
    assert 100.0 < margin < 400.0
    assert 0.15 < share < 0.45
    # so are old cars, whose repairs the owner pays; young ones carry the warranty and earn less
    brand = np.zeros(AGES.size, np.int64)
    by_age = service_margin_per_car_year(rates, brand, AGES, ba, Costs())
    assert by_age[-12:].mean() > by_age[:12].mean() > 0


def test_lexus_1989_policy_costs_service_margin():
    # Lexus's 1989 levers (sim data: scenarios/lexus_us_1989.toml) on an incumbent's defect rate: service loses money
    lexus = dict(INCUMBENT, dealer_service_quality=0.85, complimentary_maintenance_months=36, loaner_cars=True,
                 roadside_level=2, proactive_goodwill=0.3, recall_handling=0.95)
    incumbent, _ = fleet_margin(make_ba(1, **INCUMBENT))
    policy, _ = fleet_margin(make_ba(1, **lexus))
    assert policy < 0 < incumbent
    assert incumbent - policy > 400.0  # "it cost more in the short term"


LEVERS = [  # (lever, value, stated cost per car-year at the rates `r`, ages `age` and costs `c`)
    ("complimentary_maintenance_months", 36,
     lambda r, age, c: r[ROUTINE] * (age < 36) * c.maintenance_price),
    ("loaner_cars", True, lambda r, age, c: (r[REPAIR] + r[BREAKDOWN]) * c.loaner_cost),
    ("roadside_level", 3, lambda r, age, c: r[BREAKDOWN] * (c.rescue_cost[3] - c.rescue_cost[1])),
    ("dealer_service_quality", 0.85, lambda r, age, c: r[ROUTINE] * (0.85 - 0.45) * c.service_quality_cost),
    ("recall_handling", 0.95, lambda r, age, c: r[RECALL] * (0.95 - 0.3) * c.recall_handling_cost),
]


@pytest.mark.parametrize("lever, value, stated", LEVERS, ids=[lever for lever, *_ in LEVERS])
def test_each_lever_lowers_margin_by_its_stated_cost(lever, value, stated):
    c = Costs()
    base = make_ba(1, **INCUMBENT)
    margin, rates = fleet_margin(base, c)
    with_lever, rates_with = fleet_margin(make_ba(1, **dict(INCUMBENT, **{lever: value})), c)
    np.testing.assert_allclose(rates_with, rates)  # these levers do not change what happens, only what it costs
    assert margin - with_lever == pytest.approx(stated(rates, AGES, c).mean())
    assert with_lever < margin


def test_goodwill_costs_its_fix_and_the_forgone_repair():
    # a proactive fix replaces a repair (or breakdown): it costs goodwill_cost more, and the owner does not pay for
    # it after the warranty. No rescue or loaner here, so that is all of it.
    c, se = Costs(), ServiceEvents()
    plain = dict(INCUMBENT, roadside_level=0)
    margin, rates = fleet_margin(make_ba(1, **plain), c)
    with_goodwill, rates_with = fleet_margin(make_ba(1, **dict(plain, proactive_goodwill=0.3)), c)
    converted = rates_with[GOODWILL]
    forgone = np.where(AGES < c.warranty_months, 0.0, c.repair_price)
    assert margin - with_goodwill == pytest.approx((converted * (c.goodwill_cost + forgone)).mean())
    np.testing.assert_allclose(rates_with[[REPAIR, GOODWILL, BREAKDOWN]].sum(axis=0),
                               rates[[REPAIR, GOODWILL, BREAKDOWN]].sum(axis=0))  # as many defects
    assert se.breakdown_share > 0


def test_complaints_and_take_backs_cost_what_they_state():
    c = Costs()
    ba = make_ba(1, **INCUMBENT)
    margin, _ = fleet_margin(ba, c)
    assert margin - fleet_margin(ba, c, complaints_per_car_year=0.2)[0] == pytest.approx(0.2 * c.complaint_cost)
    assert margin - fleet_margin(ba, c, take_backs_per_car_year=0.01)[0] == pytest.approx(0.01 * c.take_back_cost)


def test_cost_defaults_are_consistent():
    c = Costs()
    # customer-pay work costs 40% of its price (a 60% combined gross margin: sim/finance.py)
    assert c.maintenance_cost == pytest.approx(0.4 * c.maintenance_price)
    assert c.repair_cost == pytest.approx(0.4 * c.repair_price)
    assert list(c.rescue_cost) == sorted(c.rescue_cost) and c.rescue_cost[0] == 0.0


@HYP
@given(quality=st.floats(0.0, 1.0), months=st.floats(0.0, 120.0), loaner=st.booleans(), level=st.integers(0, 3),
       goodwill=st.floats(0.0, 1.0), handling=st.floats(0.0, 1.0), defects=st.floats(0.0, 5.0),
       interval=st.floats(1.0, 24.0), price=st.floats(0.0, 1e4), warranty=st.integers(0, 240))
def test_margin_is_finite(quality, months, loaner, level, goodwill, handling, defects, interval, price, warranty):
    ba = make_ba(1, dealer_service_quality=quality, complimentary_maintenance_months=months, loaner_cars=loaner,
                 roadside_level=level, proactive_goodwill=goodwill, recall_handling=handling,
                 defects_per_car_year=defects)
    c = Costs(maintenance_price=price, repair_price=price, warranty_months=warranty)
    margin, rates = fleet_margin(ba, c, se=ServiceEvents(maintenance_interval_months=interval),
                                 complaints_per_car_year=0.1, take_backs_per_car_year=0.01)
    assert np.isfinite(margin) and np.all(np.isfinite(rates)) and np.all(rates >= 0)


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
