"""The report of a comparison folder (``sim.results.write_comparison``): what a scenario changes, how sure, and
when it pays.

``build_compare_report(folder)`` writes ``folder/report.html`` from the template ``compare.html.j2``:

* each scenario's question; headline differences (scenario − base) in the last year with 95% intervals;
* a differences table for milestone years: sales share and repurchase loyalty in percentage points, profit
  and service cost in $M, each "mean [95% interval]", highlighted where the interval excludes zero;
* payback: per brand, the year from which the cumulative profit difference keeps its final sign and which
  scenario came out ahead, with the cumulative profit and service-cost differences;
* figures: sales share per scenario; the sales-share difference with its 95% band per brand; the cumulative
  profit difference with its 95% band per brand; and the provenance block.

:func:`summary_tables` are the terminal and notebook summary of a ``sim.compare.Comparison``, below its verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from sim.compare import DISCOUNT_RATE, Verdict, total_differences, verdict
from sim.figures import BAND, Figure, integer_years, line_with_band, png_uri, style, thousands
from sim.files import safe_name
from sim.formats import MISSING, difference
from sim.report import (
    cell,
    excludes_zero,
    group_rows,
    head,
    provenance,
    render,
    row,
    scenario_header,
    table,
    write_report,
)
from sim.run_report import RunData, read_run
from sim.stats import CLIPPED_NOTE, few_replications, t_half_width
from sim.style import brand_palette, scenario_palette

COMPARE_MILESTONES = (1995, 2000)


@dataclass(frozen=True)
class CompareData:
    """The files of a comparison folder: one run folder per scenario, differences.csv, payback.csv."""

    folder: Path
    manifest: dict
    base: str
    names: list[str]  # base first
    runs: dict[str, RunData]
    differences: pd.DataFrame
    payback: pd.DataFrame

    @property
    def others(self) -> list[str]:
        """The compared scenarios other than the base, in order."""
        return [n for n in self.names if n != self.base]

    @property
    def brands(self) -> list[str]:
        """The base scenario's brands that some other scenario has too (the brands compared), in its order."""
        compared = set(self.differences["brand"].astype(str))
        return [b for b in self.runs[self.base].brands if b in compared]

    @property
    def years(self) -> list[int]:
        """The base run's simulated years, ascending."""
        return self.runs[self.base].years


def read_comparison(folder: Path) -> CompareData:
    """Read a comparison folder.

    Raises:
        FileNotFoundError: a file is missing (not a comparison folder).
    """
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    base, names = manifest["scenario"]["base"], manifest["scenario"]["scenarios"]
    return CompareData(folder=folder, manifest=manifest, base=base, names=names,
                       runs={n: read_run(folder / safe_name(n)) for n in names},
                       differences=pd.read_csv(folder / "differences.csv"),
                       payback=pd.read_csv(folder / "payback.csv"))


