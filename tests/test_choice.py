"""sim/choice.py: logit brand choice with consideration sets, inertia, perks, discount stigma."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from sim import choice
from sim.brand_arrays import BrandArrays
from sim.choice import SegmentArrays, choose, considered_brands, perk_value, probabilities, utilities
from sim.lineup import LineArrays
from sim.population import NO_COMPLAINT, UNRESOLVED
from sim.scenario import Choice
from tests.conftest import make_brand_arrays


def one_line_each(ba: BrandArrays) -> LineArrays:
    """One mid-tier sedan line per brand, at the brand's price and defect rate (a brand without models)."""
    n = ba.n
    return LineArrays(np.arange(n), ba.on_sale.copy(), ba.price.copy(), ba.defects_per_car_year.copy(),
                      np.zeros(n, np.int64), np.ones(n, np.int64), np.zeros(n), np.zeros(n), np.full(n, np.inf))


def brand_values(ba, seg, p, reference_price, perk):
    """The value of each brand with one line, for a household needing a sedan: brand part + line part."""
    market = SimpleNamespace(reference_price=reference_price, tier_price_ratio={"entry": 0.7, "mid": 1.0,
                                                                                 "flagship": 1.6})
    return (choice.brand_values(ba, seg, p, perk)
            + choice.line_values(one_line_each(ba), ba.discount, seg, p, market)[:, 0, :])

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=150)
P_FLOOR = 1e-6
Z = 5.0


def make_ba(n: int = 3, **overrides) -> BrandArrays:
    return make_brand_arrays(n, **overrides)


def make_seg(**overrides) -> SegmentArrays:
    """Two segments: 0 = status-seekers (stigma, small perk weight), 1 = value-seekers (no stigma, big perk weight)."""
    base = dict(prestige_weight=[2.5, 1.5], price_weight=[0.6, 1.5], service_weight=[0.6, 1.0],
                perk_weight=[0.05, 0.25], discount_stigma=[4.0, 0.0], outside_utility=[0.6, 0.8],
                lease_propensity=[0.45, 0.55], share=[0.4, 0.6], entrant_share=[0.5, 0.5])
    base.update(overrides)
    return SegmentArrays(**{k: np.asarray(v, dtype=np.float64) for k, v in base.items()})


def util(values, seg, p=None, *, segment, current, own_sat, wom=None, considered=None, may_leave=None,
         reputation=None):
    n = len(segment)
    nb = values.shape[1]
    return utilities(values, seg, p or Choice(), np.full(nb, 0.1) if reputation is None else reputation,
                     np.asarray(segment), np.asarray(current), np.asarray(own_sat, np.float32),
                     np.zeros((n, nb), np.float32) if wom is None else np.asarray(wom, np.float32),
                     np.ones((n, nb), bool) if considered is None else np.asarray(considered),
                     np.ones(n, bool) if may_leave is None else np.asarray(may_leave))


# ---- probabilities ---------------------------------------------------------------------------------------------------
@st.composite
def utility_matrix(draw, allow_empty_rows=False):
    rows, cols = draw(st.integers(1, 8)), draw(st.integers(1, 9))
    u = draw(hnp.arrays(np.float64, (rows, cols), elements=st.floats(-60, 60)))
    mask = draw(hnp.arrays(bool, (rows, cols)))
    if not allow_empty_rows:
        mask[np.arange(rows), draw(st.integers(0, cols - 1))] = True
    return np.where(mask, u, -np.inf)


@HYP
@given(u=utility_matrix())
def test_probabilities_rows_sum_to_one_and_excluded_get_zero(u):
    p = probabilities(u)
    assert p.shape == u.shape
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(p[np.isneginf(u)] == 0.0)
    assert np.all(p >= 0)
    # the best alternative of a row is (one of) the most probable
    assert np.all(p[np.arange(u.shape[0]), u.argmax(axis=1)] == p.max(axis=1))


@HYP
@given(u=utility_matrix(), shift=st.floats(-500, 500))
def test_probabilities_invariant_to_a_constant(u, shift):
    np.testing.assert_allclose(probabilities(u + shift), probabilities(u), atol=1e-12)


def test_probabilities_logit_formula():
    u = np.array([[0.0, np.log(2.0), np.log(3.0), -np.inf]])
    np.testing.assert_allclose(probabilities(u), [[1 / 6, 2 / 6, 3 / 6, 0.0]])


def test_probabilities_survive_huge_utilities():
    p = probabilities(np.array([[1000.0, 999.0, -np.inf]]))
    assert np.all(np.isfinite(p)) and p[0, 0] > p[0, 1] > 0


