"""Shared fixtures: small versions of the flagship scenario, built once per session."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from sim.brand_arrays import BrandArrays
from sim.model import LuxuryMarketModel
from sim.scenario_files import load_scenario

# Hypothesis's per-example deadline is a timed assertion: the first example of a test that calls compiled code
# pays for loading (or compiling) it, and CI machines are loaded. Speed is measured by the benchmark instead.
# Two profiles, chosen by HYPOTHESIS_PROFILE: "luxsim" (the default: the suite, CI) and "fuzz" (`make fuzz`: the
# fuzzer in tests/test_fuzz.py at FUZZ_FACTOR times its CI budget, and every other property at 1,000 examples).
FUZZ_FACTOR = 50
settings.register_profile("luxsim", deadline=None)
settings.register_profile("fuzz", deadline=None, max_examples=1000, print_blob=True)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "luxsim")
settings.load_profile(PROFILE)

# A hang guard, never a speed check: every timeout in the tests (a subprocess, a browser wait, a worker to come back)
# is this long, so that only a test that has hung fails on it, however loaded the machine (a busy 2-core CI machine
# once failed a 60 s browser limit that the test meets in 20 s alone). The longest test, the validation at 30,000
# buyers (tests/test_validation.py), takes a few minutes there. Speed is measured by `run_sim.py bench`.
HANG_GUARD_S = 1800


def ctrl_c_as_in_a_terminal() -> None:
    """A child process's ``preexec_fn`` for the Ctrl-C tests: SIGINT at its default, as a command started from a
    terminal has it. A child inherits an ignored SIGINT (Python then never raises KeyboardInterrupt), and a test
    runner's worker process may have it ignored after other tests; the command's own handling is what is tested."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def fuzz_budget(examples: int) -> settings:
    """A fuzz test's settings: ``examples`` in the suite (CI), FUZZ_FACTOR times as many with the "fuzz" profile
    (`make fuzz`); no health check stops it for slow or large examples (scenario files are both)."""
    return settings(max_examples=examples * (FUZZ_FACTOR if PROFILE == "fuzz" else 1),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def small_flagship(years: int = 10, buyers: int = 5000, overrides: list[str] | None = None):
    return load_scenario("lexus_us_1989", [f"market.years={years}", f"simulation.buyers={buyers}", *(overrides or [])])


@pytest.fixture(scope="session")
def small_scenario():
    return small_flagship()


@pytest.fixture(scope="session")
def small_run(small_scenario):
    """One 5,000-buyer, 10-year run of the flagship (1986-1995), seed 7."""
    return LuxuryMarketModel(small_scenario, seed=7).run()


def make_brand_arrays(n: int = 2, **overrides) -> BrandArrays:
    """BrandArrays with neutral defaults; keyword arguments replace a field (scalars are broadcast)."""
    base = dict(
        on_sale=np.ones(n, bool), price=np.full(n, 30000.0), discount=np.zeros(n), new_car_margin=np.full(n, 0.15),
        prestige=np.full(n, 0.5), reputation=np.full(n, 0.1), defects_per_car_year=np.full(n, 0.8),
        dealers=np.full(n, 300.0), dealer_capacity=np.full(n, np.inf), awareness_reach=np.full(n, 0.9),
        dealer_service_quality=np.full(n, 0.5),
        complimentary_maintenance_months=np.zeros(n), loaner_cars=np.zeros(n, bool),
        roadside_level=np.zeros(n, np.int64), take_back_guarantee=np.zeros(n, bool), proactive_goodwill=np.zeros(n),
        recall_handling=np.full(n, 0.3), complaint_resolution_fast=np.full(n, 0.3),
        complaint_resolution_slow=np.full(n, 0.3), word_of_mouth=np.ones(n),
    )
    for key, value in overrides.items():
        base[key] = np.broadcast_to(np.asarray(value, dtype=base[key].dtype), (n,)).copy()
    return BrandArrays(**base)
