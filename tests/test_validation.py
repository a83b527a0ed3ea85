"""Validation: each stylized-fact check judges hand-made histories correctly, and the calibrated flagship
passes them all at a small scale (as CI runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim import validation as val
from sim.scenario_files import load_scenario
from tests.conftest import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = load_scenario("lexus_us_1989")


def history(rows: dict[tuple[int, str], dict], replications: int = 2) -> pd.DataFrame:
    """A brand_year-like table: {(year, brand): {column: value}} repeated over replications."""
    out = []
    for r in range(replications):
        for (year, brand), cols in rows.items():
            out.append({"replication": r, "year": year, "brand": brand, **cols})
    return pd.DataFrame(out)


def sales_rows(lexus: dict[int, float], rival: float = 60_000) -> dict:
    rows = {}
    for y in range(1988, 1996):
        rows[(y, "Lexus")] = {"sales": lexus.get(y, 0.0)}
        rows[(y, "Mercedes-Benz")] = {"sales": rival}
        rows[(y, "BMW")] = {"sales": rival - 1000}
    return rows


def test_lexus_passes_rivals_fact_uses_the_first_year_ahead_of_both():
    ok = val.fact_lexus_passes(history(sales_rows({1989: 10e3, 1990: 50e3, 1991: 70e3})), SCENARIO)
    assert ok["passed"] and "1991" in ok["simulated"] and ok["replications_holding"] == 1.0
    late = val.fact_lexus_passes(history(sales_rows({1991: 59.5e3, 1992: 59.9e3, 1993: 70e3})), SCENARIO)
    assert not late["passed"] and "1993" in late["simulated"]  # ahead of BMW in 1991-92 but not of Mercedes
    never = val.fact_lexus_passes(history(sales_rows({})), SCENARIO)
    assert not never["passed"] and "never" in never["simulated"]


def lexus_flows(margins: dict[int, float]) -> pd.DataFrame:
    rows = {(y, "Lexus"): {"conquest_sales": 100.0 + m, "new_to_segment_sales": 50.0, "churned_owners": 150.0}
            for y, m in margins.items()}
    return history(rows)


def test_acquisition_beats_churn_needs_every_year_after_launch():
    assert val.fact_acquisition_beats_churn(lexus_flows({1989: -100, 1990: 10, 1991: 5, 1992: 1}), SCENARIO)["passed"]
    bad = val.fact_acquisition_beats_churn(lexus_flows({1990: 10, 1991: -5, 1992: 10}), SCENARIO)
    assert not bad["passed"] and "(1991)" in bad["simulated"]


def test_acquisition_over_churn_with_nobody_churning_is_not_an_infinity():
    rows = {(y, "Lexus"): {"conquest_sales": 100.0, "new_to_segment_sales": 50.0, "churned_owners": 0.0}
            for y in (1990, 1991)}
    fact = val.fact_acquisition_beats_churn(history(rows), SCENARIO)
    assert fact["passed"] and fact["simulated"] == "no churned owners"  # was "lowest ratio inf"


def loyalty(values: dict[str, float], year: int = 1987, replacers: float = 1000.0) -> pd.DataFrame:
    return history({(year, b): {"replacers": replacers, "churned_owners": replacers * (1 - v)}
                    for b, v in values.items()})


INCUMBENTS = ("Cadillac", "Lincoln", "Mercedes-Benz", "BMW", "Jaguar")


def test_sticky_incumbents_pools_the_incumbents_loyalty_and_needs_35_to_60_percent():
    ok = val.fact_sticky_incumbents(loyalty(dict.fromkeys(INCUMBENTS, 0.5) | {"Lexus": 0.1}), SCENARIO)
    assert ok["passed"] and ok["simulated"].startswith("50%")  # Lexus is not an incumbent
    # one brand in trouble is reported, the pooled figure decides: (4 x 0.5 + 0.25) / 5 = 45%
    mixed = val.fact_sticky_incumbents(loyalty(dict.fromkeys(INCUMBENTS, 0.5) | {"Jaguar": 0.25}), SCENARIO)
    assert mixed["passed"] and "Jaguar 25%" in mixed["simulated"] and mixed["simulated"].startswith("45%")
    low = val.fact_sticky_incumbents(loyalty(dict.fromkeys(INCUMBENTS, 0.3)), SCENARIO)
    assert val.fact_sticky_incumbents(loyalty(dict.fromkeys(INCUMBENTS, 0.38)), SCENARIO)["passed"]
    assert not low["passed"]
    assert not val.fact_sticky_incumbents(loyalty(dict.fromkeys(INCUMBENTS, 0.7)), SCENARIO)["passed"]
    # only years before 1989 count
    late = loyalty(dict.fromkeys(INCUMBENTS, 0.9), year=1990)
    early = loyalty(dict.fromkeys(INCUMBENTS, 0.45))
    assert val.fact_sticky_incumbents(pd.concat([early, late]), SCENARIO)["passed"]


def test_loyalty_band_fact_needs_every_brand_year_with_enough_replacers_inside():
    inside = loyalty({"Cadillac": 0.45, "Lexus": 0.58}, replacers=50_000)
    ok = val.fact_loyalty_in_band(inside, SCENARIO)
    assert ok["passed"] and "highest 58% (Lexus 1987)" in ok["simulated"]
    near_certain = loyalty({"Cadillac": 0.45, "Lexus": 0.95}, replacers=50_000)
    assert not val.fact_loyalty_in_band(near_certain, SCENARIO)["passed"]
    # a brand-year with too few replacing owners to judge is left out
    few = pd.concat([inside, loyalty({"Infiniti": 1.0}, replacers=val.MIN_REPLACERS - 1)])
    assert val.fact_loyalty_in_band(few, SCENARIO)["passed"]


def _reads(text: str) -> float:
    """The number a figure such as '9.6%' or '0.999' reads as (a percentage as a fraction)."""
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def test_a_figure_beside_its_bound_never_reads_on_the_wrong_side_of_it():
    """The review's case: Jaguar's 1987 loyalty 9.55% against the floor of 10% printed as "lowest 10%", then FAIL.
    Every fact prints its judged figure with as many digits as it takes to sit on its true side of each bound."""
    low = val.fact_loyalty_in_band(loyalty({"Cadillac": 0.45, "Jaguar": 0.0955}, replacers=50_000), SCENARIO,
                                   (val.POLK_BAND[0], 1.0), "keeps more than a few owners")
    assert not low["passed"] and "lowest 9.6% (Jaguar 1987)" in low["simulated"]
    high = val.fact_loyalty_in_band(loyalty({"Cadillac": 0.45, "Lexus": 0.6004}, replacers=50_000), SCENARIO)
    assert not high["passed"] and "highest 60.04% (Lexus 1987)" in high["simulated"]
    sticky = val.fact_sticky_incumbents(loyalty(dict.fromkeys(INCUMBENTS, 0.3496)), SCENARIO)
    assert not sticky["passed"] and sticky["simulated"].startswith("34.96% (")  # not "35%", on the floor
    inside = val.fact_sticky_incumbents(loyalty(dict.fromkeys(INCUMBENTS, 0.3504)), SCENARIO)
    assert inside["passed"] and inside["simulated"].startswith("35.04% (")  # nor inside read as on the bound
    churn = val.fact_acquisition_beats_churn(lexus_flows({1990: 10, 1991: -0.1}), SCENARIO)
    assert not churn["passed"] and "lowest ratio 0.999 (1991)" in churn["simulated"]  # not "1.00"
    weak = val.fact_parity_removes_gain(shares([0.2, 0.2]), shares([0.1002, 0.1002]), SCENARIO)
    assert not weak["passed"] and "49.9% removed" in weak["simulated"]  # not "50%"
    # far from its bounds a figure keeps its usual digits
    assert val.beside(0.58, val.POLK_BAND) == "58%" and val.beside(1.234, (1.0,), False, 2) == "1.23"
    for value in (0.0955, 0.09999, 0.1, 0.10001, 0.59996, 0.6, 0.60004, 0.3499999, 0.5000001):
        for bounds in (val.POLK_BAND, val.LOYALTY_BAND, (val.MOST,)):
            shown = _reads(val.beside(value, bounds))
            for b in bounds:
                assert (shown < b) == (value < b) and (shown > b) == (value > b), (value, bounds)


def shares(value_1995: list[float]) -> pd.DataFrame:
    return pd.DataFrame([{"replication": r, "year": y, "brand": "Lexus", "sales_share": v if y == 1995 else 0.0}
                         for r, v in enumerate(value_1995) for y in (1988, 1995)])


def test_parity_fact_measures_the_share_of_the_gain_removed_on_paired_seeds():
    ok = val.fact_parity_removes_gain(shares([0.20, 0.22, 0.18]), shares([0.05, 0.06, 0.04]), SCENARIO)
    assert ok["passed"] and "75% removed" in ok["simulated"]
    weak = val.fact_parity_removes_gain(shares([0.20, 0.22, 0.18]), shares([0.15, 0.16, 0.14]), SCENARIO)
    assert not weak["passed"]
    # a replication with no gain has no share of it removed (NaN, left out), not -inf
    none = val.fact_parity_removes_gain(shares([0.0, 0.22, 0.18]), shares([0.05, 0.055, 0.045]), SCENARIO)
    assert "inf" not in none["simulated"] and "75% removed" in none["simulated"]
    assert none["replications_holding"] == pytest.approx(2 / 3)


def elasticities(per_replication: list[float]) -> pd.DataFrame:
    lines = ["Legend", "Town Car", "Seville", "LS", "7 Series"]
    return pd.DataFrame([{"line": line, "replication": r, "own_price_elasticity": v + 0.1 * (k - 2)}
                         for r, v in enumerate(per_replication) for k, line in enumerate(lines)])


def test_price_sensitivity_fact_judges_the_mean_elasticity_against_blps_range():
    """BLP's five 1990 estimates run from -4.32 to -3.09: a mean inside passes, outside fails; replications holding
    counts each replication's mean; an unmeasured run is not covered (neither passed nor failed)."""
    scenario = load_scenario("lexus_us_1989")
    inside = val.fact_price_sensitivity(scenario, elasticities([-3.5, -3.9]), None)
    assert inside["passed"] and inside["replications_holding"] == 1.0
    assert inside["simulated"].startswith("-3.70") and "LS -3.60" in inside["simulated"]
    half = val.fact_price_sensitivity(scenario, elasticities([-1.8, -3.6]), None)
    assert not half["passed"] and half["replications_holding"] == 0.5
    assert "[-4.32, -3.08]" in half["expected"] or "[-4.32, -3.09]" in half["expected"]
    assert not val.fact_price_sensitivity(scenario, elasticities([-5.0, -4.9]), None)["passed"]
    gone = val.fact_price_sensitivity(scenario, None, "the run ends in 1988")
    assert gone["passed"] is None and "the run ends in 1988" in gone["simulated"]


