"""Scenario discovery (sim/discovery.py, ``run_sim.py discover``): PRIM recovers known boxes, the boxes read as
sentences, a sweep folder gives a whole result folder, and bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.discovery import Box, choose_step, describe, discover, in_box, prim_boxes, write_discovery
from sim.scenario_files import ScenarioError
from tests.conftest import HANG_GUARD_S
from tests.test_analysis import synthetic_sweep

ROOT = Path(__file__).resolve().parent.parent


def uniform_inputs(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.uniform(size=n), "x2": rng.uniform(size=n), "x3": rng.uniform(size=n)})


@pytest.mark.parametrize("a, b, seed", [(0.3, 0.6, 1), (0.5, 0.3, 2), (0.4, 0.5, 3)])
def test_prim_recovers_a_known_box(a, b, seed):
    """y = 1 when x1 < a and x2 > b (x3 does nothing), on 2,000 uniform points: one box, bounds within 0.05,
    x3 left free, coverage and density above 90%."""
    x = uniform_inputs(2000, seed)
    y = ((x["x1"] < a) & (x["x2"] > b)).to_numpy()
    boxes, trajectory = prim_boxes(x, y)
    box = boxes[0]
    assert set(box.limits) == {"x1", "x2"}
    assert box.limits["x1"][0] == -math.inf and box.limits["x1"][1] == pytest.approx(a, abs=0.05)
    assert box.limits["x2"][1] == math.inf and box.limits["x2"][0] == pytest.approx(b, abs=0.05)
    assert box.density > 0.9 and box.coverage > 0.9
    assert len(boxes) == 1  # what is left is noise-free nothing: no second box reaches the density
    assert trajectory.loc[trajectory["chosen"], "step"].tolist() == [box.trajectory_step]
    assert box.cases == int(y[in_box(x, box.limits)].sum())


def test_choose_step_balances_coverage_and_density():
    t = pd.DataFrame({"coverage": [1.0, 1.0, 0.95, 0.5], "density": [0.3, 0.85, 0.97, 1.0]})
    assert choose_step(t, 0.8) == 2  # harmonic means 0.92, 0.96, 0.67
    assert choose_step(t.iloc[:1], 0.8) == 0  # none dense enough: the densest


def test_boxes_read_as_sentences_naming_role_and_path():
    inputs = [{"name": "wom", "path": "word_of_mouth.strength", "kind": "float", "role": "uncertainty"},
              {"name": "free_months", "path": "brands.Lexus.service.complimentary_maintenance_months", "kind": "int",
               "role": "lever"},
              {"name": "loaners", "path": "loaners", "kind": "bool", "role": "lever"}]
    text = describe({"wom": (-math.inf, 0.0512345), "free_months": (12.0, 30.0), "loaners": {False}}, inputs)
    assert text == ("when the uncertainty wom (word_of_mouth.strength) is at most 0.05123 and the lever free_months "
                    "(brands.Lexus.service.complimentary_maintenance_months) is between 12 and 30 and the lever "
                    "loaners is False")
    assert describe({}, inputs) == "everywhere (no input restricted)"


LHS = """
replications = 2
[design]
kind = "lhs"
samples = 200
[[parameters]]
path = "choice.inertia"
name = "x1"
range = [0.0, 1.0]
[[uncertainties]]
path = "word_of_mouth.strength"
name = "x2"
range = [0.0, 1.0]
"""


@pytest.fixture(scope="module")
def lhs_sweep(tmp_path_factory) -> Path:
    """A synthetic LHS sweep (200 points x 2 replications): y = x1 + x2 (+ noise), a lever x1, an uncertainty x2."""
    return synthetic_sweep(tmp_path_factory.mktemp("lhs"), LHS, lambda x1, x2: x1 + x2, noise=0.01)


def test_discover_on_a_sweep_folder_finds_the_box_and_writes_the_folder(lhs_sweep, tmp_path):
    d = discover(lhs_sweep, "y < 0.5")
    assert d.n_cases == 400 and 0 < d.n_interest < 400
    box = d.boxes[0]
    assert set(box.limits) == {"x1", "x2"} and box.density > 0.5  # the triangle x1 + x2 < 0.5, as a box
    assert [p["role"] for p in d.inputs] == ["lever", "uncertainty"]
    assert d.sentence(box).startswith("when the lever x1 (choice.inertia) is at most ")
    out = write_discovery(tmp_path / "found", d, pd.Timestamp.now(tz="UTC").to_pydatetime())
    names = {p.name for p in out.iterdir()}
    assert names == {"boxes.csv", "cart_leaves.csv", "trajectory.csv", "trajectory.png", "cart.txt",
                     "manifest.json", "report.html"}
    boxes = pd.read_csv(out / "boxes.csv")
    assert set(boxes["role"]) == {"lever", "uncertainty"} and (boxes["box"] == 1).sum() == 2
    man = json.loads((out / "manifest.json").read_text())
    assert man["levers"] == ["x1"] and man["uncertainties"] == ["x2"] and man["cases_of_interest"] == d.n_interest
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report and "the uncertainty x2" in report and "http" not in \
        report.replace("http://www.w3.org", "")  # self-contained
    assert "|--- x" in (out / "cart.txt").read_text()


def test_discover_on_points_averages_the_replications(lhs_sweep):
    d = discover(lhs_sweep, "y < 0.5", on="points")
    assert d.n_cases == 200


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "discover", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=HANG_GUARD_S,
                          env={"COLUMNS": "200", "PATH": "/usr/bin"})


@pytest.mark.parametrize("where, words", [
    ("yy < 0.5", "unknown column 'yy' (did you mean 'y'?)"),
    ("y +", "not a valid expression"),
    ("y + 1", "not a condition"),
    ("y < -10", "none of the 400 runs meets it"),
    ("y > -10", "every one of the 400 runs meets it"),
    ("", "--where: empty"),
    ("y < @limit", "'@' (a Python variable) is not allowed"),
])
def test_bad_conditions_are_one_line_and_write_nothing(lhs_sweep, where, words):
    with pytest.raises(ScenarioError) as info:
        discover(lhs_sweep, where)
    assert len(info.value.problems) == 1 and words in info.value.problems[0], info.value.problems
    assert not (lhs_sweep / "discovery").exists()


def test_cli_discover_writes_the_folder_and_prints_the_boxes(lhs_sweep, tmp_path):
    out = tmp_path / "disc"
    done = run_cli(str(lhs_sweep), "--where", "y < 0.5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "PRIM boxes" in done.stdout and "1. when the lever x1" in done.stdout and str(out) in done.stdout
    assert (out / "report.html").exists() and "ipyparallel" not in done.stderr


@pytest.mark.parametrize("damage, words", [
    ("missing", "no such sweep folder"),
    ("manifest", "not a sweep manifest: not JSON"),
    ("column", "unknown column 'lexus_npv'"),
])
def test_cli_discover_bad_input_exits_2_in_one_line_with_nothing_written(lhs_sweep, tmp_path, damage, words):
    folder, where = lhs_sweep, "y < 0.5"
    if damage == "missing":
        folder = tmp_path / "nowhere"
    elif damage == "manifest":
        folder = tmp_path / "copy"
        folder.mkdir()
        (folder / "manifest.json").write_text("{not json")
    else:
        where = "lexus_npv < 0"
    out = tmp_path / "out"
    done = run_cli(str(folder), "--where", where, "--out", str(out))
    assert done.returncode == 2, done.stderr
    problems = [line for line in done.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 1 and words in problems[0] and "Traceback" not in done.stderr, done.stderr
    assert not out.exists() and not (folder / "discovery").exists()


def test_box_statistics_are_over_all_the_cases():
    x = pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.8, 0.9]})
    y = np.array([True, True, False, False, True])
    from sim.discovery import _stats

    box = _stats(1, {"a": (-math.inf, 0.3)}, x, y, 0, 0.8)
    assert (box.runs, box.cases, box.coverage, box.density, box.mass) == (3, 2, 2 / 3, 2 / 3, 0.6)
    assert isinstance(box, Box) and not box.reached_density


TINY_REAL = """
scenario = "lexus_us_1989"
replications = 2
seed = 4
[set]
simulation.buyers = 500
market.years = 6
[design]
kind = "lhs"
samples = 10
[[parameters]]
path = "brands.Lexus.service.complimentary_maintenance_months"
name = "free_months"
range = [0, 48]
[[uncertainties]]
path = "word_of_mouth.strength"
name = "wom"
range = [0.02, 0.15]
[[outputs]]
name = "lexus_gain"
metric = "profit"
brand = "Lexus"
years = [1989, 1991]
aggregate = "sum"
versus = { brands.Lexus.service.complimentary_maintenance_months = 0 }
"""


def test_discover_on_a_tiny_real_sweep_writes_the_files(tmp_path):
    from sim.sweep import run_sweep

    path = tmp_path / "tiny.toml"
    path.write_text(TINY_REAL)
    folder = run_sweep(path, out=tmp_path / "sweep", workers=1, progress=False)
    gain = pd.read_parquet(folder / "outputs")["lexus_gain"]
    median = float(gain.median())
    assert gain.nunique() > 10  # the twins differ from their runs
    out = tmp_path / "found"
    done = run_cli(str(folder), "--where", f"lexus_gain < {median!r}", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"{int((gain < median).sum())} of 20 runs" in done.stdout, done.stdout
    assert {"boxes.csv", "trajectory.csv", "trajectory.png", "cart.txt", "manifest.json", "report.html"} <= {
        p.name for p in out.iterdir()}
    assert set(pd.read_csv(out / "boxes.csv")["role"].dropna()) <= {"lever", "uncertainty"}


def test_only_discover_imports_the_ema_workbench():
    done = subprocess.run([sys.executable, "-c", "import sys, run_sim, sim.discovery, sim.analysis, sim.sweep; "
                                                 "print('ema_workbench' in sys.modules)"],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.stdout.strip() == "False", done.stderr


def test_an_integer_lever_is_bounded_between_whole_numbers(tmp_path):
    """PRIM's pasting and CART's splits put bounds between whole numbers (20.5); the EMA Workbench writes them into
    its boxes, which pandas 3 refused for an int64 column (a TypeError traceback): integers go in as floats."""
    experiment = """
