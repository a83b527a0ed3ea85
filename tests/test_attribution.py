"""Attribution: the Shapley math (pure functions), the lever counterfactuals on real scenarios, and the
`attribute` command end to end at a small size."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from itertools import combinations, permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim import attribution as A
from sim.scenario_files import ScenarioError, load_scenario, set_values, validate
from tests.conftest import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent
INCUMBENTS = ["Cadillac", "Lincoln", "Mercedes-Benz", "BMW", "Jaguar"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG_GUARD_S)


# ---- Shapley values: pure functions on value tables ---------------------------------------------------------
def tables(draw_k=st.integers(1, 5), reps=st.integers(1, 3)):
    """A random value table [2^k, replications]."""
    return st.tuples(draw_k, reps).flatmap(
        lambda kr: arrays(np.float64, (1 << kr[0], kr[1]), elements=st.floats(-100, 100, allow_nan=False)))


def brute_force(values: np.ndarray) -> np.ndarray:
    """Shapley values as the average marginal contribution over all k! orders (the definition)."""
    k = values.shape[0].bit_length() - 1
    phi = np.zeros((k, *values.shape[1:]))
    for order in permutations(range(k)):
        mask = 0
        for i in order:
            phi[i] += values[mask | 1 << i] - values[mask]
            mask |= 1 << i
    return phi / math.factorial(k)


@settings(max_examples=150, deadline=None)
@given(tables())
def test_shapley_values_sum_to_the_total_in_every_replication(values):
    phi = A.shapley(values)
    np.testing.assert_allclose(phi.sum(axis=0), values[-1] - values[0], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(tables(draw_k=st.integers(1, 4)))
def test_shapley_values_match_the_average_over_orders(values):
    np.testing.assert_allclose(A.shapley(values), brute_force(values), atol=1e-9)


def swap_bits(mask: int, i: int, j: int) -> int:
    if (mask >> i & 1) != (mask >> j & 1):
        mask ^= (1 << i) | (1 << j)
    return mask


@settings(max_examples=100, deadline=None)
@given(tables(draw_k=st.integers(2, 5)), st.data())
def test_symmetric_levers_get_equal_values(raw, data):
    k = raw.shape[0].bit_length() - 1
    i, j = data.draw(st.lists(st.integers(0, k - 1), min_size=2, max_size=2, unique=True))
    values = np.array([(raw[m] + raw[swap_bits(m, i, j)]) / 2 for m in range(len(raw))])  # i and j interchangeable
    phi = A.shapley(values)
    np.testing.assert_allclose(phi[i], phi[j], atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(tables(draw_k=st.integers(1, 5)), st.data())
def test_a_lever_that_never_changes_the_value_gets_zero(raw, data):
    k = raw.shape[0].bit_length() - 1
    dummy = data.draw(st.integers(0, k - 1))
    values = np.array([raw[m & ~(1 << dummy)] for m in range(len(raw))])
    phi = A.shapley(values)
    np.testing.assert_allclose(phi[dummy], 0.0, atol=1e-12)
    np.testing.assert_allclose(phi.sum(axis=0), values[-1] - values[0], atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5).flatmap(lambda k: st.tuples(
    arrays(np.float64, k, elements=st.floats(-50, 50)), st.floats(-50, 50),
    arrays(np.float64, (1 << k, 2), elements=st.floats(-50, 50)),
    arrays(np.float64, (1 << k, 2), elements=st.floats(-50, 50)))))
def test_additive_games_and_additivity(args):
    weights, constant, a, b = args
    k = len(weights)
    additive = np.array([constant + sum(weights[i] for i in range(k) if m >> i & 1) for m in range(1 << k)])
    np.testing.assert_allclose(A.shapley(additive), weights, atol=1e-9)
    np.testing.assert_allclose(A.shapley(a + b), A.shapley(a) + A.shapley(b), atol=1e-9)


def test_a_hand_computed_two_lever_game():
    # v(none)=0, v(a)=4, v(b)=2, v(ab)=10: phi_a = (4 + 8)/2 = 6, phi_b = (2 + 6)/2 = 4
    np.testing.assert_allclose(A.shapley(np.array([0.0, 4.0, 2.0, 10.0])), [6.0, 4.0])
    with pytest.raises(ValueError):
        A.shapley(np.zeros(3))


# ---- levers on real scenarios --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flagship_raw() -> dict:
    return load_scenario("lexus_us_1989").model_dump(mode="json")


@pytest.fixture(scope="module")
def flagship_toml() -> dict:
    """The flagship's TOML as written (no defaults filled in): what the by-hand helpers below read."""
    with (ROOT / "scenarios" / "lexus_us_1989.toml").open("rb") as file:
        return tomllib.load(file)


