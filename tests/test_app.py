"""The browser app without a browser: AppState (scenario, levers, chunked stepping, series, figures) and the
Solara page rendered to a widget tree, its buttons clicked and its sliders moved in Python."""

from __future__ import annotations

import io
import json
import math
import re
import shlex
import threading
import time

import ipyvuetify as v
import ipywidgets
import matplotlib.text
import numpy as np
import pandas as pd
import pytest
import solara
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.collections import PolyCollection

from sim import app, app_state
from sim.app_charts import CHARTS, band_name
from sim.app_figures import CELLS, FIGURES, comparison_html, latest_table_html, status_html
from sim.app_levers import LEVER_BY_KEY, LEVERS, lever_text
from sim.app_state import FLOW_WINDOWS, LEFT, NEW, AppState, override_arg
from sim.formats import MINUS, MISSING, compact_money, money, points
from sim.formats import money as money_text
from sim.model import LuxuryMarketModel
from sim.runner import run_one, run_replications
from sim.scenario_files import load_scenario, parse_override
from sim.style import BRAND_COLOURS, brand_palette
from tests.conftest import HANG_GUARD_S

BUYERS = 5000


@pytest.fixture()
def state():
    return AppState(buyers=BUYERS)


def short(state: AppState, years: int = 6) -> AppState:
    """The same state over a shorter horizon (a dotted override like any other)."""
    assert state.set_overrides({"market.years": years})
    return state


# ---- AppState ----------------------------------------------------------------------------------------------
def test_scenario_library_lists_every_scenario_with_its_question():
    library = dict(app_state.scenario_library())
    assert {"lexus_us_1989", "lexus_no_complimentary", "lexus_service_parity", "europe_1990"} <= set(library)
    assert all(question for question in library.values())


def test_opens_on_the_flagship_at_month_zero_with_lexus_selected(state):
    assert state.scenario_name == "lexus_us_1989"
    assert state.brand == "Lexus"
    assert state.months_done == 0 and not state.done
    assert "not started" in state.status()
    assert state.latest()["share_12m"].isna().all()
    assert state.overrides == {}
    for kind in ("share", "loyalty", "flows", "csi", "money", "network"):
        assert state.figure(kind).axes  # empty charts still draw (with a hint)


def test_step_year_advances_one_aligned_year_and_the_series_agree(state):
    assert state.step_year() == 12
    assert state.months_done == 12 and state.model.date() == "1986-12"
    share = state.monthly_share()
    assert share.shape == (12, len(state.model.brand_names))
    assert np.allclose(share.sum(axis=1), 1.0)
    assert (share["Lexus"] == 0).all()  # launched in September 1989
    yearly = state.yearly()
    assert sorted(yearly["year"].unique()) == [1986]
    # after a whole calendar year, the trailing 12-month share is that year's sales share
    table = yearly.set_index("brand")["sales_share"]
    latest = state.latest()["share_12m"]
    assert np.allclose(latest.to_numpy(), table.reindex(latest.index).to_numpy())
    state.advance(5)
    assert state.months_done == 17
    state.step_year()
    assert state.months_done == 24  # back on a January boundary


def test_run_to_end_publishes_in_chunks_and_can_be_stopped(state):
    short(state, 6)
    chunks = []
    assert state.run_to_end(on_chunk=lambda: chunks.append(state.months_done), render_every=12)
    assert chunks == [12, 24, 36, 48, 60, 72] and state.done
    assert state.step_year() == 0  # nothing left

    state.reset()
    assert state.months_done == 0

    def stop_after_two():
        if state.months_done >= 24:
            state.stop_requested = True
    assert not state.run_to_end(on_chunk=stop_after_two, render_every=12)
    assert state.months_done == 24


@pytest.mark.parametrize(("every", "redraws"), [
    (1, list(range(1, 49))), (12, [12, 24, 36, 48]), (24, [24, 48]), (36, [36, 48]), (0, [48])])
def test_the_render_interval_limits_the_redraws_of_run_to_end(every, redraws):
    state = AppState(buyers=2000, overrides={"market.years": 4})
    state.render_every = every  # the page's "Redraw the charts while running" control
    seen = []
    assert state.run_to_end(on_chunk=lambda: seen.append(state.months_done))
    assert seen == redraws and state.done  # every so many months, and once at the end


def test_the_render_interval_counts_from_where_the_run_starts():
    state = AppState(buyers=2000, overrides={"market.years": 4})
    state.advance(5)  # "Step one month" five times, then "Run to end"
    seen = []
    assert state.run_to_end(on_chunk=lambda: seen.append(state.months_done), render_every=24)
    assert seen == [24, 48]


def test_run_stops_when_a_lever_rebuilds_the_model(state):
    short(state, 6)

    def move_a_lever():
        if state.months_done == 24:
            state.set_lever("loaner_cars", False)
    assert not state.run_to_end(on_chunk=move_a_lever, render_every=12)
    assert state.months_done == 0  # the rebuilt model waits at the start


def test_a_lever_rebuilds_the_model_from_the_scenario_with_an_override(state):
    state.step_year()
    generation = state.generation
    assert state.lever_value("complimentary_maintenance_months") == 36
    assert state.set_lever("complimentary_maintenance_months", 0)
    assert state.overrides == {"brands.Lexus.service.complimentary_maintenance_months": 0}
    assert state.scenario.brands["Lexus"].service.complimentary_maintenance_months == 0
    assert state.lever_value("complimentary_maintenance_months") == 0
    assert state.generation == generation + 1 and state.months_done == 0
    assert "--set brands.Lexus.service.complimentary_maintenance_months=0" in state.cli_command()
    # other kinds of lever, on another brand
    state.select_brand("BMW")
    assert state.set_lever("roadside_level", 3) and state.set_lever("take_back_guarantee", True)
    assert state.set_lever("price_index", 1.1) and state.set_lever("discount", 0.05)
    bmw = state.scenario.brands["BMW"]
    assert (bmw.service.roadside_level, bmw.service.take_back_guarantee, bmw.price_index, bmw.discount) == (
        3, True, 1.1, 0.05)
    assert state.overrides["brands.BMW.price_index"] == 1.1
    # the model prices every BMW line 10% higher than the scenario as written
    base = LuxuryMarketModel(state.base, seed=1, buyers=500)
    agents = [m.brands[m.brand_names.index("BMW")] for m in (base, state.model)]
    assert [agents[1].line_price(k, 0) for k in range(len(agents[1].lines))] == pytest.approx(
        [1.1 * agents[0].line_price(k, 0) for k in range(len(agents[0].lines))])
    assert state.model.brands[state.model.brand_names.index("BMW")].service.roadside_level == 3
    # moving a lever back to the scenario's value drops the override; "restore" drops them all
    state.select_brand("Lexus")
    state.set_lever("complimentary_maintenance_months", 36)
    assert "brands.Lexus.service.complimentary_maintenance_months" not in state.overrides
    state.restore_scenario()
    assert state.overrides == {}


