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
from hypothesis import assume, given
from hypothesis import strategies as st

from sim.discovery import Box, choose_step, describe, discover, in_box, prim_boxes, write_discovery
from sim.scenario_files import ScenarioError
from tests.conftest import HANG_GUARD_S, fuzz_budget
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


def test_box_statistics_are_over_the_cases_it_was_counted_on():
    """A first box (or a CART leaf) is counted on all the cases; a later one only on those outside the boxes
    before it, with coverage and mass still shares of all the cases of interest and of all the cases."""
    x = pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.8, 0.9]})
    y = np.array([True, True, False, False, True])
    from sim.discovery import _stats

    box = _stats(1, {"a": (-math.inf, 0.3)}, x, y, 0, 0.8)
    assert (box.runs, box.cases, box.coverage, box.density, box.mass) == (3, 2, 2 / 3, 2 / 3, 0.6)
    assert isinstance(box, Box) and not box.reached_density
    assert (box.after, box.sought_among, box.interest_among) == (0, 5, 3)
    outside_first = np.array([False, False, True, True, True])  # box 1 held a <= 0.2
    later = _stats(2, {"a": (0.15, 1.0)}, x, y, 0, 0.5, among=outside_first, after=1)
    assert (later.runs, later.cases, later.coverage, later.density, later.mass) == (3, 1, 1 / 3, 1 / 3, 0.6)
    assert (later.after, later.sought_among, later.interest_among) == (1, 3, 1)


# The review's grid (2026-12): lexus_share_2000 < 0.12 on a 4 x 3 grid of Lexus's complimentary maintenance and
# dealer service quality, 4 replications, as 1/0 per replication. PRIM's box 1 is "maintenance at most 6"; the old
# code then counted box 2 ("maintenance at most 18 and quality at most 0.55", 7 of 8) and box 3 (13 of 16) on all
# the runs, box 1's included: coverages 60% + 35% + 65%.
REVIEW_GRID = {(0, 0.5): "1111", (0, 0.6): "1111", (0, 0.775): "1111",
               (12, 0.5): "0111", (12, 0.6): "1001", (12, 0.775): "0000",
               (24, 0.5): "0110", (24, 0.6): "0001", (24, 0.775): "0000",
               (36, 0.5): "0000", (36, 0.6): "0000", (36, 0.775): "0000"}
REVIEW_INPUTS = [{"name": "maintenance", "path": "brands.Lexus.service.complimentary_maintenance_months",
                  "kind": "int", "role": "lever"},
                 {"name": "quality", "path": "brands.Lexus.service.dealer_service_quality", "kind": "float",
                  "role": "lever"}]


def review_grid() -> tuple[pd.DataFrame, np.ndarray]:
    rows = [(m, q, flag == "1") for (m, q), flags in REVIEW_GRID.items() for flag in flags]
    x = pd.DataFrame({"maintenance": [float(r[0]) for r in rows], "quality": [r[1] for r in rows]})
    return x, np.array([r[2] for r in rows])


def assert_covering(x: pd.DataFrame, y: np.ndarray, boxes: list[Box], trajectory: pd.DataFrame) -> None:
    """Each box counted among the cases outside every earlier box (no case in two boxes), coverages and masses
    adding up to at most 1, and each box's figures those of its chosen row of the peeling trajectory."""
    outside = np.ones(len(y), dtype=bool)
    for k, box in enumerate(boxes):
        inside = in_box(x, box.limits) & outside
        assert (box.after, box.sought_among, box.interest_among) == (k, outside.sum(), y[outside].sum())
        assert (box.runs, box.cases) == (inside.sum(), y[inside].sum())
        assert box.coverage == pytest.approx(y[inside].sum() / y.sum())
        assert box.mass == pytest.approx(inside.sum() / len(y))
        assert box.density == pytest.approx(y[inside].sum() / inside.sum()) if inside.any() else math.isnan(
            box.density)
        chosen = trajectory[(trajectory["box"] == box.number) & trajectory["chosen"]]
        assert len(chosen) == 1 and chosen["step"].item() == box.trajectory_step
        assert (chosen["coverage"].item(), chosen["mass"].item()) == pytest.approx((box.coverage, box.mass))
        assert chosen["density"].item() == pytest.approx(box.density, nan_ok=True)
        outside &= ~in_box(x, box.limits)
    assert sum(b.coverage for b in boxes) <= 1 + 1e-12 and sum(b.mass for b in boxes) <= 1 + 1e-12
    assert sum(b.cases for b in boxes) <= y.sum() and [b.number for b in boxes] == list(range(1, len(boxes) + 1))


