"""Columnar buyer state: one numpy array per attribute, one slot per household.

A slot holds one luxury-car household while it is in the segment (``active``). A household that leaves the
segment frees its slot; a later entrant takes it over (with a new ``household`` id, and the slot's social
ties: the newcomer moves into the same circle). Capacity is fixed up front from the scenario's growth.

Satisfaction and word of mouth decay continuously but are stored lazily: satisfaction keeps the month it
was last written and is decayed when next read (``sim/satisfaction.py``); the stories an owner tells are
stored inflated by their future fading, and heard only when a contact shops (``sim/word_of_mouth.py``). Nothing
has to touch every buyer every month.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from sim.jit import jit

NEVER = np.iinfo(np.int16).max  # "no month"
LAST_MONTH = NEVER - 1  # replacement dates are capped here
NO_BRAND = -1
NO_LINE = -1


class ComplaintOutcome(IntEnum):
    """The outcome of the last complaint about the current car (``Population.complaint``; compiled code reads
    the members as integer constants). ``label`` is the name outputs use (``COMPLAINT_OUTCOMES``)."""
    NO_COMPLAINT = 0
    RESOLVED_FAST = 1  # resolved within 90 days (sim.satisfaction.FAST_RESOLUTION_MONTHS)
    RESOLVED_SLOW = 2  # resolved in 90-180 days
    UNRESOLVED = 3  # not (yet) resolved

    @property
    def label(self) -> str:
        """The outcome's name in outputs, e.g. ``"resolved_within_90_days"``."""
        return _OUTCOME_LABELS[self]


_OUTCOME_LABELS = {ComplaintOutcome.NO_COMPLAINT: "none", ComplaintOutcome.RESOLVED_FAST: "resolved_within_90_days",
                   ComplaintOutcome.RESOLVED_SLOW: "resolved_90_to_180_days", ComplaintOutcome.UNRESOLVED: "unresolved"}
NO_COMPLAINT, RESOLVED_FAST, RESOLVED_SLOW, UNRESOLVED = ComplaintOutcome
COMPLAINT_OUTCOMES = tuple(outcome.label for outcome in ComplaintOutcome)  # names in outputs (rebuy rates)


class Buyers(NamedTuple):
    """The columns of a :class:`Population`, as compiled code reads (and writes) them: the same arrays, under the
    same names (dtypes and meanings there)."""
    active: np.ndarray
    household: np.ndarray
    segment: np.ndarray
    brand: np.ndarray
    purchase_month: np.ndarray
    replace_month: np.ndarray
    leased: np.ndarray
    sat: np.ndarray
    sat_month: np.ndarray
    aware: np.ndarray
    complaint: np.ndarray
    told: np.ndarray
    told_brand: np.ndarray
    need: np.ndarray
    line: np.ndarray
    variety_seeker: np.ndarray
    brand_taste: np.ndarray


@dataclass
class Population:
    """Every household slot's state, one array per attribute, each of shape (capacity,) (``brand_taste``:
    (capacity, n_brands)).

    ``sat`` is satisfaction with the owned brand *as stored*: its value as of ``sat_month``, decayed toward the
    baseline only when read (``sim.satisfaction.toward``, ``decayed``); what a buyer feels *now* is called
    satisfaction (``BuyerAgent.satisfaction``, ``own_sat`` in the formulas). ``told`` is the owner's stock of stories
    (stored inflated, ``sim/word_of_mouth.py``), not a count: the count of stories told is the ledger's
    ``stories_told``. Made by :meth:`empty`.
    """

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
    need: np.ndarray  # int8: the body type the household needs (index into sim.scenario.BODY_TYPES)
    line: np.ndarray  # int16: the model line of the car owned (line index, sim/lineup.py), NO_LINE if none
    variety_seeker: np.ndarray  # bool: ignores loyalty at every replacement (choice.variety_seekers, a latent class)
    brand_taste: np.ndarray  # float32, shape (capacity, n_brands): persistent taste for each brand, utility units
    free: np.ndarray  # int32 stack of free slots (top = free[n_free - 1]), reused by entrants
    n_free: int = 0
    next_household: int = 0
    in_use: int = 0  # slots at and above this have never been taken: passes over slots can stop here

    @property
    def capacity(self) -> int:
        """Slots in all (fixed when made)."""
        return self.active.size

    def n_active(self) -> int:
        """Households in the luxury segment now."""
        return int(np.count_nonzero(self.active))

    def columns(self) -> Buyers:
        """The per-buyer arrays (the same arrays, not copies) for the compiled kernels."""
        return Buyers(**{name: getattr(self, name) for name in Buyers._fields})

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    @classmethod
    def empty(cls, capacity: int, n_brands: int) -> Population:
        """``capacity`` free slots: nobody in the segment, no car, no brand known, no taste for any of the
        ``n_brands`` brands."""
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
            need=np.zeros(capacity, dtype=np.int8),
            line=np.full(capacity, NO_LINE, dtype=np.int16),
            variety_seeker=np.zeros(capacity, dtype=bool),
            brand_taste=np.zeros((capacity, n_brands), dtype=np.float32),
            free=np.arange(capacity - 1, -1, -1, dtype=np.int32),
            n_free=capacity,
        )

    def take_slots(self, k: int) -> np.ndarray:
        """Claim ``k`` free slots for new households (:func:`take_free_slots`)."""
        if k > self.n_free:
            raise RuntimeError(f"population capacity exhausted ({self.capacity} slots)")
        slots = take_free_slots(self.free, self.n_free, k, self.active, self.household, self.next_household)
        self.took(slots)
        return slots

    def took(self, slots: np.ndarray) -> None:
        """Count ``slots``, just taken by :func:`take_free_slots` (in compiled code), as taken: ``n_free``,
        ``next_household`` and ``in_use`` follow."""
        k = slots.size
        self.n_free -= k
        self.next_household += k
        if k:
            self.in_use = max(self.in_use, int(slots.max()) + 1)

    def release(self, slots: np.ndarray) -> None:
        """Households leave the segment; their slots become free (:func:`release_slots`)."""
        self.n_free = release_slots(slots, self.columns(), self.free, self.n_free)


