"""Products and needs: the model lines brands sell, and the body type each household needs.

A brand sells *model lines* (``[[brands.X.models]]``, :class:`sim.scenario.ModelLine`): each has a body type
(sedan, coupe/convertible, SUV), a price class (*tier*: entry, mid, flagship), a list-price path, a defect rate,
and launch and end dates; a brand without ``models`` sells one implicit mid-tier sedan line at its ``price``.
Lines are numbered across the market in scenario order (brand by brand, each brand's lines in file order): the
*line index*, the axis of :class:`LineArrays`, of the population's ``line`` column and of the ledger's
``line_sales``.

Each household *needs* a body type (``Population.need``, an index into :data:`sim.scenario.BODY_TYPES`): drawn
from the market's ``body_type_mix`` of the year when it enters the segment, and redrawn from it with probability
``market.need_change`` when it replaces its car (life events), so the households' needs follow the market's
shift toward SUVs with the lag of the replacement cycle. A line of another body type loses
``choice.body_mismatch`` of utility (``sim/choice.py``): a brand with no line for a need is rarely chosen.
Without a ``body_type_mix`` every household needs a sedan (and no random number is drawn for needs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from sim.jit import jit
from sim.scenario import BODY_TYPES, BodyTypeMix, ModelLine
from sim.tax import tax_in_force

SEDAN = BODY_TYPES.index("sedan")


class LineArrays(NamedTuple):
    """The model lines as they stand this month, each field an array of shape (n_lines,) in line-index order."""

    brand: np.ndarray  # int64: the brand selling the line (index on the brand axis)
    on_sale: np.ndarray  # bool: launched and not yet ended this month (and its brand launched)
    price: np.ndarray  # float64: list price in force (the line's path times its brand's price_index), 1989 USD
    defects_per_car_year: np.ndarray  # float64: unscheduled repair visits per car-year of a new car
    body: np.ndarray  # int64: index into BODY_TYPES
    tier: np.ndarray  # int64: index into TIERS
    appeal: np.ndarray  # float64: the line's own appeal beyond its tier, utility units (``ModelLine.appeal``)
    tax_rate: np.ndarray  # float64: luxury tax rate on the line this month (0 if none or exempt; ``sim/tax.py``)
    tax_threshold: np.ndarray  # float64: the price above which the tax falls, 1989 USD (+inf if none)

    @property
    def n(self) -> int:
        """The number of lines (on sale or not)."""
        return self.brand.size

    @classmethod
    def from_brands(cls, brands: Iterable, month: int) -> LineArrays:
        """The lines of ``brands`` (``agents.brand.BrandAgent`` s, in scenario order) in model month ``month``."""
        brands = list(brands)
        exempt = np.concatenate([b.line_tax_exempt for b in brands])
        rate, threshold = _line_tax(brands, np.array([month]), exempt)
        return cls(np.concatenate([np.full(len(b.lines), b.index, np.int64) for b in brands]),
                   np.concatenate([b.lines_on_sale(month) for b in brands]),
                   np.concatenate([b.line_prices(month) for b in brands]),
                   np.concatenate([b.line_defects_all for b in brands]),
                   np.concatenate([b.line_bodies for b in brands]),
                   np.concatenate([b.line_tiers for b in brands]),
                   np.concatenate([b.line_appeals for b in brands]), rate[0], threshold[0])


def _line_tax(brands: Sequence, months: np.ndarray, exempt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The luxury tax on each line in each of ``months`` (``sim.tax.tax_in_force``, rate 0 on ``exempt`` lines):
    ``(rate, threshold)``, each shape (len(months), n_lines)."""
    market = brands[0].model.config.market
    rate, threshold = tax_in_force(market.luxury_tax, market.start_year, months)
    rate = np.where(exempt[None, :], 0.0, rate[:, None])
    return rate, np.broadcast_to(threshold[:, None], rate.shape)


class LineCalendar(NamedTuple):
    """The model lines and the brands' time on sale, month by month over a run, as the brands' plans stand
    (launches, ends, price paths, price index): what a month needs that depends only on its date, looked
    up rather than rebuilt each month (``line_calendar``; the model makes a new one when a brand adopts a change).
    Month ``m``'s row of each (months, ...) table is what ``LineArrays.from_brands`` and the brand agents' methods
    give for ``m``."""

    brand: np.ndarray  # (n_lines,) int64: the brand selling each line
    defects_per_car_year: np.ndarray  # (n_lines,) float64
    body: np.ndarray  # (n_lines,) int64
    tier: np.ndarray  # (n_lines,) int64
    appeal: np.ndarray  # (n_lines,) float64
    on_sale: np.ndarray  # (months, n_lines) bool: ``LineArrays.on_sale`` of each month
    price: np.ndarray  # (months, n_lines) float64: ``LineArrays.price`` of each month
    brand_on_sale: np.ndarray  # (months, n_brands) bool: ``BrandAgent.on_sale``
    tax_rate: np.ndarray  # (months, n_lines) float64: ``LineArrays.tax_rate`` of each month
    tax_threshold: np.ndarray  # (months, n_lines) float64: ``LineArrays.tax_threshold`` of each month
    epoch: np.ndarray  # (months,) int64: how many months up to this one changed lines, prices, taxes or brands on
    # sale from the month before: months of one epoch have the same ``on_sale``, ``price``, taxes and ``brand_on_sale``

    def lines(self, month: int) -> LineArrays:
        """The :class:`LineArrays` of ``month`` (a month of the run)."""
        return LineArrays(self.brand, self.on_sale[month], self.price[month], self.defects_per_car_year, self.body,
                          self.tier, self.appeal, self.tax_rate[month], self.tax_threshold[month])


