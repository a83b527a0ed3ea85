"""Sensitivity analysis (sim/analysis.py) on synthetic sweep folders: the folder is planned and written by
the sweep modules' own code (design, SALib sample, chunk files), only the model is replaced by a known function,
so SALib's indices must recover the known answer through our design ordering, averaging and CSV output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim import sweep_folder
from sim.analysis import AnalysisError, analyze, format_summary
from sim.design import plan
from tests.conftest import HANG_GUARD_S

PI = 3.141592653589793
OUTPUT = """
[[outputs]]
name = "y"
metric = "sales_share"
brand = "Lexus"
year = 1989
"""


def synthetic_sweep(tmp_path: Path, experiment: str, f, noise: float = 0.0, drop_points=(), output: str = OUTPUT
                    ) -> Path:
    """Plan ``experiment`` with sim/design.py, then 'run' it with y = f(design row) (+ noise per replication)."""
    path = tmp_path / "experiment.toml"
    path.write_text('scenario = "lexus_us_1989"\nseed = 3\n' + experiment + "\n[set]\nmarket.years = 4\n" + output)
    p = plan(path)
    folder = tmp_path / "sweep"
    manifest = sweep_folder.create_folder(p, folder)
    writer = sweep_folder.ChunkWriter(folder, sweep_folder.outputs_schema(manifest), 0, runs_per_file=500,
                                      flush_seconds=1e9)
    rng = np.random.default_rng(0)
    names = [i.name for i in p.params]
    for point, row in p.design.iterrows():
        if point in drop_points:
            continue
        rows = []
        for r in range(p.experiment.replications):
            y = f(*[row[n] for n in names]) + noise * rng.standard_normal()
            rows.append({"point": point, "replication": r, **{n: row[n] for n in names}, "y": y, "status": "ok",
                         "error": None, "seconds": 0.0, "worker": "synthetic"})
        writer.add({"batch": point, "rows": rows, "series": None})
    writer.flush()
    sweep_folder.write_runs_table(folder, p)
    return folder


def ishigami(x1, x2, x3, a=7.0, b=0.1):
    return np.sin(x1) + a * np.sin(x2) ** 2 + b * x3 ** 4 * np.sin(x1)


SOBOL_ISHIGAMI = f"""
[design]
kind = "sobol"
samples = 1024
[[parameters]]
path = "market.segments.prestige.outside_utility"
name = "x1"
range = [{-PI}, {PI}]
[[parameters]]
path = "market.segments.value.outside_utility"
name = "x2"
range = [{-PI}, {PI}]
[[parameters]]
path = "market.segments.aspirational.outside_utility"
name = "x3"
range = [{-PI}, {PI}]
"""


def test_sobol_recovers_the_ishigami_indices(tmp_path):
    folder = synthetic_sweep(tmp_path, SOBOL_ISHIGAMI, ishigami)
    out = analyze(folder)
    raw = pd.read_csv(out / "sobol_indices.csv")
    assert list(raw.columns) == ["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    table = raw.set_index("parameter")
    # analytic values for a = 7, b = 0.1 (Ishigami & Homma 1990; Sobol' 2001)
    expected_s1 = {"x1": 0.3139, "x2": 0.4424, "x3": 0.0}
    expected_st = {"x1": 0.5576, "x2": 0.4424, "x3": 0.2437}
    for name in ("x1", "x2", "x3"):
        assert table.loc[name, "S1"] == pytest.approx(expected_s1[name], abs=0.06)
        assert table.loc[name, "ST"] == pytest.approx(expected_st[name], abs=0.06)
        assert 0 < table.loc[name, "ST_conf"] < 0.1
    assert (out / "sobol_y.png").stat().st_size > 10_000 and (out / "scatter_y.png").exists()
    info = json.loads((out / "analysis.json").read_text())
    assert info["design"] == "sobol" and info["points"] == 1024 * 5 and not info["warnings"]
    assert "x2 ST 0.4" in format_summary(out)


def test_a_tiny_sobol_sample_is_flagged_and_its_impossible_indices_called_noise_not_hidden(tmp_path):
    """samples = 4: indices far outside [0, 1]. They are still written and shown, with caveats: the sample size and
    the guidance in analysis.json, the summary and the CLI's one stderr line, the values outside [0, 1] named as
    estimation noise next to them; the command still succeeds."""
    import subprocess
    import sys

    from sim.analysis import SOBOL_MIN_SAMPLES, caveat_line

    folder = synthetic_sweep(tmp_path, SOBOL_ISHIGAMI.replace("samples = 1024", "samples = 4"), ishigami)
    out = analyze(folder)
    table = pd.read_csv(out / "sobol_indices.csv")
    assert np.isfinite(table[["S1", "ST"]]).all().all()  # the numbers are kept ...
    outside = (table[["S1", "ST"]] < 0) | (table[["S1", "ST"]] > 1)
    assert outside.any().any()  # ... impossible ones included (this sample gives some)
    info = json.loads((out / "analysis.json").read_text())
    small, noise = info["caveats"]
    assert small.startswith("N = 4 base samples is too few for stable Sobol' indices")
    assert f"at least {SOBOL_MIN_SAMPLES}" in small and "N = 1024" in small and "[design].samples" in small
    assert noise.startswith("y: Sobol' indices or their intervals outside [0, 1]") and "estimation noise" in noise
    assert info["noisy_outputs"] == ["y"] and set(info["caveats"]) <= set(info["warnings"])
    summary = format_summary(out).splitlines()
    assert "estimation noise" in summary[1] and summary[1].startswith("  y: ")  # on the indices' own line
    assert f"  warning: {small}" in summary and f"  warning: {noise}" in summary
    line = caveat_line(info)
    assert "\n" not in line and line.startswith("N = 4 base samples") and "outside [0, 1]" in line

    done = subprocess.run([sys.executable, "run_sim.py", "analyze", str(folder)], cwd=Path(__file__).parent.parent,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stderr
    said = [s for s in done.stderr.splitlines() if s.strip()]
    assert said == [f"Warning: {line}"], done.stderr
    assert "N = 4 base samples" in done.stdout and "estimation noise" in done.stdout


def test_a_large_enough_sobol_sample_of_indices_in_range_has_no_caveat():
    from sim.analysis import sobol_caveats

    table = pd.DataFrame(dict(output="y", parameter=["a", "b", "c"], S1=[0.6, 0.3, -0.004], S1_conf=[0.05, 0.04, 0.06],
                              ST=[0.65, 0.35, 0.01], ST_conf=[0.05, 0.05, 0.03]))
    assert sobol_caveats(table, 64) == ([], [])  # an inert parameter's interval a few hundredths below 0 is normal
    lines, noisy = sobol_caveats(table.assign(ST=[1.02, 0.35, 0.01]), 64)  # reads 1.02: outside, to 2 decimals
    assert noisy == ["y"] and "a ST 1.02 (95% CI 0.97 to 1.07)" in lines[0]
    lines, noisy = sobol_caveats(table.assign(S1_conf=[0.05, 0.04, 0.2]), 32)  # an interval reaching to -0.20
    assert noisy == ["y"] and "N = 32 base samples" in lines[0] and "c S1 -0.00 (95% CI -0.20 to 0.20)" in lines[1]


def test_sobol_linear_model_with_replications_averaged(tmp_path):
    experiment = """
