"""Choice: a nested logit over brands (the nests) and their model lines, plus leaving the luxury segment.

Utility of line l of brand b for buyer i of segment g who needs body type n (a *nested logit*: McFadden 1978,
Train 2009 ch. 4; Berry 1994 for brands as nests of differentiated products):

    U_ibl = V_ib + W_gnl + ε_ibl

    V_ib  = prestige_weight[g]·prestige_b − discount_stigma[g]·discount_b + perk_weight[g]·perk_b
          + dealer_weight·log(dealers_b / 300) + service_weight[g]·perceived_service_ib + ν_ib
          + [b = current brand, not variety seeking]·(inertia + satisfaction_loyalty·a(s_i)·s_i)
                                          (state dependence, Mannering & Winston 1991)
    W_gnl = ξ_l − price_weight[g]·log(paid_l / (reference_price · tier_price_ratio[tier_l]))
          − defect_weight·defects_per_car_year_l − body_mismatch·[body_l ≠ n]

with ε distributed so that lines of one brand share an unobserved brand component: the nesting parameter
λ = ``nesting_parameter`` (0 < λ ≤ 1; λ = 1 is a plain logit over all lines). A buyer chooses a brand with the
logit probabilities of V_ib + λ·IV_gnb, where the inclusive value IV_gnb = log Σ_l exp(W_gnl / λ) sums over the
brand's lines on sale, then a line of that brand with probability exp(W_gnl / λ) / exp(IV_gnb). Everything that
differs between buyers of one segment and need is in V (word of mouth, loyalty), so IV and the line
probabilities are computed once a month per segment × need × brand (:func:`nest`): choosing among lines costs a
shopper one uniform, whatever the number of lines.

ξ_l is the line's own ``appeal`` beyond its price class (0 by default: an average line of its tier), the
unobserved product quality of BLP (1995) that, in Berry's (1994) inversion, makes a nested logit reproduce observed
shares: a small car cheap for its tier is not better value than the tier's larger cars.

ν_ib is the household's own, persistent taste for the brand, N(0, ``brand_taste_sd``²) drawn when it enters the
segment (random brand intercepts: a mixed logit, Train 2009 ch. 6; BLP 1995), and renewed in part at each
replacement, ν ← ρ·ν + √(1−ρ²)·sd·z with ρ = ``brand_taste_persistence`` (serially correlated tastes, Keane 1997:
a household's life changes what it wants, so the owners a brand selected for their taste drift back toward the
market's spread; ρ = 1 keeps tastes for life; ``sim.rules.renew_tastes``). It is the
unobserved heterogeneity that, beside state dependence, makes owners rebuy (Heckman 1981; Keane 1997): a brand's
owners chose it partly for their own taste, so even a small brand with a poor record keeps the households who like
it, as Polk's make loyalty figures show every make does (``draw_brand_tastes``; owners at the start have the
tastes of households who chose their brand, ``draw_owner_brand_tastes``).

Perceived service is the brand's public reputation plus what the buyer has heard by word of mouth. The
owner's own satisfaction s_i (-1..1) acts through loyalty: a delighted owner is hard to convert, an unhappy
one whose complaint was never resolved is easy to lose (Dillard & Bates). The effect is asymmetric: a(s) = 1 below
neutral and ``satisfaction_loyalty_upside`` (0-1) above it, since a shortfall weighs more on repurchase than the
same surplus (Anderson & Sullivan 1993; Mittal, Ross & Baldasare 1998, on car owners) (``loyalty``).
With probability ``variety_seeking`` a
replacing owner ignores loyalty this time (variety seeking: McAlister & Pessemier 1982, Givon 1984), so that no
satisfaction makes repurchase certain; and a latent class of households, ``variety_seekers`` of them, ignores it at
every replacement (brand-loyal and switching segments: Grover & Srinivasan 1987, Kamakura & Russell 1989). A brand
that wins switchers wins owners who are easy to lose again, and the loyal households left with the incumbents are
the hard core: loyalty differs by brand through who its owners are, not only how satisfied.
Complimentary maintenance enters as a perk (value in $1,000, weighed by the
segment) and never touches prestige; a discount lowers the price paid but costs status-seekers
``discount_stigma`` (and erodes prestige over time, ``sim/reputation.py``). A line is priced against what cars of
its class cost (its tier), so a flagship is not penalised for being a flagship, only for being dear for one.
paid_l is what the buyer pays: the list price less the brand's discount, plus the market's luxury tax on the
part above its threshold where one is in force (``sim.tax.price_with_tax``; the US tax of 1991-2002).
The outside option (leave the segment) has utility ``outside_utility[g]``; a new entrant, who came to buy a
luxury car, does not have it.

The names are the scenario's: a ``*_weight`` (``prestige_weight`` ... in :class:`SegmentArrays`,
``defect_weight``, ``dealer_weight``, ``wom_weight`` in ``[choice]``) is a coefficient of utility; a brand's
*value* is the part of its utility shared by a segment and need (V without word of mouth and loyalty, plus
λ·IV); its *logit weight* is exp(its utility), what the choice is drawn from.

Logit weights are computed relative to the shopper's largest utility (leaving included): exp(u - max u), so that
no utility, however large (an ``inertia`` of 800), overflows, and the alternative most likely chosen always has
weight 1 (``logit_weights``, ``relative_weights``). The month's offer keeps exp(value - the largest value) per
segment and need (``Offer.value_logit_weights``, ``Offer.value_offset``), so that for a brand a shopper has no
term of their own for (no taste, no word of mouth, not their brand) the weight is looked up and rescaled, not
recomputed.

The per-shopper steps (``draw_known``, ``utility``, ``logit_weights``, ``draw_weighted``, and
``sim.rules.draw_line``) are compiled and shared by both engines (each alternative's logit weight, then one uniform
by the inverse CDF: ``draw_choice`` is the same draw from utilities); ``considered_brands``, ``utilities`` and
``choose`` apply them to many shoppers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.brand_arrays import BrandArrays
from sim.jit import jit, record
from sim.lineup import LineArrays
from sim.scenario import BODY_TYPES, TIERS, Choice, Market, Scenario
from sim.tax import price_with_tax

DEALER_REFERENCE = 300.0


@dataclass(frozen=True)
class SegmentArrays:
    """The buyer segments' parameters (``[market.segments.NAME]``, :class:`sim.scenario.Segment`): each field an
    array of shape (n_segments,), float64, in scenario order, named as in the scenario."""

    prestige_weight: np.ndarray  # utility per unit of prestige (0-1)
    price_weight: np.ndarray  # utility lost per unit of log(price paid / reference price)
    service_weight: np.ndarray  # utility per unit of perceived service (satisfaction scale -1..1)
    perk_weight: np.ndarray  # utility per $1,000 of complimentary maintenance
    discount_stigma: np.ndarray  # utility lost per unit of discount (fraction)
    outside_utility: np.ndarray  # utility of leaving the luxury segment
    lease_propensity: np.ndarray  # P(lease) before the market's lease trend
    share: np.ndarray  # share of the buyers at the start
    entrant_share: np.ndarray  # share of the households entering the segment

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> SegmentArrays:
        """The arrays of ``scenario.market.segments``, in scenario order."""
        segments = list(scenario.market.segments.values())
        return cls(**{name: np.array([getattr(s, name) for s in segments], dtype=np.float64)
                      for name in cls.__dataclass_fields__})


def perk_value(complimentary_maintenance_months: np.ndarray, interval_months: float,
               maintenance_price: float) -> np.ndarray:
    """Complimentary maintenance in $1,000: the visits it covers times what the owner would have paid.

    Args:
        complimentary_maintenance_months: each brand's, shape (n_brands,).
        interval_months: months between scheduled visits (``service_events.maintenance_interval_months``).
        maintenance_price: what an owner pays for a visit that is not complimentary, 1989 USD.

    Returns:
        The perk of each brand, shape (n_brands,), $1,000 per new car.
    """
    return complimentary_maintenance_months / interval_months * maintenance_price / 1000.0


def brand_values(ba: BrandArrays, seg: SegmentArrays, p: Choice, perk_k: np.ndarray) -> np.ndarray:
    """The brand part of utility shared by all buyers of a segment (V_ib above without word of mouth and loyalty).

    Args:
        ba: the brands' parameters in force, each shape (n_brands,).
        seg: the segments' weights, each shape (n_segments,).
        p: the scenario's ``[choice]`` (``dealer_weight``).
        perk_k: each brand's perk (``perk_value``), $1,000, shape (n_brands,).

    Returns:
        Utilities, shape (n_segments, n_brands).
    """
    col = lambda v: v[:, None]  # noqa: E731
    return (col(seg.prestige_weight) * ba.prestige
            - col(seg.discount_stigma) * ba.discount
            + col(seg.perk_weight) * perk_k
            + p.dealer_weight * np.log(ba.dealers / DEALER_REFERENCE)
            + col(seg.service_weight) * ba.reputation)


def line_values(lines: LineArrays, discount: np.ndarray, seg: SegmentArrays, p: Choice, market: Market) -> np.ndarray:
    """The line part of utility, W_gnl above: the line's own appeal, price against its class, reliability, and
    body-type fit.

    Args:
        lines: the model lines this month (prices, defects, bodies, tiers, appeals), each shape (n_lines,).
        discount: each brand's discount in force (fraction of list price), shape (n_brands,).
        seg: the segments' weights (``price_weight``), each shape (n_segments,).
        p: the scenario's ``[choice]`` (``defect_weight``, ``body_mismatch``).
        market: the scenario's ``[market]`` (``reference_price``, ``tier_price_ratio``).

    Returns:
        Utilities, shape (n_segments, n_body_types, n_lines); lines not on sale included (``nest`` skips them).
    """
    ratio = np.array([market.tier_price_ratio[t] for t in TIERS])
    paid = price_with_tax(lines.price * (1.0 - discount[lines.brand]), lines.tax_rate, lines.tax_threshold)
    price_term = seg.price_weight[:, None] * np.log(paid / (market.reference_price * ratio[lines.tier]))[None, :]
    fit = np.arange(len(BODY_TYPES))[:, None] != lines.body[None, :]  # (n_body_types, n_lines): the wrong body type
    return ((lines.appeal - price_term - p.defect_weight * lines.defects_per_car_year)[:, None, :]
            - p.body_mismatch * fit[None, :, :])


class Offer(NamedTuple):
    """What the market offers a shopper this month, by segment g, need n and brand b (``nest``), as the compiled
    shopping passes read it."""

    values: np.ndarray  # (n_segments, n_needs, n_brands): V + λ·IV, the brand's value; -inf if no line on sale
    value_logit_weights: np.ndarray  # exp(values - value_offset) (at most 1; 0 where no line is on sale)
    line_cdf: np.ndarray  # (n_segments, n_needs, n_brands, max lines): cumulative P(line k of the brand | brand)
    brand_lines: np.ndarray  # (n_brands, max lines): line index of each brand's k-th line, -1 padding
    line_count: np.ndarray  # (n_brands,): lines per brand (on sale or not)
    need_cdf: np.ndarray  # (n_needs,): cumulative shares of the needs redrawn this month (body_type_mix)
    value_offset: np.ndarray  # (n_segments, n_needs): the largest of the values (0 if no brand is offered)


class Nests(NamedTuple):
    """The line-dependent part of an :class:`Offer` (``inclusive_values``): the same while the lines on sale, their
    prices and the brands' discounts do not change, so the model computes it only then."""

    inclusive: np.ndarray  # (n_segments, n_needs, n_brands): λ·IV, -inf where the brand has no line on sale
    line_cdf: np.ndarray  # (n_segments, n_needs, n_brands, max lines): cumulative P(line k of the brand | brand)
    brand_lines: np.ndarray  # (n_brands, max lines)
    line_count: np.ndarray  # (n_brands,), int64


