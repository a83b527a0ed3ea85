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

Buyers are columnar arrays (``sim/population.py``); the mechanisms are small compiled formulas in their own
modules and rules in ``sim/rules.py``, applied event by event and shopper by shopper in the compiled passes of
``sim/kernels.py`` (the vectorised engine, the default), or household by household by ``BuyerAgent.step`` (the
reference engine, ``engine="agents"``). ``give_events`` makes a month live given service events instead of
drawing them, in both engines the same way. ``BuyerAgent`` objects are views on one slot, created for small
populations, for a sample (``simulation.agent_sample``: ``buyer_sample``, recorded by the DataCollector) and on demand
(``model.buyer(slot)``); ``BrandAgent`` objects are ordinary agents. Mesa's ``batch_run`` can build the model from a
scenario name and dotted field paths (``as_scenario``; README, "Use from Mesa").
"""

from __future__ import annotations

import gc
import time
from copy import deepcopy
from functools import partial
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
from mesa.agent import AgentSet

from agents.brand import BrandAgent
from agents.buyer import BuyerAgent
from sim import choice, kernels, lineup, replacement, reputation, rules, satisfaction, service, supply, word_of_mouth
from sim.brand_arrays import BrandArrays
from sim.executor import check_memory
from sim.finance import event_money
from sim.memory import PEAK_OVER_STATE, memory_needed, population_capacity, run_size  # noqa: F401 - (re-exported)
from sim.metrics import Ledger
from sim.network import build_network
from sim.population import LAST_MONTH, NEVER, NO_BRAND, Calendar, Complaints, Population
from sim.satisfaction import SatisfactionParams
from sim.scenario import Scenario, year_month_index
from sim.scenario_files import load_scenario, with_fields

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
    return float(model.sales_share[index])


_IMMUTABLE = (int, float, bool, str)  # what Mesa's collect stores without a copy (deepcopy returns these as they are)


class _ScenarioSeed:
    """The default of ``seed``: the scenario's ``simulation.seed`` (an explicit None draws fresh entropy)."""

    def __repr__(self) -> str:
        return "<the scenario's simulation.seed>"


SCENARIO_SEED = _ScenarioSeed()


def as_scenario(scenario: Scenario | str | Path, fields: dict | None = None) -> Scenario:
    """The scenario a model is given, validated, with dotted field paths set (``LuxuryMarketModel``'s keywords).

    Args:
        scenario: a :class:`Scenario`, or a scenario name or path (``sim.scenario_files.load_scenario``).
        fields: ``{"brands.Lexus.service.complimentary_maintenance_months": 0, ...}``, set as ``--set`` sets its
            texts (the values as Python values).

    Returns:
        The validated scenario.

    Raises:
        sim.scenario_files.ScenarioError: no such scenario, or a bad field path or value: one line each,
            ``SOURCE: field.path: reason``.
        TypeError: ``scenario`` is none of these; a tuple, as Mesa's ``batch_run`` makes of a Scenario given
            bare (it iterates a Scenario's fields), with how to pass it.
    """
    fields = fields or {}
    if isinstance(scenario, Scenario):
        return with_fields(scenario, fields)
    if isinstance(scenario, str | Path):
        return load_scenario(scenario, values=fields)
    if isinstance(scenario, tuple):
        raise TypeError(f"scenario: got the tuple {scenario!r:.60}: Mesa's batch_run iterates a Scenario given bare "
                        "into its fields; put it in a list (parameters={'scenario': [scenario]}) or give its name")
    raise TypeError(f"scenario: a Scenario, or a scenario name or path, got {type(scenario).__name__}")


class _Collector(mesa.DataCollector):
    """Mesa's DataCollector, recording the ``BuyerAgent`` reporters for the model's buyer sample only
    (``LuxuryMarketModel.buyer_sample``), not for every view that exists: nothing per buyer per month.

    With the model's own agent reporters (:data:`BUYER_REPORTERS`, :data:`BRAND_REPORTERS`), each agent type's
    month is read from the columns at once (``_buyer_records``, ``_brand_records``: the same values, of the same
    Python types, as the reporters give one agent at a time; ``tests/test_mesa_api.py`` checks); other reporters
    are called agent by agent (``records_by_reporter``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plan = self._fast_plan()

    def _fast_plan(self) -> list[tuple[list, str | None, int]] | None:
        """``(values list, attribute name or None, brand index or -1)`` per model reporter when every one is an
        attribute name or the model's own sales-share reporter and no agent reporters are set; otherwise None."""
        if not self.model_reporters or self.agent_reporters:
            return None
        plan = []
        for name, reporter in self.model_reporters.items():
            if isinstance(reporter, str):
                plan.append((self.model_vars[name], reporter, -1))
            elif isinstance(reporter, partial) and reporter.func is _share_reporter and not reporter.args:
                plan.append((self.model_vars[name], None, int(reporter.keywords["index"])))
            else:
                return None
        return plan

    def collect(self, model: LuxuryMarketModel) -> None:
        """Mesa's ``collect``, the same records in fewer steps: the brands' sales shares are read at once, and
        values of immutable types (int, float, bool, str: ``deepcopy`` returns them as they are) are stored without
        a copy. Any other reporter (a subclass's) makes it Mesa's own ``collect``."""
        if self._plan is None:
            return super().collect(model)
        self._collection_steps.append(model.time)
        if not self._validated:
            for name, reporter in self.model_reporters.items():
                self._validate_model_reporter(name, reporter, model)
        shares = model.sales_share.tolist()
        for values, attribute, index in self._plan:
            value = shares[index] if index >= 0 else getattr(model, attribute, None)
            values.append(value if type(value) in _IMMUTABLE else deepcopy(value))
        records = self._agenttype_records[model.time] = {}
        for agent_type in self.agenttype_reporters:
            records[agent_type] = list(self._record_agenttype(model, agent_type))

    def _record_agenttype(self, model: LuxuryMarketModel, agent_type: type) -> list:
        names = list(self.agenttype_reporters[agent_type])
        if agent_type is BuyerAgent and names == list(BUYER_REPORTERS):
            return _buyer_records(model)
        if agent_type is BrandAgent and names == list(BRAND_REPORTERS):
            return _brand_records(model)
        return self.records_by_reporter(model, agent_type)

    def records_by_reporter(self, model: LuxuryMarketModel, agent_type: type) -> list:
        """The month's records of ``agent_type`` from its reporters, called agent by agent (Mesa's way; for a
        ``BuyerAgent``, the sample's)."""
        if agent_type is not BuyerAgent:
            return list(super()._record_agenttype(model, agent_type))
        reporters = list(self.agenttype_reporters[BuyerAgent].values())
        return [(model.time, view.unique_id, *(report(view) for report in reporters)) for view in model.buyer_sample()]


