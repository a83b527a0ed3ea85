"""Word of mouth: owners tell their contacts about notable service experiences, and are seen in new cars.

An experience x with |x| above ``tell_above`` is told to every contact: the contact's perceived service of
that brand moves by ``strength * x`` (bad stories ``negativity`` times more), and the contact becomes aware
of the brand. What a buyer has heard fades with time; like satisfaction it is stored with the month it was
last written and decayed on read. The work is proportional to stories told times contacts.
"""

from __future__ import annotations

import numpy as np

from sim.network import Network


def decay(wom_month: np.ndarray, month: int, decay_months: float) -> np.ndarray:
    """Factor by which what was heard by ``wom_month`` has faded by ``month``."""
    return np.exp(-(month - wom_month.astype(np.float32)) / np.float32(decay_months)).astype(np.float32)


def story_value(x: np.ndarray, strength: float, negativity: float) -> np.ndarray:
    return (strength * x * np.where(x < 0, negativity, 1.0)).astype(np.float32)


def tell(network: Network, tellers: np.ndarray, brands: np.ndarray, x: np.ndarray, wom: np.ndarray,
         wom_month: np.ndarray, aware: np.ndarray, month: int, strength: float, negativity: float,
         decay_months: float) -> int:
    """Spread stories from ``tellers`` about ``brands`` to their contacts. Updates ``wom``, ``wom_month`` and
    ``aware`` in place; returns the number of contacts reached."""
    owner, contact = network.gather(tellers)
    if contact.size == 0:
        return 0
    fade = decay(wom_month[contact], month, decay_months)
    wom[contact] *= fade[:, None]
    wom_month[contact] = month
    b = brands[owner].astype(np.int64)
    n_brands = wom.shape[1]
    np.add.at(wom.reshape(-1), contact.astype(np.int64) * n_brands + b, story_value(x[owner], strength, negativity))
    np.bitwise_or.at(aware, contact, (1 << b).astype(np.uint16))
    return int(contact.size)


def seen_in_new_car(rng: np.random.Generator, network: Network, buyers: np.ndarray, brands: np.ndarray,
                    aware: np.ndarray, probability: float) -> None:
    """Contacts of buyers of a new car become aware of its brand with ``probability`` (updates ``aware``)."""
    owner, contact = network.gather(buyers)
    seen = rng.random(contact.size) < probability
    np.bitwise_or.at(aware, contact[seen], (1 << brands[owner[seen]].astype(np.int64)).astype(np.uint16))