@jit
def _inclusive_values(line_part, on_sale, brand_lines, line_count, lam):
    n_seg, n_need, _ = line_part.shape
    n_brands, width = brand_lines.shape
    inclusive = np.full((n_seg, n_need, n_brands), -np.inf)
    cdf = np.zeros((n_seg, n_need, n_brands, width))
    for g in range(n_seg):
        for n in range(n_need):
            for b in range(n_brands):
                top = -np.inf
                for k in range(line_count[b]):
                    line = brand_lines[b, k]
                    if on_sale[line]:
                        top = max(top, line_part[g, n, line] / lam)
                if top == -np.inf:
                    continue  # nothing on sale: the brand is not offered
                total = 0.0
                for k in range(line_count[b]):
                    line = brand_lines[b, k]
                    if on_sale[line]:
                        total += math.exp(line_part[g, n, line] / lam - top)
                    cdf[g, n, b, k] = total
                last = 0
                for k in range(line_count[b]):
                    cdf[g, n, b, k] /= total
                    if on_sale[brand_lines[b, k]]:
                        last = k
                for k in range(last, width):  # exactly 1 from the last line on sale: it ends every draw
                    cdf[g, n, b, k] = 1.0
                inclusive[g, n, b] = lam * (top + math.log(total))
    return inclusive, cdf


