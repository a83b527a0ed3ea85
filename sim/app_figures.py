"""The browser app's exported pictures, the network layout, the latest-numbers table and the status line.

Pure functions of an :class:`sim.app_state.AppState`: each ``fig_*`` returns a matplotlib ``Figure`` (no pyplot,
so sessions never share a figure), drawn only when a chart is exported as PNG or SVG (the page's own charts are
drawn in the browser: :mod:`sim.app_charts`), in the brand colours every luxsim chart uses (:mod:`sim.style`); the
HTML helpers write numbers with :mod:`sim.formats` and give each cell a stable ``data-testid`` for the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.formats import compact_money, money, number, percent, points
from sim.report import render
from sim.style import OTHER, brand_palette

if TYPE_CHECKING:
    from sim.app_state import AppState


def stress_layout(g, ring_order: np.ndarray, iterations: int = 200) -> dict[int, tuple[float, float]]:
    """Positions whose distances follow the graph's shortest paths (stress majorization, Gansner, Koren & North
    2004), started from the ring order. Plain numpy, O(iterations x n^2): ~0.2 s for 150 nodes, where networkx's
    Kamada-Kawai takes seconds on a busy machine (its LAPACK calls contend for the cores).

    Args:
        g: a networkx graph whose nodes are buyer slots (ints).
        ring_order: the n nodes in the order the starting circle takes them, shape (n,).
        iterations: majorization steps.

    Returns:
        node -> (x, y), in units of one tie's length; pieces not connected sit one step beyond the farthest pair.
    """
    import networkx as nx
    from scipy.sparse.csgraph import shortest_path

    nodes = [int(v) for v in ring_order]
    n = len(nodes)
    if n < 3:
        return {v: (float(i), 0.0) for i, v in enumerate(nodes)}
    d = shortest_path(nx.to_scipy_sparse_array(g, nodelist=nodes, format="csr"), unweighted=True, directed=False)
    finite = np.isfinite(d)
    d[~finite] = d[finite].max() + 1  # disconnected pieces sit a step beyond the farthest pair
    w = np.zeros_like(d)
    w[d > 0] = d[d > 0] ** -2.0
    angle = 2 * np.pi * np.arange(n) / n
    x = np.c_[np.cos(angle), np.sin(angle)] * d.max() / 2
    wsum = w.sum(axis=1)[:, None]
    for _ in range(iterations):
        diff = x[:, None, :] - x[None, :, :]
        dist = np.sqrt((diff**2).sum(axis=-1))
        np.fill_diagonal(dist, 1.0)
        x = (w[:, :, None] * (x[None, :, :] + (d / np.maximum(dist, 1e-9))[:, :, None] * diff)).sum(axis=1) / wsum
    return {v: (float(x[i, 0]), float(x[i, 1])) for i, v in enumerate(nodes)}


# --------------------------------------------------------------------------------------------------------
# Figures (pure functions of the state)
# --------------------------------------------------------------------------------------------------------
def colours(state: AppState) -> dict[str, str]:
    """Brand name -> ``#rrggbb`` for the brands of the state's model: the palette of every luxsim chart."""
    return brand_palette(list(state.model.brand_names))


