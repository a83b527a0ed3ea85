"""Within-brand line shares against BLP 1986-1990 and line appeals inverted from them (sim/line_mix.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from sim import line_mix as lm
from sim.executor import Executor
from sim.model import as_scenario
from sim.scenario_files import SCENARIO_DIR, load_scenario

IN_PROCESS = Executor(workers=1)


def test_every_blp_row_of_1986_1990_maps_to_a_line_and_shares_add_up_within_each_brand():
    shares = lm.blp_line_shares()
    assert set(shares["year"]) == set(range(1986, 1991))
    assert np.allclose(shares.groupby(["year", "brand"])["share_of_brand"].sum(), 1.0)
    lexus = shares[(shares.year == 1990) & (shares.brand == "Lexus")].set_index("group")["share_of_brand"]
    assert lexus["LS"] == pytest.approx(0.000435798202 / (0.000435798202 + 0.000237859445))
    flagship = as_scenario("lexus_us_1989")
    for brand, line in zip(lm.line_groups()["brand"], lm.line_groups()["line"]):
        assert line in [m.name for m in flagship.brands[brand].models], (brand, line)


def _line_year_from(shares: pd.DataFrame, scale: float = 1e8) -> pd.DataFrame:
    """Simulated sales equal to BLP's shares (BMW's 3 Series group split evenly over its two lines)."""
    rows = []
    for r in shares.itertuples():
        lines = r.group.split(" + ")
        rows += [{"year": r.year, "brand": r.brand, "model": line, "sales": r.share * scale / len(lines)}
                 for line in lines]
    return pd.DataFrame(rows)


def test_a_run_with_blps_shares_shows_no_gap_and_takes_no_step():
    mix = lm.line_mix(_line_year_from(lm.blp_line_shares()))
    assert np.allclose(mix["simulated"], mix["blp"])
    assert np.allclose(lm.appeal_step(mix, 0.7), 0.0)
    assert (lm.mix_summary(mix)["rmse"] < 1e-12).all()


def test_the_step_is_lambda_times_the_log_share_gap_and_a_lone_line_takes_none():
    mix = pd.DataFrame({"year": [1990, 1990, 1990], "brand": ["A", "A", "B"], "group": ["x", "y", "z"],
                        "blp": [0.6, 0.4, 1.0], "simulated": [0.3, 0.7, 1.0]})
    step = lm.appeal_step(mix, 0.5)
    assert step[("A", "x")] == pytest.approx(0.5 * np.log(0.6 / 0.3))
    assert step[("A", "y")] == pytest.approx(0.5 * np.log(0.4 / 0.7))
    assert step[("B", "z")] == 0.0
    unsold = mix.assign(simulated=[np.nan, np.nan, 1.0])  # the brand sold nothing in these lines: no step
    assert (lm.appeal_step(unsold, 0.5) == 0.0).all()


def test_inverting_brings_the_simulated_mix_toward_blps():
    """Fixed seeds, a small population: from no appeals at all, two steps of the contraction cut the mean gap
    between simulated and BLP within-brand shares to less than half."""
    flagship = as_scenario("lexus_us_1989", {"market.years": 5})
    small = lm.with_appeals(flagship, {(b, line): 0.0 for b, line in zip(lm.line_groups()["brand"],
                                                                         lm.line_groups()["line"])})  # no appeals
    appeals, history = lm.invert_appeals(small, iterations=2, buyers=8000, replications=2, seed=3,
                                         executor=IN_PROCESS)
    check = lm.invert_appeals(lm.with_appeals(small, appeals), iterations=1, buyers=8000, replications=2, seed=3,
                              executor=IN_PROCESS)[1]

    def gap(mix):
        return float((mix["simulated"] - mix["blp"]).abs().mean())
    assert gap(check) < 0.5 * gap(history[history.iteration == 0])
    assert set(history["iteration"]) == {0, 1} and np.isfinite(list(appeals.values())).all()
    for successor, before in lm.SUCCESSORS.items():  # a line in the same slot inherits the appeal
        assert appeals[successor] == appeals[before]
    with pytest.raises(ValueError, match="iterations"):
        lm.invert_appeals(small, iterations=0)
    with pytest.raises(ValueError, match="ends before 1990"):
        lm.invert_appeals(as_scenario("lexus_us_1989", {"market.years": 2}))


def test_appeals_are_written_into_the_scenario_file_and_read_back(tmp_path):
    path = tmp_path / "flagship.toml"
    shutil.copy(SCENARIO_DIR / "lexus_us_1989.toml", path)
    before = path.read_text()
    lm.write_appeals(path, {("Acura", "Legend"): 0.75, ("BMW", "7 Series"): -0.5}, "a test")
    scenario = load_scenario(str(path))
    lines = {(b, m.name): m.appeal for b, spec in scenario.brands.items() for m in spec.models}
    assert lines[("Acura", "Legend")] == 0.75 and lines[("BMW", "7 Series")] == -0.5
    assert "# a test" in path.read_text() and len(path.read_text().splitlines()) >= len(before.splitlines())
    with pytest.raises(KeyError, match="Z4"):
        lm.write_appeals(path, {("BMW", "Z4"): 1.0}, "no such line")
