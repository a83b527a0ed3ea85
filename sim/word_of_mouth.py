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
"""

from __future__ import annotations

import math

import numpy as np

from sim.network import Network

REBASE_EXPONENT = 60.0  # re-base the stored values once inflation passes e^60 (float32 holds ~e^88)


def inflation(month: int, epoch: int, decay_months: float) -> float:
    """Factor by which a story told at ``epoch`` will have faded by ``month`` (inverted)."""
    return math.exp((month - epoch) / decay_months)


def story_value(x: np.ndarray, strength: float, negativity: float) -> np.ndarray:
    """Shift in perceived service that one story of experience ``x`` causes in a listener."""
    return (strength * x * np.where(x < 0, negativity, 1.0)).astype(np.float32)


def record(told: np.ndarray, told_brand: np.ndarray, tellers: np.ndarray, brands: np.ndarray, x: np.ndarray,
           month: int, epoch: int, strength: float, negativity: float, decay_months: float) -> None:
    """Distinct ``tellers`` add a story about ``brands`` to their stock (in place). A story about another
    brand than the stock's starts a new stock: an owner talks about the car they have now."""
    value = story_value(x, strength, negativity) * np.float32(inflation(month, epoch, decay_months))
    same = told_brand[tellers] == brands
    told[tellers] = np.where(same, told[tellers], 0.0) + value
    told_brand[tellers] = brands


def hear(rng: np.random.Generator, network: Network, listeners: np.ndarray, told: np.ndarray,
         told_brand: np.ndarray, owned_brand: np.ndarray, n_brands: int, month: int, epoch: int,
         decay_months: float, see_probability: float) -> tuple[np.ndarray, np.ndarray]:
    """What each listener has heard about each brand (n × brands, float32), and the awareness bits they gain
    from their contacts' stories and cars."""
    n = listeners.size
    owner, contact = network.gather(listeners)
    about = told_brand[contact].astype(np.int64)
    has = about >= 0
    flat = owner[has] * n_brands + about[has]
    heard = np.bincount(flat, weights=told[contact[has]], minlength=n * n_brands).reshape(n, n_brands)
    heard = (heard / inflation(month, epoch, decay_months)).astype(np.float32)
    car = owned_brand[contact].astype(np.int64)
    seen = (car >= 0) & (rng.random(contact.size) < see_probability)
    # each contact makes known the brand of its stories and, if seen, of its car; OR them per listener
    per_contact = (np.where(has, 1 << np.maximum(about, 0), 0) | np.where(seen, 1 << np.maximum(car, 0), 0)).astype(np.uint16)
    bits = np.zeros(n, dtype=np.uint16)
    if contact.size:
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])  # contacts come grouped by listener
        bits[owner[starts]] = np.bitwise_or.reduceat(per_contact, starts)
    return heard, bits
