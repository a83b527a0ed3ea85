"""Mesa's SolaraViz with the market (sim/mesa_viz.py), rendered without a browser: the page builds, Mesa's Step
advances a month and draws the charts, and Mesa's Reset rebuilds the market from the page's controls."""

from __future__ import annotations

import functools
import warnings

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara
from mesa.experimental.scenarios import Scenario as MesaScenario

from sim.mesa_viz import VizModel, make_page
from sim.model import LuxuryMarketModel
from tests.conftest import small_flagship

LEVER = "brands.Lexus.service.complimentary_maintenance_months"


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shortened flagship's later dates
        yield


@pytest.fixture
def built(monkeypatch) -> list[VizModel]:
    """Every VizModel built while the test runs (the page's first, then each Reset's)."""
    models = []
    init = VizModel.__init__

    @functools.wraps(init)  # the same signature: SolaraViz reads it
    def record(self, *args, **kwargs):
        init(self, *args, **kwargs)
        models.append(self)

    monkeypatch.setattr(VizModel, "__init__", record)
    return models


def test_the_page_steps_and_resets_with_its_controls(built):
    page = make_page(buyers=1000, years=2)
    assert page.component.name == "SolaraViz"
    _, rc = solara.render(solara.AppLayout(children=[page]), handle_error=False)
    model = built[0]
    assert model.config.market.years == 2 and model.initial_buyers == 1000 and model.month == -1

    step = rc.find(v.Btn, children=["Step"]).widget
    for _ in range(12):
        step.click()
    assert model.month == 11  # a Step is a month
    charts = rc.find(ipywidgets.Image).widgets
    assert len(charts) == 2 and all(len(chart.value) > 1000 for chart in charts)  # two PNGs drawn

    rc.find(v.Slider, label="Lexus: complimentary maintenance (months)").widget.v_model = 0
    seed = rc.find(v.TextField, label="seed").widget
    seed.v_model = "7"
    seed.fire_event("keyup.enter")  # a text field gives its value on Enter (or on leaving it)
    rc.find(v.Btn, children=["Reset"]).widget.click()
    rebuilt = built[-1]
    assert rebuilt is not model and rebuilt.month == -1
    assert rebuilt.config.name == "lexus_us_1989" and rebuilt.config.market.years == 2
    assert rebuilt.config.brands["Lexus"].service.complimentary_maintenance_months == 0
    assert rebuilt.seed == 7 and rebuilt.initial_buyers == 1000
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert rebuilt.month == 0


def test_mesas_own_scenario_is_left_aside():
    """SolaraViz's Reset passes Mesa's Scenario as `scenario`, which LuxuryMarketModel cannot take: the reason for
    VizModel."""
    with pytest.raises(TypeError, match="got Scenario"):
        LuxuryMarketModel(scenario=MesaScenario(), buyers=500)
    model = VizModel(scenario=MesaScenario(), luxsim_scenario=small_flagship(years=1, buyers=500), rng=3)
    assert model.config.market.years == 1 and model.seed == 3
    given = VizModel(small_flagship(years=1, buyers=500), luxsim_scenario="no_such_scenario", rng=3, **{LEVER: 12})
    assert given.config.brands["Lexus"].service.complimentary_maintenance_months == 12


def test_loyalty_is_the_last_complete_years_as_brand_year_gives_it():
    model = VizModel(small_flagship(years=2, buyers=1000), rng=5, buyers=1000)
    model.run()
    data = model.datacollector.get_model_vars_dataframe()
    assert data.filter(like="repurchase_loyalty[").iloc[:11].isna().all().all()  # no complete year yet
    table = model.brand_year()
    for year, row in ((1986, 11), (1987, 23)):
        expected = table[table["year"] == year].set_index("brand")["repurchase_loyalty"]
        for brand in model.brand_names:
            np.testing.assert_equal(data.loc[row, f"repurchase_loyalty[{brand}]"], expected[brand])
    assert (data.loc[12:22, "repurchase_loyalty[Cadillac]"] == expected_at(table, 1986, "Cadillac")).all()


def expected_at(table, year, brand):
    return table[(table["year"] == year) & (table["brand"] == brand)]["repurchase_loyalty"].item()


@pytest.mark.parametrize("seed", ["", "-5", "abc", "1.5"])
def test_a_seed_that_is_not_a_whole_number_is_one_line(seed):
    with pytest.raises(ValueError, match=r"^seed: a whole number of 0 or more, got '.*'$"):
        VizModel(luxsim_scenario=small_flagship(years=1, buyers=500), rng=seed)


def test_a_brand_the_scenario_lacks_is_named():
    with pytest.raises(ValueError, match=r"brand: 'Lexsu' is not in scenario lexus_us_1989 \(Cadillac, "):
        make_page(buyers=500, years=1, brand="Lexsu")
    page = make_page("generic_new_entrant", buyers=500, years=1)  # no Lexus: its first brand's levers
    first = next(name for name in page.kwargs["model_params"] if name.startswith("brands."))
    assert first.startswith("brands.") and "Lexus" not in first