# ---- choose ----------------------------------------------------------------------------------------------------------
def test_choose_frequencies_match_probabilities():
    u_row = np.array([0.3, -0.5, 1.2, -np.inf, 0.0])
    n = 200_000
    u = np.tile(u_row, (n, 1))
    pick = choose(np.random.default_rng(8), u)
    counts = np.bincount(pick, minlength=u_row.size)
    p = probabilities(u_row[None, :])[0]
    assert counts[3] == 0, "an alternative not considered is never chosen"
    ok = p > 0
    assert stats.chisquare(counts[ok], n * p[ok]).pvalue > P_FLOOR


@HYP
@given(u=utility_matrix(allow_empty_rows=True), seed=st.integers(0, 2**32 - 1))
def test_choose_never_picks_an_excluded_alternative(u, seed):
    pick = choose(np.random.default_rng(seed), u)
    assert pick.shape == (u.shape[0],)
    nothing = np.all(np.isneginf(u), axis=1)
    assert np.all(pick[nothing] == u.shape[1] - 1)
    assert np.all(np.isfinite(u[np.flatnonzero(~nothing), pick[~nothing]]))


def test_row_with_nothing_considered_picks_leave():
    u = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, -np.inf], [-np.inf, -np.inf, -np.inf]])
    for seed in range(20):
        pick = choose(np.random.default_rng(seed), u)
        assert pick.tolist() == [2, 0, 2]


def test_choose_rows_are_independent():
    """Different rows with different utilities each follow their own probabilities."""
    n = 100_000
    u = np.zeros((n, 3))
    u[::2] = [2.0, 0.0, 0.0]
    u[1::2] = [0.0, 0.0, 2.0]
    pick = choose(np.random.default_rng(9), u)
    p = probabilities(np.array([[2.0, 0.0, 0.0]]))[0]
    for rows, order in ((pick[::2], [0, 1, 2]), (pick[1::2], [2, 1, 0])):
        counts = np.bincount(rows, minlength=3)[order]
        assert stats.chisquare(counts, rows.size * p).pvalue > P_FLOOR


# ---- utilities -------------------------------------------------------------------------------------------------------
@pytest.fixture
def setup():
    ba = make_ba(3, prestige=[0.9, 0.5, 0.3], price=[45000, 30000, 20000], defects_per_car_year=[0.6, 0.8, 0.4])
    seg = make_seg()
    values = brand_values(ba, seg, Choice(), 30000.0, perk_value(ba.complimentary_maintenance_months, 6.0, 320.0))
    return ba, seg, values


def test_utilities_shape_exclusion_and_leave_column(setup):
    ba, seg, values = setup
    considered = np.array([[True, False, True], [True, True, True]])
    u = util(values, seg, segment=[0, 1], current=[-1, -1], own_sat=[0, 0], considered=considered,
             may_leave=[True, False])
    assert u.shape == (2, 4)
    assert u[0, 1] == -np.inf and np.isfinite(u[0, [0, 2]]).all()
    np.testing.assert_allclose(u[0, [0, 2]], values[0, [0, 2]])
    np.testing.assert_allclose(u[1, :3], values[1])
    assert u[0, 3] == seg.outside_utility[0]
    assert u[1, 3] == -np.inf, "a buyer who may not leave (a new entrant) has no outside option"


def test_inertia_raises_only_the_current_brand(setup):
    ba, seg, values = setup
    kw = dict(segment=[1, 1], current=[1, -1], own_sat=[0.2, 0.2])
    low = util(values, seg, Choice(inertia=0.5), **kw)
    high = util(values, seg, Choice(inertia=2.0), **kw)
    diff = high - low
    assert diff[0, 1] == pytest.approx(1.5)
    diff[0, 1] = 0.0
    assert np.all(diff == 0), "inertia touches nothing but the owner's current brand"


def test_owner_of_a_brand_prefers_it_over_a_newcomer(setup):
    ba, seg, values = setup
    u = util(values, seg, segment=[0, 0], current=[2, -1], own_sat=[0.0, 0.0])
    assert u[0, 2] > u[1, 2]
    np.testing.assert_allclose(np.delete(u[0], 2), np.delete(u[1], 2))


