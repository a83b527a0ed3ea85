"""run_sim.py optimize (issue #16): the optimisation file, the search (toy objectives through the same code path as
the model), robustness measures, resume, the result folder, and a small luxsim case with an obvious answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.compare import discount_factors
from sim.executor import Executor
from sim.optimisation import Optimiser, metric_value, robust, staging_file
from sim.optimisation_problem import Metric, load_optimisation
from sim.scenario_files import ScenarioError
from tests.conftest import HANG_GUARD_S, ctrl_c_as_in_a_terminal

ROOT = Path(__file__).resolve().parent.parent
IN_PROCESS = Executor(workers=1)  # toys run in this process (no cluster is ever started)

TOY = """
name = "toy"
scenario = "lexus_us_1989"
buyers = 500
replications = {replications}
seed = 11
max_evaluations = {budget}
batch = {batch}
startup = 8
set = ["market.years=2"]

[[levers]]
path = "brands.Lexus.service.complimentary_maintenance_months"
name = "months"
range = [0, 48]

[[levers]]
path = "brands.Lexus.service.dealer_service_quality"
name = "quality"
range = [0.0, 1.0]

[[levers]]
path = "brands.Lexus.service.loaner_cars"
name = "loaners"
choices = [true, false]

[objective]
name = "score"
metric = "profit"
brand = "Lexus"
year = 1987
direction = "maximize"
{extra}
[uncertainty]
scenarios = {scenarios}
measure = "{measure}"

