"""Brand agents: Lexus, Mercedes-Benz, BMW, ... — every brand comes from the scenario.

A brand has a launch date, a price (and perhaps a discount), a defect rate (reliability), prestige that moves slowly,
awareness built by marketing, a dealer network, and a service policy that changes along a timeline or in
response to the market (its strategy). Brands are few, so they are ordinary Mesa agents: the model calls
``step()`` on each once a month.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa

from agents.policies import apply_levers, make_strategy
from sim.scenario import Brand, ServiceLevers, year_month_index

if TYPE_CHECKING:
    from sim.model import LuxuryMarketModel


class _PolicyChange:
    """A dated policy change, scheduled on Mesa's event list (which holds callbacks weakly: the brand
    keeps these alive)."""

    def __init__(self, brand: BrandAgent, month: int, service: dict, note: str, discount: float | None,
                 price: float | None):
        self.brand, self.month, self.service, self.note = brand, month, service, note
        self.discount, self.price = discount, price

    def __call__(self) -> None:
        self.brand.adopt(self.service, self.note, self.month, self.discount, self.price)


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
        price, discount: list price (1989 USD) and discount (fraction of list price) in force.
        prestige: brand equity, 0-1 (moves toward its target: :mod:`sim.reputation`).
        reputation: service reputation, satisfaction scale -1..1 (starts at ``satisfaction.baseline``).
        reference_share: trailing 12-month sales share at the end of the first simulated year (0 for brands
            not on sale at the start); prestige rises with share gains over it.
        launch_month: the model month of the launch (a large negative number for brands on sale at the start).
        history: ``(month, note)`` for every policy, price or discount change adopted.
        changes: how many changes were adopted (the model rebuilds its brand arrays when this count moves).
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
        self.price: float = spec.price
        self.prestige: float = spec.prestige
        self.reputation: float = model.config.satisfaction.baseline
        self.reference_share: float = 0.0
        self.strategy = make_strategy(spec.strategy)
        self.history: list[tuple[int, str]] = []
        self.changes = 0  # policy, price or discount changes so far (the model rebuilds its brand arrays then)
        self._pending: list[_PolicyChange] = []
        for change in spec.timeline:
            month = year_month_index(change.date, start_year)
            if month <= 0:  # already in force at the start
                self.adopt(change.service, change.note, 0, change.discount, change.price)
            else:
                self.schedule_policy_change(month, change.service, change.note, change.discount, change.price)

    # ---- what the brand knows of the market ----------------------------------------------------------
    def on_sale(self, month: int) -> bool:
        """True from the launch month on (always, for a brand on sale at the start)."""
        return month >= self.launch_month

    def trailing_sales_share(self, month: int) -> float:
        """The brand's share of all sales over the 12 months before ``month`` (0.0 if nothing was sold)."""
        return self.model.ledger.trailing_share(self.index, month)

    def awareness_reach(self, month: int) -> float:
        """Share of shoppers marketing has made aware of the brand by ``month``."""
        if not self.on_sale(month):
            return 0.0
        s = self.spec
        since = max(0, month - max(self.launch_month, 0))
        return s.awareness_max - (s.awareness_max - s.awareness) * math.exp(-since / s.awareness_ramp_months)

    # ---- acting ------------------------------------------------------------------------------------------
    def schedule_policy_change(self, month: int, service: dict, note: str, discount: float | None = None,
                               price: float | None = None) -> None:
        """Change the policy from ``month`` on (an event on Mesa's event list, fired before that month's step)."""
        change = _PolicyChange(self, month, service, note, discount, price)
        self._pending.append(change)
        self.model.schedule_event(change, at=month + 0.5)

    def adopt(self, service: dict, note: str, month: int, discount: float | None = None,
              price: float | None = None) -> None:
        """Put a change into force now and note it in ``history``.

        Args:
            service: the levers that change (name -> value); empty for a price or discount change only.
            note: what the change is, for ``history`` (``"policy change"`` if empty).
            month: the model month it takes effect, for ``history``.
            discount: the new discount (fraction of list price), or None to keep it.
            price: the new list price (1989 USD), or None to keep it.

        Raises:
            pydantic.ValidationError: the levers give an invalid policy (not for a validated scenario's changes:
                :class:`sim.scenario.Brand` checks them in sequence).
        """
        if service:
            self.service = apply_levers(self.service, service)
        if discount is not None:
            self.discount = discount
        if price is not None:
            self.price = price
        self.changes += 1
        self.history.append((month, note or "policy change"))

    def step(self) -> None:
        """The brand's monthly decision: its strategy looks at the market and may schedule a policy change."""
        self.strategy.update(self, self.model.month)

    def __repr__(self) -> str:
        return (f"BrandAgent({self.name!r}, prestige={self.prestige:.2f}, "
                f"service={self.service.dealer_service_quality:.2f})")
