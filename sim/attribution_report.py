"""An attribution's result folder and its report (``sim.attribution`` computes; this module writes and draws).

``write_attribution(destination, att, started)`` writes, whole or not at all: ``shapley.csv`` (each lever's
Shapley value, share of the total, leave-one-out and solo effects, then the interaction remainder, v(none),
v(all) and the total), ``coalitions.parquet``, ``brand_year.parquet``, ``manifest.json`` and ``report.html``
(template ``attribution.html.j2``: a plain-language headline, a waterfall plot, the Shapley table, the brand's
share per coalition, and what each lever changes).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sim.attribution import INTERACTION, METRICS, TOTAL, V_ALL, V_NONE, Attribution, manifest
from sim.figures import BAND, Figure, integer_years, legend_right, png_uri, style
from sim.files import atomic_folder, write_json
from sim.formats import difference, percent
from sim.report import cell, head, markup, provenance, render, row, table, write_report


def write_attribution(destination: Path, att: Attribution, started: datetime) -> Path:
    """Write the attribution folder atomically (tables, manifest, report) and return ``destination``.

    Args:
        destination: the folder to create (it must not exist).
        att: the finished :class:`~sim.attribution.Attribution`.
        started: when the command started (UTC), for the manifest's provenance.

    Returns:
        ``destination``, holding ``shapley.csv`` (one row per lever, then the interaction remainder, v(none),
        v(all) and the total: Shapley value with its 95% interval, share of the total, leave-one-out and solo
        effects), ``coalitions.parquet`` (one row per coalition x replication), ``brand_year.parquet``,
        ``manifest.json`` and ``report.html``.

    Raises:
        FileExistsError: ``destination`` exists (nothing is written).
    """
    with atomic_folder(destination) as tmp:
        att.table().to_csv(tmp / "shapley.csv", index=False, float_format="%.6g")
        att.coalitions().to_parquet(tmp / "coalitions.parquet", index=False)
        att.brand_year.to_parquet(tmp / "brand_year.parquet", index=False)
        write_json(tmp / "manifest.json", manifest(att, started))
        build_report(tmp)
    return Path(destination)


def unit(metric: str) -> tuple[float, str, int]:
    """(scale, unit, digits) for showing values of ``metric``: pp for shares, $M for profit."""
    return (100.0, "pp", 1) if metric == "sales_share" else (1e-6, "$M", 0)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def inert_levers(coalitions: pd.DataFrame, levers: list[str]) -> list[str]:
    """Levers whose switch changed no value at all: v(S + i) == v(S) for every coalition and replication."""
    values = coalitions.pivot(index="mask", columns="replication", values="value").sort_index().to_numpy()
    return [name for i, name in enumerate(levers)
            if all(np.array_equal(values[m | 1 << i], values[m]) for m in range(len(values)) if not m >> i & 1)]


def _writer(metric: str):
    scale, u, digits = unit(metric)
    return lambda m, lo, hi: difference(m * scale, lo * scale, hi * scale, u, digits)


def headline(shapley: pd.DataFrame, man: dict, inert: list[str] = ()) -> list:
    """Plain-language sentences (HTML, data escaped) on the total and each lever's part of it; ``inert`` names
    levers that changed no run."""
    write = _writer(man["metric"])
    fmt = lambda r: write(r["phi_mean"], r["ci_low"], r["ci_high"])  # noqa: E731
    t = shapley.set_index("lever")
    levers = man["levers"]
    brand, first, last = man["brand"], man["from"], man["to"]
    what = (f"sales-share gain {first}–{last} (share {last} − share {first - 1})" if man["metric"] == "sales_share"
            else f"cumulative profit {first}–{last}")
    lines = [markup("{}'s {}: <b>{}</b> as the scenario is written; {} with {} {}at the incumbents' level.", brand,
                    what, fmt(t.loc[V_ALL]), fmt(t.loc[V_NONE]), _and(levers), "all " if len(levers) > 2 else "")]
    parts = []
    for name in sorted(levers, key=lambda n: -abs(t.loc[n, "phi_mean"])):
        r = t.loc[name]
        share = f" ({percent(r['share_of_total'], 0)})" if r["share_of_total"] == r["share_of_total"] else ""
        parts.append(markup("<b>{}</b> accounts for {}{}", name, fmt(r), share))
    lines.append(markup("Of the {} that these levers add together (v(all) − v(none)), ", fmt(t.loc[TOTAL]))
                 + markup("; ").join(parts) + ".")
    idle = [name for name in levers if name in inert]
    if idle:
        lines.append(markup("{}: switching it changed no run at all (identical results with and without it in every "
                            "coalition and replication), so the model as run does not respond to it.", ", ".join(idle)))
    lines.append(markup("Switching each lever alone to the incumbents' level and adding up the losses (the "
                        "leave-one-out effects) leaves an interaction remainder of {}: the part of the gain that "
                        "comes from levers working together, which the Shapley values share out fairly.",
                        fmt(t.loc[INTERACTION])))
    lines.append(markup("Intervals are 95% paired t-intervals over {} replications that share their random numbers "
                        "across all coalitions.", len(man["replications"])))
    return lines


def shapley_table(shapley: pd.DataFrame, levers: list[str], metric: str) -> dict:
    """The Shapley table: per lever its value, share of the total, leave-one-out and solo effects (mean [95%
    interval]), then the interaction remainder, v(none), v(all) and the total."""
    write = _writer(metric)
    _, u, _ = unit(metric)
    rows = []
    for r in shapley.to_dict("records"):
        is_lever = r["lever"] in levers

        def effect(name: str, r: dict = r, is_lever: bool = is_lever) -> dict:
            if not is_lever:
                return cell("")
            text = write(r[f"{name}_effect"], r[f"{name}_ci_low"], r[f"{name}_ci_high"])
            value, _, ends = text.partition(" [")
            return cell(value, ci=f"[{ends}" if ends else "")

        value, _, ends = write(r["phi_mean"], r["ci_low"], r["ci_high"]).partition(" [")
        share = "" if pd.isna(r["share_of_total"]) else percent(r["share_of_total"], 0)
        rows.append({**row([cell(value, "bold" if is_lever else "num", ci=f"[{ends}" if ends else ""), cell(share),
                            effect("leave_one_out"), effect("solo")],
                           first=r["lever"] == INTERACTION, label=r["lever"]),
                     "end_section": r["lever"] == levers[-1]})
    return table("figures", [head("Lever", left=True), head(f"Shapley value [95% CI] ({u})"), head("Share of total"),
                             head("Leave-one-out: v(all) − v(all without it)"), head("Solo: v(only it) − v(none)")],
                 rows)


def summary_table(att: Attribution) -> dict:
    """The Shapley table of an :class:`~sim.attribution.Attribution` with its title (terminal and notebook)."""
    what = (f"sales-share gain {att.first}-{att.last} (share {att.last} - share {att.first - 1}), pp"
            if att.metric == "sales_share" else f"cumulative profit {att.first}-{att.last}, $M")
    t = shapley_table(att.table(), att.levers, att.metric)
    t["head"] = [head("lever", left=True), head("Shapley value"), head("share of total"),
                 head("leave-one-out\n(only it switched)"), head("solo\n(only it kept)")]
    return {**t, "title": f"{att.brand} in {att.scenario.name}: {what}",
            "note": f"(Shapley values over {1 << att.k} coalitions; mean [95% interval] over {att.replications} "
                    "paired replications)"}


# ---- figures -----------------------------------------------------------------------------------------------
def _yerr(r: pd.Series, scale: float) -> np.ndarray | None:
    if pd.isna(r["ci_low"]):
        return None
    return np.array([[r["phi_mean"] - r["ci_low"]], [r["ci_high"] - r["phi_mean"]]]) * scale


def plot_waterfall(shapley: pd.DataFrame, man: dict) -> Figure:
    """From v(none) through each lever's phi (with its 95% interval) to v(all)."""
    scale, _, _ = unit(man["metric"])
    t = shapley.set_index("lever")
    levers = man["levers"]
    v_none, v_all = t.loc[V_NONE], t.loc[V_ALL]
    colours = sns.color_palette("deep")
    up, down, total = colours[2], colours[3], colours[0]
    fig, ax = plt.subplots(figsize=(1.6 * (len(levers) + 2) + 2, 4.6))
    labels, x = [], 0
    ax.bar(x, v_none["phi_mean"] * scale, color=total, alpha=0.6, width=0.6)
    ax.errorbar(x, v_none["phi_mean"] * scale, yerr=_yerr(v_none, scale), color="black", capsize=4, lw=1)
    labels.append("all levers at\nincumbents' level")
    level = v_none["phi_mean"] * scale
    for name in levers:
        x += 1
        r = t.loc[name]
        step = r["phi_mean"] * scale
        ax.bar(x, step, bottom=level, color=up if step >= 0 else down, width=0.6)
        ax.errorbar(x, level + step, yerr=_yerr(r, scale), color="black", capsize=4, lw=1)
        ax.plot([x - 1 + 0.3, x - 0.3], [level, level], color="#888", lw=0.8, ls=":")
        level += step
        labels.append(f"+ {name}")
    x += 1
    ax.plot([x - 1 + 0.3, x - 0.3], [level, level], color="#888", lw=0.8, ls=":")
    ax.bar(x, v_all["phi_mean"] * scale, color=total, width=0.6)
    ax.errorbar(x, v_all["phi_mean"] * scale, yerr=_yerr(v_all, scale), color="black", capsize=4, lw=1)
    labels.append("as written\n(all own levers)")
    ax.axhline(0, color="#444", lw=0.8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set(ylabel=f"{man['brand']}'s share gain {man['from']}–{man['to']} (pp)" if man["metric"] == "sales_share"
           else f"{man['brand']}'s profit {man['from']}–{man['to']} ($M)")
    return Figure("Waterfall: where the gain comes from",
                  "The first bar is the gain with every lever at the incumbents' level, v(none); each step is one "
                  "lever's Shapley value (green up, red down), its marginal contribution averaged over every order of "
                  "switching the levers on; the last bar is the scenario as written, v(all). Error bars are 95% "
                  "paired intervals over replications (on the totals, and on each step's own Shapley value).",
                  png_uri(fig))


def plot_trajectories(brand_year: pd.DataFrame, man: dict) -> Figure:
    """The brand's sales share over the years, as written and with every lever at the incumbents' level."""
    levers = man["levers"]
    full = "+".join(levers)
    keep = ["none", full, *levers]
    data = brand_year[brand_year["coalition"].isin(keep)].assign(share=lambda d: d["sales_share"].fillna(0) * 100)
    names = {full: "as written", "none": "all at incumbents' level", **{c: f"only own {c}" for c in levers}}
    data["coalition"] = data["coalition"].map(names)
    order = list(dict.fromkeys(names[c] for c in [full, *levers, "none"]))
    fig, ax = plt.subplots(figsize=(10, 4.4))
    sns.lineplot(data=data, x="year", y="share", hue="coalition", hue_order=order, errorbar=BAND, ax=ax)
    ax.set(xlabel=None, ylabel=f"{man['brand']}'s sales share (%)")
    integer_years(ax)
    legend_right(ax)
    return Figure(f"{man['brand']}'s sales share by coalition",
                  "Mean over replications with the 5-95% band: the scenario as written, every lever at the incumbents' "
                  "level, and each lever kept on its own (the others at the incumbents' level).", png_uri(fig))


# ---- the page ----------------------------------------------------------------------------------------------
def value_text(value: Any) -> str:
    """A scenario field's value as the counterfactual table shows it (timeline lists by their length)."""
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, list):
        return f"{len(value)} timeline entries" if value and isinstance(value[0], dict) else json.dumps(value)
    return json.dumps(value) if isinstance(value, (dict, bool)) or value is None else str(value)


