"""The vectorised engine is the per-agent reference engine, made fast: over replicated runs at a small
population, the distributions of yearly share, churn, conquest and satisfaction by brand agree.

Procedure: R replications per engine (independent seeds); for each brand and each metric, the per-replication
mean over 1991-1995 is compared between engines with Welch's t-test. With M such comparisons, each is run at
level 0.01 / M (Bonferroni), so the chance of a false alarm for the whole test is at most 1% (and zero for
these fixed seeds: the test is deterministic). The same procedure must detect a real difference, so it is
also applied to the vectorised engine against a changed scenario (Lexus with incumbent-level service), where
it must reject.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.runner import run_replications
from tests.conftest import small_flagship

pytestmark = pytest.mark.slow

R = 10
METRICS = ("sales_share", "churn_rate", "conquest_sales", "csi")
FAMILY_ALPHA = 0.01


def _summaries(overrides=(), engine="vectorised", seed=2024) -> pd.DataFrame:
    scenario = small_flagship(years=10, buyers=2000, overrides=list(overrides))
    runs = run_replications(scenario, replications=R, seed=seed, workers=2, engine=engine)
    table = pd.concat([r.brand_year for r in runs])
    window = table[(table.year >= 1991) & (table.year <= 1995)]
    return window.groupby(["replication", "brand"])[list(METRICS)].mean().reset_index()


def _rejections(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, float]]:
    brands = sorted(set(a.brand))
    tests = []
    for brand in brands:
        for metric in METRICS:
            x = a[a.brand == brand][metric].dropna().to_numpy()
            y = b[b.brand == brand][metric].dropna().to_numpy()
            if len(x) < 3 or len(y) < 3 or (np.ptp(x) == 0 and np.ptp(y) == 0):
                continue
            tests.append((brand, metric, stats.ttest_ind(x, y, equal_var=False).pvalue))
    level = FAMILY_ALPHA / len(tests)
    return [t for t in tests if t[2] < level]


@pytest.fixture(scope="module")
def vectorised():
    return _summaries()


def test_engines_agree_in_distribution(vectorised):
    agents = _summaries(engine="agents", seed=4048)
    assert _rejections(vectorised, agents) == []


def test_the_equivalence_test_detects_a_real_difference(vectorised):
    parity = _summaries(overrides=[
        "brands.Lexus.service.dealer_service_quality=0.45", "brands.Lexus.service.complimentary_maintenance_months=0",
        "brands.Lexus.service.loaner_cars=false", "brands.Lexus.service.take_back_guarantee=false",
        "brands.Lexus.service.complaint_resolution_fast=0.3"], seed=4048)
    rejected = _rejections(vectorised, parity)
    assert any(brand == "Lexus" for brand, _, _ in rejected)