@jit
def take_free_slots(free, n_free: int, k: int, active, household, next_household: int) -> np.ndarray:
    """The ``k`` slots on top of the free stack (``free[:n_free]``), the most recently freed first, taken by new
    households (``active``, numbered from ``next_household``); returns them (int64). The caller counts them taken
    (``Population.took``); ``k <= n_free``."""
    slots = np.empty(k, dtype=np.int64)
    for j in range(k):
        i = free[n_free - 1 - j]
        slots[j] = i
        active[i] = True
        household[i] = next_household + j
    return slots


@jit
def release_slots(slots, buyers, free, n_free: int) -> int:
    """Households in ``slots`` leave the segment: no car, no date; their slots go on the free stack, in order (the
    next entrant takes the first of them). Returns the new count of free slots."""
    k = slots.size
    for j in range(k):
        i = slots[j]
        buyers.active[i] = False
        buyers.brand[i] = NO_BRAND
        buyers.line[i] = NO_LINE
        buyers.replace_month[i] = NEVER
        free[n_free + k - 1 - j] = i
    return n_free + k


CHUNK = 16  # calendar entries per chunk: one cache line of int32 slots


class CalendarArrays(NamedTuple):
    """The arrays of a :class:`Calendar`, as compiled code reads and writes them."""

    head: np.ndarray  # int32 per month: the month's most recent chunk, -1 if none
    count: np.ndarray  # int32 per month: entries in the month
    slots: np.ndarray  # int32 (chunks × CHUNK): the slots in each chunk
    fill: np.ndarray  # int32 per chunk: how many of its entries are used
    next: np.ndarray  # int32 per chunk: the month's next (older) chunk, -1 at the end
    free: np.ndarray  # int32 stack of unused chunks
    n_free: np.ndarray  # int64[1]: height of the stack


@jit
def calendar_pop(cal: CalendarArrays, month: int) -> np.ndarray:
    """The slots in ``month``'s list; the list is emptied and its chunks freed."""
    out = np.empty(cal.count[month], dtype=np.int64)
    c = cal.head[month]
    k = 0
    while c >= 0:
        for j in range(cal.fill[c]):
            out[k] = cal.slots[c, j]
            k += 1
        cal.free[cal.n_free[0]] = c
        cal.n_free[0] += 1
        c = cal.next[c]
    cal.head[month] = -1
    cal.count[month] = 0
    return out


@jit
def _calendar_add_all(cal: CalendarArrays, months, slots, start: int) -> int:
    """Puts each ``slots[k]`` (from ``start`` on) in month ``months[k]``'s list; returns how far it got (the
    pool may run out of chunks). A month past the calendar's horizon is never due (the run ends first):
    nothing to store."""
    head, count, chunk_slots, fill, next_chunk, free = cal.head, cal.count, cal.slots, cal.fill, cal.next, cal.free
    n_free = cal.n_free[0]
    k = start
    while k < slots.size:
        month = months[k]
        if month < head.size:
            c = head[month]
            if c < 0 or fill[c] == CHUNK:  # start a new chunk for the month
                if n_free == 0:
                    break
                n_free -= 1
                c = free[n_free]
                fill[c] = 0
                next_chunk[c] = head[month]
                head[month] = c
            chunk_slots[c, fill[c]] = slots[k]
            fill[c] += 1
            count[month] += 1
        k += 1
    cal.n_free[0] = n_free
    return k


