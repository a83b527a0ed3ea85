"""What a run will need, known before it is built: household slots and peak memory (for the refusal of a run
that cannot fit, ``sim.executor.check_memory``). Kept apart from ``sim.model`` so that a process that only plans
runs (a sweep's, whose workers run them) need not import the model and Mesa."""

from __future__ import annotations

import numpy as np

from sim.metrics import Ledger
from sim.network import local_dtype
from sim.population import CHUNK, Calendar, Population
from sim.scenario import Scenario

# Peak memory of building and running the flagship over its state bytes (memory_bytes): the construction's
# temporaries (draws, the network's blocks) about double the state. Measured as the growth of peak RSS over
# memory_bytes(): 2.07 at 200,000 buyers, 2.00 at 600,000 (2 years, vectorised engine).
PEAK_OVER_STATE = 2.1


def population_capacity(scenario: Scenario, buyers: int | None = None) -> int:
    """Household slots a run allocates: the buyers at the start grown by ``market.annual_growth`` over the run, 2%
    room for the month-to-month swing, and 64 more."""
    growth = max(1.0, scenario.market.growth_factor)
    return int((buyers or scenario.simulation.buyers) * growth * 1.02) + 64


def run_size(scenario: Scenario, buyers: int | None = None) -> str:
    """What one run simulates, for a message about its memory: "20,000 buyers", and, where the segment's growth
    (``market.annual_growth``) more than doubles them over the run, what they grow to and why (so the message names
    the growth, and the years, as what to lower too)."""
    buyers = buyers or scenario.simulation.buyers
    grown = population_capacity(scenario, buyers)
    if grown <= 2 * buyers:
        return f"{buyers:,} buyers"
    mk = scenario.market
    return f"{buyers:,} buyers growing to about {grown:,.0f} (market.annual_growth {mk.annual_growth:.0%} a year for " \
           f"{mk.years} years)"


def memory_needed(scenario: Scenario, buyers: int | None = None) -> int:
    """Peak bytes one run of ``scenario`` with ``buyers`` needs, estimated before anything is allocated from the
    shapes the model allocates: every slot's columns (``Population.nbytes`` of one slot, brand tastes included), the
    replacement calendar's chunks, the network (int32 row starts, ``word_of_mouth.degree`` 2-byte contacts a slot)
    and the ledger, times :data:`PEAK_OVER_STATE` for the construction's temporaries."""
    capacity = population_capacity(scenario, buyers)
    n_brands = len(scenario.brands)
    months = scenario.market.months
    slots = capacity * Population.empty(1, n_brands).nbytes()
    calendar = Calendar(entries=CHUNK * 16, months=months)
    per_chunk = (calendar.nbytes() - calendar.arrays.head.nbytes - calendar.arrays.count.nbytes) / 16
    calendar_bytes = (capacity + capacity // 4 + 1024) // CHUNK * per_chunk + months * 8
    contact = np.dtype(local_dtype(scenario.word_of_mouth.community_size)).itemsize  # (sim.network.Network.local)
    network = 4 * (capacity + 1) + contact * capacity * scenario.word_of_mouth.degree
    lines = sum(max(1, len(b.models)) for b in scenario.brands.values())
    ledger = sum(a.nbytes for a in vars(Ledger(months, n_brands, lines)).values() if isinstance(a, np.ndarray))
    return int((slots + calendar_bytes + network + ledger) * PEAK_OVER_STATE)