@HYP
@given(s1=st.floats(-1, 1), s2=st.floats(-1, 1), segment=st.integers(0, 1), cur=st.integers(0, 2))
def test_higher_own_satisfaction_raises_current_brand(s1, s2, segment, cur):
    ba = make_ba(3)
    seg = make_seg()
    values = brand_values(ba, seg, Choice(), 30000.0, np.zeros(3))
    lo, hi = sorted((s1, s2))
    u = util(values, seg, segment=[segment, segment], current=[cur, cur], own_sat=[lo, hi])
    assert u[1, cur] >= u[0, cur]
    if np.float32(hi) > np.float32(lo) + 1e-3:
        assert u[1, cur] > u[0, cur]
    others = [j for j in range(4) if j != cur]
    np.testing.assert_array_equal(u[0, others], u[1, others])


def test_own_satisfaction_is_ignored_for_newcomers(setup):
    ba, seg, values = setup
    u = util(values, seg, segment=[0, 0], current=[-1, -1], own_sat=[-0.9, 0.9])
    np.testing.assert_array_equal(u[0], u[1])


def test_word_of_mouth_raises_utility_in_proportion(setup):
    ba, seg, values = setup
    wom = np.array([[0.0, 0.2, -0.2], [0.0, 0.2, -0.2]])
    base = util(values, seg, segment=[0, 1], current=[-1, -1], own_sat=[0, 0])
    told = util(values, seg, Choice(wom_weight=1.0), segment=[0, 1], current=[-1, -1], own_sat=[0, 0], wom=wom)
    diff = (told - base)[:, :3]
    np.testing.assert_allclose(diff, wom * seg.service_weight[:, None], rtol=1e-6)


def test_discount_stigma_lowers_discounted_brand_for_the_stigma_segment():
    """Two segments identical except for stigma: the discount costs the stigma segment stigma × discount on
    the discounted brand only."""
    seg = make_seg(prestige_weight=[2.0, 2.0], price_weight=[1.0, 1.0], service_weight=[0.8, 0.8],
                   perk_weight=[0.1, 0.1],
                   discount_stigma=[4.0, 0.0])
    ba = make_ba(3, discount=[0.0, 0.1, 0.0])
    v = brand_values(ba, seg, Choice(), 30000.0, np.zeros(3))
    gap = v[1] - v[0]
    assert gap[1] == pytest.approx(4.0 * 0.1)
    assert gap[0] == pytest.approx(0.0) and gap[2] == pytest.approx(0.0)
    # against the same brand without the discount, the stigma segment loses utility (the price cut is worth
    # less to it than the stigma costs), the stigma-free segment gains
    v0 = brand_values(make_ba(3), seg, Choice(), 30000.0, np.zeros(3))
    assert v[0, 1] < v0[0, 1]
    assert v[1, 1] > v0[1, 1]


@HYP
@given(months=st.integers(1, 96), brand=st.integers(0, 2))
def test_perks_raise_utility_in_proportion_and_leave_prestige_alone(months, brand):
    seg = make_seg(perk_weight=[0.05, 0.25])
    ba = make_ba(3, prestige=[0.9, 0.5, 0.3])
    comp = np.zeros(3)
    comp[brand] = months
    ba_perk = make_ba(3, prestige=[0.9, 0.5, 0.3], complimentary_maintenance_months=comp)
    def values(arrays, segments):
        return brand_values(arrays, segments, Choice(), 30000.0,
                            perk_value(arrays.complimentary_maintenance_months, 6.0, 320.0))

    base, perk = values(ba, seg), values(ba_perk, seg)
    worth = months / 6.0 * 320.0 / 1000.0
    expected = np.zeros((2, 3))
    expected[:, brand] = seg.perk_weight * worth
    np.testing.assert_allclose(perk - base, expected, atol=1e-12)
    assert np.all(perk[:, brand] > base[:, brand])
    np.testing.assert_array_equal(ba_perk.prestige, ba.prestige)
    # a segment that does not care for perks is unmoved: the perk does not enter through prestige
    flat = make_seg(perk_weight=[0.0, 0.0])
    np.testing.assert_allclose(values(ba_perk, flat), values(ba, flat))


def test_perk_value():
    np.testing.assert_allclose(perk_value(np.array([0.0, 36.0, 48.0]), 6.0, 300.0), [0.0, 1.8, 2.4])


def test_brand_values_directions():
    seg = make_seg()
    p = Choice()
    base = brand_values(make_ba(1), seg, p, 30000.0, np.zeros(1))
    for field, value, sign in (("prestige", 0.9, +1), ("price", 45000.0, -1), ("defects_per_car_year", 2.0, -1),
                               ("dealers", 1000.0, +1), ("reputation", 0.5, +1)):
        v = brand_values(make_ba(1, **{field: value}), seg, p, 30000.0, np.zeros(1))
        assert np.all(np.sign(v - base) == sign), field