def inclusive_values(line_part: np.ndarray, on_sale: np.ndarray, brand_lines: np.ndarray, line_count: np.ndarray,
                     nesting_parameter: float) -> Nests:
    """Each brand's inclusive value (times λ) and the probabilities of its lines: the part of :func:`nest` that
    depends on the lines only.

    Args:
        line_part: ``line_values``, shape (n_segments, n_needs, n_lines).
        on_sale: each line on sale this month, bool, shape (n_lines,).
        brand_lines, line_count: each brand's lines (``sim.lineup.brand_lines``) and their number.
        nesting_parameter: λ in (0, 1].

    Returns:
        :class:`Nests`: λ·IV = λ·log Σ_l exp(W_l / λ) over the brand's lines on sale (-inf with none), computed as
        λ·(top + log Σ exp(W_l / λ - top)) with top the largest W_l / λ, and P(line | brand) cumulated.
    """
    line_count = np.asarray(line_count, np.int64)
    inclusive, cdf = _inclusive_values(np.ascontiguousarray(line_part, np.float64), np.asarray(on_sale, bool),
                                       brand_lines, line_count, float(nesting_parameter))
    return Nests(inclusive, cdf, brand_lines, line_count)


def offer(brand_part: np.ndarray, nests: Nests, need_cdf: np.ndarray) -> Offer:
    """The month's :class:`Offer` from the brand part of utility (which moves every month: prestige, reputation)
    and the line-dependent :class:`Nests`: value V + λ·IV, its logit weights and their offset.

    Args:
        brand_part: ``brand_values``, shape (n_segments, n_brands), finite.
        nests: ``inclusive_values`` of the lines on sale.
        need_cdf: cumulative need shares this month, shape (n_needs,) (passed through).
    """
    values = np.asarray(brand_part, np.float64)[:, None, :] + nests.inclusive
    offset = values.max(axis=2) if values.shape[2] else np.zeros(values.shape[:2])
    offset[offset == -np.inf] = 0.0  # no brand offered: any offset will do
    with np.errstate(under="ignore"):
        weights = np.exp(values - offset[:, :, None])
    return Offer(values, weights, nests.line_cdf, nests.brand_lines, nests.line_count, need_cdf, offset)