[[uncertainty.parameters]]
path = "word_of_mouth.strength"
range = [0.04, 0.08]
"""


def toy_file(tmp_path: Path, budget: int = 48, batch: int = 4, replications: int = 2, scenarios: int = 3,
             measure: str = "mean", extra: str = "", name: str = "toy.toml") -> Path:
    path = tmp_path / name
    path.write_text(TOY.format(budget=budget, batch=batch, replications=replications, scenarios=scenarios,
                               measure=measure, extra=extra))
    return path


def toy_simulate(static, levers, draw, replication):
    """A known optimum at months = 30, quality = 0.7, loaners on; the uncertainty shifts the level, a replication
    adds a little noise (common to every candidate: common random numbers). Second metric: quality (a second
    objective or a constraint), third: months."""
    months, quality, loaners = levers
    shift = static.draws[draw]["word_of_mouth.strength"]
    noise = np.random.default_rng([static.seed, replication]).normal(0, 0.001)
    score = 1.0 - ((months - 30) / 48) ** 2 - (quality - 0.7) ** 2 + 0.1 * bool(loaners) + 10 * shift + noise
    return np.array([score, quality, float(months)])[:len(static.metrics)]


def optimiser(path: Path, tmp_path: Path | None = None, resume: bool = False, simulate=toy_simulate) -> Optimiser:
    staging = None if tmp_path is None else staging_file(tmp_path / "out")
    return Optimiser(load_optimisation(path), IN_PROCESS, staging, resume, simulate=simulate)


def test_toy_objective_optimum_is_found_within_the_budget(tmp_path):
    result = optimiser(toy_file(tmp_path)).run()
    best = result.best.levers
    assert len(result.history) == 48
    assert abs(best["months"] - 30) <= 8 and abs(best["quality"] - 0.7) <= 0.2 and best["loaners"] is True
    values = [result.robust_values(ev)[0] for ev in result.history]
    assert result.robust_values(result.best)[0] == max(values)


def test_the_scenario_as_written_is_evaluated_on_the_same_seeds_and_scenarios(tmp_path):
    opt = optimiser(toy_file(tmp_path, budget=4))
    result = opt.run()
    written = result.as_written
    assert written.number == -1 and written.runs.shape == (3, 2, 1)
    assert written.levers == {"months": 36, "quality": 0.85, "loaners": True}  # the flagship's Lexus levers
    # common random numbers: a candidate with the same levers gets the same runs exactly
    assert written.runs[2, 1, 0] == toy_simulate(opt.static, (36, 0.85, True), 2, 1)[0]


def test_a_constraint_binds_the_best_policy(tmp_path):
    extra = '[[constraints]]\nname = "months_cap"\nmetric = "sales"\nbrand = "Lexus"\nyear = 1987\nmax = 12\n'
    result = optimiser(toy_file(tmp_path, extra=extra), simulate=toy_months_as_constraint).run()
    assert result.feasible(result.best) and result.best.levers["months"] <= 12
    assert result.best.levers["months"] >= 6  # pushed against the cap, toward the unconstrained 30


def toy_months_as_constraint(static, levers, draw, replication):
    """The toy's score, and months as the constraint's metric."""
    return np.array([toy_simulate(static, levers, draw, replication)[0], float(levers[0])])


def test_two_objectives_give_a_pareto_front_no_candidate_dominates(tmp_path):
    extra = '[second_objective]\nname = "quality_cost"\nmetric = "service_cost"\nbrand = "Lexus"\nyear = 1987\n' \
            'direction = "minimize"\n'
    result = optimiser(toy_file(tmp_path, budget=32, extra=extra)).run()
    front = result.pareto()
    assert front
    values = {ev.number: result.robust_values(ev) for ev in result.history}
    for ev in front:
        a = values[ev.number]
        assert not any(b[0] >= a[0] and b[1] <= a[1] and b != a for b in values.values())
    assert result.best in front
    assert len(result.pareto_frame()) == len(front)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=12), st.floats(0.01, 0.99))
def test_robustness_measures_lie_where_they_should(values, q):
    v = np.array(values)
    assert v.min() - 1e-6 <= robust(v, "maximize", "mean", q, None) <= v.max() + 1e-6
    assert v.min() <= robust(v, "maximize", "quantile", q, None) <= v.max()
    assert robust(v, "maximize", "quantile", q, None) == pytest.approx(robust(v, "minimize", "quantile", 1 - q, None),
                                                                        abs=1e-6)
    assert robust(v, "maximize", "regret", q, v) == 0.0  # no regret against itself
    assert robust(v - 1.0, "maximize", "regret", q, v) == pytest.approx(1.0)
    assert robust(v + 1.0, "minimize", "regret", q, v) == pytest.approx(1.0)


def test_regret_and_quantile_run_through_the_search(tmp_path):
    for measure in ("regret", "quantile"):
        result = optimiser(toy_file(tmp_path, budget=12, measure=measure)).run()
        values = [result.robust_values(ev)[0] for ev in result.history]
        assert all(np.isfinite(values))
        if measure == "regret":
            assert min(values) >= 0 and result.robust_values(result.best)[0] == min(values)


def test_metric_value_npv_discounts_to_the_first_year_and_a_zero_denominator_is_nan():
    table = pd.DataFrame({"year": [1989, 1990, 1991, 1989], "brand": ["A", "A", "A", "B"],
                          "profit": [100.0, 100.0, 100.0, 5.0], "fleet": [0.0, 0.0, 0.0, 1.0]})
    m = Metric(metric="profit", brand="A", years=(1989, 1991), aggregate="npv", discount_rate=0.08)
    assert metric_value(table, m) == pytest.approx(100 * discount_factors(np.array([1989, 1990, 1991]), 1989,
                                                                          0.08).sum())
    assert metric_value(table, m) == pytest.approx(100 + 100 / 1.08 + 100 / 1.08 ** 2)
    per = Metric(metric="profit", brand="A", years=(1989, 1991), aggregate="sum", per="fleet")
    assert np.isnan(metric_value(table, per))  # a degenerate denominator: NaN, never an infinity


class Interrupt:
    """A toy simulate that presses Ctrl-C at its ``stop``-th call (a module-level callable object)."""

    def __init__(self, stop: int):
        self.calls, self.stop = 0, stop

    def __call__(self, static, levers, draw, replication):
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt
        return toy_simulate(static, levers, draw, replication)


def test_resume_continues_and_gives_the_history_of_an_uninterrupted_run(tmp_path):
    path = toy_file(tmp_path, budget=20, batch=3, scenarios=2, replications=1)
    whole = optimiser(path).run()
    interrupted = optimiser(path, tmp_path, simulate=Interrupt(2 * (1 + 3 * 3) + 1))  # in the fourth batch
    with pytest.raises(KeyboardInterrupt):
        interrupted.run()
    assert staging_file(tmp_path / "out").exists()
    resumed = optimiser(path, tmp_path, resume=True).run()
    assert resumed.replayed == 9
    assert [ev.levers for ev in resumed.history] == [ev.levers for ev in whole.history]
    assert all(np.array_equal(a.runs, b.runs) for a, b in zip(resumed.history, whole.history))
    assert resumed.history_frame().equals(whole.history_frame())


class Counting:
    """A toy simulate that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, static, levers, draw, replication):
        self.calls += 1
        return toy_simulate(static, levers, draw, replication)


