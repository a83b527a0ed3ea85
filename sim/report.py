"""Self-contained HTML reports for result folders: who wins, by how much, how sure, and what it costs.

``build_run_report(folder)`` writes ``folder/report.html`` for one run folder (see ``sim.results.write_results``):

* the scenario's name, question and description;
* a headline computed from the data: the brand with the largest sales share in the last year and how it
  changed since the first year, the biggest gainer, how often the leader leads across replications, the
  brand with the highest repurchase loyalty;
* key figures for milestone years: sales share, repurchase loyalty, conquest sales, CSI and profit per brand,
  each the mean over replications with its 5-95% band;
* figures: sales share over time; repurchase loyalty (= 1 − churn rate) and owners lost; the switching
  heatmap (where each brand's owners went); satisfaction (CSI); service P&L and cumulative profit;
* a provenance footer from ``manifest.json`` (seed, replications, buyers, package versions, git commit,
  command line, start and end time).

``build_compare_report(folder)`` writes ``folder/report.html`` for a comparison folder (see
``sim.results.write_comparison``):

* each scenario's question; headline differences (scenario − base) in the last year with 95% intervals;
* a differences table for milestone years: sales share and repurchase loyalty in percentage points, profit
  and service cost in $M, each "mean [95% interval]", highlighted where the interval excludes zero;
* payback: per brand, the year from which the cumulative profit difference keeps its final sign and which
  scenario came out ahead, with the cumulative profit and service-cost differences;
* figures: sales share per scenario; the sales-share difference with its 95% band per brand; the cumulative
  profit difference with its 95% band per brand; and the provenance footer.

Reports read only files in the folder and write only ``report.html``. Figures are matplotlib/seaborn PNGs
embedded as base64 data URIs, and the CSS is inline, so the file opens offline. Brands keep one colour in every
figure: the scenario's brand order mapped onto a fixed palette.
"""

from __future__ import annotations

import base64
import html
import io
import json
import shlex
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator, StrMethodFormatter  # noqa: E402
from scipy import stats  # noqa: E402

from sim.compare import total_differences  # noqa: E402

REPORT_NAME = "report.html"
DPI = 110
BAND = ("pi", 90)  # 5th-95th percentile over replications
COMPARE_MILESTONES = (1995, 2000)
MINUS = "\u2212"


# ---- reading folders -----------------------------------------------------------------------------------------
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
        return self.manifest.get("scenario", {})

    @property
    def name(self) -> str:
        return self.scenario.get("name") or self.folder.name

    @property
    def brands(self) -> list[str]:
        return brand_order(self.scenario, self.brand_year["brand"])

    @property
    def years(self) -> list[int]:
        return sorted(int(y) for y in self.brand_year["year"].unique())


def read_run(folder: Path) -> RunData:
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


def brand_palette(brands: list[str]) -> dict[str, tuple]:
    """A fixed colour per brand, by position in the brand order, so colours match across figures and reports."""
    colours = sns.color_palette("tab10" if len(brands) <= 10 else "tab20", len(brands))
    return dict(zip(brands, colours))


def scenario_palette(names: list[str]) -> dict[str, tuple]:
    return dict(zip(names, sns.color_palette("Dark2", len(names))))


def launch_years(scenario: dict) -> dict[str, str]:
    return {b: spec["launch"] for b, spec in scenario.get("brands", {}).items() if spec.get("launch")}


# ---- formatting ----------------------------------------------------------------------------------------------
def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _signed(x: float, digits: int = 1) -> str:
    text = f"{abs(x):,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return text
    return ("+" if x > 0 else MINUS) + text


def _money(x: float, digits: int = 1, plus: bool = True) -> str:
    """Millions of dollars from a number of millions: +$1,234.5M, −$123.4M (no "+" with ``plus=False``)."""
    s = _signed(x, digits) if plus or x < 0 else f"{x:,.{digits}f}"
    sign, number = (s[0], s[1:]) if s[0] in "+" + MINUS else ("", s)
    return f"{sign}${number}M"


def excludes_zero(low: float, high: float) -> bool:
    """True where a confidence interval lies entirely above or below zero (NaN intervals never do)."""
    return bool(low > 0 or high < 0)


