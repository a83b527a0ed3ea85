"""Figures for reports: matplotlib/seaborn drawn in one style, embedded as PNG data URIs.

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
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator, StrMethodFormatter  # noqa: E402

from sim.scenario_files import ScenarioWarning  # noqa: E402

DPI = 110
BAND = ("pi", 90)  # 5th-95th percentile over replications


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
    """The reports' plotting style (seaborn whitegrid, notebook context at 0.9); characters the font lacks give one
    warning for all the figures drawn within it (:func:`missing_glyphs_in_one_line`)."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9), missing_glyphs_in_one_line():
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
    """Move a seaborn legend outside the axes, to the upper right, without title or frame."""
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), title=None, frameon=False)


def brand_lines(data: pd.DataFrame, y: str, ylabel: str, brands: list[str], palette: dict) -> plt.Figure:
    """One line per brand over the years, mean over replications with the 5-95% band shaded.

    Args:
        data: one row per replication × year × brand, with column ``y``.
        palette: brand -> colour (``sim.style.brand_palette``).
    """
    fig, ax = plt.subplots(figsize=(10, 4.6))
    sns.lineplot(data=data, x="year", y=y, hue="brand", hue_order=brands, palette=palette, errorbar=BAND, ax=ax)
    ax.set(xlabel=None, ylabel=ylabel)
    integer_years(ax)
    legend_right(ax)
    return fig


def brand_panels(long: pd.DataFrame, brands: list[str], palette: dict, col_order: list[str],
                 sharey: bool = False) -> sns.FacetGrid:
    """Side-by-side panels (one per value of column ``panel``) of one line per brand (column ``value``) with its
    5-95% band."""
    g = sns.relplot(data=long, x="year", y="value", hue="brand", hue_order=brands, palette=palette,
                    col="panel", col_order=col_order, kind="line", errorbar=BAND, height=4, aspect=1.25,
                    facet_kws={"sharey": sharey})
    g.set_titles("{col_name}")
    g.set_axis_labels("", "")
    integer_years(g.axes)
    return g


def line_with_band(data: pd.DataFrame, *, color=None, label=None, **_) -> None:
    """FacetGrid mapper: mean line and a precomputed interval band (columns year, value, low, high)."""
    ax = plt.gca()
    data = data.sort_values("year")
    ax.fill_between(data["year"], data["low"], data["high"], color=color, alpha=0.2, linewidth=0)
    ax.plot(data["year"], data["value"], color=color, label=label, lw=1.8)