# By-hand reading of a brand's model lines in the TOML, independent of sim.attribution: dates are "YYYY-MM"
# strings, which compare as dates ("" before any date, "9999-99" after any).
def on_sale_by_hand(brand: dict, date: str) -> list[dict]:
    """The brand's lines on sale in month ``date``: launched (the line's launch, not before the brand's) by
    then and not yet ended (``end`` is the first month off sale); a ``"response"`` line never."""
    return [line for line in brand.get("models", []) if line.get("launch") != "response"
            and max(line.get("launch", ""), brand.get("launch", "")) <= date < line.get("end", "9999-99")]


def list_price_by_hand(line: dict, date: str) -> float:
    """A line's list price in month ``date`` (1989 USD, before the brand's price index): its last price point
    dated up to then, else its launch price."""
    return ([line["price"]] + [p["price"] for p in line.get("prices", []) if p["date"] <= date])[-1]


def price_index_by_hand(brand: dict, date: str) -> float:
    """The brand's price index in month ``date``: its ``price_index`` (1 if unset) or its last timeline change."""
    return ([brand.get("price_index", 1.0)] + [c["price_index"] for c in brand.get("timeline", [])
                                              if c["date"] <= date and "price_index" in c])[-1]


def mean_price_by_hand(brand: dict, date: str) -> float:
    """The brand's mean list price in month ``date``: its lines on sale, each at its price then, times the
    brand's price index then (1989 USD)."""
    lines = on_sale_by_hand(brand, date)
    return float(np.mean([list_price_by_hand(line, date) for line in lines])) * price_index_by_hand(brand, date)


def defects_by_hand(brand: dict, date: str) -> float:
    """The mean defect rate of the brand's lines on sale in month ``date`` (a line without its own rate has the
    brand's)."""
    return float(np.mean([line.get("defects_per_car_year", brand["defects_per_car_year"])
                          for line in on_sale_by_hand(brand, date)]))


def test_incumbents_are_the_brands_on_sale_at_the_start(flagship_raw):
    assert A.incumbents(flagship_raw, "Lexus") == INCUMBENTS  # Acura launches 1986-03, after the start
    assert A.incumbents(flagship_raw, "Cadillac") == INCUMBENTS[1:]  # an incumbent: the other incumbents
    assert A.launch_month(flagship_raw, "Lexus") == 44  # 1989-09


def test_incumbents_levels_on_the_flagship_by_hand(flagship_raw, flagship_toml):
    levels = A.incumbent_levels(flagship_raw, "Lexus")
    service = levels["service"]
    # dealer service quality at 1989-09: Cadillac .45, Lincoln .40, Mercedes .50 (its .60 comes in 1991), BMW .35,
    # Jaguar's (reasoned, then fitted by the calibration: no IQS row)
    jaguar_quality = flagship_toml["brands"]["Jaguar"]["service"]["dealer_service_quality"]
    assert service["dealer_service_quality"] == pytest.approx((0.45 + 0.40 + 0.50 + 0.35 + jaguar_quality) / 5)
    assert service["complaint_resolution_fast"] == pytest.approx((0.3 + 0.3 + 0.35 + 0.3 + 0.25) / 5)
    assert service["complimentary_maintenance_months"] == 0  # BMW's starts in 1993
    assert service["roadside_level"] == 1 and service["loaner_cars"] is False
    assert service["take_back_guarantee"] is False and service["recall_handling"] == pytest.approx(0.3)
    # prices at 1989-09: each incumbent's lines on sale then at their price paths by then (the BLP 1989 prices
    # of 1988-10; the 1990 ones come in 1989-10). Read off the TOML: Mercedes' S, E, 190 and SL ...
    brands = flagship_toml["brands"]
    assert mean_price_by_hand(brands["Mercedes-Benz"], "1989-09") == pytest.approx((60355 + 43937 + 31717
                                                                                    + 64489) / 4)
    # ... BMW's 3 Series sedan and coupe, 5 and 7 Series, and the 6 Series in its last month (it ends 1989-10) ...
    assert mean_price_by_hand(brands["BMW"], "1989-09") == pytest.approx((2 * 24749 + 37149 + 54218 + 47190) / 5)
    # ... Cadillac without the Cimarron (ended 1988-10) but with the Allante (from 1986-10)
    assert mean_price_by_hand(brands["Cadillac"], "1989-09") == pytest.approx((25538 + 29870 + 26846 + 25803
                                                                               + 57414) / 5)
    assert levels["price"] == pytest.approx(np.mean([mean_price_by_hand(brands[b], "1989-09") for b in INCUMBENTS]))
    # no flagship line sets its own defect rate: each incumbent's rate is its brand's
    jaguar = brands["Jaguar"]["defects_per_car_year"]  # an assumption the calibration fits (no IQS row)
    assert levels["defects_per_car_year"] == pytest.approx((0.83 + 0.79 + 0.59 + 0.85 + jaguar) / 5)
    assert levels["defects_per_car_year"] == pytest.approx(np.mean([defects_by_hand(brands[b], "1989-09")
                                                                    for b in INCUMBENTS]))