def compare_milestones(years: list[int]) -> list[int]:
    """1995 and 2000 where they lie inside the run, and the last year (or the middle year, if neither does)."""
    first, last = years[0], years[-1]
    inside = [y for y in COMPARE_MILESTONES if first < y < last]
    return inside + [last] if inside or last - first < 4 else [(first + last) // 2, last]


DIFFERENCE_METRICS = (  # metric, header, scale, unit
    ("sales_share", "Sales share (pp)", 100, "pp"),
    ("repurchase_loyalty", "Repurchase loyalty (pp)", 100, "pp"),
    ("profit", "Profit ($M/yr)", 1e-6, "$M"),
    ("service_cost", "Service cost ($M/yr)", 1e-6, "$M"),
)


def difference_cell(mean: float, low: float, high: float, unit: str = "pp", digits: int = 1) -> dict:
    """A cell "mean [interval]" (already scaled), highlighted where the interval excludes zero."""
    text = difference(mean, low, high, unit, digits)
    value, _, ends = text.partition(" [")
    return cell(value, ci=f"[{ends}" if ends else "", sig=excludes_zero(low, high))


def _row_cell(r: pd.Series | None, scale: float, unit: str) -> dict:
    if r is None:
        return cell(MISSING)
    return difference_cell(r["diff_mean"] * scale, r["ci_low"] * scale, r["ci_high"] * scale, unit)


def differences_table(cmp: CompareData, scenario: str, palette: dict) -> dict:
    """Scenario - base in milestone years, per brand: each difference metric with its 95% interval."""
    d = cmp.differences[cmp.differences["scenario"] == scenario].set_index(["metric", "year", "brand"])
    rows = []
    years = sorted(int(y) for y in d.index.get_level_values("year").unique()) or cmp.years
    for year in compare_milestones(years):
        cells = {brand: [_row_cell(d.loc[key] if (key := (m, year, brand)) in d.index else None, scale, unit)
                         for m, _, scale, unit in DIFFERENCE_METRICS]
                 for brand in cmp.brands}
        rows += group_rows(str(year), cells, palette)
    return table("differences",
                 [head("Year"), head("Brand", left=True), *(head(h) for _, h, _, _ in DIFFERENCE_METRICS)],
                 rows, title=f"{scenario} − {cmp.base}")


def cumulative_totals(cmp: CompareData, scenario: str) -> pd.DataFrame:
    """Per brand: profit and service cost summed over all years, scenario − base, mean and 95% interval ($M)."""
    base, other = cmp.runs[cmp.base].brand_year, cmp.runs[scenario].brand_year
    parts = {m: total_differences(base, other, m).set_index("brand") / 1e6 for m in ("profit", "service_cost")}
    return pd.concat(parts, axis=1)


def compare_headline(cmp: CompareData, scenario: str, top: int = 3) -> list[str]:
    """The largest share differences in the last year both scenarios have, each with the brand's cumulative profit
    and service-cost change over the years both have."""
    d = cmp.differences[cmp.differences["scenario"] == scenario]
    if d.empty:
        return []
    first, last = int(d["year"].min()), int(d["year"].max())
    share = d[(d["metric"] == "sales_share") & (d["year"] == last)].set_index("brand")
    totals = cumulative_totals(cmp, scenario)
    lines = []
    for brand in share["diff_mean"].abs().sort_values(ascending=False).index[:top]:
        r = share.loc[brand]
        p, c = totals.loc[brand, "profit"], totals.loc[brand, "service_cost"]
        lines.append(f"{brand} {last} share {difference(r.diff_mean * 100, r.ci_low * 100, r.ci_high * 100)}; "
                     f"cumulative profit {first}–{last} {difference(p.diff_mean, p.ci_low, p.ci_high, '$M')}, "
                     f"service cost {difference(c.diff_mean, c.ci_low, c.ci_high, '$M')}")
    return lines


def verdict_headline(verdicts: dict[str, Verdict | None], n: int) -> list[str]:
    """The verdicts' sentences (:meth:`sim.compare.Verdict.lines`), scenario by scenario, then the warning when ``n``
    replications are too few (``sim.stats.few_replications``): what the terminal and the report both print."""
    lines = [line for v in verdicts.values() if v is not None for line in v.lines()]
    warning = few_replications(n)
    return lines + ([warning] if warning else [])


def compare_verdicts(cmp: CompareData) -> dict[str, Verdict | None]:
    """Each compared scenario's :func:`sim.compare.verdict` against the base, from the folder's runs."""
    base = cmp.runs[cmp.base].brand_year
    first = cmp.runs[cmp.base].scenario
    return {s: verdict(base, cmp.runs[s].brand_year, cmp.base, s, scenarios=(first, cmp.runs[s].scenario))
            for s in cmp.others}


def payback_verdict(r: pd.Series, scenario: str, base: str) -> tuple[str, str]:
    """(payback year, who paid back) from a payback.csv row of the last year; when the cumulative profit difference
    never changed sign, the scenario that was ahead throughout."""
    if pd.notna(r["payback_year"]):
        return f"{r['payback_year']:.0f}", str(r["paid_back_by"])
    if abs(r["cum_profit"]) < 0.5:
        return MISSING, "no difference"
    return "never behind", f"{scenario if r['cum_profit'] > 0 else base} (ahead throughout)"


def payback_table(cmp: CompareData, palette: dict) -> dict:
    """Per scenario and brand: the payback year, who came out ahead, and the cumulative profit and service cost
    differences ($M, with 95% intervals) over the whole run."""
    p = cmp.payback
    last = int(p["year"].max())
    final = p.sort_values("year").groupby(["scenario", "brand"], sort=False).tail(1).set_index(["scenario", "brand"])
    rows = []
    for scenario in cmp.others:
        totals = cumulative_totals(cmp, scenario)
        cells = {}
        for brand in (b for b in cmp.brands if (scenario, b) in final.index):
            year, who = payback_verdict(final.loc[(scenario, brand)], scenario, cmp.base)
            t = totals.loc[brand]
            cells[brand] = [cell(year), cell(who, "name"), _row_cell(t["profit"], 1, "$M"),
                            _row_cell(t["service_cost"], 1, "$M")]
        rows += group_rows(scenario, cells, palette)
    first = cmp.years[0]
    return table("payback", [head("Scenario", left=True), head("Brand", left=True), head("Payback year"),
                             head("Who paid back (ahead from then on)", left=True),
                             head(f"Cumulative profit {first}–{last}"),
                             head(f"Cumulative service cost {first}–{last}")],
                 rows)


# ---- figures -----------------------------------------------------------------------------------------------
def paired_cumulative(cmp: CompareData, metric: str) -> pd.DataFrame:
    """Per scenario × brand × year: the cumulative difference in ``metric`` (scenario − base), mean and 95%
    t-interval over replications paired by replication."""
    keys = ["replication", "year", "brand"]
    base = cmp.runs[cmp.base].brand_year.set_index(keys)[metric]
    parts = []
    for name in cmp.others:
        diff = (cmp.runs[name].brand_year.set_index(keys)[metric] - base).dropna().reset_index(name="diff")
        diff = diff.sort_values(keys)
        diff["cum"] = diff.groupby(["replication", "brand"])["diff"].cumsum()
        parts.append(diff.assign(scenario=name))
    g = pd.concat(parts, ignore_index=True).groupby(["scenario", "brand", "year"])["cum"]
    out = g.agg(diff_mean="mean", sd="std", n="count").reset_index()
    half = t_half_width(out["sd"].to_numpy(), out["n"].to_numpy())
    return out.assign(ci_low=out["diff_mean"] - half, ci_high=out["diff_mean"] + half).drop(columns="sd")


def _difference_facets(data: pd.DataFrame, cmp: CompareData, ylabel: str) -> sns.FacetGrid:
    """One panel per brand, one line per non-base scenario with its 95% band; zero line = no difference."""
    colours = scenario_palette(cmp.others)
    g = sns.FacetGrid(data, col="brand", col_order=cmp.brands, col_wrap=min(4, len(cmp.brands)), hue="scenario",
                      hue_order=cmp.others, palette=colours, height=2.5, aspect=1.35, sharey=True)
    g.map_dataframe(line_with_band)
    g.refline(y=0, color="0.3", lw=0.8, ls="-")
    g.set_titles("{col_name}")
    g.set_axis_labels("", ylabel)
    integer_years(g.axes, nbins=5)
    thousands(g.axes)
    handles = {name: Line2D([], [], color=colours[name], lw=2) for name in cmp.others}
    g.add_legend(legend_data=handles, title=f"scenario − {cmp.base}", loc="lower center",
                 bbox_to_anchor=(0.5, 1.0), ncol=len(cmp.others), frameon=False)
    return g


def plot_compare_shares(cmp: CompareData, palette: dict) -> Figure:
    """Sales share by brand and year (%), one panel per scenario, replication means."""
    data = pd.concat([r.brand_year.assign(scenario=n) for n, r in cmp.runs.items()], ignore_index=True)
    data["share"] = data["sales_share"] * 100
    g = sns.relplot(data=data, x="year", y="share", hue="brand", hue_order=cmp.brands, palette=palette,
                    col="scenario", col_order=cmp.names, col_wrap=min(3, len(cmp.names)), kind="line",
                    errorbar=BAND, height=3.8, aspect=1.05)
    g.set_titles("{col_name}")
    g.set_axis_labels("", "Sales share (%)")
    integer_years(g.axes, nbins=5)
    return Figure("Sales share by brand in each scenario",
                  f"One panel per scenario ({cmp.base} is the base); lines are means over replications and bands the "
                  "5th-95th percentile, so compare a brand's line across panels to see what the scenario changes.",
                  png_uri(g.figure))


def plot_share_difference(cmp: CompareData, palette: dict) -> Figure:
    """Scenario - base sales share (pp) by year, with 95% intervals: one panel per brand, one line per scenario."""
    d = cmp.differences[cmp.differences["metric"] == "sales_share"]
    data = d.assign(value=d["diff_mean"] * 100, low=d["ci_low"] * 100, high=d["ci_high"] * 100)
    g = _difference_facets(data, cmp, "Δ sales share (pp)")
    return Figure("Difference in sales share (scenario − base)",
                  "One panel per brand: the line is the mean difference in sales share in percentage points, paired by "
                  "replication, and the band its 95% interval; where the band leaves the zero line the scenario "
                  "changes that brand's share beyond chance.", png_uri(g.figure))


def plot_profit_difference(cmp: CompareData, palette: dict) -> Figure:
    """Scenario - base cumulative profit ($M) by year, with 95% intervals: one panel per brand, a line per scenario."""
    d = paired_cumulative(cmp, "profit")
    data = d.assign(value=d["diff_mean"] / 1e6, low=d["ci_low"] / 1e6, high=d["ci_high"] / 1e6)
    g = _difference_facets(data, cmp, "Δ cumulative profit ($M)")
    return Figure("Difference in cumulative profit (scenario − base)",
                  "One panel per brand: profit difference accumulated since the first year in $M with its 95% "
                  "interval; a line that dips below zero and climbs back above it is a policy that pays back, in the "
                  "year it crosses zero for good.", png_uri(g.figure))


COMPARE_FIGURES = (plot_compare_shares, plot_share_difference, plot_profit_difference)


def build_compare_report(folder: Path) -> Path:
    """Write ``folder/report.html`` for a comparison folder (see the module docstring) and return its path.

    Raises:
        FileNotFoundError: ``folder`` is not a comparison folder.
    """
    cmp = read_comparison(folder)
    palette = brand_palette(cmp.brands)
    with style():
        figures = [plot(cmp, palette) for plot in COMPARE_FIGURES]
    scenarios = [{"name": name, "base": name == cmp.base, **scenario_header(run.scenario)}
                 for name, run in cmp.runs.items()]
    reps = cmp.runs[cmp.base].manifest.get("replications", [])  # every scenario runs the same seeds
    n = int(cmp.runs[cmp.base].brand_year["replication"].nunique())
    verdicts = compare_verdicts(cmp)
    clipped = bool(cmp.differences.get("clipped", pd.Series(dtype=bool)).fillna(False).astype(bool).any()) or any(
        v.share_clipped for v in verdicts.values() if v is not None)
    return write_report(folder, render(
        "compare.html.j2", title=f"luxsim comparison: {' vs '.join(cmp.names)}", names=cmp.names, base=cmp.base,
        base_header=scenario_header(cmp.runs[cmp.base].scenario), scenarios=scenarios,
        last=cmp.years[-1], n=n, verdicts=[{"name": s, "lines": v.lines()} for s, v in verdicts.items() if v],
        discount_rate=f"{DISCOUNT_RATE:.0%}", warning=few_replications(n) or "",
        clipped_note=CLIPPED_NOTE if clipped else "",
        headlines=[{"name": s, "question": cmp.runs[s].scenario.get("question", ""), "lines": compare_headline(cmp, s)}
                   for s in cmp.others],
        tables=[differences_table(cmp, s, palette) for s in cmp.others], payback=payback_table(cmp, palette),
        figures=figures,
        provenance=provenance(cmp.manifest, reps, {"Base": cmp.base, "Scenarios": ", ".join(cmp.names)})))


# ---- the terminal summary ----------------------------------------------------------------------------------
def summary_tables(comparison, name: str) -> list[dict]:
    """One scenario of a ``sim.compare.Comparison`` against its base, in two tables narrow enough for an 80-column
    terminal (each interval on its own line under its mean):

    * share and loyalty: per brand, the sales-share difference in 1995 or 2000 (where inside the run) and the last
      year, and the loyalty difference in the last year, in percentage points;
    * money: per brand, the cumulative profit difference ($M), the payback year and who came out ahead (the words
      of the report's payback table, :func:`payback_verdict`).

    Each difference is mean [95% interval] over paired replications; a share or loyalty interval that ran past
    [−100, +100] pp is cut there and marked "clipped" in the note. Only the brands and years both scenarios have are
    compared (``sim.compare.common``)."""
    diffs = comparison.differences(name)
    first, last = int(diffs["year"].min()), int(diffs["year"].max())
    mid = next((y for y in COMPARE_MILESTONES if first < y < last), None)
    years = [y for y in (mid, last) if y is not None]
    d = diffs.set_index(["metric", "year", "brand"])
    profit = comparison.total_differences(name, "profit").set_index("brand")
    pay = comparison.payback(name).sort_values("year").groupby("brand", sort=False).tail(1).set_index("brand")
    shares, money, clipped = [], [], False
    for brand in diffs["brand"].unique():
        cells = []
        for key in [("sales_share", y, brand) for y in years] + [("repurchase_loyalty", last, brand)]:
            r = d.loc[key] if key in d.index else None
            clipped |= r is not None and bool(r.get("clipped", False))
            c = _row_cell(r, 100, "")
            cells.append(c)
        shares.append(row(cells, label=brand))
        p = profit.loc[brand]
        year, who = payback_verdict(pay.loc[brand], name, comparison.base)  # as the report says it
        who = {"other": name, "base": comparison.base}.get(who, who)
        money.append(row([difference_cell(p.diff_mean / 1e6, p.ci_low / 1e6, p.ci_high / 1e6, "$M", 0),
                          cell(year), cell(who, "name")], label=brand))
    scenario = comparison.runs[name][0]
    reps = len(comparison.runs[name][1])
    note = f"mean difference [95% interval] over {reps} paired replications"
    title = f"{name} − {comparison.base}: {scenario.question}"
    share_table = table("differences", [head("brand", left=True), *(head(f"share {y}") for y in years),
                                        head(f"loyalty {last}")], shares,
                        title=f"{title}\nSales share and repurchase loyalty (pp)",
                        note=f"({note}{'; ' + CLIPPED_NOTE if clipped else ''})")
    money_table = table("payback", [head("brand", left=True), head(f"profit {first}–{last} ($M)"),
                                    head("payback"), head("ahead from then on", left=True)], money,
                        title=f"{name} − {comparison.base}: cumulative profit and payback",
                        note=f"({note})")
    return [{**share_table, "stack": True}, {**money_table, "stack": True}]