def format_difference(mean: float, low: float, high: float, unit: str = "pp", digits: int = 1) -> str:
    """"−14.5 pp [−15.8, −13.2]" (unit "pp") or "−$123.4M [−150.2, −96.1]" (unit "$M"), already scaled.
    Without an interval (one replication) only the mean; without a mean "—"."""
    if pd.isna(mean):
        return "—"
    text = _money(mean, digits) if unit == "$M" else f"{_signed(mean, digits)} {unit}".rstrip()
    if not (pd.isna(low) or pd.isna(high)):
        text += f" [{_signed(low, digits)}, {_signed(high, digits)}]"
    return text


def _value_band(mean: float, low: float, high: float, fmt) -> str:
    """Mean with its 5-95% band in small type; "—" where undefined (brand not on sale)."""
    if pd.isna(mean):
        return "—"
    band = "" if pd.isna(low) or low == high else f' <span class="ci">{esc(fmt(low))}–{esc(fmt(high))}</span>'
    return f"{esc(fmt(mean))}{band}"


def _swatch(colour: tuple) -> str:
    return f'<span class="swatch" style="background:{to_hex(colour)}"></span>'


def _time(text: str | None) -> str:
    if not text:
        return "—"
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return text


# ---- figures -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    title: str
    caption: str
    uri: str  # data:image/png;base64,...


