"""Calibration: the SMM machinery recovers known parameters, the objective matches sim.moments, bad
calibration files are reported clearly, and fitted values are written into scenario files faithfully."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import calibration as cal
from sim import calibration_problem as calp
from sim import moments
from sim.calibration_report import apply_to_scenario, calibrated_toml
from sim.executor import Executor
from sim.scenario_files import ScenarioError, validate
from tests.conftest import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent

# ---- a toy model with known parameters ---------------------------------------------------------------------
# Six moments of three parameters, nonlinear, with simulation noise that depends only on the replication seed
# (common random numbers). The data are the true moments plus measurement noise of the targets' own sd.
TRUE = np.array([1.2, -0.4, 2.5])
LOW, HIGH = np.array([0.0, -2.0, 1.0]), np.array([3.0, 2.0, 4.0])
SD = np.array([0.10, 0.10, 0.15, 0.10, 0.20, 0.10])
SIM_SD = 0.05
IN_PROCESS = Executor(workers=1)  # the toy runs in this process (no cluster is ever started)


def toy_moments(theta: np.ndarray) -> np.ndarray:
    a, b, c = theta
    return np.array([a + b, a - 0.5 * b, c + 0.3 * a * a, np.sin(b) + c, 0.5 * a * c, b - 0.2 * c])


def toy_simulate(static, theta, replication):
    noise = np.random.default_rng(np.random.SeedSequence(static.seed, spawn_key=(replication,))).normal(0, SIM_SD, 6)
    return toy_moments(np.asarray(theta)) + noise


def toy_problem(data_seed: int, replications: int = 8, max_evaluations: int = 600) -> calp.Problem:
    rng = np.random.default_rng(data_seed)
    observed = toy_moments(TRUE) + rng.normal(0, SD)
    targets = [moments.Target(f"m{k}", "toy", "all", None, float(observed[k]), float(SD[k])) for k in range(6)]
    spec = calp.CalibrationSpec(
        name="toy", scenario="toy", replications=replications, seed=data_seed + 1000,
        parameters=[calp.FreeParameter(path=f"p{j}", range=(LOW[j], HIGH[j]), why="toy") for j in range(3)],
        optimiser=calp.Optimiser(screening=32, max_evaluations=max_evaluations, xatol=1e-4, fatol=1e-4),
        jacobian_step=0.02)
    return calp.Problem(spec, "toy.toml", {}, targets, np.zeros(3, bool), (LOW + HIGH) / 2)


def fit_toy(data_seed: int, **kw) -> cal.CalibrationResult:
    return cal.Calibrator(toy_problem(data_seed, **kw), IN_PROCESS, simulate=toy_simulate).run()


def test_toy_calibration_recovers_known_parameters_within_their_intervals():
    result = fit_toy(3)
    params = result.parameters()
    assert result.fitted.distance < result.start.distance
    inside = (params["ci_low"] <= TRUE) & (TRUE <= params["ci_high"])
    assert inside.all(), params[["parameter", "fitted", "ci_low", "ci_high"]]
    assert (params["identification"] == "pinned down").all()
    # the intervals are informative, not the whole prior box
    assert (params["ci_width_of_prior"] < 0.3).all()


@pytest.mark.slow
def test_toy_interval_coverage_is_near_nominal():
    """Over 20 independent data sets, the 95% intervals cover the truth for at least 85% of parameters."""
    covered = []
    for data_seed in range(20):
        p = fit_toy(100 + data_seed, replications=4, max_evaluations=300).parameters()
        covered += list((p["ci_low"] <= TRUE) & (TRUE <= p["ci_high"]))
    assert np.mean(covered) >= 0.85, np.mean(covered)


def test_an_irrelevant_parameter_is_reported_weakly_identified():
    problem = toy_problem(5)
    problem.spec.parameters.append(calp.FreeParameter(path="unused", range=(0.0, 1.0), why="moves nothing"))
    problem.integer, problem.start = np.zeros(4, bool), np.r_[problem.start, 0.5]

    def simulate(static, theta, replication):
        return toy_simulate(static, theta[:3], replication)

    params = cal.Calibrator(problem, IN_PROCESS, simulate=simulate).run().parameters()
    assert params.loc[3, "identification"] == "weakly identified"
    assert (params.loc[:2, "identification"] == "pinned down").all()


def test_common_random_numbers_make_the_objective_deterministic():
    problem = toy_problem(1)
    a = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).evaluate([TRUE], "x")[0]
    b = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).evaluate([TRUE], "x")[0]
    assert a.distance == b.distance
    # the same seeds for every candidate: the difference between two candidates has no simulation noise
    c = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).evaluate([TRUE + [0.1, 0, 0]], "x")[0]
    np.testing.assert_allclose(c.runs - a.runs, np.broadcast_to(toy_moments(TRUE + [0.1, 0, 0]) - toy_moments(TRUE),
                                                                a.runs.shape), atol=1e-12)


def test_fitted_values_round_integer_fields():
    problem = toy_problem(1)
    problem.integer = np.array([True, False, False])
    assert problem.values(np.array([1.6, 0.2, 2.0])) == {"p0": 2, "p1": 0.2, "p2": 2.0}


# ---- the objective on the real model ------------------------------------------------------------------------
def test_distance_of_matches_moments_distance_of_the_table():
    problem = calp.load_calibration("lexus_us_1989", {"buyers": 3000, "replications": 1})
    static = cal._Static(problem.base_raw, problem.paths, list(problem.integer), problem.targets, 5, 3000,
                         problem.source)
    m = cal.simulate(static, tuple(problem.start), 0)
    table = moments.moment_table(problem.targets, pd.DataFrame({
        "name": [t.name for t in problem.targets], "simulated": m, "available": np.isfinite(m), "basis": "x"}))
    assert cal.distance_of(m, problem.targets) == pytest.approx(moments.distance(table))
    # only the calibration window, only years the run has
    assert all(t.year is None or 1986 <= t.year <= 1997 for t in problem.targets)


def test_flagship_calibration_file_is_valid_and_its_parameters_exist():
    problem = calp.load_calibration("lexus_us_1989")
    assert len(problem.paths) >= 8
    assert all(p.why for p in problem.spec.parameters)
    assert np.all((problem.low <= problem.start) & (problem.start <= problem.high)), \
        "the flagship's current values lie inside the calibration's prior ranges"
    assert problem.integer[problem.paths.index("market.segment_households")]


# ---- bad input -------------------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cal.toml"
    path.write_text(text)
    return path


BASE = 'name = "t"\nscenario = "lexus_us_1989"\n'


@pytest.mark.parametrize("body, expected", [
    ('[[parameters]]\npath = "choice.inertai"\nrange = [0, 1]\nwhy = "x"\n', "did you mean 'inertia'"),
    ('[[parameters]]\npath = "choice.inertia"\nrange = [2, 1]\nwhy = "x"\n', "parameters.0.range"),
    ('[[parameters]]\npath = "choice.inertia"\nrange = [-1, 1]\nwhy = "x"\n',
     "the low end -1 is not a valid choice.inertia"),
    ('[[parameters]]\npath = "brands.Lexus.launch"\nrange = [0, 1]\nwhy = "x"\n', "is not a number"),
    ('[[parameters]]\npath = "choice.inertia"\nrange = [0, 1]\n', "parameters.0.why"),
    ('buyers = 10\n[[parameters]]\npath = "choice.inertia"\nrange = [0, 1]\nwhy = "x"\n', "buyers"),
    ('exclude = ["lease_shares"]\n[[parameters]]\npath = "choice.inertia"\nrange = [0, 1]\nwhy = "x"\n',
     "did you mean 'lease_share"),
    ('parameter = []\n', "did you mean 'parameters'"),
    ('[[parameters]]\npath = "choice.inertia"\nrange = [-1e308, 1.7e308]\nwhy = "x"\n', "too wide to search"),
])
def test_bad_calibration_files_name_the_file_field_and_reason(tmp_path, body, expected):
    path = write(tmp_path, BASE + body)
    with pytest.raises(ScenarioError) as info:
        calp.load_calibration(path)
    text = str(info.value)
    assert str(path) in text and expected in text, text


@pytest.mark.parametrize("head, expected", [
    ('scenario = "nope"\n', "scenario: nope: no such scenario file"),
    ('scenario = "lexus_us_1989"\nset = ["brands.Lexuz.dealers=3"]\n',
     "set: brands.Lexuz.dealers=3: brands.Lexuz: unknown brand 'Lexuz'"),
    ('scenario = "lexus_us_1989"\nset = ["market.years=0"]\n', "set: market.years: Input should be greater than"),
    ('scenario = "lexus_us_1989"\nend_year = 9223372036854775807\n', "end_year: 9223372036854775807 is too late"),
])
def test_every_problem_of_a_calibration_file_names_that_file_and_its_field(tmp_path, head, expected):
    """Not the base scenario's file, nor a '--set' the user never typed (found by the fuzzer, tests/test_fuzz.py)."""
    path = write(tmp_path, 'name = "t"\n' + head + '[[parameters]]\npath = "choice.inertia"\nrange = [0, 1]\n'
                 'why = "x"\n')
    with pytest.raises(ScenarioError) as info:
        calp.load_calibration(path)
    assert all(line.startswith(f"{path}: ") for line in info.value.problems), info.value.problems
    assert any(expected in line for line in info.value.problems), info.value.problems