def test_an_invalid_lever_value_is_refused_by_the_schema_and_explained(state):
    assert not state.set_lever("complaint_resolution_fast", 0.95)  # 0.95 + 0.2 > 1
    assert "must not exceed 1" in state.error
    assert state.overrides == {}
    assert state.scenario.brands["Lexus"].service.complaint_resolution_fast == 0.75
    state.step_year()  # the model still runs
    assert state.set_lever("complaint_resolution_fast", 0.8)
    assert state.error is None


def test_every_lever_reads_and_writes_within_its_range(state):
    for lever in LEVERS:
        value = state.lever_value(lever.key)
        assert lever.kind != "bool" or isinstance(value, bool)
        if lever.kind != "bool":
            assert lever.min <= value <= lever.max, lever.key
        assert state.lever_explanation(lever.key)  # a plain-language explanation for every control
    assert state.set_lever("defects_per_car_year", 0.5)
    assert state.scenario.brands["Lexus"].defects_per_car_year == 0.5
    assert "Model lines may set their own rate" in state.lever_explanation("defects_per_car_year")


def test_incumbent_response_lag_applies_to_every_brand_that_responds(state):
    assert state.responders() == ["Cadillac", "Lincoln"]
    assert state.response_lag() == 36
    assert state.set_response_lag(12)
    assert {state.scenario.brands[b].strategy.lag_months for b in ("Cadillac", "Lincoln")} == {12}
    assert set(state.overrides) == {"brands.Cadillac.strategy.lag_months", "brands.Lincoln.strategy.lag_months"}
    state.select_scenario("incumbents_never_respond")
    assert state.responders() == [] and state.response_lag() is None


def test_switching_scenario_drops_overrides_and_focuses_the_entrant(state):
    state.set_lever("loaner_cars", False)
    state.select_scenario("generic_new_entrant")
    assert state.overrides == {} and state.brand == "Entrant"
    assert state.seed == state.base.simulation.seed
    state.set_buyers(6000)
    assert state.model.initial_buyers == 6000
    state.set_seed(3)
    assert state.cli_command().startswith("python run_sim.py run generic_new_entrant --replications 1 --seed 3 "
                                          "--buyers 6000")


def test_the_app_run_is_replication_zero_of_the_command_line(state):
    """`cli_command()` promises the same numbers: replication 0 of `run_sim.py run` uses these random streams."""
    short(state, 5)
    state.set_lever("loaner_cars", False)
    state.run_to_end()
    scenario = load_scenario("lexus_us_1989", state.override_args())
    mine = state.yearly().drop(columns="replacers_simulated")
    theirs = run_one(scenario, 0, state.seed, BUYERS).brand_year.drop(columns="replication")
    theirs.loc[mine["repurchase_loyalty"].isna().to_numpy(), ["repurchase_loyalty", "churn_rate"]] = np.nan
    assert mine.equals(theirs)


def test_flows_are_real_buyers_and_match_the_switching_table(state):
    short(state, 4)
    state.run_to_end()
    whole = state.flows("whole run")
    names = state.model.brand_names
    assert list(whole.index) == [*names, NEW] and list(whole.columns) == [*names, LEFT]
    assert math.isclose(whole.to_numpy().sum(), state.model.switching()["buyers"].sum(), rel_tol=1e-9)
    last = state.flows(FLOW_WINDOWS[0])
    assert 0 < last.to_numpy().sum() < whole.to_numpy().sum()
    # buyers who bought Lexus in the last year came from somewhere (incl. new to the segment)
    assert last["Lexus"].sum() > 0


def test_loyalty_is_blank_while_too_few_owners_replaced(state):
    short(state, 6)
    state.run_to_end()
    y = state.yearly()
    thin = y["replacers_simulated"] < app_state.MIN_REPLACERS
    assert y.loc[thin, "repurchase_loyalty"].isna().all()
    assert y.loc[(y["brand"] == "Lexus") & (y["year"] <= 1989), "repurchase_loyalty"].isna().all()
    assert y.loc[~thin, "repurchase_loyalty"].between(0, 1).all()


