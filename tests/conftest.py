"""Shared fixtures: small versions of the flagship scenario, built once per session."""

from __future__ import annotations

import pytest

from sim.model import LuxuryMarketModel
from sim.scenario import load_scenario


def small_flagship(years: int = 10, buyers: int = 5000, overrides: list[str] | None = None):
    return load_scenario("lexus_us_1989", [f"market.years={years}", f"simulation.buyers={buyers}", *(overrides or [])])


@pytest.fixture(scope="session")
def small_scenario():
    return small_flagship()


@pytest.fixture(scope="session")
def small_run(small_scenario):
    """One 5,000-buyer, 10-year run of the flagship (1986-1995), seed 7."""
    return LuxuryMarketModel(small_scenario, seed=7).run()
