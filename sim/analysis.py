"""Sensitivity analysis of a sweep folder (``sim/sweep.py``, ``sim/sweep_folder.py``): SALib indices, tidy summaries,
plots, CSV.

``analyze(sweep_dir)`` writes ``sweep_dir/analysis/`` (built in a temporary folder, then renamed into place):

* ``summary.csv``: per design point and output: parameter values, runs, mean, sd, 95% CI of the mean over
  replications (t interval); every design;
* ``sobol_indices.csv`` (sobol designs): output, parameter, S1, S1_conf, ST, ST_conf (SALib.analyze.sobol,
  95% bootstrap intervals) and ``sobol_second_order.csv`` when sampled for it;
* ``morris_indices.csv`` (morris designs): output, parameter, mu_star, mu_star_conf, sigma, mu: the statistics of
  SALib.analyze.morris, from elementary effects on the values the model ran (an integer parameter's rounded
  steps, not SALib's unrounded ones: :func:`elementary_effects`);
* ``sobol_<output>.png`` / ``morris_<output>.png``: index bar charts with CI error bars;
  ``scatter_<output>.png``: the output against each parameter (one dot per design point, mean over
  replications);
* ``best_points.csv`` (grid designs): per output, the best design point (highest mean, or lowest for an output
  with ``better = "lower"``), its parameter values, mean and 95% interval over its replications, and how many other
  points' intervals overlap it (points it cannot be told apart from);
* ``main_effects.csv`` (grid designs): per output, parameter and level, the mean output over the design points at
  that level (the other parameters at every one of their levels), with a 95% interval from the replications
  (:func:`main_effects`);
* ``analysis.json``: what was analysed, and warnings (e.g. an output that is NaN at some design point), among
  them the ``caveats`` on the indices, also on their charts and one line on the CLI's stderr: a sample too small for
  stable indices (Sobol' N below :data:`SOBOL_MIN_SAMPLES`, Morris r below :data:`MORRIS_MIN_TRAJECTORIES`) and
  Sobol' indices or intervals outside [0, 1] (``noisy_outputs``: estimation noise; :func:`sobol_caveats`).

Indices are computed on the mean output per design point (averaged over its replications). Replication noise
left in those means shows up as index mass (S1 of a parameter that does nothing, sum of S1 above 1): use more
replications or a larger population when the outputs are noisy.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sim.files import atomic_folder
from sim.scenario_files import ScenarioError
from sim.stats import CONFIDENCE, t_half_width
from sim.sweep_folder import chunk_files, read_manifest, read_outputs, read_table

NUM_RESAMPLES = 1000  # bootstrap resamples for SALib's confidence intervals (at sim.stats.CONFIDENCE)
FLOAT_FORMAT = "%.10g"  # CSV numbers: 10 significant digits (profits run to billions)
# Below these a sample is too small for stable indices (a caveat, the numbers are still written): Sobol' base
# samples N (Saltelli et al. and SALib's examples use hundreds to thousands, e.g. N = 1024) and Morris
# trajectories r (Campolongo et al. 2007 and Saltelli et al. 2008: about 10 or more).
SOBOL_MIN_SAMPLES = 64
MORRIS_MIN_TRAJECTORIES = 10
# A Sobol' index lies in [0, 1]: an estimate that reads outside it to 2 decimals (as printed), or a 95% interval
# reaching more than INDEX_SLACK beyond it, is estimation noise and flagged (an inert parameter's interval reaching
# a few hundredths below 0 is normal and is not).
INDEX_SLACK = 0.1


class AnalysisError(ScenarioError):
    """The sweep folder cannot be analysed (missing runs, duplicates ...): one line per problem."""


def point_means(folder: Path, manifest: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(runs, per-point table, output names): the finished ok runs, and per design point x output the mean,
    sd and 95% CI of the mean over replications (tidy: one row per point x output)."""
    folder = Path(folder)
    manifest = manifest or read_manifest(folder)
    outputs = [o["name"] for o in manifest["experiment"]["outputs"]]
    params = [p["name"] for p in manifest["design"]["parameters"]]
    design = read_table(folder / "design.parquet")
    runs = read_outputs(folder)
    dup = runs.duplicated(["point", "replication"])
    if dup.any():
        raise AnalysisError([f"{folder}: {int(dup.sum())} runs appear more than once in outputs/"])
    ok = runs[runs["status"] == "ok"]
    long = ok.melt(id_vars=["point", "replication"], value_vars=outputs, var_name="output", value_name="value")
    grouped = long.groupby(["point", "output"], sort=True)["value"]
    stats = grouped.agg(runs="size", finite="count", mean="mean", sd="std").reset_index()
    n = stats.pop("finite").to_numpy(dtype=float)  # the interval counts the runs where the output is a number
    half = t_half_width(stats["sd"].to_numpy(), n, CONFIDENCE)  # NaN with fewer than two finite runs
    stats["ci_low"] = stats["mean"] - half
    stats["ci_high"] = stats["mean"] + half
    # every (point, output), also points with no finished run (runs = 0, mean NaN)
    full = pd.MultiIndex.from_product([design["point"], outputs], names=["point", "output"]).to_frame(index=False)
    stats = full.merge(stats, on=["point", "output"], how="left")
    stats["runs"] = stats["runs"].fillna(0).astype(np.int64)
    stats["output"] = pd.Categorical(stats["output"], categories=outputs, ordered=True)
    stats = stats.sort_values(["output", "point"]).reset_index(drop=True)
    stats["output"] = stats["output"].astype(str)
    summary = design[["point", *params]].merge(stats, on="point", how="right")
    return ok, summary, outputs


