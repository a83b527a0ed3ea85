"""Model lines and needs (sim/lineup.py, agents/brand.py, the scenario schema): each mechanism alone."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.brand_arrays import BrandArrays
from sim.lineup import LineArrays, brand_lines, draw_needs, need_cdf, need_mix
from sim.model import LuxuryMarketModel
from sim.scenario import BODY_TYPES, BodyTypeMix
from sim.scenario_files import ScenarioError, read_raw, resolve_path, validate
from tests.conftest import small_flagship

SUV = BODY_TYPES.index("suv")


def raw_with_lines(**brand_changes) -> dict:
    """The flagship as a raw table, 1986-1993, with Lexus selling a sedan from launch and an SUV from 1991-01, the
    SUV repriced in 1992 (then ``brand_changes`` applied to Lexus)."""
    raw = copy.deepcopy(read_raw(resolve_path("lexus_us_1989")))
    raw["market"]["years"] = 8
    lexus = raw["brands"]["Lexus"]
    lexus.pop("price", None)
    lexus["timeline"] = [c for c in lexus.get("timeline", []) if "price" not in c]
    lexus["models"] = [
        {"name": "LS", "body": "sedan", "tier": "flagship", "price": 35000.0},
        {"name": "RX", "body": "suv", "tier": "mid", "launch": "1991-01", "price": 30000.0,
         "prices": [{"date": "1992-01", "price": 33000.0}], "defects_per_car_year": 1.0},
    ]
    lexus.update(brand_changes)
    return raw


def test_need_mix_interpolates_and_holds_flat():
    mix = [BodyTypeMix(year=1990, sedan=0.8, coupe=0.2, suv=0.0), BodyTypeMix(year=2000, sedan=0.5, coupe=0.1, suv=0.4)]
    assert need_mix(mix, 1980) == pytest.approx([0.8, 0.2, 0.0])
    assert need_mix(mix, 1995) == pytest.approx([0.65, 0.15, 0.2])
    assert need_mix(mix, 2010) == pytest.approx([0.5, 0.1, 0.4])
    assert need_mix([], 1995) == pytest.approx([1.0, 0.0, 0.0])
    assert need_cdf(mix, 1995)[-1] == 1.0


@given(sedan=st.floats(0, 1), coupe_share=st.floats(0, 1))
@settings(max_examples=30)
def test_draw_needs_follows_the_mix(sedan, coupe_share):
    coupe = (1 - sedan) * coupe_share
    mix = [BodyTypeMix(year=2000, sedan=sedan, coupe=coupe, suv=1 - sedan - coupe)]
    needs = draw_needs(np.random.default_rng(2), 20000, need_cdf(mix, 2000))
    share = np.bincount(needs, minlength=3) / needs.size
    assert np.allclose(share, need_mix(mix, 2000), atol=0.015)


def test_no_mix_draws_no_random_numbers():
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    assert (draw_needs(rng, 100, need_cdf([], 1990)) == 0).all()
    assert rng.bit_generator.state == state


def test_brand_lines_numbers_lines_brand_by_brand():
    assert brand_lines([2, 1, 3]).tolist() == [[0, 1, -1], [2, -1, -1], [3, 4, 5]]


def test_line_dates_prices_and_index():
    """A line is on sale from its launch to its end; its price follows its path times the brand's price index."""
    raw = raw_with_lines(price_index=1.1)
    raw["brands"]["Lexus"]["models"][0]["end"] = "1993-01"
    model = LuxuryMarketModel(validate(raw), seed=1, buyers=500)
    lexus = model.brands[model.brand_names.index("Lexus")]
    month = model.month_of
    assert not lexus.on_sale(month("1989-08")) and lexus.on_sale(month("1989-09"))
    assert lexus.line_on_sale(0, month("1992-12")) and not lexus.line_on_sale(0, month("1993-01"))
    assert not lexus.line_on_sale(1, month("1990-12")) and lexus.line_on_sale(1, month("1991-01"))
    assert lexus.line_price(1, month("1991-06")) == pytest.approx(30000.0 * 1.1)
    assert lexus.line_price(1, month("1992-01")) == pytest.approx(33000.0 * 1.1)
    assert lexus.line_defects(1) == 1.0 and lexus.line_defects(0) == lexus.spec.defects_per_car_year