def _buyer_records(model: LuxuryMarketModel) -> list[tuple]:
    """The :data:`BUYER_REPORTERS` of the buyer sample this month, read from the columns for the whole sample:
    ``(time, unique_id, slot, household, active, segment, car_brand, car_age_months, leased, satisfaction)``."""
    pop, slots = model.pop, model.sample_slots
    households = pop.household[slots].tolist()
    views = []
    for slot, household in zip(slots.tolist(), households):  # model.buyer(slot), without its checks
        view = model._views.get(slot)
        views.append(view if view is not None and view.household == household else model.buyer(slot))
    now = max(model.month, 0)
    segments, names, sp = model.config.segment_names, model.brand_names, model.config.satisfaction
    active = pop.active[slots].tolist()  # the view's household lives in its slot: BuyerAgent.active
    brands = [names[b] if b >= 0 and a else None for b, a in zip(pop.brand[slots].tolist(), active)]
    ages = (now - pop.purchase_month[slots]).tolist()
    months_since = now - pop.sat_month[slots].astype(np.int64)
    if months_since.size and 0 <= months_since.min() and months_since.max() < model._sat_decay.size:
        # satisfaction.decayed for the sample at once: its decay factor looked up (``decay_factors``, the same
        # numbers), then the same formula on the arrays
        sats = _TOWARD(sp.baseline, pop.sat[slots].astype(np.float64), model._sat_decay[months_since]).tolist()
    else:
        sats = [satisfaction.decayed(s, m, sp.baseline, sp.decay_months)
                for s, m in zip(pop.sat[slots].tolist(), months_since.tolist())]
    time = model.time
    return [(time, v.unique_id, v.slot, v.household, a, segments[g], b, age, leased, sat)
            for v, a, g, b, age, leased, sat in zip(views, active, pop.segment[slots].tolist(), brands, ages,
                                                    pop.leased[slots].tolist(), sats)]


_TOWARD = getattr(satisfaction.toward, "py_func", satisfaction.toward)  # its Python source, applied to arrays


def _brand_records(model: LuxuryMarketModel) -> list[tuple]:
    """The :data:`BRAND_REPORTERS` of every brand this month, the ledger's row read at once:
    ``(time, unique_id, brand, prestige, reputation, fleet, dealer_service_quality,
    complimentary_maintenance_months, sales, service_revenue, service_cost, new_car_margin, profit)``."""
    led, m, scale, time = model.ledger, model.month, model.scale, model.time
    sales, revenue, cost, margin = ((getattr(led, c)[m] * scale).tolist() for c in BRAND_MONTH_COLUMNS)
    return [(time, b.unique_id, b.name, prestige, reputation, fleet, b.service.dealer_service_quality,
             b.service.complimentary_maintenance_months, s, r, c, nc, nc + r - c)
            for b, prestige, reputation, fleet, s, r, c, nc in zip(
                model.brands, model.brand_prestige.tolist(), model.brand_reputation.tolist(), model.fleet.tolist(),
                sales, revenue, cost, margin)]


class _NotCollecting(_Collector):
    """The collector of a model built with ``collect=False``: it records nothing (its tables stay empty)."""

    def collect(self, model: LuxuryMarketModel) -> None:
        """Record nothing."""


def _brand_month(agent: BrandAgent, column: str) -> float:
    """The brand's value of a ledger column this month, in real units (counts and 1989 USD times ``scale``)."""
    model = agent.model
    return float(getattr(model.ledger, column)[model.month, agent.index] * model.scale)


def _brand_profit(agent: BrandAgent) -> float:
    return _brand_month(agent, "new_car_margin") + _brand_month(agent, "service_revenue") - _brand_month(
        agent, "service_cost")


BRAND_MONTH_COLUMNS = ("sales", "service_revenue", "service_cost", "new_car_margin")
BRAND_REPORTERS = {
    "brand": "name", "prestige": "prestige", "reputation": "reputation",
    "fleet": lambda a: int(a.model.fleet[a.index]),
    "dealer_service_quality": lambda a: a.service.dealer_service_quality,
    "complimentary_maintenance_months": lambda a: a.service.complimentary_maintenance_months,
} | {column: partial(_brand_month, column=column) for column in BRAND_MONTH_COLUMNS} | {"profit": _brand_profit}
BUYER_REPORTERS = {"slot": "slot", "household": "household", "active": "active", "segment": "segment",
                   "car_brand": "brand", "car_age_months": "car_age_months", "leased": "leased",
                   "satisfaction": "satisfaction"}


