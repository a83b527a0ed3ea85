"""Own-price elasticities by paired simulation (sim/elasticity.py) and the BLP figures they are compared with."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import reference
from sim.elasticity import _price_at, own_price_elasticities, price_changed, without_supply_limits
from sim.executor import Executor
from sim.model import as_scenario

IN_PROCESS = Executor(workers=1)
FLAGSHIP = as_scenario("lexus_us_1989")


def _line(scenario, brand, line):
    raw = scenario.model_dump(mode="json")
    return next(m for m in raw["brands"][brand]["models"] if m["name"] == line)


@settings(max_examples=25, deadline=None)
@given(line=st.sampled_from([("Lexus", "LS"), ("Lexus", "GS"), ("Cadillac", "Seville"), ("Acura", "Legend")]),
       year=st.integers(1986, 2009), factor=st.floats(0.5, 2.0))
def test_a_price_change_holds_for_its_year_only(line, year, factor):
    brand, name = line
    spec = _line(FLAGSHIP, brand, name)
    launch = max(spec["launch"] or "", FLAGSHIP.brands[brand].launch or "")
    if launch > f"{year}-12" or (spec["end"] and spec["end"] <= f"{year}-01"):
        with pytest.raises(ValueError, match=f"not on sale in {year}"):
            price_changed(FLAGSHIP, brand, name, year, factor)
        return
    before, after = _line(FLAGSHIP, brand, name), _line(price_changed(FLAGSHIP, brand, name, year, factor), brand, name)
    for month in (f"{year - 1}-12", f"{year + 1}-01", f"{year + 1}-06", f"{year - 3}-05"):
        if month < launch or (spec["end"] and month >= spec["end"]):
            continue  # not on sale: no price to compare
        assert _price_at(after, month) == pytest.approx(_price_at(before, month)), month
    for month in (f"{year}-01", f"{year}-06", f"{year}-10", f"{year}-12"):
        if month < launch or (spec["end"] and month >= spec["end"]):
            continue
        assert _price_at(after, month) == pytest.approx(_price_at(before, month) * factor), month


def test_other_lines_and_brands_keep_their_prices():
    changed = price_changed(FLAGSHIP, "Lexus", "LS", 1995, 1.3).model_dump(mode="json")
    original = FLAGSHIP.model_dump(mode="json")
    for brand, spec in original["brands"].items():
        for k, line in enumerate(spec.get("models") or []):
            if (brand, line["name"]) != ("Lexus", "LS"):
                assert changed["brands"][brand]["models"][k] == line


def test_supply_limits_are_lifted_for_the_measurement():
    assert FLAGSHIP.brands["Lexus"].dealer_capacity is not None
    lifted = without_supply_limits(FLAGSHIP)
    assert all(b.dealer_capacity is None for b in lifted.brands.values())
    assert all(e.dealer_capacity is None for b in lifted.brands.values() for e in b.timeline)


@pytest.mark.parametrize("call, reason", [
    (lambda: price_changed(FLAGSHIP, "Saab", "900", 1990, 1.1), "no brand 'Saab'"),
    (lambda: price_changed(FLAGSHIP, "Lexus", "Z4", 1990, 1.1), "has no model line .Z4."),
    (lambda: price_changed(FLAGSHIP, "Lexus", "LS", 1990, float("nan")), "positive finite"),
    (lambda: price_changed(FLAGSHIP, "Lexus", "LS", 1990, 0.0), "positive finite"),
    (lambda: own_price_elasticities(FLAGSHIP, [("Lexus", "GS")], 1990, 500, 1), "not on sale in 1990"),
    (lambda: own_price_elasticities(FLAGSHIP, [("Lexus", "LS")], 2020, 500, 1), "outside the run"),
    (lambda: own_price_elasticities(FLAGSHIP, [("Lexus", "LS")], 1990, 500, 1, step=0.6), "step must be"),
    (lambda: own_price_elasticities(FLAGSHIP, [], 1990, 500, 1), "no model lines"),
])
def test_bad_requests_are_refused_before_anything_runs(call, reason):
    with pytest.raises(ValueError, match=reason):
        call()


def _measure(scenario, buyers=20_000):
    return own_price_elasticities(scenario, [("Cadillac", "Seville"), ("Lexus", "LS")], 1990, buyers=buyers,
                                  replications=2, seed=5, executor=IN_PROCESS)


def test_demand_falls_with_price_and_more_steeply_when_buyers_weigh_price_more():
    """Fixed seeds: both lines' elasticities are negative, and doubling every segment's price weight makes each
    more negative (in a logit the own-price elasticity is proportional to the price coefficient)."""
    base = _measure(FLAGSHIP)
    doubled = _measure(as_scenario(FLAGSHIP, {f"market.segments.{g}.price_weight": 2 * s.price_weight
                                              for g, s in FLAGSHIP.market.segments.items()}))
    assert list(base.columns) == ["brand", "line", "year", "price", "sales", "own_price_elasticity", "sd",
                                  "replications"]
    assert (base["replications"] == 2).all() and (base["sales"] > 0).all()
    assert (base["own_price_elasticity"] < -0.5).all()
    assert (doubled["own_price_elasticity"] < base["own_price_elasticity"] - 0.5).all()
    assert base.loc[base.line == "LS", "price"].item() == pytest.approx(_price_at(_line(FLAGSHIP, "Lexus", "LS"),
                                                                                    "1990-01"))


def test_the_same_seeds_give_the_same_elasticities():
    a, b = _measure(FLAGSHIP, 3000), _measure(FLAGSHIP, 3000)
    assert np.array_equal(a["own_price_elasticity"].to_numpy(), b["own_price_elasticity"].to_numpy(), equal_nan=True)


def test_blp_figures_match_the_blp_data_and_name_the_flagships_lines():
    """The five 1990 elasticities sit beside BLP's own prices, which must match the BLP data rows to the dollar (a
    check on the transcription), and each names a line the flagship sells in 1990."""
    blp = reference.blp_elasticities()
    assert len(blp) == 5 and (blp["year"] == 1990).all()
    assert blp["own_price_elasticity"].between(-7, -1).all()
    models = reference.blp_models()
    for row in blp.itertuples():
        price = models.loc[(models.clustering_ids == row.clustering_ids) & (models.year == row.year), "prices"]
        assert math.isclose(price.item(), row.price, abs_tol=0.001), row.model
        spec = _line(FLAGSHIP, row.brand, row.line)
        assert spec["launch"] is None or spec["launch"] <= "1990-01", row.model
