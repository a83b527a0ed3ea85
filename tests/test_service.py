"""sim/service.py: which owners have service events, and how each event feels.

Statistical checks: fixed seeds, z-tests at 5 standard errors, chi-square p-value floor 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.brand_arrays import BrandArrays
from sim.kernels import draw_events
from sim.scenario import ServiceEvents
from sim.service import (
    BREAKDOWN,
    GOODWILL,
    MAX_AGE_YEARS,
    RECALL,
    REPAIR,
    ROUTINE,
    EventParams,
    defect_probability,
    draw_campaigns,
    experience,
)
from tests.conftest import make_brand_arrays

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=100)
Z = 5.0
P_FLOOR = 1e-6


def make_ba(n: int = 2, **overrides) -> BrandArrays:
    return make_brand_arrays(n, **overrides)


def z_ok(observed: float, expected: float, var: float) -> bool:
    return abs(observed - expected) <= Z * np.sqrt(var)


# ---- defect probability ---------------------------------------------------------------------------------------
@HYP
@given(d=st.floats(0.0, 5.0), growth=st.floats(0.0, 1.0), a=st.integers(0, 400), b=st.integers(0, 400))
def test_defect_probability_rises_with_age(d, growth, a, b):
    lo, hi = sorted((a, b))
    p = defect_probability(np.array([d, d]), np.array([lo, hi], dtype=float), growth)
    assert p[0] <= p[1] + 1e-15
    assert p[0] >= d / 12.0 - 1e-15  # never below the new-car rate


def test_defect_probability_new_car_and_growth():
    p = defect_probability(np.array([1.2, 1.2, 1.2]), np.array([0.0, 12.0, 60.0]), 0.15)
    np.testing.assert_allclose(p, [0.1, 0.1 * 1.15, 0.1 * 1.75])
    assert np.all(np.diff(p) > 0)


@HYP
@given(d=st.floats(0.01, 5.0), growth=st.floats(0.01, 1.0), extra=st.integers(1, 600))
def test_defect_probability_capped_after_max_age(d, growth, extra):
    cap_age = MAX_AGE_YEARS * 12
    p = defect_probability(np.array([d, d, d]), np.array([cap_age - 12, cap_age, cap_age + extra]), growth)
    assert p[0] < p[1]
    assert p[1] == pytest.approx(p[2], rel=1e-12)
    assert p[2] == pytest.approx(d / 12 * (1 + growth * MAX_AGE_YEARS), rel=1e-12)


# ---- who has events ------------------------------------------------------------------------------------------
def _fleet(n: int, seed: int, month: int = 300):
    rng = np.random.default_rng(seed)
    active = rng.random(n) < 0.8
    brand = rng.integers(0, 3, n)  # inactive slots keep a brand on purpose: `active` alone must decide
    age = rng.integers(0, 200, n)
    purchase = month - age
    return rng, active, brand, purchase, month


@pytest.fixture(scope="module")
def month_of_events():
    """Ten months of events over 150k slots, three brands (brand 2 no longer on sale)."""
    n = 150_000
    rng, active, brand, purchase, month = _fleet(n, 11)
    ba = make_ba(3, defects_per_car_year=[1.2, 3.0, 2.0], proactive_goodwill=[0.0, 0.4, 0.25],
                 on_sale=[True, True, False])
    p = ServiceEvents(recalls_per_brand_year=12.0, recall_reach=0.5)  # a recall for every brand on sale, monthly
    months = [draw_events(rng, active, brand, purchase, month, ba, p) for _ in range(10)]
    return dict(n=n, active=active, brand=brand, purchase=purchase, month=month, ba=ba, p=p, months=months)


def test_events_only_for_active_owners(month_of_events):
    f = month_of_events
    for events in f["months"]:
        assert [e.kind for e in events] == [ROUTINE, REPAIR, GOODWILL, BREAKDOWN, RECALL]
        for ev in events:
            assert ev.slots.size > 0
            assert f["active"][ev.slots].all(), f"kind {ev.kind} reached an inactive slot"
            assert np.all(np.diff(ev.slots) > 0), f"kind {ev.kind}: slots must be sorted and distinct"


def test_defect_kinds_are_disjoint(month_of_events):
    for events in month_of_events["months"]:
        repair, goodwill, breakdown = events[REPAIR].slots, events[GOODWILL].slots, events[BREAKDOWN].slots
        assert np.intersect1d(repair, goodwill).size == 0
        assert np.intersect1d(repair, breakdown).size == 0
        assert np.intersect1d(goodwill, breakdown).size == 0


def test_routine_visits_at_one_per_interval(month_of_events):
    f = month_of_events
    n_active = int(f["active"].sum())
    q = 1.0 / f["p"].maintenance_interval_months
    total = sum(ev[ROUTINE].slots.size for ev in f["months"])
    trials = n_active * len(f["months"])
    assert z_ok(total, trials * q, trials * q * (1 - q)), (total, trials * q)


@pytest.mark.parametrize("interval", [2.0, 4.0, 12.0])
def test_routine_rate_follows_interval(interval):
    rng, active, brand, purchase, month = _fleet(60_000, 3)
    p = ServiceEvents(maintenance_interval_months=interval)
    ba = make_ba(3)
    counts = [draw_events(rng, active, brand, purchase, month, ba, p)[ROUTINE].slots.size for _ in range(5)]
    trials = int(active.sum()) * 5
    q = 1.0 / interval
    assert z_ok(sum(counts), trials * q, trials * q * (1 - q))


def test_defect_counts_follow_defect_probability(month_of_events):
    """Defects (repair + goodwill + breakdown) per brand match the sum of each owner's monthly probability."""
    f = month_of_events
    ba, p = f["ba"], f["p"]
    prob = defect_probability(ba.defects_per_car_year[f["brand"]], f["month"] - f["purchase"], p.defect_age_growth)
    prob = np.where(f["active"], prob, 0.0)
    reps = len(f["months"])
    for b in range(3):
        mine = f["brand"] == b
        observed = sum(np.isin(np.concatenate([ev[k].slots for k in (REPAIR, GOODWILL, BREAKDOWN)]),
                               np.flatnonzero(mine)).sum() for ev in f["months"])
        pb = prob[mine]
        assert z_ok(observed, reps * pb.sum(), reps * (pb * (1 - pb)).sum()), (b, observed, reps * pb.sum())


