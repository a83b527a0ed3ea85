"""Each rule of sim/rules.py alone: what it decides, that satisfaction stays in [-1, 1], and which random numbers it
draws (none where its outcome cannot depend on them), compiled as the kernels call it and as plain Python."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import rules
from sim.choice import ChoiceParams, logit_weights, utility
from sim.population import COMPLAINT_OUTCOMES, LAST_MONTH, RESOLVED_FAST, RESOLVED_SLOW, ComplaintOutcome
from sim.replacement import EARLY_REPLACEMENT_MONTHS, MIN_HOLDING_MONTHS, Holding
from sim.satisfaction import FAST_RESOLUTION_MONTHS, SLOW_RESOLUTION_MONTHS
from sim.scenario import Satisfaction, ServiceEvents
from sim.service import EVENT_KINDS, EventKind, EventParams, draw_campaigns

sat = st.floats(-1.0, 1.0)
prob = st.floats(0.0, 1.0)
seeds = st.integers(0, 2**32 - 1)
HOLDING = Holding.from_values((24, 36), 54.0, 3.0)


def draws_taken(rule, seed, *args):
    """The rule's result with a fresh generator, and how many uniforms it consumed (by where the stream is)."""
    rng, ref = np.random.default_rng(seed), np.random.default_rng(seed)
    result = rule(rng, *args)
    after = rng.random()
    for n in range(50):
        if ref.random() == after:
            return result, n
    raise AssertionError("the rule drew more than 50 numbers")


def same_compiled_and_python(rule, seed, *args):
    """The compiled rule and the same function run by Python give the same result and leave the generators in
    the same state (the engines call the compiled one; the numbers are numpy's either way)."""
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    assert rule(a, *args) == rule.py_func(b, *args)
    assert a.random() == b.random()


# ---- take-back ---------------------------------------------------------------------------------------------------
@given(s=sat, guarantee=st.booleans(), below=sat, p=prob, after=sat, seed=seeds)
def test_take_back_only_for_eligible_owners_and_draws_only_for_them(s, guarantee, below, p, after, seed):
    (taken, s_after), n = draws_taken(rules.take_back, seed, s, guarantee, below, p, after)
    eligible = rules.may_take_back(s, guarantee, below)
    assert eligible == (s < below and guarantee)
    assert n == (1 if eligible else 0)
    assert not taken or eligible
    assert s_after == (after if taken else s) and -1.0 <= s_after <= 1.0
    same_compiled_and_python(rules.take_back, seed, s, guarantee, below, p, after)


def test_take_back_probability():
    rng = np.random.default_rng(3)
    taken = [rules.take_back(rng, -0.9, True, -0.5, 0.3, 0.7)[0] for _ in range(20_000)]
    assert abs(np.mean(taken) - 0.3) < 0.015


# ---- complaints ----------------------------------------------------------------------------------------------------
@given(s=sat, below=sat)
def test_an_owner_complains_iff_below_the_threshold(s, below):
    assert rules.complains(s, below) == (s < below)


@given(delay=st.integers(-3, 20))
def test_fast_iff_resolved_within_the_boundary(delay):
    assert rules.resolved_fast(delay) == (1 <= delay <= FAST_RESOLUTION_MONTHS)


def test_the_fast_boundary_is_90_days():
    assert FAST_RESOLUTION_MONTHS == 3 and SLOW_RESOLUTION_MONTHS == 6


@given(p_fast=prob, p_slow=prob, seed=seeds)
def test_complaint_resolution_delay_and_speed(p_fast, p_slow, seed):
    p_slow = min(p_slow, 1.0 - p_fast)
    delay, fast = rules.complaint_resolution(np.random.default_rng(seed), p_fast, p_slow)
    assert 0 <= delay <= SLOW_RESOLUTION_MONTHS
    assert fast == rules.resolved_fast(delay)
    same_compiled_and_python(rules.complaint_resolution, seed, p_fast, p_slow)


def test_complaint_resolution_shares():
    rng = np.random.default_rng(5)
    delays = np.array([rules.complaint_resolution(rng, 0.5, 0.3)[0] for _ in range(20_000)])
    fast, slow, never = (delays >= 1) & (delays <= 3), (delays >= 4) & (delays <= 6), delays == 0
    assert abs(fast.mean() - 0.5) < 0.015 and abs(slow.mean() - 0.3) < 0.015 and abs(never.mean() - 0.2) < 0.015
    assert set(np.unique(delays)) == set(range(7))


# ---- early replacement --------------------------------------------------------------------------------------------
@given(month=st.integers(0, 400), s=sat, leased=st.booleans(), ahead=st.integers(1, 200), below=sat, p=prob,
       seed=seeds)