DPI = 110  # a chart is ~620 px wide at this dpi: on a 1366-px screen its smallest text (8.5 pt) is >= 11 px
STYLE = {"font.size": 10, "axes.labelsize": 10, "axes.titlesize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "legend.fontsize": 8.5}  # matplotlib's sizes in points, for every app chart


def draw(kind: str, state: AppState) -> Figure:
    """Chart ``kind`` (a :data:`FIGURES` key) of the state, in the app's text sizes (:data:`STYLE`)."""
    from matplotlib import rc_context

    with rc_context(STYLE):
        return FIGURES[kind](state)


def _figure(width: float = 5.6, height: float = 3.6, ncols: int = 1, right: float = 0.97, top: float = 0.78):
    fig = Figure(figsize=(width, height), dpi=DPI)
    axes = fig.subplots(1, ncols)
    fig.subplots_adjust(left=0.13 if ncols == 1 else 0.12, right=right, bottom=0.1, top=top, wspace=0.4)
    return fig, axes


def _legend(fig: Figure, state: AppState) -> None:
    """The brands' colours above the plot (the selected brand thick), and what dashes and shading mean when they
    are drawn: the pinned baseline, the 5-95% band over replications."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    palette = colours(state)
    handles = [Line2D([], [], color=palette[n], lw=2.6 if n == state.brand else 1.4, label=n)
               for n in state.model.brand_names]
    if state.replications > 1:
        handles.append(Patch(color="0.5", alpha=0.35, label=f"5-95% of {state.replications} runs"))
    if state.baseline is not None:
        handles.append(Line2D([], [], color="0.4", ls="--", lw=1.3, label="baseline"))
    fig.legend(handles=handles, loc="upper center", ncol=5, frameon=False, bbox_to_anchor=(0.5, 1.0),
               handlelength=1.6, columnspacing=1.0, borderaxespad=0.2)


def _money_axis(ax) -> None:
    """Money ticks as luxsim writes money: ``−$734M``, ``$1.2B`` (:func:`sim.formats.compact_money`)."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: compact_money(v)))


def _empty(ax, text: str = "Press 'Step one year' or 'Run to end'") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


BASELINE_STYLE = {"ls": "--", "lw": 1.3, "alpha": 0.55}  # the pinned baseline: dashed, faded, under the run
BAND_ALPHA = 0.18  # the 5-95% band over replications


def _lines(ax, state: AppState, value: str, scale: float = 1.0) -> None:
    """One line per brand of a yearly metric: the mean over replications (the selected brand thick), its 5-95% band
    with several replications, and the pinned baseline's mean dashed and faded beneath (brand colours as in the
    table beside the charts)."""
    palette = colours(state)
    band = state.series().band(value)
    base = state.baseline.series.band(value) if state.baseline is not None else None
    shaded = state.series().replications > 1
    for name in state.model.brand_names:
        focus = name == state.brand
        if base is not None:
            old = base[base["brand"] == name]
            ax.plot(old["year"] + 0.5, old["mean"] * scale, color=palette[name], zorder=1, **BASELINE_STYLE)
        rows = band[band["brand"] == name]
        x = rows["year"] + 0.5
        if shaded:
            ax.fill_between(x, rows["p05"] * scale, rows["p95"] * scale, color=palette[name], alpha=BAND_ALPHA, lw=0,
                            zorder=1)
        ax.plot(x, rows["mean"] * scale, color=palette[name], lw=2.6 if focus else 1.2, alpha=1.0 if focus else 0.8,
                marker="o" if len(rows) < 4 else None, ms=3, zorder=3 if focus else 2)


def _x_range(ax, state: AppState) -> None:
    start = state.scenario.market.start_year
    ax.set_xlim(start, start + state.scenario.market.years)


def fig_share(state: AppState) -> Figure:
    """Sales share by brand, trailing 12 months, in percent, month by month: the mean over replications (the chosen
    brand bold, its launch dotted), a 5-95% band with several replications, the pinned baseline dashed. An empty
    chart before the first month."""
    fig, ax = _figure()
    series = state.series()
    if series.months == 0:
        _empty(ax)
        return fig
    palette = colours(state)
    share = series.share_frame()
    if state.baseline is not None:
        old = state.baseline.series.share_frame()
        for name in share.columns:
            if name in old.columns:
                ax.plot(old.index, old[name] * 100, color=palette[name], zorder=1, **BASELINE_STYLE)
    if series.replications > 1:
        low, high = series.share_frame("p05"), series.share_frame("p95")
        for name in share.columns:
            ax.fill_between(share.index, low[name] * 100, high[name] * 100, color=palette[name], alpha=BAND_ALPHA,
                            lw=0, zorder=1)
    for name in share.columns:
        focus = name == state.brand
        ax.plot(share.index, share[name] * 100, color=palette[name], lw=2.6 if focus else 1.2,
                zorder=3 if focus else 2)
    launch = state.scenario.brands[state.brand].launch
    if launch:
        year, month = (int(p) for p in launch.split("-"))
        ax.axvline(year + (month - 1) / 12, color=palette[state.brand], ls=":", lw=1)
    _x_range(ax, state)
    ax.set_ylim(0, None)
    ax.set_ylabel("sales share, last 12 months (%)")
    ax.grid(alpha=0.3)
    _legend(fig, state)
    return fig


def fig_loyalty(state: AppState) -> Figure:
    """Repurchase loyalty by brand and year, in percent (owners who rebought the brand over owners who replaced).
    Empty until the first full year."""
    fig, ax = _figure()
    if state.series().yearly.empty:
        _empty(ax, "Loyalty appears after the first full year")
        return fig
    _lines(ax, state, "repurchase_loyalty", 100)
    _x_range(ax, state)
    ax.set_ylim(0, 100)
    ax.set_ylabel("repurchase loyalty (%)")
    ax.grid(alpha=0.3)
    _legend(fig, state)
    return fig


def fig_csi(state: AppState) -> Figure:
    """Customer satisfaction (CSI, 0-1000, 500 neutral) by brand and year. Empty until the first full year."""
    fig, ax = _figure()
    if state.series().yearly.empty:
        _empty(ax, "CSI appears after the first full year")
        return fig
    _lines(ax, state, "csi")
    _x_range(ax, state)
    ax.axhline(500, color="0.5", lw=0.8, ls="--")
    ax.set_ylabel("CSI (0-1000, 500 = neutral)")
    ax.grid(alpha=0.3)
    _legend(fig, state)
    return fig


def fig_money(state: AppState) -> Figure:
    """Service margin per year and cumulative profit, by brand, in millions of dollars (two panels). Empty until
    the first full year."""
    fig, (left, right) = _figure(ncols=2, top=0.72)
    if state.series().yearly.empty:
        _empty(left, "The P&L appears after\nthe first full year")
        _empty(right, "")
        return fig
    _lines(left, state, "service_margin")
    left.axhline(0, color="0.3", lw=0.8)
    left.set_title(f"service margin per year ({state.scenario.market.price_year} $)")
    _lines(right, state, "cum_profit")
    right.set_title(f"cumulative profit ({state.scenario.market.price_year} $)")
    for ax in (left, right):
        _x_range(ax, state)
        ax.grid(alpha=0.3)
        _money_axis(ax)
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
    _legend(fig, state)
    return fig


def fig_flows(state: AppState) -> Figure:
    """Who took buyers from whom: a heat map of buyers (thousands, real units) from the brand owned before (rows)
    to the brand bought (columns) over ``state.flow_window``; loyal repurchases left blank, the chosen brand's
    row and column boxed."""
    fig, ax = _figure(height=4.0, right=0.99)
    fig.subplots_adjust(left=0.22, bottom=0.25, top=0.93)
    f = state.flows()
    if state.months_done == 0 or f.to_numpy().sum() == 0:
        _empty(ax)
        return fig
    shown = f.to_numpy() / 1000.0
    n = len(state.model.brand_names)
    shown[np.arange(n), np.arange(n)] = np.nan  # loyal repurchases: not a flow between brands
    ax.imshow(np.ma.masked_invalid(shown), cmap="Reds", aspect="auto")
    ax.set_xticks(range(f.shape[1]), f.columns, rotation=40, ha="right", fontsize=8.5)
    ax.set_yticks(range(f.shape[0]), f.index, fontsize=8.5)
    top = np.nanmax(shown) if np.isfinite(shown).any() else 0
    for r in range(shown.shape[0]):
        for c in range(shown.shape[1]):
            v = shown[r, c]
            if np.isfinite(v) and v >= 0.05:
                ax.text(c, r, f"{v:.0f}" if v >= 10 else f"{v:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if v > 0.6 * top else "black")
    if state.brand in f.index:
        i = list(f.index).index(state.brand)
        ax.add_patch(_row_box(i, f.shape[1]))
        ax.add_patch(_col_box(i, f.shape[0]))
    ax.set_title(f"thousands of buyers, {state.flow_window}")
    return fig


def _row_box(i: int, width: int):
    from matplotlib.patches import Rectangle

    return Rectangle((-0.5, i - 0.5), width, 1, fill=False, lw=1.5, ec="#333333")


def _col_box(i: int, height: int):
    from matplotlib.patches import Rectangle

    return Rectangle((i - 0.5, -0.5), 1, height, fill=False, lw=1.5, ec="#333333", ls="--")


def fig_network(state: AppState) -> Figure:
    """A sample of the buyers' social network: buyers coloured by the brand they own (grey: outside the segment),
    their ties, and the share of ties between owners of the same brand against its value under random mixing."""
    from matplotlib.collections import LineCollection

    fig, ax = _figure(height=4.0, right=0.66)
    fig.subplots_adjust(left=0.01, bottom=0.01, top=0.92)
    g, pos = state.network_graph()
    if not g.number_of_nodes():
        _empty(ax, "No buyers to show")
        return fig
    brands = state.network_brands()
    names = state.model.brand_names
    palette = colours(state)
    segments = [(pos[u], pos[v]) for u, v in g.edges]
    ax.add_collection(LineCollection(segments, colors="#bbbbbb", linewidths=0.4, zorder=1))
    nodes = list(brands.index)
    xy = np.array([pos[int(v)] for v in nodes])
    ax.scatter(xy[:, 0], xy[:, 1], s=26, c=[palette.get(brands[v], "#eeeeee") for v in nodes],
               edgecolors="#555555", linewidths=0.3, zorder=2)
    counts = brands.value_counts()
    for name in names:
        if counts.get(name, 0):
            ax.scatter([], [], color=palette[name], label=f"{name} ({counts[name]})", s=25)
    outside = int(brands.isna().sum())
    if outside:
        ax.scatter([], [], color="#eeeeee", edgecolors="#555555", label=f"not in segment ({outside})", s=25)
    same, expected = state.same_brand_ties()
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_axis_off()
    title = f"{len(nodes)} neighbours and their ties, {state.model.date() if state.months_done else 'at the start'}"
    ax.set_title(title)
    if np.isfinite(same):
        fig.text(0.68, 0.06, f"ties between owners\nof the same brand:\n{same:.0%} ({expected:.0%} if brands\n"
                 "were spread at random)", fontsize=8.5, color="0.25")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


# --------------------------------------------------------------------------------------------------------
# The table and the status line beside the charts
# --------------------------------------------------------------------------------------------------------
CELLS: tuple[tuple[str, Callable[[float], str]], ...] = (
    ("share_12m", percent), ("loyalty", percent), ("csi", number), ("service_margin", money), ("cum_profit", money),
    ("prestige", lambda x: number(x, 2)))  # the latest table's columns (AppState.latest) and how each is written


def latest_table_html(state: AppState) -> str:
    """The numbers beside the charts, as an HTML table: one row per brand (the selected brand in bold), one cell per
    column of :meth:`AppState.latest`, written by :mod:`sim.formats` (share ``12.3%``, margin ``−$734.0M``, missing
    ``—``), each with ``data-testid="COLUMN-BRAND"`` and the unrounded value in ``data-value`` ("" when missing)."""
    t = state.latest()
    palette = colours(state)
    rows = [{"brand": str(name), "colour": palette[str(name)], "selected": name == state.brand,
             "cells": [{"column": col, "text": write(r[col]),
                        "raw": repr(float(r[col])) if np.isfinite(r[col]) else ""} for col, write in CELLS]}
            for name, r in t.iterrows()]
    return render("app_latest.html.j2", rows=rows)


DIFF_CELLS: tuple[tuple[str, Callable[[float], str], Callable[[float], str]], ...] = (
    ("sales_share", points, percent), ("repurchase_loyalty", points, percent),
    ("cum_profit", lambda x: money(x, plus=True), money))  # the difference panel: metric, difference, level writers


def comparison_html(state: AppState) -> str:
    """The difference panel against the pinned baseline, as HTML: the baseline's settings, the headline in words
    (:meth:`AppState.headline`), and one row per brand both runs hold with current − baseline of share, loyalty and
    cumulative profit in the last complete year both have (``+2.1 pp``, ``−$734.0M``), each cell with
    ``data-testid="diff-METRIC-BRAND"``, the unrounded difference in ``data-value`` and both levels in its title.
    "" without a baseline."""
    if state.baseline is None:
        return ""
    panel = state.difference_panel()
    palette = colours(state)
    rows = []
    for name, r in panel.iterrows():
        cells = []
        for metric, diff, level in DIFF_CELLS:
            d = r[f"{metric}_diff"]
            cells.append({"column": metric, "text": diff(d), "raw": repr(float(d)) if np.isfinite(d) else "",
                          "title": f"now {level(r[f'{metric}_current'])}, baseline {level(r[f'{metric}_baseline'])}"})
        rows.append({"brand": str(name), "colour": palette.get(str(name), OTHER), "selected": name == state.brand,
                     "cells": cells})
    year = int(panel["year"].iloc[0]) if len(panel) else ""
    return render("app_compare.html.j2", label=state.baseline.label, headline=state.headline(), rows=rows, year=year)


def status_html(state: AppState, running: bool) -> str:
    """The status line ("1990-12: month 60 of 300"), its state in ``data-months``, ``data-done`` (0/1),
    ``data-running`` (0/1) and ``data-generation`` (bumped by every rebuild) for the tests to wait on, and in
    ``data-model-seconds`` the seconds the model has spent simulating since the rebuild (the benchmark's app
    efficiency: :func:`sim.bench.app_efficiency`)."""
    return render("app_status.html.j2", months=state.months_done, done=int(state.done), running=int(running),
                  generation=state.generation, status=state.status(), model_seconds=f"{state.model_seconds:.4f}")


FIGURES: dict[str, Callable[[AppState], Figure]] = {
    "share": fig_share, "loyalty": fig_loyalty, "flows": fig_flows, "csi": fig_csi, "money": fig_money,
    "network": fig_network}  # AppState.figure(kind) draws FIGURES[kind]
