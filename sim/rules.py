"""The rules: what follows an event, written once for both engines.

A *formula* says how much: how a service visit feels (``service.experience_mean``), how satisfaction moves
after it (``satisfaction.updated``), a brand's utility to a shopper (``choice.utility``), how long a car is kept
(``replacement.draw_holding_months``). A *rule* says what follows, and changes a buyer's state: after an
experience, is the car taken back, is a complaint filed (and will the brand resolve it fast), is the
replacement brought forward, is a story told; when a complaint is resolved, what satisfaction becomes; when a
shopper buys, what their satisfaction and replacement date are. The formulas live in their mechanism
modules; the rules live here.

Both engines call these functions: the compiled kernels (``sim/kernels.py``: ``service_month``,
``resolve_complaints``, ``shop``) for each event and shopper, and the per-agent reference engine
(``agents/buyer.py``: ``BuyerAgent.visit_dealer``, ``resolve_complaints``, ``shop``). What is left in each
engine is bookkeeping: which arrays, queues and ledgers the outcome is written to, and in which order
buyers are visited. ``tests/test_differential.py`` checks that the two engines, given the same events and
the same random streams, leave every buyer, the complaint queue and the ledger the same; ``tests/test_rules.py``
checks each rule alone.

How they are written, and why:

* Compiled with ``@jit`` (``sim/jit.py``): a function of its own that LLVM inlines where a kernel calls
  it. Numbers in, a number or a tuple of numbers out: no arrays and no named tuples of arrays as arguments,
  because numba counts a reference to every array handed to a function at every call (an atomic operation
  each), which the kernels cannot afford per event (see ``sim/kernels.py``).
* A rule that draws random numbers draws them from the generator it is given, only when its outcome can
  depend on them, and always in the same order. Both engines call it at the same point of the same
  event or purchase, so given the same generator they consume the same numbers.
* Its thresholds and probabilities are scenario parameters (``[satisfaction]`` in ``sim/scenario.py``, read
  through ``sim.satisfaction.SatisfactionParams``) or named constants of their mechanism module
  (``FAST_RESOLUTION_MONTHS``, ``EARLY_REPLACEMENT_MONTHS``, ``LAST_MONTH``): nothing is written as a bare
  number in an engine.

The rules, in the order they apply, and where they come from:

* ``may_take_back``, ``take_back``: a guarantee brand's empowered staff take back the car of a very unhappy owner (below
  ``take_back_below``), with ``take_back_probability``; the owner gets a new car and ``take_back_satisfaction``.
  The Lexus case: dealers were authorised to replace a car an owner was unhappy with.
* ``complains``, ``complaint_resolution``: an owner left below ``complaint_below`` (and not given a new car)
  complains; the brand resolves it within 90 days, in 90-180 days, or never
  (``sim.satisfaction.draw_resolution_delay``, Dillard & Bates), and a resolution within
  ``FAST_RESOLUTION_MONTHS`` counts as fast.
* ``may_replace_early``, ``replace_early``: dissatisfaction (below ``early_replace_below``) brings the replacement
  date forward (``sim/replacement.py``).
* ``tell_story``: an experience with |x| above ``tell_above`` becomes a story the owner tells about the brand of
  the car they have (``sim/word_of_mouth.py``).
* ``complaint_applies`` and ``resolve``: a complaint resolved in its month restores satisfaction by
  ``recovery_fast`` or ``recovery_slow`` (capped at 1), if the owner still has the car complained about
  (service recovery, Dillard & Bates).
* ``due_to_shop``: an owner is in the market in the month of their replacement date.
* ``leaves_at_life_event``: a replacing owner leaves the luxury segment with probability ``market.life_event_exit``
  whatever they think of the brands (life status changes: income, retirement, a family that needs a minivan or a
  pickup no luxury brand sells; Andreasen 1984, Mathur, Moschis & Lee 2003). Polk's make loyalty counts such a
  household as not loyal (its denominator is every household that replaced a car of the make with *any* new
  vehicle), so no brand's loyalty can exceed ``1 - life_event_exit``.
* ``redraw_need``: a household replacing its car needs another body type with probability ``market.need_change``
  (life events), drawn from the market's body-type mix of the month (``sim/lineup.py``).
* ``renew_tastes``: a replacing household's brand tastes drift (an AR(1) across purchase occasions with
  correlation ``choice.brand_taste_persistence``, Keane 1997), so a brand's owners are not selected for their
  taste for ever.
* ``seeks_variety``: a replacing owner ignores their loyalty this time with probability
  ``choice.variety_seeking`` (McAlister & Pessemier 1982), or always if the household is a variety seeker
  (``choice.variety_seekers``, a latent class): satisfaction raises loyalty but never makes it certain.
* ``draw_line``: the buyer of a brand takes one of its lines with the nested logit's within-brand probabilities
  (``sim.choice.nest``).
* ``satisfaction_after_purchase``: a buyer who switches brand starts at ``new_car``; one who buys their brand
  again carries over ``repurchase_carryover`` of their satisfaction with it (state dependence, Mannering &
  Winston 1991).
* ``new_car``: leased or owned (the segment's lease propensity this month), and the replacement date: a lease's
  term or an owned car's Weibull holding time from now, capped at ``LAST_MONTH``.

The recall campaigns of a month (which brands run one) are drawn by one function for both engines,
``sim.service.draw_campaigns``; which cars a campaign reaches is part of the event sampling, which the
engines do differently (geometric gaps in the kernels, a draw per owner in the reference engine).
"""

