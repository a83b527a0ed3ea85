"""Brand choice: a multinomial logit over the brands a buyer considers, plus leaving the luxury segment.

Utility of brand b for buyer i of segment g:

    U_ib = prestige_w[g]·prestige_b − price_w[g]·log(paid_b / reference) − stigma[g]·discount_b
         + perk_w[g]·perk_b − quality_w·defects_b + dealer_w·log(dealers_b / 300)
         + service_w[g]·perceived_service_ib
         + [b = current brand]·(inertia + satisfaction_loyalty·s_i)   (state dependence, Mannering & Winston
                                                                  1991, stronger the more satisfied the owner)
         + ε_ib                                                  (Gumbel: the logit)

Perceived service is the brand's public reputation plus what the buyer has heard by word of mouth. The
owner's own satisfaction s_i (-1..1) acts through loyalty: a delighted owner is hard to convert, an unhappy
one whose complaint was never resolved is easy to lose (Dillard & Bates). Complimentary
maintenance enters as a perk (value in $1,000, weighed by the segment) and never touches prestige; a
discount lowers the price paid but costs status-seekers ``discount_stigma`` (and erodes prestige over time,
``sim/reputation.py``). The outside option (leave the segment) has utility ``outside_utility[g]``; a new
entrant, who came to buy a luxury car, does not have it.

The per-shopper steps (``draw_known``, ``utility``, ``weight``, ``draw_weighted``) are compiled and shared by both
engines (each brand's logit weight exp(utility), then one uniform by the inverse CDF: ``draw_choice`` is the same
draw from utilities);
``considered_brands``, ``utilities`` and ``choose`` apply them to many shoppers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.brand_arrays import BrandArrays
from sim.jit import formula, jit, record
from sim.scenario import Choice, Scenario

DEALER_REFERENCE = 300.0


@dataclass(frozen=True)
class SegmentArrays:
    prestige_w: np.ndarray
    price_w: np.ndarray
    service_w: np.ndarray
    perk_w: np.ndarray
    stigma: np.ndarray
    outside: np.ndarray
    lease_propensity: np.ndarray
    share: np.ndarray
    entrant_share: np.ndarray

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> SegmentArrays:
        segs = list(scenario.market.segments.values())
        f = lambda attr: np.array([getattr(s, attr) for s in segs], dtype=np.float64)  # noqa: E731
        return cls(f("prestige_weight"), f("price_weight"), f("service_weight"), f("perk_weight"),
                   f("discount_stigma"), f("outside_utility"), f("lease_propensity"), f("share"), f("entrant_share"))


def perk_value(comp_months: np.ndarray, interval_months: float, maintenance_price: float) -> np.ndarray:
    """Complimentary maintenance in $1,000: the visits it covers times what the owner would have paid."""
    return comp_months / interval_months * maintenance_price / 1000.0


def brand_values(ba: BrandArrays, seg: SegmentArrays, p: Choice, reference_price: float,
                 perk_k: np.ndarray) -> np.ndarray:
    """The part of utility shared by all buyers of a segment: a (segments × brands) matrix."""
    paid = ba.price * (1.0 - ba.discount)
    col = lambda v: v[:, None]  # noqa: E731
    return (col(seg.prestige_w) * ba.prestige
            - col(seg.price_w) * np.log(paid / reference_price)
            - col(seg.stigma) * ba.discount
            + col(seg.perk_w) * perk_k
            - p.quality_weight * ba.defects
            + p.dealer_weight * np.log(ba.dealers / DEALER_REFERENCE)
            + col(seg.service_w) * ba.reputation)


class ChoiceParams(NamedTuple):
    """The per-shopper ``[choice]`` parameters, as compiled code reads them."""
    inertia: float
    satisfaction_loyalty: float
    wom_weight: float

    @classmethod
    def of(cls, p: Choice) -> ChoiceParams:
        return record(cls, p)


@formula
def draw_known(rng, aware: int, reach, current: int) -> int:
    """The brands a shopper knows of (bits): those already known, their own, and each other brand with its
    marketing reach (a draw only where it could matter)."""
    bits = np.int64(aware)
    for k in range(reach.size):
        if not (bits >> k) & 1 and (k == current or (reach[k] > 0.0 and rng.random() < reach[k])):
            bits |= 1 << k
    return bits


@formula
def utility(value: float, service_w: float, heard: float, is_current: bool, own_sat: float,
            p: ChoiceParams) -> float:
    """Deterministic utility of one brand for one shopper: the segment's value of the brand, word of mouth
    weighed like service, and the loyalty of an owner to their current brand."""
    u = value + p.wom_weight * service_w * heard
    if is_current:
        u += p.inertia + p.satisfaction_loyalty * own_sat
    return u


@formula
def weight(value: float, value_weight: float, service_w: float, heard: float, is_current: bool, own_sat: float,
           p: ChoiceParams) -> float:
    """The logit weight exp(utility) of one brand for one shopper, as both engines draw the choice
    (``draw_weighted``): for a brand the shopper neither owns nor has heard about, the utility is the segment's
    ``value`` of it, and its weight ``value_weight`` = exp(value) is looked up (computed once a month)."""
    if is_current or heard != 0.0:
        return math.exp(utility(value, service_w, heard, is_current, own_sat, p))
    return value_weight


@formula
def draw_choice(rng, u) -> int:
    """Sample one alternative from the logit probabilities of utilities ``u`` (-inf = not considered) by the
    inverse CDF, one uniform; with nothing considered, the last alternative (leave the segment). Overwrites
    ``u`` with the unnormalised probabilities."""
    top = -np.inf
    for k in range(u.size):
        top = max(top, u[k])
    if top == -np.inf:
        return u.size - 1
    total = 0.0
    for k in range(u.size):
        u[k] = math.exp(u[k] - top) if u[k] > -np.inf else 0.0  # (no exp for what is not considered)
        total += u[k]
    return draw_weighted(rng, u, total)


@formula
def draw_weighted(rng, w, total: float) -> int:
    """Alternative k with probability ``w[k] / total`` (``total`` = the sum of the weights ``w``), by the inverse
    CDF with one uniform; the last alternative if ``total`` is 0. With w = exp(utility) this is the logit
    choice of ``draw_choice`` (the compiled shopping pass uses it with weights looked up where it can)."""
    if total <= 0.0:
        return w.size - 1
    r = rng.random() * total
    cum = 0.0
    for k in range(w.size):
        cum += w[k]
        if cum > r:
            return k
    return w.size - 1


# ---- the same, for many shoppers -----------------------------------------------------------------------------------
@jit
def _utilities_all(values, service_w, outside, p, segment, current, own_sat, wom_now, considered, may_leave):
    n, n_brands = considered.shape
    u = np.empty((n, n_brands + 1))
    for i in range(n):
        g = segment[i]
        for k in range(n_brands):
            if considered[i, k]:
                u[i, k] = utility(values[g, k], service_w[g], wom_now[i, k], k == current[i], own_sat[i], p)
            else:
                u[i, k] = -np.inf
        u[i, n_brands] = outside[g] if may_leave[i] else -np.inf
    return u


def utilities(values: np.ndarray, seg: SegmentArrays, p: Choice, reputation: np.ndarray, segment: np.ndarray,
              current: np.ndarray, own_sat: np.ndarray, wom_now: np.ndarray, considered: np.ndarray,
              may_leave: np.ndarray) -> np.ndarray:
    """Deterministic utilities (n × (brands + 1)); the last column is leaving the segment; -inf = not considered."""
    n = considered.shape[0]
    return _utilities_all(np.ascontiguousarray(values, np.float64), seg.service_w, seg.outside, ChoiceParams.of(p),
                          np.asarray(segment, np.int64), np.asarray(current, np.int64),
                          np.asarray(own_sat, np.float64), np.asarray(wom_now, np.float64).reshape(n, -1),
                          np.asarray(considered, bool), np.broadcast_to(np.asarray(may_leave, bool), (n,)).copy())


def probabilities(u: np.ndarray) -> np.ndarray:
    """Logit choice probabilities for utilities ``u`` (rows sum to 1; -inf columns get 0). A row with nothing
    considered leaves the segment (last column), as in :func:`choose`."""
    top = u.max(axis=1, keepdims=True)
    e = np.exp(u - np.where(np.isfinite(top), top, 0.0))
    total = e.sum(axis=1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    p[total[:, 0] == 0, -1] = 1.0
    return p


@jit
def _choose_all(rng, u):
    pick = np.empty(u.shape[0], dtype=np.int64)
    for i in range(u.shape[0]):
        pick[i] = draw_choice(rng, u[i])
    return pick


def choose(rng: np.random.Generator, u: np.ndarray) -> np.ndarray:
    """Sample one alternative per row from the logit probabilities (inverse CDF: one uniform per row); a row
    with nothing considered leaves the segment."""
    return _choose_all(rng, np.array(u, dtype=np.float64))  # a copy: draw_choice overwrites it


@jit
def _known_all(rng, aware, reach, current):
    out = np.empty(aware.size, dtype=np.uint16)
    for i in range(aware.size):
        out[i] = draw_known(rng, aware[i], reach, current[i])
    return out


def considered_brands(aware: np.ndarray, on_sale: np.ndarray, reach: np.ndarray, current: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The consideration set (n × brands bool) of shoppers: brands they know of — by word of mouth or owning
    one, or reached by marketing while shopping — and that are on sale. Also returns the updated awareness bits."""
    new_aware = _known_all(rng, np.asarray(aware, np.int64), np.asarray(reach, np.float64),
                           np.asarray(current, np.int64))
    bits = (1 << np.arange(on_sale.size)).astype(np.uint16)
    return ((new_aware[:, None] & bits) != 0) & on_sale, new_aware