def test_majority_of_bools_and_rounded_mean_of_ints(flagship_raw):
    raw = set_values(flagship_raw, {"brands.Cadillac.service.loaner_cars": True,
                                    "brands.Lincoln.service.loaner_cars": True,
                                    "brands.Jaguar.service.complimentary_maintenance_months": 13,
                                    "brands.BMW.service.roadside_level": 3})
    service = A.incumbent_levels(raw, "Lexus")["service"]
    assert service["loaner_cars"] is False  # 2 of 5: no majority
    assert service["complimentary_maintenance_months"] == 3  # 13 / 5 = 2.6 -> 3
    assert service["roadside_level"] == 1  # (1+1+1+3+1) / 5 = 1.4 -> 1
    raw = set_values(raw, {"brands.BMW.service.loaner_cars": True,
                           "brands.Jaguar.service.complimentary_maintenance_months": 12})
    service = A.incumbent_levels(raw, "Lexus")["service"]
    assert service["loaner_cars"] is True  # 3 of 5
    assert service["complimentary_maintenance_months"] == 2  # 2.4 -> 2


def paths_under(changes: dict, prefix: str) -> bool:
    return all(p.startswith(prefix) for p in changes)


def test_each_lever_changes_exactly_its_fields_on_the_flagship(flagship_raw, flagship_toml):
    levels = A.incumbent_levels(flagship_raw, "Lexus")
    own = flagship_raw["brands"]["Lexus"]
    price_changes = any(c[f] is not None for c in own["timeline"] for f in A.PRICE_FIELDS)
    expected = {
        "service": {f"brands.Lexus.service.{f}" for f in levels["service"]
                    if flagship_raw["brands"]["Lexus"]["service"][f] != levels["service"][f]},
        "price": {"brands.Lexus.price_index"}  # Lexus sells model lines: the lever scales them
                 | ({"brands.Lexus.discount"} if own["discount"] else set())
                 | ({"brands.Lexus.timeline"} if price_changes else set())
                 | ({"brands.Lexus.strategy.price_index"} if own["strategy"]["price_index"] is not None else set()),
        "reliability": {"brands.Lexus.defects_per_car_year"}
                       | ({"brands.Lexus.models"} if any(line["defects_per_car_year"] is not None
                                                         for line in own["models"]) else set()),
        "word_of_mouth": {"brands.Lexus.word_of_mouth"},
        "line_up": {"brands.Lexus.models"}  # later lines dropped (below)
                   | ({"brands.Lexus.strategy.launch"} if own["strategy"]["launch"] else set()),
    }
    for name, paths in expected.items():
        out = A.counterfactual(flagship_raw, "Lexus", [name], levels)
        changes = A.dict_changes(flagship_raw, out)
        assert set(changes) == paths, name
        validate(out, name)  # a valid scenario
    assert len(expected["service"]) == 9  # every service field differs from Lexus's own
    out = A.counterfactual(flagship_raw, "Lexus", ["service"], levels)
    assert out["brands"]["Lexus"]["service"] == levels["service"]
    kept = (*A.PRICE_FIELDS, "dealers", "dealer_capacity")  # price and dealer changes stay
    assert out["brands"]["Lexus"]["timeline"] == [{**c, "service": {}} for c in own["timeline"]
                                                  if any(c[f] is not None for f in kept)]
    assert any(c["dealers"] for c in out["brands"]["Lexus"]["timeline"])  # the network still grows
    # price: Lexus's price index puts the mean list price of its launch lines (LS and ES at 1989-09) at the
    # incumbents' mean then, both read off the TOML by hand; its lines and their price paths are kept
    lexus = A.counterfactual(flagship_raw, "Lexus", ["price"], levels)["brands"]["Lexus"]
    launch_mean = mean_price_by_hand(flagship_toml["brands"]["Lexus"], "1989-09")
    assert launch_mean == pytest.approx((33206 + 20327) / 2)
    incumbents_mean = np.mean([mean_price_by_hand(flagship_toml["brands"][b], "1989-09") for b in INCUMBENTS])
    assert lexus["price_index"] == pytest.approx(incumbents_mean / launch_mean, rel=1e-8)
    assert lexus["price_index"] > 1.4  # Lexus launched ~30% under the incumbents' mean list price
    assert lexus["price"] is None and lexus["models"] == own["models"]
    assert lexus["discount"] == 0.0 and lexus["strategy"]["price_index"] is None
    assert all(c[f] is None for c in lexus["timeline"] for f in A.PRICE_FIELDS)
    # reliability: the incumbents' mean for the brand and no line-level rate left
    lexus = A.counterfactual(flagship_raw, "Lexus", ["reliability"], levels)["brands"]["Lexus"]
    assert lexus["defects_per_car_year"] == levels["defects_per_car_year"]
    assert all(line["defects_per_car_year"] is None for line in lexus["models"])
    assert A.counterfactual(flagship_raw, "Lexus", ["word_of_mouth"])["brands"]["Lexus"]["word_of_mouth"] == 0.0
    assert flagship_raw["brands"]["Lexus"]["word_of_mouth"] == 1.0  # the input is not modified


