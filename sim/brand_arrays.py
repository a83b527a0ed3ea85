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

        Bools and the roadside level (int64) keep their kinds; everything else is float64. Each brand's lines on
        sale are looked up once (``BrandAgent.lines_on_sale``) for its on-sale flag, mean price, mean defect rate and
        reach: the same numbers as ``on_sale``, ``price``, ``awareness_reach`` and the lines' mean defects.
        """
        rows = [_brand_row(b, month) for b in brands]
        columns = list(zip(*rows)) if rows else [()] * len(cls._fields)
        return cls(*(np.array(col, dtype=_DTYPES.get(name, np.float64)) for name, col in zip(cls._fields, columns)))


    def with_lines(self, brands: list, month: int, on_sale: np.ndarray, prices: np.ndarray,
                   defects: np.ndarray) -> BrandArrays:
        """These arrays with the fields that follow the lines on sale made again for ``month`` (``on_sale``,
        ``price``, ``defects_per_car_year``, ``awareness_reach``), from the month's rows of every line (in brand
        order, each brand's lines together: ``sim.lineup.LineCalendar``), the rest kept: what changes when lines
        come on sale, end or are repriced, and a brand adopts nothing. The same numbers as :meth:`from_brands`.

        Args:
            brands: the brand agents, in scenario order.
            month: the model month (the model's current one).
            on_sale, prices, defects: each line's on-sale flag, list price (1989 USD) and defects per car-year
                this month, shape (n_lines,).
        """
        on_sale, prices, defects = on_sale.tolist(), prices.tolist(), defects.tolist()
        rows, first = [], 0
        for b in brands:
            last = first + len(b.lines)
            brand_on, price, mean_defects = line_means(on_sale[first:last], prices[first:last],
                                                       defects[first:last])
            rows.append((brand_on, price, mean_defects, b.marketing_reach(month) if brand_on else 0.0))
            first = last
        brand_on, price, mean_defects, reach = zip(*rows) if rows else ((),) * 4
        return self._replace(on_sale=np.array(brand_on, dtype=bool), price=np.array(price, dtype=np.float64),
                             defects_per_car_year=np.array(mean_defects, dtype=np.float64),
                             awareness_reach=np.array(reach, dtype=np.float64))


def line_means(on_lines: list[bool], prices: list[float] | None,
               defects: list[float] | None) -> tuple[bool, float | None, float | None]:
    """A brand's on-sale flag (any line on sale), and the mean list price and mean defects per car-year of its
    lines on sale (of all its lines when none is; None for what is not given), each line's values in the brand's
    line order. The one rule for a brand's average (``BrandAgent.price`` and the brand arrays)."""
    on = [k for k, o in enumerate(on_lines) if o] or range(len(on_lines))
    price = float(sum(prices[k] for k in on) / len(on)) if prices is not None else None
    return any(on_lines), price, sum(defects[k] for k in on) / len(on) if defects is not None else None


_DTYPES = {"on_sale": bool, "loaner_cars": bool, "take_back_guarantee": bool, "roadside_level": np.int64}


def _brand_row(b, month: int) -> tuple:
    """One brand's fields of :class:`BrandArrays` in ``month``, in field order."""
    now = max(b.model.month, 0) == month  # ``BrandAgent.price`` is the model's month's: from the same lines then
    on_sale, price, defects = line_means(b.lines_on_sale(month).tolist(), b.line_prices(month).tolist() if now
                                         else None, [b.line_defects(k) for k in range(len(b.lines))])
    if not now:
        price = b.price
    sv = b.service
    return (on_sale, price, b.discount, b.spec.new_car_margin, b.prestige, b.reputation,
            defects, b.dealers, b.dealer_capacity,
            b.marketing_reach(month) if on_sale else 0.0, sv.dealer_service_quality,
            sv.complimentary_maintenance_months, sv.loaner_cars, sv.roadside_level, sv.take_back_guarantee,
            sv.proactive_goodwill, sv.recall_handling, sv.complaint_resolution_fast, sv.complaint_resolution_slow,
            b.spec.word_of_mouth)