@pytest.mark.parametrize("min_density", [0.8, 0.5, 0.3])
def test_later_boxes_are_sought_and_counted_outside_the_earlier_ones(min_density):
    """The review's defect: box 2 and box 3 counted box 1's runs again (coverages adding to 160%, box 3 holding
    box 2). Now no run counts in two boxes, and the coverages add up to at most 100%."""
    x, y = review_grid()
    boxes, trajectory = prim_boxes(x, y, max_boxes=3, min_density=min_density)
    assert boxes[0].limits == {"maintenance": (-math.inf, boxes[0].limits["maintenance"][1])}
    assert_covering(x, y, boxes, trajectory)
    for box in boxes[1:]:  # here the later boxes' limits reach into box 1, whose runs count in none of them
        assert box.reached_density and box.sought_among == len(y) - boxes[0].runs
        assert (in_box(x, box.limits) & in_box(x, boxes[0].limits)).any()
        assert box.runs == int((in_box(x, box.limits) & ~in_box(x, boxes[0].limits)).sum())
    if min_density == 0.8:  # box 2 was "7 of its 8" with box 1's 4 runs; outside box 1 it is 3 of 4: not kept
        assert len(boxes) == 1 and (boxes[0].runs, boxes[0].cases) == (12, 12)


def test_the_summary_and_the_files_say_what_each_box_is_counted_on(tmp_path):
    from sim.discovery import Discovery

    x, y = review_grid()
    boxes, trajectory = prim_boxes(x, y, max_boxes=3, min_density=0.5)
    assert len(boxes) >= 2  # the test needs a later box
    d = Discovery(tmp_path, "lexus_share_2000 < 0.12", "runs", REVIEW_INPUTS, x, y, boxes, trajectory, "", [],
                  {"min_density": 0.5, "max_boxes": 3, "mass_min": 0.05})
    lines = d.summary_lines()
    assert "each sought and counted among the cases outside the boxes before it" in lines[1]
    assert "cases outside box 1 meet it" in d.sentence(boxes[1]) and "outside" not in d.sentence(boxes[0])
    held = sum(b.cases for b in boxes)
    assert any(f"hold {held} of the {int(y.sum())} cases that meet it ({held / y.sum():.0%})" in line
               for line in lines), lines
    out = write_discovery(tmp_path / "found", d, pd.Timestamp.now(tz="UTC").to_pydatetime())
    table = pd.read_csv(out / "boxes.csv").drop_duplicates("box")
    assert table["sought_among"].tolist() == [b.sought_among for b in boxes] and table["sought_among"].iloc[0] == 48
    assert table["coverage"].sum() <= 1 and table["after"].tolist() == list(range(len(boxes)))
    man = json.loads((out / "manifest.json").read_text())
    assert "outside the boxes before it" in man["boxes_counted_on"]
    assert [b["sought_among"] for b in man["boxes"]] == table["sought_among"].tolist()
    report = (out / "report.html").read_text()
    assert "sought and counted among the cases" in report and f"the {boxes[1].sought_among} outside box 1" in report


@fuzz_budget(15)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(12, 60), share=st.floats(0.1, 0.7),
       min_density=st.sampled_from([0.2, 0.4, 0.8]))
def test_prim_covering_never_counts_a_case_twice(seed, n, share, min_density):
    """On random small datasets (a whole-number input, a real one, a boolean category), each box is counted among
    the cases outside every box before it and the coverages add up to at most 100%."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"m": rng.integers(0, 4, n).astype(float), "q": rng.uniform(size=n),
                      "b": pd.Series(rng.uniform(size=n) < 0.5).astype(object)})
    y = rng.uniform(size=n) < share
    assume(y.any() and not y.all())
    boxes, trajectory = prim_boxes(x, y, max_boxes=3, min_density=min_density)
    assert boxes
    assert_covering(x, y, boxes, trajectory)


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