def test_early_replacement_only_brings_the_date_forward(month, s, leased, ahead, below, p, seed):
    due = month + ahead
    new, n = draws_taken(rules.replace_early, seed, month, s, leased, due, below, p)
    assert month < new <= due
    assert new == due or new <= month + EARLY_REPLACEMENT_MONTHS
    if not rules.may_replace_early(s, below):
        assert new == due and n == 0  # no draw for a content owner
    same_compiled_and_python(rules.replace_early, seed, month, s, leased, due, below, p)


def test_lessees_replace_early_less_often():
    rng = np.random.default_rng(8)
    owned = np.mean([rules.replace_early(rng, 0, -0.9, False, 100, -0.6, 0.5) < 100 for _ in range(10_000)])
    leased = np.mean([rules.replace_early(rng, 0, -0.9, True, 100, -0.6, 0.5) < 100 for _ in range(10_000)])
    assert abs(owned - 0.5) < 0.02 and leased < owned / 2


# ---- stories -----------------------------------------------------------------------------------------------------
@given(stock=st.floats(-5, 5), about=st.integers(-1, 7), brand=st.integers(0, 7), x=st.floats(-2, 2),
       fade=st.floats(1.0, 100.0))
def test_a_story_is_told_iff_notable_and_is_about_the_owners_brand(stock, about, brand, x, fade):
    stock = np.float32(stock)
    new, new_about, told = rules.tell_story(stock, about, brand, x, fade, 0.4, 0.08, 1.5)
    assert told == (abs(x) > 0.4)
    if not told:
        assert (new, new_about) == (stock, about)
    else:
        assert new_about == brand
        value = np.float32(0.08 * x * (1.5 if x < 0 else 1.0) * fade)
        assert new == pytest.approx(value + (stock if about == brand else 0.0), rel=1e-5, abs=1e-6)


# ---- complaints resolved ---------------------------------------------------------------------------------------------
@given(s=sat, fast=st.booleans(), r_fast=st.floats(0, 2), r_slow=st.floats(0, 2))
def test_a_resolved_complaint_never_lowers_satisfaction(s, fast, r_fast, r_slow):
    after, outcome = rules.resolve(s, fast, r_fast, r_slow)
    assert s <= after <= 1.0
    assert after == min(s + (r_fast if fast else r_slow), 1.0)
    assert outcome == (RESOLVED_FAST if fast else RESOLVED_SLOW)


def test_a_complaint_applies_only_to_the_car_complained_about():
    assert rules.complaint_applies(True, 2, 30, 2, 30)
    assert not rules.complaint_applies(False, 2, 30, 2, 30)  # left the segment
    assert not rules.complaint_applies(True, 3, 30, 2, 30)  # another brand now
    assert not rules.complaint_applies(True, 2, 41, 2, 30)  # a new car of the same brand


# ---- shopping --------------------------------------------------------------------------------------------------------
def test_due_to_shop():
    assert rules.due_to_shop(True, 12, 12)
    assert not rules.due_to_shop(True, 13, 12) and not rules.due_to_shop(False, 12, 12)


@given(own=sat, new_car=sat, carryover=prob, stayed=st.booleans())
def test_satisfaction_after_purchase_stays_in_range_and_blends_for_stayers(own, new_car, carryover, stayed):
    s = rules.satisfaction_after_purchase(own, stayed, new_car, carryover)
    assert -1.0 <= s <= 1.0
    if not stayed:
        assert s == new_car
    else:
        assert min(own, new_car) - 1e-12 <= s <= max(own, new_car) + 1e-12


def test_the_default_carryover_is_the_even_blend():
    sp = Satisfaction()
    assert sp.repurchase_carryover == 0.5
    for own in (-0.9, -0.2, 0.0, 0.37, 1.0):  # bit for bit the blend the engines used to write out
        assert rules.satisfaction_after_purchase(own, True, sp.new_car, 0.5) == 0.5 * own + 0.5 * sp.new_car
    assert rules.satisfaction_after_purchase(0.9, True, 0.3, 1.0) == 0.9
    assert rules.satisfaction_after_purchase(0.9, True, 0.3, 0.0) == 0.3


@given(month=st.integers(0, LAST_MONTH), lease_p=prob, seed=seeds)
def test_a_new_car_has_a_replacement_date(month, lease_p, seed):
    leased, due = rules.new_car(np.random.default_rng(seed), month, lease_p, HOLDING)
    assert due == LAST_MONTH or due >= month + MIN_HOLDING_MONTHS
    assert due <= LAST_MONTH
    if leased and month + 36 < LAST_MONTH:
        assert month + 24 <= due <= month + 36
    same_compiled_and_python(rules.new_car, seed, month, lease_p, HOLDING)


def one_brand_weights(value, taste, service_weight, heard, current, own, p, outside=-np.inf):
    """``logit_weights`` for a shopper considering one brand (loyal to it if ``current``) and maybe leaving, the
    month's offer looked up with its own value as offset; returns (weights, utilities, total)."""
    w, u = np.empty(2), np.empty(2)
    total = logit_weights(w, u, np.array([value]), np.array([1.0]), value, np.array([taste], np.float32),
                          service_weight, np.array([heard]), 1, np.array([True]), 0 if current else -1, own, False,
                          outside, p)
    return w, u, total