replications = 3
[design]
kind = "sobol"
samples = 512
[[parameters]]
path = "choice.inertia"
name = "x1"
range = [0, 1]
[[parameters]]
path = "choice.wom_weight"
name = "x2"
range = [0, 1]
[[parameters]]
path = "choice.defect_weight"
name = "x3"
range = [0, 1]
"""
    folder = synthetic_sweep(tmp_path, experiment, lambda x1, x2, x3: 4 * x1 + x2, noise=0.05)
    table = pd.read_csv(analyze(folder) / "sobol_indices.csv").set_index("parameter")
    # y = 4 x1 + x2 with uniform inputs: S1 = ST = 16/17 and 1/17, x3 does nothing
    assert table.loc["x1", "S1"] == pytest.approx(16 / 17, abs=0.05)
    assert table.loc["x2", "S1"] == pytest.approx(1 / 17, abs=0.03)
    assert abs(table.loc["x3", "ST"]) < 0.02
    assert table["ST"].idxmax() == "x1"


X1, X2 = ("choice.inertia", "x1", [0, 1]), ("choice.wom_weight", "x2", [0, 1])


def morris_design(trajectories: int, *parameters: tuple[str, str, list]) -> str:
    """A Morris experiment file's text: 4 levels, ``trajectories``, and (path, name, range) parameters."""
    return f'[design]\nkind = "morris"\ntrajectories = {trajectories}\nlevels = 4\n' + "".join(
        f'[[parameters]]\npath = "{path}"\nname = "{name}"\nrange = {list(bounds)}\n'
        for path, name, bounds in parameters)


