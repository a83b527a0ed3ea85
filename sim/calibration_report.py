"""A calibration's and a validation's result folders and reports, and writing fitted values into a scenario file.

A calibration folder (``results/calibration/<name>/<time>-s<seed>-<random>/``, written whole or not at all) holds::

    parameters.csv     fitted value, standard error, 95% interval, identification, the moments that pin it
    fit.csv            every target: observed, simulated at the fit (mean, min and max over replications), z
    start_fit.csv      the same at the scenario's values before calibration
    sensitivity.csv    Λ: shift in each parameter if a target moved by one sd (Andrews, Gentzkow & Shapiro)
    information.csv    each target's share of the information on each parameter
    jacobian.csv       ∂(target on its error scale)/∂(parameter) at the fit, central differences, same seeds
                       (these three only when the budget left room for the Jacobian: the report says why not)
    evaluations.parquet  every candidate evaluated: stage, distance, parameter values
    calibrated.toml    the fitted values as --set lines (``run_sim.py run --set ...``)
    fit.md             the parameters and the fit as Markdown tables (for docs/calibration.md)
    manifest.json      the calibration file, the seeds, the optimiser's outcome, package versions
    report.html        all of the above, with a fit plot (template ``calibration.html.j2``)

A validation folder (``results/validation/<scenario>/<time>-s<seed>-<random>/``) holds facts.csv, fit.csv, forecast.csv,
brand_year.parquet (and parity_brand_year.parquet), manifest.json and report.html (``validation.html.j2``).
:func:`summary_tables` and :func:`validation_tables` are what a ``CalibrationResult`` and a ``ValidationResult``
print in the terminal and show in a notebook.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sim import moments
from sim.calibration import CalibrationResult
from sim.figures import Figure, png_uri
from sim.files import atomic_folder, safe_name, toml_inline, unique_suffix, write_atomic, write_json
from sim.formats import MISSING, adaptive, number, percent, signed
from sim.report import cell, head, markup, provenance, render, row, table
from sim.results import ROOT
from sim.results import provenance as manifest_provenance
from sim.scenario_files import split_path
from sim.style import brand_palette


def default_destination(name: str, started: datetime, seed: int | None = None) -> Path:
    """``results/calibration/NAME/<UTC start time>-s<seed>-<random>/``: where a calibration goes without ``--out``
    (the name a safe file name, :func:`sim.files.safe_name`; :func:`sim.files.unique_suffix`)."""
    return ROOT / "results" / "calibration" / safe_name(name) / f"{started:%Y%m%dT%H%M%SZ}-{unique_suffix(seed)}"


def run_label(folder: Path) -> str:
    """How a scenario file names the calibration run that set a value."""
    try:
        return str(Path(folder).resolve().relative_to(ROOT))
    except ValueError:
        return str(folder)


def calibrated_toml(result: CalibrationResult, label: str) -> str:
    """The fitted values as ``path = value`` lines (what ``--set`` takes), each value written by ``toml_inline``."""
    lines = [f"# Fitted by {label}", "# run_sim.py run --set <line> applies one; calibrate --apply writes them all."]
    lines += [f"{path} = {toml_inline(v)}" for path, v in result.values.items()]
    return "\n".join(lines) + "\n"


def manifest(result: CalibrationResult, started: datetime) -> dict:
    """The calibration folder's ``manifest.json``: the spec, the base scenario, seeds and spawn keys, the fitted
    values, the distances at start, fit and the scenario's current values, the evaluations against the budget, the
    search's outcome, the backend and the provenance."""
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
        "distance_current": result.current.distance if result.current is not None else None,
        "improved": result.shortfall() is None,
        "shortfall": result.shortfall(),  # what the fit did not improve on, in plain words (None: it improved)
        "evaluations": len(result.history),
        "max_evaluations": p.spec.optimiser.max_evaluations,
        "standard_errors": "estimated" if result.estimated else "not estimated: no room for the Jacobian in the budget",
        "not_written": [] if result.estimated else ["sensitivity.csv", "information.csv", "jacobian.csv"],
        "nelder_mead": result.local,
        "backend": result.backend,
        "seconds": round(result.seconds, 1),
        **manifest_provenance(started),
    }