def line_calendar(brands: Sequence, months: int) -> LineCalendar:
    """The :class:`LineCalendar` of ``brands`` (``agents.brand.BrandAgent`` s, in scenario order) over months 0 to
    ``months`` - 1 of the run, as they stand now."""
    run = np.arange(months)
    on_sale = np.concatenate([b.lines_on_sale(run) for b in brands], axis=1)
    price = np.concatenate([b.run_line_prices() for b in brands], axis=1)
    brand_on_sale = np.stack([b.on_sale(run) for b in brands], axis=1)
    tax_rate, tax_threshold = _line_tax(brands, run, np.concatenate([b.line_tax_exempt for b in brands]))
    changed = np.zeros(months, dtype=np.int64)
    changed[1:] = ((on_sale[1:] != on_sale[:-1]).any(axis=1) | (price[1:] != price[:-1]).any(axis=1)
                   | (brand_on_sale[1:] != brand_on_sale[:-1]).any(axis=1)
                   | (tax_rate[1:] != tax_rate[:-1]).any(axis=1)
                   | (tax_threshold[1:] != tax_threshold[:-1]).any(axis=1))
    return LineCalendar(np.concatenate([np.full(len(b.lines), b.index, np.int64) for b in brands]),
                        np.concatenate([b.line_defects_all for b in brands]),
                        np.concatenate([b.line_bodies for b in brands]),
                        np.concatenate([b.line_tiers for b in brands]),
                        np.concatenate([b.line_appeals for b in brands]),
                        on_sale, price, brand_on_sale, tax_rate, tax_threshold, np.cumsum(changed))


def brand_lines(line_counts: Sequence[int]) -> np.ndarray:
    """Each brand's line indices, shape (n_brands, max lines per brand), int64, padded with -1: row b lists
    brand b's lines in file order (the lines are numbered brand by brand)."""
    out = np.full((len(line_counts), max(line_counts)), -1, dtype=np.int64)
    first = 0
    for b, count in enumerate(line_counts):
        out[b, :count] = np.arange(first, first + count)
        first += count
    return out


def implicit_line(name: str, price: float, defects_per_car_year: float) -> ModelLine:
    """The one line of a brand without ``models``: a mid-tier sedan at the brand's price, with its defect rate."""
    return ModelLine(name=name, body="sedan", tier="mid", price=price, defects_per_car_year=defects_per_car_year)


def need_mix(mix: Sequence[BodyTypeMix], year: float | np.ndarray) -> np.ndarray:
    """The shares of households needing each body type (``BODY_TYPES`` order) in ``year`` (fractional years
    allowed): ``body_type_mix`` linearly interpolated, held flat before its first and after its last point;
    (1, 0, 0) (all sedans) without a mix. Shape (len(BODY_TYPES),), sums to 1; (len(year), len(BODY_TYPES)) for
    an array of years (a row each)."""
    year = np.asarray(year, dtype=np.float64)
    if not mix:
        out = np.zeros((*year.shape, len(BODY_TYPES)))
        out[..., SEDAN] = 1.0
        return out
    years = [p.year for p in mix]
    shares = np.array([[getattr(p, body) for body in BODY_TYPES] for p in mix])
    out = np.stack([np.interp(year, years, shares[:, k]) for k in range(len(BODY_TYPES))], axis=-1)
    return out / out.sum(axis=-1, keepdims=True)


def need_cdf(mix: Sequence[BodyTypeMix], year: float | np.ndarray) -> np.ndarray:
    """The cumulative shares of :func:`need_mix` (the last exactly 1): what ``rules.redraw_need`` and
    :func:`draw_needs` draw from. A row per year for an array of years (the model looks up its month's)."""
    cdf = np.cumsum(need_mix(mix, year), axis=-1)
    cdf[..., -1] = 1.0
    return cdf


@jit
def draw_needs(rng: np.random.Generator, n: int, cdf: np.ndarray) -> np.ndarray:
    """``n`` needs (int8 indices into ``BODY_TYPES``) drawn from the cumulative shares ``cdf``, one uniform each;
    none drawn when the first body type takes every household (no mix: all sedans). Compiled: entrants are
    admitted in compiled code (``sim.kernels.admit_entrants``)."""
    if cdf[0] >= 1.0:
        return np.zeros(n, dtype=np.int8)
    return np.clip(np.searchsorted(cdf, rng.random(n), side="right"), 0, cdf.size - 1).astype(np.int8)