class LuxuryMarketModel(mesa.Model):
    """The market. ``LuxuryMarketModel(scenario, seed=1)`` then ``run()`` (or ``step()`` a month at a time).

    Attributes (the main ones): ``config`` (the scenario), ``brands`` (:class:`agents.brand.BrandAgent`, scenario
    order), ``pop`` (:class:`sim.population.Population`), ``network``, ``ledger`` (:class:`sim.metrics.Ledger`),
    ``brand_arrays`` (:class:`sim.brand_arrays.BrandArrays` in force this month), ``month`` (the month being or
    last simulated, 0 = January of ``market.start_year``; -1 before the first step), ``scale`` (real households per
    simulated buyer), ``datacollector`` (Mesa's), ``timings`` (seconds per phase of the step).
    """

    def __init__(self, scenario: Scenario | str | Path, *,
                 seed: int | np.random.SeedSequence | None | _ScenarioSeed = SCENARIO_SEED,
                 rng: int | np.random.SeedSequence | None | _ScenarioSeed = SCENARIO_SEED,
                 buyers: int | None = None, engine: str = "vectorised", collect: bool = True, **fields):
        """Build the market at the start of the scenario: the brands, the households with their cars, the social
        network, and (for small populations, or the reference engine) a ``BuyerAgent`` per household.

        Mesa's ``batch_run`` can build it: ``parameters={"scenario": "lexus_us_1989",
        "brands.Lexus.service.complimentary_maintenance_months": [0, 36]}`` (README, "Use from Mesa").

        Args:
            scenario: a validated scenario, or a scenario name or path (``sim.scenario_files.load_scenario``).
            seed: an int or a ``numpy.random.SeedSequence`` (copied: the caller's is not advanced); default
                ``scenario.simulation.seed``; None draws fresh entropy, as in numpy and Mesa (``batch_run``'s
                ``iterations``), kept in ``seed`` so that the run can be repeated. Every random stream is spawned
                from it, so a seed gives one run.
            rng: the same as ``seed`` (Mesa's name for it); give one of the two.
            buyers: households simulated at the start (default ``scenario.simulation.buyers``); the segment grows
                from there with ``market.annual_growth``.
            engine: ``"vectorised"`` (compiled passes, the default) or ``"agents"`` (the per-agent reference
                engine, ``BuyerAgent.step``; slow, for checking).
            collect: False: Mesa's DataCollector records nothing (``datacollector``'s tables stay empty), for callers
                that read only the ledger's tables (``brand_year``, ``switching``, ``line_year``: the same either
                way), such as a sweep's runs; about a tenth of a 10,000-buyer run's time.
            **fields: scenario field paths and their values, set as ``--set`` sets them
                (``**{"brands.Lexus.service.loaner_cars": False, "market.years": 5}``).

        Raises:
            sim.scenario_files.ScenarioError: no such scenario, or a bad field path or value (one line each).
            TypeError: ``scenario`` is not a Scenario, a name or a path (:func:`as_scenario`).
            ValueError: an unknown ``engine``, fewer than 1 buyer, or both ``seed`` and ``rng``.
            sim.executor.InsufficientMemory: the run would need more memory than is available
                (:func:`memory_needed`), raised before anything is allocated.
        """
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if seed is not SCENARIO_SEED and rng is not SCENARIO_SEED:
            raise ValueError("give seed or rng (the same thing), not both")
        scenario = as_scenario(scenario, fields)
        self.engine = engine
        seed = rng if seed is SCENARIO_SEED else seed
        seed = scenario.simulation.seed if seed is SCENARIO_SEED else seed
        if isinstance(seed, np.random.SeedSequence):  # a copy: spawning must not change the caller's
            self.seed_sequence = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key)
        else:
            self.seed_sequence = np.random.SeedSequence(seed)
            seed = self.seed_sequence.entropy  # None: the entropy drawn, to repeat the run
        streams = dict(zip(STREAMS, self.seed_sequence.spawn(len(STREAMS))))
        super().__init__(rng=streams["mesa"])
        self.rngs = {name: np.random.default_rng(ss) for name, ss in streams.items() if name != "mesa"}
        self.config = scenario
        self.seed = seed
        self.month = -1  # index of the month being (or last) simulated; 0 = January of start_year
        mk = scenario.market
        self.n_months = mk.months
        self.initial_buyers = buyers or scenario.simulation.buyers
        if self.initial_buyers < 1:
            raise ValueError(f"buyers: at least 1 is needed, got {self.initial_buyers}")
        # before anything is allocated: a run that cannot fit is refused with its estimate, not a MemoryError later
        check_memory(memory_needed(scenario, self.initial_buyers), run_size(scenario, self.initial_buyers))
        self.scale = mk.segment_households / self.initial_buyers  # real households per simulated buyer

        # the brands' state that moves every month, a column each (BrandAgent.prestige and .reputation read them),
        # and how many changes the brands have adopted (policy, price, lines: the month's tables are made again)
        self.brand_prestige = np.zeros(len(scenario.brands))
        self.brand_reputation = np.zeros(len(scenario.brands))
        self.brand_changes = 0
        self.line_changes = 0  # those of them that may move a line's dates or price (the line calendar is made again)
        self.brands = [BrandAgent(self, i, name, spec) for i, (name, spec) in enumerate(scenario.brands.items())]
        self._spec_prestige = np.array([b.spec.prestige for b in self.brands])
        self.brand_names = [b.name for b in self.brands]
        self.segments = choice.SegmentArrays.from_scenario(scenario)
        n_brands = len(self.brands)
        line_counts = [len(b.lines) for b in self.brands]
        self.brand_lines = lineup.brand_lines(line_counts)  # (n_brands, max lines): each brand's line indices
        self.line_count = np.array(line_counts, dtype=np.int64)
        self.lines_table = pd.DataFrame([(b.name, line.name, line.body, line.tier) for b in self.brands
                                         for line in b.lines], columns=["brand", "model", "body", "tier"])
        self.lines: lineup.LineArrays | None = None  # the model lines this month (prices, on sale)
        capacity = population_capacity(scenario, self.initial_buyers)
        self.pop = Population.empty(capacity, n_brands)
        self.calendar = Calendar(entries=capacity + capacity // 4 + 1024, months=self.n_months)
        self.complaints = Complaints()
        self.network = build_network(capacity, scenario.word_of_mouth.community_size, scenario.word_of_mouth.degree,
                                     scenario.word_of_mouth.rewire, self.rngs["network"])
        self.ledger = Ledger(self.n_months, n_brands, int(self.line_count.sum()))
        # what the compiled kernels read: the scenario's parameters as named tuples, the arrays they write
        self.params = dict(ep=service.EventParams.of(scenario.service_events),
                           sp=SatisfactionParams.of(scenario.satisfaction),
                           wp=word_of_mouth.WomParams.of(scenario.word_of_mouth),
                           cp=choice.ChoiceParams.of(scenario.choice), holding=replacement.Holding.of(mk))
        self._columns = self.pop.columns()
        self._moved = np.empty((4096, 2), dtype=np.int64)  # (slot, new replacement month) rows, for the calendar
        self._no_log = np.empty((0, 2), dtype=np.int64)  # kernels.service_month lists no events
        self._leavers = np.empty(0, dtype=np.int64)  # kernels.shop's outputs: slots leaving, (slot, month) bought
        self._bought = np.empty((0, 2), dtype=np.int64)
        self._sat_decay = satisfaction.decay_factors(self.n_months, scenario.satisfaction.decay_months)
        self._ledger_arrays = self.ledger.arrays
        self._money = np.zeros((len(service.EVENT_KINDS), n_brands, 2))  # events by kind, brand, free to the owner
        self._unit_money: tuple[np.ndarray, np.ndarray] | None = None  # revenue, cost of one event
        self._brand_key: tuple | None = None
        self._calendar_key: int | None = None  # the line_changes the line calendar was made at (_line_calendar)
        self._calendar: lineup.LineCalendar | None = None
        self._dated: dict[str, np.ndarray] | None = None
        self._line_part_key: tuple | None = None
        self._nests: choice.Nests | None = None  # the lines' part of the offer (``_make_offer``)
        self._stock_key: int | None = None
        self._service_key: int | None = None  # (_service_month's tables: experience means, the defect bound)
        self._service_tables: tuple[np.ndarray, float] | None = None
        self._allocation: np.ndarray | None = None
        self.brand_arrays: BrandArrays | None = None
        self.sales_share = np.zeros(n_brands)  # this month's
        self.offer: choice.Offer | None = None  # what the market offers this month (brand values, line probabilities)
        self._entrant_cdf = np.cumsum(self.segments.entrant_share / self.segments.entrant_share.sum())
        self.fleet = np.zeros(n_brands, dtype=np.int64)
        self.entries = 0
        self.exits = 0
        self.timings: dict[str, float] = {}  # seconds per phase of the step
        self.wom_epoch = 0  # stored word of mouth is inflated relative to this month (sim/word_of_mouth.py)
        self._views: dict[int, BuyerAgent] = {}
        self._given_events: np.ndarray | None = None  # the next month's service events, if given (give_events)
        self._left: list[int] = []  # reference engine: slots of households that left, to free (release_leavers)
        self._populate()
        started = np.flatnonzero(self.pop.active)
        k = min(scenario.simulation.agent_sample, started.size)
        self.sample_slots = started[np.linspace(0, started.size - 1, k).round().astype(np.int64)] if k else started[:0]
        views = started if capacity <= scenario.simulation.agent_views or engine == "agents" else self.sample_slots
        for slot in views:
            self.buyer(int(slot))

        collector = _Collector if collect else _NotCollecting
        self.datacollector = collector(model_reporters=self.model_reporters(),
                                       agenttype_reporters={BrandAgent: dict(BRAND_REPORTERS),
                                                            BuyerAgent: BUYER_REPORTERS})

    def model_reporters(self) -> dict:
        """The DataCollector's model-level reporters (name -> attribute name or function of the model): active
        buyers, entries, exits and each brand's ``sales_share[BRAND]`` this month. A subclass may add its own."""
        reporters = {"active_buyers": "n_active", "entries": "entries", "exits": "exits"}
        return reporters | {f"sales_share[{b.name}]": partial(_share_reporter, index=b.index) for b in self.brands}

    # ---- set-up ----------------------------------------------------------------------------------------
    def _lease_trend(self, year: float | np.ndarray) -> float | np.ndarray | None:
        trend = self.config.market.lease_trend
        if not trend:
            return None
        out = np.interp(year, [p.year for p in trend], [p.value for p in trend])
        return float(out) if np.ndim(out) == 0 else out

    def lease_probability(self, month: int | np.ndarray) -> np.ndarray:
        """P(lease) of a new car in ``month``, per segment; a row per month for an array of months."""
        trend = self._lease_trend(self.config.market.start_year + np.asarray(month) / 12)
        p = replacement.lease_probability(self.segments.lease_propensity, self.segments.share, trend)
        return np.tile(p, (np.size(month), 1)) if trend is None and np.ndim(month) else p

    def _holding(self, slots: np.ndarray, month: int, rng: np.random.Generator) -> np.ndarray:
        """Lease-or-own for cars acquired by ``slots`` in ``month`` (stored); returns the months each is kept."""
        mk, pop = self.config.market, self.pop
        leased = rng.random(slots.size) < self.lease_probability(month)[pop.segment[slots]]
        pop.leased[slots] = leased
        return replacement.holding_months(rng, leased, mk.lease_months, mk.ownership_months_mean, mk.ownership_shape)

    def _reschedule(self, slots: np.ndarray, months: np.ndarray) -> None:
        months = np.minimum(months, LAST_MONTH)
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
        pop.need[slots] = lineup.draw_needs(rng, n, lineup.need_cdf(cfg.market.body_type_mix, cfg.market.start_year))
        pop.variety_seeker[slots] = choice.draw_variety_seekers(rng, n, cfg.choice.variety_seekers)
        pop.brand_taste[slots] = choice.draw_owner_brand_tastes(rng, brand, shares / shares.sum(),
                                                                cfg.choice.brand_taste_sd)
        if (self.line_count > 1).any():  # which line each owner's car is: as buyers of month 0 would choose
            self.lines = lineup.LineArrays.from_brands(self.brands, 0)
            offer = self._make_offer(0, BrandArrays.from_brands(self.brands, 0))
            u = rng.random(n)
            g, need = pop.segment[slots], pop.need[slots]
            cdf = offer.line_cdf[g, need, brand]  # (n, max lines)
            k = (u[:, None] >= cdf).sum(axis=1).clip(0, self.brand_lines.shape[1] - 1)  # inverse CDF
            pop.line[slots] = self.brand_lines[brand, k]
        else:
            pop.line[slots] = self.brand_lines[brand, 0]
        self.fleet += np.bincount(brand, minlength=len(self.brands))
        hold = self._holding(slots, 0, rng)
        # Cars already on the road: each is some way through its holding time.
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
        """Households in the luxury segment now."""
        return self.pop.n_active()

    def step(self) -> None:
        """Simulate the next month (Mesa's step; see the module docstring for what happens in it).

        Updates the model in place: ``month``, the buyers, the ``ledger`` row of the month, the brands' prestige
        and reputation, and Mesa's data collector. Sets ``running`` to False after the scenario's last month.

        Raises:
            RuntimeError: the scenario's last month has been simulated already (nothing is changed but Mesa's
                ``steps`` count).
        """
        m = self.steps - 1
        if m >= self.n_months:
            raise RuntimeError(f"the scenario's {self.n_months} months have been simulated; there is no next month")
        self.month = m
        decay = self.config.word_of_mouth.decay_months
        if (m - self.wom_epoch) / decay > word_of_mouth.REBASE_EXPONENT:
            self.pop.told *= np.float32(1.0 / word_of_mouth.inflation(m, self.wom_epoch, decay))
            self.wom_epoch = m
        clock = _PhaseClock(self.timings)
        self.agents_by_type[BrandAgent].do("step")
        calendar = self._line_calendar()
        self.lines = calendar.lines(m)  # the model lines this month
        self.brand_arrays = ba = self._brand_arrays(m, calendar)
        self.offer = self._make_offer(m, ba)
        self.lease_p = self._dated["lease_p"][m]
        if self._stock_key != self.brand_changes:  # the month's allocation, the same until a brand adopts a change
            self._stock_key = self.brand_changes
            self._allocation = supply.monthly_allocation(ba.dealers, ba.dealer_capacity, self.scale)
        self.stock = self._allocation.copy()  # cars left this month
        clock("brands")
        given, self._given_events = self._given_events, None
        if self.engine == "vectorised":
            self._service_month(m, ba, clock, given)
            self._market_month(m, ba, clock)
        elif given is not None:
            self._agents_given_month(m, given, clock)
        else:  # the per-agent reference engine: each household lives its month (agents/buyer.py)
            rng = self.rngs["agents"]
            self.recall_campaign = service.draw_campaigns(rng, ba.on_sale, self.params["ep"])
            self.agents_by_type[BuyerAgent].shuffle_do("step")
            self.release_leavers()
            for slot in self._admit_entrants(m):
                self.buyer(int(slot)).shop(may_leave=False, rng=rng)
            clock("agents")
        self._close_month(m, ba)
        self._brand_dynamics(m)
        self.ledger.fleet[m] = self.fleet
        self.datacollector.collect(self)
        clock("metrics")
        if m + 1 >= self.n_months:
            self.running = False

    def _line_calendar(self) -> lineup.LineCalendar:
        """The lines and brands on sale month by month (``sim.lineup.line_calendar``), made again when a brand has
        adopted a change of its lines' dates or prices since (``line_changes`` moved); with it, once a run, what
        depends only on the date: ``_dated`` (each month's P(lease) by segment and cumulative need shares)."""
        key = self.line_changes
        if key != self._calendar_key:
            self._calendar_key, self._calendar = key, lineup.line_calendar(self.brands, self.n_months)
        if self._dated is None:
            months, mk = np.arange(self.n_months), self.config.market
            self._dated = {"lease_p": self.lease_probability(months),
                           "need_cdf": lineup.need_cdf(mk.body_type_mix, mk.start_year + months / 12)}
        return self._calendar

    def _make_offer(self, m: int, ba: BrandArrays) -> choice.Offer:
        """What the market offers shoppers in month ``m`` (``sim.choice.nest``): each brand's value per segment and
        need, and the probabilities of its lines, from the model ``lines`` of the month. The lines' part of
        utility is computed again only when the brands or their lines change (``_brand_arrays``)."""
        cfg, lines = self.config, self.lines
        perk = choice.perk_value(ba.complimentary_maintenance_months, cfg.service_events.maintenance_interval_months,
                                 cfg.costs.maintenance_price)
        brand_part = choice.brand_values(ba, self.segments, cfg.choice, perk)
        if self._line_part_key is None or self._line_part_key != self._brand_key:
            self._line_part_key = self._brand_key
            line_part = choice.line_values(lines, ba.discount, self.segments, cfg.choice, cfg.market)
            self._nests = choice.inclusive_values(line_part, lines.on_sale, self.brand_lines, self.line_count,
                                                  cfg.choice.nesting_parameter)
        if self._dated is not None:
            need_cdf = self._dated["need_cdf"][m]
        else:
            need_cdf = lineup.need_cdf(cfg.market.body_type_mix, cfg.market.start_year + m / 12)
        return choice.offer(brand_part, self._nests, need_cdf)

    def give_events(self, events: np.ndarray) -> None:
        """Make the next month (the next ``step``) live these service events instead of drawing its own.

        Args:
            events: int, shape (k, 2) (or anything that reshapes to it): (slot, kind) rows, kind an
                ``sim.service.EventKind``, lived in this order; a slot with no owner then is skipped.

        Raises:
            ValueError: a kind that is not an ``EventKind``, or a slot outside the population (nothing is kept).

        To replay a month's events (``sim.kernels.draw_events`` lists them), to see what given events do, and to
        make both engines live the same month.

        Both engines then run the month in the vectorised engine's phases and random streams: the events (their
        experiences, and what follows, from the ``service`` stream; no recall campaigns are drawn), the
        complaints due, the owners due to shop in slot order, then the entrants (the ``market`` stream). Given
        the same state, the same events and the same seed, the two engines then make the same month
        (``tests/test_differential.py``); without given events the reference engine draws its events per
        household and lives each household's month in turn, in random order (``BuyerAgent.step``)."""
        events = np.ascontiguousarray(np.asarray(events, dtype=np.int64).reshape(-1, 2))
        if events.size and not (np.isin(events[:, 1], list(service.EventKind)).all()
                                and (events[:, 0] >= 0).all() and (events[:, 0] < self.pop.capacity).all()):
            raise ValueError("events must be (slot, kind) rows with a slot of the population and a kind of "
                             "sim.service.EventKind")
        self._given_events = events

    def release_leavers(self) -> None:
        """Free the slots of the households that left the segment since the last call (``leave_segment``),
        together and in the order they left, as the vectorised engine does after its shoppers: the next
        entrant takes the first leaver's slot."""
        if self._left:
            self.pop.release(np.array(self._left, dtype=np.int64))
            self._left.clear()

    def leave_segment(self, view: BuyerAgent) -> None:
        """The reference engine's household in ``view`` leaves the luxury segment: it owns no car and will not
        shop again; its slot is freed by ``release_leavers`` and its Mesa agent removed."""
        pop, i = self.pop, view.slot
        pop.active[i], pop.brand[i], pop.replace_month[i] = False, NO_BRAND, NEVER
        self._left.append(i)
        self.forget(view)

    def _agents_given_month(self, m: int, events: np.ndarray, clock: _PhaseClock) -> None:
        """The reference engine's month with given events (``give_events``): the events in order, then the
        complaints due, the owners due to shop in slot order, the entrants (the vectorised engine's phases and
        streams), each household's part done by its ``BuyerAgent`` methods."""
        pop, service_rng, market_rng = self.pop, self.rngs["service"], self.rngs["market"]
        for slot, kind in events:
            if pop.active[slot] and pop.brand[slot] >= 0:
                self.buyer(int(slot)).visit_dealer(service.EventKind(kind), service_rng)
        for view in list(self.agents_by_type[BuyerAgent]):
            view.resolve_complaints()
        for slot in range(pop.in_use):
            if rules.due_to_shop(bool(pop.active[slot]), int(pop.replace_month[slot]), m):
                self.buyer(slot).shop(may_leave=True, rng=market_rng)
        self.release_leavers()
        for slot in self._admit_entrants(m):
            self.buyer(int(slot)).shop(may_leave=False, rng=market_rng)
        clock("agents")

    def run(self, months: int | None = None) -> LuxuryMarketModel:
        """Simulate ``months`` more months (default: to the scenario's end).

        Python's cycle collector is paused meanwhile: the months make few reference cycles, and in a process
        holding many objects each full collection would scan them all (about 2% of a run).

        Args:
            months: how many more months; never past the scenario's end (more is cut to what remains).

        Returns:
            The model itself, so that ``LuxuryMarketModel(...).run().brand_year()`` reads as one line.
        """
        remaining = self.n_months - (self.month + 1)
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self.run_for(min(months, remaining) if months is not None else remaining)
        finally:
            if was_enabled:
                gc.enable()
        return self

    def _brand_arrays(self, m: int, calendar: lineup.LineCalendar) -> BrandArrays:
        """The brands' parameters this month: made again in full when a brand has adopted a change (policy, price,
        discount, dealers, lines: ``brand_changes`` moved); the fields that follow the lines on sale updated when a
        line came on sale, ended or was repriced by its own dates (a new epoch of the ``calendar``); otherwise only
        prestige, reputation and marketing reach move."""
        key = (self.brand_changes, self._calendar_key, int(calendar.epoch[m]))
        if key != self._brand_key:
            adopted = self._brand_key is None or key[0] != self._brand_key[0]  # a brand changed: everything again
            self._brand_key = key
            if adopted:
                self._unit_money = None
                return BrandArrays.from_brands(self.brands, m)
            ba = self.brand_arrays.with_lines(self.brands, m, calendar.on_sale[m], calendar.price[m],
                                              calendar.defects_per_car_year)  # only lines or prices changed
            return ba._replace(prestige=self.brand_prestige.copy(), reputation=self.brand_reputation.copy())
        return self.brand_arrays._replace(prestige=self.brand_prestige.copy(), reputation=self.brand_reputation.copy(),
                                          awareness_reach=np.array([b.marketing_reach(m) if on else 0.0 for b, on
                                                                    in zip(self.brands, calendar.brand_on_sale[m])]))

    def _service_month(self, m: int, ba: BrandArrays, clock: _PhaseClock, given: np.ndarray | None = None) -> None:
        """Service events (each lived as it is drawn, or the ``given`` ones: ``give_events``), then the complaints
        the brands resolve this month."""
        cfg, par = self.config, self.params
        rng = self.rngs["service"]
        self._money[:] = 0.0
        fade = word_of_mouth.inflation(m, self.wom_epoch, cfg.word_of_mouth.decay_months)
        ep = par["ep"]
        if given is None:
            campaign = service.draw_campaigns(rng, ba.on_sale, ep)
            phase = service.ROUTINE_PASS
        else:
            campaign, phase = np.zeros(ba.n, dtype=bool), service.GIVEN_PASS
        line_defects = self.lines.defects_per_car_year
        if self._service_key != self.brand_changes:  # the levers' and lines' tables, the same until a brand
            self._service_key = self.brand_changes  # adopts a change
            self._service_tables = (service.experience_table(ba, ep), service.defect_bound(line_defects, ep))
        means, p_max = self._service_tables
        slot, next_routine, next_defect, done = -1, -1, -1, 0
        while phase != service.DONE:
            phase, slot, next_routine, next_defect, n_moved, n_logged = kernels.service_month(
                rng, m, phase, slot, next_routine, next_defect, self.pop.in_use, campaign, means, p_max,
                self._columns, ba, line_defects, ep, par["sp"], par["wp"], fade, self._sat_decay, self.lease_p,
                par["holding"],
                cfg.costs.warranty_months, cfg.costs.take_back_cost, self._ledger_arrays, self._money,
                self.complaints.arrays, self._moved, self._no_log if given is None else given[done:])
            done += n_logged
            self.calendar.add(self._moved[:n_moved, 1], self._moved[:n_moved, 0])
            if phase != service.DONE:  # stopped for room: make some
                self.complaints.reserve(1)  # grows if full
                if n_moved + 2 > self._moved.shape[0]:
                    self._moved = np.empty((2 * self._moved.shape[0], 2), dtype=np.int64)
        clock("service_events")

        kernels.count_events(self.ledger, m, self._money)
        self._book_service_money(m, ba)
        kernels.resolve_complaints(m, self.complaints.arrays, self._columns, par["sp"], self._sat_decay,
                                   cfg.costs.complaint_cost, self._ledger_arrays)
        clock("complaints")

    def _book_service_money(self, m: int, ba: BrandArrays) -> None:
        """Revenue and cost of the month's events: counts by (kind, brand, free to the owner) times what one
        such event earns and costs (``sim.finance.event_money``, recomputed only when the brands change)."""
        if self._unit_money is None:  # reset by _brand_arrays when a brand changes
            nb = ba.n
            brand = np.tile(np.arange(nb), 2)
            age = np.repeat([10**6, -1], nb)  # an age at which nothing is free; one at which everything is
            unit = [event_money(kind, brand, age, ba, self.config.costs) for kind in range(len(service.EVENT_KINDS))]
            revenue = np.stack([r for r, _ in unit]).reshape(-1, 2, nb).transpose(0, 2, 1)
            cost = np.stack([c for _, c in unit]).reshape(-1, 2, nb).transpose(0, 2, 1)
            self._unit_money = (revenue, cost)
        revenue, cost = self._unit_money
        self.ledger.service_revenue[m] += (self._money * revenue).sum(axis=(0, 2))
        self.ledger.service_cost[m] += (self._money * cost).sum(axis=(0, 2))

    def _market_month(self, m: int, ba: BrandArrays, clock: _PhaseClock) -> None:
        """Owners whose replacement date has come shop (or leave); then new households enter and buy: one compiled
        call (``kernels.market_month``)."""
        cfg, rng, par, pop = self.config, self.rngs["market"], self.params, self.pop
        due = np.sort(self.calendar.pop(m))  # in slot order: neighbours in memory, and in the social network
        target = self._entrant_target(m)
        rows = due.size + max(0, target - pop.n_active() + due.size)  # owners due, and the most entrants there can be
        if self._leavers.size < rows or self._bought.shape[0] < rows:  # output buffers, kept from month to month
            self._leavers = np.empty(2 * rows, dtype=np.int64)  # (no fresh pages each time)
            self._bought = np.empty((2 * rows, 2), dtype=np.int64)
        wp = cfg.word_of_mouth
        fade = word_of_mouth.inflation(m, self.wom_epoch, wp.decay_months)
        n_moved, pop.n_free, entrants = kernels.market_month(
            rng, due, target, pop.free, pop.n_free, pop.next_household, self._entrant_cdf, cfg.choice.variety_seekers,
            cfg.choice.brand_taste_sd, m, self._columns, self.network.indptr, self.network.local, self.network.size, ba,
            fade, wp.aware_on_purchase, self.offer, cfg.market.need_change, cfg.market.life_event_exit,
            self.segments.service_weight, self.segments.outside_utility, par["cp"], par["sp"], self._sat_decay,
            self.lease_p, par["holding"], self._ledger_arrays, self.fleet, self.stock, self._leavers, self._bought)
        pop.took(entrants)
        self.calendar.add(self._bought[:n_moved, 1], self._bought[:n_moved, 0])
        clock("shopping")

    def _entrant_target(self, m: int) -> int:
        """Households the segment should hold at the end of month ``m`` (its growth path, ``market.annual_growth``)."""
        return int(round(self.initial_buyers * (1.0 + self.config.market.annual_growth) ** ((m + 1) / 12)))

    def _admit_entrants(self, m: int) -> np.ndarray:
        """New households enter the segment so that it follows its growth path (``kernels.admit_entrants``, as the
        vectorised engine's month does); returns their slots."""
        pop, ch = self.pop, self.config.choice
        n_new = min(self._entrant_target(m) - self.n_active, pop.n_free)
        if n_new <= 0:
            return np.empty(0, dtype=np.int64)
        slots = kernels.admit_entrants(self.rngs["market"], n_new, self._columns, pop.free, pop.n_free,
                                       pop.next_household, self._entrant_cdf, self.offer.need_cdf, ch.variety_seekers,
                                       ch.brand_taste_sd)
        pop.took(slots)
        return slots

    def _close_month(self, m: int, ba: BrandArrays) -> None:
        """The month's choice counts (sales, conquest, churn ...) from its switching matrix, new-car margin,
        and the households that entered or left the segment."""
        led, nb = self.ledger, len(self.brands)
        led.derive_choices(m)
        paid = self.lines.price * (1.0 - ba.discount[self.lines.brand])  # per line, 1989 USD
        led.sales_revenue[m] = np.bincount(self.lines.brand, weights=led.line_sales[m] * paid, minlength=nb)
        led.new_car_margin[m] = led.sales_revenue[m] * ba.new_car_margin
        led.models_on_sale[m] = np.bincount(self.lines.brand, weights=self.lines.on_sale, minlength=nb)
        total = led.sales[m].sum()
        self.sales_share = led.sales[m] / total if total else np.zeros(nb)
        self.exits += int(led.switching[m, :nb, nb].sum())
        self.entries += int(led.switching[m, nb, :nb].sum())

    def _brand_dynamics(self, m: int) -> None:
        """Each brand's service reputation follows its owners' satisfaction readings of the month; from the end of
        the first year its prestige moves toward its target (share gains, discounts: ``sim.reputation``)."""
        led, ch = self.ledger, self.config.choice
        n_obs = led.csi_n[m]
        observed = np.divide(led.csi_sum[m], n_obs, out=np.zeros_like(n_obs), where=n_obs > 0)
        self.brand_reputation[:] = reputation.follow(self.brand_reputation, observed, n_obs > 0, ch.reputation_months)
        if m >= 11:
            share = led.trailing_shares(m + 1)
            if m == 11:
                for b in self.brands:
                    b.reference_share = share[b.index] if b.on_sale(0) else 0.0
            target = reputation.prestige_target(
                self._spec_prestige, share, np.array([b.reference_share for b in self.brands]),
                np.array([b.discount for b in self.brands]), ch.prestige_share_weight, ch.prestige_discount_erosion)
            self.brand_prestige[:] = reputation.move_toward(self.brand_prestige, target, ch.prestige_months)
        led.prestige[m] = self.brand_prestige

    # ---- inspection and results ----------------------------------------------------------------------------
    def buyer(self, slot: int) -> BuyerAgent:
        """The Mesa agent for the household in ``slot`` (created on first request).

        Args:
            slot: a slot of the population, 0 <= slot < ``pop.capacity``.

        Returns:
            Its :class:`agents.buyer.BuyerAgent`: the same object while the same household lives there, a new one
            once another household has taken the slot (the old one, of a household that left, is then removed
            from the model's agents). A free slot's agent reports ``active`` False.

        Raises:
            IndexError: a slot outside the population.
        """
        if not 0 <= slot < self.pop.capacity:
            raise IndexError(f"slot {slot} is outside the population (0 to {self.pop.capacity - 1})")
        view = self._views.get(slot)
        if view is None or view.household != self.pop.household[slot]:
            if view is not None:
                view.remove()
            view = self._views[slot] = BuyerAgent(self, slot)
        return view

    def buyer_sample(self) -> AgentSet:
        """The views of the sampled households: those living now in the ``simulation.agent_sample`` evenly spaced
        slots of the starting population (``sample_slots``), whoever they are (a household that left is
        followed by the next to take its slot; a slot left free gives an agent with ``active`` False).

        What the DataCollector's ``BuyerAgent`` reporters record each month (:data:`BUYER_REPORTERS`). Costs a
        lookup per sampled slot, nothing per buyer; the same buyers whatever the engine, and no random draw.
        """
        return AgentSet([self.buyer(int(slot)) for slot in self.sample_slots], random=self.random)

    def forget(self, view: BuyerAgent) -> None:
        """Remove the Mesa agent of a household that has left the segment."""
        if self._views.get(view.slot) is view:
            del self._views[view.slot]
        view.remove()

    def date(self, month: int | None = None) -> str:
        """Model month ``month`` (default: the current one) as ``"YYYY-MM"``."""
        month = self.month if month is None else month
        year, mo = divmod(month, 12)
        return f"{self.config.market.start_year + year}-{mo + 1:02d}"

    def month_of(self, date: str) -> int:
        """The model month of ``date`` (``"YYYY-MM"``); negative before the start.

        Raises:
            ValueError: ``date`` is not two integers joined by ``-``.
        """
        return year_month_index(date, self.config.market.start_year)

    def brand_year(self) -> pd.DataFrame:
        """The tidy yearly table per brand of the complete years simulated so far, in real units.

        Returns:
            One row per year x brand (scenario order): ``year``, ``brand``, then sales, shares, churn, loyalty,
            conquest, CSI, service P&L, profit, CLV ... (columns and units: ``sim.metrics.Ledger.yearly``); counts
            and money multiplied by ``scale``, money in 1989 USD. Empty before the first complete year.
        """
        return self.ledger.yearly(self.brand_names, self.config.market.start_year, self.scale,
                                  self.config.costs.discount_rate, months_done=self.month + 1)

    def switching(self) -> pd.DataFrame:
        """Who bought what, by year: the complete years simulated so far.

        Returns:
            Columns ``year``, ``from_brand`` (a brand, or ``"new"``: entered the segment), ``to_brand`` (a brand, or
            ``"left"``: left the segment), ``buyers`` (real units); one row per year and flow with buyers
            (``sim.metrics.Ledger.switching_table``).
        """
        return self.ledger.switching_table(self.brand_names, self.config.market.start_year, self.scale,
                                           months_done=self.month + 1)

    def line_year(self) -> pd.DataFrame:
        """Sales by model line and year, the complete years simulated so far (``sim.metrics.Ledger.line_year``):
        ``year, brand, model, body, tier, sales`` (real units), ``share_of_brand``."""
        return self.ledger.line_year(self.lines_table, self.config.market.start_year, self.scale,
                                     months_done=self.month + 1)

    def memory_bytes(self) -> int:
        """Bytes held by the per-buyer state and the social network (with the replacement calendar and the pending
        complaints)."""
        return (self.pop.nbytes() + self.network.nbytes() + self.calendar.nbytes() + self.complaints.nbytes())
