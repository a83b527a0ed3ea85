"""A calibration's result folder and its report, and writing fitted values into a scenario file.

A folder (``results/calibration/<name>/<time>/``, written whole or not at all) holds::

    parameters.csv     fitted value, standard error, 95% interval, identification, the moments that pin it
    fit.csv            every target: observed, simulated at the fit (mean, min and max over replications), z
    start_fit.csv      the same at the scenario's values before calibration
    sensitivity.csv    Λ: shift in each parameter if a target moved by one sd (Andrews, Gentzkow & Shapiro)
    information.csv    each target's share of the information on each parameter
    jacobian.csv       ∂(target on its error scale)/∂(parameter) at the fit, central differences, same seeds
    evaluations.parquet  every candidate evaluated: stage, distance, parameter values
    calibrated.toml    the fitted values as --set lines (``run_sim.py run --set ...``)
    fit.md             the parameters and the fit as Markdown tables (for docs/calibration.md)
    manifest.json      the calibration file, the seeds, the optimiser's outcome, package versions
    report.html        all of the above, with a fit plot
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from sim import moments  # noqa: E402
from sim.calibration import CalibrationResult  # noqa: E402
from sim.report import Figure, esc, figure_html, page, png_uri, provenance_html, table_html  # noqa: E402
from sim.results import ROOT, atomic_folder, provenance  # noqa: E402


def default_destination(name: str, started: datetime) -> Path:
    return ROOT / "results" / "calibration" / name / f"{started:%Y%m%dT%H%M%SZ}"


def run_label(folder: Path) -> str:
    """How a scenario file names the calibration run that set a value."""
    try:
        return str(Path(folder).resolve().relative_to(ROOT))
    except ValueError:
        return str(folder)


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    ax = abs(x)
    if ax >= 1e4:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:,.1f}"
    return f"{x:.3f}"


def _toml_scalar(v) -> str:
    return str(int(v)) if isinstance(v, (int, np.integer)) else repr(float(v))


def calibrated_toml(result: CalibrationResult, label: str) -> str:
    lines = [f"# Fitted by {label}", "# run_sim.py run --set <line> applies one; calibrate --apply writes them all."]
    lines += [f"{path} = {_toml_scalar(v)}" for path, v in result.values.items()]
    return "\n".join(lines) + "\n"


def manifest(result: CalibrationResult, started: datetime) -> dict:
    p = result.problem
    return {
        "calibration": p.spec.model_dump(mode="json"),
        "calibration_file": p.source,
        "base_scenario": p.base_raw,
        "seed": p.spec.seed,
        "replication_spawn_keys": [[r] for r in range(p.spec.replications)],
        "buyers_simulated": p.spec.buyers,
        "fitted": result.values,
        "distance_start": result.start.distance,
        "distance_fitted": result.fitted.distance,
        "evaluations": len(result.history),
        "nelder_mead": result.local,
        "backend": result.backend,
        "seconds": round(result.seconds, 1),
        **provenance(started),
    }


def write_calibration(destination: Path, result: CalibrationResult, started: datetime) -> Path:
    destination = Path(destination)
    label = run_label(destination)
    with atomic_folder(destination) as tmp:
        params = result.parameters()
        params.to_csv(tmp / "parameters.csv", index=False)
        fit = result.fit_table("fitted")
        fit.to_csv(tmp / "fit.csv", index=False)
        start = result.fit_table("start")
        start.to_csv(tmp / "start_fit.csv", index=False)
        result.sensitivity().to_csv(tmp / "sensitivity.csv")
        result.information_shares().to_csv(tmp / "information.csv")
        pd.DataFrame(result.jacobian, index=[t.name for t in result.problem.targets],
                     columns=result.problem.names).to_csv(tmp / "jacobian.csv")
        result.history_frame().to_parquet(tmp / "evaluations.parquet", index=False)
        (tmp / "calibrated.toml").write_text(calibrated_toml(result, label))
        man = manifest(result, started)
        (tmp / "manifest.json").write_text(json.dumps(man, indent=2, default=str))
        (tmp / "report.html").write_text(report_html(result, params, fit, start, man), encoding="utf-8")
        (tmp / "fit.md").write_text(fit_markdown(params, fit, start, man, label))
    return destination


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def fit_markdown(params: pd.DataFrame, fit: pd.DataFrame, start: pd.DataFrame, manifest: dict, label: str) -> str:
    """The parameters and the fit as Markdown (for docs/calibration.md)."""
    spec = manifest["calibration"]
    before = start.set_index("name")
    out = [f"Calibration run `{label}`: {manifest['evaluations']} evaluations x {spec['replications']} replications x "
           f"{spec['buyers']:,} buyers, SMM distance {manifest['distance_start']:,.1f} -> "
           f"{manifest['distance_fitted']:,.1f}.", ""]
    out.append(_md_table(
        ["parameter", "prior", "before", "fitted", "95% interval", "identification", "pinned by"],
        [[f"`{r.path}`", f"{_fmt(r.prior_low)}–{_fmt(r.prior_high)}", _fmt(r.start), f"**{_fmt(r.fitted)}**",
          f"{_fmt(r.ci_low)} – {_fmt(r.ci_high)}", r.identification + (" (at bound)" if r.at_bound else ""),
          str(r.pinned_by).replace(";", ",")] for r in params.itertuples()]))
    out += ["", _md_table(
        ["target", "observed", "before", "calibrated (range over replications)", "z"],
        [[r.name, _fmt(r.observed), _fmt(before.loc[r.name, "simulated"]),
          f"**{_fmt(r.simulated)}** ({_fmt(r.sim_low)} – {_fmt(r.sim_high)})", f"{r.z:+.2f}"]
         for r in fit.itertuples() if r.available])]
    return "\n".join(out) + "\n"


def folder_markdown(folder: Path) -> str:
    """fit_markdown of an existing calibration folder."""
    folder = Path(folder)
    man = json.loads((folder / "manifest.json").read_text())
    return fit_markdown(pd.read_csv(folder / "parameters.csv"), pd.read_csv(folder / "fit.csv"),
                        pd.read_csv(folder / "start_fit.csv"), man, run_label(folder))


# ---- the report ------------------------------------------------------------------------------------------
def plot_sales_fit(fit: pd.DataFrame, start: pd.DataFrame) -> Figure:
    rows = fit[fit["kind"].str.startswith("sales_") & fit["available"]].copy()
    rows["label"] = rows["brand"] + " " + rows["year"].astype(int).astype(str) + np.where(
        rows["kind"] == "sales_jan_nov", " (Jan–Nov)", "")
    rows["before"] = start.set_index("name").loc[rows["name"], "simulated"].to_numpy()
    rows = rows.sort_values(["brand", "year"])
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.2))
        y = np.arange(len(rows))
        ax.hlines(y, rows["sim_low"], rows["sim_high"], color="#4a6fa5", lw=4, alpha=0.35,
                  label="simulated, range over replications")
        ax.plot(rows["simulated"], y, "o", color="#4a6fa5", label="simulated (calibrated)")
        ax.plot(rows["before"], y, "x", color="#999", label="simulated before calibration")
        ax.plot(rows["observed"], y, "D", color="#c0392b", mfc="none", label="observed")
        ax.set_yticks(y, rows["label"])
        ax.set_xscale("log")
        ax.set_xlabel("US sales (units, log scale)")
        ax.invert_yaxis()
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.0 / max(len(rows), 1)), ncol=2, frameon=False)
    return Figure("Sales: simulated vs observed", "Each target row of the calibration window; the band is the "
                  "range over the replications at the fitted values.", png_uri(fig))


def plot_convergence(result: CalibrationResult) -> Figure:
    h = result.history_frame()
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        sns.scatterplot(data=h, x="evaluation", y="distance", hue="stage", s=14, ax=ax, linewidth=0)
        ax.plot(h["evaluation"], h["distance"].cummin(), color="#222", lw=1, label="best so far")
        ax.set_yscale("log")
        ax.set_ylabel("SMM distance")
        ax.legend(frameon=False, fontsize=8)
    return Figure("Search", "Distance of every candidate (start, Sobol' screening, Nelder-Mead, Jacobian "
                  "points) and the best so far.", png_uri(fig))


def parameters_html(params: pd.DataFrame) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("parameter", "prior range", "start", "fitted", "95% interval",
                                               "interval / prior", "identification", "pinned by", "why this prior"))
    rows = []
    for r in params.itertuples():
        flag = " (at a bound)" if r.at_bound else ""
        rows.append(
            f'<tr><td class="name">{esc(r.path)}</td><td>{_fmt(r.prior_low)}–{_fmt(r.prior_high)}</td>'
            f"<td>{_fmt(r.start)}</td><td><b>{_fmt(r.fitted)}</b></td>"
            f"<td>{_fmt(r.ci_low)} – {_fmt(r.ci_high)}</td><td>{r.ci_width_of_prior:.2f}</td>"
            f'<td class="name">{esc(r.identification + flag)}</td><td class="name">{esc(r.pinned_by)}</td>'
            f'<td class="name">{esc(r.why)}</td></tr>')
    return table_html("params", head, rows)


def fit_html(fit: pd.DataFrame, start: pd.DataFrame) -> str:
    before = start.set_index("name")["z"]
    head = "".join(f"<th>{h}</th>" for h in ("target", "observed", "simulated", "replication range", "z (fitted)",
                                               "z (before)", "weight", "source"))
    rows = []
    for r in fit.itertuples():
        if not r.available:
            continue
        rows.append(
            f'<tr><td class="name">{esc(r.name)}</td><td>{_fmt(r.observed)}</td><td><b>{_fmt(r.simulated)}</b></td>'
            f"<td>{_fmt(r.sim_low)} – {_fmt(r.sim_high)}</td><td>{r.z:+.2f}</td><td>{before.get(r.name, np.nan):+.2f}</td>"
            f'<td>{r.weight:g}</td><td class="name">{esc(r.source)}</td></tr>')
    return table_html("fit", head, rows)


def report_html(result: CalibrationResult, params: pd.DataFrame, fit: pd.DataFrame, start: pd.DataFrame,
                man: dict) -> str:
    p = result.problem
    pinned = params[params["identification"] == "pinned down"]["path"].tolist()
    weak = params[params["identification"] != "pinned down"]["path"].tolist()
    headline = [
        f"SMM distance {result.start.distance:,.1f} at the scenario's values → <b>{result.fitted.distance:,.1f}</b> "
        f"after {len(result.history)} evaluations × {p.spec.replications} replications of {p.spec.buyers:,} buyers "
        f"({result.seconds:,.0f} s on {esc(result.backend)}).",
        f"Pinned down by the data: {esc(', '.join(pinned) or 'none')}.",
        f"Weakly identified (the fit barely moves across their prior range, or they trade off): "
        f"{esc(', '.join(weak) or 'none')}.",
        f"Nelder-Mead: {esc(result.local.get('message', ''))}",
    ]
    body = [
        f"<h1>Calibration: {esc(p.spec.name)}</h1>",
        f'<p class="description">{esc(p.spec.description)}</p>',
        '<div class="headline"><ul>' + "".join(f"<li>{h}</li>" for h in headline) + "</ul></div>",
        "<h2>Fitted parameters</h2>",
        '<p class="note">Standard errors from the SMM sandwich at the optimum (targets\' own uncertainty plus '
        "simulation noise over the replications). <i>Pinned by</i>: the three targets that carry most of the information "
        "on the parameter (their share of it); sensitivity.csv has Λ (Andrews, Gentzkow &amp; Shapiro 2017).</p>",
        parameters_html(params),
        "<h2>Fit: targets vs simulated</h2>",
        figure_html(plot_sales_fit(fit, start)),
        fit_html(fit, start),
        figure_html(plot_convergence(result)),
        provenance_html({**man, "seed": f"{p.spec.seed} (replication r: SeedSequence(seed, spawn_key=(r,)), the same "
                                        "for every candidate)"}, [],
                        extra={"Calibration file": p.source, "Base scenario": p.spec.scenario,
                               "Calibration window": f"to {p.spec.end_year}"}),
    ]
    return page(f"Calibration {p.spec.name}", "\n".join(body))


# ---- writing the fitted values into the scenario ----------------------------------------------------------
def apply_to_scenario(scenario_path: Path, values: dict, label: str) -> None:
    """Write ``values`` (field path -> value) into the scenario TOML, keeping its comments and layout, each
    with a comment naming the calibration run (a value's own comment is kept after it; a previous
    calibration's note is replaced). Numbers are written to 4 significant figures (their 95% intervals are
    far wider). Written whole (temporary file, then rename)."""
    import tomlkit

    scenario_path = Path(scenario_path)
    doc = tomlkit.parse(scenario_path.read_text())
    for path, value in values.items():
        keys = path.split(".")
        node = doc
        for key in keys[:-1]:
            if key not in node:
                node[key] = tomlkit.table()
            node = node[key]
        if isinstance(value, float):
            value = float(f"{value:.4g}")
        item = tomlkit.item(value)
        before = node.get(keys[-1]) if hasattr(node, "get") else None
        note = before.trivia.comment.lstrip("# ").strip() if hasattr(before, "trivia") else ""
        note = note.split("calibrated: ")[0].rstrip("; ") if "calibrated: " in note else note
        item.comment(f"calibrated: {label}" + (f"; {note}" if note else ""))
        node[keys[-1]] = item
    tmp = scenario_path.with_name(f".{scenario_path.name}.partial")
    tmp.write_text(tomlkit.dumps(doc))
    tmp.replace(scenario_path)


# ---- validation ------------------------------------------------------------------------------------------
def plot_forecast(v) -> Figure:
    """Sales by brand over the whole run: history targets as points, the calibration window shaded."""
    by = v.brand_year
    brands = [b for b in ("Lexus", "Mercedes-Benz", "BMW", "Cadillac", "Lincoln", "Acura", "Infiniti", "Jaguar")
              if b in set(by["brand"])]
    from sim.report import brand_palette
    from sim import reference

    palette = brand_palette(brands)
    obs = reference.sales()
    obs = obs[obs["brand"].isin(brands) & (obs["period"] != "model_year")]
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(10, 5))
        g = by[by["brand"].isin(brands)].groupby(["year", "brand"])["sales"]
        summary = pd.concat({"mean": g.mean(), "lo": g.quantile(0.05), "hi": g.quantile(0.95)}, axis=1).reset_index()
        for b in brands:
            s = summary[summary["brand"] == b]
            ax.plot(s["year"], s["mean"], color=palette[b], label=b, lw=1.8)
            ax.fill_between(s["year"], s["lo"], s["hi"], color=palette[b], alpha=0.2, lw=0)
            o = obs[obs["brand"] == b]
            ax.scatter(o["year"], o["units"], color=palette[b], marker="D", s=28,
                       edgecolor="black", linewidth=0.5, zorder=3)
        ax.axvspan(by["year"].min() - 0.5, moments_end() + 0.5, color="#eee", zorder=0)
        ax.text(moments_end() + 0.7, ax.get_ylim()[1] * 0.97, "forecast →", va="top", fontsize=9, color="#555")
        ax.set_xlabel("year")
        ax.set_ylabel("US sales (units)")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return Figure("Sales by brand: calibration window and forecast",
                  "Lines: replication mean (band: 5-95% over replications). Diamonds: observed sales (January-November "
                  "rows included). Shaded: the calibration window; later years are a forecast under the policy "
                  "timeline, not fitted.", png_uri(fig))


def moments_end() -> int:
    from sim.moments import CALIBRATION_YEARS

    return CALIBRATION_YEARS[1]


def validation_manifest(v, started: datetime) -> dict:
    return {"scenario": v.scenario.model_dump(mode="json"), "seed": v.seed, "buyers_simulated": v.buyers,
            "replications": [{"replication": r, "spawn_key": [r]} for r in range(v.replications)],
            "passed": v.passed, **provenance(started)}


def facts_html(facts: pd.DataFrame) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("stylized fact", "expected", "simulated", "replications holding", "result"))
    rows = [f'<tr><td class="name">{esc(r.fact)}</td><td class="name">{esc(r.expected)}</td>'
            f'<td class="name">{esc(r.simulated)}</td><td>{r.replications_holding:.0%}</td>'
            f'<td class="{"" if r.passed else "sig"}"><b>{"pass" if r.passed else "FAIL"}</b></td></tr>'
            for r in facts.itertuples()]
    return table_html("facts", head, rows)


def validation_fit_html(fit: pd.DataFrame) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("target", "observed", "simulated", "5-95% over replications", "z", "source"))
    rows = [f'<tr><td class="name">{esc(r.name)}</td><td>{_fmt(r.observed)}</td><td><b>{_fmt(r.simulated)}</b></td>'
            f"<td>{_fmt(r.sim_p05)} – {_fmt(r.sim_p95)}</td><td>{r.z:+.2f}</td>"
            f'<td class="name">{esc(r.source)}</td></tr>' for r in fit.itertuples() if r.available]
    return table_html("fit", head, rows)


def forecast_html(forecast: pd.DataFrame, brands=("Lexus", "Mercedes-Benz", "BMW", "Cadillac")) -> str:
    years = sorted(forecast["year"].unique())
    head = "<th>year</th>" + "".join(f"<th>{esc(b)} sales</th><th>{esc(b)} share</th>" for b in brands)
    idx = forecast.set_index(["year", "brand"])
    rows = []
    for y in years:
        cells = [f"<td>{y}</td>"]
        for b in brands:
            if (y, b) in idx.index:
                r = idx.loc[(y, b)]
                cells.append(f'<td>{r.sales_mean:,.0f}<br><span class="ci">{r.sales_p05:,.0f}–{r.sales_p95:,.0f}</span></td>'
                             f"<td>{r.share_mean:.1%}</td>")
            else:
                cells.append("<td>—</td><td>—</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return table_html("forecast", head, rows)


def write_validation(destination: Path, v, started: datetime) -> Path:
    with atomic_folder(Path(destination)) as tmp:
        v.facts.to_csv(tmp / "facts.csv", index=False)
        v.fit.to_csv(tmp / "fit.csv", index=False)
        v.forecast.to_csv(tmp / "forecast.csv", index=False)
        v.brand_year.to_parquet(tmp / "brand_year.parquet", index=False)
        if v.parity_brand_year is not None:
            v.parity_brand_year.to_parquet(tmp / "parity_brand_year.parquet", index=False)
        man = validation_manifest(v, started)
        (tmp / "manifest.json").write_text(json.dumps(man, indent=2, default=str))
        n_pass = int(v.facts["passed"].sum())
        sales = v.fit[v.fit["kind"].str.startswith("sales_") & v.fit["available"]]
        body = [
            f"<h1>Validation: {esc(v.scenario.name)}</h1>",
            f'<p class="question">{esc(v.scenario.question)}</p>',
            f'<div class="headline"><ul><li>Stylized facts: <b>{n_pass} of {len(v.facts)} hold</b>.</li>'
            f"<li>Sales targets: median |z| {sales['z'].abs().median():.2f}, "
            f"{(sales['z'].abs() <= 2).mean():.0%} within 2 sd; SMM distance {moments.distance(v.fit):,.1f}.</li>"
            f"<li>{v.replications} replications of {v.buyers:,} buyers.</li></ul></div>",
            "<h2>Stylized facts</h2>", facts_html(v.facts),
            "<h2>Fit on the calibration window</h2>", figure_html(plot_forecast(v)), validation_fit_html(v.fit),
            f"<h2>Forecast {moments_end() + 1}–{int(v.brand_year['year'].max())}</h2>",
            '<p class="note">Not fitted: the years after the calibration window follow from the calibrated model '
            "and the policy timeline (Mercedes customer care from 1991, BMW free maintenance 1993/1997/2000, "
            "Mercedes' free maintenance 1998-2004). Mean and 5-95% band over replications.</p>",
            forecast_html(v.forecast),
            provenance_html(man, []),
        ]
        (tmp / "report.html").write_text(page(f"Validation {v.scenario.name}", "\n".join(body)), encoding="utf-8")
    return Path(destination)