def write_calibration(destination: Path, result: CalibrationResult, started: datetime) -> Path:
    """Write the calibration folder (module docstring) atomically and return ``destination``.

    Raises:
        FileExistsError: ``destination`` exists (nothing is written).
    """
    destination = Path(destination)
    label = run_label(destination)
    with atomic_folder(destination) as tmp:
        params = result.parameters()
        params.to_csv(tmp / "parameters.csv", index=False)
        fit = result.fit_table("fitted")
        fit.to_csv(tmp / "fit.csv", index=False)
        start = result.fit_table("start")
        start.to_csv(tmp / "start_fit.csv", index=False)
        if result.estimated:  # otherwise unknown, not zero: not written (result.jacobian_note, in the report)
            result.sensitivity().to_csv(tmp / "sensitivity.csv")
            result.information_shares().to_csv(tmp / "information.csv")
            pd.DataFrame(result.jacobian, index=[t.name for t in result.problem.targets],
                         columns=result.problem.names).to_csv(tmp / "jacobian.csv")
        result.history_frame().to_parquet(tmp / "evaluations.parquet", index=False)
        write_atomic(tmp / "calibrated.toml", calibrated_toml(result, label))
        man = manifest(result, started)
        write_json(tmp / "manifest.json", man)
        write_atomic(tmp / "report.html", report_html(result, params, fit, start, man))
        write_atomic(tmp / "fit.md", fit_markdown(params, fit, start, man, label))
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
    if manifest.get("shortfall"):
        out[-1:-1] = [f"**{manifest['shortfall']}**"]
    if manifest.get("not_written"):  # the Jacobian was not estimated: say so, not a table of zeros
        out[-1:-1] = [f"Standard errors {manifest['standard_errors']}; {', '.join(manifest['not_written'])} "
                      "not written."]
    out.append(_md_table(
        ["parameter", "prior", "before", "fitted", "95% interval", "identification", "pinned by"],
        [[f"`{r.path}`", f"{adaptive(r.prior_low)}–{adaptive(r.prior_high)}", adaptive(r.start),
          f"**{adaptive(r.fitted)}**",
          f"{adaptive(r.ci_low)} – {adaptive(r.ci_high)}", r.identification + (" (at bound)" if r.at_bound else ""),
          str(r.pinned_by).replace(";", ",")] for r in params.itertuples()]))
    out += ["", _md_table(
        ["target", "observed", "before", "calibrated (range over replications)", "z"],
        [[r.name, adaptive(r.observed), adaptive(before.loc[r.name, "simulated"]),
          f"**{adaptive(r.simulated)}** ({adaptive(r.sim_low)} – {adaptive(r.sim_high)})", f"{r.z:+.2f}"]
         for r in fit.itertuples() if r.available])]
    return "\n".join(out) + "\n"


def folder_markdown(folder: Path) -> str:
    """fit_markdown of an existing calibration folder."""
    folder = Path(folder)
    man = json.loads((folder / "manifest.json").read_text())
    return fit_markdown(pd.read_csv(folder / "parameters.csv"), pd.read_csv(folder / "fit.csv"),
                        pd.read_csv(folder / "start_fit.csv"), man, run_label(folder))


# ---- the calibration report -------------------------------------------------------------------------------
def plot_sales_fit(fit: pd.DataFrame, start: pd.DataFrame) -> Figure:
    """Each sales target: observed, simulated at the fit (with the range over replications) and before, log scale."""
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
    """The SMM distance of every evaluation by stage, log scale, with the best so far."""
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


def parameters_table(params: pd.DataFrame) -> dict:
    """Each free parameter: prior range, start, fitted value, 95% interval, identification and why its prior."""
    rows = [row([cell(r.path, "name"), cell(f"{adaptive(r.prior_low)}–{adaptive(r.prior_high)}"),
                 cell(adaptive(r.start)),
                 cell(adaptive(r.fitted), "bold"), cell(f"{adaptive(r.ci_low)} – {adaptive(r.ci_high)}"),
                 cell(number(r.ci_width_of_prior, 2)),
                 cell(r.identification + (" (at a bound)" if r.at_bound else ""), "name"), cell(r.pinned_by, "name"),
                 cell(r.why, "name")]) for r in params.itertuples()]
    return table("params", [head("parameter", left=True), head("prior range"), head("start"), head("fitted"),
                            head("95% interval"), head("interval / prior"), head("identification", left=True),
                            head("pinned by", left=True), head("why this prior", left=True)], rows)