@pytest.mark.slow
def test_calibrated_flagship_passes_the_stylized_facts_at_small_scale(tmp_path):
    """The validation at the scale of docs/calibration.md (30k buyers, 4 replications): every fact holds but the
    known misses of issue #13 (each may miss on these seeds or others), and the narrow ones stay narrow."""
    out = tmp_path / "validation"
    proc = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "validate", "-n", "30000", "-r", "4",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S)
    facts = pd.read_csv(out / "facts.csv") if out.exists() else None
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-2000:])
    # The known misses (docs/calibration.md): the loyalty band's floor (Jaguar, the smallest brand, below 10% in a
    # forecast year or two) and service parity removing about half of Lexus's gain, not clearly more. Every other
    # fact must hold (the ceiling too), and the misses must stay narrow.
    failing = {f.split(",")[0].split(" 1989")[0] for f in facts.loc[~facts["passed"], "fact"]}
    known_misses = {"Every brand's repurchase loyalty keeps more than a few owners",
                    "Service parity removes most of Lexus's share gain",
                    "Luxury buyers are as price-sensitive as BLP (1995) estimated for 1990 models",
                    # 1993 in three replications of four since the price weights and line appeals were set from BLP
                    "Lexus passes Mercedes-Benz and BMW in US sales within 3 years of launch"}
    assert len(facts) == 7 and failing <= known_misses, facts.loc[~facts["passed"]]
    by = pd.read_parquet(out / "brand_year.parquet")
    judged = by[by["replacers"] >= val.MIN_REPLACERS].groupby(["year", "brand"])["repurchase_loyalty"].mean()
    assert judged.min() >= 0.07, judged.nsmallest(3)  # the floor is 0.10: missed by a few points at most
    parity = pd.read_parquet(out / "parity_brand_year.parquet")

    def lexus_1995(b):
        return b[(b["brand"] == "Lexus") & (b["year"] == 1995)].set_index("replication")["sales_share"]
    removed = 1 - lexus_1995(parity) / lexus_1995(by)  # Lexus had no share in 1988: the gain is the 1995 share
    assert removed.mean() > 0.45, removed  # "most" is 0.5: about half, never a minor part
    assert {p.name for p in out.iterdir()} >= {"facts.csv", "fit.csv", "forecast.csv", "report.html", "manifest.json"}
    forecast = pd.read_csv(out / "forecast.csv")
    assert forecast["year"].min() == 1998 and forecast["year"].max() == 2010  # after the 1984-1997 window
    assert forecast["loyalty_mean"].between(0.05, 0.65).all(), forecast.sort_values("loyalty_mean").iloc[[0, -1]]


