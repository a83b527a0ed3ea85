"""LuxuryMarketModel: the luxury car market as a Mesa model, one step per month.

Each month:

1. brands act (their strategies look at last month's market; dated policy changes fire from Mesa's event
   list just before the month starts);
2. service events happen to owners (maintenance, repairs, goodwill fixes, breakdowns, recalls): each changes
   the owner's satisfaction (loss-averse), may start a complaint (resolved later, or never), a take-back, an
   early replacement, and a story told to the owner's contacts;
3. complaints due this month are resolved (service recovery);
4. owners whose replacement date has come shop: they choose among the brands they consider or leave the
   segment; new households enter the segment to follow its growth and buy;
5. brands' service reputation and prestige move; the ledger and Mesa's DataCollector record the month.

Buyers are columnar arrays (``sim/population.py``); the mechanisms are pure functions of arrays in their
own modules. ``BuyerAgent`` objects are views on one slot, created for small populations or on demand
(``model.buyer(slot)``); ``BrandAgent`` objects are ordinary agents.
"""

from __future__ import annotations

import time
from functools import partial

import mesa
import numpy as np
import pandas as pd

from agents.brand import BrandAgent
from agents.buyer import BuyerAgent
from sim import choice, replacement, reputation, satisfaction, service, word_of_mouth
from sim.brand_arrays import BrandArrays
from sim.finance import event_money, new_car_margin
from sim.metrics import Ledger
from sim.network import build_network
from sim.population import NO_BRAND, NO_COMPLAINT, RESOLVED_FAST, RESOLVED_SLOW, UNRESOLVED, Calendar, Population
from sim.scenario import Scenario, year_month_index

STREAMS = ("mesa", "init", "network", "service", "word_of_mouth", "market", "agents")
ENGINES = ("vectorised", "agents")


class _PhaseClock:
    """Adds the seconds since the last call to ``timings[phase]`` (for the benchmark's phase split)."""

    def __init__(self, timings: dict[str, float]):
        self.timings, self.last = timings, time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now


def _share_reporter(model: LuxuryMarketModel, index: int) -> float:
    total = model.ledger.sales[model.month].sum()
    return float(model.ledger.sales[model.month, index] / total) if total else 0.0