@pytest.mark.parametrize("option, value, expected", [
    ("buyers", 200, "--buyers: Input should be greater than or equal to 500 (got 200)"),
    ("replications", 1000, "--replications: Input should be less than or equal to 256 (got 1000)"),
    ("max_evaluations", 0, "--max-evaluations: Input should be greater than or equal to 1 (got 0)"),
])
def test_a_bad_command_line_value_is_named_by_its_option_not_by_the_file(option, value, expected):
    """`calibrate --buyers 200` was reported as the file's `buyers`, which the file does not hold (found by the
    fuzzer, tests/test_fuzz.py)."""
    with pytest.raises(ScenarioError) as info:
        calp.load_calibration("lexus_us_1989", {option: value})
    assert info.value.problems == [expected]


def test_cli_bad_calibration_exits_2_and_writes_nothing(tmp_path):
    path = write(tmp_path, BASE + '[[parameters]]\npath = "choice.inertai"\nrange = [0, 1]\nwhy = "x"\n')
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "calibrate", str(path), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert proc.returncode == 2
    assert "choice.inertai" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


# ---- writing fitted values into the scenario ----------------------------------------------------------------
def test_apply_writes_values_with_a_comment_and_keeps_the_rest(tmp_path):
    source = (ROOT / "scenarios" / "lexus_us_1989.toml").read_text()
    path = tmp_path / "flagship.toml"
    path.write_text(source)
    values = {"choice.inertia": 1.234, "market.segment_households": 2_900_000,
              "brands.Mercedes-Benz.prestige": 0.77, "market.segments.value.price_weight": 1.9}
    apply_to_scenario(path, values, "results/calibration/x/20261123T000000Z")
    text = path.read_text()
    raw = tomllib.loads(text)
    assert raw["choice"]["inertia"] == 1.234
    assert raw["market"]["segment_households"] == 2_900_000
    assert raw["brands"]["Mercedes-Benz"]["prestige"] == 0.77
    assert raw["market"]["segments"]["value"]["price_weight"] == 1.9
    assert text.count("# calibrated: results/calibration/x/20261123T000000Z") == 4
    # every other line is untouched: comments and layout kept
    label = "calibrated: results/calibration/x/20261123T000000Z"
    changed = [line for line in text.splitlines() if label in line]
    kept = [line for line in text.splitlines() if label not in line]
    assert set(kept) - set(source.splitlines()) <= {"[choice]", ""}
    assert len(changed) == 4
    # a value's own comment is kept after the note; an earlier calibration's note is replaced, not stacked
    assert all(line.count("calibrated:") == 1 for line in changed)
    validate(raw, str(path))