def png_uri(fig: plt.Figure) -> str:
    """Render a figure to an embedded PNG data URI and close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@contextmanager
def _style() -> Iterator[None]:
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def _integer_years(axes, nbins: int | str = "auto") -> None:
    for ax in np.atleast_1d(axes).flat:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=nbins, integer=True))


def _thousands(axes) -> None:
    """Thousands separators on the y axis (money in $M reaches five digits)."""
    for ax in np.atleast_1d(axes).flat:
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _legend_right(ax: plt.Axes) -> None:
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), title=None, frameon=False)


def _brand_lines(data: pd.DataFrame, y: str, ylabel: str, brands: list[str], palette: dict) -> plt.Figure:
    """One line per brand over the years, mean over replications with the 5-95% band shaded."""
    fig, ax = plt.subplots(figsize=(10, 4.6))
    sns.lineplot(data=data, x="year", y=y, hue="brand", hue_order=brands, palette=palette, errorbar=BAND, ax=ax)
    ax.set(xlabel=None, ylabel=ylabel)
    _integer_years(ax)
    _legend_right(ax)
    return fig


def _brand_panels(long: pd.DataFrame, brands: list[str], palette: dict, col_order: list[str],
                  sharey: bool = False) -> sns.FacetGrid:
    """Side-by-side panels (one per ``panel``) of one line per brand with its 5-95% band."""
    g = sns.relplot(data=long, x="year", y="value", hue="brand", hue_order=brands, palette=palette,
                    col="panel", col_order=col_order, kind="line", errorbar=BAND, height=4, aspect=1.25,
                    facet_kws={"sharey": sharey})
    g.set_titles("{col_name}")
    g.set_axis_labels("", "")
    _integer_years(g.axes)
    return g


def plot_sales_share(run: RunData, palette: dict) -> Figure:
    data = run.brand_year.assign(share=run.brand_year["sales_share"] * 100)
    fig = _brand_lines(data, "share", "Sales share (%)", run.brands, palette)
    return Figure("Sales share by brand",
                  "Each line is a brand's share of the year's luxury-car sales, the mean over replications; the "
                  "shaded band is the 5th-95th percentile across replications, so non-overlapping bands mean a "
                  "robust ranking.", png_uri(fig))


def plot_loyalty_churn(run: RunData, palette: dict) -> Figure:
    by = run.brand_year
    loyalty, lost = "Repurchase loyalty (%)", "Owners lost (thousands per year)"
    long = pd.concat([by.assign(panel=loyalty, value=by["repurchase_loyalty"] * 100),
                      by.assign(panel=lost, value=by["churned_owners"] / 1e3)], ignore_index=True)
    g = _brand_panels(long, run.brands, palette, [loyalty, lost])
    churn = g.axes.flat[0].secondary_yaxis("right", functions=(lambda x: 100 - x, lambda x: 100 - x))
    churn.set_ylabel("Churn rate (%)")
    g.figure.subplots_adjust(wspace=0.3)
    return Figure("Repurchase loyalty and churn by brand",
                  "Left: the share of a brand's owners who replaced their car and bought the same brand again "
                  "(read the churn rate, 100 − loyalty, on the right axis; the first years after a launch rest on "
                  "few owners and are noisy); right: how many owners each brand lost to another brand or the "
                  "segment per year. Bands are 5th-95th percentiles across replications.", png_uri(g.figure))


def switching_matrix(switching: pd.DataFrame, brands: list[str]) -> pd.DataFrame:
    """Buyers summed over all years, from_brand (rows, plus 'new') × to_brand (columns, plus 'left')."""
    return (switching.pivot_table(index="from_brand", columns="to_brand", values="buyers", aggfunc="sum")
            .reindex(index=[*brands, "new"], columns=[*brands, "left"]).fillna(0.0))


def plot_switching(run: RunData, palette: dict) -> Figure:
    flows = switching_matrix(run.switching, run.brands)
    totals = flows.sum(axis=1)
    percent = flows.div(totals.where(totals > 0), axis=0) * 100
    percent.index = [f"{'new to segment' if b == 'new' else b} ({t / 1e3:,.0f}k)" for b, t in totals.items()]
    percent.columns = ["left segment" if b == "left" else b for b in percent.columns]
    fig, ax = plt.subplots(figsize=(10, 6.2))
    sns.heatmap(percent, annot=True, fmt=".0f", cmap="Blues", vmin=0, linewidths=0.5, linecolor="white",
                cbar_kws={"label": "% of the row's buyers"}, ax=ax)
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
    fig = _brand_lines(run.brand_year, "csi", "CSI (0-1000, 500 = neutral)", run.brands, palette)
    fig.axes[0].axhline(500, color="0.4", lw=0.8, ls=":")
    return Figure("Customer satisfaction index (CSI) by brand",
                  "Mean satisfaction of a brand's owners right after a service visit on a 0-1000 scale (dotted line "
                  "= neutral 500); higher lines mean happier owners, bands are 5th-95th percentiles across "
                  "replications.", png_uri(fig))


def plot_money(run: RunData, palette: dict) -> Figure:
    by = run.brand_year.sort_values(["replication", "brand", "year"])
    service, cumulative = "Service P&L: revenue − cost ($M per year)", "Cumulative profit ($M)"
    cum = by.groupby(["replication", "brand"], sort=False)["profit"].cumsum()
    long = pd.concat([by.assign(panel=service, value=(by["service_revenue"] - by["service_cost"]) / 1e6),
                      by.assign(panel=cumulative, value=cum / 1e6)], ignore_index=True)
    g = _brand_panels(long, run.brands, palette, [service, cumulative])
    g.axes.flat[0].axhline(0, color="0.3", lw=0.8)
    _thousands(g.axes)
    return Figure("What service costs: service P&L and cumulative profit",
                  "Left: each brand's service revenue minus service cost per year (below zero = service run at a "
                  "loss, including every service-policy cost); right: total profit (new-car margin + service P&L) "
                  "accumulated since the first year. Bands are 5th-95th percentiles across replications.",
                  png_uri(g.figure))


RUN_FIGURES = (plot_sales_share, plot_loyalty_churn, plot_switching, plot_csi, plot_money)


# ---- run report ----------------------------------------------------------------------------------------------
def run_milestones(years: list[int]) -> list[int]:
    """First year, round years (every 5, or 10 for long runs) in between, last year."""
    first, last = years[0], years[-1]
    step = 5 if last - first <= 25 else 10
    return sorted({first, last, *(y for y in years if y % step == 0)})


def headline(run: RunData) -> list[str]:
    """Sentences (HTML-escaped) on who leads, how it changed, how robust it is, and loyalty."""
    s = run.summary.set_index(["year", "brand"])
    first, last = run.years[0], run.years[-1]
    reps = run.brand_year["replication"].nunique()
    end, start = s.xs(last, level="year"), s.xs(first, level="year")
    leader = end["sales_share_mean"].idxmax()
    share, before = end.loc[leader, "sales_share_mean"], start["sales_share_mean"].get(leader, 0.0)
    direction = "up" if share > before else "down" if share < before else "unchanged"
    lines = [f"In {last}, <b>{esc(leader)}</b> has the largest sales share: <b>{share:.1%}</b> (5-95% across "
             f"{reps} replications: {end.loc[leader, 'sales_share_p05']:.1%}–"
             f"{end.loc[leader, 'sales_share_p95']:.1%}), "
             f"{direction} {abs(share - before) * 100:.1f} pp from {before:.1%} in {first}."]
    wins = (run.brand_year[run.brand_year["year"] == last]
            .sort_values("sales_share").groupby("replication")["brand"].last().value_counts())
    lines.append(f"{esc(leader)} leads in {wins.get(leader, 0)} of {reps} replications"
                 + ("." if wins.get(leader, 0) == reps else
                    f"; {', '.join(f'{esc(b)} in {n}' for b, n in wins.items() if b != leader)}."))
    gain = (end["sales_share_mean"] - start["sales_share_mean"].reindex(end.index).fillna(0)).sort_values()
    gainer = gain.index[-1]
    if gainer != leader and gain.iloc[-1] > 0:
        launch = launch_years(run.scenario).get(gainer)
        lines.append(f"The biggest gain is <b>{esc(gainer)}</b>'s{f' (launched {esc(launch)})' if launch else ''}: "
                     f"{start['sales_share_mean'].get(gainer, 0.0):.1%} → {end.loc[gainer, 'sales_share_mean']:.1%} "
                     f"({_signed(gain.iloc[-1] * 100)} pp).")
    loyal = end["repurchase_loyalty_mean"].dropna()
    if not loyal.empty:
        top = loyal.idxmax()
        lines.append(f"<b>{esc(top)}</b> has the highest repurchase loyalty in {last}: {loyal[top]:.0%} of its owners "
                     f"who replaced their car bought {esc(top)} again (next: "
                     f"{', '.join(f'{esc(b)} {v:.0%}' for b, v in loyal.drop(top).nlargest(2).items())}).")
    money = run.brand_year.groupby(["replication", "brand"])[["service_revenue", "service_cost", "profit"]].sum()
    money = money.groupby("brand").mean() / 1e6
    for brand in dict.fromkeys([leader, gainer]):
        m = money.loc[brand]
        service = _money(m["service_revenue"] - m["service_cost"], 0, plus=False)
        lines.append(f"Over {first}–{last}, {esc(brand)}'s service P&L totals {esc(service)} "
                     f"and its profit {esc(_money(m['profit'], 0, plus=False))} (replication means).")
    return lines


QUANTITIES = ("mean", "p05", "p95")  # the brand_year.csv suffixes
KEY_FIGURES = (  # column, header, formatter of one value
    ("sales_share", "Sales share", lambda v: f"{v:.1%}"),
    ("repurchase_loyalty", "Repurchase loyalty", lambda v: f"{v:.0%}"),
    ("conquest_sales", "Conquest sales", lambda v: f"{v / 1e3:,.1f}k"),
    ("csi", "CSI", lambda v: f"{v:.0f}"),
    ("profit", "Profit ($M)", lambda v: f"{v / 1e6:,.0f}"),
)


def key_figures_table(run: RunData, palette: dict) -> str:
    s = run.summary.set_index(["year", "brand"])
    years = run_milestones(run.years)
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in KEY_FIGURES)
    rows = []
    for year in years:
        cells = {brand: "".join(f"<td>{_value_band(*s.loc[(year, brand), [f'{c}_{q}' for q in QUANTITIES]], fmt)}</td>"
                                for c, _, fmt in KEY_FIGURES)
                 for brand in run.brands}
        rows += group_rows(str(year), cells, palette)
    return table_html("figures", f'<th>Year</th><th class="name">Brand</th>{head}', rows)


def group_rows(label: str, cells: dict[str, str], palette: dict) -> list[str]:
    """Table rows of one group (a year, a scenario): the label spans the group, then one row per brand with its
    colour swatch and its cells."""
    rows = []
    for i, (brand, tds) in enumerate(cells.items()):
        group = f'<th rowspan="{len(cells)}" class="group">{esc(label)}</th>' if i == 0 else ""
        brand_cell = f'<td class="brand">{_swatch(palette[brand])}{esc(brand)}</td>'
        rows.append(f'<tr class="{"first" if i == 0 else ""}">{group}{brand_cell}{tds}</tr>')
    return rows


def table_html(cls: str, header_cells: str, rows: list[str]) -> str:
    """A table (scrolling sideways on narrow screens) from header cells and body rows."""
    return (f'<div class="wide"><table class="{cls}"><thead><tr>{header_cells}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def figure_html(fig: Figure) -> str:
    return (f'<figure><h3>{esc(fig.title)}</h3><img src="{fig.uri}" alt="{esc(fig.title)}">'
            f"<figcaption>{esc(fig.caption)}</figcaption></figure>")


def provenance_html(manifest: dict, replications: list[dict] | None = None, extra: dict | None = None) -> str:
    reps = replications if replications is not None else manifest.get("replications", [])
    seconds = sum(r.get("seconds", 0) for r in reps)
    packages = ", ".join(f"{k} {v}" for k, v in manifest.get("packages", {}).items())
    command = manifest.get("command_line")
    items = {
        **(extra or {}),
        "Seed": manifest.get("seed"),
        "Replications": f"{len(reps)} (spawn keys {', '.join(str(r.get('spawn_key')) for r in reps)}; "
                        f"{seconds:,.1f} s of simulation)" if reps else "—",
        "Buyers simulated": f"{manifest['buyers_simulated']:,}" if manifest.get("buyers_simulated") else "—",
        "Packages": packages or "—",
        "Git commit": manifest.get("git_commit") or "—",
        "Command line": shlex.join(command) if isinstance(command, list) else command or "—",
        "Started": _time(manifest.get("started")),
        "Finished": _time(manifest.get("finished")),
        "Report drawn with": f"matplotlib {matplotlib.__version__}, seaborn {sns.__version__}",
    }
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items())
    return f'<footer><h2>Provenance</h2><dl>{rows}</dl></footer>'


CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;max-width:1180px;margin:2em auto;
padding:0 1.5em;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.question{font-size:1.2em;font-style:italic;color:#333}.description{color:#555;white-space:pre-line}
.headline{background:#f5f7fa;border-left:4px solid #4a6fa5;padding:.6em 1.2em}
table{border-collapse:collapse;font-size:.88em;margin:1em 0}th,td{padding:.3em .6em;text-align:right;
border-bottom:1px solid #eee;white-space:nowrap}th{background:#fafafa;white-space:normal}
td.brand,th.group,td.name,th.name{text-align:left}td.name{white-space:normal;max-width:16em}.wide{overflow-x:auto}
tr.first td,tr.first th{border-top:2px solid #bbb}.ci{color:#888;font-size:.85em}
td.sig{background:#fff4c2;font-weight:600}.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.4em;
border-radius:2px;vertical-align:baseline}
figure{margin:2em 0}figure img{max-width:100%;height:auto;display:block}
figcaption{color:#555;font-size:.92em;max-width:60em}footer{margin-top:3em;font-size:.85em;color:#555}
footer dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}
footer dt{font-weight:600}footer dd{margin:0;word-break:break-all}.note{color:#555;font-size:.92em}
"""


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f"<body>{body}</body></html>\n")


