"""Buyer agents: luxury-car households.

A buyer belongs to a segment (e.g. prestige-driven wealthy, affluent value-seekers, aspirational entrants),
owns a car of some brand (leased or owned, of some age), is more or less satisfied with that brand, knows of
some brands, and has social ties. Their state lives in columnar arrays (``sim/population.py``) so that a
month of a million buyers is a few vectorised operations; a ``BuyerAgent`` is a Mesa agent that *views* one
household's slot, for inspection, the browser app and the reference per-agent engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim import choice, rules, satisfaction, service, word_of_mouth
from sim.finance import event_money
from sim.population import NO_COMPLAINT, UNRESOLVED

if TYPE_CHECKING:
    from sim.model import LuxuryMarketModel


def _interpreted(rule):
    """The Python source of a compiled rule (numba's ``py_func``; the rule itself when numba is disabled).

    Calling compiled code from Python with a ``numpy.random.Generator`` costs about 18 microseconds (numba unboxes
    the generator's bit generator through ctypes at every call), against a microsecond for the same few lines run
    as Python on numpy's Generator, which draws the same numbers (numba implements numpy's algorithms). The
    reference engine calls these small scalar rules once per event or shopper, so it runs their source: the same
    function the kernels compile, not a copy (``tests/test_differential.py`` checks that both engines stay equal).
    (``experience_mean`` takes the brands' arrays, whose typing costs as much.) A 2,000-buyer, 10-year run of the
    flagship took 16 s, now 9 s."""
    return getattr(rule, "py_func", rule)


_draw_experience = _interpreted(service.draw_experience)
_experience_mean = _interpreted(service.experience_mean)
_draw_defect_kind = _interpreted(service.draw_defect_kind)
_take_back = _interpreted(rules.take_back)
_replace_early = _interpreted(rules.replace_early)
_leaves_at_life_event = _interpreted(rules.leaves_at_life_event)
_redraw_need = _interpreted(rules.redraw_need)
_seeks_variety = _interpreted(rules.seeks_variety)


class BuyerAgent(mesa.Agent):
    """A Mesa agent viewing one household's slot of the model's columns (``model.pop``); made by
    ``LuxuryMarketModel.buyer(slot)``. Reading its properties reads the columns; its methods (the reference
    engine) write them.

    Args:
        model: the model.
        slot: the household's slot; the agent stays tied to the household living there now (``household``): once
            another takes the slot, ``active`` is False.
    """

    def __init__(self, model: LuxuryMarketModel, slot: int):
        super().__init__(model)
        self.slot = slot
        self.household = int(model.pop.household[slot])
        self.pending_complaints: list[tuple[int, int, bool, int]] = []  # reference engine: (month due, brand,
        # resolved within 90 days, purchase month of the car complained about)

    @property
    def _pop(self):
        return self.model.pop

    @property
    def active(self) -> bool:
        """Still in the luxury segment (the same household still lives in this slot)."""
        return bool(self._pop.active[self.slot]) and int(self._pop.household[self.slot]) == self.household

    @property
    def segment(self) -> str:
        """The household's segment name (a key of ``market.segments``)."""
        return self.model.config.segment_names[self._pop.segment[self.slot]]

    @property
    def brand(self) -> str | None:
        """The brand of the car owned, None if none (or no longer in the segment)."""
        b = int(self._pop.brand[self.slot])
        return self.model.brand_names[b] if b >= 0 and self.active else None

    @property
    def car_age_months(self) -> int:
        """Months since the current car was acquired."""
        return max(self.model.month, 0) - int(self._pop.purchase_month[self.slot])

    @property
    def leased(self) -> bool:
        """Whether the current car is leased."""
        return bool(self._pop.leased[self.slot])

    @property
    def replacement_month(self) -> int:
        """The model month the household is next in the market (``sim.population.NEVER`` if never)."""
        return int(self._pop.replace_month[self.slot])

    @property
    def satisfaction(self) -> float:
        """Satisfaction with the owned brand now, -1..1."""
        sp, p, i = self.model.config.satisfaction, self._pop, self.slot
        return satisfaction.decayed(float(p.sat[i]), max(self.model.month, 0) - int(p.sat_month[i]), sp.baseline,
                                    sp.decay_months)

    @property
    def aware_of(self) -> list[str]:
        """The brands the household knows of, in scenario order."""
        bits = int(self._pop.aware[self.slot])
        return [name for i, name in enumerate(self.model.brand_names) if bits >> i & 1]

    @property
    def contacts(self) -> list[int]:
        """Slots of this household's social ties."""
        return [int(c) for c in self.model.network.contacts(self.slot)]

    def __repr__(self) -> str:
        return (f"BuyerAgent(slot={self.slot}, {self.segment}, brand={self.brand}, age={self.car_age_months}m, "
                f"satisfaction={self.satisfaction:+.2f})")

    # ---- the reference engine: one month of one household, in plain Python ---------------------------------
    # `LuxuryMarketModel(..., engine="agents")` runs `shuffle_do("step")` over these agents instead of the
    # vectorised month. What is shared with the vectorised engine's kernels (sim/kernels.py) is code, not a
    # promise: the formulas (sim/service.py, satisfaction.py, replacement.py, word_of_mouth.py, choice.py) and the
    # rules that say what follows an event or a purchase (sim/rules.py) are the same functions (compiled, or a few
    # small scalar ones run as their Python source: ``_interpreted``), called with the same random generator at the
    # same points. What is written here, and again in the kernels, is the
    # bookkeeping: where outcomes are stored (the columns, the complaints pending per agent rather than a queue,
    # the ledger event by event rather than counts times unit money), and the order of work. Two things differ by
    # design: the events are drawn per household here (a draw per owner and kind) and by geometric gaps over the
    # slots there, and each household lives its whole month in turn, in random order, where the kernels do each
    # phase for everyone (events, complaints, shoppers in slot order).
    # tests/test_differential.py gives both engines the same events (LuxuryMarketModel.give_events) and checks
    # that they leave every buyer, the complaints and the ledger the same, month after month; a rule or a piece
    # of bookkeeping changed in one engine only fails it. tests/test_engines.py checks what that cannot: that the
    # two ways of drawing and ordering give the same distributions of share, churn, conquest and satisfaction.

    def step(self) -> None:
        """One month in the life of this household."""
        if not self.active:
            return
        model, pop, i = self.model, self._pop, self.slot
        m, rng, ba, p = model.month, model.rngs["agents"], model.brand_arrays, model.config.service_events
        b = int(pop.brand[i])
        age = m - int(pop.purchase_month[i])
        if rng.random() < 1.0 / p.maintenance_interval_months:  # scheduled maintenance
            self.visit_dealer(service.ROUTINE, rng)
        defects = model.lines.defects_per_car_year[pop.line[i]]  # the rate of the car's model line
        if rng.random() < service.defect_probability(defects, age, p.defect_age_growth):
            # a repair visit, a breakdown (roadside rescue), or fixed before the owner noticed (goodwill)
            self.visit_dealer(_draw_defect_kind(rng, ba.proactive_goodwill[b], p.breakdown_share), rng)
        if model.recall_campaign[b] and age < service.RECALL_MAX_AGE_MONTHS and rng.random() < p.recall_reach:
            self.visit_dealer(service.RECALL, rng)
        self.resolve_complaints()
        if rules.due_to_shop(self.active, int(pop.replace_month[i]), m):
            self.shop(may_leave=True, rng=rng)

    def visit_dealer(self, kind: int, rng: np.random.Generator) -> None:
        """A service event: how it went, what it cost, and what the owner does about it (``sim.rules``)."""
        model, pop, i = self.model, self._pop, self.slot
        m, ba, cfg, led = model.month, model.brand_arrays, model.config, model.ledger
        sp = cfg.satisfaction
        kind = int(kind)  # (an EventKind is an int; as a plain one, compiled formulas take it without a slow typeof)
        b = int(pop.brand[i])
        age = m - int(pop.purchase_month[i])
        ep = model.params["ep"]
        x = _draw_experience(rng, _experience_mean(kind, b, age, ba, ep), ep.noise)
        revenue, cost = event_money(kind, np.array([b]), np.array([age]), ba, cfg.costs)
        led.events[m, b, kind] += 1
        led.service_revenue[m, b] += revenue[0]
        led.service_cost[m, b] += cost[0]

        s = satisfaction.updated(self.satisfaction, x, sp.learning_rate, sp.loss_aversion)
        # what follows (sim/rules.py): a take-back, or else perhaps a complaint; an early replacement; a story
        taken, s = _take_back(rng, s, bool(ba.take_back_guarantee[b]), sp.take_back_below,
                              sp.take_back_probability, sp.take_back_satisfaction)
        if taken:  # empowered staff take the car back and replace it
            self._new_car(rng)
            pop.complaint[i] = NO_COMPLAINT
            led.take_backs[m, b] += 1
            led.service_cost[m, b] += cfg.costs.take_back_cost
        elif rules.complains(s, sp.complaint_below):
            self.complain(b, rng)
        pop.replace_month[i] = _replace_early(rng, m, s, bool(pop.leased[i]), int(pop.replace_month[i]),
                                              sp.early_replace_below, sp.early_replace_probability)
        pop.sat[i], pop.sat_month[i] = s, m
        led.csi_sum[m, b] += s
        led.csi_n[m, b] += 1
        self.tell_friends(b, x)

    def complain(self, brand: int, rng: np.random.Generator) -> None:
        """File a complaint; the brand resolves it within 90 days, in 90-180 days, or never
        (``sim.rules.complaint_resolution``)."""
        model, ba = self.model, self.model.brand_arrays
        model.ledger.complaints[model.month, brand] += 1
        self._pop.complaint[self.slot] = UNRESOLVED
        delay, fast = rules.complaint_resolution(rng, ba.complaint_resolution_fast[brand],
                                                 ba.complaint_resolution_slow[brand])
        if delay:
            car = int(self._pop.purchase_month[self.slot])
            self.pending_complaints.append((model.month + delay, brand, fast, car))

    def resolve_complaints(self) -> None:
        """The complaints the brand resolves this month, if the owner still has the car complained about
        (``sim.rules.resolve``)."""
        model, pop, i = self.model, self._pop, self.slot
        due = [c for c in self.pending_complaints if c[0] <= model.month]
        self.pending_complaints = [c for c in self.pending_complaints if c[0] > model.month]
        sp = model.params["sp"]
        for _, brand, fast, car in due:
            if not rules.complaint_applies(self.active, int(pop.brand[i]), int(pop.purchase_month[i]), brand, car):
                continue  # the owner has moved on to another car
            pop.sat[i], pop.complaint[i] = rules.resolve(self.satisfaction, fast, sp.recovery_fast, sp.recovery_slow)
            pop.sat_month[i] = model.month
            model.ledger.complaints_recovered[model.month, brand] += 1
            model.ledger.service_cost[model.month, brand] += model.config.costs.complaint_cost

    def tell_friends(self, brand: int, x: float) -> None:
        """A notable experience becomes a story about the brand, which friends will hear when they shop
        (``sim.rules.tell_story``)."""
        model, pop, i, wp = self.model, self._pop, self.slot, self.model.config.word_of_mouth
        fade = word_of_mouth.inflation(model.month, model.wom_epoch, wp.decay_months)  # stored inflated
        pop.told[i], pop.told_brand[i], told = rules.tell_story(pop.told[i], pop.told_brand[i], brand, x, fade,
                                                                wp.tell_above, wp.strength, wp.negativity)
        model.ledger.stories_told[model.month, brand] += told

    def listen_to_friends(self, rng: np.random.Generator) -> np.ndarray:
        """What this shopper has heard about each brand from friends' stories; friends' brands become known."""
        model, pop, i, wp, net = self.model, self._pop, self.slot, self.model.config.word_of_mouth, self.model.network
        heard = np.zeros(len(model.brands))
        fade = word_of_mouth.inflation(model.month, model.wom_epoch, wp.decay_months)
        pop.aware[i] = word_of_mouth.hear_contacts(rng, i, net.indptr, net.local, net.size, pop.told, pop.told_brand,
                                                   pop.brand, model.brand_arrays.word_of_mouth, fade,
                                                   wp.aware_on_purchase, int(pop.aware[i]), heard)
        return heard

    def shop(self, may_leave: bool, rng: np.random.Generator) -> None:
        """Choose a brand among those considered, or leave the luxury segment (nested logit, ``sim/choice.py``): a
        replacing owner may leave at a life event first (``sim.rules.leaves_at_life_event``); an owner's need may
        change (``sim.rules.redraw_need``) and an owner may seek variety
        (``seeks_variety``); a buyer takes a line of the brand (``draw_line``) and gets their new car
        (``satisfaction_after_purchase``, ``new_car``)."""
        model, pop, i = self.model, self._pop, self.slot
        m, ba, nb = model.month, model.brand_arrays, len(model.brands)
        current, g = int(pop.brand[i]), int(pop.segment[i])
        heard = self.listen_to_friends(rng)
        pop.aware[i] = aware = choice.draw_known(rng, int(pop.aware[i]), ba.awareness_reach, current)
        own_sat = self.satisfaction
        offer, cp, market = model.offer, model.params["cp"], model.config.market
        if may_leave and _leaves_at_life_event(rng, current >= 0, market.life_event_exit):
            pick = nb  # a life event takes the household out of the segment, whatever the brands offer
        else:
            if current >= 0:  # replacing a car: the household's need and tastes may have changed (life events)
                pop.need[i] = _redraw_need(rng, int(pop.need[i]), market.need_change, offer.need_cdf)
                rules.renew_tastes(rng, pop.brand_taste[i], cp.brand_taste_persistence, cp.brand_taste_sd)
            need = int(pop.need[i])
            seeker = bool(pop.variety_seeker[i])
            loyal = -1 if _seeks_variety(rng, current >= 0, cp.variety_seeking, seeker) else current
            w, u = np.empty(nb + 1), np.empty(nb + 1)  # logit weights and utilities; the last is leaving the segment
            outside = float(model.segments.outside_utility[g]) if may_leave else -np.inf
            total = choice.logit_weights(w, u, offer.values[g, need], offer.value_logit_weights[g, need],
                                         float(offer.value_offset[g, need]), pop.brand_taste[i],
                                         float(model.segments.service_weight[g]), heard, aware, ba.on_sale, loyal,
                                         own_sat, bool(pop.complaint[i] == UNRESOLVED), outside, cp)
            pick = rules.choose_in_stock(rng, u, w, total, model.stock)
        model.ledger.switching[m, current if current >= 0 else nb, pick] += 1
        if current >= 0:
            model.ledger.rebuy[m, pop.complaint[i], int(pick == current)] += 1
            model.fleet[current] -= 1
        if pick == nb:  # leaves the luxury segment
            model.leave_segment(self)
            return
        model.fleet[pick] += 1
        pop.brand[i] = pick
        pop.line[i] = line = rules.draw_line(rng, offer.line_cdf, g, need, pick, offer.brand_lines, offer.line_count)
        model.ledger.line_sales[m, line] += 1
        pop.complaint[i] = NO_COMPLAINT
        sp = model.params["sp"]
        pop.sat[i] = rules.satisfaction_after_purchase(own_sat, pick == current, sp.new_car, sp.repurchase_carryover)
        pop.sat_month[i] = m
        self._new_car(rng)
        model.ledger.leased_sales[m, pick] += pop.leased[i]

    def _new_car(self, rng: np.random.Generator) -> None:
        """Lease or buy, and when the car will be replaced (``sim.rules.new_car``)."""
        model, pop, i = self.model, self._pop, self.slot
        pop.leased[i], pop.replace_month[i] = rules.new_car(rng, model.month, model.lease_p[pop.segment[i]],
                                                            model.params["holding"])
        pop.purchase_month[i] = model.month