def test_apply_reads_a_scenario_saved_with_a_byte_order_mark(tmp_path):
    """Issue #14: scenario files may start with a UTF-8 byte-order mark; --apply, at the end of a calibration,
    must read them as loading did (tomlkit alone takes the mark for an empty key)."""
    path = tmp_path / "flagship.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (ROOT / "scenarios" / "lexus_us_1989.toml").read_bytes())
    apply_to_scenario(path, {"choice.inertia": 1.234}, "results/calibration/x/20261123T000000Z")
    assert tomllib.loads(path.read_text(encoding="utf-8"))["choice"]["inertia"] == 1.234


def test_calibrated_toml_lines_are_valid_set_overrides():
    problem = toy_problem(2)
    result = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).run()
    lines = [line for line in calibrated_toml(result, "run").splitlines() if line and not line.startswith("#")]
    assert [line.split(" = ")[0] for line in lines] == ["p0", "p1", "p2"]
    assert tomllib.loads("\n".join(lines)) == {f"p{j}": pytest.approx(v) for j, v in enumerate(result.fitted.theta)}


# ---- end to end on the real model -----------------------------------------------------------------------------
@pytest.mark.slow
def test_calibrate_cli_end_to_end_is_reproducible_across_worker_counts(tmp_path):
    path = write(tmp_path, BASE + 'buyers = 2000\nreplications = 2\nseed = 4\nend_year = 1991\n'
                 '[optimiser]\nscreening = 4\nmax_evaluations = 6\n'
                 '[[parameters]]\npath = "choice.inertia"\nrange = [0.5, 3.0]\nwhy = "x"\n'
                 '[[parameters]]\npath = "market.segment_households"\nrange = [2500000, 4000000]\nwhy = "x"\n')
    tables = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        proc = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "calibrate", str(path), "--workers",
                               str(workers), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                              timeout=HANG_GUARD_S)
        assert proc.returncode == 0, proc.stderr
        assert {p.name for p in out.iterdir()} >= {"parameters.csv", "fit.csv", "start_fit.csv", "sensitivity.csv",
                                                    "information.csv", "jacobian.csv", "fit.md",
                                                    "evaluations.parquet", "calibrated.toml", "manifest.json",
                                                    "report.html"}
        tables.append(pd.read_csv(out / "parameters.csv"))
        fit = pd.read_csv(out / "fit.csv")
        assert fit["year"].dropna().max() <= 1991
    pd.testing.assert_frame_equal(tables[0], tables[1])
    evals = pd.read_parquet(tmp_path / "out1" / "evaluations.parquet")
    assert evals["distance"].min() <= evals.loc[0, "distance"]  # never worse than the start


