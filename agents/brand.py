"""Brand agents: Lexus, Mercedes-Benz, BMW, ... — every brand comes from the scenario.

A brand has a launch date, model lines (each with a body type, a price class, a price path, a defect rate and
dates on sale; ``sim/lineup.py``), perhaps a discount and a price index (exchange-rate or cost shocks), prestige
that moves slowly, awareness built by marketing, a dealer network, and a service policy that changes along a
timeline or in response to the market (its strategy: new levers, new lines, new prices). Brands are few, so
they are ordinary Mesa agents: the model calls
``step()`` on each once a month.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.policies import apply_levers, make_strategy
from sim.brand_arrays import line_means
from sim.lineup import implicit_line
from sim.scenario import BODY_TYPES, TIERS, Brand, ModelLine, ServiceLevers, year_month_index

if TYPE_CHECKING:
    from sim.model import LuxuryMarketModel

NEVER_MONTH = 10**6  # a line's start or end month that never comes


class _PolicyChange:
    """A dated policy change, scheduled on Mesa's event list (which holds callbacks weakly: the brand
    keeps these alive)."""

    def __init__(self, brand: BrandAgent, month: int, service: dict, note: str, changes: dict):
        self.brand, self.month, self.service, self.note, self.changes = brand, month, service, note, changes

    def __call__(self) -> None:
        self.brand.adopt(self.service, self.note, self.month, **self.changes)


class BrandAgent(mesa.Agent):
    """One brand as a Mesa agent: its current price, discount, prestige, service reputation and service policy.

    Created by the model, one per scenario brand, in scenario order. Timeline changes dated at or before the
    start are in force from month 0; later ones are scheduled on Mesa's event list. Once a month the model calls
    :meth:`step` (the strategy may schedule a response) and moves ``prestige`` and ``reputation``.

    Args:
        model: the model the brand belongs to (its ``config`` is the scenario; its ``ledger`` the sales).
        index: the brand's position in the scenario: its index on every brand axis of arrays and tables.
        name: the brand's name (the scenario's key).
        spec: the brand's scenario section, kept as ``spec`` (the starting values; never changed).

    Attributes:
        service: the policy in force (:class:`sim.scenario.ServiceLevers`).
        lines: the brand's model lines (``spec.models``, or one implicit line at ``spec.price``), in file order.
        price_index, discount: the multiplier on every line's list price and the discount (fraction of list
            price) in force.
        dealers: US dealerships in force (``spec.dealers``, then the timeline's ``dealers``).
        dealer_capacity: new cars a dealer can deliver a year, in force (``inf``: no limit; ``sim/supply.py``).
        prestige: brand equity, 0-1 (moves toward its target: :mod:`sim.reputation`).
        reputation: service reputation, satisfaction scale -1..1 (starts at ``satisfaction.baseline``).
        reference_share: trailing 12-month sales share at the end of the first simulated year (0 for brands
            not on sale at the start); prestige rises with share gains over it.
        launch_month: the model month of the launch (a large negative number for brands on sale at the start).
        history: ``(month, note)`` for every policy, price or discount change adopted.
        changes: how many changes were adopted (the model's ``brand_changes`` counts all brands': it rebuilds its
            brand arrays when that count moves).
    """

    def __init__(self, model: LuxuryMarketModel, index: int, name: str, spec: Brand):
        super().__init__(model)
        self.index = index
        self.name = name
        self.spec = spec
        start_year = model.config.market.start_year
        self.launch_month = year_month_index(spec.launch, start_year) if spec.launch else -10**6
        self.service: ServiceLevers = spec.service.model_copy()
        self.discount: float = spec.discount
        self.price_index: float = spec.price_index
        self.dealers: int = spec.dealers
        self.dealer_capacity: float = np.inf if spec.dealer_capacity is None else spec.dealer_capacity
        self.lines: list[ModelLine] = list(spec.models) or [implicit_line(name, spec.price, spec.defects_per_car_year)]
        # first month on sale, first month no longer on sale (the strategy's response may move them)
        self._line_start = np.array([self._month(line.launch, self.launch_month) for line in self.lines], np.int64)
        self._line_end = np.array([self._month(line.end, NEVER_MONTH) for line in self.lines], np.int64)
        self._line_paths = [([self._month(line.launch, self.launch_month)]  # (months, prices) of each line's path
                             + [self._month(p.date, 0) for p in line.prices],
                             [line.price] + [p.price for p in line.prices]) for line in self.lines]
        self._implicit_price: float | None = None  # a timeline ``price`` of a brand without lines
        self._price_table = self._list_prices(np.arange(model.config.market.months))  # (n_lines, months of the run)
        self.line_defects_all = np.array([self.line_defects(k) for k in range(len(self.lines))])
        self.line_bodies = np.array([BODY_TYPES.index(line.body) for line in self.lines], np.int64)
        self.line_tiers = np.array([TIERS.index(line.tier) for line in self.lines], np.int64)
        self.line_appeals = np.array([line.appeal for line in self.lines], np.float64)
        self.line_tax_exempt = np.array([line.luxury_tax_exempt for line in self.lines], bool)
        self.prestige = spec.prestige  # (kept in the model's brand_prestige and brand_reputation columns)
        self.reputation = model.config.satisfaction.baseline
        self.reference_share: float = 0.0
        self.strategy = make_strategy(spec.strategy)
        self.history: list[tuple[int, str]] = []
        self.changes = 0  # policy, price or discount changes so far (the model rebuilds its brand arrays then)
        self._pending: list[_PolicyChange] = []
        for change in spec.timeline:
            month = year_month_index(change.date, start_year)
            changes = dict(discount=change.discount, price=change.price, price_index=change.price_index,
                           dealers=change.dealers, dealer_capacity=change.dealer_capacity)
            if month <= 0:  # already in force at the start
                self.adopt(change.service, change.note, 0, **changes)
            else:
                self.schedule_policy_change(month, change.service, change.note, **changes)

    def _month(self, date: str | None, default: int) -> int:
        """The model month of a line's date: ``default`` if omitted, never for ``"response"`` (until launched)."""
        if date is None:
            return default
        if date == "response":
            return NEVER_MONTH
        return year_month_index(date, self.model.config.market.start_year)

    # ---- what the brand knows of the market ----------------------------------------------------------
    def on_sale(self, month: int | np.ndarray) -> bool | np.ndarray:
        """True from the launch month on (always, for a brand on sale at the start) while a line is on sale
        (``lines_on_sale``, which holds the launch too); a bool array, shape (len(month),), for an array of months
        (``sim.lineup.line_calendar``)."""
        on = self.lines_on_sale(month).any(axis=-1)
        return bool(on) if on.ndim == 0 else on

    def line_on_sale(self, k: int, month: int) -> bool:
        """Whether line ``k`` is on sale in ``month`` (``lines_on_sale``)."""
        return bool(self.lines_on_sale(month)[k])

    def _list_prices(self, months: np.ndarray) -> np.ndarray:
        """Each line's list price path (before the price index) in each of ``months``, shape (n_lines,
        len(months)): the latest price point whose month has come (the launch price before any)."""
        out = np.empty((len(self.lines), months.size))
        for k, (starts, prices) in enumerate(self._line_paths):
            came = np.asarray(starts)[None, :] <= months[:, None]  # (months, points)
            latest = np.where(came, np.arange(len(starts)), 0).max(axis=1)
            out[k] = np.asarray(prices)[latest]
        return out

    def lines_on_sale(self, month: int | np.ndarray) -> np.ndarray:
        """Whether each line is on sale in ``month``: launched (by its date, or by the strategy's response), not
        yet ended, and the brand launched; bool, shape (n_lines,), or (len(month), n_lines) for an array of
        months (``sim.lineup.line_calendar``: the run's months at once)."""
        month = np.asarray(month)[..., None]
        return (self.launch_month <= month) & (self._line_start <= month) & (month < self._line_end)

    def line_prices(self, month: int) -> np.ndarray:
        """Every line's list price in force in ``month`` (its latest price point by then, times ``price_index``;
        a timeline ``price`` for a brand without lines), 1989 USD, shape (n_lines,)."""
        if self._implicit_price is not None:
            return np.full(len(self.lines), self._implicit_price * self.price_index)
        if 0 <= month < self._price_table.shape[1]:
            return self._price_table[:, month] * self.price_index
        return self._list_prices(np.array([month]))[:, 0] * self.price_index

    def run_line_prices(self) -> np.ndarray:
        """``line_prices`` of every month of the run, shape (months of the run, n_lines) (the same numbers, at once:
        ``sim.lineup.line_calendar``)."""
        if self._implicit_price is not None:
            return np.full((self._price_table.shape[1], len(self.lines)), self._implicit_price * self.price_index)
        return self._price_table.T * self.price_index

    def line_price(self, k: int, month: int) -> float:
        """Line ``k``'s list price in force in ``month`` (``line_prices``), 1989 USD."""
        return float(self.line_prices(month)[k])

    def line_defects(self, k: int) -> float:
        """Line ``k``'s unscheduled repair visits per car-year of a new car (the brand's, unless the line sets it)."""
        d = self.lines[k].defects_per_car_year
        return self.spec.defects_per_car_year if d is None else d

    @property
    def price(self) -> float:
        """The mean list price of the lines on sale now (all lines before the first month), 1989 USD: a brand's
        average, for reports (choice prices each line)."""
        m = max(self.model.month, 0)
        return line_means(self.lines_on_sale(m).tolist(), self.line_prices(m).tolist(), None)[1]

    def trailing_sales_share(self, month: int) -> float:
        """The brand's share of all sales over the 12 months before ``month`` (0.0 if nothing was sold)."""
        return self.model.ledger.trailing_share(self.index, month)

    def awareness_reach(self, month: int) -> float:
        """Share of shoppers marketing has made aware of the brand by ``month``."""
        if not self.on_sale(month):
            return 0.0
        return self.marketing_reach(month)

    def marketing_reach(self, month: int) -> float:
        """``awareness_reach`` in a month the brand is on sale (its ramp since the launch)."""
        s = self.spec
        since = max(0, month - max(self.launch_month, 0))
        return s.awareness_max - (s.awareness_max - s.awareness) * math.exp(-since / s.awareness_ramp_months)

    # ---- acting ------------------------------------------------------------------------------------------
    def schedule_policy_change(self, month: int, service: dict, note: str, **changes) -> None:
        """Change the policy from ``month`` on (an event on Mesa's event list, fired before that month's step);
        ``changes`` are :meth:`adopt`'s keyword arguments."""
        change = _PolicyChange(self, month, service, note, changes)
        self._pending.append(change)
        self.model.schedule_event(change, at=month + 0.5)

    def adopt(self, service: dict, note: str, month: int, discount: float | None = None,
              price: float | None = None, price_index: float | None = None, launch: list[str] | None = None,
              end: list[str] | None = None, dealers: int | None = None,
              dealer_capacity: float | str | None = None) -> None:
        """Put a change into force now and note it in ``history``.

        Args:
            service: the levers that change (name -> value); empty for a price or discount change only.
            note: what the change is, for ``history`` (``"policy change"`` if empty).
            month: the model month it takes effect, for ``history``.
            discount: the new discount (fraction of list price), or None to keep it.
            price: the new list price (1989 USD) of a brand without model lines, or None to keep it.
            price_index: the new multiplier on every line's list price, or None to keep it.
            launch: names of lines declared ``launch = "response"`` to put on sale from ``month``.
            end: names of lines to stop selling from ``month`` (if on sale until later).
            dealers: the new number of US dealerships, or None to keep it.
            dealer_capacity: the new cars per dealer per year, ``"unlimited"`` to lift the limit, or None to keep it.

        Raises:
            pydantic.ValidationError: the levers give an invalid policy (not for a validated scenario's changes:
                :class:`sim.scenario.Brand` checks them in sequence).
            ValueError: a line to launch or end that the brand does not have.
        """
        if service:
            self.service = apply_levers(self.service, service)
        if discount is not None:
            self.discount = discount
        if price is not None:
            self._implicit_price = price
        if price_index is not None:
            self.price_index = price_index
        if dealers is not None:
            self.dealers = dealers
        if dealer_capacity is not None:
            self.dealer_capacity = np.inf if dealer_capacity == "unlimited" else float(dealer_capacity)
        names = [line.name for line in self.lines]
        for name in launch or ():
            if name not in names:
                raise ValueError(f"{self.name} has no model line {name!r} to launch")
            self._line_start[names.index(name)] = month
        for name in end or ():
            if name not in names:
                raise ValueError(f"{self.name} has no model line {name!r} to end")
            k = names.index(name)
            self._line_end[k] = min(self._line_end[k], month)
        self.changes += 1
        self.model.brand_changes += 1
        if price is not None or price_index is not None or launch or end:  # the lines on sale or their prices
            self.model.line_changes += 1
        self.history.append((month, note or "policy change"))

    @property
    def prestige(self) -> float:
        """Brand equity now, 0-1: the model's ``brand_prestige[index]``."""
        return float(self.model.brand_prestige[self.index])

    @prestige.setter
    def prestige(self, value: float) -> None:
        self.model.brand_prestige[self.index] = value

    @property
    def reputation(self) -> float:
        """Service reputation now, satisfaction scale -1..1: the model's ``brand_reputation[index]``."""
        return float(self.model.brand_reputation[self.index])

    @reputation.setter
    def reputation(self, value: float) -> None:
        self.model.brand_reputation[self.index] = value

    def step(self) -> None:
        """The brand's monthly decision: its strategy looks at the market and may schedule a policy change."""
        self.strategy.update(self, self.model.month)

    def __repr__(self) -> str:
        return (f"BrandAgent({self.name!r}, prestige={self.prestige:.2f}, "
                f"service={self.service.dealer_service_quality:.2f})")