def _write(folder: Path, text: str) -> Path:
    target = Path(folder) / REPORT_NAME
    partial = target.with_name(f".{REPORT_NAME}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target


def _scenario_header(scenario: dict, name: str, level: int = 1) -> str:
    question = scenario.get("question", "")
    description = scenario.get("description", "").strip()
    return (f"<h{level}>{esc(name)}</h{level}>"
            + (f'<p class="question">{esc(question)}</p>' if question else "")
            + (f'<p class="description">{esc(description)}</p>' if description else ""))


def build_run_report(folder: Path) -> Path:
    """Write ``folder/report.html`` for a run folder and return its path."""
    run = read_run(folder)
    palette = brand_palette(run.brands)
    with _style():
        figures = [plot(run, palette) for plot in RUN_FIGURES]
    launches = ", ".join(f"{b} {d}" for b, d in launch_years(run.scenario).items())
    body = (_scenario_header(run.scenario, run.name)
            + f'<p class="note">{len(run.brands)} brands, {run.years[0]}–{run.years[-1]}'
            + (f"; launches: {esc(launches)}" if launches else "") + ".</p>"
            + '<h2>Headline</h2><div class="headline">' + "".join(f"<p>{line}</p>" for line in headline(run)) + "</div>"
            + "<h2>Key figures</h2><p class=\"note\">Mean over replications with the 5-95% band in grey; "
              "conquest sales = sales to owners of another luxury brand; CSI on 0-1000 (500 = neutral); "
              "— = not on sale.</p>" + key_figures_table(run, palette)
            + "<h2>Figures</h2>" + "".join(figure_html(f) for f in figures)
            + provenance_html(run.manifest))
    return _write(folder, page(f"luxsim report: {run.name}", body))


# ---- compare report ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompareData:
    folder: Path
    manifest: dict
    base: str
    names: list[str]  # base first
    runs: dict[str, RunData]
    differences: pd.DataFrame
    payback: pd.DataFrame

    @property
    def others(self) -> list[str]:
        return [n for n in self.names if n != self.base]

    @property
    def brands(self) -> list[str]:
        return self.runs[self.base].brands

    @property
    def years(self) -> list[int]:
        return self.runs[self.base].years


def read_comparison(folder: Path) -> CompareData:
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    base, names = manifest["scenario"]["base"], manifest["scenario"]["scenarios"]
    return CompareData(folder=folder, manifest=manifest, base=base, names=names,
                       runs={n: read_run(folder / n) for n in names},
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
SHORT = {"sales_share": "share", "repurchase_loyalty": "loyalty", "profit": "profit", "service_cost": "service cost"}


def _diff_cell(row: pd.Series | None, scale: float, unit: str) -> str:
    """A table cell "mean [interval]" from a row with diff_mean, ci_low, ci_high; highlighted if significant."""
    if row is None:
        return "<td>—</td>"
    return _interval_cell(row["diff_mean"] * scale, row["ci_low"] * scale, row["ci_high"] * scale, unit)


def _interval_cell(mean: float, low: float, high: float, unit: str) -> str:
    sig = ' class="sig"' if excludes_zero(low, high) else ""
    text = format_difference(mean, low, high, unit)
    text = text.replace(" [", ' <span class="ci">[', 1) + "</span>" if " [" in text else text
    return f"<td{sig}>{text}</td>"


def differences_table(cmp: CompareData, scenario: str, palette: dict) -> str:
    d = cmp.differences[cmp.differences["scenario"] == scenario].set_index(["metric", "year", "brand"])
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _, _ in DIFFERENCE_METRICS)
    rows = []
    for year in compare_milestones(cmp.years):
        cells = {brand: "".join(_diff_cell(d.loc[key] if (key := (m, year, brand)) in d.index else None, scale, unit)
                                for m, _, scale, unit in DIFFERENCE_METRICS)
                 for brand in cmp.brands}
        rows += group_rows(str(year), cells, palette)
    return table_html("differences", f'<th>Year</th><th class="name">Brand</th>{head}', rows)


def cumulative_totals(cmp: CompareData, scenario: str) -> pd.DataFrame:
    """Per brand: profit and service cost summed over all years, scenario − base, mean and 95% interval ($M)."""
    base, other = cmp.runs[cmp.base].brand_year, cmp.runs[scenario].brand_year
    parts = {m: total_differences(base, other, m).set_index("brand") / 1e6 for m in ("profit", "service_cost")}
    return pd.concat(parts, axis=1)


def compare_headline(cmp: CompareData, scenario: str, top: int = 3) -> list[str]:
    """The largest last-year share differences, each with the brand's cumulative profit and service-cost change."""
    last, first = cmp.years[-1], cmp.years[0]
    d = cmp.differences
    share = d[(d["scenario"] == scenario) & (d["metric"] == "sales_share") & (d["year"] == last)].set_index("brand")
    totals = cumulative_totals(cmp, scenario)
    lines = []
    for brand in share["diff_mean"].abs().sort_values(ascending=False).index[:top]:
        r = share.loc[brand]
        p, c = totals.loc[brand, "profit"], totals.loc[brand, "service_cost"]
        lines.append(f"{brand} {last} share {format_difference(r.diff_mean * 100, r.ci_low * 100, r.ci_high * 100)}; "
                     f"cumulative profit {first}–{last} {format_difference(p.diff_mean, p.ci_low, p.ci_high, '$M')}, "
                     f"service cost {format_difference(c.diff_mean, c.ci_low, c.ci_high, '$M')}")
    return lines


def payback_verdict(row: pd.Series, scenario: str, base: str) -> tuple[str, str]:
    """(payback year, who paid back) from a payback.csv row of the last year; when the cumulative profit difference
    never changed sign, the scenario that was ahead throughout."""
    if pd.notna(row["payback_year"]):
        return f"{row['payback_year']:.0f}", str(row["paid_back_by"])
    if abs(row["cum_profit"]) < 0.5:
        return "—", "no difference"
    return "never behind", f"{scenario if row['cum_profit'] > 0 else base} (ahead throughout)"


def payback_table(cmp: CompareData, palette: dict) -> str:
    p = cmp.payback
    last = int(p["year"].max())
    final = p[p["year"] == last].set_index(["scenario", "brand"])
    rows = []
    for scenario in cmp.others:
        totals = cumulative_totals(cmp, scenario)
        cells = {}
        for brand in (b for b in cmp.brands if (scenario, b) in final.index):
            year, who = payback_verdict(final.loc[(scenario, brand)], scenario, cmp.base)
            t = totals.loc[brand]
            cells[brand] = (f'<td>{year}</td><td class="name">{esc(who)}</td>'
                            f"{_diff_cell(t['profit'], 1, '$M')}{_diff_cell(t['service_cost'], 1, '$M')}")
        rows += group_rows(scenario, cells, palette)
    first = cmp.years[0]
    return table_html("payback", '<th class="name">Scenario</th><th class="name">Brand</th><th>Payback year</th>'
                      '<th class="name">Who paid back (ahead from then on)</th>'
                      f"<th>Cumulative profit {first}–{last}</th>"
                      f"<th>Cumulative service cost {first}–{last}</th>", rows)


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
    half = stats.t.ppf(0.975, np.maximum(out["n"] - 1, 1)) * out["sd"] / np.sqrt(out["n"])
    half = half.where(out["n"] > 1)
    return out.assign(ci_low=out["diff_mean"] - half, ci_high=out["diff_mean"] + half).drop(columns="sd")


def _line_with_band(data: pd.DataFrame, *, color=None, label=None, **_) -> None:
    """FacetGrid mapper: mean line and precomputed interval band (columns value, low, high)."""
    ax = plt.gca()
    data = data.sort_values("year")
    ax.fill_between(data["year"], data["low"], data["high"], color=color, alpha=0.2, linewidth=0)
    ax.plot(data["year"], data["value"], color=color, label=label, lw=1.8)


def _difference_facets(data: pd.DataFrame, cmp: CompareData, ylabel: str) -> sns.FacetGrid:
    """One panel per brand, one line per non-base scenario with its 95% band; zero line = no difference."""
    colours = scenario_palette(cmp.others)
    g = sns.FacetGrid(data, col="brand", col_order=cmp.brands, col_wrap=min(4, len(cmp.brands)), hue="scenario",
                      hue_order=cmp.others, palette=colours, height=2.5, aspect=1.35, sharey=True)
    g.map_dataframe(_line_with_band)
    g.refline(y=0, color="0.3", lw=0.8, ls="-")
    g.set_titles("{col_name}")
    g.set_axis_labels("", ylabel)
    _integer_years(g.axes, nbins=5)
    _thousands(g.axes)
    handles = {name: Line2D([], [], color=colours[name], lw=2) for name in cmp.others}
    g.add_legend(legend_data=handles, title=f"scenario − {cmp.base}", loc="lower center",
                 bbox_to_anchor=(0.5, 1.0), ncol=len(cmp.others), frameon=False)
    return g


def plot_compare_shares(cmp: CompareData, palette: dict) -> Figure:
    data = pd.concat([r.brand_year.assign(scenario=n) for n, r in cmp.runs.items()], ignore_index=True)
    data["share"] = data["sales_share"] * 100
    g = sns.relplot(data=data, x="year", y="share", hue="brand", hue_order=cmp.brands, palette=palette,
                    col="scenario", col_order=cmp.names, col_wrap=min(3, len(cmp.names)), kind="line",
                    errorbar=BAND, height=3.8, aspect=1.05)
    g.set_titles("{col_name}")
    g.set_axis_labels("", "Sales share (%)")
    _integer_years(g.axes, nbins=5)
    return Figure("Sales share by brand in each scenario",
                  f"One panel per scenario ({cmp.base} is the base); lines are means over replications and bands the "
                  "5th-95th percentile, so compare a brand's line across panels to see what the scenario changes.",
                  png_uri(g.figure))


def plot_share_difference(cmp: CompareData, palette: dict) -> Figure:
    d = cmp.differences[cmp.differences["metric"] == "sales_share"]
    data = d.assign(value=d["diff_mean"] * 100, low=d["ci_low"] * 100, high=d["ci_high"] * 100)
    g = _difference_facets(data, cmp, "Δ sales share (pp)")
    return Figure("Difference in sales share (scenario − base)",
                  "One panel per brand: the line is the mean difference in sales share in percentage points, paired by "
                  "replication, and the band its 95% interval; where the band leaves the zero line the scenario "
                  "changes that brand's share beyond chance.", png_uri(g.figure))


def plot_profit_difference(cmp: CompareData, palette: dict) -> Figure:
    d = paired_cumulative(cmp, "profit")
    data = d.assign(value=d["diff_mean"] / 1e6, low=d["ci_low"] / 1e6, high=d["ci_high"] / 1e6)
    g = _difference_facets(data, cmp, "Δ cumulative profit ($M)")
    return Figure("Difference in cumulative profit (scenario − base)",
                  "One panel per brand: profit difference accumulated since the first year in $M with its 95% "
                  "interval; a line that dips below zero and climbs back above it is a policy that pays back, in the "
                  "year it crosses zero for good.", png_uri(g.figure))


COMPARE_FIGURES = (plot_compare_shares, plot_share_difference, plot_profit_difference)


def build_compare_report(folder: Path) -> Path:
    """Write ``folder/report.html`` for a comparison folder and return its path."""
    cmp = read_comparison(folder)
    palette = brand_palette(cmp.brands)
    with _style():
        figures = [plot(cmp, palette) for plot in COMPARE_FIGURES]
    n = int(cmp.differences["n"].max())
    scenarios = "".join(
        f"<li><b>{esc(name)}</b>{' (base)' if name == cmp.base else ''}: {esc(run.scenario.get('question', ''))}"
        + (f'<br><span class="note">{esc(run.scenario.get("description", "").strip())}</span>'
           if run.scenario.get("description", "").strip() and name != cmp.base else "") + "</li>"
        for name, run in cmp.runs.items())
    headlines = "".join(f"<p><b>{esc(s)}</b> — {esc(cmp.runs[s].scenario.get('question', ''))}</p><ul>"
                        + "".join(f"<li>{esc(line)}</li>" for line in compare_headline(cmp, s)) + "</ul>"
                        for s in cmp.others)
    tables = "".join(f"<h3>{esc(s)} − {esc(cmp.base)}</h3>" + differences_table(cmp, s, palette) for s in cmp.others)
    reps = cmp.runs[cmp.base].manifest.get("replications", [])  # every scenario runs the same seeds
    body = (f"<h1>Comparison: {esc(' vs '.join(cmp.names))}</h1>"
            + _scenario_header(cmp.runs[cmp.base].scenario, f"Base: {cmp.base}", level=2)
            + f"<h2>Scenarios</h2><ul>{scenarios}</ul>"
            + f'<h2>Headline</h2><div class="headline"><p class="note">Largest changes in {cmp.years[-1]} sales '
              f"share; mean difference (scenario − base) [95% interval] over {n} replications paired by seed.</p>"
              f"{headlines}</div>"
            + "<h2>Differences</h2><p class=\"note\">Each cell is scenario − base: the mean difference over "
              f"{n} replications that share their random numbers, with its 95% t-interval; highlighted cells: the "
              "interval excludes zero. Shares and loyalty in percentage points (pp), money in $M per year.</p>"
            + tables
            + "<h2>Payback</h2><p class=\"note\">The payback year is the first year from which the cumulative "
              "profit difference keeps its final sign; who paid back is the scenario that came out ahead. "
              "Cumulative differences are scenario − base over all years, [95% interval].</p>"
            + payback_table(cmp, palette)
            + "<h2>Figures</h2>" + "".join(figure_html(f) for f in figures)
            + provenance_html(cmp.manifest, reps, {"Base": cmp.base, "Scenarios": ", ".join(cmp.names)}))
    return _write(folder, page(f"luxsim comparison: {' vs '.join(cmp.names)}", body))