def test_morris_ranks_a_linear_model_on_the_values_run(tmp_path):
    experiment = morris_design(20, X1, X2, ("brands.Lexus.dealers", "dealers", [50, 150]),
                               ("choice.defect_weight", "x4", [0, 1]))
    folder = synthetic_sweep(tmp_path, experiment, lambda x1, x2, dealers, x4: 4 * x1 + x2 + 0.01 * dealers)
    design = pd.read_parquet(folder / "design.parquet")
    assert design["dealers"].dtype == np.int64  # the model ran rounded values ...
    out = analyze(folder)
    raw = pd.read_csv(out / "morris_indices.csv")
    assert list(raw.columns)[:5] == ["output", "parameter", "mu_star", "mu_star_conf", "sigma"]
    table = raw.set_index("parameter")
    # ... and the effects are on them: per unit of the parameter's range, exactly, rounding or not
    assert table.loc["x1", "mu_star"] == pytest.approx(4.0, rel=1e-6)
    assert table.loc["x2", "mu_star"] == pytest.approx(1.0, rel=1e-6)
    assert table.loc["dealers", "mu_star"] == pytest.approx(1.0, rel=1e-9)  # 0.01 x (150 - 50)
    assert table.loc["x4", "mu_star"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["x1", "sigma"] == pytest.approx(0.0, abs=1e-9)  # linear: no spread
    assert table.loc["dealers", "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert (out / "morris_y.png").exists()
    assert info_caveats(out) == []  # 20 trajectories


def info_caveats(out: Path) -> list[str]:
    return json.loads((out / "analysis.json").read_text())["caveats"]


def test_a_morris_design_with_few_trajectories_is_flagged(tmp_path):
    from sim.analysis import MORRIS_MIN_TRAJECTORIES, caveat_line

    experiment = morris_design(3, X1, X2)
    out = analyze(synthetic_sweep(tmp_path, experiment, lambda x1, x2: 4 * x1 + x2 ** 2))
    assert np.isfinite(pd.read_csv(out / "morris_indices.csv")["mu_star"]).all()  # still computed and written
    (caveat,) = info_caveats(out)
    assert caveat.startswith("r = 3 trajectories is too few for stable Morris indices")
    assert f"about {MORRIS_MIN_TRAJECTORIES} or more" in caveat and "[design].trajectories" in caveat
    assert caveat_line(json.loads((out / "analysis.json").read_text())) == caveat
    assert f"  warning: {caveat}" in format_summary(out).splitlines()


@pytest.mark.parametrize("levels", [4, 6])
def test_morris_effect_of_a_small_integer_range_is_the_truth(tmp_path, levels):
    """Roadside level 1-3 on 4 levels: SALib samples 1, 1.67, 2.33, 3 (steps of 1.33) and the model runs 1, 2, 2, 3
    (steps of 1). A response linear in the level, from 0 at 1 to 1 at 3, has mu* = 1 over the range; effects on
    SALib's sample gave 0.75."""
    experiment = f"""
[design]
kind = "morris"
trajectories = 12
levels = {levels}
[[parameters]]
path = "brands.Lexus.service.roadside_level"
name = "roadside"
range = [1, 3]
[[parameters]]
path = "choice.inertia"
name = "x"
range = [0, 1]
"""
    folder = synthetic_sweep(tmp_path, experiment, lambda roadside, x: (roadside - 1) / 2 + 0.5 * x)
    assert set(pd.read_parquet(folder / "design.parquet")["roadside"]) <= {1, 2, 3}
    table = pd.read_csv(analyze(folder) / "morris_indices.csv").set_index("parameter")
    assert table.loc["roadside", "mu_star"] == pytest.approx(1.0, rel=1e-9)
    assert table.loc["roadside", "mu"] == pytest.approx(1.0, rel=1e-9)
    assert table.loc["roadside", "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["x", "mu_star"] == pytest.approx(0.5, rel=1e-9)


def test_morris_statistics_are_salib_s_for_number_parameters():
    """Where nothing is rounded, effects on the values run are SALib's, and so are mu, mu*, sigma and the bootstrap
    interval (the same draws for the same seed)."""
    from SALib.analyze import morris as salib_morris
    from SALib.sample import morris as salib_sample

    from sim.analysis import NUM_RESAMPLES, morris_indices

    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0.0, 1.0], [-2.0, 5.0], [10.0, 20.0]]}
    x = salib_sample.sample(problem, 15, num_levels=4, seed=2)
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + 0.1 * x[:, 0] * x[:, 2]
    ours = morris_indices(problem, x, x, {"y": y}, seed=9)[0].set_index("parameter")
    theirs = salib_morris.analyze(problem, x, y, num_levels=4, num_resamples=NUM_RESAMPLES, conf_level=0.95,
                                  seed=9)
    for k, name in enumerate(problem["names"]):
        for stat in ("mu", "mu_star", "sigma", "mu_star_conf"):
            assert ours.loc[name, stat] == pytest.approx(theirs[stat][k], rel=1e-9, abs=1e-12)