def nest(brand_part: np.ndarray, line_part: np.ndarray, on_sale: np.ndarray, brand_lines: np.ndarray,
         line_count: np.ndarray, nesting_parameter: float, need_cdf: np.ndarray) -> Offer:
    """The month's :class:`Offer`: each brand's value V + λ·IV and the probabilities of its lines
    (:func:`inclusive_values`, then :func:`offer`).

    Args:
        brand_part: ``brand_values``, shape (n_segments, n_brands).
        line_part: ``line_values``, shape (n_segments, n_needs, n_lines).
        on_sale: each line on sale this month, bool, shape (n_lines,).
        brand_lines, line_count: each brand's lines (``sim.lineup.brand_lines``) and their number.
        nesting_parameter: λ in (0, 1].
        need_cdf: cumulative need shares this month, shape (n_needs,) (passed through).

    Returns:
        The offer; a brand with no line on sale has value -inf and logit weight 0 for everyone. With one line on
        sale a brand's value is brand part + line part (IV = W / λ; exactly so for λ = 1). Logit weights are
        exp(value - ``value_offset``), the offset being the largest value of the segment and need: none overflows.
    """
    return offer(brand_part, inclusive_values(line_part, on_sale, brand_lines, line_count, nesting_parameter),
                 need_cdf)


class ChoiceParams(NamedTuple):
    """The per-shopper ``[choice]`` parameters, as compiled code reads them."""
    inertia: float
    satisfaction_loyalty: float
    satisfaction_loyalty_upside: float
    wom_weight: float
    variety_seeking: float
    variety_seekers: float
    brand_taste_sd: float = 0.0  # (read by rules.renew_tastes, not by the utility: the tastes are drawn already)
    brand_taste_persistence: float = 1.0
    unresolved_inertia: float = 1.0

    @classmethod
    def of(cls, p: Choice) -> ChoiceParams:
        """The parameters of ``p`` (the scenario's ``[choice]``), field by field (``sim.jit.record``)."""
        return record(cls, p)