# ---- what the reference data can judge (issue #14, items 8 and 12) ----------------------------------------------
def test_only_scenarios_of_the_market_the_data_describe_are_covered():
    from sim import moments

    assert moments.coverage(SCENARIO) is None and moments.coverage(load_scenario("lexus_no_complimentary")) is None
    assert "market.region is 'Western Europe'" in moments.coverage(load_scenario("europe_1990"))
    assert "market.region is not set" in moments.coverage(load_scenario("generic_new_entrant"))
    late = load_scenario("lexus_us_1989", ["market.start_year=2000"])
    assert "outside the years the reference data cover (1984-1997)" in moments.coverage(late)
    assert moments.coverage(load_scenario("lexus_us_1989", ["market.years=1"])) is None  # 1986: sales targets


@pytest.mark.parametrize("name", ["europe_1990", "generic_new_entrant"])
def test_validate_refuses_a_scenario_the_data_do_not_describe_in_one_line(tmp_path, name):
    proc = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "validate", name, "-n", "2000", "-r", "2",
                           "--out", str(tmp_path / "v")], cwd=ROOT, capture_output=True, text=True,
                          timeout=HANG_GUARD_S)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip() and line.strip() != "Invalid input"]
    assert len(lines) == 1 and lines[0].startswith(f"{name}: cannot be validated: ")
    assert "lexus_us_1989" in lines[0].split("that can: ")[1]
    assert list(tmp_path.iterdir()) == []


