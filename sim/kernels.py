"""The vectorised engine's month, compiled: a pass over the month's service events, one over the complaints
the brands resolve this month, and two over the shoppers (word of mouth, then choice).

Read these next to ``agents/buyer.py`` (the per-agent reference engine, which is the specification): each
loop body does for one event or one shopper what ``BuyerAgent.visit_dealer``, ``resolve_complaints`` and
``shop`` (with ``listen_to_friends``) do, calling the same compiled formulas from the mechanism modules (``sim/service.py``,
``sim/satisfaction.py``, ``sim/replacement.py``, ``sim/word_of_mouth.py``, ``sim/choice.py``). Only the
bookkeeping differs: the kernels visit events and shoppers in slot order rather than household by household,
and skip a random draw where its outcome cannot matter (a brand already known needs no "is it seen" draw).

Random numbers come from the model's ``numpy.random.Generator`` streams, passed in as they are (numba draws
with numpy's algorithms from the same bit generator), so a seed gives the same run every time.
"""

from __future__ import annotations

import numpy as np

from sim.choice import draw_choice, draw_known, utility
from sim.jit import formula, jit, prefetch
from sim.population import LAST_MONTH, NEVER, NO_BRAND, NO_COMPLAINT, RESOLVED_FAST, RESOLVED_SLOW, UNRESOLVED
from sim.replacement import draw_early_replacement, draw_new_car
from sim.satisfaction import decayed, draw_resolution_delay, updated
from sim.service import ROUTINE, draw_experience, experience_mean
from sim.word_of_mouth import hear_contacts, story_value, tell


@formula
def give_car(buyers, i: int, month: int, leased: bool, months_kept: int, moved, n_moved: int) -> int:
    """Buyer ``i`` gets a new car in ``month`` (leased or not), to be replaced ``months_kept`` months later.
    The new replacement date goes to ``moved[n_moved]`` (for the calendar); returns ``n_moved + 1``."""
    buyers.leased[i] = leased
    buyers.purchase_month[i] = month
    due = min(month + months_kept, LAST_MONTH)
    buyers.replace_month[i] = due
    moved[n_moved, 0], moved[n_moved, 1] = i, due
    return n_moved + 1


@jit
def service_events(rng, slots, kinds, month: int, buyers, ba, ep, sp, wp, fade: float, lease_p, holding,
                   warranty_months: int, take_back_cost: float, led, money, complaints, moved) -> int:
    """Each service event in turn (``slots[e]`` has an event of ``kinds[e]``): how it went, the owner's
    satisfaction, and what follows (take-back, complaint, early replacement, a story told). Returns how many
    owners got a new replacement date; (slot, month) of each are the first rows of ``moved`` (for the calendar).

    ``money[kind, brand, covered]`` counts events by whether the visit is free to the owner (complimentary
    maintenance, or a repair under warranty); the model prices them with ``sim.finance.event_money``."""
    n_moved = 0
    for e in range(slots.size):
        i, kind = slots[e], kinds[e]
        b = buyers.brand[i]
        age = month - buyers.purchase_month[i]
        x = draw_experience(rng, experience_mean(kind, b, age, ba, ep), ep.noise)
        led.events[month, b, kind] += 1
        covered = age < ba.comp_months[b] if kind == ROUTINE else age < warranty_months
        money[kind, b, 1 if covered else 0] += 1

        s = decayed(buyers.sat[i], month - buyers.sat_month[i], sp.baseline, sp.decay_months)
        s = updated(s, x, sp.learning_rate, sp.loss_aversion)
        if ba.take_back[b] and s < sp.take_back_below and rng.random() < sp.take_back_probability:
            s = sp.take_back_satisfaction  # empowered staff take the car back and replace it
            leased, months_kept = draw_new_car(rng, lease_p[buyers.segment[i]], holding)
            n_moved = give_car(buyers, i, month, leased, months_kept, moved, n_moved)
            buyers.complaint[i] = NO_COMPLAINT
            led.take_backs[month, b] += 1
            led.service_cost[month, b] += take_back_cost
        elif s < sp.complaint_below:  # a complaint: resolved within 90 days, in 90-180 days, or never
            led.complaints[month, b] += 1
            buyers.complaint[i] = UNRESOLVED
            delay = draw_resolution_delay(rng, ba.resolve_fast[b], ba.resolve_slow[b])
            if delay > 0:
                k = complaints.n[0]
                complaints.due[k], complaints.slot[k], complaints.household[k] = month + delay, i, buyers.household[i]
                complaints.brand[k], complaints.fast[k] = b, delay <= 3
                complaints.n[0] = k + 1
        if s < sp.early_replace_below:  # only unhappy owners consider replacing early (tested here: faster)
            early = draw_early_replacement(rng, s, buyers.leased[i], sp.early_replace_below,
                                           sp.early_replace_probability)
            if early > 0 and month + early < buyers.replace_month[i]:
                buyers.replace_month[i] = month + early
                moved[n_moved, 0], moved[n_moved, 1] = i, month + early
                n_moved += 1
        buyers.sat[i] = s
        buyers.sat_month[i] = month
        led.csi_sum[month, b] += s
        led.csi_n[month, b] += 1
        if abs(x) > wp.tell_above:  # a notable experience becomes a story friends hear when they shop
            tell(buyers.told, buyers.told_brand, i, b, np.float32(story_value(x, wp.strength, wp.negativity) * fade))
            led.told[month, b] += 1
    return n_moved