def _point_moments(runs: pd.DataFrame, output: str) -> pd.DataFrame:
    """Per design point: ``n`` (finite runs of ``output``), ``mean`` and ``var`` (ddof 1, NaN with one run)."""
    values = runs[["point", output]].dropna()
    return values.groupby("point")[output].agg(n="count", mean="mean", var="var").reset_index()


def best_points(summary: pd.DataFrame, params: list[str], better: dict[str, str]) -> pd.DataFrame:
    """The best design point of each output: the highest mean (``better[output] == "lower"``: the lowest) over the
    points with a finite mean, with its 95% interval over replications (``summary``: :func:`point_means`'s table)
    and ``overlapping``: how many other points' intervals overlap it (their difference is not established; NaN
    where the best has no interval). An output finite nowhere gets a row of NaN (point -1)."""
    rows = []
    for output, direction in better.items():
        table = summary[(summary["output"] == output) & np.isfinite(summary["mean"].astype(float))]
        row = {"output": output, "better": direction}
        if table.empty:
            rows.append(row | {"point": -1} | {p: None for p in params}
                        | dict(runs=0, mean=np.nan, ci_low=np.nan, ci_high=np.nan, overlapping=np.nan))
            continue
        best = table.loc[table["mean"].idxmax() if direction == "higher" else table["mean"].idxmin()]
        others = table[table["point"] != best["point"]]
        overlap = np.nan
        if np.isfinite(best["ci_low"]) and np.isfinite(best["ci_high"]):
            overlap = int(((others["ci_high"] >= best["ci_low"]) & (others["ci_low"] <= best["ci_high"])).sum())
        rows.append(row | {"point": int(best["point"])} | {p: best[p] for p in params}
                    | dict(runs=int(best["runs"]), mean=best["mean"], ci_low=best["ci_low"], ci_high=best["ci_high"],
                           overlapping=overlap))
    columns = ["output", "better", "point", *params, "runs", "mean", "ci_low", "ci_high", "overlapping"]
    return pd.DataFrame(rows, columns=columns)


def main_effects(runs: pd.DataFrame, design: pd.DataFrame, outputs: list[str], params: list[str]) -> pd.DataFrame:
    """Main effects of a grid: per output, parameter and level, the mean over the design points at that level of
    each point's mean output (a full factorial: every combination of the other parameters' levels, equally
    weighted), with a 95% t interval from replication noise: the variance of that mean is sum(s_i^2 / n_i) / k^2
    over its k points, with Welch-Satterthwaite degrees of freedom. The interval is NaN when a point has fewer
    than two finite runs, 0 wide when the replications agree exactly. ``points``: design points with a finite
    mean at that level; ``runs``: their finite runs.

    Args:
        runs: the finished ok runs (one row per run: point, parameter values, outputs).
        design: the design table (point and one column per parameter).
        outputs, params: output and parameter column names.

    Returns:
        Columns output, parameter, level, points, runs, mean, ci_low, ci_high: one row per output x parameter x
        level, levels in the design's order.
    """
    from scipy import stats as sstats

    rows = []
    for output in outputs:
        moments = design[["point", *params]].merge(_point_moments(runs, output), on="point", how="inner")
        for param in params:
            for level in pd.unique(design[param]):
                at = moments[moments[param] == level]
                k = len(at)
                mean, half = (at["mean"].mean(), np.nan) if k else (np.nan, np.nan)
                if k and (at["n"] >= 2).all():
                    v = (at["var"] / at["n"]).to_numpy(dtype=float)
                    total = v.sum()
                    if total == 0:
                        half = 0.0
                    else:
                        df = total ** 2 / np.sum(v ** 2 / (at["n"].to_numpy(dtype=float) - 1))
                        half = sstats.t.ppf(0.5 + CONFIDENCE / 2, df) * math.sqrt(total) / k
                rows.append(dict(output=output, parameter=param, level=level, points=k, runs=int(at["n"].sum()),
                                 mean=mean, ci_low=mean - half, ci_high=mean + half))
    return pd.DataFrame(rows, columns=["output", "parameter", "level", "points", "runs", "mean", "ci_low", "ci_high"])