GRID_X1 = """
replications = 4
[design]
kind = "grid"
[[parameters]]
path = "choice.inertia"
name = "x1"
values = [0.5, 1.0, 2.0]
"""  # a 3-point grid of 4 replications


def test_grid_summary_has_mean_and_t_interval_per_point(tmp_path):
    experiment = GRID_X1 + """[[parameters]]
path = "brands.Lexus.service.loaner_cars"
name = "loaners"
values = [false, true]
"""
    folder = synthetic_sweep(tmp_path, experiment, lambda x1, loaners: 10 * x1 + (5 if loaners else 0), noise=1.0)
    out = analyze(folder)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["point", "x1", "loaners", "output", "runs", "mean", "sd", "ci_low", "ci_high"]
    assert len(summary) == 6 and (summary["runs"] == 4).all()
    runs = pd.read_parquet(folder / "outputs")
    for point, group in runs.groupby("point"):
        row = summary.set_index("point").loc[point]
        y = group["y"].to_numpy()
        half = 3.182446305284263 * y.std(ddof=1) / 2  # t(0.975, 3) x sd / sqrt(4)
        assert row["mean"] == pytest.approx(y.mean(), rel=1e-8)
        assert row["ci_low"] == pytest.approx(y.mean() - half, rel=1e-8)
        assert row["ci_high"] == pytest.approx(y.mean() + half, rel=1e-8)
    assert not (out / "sobol_indices.csv").exists() and (out / "scatter_y.png").exists()
    assert analyze(folder) == out  # analysing again replaces the folder


def test_a_sobol_sweep_with_missing_points_is_not_analysed(tmp_path):
    folder = synthetic_sweep(tmp_path, SOBOL_ISHIGAMI.replace("1024", "8"), ishigami, drop_points={3, 4})
    with pytest.raises(AnalysisError, match="2 of 40 design points have no finished run.*--resume"):
        analyze(folder)
    assert not (folder / "analysis").exists()


@pytest.mark.parametrize("experiment", [GRID_X1, SOBOL_ISHIGAMI.replace("1024", "8")], ids=["grid", "sobol"])
def test_a_sweep_with_no_finished_run_is_not_analysed(tmp_path, experiment):
    """Issue #14: a grid sweep with no finished run was 'analysed' (an empty summary, exit 0). Whatever the design,
    nothing finished is refused in one line naming the folder and the way on, and no analysis/ is written."""
    points = len(plan(_written(tmp_path, experiment)).design)
    folder = synthetic_sweep(tmp_path, experiment, lambda *x: 1.0, drop_points=set(range(points)))
    with pytest.raises(AnalysisError) as info:
        analyze(folder)
    assert info.value.problems == [f"{folder}: none of its {points} design points has a finished run: nothing to "
                                   f"analyse yet; run them with --resume --out {folder}"]
    assert not (folder / "analysis").exists()


def _written(tmp_path: Path, experiment: str) -> Path:
    """The experiment file synthetic_sweep writes (to plan it before the sweep)."""
    path = tmp_path / "experiment.toml"
    path.write_text('scenario = "lexus_us_1989"\nseed = 3\n' + experiment + "\n[set]\nmarket.years = 4\n" + OUTPUT)
    return path


def test_an_output_with_nan_gets_nan_indices_and_a_warning(tmp_path):
    folder = synthetic_sweep(tmp_path, SOBOL_ISHIGAMI.replace("1024", "8"),
                             lambda x1, x2, x3: np.nan if x1 > 2 else x1 + x2)
    out = analyze(folder)
    assert pd.read_csv(out / "sobol_indices.csv")["S1"].isna().all()
    assert "not finite" in " ".join(json.loads((out / "analysis.json").read_text())["warnings"])


def test_summary_interval_counts_the_finite_runs_of_each_point(tmp_path):
    """The t interval of a point uses the runs where the output is a number: 4, 2 or 1 of 4 (then NaN)."""
    experiment = GRID_X1
    finite = {0.5: 4, 1.0: 2, 2.0: 1}  # finite replications per point (the first ones)
    calls = {}

    def f(x1):
        calls[x1] = calls.get(x1, 0) + 1
        return 10 * x1 if calls[x1] <= finite[x1] else np.nan

    folder = synthetic_sweep(tmp_path, experiment, f, noise=1.0)
    summary = pd.read_csv(analyze(folder) / "summary.csv").set_index("x1")
    runs = pd.read_parquet(folder / "outputs")
    assert (summary["runs"] == 4).all()
    for x1, n in finite.items():
        y = runs.loc[np.isclose(runs["x1"], x1), "y"].dropna().to_numpy()
        assert len(y) == n
        row = summary.loc[x1]
        if n < 2:
            assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"]) and row["mean"] == pytest.approx(y[0])
            continue
        low, high = stats.t.interval(0.95, n - 1, loc=y.mean(), scale=stats.sem(y))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-8)


