"""Word of mouth: owners tell their contacts about notable service experiences, and are seen in new cars.

An experience x with |x| above ``tell_above`` is told to every contact: the contact's perceived service of
that brand moves by ``strength * x`` (bad stories ``negativity`` times more), and the contact becomes aware
of the brand. What a buyer has heard fades exponentially (``decay_months``).

Fading costs nothing per buyer: heard stories are stored *inflated* by e^{(t - epoch)/τ}, the factor by which
they will have faded by month t. Adding a story told at month t adds ``value * inflation(t)``; reading at
month t divides by ``inflation(t)``. So telling is one scatter-add over the contacts reached, and months with
no story cost nothing. (The model re-bases the epoch long before float32 could overflow.)
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


def heard(stored: np.ndarray, month: int, epoch: int, decay_months: float) -> np.ndarray:
    """What buyers have heard about each brand as of ``month``, from their stored (inflated) rows."""
    return stored * np.float32(1.0 / inflation(month, epoch, decay_months))


def tell(network: Network, tellers: np.ndarray, brands: np.ndarray, x: np.ndarray, wom: np.ndarray,
         aware: np.ndarray, month: int, epoch: int, strength: float, negativity: float,
         decay_months: float) -> int:
    """Stories from ``tellers`` about ``brands`` reach all their contacts. Adds to ``wom`` (inflated units)
    and sets the contacts' awareness bits, in place; returns the number of contacts reached."""
    owner, contact = network.gather(tellers)
    if contact.size == 0:
        return 0
    b = brands[owner].astype(np.int64)
    value = story_value(x, strength, negativity) * np.float32(inflation(month, epoch, decay_months))
    np.add.at(wom.reshape(-1), contact * wom.shape[1] + b, value[owner])
    np.bitwise_or.at(aware, contact, (1 << b).astype(np.uint16))
    return int(contact.size)


def seen_in_new_car(rng: np.random.Generator, network: Network, buyers: np.ndarray, brands: np.ndarray,
                    aware: np.ndarray, probability: float) -> None:
    """Contacts of buyers of a new car become aware of its brand with ``probability`` (updates ``aware``)."""
    owner, contact = network.gather(buyers)
    seen = rng.random(contact.size) < probability
    np.bitwise_or.at(aware, contact[seen], (1 << brands[owner[seen]].astype(np.int64)).astype(np.uint16))
