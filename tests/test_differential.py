"""The two engines live the same month the same way: a differential test.

The vectorised engine (``sim/kernels.py``) and the per-agent reference engine (``agents/buyer.py``) share their
formulas and rules (``sim/rules.py``), but each writes out what follows an event or a purchase in its own
bookkeeping, and they draw their events differently (geometric gaps over the slots against a draw per
household), so a free run of each cannot be compared buyer by buyer (``tests/test_engines.py`` compares
their distributions). Here both are given the same events: twin models (same scenario, same seed, hence the
same population, network and random streams) are each given the same list of service events for the month
(``LuxuryMarketModel.give_events``), so both live the month in the same phases with the same generators:
the events, the complaints due, the owners due to shop in slot order, the entrants. After every month, every
column of the population (including the stack of free slots), the complaints pending, the ledger, the fleet
and the brands' reputation and prestige must be the same: exactly, except money, which the vectorised
engine books by counts times unit amounts and the reference engine event by event (to 1e-9).

Any rule changed in one engine only (a constant, a threshold, the order of two draws, a forgotten ledger
entry) changes some buyer's state or a count, and the test fails at the first month it shows, naming the
column and the slots. The scenario switches the take-back guarantee on for brands on sale at the start and the
events are frequent and harsh, so that every rule is exercised (checked at the end).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import rules
from sim.model import LuxuryMarketModel
from sim.population import Population
from sim.service import EventKind
from tests.conftest import small_flagship

# monthly chance of each kind of event per owner: far above the flagship's, so that a small population
# meets every rule within a couple of years
EVENT_RATES = {EventKind.ROUTINE: 0.3, EventKind.REPAIR: 0.15, EventKind.GOODWILL: 0.05, EventKind.BREAKDOWN: 0.15,
               EventKind.RECALL: 0.05}
OVERRIDES = [f"brands.{b}.service.take_back_guarantee=true" for b in ("Cadillac", "Lincoln", "BMW")] + [
    # needs that change often, with many SUV-needers, and owners who seek variety: the choice rules all draw
    "market.body_type_mix=[{year=1986, sedan=0.5, coupe=0.2, suv=0.3}]", "market.need_change=0.4",
    "choice.variety_seeking=0.3", "choice.variety_seekers=0.3",
    # owners who leave the segment at a life event, whatever the brands offer; an unresolved complaint ends the habit
    "market.life_event_exit=0.1", "choice.unresolved_inertia=0.2",
    # persistent brand tastes, and a brand that sells out its monthly allocation (Cadillac: 240k cars a year)
    "choice.brand_taste_sd=0.8", "brands.Cadillac.dealer_capacity=150"]
MONEY = ("service_revenue", "service_cost", "new_car_margin")


def twins(seed: int, buyers: int, years: int = 3) -> tuple[LuxuryMarketModel, LuxuryMarketModel]:
    scenario = small_flagship(years=years, buyers=buyers, overrides=OVERRIDES)
    return (LuxuryMarketModel(scenario, seed=seed, buyers=buyers, engine="vectorised"),
            LuxuryMarketModel(scenario, seed=seed, buyers=buyers, engine="agents"))


def month_of_events(rng: np.random.Generator, pop: Population) -> np.ndarray:
    """(slot, kind) rows in the order the vectorised engine lives a month's events: routine visits, then defects
    (of mixed kinds), then recalls, each in slot order; plus a few for slots with no owner (to be skipped)."""
    owners = np.flatnonzero(pop.active[:pop.in_use] & (pop.brand[:pop.in_use] >= 0))
    defect_kinds = np.array([EventKind.REPAIR, EventKind.GOODWILL, EventKind.BREAKDOWN])
    p_defect = np.array([EVENT_RATES[k] for k in defect_kinds])
    routine = owners[rng.random(owners.size) < EVENT_RATES[EventKind.ROUTINE]]
    defect = owners[rng.random(owners.size) < p_defect.sum()]
    kinds = defect_kinds[rng.choice(3, size=defect.size, p=p_defect / p_defect.sum())]
    recall = owners[rng.random(owners.size) < EVENT_RATES[EventKind.RECALL]]
    nobody = rng.choice(np.flatnonzero(~pop.active), size=min(3, int((~pop.active).sum())), replace=False)
    return np.concatenate([np.column_stack([routine, np.full(routine.size, EventKind.ROUTINE)]),
                           np.column_stack([defect, kinds]),
                           np.column_stack([np.sort(nobody), np.full(nobody.size, EventKind.REPAIR)]),
                           np.column_stack([recall, np.full(recall.size, EventKind.RECALL)])]).astype(np.int64)


def pending_complaints(model: LuxuryMarketModel) -> set[tuple[int, int, int, int, bool]]:
    """The complaints still to be resolved that concern the car the household in their slot has:
    (month due, slot, brand, purchase month of the car, resolved fast). (Each engine may also keep complaints
    about cars since replaced, which are skipped when due: ``sim.rules.complaint_applies``.)"""
    pop, m = model.pop, model.month
    if model.engine == "vectorised":
        q = model.complaints.arrays
        entries = [(int(q.due[k]), int(q.slot[k]), int(q.brand[k]), int(q.car[k]), bool(q.fast[k]))
                   for k in range(int(q.n[0])) if q.due[k] > m]
    else:
        from agents.buyer import BuyerAgent

        entries = [(due, view.slot, brand, car, bool(fast)) for view in model.agents_by_type[BuyerAgent]
                   for due, brand, fast, car in view.pending_complaints if due > m]
    return {e for e in entries
            if rules.complaint_applies(bool(pop.active[e[1]]), int(pop.brand[e[1]]), int(pop.purchase_month[e[1]]),
                                       e[2], e[3])}


def assert_same_state(v: LuxuryMarketModel, a: LuxuryMarketModel) -> None:
    """Every buyer column, the free slots, the complaints pending, the ledger, the fleet, the brands."""
    m = v.month
    for field in dataclasses.fields(Population):
        x, y = getattr(v.pop, field.name), getattr(a.pop, field.name)
        if field.name == "free":  # the stack of free slots: only its used part means anything
            x, y = x[:v.pop.n_free], y[:a.pop.n_free]
        if isinstance(x, np.ndarray):
            differ = np.flatnonzero(x != y)
            assert differ.size == 0, (f"month {m}: population column {field.name!r} differs at slots "
                                      f"{differ[:8].tolist()}: vectorised {x[differ[:8]].tolist()}, "
                                      f"agents {y[differ[:8]].tolist()}")
        else:
            assert x == y, f"month {m}: population {field.name!r}: vectorised {x}, agents {y}"
    assert pending_complaints(v) == pending_complaints(a), f"month {m}: pending complaints differ"
    for name, x in vars(v.ledger).items():
        if isinstance(x, np.ndarray):
            y = getattr(a.ledger, name)
            if name in MONEY:
                np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-6, err_msg=f"month {m}: ledger {name}")
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"month {m}: ledger {name}")
    np.testing.assert_array_equal(v.fleet, a.fleet, err_msg=f"month {m}: fleet")
    assert (v.entries, v.exits) == (a.entries, a.exits), f"month {m}: entries, exits"
    for bv, ba in zip(v.brands, a.brands):
        assert (bv.reputation, bv.prestige) == (ba.reputation, ba.prestige), f"month {m}: brand {bv.name}"


def live_the_same_months(seed: int, buyers: int, months: int) -> tuple[LuxuryMarketModel, dict[str, int]]:
    """Twins live ``months`` months of the same events; their states are compared after each. Returns the
    vectorised twin and how often the rules that leave no count in the ledger came into play."""
    v, a = twins(seed, buyers)
    assert_same_state(v, a)  # the same start
    events_rng = np.random.default_rng(seed)
    seen = {"early_replacements": 0, "stayed": 0, "need_changes": 0}
    for _ in range(months):
        events = month_of_events(events_rng, v.pop)
        before, need_before = v.pop.replace_month.copy(), v.pop.need.copy()
        v.give_events(events)
        a.give_events(events)
        v.step()
        a.step()
        assert_same_state(v, a)
        m, pop = v.month, v.pop
        kept = pop.active & (pop.purchase_month != m)  # kept their car this month ...
        seen["early_replacements"] += int((kept & (pop.replace_month < before)).sum())  # ... due earlier now
        nb = len(v.brands)
        seen["stayed"] += int(np.trace(v.ledger.switching[m, :nb, :nb]))
        seen["need_changes"] += int((pop.active & (pop.need != need_before)).sum())
    return v, seen


def test_both_engines_make_the_same_months_of_the_same_events():
    v, seen = live_the_same_months(seed=11, buyers=400, months=24)
    led, nb = v.ledger, len(v.brands)
    # every rule came into play (else the comparison would prove little)
    assert led.take_backs.sum() > 0 and led.complaints.sum() > 0 and led.complaints_recovered.sum() > 0
    assert led.stories_told.sum() > 0 and seen["early_replacements"] > 0 and seen["stayed"] > 0
    assert seen["need_changes"] > 0
    assert led.rebuy[:, 1:3].sum() > 0  # owners shopping after a complaint was resolved
    assert led.switching[:, :nb, nb].sum() > 0 and led.switching[:, nb, :nb].sum() > 0  # leavers, entrants
    assert (led.switching[:, :nb, :nb].sum() - np.trace(led.switching[:, :nb, :nb], axis1=1, axis2=2).sum()) > 0


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**20), buyers=st.integers(100, 300))
def test_both_engines_agree_for_any_seed_and_size(seed, buyers):
    live_the_same_months(seed, buyers, months=10)


def test_given_events_are_checked():
    v, _ = twins(1, 100)
    with pytest.raises(ValueError):
        v.give_events([[0, 7]])
    with pytest.raises(ValueError):
        v.give_events([[v.pop.capacity, 0]])