# ---- consideration sets ----------------------------------------------------------------------------------------------
@st.composite
def shoppers(draw):
    nb = draw(st.integers(1, 16))
    n = draw(st.integers(0, 30))
    aware = draw(hnp.arrays(np.uint16, n, elements=st.integers(0, 2**nb - 1)))
    on_sale = draw(hnp.arrays(bool, nb))
    reach = draw(hnp.arrays(np.float64, nb, elements=st.floats(0, 1)))
    current = draw(hnp.arrays(np.int64, n, elements=st.integers(-1, nb - 1)))
    return aware, on_sale, reach, current


@HYP
@given(s=shoppers(), seed=st.integers(0, 2**32 - 1))
def test_considered_brands_properties(s, seed):
    aware, on_sale, reach, current = s
    aware_in = aware.copy()
    considered, new_aware = considered_brands(aware, on_sale, reach, current, np.random.default_rng(seed))
    nb = on_sale.size
    assert considered.shape == (aware.size, nb) and considered.dtype == bool
    assert new_aware.dtype == np.uint16
    np.testing.assert_array_equal(aware, aware_in)  # input not modified
    # never a brand not on sale
    assert not considered[:, ~on_sale].any()
    # always the current brand, if it is on sale
    owners = np.flatnonzero(current >= 0)
    assert np.all(considered[owners, current[owners]] == on_sale[current[owners]])
    # awareness only grows, and includes the owned brand
    assert np.all(new_aware & aware_in == aware_in)
    assert np.all((new_aware[owners] >> current[owners].astype(np.uint16)) & 1 == 1)
    # brands already known and on sale are considered; everything considered is now known
    bits = (1 << np.arange(nb)).astype(np.uint16)
    known_before = (aware_in[:, None] & bits) != 0
    known_after = (new_aware[:, None] & bits) != 0
    assert np.all(considered[known_before & on_sale])
    assert not np.any(considered & ~known_after)


def test_considered_with_no_reach_is_awareness_plus_ownership():
    aware = np.array([0b001, 0b110, 0], np.uint16)
    on_sale = np.array([True, False, True])
    considered, new_aware = considered_brands(aware, on_sale, np.zeros(3), np.array([-1, 2, 1]),
                                              np.random.default_rng(0))
    assert considered.tolist() == [[True, False, False], [False, False, True], [False, False, False]]
    assert new_aware.tolist() == [0b001, 0b110, 0b010]


def test_considered_with_full_reach_is_everything_on_sale():
    on_sale = np.array([True, False, True, True])
    considered, new_aware = considered_brands(np.zeros(5, np.uint16), on_sale, np.ones(4), np.full(5, -1),
                                              np.random.default_rng(0))
    assert np.all(considered == on_sale)
    assert np.all(new_aware == 0b1111)


def test_marketing_reach_is_a_probability_per_brand():
    n = 50_000
    reach = np.array([0.1, 0.5, 0.9])
    considered, _ = considered_brands(np.zeros(n, np.uint16), np.ones(3, bool), reach, np.full(n, -1),
                                      np.random.default_rng(6))
    freq = considered.mean(axis=0)
    assert np.all(np.abs(freq - reach) < Z * np.sqrt(reach * (1 - reach) / n))


def test_segment_arrays_are_the_scenario_segments_under_their_names(small_scenario):
    """One name per concept: SegmentArrays has exactly the fields of the scenario's segments, in scenario order."""
    from sim.scenario import Segment

    seg = SegmentArrays.from_scenario(small_scenario)
    assert set(seg.__dataclass_fields__) == set(Segment.model_fields)
    for name in Segment.model_fields:
        assert getattr(seg, name).tolist() == [getattr(s, name) for s in small_scenario.market.segments.values()]


# ---- the nested logit over brands and their lines ------------------------------------------------------------------
def two_brand_lineup(lam: float, prices=(30000.0, 45000.0, 30000.0), bodies=(0, 0, 2), on_sale=(True, True, True),
                     appeal=(0.0, 0.0, 0.0), tax_rate=(0.0, 0.0, 0.0), tax_threshold=np.inf):
    """Brand 0 sells lines 0 and 1 (sedans, mid and flagship), brand 1 sells line 2 (an SUV, mid)."""
    lines = LineArrays(np.array([0, 0, 1]), np.array(on_sale), np.array(prices, float), np.full(3, 0.5),
                       np.array(bodies), np.array([1, 2, 1]), np.array(appeal, float), np.array(tax_rate, float),
                       np.full(3, tax_threshold))
    seg = make_seg()
    market = SimpleNamespace(reference_price=30000.0, tier_price_ratio={"entry": 0.7, "mid": 1.0, "flagship": 1.6})
    p = Choice(nesting_parameter=lam)
    w = choice.line_values(lines, np.zeros(2), seg, p, market)
    brand_lines = np.array([[0, 1], [2, -1]])
    offer = choice.nest(np.zeros((2, 2)), w, lines.on_sale, brand_lines, np.array([2, 1]), lam, np.array([1.0, 1, 1]))
    return w, offer


