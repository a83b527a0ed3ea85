"""Stylized facts of issue #13 on the calibrated flagship, with common random numbers (same seeds, one change).

Each compares the flagship with a counterfactual that differs in one input, replication by replication: the runs
share every random stream, so the difference is the change's effect, not noise. (The loyalty band in every year
to 2010 and the service-parity fact are checked by ``run_sim.py validate``: tests/test_validation.py.)
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.lineup import BODY_TYPES
from sim.model import LuxuryMarketModel
from sim.runner import replication_seed
from sim.scenario_files import read_raw, resolve_path, validate

FLAGSHIP_RAW = read_raw(resolve_path("lexus_us_1989"))
SUV = BODY_TYPES.index("suv")


def run(raw: dict, replication: int, buyers: int, years: int) -> LuxuryMarketModel:
    raw = copy.deepcopy(raw)
    raw["market"]["years"] = years
    return LuxuryMarketModel(validate(raw), seed=replication_seed(2024, replication), buyers=buyers).run()


def without_yen_years(raw: dict) -> dict:
    """The flagship with Lexus's LS and ES list prices held at their 1991 model-year levels until 1997 (the yen's
    rise from 1991 to 1995 took the LS 400 from $35,000 to $51,200, sim/data/price_history_1984_2003.csv)."""
    raw = copy.deepcopy(raw)
    for line in raw["brands"]["Lexus"]["models"]:
        if line["name"] in ("LS", "ES"):
            line["prices"] = [p for p in line.get("prices", []) if not "1991-11" <= p["date"] <= "1996-12"]
    return raw


@pytest.mark.slow
def test_lexus_1993_1996_sales_respond_to_the_yen_price_path():
    """Without the yen-driven price rises Lexus sells more in 1993-1996, in every replication (paired seeds)."""
    gains = []
    for r in range(3):
        actual = run(FLAGSHIP_RAW, r, 20_000, 11).brand_year()
        frozen = run(without_yen_years(FLAGSHIP_RAW), r, 20_000, 11).brand_year()
        lexus = lambda t: t[(t.brand == "Lexus") & t.year.between(1993, 1996)].sales.sum()  # noqa: E731
        gains.append(lexus(frozen) / lexus(actual) - 1)
    # every replication responds, and by a few percent on average: less than the real stall (Lexus sold 94.7k in
    # 1993 and about 80k in 1996: docs/calibration.md says what the model misses)
    assert min(gains) > 0.01 and np.mean(gains) > 0.02, gains


@pytest.mark.slow
def test_a_brand_without_an_suv_loses_its_suv_needing_owners():
    """Jaguar never sells an SUV: by 2005 its owners need SUVs far less often than the market's households do,
    and less often than owners of Lexus (which sells three)."""
    model = run(FLAGSHIP_RAW, 0, 40_000, 20)
    pop, names = model.pop, model.brand_names
    active = pop.active[: pop.in_use]
    need, brand = pop.need[: pop.in_use][active], pop.brand[: pop.in_use][active]
    market = (need == SUV).mean()
    jaguar = (need[brand == names.index("Jaguar")] == SUV).mean()
    lexus = (need[brand == names.index("Lexus")] == SUV).mean()
    assert (brand == names.index("Jaguar")).sum() > 100
    assert jaguar < 0.5 * market and jaguar < lexus, (jaguar, market, lexus)
    assert np.isfinite(market)