def fit_table(fit: pd.DataFrame, start: pd.DataFrame) -> dict:
    """Every available target: observed, simulated (range over replications), z at the fit and before."""
    before = start.set_index("name")["z"]
    rows = [row([cell(r.name, "name"), cell(adaptive(r.observed)), cell(adaptive(r.simulated), "bold"),
                 cell(f"{adaptive(r.sim_low)} – {adaptive(r.sim_high)}"), cell(signed(r.z, 2)),
                 cell(signed(before.get(r.name, np.nan), 2)), cell(f"{r.weight:g}"), cell(r.source, "name")])
            for r in fit.itertuples() if r.available]
    return table("fit", [head("target", left=True), head("observed"), head("simulated"), head("replication range"),
                         head("z (fitted)"), head("z (before)"), head("weight"), head("source", left=True)], rows)


def report_html(result: CalibrationResult, params: pd.DataFrame, fit: pd.DataFrame, start: pd.DataFrame,
                man: dict) -> str:
    """The calibration report (template ``calibration.html.j2``)."""
    p = result.problem
    pinned = params[params["identification"] == "pinned down"]["path"].tolist()
    weak = params[params["identification"] != "pinned down"]["path"].tolist()
    current = "" if result.current is None else f" ({number(result.current.distance, 1)} at the scenario's values)"
    headline = [
        *(markup("<b>{}</b>", line) for line in result.headline()),  # a fit that did not improve says so first
        markup("SMM distance {} at the start values{} → <b>{}</b> after {} evaluations × {} replications of {} "
               "buyers ({} s on {}).", number(result.start.distance, 1), current, number(result.fitted.distance, 1),
               len(result.history), p.spec.replications, number(p.spec.buyers), number(result.seconds),
               result.backend),
        *([result.jacobian_note] if result.jacobian_note else [
            f"Pinned down by the data: {', '.join(pinned) or 'none'}.",
            "Weakly identified (the fit barely moves across their prior range, or they trade off): "
            f"{', '.join(weak) or 'none'}."]),
        f"Nelder-Mead: {result.local.get('message', '')}",
    ]
    seed = f"{p.spec.seed} (replication r: SeedSequence(seed, spawn_key=(r,)), the same for every candidate)"
    return render("calibration.html.j2", title=f"Calibration {p.spec.name}", name=p.spec.name,
                  description=p.spec.description, headline=headline, parameters=parameters_table(params),
                  estimated=result.estimated,
                  fit_figure=plot_sales_fit(fit, start), fit=fit_table(fit, start),
                  search_figure=plot_convergence(result),
                  provenance=provenance({**man, "seed": seed},
                                        [{"spawn_key": [r]} for r in range(p.spec.replications)],
                                        extra={"Calibration file": p.source, "Base scenario": p.spec.scenario,
                                               "Calibration window": f"to {p.spec.end_year}"}))


def summary_tables(result: CalibrationResult) -> list[dict]:
    """What ``run_sim.py calibrate`` prints: the fitted parameters and the sales targets' fit."""
    params = result.parameters()
    spec = result.problem.spec
    first = table("params", [head("parameter", left=True), head("prior"), head("start"), head("fitted"),
                             head("95% interval"), head("identification", left=True)],
                  [row([cell(adaptive(r.prior_low) + "–" + adaptive(r.prior_high)), cell(adaptive(r.start)),
                        cell(adaptive(r.fitted)), cell(f"{adaptive(r.ci_low)} – {adaptive(r.ci_high)}"),
                        cell(r.identification + (" (at bound)" if r.at_bound else ""), "name")], label=r.path)
                   for r in params.itertuples()],
                  title=f"Calibration {spec.name}: distance {number(result.start.distance, 1)} -> "
                        f"{number(result.fitted.distance, 1)} ({len(result.history)} evaluations, "
                        f"{number(result.seconds)} s)")
    fit = result.fit_table()
    sales = fit[fit["kind"].str.startswith("sales_") & fit["available"]]
    second = table("fit", [head("target", left=True), head("observed"), head("simulated"), head("z")],
                   [row([cell(number(r.observed)), cell(number(r.simulated), ci=f"({number(r.sim_low)} to "
                                                                                f"{number(r.sim_high)})"),
                         cell(signed(r.z, 2))], label=r.name) for r in sales.itertuples()],
                   title="Sales targets: observed vs simulated (replication mean, min to max)")
    return [first, second]


