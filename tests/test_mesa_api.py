"""The model as Mesa users drive it: ``mesa.batch_run`` with a scenario name and dotted field paths as parameters,
the buyers as ``BuyerAgent`` views (a documented sample), the DataCollector's brand and buyer reporters, and the
README's "Use from Mesa" example, executed as written."""

from __future__ import annotations

import multiprocessing
import re
import warnings
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.brand import BrandAgent
from agents.buyer import BuyerAgent
from sim.model import LuxuryMarketModel
from sim.scenario_files import ScenarioError, load_scenario, with_fields
from tests.conftest import small_flagship

LEVER = "brands.Lexus.service.complimentary_maintenance_months"
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(autouse=True)
def keep_start_method():
    """batch_run sets multiprocessing's start method to "spawn" for the whole process: put it back."""
    before = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(before, force=True)


def batch(parameters: dict, **options) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flagship's dates after a shortened run; iterations= is deprecated
        return pd.DataFrame(mesa.batch_run(LuxuryMarketModel, parameters=parameters, number_processes=1,
                                           display_progress=False, **options))


def test_batch_run_takes_a_scenario_name_and_a_dotted_lever():
    """1,000 buyers, 1986-1990 (Lexus on sale from September 1989): a row per brand and sampled buyer, the lever
    as a column, the model's reporters; free maintenance for 36 months leaves Lexus no maintenance revenue (its
    cars are all younger), which owners pay for without it."""
    df = batch({"scenario": "lexus_us_1989", "buyers": 1000, "market.years": 5, "simulation.agent_sample": 5,
                LEVER: [0, 36]}, rng=[1, 2], data_collection_period=1, max_steps=1000)
    assert set(df[LEVER]) == {0, 36}
    assert {"active_buyers", "entries", "exits", "sales_share[Lexus]", "brand", "sales", "service_revenue",
            "service_cost", "profit", "slot", "car_brand", "satisfaction"} <= set(df.columns)
    assert df["Step"].max() == 60  # the scenario's end stops the run (running = False) before max_steps
    brands = df[df["brand"].notna()]
    assert len(brands) == 4 * 60 * 8  # runs x months x brands
    assert len(df[df["slot"].notna()]) == 4 * 60 * 5
    lexus = brands[brands["brand"] == "Lexus"].groupby(["seed", LEVER])["service_revenue"].sum().unstack()
    assert (lexus[36] == 0).all() and (lexus[0] > 0).all()
    assert set(brands.loc[brands["brand"] == "Lexus", "complimentary_maintenance_months"]) == {0, 36}


def test_batch_run_iterations_are_distinct_runs_that_can_be_repeated():
    """Mesa's iterations pass seed=None: fresh entropy each run, as in Mesa, kept in model.seed."""
    df = batch({"scenario": "lexus_us_1989", "buyers": 1000, "market.years": 1}, iterations=2)
    assert df.groupby("iteration")["exits"].first().nunique() == 2 or \
        df.groupby("iteration")["sales_share[Cadillac]"].first().nunique() == 2
    model = LuxuryMarketModel(small_flagship(years=1, buyers=1000), seed=None).run()
    again = LuxuryMarketModel(small_flagship(years=1, buyers=1000), seed=model.seed).run()
    assert isinstance(model.seed, int)
    pd.testing.assert_frame_equal(model.brand_year(), again.brand_year())


def test_seed_and_rng_are_one_thing_and_default_to_the_scenario_seed():
    scenario = small_flagship(years=1, buyers=500)
    by_seed = LuxuryMarketModel(scenario, seed=5).run().brand_year()
    pd.testing.assert_frame_equal(by_seed, LuxuryMarketModel(scenario, rng=5).run().brand_year())
    default = LuxuryMarketModel(scenario)
    assert default.seed == scenario.simulation.seed
    with pytest.raises(ValueError, match="not both"):
        LuxuryMarketModel(scenario, seed=1, rng=1)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"brands.Lexus.service.complimentary_maintanance_months": 0},
     "brands.Lexus.service.complimentary_maintanance_months: unknown field (did you mean "
     "'complimentary_maintenance_months'?)"),
    ({LEVER: -3}, f"{LEVER}: Input should be greater than or equal to 0"),
    ({"brands.Lexsu.service.loaner_cars": True}, "brands.Lexsu: unknown brand 'Lexsu' (did you mean 'Lexus'?)"),
    ({"market.years": "many"}, "market.years: Input should be a valid integer"),
])
@pytest.mark.parametrize("given_as", ["name", "scenario"])
def test_a_bad_field_path_or_value_is_one_line_naming_it(fields, expected, given_as):
    scenario = "lexus_us_1989" if given_as == "name" else load_scenario("lexus_us_1989")
    with pytest.raises(ScenarioError) as error:
        LuxuryMarketModel(scenario, buyers=500, **fields)
    message = str(error.value)
    assert "\n" not in message and expected in message
    source = "lexus_us_1989.toml (with keyword fields)" if given_as == "name" else \
        "scenario lexus_us_1989 (with keyword fields)"
    assert source in message or "unknown brand" in message


def test_batch_run_with_a_bad_path_fails_with_the_same_line():
    with pytest.raises(ScenarioError, match="unknown field"):
        batch({"scenario": "lexus_us_1989", "buyers": 500, "brands.Lexus.service.loaner_carz": [True]})