@given(lam=st.floats(0.05, 1.0))
@settings(max_examples=40)
def test_nest_inclusive_value_and_line_probabilities(lam):
    """V + λ·log Σ exp(W/λ) per brand; the within-brand CDF is the logit over exp(W/λ); a one-line brand's value
    is its line's utility; the CDF ends at exactly 1."""
    w, offer = two_brand_lineup(lam)
    for g in range(2):
        for n in range(3):
            iv = np.log(np.exp(w[g, n, :2] / lam).sum())
            assert offer.values[g, n, 0] == pytest.approx(lam * iv, rel=1e-12, abs=1e-12)
            assert offer.values[g, n, 1] == pytest.approx(w[g, n, 2], rel=1e-12)
            p_line = np.exp(w[g, n, :2] / lam) / np.exp(w[g, n, :2] / lam).sum()
            assert offer.line_cdf[g, n, 0, 0] == pytest.approx(p_line[0])
            assert offer.line_cdf[g, n, 0, 1] == 1.0
    assert np.all(offer.value_offset == offer.values.max(axis=2))
    assert np.all(offer.value_logit_weights == np.exp(offer.values - offer.value_offset[:, :, None]))


@given(lam=st.floats(0.1, 1.0), xi=st.floats(-1.0, 1.0))  # |ξ/λ| <= 10: odds stay well inside float precision
@settings(max_examples=40)
def test_a_lines_appeal_moves_its_share_within_the_brand_by_its_logit(lam, xi):
    """Appeal ξ adds to the line's utility: the log odds of the brand's two lines move by exactly ξ/λ (the
    within-nest identity Berry's 1994 inversion rests on), the other brand's line is untouched, and ξ = 0 is the
    line as it was."""
    w0, offer0 = two_brand_lineup(lam)
    w1, offer1 = two_brand_lineup(lam, appeal=(xi, 0.0, 0.0))
    assert np.allclose(w1[:, :, 0] - w0[:, :, 0], xi) and np.array_equal(w1[:, :, 1:], w0[:, :, 1:])

    def log_odds(offer):
        first = offer.line_cdf[:, :, 0, 0]
        return np.log(first / (1.0 - first))
    assert np.allclose(log_odds(offer1) - log_odds(offer0), xi / lam, atol=1e-7)
    assert np.array_equal(two_brand_lineup(lam, appeal=(0.0, 0.0, 0.0))[0], w0)


def test_nest_similarity_lowers_the_value_of_a_second_line():
    """A second line adds λ·log(1 + e^{ΔW/λ}) to its brand: less the closer its lines are substitutes (lower λ)."""
    gains = []
    for lam in (1.0, 0.5, 0.2):
        w, offer = two_brand_lineup(lam, prices=(30000.0, 48000.0, 30000.0))
        gains.append(offer.values[1, 0, 0] - w[1, 0, 0])
    assert gains[0] > gains[1] > gains[2] > 0


def test_brand_without_line_for_the_need_loses_body_mismatch():
    """For a household needing an SUV, the sedan-only brand's value falls by body_mismatch (a single line); the
    SUV brand's is the same as for a sedan-needer's own best fit."""
    _, offer = two_brand_lineup(1.0, prices=(30000.0, 30000.0, 30000.0), bodies=(0, 0, 2))
    sedan, suv = 0, 2
    assert offer.values[0, suv, 0] == pytest.approx(offer.values[0, sedan, 0] - Choice().body_mismatch)
    assert offer.values[0, suv, 1] == pytest.approx(offer.values[0, sedan, 1] + Choice().body_mismatch)