def test_a_line_is_sold_only_while_on_sale_and_owners_own_one_line_of_their_brand():
    model = LuxuryMarketModel(validate(raw_with_lines()), seed=3, buyers=3000).run()
    sales = model.ledger.line_sales
    lexus = model.brand_names.index("Lexus")
    rx = int(model.brand_lines[lexus, 1])
    assert sales[: model.month_of("1991-01"), rx].sum() == 0 and sales[:, rx].sum() > 0
    pop = model.pop
    owners = pop.active & (pop.brand >= 0)
    assert (pop.line[owners] >= 0).all()
    assert (model.lines.brand[pop.line[owners]] == pop.brand[owners]).all()  # the line is of the brand owned
    assert (pop.line[~pop.active] == -1).all()
    by_brand = np.bincount(model.lines.brand, weights=sales.sum(axis=0), minlength=len(model.brands))
    assert np.allclose(by_brand, model.ledger.sales.sum(axis=0))  # every sale is of one line


def test_a_brand_without_an_suv_loses_suv_needing_owners():
    """In a market where 40% of households need an SUV and only Lexus sells one (from 1991), the brands with no SUV
    keep fewer of their replacing owners than when everyone needs a sedan, and their owners in 1993 need SUVs far
    less often than Lexus's do."""
    loyalty, needs = {}, {}
    for suv in (0.0, 0.4):
        raw = raw_with_lines()
        raw["market"]["body_type_mix"] = [{"year": 1986, "sedan": 0.9 - suv, "coupe": 0.1, "suv": suv}]
        raw["market"]["need_change"] = 0.5
        model = LuxuryMarketModel(validate(raw), seed=5, buyers=6000).run()
        by = model.brand_year()
        late = by[by.year >= 1991]
        no_suv = late[late.brand.isin(["Cadillac", "Lincoln", "Mercedes-Benz", "BMW"])]
        loyalty[suv] = (1 - no_suv.churned_owners.sum() / no_suv.replacers.sum())
        pop, lexus = model.pop, model.brand_names.index("Lexus")
        owners = pop.active & (pop.brand >= 0)
        needs[suv] = ((pop.need[owners & (pop.brand != lexus)] == SUV).mean(),
                      (pop.need[owners & (pop.brand == lexus)] == SUV).mean())
    assert loyalty[0.4] < loyalty[0.0] - 0.03
    others, lexus_owners = needs[0.4]
    assert others < 0.4 < lexus_owners


def test_strategy_response_launches_a_line():
    raw = raw_with_lines()
    cad = raw["brands"]["Cadillac"]
    cad.pop("price", None)
    cad["models"] = [{"name": "DeVille", "body": "sedan", "price": 26500.0},
                     {"name": "Escalade", "body": "suv", "launch": "response", "price": 40000.0}]
    cad["models"].append({"name": "Cimarron", "body": "sedan", "tier": "entry", "price": 15000.0})
    cad["strategy"] = {"kind": "respond_to_share_loss", "threshold": 0.01, "lag_months": 2, "launch": ["Escalade"],
                       "end": ["Cimarron"], "price_index": 0.9}
    model = LuxuryMarketModel(validate(raw), seed=2, buyers=3000).run()
    brand = model.brands[model.brand_names.index("Cadillac")]
    assert brand.strategy.triggered_month is not None
    launched = brand.strategy.triggered_month + 2
    assert not brand.line_on_sale(1, launched - 1) and brand.line_on_sale(1, launched)
    assert brand.line_on_sale(2, launched - 1) and not brand.line_on_sale(2, launched)  # the Cimarron ends
    assert brand.price_index == 0.9 and brand.line_price(0, launched) == pytest.approx(0.9 * 26500.0)
    assert model.ledger.line_sales[:, int(model.brand_lines[brand.index, 1])].sum() > 0


