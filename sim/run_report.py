"""The report of one run folder (``sim.results.write_results``): who wins, by how much, how sure, what it costs.

``build_run_report(folder)`` writes ``folder/report.html`` from the template ``run.html.j2``:

* the scenario's name, question and description;
* a headline computed from the data: the brand with the largest sales share in the last year and how it
  changed since the first year, the biggest gainer, how often the leader leads across replications, the
  brand with the highest repurchase loyalty, the leader's and the gainer's service P&L and profit;
* key figures for milestone years: sales share, repurchase loyalty, conquest sales, CSI and profit per brand,
  each the mean over replications with its 5-95% band;
* figures: sales share over time; repurchase loyalty (= 1 − churn rate) and owners lost; the switching
  heatmap (where each brand's owners went); satisfaction (CSI); service P&L and cumulative profit;
* the provenance block from ``manifest.json``.

It reads only files in the folder and writes only ``report.html``. :func:`summary_tables` are the terminal and
notebook summary of a run (``sim.runner.RunSet``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.figures import Figure, brand_lines, brand_panels, heatmap, png_uri, style, thousands
from sim.formats import MISSING, millions, number, percent, signed
from sim.moments import MIN_REPLACERS, POLK_BAND  # the make-loyalty band (sim/validation.py shows it too)
from sim.report import cell, group_rows, head, markup, provenance, render, row, scenario_header, table, write_report
from sim.style import brand_palette

MILESTONES = (1988, 1991, 1995, 2000, 2005, 2010)  # years of the summaries (summary_years), where the run has them
QUANTITIES = ("mean", "p05", "p95")  # the brand_year.csv suffixes


# ---- reading a folder --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunData:
    """The files of one run folder."""

    folder: Path
    manifest: dict
    brand_year: pd.DataFrame  # one row per replication × year × brand
    summary: pd.DataFrame  # brand_year.csv: mean/p05/p95 per year × brand
    switching: pd.DataFrame  # year, from_brand, to_brand, buyers (replication means)

    @property
    def scenario(self) -> dict:
        """The scenario as run (the manifest's ``scenario``; empty if it has none)."""
        return self.manifest.get("scenario", {})

    @property
    def name(self) -> str:
        """The scenario's name, else the folder's."""
        return self.scenario.get("name") or self.folder.name

    @property
    def brands(self) -> list[str]:
        """The brands in the scenario's order (:func:`brand_order`)."""
        return brand_order(self.scenario, self.brand_year["brand"])

    @property
    def years(self) -> list[int]:
        """The simulated years present in ``brand_year``, ascending."""
        return sorted(int(y) for y in self.brand_year["year"].unique())


def read_run(folder: Path) -> RunData:
    """Read a run folder's manifest.json, brand_year.parquet, brand_year.csv and switching.csv.

    Raises:
        FileNotFoundError: a file is missing (not a run folder).
    """
    folder = Path(folder)
    return RunData(folder=folder,
                   manifest=json.loads((folder / "manifest.json").read_text()),
                   brand_year=pd.read_parquet(folder / "brand_year.parquet"),
                   summary=pd.read_csv(folder / "brand_year.csv"),
                   switching=pd.read_csv(folder / "switching.csv"))


def brand_order(scenario: dict, brands: pd.Series) -> list[str]:
    """The scenario's brand order, then any brand in the data it does not list."""
    present = list(dict.fromkeys(brands.astype(str)))
    listed = [b for b in scenario.get("brands", {}) if b in present]
    return listed + [b for b in present if b not in listed]


def launch_years(scenario: dict) -> dict[str, str]:
    """Brand -> launch date (``"YYYY-MM"``) for the brands the scenario launches during the run."""
    return {b: spec["launch"] for b, spec in scenario.get("brands", {}).items() if spec.get("launch")}


# ---- figures ---------------------------------------------------------------------------------------------
def plot_sales_share(run: RunData, palette: dict) -> Figure:
    """Sales share by brand and year (%), replication mean with the 5-95% band."""
    data = run.brand_year.assign(share=run.brand_year["sales_share"] * 100)
    fig = brand_lines(data, "share", "Sales share (%)", run.brands, palette)
    return Figure("Sales share by brand",
                  "Each line is a brand's share of the year's luxury-car sales, the mean over replications; the "
                  "shaded band is the 5th-95th percentile across replications, so non-overlapping bands mean a "
                  "robust ranking.", png_uri(fig))


def plot_loyalty_churn(run: RunData, palette: dict) -> Figure:
    """Two panels by brand and year: repurchase loyalty (%, churn on the right axis) and owners lost (thousands)."""
    by = run.brand_year
    loyalty, lost = "Repurchase loyalty (%)", "Owners lost (thousands per year)"
    long = pd.concat([by.assign(panel=loyalty, value=by["repurchase_loyalty"] * 100),
                      by.assign(panel=lost, value=by["churned_owners"] / 1e3)], ignore_index=True)
    g = brand_panels(long, run.brands, palette, [loyalty, lost])
    lo, hi = POLK_BAND  # the range R.L. Polk's make-loyalty data support (sim/moments.py, sim/validation.py)
    g.axes.flat[0].axhspan(lo * 100, hi * 100, color="0.85", alpha=0.5, zorder=0, lw=0)
    churn = g.axes.flat[0].secondary_yaxis("right", functions=(lambda x: 100 - x, lambda x: 100 - x))
    churn.set_ylabel("Churn rate (%)")
    g.figure.subplots_adjust(wspace=0.3)
    return Figure("Repurchase loyalty and churn by brand",
                  "Left: the share of a brand's owners who replaced their car and bought the same brand again "
                  "(read the churn rate, 100 − loyalty, on the right axis; the first years after a launch rest on "
                  "few owners and are noisy); right: how many owners each brand lost to another brand or the "
                  "segment per year. Bands are 5th-95th percentiles across replications; the grey band is the range "
                  "R.L. Polk's make loyalty supports (10-60%: 43% for the most loyal make of 1995, 44% over all "
                  "makes in 1997).", png_uri(g.figure))


def switching_matrix(switching: pd.DataFrame, brands: list[str]) -> pd.DataFrame:
    """Buyers summed over all years, from_brand (rows, plus 'new') × to_brand (columns, plus 'left')."""
    return (switching.pivot_table(index="from_brand", columns="to_brand", values="buyers", aggfunc="sum")
            .reindex(index=[*brands, "new"], columns=[*brands, "left"]).fillna(0.0))


def plot_switching(run: RunData, palette: dict) -> Figure:
    """Heat map of where owners went over the whole run: each row's buyers by the brand they bought, in %."""
    flows = switching_matrix(run.switching, run.brands)
    totals = flows.sum(axis=1)
    pct = flows.div(totals.where(totals > 0), axis=0) * 100
    pct.index = [f"{'new to segment' if b == 'new' else b} ({t / 1e3:,.0f}k)" for b, t in totals.items()]
    pct.columns = ["left segment" if b == "left" else b for b in pct.columns]
    fig, ax = plt.subplots(figsize=(10, 6.2))
    heatmap(ax, pct, "% of the row's buyers")
    ax.set(xlabel="to (car bought next, or left the segment)", ylabel="from (car owned before, or new to the segment)")
    ax.tick_params(axis="x", rotation=30)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    years = run.years
    return Figure(f"Where owners went: switching between brands, {years[0]}–{years[-1]}",
                  "Each row is one brand's owners who replaced their car or left the segment (the last row: buyers "
                  "new to the segment), summed over all years (total in brackets); each cell is the percentage that "
                  "went to the column's brand, so the diagonal is loyalty and the rest of a column is that brand's "
                  "conquest.", png_uri(fig))


def plot_csi(run: RunData, palette: dict) -> Figure:
    """Customer satisfaction index (0-1000, 500 neutral) by brand and year, replication mean with the 5-95% band."""
    fig = brand_lines(run.brand_year, "csi", "CSI (0-1000, 500 = neutral)", run.brands, palette)
    fig.axes[0].axhline(500, color="0.4", lw=0.8, ls=":")
    return Figure("Customer satisfaction index (CSI) by brand",
                  "Mean satisfaction of a brand's owners right after a service visit on a 0-1000 scale (dotted line "
                  "= neutral 500); higher lines mean happier owners, bands are 5th-95th percentiles across "
                  "replications.", png_uri(fig))


def plot_money(run: RunData, palette: dict) -> Figure:
    """Two panels by brand and year, $M: the service P&L (revenue - cost) per year and cumulative profit."""
    by = run.brand_year.sort_values(["replication", "brand", "year"])
    service, cumulative = "Service P&L: revenue − cost ($M per year)", "Cumulative profit ($M)"
    cum = by.groupby(["replication", "brand"], sort=False)["profit"].cumsum()
    long = pd.concat([by.assign(panel=service, value=(by["service_revenue"] - by["service_cost"]) / 1e6),
                      by.assign(panel=cumulative, value=cum / 1e6)], ignore_index=True)
    g = brand_panels(long, run.brands, palette, [service, cumulative])
    g.axes.flat[0].axhline(0, color="0.3", lw=0.8)
    thousands(g.axes)
    return Figure("What service costs: service P&L and cumulative profit",
                  "Left: each brand's service revenue minus service cost per year (below zero = service run at a "
                  "loss, including every service-policy cost); right: total profit (new-car margin + service P&L) "
                  "accumulated since the first year. Bands are 5th-95th percentiles across replications.",
                  png_uri(g.figure))


RUN_FIGURES = (plot_sales_share, plot_loyalty_churn, plot_switching, plot_csi, plot_money)


# ---- the page ----------------------------------------------------------------------------------------------
def headline(run: RunData) -> list:
    """Sentences (HTML, their data escaped) on who leads, how it changed, how robust it is, loyalty and money.

    Shares compare the first and the last year in which a car was sold; years in which none was (every line
    ended, say) are named, and a run with no sales at all says so. A single brand has no runner-up to name.
    """
    s = run.summary.set_index(["year", "brand"])
    sold = s["sales_mean"].groupby(level="year").sum()
    selling = [y for y in run.years if sold.get(y, 0.0) > 0]
    empty = [y for y in run.years if y not in selling]
    if not selling:
        return [markup("No brand sold a car in {}–{}.", run.years[0], run.years[-1])]
    first, last = selling[0], selling[-1]
    reps = run.brand_year["replication"].nunique()
    end, start = s.xs(last, level="year"), s.xs(first, level="year")
    leader = end["sales_share_mean"].idxmax()
    share, before = end.loc[leader, "sales_share_mean"], start["sales_share_mean"].get(leader, 0.0)
    direction = "up" if share > before else "down" if share < before else "unchanged"
    band = ("one replication: no band" if reps == 1 else
            f"5-95% across {reps} replications: {percent(end.loc[leader, 'sales_share_p05'])}–"
            f"{percent(end.loc[leader, 'sales_share_p95'])}")
    lines = [markup("In {}, <b>{}</b> has the largest sales share: <b>{}</b> ({}), {} {} pp from {} in {}.", last,
                    leader, percent(share), band, direction, number(abs(share - before) * 100, 1), percent(before),
                    first)]
    if empty:
        lines.append(markup("No brand sold a car in {}.", ", ".join(str(y) for y in empty)))
    final = run.brand_year[(run.brand_year["year"] == last) & run.brand_year["sales_share"].notna()]
    wins = final.sort_values("sales_share").groupby("replication")["brand"].last().value_counts()
    others = ", ".join(f"{b} in {n}" for b, n in wins.items() if b != leader)
    lines.append(markup("{} leads in {} of {} replications{}", leader, wins.get(leader, 0), reps,
                        "." if wins.get(leader, 0) == reps or not others else f"; {others}."))
    gain = (end["sales_share_mean"] - start["sales_share_mean"].reindex(end.index).fillna(0)).dropna().sort_values()
    gainer = gain.index[-1] if len(gain) and gain.iloc[-1] > 0 else leader  # (no gain: no gainer to name)
    if gainer != leader:
        launch = launch_years(run.scenario).get(gainer)
        lines.append(markup("The biggest gain is <b>{}</b>'s{}: {} → {} ({} pp).", gainer,
                            f" (launched {launch})" if launch else "",
                            percent(start["sales_share_mean"].get(gainer, 0.0)),
                            percent(end.loc[gainer, "sales_share_mean"]), signed(gain.iloc[-1] * 100)))
    loyal = end["repurchase_loyalty_mean"].dropna()
    if not loyal.empty and loyal.max() <= 0:  # no brand to name as the most loyal
        lines.append(markup("No brand kept any of its owners who replaced their car in {}.", last))
    elif not loyal.empty:
        top = loyal.idxmax()
        nxt = ", ".join(f"{b} {percent(v, 0)}" for b, v in loyal.drop(top).nlargest(2).items())
        lines.append(markup("<b>{}</b> has the highest repurchase loyalty in {}: {} of its owners who replaced their "
                            "car bought {} again{}.", top, last, percent(loyal[top], 0), top,
                            f" (next: {nxt})" if nxt else ""))
    return lines + money_verdict(run, list(dict.fromkeys([leader, gainer])))


def money_verdict(run: RunData, brands: list[str]) -> list:
    """What each of ``brands`` earned over the run, replication means in the scenario's dollars
    (``market.price_year``, 1989 for the Lexus case): its service P&L, its profit,
    and the profit's net present value at :data:`sim.compare.DISCOUNT_RATE` a year to the first year (the
    comparison's rule, ``sim.compare.discount_factors``); then where to find what a policy bought (a run alone has
    no counterfactual: ``compare`` runs one with the same random numbers)."""
    from sim.compare import DISCOUNT_RATE, discount_factors

    first_year, last_year = run.years[0], run.years[-1]
    price_year = run.scenario.get("market", {}).get("price_year", 1989)  # the schema's default
    by = run.brand_year.assign(npv=lambda d: d["profit"] * discount_factors(d["year"], first_year))
    money = by.groupby(["replication", "brand"])[["service_revenue", "service_cost", "profit", "npv"]].sum()
    money = money.groupby("brand").mean() / 1e6
    lines = []
    for brand in brands:
        m = money.loc[brand]
        period = f"In {first_year}" if first_year == last_year else f"Over {first_year}–{last_year}"
        lines.append(markup("{}, {}'s service P&L totals {} and its profit {}, worth {} in {} at {} a year "
                            "(replication means, {} dollars).", period, brand,
                            millions(m["service_revenue"] - m["service_cost"], 1), millions(m["profit"], 1),
                            millions(m["npv"], 1), first_year, percent(DISCOUNT_RATE, 0), price_year))
    others = what_ifs(run.name)
    example = f" (the library's what-ifs of {run.name}: {', '.join(others)})" if others else ""
    lines.append(markup("What a policy bought takes a run without it: python run_sim.py compare WITHOUT {} runs both "
                        "with the same random numbers and gives the policy's effect on share and profit, its return "
                        "on the service spending, NPV and payback year{}.", run.name, example))
    return lines


def what_ifs(name: str, at_most: int = 3) -> list[str]:
    """The library's scenarios (``scenarios/*.toml``) that extend scenario ``name`` directly, by name, sorted; at most
    ``at_most`` (none for a scenario outside the library). A file that cannot be read is skipped."""
    import tomllib

    from sim.scenario_files import SCENARIO_DIR

    found = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            extends = tomllib.loads(path.read_text(encoding="utf-8")).get("extends")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if isinstance(extends, str) and Path(extends).stem == name and path.stem != name:
            found.append(path.stem)
    return found[:at_most]


KEY_FIGURES = (  # column, header, writer of one value
    ("sales_share", "Sales share", lambda v: percent(v, 1)),
    ("repurchase_loyalty", "Repurchase loyalty", lambda v: percent(v, 0)),
    ("conquest_sales", "Conquest sales", lambda v: number(v / 1e3, 1) + "k"),
    ("csi", "CSI", lambda v: number(v, 0)),
    ("profit", "Profit ($M)", lambda v: number(v / 1e6, 0)),
)


def band_cell(mean: float, low: float, high: float, write) -> dict:
    """Mean with its 5-95% band in small type; "—" where undefined (brand not on sale)."""
    if pd.isna(mean):
        return cell(MISSING)
    return cell(write(mean), ci="" if pd.isna(low) or low == high else f"{write(low)}–{write(high)}")


def key_figures_table(run: RunData, palette: dict) -> dict:
    """Milestone years × brands: each key figure's mean with its 5-95% band over replications."""
    s = run.summary.set_index(["year", "brand"])
    rows = []
    for year in summary_years(run.years):  # the terminal summary's years
        cells = {brand: [band_cell(*s.loc[(year, brand), [f"{c}_{q}" for q in QUANTITIES]], write)
                         for c, _, write in KEY_FIGURES]
                 for brand in run.brands}
        rows += group_rows(str(year), cells, palette)
    return table("figures", [head("Year"), head("Brand", left=True), *(head(h) for _, h, _ in KEY_FIGURES)], rows)


def build_run_report(folder: Path) -> Path:
    """Write ``folder/report.html`` for a run folder (see the module docstring) and return its path.

    Raises:
        FileNotFoundError: ``folder`` is not a run folder.
    """
    run = read_run(folder)
    palette = brand_palette(run.brands)
    with style():
        figures = [plot(run, palette) for plot in RUN_FIGURES]
    launches = ", ".join(f"{b} {d}" for b, d in launch_years(run.scenario).items())
    return write_report(folder, render(
        "run.html.j2", title=f"luxsim report: {run.name}", name=run.name, header=scenario_header(run.scenario),
        brands=run.brands, years=run.years, launches=launches, headline=headline(run),
        key_figures=key_figures_table(run, palette), figures=figures, provenance=provenance(run.manifest)))


# ---- the terminal summary ----------------------------------------------------------------------------------
def summary_years(years: list[int]) -> list[int]:
    """The years the run's summaries show, the terminal's and the report's alike: the first (the headline's
    starting point), the :data:`MILESTONES` inside the run (evenly spaced years for a run outside 1986-2010), and
    the last."""
    first, last = years[0], years[-1]
    shown = [y for y in MILESTONES if first <= y <= last]
    if len(shown) < 3:
        shown = [int(round(y)) for y in np.linspace(first, last, min(6, last - first + 1))]
    return sorted({first, *shown, last})


def loyalty_band_note(summary: pd.DataFrame, years: list[int]) -> str:
    """The band R.L. Polk's make loyalty supports (:data:`sim.moments.POLK_BAND`) and the brand-years of ``years``
    whose mean repurchase loyalty lies outside it, of those with at least :data:`sim.moments.MIN_REPLACERS` real
    replacing owners (fewer, e.g. a launch year, are too few to judge)."""
    lo, hi = POLK_BAND
    judged = summary[summary["year"].isin(years) & (summary["replacers_mean"] >= MIN_REPLACERS)]
    loyalty = judged["repurchase_loyalty_mean"]
    outside = judged[(loyalty < lo) | (loyalty > hi)].sort_values(["brand", "year"])
    band = (f"R.L. Polk's make loyalty supports {lo:.0%}-{hi:.0%} (43% for the most loyal make of 1995, 44% over "
            f"all makes in 1997)")
    if outside.empty:
        return f"{band}: every brand-year shown lies inside it."
    return f"{band}; outside it: " + ", ".join(
        f"{b} {y} ({percent(v)})" for b, y, v in outside[["brand", "year", "repurchase_loyalty_mean"]].itertuples(
            index=False)) + "."


def summary_tables(summary: pd.DataFrame, title: str = "", note: str = "") -> list[dict]:
    """Three tables narrow enough for an 80-column terminal, brands by their last share: sales share, then
    repurchase loyalty (with the band Polk's data support: :func:`loyalty_band_note`), by brand in the summary
    years; then conquest sales and sales in the last year (replication means).

    Args:
        summary: ``sim.runner.summarise`` of a run's brand_year (``<column>_mean`` per year × brand).
        title, note: shown above the first table.
    """
    years = summary_years(sorted(int(y) for y in summary["year"].unique()))
    last = years[-1]
    final = summary[summary["year"] == last].set_index("brand")
    shares, loyalty, others = [], [], []
    for brand in final["sales_share_mean"].sort_values(ascending=False).index:
        by_year = summary[summary["brand"] == brand].set_index("year")
        f = final.loc[brand]
        shares.append(row([cell(percent(by_year.loc[y, "sales_share_mean"])) for y in years], label=brand))
        loyalty.append(row([cell(percent(by_year.loc[y, "repurchase_loyalty_mean"], 0)) for y in years], label=brand))
        others.append(row([cell(number(f["conquest_sales_mean"])), cell(number(f["sales_mean"]))], label=brand))
    heading = "\n".join(x for x in (title, "Sales share") if x)
    year_heads = [head(str(y)) for y in years]
    return [table("summary", [head("brand", left=True), *year_heads], shares, title=heading, note=note),
            table("summary", [head("brand", left=True), *year_heads], loyalty,
                  title="Repurchase loyalty (owners who replaced their car and bought the brand again)",
                  note=loyalty_band_note(summary, years)),
            table("summary", [head("brand", left=True), head("conquest sales"), head("sales")], others,
                  title=f"In {last}: conquest sales and sales")]