from __future__ import annotations

import math

import numpy as np

from sim.choice import draw_weighted, relative_weights
from sim.jit import jit
from sim.population import LAST_MONTH, RESOLVED_FAST, RESOLVED_SLOW
from sim.replacement import draw_early_replacement, draw_new_car
from sim.satisfaction import FAST_RESOLUTION_MONTHS, draw_resolution_delay
from sim.word_of_mouth import story_value, tell

# ---- after a service event ------------------------------------------------------------------------------------------
# A rule that draws only for some owners comes with its test of who (``may_take_back``, ``complains``,
# ``may_replace_early``: no draw). The kernel asks it first and calls the rule only then: a compiled function
# that may or may not draw costs a reference count of the generator (an atomic operation) wherever it is called,
# which on every event would slow the month's events by a tenth; asked first, it is paid only by the few.


@jit
def may_take_back(s: float, guarantee: bool, below: float) -> bool:
    """Whether the owner of a car of a brand with (or without) the take-back ``guarantee``, left at satisfaction
    ``s``, is eligible for a take-back: below ``below``."""
    return s < below and guarantee


@jit
def take_back(rng, s: float, guarantee: bool, below: float, probability: float,
              satisfaction_after: float) -> tuple[bool, float]:
    """Whether a brand with the take-back ``guarantee`` takes back the car of an owner left at satisfaction
    ``s``: if eligible (``may_take_back``), with ``probability`` (one draw, only then). Returns (taken back, the
    owner's satisfaction: ``satisfaction_after`` if taken back, else ``s``). A car taken back is replaced
    (``new_car``) and the owner does not complain."""
    if may_take_back(s, guarantee, below) and rng.random() < probability:
        return True, satisfaction_after
    return False, s


@jit
def complains(s: float, below: float) -> bool:
    """Whether an owner left at satisfaction ``s`` (and not given a new car) complains: below ``below``."""
    return s < below


@jit
def resolved_fast(delay: int) -> bool:
    """Whether a complaint resolved after ``delay`` months (0 = never) is resolved fast: within
    ``FAST_RESOLUTION_MONTHS`` (90 days)."""
    return 0 < delay <= FAST_RESOLUTION_MONTHS


@jit
def complaint_resolution(rng, p_fast: float, p_slow: float) -> tuple[int, bool]:
    """When the brand resolves a complaint just filed: (months until resolved, 0 = never; resolved fast). Within
    90 days with probability ``p_fast``, in 90-180 days with ``p_slow`` (``sim.satisfaction.draw_resolution_delay``)."""
    delay = draw_resolution_delay(rng, p_fast, p_slow)
    return delay, resolved_fast(delay)