def test_network_sample_is_one_neighbourhood_whose_layout_survives_lever_changes(state):
    g, pos = state.network_graph()
    nodes = np.array(sorted(g.nodes))
    assert nodes.size == app_state.NETWORK_SAMPLE and g.number_of_edges() > nodes.size  # ties among neighbours
    size = state.scenario.word_of_mouth.community_size
    assert len(set(nodes // size)) == 1  # one community
    assert set(pos) == set(g.nodes)
    brands = state.network_brands()
    assert set(brands.dropna()) <= set(state.model.brand_names)
    state.set_lever("loaner_cars", False)  # same seed and buyers: same ties, same picture
    g2, pos2 = state.network_graph()
    assert pos2 is pos and set(g2.edges) == set(g.edges)
    state.step_year()
    same, expected = state.same_brand_ties()
    assert 0 <= same <= 1 and 0 < expected <= 1


def test_figures_render_to_png_and_are_cached_until_the_model_moves(state):
    state.step_year()
    state.step_year()
    for kind in ("share", "loyalty", "flows", "csi", "money", "network"):
        fig = state.figure(kind)
        assert state.figure(kind) is fig  # cached
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.getvalue()[:4] == b"\x89PNG"
    before = state.figure("share")
    state.step_year()
    assert state.figure("share") is not before
    state.flow_window = FLOW_WINDOWS[1]
    assert state.figure_key("flows") != state.figure_key("share") and state.figure("flows").axes


def test_latest_table_has_a_stable_test_id_per_brand_and_metric(state):
    html = latest_table_html(state)
    assert 'data-testid="share_12m-Lexus" data-value=""' in html  # nothing simulated yet
    state.step_year()
    state.step_year()
    html = latest_table_html(state)
    for name in state.model.brand_names:
        assert f'data-testid="share_12m-{name}"' in html and f'data-testid="cum_profit-{name}"' in html
    share = state.latest().loc["Cadillac", "share_12m"]
    assert f'data-testid="share_12m-Cadillac" data-value="{float(share)!r}"' in html
    assert 'data-months="24"' in status_html(state, running=False)


def test_a_default_year_steps_and_draws_without_redoing_the_expensive_work(monkeypatch):
    """What keeps the default page quick, checked without a clock (speed is the benchmark's, whatever the machine):
    a year is 12 months of the same model (never a rebuild), the network's layout (O(n^2) in its nodes) is computed
    once per model and reused every year, and the network view draws at most ``NETWORK_SAMPLE`` buyers however
    many are simulated."""
    layouts = []
    real = app_state.stress_layout
    monkeypatch.setattr(app_state, "stress_layout", lambda g, order: layouts.append(len(order)) or real(g, order))
    monkeypatch.setattr(AppState, "_layouts", {})  # no layout left by another test
    state = AppState()  # the default population (20,000 buyers)
    assert state.buyers == app_state.DEFAULT_BUYERS
    model, generation = state.model, state.generation
    for year in range(1, 4):
        assert state.step_year() == 12 and state.months_done == 12 * year
        for kind in ("share", "loyalty", "flows", "csi", "money", "network"):
            state.figure(kind).savefig(io.BytesIO(), format="png")
    assert state.model is model and state.generation == generation  # stepped, never rebuilt
    assert len(layouts) == 1 and layouts[0] <= app_state.NETWORK_SAMPLE  # one layout, for three years of drawing
    g, pos = state.network_graph()
    assert g.number_of_nodes() <= app_state.NETWORK_SAMPLE and len(pos) == g.number_of_nodes()


# ---- the browser charts (ECharts options) --------------------------------------------------------------------
def _main_lines(option: dict) -> list[dict]:
    """The option's series of the run itself (one per brand): not the baseline's, not a band's edge."""
    return [s for s in option["series"] if s["name"] != "baseline" and "stack" not in s]


def test_each_chart_has_one_line_per_brand_in_its_colour_carrying_the_states_values():
    state = AppState(buyers=2000, overrides={"market.years": 3})
    for kind in CHARTS:
        assert "series" not in state.chart(kind) and state.chart(kind)["title"]["text"]  # a hint before the start
    state.run_to_end()
    names = list(state.model.brand_names)
    palette = brand_palette(names)
    share = _main_lines(state.chart("share"))
    assert [s["name"] for s in share] == names and [s["color"] for s in share] == [palette[n] for n in names]
    frame = state.monthly_share()
    for s, name in zip(share, names):
        assert [p[0] for p in s["data"]] == pytest.approx(frame.index.to_numpy())
        assert [p[1] for p in s["data"]] == pytest.approx(frame[name].to_numpy() * 100, abs=1e-4)  # percent
        assert s["data"][-1][2] == f"{frame[name].iloc[-1] * 100:.1f}%" and s["data"][-1][3] == "1988-12"
        assert s["lineStyle"]["width"] == (3.0 if name == "Lexus" else 1.5)  # the selected brand thick
    yearly = state.yearly()
    for kind, metric, scale in (("loyalty", "repurchase_loyalty", 100), ("csi", "csi", 1)):
        lines = _main_lines(state.chart(kind))
        assert [s["name"] for s in lines] == names
        for s, name in zip(lines, names):
            rows = yearly[yearly["brand"] == name]
            assert [p[0] for p in s["data"]] == list(rows["year"] + 0.5)
            want = [None if math.isnan(v) else pytest.approx(v * scale, abs=1e-4) for v in rows[metric]]
            assert [p[1] for p in s["data"]] == want
    money = _main_lines(state.chart("money"))
    assert [s["name"] for s in money] == names * 2 and {s["yAxisIndex"] for s in money} == {0, 1}
    lexus = yearly[yearly["brand"] == "Lexus"]
    assert [p[1] for p in money[names.index("Lexus")]["data"]] == pytest.approx(list(lexus["service_margin"]))
    assert money[names.index("Lexus")]["data"][-1][2] == money_text(lexus["service_margin"].iloc[-1])
    ticks = state.chart("money")["yAxis"][0]["axisLabel"]["formatter"]
    assert ticks["luxsim"] == "ticks" and all(text == compact_money(v) for v, text in ticks["ticks"])
    flows = state.chart("flows")
    table = state.flows()
    cells = {(c, r): v for c, r, v, *_ in flows["series"][0]["data"]}
    assert cells[(names.index("Lexus"), len(names))] == pytest.approx(table.loc[NEW, "Lexus"] / 1000, abs=1e-3)
    assert (0, 0) not in cells  # loyal repurchases are not a flow
    for kind, text in state.frame()["charts"].items():  # what the page sends: JSON text (no NaN), the same option
        assert json.loads(text) == state.chart(kind)


def test_the_charts_draw_the_baseline_dashed_and_the_band_of_replications():
    state = AppState(buyers=2000, overrides={"market.years": 3})
    state.run_to_end()
    state.pin_baseline()
    state.set_replications(3)
    state.step_year()
    n = len(state.model.brand_names)
    for kind in ("share", "loyalty", "csi", "money"):
        option = state.chart(kind)
        panels = 2 if kind == "money" else 1
        baseline = [s for s in option["series"] if s["name"] == "baseline"]
        bands = [s for s in option["series"] if s["name"] == band_name(state)]
        assert len(baseline) == n * panels and all(s["lineStyle"]["type"] == "dashed" for s in baseline), kind
        assert len(bands) == 2 * n * panels and sum("areaStyle" in s for s in bands) == n * panels, kind
        assert [e if isinstance(e, str) else e["name"] for e in option["legend"]["data"]] == [
            *state.model.brand_names, "5-95% of 3 runs", "baseline"]
    share = state.chart("share")
    low = [s for s in share["series"] if s["name"] == band_name(state) and "areaStyle" not in s][0]
    assert [p[1] for p in low["data"]] == pytest.approx(state.series().share_frame("p05").iloc[:, 0] * 100,
                                                        abs=1e-4)


def test_the_network_is_drawn_only_when_asked():
    state = AppState(buyers=2000, overrides={"market.years": 3})
    assert state.network_chart() is None and state.frame()["network"] is None
    state.step_year()
    option = state.draw_network()
    month, drawn = state.network_chart()
    assert month == 12 and json.loads(drawn) == option
    nodes = option["series"][0]["data"]
    assert 0 < len(nodes) <= app_state.NETWORK_SAMPLE and option["series"][0]["links"]
    brands = state.network_brands()
    assert {n["tip"].split(": ")[1] for n in nodes} <= {*state.model.brand_names, "not in the segment"}
    assert sum(n["tip"].endswith(": Lexus") for n in nodes) == int((brands == "Lexus").sum())
    state.run_to_end()
    assert state.network_chart()[0] == 12  # not redrawn as the run moved
    state.reset()
    assert state.network_chart() is None  # a new market: drawn again when asked


def test_the_status_carries_the_models_own_seconds():
    state = AppState(buyers=2000, overrides={"market.years": 2})
    assert 'data-model-seconds="0.0000"' in status_html(state, running=False)
    state.run_to_end()
    assert state.model_seconds > 0
    assert f'data-model-seconds="{state.model_seconds:.4f}"' in status_html(state, running=False)
    state.reset()
    assert state.model_seconds == 0


# ---- compare with a pinned baseline ---------------------------------------------------------------------------
def _dashed(fig) -> list:
    return [line for ax in fig.axes for line in ax.get_lines() if line.get_linestyle() == "--"]


def test_a_pinned_baseline_is_drawn_under_later_runs_and_the_difference_is_current_minus_baseline():
    state = AppState(buyers=2000, overrides={"market.years": 4})
    assert not state.pin_baseline() and "nothing to pin" in state.error  # nothing simulated yet
    state.run_to_end()
    before = state.latest()
    assert state.pin_baseline() and state.error is None
    assert state.baseline.label == "lexus_us_1989, seed 20240901, 2,000 buyers, 1 replication, market.years=4"
    assert state.set_lever("complimentary_maintenance_months", 0)
    assert state.baseline is not None  # a lever change keeps the baseline
    state.run_to_end()
    after = state.latest()
    panel = state.difference_panel()
    assert list(panel.index) == state.model.brand_names and set(panel["year"]) == {1989}
    for metric, column in (("sales_share", "share_12m"), ("cum_profit", "cum_profit"),
                           ("repurchase_loyalty", "loyalty")):
        expected = (after[column] - before[column]).to_numpy()
        assert np.allclose(panel[f"{metric}_diff"].to_numpy(), expected, equal_nan=True), metric
    lexus = panel.loc["Lexus"]
    assert lexus["sales_share_diff"] != 0
    words = "higher" if lexus["sales_share_diff"] > 0 else "lower"
    line = state.headline()
    assert line.startswith("Against the baseline, Lexus's 1989 share is "), line
    assert f"{abs(lexus['sales_share_diff']) * 100:.1f} pp {words}" in line
    assert money(abs(lexus["cum_profit_diff"])) in line
    # the overlay: each brand's baseline dashed on every time-series chart; the panel as HTML with test ids
    n = len(state.model.brand_names)
    assert len(_dashed(state.figure("share"))) == n and len(_dashed(state.figure("loyalty"))) == n
    assert len(_dashed(state.figure("money"))) == 2 * n and len(_dashed(state.figure("csi"))) >= n
    html = comparison_html(state)
    assert 'data-testid="diff-sales_share-Lexus"' in html and html.count('data-testid="diff-') == 3 * n
    assert "Against the baseline, Lexus" in html
    table = state.comparison()
    assert set(table["metric"]) == set(app_state.YEARLY_METRICS) and set(table["year"]) == {1986, 1987, 1988, 1989}
    assert np.allclose(table["difference"], table["current"] - table["baseline"], equal_nan=True)
    # clearing removes it everywhere
    state.clear_baseline()
    assert state.baseline is None and state.headline() == "" and comparison_html(state) == ""
    assert not _dashed(state.figure("share")) and state.comparison().empty


def test_the_baseline_survives_a_scenario_switch_and_compares_the_brands_both_runs_hold():
    state = AppState(buyers=2000, overrides={"market.years": 2})
    state.run_to_end()
    state.pin_baseline()
    state.select_scenario("generic_new_entrant")  # another market, other brands and years
    assert state.baseline is not None
    state.step_year()
    assert state.difference_panel().empty
    assert "complete year in common" in state.headline()


def _series(share: float, profit: float) -> app_state.RunSeries:
    yearly = pd.DataFrame({"year": [2000], "brand": ["A"], "sales_share": [share], "repurchase_loyalty": [0.5],
                           "churn_rate": [0.5], "csi": [600.0], "service_margin": [0.0], "profit": [profit]})
    return app_state.RunSeries.build(2000, ["A"], [np.full((12, 1), 10.0)], [yearly], {})


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(-3e9, 3e9), st.floats(-3e9, 3e9))
def test_the_headline_says_in_words_which_way_each_difference_goes(share0, share1, profit0, profit1):
    line = app_state.headline(_series(share1, profit1), _series(share0, profit0), "A")
    assert line.startswith("Against the baseline, A's 2000 share is ")
    share_text, profit_text = points(share1 - share0), money(profit1 - profit0)
    for text, diff, zero in ((share_text, share1 - share0, "0.0 pp"), (profit_text, profit1 - profit0, "$0")):
        body = text.lstrip("+" + MINUS)
        if body == zero:
            assert "the same" in line
        else:
            assert f"{body} {'higher' if diff > 0 else 'lower'}" in line
    assert "nan" not in line and "inf" not in line and "-" not in line.replace("A's", "")


# ---- replications with bands ----------------------------------------------------------------------------------
def test_replications_are_the_command_lines_and_the_charts_draw_their_mean_with_a_band():
    state = AppState(buyers=2000, overrides={"market.years": 2})
    assert not any(isinstance(c, PolyCollection) for c in _after_a_year(state).figure("share").axes[0].collections)
    assert state.set_replications(2) and state.months_done == 0
    assert " --replications 2 " in state.cli_command()
    state.step_year()  # the other replication runs to the end at the first step; the charts show the month reached
    series = state.series()
    assert series.replications == 2 and series.months == 12 and set(series.yearly["year"]) == {1986}
    state.run_to_end()
    series = state.series()
    scenario = load_scenario("lexus_us_1989", state.override_args())
    for r in range(2):  # replication r is replication r of `run_sim.py run -r 2` at this seed
        theirs = run_one(scenario, r, state.seed, 2000).brand_year
        mine = series.yearly[series.yearly["replication"] == r]
        assert np.allclose(mine["sales_share"], theirs["sales_share"]) and np.allclose(mine["profit"], theirs["profit"])
    band = series.band("sales_share")
    assert (band["p05"] <= band["mean"] + 1e-12).all() and (band["mean"] <= band["p95"] + 1e-12).all()
    assert (band["p95"] > band["p05"]).any()  # two seeds differ
    last = series.yearly[series.yearly["year"] == 1987].groupby("brand", sort=False)["sales_share"].mean()
    assert np.allclose(state.latest()["share_12m"], last.reindex(state.latest().index))  # the table: means
    n = len(state.model.brand_names)
    for kind in ("share", "loyalty", "csi"):
        bands = [c for c in state.figure(kind).axes[0].collections if isinstance(c, PolyCollection)]
        assert len(bands) == n, kind
    assert not state.set_replications(9) and "from 1 to 8" in state.error and state.replications == 2
    assert not state.set_replications(1.5) and state.replications == 2


def _after_a_year(state: AppState) -> AppState:
    state.step_year()
    return state


# ---- export and save -------------------------------------------------------------------------------------------
def test_the_exported_scenario_runs_unchanged_and_reproduces_the_apps_numbers(tmp_path):
    state = AppState(buyers=2000, overrides={"market.years": 2})
    state.set_lever("complimentary_maintenance_months", 0)
    state.select_brand("BMW")
    state.set_lever("loaner_cars", True)
    state.set_replications(2)
    state.run_to_end()
    path = tmp_path / "from_the_app.toml"  # outside scenarios/: `extends` still finds the library's file
    path.write_text(state.scenario_toml(), encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.simulation.replications == 2 and scenario.simulation.buyers == 2000
    runs = run_replications(scenario, workers=1)  # the file alone: seed, buyers and replications are in it
    theirs = runs.brand_year
    mine = state.series().yearly
    for column in ("sales_share", "profit", "csi", "service_margin"):
        assert np.allclose(mine[column], theirs[column], equal_nan=True), column
    # the series CSV holds exactly what the charts draw
    table = pd.read_csv(io.StringIO(state.series_csv()))
    assert list(table.columns) == ["year", "month", "brand", "metric", "value", "replication"]
    monthly = table[table["metric"] == "share_12m"]
    assert len(monthly) == 2 * 24 * len(state.model.brand_names) and monthly["month"].between(1, 12).all()
    share = monthly[(monthly["replication"] == 1) & (monthly["brand"] == "Lexus")]["value"].to_numpy()
    assert np.allclose(share, state.series().share[1, :, state.model.brand_names.index("Lexus")])
    yearly = table[table["metric"] == "profit"].sort_values(["replication", "year"], kind="stable")
    assert np.allclose(yearly["value"], theirs.sort_values(["replication", "year"], kind="stable")["profit"])
    assert yearly["month"].isna().all()
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
        for kind in FIGURES:
            assert state.figure_bytes(kind, fmt).startswith(magic), (kind, fmt)


def test_the_comparison_exports_current_and_baseline_year_by_year():
    state = AppState(buyers=2000, overrides={"market.years": 2})
    assert state.comparison_csv().strip() == "year,brand,metric,baseline,current,difference"
    state.run_to_end()
    state.pin_baseline()
    state.set_lever("take_back_guarantee", False)
    state.run_to_end()
    table = pd.read_csv(io.StringIO(state.comparison_csv()))
    assert len(table) == 2 * len(state.model.brand_names) * len(app_state.YEARLY_METRICS)
    lexus = table[(table["brand"] == "Lexus") & (table["metric"] == "cum_profit") & (table["year"] == 1987)]
    assert lexus["difference"].item() == pytest.approx(state.difference_panel().loc["Lexus", "cum_profit_diff"])


def test_a_saved_state_loads_back_with_its_baseline_and_a_bad_one_changes_nothing():
    state = AppState(buyers=2000, overrides={"market.years": 2})
    state.run_to_end()
    state.pin_baseline()
    state.select_brand("BMW")
    state.set_lever("roadside_level", 3)
    state.set_seed(11)
    saved = state.state_json()
    other = AppState(buyers=BUYERS)
    assert other.restore_state(saved.encode("utf-8")), other.error
    assert other.settings() == state.settings() and other.brand == "BMW" and other.months_done == 0
    assert other.baseline is not None and other.baseline.label == state.baseline.label
    assert other.baseline.series.yearly.equals(state.baseline.series.yearly)  # re-run: the same numbers
    good = json.loads(saved)
    bad = {"not json": b"{", "not utf-8": b"\xff\xfe{", "a list": b"[]",
           "another file": json.dumps({**good, "luxsim_app_state": 2}),
           "negative seed": json.dumps({**good, "seed": -5}), "seed 1.5": json.dumps({**good, "seed": 1.5}),
           "too many replications": json.dumps({**good, "replications": 9}),
           "unknown brand": json.dumps({**good, "brand": "Lexuss"}),
           "bad override": json.dumps({**good, "overrides": {"brands.Lexus.service.roadside_level": 7}}),
           "unknown scenario": json.dumps({**good, "scenario": "lexus_us_1989x"}),
           "bad baseline": json.dumps({**good, "baseline": {**good["baseline"], "months": 0}})}
    fresh = AppState(buyers=BUYERS)
    fresh.step_year()
    before = (fresh.settings(), fresh.brand, fresh.months_done, fresh.generation)
    for what, data in bad.items():
        assert not fresh.restore_state(data, "state file saved.json"), what
        assert fresh.error.startswith("state file saved.json: ") and "\n" not in fresh.error, (what, fresh.error)
        assert (fresh.settings(), fresh.brand, fresh.months_done, fresh.generation) == before, what
    assert "seed: expected a whole number" in (fresh.restore_state(bad["negative seed"], "f") or fresh.error)
    assert "roadside_level" in (fresh.restore_state(bad["bad override"], "f") or fresh.error)


# ---- legible -------------------------------------------------------------------------------------------------
def _texts(fig) -> list:
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip() and t.get_visible()]


def test_every_chart_has_a_legend_or_direct_labels_and_text_of_at_least_12_pixels():
    state = AppState(buyers=2000, overrides={"market.years": 3})
    state.run_to_end()
    state.pin_baseline()
    state.set_replications(2)
    state.step_year()
    names = state.model.brand_names
    for kind in ("share", "loyalty", "csi", "money"):
        fig = state.figure(kind)
        (legend,) = fig.legends
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels == [*names, "5-95% of 2 runs", "baseline"], kind
    flows = state.figure("flows").axes[0]
    assert [t.get_text() for t in flows.get_xticklabels()] == [*names, app_state.LEFT]  # direct labels
    assert [t.get_text() for t in state.figure("network").axes[0].get_legend().get_texts()]
    for kind in FIGURES:
        fig = state.figure(kind)
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() * fig.dpi / 72 < 12]
        assert not small, (kind, small)


