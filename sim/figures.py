"""Figures for reports: matplotlib drawn in one style (seaborn's whitegrid look, without importing seaborn: it and
scipy.stats take seconds to import), embedded as PNG data URIs.

A figure is a :class:`Figure` (title, caption, ``data:image/png;base64,...``), so a report stays one file that
opens offline. Brand colours come from ``sim.style.brand_palette`` (the app's palette), scenario colours from
``sim.style.scenario_palette``.
"""

from __future__ import annotations

import base64
import io
import re
import unicodedata
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator, StrMethodFormatter  # noqa: E402

from sim.scenario_files import ScenarioWarning  # noqa: E402

DPI = 110
BAND = ("pi", 90)  # 5th-95th percentile over replications (seaborn's errorbar; :func:`band_lines` draws the same)
# seaborn 0.13's axes_style("whitegrid") and plotting_context("notebook", font_scale=0.9), as matplotlib settings
# (tests/test_report.py checks them against seaborn; its "rocket" colour map is left out: no figure uses the default)
STYLE_RC = {
    "figure.facecolor": "white", "axes.labelcolor": ".15", "xtick.direction": "out", "ytick.direction": "out",
    "xtick.color": ".15", "ytick.color": ".15", "axes.axisbelow": True, "grid.linestyle": "-", "text.color": ".15",
    "font.family": ["sans-serif"], "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans",
                                                       "Bitstream Vera Sans", "sans-serif"],
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True, "xtick.top": False,
    "ytick.right": False, "axes.grid": True, "axes.facecolor": "white", "axes.edgecolor": ".8", "grid.color": ".8",
    "axes.spines.left": True, "axes.spines.bottom": True, "axes.spines.right": True, "axes.spines.top": True,
    "xtick.bottom": False, "ytick.left": False, "axes.linewidth": 1.25, "grid.linewidth": 1, "lines.linewidth": 1.5,
    "lines.markersize": 6, "patch.linewidth": 1, "xtick.major.width": 1.25, "ytick.major.width": 1.25,
    "xtick.minor.width": 1, "ytick.minor.width": 1, "xtick.major.size": 6, "ytick.major.size": 6,
    "xtick.minor.size": 4, "ytick.minor.size": 4, "font.size": 10.8, "axes.labelsize": 10.8, "axes.titlesize": 10.8,
    "xtick.labelsize": 9.9, "ytick.labelsize": 9.9, "legend.fontsize": 9.9, "legend.title_fontsize": 10.8,
}


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its heading, its caption (what to read in it) and its PNG as a data URI."""

    title: str
    caption: str
    uri: str  # data:image/png;base64,...


class MissingGlyphs(ScenarioWarning):
    """Some text of a figure (a brand name in a script the charts' font lacks, an emoji) is drawn as boxes: a
    warning about what the scenario says, printed as one line by the command line like the others. ``chars``: the
    characters lacking."""

    def __init__(self, chars: set[str]):
        self.chars = set(chars)
        super().__init__(f"the charts' font has no glyph for {' '.join(sorted(self.chars))} (drawn as boxes; the "
                         "tables show the names as written)")


def _glyph(text: str) -> str:
    """The character matplotlib names as ``\\N{NAME}`` (or gives as is)."""
    m = re.fullmatch(r"\\N\{(.+)\}", text)
    try:
        return unicodedata.lookup(m.group(1)) if m else text
    except KeyError:
        return text


@contextmanager
def missing_glyphs_in_one_line() -> Iterator[None]:
    """Within it, matplotlib's warnings about characters its font lacks (one per character and figure: about 30
    lines for a few CJK or emoji brand names) become one :class:`MissingGlyphs` warning naming them all, when the
    block ends; any other warning passes through. Nested blocks merge into the outermost."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    missing: set[str] = set()
    for w in caught:
        text = str(w.message)
        if m := re.search(r"Glyph \d+ \((.*?)\) missing from font", text):
            missing.add(_glyph(m.group(1)))
        elif isinstance(w.message, MissingGlyphs):
            missing |= w.message.chars
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        warnings.warn(MissingGlyphs(missing), stacklevel=3)


def png_uri(fig: plt.Figure) -> str:
    """Render a figure to an embedded PNG data URI (``DPI`` dots per inch, tight box) and close it; characters the
    font lacks give one warning (:func:`missing_glyphs_in_one_line`)."""
    buffer = io.BytesIO()
    try:
        with missing_glyphs_in_one_line():
            fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@contextmanager
def style() -> Iterator[None]:
    """The reports' plotting style (:data:`STYLE_RC`: seaborn whitegrid, notebook context at 0.9); characters the
    font lacks give one warning for all the figures drawn within it (:func:`missing_glyphs_in_one_line`)."""
    with matplotlib.rc_context(STYLE_RC), missing_glyphs_in_one_line():
        yield


def integer_years(axes, nbins: int | str = "auto") -> None:
    """Whole years on the x axis of every axes in ``axes``."""
    for ax in np.atleast_1d(axes).flat:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=nbins, integer=True))