@settings(max_examples=50)
@given(value=st.floats(-3, 3), taste=st.one_of(st.just(0.0), st.floats(-3, 3)), service_weight=st.floats(0, 2),
       heard=st.floats(-1, 1), current=st.booleans(), own=sat, outside=st.floats(-3, 3))
def test_the_logit_weight_is_exp_utility(value, taste, service_weight, heard, current, own, outside):
    """Weights are exp(utility) relative to the largest utility, leaving included: the brand's is exp(u - max)."""
    p = ChoiceParams(1.5, 1.5, 1.0, 1.0, 0.0, 0.0)
    taste = float(np.float32(taste))  # the household's taste is stored as float32
    w, u, total = one_brand_weights(value, taste, service_weight, heard, current, own, p, outside)
    brand = utility(value + taste, service_weight, heard, current, own, False, p)
    assert u[0] == pytest.approx(brand, rel=1e-12, abs=1e-12) and u[1] == outside
    top = max(brand, outside)
    assert w[0] == pytest.approx(math.exp(brand - top), rel=1e-12)
    assert w[1] == pytest.approx(math.exp(outside - top), rel=1e-12)
    assert total == w.sum() and max(w) == 1.0


# ---- recall campaigns: one draw per brand on sale, in both engines ---------------------------------------------------
@given(on_sale=st.lists(st.booleans(), min_size=1, max_size=12), seed=seeds)
def test_recall_campaigns_draw_only_for_brands_on_sale(on_sale, seed):
    on_sale = np.array(on_sale)
    p = EventParams.of(ServiceEvents())
    campaign, n = draws_taken(draw_campaigns, seed, on_sale, p)
    assert n == on_sale.sum()
    assert not (campaign & ~on_sale).any()


def test_recall_campaign_rate():
    p = EventParams.of(ServiceEvents(recalls_per_brand_year=2.4))
    rng = np.random.default_rng(2)
    rate = np.mean([draw_campaigns(rng, np.ones(8, bool), p) for _ in range(5000)])
    assert abs(rate - 2.4 / 12) < 0.01


# ---- the enums: names in outputs unchanged -----------------------------------------------------------------------
def test_event_kinds_and_complaint_outcomes_keep_their_names():
    assert EVENT_KINDS == ("routine", "repair", "goodwill", "breakdown", "recall")
    assert [int(k) for k in EventKind] == list(range(5))
    assert COMPLAINT_OUTCOMES == ("none", "resolved_within_90_days", "resolved_90_to_180_days", "unresolved")
    assert [int(o) for o in ComplaintOutcome] == list(range(4))


# ---- needs, variety seeking, lines ------------------------------------------------------------------------------
def test_redraw_need_keeps_the_need_or_draws_from_the_mix():
    """With probability p the need is redrawn from the cumulative shares (so it may come out the same); without a
    change probability no random number is drawn."""
    cdf = np.array([0.5, 0.7, 1.0])
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    assert all(rules.redraw_need(rng, 1, 0.0, cdf) == 1 for _ in range(50))
    assert rng.bit_generator.state == state
    draws = np.array([rules.redraw_need(rng, 2, 0.4, cdf) for _ in range(40000)])
    expected = 0.6 * np.array([0, 0, 1.0]) + 0.4 * np.diff(np.concatenate([[0.0], cdf]))
    assert np.allclose(np.bincount(draws, minlength=3) / draws.size, expected, atol=0.01)


def test_leaves_at_life_event_only_owners_at_its_rate():
    """A life event takes a replacing owner out of the segment with its probability; no draw for a first-time buyer
    or a zero probability (so scenarios without the mechanism keep their random streams)."""
    rng = np.random.default_rng(9)
    state = rng.bit_generator.state
    assert not any(rules.leaves_at_life_event(rng, False, 0.9) for _ in range(20))
    assert not any(rules.leaves_at_life_event(rng, True, 0.0) for _ in range(20))
    assert rng.bit_generator.state == state
    share = np.mean([rules.leaves_at_life_event(rng, True, 0.2) for _ in range(20000)])
    assert share == pytest.approx(0.2, abs=0.012)


def test_seeks_variety_only_for_owners_at_its_rate_and_always_for_seekers():
    rng = np.random.default_rng(8)
    state = rng.bit_generator.state
    assert not any(rules.seeks_variety(rng, False, 0.9, True) for _ in range(20))
    assert not any(rules.seeks_variety(rng, True, 0.0, False) for _ in range(20))
    assert all(rules.seeks_variety(rng, True, 0.3, True) for _ in range(20))  # the variety-seeking class
    assert rng.bit_generator.state == state  # no draw for a non-owner, a zero probability or a seeker
    share = np.mean([rules.seeks_variety(rng, True, 0.3, False) for _ in range(20000)])
    assert share == pytest.approx(0.3, abs=0.015)