def test_defect_split_follows_goodwill_and_breakdown_share(month_of_events):
    """Of a brand's defects, a share `goodwill` is fixed proactively; of the rest, `breakdown_share` strand
    the car; the remainder are repairs."""
    f = month_of_events
    ba, p = f["ba"], f["p"]
    for b in range(3):
        counts = np.zeros(3)
        for ev in f["months"]:
            for j, kind in enumerate((REPAIR, GOODWILL, BREAKDOWN)):
                counts[j] += np.count_nonzero(f["brand"][ev[kind].slots] == b)
        g, s = ba.proactive_goodwill[b], p.breakdown_share
        expected = np.array([(1 - g) * (1 - s), g, (1 - g) * s]) * counts.sum()
        if g == 0:
            assert counts[1] == 0, "a brand without proactive goodwill has no goodwill fixes"
            counts, expected = counts[[0, 2]], expected[[0, 2]]
        assert stats.chisquare(counts, expected).pvalue > P_FLOOR, (b, counts, expected)


def test_recalls_reach_young_cars_of_brands_on_sale(month_of_events):
    f = month_of_events
    age = f["month"] - f["purchase"]
    eligible = f["active"] & (age < 36) & f["ba"].on_sale[f["brand"]]
    total = 0
    for ev in f["months"]:
        r = ev[RECALL].slots
        assert eligible[r].all(), "recalls only reach active owners of cars under 3 years of a brand on sale"
        total += r.size
    trials = int(eligible.sum()) * len(f["months"])
    q = f["p"].recall_reach
    assert z_ok(total, trials * q, trials * q * (1 - q))


