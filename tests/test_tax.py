"""The luxury tax (sim/tax.py, market.luxury_tax, ModelLine.luxury_tax_exempt): each part alone, then in a run."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import choice, reference
from sim.lineup import LineArrays
from sim.model import LuxuryMarketModel
from sim.scenario import TaxStep
from sim.scenario_files import ScenarioError, read_raw, resolve_path, validate
from sim.tax import price_with_tax, tax_in_force
from tests.test_choice import make_seg

prices = st.floats(1000.0, 500_000.0)


@given(paid=prices, rate=st.floats(0.0, 0.5), threshold=prices)
@settings(max_examples=200, deadline=None)
def test_the_tax_falls_only_on_the_part_above_the_threshold(paid, rate, threshold):
    """Never below the price; the price itself at or under the threshold; above it, rate times the excess."""
    total = float(price_with_tax(paid, rate, threshold))
    assert total >= paid
    if paid <= threshold:
        assert total == paid
    else:
        assert total == pytest.approx(paid + rate * (paid - threshold), rel=1e-12)


@given(a=prices, b=prices, rate=st.floats(0.0, 0.5), threshold=prices)
@settings(max_examples=100, deadline=None)
def test_a_dearer_car_never_costs_less_after_the_tax(a, b, rate, threshold):
    low, high = sorted((a, b))
    assert price_with_tax(low, rate, threshold) <= price_with_tax(high, rate, threshold)


def test_the_schedule_is_a_step_function_of_the_date():
    """Nothing before the first step; each step in force from its month until the next; rate 0 ends the tax."""
    steps = [TaxStep(date="1991-01", rate=0.10, threshold=27000.0),
             TaxStep(date="1996-09", rate=0.09, threshold=26000.0),
             TaxStep(date="2003-01", rate=0.0, threshold=26000.0)]
    months = np.array([0, 59, 60, 127, 128, 203, 204, 300])  # 1986-01 start: 1990-12, 1991-01, ..., 2003-01
    rate, threshold = tax_in_force(steps, 1986, months)
    assert rate.tolist() == [0.0, 0.0, 0.10, 0.10, 0.09, 0.09, 0.0, 0.0]
    assert threshold.tolist() == [np.inf, np.inf, 27000.0, 27000.0, 26000.0, 26000.0, np.inf, np.inf]
    assert np.array_equal(price_with_tax(np.full(8, 40000.0), rate, threshold) > 40000.0, rate > 0)


def test_no_schedule_no_tax():
    rate, threshold = tax_in_force([], 1986, np.arange(24))
    assert not rate.any() and np.isinf(threshold).all()


def two_lines(rate, threshold=27000.0, exempt=(False, False)) -> LineArrays:
    """Brand 0 sells a $24,000 entry sedan and a $45,000 flagship; brand 1 a $45,000 flagship."""
    rates = np.where(np.array(exempt + (False,)), 0.0, rate)
    return LineArrays(np.array([0, 0, 1]), np.ones(3, bool), np.array([24000.0, 45000.0, 45000.0]), np.zeros(3),
                      np.zeros(3, np.int64), np.array([0, 2, 2]), np.zeros(3), rates, np.full(3, threshold))


def test_the_tax_lowers_the_utility_of_taxed_lines_by_their_price_weight():
    """A line above the threshold loses price_weight x log(1 + rate x excess / price); one below it, or exempt,
    nothing."""
    seg, p = make_seg(), choice.Choice()
    market = SimpleNamespace(reference_price=30000.0, tier_price_ratio={"entry": 0.7, "mid": 1.0, "flagship": 1.6})
    before = choice.line_values(two_lines(0.0), np.zeros(2), seg, p, market)
    after = choice.line_values(two_lines(0.10), np.zeros(2), seg, p, market)
    loss = before - after
    expected = seg.price_weight * np.log(1.0 + 0.10 * (45000.0 - 27000.0) / 45000.0)
    assert np.allclose(loss[:, :, 0], 0.0)
    for line in (1, 2):
        assert np.allclose(loss[:, :, line], expected[:, None])
    spared = choice.line_values(two_lines(0.10, exempt=(False, True)), np.zeros(2), seg, p, market)
    assert np.array_equal(spared[:, :, 1], before[:, :, 1]) and np.allclose(before - spared, loss * [0, 0, 1])


def test_a_discount_lowers_the_tax_too():
    """The tax is on the price paid: a 10% discount on the $45,000 line takes $450 off its tax as well."""
    seg, p = make_seg(), choice.Choice()
    market = SimpleNamespace(reference_price=30000.0, tier_price_ratio={"entry": 0.7, "mid": 1.0, "flagship": 1.6})
    w = choice.line_values(two_lines(0.10), np.array([0.1, 0.0]), seg, p, market)
    paid = 45000.0 * 0.9
    expected = -seg.price_weight * np.log((paid + 0.10 * (paid - 27000.0)) / (30000.0 * 1.6))
    assert np.allclose(w[:, 0, 1], expected)


# ---- the scenario ------------------------------------------------------------------------------------------
def flagship_raw(years: int = 8) -> dict:
    raw = copy.deepcopy(read_raw(resolve_path("lexus_us_1989")))
    raw["market"]["years"] = years
    return raw


@pytest.mark.parametrize("steps, match", [
    ([{"date": "1992-01", "rate": 0.1, "threshold": 27000.0}, {"date": "1991-01", "rate": 0.1, "threshold": 1.0}],
     "in order"),
    ([{"date": "1991-01", "rate": 0.6, "threshold": 27000.0}], "rate"),
    ([{"date": "1991-01", "rate": 0.1, "threshold": -5.0}], "threshold"),
    ([{"date": "1991-01", "rate": float("nan"), "threshold": 27000.0}], "rate"),
    ([{"date": "1991-13", "rate": 0.1, "threshold": 27000.0}], "date"),
])
def test_a_bad_schedule_is_refused_naming_the_field(steps, match):
    raw = flagship_raw()
    raw["market"]["luxury_tax"] = steps
    with pytest.raises(ScenarioError, match="luxury_tax") as err:
        validate(raw)
    assert match in str(err.value)


def test_the_flagship_schedule_is_the_data_deflated():
    """Each step of the flagship is a row of sim/data/luxury_tax_1991_2002.csv, its threshold the nominal one in
    1989 dollars (CPI-U of the step's year), to the dollar."""
    data = reference.luxury_tax()
    scenario = validate(flagship_raw(25))
    steps = scenario.market.luxury_tax
    assert [s.date for s in steps] == data["date"].tolist()
    for step, row in zip(steps, data.itertuples()):
        assert step.rate == pytest.approx(row.rate)
        if row.rate > 0:
            real = row.threshold_usd * reference.cpi(1989) / reference.cpi(int(row.date[:4]))
            assert step.threshold == pytest.approx(real, abs=1.0)
            assert row.threshold_1989_usd == pytest.approx(real, abs=1.0)
    exempt = {m.name for b in scenario.brands.values() for m in b.models if m.luxury_tax_exempt}
    assert exempt == {"Escalade", "Navigator", "LX"}
    assert all(m.body == "suv" for b in scenario.brands.values() for m in b.models if m.luxury_tax_exempt)


# ---- in a run ----------------------------------------------------------------------------------------------
def taxed_share(raw: dict, seeds=(1, 2)) -> float:
    """The share of 1991-1993 sales that went to lines listed above $30,000 (1989 dollars), mean of ``seeds``."""
    out = []
    for seed in seeds:
        model = LuxuryMarketModel(validate(raw), seed=seed, buyers=6000).run()
        lines = model.line_year()
        lines = lines[lines.year.between(1991, 1993)]
        dear = {(b.name, line.name) for b in model.brands for k, line in enumerate(b.lines)
                if b.line_price(k, 72) > 30000.0}
        key = list(zip(lines.brand, lines.model))
        out.append(lines.sales[[k in dear for k in key]].sum() / lines.sales.sum())
    return float(np.mean(out))


def test_a_heavier_tax_moves_buyers_to_cheaper_lines():
    """With the same seeds, a 30% tax above $25,000 from 1991 takes a clear part of the dear lines' share of
    1991-1993 sales (each shopper's draw differs only through the tax); no tax gives them more than the
    flagship's schedule does."""
    raw = flagship_raw()
    base = taxed_share(raw)
    heavy = flagship_raw()
    heavy["market"]["luxury_tax"] = [{"date": "1991-01", "rate": 0.3, "threshold": 25000.0}]
    none = flagship_raw()
    none["market"]["luxury_tax"] = []
    assert taxed_share(heavy) < 0.9 * base
    assert taxed_share(none) > base