class LuxuryMarketModel(mesa.Model):
    """The market. ``LuxuryMarketModel(scenario, seed=1)`` then ``run()`` (or ``step()`` a month at a time)."""

    def __init__(self, scenario: Scenario, *, seed: int | np.random.SeedSequence | None = None,
                 buyers: int | None = None, engine: str = "vectorised"):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.engine = engine
        seed = scenario.simulation.seed if seed is None else seed
        if isinstance(seed, np.random.SeedSequence):  # a copy: spawning must not change the caller's
            self.seed_sequence = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key)
        else:
            self.seed_sequence = np.random.SeedSequence(seed)
        streams = dict(zip(STREAMS, self.seed_sequence.spawn(len(STREAMS))))
        super().__init__(rng=streams["mesa"])
        self.rngs = {name: np.random.default_rng(ss) for name, ss in streams.items() if name != "mesa"}
        self.config = scenario
        self.seed = seed
        self.month = -1  # index of the month being (or last) simulated; 0 = January of start_year
        mk = scenario.market
        self.n_months = mk.months
        self.initial_buyers = buyers or scenario.simulation.buyers
        self.scale = mk.segment_households / self.initial_buyers  # real households per simulated buyer

        self.brands = [BrandAgent(self, i, name, spec) for i, (name, spec) in enumerate(scenario.brands.items())]
        self.brand_names = [b.name for b in self.brands]
        self.segments = choice.SegmentArrays.from_scenario(scenario)
        n_brands = len(self.brands)

        growth = max(1.0, (1.0 + mk.annual_growth) ** mk.years)
        capacity = int(self.initial_buyers * growth * 1.02) + 64
        self.pop = Population.empty(capacity, n_brands)
        self.calendar = Calendar()
        self._stamp = np.zeros(capacity, dtype=np.int32)  # scratch for de-duplicating slots
        self._recoveries: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self.network = build_network(capacity, scenario.word_of_mouth.community_size, scenario.word_of_mouth.degree,
                                     scenario.word_of_mouth.rewire, self.rngs["network"])
        self.ledger = Ledger(self.n_months, n_brands)
        self.fleet = np.zeros(n_brands, dtype=np.int64)
        self.entries = 0
        self.exits = 0
        self.timings: dict[str, float] = {}  # seconds per phase of the step
        self.wom_epoch = 0  # stored word of mouth is inflated relative to this month (sim/word_of_mouth.py)
        self._views: dict[int, BuyerAgent] = {}
        self._populate()
        if capacity <= scenario.simulation.agent_views or engine == "agents":
            for slot in np.flatnonzero(self.pop.active):
                self.buyer(int(slot))

        reporters = {"active_buyers": "n_active", "entries": "entries", "exits": "exits"}
        reporters |= {f"sales_share[{b.name}]": partial(_share_reporter, index=b.index) for b in self.brands}
        self.datacollector = mesa.DataCollector(
            model_reporters=reporters,
            agenttype_reporters={BrandAgent: {
                "brand": "name", "prestige": "prestige", "reputation": "reputation",
                "fleet": lambda a: int(a.model.fleet[a.index]),
                "dealer_service_quality": lambda a: a.service.dealer_service_quality,
                "complimentary_maintenance_months": lambda a: a.service.complimentary_maintenance_months,
            }},
        )

    # ---- set-up ----------------------------------------------------------------------------------------
    def _lease_trend(self, year: float) -> float | None:
        trend = self.config.market.lease_trend
        if not trend:
            return None
        return float(np.interp(year, [p.year for p in trend], [p.value for p in trend]))

    def lease_probability(self, month: int) -> np.ndarray:
        """P(lease) of a new car in ``month``, per segment."""
        trend = self._lease_trend(self.config.market.start_year + month / 12)
        return replacement.lease_probability(self.segments.lease_propensity, self.segments.share, trend)

    def _new_cars(self, slots: np.ndarray, month: int, rng: np.random.Generator) -> None:
        """Lease-or-own and replacement date for cars acquired by ``slots`` in ``month``."""
        mk, pop = self.config.market, self.pop
        leased = rng.random(slots.size) < self.lease_probability(month)[pop.segment[slots]]
        hold = replacement.holding_months(rng, leased, mk.lease_months, mk.ownership_months_mean, mk.ownership_shape)
        pop.leased[slots] = leased
        pop.purchase_month[slots] = month
        self._reschedule(slots, month + hold)

    def _reschedule(self, slots: np.ndarray, months: np.ndarray) -> None:
        months = np.minimum(months, np.iinfo(np.int16).max - 1)
        self.pop.replace_month[slots] = months
        self.calendar.add(months, slots)

    def _populate(self) -> None:
        """The luxury fleet at the start: segments, brands by initial fleet share, cars of all ages."""
        rng, pop, cfg = self.rngs["init"], self.pop, self.config
        n = self.initial_buyers
        slots = pop.take_slots(n)
        pop.segment[slots] = rng.choice(len(self.segments.share), size=n, p=self.segments.share)
        shares = np.array([b.spec.initial_fleet_share if b.on_sale(0) else 0.0 for b in self.brands])
        brand = rng.choice(len(self.brands), size=n, p=shares / shares.sum())
        pop.brand[slots] = brand
        self.fleet += np.bincount(brand, minlength=len(self.brands))
        self._new_cars(slots, 0, rng)
        # Cars already on the road: each is some way through its holding time.
        hold = pop.replace_month[slots].astype(np.int64)
        age = (rng.random(n) * hold).astype(np.int64)
        pop.purchase_month[slots] = -age
        self._reschedule(slots, np.maximum(hold - age, 1))
        base = cfg.satisfaction.baseline
        pop.sat[slots] = np.clip(base + 0.15 * rng.standard_normal(n), -1, 1)
        aware = np.zeros(n, dtype=np.uint16)
        for b in self.brands:
            if b.on_sale(0):
                aware |= np.where(rng.random(n) < b.spec.awareness, np.uint16(1 << b.index), np.uint16(0))
        pop.aware[slots] = aware | (1 << brand).astype(np.uint16)

    # ---- the month ---------------------------------------------------------------------------------------
    @property
    def n_active(self) -> int:
        return self.pop.n_active()

    def step(self) -> None:
        self.month = m = self.steps - 1
        decay = self.config.word_of_mouth.decay_months
        if (m - self.wom_epoch) / decay > word_of_mouth.REBASE_EXPONENT:
            self.pop.told *= np.float32(1.0 / word_of_mouth.inflation(m, self.wom_epoch, decay))
            self.wom_epoch = m
        clock = _PhaseClock(self.timings)
        self.agents_by_type[BrandAgent].do("step")
        self.brand_arrays = ba = BrandArrays.from_brands(self.brands, m)
        cfg = self.config
        perk = choice.perk_value(ba.comp_months, cfg.service_events.maintenance_interval_months,
                                 cfg.costs.maintenance_price)
        self.brand_values = choice.brand_values(ba, self.segments, cfg.choice, cfg.market.reference_price, perk)
        clock("brands")
        if self.engine == "vectorised":
            self._service_month(m, ba)
            self._resolve_complaints(m)
            clock("service")
            self._market_month(m, ba)
            clock("market")
        else:  # the per-agent reference engine: each household lives its month (agents/buyer.py)
            rng = self.rngs["agents"]
            self.recall_campaign = ba.on_sale & (rng.random(len(self.brands)) < cfg.service_events.recalls_per_brand_year / 12)
            self.agents_by_type[BuyerAgent].shuffle_do("step")
            for slot in self._admit_entrants(m):
                self.buyer(int(slot)).shop(may_leave=False)
            clock("agents")
        self._brand_dynamics(m)
        self.ledger.fleet[m] = self.fleet
        self.datacollector.collect(self)
        clock("metrics")
        if m + 1 >= self.n_months:
            self.running = False

    def run(self, months: int | None = None) -> LuxuryMarketModel:
        """Simulate ``months`` more months (default: to the scenario's end)."""
        remaining = self.n_months - (self.month + 1)
        self.run_for(min(months, remaining) if months is not None else remaining)
        return self

    def _service_month(self, m: int, ba: BrandArrays) -> None:
        pop, cfg, led = self.pop, self.config, self.ledger
        rng = self.rngs["service"]
        sp, costs = cfg.satisfaction, cfg.costs
        for ev in service.draw_events(rng, pop.active, pop.brand, pop.purchase_month, m, ba, cfg.service_events):
            i = ev.buyers
            if i.size == 0:
                continue
            b = pop.brand[i].astype(np.int64)
            age = m - pop.purchase_month[i].astype(np.int64)
            x = service.experience(rng, ev.kind, b, age, ba, cfg.service_events)
            revenue, cost = event_money(ev.kind, b, age, ba, costs)
            led.events[m, :, ev.kind] += np.bincount(b, minlength=len(self.brands))
            led.add("service_revenue", m, b, revenue)
            led.add("service_cost", m, b, cost)

            s = satisfaction.current(pop.sat[i], pop.sat_month[i], m, sp.baseline, sp.decay_months)
            s = satisfaction.update(s, x, sp.learning_rate, sp.loss_aversion)

            took_back = ba.take_back[b] & (s < sp.take_back_below) & (rng.random(i.size) < sp.take_back_probability)
            if took_back.any():
                s[took_back] = sp.take_back_satisfaction
                self._new_cars(i[took_back], m, rng)
                pop.complaint[i[took_back]] = NO_COMPLAINT
                led.add("take_backs", m, b[took_back])
                led.add("service_cost", m, b[took_back], np.full(int(took_back.sum()), costs.take_back_cost))

            complained = (s < sp.complaint_below) & ~took_back
            if complained.any():
                self._file_complaints(m, i[complained], b[complained], ba, rng)

            early = replacement.early_replacement(rng, s, pop.leased[i], sp.early_replace_below,
                                                  sp.early_replace_probability)
            sooner = (early > 0) & (m + early < pop.replace_month[i])
            if sooner.any():
                self._reschedule(i[sooner], m + early[sooner])

            pop.sat[i] = s
            pop.sat_month[i] = m
            led.add("csi_sum", m, b, s)
            led.add("csi_n", m, b)

            wp = cfg.word_of_mouth
            loud = np.abs(x) > wp.tell_above
            if loud.any():
                word_of_mouth.record(pop.told, pop.told_brand, i[loud], b[loud], x[loud], m, self.wom_epoch,
                                     wp.strength, wp.negativity, wp.decay_months)
                led.add("told", m, b[loud])  # stories told about each brand

    def _file_complaints(self, m: int, slots: np.ndarray, b: np.ndarray, ba: BrandArrays,
                         rng: np.random.Generator) -> None:
        sp = self.config.satisfaction
        self.ledger.add("complaints", m, b)
        self.pop.complaint[slots] = UNRESOLVED
        delay = satisfaction.resolution_delay(rng, ba.resolve_fast[b], ba.resolve_slow[b])
        for d in np.unique(delay[delay > 0]):
            pick = delay == d
            amount, outcome = (sp.recovery_fast, RESOLVED_FAST) if d <= 3 else (sp.recovery_slow, RESOLVED_SLOW)
            self._recoveries.setdefault(m + int(d), []).append(
                (slots[pick], self.pop.household[slots[pick]], b[pick], np.float32(amount), outcome))

    def _resolve_complaints(self, m: int) -> None:
        pop, sp = self.pop, self.config.satisfaction
        for slots, household, b, amount, outcome in self._recoveries.pop(m, []):
            same = pop.active[slots] & (pop.household[slots] == household) & (pop.brand[slots] == b)
            slots, b = slots[same], b[same]
            if slots.size == 0:
                continue
            s = satisfaction.current(pop.sat[slots], pop.sat_month[slots], m, sp.baseline, sp.decay_months)
            pop.sat[slots] = np.minimum(s + amount, 1.0)
            pop.sat_month[slots] = m
            pop.complaint[slots] = outcome
            self.ledger.add("recovered", m, b)
            self.ledger.add("service_cost", m, b, np.full(slots.size, self.config.costs.complaint_cost))

    def _market_month(self, m: int, ba: BrandArrays) -> None:
        pop = self.pop
        due = self.calendar.pop(m)
        due = due[pop.active[due] & (pop.replace_month[due] == m)]
        due = due[self._first_occurrence(due)]
        if due.size:
            self._shop(due, m, ba, may_leave=True)
        entrants = self._admit_entrants(m)
        if entrants.size:
            self._shop(entrants, m, ba, may_leave=False)

    def _first_occurrence(self, slots: np.ndarray) -> np.ndarray:
        """Mask keeping one occurrence of each slot (a slot can be due twice in a month), in O(len(slots))."""
        position = np.arange(slots.size, dtype=np.int32)
        self._stamp[slots] = position  # the last write wins for a repeated slot
        return self._stamp[slots] == position

    def _admit_entrants(self, m: int) -> np.ndarray:
        """New households enter the segment so that it follows its growth path; returns their slots."""
        pop, mk = self.pop, self.config.market
        target = int(round(self.initial_buyers * (1.0 + mk.annual_growth) ** ((m + 1) / 12)))
        n_new = min(target - self.n_active, pop.n_free)
        if n_new <= 0:
            return np.empty(0, dtype=np.int64)
        rng = self.rngs["market"]
        slots = pop.take_slots(n_new)
        pop.segment[slots] = rng.choice(len(self.segments.entrant_share), size=n_new, p=self.segments.entrant_share)
        pop.brand[slots] = NO_BRAND
        pop.aware[slots] = 0
        pop.told[slots] = 0.0
        pop.told_brand[slots] = NO_BRAND
        return slots

    def _shop(self, slots: np.ndarray, m: int, ba: BrandArrays, may_leave: bool) -> None:
        """``slots`` choose a brand (or leave the segment) and the buyers get their new cars."""
        pop, cfg, rng = self.pop, self.config, self.rngs["market"]
        nb = len(self.brands)
        seg = pop.segment[slots].astype(np.int64)
        current = pop.brand[slots].astype(np.int64)
        wp = cfg.word_of_mouth
        wom_now, heard_of = word_of_mouth.hear(rng, self.network, slots, pop.told, pop.told_brand, pop.brand, nb, m,
                                               self.wom_epoch, wp.decay_months, wp.aware_on_purchase)
        considered, pop.aware[slots] = choice.considered_brands(pop.aware[slots] | heard_of, ba.on_sale, ba.reach,
                                                                current, rng)
        sp = cfg.satisfaction
        own_sat = satisfaction.current(pop.sat[slots], pop.sat_month[slots], m, sp.baseline, sp.decay_months)
        u = choice.utilities(self.brand_values, self.segments, cfg.choice, ba.reputation, seg, current, own_sat, wom_now,
                             considered, np.full(slots.size, may_leave))
        pick = choice.choose(rng, u)

        bought = pick < nb
        newcomer = current < 0
        self.ledger.record_choices(m, np.where(newcomer, -1, current), pick)
        owners = ~newcomer
        self.ledger.record_rebuys(m, pop.complaint[slots[owners]], pick[owners] == current[owners])
        self.fleet -= np.bincount(current[owners], minlength=nb)
        self.fleet += np.bincount(pick[bought], minlength=nb)
        self.exits += int((owners & ~bought).sum())
        self.entries += int((newcomer & bought).sum())
        pop.release(slots[~bought])

        buyers, new_brand = slots[bought], pick[bought]
        if buyers.size == 0:
            return
        stayed = current[bought] == new_brand
        pop.brand[buyers] = new_brand
        pop.complaint[buyers] = NO_COMPLAINT
        pop.sat[buyers] = np.where(stayed, 0.5 * own_sat[bought] + 0.5 * sp.new_car, sp.new_car)
        pop.sat_month[buyers] = m
        self._new_cars(buyers, m, rng)
        self.ledger.add("leased_sales", m, new_brand[pop.leased[buyers]])
        self.ledger.add("new_car_margin", m, new_brand, new_car_margin(new_brand, ba))

    def _brand_dynamics(self, m: int) -> None:
        led, ch = self.ledger, self.config.choice
        rep = np.array([b.reputation for b in self.brands])
        n_obs = led.csi_n[m]
        observed = np.divide(led.csi_sum[m], n_obs, out=np.zeros_like(n_obs), where=n_obs > 0)
        rep = reputation.follow(rep, observed, n_obs > 0, ch.reputation_months)
        share = np.array([led.trailing_share(b.index, m + 1) for b in self.brands])
        if m == 11:
            for b in self.brands:
                b.reference_share = share[b.index] if b.on_sale(0) else 0.0
        if m >= 11:
            target = reputation.prestige_target(
                np.array([b.spec.prestige for b in self.brands]), share,
                np.array([b.reference_share for b in self.brands]), np.array([b.discount for b in self.brands]),
                ch.prestige_share_weight, ch.prestige_discount_erosion)
            prestige = reputation.move_toward(np.array([b.prestige for b in self.brands]), target, ch.prestige_months)
        else:
            prestige = np.array([b.prestige for b in self.brands])
        for b in self.brands:
            b.reputation, b.prestige = float(rep[b.index]), float(prestige[b.index])
        led.prestige[m] = prestige

    # ---- inspection and results ----------------------------------------------------------------------------
    def buyer(self, slot: int) -> BuyerAgent:
        """The Mesa agent for the household in ``slot`` (created on first request)."""
        view = self._views.get(slot)
        if view is None or view.household != self.pop.household[slot]:
            view = self._views[slot] = BuyerAgent(self, slot)
        return view

    def forget(self, view: BuyerAgent) -> None:
        """Remove the Mesa agent of a household that has left the segment."""
        if self._views.get(view.slot) is view:
            del self._views[view.slot]
        view.remove()

    def date(self, month: int | None = None) -> str:
        month = self.month if month is None else month
        year, mo = divmod(month, 12)
        return f"{self.config.market.start_year + year}-{mo + 1:02d}"

    def month_of(self, date: str) -> int:
        return year_month_index(date, self.config.market.start_year)

    def brand_year(self) -> pd.DataFrame:
        """Tidy yearly table per brand, in real units (see ``sim/metrics.py`` for definitions)."""
        return self.ledger.yearly(self.brand_names, self.config.market.start_year, self.scale,
                                  self.config.costs.discount_rate, months_done=self.month + 1)

    def switching(self) -> pd.DataFrame:
        return self.ledger.switching_table(self.brand_names, self.config.market.start_year, self.scale,
                                           months_done=self.month + 1)

    def memory_bytes(self) -> int:
        """Bytes held by the per-buyer state and the social network."""
        return self.pop.nbytes() + self.network.nbytes()