def test_lines_not_on_sale_are_never_drawn():
    """A line off sale has probability 0 (its CDF step is flat); a brand with nothing on sale has weight 0."""
    from sim.rules import draw_line

    _, offer = two_brand_lineup(0.7, on_sale=(False, True, False))
    assert offer.line_cdf[0, 0, 0, 0] == 0.0 and offer.line_cdf[0, 0, 0, 1] == 1.0
    assert offer.value_logit_weights[0, 0, 1] == 0.0 and offer.values[0, 0, 1] == -np.inf
    rng = np.random.default_rng(3)
    picks = {draw_line(rng, offer.line_cdf, 0, 0, 0, offer.brand_lines, offer.line_count) for _ in range(200)}
    assert picks == {1}


def test_draw_line_frequencies_match_the_nested_logit():
    """Lines drawn by ``rules.draw_line`` follow exp(W/λ) within the brand (chi-square, fixed seed)."""
    from sim.rules import draw_line

    lam = 0.6
    w, offer = two_brand_lineup(lam, prices=(30000.0, 40000.0, 30000.0))
    rng = np.random.default_rng(11)
    draws = np.array([draw_line(rng, offer.line_cdf, 1, 0, 0, offer.brand_lines, offer.line_count)
                      for _ in range(20000)])
    p = np.exp(w[1, 0, :2] / lam)
    p /= p.sum()
    counts = np.bincount(draws, minlength=2)[:2]
    assert stats.chisquare(counts, p * counts.sum()).pvalue > 0.001


# ---- logit weights that never overflow ----------------------------------------------------------------------------
@st.composite
def shoppers_weights_case(draw):
    """One shopper's inputs to ``choice.logit_weights`` with utilities of any size (to +-2000): the month's values
    of up to 6 brands, which are considered, tastes and word of mouth (0 for some: looked up), loyalty, leaving."""
    nb = draw(st.integers(1, 6))
    big = st.floats(-2000, 2000)
    values = np.array(draw(st.lists(st.one_of(big, st.just(-np.inf)), min_size=nb, max_size=nb)))
    taste = np.array(draw(st.lists(st.one_of(st.just(0.0), big), min_size=nb, max_size=nb)), np.float32)
    heard = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(-1, 1)), min_size=nb, max_size=nb)))
    on_sale = np.array(draw(st.lists(st.booleans(), min_size=nb, max_size=nb)))
    known = draw(st.integers(0, 2**nb - 1))
    loyal = draw(st.integers(-1, nb - 1))
    outside = draw(st.one_of(big, st.just(-np.inf)))
    p = choice.ChoiceParams(draw(st.floats(0, 1000)), draw(st.floats(0, 5)), draw(st.floats(0, 1)), 1.0, 0.0, 0.0)
    return values, taste, heard, on_sale, known, loyal, draw(st.floats(-1, 1)), outside, p


def shopper_weights(case, rule=choice.logit_weights):
    values, taste, heard, on_sale, known, loyal, own, outside, p = case
    finite = values[np.isfinite(values)]
    offset = finite.max() if finite.size else 0.0  # as choice.nest: the largest value
    with np.errstate(under="ignore"):
        lookup = np.exp(values - offset)
    w, u = np.full(values.size + 1, np.nan), np.full(values.size + 1, np.nan)
    total = rule(w, u, values, lookup, offset, taste, 0.8, heard, known, on_sale, loyal, own, False, outside, p)
    return w, u, total


@HYP
@given(case=shoppers_weights_case())
def test_logit_weights_are_exp_utility_minus_the_largest_whatever_the_utilities(case):
    """An inertia of 800 or utilities of +-2000 once overflowed exp (every loyal owner left the segment): each
    weight is exp(u - max u) over the alternatives considered, in [0, 1], the largest exactly 1, never inf or NaN;
    looked-up weights (no personal term) agree with direct ones; compiled and Python the same."""
    values, taste, heard, on_sale, known, loyal, own, outside, p = case
    w, u, total = shopper_weights(case)
    nb = values.size
    considered = np.array([bool(known >> k & 1) and on_sale[k] for k in range(nb)])
    for k in range(nb):
        if considered[k]:
            expected = choice.utility(values[k] + taste[k], 0.8, heard[k], k == loyal, own, False, p)
            assert u[k] == pytest.approx(expected, rel=1e-12, abs=1e-9)
        else:
            assert u[k] == -np.inf and w[k] == 0.0
    assert u[nb] == outside
    assert np.isfinite(w).all() and (w >= 0).all() and (w <= 1 + 1e-12).all() and np.isfinite(total)
    if np.isfinite(u).any():
        top = u[np.isfinite(u)].max()
        with np.errstate(under="ignore"):
            direct = np.where(np.isfinite(u), np.exp(u - top), 0.0)
        np.testing.assert_allclose(w, direct, rtol=1e-9, atol=1e-15)
        assert w.max() == 1.0 and total == pytest.approx(w.sum(), rel=1e-12)
    else:
        assert total == 0.0 and not w.any()
    w2, u2, total2 = shopper_weights(case, choice.logit_weights.py_func)
    assert np.array_equal(w, w2) and np.array_equal(u, u2) and total == total2