def test_a_scenario_given_bare_to_batch_run_says_how_to_pass_it():
    """batch_run iterates a Scenario (pydantic models iterate their fields): a tuple reaches the model."""
    scenario = small_flagship(years=1, buyers=500)
    with pytest.raises(TypeError, match=r"in a list \(parameters=\{'scenario': \[scenario\]\}\)"):
        batch({"scenario": scenario}, max_steps=1)
    df = batch({"scenario": [scenario], LEVER: [0, 12]}, max_steps=2)
    assert set(df[LEVER]) == {0, 12}
    with pytest.raises(TypeError, match="got int"):
        LuxuryMarketModel(3)


@settings(max_examples=15, deadline=None)
@given(months=st.integers(0, 120), loaners=st.booleans(), years=st.integers(1, 30))
def test_keyword_fields_make_the_scenario_set_makes(months, loaners, years):
    """One rule: a model's keyword fields give the scenario the same --set texts give, for a name or a Scenario."""
    fields = {LEVER: months, "brands.Lexus.service.loaner_cars": loaners, "market.years": years}
    texts = [f"{LEVER}={months}", f"brands.Lexus.service.loaner_cars={str(loaners).lower()}", f"market.years={years}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_set = load_scenario("lexus_us_1989", texts)
        assert load_scenario("lexus_us_1989", values=fields) == by_set
        assert with_fields(load_scenario("lexus_us_1989"), fields) == by_set


def test_buyers_are_a_documented_sample_of_views_with_reporters():
    model = LuxuryMarketModel(small_flagship(years=2, buyers=5000, overrides=["simulation.agent_sample=40"]), seed=2)
    assert len(model.sample_slots) == 40
    assert {a.slot for a in model.agents_by_type[BuyerAgent]} == set(model.sample_slots.tolist())
    model.run()
    # the households that left are followed by the next in their slots; the views of those that left are gone
    views = model.agents_by_type[BuyerAgent]
    assert len(views) == 40 and all(v.household == model.pop.household[v.slot] for v in views)
    buyers = model.datacollector.get_agenttype_vars_dataframe(BuyerAgent)
    assert len(buyers) == 40 * 24
    assert set(buyers["slot"]) == set(model.sample_slots.tolist())
    last = buyers.xs(24.0, level="Step")
    for view in model.buyer_sample():
        row = last.loc[view.unique_id]
        assert row["car_brand"] == view.brand and row["satisfaction"] == view.satisfaction
    brands = model.datacollector.get_agenttype_vars_dataframe(BrandAgent)
    assert len(brands) == 24 * 8
    totals = brands.groupby("brand")[["sales", "service_cost"]].sum()
    yearly = model.brand_year().groupby("brand")[["sales", "service_cost"]].sum()
    np.testing.assert_allclose(totals.loc[yearly.index].to_numpy(), yearly.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("engine", ["vectorised", "agents"])
def test_the_collectors_month_is_its_reporters(engine):
    """The DataCollector reads each agent type's month from the columns at once; the records are those its
    reporters give agent by agent (values and Python types), every month, while sampled households leave and
    others take their slots."""
    model = LuxuryMarketModel(small_flagship(years=2, buyers=600, overrides=["simulation.agent_sample=60"]), seed=3,
                              engine=engine)
    collector = model.datacollector
    replaced = 0
    for _ in range(model.n_months):
        ids = {v.unique_id for v in model.buyer_sample()}
        model.step()
        for agent_type in (BuyerAgent, BrandAgent):
            fast = collector._record_agenttype(model, agent_type)
            slow = collector.records_by_reporter(model, agent_type)
            assert fast == slow
            assert [tuple(map(type, r)) for r in fast] == [tuple(map(type, r)) for r in slow]
        replaced += len(ids - {v.unique_id for v in model.buyer_sample()})
    assert replaced > 0  # some sampled households left, and their slots' next households were followed


def test_the_collectors_model_variables_are_mesas():
    """The model's collector stores its model reporters' values without Mesa's per-value steps (the brands' shares
    read at once): every month the same values, of the same types, as Mesa's own DataCollector with the same
    reporters; a reporter of another kind (a subclass's lambda) makes it Mesa's collect, with the same result."""
    class WithLambda(LuxuryMarketModel):
        def model_reporters(self) -> dict:
            return super().model_reporters() | {"prestige": lambda m: float(np.mean([b.prestige for b in m.brands]))}

    for cls in (LuxuryMarketModel, WithLambda):
        model = cls(small_flagship(years=2, buyers=800), seed=5)
        mesas = mesa.DataCollector(model_reporters=model.model_reporters())
        for _ in range(model.n_months):
            model.step()
            mesas.collect(model)
        ours = model.datacollector
        assert ours.model_vars.keys() == mesas.model_vars.keys()
        for name, values in mesas.model_vars.items():
            assert ours.model_vars[name] == values, name
            assert list(map(type, ours.model_vars[name])) == list(map(type, values)), name
        assert ours._collection_steps == mesas._collection_steps
        assert len(ours.get_agenttype_vars_dataframe(BrandAgent)) == model.n_months * len(model.brands)


@pytest.mark.parametrize("engine", ["vectorised", "agents"])
def test_the_sample_is_inspection_only(engine):
    """The same run whatever the sample's size, in both engines: the sample draws nothing."""
    tables = [LuxuryMarketModel(small_flagship(years=2, buyers=1000, overrides=[f"simulation.agent_sample={k}"]),
                                seed=4, engine=engine).run().brand_year() for k in (0, 100)]
    pd.testing.assert_frame_equal(*tables)


def readme_mesa_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use from Mesa", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_the_readme_mesa_example_runs_as_written():
    namespace = {"__name__": "__main__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(readme_mesa_example(), "README.md (Use from Mesa)", "exec"), namespace)  # noqa: S102
    assert set(namespace["results"][LEVER]) == {0, 36}