def test_service_and_price_drop_the_brands_own_timeline_and_response(flagship_raw, flagship_toml, with_lines):
    levels = A.incumbent_levels(flagship_raw, "Mercedes-Benz")  # an incumbent: compared with the other four
    others = ["Cadillac", "Lincoln", "BMW", "Jaguar"]
    assert levels["incumbents"] == others and levels["at_month"] == 0
    brands = flagship_toml["brands"]
    # at the start (1986-01): the lines on sale then at their launch prices (Cadillac's Allante not yet)
    assert mean_price_by_hand(brands["Cadillac"], "1986-01") == pytest.approx((22343 + 30393 + 27548 + 25096
                                                                               + 14913) / 5)
    assert levels["price"] == pytest.approx(np.mean([mean_price_by_hand(brands[b], "1986-01") for b in others]))
    own = flagship_raw["brands"]["Mercedes-Benz"]
    assert [c["date"] for c in own["timeline"]] == ["1991-06", "1998-01", "2004-01"]  # service changes only
    service = A.counterfactual(flagship_raw, "Mercedes-Benz", ["service"], levels)["brands"]["Mercedes-Benz"]
    assert service["timeline"] == []  # every entry was service: none left
    price = A.counterfactual(flagship_raw, "Mercedes-Benz", ["price"], levels)["brands"]["Mercedes-Benz"]
    assert price["timeline"] == own["timeline"]  # no price change to drop: the service changes stay
    assert price["discount"] == 0.0 and price["models"] == own["models"]
    # its four lines of 1986 (S, E, 190, SL at their launch prices) scaled to the other four's mean
    assert price["price_index"] == pytest.approx(levels["price"] / ((51231 + 39417 + 27604 + 60546) / 4), rel=1e-8)
    both = A.counterfactual(flagship_raw, "Mercedes-Benz", ["service", "price"], levels)
    assert both == A.counterfactual(flagship_raw, "Mercedes-Benz", ["price", "service"], levels)  # order-free
    assert both["brands"]["Mercedes-Benz"]["timeline"] == []
    for name in A.LEVERS:
        changes = A.dict_changes(flagship_raw, A.counterfactual(flagship_raw, "Mercedes-Benz", [name], levels))
        assert paths_under(changes, "brands.Mercedes-Benz."), name
    # a timeline with both kinds (the hand-built scenario: Mercedes' service changes and its 1988 and 1990 yen
    # price index changes): each lever drops its own kind and keeps the other's
    own = with_lines["brands"]["Mercedes-Benz"]
    levels = A.incumbent_levels(with_lines, "Mercedes-Benz")
    service = A.counterfactual(with_lines, "Mercedes-Benz", ["service"], levels)["brands"]["Mercedes-Benz"]
    assert [(c["date"], c["price_index"]) for c in service["timeline"]] == [("1988-01", 1.05), ("1990-01", 1.2)]
    price = A.counterfactual(with_lines, "Mercedes-Benz", ["price"], levels)["brands"]["Mercedes-Benz"]
    assert [c["date"] for c in price["timeline"]] == ["1991-06", "1998-01", "2004-01"]
    assert price["timeline"] == [c for c in own["timeline"] if c["service"]]
    both = A.counterfactual(with_lines, "Mercedes-Benz", ["service", "price"], levels)
    assert both == A.counterfactual(with_lines, "Mercedes-Benz", ["price", "service"], levels)
    assert both["brands"]["Mercedes-Benz"]["timeline"] == []
    # Cadillac's strategy response is its service too
    cad = A.counterfactual(flagship_raw, "Cadillac", ["service"])
    changes = A.dict_changes(flagship_raw, cad)
    assert changes["brands.Cadillac.strategy.response.loaner_cars"] == (True, None)  # the response is dropped
    assert cad["brands"]["Cadillac"]["strategy"]["response"] == {}
    assert cad["brands"]["Cadillac"]["strategy"]["kind"] == "respond_to_share_loss"
    assert all(p.startswith(("brands.Cadillac.service.", "brands.Cadillac.strategy.response.")) for p in changes)
    validate(cad, "cadillac")