def test_standard_errors_do_not_depend_on_the_units_of_a_parameter():
    """A parameter in households (10^6) and one in fractions get the same relative precision as in unit scale."""
    plain = fit_toy(7)
    problem = toy_problem(7)
    problem.spec.parameters[0] = calp.FreeParameter(path="p0", range=(LOW[0] * 1e6, HIGH[0] * 1e6), why="toy, x 10^6")
    problem.start = problem.start * np.array([1e6, 1, 1])

    def simulate(static, theta, replication):
        return toy_simulate(static, np.asarray(theta) / np.array([1e6, 1, 1]), replication)

    scaled = cal.Calibrator(problem, IN_PROCESS, simulate=simulate).run()
    a, b = plain.parameters(), scaled.parameters()
    np.testing.assert_allclose(b["se"] / np.array([1e6, 1, 1]), a["se"], rtol=0.05)
    assert (b["identification"] == "pinned down").all()


def test_start_values_in_the_file_override_the_scenario(tmp_path):
    path = write(tmp_path,
                 BASE + '[[parameters]]\npath = "choice.inertia"\nrange = [0.5, 3]\nstart = 2.25\nwhy = "x"\n')
    assert calp.load_calibration(path).start.tolist() == [2.25]
    bad = write(tmp_path, BASE + '[[parameters]]\npath = "choice.inertia"\nrange = [0.5, 3]\nstart = 4\nwhy = "x"\n')
    with pytest.raises(ScenarioError, match="start 4 lies outside range"):
        calp.load_calibration(bad)


def test_information_shares_name_the_moments_a_parameter_moves():
    result = fit_toy(4)
    info = result.information_shares()
    np.testing.assert_allclose(info.sum(axis=1), 1.0)
    # p2 (c) does not enter m0 = a + b or m1 = a - b/2
    assert info.loc["p2", "m0"] == pytest.approx(0.0, abs=1e-6) and info.loc["p2", "m1"] == pytest.approx(0.0, abs=1e-6)
    assert result.parameters().loc[2, "pinned_by"].split(" (")[0] in {"m2", "m3", "m4", "m5"}


def test_command_line_overrides_reach_the_spec_with_or_without_an_optimiser_table(tmp_path):
    body = '[[parameters]]\npath = "choice.inertia"\nrange = [0.5, 3]\nwhy = "x"\n'
    for extra in ("", "[optimiser]\nscreening = 8\n"):
        path = write(tmp_path, BASE + body + extra)
        spec = calp.load_calibration(path, {"buyers": 1234, "replications": 3, "max_evaluations": 17}).spec
        assert (spec.buyers, spec.replications, spec.optimiser.max_evaluations) == (1234, 3, 17)
    assert calp.load_calibration(path, {"max_evaluations": None}).spec.optimiser.max_evaluations == 400