@jit
def draw_known(rng, aware: int, awareness_reach, current: int) -> int:
    """The brands a shopper knows of (bits): those already known (``aware``), their own (``current``), and each
    other brand with its marketing reach (``awareness_reach[b]``; a draw only where it could matter)."""
    bits = np.int64(aware)
    for k in range(awareness_reach.size):
        if not (bits >> k) & 1 and (k == current or (awareness_reach[k] > 0.0
                                                     and rng.random() < awareness_reach[k])):
            bits |= 1 << k
    return bits


@jit
def utility(value: float, service_weight: float, heard: float, is_current: bool, own_sat: float, unresolved: bool,
            p: ChoiceParams) -> float:
    """Deterministic utility of one brand for one shopper: the segment's value of the brand, word of mouth
    weighed like service, and the loyalty of an owner to their current brand (``loyalty``)."""
    u = value + p.wom_weight * service_weight * heard
    if is_current:
        u += loyalty(own_sat, unresolved, p)
    return u


@jit
def loyalty(own_sat: float, unresolved: bool, p: ChoiceParams) -> float:
    """An owner's extra utility for their current brand (state dependence): ``inertia`` plus
    ``satisfaction_loyalty`` per unit of satisfaction ``own_sat`` (-1..1) below neutral, and
    ``satisfaction_loyalty_upside`` times that per unit above it. Dissatisfaction drives defection more than
    satisfaction drives repurchase (Anderson & Sullivan 1993; Mittal, Ross & Baldasare 1998, car owners), so a
    delighted owner is hard to convert but never certain to rebuy. While the owner's complaint about the brand is
    ``unresolved``, only ``unresolved_inertia`` of the inertia is kept: an unresolved complaint breaks the habit of
    rebuying (exit, Hirschman 1970; Dillard & Bates find such owners effectively never rebuy), where a resolved one
    leaves it whole (service recovery)."""
    slope = p.satisfaction_loyalty if own_sat < 0.0 else p.satisfaction_loyalty * p.satisfaction_loyalty_upside
    inertia = p.inertia * p.unresolved_inertia if unresolved else p.inertia
    return inertia + slope * own_sat


LOOKUP_RANGE = 600.0  # a looked-up weight exp(value - offset) is rescaled by exp(offset - the shopper's largest
# utility) while that exponent is at most this: exp(600) is finite, and a weight within e^-40 of the largest one is
# then a normal number (above e^-708) before rescaling, so it keeps full precision. Beyond it: exp(u - max) directly.


@jit
def logit_weights(w, u, values, value_logit_weights, value_offset: float, taste, service_weight: float, heard,
                  known: int, on_sale, loyal: int, own_sat: float, unresolved: bool, outside_utility: float,
                  p: ChoiceParams) -> float:
    """One shopper's logit weights of the brands and of leaving the segment, as both engines draw the choice
    (``sim.rules.choose_in_stock``): exp(utility - the shopper's largest utility), so that none overflows or is
    NaN, whatever the utilities (the largest weight is 1).

    A brand's utility is the segment's ``value`` of it, plus the household's own ``taste`` for it, word of mouth
    and, for the brand they are loyal to, loyalty (``utility``). For a brand the shopper neither is loyal to, nor
    has heard about, nor has a taste for, the utility is its value, and its weight is looked up:
    ``value_logit_weights[k]`` = exp(value - ``value_offset``), computed once a month, times
    exp(``value_offset`` - the largest utility) (computed directly instead when that factor is out of range:
    ``LOOKUP_RANGE``).

    Args:
        w: out, shape (n_brands + 1,): the weights; 0 for a brand not considered, the last for leaving.
        u: out, shape (n_brands + 1,): the utilities; -inf for an alternative not considered.
        values, value_logit_weights: the offer's (``Offer``) for the shopper's segment and need, shape (n_brands,).
        value_offset: the offer's offset for the segment and need.
        taste: the household's brand tastes, shape (n_brands,).
        service_weight: the segment's weight of perceived service (word of mouth is weighed like it).
        heard: what the shopper has heard about each brand, shape (n_brands,).
        known: the brands the shopper knows (bits); a brand is considered if known and on sale (``on_sale``).
        loyal: the brand the shopper is loyal to this time (-1: none).
        own_sat: the owner's satisfaction now.
        unresolved: whether the owner's complaint about their current brand is unresolved (``loyalty``).
        outside_utility: the segment's utility of leaving it; -inf if leaving is not an option.
        p: the ``[choice]`` parameters.

    Returns:
        The sum of ``w`` (at least 1 if anything is considered; 0 if nothing is).
    """
    nb = on_sale.size
    top = outside_utility
    for k in range(nb):
        if (known >> k) & 1 and on_sale[k]:
            if k == loyal or heard[k] != 0.0 or taste[k] != 0.0:
                u[k] = utility(values[k] + taste[k], service_weight, heard[k], k == loyal, own_sat, unresolved, p)
            else:
                u[k] = values[k]
            top = max(top, u[k])
        else:
            u[k] = -np.inf
    u[nb] = outside_utility
    if top == -np.inf:
        w[:] = 0.0
        return 0.0
    lookup = value_offset - top <= LOOKUP_RANGE
    scale = math.exp(value_offset - top) if lookup else 0.0
    total = 0.0
    for k in range(nb + 1):
        if u[k] == -np.inf:
            w[k] = 0.0
        elif u[k] == top:
            w[k] = 1.0  # exactly (a looked-up weight times the scale may round either side of it)
        elif lookup and k < nb and not (k == loyal or heard[k] != 0.0 or taste[k] != 0.0):
            w[k] = value_logit_weights[k] * scale
        else:
            w[k] = math.exp(u[k] - top)
        total += w[k]
    return total


