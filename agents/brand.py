"""Brand agents: Lexus, Mercedes-Benz, BMW, ... — every brand comes from the scenario.

A brand has a launch date, a price (and perhaps a discount), product quality, prestige that moves slowly,
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
        return month >= self.launch_month

    def trailing_sales_share(self, month: int) -> float:
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
        if service:
            self.service = apply_levers(self.service, service)
        if discount is not None:
            self.discount = discount
        if price is not None:
            self.price = price
        self.changes += 1
        self.history.append((month, note or "policy change"))

    def step(self) -> None:
        self.strategy.update(self, self.model.month)

    def __repr__(self) -> str:
        return f"BrandAgent({self.name!r}, prestige={self.prestige:.2f}, service={self.service.dealer_service_quality:.2f})"