@jit
def may_replace_early(s: float, below: float) -> bool:
    """Whether an owner left at satisfaction ``s`` considers replacing their car early: below ``below``."""
    return s < below


@jit
def replace_early(rng, month: int, s: float, leased: bool, due: int, below: float, probability: float) -> int:
    """The replacement date of an owner left at satisfaction ``s`` in ``month``, whose car is due for replacement
    in ``due``: if they consider it (``may_replace_early``), brought forward by
    ``sim.replacement.draw_early_replacement`` (lessees less often); never put back."""
    if not may_replace_early(s, below):
        return due
    early = draw_early_replacement(rng, s, leased, below, probability)
    if early > 0 and month + early < due:
        return month + early
    return due


@jit
def tell_story(stock: np.float32, about: int, brand: int, x: float, fade: float, tell_above: float,
               strength: float, negativity: float) -> tuple[np.float32, int, bool]:
    """An owner's stock of stories (worth ``stock``, about brand ``about``) after an experience ``x`` with
    ``brand``: a notable one (|x| above ``tell_above``) is told, worth ``story_value`` stored inflated by
    ``fade`` (``sim.word_of_mouth.inflation``). Returns (stock, about, told).

    Written without a branch on whether the experience is notable (a coin toss for the CPU's branch predictor):
    the story is computed either way and the stock chosen by a select on (stock, about) alone. (Choosing
    between two 3-tuples that include ``notable`` itself compiles to a branch: the month's events took 5%
    longer.)"""
    notable = abs(x) > tell_above
    told, told_about = tell(stock, about, brand, np.float32(story_value(x, strength, negativity) * fade))
    stock, about = (told, told_about) if notable else (stock, about)
    return stock, about, notable


# ---- complaints resolved ------------------------------------------------------------------------------------------
@jit
def complaint_applies(active: bool, owned_brand: int, purchase_month: int, brand: int, car: int) -> bool:
    """Whether a complaint about ``brand``'s car bought in ``car`` still concerns the household in its slot (in the
    segment, owning ``owned_brand`` bought in ``purchase_month``): not if they have moved on to another car."""
    return active and owned_brand == brand and purchase_month == car


@jit
def resolve(s: float, fast: bool, recovery_fast: float, recovery_slow: float) -> tuple[float, int]:
    """A complaint resolved: satisfaction ``s`` (as of now) restored by ``recovery_fast`` or ``recovery_slow``,
    at most 1; returns (satisfaction, the complaint's outcome: RESOLVED_FAST or RESOLVED_SLOW)."""
    return min(s + (recovery_fast if fast else recovery_slow), 1.0), (RESOLVED_FAST if fast else RESOLVED_SLOW)


# ---- shopping -------------------------------------------------------------------------------------------------------
@jit
def due_to_shop(active: bool, replace_month: int, month: int) -> bool:
    """Whether a household is in the market in ``month``: in the segment, and its replacement date has come."""
    return active and replace_month == month


@jit
def leaves_at_life_event(rng, owner: bool, probability: float) -> bool:
    """Whether a shopper replacing a car of the segment (``owner``) leaves the segment because of a life event,
    before and whatever they would choose (``market.life_event_exit``): one uniform, drawn only for an owner and a
    positive probability."""
    return owner and probability > 0.0 and rng.random() < probability


@jit
def redraw_need(rng, need: int, probability: float, need_cdf) -> int:
    """The body type a household replacing its car needs: its ``need`` as before, or with ``probability`` one
    drawn from the month's cumulative need shares ``need_cdf`` (two uniforms; none if ``probability`` is 0)."""
    if probability > 0.0 and rng.random() < probability:
        u = rng.random()
        for k in range(need_cdf.size):
            if u < need_cdf[k]:
                return k
        return need_cdf.size - 1
    return need


