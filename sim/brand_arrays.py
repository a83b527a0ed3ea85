"""The brands' current parameters as small arrays (one entry per brand), read by the vectorised mechanisms and
the compiled kernels (a named tuple of arrays, which numba passes as it is)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np


class BrandArrays(NamedTuple):
    """The brands' parameters in force this month: each field an array of shape (n_brands,), in scenario order.

    Built by :meth:`from_brands` from the :class:`agents.brand.BrandAgent` s; the model rebuilds it when a brand
    changes its policy, price or discount or comes on sale, and otherwise updates prestige, reputation and reach.
    """

    on_sale: np.ndarray  # bool: on sale this month (``BrandAgent.on_sale``)
    price: np.ndarray  # mean list price of the lines on sale, 1989 USD (a brand's average: choice prices each line)
    discount: np.ndarray  # discount in force, fraction of list price
    new_car_margin: np.ndarray  # the brand's gross margin on a new car, fraction of the discounted price
    prestige: np.ndarray  # brand equity now, 0..1 (``BrandAgent.prestige``)
    reputation: np.ndarray  # service reputation now, satisfaction scale -1..1 (``BrandAgent.reputation``)
    defects_per_car_year: np.ndarray  # mean over the lines on sale of unscheduled repair visits per car-year
    dealers: np.ndarray  # US dealerships
    dealer_capacity: np.ndarray  # new cars a dealer delivers a year (inf: no limit; sim/supply.py)
    awareness_reach: np.ndarray  # share of shoppers marketing has made aware (``BrandAgent.awareness_reach``)
    dealer_service_quality: np.ndarray  # 0..1
    complimentary_maintenance_months: np.ndarray  # months after purchase in which maintenance is free
    loaner_cars: np.ndarray  # bool
    roadside_level: np.ndarray  # int64, 0..3 (none, tow truck, premium, helicopter)
    take_back_guarantee: np.ndarray  # bool
    proactive_goodwill: np.ndarray  # share of defects fixed before the owner notices
    recall_handling: np.ndarray  # 0..1
    complaint_resolution_fast: np.ndarray  # P(complaint resolved within 90 days)
    complaint_resolution_slow: np.ndarray  # P(resolved in 90-180 days)
    word_of_mouth: np.ndarray  # multiplier on what others hear about the brand (0: its stories reach no one)

    @property
    def n(self) -> int:
        """The number of brands."""
        return self.price.size

    @classmethod
    def from_brands(cls, brands: Iterable, month: int) -> BrandArrays:
        """The arrays of ``brands`` (brand agents, in scenario order) as they stand in model month ``month``.

        Bools and the roadside level (int64) keep their kinds; everything else is float64.
        """
        brands = list(brands)
        f = lambda get, dtype=np.float64: np.array([get(b) for b in brands], dtype=dtype)  # noqa: E731
        return cls(
            on_sale=f(lambda b: b.on_sale(month), bool),
            price=f(lambda b: b.price),
            discount=f(lambda b: b.discount),
            new_car_margin=f(lambda b: b.spec.new_car_margin),
            prestige=f(lambda b: b.prestige),
            reputation=f(lambda b: b.reputation),
            defects_per_car_year=f(lambda b: _mean_line_defects(b, month)),
            dealers=f(lambda b: b.dealers),
            dealer_capacity=f(lambda b: b.dealer_capacity),
            awareness_reach=f(lambda b: b.awareness_reach(month)),
            dealer_service_quality=f(lambda b: b.service.dealer_service_quality),
            complimentary_maintenance_months=f(lambda b: b.service.complimentary_maintenance_months),
            loaner_cars=f(lambda b: b.service.loaner_cars, bool),
            roadside_level=f(lambda b: b.service.roadside_level, np.int64),
            take_back_guarantee=f(lambda b: b.service.take_back_guarantee, bool),
            proactive_goodwill=f(lambda b: b.service.proactive_goodwill),
            recall_handling=f(lambda b: b.service.recall_handling),
            complaint_resolution_fast=f(lambda b: b.service.complaint_resolution_fast),
            complaint_resolution_slow=f(lambda b: b.service.complaint_resolution_slow),
            word_of_mouth=f(lambda b: b.spec.word_of_mouth),
        )


def _mean_line_defects(brand, month: int) -> float:
    """The mean defect rate of the brand's lines on sale in ``month`` (all its lines if none is)."""
    on = np.flatnonzero(brand.lines_on_sale(month)).tolist() or range(len(brand.lines))
    return sum(brand.line_defects(k) for k in on) / len(on)
