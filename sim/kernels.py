"""The vectorised engine's month, compiled: the month's service events (drawn and lived in one pass over the
slots), the complaints the brands resolve this month, and the shoppers (each hears their contacts, chooses
and buys).

Read these next to ``agents/buyer.py`` (the per-agent reference engine, the readable specification): each loop
body does for one event or one shopper what ``BuyerAgent.visit_dealer``, ``resolve_complaints`` and ``shop``
(with ``listen_to_friends``) do. Both call the same compiled functions: the formulas of the mechanism modules
(``sim/service.py``, ``sim/satisfaction.py``, ``sim/replacement.py``, ``sim/word_of_mouth.py``, ``sim/choice.py``:
how much) and the rules of ``sim/rules.py`` (what follows an event or a purchase: take-back, complaint and its
resolution, early replacement, story, satisfaction and replacement date of a new car), with the same generator
at the same points. What each engine writes out for itself is the bookkeeping (columns, the complaint queue,
counts for the ledger, the calendar of replacement dates) and the order of work: the kernels visit events
and shoppers phase by phase in slot order, the reference engine household by household; and the events are
drawn here by geometric gaps over the slots. ``tests/test_differential.py`` makes both engines live the same
given events (the GIVEN_PASS of ``service_month``) and checks that every buyer, the complaints and the ledger
come out the same; ``tests/test_engines.py`` compares the two engines' distributions in free runs.

Random numbers come from the model's ``numpy.random.Generator`` streams, passed in as they are (numba draws
with numpy's algorithms from the same bit generator), so a seed gives the same run every time.

Written for speed (each choice measured at 1M buyers): the columns are read into local variables once per
call; formulas and rules called in a loop take numbers rather than named tuples of arrays (numba counts
references to every array handed to a function it does not inline, an atomic operation each time), and a rule
that draws only for some owners is called only for them (its test of who, e.g. ``rules.may_take_back``, asked
first: otherwise the generator is reference-counted at every event); where a slot's data are rarely read, or
scattered, they are prefetched; and a branch whose outcome is a coin toss is written as a select.
"""

from __future__ import annotations

import numpy as np

from sim import rules
from sim.choice import draw_brand_tastes, draw_known, draw_variety_seekers, logit_weights
from sim.jit import jit, prefetch
from sim.lineup import draw_needs
from sim.population import NEVER, NO_BRAND, NO_COMPLAINT, UNRESOLVED, release_slots, take_free_slots
from sim.sampling import geometric_scale, next_slot
from sim.satisfaction import toward, updated
from sim.service import (
    DEFECT_PASS,
    DONE,
    GIVEN_PASS,
    RECALL,
    RECALL_MAX_AGE_MONTHS,
    RECALL_PASS,
    ROUTINE,
    ROUTINE_PASS,
    defect_probability,
    draw_defect_kind,
    draw_experience,
)
from sim.word_of_mouth import hear_contacts


