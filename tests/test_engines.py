"""The vectorised engine is the per-agent reference engine, made fast: over replicated runs at a small
population, the distributions of yearly share, churn, conquest and satisfaction by brand agree.

This is the statistical half of the engines' comparison: ``tests/test_differential.py`` checks that, given the
same events and random streams, both engines make the same month buyer by buyer; this test checks what that
one cannot, the engines' own sampling of events (geometric gaps against a draw per household) and their order
of work (phase by phase against household by household, in random order).

Procedure: R_AGENTS replications of the reference engine and R_VECTORISED of the vectorised one (independent
seeds); for each brand and each metric, the per-replication mean over 1991-1995 is compared between engines
with Welch's t-test. With M such comparisons (about 32), each is run at level 0.01 / M (Bonferroni), so the
chance of a false alarm for the whole test is at most 1% (and zero for these fixed seeds: the test is
deterministic). The same procedure must detect a real difference: it is also applied to the vectorised engine
against a changed scenario (Lexus with incumbent-level service), and to the reference engine's own results
with Lexus's share moved by 10%, where it must reject.

Power, from the observed replication s.d. At 2,000 buyers, the 1991-1995 mean sales share varies from one
replication to the next with a coefficient of variation CV = s.d. / mean (observed): for Lexus 4.2-4.5% in
the vectorised engine (40-80 runs) and 5.6-7.2% in the reference engine (12-16 runs); for the other brands
Acura 3.8-4.3%, Cadillac 4.9-5.4%, Lincoln 3.8-5.8%, Mercedes-Benz 6.6-8.7%, Infiniti 7.2-7.5%, BMW 8.6-9.0%,
Jaguar 13-21%. A relative change r of a brand's share in one engine gives Welch's statistic the noncentrality
ncp = r / sqrt(CV_a²/R_AGENTS + CV_v²/R_VECTORISED), with df from Welch-Satterthwaite; it is detected with
probability ≈ P(T_df > t_crit − ncp), t_crit the two-sided 0.01/M quantile of T_df (≈ 4.4 at 20 df). For
r = 10% and Lexus (CV_a 6%, CV_v 4.5%), 80% power needs ncp ≥ t_crit + 0.86 ≈ 5.3, i.e.
CV_a²/R_A + CV_v²/R_V ≤ (0.1 / 5.3)² = 3.6e-4. A reference run costs ~50 vectorised ones, so the vectorised side
gets many runs (R_VECTORISED = 60: 0.045²/60 = 3.4e-5) and the reference side the rest: 0.06²/R_A ≤ 3.2e-4,
R_A ≥ 11.2; with the t distribution's heavier tails at so few runs, R_AGENTS = 16 gives ncp = 6.2 and a power
of 96% (80% if CV_a is 7.2%). The same design detects a 10% change in Acura's, Cadillac's and Lincoln's share
with power above 99%, in Infiniti's with 70%, Mercedes-Benz's and BMW's with under 50% (they would need ~40
reference runs: minutes). The previous design, 10 runs each, had about 40% for Lexus.
``test_the_design_has_the_power_it_claims`` recomputes Lexus's power from the s.d. this test observes in both
engines, so a change of the model that makes the comparison weaker fails here rather than silently; and the
test must reject when the reference engine's Lexus share is moved by ±10%. About 2 minutes on a slow 2-core
machine (16 reference runs of ~9 s, 60 vectorised ones of well under a second).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.runner import run_replications
from tests.conftest import small_flagship

pytestmark = pytest.mark.slow

BUYERS, YEARS = 2000, 10
R_AGENTS, R_VECTORISED = 16, 60
METRICS = ("sales_share", "churn_rate", "conquest_sales", "csi")
FAMILY_ALPHA = 0.01
RELATIVE_CHANGE, POWER, BRAND = 0.10, 0.80, "Lexus"  # what the design must detect, how surely, in whose share


def _summaries(overrides=(), engine="vectorised", seed=2024, replications=R_VECTORISED) -> pd.DataFrame:
    scenario = small_flagship(years=YEARS, buyers=BUYERS, overrides=list(overrides))
    runs = run_replications(scenario, replications=replications, seed=seed, workers=2, engine=engine)
    table = pd.concat([r.brand_year for r in runs])
    window = table[(table.year >= 1991) & (table.year <= 1995)]
    return window.groupby(["replication", "brand"])[list(METRICS)].mean().reset_index()


def _comparisons(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, float]]:
    tests = []
    for brand in sorted(set(a.brand)):
        for metric in METRICS:
            x = a[a.brand == brand][metric].dropna().to_numpy()
            y = b[b.brand == brand][metric].dropna().to_numpy()
            if len(x) < 3 or len(y) < 3 or (np.ptp(x) == 0 and np.ptp(y) == 0):
                continue
            tests.append((brand, metric, stats.ttest_ind(x, y, equal_var=False).pvalue))
    return tests


def _rejections(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, float]]:
    tests = _comparisons(a, b)
    level = FAMILY_ALPHA / len(tests)
    return [t for t in tests if t[2] < level]


def welch_power(cv_a: float, cv_b: float, relative_change: float, n_a: int, n_b: int, n_tests: int) -> float:
    """Approximate power of the Welch test (two-sided, level FAMILY_ALPHA / n_tests) to detect a relative change of
    a mean whose replication coefficient of variation is ``cv_a`` in one group (``n_a`` replications) and
    ``cv_b`` in the other (``n_b``): P(T_df > t_crit − ncp)."""
    va, vb = cv_a ** 2 / n_a, cv_b ** 2 / n_b
    ncp = relative_change / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    t_crit = stats.t.ppf(1.0 - FAMILY_ALPHA / n_tests / 2.0, df)
    return float(stats.t.sf(t_crit - ncp, df))


@pytest.fixture(scope="module")
def vectorised():
    return _summaries()


@pytest.fixture(scope="module")
def agents():
    return _summaries(engine="agents", seed=4048, replications=R_AGENTS)


def test_engines_agree_in_distribution(vectorised, agents):
    assert _rejections(vectorised, agents) == []


def test_the_design_has_the_power_it_claims(vectorised, agents):
    cv = {name: shares.std() / shares.mean() for name, table in (("agents", agents), ("vectorised", vectorised))
          for shares in [table[table.brand == BRAND].sales_share]}
    n_tests = len(_comparisons(vectorised, agents))
    power = welch_power(cv["agents"], cv["vectorised"], RELATIVE_CHANGE, R_AGENTS, R_VECTORISED, n_tests)
    assert power >= POWER, f"power {power:.2f} to detect a 10% change in {BRAND}'s share (CV {cv})"


@pytest.mark.parametrize("factor", [1.0 + RELATIVE_CHANGE, 1.0 - RELATIVE_CHANGE])
def test_the_equivalence_test_detects_a_ten_percent_change_in_share(vectorised, agents, factor):
    moved = agents.copy()
    moved.loc[moved.brand == BRAND, "sales_share"] *= factor
    assert (BRAND, "sales_share") in {(brand, metric) for brand, metric, _ in _rejections(vectorised, moved)}


def test_the_equivalence_test_detects_a_real_difference(vectorised):
    parity = _summaries(overrides=[
        "brands.Lexus.service.dealer_service_quality=0.45", "brands.Lexus.service.complimentary_maintenance_months=0",
        "brands.Lexus.service.loaner_cars=false", "brands.Lexus.service.take_back_guarantee=false",
        "brands.Lexus.service.complaint_resolution_fast=0.3"], seed=4048, replications=20)
    rejected = _rejections(vectorised, parity)
    assert any(brand == "Lexus" for brand, _, _ in rejected)