# ---- the evaluation budget and --apply (issue #14, item 9) ----------------------------------------------------
@settings(max_examples=25)
@given(budget=st.integers(1, 60), screening=st.integers(0, 40), current_apart=st.booleans())
def test_the_evaluation_budget_bounds_every_candidate_simulated(budget, screening, current_apart):
    """max_evaluations counts every stage: start, screening, Nelder-Mead, the Jacobian and the current values."""
    problem = toy_problem(4, replications=2, max_evaluations=budget)
    problem.spec.optimiser.screening = screening
    if current_apart:
        problem.current = LOW + 0.1 * (HIGH - LOW)
    result = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).run()
    assert len(result.history) <= budget
    reserve = int(current_apart) + 6  # the current values, the Jacobian's 2 x 3 points
    assert result.estimated == (budget - 1 - int(current_apart) >= 6)
    assert (result.current is not None) == (not current_apart or budget >= 2)
    if budget >= 1 + reserve + 2 ** max(0, (screening - 1).bit_length()) + 5:  # room for the screening and a search
        assert len(result.history) >= budget - 5 or result.local["converged"]
    params = result.parameters()
    if not result.estimated:
        assert (params["identification"] == cal.NOT_ESTIMATED).all() and params["se"].isna().all()


def test_a_five_evaluation_budget_runs_five_evaluations():
    problem = toy_problem(4, replications=2, max_evaluations=5)  # screening 32 asked for
    result = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).run()
    assert len(result.history) == 5 and [e.stage for e in result.history] == ["start"] + ["screening"] * 4


def test_apply_is_refused_for_a_fit_worse_than_the_values_it_replaces():
    problem = toy_problem(6, replications=2, max_evaluations=3)  # too few evaluations to get anywhere
    problem.spec.optimiser.screening = 0
    problem.start = LOW.copy()
    problem.current = TRUE.copy()
    result = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).run()
    assert result.current.distance < result.fitted.distance
    assert "is higher (worse) than" in result.apply_refusal()
    problem = toy_problem(6, replications=2)
    problem.current = LOW.copy()  # a poor scenario: the fit improves on it
    result = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).run()
    assert result.apply_refusal() is None


def test_cli_apply_of_a_worse_fit_is_refused_in_one_line_unless_forced(tmp_path):
    scenario = tmp_path / "flagship.toml"
    scenario.write_text((ROOT / "scenarios" / "lexus_us_1989.toml").read_text())
    before = scenario.read_text()
    path = write(tmp_path, f'name = "t"\nscenario = "{scenario}"\nbuyers = 2000\nreplications = 1\nseed = 4\n'
                 'end_year = 1987\n[optimiser]\nscreening = 0\nmax_evaluations = 2\n'
                 '[[parameters]]\npath = "market.segment_households"\nrange = [100000, 9000000]\nstart = 100000\n'
                 'why = "a start far from the data: the fit (the start) is worse than the current value"\n')

    def calibrate(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "calibrate", str(path), "--workers", "1",
                               "--quiet", "--apply", *extra, "--out", str(tmp_path / f"out{len(extra)}")], cwd=ROOT,
                              capture_output=True, text=True, timeout=HANG_GUARD_S)

    refused = calibrate()
    assert refused.returncode == 1, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("--apply refused: the fit's distance") and "--force" in lines[0]
    assert scenario.read_text() == before and (tmp_path / "out0" / "manifest.json").exists()
    forced = calibrate("--force")
    assert forced.returncode == 0, forced.stderr
    assert tomllib.loads(scenario.read_text())["market"]["segment_households"] == 100000


# ---- a fit that did not improve says so (issue #14) ---------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(budget=st.integers(1, 14), start=st.sampled_from(["low", "middle", "true"]),
       current=st.sampled_from([None, "low", "true"]))