def test_prepare_builds_every_coalition_as_a_valid_scenario():
    sc = load_scenario("generic_new_entrant")
    levels, changes, scenarios = A.prepare(sc, "Entrant", ["service", "price", "reliability"], 2022, 2024)
    assert len(scenarios) == 8 and all(s.market.years == 5 for s in scenarios)
    assert levels["incumbents"] == ["Heritage", "Sporty", "Comfort"]
    assert levels["price"] == pytest.approx((60000 + 52000 + 45000) / 3)
    assert changes["price"] == {"brands.Entrant.price": (46000.0, levels["price"])}
    assert set(changes["reliability"]) == {"brands.Entrant.defects_per_car_year"}
    assert scenarios[-1].brands["Entrant"] == sc.brands["Entrant"]  # all levers kept: the scenario as written
    assert scenarios[0].brands["Entrant"].price == pytest.approx(levels["price"])
    assert scenarios[0].brands["Entrant"].service.loaner_cars is False
    assert scenarios[0b010].brands["Entrant"].price == sc.brands["Entrant"].price  # price kept, others switched
    assert scenarios[0b010].brands["Entrant"].defects_per_car_year == pytest.approx(levels["defects_per_car_year"])


# ---- levers for brands with model lines ---------------------------------------------------------------------
def _no_price_changes(timeline: list[dict]) -> list[dict]:
    return [{**c, "price": None, "price_index": None, "discount": None} for c in timeline
            if c["service"]]


def _line(name, body, tier, price, **more) -> dict:
    return {"name": name, "body": body, "tier": tier, "price": price, "launch": None, "end": None, "prices": [],
            "defects_per_car_year": None, **more}


def lines_raw(flagship_raw: dict) -> dict:
    """The flagship with Lexus and Mercedes-Benz selling model lines and the other incumbents one implicit line
    each, every price, price index and defect rate set here (independent of the flagship's own numbers). A raw
    dict, validated: a TOML child could not delete the parent's brand-level ``price``."""
    raw = json.loads(json.dumps(flagship_raw))
    for name, price, defects in (("Cadillac", 26500.0, 0.8), ("Lincoln", 27000.0, 0.8), ("BMW", 34200.0, 0.85),
                                 ("Jaguar", 43000.0, 1.1)):
        raw["brands"][name].update(price=price, models=[], price_index=1.0, discount=0.0, defects_per_car_year=defects,
                                   timeline=_no_price_changes(raw["brands"][name]["timeline"]))
    mercedes = raw["brands"]["Mercedes-Benz"]
    mercedes.update(price=None, price_index=1.0, discount=0.0, defects_per_car_year=0.6, models=[
        _line("S-Class", "sedan", "flagship", 45100.0, prices=[{"date": "1989-01", "price": 49500.0}],
              defects_per_car_year=0.5),
        _line("E-Class", "sedan", "mid", 38000.0),
        _line("190", "sedan", "entry", 24000.0, end="1989-06", defects_per_car_year=0.9),  # ended before 1989-09
        _line("SL", "coupe", "flagship", 60000.0, launch="1990-01"),  # after Lexus's launch
    ])
    mercedes["timeline"] = sorted(_no_price_changes(mercedes["timeline"])
                                  + [{"date": "1988-01", "note": "yen", "service": {}, "discount": None, "price": None,
                                      "price_index": 1.05},
                                     {"date": "1990-01", "note": "yen", "service": {}, "discount": None, "price": None,
                                      "price_index": 1.2}], key=lambda c: c["date"])
    lexus = raw["brands"]["Lexus"]
    lexus.update(price=None, price_index=1.0, discount=0.02, defects_per_car_year=0.33, models=[
        _line("LS 400", "sedan", "flagship", 35000.0, prices=[{"date": "1991-01", "price": 37700.0}],
              defects_per_car_year=0.3),
        _line("ES 250", "sedan", "mid", 21050.0, launch="1989-09", end="1991-09"),
        _line("ES 300", "sedan", "mid", 25000.0, launch="1991-09"),
        _line("SC 400", "coupe", "flagship", 37500.0, launch="1991-06"),
        _line("LX 450", "suv", "flagship", 40000.0, launch="response"),
    ])
    lexus["timeline"] = _no_price_changes(lexus["timeline"]) + [
        {"date": "1992-01", "note": "yen", "service": {}, "discount": None, "price": None, "price_index": 1.1}]
    lexus["strategy"].update(kind="respond_to_share_loss", launch=["LX 450"], price_index=1.08)
    return validate(raw, "lines test").model_dump(mode="json")