class Calendar:
    """Month → slots due then (replacement dates). Entries are candidates: a slot whose date has since
    moved is skipped when its old bucket comes up, so rescheduling is just writing the new date.

    Stored as one list of chunks (16 slots each) per month over a pool of chunks (int32 arrays), so that
    compiled code adds and pops in O(1) per slot and a month's slots sit together in memory; the pool grows
    when it runs out of free chunks."""

    def __init__(self, entries: int = 1024, months: int = NEVER):
        """Room for about ``entries`` slots to start with; months from ``months`` on are never due."""
        chunks = max(int(entries) // CHUNK, 16)
        self.arrays = CalendarArrays(
            head=np.full(months, -1, dtype=np.int32), count=np.zeros(months, dtype=np.int32),
            slots=np.zeros((chunks, CHUNK), dtype=np.int32), fill=np.zeros(chunks, dtype=np.int32),
            next=np.zeros(chunks, dtype=np.int32), free=np.arange(chunks - 1, -1, -1, dtype=np.int32),
            n_free=np.array([chunks], dtype=np.int64))

    def _grow(self, k: int) -> None:
        """At least ``k`` more free chunks."""
        a = self.arrays
        old = a.fill.size
        size = max(old + old // 4, old + int(k))
        grow = lambda v: np.concatenate([v, np.zeros((size - old, *v.shape[1:]), dtype=v.dtype)])  # noqa: E731
        n_free = int(a.n_free[0])
        free = np.zeros(size, dtype=np.int32)  # room for every chunk to be free again
        free[:n_free] = a.free[:n_free]
        free[n_free : n_free + size - old] = np.arange(size - 1, old - 1, -1, dtype=np.int32)
        self.arrays = a._replace(slots=grow(a.slots), fill=grow(a.fill), next=grow(a.next), free=free,
                                 n_free=np.array([n_free + size - old], dtype=np.int64))

    def add(self, months: np.ndarray, slots: np.ndarray) -> None:
        """Put each ``slots[k]`` in month ``months[k]``'s list (growing the pool as needed)."""
        months, slots = np.asarray(months, np.int64), np.asarray(slots, np.int64)
        done = 0
        while done < slots.size:
            done = _calendar_add_all(self.arrays, months, slots, done)
            if done < slots.size:
                self._grow(slots.size - done)

    def pop(self, month: int) -> np.ndarray:
        """The slots listed for ``month`` (int64, in no particular order), removed from the calendar; none for a
        month outside it. A slot may be listed whose date has since moved: callers check (``rules.due_to_shop``)."""
        if not 0 <= month < self.arrays.head.size:
            return np.empty(0, dtype=np.int64)
        return calendar_pop(self.arrays, int(month))

    def due(self, month: int) -> int:
        """How many entries ``month`` holds."""
        return int(self.arrays.count[month])

    def __len__(self) -> int:
        return int(self.arrays.count.sum())

    def nbytes(self) -> int:
        """Bytes held by the calendar's arrays."""
        return sum(v.nbytes for v in self.arrays)


class ComplaintArrays(NamedTuple):
    """Complaints waiting to be resolved, in compiled code's hands: entries 0..n[0]-1 are pending."""
    due: np.ndarray  # int16: month the brand resolves it
    slot: np.ndarray  # int32
    car: np.ndarray  # int16: purchase month of the car complained about (the slot may have a new car, or new hands)
    brand: np.ndarray  # int8: about which brand
    fast: np.ndarray  # bool: resolved within 90 days (else in 90-180 days)
    n: np.ndarray  # int64[1]


class Complaints:
    """The complaints a brand will resolve, with when; never-resolved complaints are not kept."""

    def __init__(self, capacity: int = 256):
        self.arrays = self._empty(max(int(capacity), 16))

    @staticmethod
    def _empty(size: int) -> ComplaintArrays:
        return ComplaintArrays(np.zeros(size, np.int16), np.zeros(size, np.int32), np.zeros(size, np.int16),
                               np.zeros(size, np.int8), np.zeros(size, bool), np.zeros(1, np.int64))

    def reserve(self, k: int) -> None:
        """Make sure ``k`` more complaints can be filed."""
        a = self.arrays
        n = int(a.n[0])
        if a.due.size - n >= k:
            return
        bigger = self._empty(max(2 * a.due.size, n + int(k)))
        for old, new in zip(a[:-1], bigger[:-1]):
            new[:n] = old[:n]
        bigger.n[0] = n
        self.arrays = bigger

    def __len__(self) -> int:
        return int(self.arrays.n[0])

    def nbytes(self) -> int:
        """Bytes held by the queue's arrays."""
        return sum(v.nbytes for v in self.arrays)
