"""Service events and how they feel to the owner.

Each month some owners visit the dealer: scheduled maintenance, repairs of defects (some found and fixed
proactively, as goodwill), breakdowns that need roadside rescue, and recall campaigns. Who has an event is
sampled in O(events), by skipping geometric gaps over the slots (``sim/sampling.py``) and thinning
(``sim.kernels.service_month``). Each event has an *experience* x (roughly -1..1): how it went
against what a luxury owner takes for granted, shaped by the brand's service levers.

The formulas are written for one event (``experience_mean``, ``draw_defect_kind``, ...), compiled, and shared by
the month's kernel (``sim/kernels.py``) and the per-agent reference engine (``agents/buyer.py``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np

from sim.brand_arrays import BrandArrays
from sim.jit import jit, record
from sim.scenario import ServiceEvents


class EventKind(IntEnum):
    """The kinds of service event. Compiled code reads the members as integer constants (free); outputs name
    them by ``EVENT_KINDS`` (e.g. the ``routine_events`` column of ``brand_year``)."""
    ROUTINE = 0  # scheduled maintenance
    REPAIR = 1  # a defect the owner brings in
    GOODWILL = 2  # a defect found and fixed before the owner noticed
    BREAKDOWN = 3  # a defect that strands the owner (roadside rescue)
    RECALL = 4  # a recall campaign's visit


ROUTINE, REPAIR, GOODWILL, BREAKDOWN, RECALL = EventKind
EVENT_KINDS = tuple(kind.name.lower() for kind in EventKind)  # ("routine", "repair", ...): names in outputs
MAX_AGE_YEARS = 12.0  # the defect rate stops rising after this age
RECALL_MAX_AGE_MONTHS = 36  # recall campaigns cover cars younger than this


class Events(NamedTuple):
    """The slots that had an event of one kind in a month (``sim.kernels.draw_events``)."""
    kind: int  # an EventKind
    slots: np.ndarray  # int64, sorted and distinct


class EventParams(NamedTuple):
    """The ``[service_events]`` parameters, as compiled code reads them: the same names as the scenario's
    (:class:`sim.scenario.ServiceEvents`). The ``*_pain``, ``*_relief`` and ``*_delight`` fields are effect sizes:
    what an event of that kind, or a lever, adds to or subtracts from the experience x (about -1..1);
    ``rescue_relief[level]`` is indexed by the brand's ``roadside_level`` (0-3)."""
    maintenance_interval_months: float
    defect_age_growth: float
    breakdown_share: float
    recalls_per_brand_year: float
    recall_reach: float
    expectation: float
    noise: float
    complimentary_delight: float
    defect_pain: float
    loaner_relief: float
    goodwill_delight: float
    breakdown_pain: float
    rescue_relief: tuple[float, float, float, float]
    recall_pain: float
    recall_relief: float

    @classmethod
    def of(cls, p: ServiceEvents) -> EventParams:
        """The parameters of ``p`` (the scenario's ``[service_events]``), field by field (``sim.jit.record``)."""
        return record(cls, p)


@jit
def defect_probability(defects_per_year, car_age_months, age_growth):
    """Monthly probability of a defect needing a repair visit: the brand's rate, rising with car age."""
    age_years = np.minimum(car_age_months / 12.0, MAX_AGE_YEARS)
    return defects_per_year / 12.0 * (1.0 + age_growth * age_years)


@jit
def draw_defect_kind(rng, goodwill_share: float, breakdown_share: float) -> int:
    """What a defect turns into: found and fixed before the owner noticed (goodwill), a breakdown that strands
    the owner (roadside rescue), or an ordinary repair visit."""
    if rng.random() < goodwill_share:
        return GOODWILL
    if rng.random() < breakdown_share:
        return BREAKDOWN
    return REPAIR


