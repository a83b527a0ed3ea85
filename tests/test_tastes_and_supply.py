"""Persistent brand tastes (random brand intercepts, ``sim.choice``), the dealer network on the timeline, and the
supply limit (``sim.supply``, ``sim.rules.choose_in_stock``): each alone, then in the model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import choice, rules, supply
from sim.model import LuxuryMarketModel
from tests.conftest import small_flagship
from tests.test_rules import draws_taken, one_brand_weights

seeds = st.integers(0, 2**32 - 1)


# ---- tastes -------------------------------------------------------------------------------------------------------
def test_no_taste_spread_draws_nothing():
    rng, ref = np.random.default_rng(1), np.random.default_rng(1)
    assert not choice.draw_brand_tastes(rng, 50, 4, 0.0).any()
    assert not choice.draw_owner_brand_tastes(rng, np.zeros(50, np.int64), np.full(4, 0.25), 0.0).any()
    assert rng.random() == ref.random()


def test_entrants_tastes_are_normal_with_the_stated_spread():
    t = choice.draw_brand_tastes(np.random.default_rng(2), 40_000, 3, 1.3)
    assert t.shape == (40_000, 3) and t.dtype == np.float32
    assert np.abs(t.mean(axis=0)).max() < 0.03
    assert t.std(axis=0) == pytest.approx(np.full(3, 1.3), rel=0.02)
    assert abs(np.corrcoef(t.T)[0, 1]) < 0.03  # independent across brands


def test_owners_tastes_are_those_of_households_who_chose_their_brand():
    """The rejection draw against the exact conditional mean E[ν_b | b chosen] = E[ν_b P(b|ν)] / E[P(b|ν)]."""
    shares, sd = np.array([0.6, 0.3, 0.1, 0.0]), 1.0
    rng = np.random.default_rng(3)
    owned = np.repeat([0, 1, 2], 20_000)
    t = choice.draw_owner_brand_tastes(rng, owned, shares, sd)
    nu = sd * np.random.default_rng(4).standard_normal((400_000, 4))
    with np.errstate(divide="ignore"):
        u = np.log(shares) + nu
    p = np.exp(u - u.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    for b in range(3):
        own = t[owned == b]
        exact = (nu * p[:, [b]]).sum(axis=0) / p[:, b].sum()
        assert own.mean(axis=0) == pytest.approx(exact, abs=0.03)
        assert own[:, b].mean() > 0.1 and own[:, b].mean() > np.delete(own.mean(axis=0), b).max()
    # the smaller the brand, the more its owners are selected on their taste for it
    assert t[owned == 2, 2].mean() > t[owned == 1, 1].mean() > t[owned == 0, 0].mean()
    assert abs(t[:, 3].mean()) < 0.03  # a brand not on sale: taste for it is as anyone's


@settings(max_examples=30)
@given(persistence=st.sampled_from([1.0, 0.999]), sd=st.sampled_from([0.0, 0.8]), seed=seeds)
def test_tastes_kept_for_life_draw_nothing(persistence, sd, seed):
    """Persistence 1 or no spread: the tastes are unchanged and the stream untouched (the default changes no run)."""
    taste = np.array([0.5, -1.0, 2.0], np.float32)
    before = taste.copy()
    _, n = draws_taken(rules.renew_tastes, seed, taste, persistence, sd)
    if persistence == 1.0 or sd == 0.0:
        assert n == 0 and (taste == before).all()
    else:
        assert n > 0 and not (taste == before).all()


@pytest.mark.parametrize("persistence", [0.0, 0.5, 0.9])
def test_renewed_tastes_keep_their_spread_and_have_the_stated_correlation(persistence):
    """An AR(1) across purchases: N(0, sd²) tastes stay N(0, sd²), and a taste is correlated ``persistence`` with the
    one before (Keane 1997); each brand's taste apart from the others'."""
    sd, n = 1.1, 20_000
    rng = np.random.default_rng(5)
    before = choice.draw_brand_tastes(rng, n, 3, sd)
    after = before.copy()
    for row in after:
        rules.renew_tastes(rng, row, persistence, sd)
    assert after.std(axis=0) == pytest.approx(np.full(3, sd), rel=0.03)
    assert np.abs(after.mean(axis=0)).max() < 0.04
    for k in range(3):
        assert np.corrcoef(before[:, k], after[:, k])[0, 1] == pytest.approx(persistence, abs=0.02)
    assert abs(np.corrcoef(after[:, 0], after[:, 1])[0, 1]) < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["vectorised", "agents"])
def test_tastes_that_drift_lower_repurchase_loyalty_in_both_engines(engine):
    """Owners rebuy partly for the taste that made them choose; when it is redrawn before the next purchase they
    rebuy less (both engines run the same rule). Fixed seed; all brands' replacers pooled over 1986-1988 (~1,500;
    at tastes this spread, loyalty ~0.53 kept for life and ~0.32 redrawn)."""
    def loyalty(persistence):
        scenario = small_flagship(years=3, buyers=2_000, overrides=["choice.brand_taste_sd=1.5",
                                                                    f"choice.brand_taste_persistence={persistence}"])
        model = LuxuryMarketModel(scenario, seed=4, engine=engine).run()
        rebuy = model.ledger.rebuy.sum(axis=(0, 1))  # (left, rebought) over months and complaint states
        return rebuy[1] / rebuy.sum()
    assert loyalty(0.0) < loyalty(1.0) - 0.1


@settings(max_examples=40)
@given(value=st.floats(-3, 3), taste=st.floats(-3, 3), heard=st.floats(-1, 1), current=st.booleans(),
       own=st.floats(-1, 1))
def test_a_taste_shifts_utility_one_for_one(value, taste, heard, current, own):
    p = choice.ChoiceParams(1.5, 1.5, 1.0, 1.0, 0.0, 0.0)
    taste = float(np.float32(taste))  # as stored
    with_taste = one_brand_weights(value, taste, 0.8, heard, current, own, p, outside=0.0)[0]
    without = one_brand_weights(value, 0.0, 0.8, heard, current, own, p, outside=0.0)[0]
    assert with_taste[0] / with_taste[1] == pytest.approx(without[0] / without[1] * np.exp(taste), rel=1e-9)


# ---- supply -------------------------------------------------------------------------------------------------------
def in_stock(rng, w, stock, rule=rules.choose_in_stock):
    """``rules.choose_in_stock`` for weights ``w`` (utilities log w), on copies of them."""
    with np.errstate(divide="ignore"):
        u = np.log(w)
    return rule(rng, u, np.array(w, dtype=np.float64), float(np.sum(w)), stock)


def test_the_monthly_allocation():
    got = supply.monthly_allocation(np.array([120.0, 300.0]), np.array([600.0, np.inf]), 100.0)
    assert got[0] == pytest.approx(120 * 600 / 12 / 100) and np.isinf(got[1])


@settings(max_examples=80)
@given(w=st.lists(st.floats(0.0, 5.0), min_size=2, max_size=6), stock=st.lists(st.sampled_from([-1.0, 0.0, 0.5, 3.0,
       np.inf]), min_size=6, max_size=6), seed=seeds)
def test_a_sold_out_brand_is_never_sold(w, stock, seed):
    w = np.array(w)
    nb = w.size - 1  # the last alternative is leaving the segment
    stock = np.array(stock[:nb])
    before = stock.copy()
    pick = in_stock(np.random.default_rng(seed), w, stock)
    assert 0 <= pick <= nb
    if pick < nb:
        assert before[pick] > 0 and w[pick] > 0
        assert stock[pick] == before[pick] - 1
        assert np.array_equal(np.delete(stock, pick), np.delete(before, pick))
    else:
        assert np.array_equal(stock, before)
    if pick == nb and w[nb] == 0:  # nothing left to buy: only when every brand with a weight is sold out
        assert not ((before > 0) & (w[:nb] > 0)).any()
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)  # compiled and as Python, each on its own copies
    sa, sb = before.copy(), before.copy()
    assert in_stock(a, w, sa) == in_stock(b, w, sb, rules.choose_in_stock.py_func)
    assert a.random() == b.random() and np.array_equal(sa, sb)


@given(seed=seeds)
def test_with_stock_everywhere_the_choice_is_the_plain_logit_draw(seed):
    w = np.array([0.5, 2.0, 1.0, 0.3])
    (pick, n) = draws_taken(in_stock, seed, w, np.full(3, np.inf))
    assert n == 1 and pick == choice.draw_weighted(np.random.default_rng(seed), w.copy(), w.sum())


def test_shoppers_who_find_a_brand_sold_out_choose_among_the_rest_in_proportion():
    rng, w = np.random.default_rng(5), np.array([1.0, 2.0, 3.0, 0.0])
    picks = [in_stock(rng, w, np.array([np.inf, 0.0, np.inf])) for _ in range(30_000)]
    counts = np.bincount(picks, minlength=4)
    assert counts[1] == 0 and counts[3] == 0
    assert counts[2] / counts[0] == pytest.approx(3.0, rel=0.06)


def test_a_shopper_whose_far_favourite_is_sold_out_chooses_among_the_rest_in_proportion():
    """The favourite is 800 utils ahead, so the others' weights relative to it underflow to 0; sold out, the shopper
    still chooses among the rest by their own odds (weights recomputed from utilities), and does not leave."""
    rng = np.random.default_rng(6)
    u = np.array([800.0, 0.0, np.log(3.0), -np.inf])  # the last: leaving, not an option
    w = np.empty(4)
    total = choice.relative_weights(u, w)
    assert w[0] == 1.0 and w[1] == 0.0 and w[2] == 0.0
    picks = [rules.choose_in_stock(rng, u.copy(), w.copy(), total, np.array([0.0, np.inf, np.inf]))
             for _ in range(20_000)]
    counts = np.bincount(picks, minlength=4)
    assert counts[0] == 0 and counts[3] == 0
    assert counts[2] / counts[1] == pytest.approx(3.0, rel=0.06)


# ---- in the model -------------------------------------------------------------------------------------------------
def test_the_dealer_network_grows_on_the_timeline():
    m = LuxuryMarketModel(small_flagship(years=8, buyers=3000), seed=1)
    lexus = m.brand_names.index("Lexus")
    m.run(12 * 4 + 1)  # to January 1990
    assert m.brand_arrays.dealers[lexus] == 121
    m.run(12 * 3)  # to January 1993
    assert m.brand_arrays.dealers[lexus] == 168


def test_a_brand_never_sells_more_than_its_monthly_allocation():
    scenario = small_flagship(years=3, buyers=20_000, overrides=["brands.Cadillac.dealer_capacity=100"])
    m = LuxuryMarketModel(scenario, seed=2).run()
    cad = m.brand_names.index("Cadillac")
    allocation = 1600 * 100 / 12 / m.scale  # cars a month, in simulated buyers
    sales = m.ledger.sales[:, cad]
    assert sales.max() <= np.ceil(allocation)
    assert (sales >= np.floor(allocation)).mean() > 0.9  # and it binds: Cadillac sells ~300k a year unlimited
    free = LuxuryMarketModel(small_flagship(years=3, buyers=20_000), seed=2).run()
    assert free.ledger.sales[:, cad].sum() > 1.3 * sales.sum()
    assert m.ledger.sales.sum() == pytest.approx(free.ledger.sales.sum(), rel=0.05)  # buyers go elsewhere


@pytest.mark.slow
def test_persistent_tastes_keep_owners_of_a_small_brand():
    """Unobserved heterogeneity raises repurchase loyalty, most for a small brand whose owners chose it for their
    own taste (Jaguar in 1986-1990), and never makes it certain."""
    def loyalty(sd):
        model = LuxuryMarketModel(small_flagship(years=5, buyers=40_000, overrides=[f"choice.brand_taste_sd={sd}"]),
                                  seed=11).run()
        y = model.brand_year().set_index(["brand", "year"])
        return y.loc["Jaguar", "repurchase_loyalty"].mean(), y.loc["Cadillac", "repurchase_loyalty"].mean()
    jag0, cad0 = loyalty(0.0)
    jag1, cad1 = loyalty(1.2)
    assert jag1 > jag0 + 0.05 and jag1 / jag0 > cad1 / cad0 > 1.0
    assert cad1 < 0.8


def test_the_supply_limit_is_lifted_on_the_timeline():
    """The flagship's Lexus allocation binds until 1994 and is "unlimited" from then (the brand's timeline)."""
    m = LuxuryMarketModel(small_flagship(years=9, buyers=3000), seed=1)
    lexus = m.brand_names.index("Lexus")
    m.run(12 * 7)  # 1986-1992
    assert m.brand_arrays.dealer_capacity[lexus] == m.config.brands["Lexus"].dealer_capacity
    assert m.stock[lexus] < np.inf
    m.run(13)  # to January 1994
    assert np.isinf(m.brand_arrays.dealer_capacity[lexus]) and np.isinf(m.stock[lexus])


def test_timeline_supply_values_are_checked():
    from pydantic import ValidationError

    from sim.scenario import PolicyChange
    assert PolicyChange(date="1990-01", dealer_capacity="unlimited").dealer_capacity == "unlimited"
    assert PolicyChange(date="1990-01", dealer_capacity=700).dealer_capacity == 700
    for bad in (0, -5, "none", 1e9):
        with pytest.raises(ValidationError):
            PolicyChange(date="1990-01", dealer_capacity=bad)