@jit
def renew_tastes(rng, taste, persistence: float, sd: float) -> None:
    """A replacing household's brand tastes ``taste`` (shape (n_brands,), utility units), renewed in place as an
    AR(1) across purchase occasions: each becomes ``persistence`` x itself + sqrt(1 - persistence²) x ``sd`` x N(0, 1),
    which keeps N(0, sd²) tastes N(0, sd²) (``choice.brand_taste_persistence``, Keane 1997). One normal per brand;
    none when ``persistence`` is 1 or ``sd`` is 0 (tastes kept for life)."""
    if persistence >= 1.0 or sd <= 0.0:
        return
    fresh = math.sqrt(1.0 - persistence * persistence) * sd
    for k in range(taste.size):
        taste[k] = persistence * taste[k] + fresh * rng.standard_normal()


@jit
def seeks_variety(rng, owner: bool, probability: float, seeker: bool) -> bool:
    """Whether a shopper who owns a car of the segment (``owner``) ignores state dependence this time (variety
    seeking): always for a household of the variety-seeking class (``seeker``), otherwise with ``probability``
    (one uniform, drawn only for an owner who is not a seeker and a positive probability)."""
    return owner and (seeker or (probability > 0.0 and rng.random() < probability))


@jit
def choose_in_stock(rng, u, w, total: float, stock) -> int:
    """A shopper's choice among alternatives with utilities ``u`` and logit weights ``w`` (relative to the largest
    utility, summing to ``total``: ``sim.choice.logit_weights``; ``sim.choice.draw_weighted``, one uniform), where
    a brand whose month's allocation is sold (``stock[b]`` <= 0, ``sim.supply``) is out of stock: the shopper
    chooses again among the rest, a uniform a draw, with their weights recomputed from their utilities
    (``sim.choice.relative_weights``: the rest may be far less likely than the brand sold out). The brand chosen
    gives up one car of its ``stock`` (an alternative at or beyond ``stock.size``, leaving the segment, has none).
    Overwrites the utilities of brands found sold out with -inf, and then the weights."""
    pick = draw_weighted(rng, w, total)
    while pick < stock.size and stock[pick] <= 0.0:
        u[pick] = -np.inf
        total = relative_weights(u, w)
        pick = draw_weighted(rng, w, total)
    if pick < stock.size:
        stock[pick] -= 1.0
    return pick


@jit
def draw_line(rng, line_cdf, g: int, need: int, brand: int, brand_lines, line_count) -> int:
    """The line a buyer of segment ``g`` needing ``need`` takes of ``brand``: by the inverse CDF over the brand's
    lines (``line_cdf[g, need, brand]``, ``sim.choice.nest``), one uniform; no draw for a brand with one line."""
    count = line_count[brand]
    if count == 1:
        return brand_lines[brand, 0]
    u = rng.random()
    for k in range(count):
        if u < line_cdf[g, need, brand, k]:
            return brand_lines[brand, k]
    return brand_lines[brand, count - 1]


@jit
def satisfaction_after_purchase(own_sat: float, stayed: bool, new_car: float, carryover: float) -> float:
    """Satisfaction with the brand just bought: ``new_car`` for a switcher; for a buyer who stayed with their
    brand, ``carryover`` of their satisfaction with it (``own_sat``, as of now) and the rest ``new_car``."""
    if stayed:
        return carryover * own_sat + (1.0 - carryover) * new_car
    return new_car


@jit
def new_car(rng, month: int, lease_probability: float, holding) -> tuple[bool, int]:
    """A car acquired in ``month`` (bought, or given by a take-back): leased with ``lease_probability`` or owned,
    and its replacement date (``sim.replacement.draw_new_car``'s months from now, at most ``LAST_MONTH``).
    ``holding`` is a ``sim.replacement.Holding`` (a named tuple of numbers)."""
    leased, months_kept = draw_new_car(rng, lease_probability, holding)
    return leased, min(month + months_kept, LAST_MONTH)