replications = 1
[design]
kind = "lhs"
samples = 300
[[parameters]]
path = "brands.Lexus.service.complimentary_maintenance_months"
name = "m"
range = [0, 48]
[[uncertainties]]
path = "word_of_mouth.strength"
name = "x2"
range = [0.0, 1.0]
"""
    folder = synthetic_sweep(tmp_path, experiment, lambda m, x2: m + x2)
    d = discover(folder, "y < 20")
    assert set(d.boxes[0].limits) == {"m"} and d.boxes[0].limits["m"][1] == pytest.approx(19.5, abs=1)
    assert d.boxes[0].density == 1.0 and d.boxes[0].coverage > 0.9
    assert d.cart_leaves and d.sentence(d.cart_leaves[0]).startswith("when the lever m (brands.Lexus.service.")


def test_a_boolean_input_bounds_prim_boxes_and_cart_leaves():
    """A category (a boolean lever) restricts both views; the EMA Workbench's CART.boxes dropped the kept-value
    side of a category's split (the leaf 'a <= 0.39 and b is True' came out as 'a <= 0.39', density 47%)."""
    from sim.discovery import cart_view

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.uniform(size=500), "b": pd.Series(rng.uniform(size=500) < 0.5).astype(object)})
    y = ((x["a"] < 0.4) & (x["b"] == True)).to_numpy()  # noqa: E712 - an object column of booleans
    boxes, _ = prim_boxes(x, y)
    assert boxes[0].limits["b"] == {True} and boxes[0].density > 0.95
    _, leaves = cart_view(x, y)
    assert len(leaves) == 1 and leaves[0].limits["b"] == {True} and leaves[0].density == 1.0
    assert leaves[0].limits["a"][1] == pytest.approx(0.4, abs=0.02) and leaves[0].coverage == 1.0
