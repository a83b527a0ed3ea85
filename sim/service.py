"""Service events and how they feel to the owner.

Each month some owners visit the dealer: scheduled maintenance, repairs of defects (some found and fixed
proactively, as goodwill), breakdowns that need roadside rescue, and recall campaigns. Who has an event is
sampled in O(events) (``sim/sampling.py``). Each event has an *experience* x (roughly -1..1): how it went
against what a luxury owner takes for granted, shaped by the brand's service levers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.brand_arrays import BrandArrays
from sim.sampling import bernoulli_indices, thinned_indices
from sim.scenario import ServiceEvents

ROUTINE, REPAIR, GOODWILL, BREAKDOWN, RECALL = range(5)
EVENT_KINDS = ("routine", "repair", "goodwill", "breakdown", "recall")
MAX_AGE_YEARS = 12.0  # the defect rate stops rising after this age


class Events(NamedTuple):
    kind: int
    buyers: np.ndarray  # slots, sorted and distinct within one kind


def defect_probability(defects_per_year: np.ndarray, car_age_months: np.ndarray, age_growth: float) -> np.ndarray:
    """Monthly probability of a defect needing a repair visit: the brand's rate, rising with car age."""
    age_years = np.minimum(car_age_months / 12.0, MAX_AGE_YEARS)
    return defects_per_year / 12.0 * (1.0 + age_growth * age_years)


def draw_events(rng: np.random.Generator, active: np.ndarray, brand: np.ndarray, purchase_month: np.ndarray,
                month: int, ba: BrandArrays, p: ServiceEvents) -> list[Events]:
    """This month's service events, one entry per kind (routine, repair, goodwill, breakdown, recall)."""
    n = active.size
    routine = bernoulli_indices(rng, n, 1.0 / p.maintenance_interval_months)
    routine = routine[active[routine]]

    p_max = min(1.0, float(ba.defects.max(initial=0.0)) / 12.0 * (1.0 + p.defect_age_growth * MAX_AGE_YEARS))

    def rate(c: np.ndarray) -> np.ndarray:
        owned = active[c]
        b = np.where(owned, brand[c], 0)
        return np.where(owned, defect_probability(ba.defects[b], month - purchase_month[c], p.defect_age_growth), 0.0)

    defects = thinned_indices(rng, n, p_max, rate)
    b = brand[defects]
    u = rng.random(defects.size)
    goodwill = u < ba.goodwill[b]
    breakdown = ~goodwill & (rng.random(defects.size) < p.breakdown_share)
    repair = ~goodwill & ~breakdown

    recalls = []
    for k in np.flatnonzero(ba.on_sale):
        if rng.random() < p.recalls_per_brand_year / 12.0:
            young = np.flatnonzero((brand == k) & active & (month - purchase_month < 36))
            recalls.append(young[rng.random(young.size) < p.recall_reach])
    recall = np.sort(np.concatenate(recalls)) if recalls else np.empty(0, dtype=np.int64)

    return [Events(ROUTINE, routine), Events(REPAIR, defects[repair]), Events(GOODWILL, defects[goodwill]),
            Events(BREAKDOWN, defects[breakdown]), Events(RECALL, recall)]


def experience(rng: np.random.Generator, kind: int, brand: np.ndarray, car_age_months: np.ndarray,
               ba: BrandArrays, p: ServiceEvents) -> np.ndarray:
    """How each event of ``kind`` went for the owner (float32, about -1..1; above 0 is better than expected)."""
    q = ba.quality[brand] - p.expectation
    if kind == ROUTINE:
        free = car_age_months < ba.comp_months[brand]
        mean = q + p.complimentary_delight * free
    elif kind == REPAIR:
        mean = -p.defect_pain + 0.5 * q + p.loaner_relief * ba.loaner[brand]
    elif kind == GOODWILL:
        mean = p.goodwill_delight + 0.5 * q
    elif kind == BREAKDOWN:
        mean = (-p.breakdown_pain + np.asarray(p.rescue_relief)[ba.roadside[brand]] + 0.5 * q
                + p.loaner_relief * ba.loaner[brand])
    elif kind == RECALL:
        mean = -p.recall_pain + p.recall_relief * ba.recall_handling[brand]
    else:
        raise ValueError(f"unknown event kind {kind}")
    return (mean + p.noise * rng.standard_normal(brand.size)).astype(np.float32)