def test_the_money_chart_writes_dollars_as_luxsim_does():
    state = AppState(buyers=BUYERS, overrides={"costs.repair_cost": 5000.0, "market.years": 3})  # margins < 0
    state.run_to_end()
    fig = state.figure("money")
    fig.canvas.draw()
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() if t.get_text()]
    assert any(t.startswith(MINUS + "$") for t in ticks) and not any("$-" in t or "-$" in t for t in ticks), ticks
    assert all(re.fullmatch(f"{MINUS}?\\$[\\d.,]+[kMB]?", t) for t in ticks), ticks
    assert [ax.get_title() for ax in fig.axes] == ["service margin per year (1989 $)", "cumulative profit (1989 $)"]


@settings(max_examples=300, deadline=None)
@given(st.floats(-5e12, 5e12))
def test_compact_money_has_three_significant_figures_and_a_true_minus(x):
    text = compact_money(x)
    body = text.removeprefix(MINUS)
    assert body.startswith("$") and (text.startswith(MINUS) == (x < 0 and body != "$0"))
    scale = {"k": 1e3, "M": 1e6, "B": 1e9}.get(body[-1], 1.0)
    value = float(body[1:].rstrip("kMB").replace(",", "")) * scale
    assert abs(value - abs(x)) <= 0.005 * abs(x) + 0.005
    assert len(body[1:].rstrip("kMB").replace(",", "").replace(".", "").lstrip("0")) <= 4  # 3 figures (1,000M: 4)


