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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.brand_arrays import BrandArrays
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


def utilities(values: np.ndarray, seg: SegmentArrays, p: Choice, reputation: np.ndarray, segment: np.ndarray,
              current: np.ndarray, own_sat: np.ndarray, wom_now: np.ndarray, considered: np.ndarray,
              may_leave: np.ndarray) -> np.ndarray:
    """Deterministic utilities (n × (brands + 1)); the last column is leaving the segment; -inf = not considered."""
    n, n_brands = considered.shape
    u = np.empty((n, n_brands + 1))
    service_w = seg.service_w[segment]
    u[:, :n_brands] = values[segment] + (p.wom_weight * service_w)[:, None] * wom_now
    owners = np.flatnonzero(current >= 0)
    cb = current[owners]
    u[owners, cb] += p.inertia + p.satisfaction_loyalty * own_sat[owners]
    u[:, :n_brands][~considered] = -np.inf
    u[:, n_brands] = np.where(may_leave, seg.outside[segment], -np.inf)
    return u


def probabilities(u: np.ndarray) -> np.ndarray:
    """Logit choice probabilities for utilities ``u`` (rows sum to 1; -inf columns get 0). A row with nothing
    considered leaves the segment (last column), as in :func:`choose`."""
    top = u.max(axis=1, keepdims=True)
    e = np.exp(u - np.where(np.isfinite(top), top, 0.0))
    total = e.sum(axis=1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    p[total[:, 0] == 0, -1] = 1.0
    return p


def choose(rng: np.random.Generator, u: np.ndarray) -> np.ndarray:
    """Sample one alternative per row from the logit probabilities (inverse CDF: one uniform per row); a row
    with nothing considered leaves the segment."""
    cum = np.cumsum(probabilities(u), axis=1)
    r = rng.random((u.shape[0], 1)) * cum[:, -1:]
    return np.minimum((cum <= r).sum(axis=1), u.shape[1] - 1)


def considered_brands(aware: np.ndarray, on_sale: np.ndarray, reach: np.ndarray, current: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The consideration set (n × brands bool) of shoppers: brands they know of — by word of mouth or owning
    one, or reached by marketing while shopping — and that are on sale. Also returns the updated awareness bits."""
    n_brands = on_sale.size
    bits = (1 << np.arange(n_brands)).astype(np.uint16)
    known = (aware[:, None] & bits) != 0
    known |= rng.random((aware.size, n_brands)) < reach
    owners = current >= 0
    known[np.flatnonzero(owners), current[owners]] = True
    new_aware = (known * bits).sum(axis=1).astype(np.uint16) | aware
    return known & on_sale, new_aware
