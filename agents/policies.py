"""Service policies and incumbent strategies.

A brand's *service policy* is a set of named levers (:class:`sim.scenario.ServiceLevers`): dealer service
quality, complimentary maintenance, loaner cars, roadside rescue level, a take-back guarantee, proactive
goodwill, recall handling and how fast complaints are resolved. Each lever changes the owner's experience of a
service event (``sim/service.py``) and costs the brand money per event (``sim/finance.py``).

A *strategy* decides how a brand's policy changes during a run. Every strategy has one small interface:
``update(brand, month)``, called once a month after the brand has seen last month's market. Strategies are
plain classes chosen by ``Strategy.kind`` in the scenario; add one by writing a class and registering it in
:data:`STRATEGIES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sim.scenario import ServiceLevers, Strategy

if TYPE_CHECKING:
    from agents.brand import BrandAgent


def apply_levers(levers: ServiceLevers, changes: dict) -> ServiceLevers:
    """A new policy: ``levers`` with ``changes`` applied (validated by the schema).

    Args:
        levers: the policy in force (not modified).
        changes: lever name -> new value, e.g. ``{"loaner_cars": True, "roadside_level": 2}``.

    Returns:
        The new policy.

    Raises:
        pydantic.ValidationError: an unknown lever, a value out of range, or fast + slow complaint resolution
            above 1.
    """
    return ServiceLevers.model_validate({**levers.model_dump(), **changes})


class BrandStrategy(Protocol):
    """What every strategy provides: one monthly look at the market through its brand."""

    def update(self, brand: BrandAgent, month: int) -> None:
        """Look at the market (through ``brand``) and, if warranted, change ``brand``'s policy."""


class Fixed:
    """Follow the scenario's timeline and nothing else."""

    def __init__(self, spec: Strategy):
        self.spec = spec

    def update(self, brand: BrandAgent, month: int) -> None:
        """Nothing: the brand's policy changes only along its timeline."""
        return None


class RespondToShareLoss:
    """The complacent incumbent: takes its customers for granted until its trailing 12-month sales share
    has fallen by ``threshold`` relative to its share in the first simulated year, then, ``lag_months``
    later (a restructuring takes time), adopts the ``response`` service levers."""

    def __init__(self, spec: Strategy):
        self.spec = spec
        self.reference_share: float | None = None
        self.triggered_month: int | None = None

    def update(self, brand: BrandAgent, month: int) -> None:
        """From month 12 on: the first call records the reference share (months 0-11); a later month whose
        trailing 12-month share is below ``(1 - threshold)`` times it schedules the response for
        ``month + max(1, lag_months)``, once. A brand with no sales in the first year never responds."""
        if self.triggered_month is not None or month < 12:
            return
        share = brand.trailing_sales_share(month)
        if self.reference_share is None:
            self.reference_share = share
            return
        if self.reference_share > 0 and share < (1.0 - self.spec.threshold) * self.reference_share:
            self.triggered_month = month
            brand.schedule_policy_change(month + max(1, self.spec.lag_months), self.spec.response,
                                         "response to share loss", launch=self.spec.launch, end=self.spec.end,
                                         price_index=self.spec.price_index)


STRATEGIES: dict[str, type] = {"fixed": Fixed, "respond_to_share_loss": RespondToShareLoss}


def make_strategy(spec: Strategy) -> BrandStrategy:
    """A new strategy object for ``spec.kind`` (one per brand: a strategy keeps its own state).

    Raises:
        KeyError: ``spec.kind`` is not in :data:`STRATEGIES` (the scenario schema allows only those).
    """
    return STRATEGIES[spec.kind](spec)