def test_a_fit_that_did_not_improve_is_never_presented_as_an_improvement(budget, start, current):
    """The search keeps its best candidate: the fit is the start when nothing did better, and may be worse than
    the scenario's current values; either is said in plain words, and only then."""
    where = {"low": LOW + 0.05 * (HIGH - LOW), "middle": (LOW + HIGH) / 2, "true": TRUE}
    problem = toy_problem(6, replications=2, max_evaluations=budget)
    problem.spec.optimiser.screening = 4
    problem.start = where[start].copy()
    problem.current = None if current is None else where[current].copy()
    result = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).run()
    text = result.shortfall() or ""
    assert result.fitted.distance <= result.start.distance  # never worse than its start ...
    assert ("did not improve on the start values" in text) == (result.fitted is result.start)  # ... or the start
    worse = result.current is not None and result.fitted.distance > result.current.distance
    assert ("did not improve on the scenario's current values" in text) == worse
    assert result.headline() == ([text] if text else [])


@pytest.mark.parametrize("budget, start, current, says", [
    (1, (LOW + HIGH) / 2, None, "The fit did not improve on the start values"),
    (4, LOW, TRUE, "The fit did not improve on the scenario's current values"),
    (600, LOW, LOW, None),  # a real fit: it improved on both
])
def test_the_summary_report_fit_md_and_manifest_say_when_the_fit_did_not_improve(tmp_path, budget, start, current,
                                                                                 says):
    import json
    from datetime import UTC, datetime

    from sim.calibration_report import write_calibration

    problem = toy_problem(6, replications=2, max_evaluations=budget)
    problem.spec.optimiser.screening = 0
    problem.start, problem.current = start.copy(), None if current is None else current.copy()
    result = cal.Calibrator(problem, IN_PROCESS, simulate=toy_simulate).run()
    folder = write_calibration(tmp_path / "fit", result, datetime.now(UTC))
    manifest = json.loads((folder / "manifest.json").read_text())
    outputs = [" ".join(str(result).split()), (folder / "fit.md").read_text(),
               (folder / "report.html").read_text().replace("&#39;", "'")]
    if says is None:
        assert manifest["improved"] and manifest["shortfall"] is None
        assert not any("did not improve" in text for text in outputs)
    else:
        assert not manifest["improved"] and manifest["shortfall"].startswith(says)
        assert all(says in text for text in outputs), outputs[0][:300]


def test_a_budget_too_short_for_the_jacobian_writes_no_table_of_zeros_and_says_why(tmp_path):
    """Issue #14 kind 9: with no Jacobian, sensitivity, information and Jacobian are unknown (NaN), not 0, their CSV
    files are not written, and the report, fit.md and the manifest say why."""
    import json
    from datetime import UTC, datetime

    from sim.calibration_report import write_calibration

    result = cal.Calibrator(toy_problem(4, replications=2, max_evaluations=5), IN_PROCESS,
                            simulate=toy_simulate).run()
    assert not result.estimated
    assert result.sensitivity().isna().all().all() and result.information_shares().isna().all().all()
    assert np.isnan(result.covariance()).all() and result.parameters()["se"].isna().all()
    folder = write_calibration(tmp_path / "fit", result, datetime.now(UTC))
    names = {p.name for p in folder.iterdir()}
    assert not names & {"sensitivity.csv", "information.csv", "jacobian.csv"}
    assert {"parameters.csv", "fit.csv", "report.html", "fit.md", "manifest.json"} <= names
    html = (folder / "report.html").read_text().replace("&#39;", "'")
    assert "left no room for the Jacobian" in html and "jacobian.csv are not written" in html
    assert "Weakly identified" not in html and "sensitivity.csv has" not in html
    assert "not written" in (folder / "fit.md").read_text()
    assert json.loads((folder / "manifest.json").read_text())["not_written"] == ["sensitivity.csv", "information.csv",
                                                                                "jacobian.csv"]
    full = write_calibration(tmp_path / "full", fit_toy(4, replications=2), datetime.now(UTC))
    assert {"sensitivity.csv", "information.csv", "jacobian.csv"} <= {p.name for p in full.iterdir()}


@pytest.mark.parametrize("name", ["\\u001b]0;title\\u0007x", " ", "a\\nb"])
def test_a_calibration_name_is_printable_text(tmp_path, name):
    """A calibration's name is printed in its report and summary: no control characters, not blank."""
    path = write(tmp_path, f'name = "{name}"\nscenario = "lexus_us_1989"\n[[parameters]]\npath = "choice.inertia"\n'
                           'range = [0, 1]\nwhy = "x"\n')
    with pytest.raises(ScenarioError) as info:
        calp.load_calibration(path)
    assert str(path) in str(info.value) and "name" in str(info.value)