GRID_2X3 = GRID_X1 + """[[parameters]]
path = "brands.Lexus.service.loaner_cars"
name = "loaners"
values = [false, true]
"""


@pytest.mark.parametrize("better", ["higher", "lower"])
def test_grid_best_point_and_main_effects_recover_a_known_answer(tmp_path, better):
    """y = 10 x1 + 5 loaners + noise: the best point is (2.0, true) (higher) or (0.5, false) (lower); the main
    effect of x1 at a level is 10 x1 + 2.5 (loaners half the time), of loaners 10 * mean(x1) + 5 loaners."""
    output = OUTPUT + f'better = "{better}"\n'
    folder = synthetic_sweep(tmp_path, GRID_2X3, lambda x1, loaners: 10 * x1 + (5 if loaners else 0), noise=0.5,
                             output=output)
    out = analyze(folder)
    best = pd.read_csv(out / "best_points.csv")
    assert list(best.columns) == ["output", "better", "point", "x1", "loaners", "runs", "mean", "ci_low", "ci_high",
                                  "overlapping"]
    row = best.iloc[0]
    truth = (2.0, True, 25.0) if better == "higher" else (0.5, False, 5.0)
    assert (row["x1"], bool(row["loaners"])) == truth[:2] and row["better"] == better
    assert row["mean"] == pytest.approx(truth[2], abs=1) and row["overlapping"] == 0  # 5 apart, noise 0.5
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    summary = pd.read_csv(out / "summary.csv")
    assert row["mean"] == summary.loc[summary["point"] == row["point"], "mean"].item()
    effects = pd.read_csv(out / "main_effects.csv")
    assert list(effects.columns) == ["output", "parameter", "level", "points", "runs", "mean", "ci_low", "ci_high"]
    x1 = effects[effects["parameter"] == "x1"]
    assert x1["level"].astype(float).tolist() == [0.5, 1.0, 2.0] and (x1["points"] == 2).all()
    assert (x1["runs"] == 8).all()
    for r in x1.itertuples():
        truth = 10 * float(r.level) + 2.5
        assert r.mean == pytest.approx(truth, abs=0.6) and r.ci_low < r.mean < r.ci_high < r.ci_low + 2
    loaners = effects[effects["parameter"] == "loaners"].set_index("level")["mean"]
    assert loaners.to_dict() == pytest.approx({"False": 35 / 3, "True": 35 / 3 + 5}, abs=0.5)
    text = format_summary(out)
    where = f"(x1 = {row['x1']:g}, loaners = {row['loaners']})"
    assert f"y ({better} is better): best at point {int(row['point'])} {where}" in text, text
    assert "main effect of x1: 0.5: " in text and "main effect of loaners: False: " in text, text
    assert f": {row['mean'] * 100:,.1f}% 95% CI [" in text, text  # in the output's unit (sales_share: a percentage)


def test_main_effect_interval_is_the_pooled_replication_noise():
    """Two points at a level, 3 and 2 runs: the mean of their means, t interval with Welch-Satterthwaite df."""
    from sim.analysis import main_effects

    runs = pd.DataFrame({"point": [0, 0, 0, 1, 1, 2, 2], "y": [1.0, 2.0, 3.0, 10.0, 12.0, 7.0, 7.0]})
    design = pd.DataFrame({"point": [0, 1, 2], "a": ["u", "u", "v"]})
    effects = main_effects(runs, design, ["y"], ["a"]).set_index("level")
    v = np.array([1.0 / 3, 2.0 / 2])  # s^2 / n per point
    df = v.sum() ** 2 / (v[0] ** 2 / 2 + v[1] ** 2 / 1)
    half = stats.t.ppf(0.975, df) * np.sqrt(v.sum()) / 2
    assert effects.loc["u", "mean"] == pytest.approx(6.5)
    assert (effects.loc["u", "ci_low"], effects.loc["u", "ci_high"]) == pytest.approx((6.5 - half, 6.5 + half))
    assert effects.loc["v", "ci_low"] == effects.loc["v", "ci_high"] == 7.0  # replications agree: no noise
    assert effects.loc["u", "runs"] == 5 and effects.loc["v", "points"] == 1
