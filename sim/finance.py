"""Money: what each service event earns and costs the brand (with its dealers), new-car margin, and
customer lifetime value.

Scheduled maintenance earns ``maintenance_price`` unless it is complimentary, and costs
``maintenance_cost`` plus a premium for dealer service quality. Repairs are paid by the brand within the
warranty and by the owner after it. Loaners, roadside rescue, proactive goodwill, recall handling, complaint
resolution and take-backs are pure costs: the price of the service policy.
"""

from __future__ import annotations

import numpy as np

from sim.brand_arrays import BrandArrays
from sim.scenario import Costs
from sim.service import BREAKDOWN, GOODWILL, RECALL, REPAIR, ROUTINE


def event_money(kind: int, brand: np.ndarray, car_age_months: np.ndarray, ba: BrandArrays,
                c: Costs) -> tuple[np.ndarray, np.ndarray]:
    """(revenue, cost) in USD of each event of ``kind``.

    Args:
        kind: the event kind (``sim.service.ROUTINE``, ``REPAIR``, ``GOODWILL``, ``BREAKDOWN``, ``RECALL``).
        brand: brand index of each event, shape (n,).
        car_age_months: age of each event's car in months, shape (n,).
        ba: the brands' parameters in force (complimentary maintenance months, dealer service quality, loaner
            cars, roadside level ...).
        c: the scenario's costs.

    Returns:
        ``(revenue, cost)``, each shape (n,), 1989 USD per event: what the owner pays the brand and its
        dealers, and what the event costs them.

    Raises:
        ValueError: an unknown ``kind``.
    """
    zero = np.zeros(brand.size)
    if kind == ROUTINE:
        free = car_age_months < ba.complimentary_maintenance_months[brand]
        revenue = np.where(free, 0.0, c.maintenance_price)
        cost = c.maintenance_cost + c.service_quality_cost * ba.dealer_service_quality[brand] + zero
        return revenue, cost
    if kind in (REPAIR, BREAKDOWN):
        in_warranty = car_age_months < c.warranty_months
        revenue = np.where(in_warranty, 0.0, c.repair_price)
        cost = c.repair_cost + c.loaner_cost * ba.loaner_cars[brand]
        if kind == BREAKDOWN:
            cost = cost + np.asarray(c.rescue_cost)[ba.roadside_level[brand]]
        return revenue, cost + zero
    if kind == GOODWILL:
        return zero, c.goodwill_cost + zero
    if kind == RECALL:
        return zero, c.recall_cost + c.recall_handling_cost * ba.recall_handling[brand]
    raise ValueError(f"unknown event kind {kind}")


def new_car_margin(brand: np.ndarray, ba: BrandArrays) -> np.ndarray:
    """Gross margin on each new car sold, USD."""
    return ba.price[brand] * (1.0 - ba.discount[brand]) * ba.new_car_margin[brand]


def lifetime_value(profit_per_owner_year: np.ndarray, retention: np.ndarray, discount_rate: float) -> np.ndarray:
    """Customer lifetime value with constant margin m and yearly retention r (Gupta & Lehmann):
    CLV = m · (1 + d) / (1 + d − r).

    Args:
        profit_per_owner_year: m, USD per owner per year, any shape.
        retention: r, the share of owners kept per year (repurchase loyalty), broadcastable to m; clipped to
            [0, 0.99] so that the value stays finite.
        discount_rate: d, annual.

    Returns:
        CLV in USD per owner, the broadcast shape.
    """
    r = np.clip(retention, 0.0, 0.99)
    return profit_per_owner_year * (1.0 + discount_rate) / (1.0 + discount_rate - r)