def _mean_matrix(summary: pd.DataFrame, output: str, n_points: int) -> np.ndarray:
    rows = summary[summary["output"] == output].sort_values("point")
    y = np.full(n_points, np.nan)
    y[rows["point"].to_numpy()] = rows["mean"].to_numpy(dtype=float)
    return y


def sobol_indices(problem: dict, y_by_output: dict[str, np.ndarray], second_order: bool, seed: int | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """SALib Sobol' indices per output: (first/total table, second-order table, warnings)."""
    from SALib.analyze import sobol

    rows, rows2, warnings = [], [], []
    names = problem["names"]
    for output, y in y_by_output.items():
        if not np.all(np.isfinite(y)):
            warnings.append(f"{output}: not finite at {int((~np.isfinite(y)).sum())} design points: no Sobol indices")
            rows += [dict(output=output, parameter=n, S1=np.nan, S1_conf=np.nan, ST=np.nan, ST_conf=np.nan)
                     for n in names]
            continue
        if np.ptp(y) == 0:
            warnings.append(f"{output}: the same at every design point: indices are 0")
            rows += [dict(output=output, parameter=n, S1=0.0, S1_conf=0.0, ST=0.0, ST_conf=0.0) for n in names]
            continue
        si = sobol.analyze({"num_vars": problem["num_vars"], "names": names, "bounds": problem["bounds"]}, y,
                           calc_second_order=second_order, num_resamples=NUM_RESAMPLES, conf_level=CONFIDENCE,
                           print_to_console=False, seed=seed)
        for k, n in enumerate(names):
            rows.append(dict(output=output, parameter=n, S1=si["S1"][k], S1_conf=si["S1_conf"][k],
                             ST=si["ST"][k], ST_conf=si["ST_conf"][k]))
        if second_order:
            for a in range(len(names)):
                for b in range(a + 1, len(names)):
                    rows2.append(dict(output=output, parameter_1=names[a], parameter_2=names[b],
                                      S2=si["S2"][a, b], S2_conf=si["S2_conf"][a, b]))
    cols2 = ["output", "parameter_1", "parameter_2", "S2", "S2_conf"]
    return (pd.DataFrame(rows, columns=["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"]),
            pd.DataFrame(rows2, columns=cols2), warnings)


def sobol_base_samples(design_info: dict) -> int:
    """N, the base samples of a Sobol' design: its points / (D + 2), or / (2D + 2) when sampled for second order."""
    d = len(design_info["parameters"])
    return int(design_info["points"]) // (2 * d + 2 if design_info.get("second_order") else d + 2)


def sobol_caveats(table: pd.DataFrame, base_samples: int) -> tuple[list[str], list[str]]:
    """Caveats on Sobol' indices (``table``: :func:`sobol_indices`'s), the numbers left as they are: (lines, the
    outputs flagged). A base sample below :data:`SOBOL_MIN_SAMPLES`, and per output the indices that read outside
    [0, 1] to 2 decimals or whose 95% interval reaches more than :data:`INDEX_SLACK` beyond it (no variance share
    can be there: estimation noise)."""
    caveats, noisy = [], []
    if base_samples < SOBOL_MIN_SAMPLES:
        caveats.append(f"N = {base_samples} base samples is too few for stable Sobol' indices (this check wants at "
                       f"least {SOBOL_MIN_SAMPLES}; Saltelli et al. and SALib's examples use hundreds to thousands, "
                       f"e.g. N = 1024): raise [design].samples (a power of 2) and read the intervals")
    for output, rows in table.groupby("output", sort=False):
        odd = []
        for r in rows.itertuples():
            for index in ("S1", "ST"):
                value, half = float(getattr(r, index)), float(getattr(r, f"{index}_conf"))
                if not np.isfinite(value):
                    continue
                low, high = (value - half, value + half) if np.isfinite(half) else (value, value)
                shown = float(f"{value:.2f}")  # as the summary prints it
                if shown < 0 or shown > 1 or low < -INDEX_SLACK or high > 1 + INDEX_SLACK:
                    odd.append(f"{r.parameter} {index} {value:.2f}"
                               + (f" (95% CI {low:.2f} to {high:.2f})" if np.isfinite(half) else ""))
        if odd:
            noisy.append(str(output))
            caveats.append(f"{output}: Sobol' indices or their intervals outside [0, 1], where no index can be: "
                           f"{', '.join(odd)}; that is estimation noise (too small a sample, or replication noise "
                           f"in the means), not an effect")
    return caveats, noisy


def caveat_line(info: dict) -> str | None:
    """The one line a terminal gets on stderr when an analysis has caveats (``info``: its ``analysis.json``):
    the first, then the outputs whose indices lie outside [0, 1]; None without caveats."""
    caveats, noisy = info.get("caveats", []), info.get("noisy_outputs", [])
    if not caveats:
        return None
    if len(caveats) == len(noisy):  # only indices outside [0, 1]
        return (f"Sobol' indices or their intervals outside [0, 1] (estimation noise, not effects) for "
                f"{', '.join(noisy)}: see the warnings under the indices")
    more = f"; and indices or intervals outside [0, 1] (estimation noise) for {', '.join(noisy)}" if noisy else ""
    return f"{caveats[0]}{more}"


def morris_caveats(trajectories: int) -> list[str]:
    """A caveat when a Morris design has fewer than :data:`MORRIS_MIN_TRAJECTORIES` trajectories (each parameter's
    mu*, sigma and interval come from that many elementary effects)."""
    if trajectories >= MORRIS_MIN_TRAJECTORIES:
        return []
    return [f"r = {trajectories} trajectories is too few for stable Morris indices (each parameter's mu*, sigma and "
            f"interval rest on {trajectories} elementary effects; Campolongo et al. 2007 and Saltelli et al. 2008 "
            f"suggest about {MORRIS_MIN_TRAJECTORIES} or more): raise [design].trajectories"]


def elementary_effects(problem: dict, sample: np.ndarray, run: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Morris elementary effects on the values the model ran (Morris 1991; Campolongo et al. 2007).

    SALib's Morris design is ``r`` trajectories of D + 1 points, one parameter moving at each step. The effect of
    the step is (y after - y before) / (the parameter's change as run, as a fraction of its range). SALib's own
    ``analyze`` divides by the step it sampled instead; for an integer parameter the model ran the rounded value,
    whose step differs (roadside level 1-3 on 4 levels samples steps of 1.33 but runs steps of 1), so SALib's
    effect of a linear response is 0.75 of the truth there. For a number parameter the two agree.

    Args:
        problem: the SALib problem (``num_vars``, ``bounds``: each parameter's [low, high] as run).
        sample: SALib's sample, one row per design point (trajectory by trajectory), shape (r * (D + 1), D).
        run: the values the model ran (integers rounded), the same shape.
        y: the output per design point, shape (r * (D + 1),).

    Returns:
        Shape (D, r): each parameter's effect in each trajectory, in output units per whole range of the
        parameter; NaN where the step as run is 0 (a rounded parameter that did not move: never for Morris levels
        within the range, kept for safety).
    """
    d = int(problem["num_vars"])
    width = np.array([high - low for low, high in problem["bounds"]], dtype=float)
    r = y.size // (d + 1)
    moved = np.abs(np.diff(np.asarray(sample, float).reshape(r, d + 1, d), axis=1)).argmax(axis=2)  # (r, d) steps
    steps = np.diff(np.asarray(run, float).reshape(r, d + 1, d), axis=1)
    step = np.take_along_axis(steps, moved[:, :, None], axis=2)[:, :, 0] / width[moved]
    dy = np.diff(np.asarray(y, float).reshape(r, d + 1), axis=1)
    effects = np.full((d, r), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        effects[moved, np.arange(r)[:, None]] = np.where(step != 0, dy / step, np.nan)
    return effects


def morris_statistics(effects: np.ndarray, confidence: float = CONFIDENCE, num_resamples: int = NUM_RESAMPLES,
                      seed: int | None = None) -> dict[str, np.ndarray]:
    """mu (mean effect), mu_star (mean absolute effect), sigma (standard deviation, ddof 1) and mu_star_conf (the
    half-width of mu_star's interval: the normal quantile times the standard deviation of mu_star over
    ``num_resamples`` bootstrap resamples of the effects), per parameter (rows of ``effects``, NaN effects left
    out), as SALib computes them, with the same bootstrap draws for the same ``seed``."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    out = {k: np.full(effects.shape[0], np.nan) for k in ("mu", "mu_star", "sigma", "mu_star_conf")}
    for j, row in enumerate(effects):
        ee = row[~np.isnan(row)]
        if ee.size == 0:
            continue
        out["mu"][j], out["mu_star"][j] = ee.mean(), np.abs(ee).mean()
        out["sigma"][j] = ee.std(ddof=1) if ee.size > 1 else np.nan
        resampled = np.abs(ee[rng.integers(ee.size, size=(num_resamples, ee.size))]).mean(axis=1)
        out["mu_star_conf"][j] = norm.ppf(0.5 + confidence / 2) * resampled.std(ddof=1)
    return out


def morris_indices(problem: dict, sample: np.ndarray, run: np.ndarray, y_by_output: dict[str, np.ndarray],
                   seed: int | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Morris screening per output: mu*, its CI, sigma, mu, from the elementary effects on the values run
    (:func:`elementary_effects`, :func:`morris_statistics`). ``sample`` is SALib's sample, ``run`` the design's
    values (integers rounded)."""
    rows, warnings = [], []
    names = problem["names"]
    for output, y in y_by_output.items():
        if not np.all(np.isfinite(y)):
            warnings.append(f"{output}: not finite at {int((~np.isfinite(y)).sum())} design points: no Morris indices")
            rows += [dict(output=output, parameter=n, mu_star=np.nan, mu_star_conf=np.nan, sigma=np.nan, mu=np.nan)
                     for n in names]
            continue
        effects = elementary_effects(problem, sample, run, np.asarray(y, dtype=float))
        still = np.isnan(effects).sum(axis=1)
        warnings += [f"{output}: {int(k)} steps of {n} moved no whole number as run: left out"
                     for n, k in zip(names, still) if k]
        si = morris_statistics(effects, seed=seed)
        for k, n in enumerate(names):
            rows.append(dict(output=output, parameter=n, mu_star=si["mu_star"][k], mu_star_conf=si["mu_star_conf"][k],
                             sigma=si["sigma"][k], mu=si["mu"][k]))
    return pd.DataFrame(rows, columns=["output", "parameter", "mu_star", "mu_star_conf", "sigma", "mu"]), warnings


# --------------------------------------------------------------------------------------------------------
# Plots (matplotlib's Agg canvas directly: no pyplot state, no display needed)
# --------------------------------------------------------------------------------------------------------
def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _sobol_plot(table: pd.DataFrame, output: str, path: Path, caveat: str | None = None) -> None:
    rows = table[table["output"] == output].sort_values("ST", ascending=True, na_position="first")
    n = len(rows)
    fig = _figure(7, 1.2 + 0.45 * n)
    ax = fig.add_subplot()
    ypos = np.arange(n)
    h = 0.38
    ax.barh(ypos + h / 2, rows["ST"], height=h, xerr=rows["ST_conf"], capsize=3, color="#c44e52", label="total (ST)")
    ax.barh(ypos - h / 2, rows["S1"], height=h, xerr=rows["S1_conf"], capsize=3, color="#4c72b0",
            label="first order (S1)")
    ax.set_yticks(ypos, rows["parameter"])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"Sobol' index (bars: {CONFIDENCE:.0%} confidence interval)")
    ax.set_title(f"{output}: Sobol' sensitivity indices")
    if caveat:  # on the chart itself, where the bars are read
        import textwrap

        fig.suptitle(textwrap.fill(f"Caveat: {caveat}", 100), fontsize=8, color="#b22222")
    ax.legend(loc="lower right", frameon=False)
    fig.savefig(path)


def _morris_plot(table: pd.DataFrame, output: str, path: Path, caveat: str | None = None) -> None:
    rows = table[table["output"] == output].sort_values("mu_star", ascending=True, na_position="first")
    n = len(rows)
    fig = _figure(11, 1.4 + 0.45 * n)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.barh(np.arange(n), rows["mu_star"], xerr=rows["mu_star_conf"], capsize=3, color="#4c72b0")
    ax1.set_yticks(np.arange(n), rows["parameter"])
    ax1.set_xlabel(f"mu* (mean |elementary effect|, bars: {CONFIDENCE:.0%} CI)")
    ax1.set_title(f"{output}: Morris mu*")
    ax2.scatter(rows["mu_star"], rows["sigma"], color="#c44e52")
    for _, r in rows.iterrows():
        ax2.annotate(r["parameter"], (r["mu_star"], r["sigma"]), fontsize=8, xytext=(3, 3), textcoords="offset points")
    top = np.nanmax(np.r_[rows["mu_star"].to_numpy(), rows["sigma"].to_numpy(), 0.0]) if n else 0.0
    if np.isfinite(top) and top > 0:
        ax2.plot([0, top], [0, top], color="grey", linewidth=0.8, linestyle="--", label="sigma = mu*")
        ax2.legend(loc="upper left", frameon=False)
    ax2.set_xlabel("mu*")
    ax2.set_ylabel("sigma (non-linearity, interactions)")
    ax2.set_title("mu* vs sigma")
    if caveat:
        import textwrap

        fig.suptitle(textwrap.fill(f"Caveat: {caveat}", 140), fontsize=8, color="#b22222")
    fig.savefig(path)


def _scatter_plot(summary: pd.DataFrame, params: list[dict], output: str, path: Path) -> None:
    import seaborn as sns

    rows = summary[summary["output"] == output]
    k = len(params)
    cols = min(k, 3)
    nrows = math.ceil(k / cols)
    fig = _figure(4.2 * cols, 3.4 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    levels = False
    for ax, p in zip(axes, params):
        name = p["name"]
        if p["kind"] in ("int", "float") and rows[name].nunique() > 6:
            sns.scatterplot(data=rows, x=name, y="mean", ax=ax, s=14, alpha=0.7, edgecolor=None, color="#4c72b0")
        else:  # few levels: one column per value, labelled compactly, in numeric order
            values = sorted(rows[name].dropna().unique())
            labels = {v: (f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)) for v in values}
            data = rows.assign(_level=rows[name].map(labels))
            order = [labels[v] for v in values]
            sns.pointplot(data=data, x="_level", y="mean", order=order, ax=ax, errorbar=("ci", 95), color="#4c72b0",
                          linestyle="none")
            sns.stripplot(data=data, x="_level", y="mean", order=order, ax=ax, size=3, alpha=0.5, color="grey")
            levels = True
        ax.set_ylabel(output)
        ax.set_xlabel(name)
    for ax in axes[k:]:
        ax.set_visible(False)
    note = "dots: design points (mean over replications)"
    if levels:
        note = "grey: design points (mean over replications); blue: their mean and 95% CI at each value"
    fig.suptitle(f"{output} against each parameter\n{note}", fontsize=10)
    fig.savefig(path)


# --------------------------------------------------------------------------------------------------------
def analyze(sweep_dir: str | Path) -> Path:
    """Analyse a sweep folder; write ``<sweep_dir>/analysis/`` (replacing an earlier one) and return it.

    A sweep that is only partly done can still be analysed if it is a grid or LHS design (the summary says how
    many runs each point has).

    Args:
        sweep_dir: a sweep folder written by :func:`sim.sweep.run_sweep`.

    Returns:
        ``sweep_dir/analysis``, holding for Sobol designs ``sobol_indices.csv`` (output, parameter, S1, S1_conf,
        ST, ST_conf) and bar charts; for Morris designs ``morris_indices.csv`` (output, parameter, mu_star,
        mu_star_conf, sigma, mu) and charts; for every design ``summary.csv`` (per design point x output: runs,
        mean, sd, 95% t interval of the mean over its finite runs), scatter plots and ``analysis.json``.

    Raises:
        AnalysisError: (a ScenarioError: one line per problem) the folder is not a sweep, a run appears twice,
            no design point has a finished run, or a Sobol/Morris sweep still has design points with no finished run
            (finish it with ``--resume``);
            the CLI prints the lines and exits 2.

    The CLI should print the analysis folder, then ``format_summary(folder)``: per output, the parameters
    ranked by total Sobol' index (or Morris mu*), and any warnings.
    """
    folder = Path(sweep_dir)
    manifest = read_manifest(folder)
    design_info = manifest["design"]
    kind = design_info["kind"]
    params = design_info["parameters"]
    seed = int(manifest["root_seed"]) % (2**32)
    runs, summary, outputs = point_means(folder, manifest)
    n_points = int(design_info["points"])
    counts = summary.drop_duplicates("point").set_index("point")["runs"]
    empty = int((counts == 0).sum())
    warnings: list[str] = []
    caveats: list[str] = []  # the indices' (also among the warnings): too small a sample, values out of range
    noisy: list[str] = []
    if empty == n_points:  # nothing finished: no design gives an analysis of nothing
        raise AnalysisError([f"{folder}: none of its {n_points} design points has a finished run: nothing to analyse "
                             f"yet; run them with --resume --out {folder}"])
    if kind in ("sobol", "morris") and empty:
        raise AnalysisError([f"{folder}: {empty} of {n_points} design points have no finished run; a {kind} analysis "
                             f"needs them all: finish the sweep with --resume --out {folder}"])
    if empty:
        warnings.append(f"{empty} of {n_points} design points have no finished run yet")
    errors = int(manifest.get("status_counts", {}).get("error", 0))
    if errors:
        warnings.append(f"{errors} runs raised an error (see runs.parquet); their outputs are left out")

    destination = folder / "analysis"
    files: list[str] = []
    with atomic_folder(destination, replace=True) as tmp:  # an earlier analysis is replaced whole
        summary.to_csv(tmp / "summary.csv", index=False, float_format=FLOAT_FORMAT)
        files.append("summary.csv")
        y = {o: _mean_matrix(summary, o, n_points) for o in outputs}
        problem = design_info.get("salib_problem")
        if kind == "sobol":
            table, table2, w = sobol_indices(problem, y, bool(design_info.get("second_order")), seed)
            base = sobol_base_samples(design_info)
            caveats, noisy = sobol_caveats(table, base)
            warnings += w + caveats
            table.to_csv(tmp / "sobol_indices.csv", index=False, float_format=FLOAT_FORMAT)
            files.append("sobol_indices.csv")
            if design_info.get("second_order"):
                table2.to_csv(tmp / "sobol_second_order.csv", index=False, float_format=FLOAT_FORMAT)
                files.append("sobol_second_order.csv")
            small = [f"N = {base} base samples, too few for stable indices"] if base < SOBOL_MIN_SAMPLES else []
            for o in outputs:
                said = small + (["indices outside [0, 1] are estimation noise"] if o in noisy else [])
                _sobol_plot(table, o, tmp / f"sobol_{o}.png", "; ".join(said) or None)
                files.append(f"sobol_{o}.png")
        elif kind == "morris":
            names = [p["name"] for p in params]
            x = read_table(folder / "sample.parquet")[names].to_numpy(dtype=float)
            ran = read_table(folder / "design.parquet").sort_values("point")[names].to_numpy(dtype=float)
            table, w = morris_indices(problem, x, ran, y, seed)
            trajectories = n_points // (len(names) + 1)
            caveats = morris_caveats(trajectories)
            warnings += w + caveats
            table.to_csv(tmp / "morris_indices.csv", index=False, float_format=FLOAT_FORMAT)
            files.append("morris_indices.csv")
            for o in outputs:
                _morris_plot(table, o, tmp / f"morris_{o}.png", f"r = {trajectories} trajectories, too few for "
                             f"stable indices" if caveats else None)
                files.append(f"morris_{o}.png")
        elif kind == "grid":
            names = [p["name"] for p in params]
            better = {o["name"]: o.get("better", "higher") for o in manifest["experiment"]["outputs"]}
            best_points(summary, names, better).to_csv(tmp / "best_points.csv", index=False,
                                                       float_format=FLOAT_FORMAT)
            effects = main_effects(runs, read_table(folder / "design.parquet"), outputs, names)
            effects["level"] = effects["level"].astype(object)
            effects.to_csv(tmp / "main_effects.csv", index=False, float_format=FLOAT_FORMAT)
            files += ["best_points.csv", "main_effects.csv"]
        for o in outputs:
            _scatter_plot(summary, params, o, tmp / f"scatter_{o}.png")
            files.append(f"scatter_{o}.png")
        info = {
            "sweep": str(folder), "design": kind, "points": n_points, "outputs": outputs,
            "metrics": {o["name"]: o["metric"] for o in manifest["experiment"]["outputs"]},
            "parameters": [p["name"] for p in params], "runs_used": int(len(runs)),
            "replications_per_point": {"min": int(counts.min()), "max": int(counts.max())},
            "chunks": len(chunk_files(folder)), "conf_level": CONFIDENCE, "num_resamples": NUM_RESAMPLES,
            "method": {"sobol": "SALib.analyze.sobol on the mean output per design point",
                       "morris": "Morris elementary effects (SALib's trajectories) on the values run (integers "
                                 "rounded) and the mean output per design point",
                       "grid": "summary, scatter plots, the best point per output and main effects (means over "
                               "the design points at each level, t intervals from the replications)",
                       }.get(kind, "summary and scatter plots"),
            "warnings": warnings, "caveats": caveats, "noisy_outputs": noisy, "files": files,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (tmp / "analysis.json").write_text(json.dumps(info, indent=2) + "\n")
    return destination


def format_summary(analysis_dir: str | Path, top: int = 3) -> str:
    """A few lines for the CLI: per output, the most influential parameters, then warnings."""
    folder = Path(analysis_dir)
    info = json.loads((folder / "analysis.json").read_text())
    lines = [f"{info['design']} design: {info['points']:,} points, {info['runs_used']:,} runs -> {folder}"]
    if (folder / "sobol_indices.csv").exists():
        table = pd.read_csv(folder / "sobol_indices.csv")
        for output, rows in table.groupby("output", sort=False):
            rows = rows.sort_values("ST", ascending=False).head(top)
            ranked = ", ".join(f"{r.parameter} ST {r.ST:.2f}±{r.ST_conf:.2f} (S1 {r.S1:.2f})"
                               for r in rows.itertuples())
            noise = " [indices or intervals outside [0, 1]: estimation noise, see the warnings]" \
                if str(output) in info.get("noisy_outputs", []) else ""
            lines.append(f"  {output}: {ranked}{noise}")
    elif (folder / "morris_indices.csv").exists():
        table = pd.read_csv(folder / "morris_indices.csv")
        for output, rows in table.groupby("output", sort=False):
            rows = rows.sort_values("mu_star", ascending=False).head(top)
            ranked = ", ".join(f"{r.parameter} mu* {r.mu_star:.3g}±{r.mu_star_conf:.2g} (sigma {r.sigma:.3g})"
                               for r in rows.itertuples())
            lines.append(f"  {output}: {ranked}")
    elif (folder / "best_points.csv").exists():
        lines += _grid_lines(folder, info)
    lines += [f"  warning: {w}" for w in info.get("warnings", [])]
    return "\n".join(lines)


def _grid_lines(folder: Path, info: dict) -> list[str]:
    """Per output: the best point (its values, mean and interval, and the points it cannot be told apart from),
    then each parameter's main effect, level by level."""
    from sim.formats import for_metric, interval

    def value(x) -> str:  # a parameter's value as the experiment wrote it: 0.5, 36, True, 'name'
        return f"{x:.6g}" if isinstance(x, (float, np.floating)) else str(x)

    best = pd.read_csv(folder / "best_points.csv", keep_default_na=False, na_values=[""])
    effects = pd.read_csv(folder / "main_effects.csv", keep_default_na=False, na_values=[""])
    params = info["parameters"]
    lines = []
    for r in best.itertuples(index=False):
        r = r._asdict()
        if r["point"] < 0:
            lines.append(f"  {r['output']}: no design point has a finite mean")
            continue
        where = ", ".join(f"{p} = {value(r[p])}" for p in params)
        write = for_metric(info.get("metrics", {}).get(r["output"], ""))  # in its unit: $10.05B, 20.4%
        ci = interval(r["ci_low"], r["ci_high"], write)
        tied = "" if pd.isna(r["overlapping"]) else (
            "; no other point's interval overlaps it" if r["overlapping"] == 0 else
            f"; {int(r['overlapping'])} other point(s) overlap it")
        lines.append(f"  {r['output']} ({r['better']} is better): best at point {r['point']} ({where}): "
                     f"{write(r['mean'])} {('95% CI ' + ci) if ci else '(no interval)'}{tied}")
        for param, rows in effects[effects["output"] == r["output"]].groupby("parameter", sort=False):
            levels = ", ".join(f"{value(x.level)}: {write(x.mean)}" for x in rows.itertuples())
            lines.append(f"    main effect of {param}: {levels}")
    return lines