@pytest.fixture(scope="module")
def with_lines(flagship_raw) -> dict:
    return lines_raw(flagship_raw)


MERCEDES_AT_LAUNCH = (49500 + 38000) / 2 * 1.05  # S and E on sale at 1989-09 (190 ended, SL later), index 1.05


def test_incumbents_levels_with_model_lines_by_hand(with_lines):
    levels = A.incumbent_levels(with_lines, "Lexus")
    assert levels["price"] == pytest.approx((26500 + 27000 + MERCEDES_AT_LAUNCH + 34200 + 43000) / 5)
    # Mercedes' rate: the S-Class's own 0.5 and the E-Class at the brand's 0.6 (the 190's 0.9 is off sale)
    assert levels["defects_per_car_year"] == pytest.approx((0.8 + 0.8 + (0.5 + 0.6) / 2 + 0.85 + 1.1) / 5)
    assert [line["name"] for line in A.launch_lines(with_lines, "Lexus")] == ["LS 400", "ES 250"]


def test_levers_give_valid_scenarios_for_a_brand_with_models_and_commute(with_lines):
    levels = A.incumbent_levels(with_lines, "Lexus")
    names = list(A.LEVERS)
    for k in range(len(names) + 1):
        for i, subset in enumerate(combinations(names, k)):
            out = A.counterfactual(with_lines, "Lexus", list(subset), levels)
            validate(out, "+".join(subset))
            assert paths_under(A.dict_changes(with_lines, out), "brands.Lexus."), subset
            if i % 3 == 0:  # some orders of each size: every one gives the same scenario
                for order in list(permutations(subset))[:6]:
                    assert A.counterfactual(with_lines, "Lexus", list(order), levels) == out, order
    for name in names:  # every lever changes something for a brand with models
        assert A.dict_changes(with_lines, A.counterfactual(with_lines, "Lexus", [name], levels)), name


def test_price_lever_puts_the_launch_mean_list_price_at_the_incumbents(with_lines):
    from sim.model import LuxuryMarketModel

    levels = A.incumbent_levels(with_lines, "Lexus")
    out = A.counterfactual(with_lines, "Lexus", ["price"], levels)
    lexus = out["brands"]["Lexus"]
    assert lexus["price_index"] == pytest.approx(levels["price"] / ((35000 + 21050) / 2))
    assert lexus["discount"] == 0.0 and lexus["strategy"]["price_index"] is None
    assert all(c["price_index"] is None for c in lexus["timeline"])  # the 1992 index change dropped
    assert lexus["models"] == with_lines["brands"]["Lexus"]["models"]  # lines and price paths kept
    model = LuxuryMarketModel(validate(out, "price"), seed=1, buyers=500)
    month = A.launch_month(out, "Lexus")
    model.run(month + 1)  # to the launch month: timeline price index changes are in force by then
    assert model.month == month
    means = {}
    for agent in model.brands:
        on = [k for k in range(len(agent.lines)) if agent.line_on_sale(k, month)]
        means[agent.name] = np.mean([agent.line_price(k, month) for k in on]) if on else None
    # the engine's own prices: Mercedes' at launch is its S and E lines at index 1.05 ...
    assert means["Mercedes-Benz"] == pytest.approx(MERCEDES_AT_LAUNCH)
    # ... and Lexus's launch mean list price is the incumbents' mean
    assert means["Lexus"] == pytest.approx(np.mean([means[b] for b in INCUMBENTS]), rel=1e-8)
    # a brand without models keeps the old behaviour: its price at the incumbents' mean, here at the start, when
    # Mercedes sold the S at 45,100, the E and the 190 at index 1 (its 1989 price and 1988 index not yet)
    bmw = A.counterfactual(with_lines, "BMW", ["price"])["brands"]["BMW"]
    mercedes_1986 = (45100 + 38000 + 24000) / 3
    assert bmw["price"] == pytest.approx((26500 + 27000 + mercedes_1986 + 43000) / 4, rel=1e-8)
    assert bmw["price_index"] == 1.0


def test_reliability_lever_removes_line_level_rates(with_lines):
    levels = A.incumbent_levels(with_lines, "Lexus")
    lexus = A.counterfactual(with_lines, "Lexus", ["reliability"], levels)["brands"]["Lexus"]
    assert lexus["defects_per_car_year"] == levels["defects_per_car_year"]
    assert all(line["defects_per_car_year"] is None for line in lexus["models"])  # the LS 400's 0.3 removed