def counterfactual_table(man: dict) -> dict:
    """Per lever, every field it touches: the brand's own value and the counterfactual value."""
    rows = []
    for name, spec in man["counterfactuals"].items():
        changes = spec["changes"] or {"(nothing)": {"own": "", "counterfactual": ""}}
        for i, (path, c) in enumerate(changes.items()):
            rows.append({"cells": [cell(path, "name"), cell(value_text(c["own"])),
                                   cell(value_text(c["counterfactual"]))],
                         "first": i == 0, "group": name, "span": len(changes) if i == 0 else 0, "brand": None})
    return table("figures", [head("Lever"), head("Field", left=True), head("Own level"), head("Counterfactual")], rows)


def build_report(folder: Path) -> Path:
    """Write ``folder/report.html`` from the folder's shapley.csv, coalitions.parquet, brand_year.parquet and
    manifest.json; return its path.

    Raises:
        FileNotFoundError: a file is missing (not an attribution folder).
    """
    folder = Path(folder)
    man = json.loads((folder / "manifest.json").read_text())
    shapley = pd.read_csv(folder / "shapley.csv")
    brand_year = pd.read_parquet(folder / "brand_year.parquet")
    inert = inert_levers(pd.read_parquet(folder / "coalitions.parquet"), man["levers"])
    with style():
        figures = [plot_waterfall(shapley, man), plot_trajectories(brand_year, man)]
    return write_report(folder, render(
        "attribution.html.j2", title=f"luxsim attribution: {man['brand']} in {man['scenario_name']}", man=man,
        metric_meaning=METRICS[man["metric"]], coalitions=man["runs"] // len(man["replications"]),
        headline=headline(shapley, man, inert), shapley=shapley_table(shapley, man["levers"], man["metric"]),
        figures=figures, counterfactuals=counterfactual_table(man),
        provenance=provenance(man, man["replications"], {"Brand": man["brand"], "Levers": ", ".join(man["levers"]),
                                                         "Metric": man["metric"],
                                                         "Runs": f"{man['runs']} in {man['wall_seconds']:,.1f} s"})))