def test_a_candidate_proposed_again_counts_in_the_budget_but_is_not_simulated_again(tmp_path):
    path = toy_file(tmp_path, budget=24, batch=4, scenarios=2, replications=1)
    path.write_text(path.read_text().replace("range = [0, 48]", "range = [29, 31]")
                    .replace("range = [0.0, 1.0]", "choices = [0.7, 0.8]"))
    counting = Counting()
    result = optimiser(path, simulate=counting).run()
    assert len(result.history) == 24
    distinct = {json.dumps(ev.levers, sort_keys=True) for ev in [result.as_written, *result.history]}
    assert counting.calls == len(distinct) * 2 <= 13 * 2  # 3 x 2 x 2 policies, and the one as written
    again = optimiser(path).run()  # every candidate simulated or not: the same values
    assert all(np.array_equal(a.runs, b.runs) for a, b in zip(result.history, again.history))


def test_resume_refuses_the_history_of_another_optimisation(tmp_path):
    from sim.optimisation import HistoryMismatch

    optimiser(toy_file(tmp_path, budget=2), tmp_path).run()  # leaves its history (only the CLI removes it)
    with pytest.raises(HistoryMismatch):
        optimiser(toy_file(tmp_path, budget=2, scenarios=2, name="other.toml"), tmp_path, resume=True).run()


# ---- bad files: file, field and reason; exit 2; nothing written --------------------------------------------------
BAD = [
    (TOY.replace('choices = [true, false]', 'choices = [true, false]\nrange = [0, 1]'),
     "levers.2: give range = [low, high] or choices"),
    (TOY.replace('range = [0, 48]', 'range = [0, 480]'), "levers.0.range: the high end 480"),
    (TOY.replace('dealer_service_quality"', 'dealer_service_qualty"'), "levers.1.path: unknown field"),
    (TOY.replace('choices = [true, false]', 'range = [0, 1]'), "levers.2.range: brands.Lexus.service.loaner_cars "
                                                               "is a bool field"),
    (TOY.replace('metric = "profit"', 'metric = "proft"'), "objective.metric: 'proft' is not a column"),
    (TOY.replace('brand = "Lexus"\nyear', 'brand = "Lexsus"\nyear'), "objective.brand: 'Lexsus' is not a brand"),
    (TOY.replace('year = 1987', 'year = 1999'), "objective.year: 1999 is outside the run (1986-1987)"),
    (TOY.replace('direction = "maximize"', 'direction = "up"'), "objective.direction"),
    (TOY.replace('measure = "{measure}"', 'measure = "median"'), "uncertainty.measure"),
    (TOY.replace('range = [0.04, 0.08]', 'range = [0.08, 0.04]'), "uncertainty.parameters.0.range"),
    (TOY.replace('path = "word_of_mouth.strength"', 'path = "brands.Lexus.service.loaner_cars"'),
     "uncertainty.parameters.0.path: brands.Lexus.service.loaner_cars is a bool field"),
    (TOY.replace('year = 1987\ndirection', 'direction'), "objective.aggregate: more than one brand-year cell"),
]


@pytest.mark.parametrize("body, expected", BAD)
def test_bad_optimisation_files_name_the_file_field_and_reason(tmp_path, body, expected):
    path = tmp_path / "bad.toml"
    path.write_text(body.format(budget=4, batch=2, replications=1, scenarios=2, measure="mean", extra=""))
    with pytest.raises(ScenarioError) as info:
        load_optimisation(path)
    assert any(line.startswith(f"{path}: ") and expected in line for line in info.value.problems), \
        info.value.problems


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG_GUARD_S)