@HYP
@given(u=hnp.arrays(np.float64, st.integers(1, 6), elements=st.one_of(st.floats(-2000, 2000), st.just(-np.inf))))
def test_relative_weights_are_exp_utility_minus_the_largest(u):
    w = np.empty_like(u)
    total = choice.relative_weights(u, w)
    if np.isfinite(u).any():
        with np.errstate(under="ignore"):
            expected = np.where(np.isfinite(u), np.exp(u - u.max()), 0.0)
        np.testing.assert_allclose(w, expected, rtol=1e-12, atol=0)
        assert w.max() == 1.0 and total == pytest.approx(w.sum())
    else:
        assert total == 0.0 and not w.any()


def test_the_offer_logit_weights_never_overflow():
    """Values far above 709 (exp overflows) give looked-up weights in [0, 1], the best brand's exactly 1."""
    lines = LineArrays(np.arange(2), np.ones(2, bool), np.array([30000.0, 30000.0]), np.zeros(2),
                       np.zeros(2, np.int64), np.ones(2, np.int64), np.zeros(2), np.zeros(2), np.full(2, np.inf))
    brand_part = np.array([[900.0, 850.0]])
    line_part = np.zeros((1, 3, 2))
    offer = choice.nest(brand_part, line_part, lines.on_sale, np.array([[0], [1]]), np.array([1, 1]), 1.0,
                        np.array([1.0, 1, 1]))
    assert np.all(offer.value_offset == 900.0)
    assert np.all(offer.value_logit_weights[..., 0] == 1.0)
    assert np.all(offer.value_logit_weights[..., 1] == pytest.approx(np.exp(-50.0)))


@pytest.mark.parametrize("engine", ["vectorised", "agents"])
def test_an_enormous_inertia_keeps_owners_and_nobody_leaves(engine):
    """With ``choice.inertia`` = 800 (exp(800) overflows), no variety seeking and no life events (which take
    owners out whatever their loyalty), every replacing owner rebuys their brand: loyalty 1 and no exit from the
    segment, in both engines (it was churn of nearly 1 before)."""
    from sim.model import LuxuryMarketModel
    from tests.conftest import small_flagship

    scenario = small_flagship(years=2, buyers=1000, overrides=["choice.inertia=800", "choice.variety_seeking=0",
                                                               "choice.variety_seekers=0", "market.life_event_exit=0"])
    table = LuxuryMarketModel(scenario, seed=3, engine=engine).run().brand_year()
    replacers = table["replacers"].sum()
    assert replacers > 50
    assert (table["churned_owners"].sum()) <= 0.01 * replacers
    assert table["exits_from_segment"].sum() <= 0.01 * replacers
    loyal = table.loc[table["replacers"] > 0, "repurchase_loyalty"]
    assert loyal.min() > 0.99


@HYP
@given(inertia=st.floats(0, 10), slope=st.floats(0, 5), upside=st.floats(0, 1), a=st.floats(-1, 1),
       b=st.floats(-1, 1), kept=st.floats(0, 1))
def test_loyalty_is_asymmetric_monotone_and_symmetric_at_upside_one(inertia, slope, upside, a, b, kept):
    """The owner's loyalty: inertia plus the full slope per unit of dissatisfaction, ``upside`` times it per unit of
    satisfaction (Anderson & Sullivan 1993; Mittal, Ross & Baldasare 1998): continuous at neutral, never falling as
    satisfaction rises, and the old symmetric term when ``upside`` is 1. With a complaint unresolved only the
    share ``unresolved_inertia`` of the inertia is kept, the satisfaction term the same."""
    p = choice.ChoiceParams(inertia, slope, upside, 1.0, 0.0, 0.0, unresolved_inertia=kept)
    lo, hi = min(a, b), max(a, b)
    assert choice.loyalty(lo, False, p) <= choice.loyalty(hi, False, p) + 1e-12
    assert choice.loyalty(0.0, False, p) == inertia
    assert choice.loyalty(hi, False, p) == pytest.approx(inertia + slope * (hi if hi < 0 else upside * hi))
    sym = p._replace(satisfaction_loyalty_upside=1.0)
    assert choice.loyalty(a, False, sym) == pytest.approx(inertia + slope * a)
    # an unresolved complaint takes away the share 1 - kept of the inertia, and nothing else
    assert choice.loyalty(a, True, p) == pytest.approx(choice.loyalty(a, False, p) - (1 - kept) * inertia, abs=1e-9)
    assert choice.loyalty(a, True, p) <= choice.loyalty(a, False, p) + 1e-12
    # the shared utility adds it for the current brand only
    assert choice.utility(0.3, 0.8, 0.0, True, a, True, p) == pytest.approx(0.3 + choice.loyalty(a, True, p))
    assert choice.utility(0.3, 0.8, 0.0, False, a, True, p) == pytest.approx(0.3)