@jit
def resolve_complaints(month: int, complaints, buyers, sp, complaint_cost: float, led) -> None:
    """The brands resolve the complaints due this month (if the household still owns the brand's car):
    satisfaction is restored by ``recovery_fast`` or ``recovery_slow``. Resolved entries leave the queue."""
    q = complaints
    kept = 0
    for k in range(q.n[0]):
        if q.due[k] != month:
            q.due[kept], q.slot[kept], q.household[kept] = q.due[k], q.slot[k], q.household[k]
            q.brand[kept], q.fast[kept] = q.brand[k], q.fast[k]
            kept += 1
            continue
        i, b = q.slot[k], q.brand[k]
        if not buyers.active[i] or buyers.household[i] != q.household[k] or buyers.brand[i] != b:
            continue  # the owner has moved on
        s = decayed(buyers.sat[i], month - buyers.sat_month[i], sp.baseline, sp.decay_months)
        buyers.sat[i] = min(s + (sp.recovery_fast if q.fast[k] else sp.recovery_slow), 1.0)
        buyers.sat_month[i] = month
        buyers.complaint[i] = RESOLVED_FAST if q.fast[k] else RESOLVED_SLOW
        led.recovered[month, b] += 1
        led.service_cost[month, b] += complaint_cost
    q.n[0] = kept


AHEAD = 4  # shoppers: how far ahead ``prefetch_shopper`` asks for memory (in three steps of AHEAD)


@formula
def prefetch_shopper(shoppers, p: int, buyers, indptr, indices) -> None:
    """Start loading, for the shoppers ahead of shopper ``p``, what ``shop`` will read about them: where their
    contacts are listed, their own data, then their contacts' stories and cars. (Speed only: shoppers are
    scattered over memory and each of these loads would otherwise be a wait.)"""
    n = shoppers.size
    if p + 3 * AHEAD < n:
        prefetch(indptr, shoppers[p + 3 * AHEAD])
    if p + 2 * AHEAD < n:
        i = shoppers[p + 2 * AHEAD]
        prefetch(indices, indptr[i])
        prefetch(buyers.replace_month, i)
        prefetch(buyers.aware, i)
        prefetch(buyers.sat, i)
        prefetch(buyers.sat_month, i)
        prefetch(buyers.segment, i)
        prefetch(buyers.complaint, i)
    if p + AHEAD < n:
        i = shoppers[p + AHEAD]
        for k in range(indptr[i], indptr[i + 1]):
            c = indices[k]
            prefetch(buyers.told_brand, c)
            prefetch(buyers.told, c)
            prefetch(buyers.brand, c)


@jit
def shop(rng, shoppers, check_due: bool, may_leave: bool, month: int, buyers, indptr, indices, ba, fade: float,
         see_probability: float, values, service_w, outside, cp, sp, lease_p, holding, led, fleet, leavers,
         moved) -> tuple[int, int]:
    """Each shopper in turn (``BuyerAgent.shop``): hears their contacts (word of mouth: what they say about each
    brand, and the brands of their stories and cars), decides which brands they consider, and chooses one (or,
    if ``may_leave``, leaves the segment); buyers get their new car. With ``check_due`` the shoppers are
    calendar entries: a slot whose replacement date is not this month (any more) is skipped, so a slot listed
    twice shops once (shopping moves the date on). Returns how many left the segment (their slots are the
    first entries of ``leavers``: the caller frees them) and how many bought ((slot, replacement month) in the
    first rows of ``moved``, for the calendar)."""
    nb = ba.on_sale.size
    u = np.empty(nb + 1)
    heard = np.empty(nb)
    n_left = n_moved = 0
    for p in range(shoppers.size):
        prefetch_shopper(shoppers, p, buyers, indptr, indices)
        i = shoppers[p]
        if check_due and (not buyers.active[i] or buyers.replace_month[i] != month):
            continue
        current, g = buyers.brand[i], buyers.segment[i]
        heard[:] = 0.0
        aware = hear_contacts(rng, i, indptr, indices, buyers.told, buyers.told_brand, buyers.brand,
                              ba.word_of_mouth, fade, see_probability, buyers.aware[i], heard)
        aware = draw_known(rng, aware, ba.reach, current)
        buyers.aware[i] = aware
        own_sat = decayed(buyers.sat[i], month - buyers.sat_month[i], sp.baseline, sp.decay_months)
        for k in range(nb):
            if (aware >> k) & 1 and ba.on_sale[k]:
                u[k] = utility(values[g, k], service_w[g], heard[k], k == current, own_sat, cp)
            else:
                u[k] = -np.inf
        u[nb] = outside[g] if may_leave else -np.inf
        pick = draw_choice(rng, u)

        led.switching[month, current if current >= 0 else nb, pick] += 1
        if current >= 0:
            led.rebuy[month, buyers.complaint[i], 1 if pick == current else 0] += 1
            fleet[current] -= 1
        if pick == nb:  # leaves the luxury segment
            buyers.active[i], buyers.brand[i], buyers.replace_month[i] = False, NO_BRAND, NEVER
            leavers[n_left] = i
            n_left += 1
            continue
        fleet[pick] += 1
        buyers.brand[i] = pick
        buyers.complaint[i] = NO_COMPLAINT
        buyers.sat[i] = 0.5 * own_sat + 0.5 * sp.new_car if pick == current else sp.new_car
        buyers.sat_month[i] = month
        leased, months_kept = draw_new_car(rng, lease_p[g], holding)
        n_moved = give_car(buyers, i, month, leased, months_kept, moved, n_moved)
        led.leased_sales[month, pick] += leased
    return n_left, n_moved