def test_lever_texts_and_units_follow_the_scenario():
    state = AppState(buyers=BUYERS)
    assert "Case: Lexus included it from 1989" in state.lever_explanation("complimentary_maintenance_months")
    assert "1989 dollars" in state.lever_explanation("price_index")
    state.select_scenario("generic_new_entrant")  # a 2020 market without Lexus
    for lever in LEVERS:
        text = state.lever_explanation(lever.key)
        assert "1989" not in text and "Lexus" not in text, (lever.key, text)
    assert "2020 dollars" in state.lever_explanation("price_index")
    state.step_year()
    assert "2020 $" in state.figure("money").axes[0].get_title()


def test_a_refused_value_is_explained_with_the_controls_that_exist_and_cleared_by_the_next_action(state):
    rejections = state.rejections
    assert not state.set_lever("complaint_resolution_fast", 1.0)
    assert state.rejections == rejections + 1 and state.lever_value("complaint_resolution_fast") == 0.75
    assert state.error.startswith("Complaints resolved within 90 days = 1.00 refused for Lexus: ")
    assert "the share of complaints resolved in 90-180 days (0.20 in the scenario; no control here)" in state.error
    assert state.error.endswith("kept at 0.75") and "_" not in state.error
    assert state.step_month() == 1 and state.months_done == 1 and state.error is None