def test_line_up_lever_keeps_the_launch_lines_and_drops_later_launches(with_lines, flagship_raw, flagship_toml):
    from sim.model import LuxuryMarketModel

    out = A.counterfactual(with_lines, "Lexus", ["line_up"])
    lexus = out["brands"]["Lexus"]
    assert [line["name"] for line in lexus["models"]] == ["LS 400", "ES 250"]
    assert all(line["end"] is None for line in lexus["models"])  # the ES 250 stays on sale to the end
    assert lexus["models"][0]["prices"] == [{"date": "1991-01", "price": 37700.0}]  # price path kept
    assert lexus["strategy"]["launch"] == [] and lexus["strategy"]["price_index"] == 1.08
    changes = A.dict_changes(with_lines, out)
    assert set(changes) == {"brands.Lexus.models", "brands.Lexus.strategy.launch"}
    model = LuxuryMarketModel(validate(out, "line_up"), seed=1, buyers=500)
    agent = model.brands[model.brand_names.index("Lexus")]
    month_1995 = (1995 - 1986) * 12
    assert [agent.line_on_sale(k, month_1995) for k in range(len(agent.lines))] == [True, True]
    # a brand without models has no line-up to narrow: the lever is void
    assert A.counterfactual(with_lines, "BMW", ["line_up"]) == with_lines
    # the flagship: Lexus keeps its launch line-up of 1989-09 (the LS and the ES, read off the TOML), on sale to the
    # end at their own price paths; the SC, GS, LX, RX, IS and GX are dropped
    own = flagship_raw["brands"]["Lexus"]
    lexus = A.counterfactual(flagship_raw, "Lexus", ["line_up"])["brands"]["Lexus"]
    launch = [line["name"] for line in on_sale_by_hand(flagship_toml["brands"]["Lexus"], "1989-09")]
    assert launch == ["LS", "ES"] and [line["name"] for line in lexus["models"]] == launch
    assert lexus["models"] == [{**line, "end": None} for line in own["models"] if line["name"] in launch]
    assert len(own["models"]) == 8 and {k: v for k, v in lexus.items() if k != "models"} \
        == {k: v for k, v in own.items() if k != "models"}  # nothing else of Lexus changes


def test_attribution_runs_the_line_up_lever_for_a_brand_with_models(with_lines):
    raw = json.loads(json.dumps(with_lines))
    raw["brands"]["Lexus"].pop("dealer_capacity", None)  # sold out every month until 1994, its line-up could not matter
    sc = validate(raw, "lines test")
    att = A.attribute(sc, "Lexus", ["price", "line_up"], replications=1, buyers=1500, first=1989, last=1993, seed=2,
                      workers=1)
    assert np.isfinite(att.values).all()
    np.testing.assert_allclose(att.phi().sum(axis=0), att.values[-1] - att.values[0], atol=1e-12)
    assert att.values[0b10, 0] != att.values[0b00, 0]  # the later lines (ES 300, SC 400) sell: the lever matters
    assert set(att.changes["line_up"]) == {"brands.Lexus.models", "brands.Lexus.strategy.launch"}


def test_a_brand_with_models_but_no_line_at_launch_is_refused(with_lines):
    raw = json.loads(json.dumps(with_lines))
    for line in raw["brands"]["Lexus"]["models"]:
        if line["launch"] in (None, "1989-09"):
            line["launch"] = "1990-01"
    with pytest.raises(ScenarioError, match="no line is on sale at the brand's launch"):
        A.counterfactual(raw, "Lexus", ["line_up"])


def test_bad_levers_and_brands_are_named():
    with pytest.raises(ScenarioError, match="unknown lever 'servce'.*did you mean 'service'.*known levers: service"):
        A.parse_levers("servce,price")
    with pytest.raises(ScenarioError, match="given twice: price"):
        A.parse_levers("price,price")
    assert A.parse_levers(" service , reliability ") == ["service", "reliability"]
    with pytest.raises(ScenarioError, match="unknown brand 'Lexsu'.*did you mean 'Lexus'"):
        A.check_brand(load_scenario("lexus_us_1989"), "Lexsu")


def test_value_of_a_run():
    by = pd.DataFrame({"year": [1988, 1989, 1990, 1988, 1989, 1990], "brand": ["X"] * 3 + ["Y"] * 3,
                       "sales_share": [np.nan, 0.1, 0.3, 0.5, 0.4, 0.2], "profit": [0.0, -5.0, 20.0, 1.0, 2.0, 3.0]})
    assert A.value_of(by, "X", "sales_share", 1989, 1990) == pytest.approx(0.3)  # not on sale in 1988: 0
    assert A.value_of(by, "Y", "sales_share", 1989, 1990) == pytest.approx(-0.3)
    assert A.value_of(by, "X", "cumulative_profit", 1989, 1990) == pytest.approx(15.0)