def test_calibrate_refuses_a_scenario_the_data_do_not_describe(tmp_path):
    from sim.calibration_problem import load_calibration
    from sim.scenario_files import ScenarioError

    path = tmp_path / "eu.toml"
    path.write_text('name = "eu"\nscenario = "europe_1990"\n[[parameters]]\npath = "market.annual_growth"\n'
                    'range = [0.0, 0.04]\nwhy = "a test"\n')
    with pytest.raises(ScenarioError, match="europe_1990 cannot be calibrated to the reference data"):
        load_calibration(path)


@pytest.mark.parametrize("fact", [val.fact_lexus_passes, val.fact_acquisition_beats_churn])
def test_a_fact_about_a_brand_the_run_lacks_is_not_covered(fact):
    table = history({(y, b): {"sales": 1.0, "conquest_sales": 1.0, "new_to_segment_sales": 1.0,
                              "churned_owners": 0.0} for y in range(1986, 1996) for b in ("Mercedes-Benz", "Cadillac")})
    row = fact(table, SCENARIO)
    assert row["passed"] is None and row["simulated"].startswith("not covered: no ")


def test_a_short_run_validates_the_years_it_has_and_reports_the_rest_as_not_covered(tmp_path):
    from sim.calibration_report import write_validation
    from sim.report import text_of

    v = val.validate_scenario("lexus_us_1989", "lexus_service_parity", replications=2, buyers=2000, seed=3,
                              workers=1, overrides=["market.years=3"])
    facts = v.facts.set_index("fact")["passed"]
    assert facts.isna().sum() >= 3 and facts.notna().any()  # the pre-1989 facts are judged, the rest not covered
    assert not v.fit.loc[v.fit["year"] > 1988, "available"].any() and v.fit["available"].any()
    assert "not covered by this run" in text_of(v) and "targets not covered" in text_of(v)
    out = write_validation(tmp_path / "v", v, pd.Timestamp.now(tz="UTC").to_pydatetime())
    assert "not covered" in (out / "report.html").read_text()