def test_recall_campaign_frequency():
    """A brand on sale starts a recall campaign with probability recalls_per_brand_year / 12 each month."""
    n = 2000
    rng, active, brand, purchase, month = _fleet(n, 8)
    purchase[:] = month - 1  # all cars young
    active[:] = True
    ba = make_ba(3, defects_per_car_year=0.0)
    p = ServiceEvents(recalls_per_brand_year=3.0, recall_reach=1.0)
    months = 1500
    campaigns = 0
    for _ in range(months):
        r = draw_events(rng, active, brand, purchase, month, ba, p)[RECALL].slots
        campaigns += np.unique(brand[r]).size
    q = 3.0 / 12
    trials = months * 3
    assert z_ok(campaigns, trials * q, trials * q * (1 - q))


def test_no_defects_for_perfect_product_and_no_owners():
    rng, active, brand, purchase, month = _fleet(20_000, 4)
    events = draw_events(rng, active, brand, purchase, month, make_ba(3, defects_per_car_year=0.0), ServiceEvents())
    assert all(events[k].slots.size == 0 for k in (REPAIR, GOODWILL, BREAKDOWN))
    nobody = np.zeros_like(active)
    events = draw_events(rng, nobody, brand, purchase, month, make_ba(3), ServiceEvents())
    assert all(ev.slots.size == 0 for ev in events)


# ---- how events feel -----------------------------------------------------------------------------------------
N_EXP = 20_000


def _mean_exp(kind, brand_index, ba, age=10, p=None, seed=0):
    p = p or ServiceEvents()
    rng = np.random.default_rng(seed)
    brand = np.full(N_EXP, brand_index, dtype=np.int64)
    x = experience(rng, kind, brand, np.full(N_EXP, age), ba, p)
    assert x.dtype == np.float32 and x.shape == (N_EXP,)
    return float(x.mean())


def _diff_ok(hi, lo, expected, p=None):
    """hi - lo is positive and matches the lever's documented effect within 5 SE of a difference of means."""
    p = p or ServiceEvents()
    se = p.noise * np.sqrt(2.0 / N_EXP)
    assert hi - lo > Z * se, "the better policy must give a clearly better mean experience"
    assert abs((hi - lo) - expected) < Z * se, (hi - lo, expected)


def test_experience_noise_is_the_configured_sd():
    p = ServiceEvents(noise=0.4)
    x = experience(np.random.default_rng(1), ROUTINE, np.zeros(N_EXP, np.int64), np.full(N_EXP, 100), make_ba(1), p)
    # sd of the sample sd ~ sigma / sqrt(2N)
    assert abs(x.std() - 0.4) < Z * 0.4 / np.sqrt(2 * N_EXP)


@pytest.mark.parametrize("kind,weight", [(ROUTINE, 1.0), (REPAIR, 0.5), (GOODWILL, 0.5), (BREAKDOWN, 0.5)])
def test_better_dealer_quality_better_experience(kind, weight):
    ba = make_ba(2, dealer_service_quality=[0.9, 0.3])
    hi, lo = _mean_exp(kind, 0, ba, age=100, seed=1), _mean_exp(kind, 1, ba, age=100, seed=2)
    _diff_ok(hi, lo, weight * 0.6)


def test_recall_experience_does_not_depend_on_dealer_quality():
    ba = make_ba(2, dealer_service_quality=[0.9, 0.3])
    a, b = _mean_exp(RECALL, 0, ba, seed=1), _mean_exp(RECALL, 1, ba, seed=2)
    assert abs(a - b) < Z * ServiceEvents().noise * np.sqrt(2.0 / N_EXP)


def test_complimentary_maintenance_delights_only_young_cars():
    p = ServiceEvents()
    ba = make_ba(2, complimentary_maintenance_months=[36, 0])
    young_free, young_paid = _mean_exp(ROUTINE, 0, ba, age=10, seed=1), _mean_exp(ROUTINE, 1, ba, age=10, seed=2)
    _diff_ok(young_free, young_paid, p.complimentary_delight)
    # from the month comp_months is reached, the visit is no longer free
    for age in (36, 40, 120):
        old_free, old_paid = _mean_exp(ROUTINE, 0, ba, age=age, seed=3), _mean_exp(ROUTINE, 1, ba, age=age, seed=4)
        assert abs(old_free - old_paid) < Z * p.noise * np.sqrt(2.0 / N_EXP), age