def test_results_do_not_depend_on_the_number_of_workers():
    sc = load_scenario("lexus_us_1989")
    kwargs = {"replications": 2, "buyers": 4000, "first": 1989, "last": 1990, "seed": 3}
    one = A.attribute(sc, "Lexus", ["reliability"], workers=1, **kwargs)
    two = A.attribute(sc, "Lexus", ["reliability"], workers=2, **kwargs)
    np.testing.assert_array_equal(one.values, two.values)
    assert not np.array_equal(one.values[:, 0], one.values[:, 1])  # replications differ ...
    assert one.values[1, 0] != one.values[0, 0]  # ... and the lever matters


# ---- the command, end to end ---------------------------------------------------------------------------------
def test_attribute_writes_a_complete_folder(tmp_path, flagship_toml):
    out = tmp_path / "att"
    proc = cli("attribute", "lexus_us_1989", "--brand", "Lexus", "--levers", "service,price,reliability,word_of_mouth",
               "--to", "1991", "-r", "2", "--buyers", "4000", "--seed", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"shapley.csv", "coalitions.parquet", "brand_year.parquet",
                                                "manifest.json", "report.html"}
    assert [p.name for p in tmp_path.iterdir()] == ["att"]  # no partial folder left beside it
    shap = pd.read_csv(out / "shapley.csv").set_index("lever")
    levers = ["service", "price", "reliability", "word_of_mouth"]
    total = shap.loc["total explained: v(all) - v(none)", "phi_mean"]
    assert shap.loc[levers, "phi_mean"].sum() == pytest.approx(total, abs=1e-6)
    assert total == pytest.approx(shap.loc["v(all): the scenario as written", "phi_mean"]
                                  - shap.loc["v(none): every lever at the incumbents' level", "phi_mean"], abs=1e-6)
    assert shap.loc[levers, "share_of_total"].sum() == pytest.approx(1.0, abs=1e-4)  # CSV keeps 6 digits
    coalitions = pd.read_parquet(out / "coalitions.parquet")
    assert len(coalitions) == 16 * 2 and set(coalitions["replication"]) == {0, 1}
    values = coalitions.pivot(index="mask", columns="replication", values="value").sort_index().to_numpy()
    np.testing.assert_allclose(A.shapley(values).sum(axis=0), values[-1] - values[0], atol=1e-12)
    assert (values[-1] > 0).all()  # Lexus gains share 1988 -> 1991 as written
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["brand"] == "Lexus" and manifest["levers"] == levers and manifest["seed"] == 5
    assert manifest["buyers_simulated"] == 4000 and manifest["from"] == 1989 and manifest["to"] == 1991
    assert manifest["incumbents"] == INCUMBENTS
    counterfactuals = manifest["counterfactuals"]
    # Lexus's price index, from 1 to the incumbents' mean list price at 1989-09 over its launch lines' mean then
    price = counterfactuals["price"]["changes"]
    assert set(price) == {"brands.Lexus.price_index"} and price["brands.Lexus.price_index"]["own"] == 1.0
    brands = flagship_toml["brands"]
    assert price["brands.Lexus.price_index"]["counterfactual"] == pytest.approx(
        np.mean([mean_price_by_hand(brands[b], "1989-09") for b in INCUMBENTS])
        / mean_price_by_hand(brands["Lexus"], "1989-09"), rel=1e-8)
    assert counterfactuals["word_of_mouth"]["changes"] == {"brands.Lexus.word_of_mouth": {"own": 1.0,
                                                                                         "counterfactual": 0.0}}
    assert "mesa" in manifest["packages"] and manifest["scenario"]["market"]["years"] == 6
    html = (out / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 2 and "Waterfall" in html
    assert "Lexus's sales-share gain 1989–1991" in html and "switch-off" in html
    assert "service" in proc.stdout and str(out) in proc.stdout.replace("\n", "")


@pytest.mark.parametrize("args, needle", [
    (["--levers", "service,charm"], "unknown lever 'charm'"),
    (["--levers", "service", "--brand", "Lexsu"], "unknown brand 'Lexsu'"),
    (["--levers", "service", "--from", "1986"], "--from 1986"),
    (["--levers", "service", "--metric", "fame"], "unknown metric 'fame'"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "never"
    base = ["attribute", "lexus_us_1989", "--out", str(out)]
    proc = cli(*base, *(args if "--brand" in args else ["--brand", "Lexus", *args]))
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    if "charm" in needle:
        assert "known levers: service, price, reliability, line_up, word_of_mouth" in proc.stderr
    if "Lexsu" in needle:
        assert "did you mean 'Lexus'" in proc.stderr
    assert list(tmp_path.iterdir()) == []
