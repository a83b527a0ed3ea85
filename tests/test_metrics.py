"""sim/metrics.py: the Ledger's choice accounting and the yearly table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.metrics import CHOICE_COUNTS, Ledger


# ---- filling a Ledger by hand (the model fills it from its compiled passes) --------------------------------
def record_choices(led: Ledger, month: int, previous: np.ndarray, chosen: np.ndarray) -> None:
    """Count choices in the switching matrix (``previous``: brand replaced or -1 = new to the segment; ``chosen``:
    brand bought or ``n_brands`` = left), then derive sales, conquest, churn ... as the model does."""
    nb = led.n_brands
    frm = np.where(previous < 0, nb, previous)
    led.switching[month] += np.bincount(frm * (nb + 1) + chosen, minlength=(nb + 1) ** 2).reshape(nb + 1, nb + 1)
    led.derive_choices(month)


def add(led: Ledger, name: str, month: int, brand: np.ndarray, weights: np.ndarray | None = None) -> None:
    """Add one per entry of ``brand``, or ``weights``, to the accumulator ``name`` at ``month``."""
    getattr(led, name)[month] += np.bincount(brand, weights=weights, minlength=led.n_brands)[: led.n_brands]


def record_rebuys(led: Ledger, month: int, complaint: np.ndarray, rebought: np.ndarray) -> None:
    """Replacing owners: the outcome of their last complaint, and whether they bought the brand again."""
    led.rebuy[month] += np.bincount(complaint.astype(np.int64) * 2 + rebought, minlength=8).reshape(4, 2)


HYP = settings(derandomize=True, database=None, deadline=None, max_examples=150)
NB = 3
LEFT = NB  # `chosen` value meaning "left the segment"
NEW = -1  # `previous` value meaning "new to the segment"


def test_record_choices_hand_made():
    led = Ledger(months=2, n_brands=NB)
    #            stay  0->1  1->out  new->2  stay  1->0  new->out
    previous = np.array([0, 0, 1, NEW, 2, 1, NEW])
    chosen = np.array([0, 1, LEFT, 2, 2, 0, LEFT])
    record_choices(led, 1, previous, chosen)
    row = lambda name: getattr(led, name)[1].tolist()  # noqa: E731
    assert row("sales") == [2, 1, 2]
    assert row("new_to_segment_sales") == [0, 0, 1]
    assert row("conquest_sales") == [1, 1, 0]  # 1->0 is a conquest for brand 0, 0->1 for brand 1
    assert row("replacers") == [2, 2, 1]
    assert row("repurchase") == [1, 0, 1]
    assert row("churned_owners") == [1, 2, 0]  # brand 0 lost one to brand 1; brand 1 lost one to brand 0 and one out
    assert row("exits_from_segment") == [0, 1, 0]
    # nothing leaks into the other month
    assert not led.sales[0].any() and not led.switching[0].any()
    expected = np.zeros((NB + 1, NB + 1))
    for f, t in [(0, 0), (0, 1), (1, 3), (3, 2), (2, 2), (1, 0), (3, 3)]:
        expected[f, t] += 1
    np.testing.assert_array_equal(led.switching[1], expected)


def test_record_choices_accumulates_within_a_month():
    led = Ledger(months=1, n_brands=NB)
    record_choices(led, 0, np.array([0]), np.array([1]))
    record_choices(led, 0, np.array([0, 2]), np.array([1, 2]))
    assert led.conquest_sales[0].tolist() == [0, 2, 0]
    assert led.churned_owners[0].tolist() == [2, 0, 0]
    assert led.repurchase[0].tolist() == [0, 0, 1]
    assert led.switching[0, 0, 1] == 2


@st.composite
def choices(draw):
    n = draw(st.integers(0, 60))
    previous = draw(hnp.arrays(np.int64, n, elements=st.integers(-1, NB - 1)))
    chosen = draw(hnp.arrays(np.int64, n, elements=st.integers(0, NB)))
    return previous, chosen


@HYP
@given(c=choices())
def test_record_choices_identities(c):
    previous, chosen = c
    led = Ledger(months=1, n_brands=NB)
    record_choices(led, 0, previous, chosen)
    L = {name: getattr(led, name)[0] for name in CHOICE_COUNTS}
    # every replacing owner either repurchased or churned
    np.testing.assert_array_equal(L["replacers"], L["repurchase"] + L["churned_owners"])
    # every sale is a repurchase, a conquest or a sale to a newcomer
    np.testing.assert_array_equal(L["sales"], L["repurchase"] + L["conquest_sales"] + L["new_to_segment_sales"])
    # exits are churn out of the segment, so at most the churn
    assert np.all(L["exits_from_segment"] <= L["churned_owners"])
    # conquests won by all brands = owners lost to another brand
    assert L["conquest_sales"].sum() == L["churned_owners"].sum() - L["exits_from_segment"].sum()
    # switching matrix: row sums = buyers coming from, column sums = where they went
    s = led.switching[0]
    assert s.sum() == previous.size
    np.testing.assert_array_equal(s[:NB].sum(axis=1), L["replacers"])
    np.testing.assert_array_equal(s[:, :NB].sum(axis=0), L["sales"])
    np.testing.assert_array_equal(np.diag(s)[:NB], L["repurchase"])
    np.testing.assert_array_equal(s[:NB, NB], L["exits_from_segment"])
    np.testing.assert_array_equal(s[NB, :NB], L["new_to_segment_sales"])


def test_trailing_share():
    led = Ledger(months=30, n_brands=2)
    led.sales[:12] = [3.0, 1.0]
    led.sales[12:24] = [1.0, 1.0]
    assert led.trailing_share(0, 12) == pytest.approx(0.75)
    assert led.trailing_share(0, 24) == pytest.approx(0.5)
    assert led.trailing_share(1, 18) == pytest.approx((6 * 1 + 6 * 1) / (6 * 4 + 6 * 2))
    assert led.trailing_share(0, 0) == 0.0


# ---- yearly table -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def filled():
    """Three years of random choices, events and money."""
    rng = np.random.default_rng(10)
    months, names = 36, ["A", "B", "C"]
    led = Ledger(months, NB)
    for m in range(months):
        n = 200
        previous = rng.integers(-1, NB, n)
        chosen = np.where(rng.random(n) < 0.6, np.maximum(previous, 0), rng.integers(0, NB + 1, n))
        record_choices(led, m, previous, chosen)
        led.fleet[m] = rng.integers(500, 1000, NB)
        b = rng.integers(0, NB, 50)
        add(led, "service_revenue", m, b, rng.uniform(0, 500, 50))
        add(led, "service_cost", m, b, rng.uniform(0, 400, 50))
        add(led, "csi_sum", m, b, rng.uniform(-1, 1, 50))
        add(led, "csi_n", m, b)
        led.events[m, :, 0] += np.bincount(b, minlength=NB)
    return led, names


def test_yearly_rates_and_shares(filled):
    led, names = filled
    df = led.yearly(names, 1990, scale=10.0, discount_rate=0.1)
    assert len(df) == 3 * NB
    assert df["year"].tolist() == [1990] * 3 + [1991] * 3 + [1992] * 3
    assert df["brand"].tolist() == names * 3
    for col in ("churn_rate", "repurchase_loyalty", "sales_share", "fleet_share"):
        assert df[col].between(0, 1).all(), col
    np.testing.assert_allclose(df["churn_rate"] + df["repurchase_loyalty"], 1.0)
    for col in ("sales_share", "fleet_share"):
        np.testing.assert_allclose(df.groupby("year")[col].sum(), 1.0)
    assert df["csi"].between(0, 1000).all()


def test_yearly_counts_are_scaled_sums(filled):
    led, names = filled
    scale = 25.0
    df = led.yearly(names, 1990, scale=scale, discount_rate=0.1)
    # a count and its column have one name
    for col in ("sales", "replacers", "conquest_sales", "churned_owners", "exits_from_segment", "new_to_segment_sales",
                "complaints", "complaints_recovered", "take_backs", "stories_told"):
        want = getattr(led, col).reshape(3, 12, NB).sum(axis=1).reshape(-1) * scale
        np.testing.assert_allclose(df[col], want, err_msg=col)
    np.testing.assert_allclose(df["fleet"], led.fleet[11::12].reshape(-1) * scale)
    churn = led.churned_owners.reshape(3, 12, NB).sum(1) / led.replacers.reshape(3, 12, NB).sum(1)
    np.testing.assert_allclose(df["churn_rate"], churn.reshape(-1))
    np.testing.assert_allclose(df["profit"], df["new_car_margin"] + df["service_revenue"] - df["service_cost"])
    np.testing.assert_allclose(df["sales_revenue"], led.sales_revenue.reshape(3, 12, NB).sum(1).reshape(-1) * scale)
    sold = df["sales"] > 0  # the revenue is the cars sold at their mean price paid
    np.testing.assert_allclose(df.loc[sold, "sales_revenue"], (df["mean_price"] * df["sales"])[sold])


def test_yearly_partial_year_and_empty(filled):
    led, names = filled
    assert len(led.yearly(names, 1990, 1.0, 0.1, months_done=30)) == 2 * NB
    assert led.yearly(names, 1990, 1.0, 0.1, months_done=11).empty


def test_switching_table(filled):
    led, names = filled
    t = led.switching_table(names, 1990, scale=2.0)
    assert set(t["from_brand"]) <= set(names) | {"new"}
    assert set(t["to_brand"]) <= set(names) | {"left"}
    assert t["buyers"].sum() == pytest.approx(led.switching.sum() * 2.0)
    assert (t["buyers"] > 0).all()


def test_rebuy_rates_by_complaint_outcome():
    from sim.metrics import Ledger

    led = Ledger(2, 3)
    record_rebuys(led, 0, np.array([0, 0, 1, 3, 3, 3], np.int8), np.array([True, False, True, False, False, True]))
    record_rebuys(led, 1, np.array([2], np.int8), np.array([False]))
    rates = led.rebuy_rates()
    assert rates == {"none": 0.5, "resolved_within_90_days": 1.0, "resolved_90_to_180_days": 0.0,
                     "unresolved": pytest.approx(1 / 3)}
    assert np.isnan(led.rebuy_rates(slice(1, 2))["none"])


def test_every_count_with_a_column_has_the_column_s_name():
    """The ledger's counts are named as their ``brand_year`` columns (``stories_told`` is a count; the population's
    ``told`` is a stock of stories), except those that only enter rates."""
    from sim.metrics import COUNTS

    led = Ledger(12, 2)
    columns = set(led.yearly(["A", "B"], 2000, 1.0, 0.1).columns)
    assert set(COUNTS) - columns == {"leased_sales", "repurchase"}


def test_a_brand_without_owners_has_nan_clv_and_no_infinity():
    """A brand whose fleet is 0 at year end while it still books money (a late launch, every line ended): profit per
    owner and CLV are NaN, and no column of the yearly table holds an infinity."""
    led = Ledger(12, 2)
    led.fleet[:] = [100.0, 0.0]
    led.service_revenue[:] = [5.0, 3.0]
    led.service_cost[:] = [1.0, 9.0]
    led.replacers[:] = [4.0, 0.0]
    with np.errstate(all="raise"):  # no overflow or division warnings turned into values
        table = led.yearly(["A", "B"], 2000, 10.0, 0.1)
    assert np.isfinite(table.loc[0, "clv"]) and np.isnan(table.loc[1, "clv"])
    numbers = table.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numbers).any()


# ---- degenerate runs: every output finite or NaN, every rate in [0, 1] ---------------------------------------------
RATES = {"brand_year": ("sales_share", "lease_share", "fleet_share", "churn_rate", "repurchase_loyalty", "prestige"),
         "line_year": ("share_of_brand",)}
START = 1990


def tiny_scenario(brands: int, late: bool, buyers: int, years: int, growth: float, capacity: float | None,
                  responder: bool):
    """A one-segment market of ``brands`` brands on sale at the start (one sedan line each), plus, if ``late``, a
    brand launched in the run's last month; ``capacity`` (cars a dealer a year) limits the first brand; with
    ``responder`` the first brand responds to a share loss."""
    from sim.scenario_files import validate

    on_sale = {f"B{k}": {"initial_fleet_share": 1.0 / brands, "price": 35000.0 + 5000.0 * k, "prestige": 0.3 + 0.1 * k}
               for k in range(brands)}
    if capacity is not None:
        on_sale["B0"] |= {"dealer_capacity": capacity, "dealers": 1}
    if responder:
        on_sale["B0"]["strategy"] = {"kind": "respond_to_share_loss", "threshold": 0.01, "lag_months": 0,
                                     "response": {"loaner_cars": True}}
    if late:
        on_sale["Late"] = {"launch": f"{START + years - 1}-12", "price": 30000.0}
    segment = {"share": 1.0, "entrant_share": 1.0, "prestige_weight": 1.0, "price_weight": 1.0, "service_weight": 1.0,
               "perk_weight": 0.2, "outside_utility": -1.0}
    return validate({"name": "tiny", "market": {"start_year": START, "years": years, "segment_households": 50_000,
                                                "annual_growth": growth, "segments": {"all": segment}},
                     "brands": on_sale, "simulation": {"buyers": buyers}})


def assert_finite_or_nan_and_rates_in_unit_interval(table, name: str) -> None:
    for column in table.columns:
        if table[column].dtype.kind in "iuf":
            values = table[column].to_numpy(dtype=float)
            assert not np.isinf(values).any(), f"{name}.{column} holds an infinity"
    for column in RATES.get(name, ()):
        values = table[column].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        assert ((values >= 0) & (values <= 1)).all(), f"{name}.{column} outside [0, 1]: {values}"


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@example(brands=1, late=False, buyers=100, years=1, growth=0.0, capacity=None, responder=False, engine="vectorised",
         seed=0)  # one brand, 100 buyers
@example(brands=2, late=True, buyers=100, years=1, growth=0.0, capacity=None, responder=False, engine="agents",
         seed=1)  # a brand launched in the last month
@example(brands=1, late=True, buyers=100, years=2, growth=-0.5, capacity=1.0, responder=True, engine="vectorised",
         seed=2)  # all at once, in a shrinking market, the one brand sold out
@given(brands=st.integers(1, 3), late=st.booleans(), buyers=st.sampled_from([100, 150, 300]), years=st.integers(1, 2),
       growth=st.sampled_from([-0.5, 0.0, 0.5]), capacity=st.sampled_from([None, 1.0, 60.0]),
       responder=st.booleans(), engine=st.sampled_from(["vectorised", "agents"]), seed=st.integers(0, 2**16))
def test_degenerate_runs_give_finite_or_nan_outputs_and_rates_in_unit_interval(brands, late, buyers, years, growth,
                                                                               capacity, responder, engine, seed):
    """One brand, a brand launched in the last month, a brand that can deliver one car a year, a shrinking market,
    100 buyers: no output column holds an infinity (a rate with a zero denominator is NaN), and every rate is a
    fraction."""
    from sim.model import LuxuryMarketModel

    scenario = tiny_scenario(brands, late, buyers, years, growth, capacity, responder)
    model = LuxuryMarketModel(scenario, seed=seed, engine=engine).run()
    assert_finite_or_nan_and_rates_in_unit_interval(model.brand_year(), "brand_year")
    assert_finite_or_nan_and_rates_in_unit_interval(model.line_year(), "line_year")
    assert_finite_or_nan_and_rates_in_unit_interval(model.switching(), "switching")
    monthly = model.datacollector.get_model_vars_dataframe()
    assert_finite_or_nan_and_rates_in_unit_interval(monthly, "monthly")