@pytest.mark.parametrize("change, message", [
    (dict(price=30000.0), "prices each line"),
    (dict(models=[{"name": "A", "body": "sedan", "price": 1.0}, {"name": "A", "body": "suv", "price": 1.0}]),
     "unique"),
    (dict(models=[{"name": "A", "body": "van", "price": 1.0}]), "body"),
    (dict(models=[{"name": "A", "body": "sedan", "price": 1.0, "launch": "1990-01", "end": "1989-01"}]),
     "must come after launch"),
    (dict(models=[{"name": "A", "body": "sedan", "price": 1.0, "launch": "response"}]), "strategy.launch"),
    (dict(models=[{"name": "A", "body": "sedan", "price": 1.0, "prices": [{"date": "1991-01", "price": 2.0},
                                                                         {"date": "1990-01", "price": 3.0}]}]),
     "in order"),
])
def test_bad_lines_are_refused_with_the_field_and_reason(change, message):
    with pytest.raises(ScenarioError, match=message):
        validate(raw_with_lines(**change))


def test_a_brand_on_sale_at_the_start_needs_a_line_on_sale_then():
    raw = raw_with_lines()
    raw["brands"]["Cadillac"].pop("price", None)
    raw["brands"]["Cadillac"]["models"] = [{"name": "Escalade", "body": "suv", "launch": "1998-09", "price": 40000.0}]
    with pytest.raises(ScenarioError, match="none of its lines is on sale in January 1986"):
        validate(raw)


def test_body_type_mix_must_sum_to_one():
    raw = raw_with_lines()
    raw["market"]["body_type_mix"] = [{"year": 1990, "sedan": 0.5, "suv": 0.4}]
    with pytest.raises(ScenarioError, match="sum to 1"):
        validate(raw)


class _CheckedModel(LuxuryMarketModel):
    """Checks, each month, that the lines and brand arrays looked up from the line calendar are what the brand
    agents give for the month (``LineArrays.from_brands``, ``BrandArrays.from_brands``)."""

    def _make_offer(self, m, ba):
        if m >= 0 and self.steps > 0 and self.month == m:
            expected = LineArrays.from_brands(self.brands, m)
            for field in LineArrays._fields:
                np.testing.assert_array_equal(getattr(self.lines, field), getattr(expected, field), err_msg=field)
            fresh = BrandArrays.from_brands(self.brands, m)
            for field in BrandArrays._fields:
                np.testing.assert_array_equal(getattr(ba, field), getattr(fresh, field), err_msg=f"{m} {field}")
            self.checked += 1
        return super()._make_offer(m, ba)


def test_the_month_looks_up_what_the_brands_give_for_it():
    """The line calendar and the brand arrays kept from month to month are, every month, what the brand agents
    give for it: through launches, ends, repricing, a strategy's response (a launch, an end, a price index) and
    the timeline's changes."""
    raw = raw_with_lines()
    cad = raw["brands"]["Cadillac"]
    cad.pop("price", None)
    cad["models"] = [{"name": "DeVille", "body": "sedan", "price": 26500.0},
                     {"name": "Escalade", "body": "suv", "launch": "response", "price": 40000.0},
                     {"name": "Cimarron", "body": "sedan", "tier": "entry", "price": 15000.0}]
    cad["strategy"] = {"kind": "respond_to_share_loss", "threshold": 0.01, "lag_months": 2, "launch": ["Escalade"],
                       "end": ["Cimarron"], "price_index": 0.9}
    _CheckedModel.checked = 0
    model = _CheckedModel(validate(raw), seed=2, buyers=2000).run()
    assert model.brands[model.brand_names.index("Cadillac")].strategy.triggered_month is not None
    assert model.checked == model.n_months


@settings(max_examples=30, deadline=None)
@given(years=st.lists(st.floats(1980.0, 2030.0), min_size=1, max_size=12))
def test_needs_of_many_years_are_each_years_needs(years):
    mix = [BodyTypeMix(year=1985, sedan=0.8, coupe=0.15, suv=0.05), BodyTypeMix(year=2005, sedan=0.4, coupe=0.1,
                                                                                suv=0.5)]
    table = need_cdf(mix, np.array(years))
    for k, year in enumerate(years):
        np.testing.assert_array_equal(table[k], need_cdf(mix, year))
        np.testing.assert_array_equal(need_mix(mix, np.array(years))[k], need_mix(mix, year))
    assert need_cdf([], np.array(years)).shape == (len(years), len(BODY_TYPES))


def test_lease_probability_of_the_run_is_each_months():
    model = LuxuryMarketModel(small_flagship(years=3, buyers=500), seed=1)
    table = model.lease_probability(np.arange(model.n_months))
    for m in range(model.n_months):
        np.testing.assert_array_equal(table[m], model.lease_probability(m))