@pytest.mark.parametrize("seed", [-5, "-5", 1.5, "1.5", "abc", "", True, 2**63, None])
def test_a_seed_that_is_not_a_whole_number_from_0_to_2_63_is_refused_with_a_message(state, seed):
    state.step_year()
    assert not state.set_seed(seed)
    assert state.seed == 20240901 and state.months_done == 12 and "refused" in state.error
    assert state.set_seed(" 42 ") and state.seed == 42 and state.error is None and state.months_done == 0


def test_every_chart_of_a_frame_shows_the_same_month_while_the_run_moves():
    state = AppState(buyers=2000, overrides={"market.years": 6})
    seen = []
    runner = threading.Thread(target=state.run_to_end, kwargs={"render_every": 12})
    runner.start()
    while runner.is_alive() or not seen:
        frame = state.frame()
        months = {key[2] for key in frame["keys"].values()}
        assert months == {frame["months"]} and f'data-months="{frame["months"]}"' in frame["status"]
        seen.append(frame["months"])
    runner.join()
    assert seen[-1] == 72 or state.frame()["months"] == 72


# ---- one palette, one formatter, one TOML writer ------------------------------------------------------------
def _hex(colour) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour)


def test_the_app_draws_in_the_brand_colours_of_sim_style(state):
    state.step_year()
    names = state.model.brand_names
    palette = brand_palette(names)
    assert all(palette[name] == BRAND_COLOURS[name] for name in names)  # every flagship brand has its own colour
    swatches = re.findall(r'background:(#[0-9a-f]{6})"></span>([^<]+)</td>', latest_table_html(state))
    assert dict((name, colour) for colour, name in swatches) == palette
    lines = state.figure("share").axes[0].get_lines()
    assert [_hex(line.get_color()) for line in lines[: len(names)]] == [palette[n] for n in names]
    assert _hex(lines[-1].get_color()) == palette[state.brand]  # the launch marker
    nodes = state.figure("network").axes[0].collections[1].get_facecolors()
    assert {_hex(c) for c in nodes} <= {*palette.values(), "#eeeeee"}


def test_money_in_the_latest_table_is_written_by_sim_formats_with_a_true_minus_sign():
    state = AppState(buyers=BUYERS, overrides={"costs.repair_cost": 5000.0, "market.years": 3})  # repairs at a loss
    state.step_year()
    page = latest_table_html(state)
    written = dict(re.findall(r'data-testid="([^"]+)" data-value="[^"]*">([^<]*)</td>', page))
    latest = state.latest()
    for col, write in CELLS:
        for name, value in latest[col].items():
            assert written[f"{col}-{name}"] == write(value)
    margins = [written[f"service_margin-{name}"] for name in latest.index]
    negative = [text for text, v in zip(margins, latest["service_margin"]) if v < 0]
    assert negative and all(re.fullmatch(MINUS + r"\$[\d,]+\.\d[kMB]", text) for text in negative), margins
    assert "$-" not in page and "-$" not in page
    assert money(-734e6) == f"{MINUS}$734.0M"
    assert MISSING in latest_table_html(AppState(buyers=BUYERS))  # nothing simulated yet: "—", not "nan"


def test_lever_values_and_costs_are_written_by_sim_formats(state):
    assert lever_text(LEVER_BY_KEY["price_index"], 1.05) == "x1.05"
    assert lever_text(LEVER_BY_KEY["discount"], 0.05) == "0.05"
    assert lever_text(LEVER_BY_KEY["loaner_cars"], True) == "on"
    assert f"{money(state.scenario.costs.take_back_cost)} per take-back" in state.lever_explanation(
        "take_back_guarantee")
    c = state.scenario.costs  # a goodwill fix costs the repair plus goodwill_cost (sim/finance.py)
    assert f"{money(c.repair_cost + c.goodwill_cost)} in all" in state.lever_explanation("proactive_goodwill")


def _set_arguments(command: str) -> list[str]:
    words = shlex.split(command)
    return [words[i + 1] for i, word in enumerate(words) if word == "--set"]


