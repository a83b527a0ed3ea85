"""sim/population.py (Calendar, Population slots), sim/reputation.py and BrandArrays.from_brands."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim.brand_arrays import BrandArrays
from sim.population import NEVER, NO_BRAND, Calendar, Population
from sim.reputation import follow, move_toward, prestige_target

HYP = settings(derandomize=True, database=None, deadline=None, max_examples=100)


# ---- Calendar ---------------------------------------------------------------------------------------------------
@HYP
@given(batches=st.lists(hnp.arrays(np.int64, st.integers(0, 30), elements=st.integers(0, 20)), max_size=5))
def test_calendar_pops_each_slot_in_its_month(batches):
    cal = Calendar()
    expected: dict[int, list[int]] = {}
    next_slot = 0
    for months in batches:
        slots = np.arange(next_slot, next_slot + months.size)
        next_slot += months.size
        cal.add(months, slots)
        for m, s in zip(months.tolist(), slots.tolist()):
            expected.setdefault(m, []).append(s)
    assert len(cal) == next_slot
    for m in range(21):
        got = cal.pop(m)
        assert sorted(got.tolist()) == sorted(expected.get(m, []))
        assert cal.pop(m).size == 0, "a month is popped once"
    assert len(cal) == 0


def test_calendar_rescheduling_leaves_a_stale_entry():
    """Entries are candidates: the old bucket still yields the slot; the model filters by replace_month."""
    cal = Calendar()
    cal.add(np.array([5]), np.array([7]))
    cal.add(np.array([3]), np.array([7]))
    assert cal.pop(3).tolist() == [7]
    assert cal.pop(5).tolist() == [7]


def test_calendar_empty():
    cal = Calendar()
    cal.add(np.array([], np.int64), np.array([], np.int64))
    assert len(cal) == 0 and cal.pop(0).size == 0


# ---- Population slots -------------------------------------------------------------------------------------------
def test_take_and_release_slots():
    pop = Population.empty(10, 3)
    assert pop.capacity == 10 and pop.n_active() == 0 and pop.n_free == 10
    a = pop.take_slots(4)
    assert a.tolist() == [0, 1, 2, 3]
    assert pop.active[a].all() and pop.n_active() == 4
    assert pop.household[a].tolist() == [0, 1, 2, 3]
    pop.brand[a] = 1
    pop.replace_month[a] = 12
    pop.release(np.array([1, 3]))
    assert pop.n_active() == 2 and not pop.active[[1, 3]].any()
    assert pop.brand[[1, 3]].tolist() == [NO_BRAND, NO_BRAND]
    assert pop.replace_month[[1, 3]].tolist() == [NEVER, NEVER]
    b = pop.take_slots(3)
    # freed slots are reused first, and their newcomers are new households
    assert set(b.tolist()[:2]) == {1, 3}
    assert len(set(b.tolist())) == 3 and not np.isin(b, [0, 2]).any()
    assert pop.household[b].tolist() == [4, 5, 6]
    assert pop.n_active() == 5


def test_capacity_exhausted():
    pop = Population.empty(3, 2)
    pop.take_slots(3)
    with pytest.raises(RuntimeError):
        pop.take_slots(1)


@HYP
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(1, 5)), max_size=30), seed=st.integers(0, 1000))
def test_slots_never_double_booked(ops, seed):
    rng = np.random.default_rng(seed)
    pop = Population.empty(20, 2)
    held: set[int] = set()
    for take, k in ops:
        if take:
            if k > pop.n_free:
                continue
            got = pop.take_slots(k).tolist()
            assert not held & set(got) and len(set(got)) == k
            held |= set(got)
        elif held:
            out = rng.choice(sorted(held), size=min(k, len(held)), replace=False)
            pop.release(out.astype(np.int64))
            held -= set(out.tolist())
        assert pop.n_active() == len(held) == pop.capacity - pop.n_free
        assert set(np.flatnonzero(pop.active).tolist()) == held


# ---- reputation and prestige ------------------------------------------------------------------------------------
def test_follow_moves_only_observed_brands():
    cur = np.array([0.0, 0.5, -0.2])
    out = follow(cur, np.array([1.0, -0.5, 0.8]), np.array([True, False, True]), 10.0)
    np.testing.assert_allclose(out, [0.1, 0.5, -0.1])


@HYP
@given(v=st.floats(-1, 1), t=st.floats(-1, 1), months=st.floats(1.0, 200.0))
def test_move_toward_closes_a_fraction_of_the_gap(v, t, months):
    out = float(move_toward(np.array([v]), np.array([t]), months)[0])
    assert abs(t - out) <= abs(t - v) + 1e-12
    assert min(v, t) - 1e-12 <= out <= max(v, t) + 1e-12


@HYP
@given(init=st.floats(0, 1), share=st.floats(0, 1), ref=st.floats(0, 1), disc=st.floats(0, 0.5),
       dshare=st.floats(0, 0.5), ddisc=st.floats(0, 0.5))
def test_prestige_target_rises_with_share_and_falls_with_discount(init, share, ref, disc, dshare, ddisc):
    def target(s, d):
        return float(prestige_target(np.array([init]), np.array([s]), np.array([ref]), np.array([d]), 0.3, 1.5)[0])

    base = target(share, disc)
    assert 0.0 <= base <= 1.0
    assert target(share + dshare, disc) >= base
    assert target(share, disc + ddisc) <= base


# ---- BrandArrays.from_brands ---------------------------------------------------------------------------------------
def _brand(name, launch, comp, roadside, loaner):
    service = SimpleNamespace(dealer_service_quality=0.7, complimentary_maintenance_months=comp, loaner_cars=loaner,
                              roadside_level=roadside, take_back_guarantee=False, proactive_goodwill=0.1,
                              recall_handling=0.4, complaint_resolution_fast=0.5, complaint_resolution_slow=0.2)
    spec = SimpleNamespace(new_car_margin=0.15, defects_per_car_year=0.6, dealers=200, word_of_mouth=0.5,
                           dealer_capacity=None if loaner else 500.0)
    # what BrandArrays.from_brands reads of a BrandAgent (its price is the agent's ``price``: the model's month,
    # -1, is not the month asked for)
    return SimpleNamespace(name=name, price=30000.0, discount=0.05, prestige=0.4,
                           dealers=200 if loaner else 250, dealer_capacity=np.inf if loaner else 500.0,
                           reputation=0.1, spec=spec, marketing_reach=lambda m: 0.5, model=SimpleNamespace(month=-1),
                           service=service, lines=[None], lines_on_sale=lambda m: np.array([m >= launch]),
                           line_defects=lambda k: 0.6)


def test_brand_arrays_from_brands():
    ba = BrandArrays.from_brands([_brand("A", 0, 36, 2, True), _brand("B", 10, 0, 1, False)], month=5)
    assert ba.n == 2
    assert ba.on_sale.dtype == bool and ba.on_sale.tolist() == [True, False]
    assert ba.roadside_level.dtype == np.int64 and ba.roadside_level.tolist() == [2, 1]
    assert ba.loaner_cars.dtype == bool and ba.loaner_cars.tolist() == [True, False]
    assert ba.complimentary_maintenance_months.tolist() == [36, 0]
    assert ba.word_of_mouth.tolist() == [0.5, 0.5]
    assert ba.awareness_reach.tolist() == [0.5, 0.0]
    assert ba.dealers.tolist() == [200, 250] and ba.new_car_margin.tolist() == [0.15, 0.15]  # the agent's, now
    assert ba.dealer_capacity.tolist() == [np.inf, 500.0]  # no limit: inf
    with pytest.raises(Exception):
        ba.price = np.zeros(2)  # frozen


def test_brand_arrays_fields_are_named_as_the_scenario_or_the_brand_agent_names_them():
    """One name per concept: every field is a field of the scenario's brand section or of its service levers, or
    an attribute or method of ``BrandAgent`` (prestige, reputation, on_sale, awareness_reach ...)."""
    from agents.brand import BrandAgent
    from sim.scenario import Brand, ServiceLevers

    names = set(Brand.model_fields) | set(ServiceLevers.model_fields) | set(dir(BrandAgent))
    brand_agent_attributes = {"price", "discount", "prestige", "reputation"}  # set in BrandAgent.__init__
    unnamed = set(BrandArrays._fields) - names - brand_agent_attributes
    assert not unnamed, f"BrandArrays fields with a name of their own: {sorted(unnamed)}"
    # and each lever of the service policy is there, under its own name
    assert set(ServiceLevers.model_fields) <= set(BrandArrays._fields)