def test_cli_bad_file_exits_2_in_one_line_per_problem_and_writes_nothing(tmp_path):
    path = toy_file(tmp_path)
    path.write_text(path.read_text().replace('metric = "profit"', 'metric = "proft"'))
    out = tmp_path / "out"
    proc = run_cli("optimize", str(path), "--out", str(out), "--workers", "1")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}: objective.metric: 'proft' is not a column of brand_year() (did you mean 'profit'?)" \
        in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not staging_file(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.toml"]
    bad = run_cli("optimize", str(toy_file(tmp_path)), "--buyers", "5", "--out", str(out))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    resume = run_cli("optimize", str(toy_file(tmp_path)), "--resume")
    assert resume.returncode == 2 and "--resume needs --out" in resume.stderr


SMALL = """
name = "small"
question = "Which prestige maximises Lexus's 1991 share (cost ignored)?"
scenario = "lexus_us_1989"
buyers = 2000
replications = 1
seed = 3
max_evaluations = {budget}
batch = 3
startup = 4
set = ["market.years=6", "brands.Lexus.dealer_capacity=10000"]

[[levers]]
path = "brands.Lexus.prestige"
range = [0.0, 1.0]

[objective]
metric = "sales_share"
brand = "Lexus"
year = 1991
direction = "maximize"
"""