def test_the_reproducing_command_line_round_trips_every_override_through_toml_and_the_shell():
    question = """Lexus's "service" case: C:\\path, a tab\there; $HOME `date` 'quoted'"""
    overrides = {"question": question, "market.years": 3, "brands.BMW.discount": 0.05,
                 "brands.Lexus.service.loaner_cars": False, "brands.Mercedes-Benz.price_index": 1.08}
    state = AppState(buyers=BUYERS, overrides=overrides)
    assert state.scenario.question == question  # the app's own rebuild read the value back
    args = _set_arguments(state.cli_command())
    assert args == state.override_args()
    assert {".".join(parse_override(arg)[0]): parse_override(arg)[1] for arg in args} == overrides
    assert load_scenario("lexus_us_1989", args).question == question  # what `run_sim.py run --set` loads


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(st.characters(blacklist_categories=("Cs",))), st.booleans(), st.integers(-10**12, 10**12),
                 st.floats(allow_nan=False), st.lists(st.integers(0, 9), max_size=4)))
def test_any_override_value_round_trips_through_the_shell_and_toml(value):
    arg = override_arg("brands.Lexus.note", value)
    (back,) = _set_arguments(f"python run_sim.py run x --set {shlex.quote(arg)}")
    keys, parsed = parse_override(back)
    assert keys == ["brands", "Lexus", "note"] and parsed == value and type(parsed) is type(value)


# ---- the Solara page, rendered without a browser ----------------------------------------------------------------
def _descendants(widget) -> list:
    out = [widget]
    children = list(getattr(widget, "children", None) or [])
    for slot in getattr(widget, "v_slots", None) or []:
        children += slot.get("children") if isinstance(slot.get("children"), list) else [slot.get("children")]
    for child in children:
        if isinstance(child, ipywidgets.Widget):
            out += _descendants(child)
    return out


class PageDriver:
    """The page inside Solara's AppLayout (as the server shows it, sidebar included), driven from Python."""

    def __init__(self):
        @solara.component
        def Shell():
            with solara.AppLayout():
                app.Page()

        self.box, self.rc = solara.render(Shell(), handle_error=False)

    def widgets(self) -> list:
        return _descendants(self.box)

    def by_class(self, css: str) -> list:
        return [w for w in self.widgets() if css in (getattr(w, "class_", None) or "").split()]

    def html(self, marker: str) -> str:
        found = [w.unsafe_innerHTML for w in self.widgets()
                 if isinstance(w, solara.widgets.HTML) and marker in (w.unsafe_innerHTML or "")]
        assert len(found) == 1, marker
        return found[0]

    def status(self) -> str:
        return self.html('data-testid="status"')

    def button(self, label: str):
        found = [w for w in self.widgets() if isinstance(w, v.Btn) and label in (w.children or [])]
        assert len(found) == 1, label
        return found[0]

    def inside(self, css: str, cls):
        (box,) = self.by_class(css)
        return [w for w in _descendants(box) if isinstance(w, cls)]

    def wait(self, marker: str, stall: float = HANG_GUARD_S) -> str:
        """Wait until the status shows ``marker``, however long this machine takes; fail only if the status stops
        changing for ``stall`` seconds (a hang, not a slow machine: a running page moves a year at a time)."""
        last, since = self.status(), time.monotonic()
        while marker not in (now := self.status()):
            if now != last:
                last, since = now, time.monotonic()
            assert time.monotonic() - since < stall, f"no progress for {stall:.0f} s waiting for {marker}: {now}"
            time.sleep(0.05)
        return self.status()


@pytest.fixture()
def page(monkeypatch):
    app_state.warm_kernels()  # as the server does when it starts (the page waits for it)
    monkeypatch.setattr(app, "app_defaults", lambda: {"buyers": BUYERS, "overrides": {"market.years": 8}})
    driver = PageDriver()
    yield driver
    driver.rc.close()


def test_page_renders_controls_with_explanations_and_charts(page):
    assert 'data-months="0"' in page.status()
    for lever in LEVERS:
        assert page.by_class(f"lever-{lever.key}"), lever.key
    assert page.by_class("lever-response_lag") and page.by_class("lever-buyers")
    explanations = [w for w in page.widgets() if getattr(w, "class_", None) == "luxsim-explain"]
    assert len(explanations) >= len(LEVERS) + 6
    charts = [w for w in page.widgets() if isinstance(w, app.EchartsChart)]
    assert len(charts) == len(CHARTS) == 5  # drawn in the browser; the network only when asked
    assert not [w for w in page.widgets() if isinstance(w, ipywidgets.Image)]  # no server-side picture
    assert 'data-testid="share_12m-Lexus"' in page.html("luxsim-latest")
    selects = [w for w in page.widgets() if isinstance(w, v.Select)]
    assert any("lexus_us_1989" in (w.items or []) for w in selects)


def test_page_step_slider_run_and_reset(page):
    page.button("Step one year").click()
    assert 'data-months="12"' in page.status()
    (chart,) = page.inside("luxsim-chart-share", app.EchartsChart)
    drawn_after_one_year = json.loads(chart.option_json)
    assert len(drawn_after_one_year["series"][0]["data"]) == 12

    (slider,) = page.inside("lever-complimentary_maintenance_months", v.Slider)
    assert slider.v_model == 36
    slider.v_model = 0  # what moving the slider in the browser does
    assert 'data-months="0"' in page.status() and 'data-generation="2"' in page.status()
    labels = [w for w in _descendants(page.by_class("lever-complimentary_maintenance_months")[0])
              if getattr(w, "class_", None) == "luxsim-label"]
    assert labels and labels[0].children == ["Complimentary maintenance (months): 0"]

    page.button("Run to end").click()
    page.wait('data-done="1" data-running="0"')
    share = page.html("luxsim-latest")
    assert 'data-testid="share_12m-Lexus" data-value="0.' in share
    guard = time.monotonic() + HANG_GUARD_S
    while len((option := json.loads(page.inside("luxsim-chart-share", app.EchartsChart)[0].option_json))
              .get("series", [{}])[0].get("data", [])) < 96:  # (a chart being re-rendered may hold no series yet)
        assert time.monotonic() < guard, "hang guard: the last render never reached the chart"  # status comes first
        time.sleep(0.05)
    assert option != drawn_after_one_year and len(option["series"][0]["data"]) == 96

    page.button("Reset").click()
    assert 'data-months="0"' in page.status()