# ---- writing the fitted values into the scenario ----------------------------------------------------------
def apply_to_scenario(scenario_path: Path, values: dict, label: str) -> None:
    """Write ``values`` (field path -> value) into the scenario TOML, keeping its comments and layout, each
    with a comment naming the calibration run (a value's own comment is kept after it; a previous
    calibration's note is replaced). Numbers are written in full (the shortest text that reads back as the same
    float), so the scenario reproduces the fit's distance exactly: the objective, a sum over discrete choices with
    common random numbers, moves by more than the differences between fits when a value is rounded (run16 of the
    flagship: 141.9 at the fitted values, 159.9 with them rounded to four significant figures). Written whole
    (temporary file, then rename), as UTF-8 without a byte-order mark."""
    import tomlkit

    scenario_path = Path(scenario_path)
    doc = tomlkit.parse(scenario_path.read_bytes().decode("utf-8-sig"))  # as read_toml: a byte-order mark is fine
    for path, value in values.items():
        keys = split_path(path)
        node = doc
        for key in keys[:-1]:
            if key not in node:
                node[key] = tomlkit.table()
            node = node[key]
        item = tomlkit.item(value)
        before = node.get(keys[-1]) if hasattr(node, "get") else None
        note = before.trivia.comment.lstrip("# ").strip() if hasattr(before, "trivia") else ""
        note = note.split("calibrated: ")[0].rstrip("; ") if "calibrated: " in note else note
        item.comment(f"calibrated: {label}" + (f"; {note}" if note else ""))
        node[keys[-1]] = item
    write_atomic(scenario_path, tomlkit.dumps(doc))


# ---- validation ------------------------------------------------------------------------------------------
def plot_forecast(v) -> Figure:
    """Sales by brand over the whole run: history targets as points, the calibration window shaded."""
    by = v.brand_year
    brands = [b for b in ("Lexus", "Mercedes-Benz", "BMW", "Cadillac", "Lincoln", "Acura", "Infiniti", "Jaguar")
              if b in set(by["brand"])]
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
    """The last year of the calibration window (``moments.CALIBRATION_YEARS``): later years are a forecast."""
    return moments.CALIBRATION_YEARS[1]


def validation_manifest(v, started: datetime) -> dict:
    """The validation folder's ``manifest.json``: the scenario, seed, buyers, replications, pass/fail, provenance."""
    return {"scenario": v.scenario.model_dump(mode="json"), "seed": v.seed, "buyers_simulated": v.buyers,
            "replications": [{"replication": r, "spawn_key": [r]} for r in range(v.replications)],
            "passed": v.passed, **manifest_provenance(started)}


def _verdict(passed) -> dict:
    if pd.isna(passed):
        return cell("not covered", "name")
    return cell("pass", "pass") if passed else cell("FAIL", "fail", sig=True)


def facts_table(facts: pd.DataFrame) -> dict:
    """Each stylized fact: what is expected, what the runs show, the share of replications where it holds, pass/fail
    (or "not covered": the run lacks the years or brands the fact needs)."""
    rows = [row([cell(r.fact, "name"), cell(r.expected, "name"), cell(r.simulated, "name"),
                 cell(percent(r.replications_holding, 0)), _verdict(r.passed)]) for r in facts.itertuples()]
    return table("facts", [head("stylized fact", left=True), head("expected", left=True), head("simulated", left=True),
                           head("replications holding"), head("result")], rows)


def validation_fit_table(fit: pd.DataFrame) -> dict:
    """Every available target: observed, simulated (mean and 5-95% band over replications), z and source."""
    rows = [row([cell(r.name, "name"), cell(adaptive(r.observed)), cell(adaptive(r.simulated), "bold"),
                 cell(f"{adaptive(r.sim_p05)} – {adaptive(r.sim_p95)}"), cell(signed(r.z, 2)), cell(r.source, "name")])
            for r in fit.itertuples() if r.available]
    return table("fit", [head("target", left=True), head("observed"), head("simulated"),
                         head("5-95% over replications"), head("z"), head("source", left=True)], rows)


