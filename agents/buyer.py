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

from sim import choice, replacement, satisfaction, service, word_of_mouth
from sim.finance import event_money
from sim.population import LAST_MONTH, NO_COMPLAINT, RESOLVED_FAST, RESOLVED_SLOW, UNRESOLVED

if TYPE_CHECKING:
    from sim.model import LuxuryMarketModel


class BuyerAgent(mesa.Agent):
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
        return self.model.config.segment_names[self._pop.segment[self.slot]]

    @property
    def brand(self) -> str | None:
        b = int(self._pop.brand[self.slot])
        return self.model.brand_names[b] if b >= 0 and self.active else None

    @property
    def car_age_months(self) -> int:
        return max(self.model.month, 0) - int(self._pop.purchase_month[self.slot])

    @property
    def leased(self) -> bool:
        return bool(self._pop.leased[self.slot])

    @property
    def replacement_month(self) -> int:
        return int(self._pop.replace_month[self.slot])

    @property
    def satisfaction(self) -> float:
        """Satisfaction with the owned brand now, -1..1."""
        sp, p, i = self.model.config.satisfaction, self._pop, self.slot
        return satisfaction.decayed(float(p.sat[i]), max(self.model.month, 0) - int(p.sat_month[i]), sp.baseline,
                                    sp.decay_months)

    @property
    def aware_of(self) -> list[str]:
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
    # vectorised month. The rules are the same (the formulas are the same compiled functions from sim/, which
    # the vectorised engine's kernels in sim/kernels.py call too); only the bookkeeping is written out buyer by
    # buyer. tests/test_engines.py checks that both engines produce the same distributions of share, churn,
    # conquest and satisfaction.

    def step(self) -> None:
        """One month in the life of this household."""
        if not self.active:
            return
        model, pop, i = self.model, self._pop, self.slot
        m, rng, ba, p = model.month, model.rngs["agents"], model.brand_arrays, model.config.service_events
        b = int(pop.brand[i])
        age = m - int(pop.purchase_month[i])
        if rng.random() < 1.0 / p.maintenance_interval_months:  # scheduled maintenance
            self.visit_dealer(service.ROUTINE)
        if rng.random() < service.defect_probability(ba.defects[b], age, p.defect_age_growth):
            # a repair visit, a breakdown (roadside rescue), or fixed before the owner noticed (goodwill)
            self.visit_dealer(service.draw_defect_kind(rng, ba.goodwill[b], p.breakdown_share))
        if model.recall_campaign[b] and age < service.RECALL_MAX_AGE_MONTHS and rng.random() < p.recall_reach:
            self.visit_dealer(service.RECALL)
        self.resolve_complaints()
        if self.active and pop.replace_month[i] <= m:
            self.shop(may_leave=True)

    def visit_dealer(self, kind: int) -> None:
        """A service event: how it went, what it cost, and what the owner does about it."""
        model, pop, i = self.model, self._pop, self.slot
        m, rng, ba, cfg, led = model.month, model.rngs["agents"], model.brand_arrays, model.config, model.ledger
        sp = cfg.satisfaction
        b = int(pop.brand[i])
        age = m - int(pop.purchase_month[i])
        ep = model.params["ep"]
        x = service.draw_experience(rng, service.experience_mean(kind, b, age, ba, ep), ep.noise)
        revenue, cost = event_money(kind, np.array([b]), np.array([age]), ba, cfg.costs)
        led.events[m, b, kind] += 1
        led.service_revenue[m, b] += revenue[0]
        led.service_cost[m, b] += cost[0]

        s = satisfaction.updated(self.satisfaction, x, sp.learning_rate, sp.loss_aversion)
        if ba.take_back[b] and s < sp.take_back_below and rng.random() < sp.take_back_probability:
            s = sp.take_back_satisfaction  # empowered staff take the car back and replace it
            self._new_car(rng)
            pop.complaint[i] = NO_COMPLAINT
            led.take_backs[m, b] += 1
            led.service_cost[m, b] += cfg.costs.take_back_cost
        elif s < sp.complaint_below:
            self.complain(b)
        early = replacement.draw_early_replacement(rng, s, bool(pop.leased[i]), sp.early_replace_below,
                                                   sp.early_replace_probability)
        if early and m + early < pop.replace_month[i]:
            pop.replace_month[i] = m + early
        pop.sat[i], pop.sat_month[i] = s, m
        led.csi_sum[m, b] += s
        led.csi_n[m, b] += 1
        if abs(x) > cfg.word_of_mouth.tell_above:
            self.tell_friends(b, x)

    def complain(self, brand: int) -> None:
        """File a complaint; the brand resolves it within 90 days, in 90-180 days, or never."""
        model, rng, ba = self.model, self.model.rngs["agents"], self.model.brand_arrays
        model.ledger.complaints[model.month, brand] += 1
        self._pop.complaint[self.slot] = UNRESOLVED
        delay = satisfaction.draw_resolution_delay(rng, ba.resolve_fast[brand], ba.resolve_slow[brand])
        if delay:
            car = int(self._pop.purchase_month[self.slot])
            self.pending_complaints.append((model.month + delay, brand, delay <= 3, car))

    def resolve_complaints(self) -> None:
        model, pop, i = self.model, self._pop, self.slot
        due = [c for c in self.pending_complaints if c[0] <= model.month]
        self.pending_complaints = [c for c in self.pending_complaints if c[0] > model.month]
        sp = model.config.satisfaction
        for _, brand, fast, car in due:
            if int(pop.brand[i]) != brand or int(pop.purchase_month[i]) != car:
                continue  # the owner has moved on to another car
            amount = sp.recovery_fast if fast else sp.recovery_slow
            pop.sat[i], pop.sat_month[i] = min(self.satisfaction + amount, 1.0), model.month
            pop.complaint[i] = RESOLVED_FAST if fast else RESOLVED_SLOW
            model.ledger.recovered[model.month, brand] += 1
            model.ledger.service_cost[model.month, brand] += model.config.costs.complaint_cost

    def tell_friends(self, brand: int, x: float) -> None:
        """A notable experience becomes a story about the brand, which friends will hear when they shop."""
        model, pop, i, wp = self.model, self._pop, self.slot, self.model.config.word_of_mouth
        value = word_of_mouth.story_value(x, wp.strength, wp.negativity)
        value *= word_of_mouth.inflation(model.month, model.wom_epoch, wp.decay_months)  # stored inflated
        pop.told[i], pop.told_brand[i] = word_of_mouth.tell(pop.told[i], pop.told_brand[i], brand,
                                                            np.float32(value))  # about the car the owner has now
        model.ledger.told[model.month, brand] += 1

    def listen_to_friends(self, rng: np.random.Generator) -> np.ndarray:
        """What this shopper has heard about each brand from friends' stories; friends' brands become known."""
        model, pop, i, wp, net = self.model, self._pop, self.slot, self.model.config.word_of_mouth, self.model.network
        heard = np.zeros(len(model.brands))
        fade = word_of_mouth.inflation(model.month, model.wom_epoch, wp.decay_months)
        pop.aware[i] = word_of_mouth.hear_contacts(rng, i, net.indptr, net.indices, pop.told, pop.told_brand,
                                                   pop.brand, model.brand_arrays.word_of_mouth, fade,
                                                   wp.aware_on_purchase, int(pop.aware[i]), heard)
        return heard

    def shop(self, may_leave: bool) -> None:
        """Choose a brand among those considered, or leave the luxury segment (logit choice)."""
        model, pop, i = self.model, self._pop, self.slot
        m, rng, ba, cfg, nb = model.month, model.rngs["agents"], model.brand_arrays, model.config, len(model.brands)
        current, g = int(pop.brand[i]), int(pop.segment[i])
        heard = self.listen_to_friends(rng)
        pop.aware[i] = aware = choice.draw_known(rng, int(pop.aware[i]), ba.reach, current)
        own_sat = self.satisfaction
        u = np.full(nb + 1, -np.inf)  # utilities; -inf = not considered; the last is leaving the segment
        for k in range(nb):
            if aware >> k & 1 and ba.on_sale[k]:
                u[k] = choice.utility(model.brand_values[g, k], model.segments.service_w[g], heard[k], k == current,
                                      own_sat, model.params["cp"])
        if may_leave:
            u[nb] = model.segments.outside[g]
        pick = choice.draw_choice(rng, u)
        model.ledger.switching[m, current if current >= 0 else nb, pick] += 1
        if current >= 0:
            model.ledger.rebuy[m, pop.complaint[i], int(pick == current)] += 1
            model.fleet[current] -= 1
        if pick == nb:  # leaves the luxury segment
            pop.release(np.array([i]))
            model.forget(self)
            return
        model.fleet[pick] += 1
        pop.brand[i] = pick
        pop.complaint[i] = NO_COMPLAINT
        stayed = pick == current
        pop.sat[i] = 0.5 * own_sat + 0.5 * cfg.satisfaction.new_car if stayed else cfg.satisfaction.new_car
        pop.sat_month[i] = m
        self._new_car(rng)
        model.ledger.leased_sales[m, pick] += pop.leased[i]

    def _new_car(self, rng: np.random.Generator) -> None:
        """Lease or buy, and when the car will be replaced (same formulas as the vectorised engine)."""
        model, pop, i = self.model, self._pop, self.slot
        leased, hold = replacement.draw_new_car(rng, model.lease_p[pop.segment[i]],
                                                model.params["holding"])
        pop.leased[i], pop.purchase_month[i] = leased, model.month
        pop.replace_month[i] = min(model.month + hold, LAST_MONTH)