def thousands(axes) -> None:
    """Thousands separators on the y axis (money in $M reaches five digits)."""
    for ax in np.atleast_1d(axes).flat:
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def legend_right(ax: plt.Axes) -> None:
    """Move an axes' legend (its own or seaborn's) outside the axes, to the upper right, without title or frame."""
    old = ax.get_legend()
    if old is not None:
        handles, labels = old.legend_handles, [t.get_text() for t in old.get_texts()]
        old.remove()
    else:
        handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), title=None, frameon=False)


def band_lines(ax: plt.Axes, data: pd.DataFrame, y: str, brands: list[str], palette: dict) -> None:
    """On ``ax``, one line per brand in ``brands`` (those in ``data``) over the years: the mean of column ``y`` over
    replications, with its 5th-95th percentile band shaded (what seaborn's ``lineplot(errorbar=BAND)`` draws; NaN
    values are skipped), labelled with the brand for a legend."""
    stats = data.groupby(["brand", "year"], observed=True)[y]
    mean, low, high = stats.mean(), stats.quantile(0.05), stats.quantile(0.95)
    present = set(mean.index.get_level_values(0))
    for brand in brands:
        if brand not in present:
            continue
        m = mean.loc[brand]
        ax.fill_between(m.index, low.loc[brand], high.loc[brand], color=palette[brand], alpha=0.2, linewidth=0)
        ax.plot(m.index, m.to_numpy(), color=palette[brand], label=brand)


def brand_lines(data: pd.DataFrame, y: str, ylabel: str, brands: list[str], palette: dict) -> plt.Figure:
    """One line per brand over the years, mean over replications with the 5-95% band shaded.

    Args:
        data: one row per replication × year × brand, with column ``y``.
        palette: brand -> colour (``sim.style.brand_palette``).
    """
    fig, ax = plt.subplots(figsize=(10, 4.6))
    band_lines(ax, data, y, brands, palette)
    ax.set(xlabel=None, ylabel=ylabel)
    integer_years(ax)
    legend_right(ax)
    return fig


@dataclass(frozen=True)
class Panels:
    """Side-by-side panels: the figure and its axes (``axes``, shape (1, panels), as a FacetGrid's)."""

    figure: plt.Figure
    axes: np.ndarray


def brand_panels(long: pd.DataFrame, brands: list[str], palette: dict, col_order: list[str],
                 sharey: bool = False) -> Panels:
    """Side-by-side panels (one per value of column ``panel``, titled with it) of one line per brand (column
    ``value``) with its 5-95% band, the brands' legend on the right (as seaborn's ``relplot`` lays them out)."""
    fig, axes = plt.subplots(1, len(col_order), figsize=(5 * len(col_order) + 1.2, 4), sharex=True, sharey=sharey,
                             squeeze=False)
    for ax, panel in zip(axes.flat, col_order):
        band_lines(ax, long[long["panel"] == panel], "value", brands, palette)
        ax.set(title=panel, xlabel="", ylabel="")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.subplots_adjust(left=0.06, right=0.86, wspace=0.25)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.87, 0.5), title="brand", frameon=False)
    integer_years(axes)
    return Panels(fig, axes)


def line_with_band(data: pd.DataFrame, *, color=None, label=None, **_) -> None:
    """FacetGrid mapper: mean line and a precomputed interval band (columns year, value, low, high)."""
    ax = plt.gca()
    data = data.sort_values("year")
    ax.fill_between(data["year"], data["low"], data["high"], color=color, alpha=0.2, linewidth=0)
    ax.plot(data["year"], data["value"], color=color, label=label, lw=1.8)


def heatmap(ax: plt.Axes, table: pd.DataFrame, label: str) -> None:
    """A table as an annotated heat map (what seaborn's ``heatmap(annot=True, fmt=".0f", cmap="Blues", vmin=0,
    linewidths=0.5, linecolor="white")`` draws): rows top to bottom, each cell's value written in it (dark text on
    light cells, white on dark; NaN cells left blank), a colour bar labelled ``label``."""
    values = np.ma.masked_invalid(table.to_numpy(dtype=float))
    mesh = ax.pcolormesh(values, cmap="Blues", vmin=0, edgecolors="white", linewidth=0.5)
    ax.figure.colorbar(mesh, ax=ax, label=label).outline.set_linewidth(0)
    rgb = mesh.cmap(mesh.norm(values.filled(0)))[..., :3]
    rgb = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)  # relative luminance (seaborn's)
    light = rgb @ np.array([0.2126, 0.7152, 0.0722]) > 0.408
    for (i, j), v in np.ndenumerate(values.filled(np.nan)):
        if np.isfinite(v):
            ax.text(j + 0.5, i + 0.5, f"{v:.0f}", ha="center", va="center", color=".15" if light[i, j] else "w")
    ax.set(xlim=(0, values.shape[1]), ylim=(values.shape[0], 0))  # first row at the top
    ax.set_xticks(np.arange(values.shape[1]) + 0.5, [str(c) for c in table.columns])
    ax.set_yticks(np.arange(values.shape[0]) + 0.5, [str(r) for r in table.index], rotation=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
