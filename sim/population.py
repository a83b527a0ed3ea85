"""Columnar buyer state: one numpy array per attribute, one slot per household.

A slot holds one luxury-car household while it is in the segment (``active``). A household that leaves the
segment frees its slot; a later entrant takes it over (with a new ``household`` id, and the slot's social
ties: the newcomer moves into the same circle). Capacity is fixed up front from the scenario's growth.

Satisfaction and word of mouth decay continuously but are stored lazily: satisfaction keeps the month it
was last written and is decayed when next read (``sim/satisfaction.py``); the stories an owner tells are
stored inflated by their future fading, and heard only when a contact shops (``sim/word_of_mouth.py``). Nothing has to touch every buyer every month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEVER = np.iinfo(np.int16).max  # "no month"
NO_BRAND = -1
# Last complaint about the current car: none, resolved within 90 days, in 90-180 days, not (yet) resolved.
NO_COMPLAINT, RESOLVED_FAST, RESOLVED_SLOW, UNRESOLVED = range(4)
COMPLAINT_OUTCOMES = ("none", "resolved_within_90_days", "resolved_90_to_180_days", "unresolved")


@dataclass
class Population:
    active: np.ndarray  # bool: in the luxury segment
    household: np.ndarray  # int32: who lives in this slot (changes when a slot is reused)
    segment: np.ndarray  # int8: index into the scenario's segments
    brand: np.ndarray  # int8: brand of the car owned, NO_BRAND if none
    purchase_month: np.ndarray  # int16: when the current car was acquired
    replace_month: np.ndarray  # int16: when the owner will next be in the market
    leased: np.ndarray  # bool
    sat: np.ndarray  # float32: satisfaction with the owned brand, -1..1, as of sat_month
    sat_month: np.ndarray  # int16
    aware: np.ndarray  # uint16: bit b set = aware of brand b
    complaint: np.ndarray  # int8: outcome of the last complaint about the current car (COMPLAINT_OUTCOMES)
    told: np.ndarray  # float32: faded sum of the stories this owner has told (inflated, see word_of_mouth)
    told_brand: np.ndarray  # int8: the brand those stories are about, NO_BRAND if none
    free: np.ndarray  # int32 stack of free slots (top = free[n_free - 1]), reused by entrants
    n_free: int = 0
    next_household: int = 0

    @property
    def capacity(self) -> int:
        return self.active.size

    def n_active(self) -> int:
        return int(np.count_nonzero(self.active))

    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    @classmethod
    def empty(cls, capacity: int, n_brands: int) -> Population:
        return cls(
            active=np.zeros(capacity, dtype=bool),
            household=np.full(capacity, -1, dtype=np.int32),
            segment=np.zeros(capacity, dtype=np.int8),
            brand=np.full(capacity, NO_BRAND, dtype=np.int8),
            purchase_month=np.zeros(capacity, dtype=np.int16),
            replace_month=np.full(capacity, NEVER, dtype=np.int16),
            leased=np.zeros(capacity, dtype=bool),
            sat=np.zeros(capacity, dtype=np.float32),
            sat_month=np.zeros(capacity, dtype=np.int16),
            aware=np.zeros(capacity, dtype=np.uint16),
            complaint=np.zeros(capacity, dtype=np.int8),
            told=np.zeros(capacity, dtype=np.float32),
            told_brand=np.full(capacity, NO_BRAND, dtype=np.int8),
            free=np.arange(capacity - 1, -1, -1, dtype=np.int32),
            n_free=capacity,
        )

    def take_slots(self, k: int) -> np.ndarray:
        """Claim ``k`` free slots for new households."""
        if k > self.n_free:
            raise RuntimeError(f"population capacity exhausted ({self.capacity} slots)")
        slots = self.free[self.n_free - k : self.n_free][::-1].astype(np.int64)
        self.n_free -= k
        self.active[slots] = True
        self.household[slots] = np.arange(self.next_household, self.next_household + k, dtype=np.int32)
        self.next_household += k
        return slots

    def release(self, slots: np.ndarray) -> None:
        """Households leave the segment; their slots become free."""
        self.active[slots] = False
        self.brand[slots] = NO_BRAND
        self.replace_month[slots] = NEVER
        self.free[self.n_free : self.n_free + slots.size] = slots[::-1]
        self.n_free += slots.size


class Calendar:
    """Month → slots due then (replacement dates). Entries are candidates: a slot whose date has since
    moved is skipped when its old bucket comes up, so rescheduling is just writing the new date."""

    def __init__(self) -> None:
        self._buckets: dict[int, list[np.ndarray]] = {}

    def add(self, months: np.ndarray, slots: np.ndarray) -> None:
        if slots.size == 0:
            return
        order = np.argsort(months, kind="stable")
        months, slots = months[order], slots[order]
        cuts = np.flatnonzero(np.diff(months)) + 1
        for m, group in zip(months[np.r_[0, cuts]], np.split(slots, cuts)):
            self._buckets.setdefault(int(m), []).append(group)

    def pop(self, month: int) -> np.ndarray:
        parts = self._buckets.pop(month, [])
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def __len__(self) -> int:
        return sum(g.size for parts in self._buckets.values() for g in parts)