@jit
def service_month(rng, month: int, phase: int, i: int, next_routine: int, next_defect: int, n: int, campaign, means,
                  p_max: float, buyers, ba, line_defects, ep, sp, wp, fade: float, sat_decay, lease_p, holding,
                  warranty_months: int, take_back_cost: float, led, money, complaints, moved,
                  log) -> tuple[int, int, int, int, int, int]:
    """The month's service events, each lived as soon as it is drawn: how it went, the owner's satisfaction,
    and what follows (take-back, complaint, early replacement, a story told).

    The events come in three passes over the slots, each in slot order (``phase``): routine visits, defects,
    recalls. The first two are O(events): each owner has a routine visit with probability
    1 / maintenance_interval_months, and is a defect candidate with probability ``p_max`` (the highest any car
    has: ``sim.service.defect_bound``); the next slot is found by skipping a geometric gap
    (``sim.sampling.next_slot``), and a candidate's defect happens with probability (its car's rate) / p_max
    (thinning). A recall campaign (``campaign``, drawn for the month) covers the young cars of its brand, each
    with probability recall_reach: a month with a campaign looks at every slot. Only the first ``n`` slots are
    looked at (``Population.in_use``: no household has ever lived above).

    Starts from slot ``i`` of pass ``phase``, with ``next_routine`` and ``next_defect`` the next slots of the
    first two passes (ROUTINE_PASS, -1, -1, -1 for a new month), and stops early, between two events, when
    ``moved``, the complaint queue or ``log`` is full. Returns where it stopped (phase, slot, next routine slot,
    next defect candidate), the rows of ``moved`` used ((slot, new replacement month) of owners with a new
    date, for the calendar) and the rows of ``log`` used. The caller makes room and calls again until phase is
    DONE; the draws are the same whatever the buffers' sizes. ``log``, if it has rows, gets (slot, kind) of
    each event (``draw_events``).

    Started in the GIVEN_PASS, the month draws no events: it lives those listed in ``log`` ((slot, kind) rows),
    in order, skipping a slot with no owner, and the rows of ``log`` used are the events done
    (``LuxuryMarketModel.give_events``: a month's events replayed, or the same events lived by both engines).

    ``line_defects`` is each model line's defects per car-year (``sim.lineup.LineArrays``): a car's defect rate is
    its line's. ``means`` is ``sim.service.experience_table``, ``sat_decay`` is ``sim.satisfaction.decay_factors``.
    ``money[kind, brand, covered]`` counts events by whether the visit is free to the owner (complimentary
    maintenance, or a repair under warranty): the caller books the month's events and the number of
    satisfaction readings (``led.events``, ``led.csi_n``) from it (``count_events``), and prices them with
    ``sim.finance.event_money``."""
    # the columns and accumulators, as local variables (cheaper to use in a loop than a named tuple's fields)
    active, brand, purchase_month, sat, sat_month = buyers.active, buyers.brand, buyers.purchase_month, buyers.sat, \
        buyers.sat_month
    complaint, replace_month, leased_col, segment = buyers.complaint, buyers.replace_month, buyers.leased, \
        buyers.segment
    told, told_brand = buyers.told, buyers.told_brand
    csi_sum, stories_told = led.csi_sum, led.stories_told
    complimentary_maintenance_months, take_back_guarantee = ba.complimentary_maintenance_months, \
        ba.take_back_guarantee
    line_col, proactive_goodwill = buyers.line, ba.proactive_goodwill
    complaint_resolution_fast, complaint_resolution_slow = ba.complaint_resolution_fast, \
        ba.complaint_resolution_slow
    q_due, q_slot, q_car, q_brand, q_fast = complaints.due, complaints.slot, complaints.car, \
        complaints.brand, complaints.fast
    n_queued = complaints.n[0]
    routine_scale = geometric_scale(min(1.0, 1.0 / ep.maintenance_interval_months))
    defect_scale = geometric_scale(p_max)
    if next_routine < 0 and phase != GIVEN_PASS:  # a new month: the first slot of each kind
        next_routine = next_slot(rng, -1, n, routine_scale)
        next_defect = next_slot(rng, -1, n, defect_scale)
    any_campaign = campaign.any()
    n_moved = n_logged = 0
    logging = log.shape[0] > 0
    while True:
        if n_moved + 2 > moved.shape[0] or n_queued == q_due.size or (
                logging and phase != GIVEN_PASS and n_logged == log.shape[0]):
            break  # no room for what the next event could need
        # -- the next event: slot i, of kind
        if phase == ROUTINE_PASS:
            i = next_routine
            if i >= n:
                phase, i = DEFECT_PASS, -1
                continue
            next_routine = next_slot(rng, i, n, routine_scale)
            if next_routine < n:  # what an unhappy owner's event reads, which most do not (speed only)
                prefetch(leased_col, next_routine)
                prefetch(replace_month, next_routine)
            b = brand[i]
            if not active[i] or b < 0:
                continue
            kind = ROUTINE
        elif phase == DEFECT_PASS:
            i = next_defect
            if i >= n:
                phase, i = RECALL_PASS, -1
                continue
            next_defect = next_slot(rng, i, n, defect_scale)
            if next_defect < n:
                prefetch(leased_col, next_defect)
                prefetch(replace_month, next_defect)
                prefetch(line_col, next_defect)
            b = brand[i]
            if not active[i] or b < 0 or rng.random() * p_max >= defect_probability(
                    line_defects[line_col[i]], month - purchase_month[i], ep.defect_age_growth):
                continue  # no defect after all (thinning)
            kind = draw_defect_kind(rng, proactive_goodwill[b], ep.breakdown_share)
        elif phase == RECALL_PASS and any_campaign:
            i += 1
            if i >= n:
                phase = DONE
                break
            b = brand[i]
            if not (active[i] and b >= 0 and campaign[b] and month - purchase_month[i] < RECALL_MAX_AGE_MONTHS
                    and rng.random() < ep.recall_reach):
                continue
            kind = RECALL
        elif phase == GIVEN_PASS:  # the events listed in ``log``, in order, rather than drawn
            if n_logged == log.shape[0]:
                phase = DONE
                break
            i, kind = log[n_logged, 0], log[n_logged, 1]
            b = brand[i]
            if not active[i] or b < 0:
                n_logged += 1
                continue
        else:
            phase = DONE
            break
        # -- the event
        if logging:
            log[n_logged, 0], log[n_logged, 1] = i, kind
            n_logged += 1
        age = month - purchase_month[i]
        # (no branches where the outcome is a coin toss)
        free = (kind == ROUTINE) & (age < complimentary_maintenance_months[b])
        x = draw_experience(rng, means[b, kind, 1 if free else 0], ep.noise)
        covered = free if kind == ROUTINE else age < warranty_months
        money[kind, b, 1 if covered else 0] += 1

        s = toward(sp.baseline, sat[i], sat_decay[month - sat_month[i]])
        s = updated(s, x, sp.learning_rate, sp.loss_aversion)
        # what follows (sim/rules.py): a take-back, or else perhaps a complaint; an early replacement; a story.
        # (A rule that draws only for some owners is called only for them: see sim/rules.py.)
        taken = False
        if rules.may_take_back(s, take_back_guarantee[b], sp.take_back_below):
            taken, s = rules.take_back(rng, s, take_back_guarantee[b], sp.take_back_below, sp.take_back_probability,
                                       sp.take_back_satisfaction)
        if taken:
            leased_col[i], due = rules.new_car(rng, month, lease_p[segment[i]], holding)
            purchase_month[i], replace_month[i] = month, due
            moved[n_moved, 0], moved[n_moved, 1] = i, due
            n_moved += 1
            complaint[i] = NO_COMPLAINT
            led.take_backs[month, b] += 1
            led.service_cost[month, b] += take_back_cost
        elif rules.complains(s, sp.complaint_below):
            led.complaints[month, b] += 1
            complaint[i] = UNRESOLVED
            delay, fast = rules.complaint_resolution(rng, complaint_resolution_fast[b], complaint_resolution_slow[b])
            if delay > 0:  # (a complaint never resolved is not queued)
                q_due[n_queued], q_slot[n_queued], q_car[n_queued] = month + delay, i, purchase_month[i]
                q_brand[n_queued], q_fast[n_queued] = b, fast
                n_queued += 1
        if rules.may_replace_early(s, sp.early_replace_below):  # (and only then are their lease and date read)
            due = rules.replace_early(rng, month, s, leased_col[i], replace_month[i], sp.early_replace_below,
                                      sp.early_replace_probability)
            if due != replace_month[i]:
                replace_month[i] = due
                moved[n_moved, 0], moved[n_moved, 1] = i, due
                n_moved += 1
        sat[i] = s
        sat_month[i] = month
        csi_sum[month, b] += s
        told[i], told_brand[i], notable = rules.tell_story(told[i], told_brand[i], b, x, fade, wp.tell_above,
                                                           wp.strength, wp.negativity)
        stories_told[month, b] += notable
    complaints.n[0] = n_queued
    return phase, i, next_routine, next_defect, n_moved, n_logged