def forecast_table(forecast: pd.DataFrame, brands=("Lexus", "Mercedes-Benz", "BMW", "Cadillac")) -> dict:
    """Per year after the window: each brand's sales (mean, 5-95% band) and share."""
    idx = forecast.set_index(["year", "brand"])
    rows = []
    for y in sorted(forecast["year"].unique()):
        cells = [cell(str(y))]
        for b in brands:
            if (y, b) in idx.index:
                r = idx.loc[(y, b)]
                cells += [cell(number(r.sales_mean), ci=f"{number(r.sales_p05)}–{number(r.sales_p95)}"),
                          cell(percent(r.share_mean))]
            else:
                cells += [cell(MISSING), cell(MISSING)]
        rows.append(row(cells))
    return table("forecast", [head("year"), *(h for b in brands for h in (head(f"{b} sales"), head(f"{b} share")))],
                 rows)


def validation_headline(v) -> list[str]:
    """The validation in a few lines: stylized facts holding (and those the run does not cover), the sales fit
    (median |z|, share within 2 sd, SMM distance), the targets the run does not cover, and the replications and
    buyers behind it."""
    sales = v.fit[v.fit["kind"].str.startswith("sales_") & v.fit["available"]]
    judged = [bool(p) for p in v.facts["passed"] if not pd.isna(p)]
    uncovered = len(v.facts) - len(judged)
    lines = [markup("Stylized facts: <b>{} of {} hold</b>{}.", sum(judged), len(judged),
                    f" ({uncovered} not covered by this run)" if uncovered else "")]
    if len(sales):
        lines.append(f"Sales targets: median |z| {number(sales['z'].abs().median(), 2)}, "
                     f"{percent((sales['z'].abs() <= 2).mean(), 0)} "
                     f"within 2 sd; SMM distance {number(moments.distance(v.fit), 1)}.")
    missing = int((~v.fit["available"]).sum())
    if missing:
        first, last = int(v.brand_year["year"].min()), int(v.brand_year["year"].max())
        lines.append(f"{missing} of {len(v.fit)} targets not covered: outside this run's {first}-{last}.")
    lines.append(f"{v.replications} replications of {number(v.buyers)} buyers.")
    return lines


def validation_tables(v) -> list[dict]:
    """What ``run_sim.py validate`` prints: the sales fit on the calibration window and the stylized facts."""
    fit = v.fit[v.fit["available"] & v.fit["kind"].str.startswith("sales_")]
    first = table("fit", [head("target", left=True), head("observed"), head("simulated"), head("z")],
                  [row([cell(number(r.observed)), cell(number(r.simulated), ci=f"({number(r.sim_p05)} to "
                                                                               f"{number(r.sim_p95)})"),
                        cell(signed(r.z, 2))], label=r.name) for r in fit.itertuples()],
                  title=f"Fit {moments.CALIBRATION_YEARS[0]}-{moments_end()}: sales, mean of {v.replications} "
                        "replications (5-95% band)")
    return [first, {**facts_table(v.facts), "title": "Stylized facts"}]


def write_validation(destination: Path, v, started: datetime) -> Path:
    """Write the validation folder atomically and return ``destination``.

    Raises:
        FileExistsError: ``destination`` exists (nothing is written).
    """
    with atomic_folder(Path(destination)) as tmp:
        v.facts.to_csv(tmp / "facts.csv", index=False)
        v.fit.to_csv(tmp / "fit.csv", index=False)
        v.forecast.to_csv(tmp / "forecast.csv", index=False)
        v.brand_year.to_parquet(tmp / "brand_year.parquet", index=False)
        if v.parity_brand_year is not None:
            v.parity_brand_year.to_parquet(tmp / "parity_brand_year.parquet", index=False)
        man = validation_manifest(v, started)
        write_json(tmp / "manifest.json", man)
        write_atomic(tmp / "report.html", render(
            "validation.html.j2", title=f"Validation {v.scenario.name}", name=v.scenario.name,
            question=v.scenario.question, headline=validation_headline(v), facts=facts_table(v.facts),
            fit_figure=plot_forecast(v), fit=validation_fit_table(v.fit), forecast_from=moments_end() + 1,
            forecast_to=int(v.brand_year["year"].max()),
            forecast=forecast_table(v.forecast) if len(v.forecast) else None,
            provenance=provenance(man)))
    return Path(destination)