@jit
def experience_mean(kind: int, b: int, car_age_months: int, ba: BrandArrays, p: EventParams) -> float:
    """The expected experience of an event of ``kind`` with brand ``b``'s service levers."""
    q = ba.dealer_service_quality[b] - p.expectation
    if kind == ROUTINE:
        free = car_age_months < ba.complimentary_maintenance_months[b]
        return q + p.complimentary_delight * free
    if kind == REPAIR:
        return -p.defect_pain + 0.5 * q + p.loaner_relief * ba.loaner_cars[b]
    if kind == GOODWILL:
        return p.goodwill_delight + 0.5 * q
    if kind == BREAKDOWN:
        return -p.breakdown_pain + p.rescue_relief[ba.roadside_level[b]] + 0.5 * q + p.loaner_relief * ba.loaner_cars[b]
    if kind == RECALL:
        return -p.recall_pain + p.recall_relief * ba.recall_handling[b]
    raise ValueError("unknown event kind")


@jit
def experience_table(ba: BrandArrays, p: EventParams) -> np.ndarray:
    """``experience_mean`` for each brand and kind of event, for a car past its complimentary maintenance
    ([..., 0]) and within it ([..., 1]; only routine visits differ): the compiled pass over the month's events
    looks it up rather than recomputing it for every event."""
    out = np.empty((ba.on_sale.size, len(EVENT_KINDS), 2))
    for b in range(ba.on_sale.size):
        for kind in range(len(EVENT_KINDS)):
            out[b, kind, 0] = experience_mean(kind, b, int(np.ceil(ba.complimentary_maintenance_months[b])), ba, p)
            out[b, kind, 1] = experience_mean(kind, b, int(np.ceil(ba.complimentary_maintenance_months[b])) - 1, ba, p)
    return out


@jit
def defect_bound(defects_per_car_year, p: EventParams) -> float:
    """The highest monthly defect probability of any car this month (the worst model line's rate,
    ``defects_per_car_year`` of every line, at the age where the rate stops rising): defects are sampled at this
    rate and thinned (``sim.kernels.service_month``)."""
    return min(1.0, defects_per_car_year.max() / 12.0 * (1.0 + p.defect_age_growth * MAX_AGE_YEARS))


@jit
def draw_experience(rng, mean: float, noise: float) -> float:
    """How one event went for the owner: its expected experience (``experience_mean``) plus noise."""
    return mean + noise * rng.standard_normal()


# The month's events come in three passes over the slots, each in slot order: routine visits, defects, recalls
# (``sim.kernels.service_month`` draws and lives them; ``sim.kernels.draw_events`` lists them). In the GIVEN_PASS,
# the month lives a given list of events instead (``LuxuryMarketModel.give_events``).
ROUTINE_PASS, DEFECT_PASS, RECALL_PASS, DONE, GIVEN_PASS = range(5)


def draw_campaigns(rng: np.random.Generator, on_sale: np.ndarray, p: EventParams) -> np.ndarray:
    """Which brands run a recall campaign this month: each brand on sale with probability
    recalls_per_brand_year / 12 (one uniform for each brand on sale, in brand order; bool, shape (n_brands,)).

    Plain numpy, called once a month from Python: a compiled function's call costs more (numba unboxes the
    Generator, about 20 microseconds) than these few draws; the numbers are the same (``rng.random`` fills in order).
    """
    campaign = np.zeros(on_sale.size, dtype=np.bool_)
    on = np.flatnonzero(on_sale)
    campaign[on] = rng.random(on.size) < p.recalls_per_brand_year / 12.0
    return campaign


@jit
def _experiences(rng, kind, brand, car_age_months, ba, p):
    x = np.empty(brand.size, dtype=np.float32)
    for k in range(brand.size):
        x[k] = draw_experience(rng, experience_mean(kind, brand[k], car_age_months[k], ba, p), p.noise)
    return x


def experience(rng: np.random.Generator, kind: int, brand: np.ndarray, car_age_months: np.ndarray,
               ba: BrandArrays, p: ServiceEvents) -> np.ndarray:
    """How each event of ``kind`` went for the owner (float32, about -1..1; above 0 is better than expected)."""
    if kind not in range(len(EVENT_KINDS)):
        raise ValueError(f"unknown event kind {kind}")
    brand = np.asarray(brand, np.int64)
    age = np.broadcast_to(np.asarray(car_age_months, np.int64), brand.shape)
    return _experiences(rng, int(kind), brand, np.ascontiguousarray(age), ba, EventParams.of(p))