# ---- a parity counterfactual of another market, one replication (issue #14, kind 8) ---------------------------
def test_parity_fact_with_one_replication_says_there_is_no_interval_not_nan():
    row = val.fact_parity_removes_gain(shares([0.20]), shares([0.05]), SCENARIO)
    assert "nan" not in row["simulated"].lower() and "no interval with 1 replication" in row["simulated"]
    assert "95% CI" in val.fact_parity_removes_gain(shares([0.2, 0.22]), shares([0.05, 0.06]), SCENARIO)["simulated"]


@pytest.mark.parametrize("change, why", [
    ({"market": "Japan"}, "market.region is 'Japan', not 'US'"),
    ({"drop": "Lexus"}, "it has no Lexus"),
    ({"drop": "Infiniti"}, "lacks Infiniti"),
])
def test_a_parity_scenario_of_another_market_is_named_as_such(change, why):
    parity = load_scenario("lexus_service_parity")
    assert val.parity_mismatch(SCENARIO, parity) is None
    if "market" in change:
        other = parity.model_copy(update={"market": parity.market.model_copy(update={"region": change["market"]})})
    else:
        other = parity.model_copy(update={"brands": {k: v for k, v in parity.brands.items() if k != change["drop"]}})
    assert why in val.parity_mismatch(SCENARIO, other)


def test_validate_refuses_a_parity_scenario_of_another_market_before_anything_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "validate", "--parity", "europe_1990", "-n",
                           "2000", "-r", "1", "--set", "market.years=10", "--out", str(tmp_path / "v")], cwd=ROOT,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line.strip() for line in proc.stderr.splitlines()
             if line.strip() and line.strip() != "Invalid input" and not line.startswith("Warning")]
    assert len(lines) == 1 and lines[0].startswith("--parity europe_1990: ") and "market.region" in lines[0]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(val.ScenarioError, match="parity europe_1990: .*market.region"):
        val.validate_scenario("lexus_us_1989", "europe_1990", replications=1, buyers=2000, workers=1)


def test_a_what_ifs_parity_counterfactual_is_the_what_if_with_the_parity_files_changes(tmp_path):
    """``validate WHATIF``: the parity run is WHATIF with lexus_service_parity's own changes (Lexus's service at the
    incumbents'), not the flagship that file extends (a new user's what-if was compared with the flagship's parity)."""
    from sim.scenario_files import load_counterfactual, load_scenario

    what_if = tmp_path / "what_if.toml"
    what_if.write_text('extends = "lexus_us_1989"\n[market]\nlife_event_exit = 0.5\n[brands.BMW]\nprestige = 0.9\n')
    parity = load_scenario("lexus_service_parity")
    cf = load_counterfactual(what_if, "lexus_service_parity", ["simulation.buyers=1000"])
    assert cf.market.life_event_exit == 0.5 and cf.brands["BMW"].prestige == 0.9  # the what-if's own changes kept
    assert cf.brands["Lexus"].service == parity.brands["Lexus"].service  # and the parity file's
    assert cf.simulation.buyers == 1000 and cf.name == "lexus_service_parity"
    # the flagship's counterfactual is the parity file itself
    flagship_cf = load_counterfactual("lexus_us_1989", "lexus_service_parity")
    assert flagship_cf.model_dump() == parity.model_dump()
