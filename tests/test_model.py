"""The model as a whole: invariants, determinism, the Mesa side, and the seeds' stylized facts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.brand import BrandAgent
from agents.buyer import BuyerAgent
from agents.policies import Fixed, RespondToShareLoss, make_strategy
from sim.model import LuxuryMarketModel
from sim.runner import run_replications
from sim.scenario import Strategy
from sim.scenario_files import load_scenario
from tests.conftest import small_flagship


# ---- invariants ------------------------------------------------------------------------------------------
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), buyers=st.integers(300, 3000), years=st.integers(1, 6),
       growth=st.floats(-0.05, 0.1))
def test_buyers_conserved_and_tables_consistent(seed, buyers, years, growth):
    scenario = small_flagship(years=years, buyers=buyers, overrides=[f"market.annual_growth={growth}"])
    model = LuxuryMarketModel(scenario, seed=seed).run()
    # start + entries - exits = end, and every active buyer owns exactly one car of a brand in the fleet
    assert buyers + model.entries - model.exits == model.n_active
    assert model.fleet.sum() == model.n_active
    assert (model.fleet >= 0).all()
    owned = np.bincount(model.pop.brand[model.pop.active], minlength=len(model.brands))
    np.testing.assert_array_equal(owned, model.fleet)
    table = model.brand_year()
    assert len(table) == years * len(model.brands)
    for col in ("sales", "fleet", "conquest_sales", "new_to_segment_sales", "service_cost", "churned_owners"):
        assert (table[col] >= 0).all(), col
    for col in ("sales_share", "fleet_share", "churn_rate", "repurchase_loyalty"):
        values = table[col].dropna()
        assert ((values >= 0) & (values <= 1)).all(), col
    for _, year in table.groupby("year"):
        assert year["fleet_share"].sum() == pytest.approx(1.0)
        if year["sales"].sum() > 0:
            assert year["sales_share"].sum() == pytest.approx(1.0)
    # sales decompose into repurchases, conquests and new-to-segment buyers
    led = model.ledger
    np.testing.assert_allclose(led.sales.sum(0),
                               led.repurchase.sum(0) + led.conquest_sales.sum(0) + led.new_to_segment_sales.sum(0))
    # the switching matrix agrees with the sales and churn counts
    sw = led.switching.sum(0)
    np.testing.assert_allclose(sw[:, : len(model.brands)].sum(0), led.sales.sum(0))
    nb = len(model.brands)
    np.testing.assert_allclose(sw[:nb].sum(1) - np.diag(sw)[:nb], led.churned_owners.sum(0))


def test_brands_are_not_sold_before_launch(small_run):
    table = small_run.brand_year()
    lexus = table[table.brand == "Lexus"].set_index("year")
    assert (lexus.loc[1986:1988, "sales"] == 0).all()
    assert lexus.loc[1990, "sales"] > 0
    sep = small_run.month_of("1989-09")
    assert small_run.ledger.sales[:sep, small_run.brand_names.index("Lexus")].sum() == 0
    assert small_run.ledger.sales[sep:, small_run.brand_names.index("Lexus")].sum() > 0


# ---- determinism -----------------------------------------------------------------------------------------
def test_same_seed_same_results_different_seed_different(small_scenario):
    a = LuxuryMarketModel(small_scenario, seed=11).run().brand_year()
    b = LuxuryMarketModel(small_scenario, seed=11).run().brand_year()
    c = LuxuryMarketModel(small_scenario, seed=12).run().brand_year()
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_the_service_pass_gives_the_same_run_whatever_the_size_of_its_buffers(small_scenario, monkeypatch):
    """kernels.service_month stops when an output buffer is full and the model makes room and resumes it: a
    run that starts with tiny buffers (so the pass is stopped and resumed) is the same run."""
    from sim import kernels
    from sim.population import Complaints

    roomy = LuxuryMarketModel(small_scenario, seed=11).run()
    calls = []
    kernel = kernels.service_month
    monkeypatch.setattr(kernels, "service_month", lambda *a: calls.append(1) or kernel(*a))
    cramped = LuxuryMarketModel(small_scenario, seed=11)
    cramped._moved = np.empty((3, 2), dtype=np.int64)  # room for one owner with a new date
    cramped.complaints = Complaints(capacity=1)
    cramped.run()
    assert len(calls) > cramped.n_months, "the pass should have been stopped and resumed"
    pd.testing.assert_frame_equal(roomy.brand_year(), cramped.brand_year())
    np.testing.assert_array_equal(roomy.pop.sat, cramped.pop.sat)


def test_replications_do_not_depend_on_worker_count():
    scenario = small_flagship(years=4, buyers=2000)
    one = run_replications(scenario, replications=3, seed=5, workers=1)
    two = run_replications(scenario, replications=3, seed=5, workers=2)
    for r1, r2 in zip(one, two):
        pd.testing.assert_frame_equal(r1.brand_year, r2.brand_year)
    assert not one[0].brand_year.equals(one[1].brand_year)  # replications differ from each other


# ---- the Mesa side ---------------------------------------------------------------------------------------
def test_small_population_has_buyer_agents_viewing_the_arrays():
    model = LuxuryMarketModel(small_flagship(years=2, buyers=500), seed=3)
    buyers = model.agents_by_type[BuyerAgent]
    assert len(buyers) == 500
    assert len(model.agents_by_type[BrandAgent]) == 8
    model.run()
    for agent in list(buyers)[:50]:
        if agent.active:
            assert agent.brand == model.brand_names[model.pop.brand[agent.slot]]
            assert -1.0 <= agent.satisfaction <= 1.0
            assert agent.brand in agent.aware_of
            assert agent.car_age_months >= 0
            assert set(agent.contacts) == set(model.network.contacts(agent.slot).tolist())


def test_large_population_creates_buyer_agents_for_the_sample_and_on_demand():
    model = LuxuryMarketModel(small_flagship(years=1, buyers=5000, overrides=["simulation.agent_sample=30"]), seed=3)
    assert len(model.agents_by_type[BuyerAgent]) == 30  # the sample's views, no others
    assert {a.slot for a in model.agents_by_type[BuyerAgent]} == set(model.sample_slots.tolist())
    slot = next(s for s in range(5000) if s not in set(model.sample_slots.tolist()))
    view = model.buyer(slot)
    assert model.buyer(slot) is view
    assert len(model.agents_by_type[BuyerAgent]) == 31


def test_datacollector_records_every_month(small_run):
    monthly = small_run.datacollector.get_model_vars_dataframe()
    assert len(monthly) == small_run.n_months
    shares = monthly[[c for c in monthly.columns if c.startswith("sales_share[")]]
    assert np.allclose(shares.sum(axis=1)[shares.sum(axis=1) > 0], 1.0)
    brands = small_run.datacollector.get_agenttype_vars_dataframe(BrandAgent)
    assert len(brands) == small_run.n_months * 8


def test_policy_timeline_fires_on_its_date():
    model = LuxuryMarketModel(small_flagship(years=12, buyers=1000), seed=1)
    bmw = next(b for b in model.brands if b.name == "BMW")
    model.run(model.month_of("1997-01"))  # through December 1996
    assert bmw.service.complimentary_maintenance_months == 2
    model.step()  # January 1997
    assert bmw.service.complimentary_maintenance_months == 36
    assert any("1997" in note or "36,000" in note for _, note in bmw.history)


def test_complacent_incumbent_responds_after_its_lag():
    scenario = small_flagship(years=12, buyers=4000, overrides=[
        "brands.Cadillac.strategy.threshold=0.05", "brands.Cadillac.strategy.lag_months=12"])
    model = LuxuryMarketModel(scenario, seed=2).run()
    cadillac = next(b for b in model.brands if b.name == "Cadillac")
    trigger = cadillac.strategy.triggered_month
    assert trigger is not None
    assert cadillac.service.dealer_service_quality == pytest.approx(0.6)
    assert [m for m, note in cadillac.history if "response" in note] == [trigger + 12]


# ---- the seeds' stylized facts (flagship, small scale, fixed seeds) --------------------------------------
SEEDS = (101, 202, 303)


def _lexus_runs(overrides=(), scenario="lexus_us_1989", years=10, buyers=20000):
    sc = load_scenario(scenario, [f"market.years={years}", f"simulation.buyers={buyers}", *overrides])
    return [LuxuryMarketModel(sc, seed=s).run().brand_year() for s in SEEDS]


@pytest.fixture(scope="module")
def flagship_runs():
    return _lexus_runs()


def test_after_launch_lexus_acquires_far_more_buyers_than_it_loses(flagship_runs):
    """1990-1995: Lexus wins half as many buyers again as it loses, in every year and seed (the validated fact asks
    for more than it loses, to 2010; the flagship's lowest ratio in these years is about 1.9, with buyers as
    price-sensitive as BLP's, whose yen-years prices cost Lexus conquests)."""
    for table in flagship_runs:
        lexus = table[(table.brand == "Lexus") & (table.year >= 1990)]
        acquired = lexus.conquest_sales + lexus.new_to_segment_sales
        assert (acquired > 1.5 * lexus.churned_owners).all(), lexus[["year", "conquest_sales", "churned_owners"]]


def test_service_parity_leaves_lexus_with_clearly_less_share(flagship_runs):
    parity = _lexus_runs(scenario="lexus_service_parity")
    share = lambda runs: np.array([t[(t.brand == "Lexus") & (t.year == 1995)].sales_share.item() for t in runs])  # noqa: E731
    base, cf = share(flagship_runs), share(parity)
    assert (cf < base).all()  # every paired seed
    assert cf.mean() < 0.75 * base.mean()


def test_raising_an_incumbents_service_lowers_its_churn(flagship_runs):
    better = _lexus_runs(overrides=[
        "brands.Cadillac.service.dealer_service_quality=0.85", "brands.Cadillac.service.loaner_cars=true",
        "brands.Cadillac.service.complaint_resolution_fast=0.75",
        "brands.Cadillac.service.complaint_resolution_slow=0.2"])
    churn = lambda runs: np.array([t[(t.brand == "Cadillac") & (t.year >= 1988)].churn_rate.mean() for t in runs])  # noqa: E731
    assert (churn(better) < churn(flagship_runs)).all()
    assert churn(better).mean() < churn(flagship_runs).mean() - 0.03


def test_rebuy_by_complaint_outcome_is_counted_for_every_replacing_owner(flagship_runs, small_run):
    led = small_run.ledger
    assert led.rebuy.sum() == led.replacers.sum()
    assert led.rebuy[:, :, 1].sum() == led.repurchase.sum()
    scenario = load_scenario("lexus_us_1989", ["market.years=10", "simulation.buyers=20000"])
    model = LuxuryMarketModel(scenario, seed=5).run()
    rates = model.ledger.rebuy_rates()
    # Dillard & Bates: a complaint resolved quickly keeps owners; one never resolved loses them
    assert rates["resolved_within_90_days"] > rates["unresolved"] + 0.05


# ---- strategies: the complacent incumbent --------------------------------------------------------------------
class _Brand:
    """What a strategy sees of its brand: a trailing share per month, and a way to schedule a change."""

    def __init__(self, shares):
        self.shares, self.scheduled = shares, []

    def trailing_sales_share(self, month):
        return self.shares[month]

    def schedule_policy_change(self, month, service, note, **changes):
        self.scheduled.append((month, service, note))


def _play(strategy, shares):
    brand = _Brand(shares)
    for month in range(len(shares)):
        strategy.update(brand, month)
    return brand.scheduled


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(shares=st.lists(st.floats(0.0, 0.5), min_size=13, max_size=60), threshold=st.floats(0.0, 1.0),
       lag=st.integers(0, 240))
def test_respond_to_share_loss_responds_once_after_the_first_fall_below_threshold(shares, threshold, lag):
    spec = Strategy(kind="respond_to_share_loss", threshold=threshold, lag_months=lag,
                    response={"loaner_cars": True})
    scheduled = _play(make_strategy(spec), shares)
    reference = shares[12]  # the trailing share at month 12: the first simulated year
    falls = [m for m in range(13, len(shares)) if reference > 0 and shares[m] < (1 - threshold) * reference]
    expected = [(falls[0] + max(1, lag), {"loaner_cars": True}, "response to share loss")] if falls else []
    assert scheduled == expected


def test_a_strategy_looks_at_nothing_in_the_first_year_and_a_fixed_one_never_acts():
    shares = [0.0] * 12 + [0.5, 0.45, 0.3, 0.0]  # months 0-11 unseen; reference 0.5; 0.3 < 0.8 * 0.5 at month 14
    respond = Strategy(kind="respond_to_share_loss", lag_months=0)  # a lag of 0 still means the next month
    assert _play(make_strategy(respond), shares) == [(15, {}, "response to share loss")]
    assert _play(make_strategy(Strategy(kind="respond_to_share_loss")), [0.0] * 13 + [0.0] * 24) == []  # no reference
    assert isinstance(make_strategy(Strategy()), Fixed) and _play(make_strategy(Strategy()), shares) == []
    assert isinstance(make_strategy(Strategy(kind="respond_to_share_loss")), RespondToShareLoss)


def test_a_finished_model_refuses_another_step_and_buyer_checks_its_slot():
    model = LuxuryMarketModel(small_flagship(years=1, buyers=300), seed=3).run()
    before = model.brand_year()
    with pytest.raises(RuntimeError, match="12 months have been simulated"):
        model.step()
    pd.testing.assert_frame_equal(model.brand_year(), before)
    for slot in (-1, model.pop.capacity):
        with pytest.raises(IndexError, match="outside the population"):
            model.buyer(slot)
    assert model.buyer(0).slot == 0


def test_the_old_name_of_the_defect_weight_is_an_unknown_field():
    """``choice.quality_weight`` was renamed ``defect_weight`` (service quality and defects share no word)."""
    from sim.scenario_files import ScenarioError

    with pytest.raises(ScenarioError, match=r"choice.quality_weight: unknown field \(renamed 'defect_weight'\)"):
        load_scenario("lexus_us_1989", ["choice.quality_weight=1.0"])
    assert load_scenario("lexus_us_1989", ["choice.defect_weight=1.0"]).choice.defect_weight == 1.0


@settings(derandomize=True, database=None, deadline=None, max_examples=4)
@given(seed=st.integers(0, 2**32 - 1), buyers=st.integers(300, 3000))
def test_a_model_that_collects_nothing_gives_the_same_tables(seed, buyers):
    """collect=False (a sweep's runs) records nothing in the DataCollector and changes no output of the ledger."""
    sc = small_flagship(years=3, buyers=buyers)
    full = LuxuryMarketModel(sc, seed=seed).run()
    bare = LuxuryMarketModel(sc, seed=seed, collect=False).run()
    assert bare.datacollector.get_model_vars_dataframe().empty
    assert not full.datacollector.get_model_vars_dataframe().empty
    pd.testing.assert_frame_equal(full.brand_year(), bare.brand_year())
    pd.testing.assert_frame_equal(full.switching(), bare.switching())
    pd.testing.assert_frame_equal(full.line_year(), bare.line_year())


def test_a_brands_prestige_and_reputation_are_the_models_columns():
    """``BrandAgent.prestige`` and ``.reputation`` read and write the model's ``brand_prestige`` and
    ``brand_reputation`` (one value in one place): what the month's dynamics move is what the agent reports, a value
    set on the agent between months is what the next month's brand arrays and choices use, and the yearly table
    records it."""
    model = LuxuryMarketModel(small_flagship(years=3, buyers=2000), seed=4)
    model.run(18)
    for b in model.brands:
        assert b.prestige == model.brand_prestige[b.index] and b.reputation == model.brand_reputation[b.index]
        assert isinstance(b.prestige, float) and isinstance(b.reputation, float)
    assert model.ledger.prestige[17].tolist() == model.brand_prestige.tolist()
    lexus = next(b for b in model.brands if b.name == "Lexus")
    lexus.prestige, lexus.reputation = 0.05, -0.9
    assert model.brand_prestige[lexus.index] == 0.05 and model.brand_reputation[lexus.index] == -0.9
    model.step()
    assert model.brand_arrays.prestige[lexus.index] == 0.05 and model.brand_arrays.reputation[lexus.index] == -0.9
    assert model.brand_prestige[lexus.index] != 0.05  # and the month moved it on from there


def test_the_months_brand_arrays_are_the_brands_as_they_stand():
    """The model makes its brand arrays again in full only when a brand adopts a change, and otherwise updates what
    moves (the lines on sale and their prices: ``BrandArrays.with_lines``; prestige, reputation, reach): every month
    of a run with launches, repricings, policy changes and responses, they are exactly ``BrandArrays.from_brands``,
    and the month's lines are the brands'."""
    from sim.brand_arrays import BrandArrays

    model = LuxuryMarketModel(small_flagship(years=25, buyers=500), seed=6)
    partial = 0
    lexus, acura = (next(b for b in model.brands if b.name == name) for name in ("Lexus", "Acura"))
    for m in range(model.n_months):
        if m == 60:  # changes of a line's price or dates, as a timeline or a strategy's response would adopt them
            lexus.adopt({}, "yen", m, price_index=1.25)
        if m == 120:
            acura.adopt({}, "ends a line", m, end=[acura.lines[0].name])
        before, start = model._brand_key, (model.brand_prestige.copy(), model.brand_reputation.copy())
        model.step()  # (which moves prestige and reputation at the month's end: the month's arrays hold its start)
        fresh = BrandArrays.from_brands(model.brands, m)._replace(prestige=start[0], reputation=start[1])
        for name, ours, theirs in zip(BrandArrays._fields, model.brand_arrays, fresh):
            assert ours.dtype == theirs.dtype, name
            np.testing.assert_array_equal(ours, theirs, err_msg=f"month {m}: {name}")
        partial += before is not None and model._brand_key != before and model._brand_key[0] == before[0]
        # and the month's lines (from the line calendar, made again only when a brand changes a line's dates or
        # price) are the brands' own
        np.testing.assert_array_equal(model.lines.on_sale, np.concatenate([b.lines_on_sale(m) for b in model.brands]))
        np.testing.assert_array_equal(model.lines.price, np.concatenate([b.line_prices(m) for b in model.brands]))
    assert partial >= 10 and model.brand_changes > model.line_changes >= 2  # every kind of change happened
