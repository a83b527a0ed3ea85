"""Service events and how they feel to the owner.

Each month some owners visit the dealer: scheduled maintenance, repairs of defects (some found and fixed
proactively, as goodwill), breakdowns that need roadside rescue, and recall campaigns. Who has an event is
sampled in O(events) (``sim/sampling.py``). Each event has an *experience* x (roughly -1..1): how it went
against what a luxury owner takes for granted, shaped by the brand's service levers.

The formulas are written for one event (``experience_mean``, ``draw_defect_kind``, ...), compiled, and shared by
the month's kernel (``sim/kernels.py``) and the per-agent reference engine (``agents/buyer.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.brand_arrays import BrandArrays
from sim.jit import formula, jit, record
from sim.sampling import bernoulli_positions
from sim.scenario import ServiceEvents

ROUTINE, REPAIR, GOODWILL, BREAKDOWN, RECALL = range(5)
EVENT_KINDS = ("routine", "repair", "goodwill", "breakdown", "recall")
MAX_AGE_YEARS = 12.0  # the defect rate stops rising after this age
RECALL_MAX_AGE_MONTHS = 36  # recall campaigns cover cars younger than this


class Events(NamedTuple):
    kind: int
    buyers: np.ndarray  # slots, sorted and distinct within one kind


class EventParams(NamedTuple):
    """The ``[service_events]`` parameters, as compiled code reads them."""
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
        return record(cls, p)


@formula
def defect_probability(defects_per_year, car_age_months, age_growth):
    """Monthly probability of a defect needing a repair visit: the brand's rate, rising with car age."""
    age_years = np.minimum(car_age_months / 12.0, MAX_AGE_YEARS)
    return defects_per_year / 12.0 * (1.0 + age_growth * age_years)


@formula
def draw_defect_kind(rng, goodwill_share: float, breakdown_share: float) -> int:
    """What a defect turns into: found and fixed before the owner noticed (goodwill), a breakdown that strands
    the owner (roadside rescue), or an ordinary repair visit."""
    if rng.random() < goodwill_share:
        return GOODWILL
    if rng.random() < breakdown_share:
        return BREAKDOWN
    return REPAIR


@formula
def experience_mean(kind: int, b: int, car_age_months: int, ba: BrandArrays, p: EventParams) -> float:
    """The expected experience of an event of ``kind`` with brand ``b``'s service levers."""
    q = ba.quality[b] - p.expectation
    if kind == ROUTINE:
        free = car_age_months < ba.comp_months[b]
        return q + p.complimentary_delight * free
    if kind == REPAIR:
        return -p.defect_pain + 0.5 * q + p.loaner_relief * ba.loaner[b]
    if kind == GOODWILL:
        return p.goodwill_delight + 0.5 * q
    if kind == BREAKDOWN:
        return -p.breakdown_pain + p.rescue_relief[ba.roadside[b]] + 0.5 * q + p.loaner_relief * ba.loaner[b]
    if kind == RECALL:
        return -p.recall_pain + p.recall_relief * ba.recall_handling[b]
    raise ValueError("unknown event kind")


@formula
def draw_experience(rng, mean: float, noise: float) -> float:
    """How one event went for the owner: its expected experience (``experience_mean``) plus noise."""
    return mean + noise * rng.standard_normal()


@jit
def recall_events(rng, active, brand, purchase_month, month: int, ba: BrandArrays, p: EventParams) -> np.ndarray:
    """This month's recall campaigns (each brand on sale has one with probability recalls_per_brand_year / 12)
    and the young cars each reaches, in slot order. A month with a campaign looks at every car."""
    campaign = np.zeros(ba.on_sale.size, dtype=np.bool_)
    for k in range(campaign.size):
        campaign[k] = ba.on_sale[k] and rng.random() < p.recalls_per_brand_year / 12.0
    if not campaign.any():
        return np.empty(0, dtype=np.int64)
    covered = np.empty(active.size, dtype=np.int64)
    k = 0
    for i in range(active.size):
        b = brand[i]
        if active[i] and b >= 0 and campaign[b] and month - purchase_month[i] < RECALL_MAX_AGE_MONTHS:
            if rng.random() < p.recall_reach:
                covered[k] = i
                k += 1
    return covered[:k]


@jit
def sample_events(rng, active, brand, purchase_month, month: int, ba: BrandArrays, p: EventParams):
    """This month's service events as (slots, kinds): routine visits, then defects (repair, goodwill or
    breakdown), then recalls, each group in slot order. Work in O(events), except in a month with a recall
    campaign (``recall_events``)."""
    n = active.size
    routine = bernoulli_positions(rng, n, 1.0 / p.maintenance_interval_months)
    p_max = min(1.0, ba.defects.max() / 12.0 * (1.0 + p.defect_age_growth * MAX_AGE_YEARS))
    candidates = bernoulli_positions(rng, n, p_max)
    recalls = recall_events(rng, active, brand, purchase_month, month, ba, p)
    slots = np.empty(routine.size + candidates.size + recalls.size, dtype=np.int64)
    kinds = np.empty(slots.size, dtype=np.int8)
    k = 0
    for i in routine:
        if active[i] and brand[i] >= 0:
            slots[k], kinds[k] = i, ROUTINE
            k += 1
    for i in candidates:  # thinning: keep a candidate with probability (its rate) / p_max
        if active[i] and brand[i] >= 0:
            b = brand[i]
            if rng.random() * p_max < defect_probability(ba.defects[b], month - purchase_month[i], p.defect_age_growth):
                slots[k], kinds[k] = i, draw_defect_kind(rng, ba.goodwill[b], p.breakdown_share)
                k += 1
    for i in recalls:
        slots[k], kinds[k] = i, RECALL
        k += 1
    return slots[:k], kinds[:k]


def draw_events(rng: np.random.Generator, active: np.ndarray, brand: np.ndarray, purchase_month: np.ndarray,
                month: int, ba: BrandArrays, p: ServiceEvents) -> list[Events]:
    """This month's service events, one entry per kind (routine, repair, goodwill, breakdown, recall)."""
    slots, kinds = sample_events(rng, np.asarray(active, bool), np.asarray(brand, np.int8),
                                 np.asarray(purchase_month, np.int16), int(month), ba, EventParams.of(p))
    return [Events(kind, slots[kinds == kind]) for kind in range(len(EVENT_KINDS))]


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