def test_small_luxsim_case_with_an_obvious_answer_and_same_history_with_one_and_two_workers(tmp_path):
    """Prestige raises a brand's utility for every buyer (its supply unlimited here): more prestige, more share.
    The same seed gives the same history with 1 and 2 workers; best_policy.toml runs as it is."""
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(budget=9))
    histories = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        proc = run_cli("optimize", str(path), "--workers", str(workers), "--out", str(out), "--quiet")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == str(out)
        histories[workers] = pd.read_csv(out / "history.csv")
        assert not staging_file(out).exists()
    pd.testing.assert_frame_equal(histories[1], histories[2])
    out = tmp_path / "out1"
    best = pd.read_csv(out / "best.csv").set_index("policy")
    assert best.loc["best", "lever_prestige"] >= 0.7
    assert best.loc["best", "mean"] > best.loc["as written", "mean"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["evaluations"] == 9 and manifest["sampler"] == "TPE" and manifest["git_commit"] is not None
    report = (out / "report.html").read_text()
    assert "Which prestige" in report and "data:image/png;base64," in report  # self-contained: figures embedded
    assert "<link" not in report and "<script src" not in report
    moved = tmp_path / "elsewhere" / "best"  # a library base is extended by its name: the folder can be moved
    moved.parent.mkdir()
    shutil.move(out, moved)
    out = moved
    assert tomllib.loads((out / "best_policy.toml").read_text())["extends"] == "lexus_us_1989.toml"
    run = run_cli("run", str(out / "best_policy.toml"), "-r", "1", "-n", "500", "--workers", "1", "--quiet",
                  "--out", str(tmp_path / "best_run"))
    assert run.returncode == 0, run.stderr
    ran = json.loads((tmp_path / "best_run" / "manifest.json").read_text())["scenario"]
    assert ran["brands"]["Lexus"]["prestige"] == pytest.approx(best.loc["best", "lever_prestige"])
    assert ran["market"]["years"] == 6


def test_example_file_loads_with_the_levers_and_uncertainty_the_question_names():
    problem = load_optimisation("lexus_service_npv")
    assert [x.path.rsplit(".", 1)[-1] for x in problem.levers] == [
        "complimentary_maintenance_months", "loaner_cars", "roadside_level"]
    o = problem.spec.objective
    assert (o.metric, o.brand, o.years, o.aggregate, o.discount_rate, o.direction) == (
        "profit", "Lexus", (1989, 2000), "npv", 0.08, "maximize")
    paths = [p for u in problem.spec.uncertainty.parameters for p in u.path_list]
    assert "word_of_mouth.strength" in paths and "brands.Cadillac.strategy.lag_months" in paths
    assert len(problem.draw_values) == problem.spec.uncertainty.scenarios


@pytest.mark.parametrize("measure", ["mean", "regret"])
def test_a_two_objective_folder_has_the_front_as_csv_and_plot_and_reads_back(tmp_path, measure):
    from datetime import UTC, datetime

    from sim.optimisation_report import write_optimisation

    extra = '[second_objective]\nname = "quality_cost"\nmetric = "service_cost"\nbrand = "Lexus"\nyear = 1987\n' \
            'direction = "minimize"\n'
    result = optimiser(toy_file(tmp_path, budget=12, extra=extra, measure=measure)).run()
    out = write_optimisation(tmp_path / "folder", result, datetime.now(UTC))
    front = pd.read_csv(out / "pareto.csv")
    assert len(front) == len(result.pareto()) and (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 13 and history["evaluation"].iloc[0] == -1  # the scenario as written first
    assert f"score_{measure}" in history and f"quality_cost_{measure}" in history
    assert "Pareto front" in (out / "report.html").read_text()
    assert json.loads((out / "manifest.json").read_text())["sampler"] == "NSGA-II"


def test_when_no_candidate_meets_the_constraints_the_answer_says_so(tmp_path):
    from datetime import UTC, datetime

    from sim.optimisation_report import write_optimisation

    extra = '[[constraints]]\nmetric = "sales"\nbrand = "Lexus"\nyear = 1987\nmax = -1\n'  # months <= -1: never
    result = optimiser(toy_file(tmp_path, budget=4, extra=extra), simulate=toy_months_as_constraint).run()
    assert not result.feasible(result.best)
    assert "No candidate met every constraint" in str(result)
    out = write_optimisation(tmp_path / "folder", result, datetime.now(UTC))
    assert not pd.read_csv(out / "history.csv")["feasible"].any()
    assert "No candidate met every constraint" in (out / "report.html").read_text()


def test_cli_ctrl_c_keeps_the_history_and_resume_finishes_as_an_uninterrupted_run(tmp_path):
    import signal
    import time

    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(budget=12).replace("buyers = 2000", "buyers = 1000"))
    whole = tmp_path / "whole"
    assert run_cli("optimize", str(path), "--workers", "1", "--out", str(whole), "--quiet").returncode == 0
    out = tmp_path / "out"
    staging = staging_file(out)
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_sim.py"), "optimize", str(path), "--workers", "1",
                             "--out", str(out), "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=ctrl_c_as_in_a_terminal)
    deadline = time.monotonic() + HANG_GUARD_S  # a hang guard, not a speed check
    while time.monotonic() < deadline and proc.poll() is None:
        # as soon as the history is kept (its header and the scenario as written): the whole budget is left to be
        # interrupted, however slowly this test is scheduled (replaying a longer history: test_resume_* in process)
        if staging.exists() and len(staging.read_text().splitlines()) >= 2:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    _, stderr = proc.communicate(timeout=HANG_GUARD_S)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists() and staging.exists()
    staging_lines = staging.read_text().splitlines()
    again = run_cli("optimize", str(path), "--workers", "1", "--out", str(out), "--quiet")
    assert again.returncode == 2 and "add --resume" in again.stderr  # never started afresh over a history
    resumed = run_cli("optimize", str(path), "--workers", "1", "--out", str(out), "--quiet", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not staging.exists()
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), pd.read_csv(whole / "history.csv"))
    replayed = json.loads((out / "manifest.json").read_text())["replayed_from_history"]
    assert replayed == len(staging_lines) - 2  # every candidate kept before the interrupt was told again, not rerun


def test_a_bad_field_of_the_file_is_named_even_when_an_option_replaces_it(tmp_path):
    """The file is checked as written: `-r 1` does not hide a file's `replications = "two"` (its own line), and a bad
    option is named by its option."""
    path = toy_file(tmp_path)
    path.write_text(path.read_text().replace("replications = 2", 'replications = "two"'))
    with pytest.raises(ScenarioError) as caught:
        load_optimisation(path, {"replications": 1})
    assert any(line.startswith(f"{path}: replications:") for line in caught.value.problems)
    with pytest.raises(ScenarioError) as caught:
        load_optimisation(toy_file(tmp_path), {"replications": 0})
    assert [line.split(":")[0] for line in caught.value.problems] == ["--replications"]


def test_optimize_creates_the_result_folders_parents(tmp_path):
    """As run --out does (and the default results/optimisations/NAME/... on a fresh clone): the history kept beside
    the result folder has its parent made first."""
    out = tmp_path / "not" / "yet" / "there"
    proc = run_cli("optimize", str(toy_file(tmp_path, budget=2, batch=2, replications=1, scenarios=1)),
                   "--workers", "1", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (out / "best_policy.toml").exists() and not staging_file(out).exists()