def test_satisfaction_above_neutral_counting_less_lowers_the_most_satisfied_brands_loyalty_most():
    """Same seed, 20,000 buyers, 1986-1997: with no loyalty from satisfaction above neutral (upside 0) Lexus, whose
    owners are the most satisfied, keeps clearly fewer of them; Jaguar, whose owners are the least, hardly changes."""
    from sim.model import LuxuryMarketModel
    from tests.conftest import small_flagship

    def loyalty(upside):
        sc = small_flagship(years=12, buyers=20000, overrides=[f"choice.satisfaction_loyalty_upside={upside}",
                                                                 "market.life_event_exit=0"])
        y = LuxuryMarketModel(sc, seed=11).run().brand_year()
        y = y[y["year"].between(1993, 1997)].groupby("brand")[["replacers", "churned_owners"]].sum()
        return 1 - y["churned_owners"] / y["replacers"]
    full, none = loyalty(1.0), loyalty(0.0)
    drop = full - none
    assert drop["Lexus"] > 0.05, drop
    assert drop["Lexus"] > drop["Jaguar"] + 0.03, drop


def test_an_unresolved_complaint_that_ends_the_habit_lowers_the_unresolved_complainers_rebuy_rate_alone():
    """Same seed, 20,000 buyers, 1986-1997: with unresolved_inertia 0 owners whose complaint is unresolved when they
    replace their car rebuy far less than with 1 (Dillard & Bates: effectively never), while owners who never
    complained or whose complaint was resolved rebuy about as often."""
    from sim.model import LuxuryMarketModel
    from tests.conftest import small_flagship

    def rebuy_rates(kept):
        sc = small_flagship(years=12, buyers=20000, overrides=[f"choice.unresolved_inertia={kept}"])
        model = LuxuryMarketModel(sc, seed=5).run()
        rebuy = model.ledger.rebuy.sum(axis=0)  # (complaint outcome, rebought?) over the months
        return rebuy[:, 1] / rebuy.sum(axis=1), rebuy.sum(axis=1)
    (kept, n), (ended, _) = rebuy_rates(1.0), rebuy_rates(0.0)
    none, unresolved = int(NO_COMPLAINT), int(UNRESOLVED)
    assert n[unresolved] > 200, n
    assert ended[unresolved] < kept[unresolved] - 0.1, (kept, ended)
    assert abs(ended[none] - kept[none]) < 0.03, (kept, ended)


def test_the_models_offer_is_the_nested_logit_of_its_month():
    """The model keeps the lines' part of the offer (``choice.inclusive_values``) while its lines, prices and
    discounts stay the same and adds the month's brand part: every month, through launches, repricings and ends of
    lines, the offer is exactly ``choice.nest`` computed afresh from the month's lines and brands."""
    from sim.model import LuxuryMarketModel
    from tests.conftest import small_flagship

    model = LuxuryMarketModel(small_flagship(years=25, buyers=300), seed=2)
    cfg, rebuilt, key = model.config, 0, None
    for m in range(model.n_months):
        model.step()
        ba, lines = model.brand_arrays, model.lines
        perk = perk_value(ba.complimentary_maintenance_months, cfg.service_events.maintenance_interval_months,
                          cfg.costs.maintenance_price)
        fresh = choice.nest(choice.brand_values(ba, model.segments, cfg.choice, perk),
                            choice.line_values(lines, ba.discount, model.segments, cfg.choice, cfg.market),
                            lines.on_sale, model.brand_lines, model.line_count, cfg.choice.nesting_parameter,
                            model.offer.need_cdf)
        for name, ours, theirs in zip(choice.Offer._fields, model.offer, fresh):
            np.testing.assert_array_equal(ours, theirs, err_msg=f"month {m}: {name}")
        rebuilt += key is not None and model._brand_key != key
        key = model._brand_key
    assert rebuilt >= 10  # the lines did change along the way
