"""Word of mouth: owners tell their friends about notable service experiences, and friends see their cars.

An experience x with |x| above ``tell_above`` becomes a story about the owner's brand, worth
``strength * x`` to a listener (bad stories ``negativity`` times more), fading exponentially (``decay_months``).

Stories are *pulled*, not pushed. Each owner keeps one stock: the faded sum of the stories they have told
about one brand (``told``, ``told_brand``). When a buyer shops, they hear their contacts' stocks: what they
have heard about brand b is the sum over contacts whose stock is about b. That is the same sum a listener
would have accumulated story by story, but it is computed only for the few buyers who are choosing this
month, and telling a story touches only the teller. Shoppers also learn of the brands their contacts tell
about, and of each contact's car with probability ``aware_on_purchase`` (the car is seen).

Fading costs nothing per buyer: stocks are stored *inflated* by e^{(t - epoch)/τ}, the factor by which a
story will have faded by month t. A story told at month t adds ``value * inflation(t)``; reading at month t
divides by ``inflation(t)``. (The model re-bases the epoch long before float32 could overflow.)

The per-teller and per-shopper steps (``tell``, ``hear_contacts``) are compiled and shared by both engines;
``tell_stories`` and ``hear`` apply them to many tellers or shoppers. A brand's ``word_of_mouth`` (its
scenario multiplier, ``BrandArrays.word_of_mouth``) scales what is heard about it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from sim.jit import jit, record
from sim.network import Network
from sim.scenario import WordOfMouth

REBASE_EXPONENT = 60.0  # re-base the stored values once inflation passes e^60 (float32 holds ~e^88)


class WomParams(NamedTuple):
    """The ``[word_of_mouth]`` parameters, as compiled code reads them."""
    tell_above: float
    strength: float
    negativity: float
    decay_months: float
    aware_on_purchase: float

    @classmethod
    def of(cls, p: WordOfMouth) -> WomParams:
        """The parameters of ``p`` (the scenario's ``[word_of_mouth]``), field by field (``sim.jit.record``)."""
        return record(cls, p)


def inflation(month: int, epoch: int, decay_months: float) -> float:
    """Factor by which a story told at ``epoch`` will have faded by ``month`` (inverted)."""
    return math.exp((month - epoch) / decay_months)


@jit
def story_value(x, strength, negativity):
    """Shift in perceived service that one story of experience ``x`` causes in a listener (bad stories weigh
    ``negativity`` times more). Works on a number or element-wise on an array."""
    return strength * x * (1.0 + (negativity - 1.0) * (x < 0))


@jit
def tell(stock: float, about: int, brand: int, value: float) -> tuple[float, int]:
    """An owner's stock of stories (worth ``stock``, about brand ``about``) after they tell one worth ``value``
    (already inflated) about ``brand``: returns the new (stock, about). A story about another brand than the
    stock's starts a new stock: an owner talks about the car they have now."""
    if about != brand:
        return value, brand
    return stock + value, brand


@jit
def hear_contacts(rng, shopper: int, indptr, local, community_size: int, told, told_brand, owned_brand, word_of_mouth,
                  fade: float, see_probability: float, aware: int, heard) -> int:
    """What ``shopper`` hears from their contacts (``local[indptr[shopper]:indptr[shopper + 1]]``, places in the
    shopper's community of ``community_size``: ``sim.network.Network``): adds each contact's stock (faded: divided
    by ``fade``) to ``heard[brand]``, and returns the awareness bits ``aware`` plus the brands of the contacts'
    stories and, each with ``see_probability``, of their cars (a car whose brand is already known needs no draw).
    ``word_of_mouth[b]`` (the brand's multiplier, ``BrandArrays.word_of_mouth``) scales what is heard about brand b:
    at 0 neither its stories nor the sight of its cars reach anyone; a sighting happens with probability
    ``see_probability·min(word_of_mouth[b], 1)``."""
    bits = np.int64(aware)
    base = (shopper // community_size) * community_size  # contacts are places in the shopper's community
    for k in range(indptr[shopper], indptr[shopper + 1]):
        c = base + np.int64(local[k])
        about = np.int64(told_brand[c])
        if about >= 0 and word_of_mouth[about] > 0.0:
            heard[about] += word_of_mouth[about] * told[c] / fade
            bits |= 1 << about
        car = np.int64(owned_brand[c])
        if car >= 0 and word_of_mouth[car] > 0.0 and not (bits >> car) & 1 \
                and rng.random() < see_probability * min(word_of_mouth[car], 1.0):
            bits |= 1 << car
    return bits


# ---- the same, for many tellers or shoppers ----------------------------------------------------------------------
@jit
def _tell_all(told, told_brand, tellers, brands, x, fade, strength, negativity):
    for k in range(tellers.size):
        i = tellers[k]
        told[i], told_brand[i] = tell(told[i], told_brand[i], brands[k],
                                      np.float32(story_value(x[k], strength, negativity) * fade))


def tell_stories(told: np.ndarray, told_brand: np.ndarray, tellers: np.ndarray, brands: np.ndarray, x: np.ndarray,
                 month: int, epoch: int, strength: float, negativity: float, decay_months: float) -> None:
    """Distinct ``tellers`` each tell a story of their experience ``x`` about ``brands`` (``tell``), in place.

    Args:
        told, told_brand: every owner's stock of stories (float32, inflated) and its brand (int8), shape
            (n_slots,) (``Population.told``, ``told_brand``); changed in place.
        tellers: distinct slots, int, shape (k,).
        brands: the brand each teller tells about, shape (k,).
        x: each teller's experience, shape (k,).
        month, epoch: now, and the month the stored stocks are inflated from (``inflation``).
        strength, negativity, decay_months: the scenario's ``[word_of_mouth]``.
    """
    _tell_all(told, told_brand, np.asarray(tellers, np.int64), np.asarray(brands, np.int64),
                np.asarray(x, np.float64), inflation(month, epoch, decay_months), float(strength), float(negativity))


@jit
def _hear_all(rng, indptr, local, community_size, listeners, told, told_brand, owned_brand, word_of_mouth, n_brands,
              fade, see_probability):
    heard = np.zeros((listeners.size, n_brands), dtype=np.float32)
    bits = np.zeros(listeners.size, dtype=np.uint16)
    row = np.zeros(n_brands)
    for k in range(listeners.size):
        row[:] = 0.0
        bits[k] = hear_contacts(rng, listeners[k], indptr, local, community_size, told, told_brand, owned_brand,
                                word_of_mouth, fade, see_probability, 0, row)
        heard[k] = row
    return heard, bits


def hear(rng: np.random.Generator, network: Network, listeners: np.ndarray, told: np.ndarray,
         told_brand: np.ndarray, owned_brand: np.ndarray, n_brands: int, month: int, epoch: int,
         decay_months: float, see_probability: float,
         word_of_mouth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What each listener has heard about each brand (n × brands, float32), and the awareness bits they gain
    from their contacts' stories and cars (``word_of_mouth``: each brand's word-of-mouth multiplier, default 1)."""
    word_of_mouth = np.ones(n_brands) if word_of_mouth is None else np.asarray(word_of_mouth, np.float64)
    return _hear_all(rng, network.indptr, network.local, network.size, np.asarray(listeners, np.int64), told,
                     told_brand, owned_brand, word_of_mouth, int(n_brands), inflation(month, epoch, decay_months),
                     float(see_probability))
