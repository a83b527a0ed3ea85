"""The project's reference data (sim/data/), loaded in one place with its provenance kept.

Every row of every file names its ``source`` and a ``confidence`` (high = a primary or contemporary press
source, medium = secondary or derived); the loaders keep both columns. The files are read through
``importlib.resources``, so this works from an installed package (pyproject ships ``sim/data/*.csv``).

Files (see ``sim/data/SOURCES.md``):

* ``us_luxury_sales_1984_1993.csv`` -> :func:`sales`: US new-car sales by brand. ``period`` says what a row
  counts: ``calendar_year``, ``jan_nov`` (January-November only: compare with simulated January-November
  sales) or ``model_year``. Caveat: no continuous series exists for any brand but Lexus; treat the rows as
  moments, not a panel. Some figures are rounded ("about 61,900"). Stylized facts behind them: Lexus launched
  in September 1989; in 1991 it outsold both Mercedes-Benz and BMW (both hit their low in 1991); Jaguar fell
  from its 1986 record to under 9,000 in 1992.
* ``service_and_satisfaction_facts.csv`` -> :func:`facts`: J.D. Power Customer Service Index 1992-1993 (index
  points, with the industry average; brands reported "below average" appear only in the source note),
  J.D. Power initial quality 1991 (problems per 100 cars, lower is better), prices, the luxury lease share
  (1993: "over half", so 0.5 is a lower bound) and lease term, average ownership length (2010, all new
  vehicles: an out-of-period proxy), the Dillard & Bates repurchase rates after a complaint resolved within
  90 days / in 90-180 days / never (stated intentions of complaining owners, medium confidence, no year),
  roadside-assistance usage, dealer profit structure (1996 and 2016: out of period).
* ``service_policy_timeline.csv`` -> :func:`policy_timeline`: launches and service-programme changes by
  brand (inputs for the scenarios' policy timelines, not calibration targets).
* ``blp1995_luxury_models.csv`` -> :func:`blp_models`: the luxury makes' rows of the Berry-Levinsohn-Pakes
  (1995) automobile data as shipped by ``pyblp``, 1971-1990. ``prices`` are thousands of 1983 dollars;
  ``shares`` are unit sales divided by US households; ``hpwt`` horsepower per weight, ``air`` air
  conditioning standard, ``mpd`` miles per dollar, ``mpg``, ``space`` (length x width). Caveats: Lexus and
  Infiniti appear in 1990 only, Jaguar from 1989; several Mercedes models are missing, so Mercedes totals run
  low. The BLP rows carry no source column of their own: :func:`blp_models` adds one (and a confidence).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import pandas as pd

#: CPI-U, US city average, all items, annual averages (1982-84 = 100): 1983 = 99.6, 1989 = 124.0
#: (U.S. Bureau of Labor Statistics, series CUUR0000SA0). Multiplies BLP prices (1983 dollars) into 1989
#: dollars; the flagship scenario's prices use the same factor (its comments round it to 1.245).
CPI_1983 = 99.6
CPI_1989 = 124.0
CPI_1983_TO_1989 = CPI_1989 / CPI_1983
CPI_SOURCE = "BLS CPI-U annual averages (1982-84=100): 1983 99.6, 1989 124.0"

BLP_SOURCE = "Berry, Levinsohn & Pakes (1995), automobile data as shipped by pyblp (luxury makes)"

SALES_FILE = "us_luxury_sales_1984_1993.csv"
FACTS_FILE = "service_and_satisfaction_facts.csv"
TIMELINE_FILE = "service_policy_timeline.csv"
BLP_FILE = "blp1995_luxury_models.csv"

#: BLP make names that differ from the project's brand names.
BLP_MAKE_TO_BRAND = {"Mercedes": "Mercedes-Benz"}

RECOVERY_KEYS = ("resolved_within_90_days", "resolved_90_to_180_days", "unresolved")


@cache
def _read(name: str) -> pd.DataFrame:
    with (resources.files("sim") / "data" / name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def sales() -> pd.DataFrame:
    """``brand, year, units, period, confidence, source``: one row per reported figure."""
    df = _read(SALES_FILE).copy()
    return df.astype({"year": "int64", "units": "int64"})


def facts() -> pd.DataFrame:
    """``fact, brand, year, value, unit, confidence, source``; ``year`` is nullable (Dillard & Bates has none)."""
    df = _read(FACTS_FILE).copy()
    return df.astype({"year": "Int64", "value": "float64"})


@cache
def policy_timeline() -> pd.DataFrame:
    """``brand, year, event, confidence, source``: launches and service-programme changes."""
    return _read(TIMELINE_FILE).copy().astype({"year": "int64"})


def blp_models() -> pd.DataFrame:
    """The BLP (1995) luxury model rows; ``market_ids`` is the year. Adds ``year``, ``brand`` (the project's
    name for the make: Mercedes -> Mercedes-Benz), ``confidence`` and ``source``."""
    df = _read(BLP_FILE).copy()
    df["year"] = df["market_ids"].astype("int64")
    df["brand"] = df["make"].map(lambda m: BLP_MAKE_TO_BRAND.get(m, m))
    df["confidence"] = "high"
    df["source"] = BLP_SOURCE
    return df


def _fact(name: str, year: int | None = None) -> pd.DataFrame:
    f = facts()
    rows = f[f["fact"] == name]
    if year is not None:
        rows = rows[rows["year"] == year]
    if rows.empty:
        raise KeyError(f"no {name!r} rows" + (f" for {year}" if year is not None else ""))
    return rows


def jd_power_csi(year: int) -> dict[str, float]:
    """J.D. Power Customer Service Index for ``year`` (1992 or 1993): brand -> index, plus ``industry_average``.

    Raises:
        KeyError: no CSI rows for ``year``.
    """
    rows = _fact("jd_power_csi", year)
    return dict(zip(rows["brand"], rows["value"].astype(float)))


def jd_power_csi_below_average(year: int) -> list[str]:
    """Brands the ``year`` CSI report named as below the industry average (only in the source note)."""
    rows = _fact("jd_power_csi", year)
    note = " ".join(rows.loc[rows["brand"] == "industry_average", "source"])
    return re.findall(r"([A-Z][\w-]*) below average", note)


def initial_quality_1991() -> dict[str, float]:
    """J.D. Power initial quality 1991: brand -> problems per 100 cars (lower is better)."""
    rows = _fact("initial_quality_problems_per_100", 1991)
    return dict(zip(rows["brand"], rows["value"].astype(float)))


def recovery_repurchase_rates() -> dict[str, float]:
    """Dillard & Bates: share who would rebuy, keyed like ``Ledger.rebuy_rates`` (no ``none`` key)."""
    return {key: float(_fact(f"recovery_repurchase_rate_{key}")["value"].iloc[0]) for key in RECOVERY_KEYS}


def lease_share(year: int = 1993) -> float:
    """Share of luxury cars leased in ``year`` (1993: "over half", so a lower bound)."""
    return float(_fact("luxury_lease_share", year)["value"].iloc[0])


def _blp_year(year: int) -> pd.DataFrame:
    df = blp_models()
    rows = df[df["year"] == year]
    if rows.empty:
        raise KeyError(f"no BLP rows for {year} (the data cover {df['year'].min()}-{df['year'].max()})")
    return rows


def blp_prices(year: int) -> dict[str, float]:
    """Sales-weighted mean price per brand in ``year``, in 1989 dollars (BLP: 1983 $k x ``CPI_1983_TO_1989``).

    Raises:
        KeyError: no BLP rows for ``year`` (the data cover 1971-1990).
    """
    rows = _blp_year(year)
    weighted = (rows["prices"] * rows["shares"]).groupby(rows["brand"]).sum() / rows.groupby("brand")["shares"].sum()
    return {make: float(v * 1000.0 * CPI_1983_TO_1989) for make, v in weighted.items()}


def blp_shares(year: int) -> dict[str, float]:
    """Brand shares of the luxury unit sales within the BLP rows of ``year`` (they sum to 1; Mercedes runs low).

    Raises:
        KeyError: no BLP rows for ``year`` (the data cover 1971-1990).
    """
    units = _blp_year(year).groupby("brand")["shares"].sum()
    return {make: float(v) for make, v in (units / units.sum()).items()}
