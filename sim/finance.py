"""Money: what each service event earns and costs the brand (with its dealers), new-car margin, and
customer lifetime value.

Brand and dealers are one P&L. Scheduled maintenance earns ``maintenance_price`` unless it is complimentary,
and costs ``maintenance_cost`` plus a premium for dealer service quality. Repairs (and breakdowns) cost
``repair_cost`` and earn ``repair_price`` from the owner after the warranty; within it the maker pays its
dealer, a wash inside one P&L, so they earn nothing. A proactive goodwill fix costs the repair plus
``goodwill_cost`` and is never paid by the owner. Loaners, roadside rescue, recall handling, complaint
resolution and take-backs are pure costs: the price of the service policy.

Where the defaults come from (``sim.scenario.Costs``; 1989 USD; sources in ``sim/data/SOURCES.md``):

- Customer-pay gross margin 0.60 (range 0.45-0.65), so cost = price x 0.40. A dealer's gross profit on service
  and parts is 46.6% of their sales (NADA, first half 2017); labour earns 64-67% and parts 26-40% (Downey & Co.
  dealer benchmarks 2015); imports sell $1.28 of parts per labour dollar on customer-pay orders (CDK), so a
  dealer blends 0.44 x 0.655 + 0.56 x 0.33 = 0.47. With the maker in the same P&L, its own margin on the parts it
  sells its dealers (assumed a third of the dealer's parts cost) lifts parts to 0.55 and the blend to about 0.60.
- What an owner spends at the dealer: two scheduled visits a year at $320 (FHWA 1991: an intermediate car's
  maintenance, repair and tires cost $550 a year over 12 years, 1991 USD; a luxury car at dealer rates 1.5-2x)
  and $450 per repair after the warranty (NADA 2017: $285 per customer-pay repair order, all makes, $144 in
  1989 USD; a luxury repair about 3x).
- Warranty: a repair costs $180 (repair_price x 0.40). About one repair a car-year (IQS 130-140) over a 4-year
  warranty is $720 a car, 2.4% of a $30,000 car: Detroit's warranty claims ran at 2.5% of revenue, Toyota's and
  Honda's at 1.0-1.5% (Warranty Week 2010); Lexus's 0.33 defects give about 0.7%.
- Policy costs per event (loaner, rescue by level, goodwill, recall handling, complaint, take-back, dealer
  quality) are stated assumptions, each with its reasoning and range in its field description.

With these, an incumbent (no complimentary maintenance, no loaners, roadside level 1, dealer quality 0.45,
0.8 defects a car-year, cars 0-5 years old) earns about $200 a car-year on service, 27% of what its owners pay
(``service_margin_per_car_year`` at ``typical_event_rates``; more on old cars, whose repairs the owners pay).
Lexus's 1989 levers on the same cars cost about $600 a car-year and make service lose money: "it cost more in
the short term" (``tests/test_finance.py``).
"""

from __future__ import annotations

import numpy as np

from sim.brand_arrays import BrandArrays
from sim.scenario import Costs, ServiceEvents
from sim.service import BREAKDOWN, EVENT_KINDS, GOODWILL, MAX_AGE_YEARS, RECALL, RECALL_MAX_AGE_MONTHS, REPAIR, ROUTINE


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
        return zero, c.repair_cost + c.goodwill_cost + zero
    if kind == RECALL:
        return zero, c.recall_cost + c.recall_handling_cost * ba.recall_handling[brand]
    raise ValueError(f"unknown event kind {kind}")


def typical_event_rates(brand: np.ndarray, car_age_months: np.ndarray, ba: BrandArrays,
                        se: ServiceEvents) -> np.ndarray:
    """Expected service events per car-year of each kind, as ``sim.service`` draws them (for checks; the model
    draws its events).

    Args:
        brand: brand index of each car, shape (n,).
        car_age_months: age of each car in months, shape (n,).
        ba: the brands' parameters (``defects_per_car_year``, ``proactive_goodwill``).
        se: the scenario's ``[service_events]``.

    Returns:
        Events per car-year, shape (len(EVENT_KINDS), n), rows in ``EventKind`` order: scheduled visits every
        ``maintenance_interval_months``; defects at the brand's rate rising with age, split into goodwill fixes,
        breakdowns and repairs; recall visits for cars under ``RECALL_MAX_AGE_MONTHS``.
    """
    age = np.asarray(car_age_months, dtype=np.float64)
    defects = ba.defects_per_car_year[brand] * (1.0 + se.defect_age_growth * np.minimum(age / 12.0, MAX_AGE_YEARS))
    goodwill = ba.proactive_goodwill[brand]
    rates = np.zeros((len(EVENT_KINDS), age.size))
    rates[ROUTINE] = 12.0 / se.maintenance_interval_months
    rates[GOODWILL] = defects * goodwill
    rates[BREAKDOWN] = defects * (1.0 - goodwill) * se.breakdown_share
    rates[REPAIR] = defects * (1.0 - goodwill) * (1.0 - se.breakdown_share)
    rates[RECALL] = np.where(age < RECALL_MAX_AGE_MONTHS, se.recalls_per_brand_year * se.recall_reach, 0.0)
    return rates


def service_margin_per_car_year(events_per_car_year: np.ndarray, brand: np.ndarray, car_age_months: np.ndarray,
                                ba: BrandArrays, c: Costs, complaints_per_car_year: float | np.ndarray = 0.0,
                                take_backs_per_car_year: float | np.ndarray = 0.0) -> np.ndarray:
    """Service margin (revenue - cost) of one car-year: events times what each earns and costs (``event_money``),
    less complaints and take-backs.

    Args:
        events_per_car_year: events of each kind per car-year, shape (len(EVENT_KINDS), n), e.g.
            ``typical_event_rates``.
        brand: brand index of each car, shape (n,).
        car_age_months: age of each car in months, shape (n,).
        ba: the brands' parameters in force.
        c: the scenario's costs.
        complaints_per_car_year: complaints resolved per car-year, broadcastable to (n,).
        take_backs_per_car_year: take-backs per car-year, broadcastable to (n,).

    Returns:
        1989 USD per car-year, shape (n,). Average over cars of several ages for a fleet's.
    """
    brand = np.asarray(brand, dtype=np.int64)
    age = np.asarray(car_age_months, dtype=np.float64)
    margin = np.zeros(brand.size)
    for kind in range(len(EVENT_KINDS)):
        revenue, cost = event_money(kind, brand, age, ba, c)
        margin += events_per_car_year[kind] * (revenue - cost)
    return margin - complaints_per_car_year * c.complaint_cost - take_backs_per_car_year * c.take_back_cost


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