@jit
def relative_weights(u, w) -> float:
    """Logit weights exp(u - max u) of utilities ``u`` (-inf = not considered: weight 0) into ``w`` (may be ``u``
    itself); returns their sum (0 if nothing is considered)."""
    top = -np.inf
    for k in range(u.size):
        top = max(top, u[k])
    if top == -np.inf:
        w[:] = 0.0
        return 0.0
    total = 0.0
    for k in range(u.size):
        w[k] = math.exp(u[k] - top) if u[k] > -np.inf else 0.0  # (no exp for what is not considered)
        total += w[k]
    return total


@jit
def draw_brand_tastes(rng: np.random.Generator, n: int, n_brands: int, sd: float) -> np.ndarray:
    """The persistent brand tastes of ``n`` households entering the segment: each N(0, sd²) for each brand,
    independent (random brand intercepts; ``choice.brand_taste_sd``). Returns shape (n, n_brands), float32, utility
    units; all 0, with no draw, if ``sd`` is 0."""
    if sd <= 0.0:
        return np.zeros((n, n_brands), dtype=np.float32)
    return (sd * rng.standard_normal((n, n_brands))).astype(np.float32)


@jit
def draw_variety_seekers(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """Which of ``n`` households entering the segment are variety seekers (``choice.variety_seekers``: a latent
    class, each with probability ``share``); no draw if ``share`` is 0."""
    if share > 0.0:
        return rng.random(n) < share
    return np.zeros(n, dtype=np.bool_)


@jit
def _owner_tastes(rng, owned, constant, sd, out):
    n_brands = constant.size
    candidate = np.empty(n_brands)
    for i in range(owned.size):
        b = owned[i]
        while True:  # candidates until one is kept: kept with the probability that it chooses b
            top = -np.inf
            for k in range(n_brands):
                candidate[k] = sd * rng.standard_normal()
                top = max(top, constant[k] + candidate[k])
            total = 0.0
            for k in range(n_brands):
                total += math.exp(constant[k] + candidate[k] - top)
            if rng.random() * total < math.exp(constant[b] + candidate[b] - top):
                break
        out[i] = candidate  # (a row at once: written element by element, the loop ran 12 times slower)


def draw_owner_brand_tastes(rng: np.random.Generator, owned: np.ndarray, fleet_shares: np.ndarray,
                            sd: float) -> np.ndarray:
    """The brand tastes of households who already own a car of brand ``owned[i]`` when the run starts: drawn as
    those of households who *chose* that brand, so that owners favour their own brand as they would after years of
    choosing (the taste distribution conditional on the choice: Train 2009 ch. 11). The choice is taken to be a
    logit over the brands with constants log(``fleet_shares``) plus the tastes, and the draw is exact by rejection
    (candidate tastes N(0, sd²) are kept with the probability of that choice; about one candidate per brand on
    sale per owner, whatever the shares).

    Args:
        rng: the stream drawn from.
        owned: each owner's brand, shape (n,), in 0..n_brands-1, with ``fleet_shares[owned] > 0``.
        fleet_shares: each brand's share of the initial fleet, shape (n_brands,), summing to 1.
        sd: ``choice.brand_taste_sd``.

    Returns:
        Shape (n, n_brands), float32, utility units; all 0, with no draw, if ``sd`` is 0.

    Raises:
        ValueError: an owner of a brand with no share of the fleet (it could never have been chosen).
    """
    owned = np.asarray(owned, np.int64)
    fleet_shares = np.asarray(fleet_shares, np.float64)
    out = np.zeros((owned.size, fleet_shares.size), dtype=np.float32)
    if sd <= 0.0 or owned.size == 0:
        return out
    if (fleet_shares[owned] <= 0).any():
        raise ValueError("an owner of a brand with no share of the initial fleet")
    with np.errstate(divide="ignore"):
        constant = np.log(fleet_shares)  # -inf: not on sale, never chosen
    _owner_tastes(rng, owned, constant, float(sd), out)
    return out


@jit
def draw_choice(rng, u) -> int:
    """Sample one alternative from the logit probabilities of utilities ``u`` (-inf = not considered) by the
    inverse CDF, one uniform; with nothing considered, the last alternative (leave the segment), and no draw.
    Overwrites ``u`` with the unnormalised probabilities (``relative_weights``)."""
    total = relative_weights(u, u)
    if total == 0.0:
        return u.size - 1
    return draw_weighted(rng, u, total)


@jit
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
def _utilities_all(values, service_weight, outside_utility, p, segment, current, own_sat, wom_now, considered,
                   may_leave):
    n, n_brands = considered.shape
    u = np.empty((n, n_brands + 1))
    for i in range(n):
        g = segment[i]
        for k in range(n_brands):
            if considered[i, k]:
                u[i, k] = utility(values[g, k], service_weight[g], wom_now[i, k], k == current[i], own_sat[i], False,
                                  p)
            else:
                u[i, k] = -np.inf
        u[i, n_brands] = outside_utility[g] if may_leave[i] else -np.inf
    return u


def utilities(values: np.ndarray, seg: SegmentArrays, p: Choice, reputation: np.ndarray, segment: np.ndarray,
              current: np.ndarray, own_sat: np.ndarray, wom_now: np.ndarray, considered: np.ndarray,
              may_leave: np.ndarray) -> np.ndarray:
    """Deterministic utilities of shoppers (``utility`` for each brand considered, and leaving the segment), none
    with a complaint unresolved.

    Args:
        values: the segments' values of the brands (``brand_values``), shape (n_segments, n_brands).
        seg: the segments' weights.
        p: the scenario's ``[choice]``.
        reputation: unused (the brands' reputations are in ``values`` already); kept for callers.
        segment, current, own_sat: each shopper's segment, brand (-1: none) and satisfaction now, shape (n,).
        wom_now: what each shopper has heard about each brand, shape (n, n_brands).
        considered: bool, shape (n, n_brands).
        may_leave: bool, shape (n,) or a scalar: whether leaving the segment is an option.

    Returns:
        Utilities, shape (n, n_brands + 1): the last column is leaving the segment; -inf = not considered.
    """
    n = considered.shape[0]
    return _utilities_all(np.ascontiguousarray(values, np.float64), seg.service_weight, seg.outside_utility,
                          ChoiceParams.of(p),
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
def _known_all(rng, aware, awareness_reach, current):
    out = np.empty(aware.size, dtype=np.uint16)
    for i in range(aware.size):
        out[i] = draw_known(rng, aware[i], awareness_reach, current[i])
    return out


def considered_brands(aware: np.ndarray, on_sale: np.ndarray, awareness_reach: np.ndarray, current: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The consideration set of shoppers: brands they know of (by word of mouth or owning one, or reached by
    marketing while shopping: ``draw_known``) and that are on sale.

    Args:
        aware: each shopper's awareness bits (bit b = knows brand b), shape (n,).
        on_sale: bool, shape (n_brands,).
        awareness_reach: each brand's marketing reach, shape (n_brands,).
        current: each shopper's brand, -1 for none, shape (n,).
        rng: the stream drawn from.

    Returns:
        (considered, bool (n, n_brands); the updated awareness bits, uint16 (n,)).
    """
    new_aware = _known_all(rng, np.asarray(aware, np.int64), np.asarray(awareness_reach, np.float64),
                           np.asarray(current, np.int64))
    bits = (1 << np.arange(on_sale.size)).astype(np.uint16)
    return ((new_aware[:, None] & bits) != 0) & on_sale, new_aware
