"""Every scenario in the library loads, says what it asks, and runs."""

from __future__ import annotations

import tomllib

import pytest

from sim import reference
from sim.model import LuxuryMarketModel
from sim.scenario_files import SCENARIO_DIR, load_scenario

LIBRARY = sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def test_the_library_has_the_promised_what_ifs():
    for name in ("lexus_us_1989", "lexus_service_parity", "lexus_no_complimentary", "lexus_discount_instead",
                 "incumbents_respond_fast", "incumbents_never_respond", "lexus_rescue_guarantee_max",
                 "lexus_rescue_guarantee_off", "europe_1990", "generic_new_entrant"):
        assert name in LIBRARY


@pytest.mark.parametrize("name", LIBRARY)
def test_scenario_loads_asks_a_question_and_runs(name):
    path = SCENARIO_DIR / f"{name}.toml"
    assert path.read_text().lstrip().startswith("#"), "each scenario opens with a comment saying what it asks"
    scenario = load_scenario(name, ["simulation.buyers=500", "market.years=3"])
    assert scenario.name == name and scenario.question.endswith("?")
    model = LuxuryMarketModel(scenario, seed=1).run()
    assert model.brand_year()["sales"].sum() > 0


def test_what_ifs_change_only_what_they_say():
    base = load_scenario("lexus_us_1989")
    no_comp = load_scenario("lexus_no_complimentary")
    assert no_comp.brands["Lexus"].service.complimentary_maintenance_months == 0
    restored = no_comp.brands["Lexus"].service.model_copy(update={"complimentary_maintenance_months": 36})
    assert restored == base.brands["Lexus"].service
    assert no_comp.market == base.market and no_comp.brands["BMW"] == base.brands["BMW"]
    raw = tomllib.loads((SCENARIO_DIR / "lexus_discount_instead.toml").read_text())
    assert raw["extends"] == "lexus_service_parity.toml"
    assert load_scenario("lexus_discount_instead").brands["Lexus"].discount == pytest.approx(0.07)


def test_flagship_defect_rates_follow_initial_quality_1991():
    """Defects per car-year are J.D. Power's 1991 problems per 100 cars x 0.6 repair visits per problem / 100,
    rounded to two decimals, for every brand the survey rated (the flagship's comment says so)."""
    iqs = reference.initial_quality_1991()
    brands = load_scenario("lexus_us_1989").brands
    rated = [b for b in brands if b in iqs]
    assert set(rated) == set(iqs)  # every rated brand is in the flagship
    for brand in rated:
        assert brands[brand].defects_per_car_year == pytest.approx(0.006 * iqs[brand], abs=0.005 + 1e-12), brand