def test_complimentary_maintenance_does_not_touch_other_events():
    ba = make_ba(2, complimentary_maintenance_months=[36, 0])
    for kind in (REPAIR, GOODWILL, BREAKDOWN, RECALL):
        a, b = _mean_exp(kind, 0, ba, age=10, seed=5), _mean_exp(kind, 1, ba, age=10, seed=6)
        assert abs(a - b) < Z * ServiceEvents().noise * np.sqrt(2.0 / N_EXP), kind


def test_complimentary_boundary_per_car():
    """Within one call, cars younger than comp_months get the bonus and older ones don't (noise off)."""
    p = ServiceEvents(noise=0.0)
    ba = make_ba(1, complimentary_maintenance_months=24)
    ages = np.array([0, 23, 24, 25, 200])
    x = experience(np.random.default_rng(0), ROUTINE, np.zeros(5, np.int64), ages, ba, p)
    base = ba.dealer_service_quality[0] - p.expectation
    np.testing.assert_allclose(x, base + p.complimentary_delight * np.array([1, 1, 0, 0, 0]), atol=1e-6)


def test_loaners_raise_repair_experience():
    p = ServiceEvents()
    ba = make_ba(2, loaner_cars=[True, False])
    _diff_ok(_mean_exp(REPAIR, 0, ba, seed=1), _mean_exp(REPAIR, 1, ba, seed=2), p.loaner_relief)


def test_roadside_level_raises_breakdown_experience():
    p = ServiceEvents()
    ba = make_ba(4, roadside_level=[0, 1, 2, 3])
    means = [_mean_exp(BREAKDOWN, lvl, ba, seed=10 + lvl) for lvl in range(4)]
    for lvl in range(1, 4):
        _diff_ok(means[lvl], means[lvl - 1], p.rescue_relief[lvl] - p.rescue_relief[lvl - 1])


def test_recall_handling_raises_recall_experience():
    p = ServiceEvents()
    ba = make_ba(2, recall_handling=[0.95, 0.1])
    _diff_ok(_mean_exp(RECALL, 0, ba, seed=1), _mean_exp(RECALL, 1, ba, seed=2), p.recall_relief * 0.85)


def test_bad_events_feel_worse_than_routine_and_goodwill_feels_good():
    """Signs of the event kinds at a dealer exactly as good as expected (parameters pinned, not defaults)."""
    p = ServiceEvents(expectation=0.45, goodwill_delight=0.3, defect_pain=0.45, breakdown_pain=1.0, recall_pain=0.3,
                      recall_relief=0.45)
    ba = make_ba(1, dealer_service_quality=p.expectation, recall_handling=0.3, roadside_level=0, loaner_cars=False)
    tol = Z * p.noise / np.sqrt(N_EXP)
    assert abs(_mean_exp(ROUTINE, 0, ba, age=100, p=p, seed=1)) < tol
    assert _mean_exp(GOODWILL, 0, ba, p=p, seed=2) > tol
    for kind in (REPAIR, BREAKDOWN, RECALL):
        assert _mean_exp(kind, 0, ba, p=p, seed=3) < -tol, kind


def test_experience_rejects_unknown_kind():
    with pytest.raises(ValueError):
        experience(np.random.default_rng(0), 99, np.zeros(3, np.int64), np.zeros(3), make_ba(1), ServiceEvents())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), on_sale=st.lists(st.booleans(), min_size=0, max_size=12),
       recalls=st.floats(0.0, 12.0))
def test_campaigns_draw_one_uniform_per_brand_on_sale_in_order(seed, on_sale, recalls):
    """A brand on sale runs a campaign when its uniform (drawn in brand order, none for a brand off sale) is below
    recalls_per_brand_year / 12; the generator moves on by exactly those draws."""
    p = EventParams.of(ServiceEvents(recalls_per_brand_year=recalls))
    rng, twin = np.random.default_rng(seed), np.random.default_rng(seed)
    campaign = draw_campaigns(rng, np.array(on_sale, dtype=bool), p)
    expected = [bool(on and twin.random() < recalls / 12.0) for on in on_sale]
    assert campaign.tolist() == expected
    assert rng.random() == twin.random()