def test_page_scenario_and_brand_pickers(page):
    selects = [w for w in page.widgets() if isinstance(w, v.Select)]
    (scenario,) = [w for w in selects if "lexus_service_parity" in (w.items or [])]
    scenario.v_model = "lexus_service_parity"
    assert "lexus_service_parity" in " ".join(w.unsafe_innerHTML for w in page.widgets()
                                              if isinstance(w, solara.widgets.HTML) and w.unsafe_innerHTML)
    (slider,) = page.inside("lever-complimentary_maintenance_months", v.Slider)
    assert slider.v_model == 0  # the parity scenario's Lexus
    selects = [w for w in page.widgets() if isinstance(w, v.Select)]
    (brand,) = [w for w in selects if "BMW" in (w.items or [])]
    brand.v_model = "BMW"
    (switch,) = page.inside("lever-loaner_cars", v.Switch)
    assert switch.v_model is False  # BMW's loaners in 1986
    switch.v_model = True
    assert 'data-generation="3"' in page.status()
    assert page.button("Restore the scenario's levers").disabled is False


def _banner(page) -> str:
    texts = []
    for alert in (w for w in page.widgets() if isinstance(w, v.Alert)):
        texts += [c if isinstance(c, str) else getattr(c, "children", [""])[0] for c in alert.children or []]
    return " ".join(str(t) for t in texts)


def test_page_a_refused_value_puts_the_control_back_and_the_next_action_clears_the_banner(page):
    (slider,) = page.inside("lever-complaint_resolution_fast", v.Slider)
    assert slider.v_model == 0.75
    slider.v_model = 1.0  # 1.0 + the scenario's 0.2 resolved in 90-180 days > 1: the schema refuses it
    banner = _banner(page)
    assert "Complaints resolved within 90 days = 1.00 refused for Lexus" in banner and "kept at 0.75" in banner
    assert "no control here" in banner and "complaint_resolution_slow" not in banner
    (slider,) = page.inside("lever-complaint_resolution_fast", v.Slider)
    assert slider.v_model == 0.75  # the control shows the model's value again
    page.button("Step one month").click()
    assert 'data-months="1"' in page.status() and _banner(page) == ""
    (seed,) = [w for w in page.widgets() if isinstance(w, v.TextField) and w.label == "Seed"]
    seed.v_model = "-5"
    seed.fire_event("keyup.enter", None)  # what pressing Enter in the browser does
    (seed,) = [w for w in page.widgets() if isinstance(w, v.TextField) and w.label == "Seed"]
    assert "Seed -5 refused" in _banner(page) and seed.v_model == str(app_state.AppState(buyers=BUYERS).seed)
    assert 'data-months="1"' in page.status()  # nothing rebuilt
    seed.v_model = "7"
    seed.fire_event("keyup.enter", None)
    assert 'data-months="0"' in page.status() and _banner(page) == ""  # seed 7 applied: back at month 0


def test_a_new_session_takes_the_market_built_ahead_unless_the_scenario_files_changed(monkeypatch):
    monkeypatch.setattr(app_state, "_SPARES", {})
    defaults = {"buyers": 2000, "overrides": {"market.years": 2}}
    app_state.build_spare(defaults)
    ((_, spare),) = app_state._SPARES.values()
    asked = []
    monkeypatch.setattr(app_state, "build_spare", asked.append)  # what new_state starts for the next session
    assert app_state.new_state(defaults) is spare and not app_state._SPARES
    guard = time.monotonic() + HANG_GUARD_S
    while not asked:
        assert time.monotonic() < guard, "hang guard: no market built for the next session"
        time.sleep(0.01)
    assert asked == [defaults]
    fresh = app_state.new_state(defaults)  # none built ahead: built now, the same settings
    assert fresh is not spare and fresh.settings() == spare.settings() and fresh.months_done == 0
    app_state._SPARES[json.dumps(defaults, sort_keys=True)] = ((("edited.toml", 1),), spare)  # files changed since
    assert app_state.new_state(defaults) is not spare


def test_app_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("LUXSIM_APP_BUYERS", raising=False)
    assert app.app_defaults() == {"scenario": "lexus_us_1989", "buyers": app_state.DEFAULT_BUYERS}
    monkeypatch.setenv("LUXSIM_APP_BUYERS", "8000")
    monkeypatch.setenv("LUXSIM_APP_SCENARIO", "europe_1990")
    assert app_state.app_defaults() == {"scenario": "europe_1990", "buyers": 8000}


def test_page_says_it_is_compiling_the_model_until_the_kernels_are_ready(monkeypatch):
    ready = threading.Event()  # this process's kernels, as if the server had just started compiling them
    monkeypatch.setattr(app, "KERNELS_READY", ready)
    monkeypatch.setattr(app, "start_warming", lambda: None)
    monkeypatch.setattr(app, "app_defaults", lambda: {"buyers": BUYERS, "overrides": {"market.years": 2}})
    driver = PageDriver()
    try:
        alerts = [w for w in driver.widgets() if isinstance(w, v.Alert)]
        assert any("Compiling the model, once" in str(a.children) for a in alerts)
        assert not [w for w in driver.widgets() if isinstance(w, v.Btn) and "Run to end" in (w.children or [])]
        ready.set()
        guard = time.monotonic() + HANG_GUARD_S
        while not [w for w in driver.widgets() if isinstance(w, solara.widgets.HTML)
                   and 'data-testid="status"' in (w.unsafe_innerHTML or "")]:
            assert time.monotonic() < guard, "hang guard: the page never opened"
            time.sleep(0.05)
        assert 'data-months="0"' in driver.status()
    finally:
        driver.rc.close()


def test_page_redraw_control_and_the_network_button(monkeypatch):
    app_state.warm_kernels()
    made = []
    monkeypatch.setattr(app, "new_state", lambda defaults: made.append(AppState(**defaults)) or made[-1])
    monkeypatch.setattr(app, "app_defaults", lambda: {"buyers": BUYERS, "overrides": {"market.years": 8}})
    page = PageDriver()
    (state,) = made
    assert state.render_every == app_state.RENDER_INTERVALS[app_state.DEFAULT_RENDER]
    (toggle,) = [w for w in _descendants(page.by_class("luxsim-render")[0]) if isinstance(w, v.BtnToggle)]
    toggle.v_model = list(app_state.RENDER_INTERVALS).index("at the end")
    assert state.render_every == 0
    page.button("Step one year").click()
    assert not page.inside("luxsim-chart-network", app.EchartsChart)  # not drawn until asked
    page.button("Draw the network now").click()
    (network,) = page.inside("luxsim-chart-network", app.EchartsChart)
    drawn = json.loads(network.option_json)
    assert drawn["series"][0]["type"] == "graph" and "1986-12" in drawn["title"]["text"]
    page.rc.close()