def count_events(led, month: int, money: np.ndarray) -> None:
    """Books the month's events counted by ``service_month`` (``money[kind, brand, covered]``) in the ledger:
    events by brand and kind, and one satisfaction reading (``csi_n``) per event."""
    led.events[month] += money.sum(axis=2).T
    led.csi_n[month] += money.sum(axis=(0, 2))


def draw_events(rng: np.random.Generator, active: np.ndarray, brand: np.ndarray, purchase_month: np.ndarray,
                month: int, ba, p) -> list:
    """The service events ``service_month`` draws in ``month`` for owners with these ``active``, ``brand`` and
    ``purchase_month`` arrays (``p``: the scenario's ``[service_events]``), one ``sim.service.Events`` per kind,
    slots in the order drawn: to inspect and test the sampling. The events are lived on copies with default
    satisfaction and word-of-mouth parameters (what follows from them is thrown away)."""
    from sim.metrics import Ledger
    from sim.population import Complaints, Population
    from sim.replacement import Holding
    from sim.satisfaction import SatisfactionParams, decay_factors
    from sim.scenario import Satisfaction, WordOfMouth
    from sim.service import EVENT_KINDS, EventParams, Events, defect_bound, draw_campaigns, experience_table
    from sim.word_of_mouth import WomParams

    n, month = len(active), int(month)
    pop = Population.empty(n, ba.n)
    pop.active[:], pop.brand[:], pop.purchase_month[:] = active, brand, purchase_month
    pop.line[:] = brand  # one line per brand, its defect rate the brand's
    ep = EventParams.of(p)
    led = Ledger(month + 1, ba.n)
    complaints = Complaints()
    log = np.empty((max(1024, n // 4), 2), dtype=np.int64)
    moved = np.empty((1024, 2), dtype=np.int64)
    campaign = draw_campaigns(rng, ba.on_sale, ep)
    means, p_max = experience_table(ba, ep), defect_bound(ba.defects_per_car_year, ep)
    phase, slot, next_routine, next_defect, rows = ROUTINE_PASS, -1, -1, -1, []
    while phase != DONE:
        phase, slot, next_routine, next_defect, _, n_logged = service_month(
            rng, month, phase, slot, next_routine, next_defect, n, campaign, means, p_max, pop.columns(), ba,
            ba.defects_per_car_year, ep, SatisfactionParams.of(Satisfaction()), WomParams.of(WordOfMouth()), 1.0,
            decay_factors(month, 50.0),
            np.full(8, 0.5), Holding.from_values((24, 36), 54.0, 3.0), 48, 0.0, led.arrays,
            np.zeros((len(EVENT_KINDS), ba.n, 2)), complaints.arrays, moved, log)
        rows.append(log[:n_logged].copy())
        complaints.reserve(1)
    events = np.concatenate(rows)
    return [Events(kind, events[events[:, 1] == kind, 0]) for kind in range(len(EVENT_KINDS))]


@jit
def resolve_complaints(month: int, complaints, buyers, sp, sat_decay, complaint_cost: float, led) -> None:
    """The brands resolve the complaints due this month (if the owner still has the car complained about):
    satisfaction is restored by ``recovery_fast`` or ``recovery_slow``. A resolved entry is marked (due -1) and
    the queue is compacted, in order, once most of it is marked."""
    due, slot, car, brand, fast = complaints.due, complaints.slot, complaints.car, complaints.brand, \
        complaints.fast
    active, bought, owned, sat, sat_month, complaint = buyers.active, buyers.purchase_month, buyers.brand, buyers.sat, \
        buyers.sat_month, buyers.complaint
    complaints_recovered, service_cost = led.complaints_recovered, led.service_cost
    n = complaints.n[0]
    done = 0
    for k in range(n):
        if due[k] != month:
            done += due[k] < 0
            continue
        due[k] = -1
        done += 1
        i, b = slot[k], brand[k]
        if not rules.complaint_applies(active[i], owned[i], bought[i], b, car[k]):
            continue  # the owner has moved on (or the slot is another household's)
        s = toward(sp.baseline, sat[i], sat_decay[month - sat_month[i]])
        sat[i], complaint[i] = rules.resolve(s, fast[k], sp.recovery_fast, sp.recovery_slow)
        sat_month[i] = month
        complaints_recovered[month, b] += 1
        service_cost[month, b] += complaint_cost
    if 2 * done > n:
        kept = 0
        for k in range(n):
            if due[k] >= 0:
                due[kept], slot[kept], car[kept], brand[kept], fast[kept] = due[k], slot[k], car[k], brand[k], fast[k]
                kept += 1
        complaints.n[0] = kept


AHEAD = 4  # shoppers: how far ahead the shopping pass asks for memory (in three steps of AHEAD)


@jit
def shop(rng, shoppers, check_due: bool, may_leave: bool, month: int, buyers, indptr, local, community_size: int, ba,
         fade: float,
         see_probability: float, offer, need_change: float, life_event_exit: float, service_weight, outside_utility, cp,
         sp, sat_decay, lease_p, holding, led, fleet, stock, leavers, moved) -> tuple[int, int]:
    """Each shopper in turn (``BuyerAgent.shop``): hears their contacts (word of mouth: what they say about each
    brand, and the brands of their stories and cars: ``sim.word_of_mouth.hear_contacts``), decides which brands
    they consider, and chooses one (or, if ``may_leave``, leaves the segment); buyers get their new car. A replacing
    owner may leave at a life event first (``rules.leaves_at_life_event``, probability ``life_event_exit``); their
    need may change (``rules.redraw_need``), and an owner may seek variety (``rules.seeks_variety``); a buyer
    takes a line of the brand chosen (``rules.draw_line``) from the month's ``offer`` (``sim.choice.Offer``), if
    the brand has cars left in its month's ``stock`` (``rules.choose_in_stock``, ``sim.supply``). With
    ``check_due`` the shoppers are calendar entries: a slot whose replacement date is not this month (any more)
    is skipped, so a slot listed twice shops once (shopping moves the date on). Returns how many left the
    segment (their slots are the first entries of ``leavers``: the caller frees them) and how many bought
    ((slot, replacement month) in the first rows of ``moved``, for the calendar). ``outside_utility`` is each
    segment's utility of leaving it."""
    # the columns and accumulators, as local variables (cheaper to use in a loop than a named tuple's fields)
    active, brand, segment, aware_col, sat, sat_month = buyers.active, buyers.brand, buyers.segment, buyers.aware, \
        buyers.sat, buyers.sat_month
    complaint, replace_month, told, told_brand = buyers.complaint, buyers.replace_month, buyers.told, \
        buyers.told_brand
    leased_col, purchase_month, need_col, line_col = buyers.leased, buyers.purchase_month, buyers.need, buyers.line
    seeker_col, taste_col = buyers.variety_seeker, buyers.brand_taste
    word_of_mouth, awareness_reach, on_sale = ba.word_of_mouth, ba.awareness_reach, ba.on_sale
    switching, rebuy, leased_sales, line_sales = led.switching, led.rebuy, led.leased_sales, led.line_sales
    values, value_logit_weights, line_cdf, brand_lines, line_count, need_cdf, value_offset = offer
    nb = on_sale.size
    w = np.empty(nb + 1)
    u = np.empty(nb + 1)
    heard = np.empty(nb)
    n_left = n_moved = 0
    n = shoppers.size
    for p in range(n):
        # Shoppers are scattered over memory: ask for what later iterations will read (speed only).
        if p + 3 * AHEAD < n:
            prefetch(indptr, shoppers[p + 3 * AHEAD])
        if p + 2 * AHEAD < n:
            j = shoppers[p + 2 * AHEAD]
            prefetch(local, indptr[j])
            prefetch(active, j)
            prefetch(brand, j)
            prefetch(replace_month, j)
            prefetch(aware_col, j)
            prefetch(sat, j)
            prefetch(sat_month, j)
            prefetch(segment, j)
            prefetch(need_col, j)
            prefetch(seeker_col, j)
            prefetch(taste_col[j], 0)
            prefetch(complaint, j)
        if p + AHEAD < n:
            j = shoppers[p + AHEAD]
            base = (j // community_size) * community_size
            for k in range(indptr[j], indptr[j + 1]):
                c = base + np.int64(local[k])
                prefetch(told_brand, c)
                prefetch(told, c)
                prefetch(brand, c)

        i = shoppers[p]
        if check_due and not rules.due_to_shop(active[i], replace_month[i], month):
            continue
        current, g = brand[i], segment[i]
        heard[:] = 0.0
        aware = hear_contacts(rng, i, indptr, local, community_size, told, told_brand, brand, word_of_mouth, fade,
                              see_probability, aware_col[i], heard)
        aware = draw_known(rng, aware, awareness_reach, current)
        aware_col[i] = aware
        own_sat = toward(sp.baseline, sat[i], sat_decay[month - sat_month[i]])
        need = need_col[i]
        if may_leave and rules.leaves_at_life_event(rng, current >= 0, life_event_exit):
            pick = nb  # a life event takes the household out of the segment, whatever the brands offer
        else:
            if current >= 0:  # replacing a car: the household's need and tastes may have changed (life events)
                need = rules.redraw_need(rng, need, need_change, need_cdf)
                need_col[i] = need
                rules.renew_tastes(rng, taste_col[i], cp.brand_taste_persistence, cp.brand_taste_sd)
            seeks = rules.seeks_variety(rng, current >= 0, cp.variety_seeking, seeker_col[i])
            loyal = NO_BRAND if seeks else current
            # nested logit among the brands known and on sale, and leaving: weights exp(utility - the largest)
            total = logit_weights(w, u, values[g, need], value_logit_weights[g, need], value_offset[g, need],
                                  taste_col[i], service_weight[g], heard, aware, on_sale, loyal, own_sat,
                                  complaint[i] == UNRESOLVED, outside_utility[g] if may_leave else -np.inf, cp)
            pick = rules.choose_in_stock(rng, u, w, total, stock)

        switching[month, current if current >= 0 else nb, pick] += 1
        if current >= 0:
            rebuy[month, complaint[i], 1 if pick == current else 0] += 1
            fleet[current] -= 1
        if pick == nb:  # leaves the luxury segment
            active[i], brand[i], replace_month[i] = False, NO_BRAND, NEVER
            leavers[n_left] = i
            n_left += 1
            continue
        fleet[pick] += 1
        brand[i] = pick
        line = rules.draw_line(rng, line_cdf, g, need, pick, brand_lines, line_count)
        line_col[i] = line
        line_sales[month, line] += 1
        complaint[i] = NO_COMPLAINT
        sat[i] = rules.satisfaction_after_purchase(own_sat, pick == current, sp.new_car, sp.repurchase_carryover)
        sat_month[i] = month
        leased, due = rules.new_car(rng, month, lease_p[g], holding)
        leased_col[i], purchase_month[i], replace_month[i] = leased, month, due
        moved[n_moved, 0], moved[n_moved, 1] = i, due
        n_moved += 1
        leased_sales[month, pick] += leased
    return n_left, n_moved


@jit
def admit_entrants(rng, n_new: int, buyers, free, n_free: int, next_household: int, entrant_cdf, need_cdf,
                   variety_seekers: float, brand_taste_sd: float):
    """``n_new`` households enter the segment (``n_new <= n_free``), into the slots on top of the free stack
    (``sim.population.take_free_slots``; the caller counts them taken, ``Population.took``): their segment drawn by
    entrant share (``entrant_cdf``, cumulative), no car, no brand known and no stories, a need drawn from the
    month's ``need_cdf`` (``sim.lineup.draw_needs``), whether they seek variety
    (``sim.choice.draw_variety_seekers``) and their brand tastes (``sim.choice.draw_brand_tastes``), in that order,
    each for all of them at once. Returns their slots (int64). Both engines admit entrants with it."""
    slots = take_free_slots(free, n_free, n_new, buyers.active, buyers.household, next_household)
    segment = np.minimum(np.searchsorted(entrant_cdf, rng.random(n_new), side="right"), entrant_cdf.size - 1)
    need = draw_needs(rng, n_new, need_cdf)
    seeker = draw_variety_seekers(rng, n_new, variety_seekers)
    taste = draw_brand_tastes(rng, n_new, buyers.brand_taste.shape[1], brand_taste_sd)
    for j in range(n_new):
        i = slots[j]
        buyers.segment[i] = segment[j]
        buyers.brand[i] = NO_BRAND
        buyers.aware[i] = 0
        buyers.told[i] = 0.0
        buyers.told_brand[i] = NO_BRAND
        buyers.need[i] = need[j]
        buyers.variety_seeker[i] = seeker[j]
        buyers.brand_taste[i, :] = taste[j]
    return slots


@jit
def market_month(rng, due, target: int, free, n_free: int, next_household: int, entrant_cdf, variety_seekers: float,
                 brand_taste_sd: float, month: int, buyers, indptr, local, community_size: int, ba, fade: float,
                 see_probability: float, offer, need_change: float, life_event_exit: float, service_weight,
                 outside_utility, cp, sp, sat_decay, lease_p, holding, led, fleet, stock, leavers, moved):
    """The month's market in one compiled call (``LuxuryMarketModel._market_month``): the owners ``due`` (calendar
    entries, in slot order) shop or leave (``shop``), the leavers' slots are freed in the order they left
    (``sim.population.release_slots``), then new households enter so that the segment reaches ``target``
    households (no more than the free slots; ``admit_entrants``) and shop (they leave only if nothing is on sale).
    The same draws from ``rng``, in the same order, as ``shop``, ``admit_entrants`` and ``shop`` called one after
    the other.

    ``moved`` and ``leavers`` need a row per owner due and per entrant. Returns the rows of ``moved`` used ((slot,
    replacement month) of each buyer, for the calendar), the free slots counted before the entrants take theirs
    (``Population.n_free``, then ``Population.took`` for the entrants), and the entrants' slots."""
    n_left, n_moved = shop(rng, due, True, True, month, buyers, indptr, local, community_size, ba, fade,
                           see_probability, offer, need_change, life_event_exit, service_weight, outside_utility, cp,
                           sp, sat_decay, lease_p, holding, led, fleet, stock, leavers, moved)
    n_free = release_slots(leavers[:n_left], buyers, free, n_free)
    n_new = min(target - np.count_nonzero(buyers.active), n_free)
    if n_new <= 0:
        return n_moved, n_free, np.empty(0, dtype=np.int64)
    entrants = admit_entrants(rng, n_new, buyers, free, n_free, next_household, entrant_cdf, offer.need_cdf,
                              variety_seekers, brand_taste_sd)
    n_gone, n_bought = shop(rng, entrants, False, False, month, buyers, indptr, local, community_size, ba, fade,
                            see_probability, offer, need_change, life_event_exit, service_weight, outside_utility, cp,
                            sp, sat_decay, lease_p, holding, led, fleet, stock, leavers, moved[n_moved:])
    # an entrant leaves only when no brand is on sale at all (a market with nothing to buy): its slot is freed again,
    # on top of the stack the entrants were taken from (n_free - n_new), as the caller's count will have it
    n_free = release_slots(leavers[:n_gone], buyers, free, n_free - n_new) + n_new
    return n_moved + n_bought, n_free, entrants
