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

Added for the 1984-1997 calibration (products, prices, loyalty); their rows may also be ``low`` confidence
(derived: the formula is in the source). The **held-out rule**: luxsim calibrates on 1984-1997 only and holds no
brand's sales, share, ranking or loyalty for 1998 or later; loaders asked for such data raise
:class:`HeldOutError` (market-level rows, launch dates, list prices and policy timelines are not held out).

* ``us_luxury_sales_1994_1997.csv`` -> :func:`sales` with ``years=(1984, 1997)`` (or ``(1994, 1997)``): as the
  1984-1993 file; gaps: no Lincoln, Acura or Infiniti rows; two Lexus 1997 rows (97,593 and about 96,500);
  derived rows (Lexus, Mercedes-Benz and BMW 1996) are ``low``; Mercedes-Benz 1994 is a lower bound.
* ``model_lineup_1984_2010.csv`` -> :func:`model_lineup`, :func:`lineup_on_sale`: model lines with
  ``body_type`` (sedan, coupe_convertible, suv), US launch, last year, launch base price (nominal USD).
* ``price_history_1984_2003.csv`` -> :func:`price_history`, :func:`price_path`: base list prices by model and
  year, nominal USD, deflated with :func:`cpi`.
* ``cpi_u_1984_2010.csv`` -> :func:`cpi`, :func:`cpi_table`: BLS CPI-U annual averages (1982-84 = 100).
* ``luxury_body_type_mix.csv`` -> :func:`body_type_mix`: market-level SUV (and car) shares of US luxury sales
  under several definitions that must not be mixed (:data:`BODY_TYPE_DEFINITIONS`).
* ``loyalty_1992_2000.csv`` -> :func:`loyalty`, :func:`polk_loyalty`, :func:`make_loyalty`: published loyalty
  rates. Polk make loyalty (households replacing a car of a make who bought the same make again) is the
  repurchase measure; Polk manufacturer (corporate) and model loyalty are other measures; J.D. Power 1992 rows
  are stated intentions and run much higher. Brand- and model-level rows of 1998 or later are not in the file.
* ``luxury_market_context.csv`` -> :func:`market_context`, :func:`lexus_dealers`: market context (luxury share
  of US sales in 1980, buyer ages, Lexus dealer counts 1989-1993, the 1994 model-year Lexus price rise, ...).
* ``blp1995_elasticities.csv`` -> :func:`blp_elasticities`: BLP's (1995) own-price elasticities of demand for
  five luxury models of 1990 (not from the shared reference folder: ``sim/data/SOURCES.md``).
* ``luxury_tax_1991_2002.csv`` -> :func:`luxury_tax`: the US luxury tax on cars, a policy timeline (rate and
  threshold, nominal and in 1989 dollars, by date; statute, CRS reports and newspapers; not from the shared
  reference folder: ``sim/data/SOURCES.md``).
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
SALES_1994_FILE = "us_luxury_sales_1994_1997.csv"
LINEUP_FILE = "model_lineup_1984_2010.csv"
PRICE_FILE = "price_history_1984_2003.csv"
CPI_FILE = "cpi_u_1984_2010.csv"
BODY_TYPE_FILE = "luxury_body_type_mix.csv"
LOYALTY_FILE = "loyalty_1992_2000.csv"
CONTEXT_FILE = "luxury_market_context.csv"
ELASTICITY_FILE = "blp1995_elasticities.csv"
TAX_FILE = "luxury_tax_1991_2002.csv"

#: The held-out rule: calibrate on 1984-1997 only; no brand's sales, share, ranking or loyalty after this year.
LAST_CALIBRATION_YEAR = 1997
FIRST_SALES_YEAR = 1984

BODY_TYPES = ("sedan", "coupe_convertible", "suv")
CONFIDENCE_ORDER = {"high": 0, "medium": 1, "low": 2}

#: BLP make names that differ from the project's brand names.
BLP_MAKE_TO_BRAND = {"Mercedes": "Mercedes-Benz"}

RECOVERY_KEYS = ("resolved_within_90_days", "resolved_90_to_180_days", "unresolved")


class HeldOutError(ValueError):
    """A request for held-out data: a brand's sales, share, ranking or loyalty for 1998 or later."""


def _refuse_held_out(what: str, year: int) -> None:
    if year > LAST_CALIBRATION_YEAR:
        raise HeldOutError(
            f"{what} for {year} is held out: luxsim calibrates on {FIRST_SALES_YEAR}-{LAST_CALIBRATION_YEAR} only "
            f"and holds no brand's sales, share, ranking or loyalty for {LAST_CALIBRATION_YEAR + 1} or later "
            "(see sim/data/SOURCES.md)")


@cache
def _read(name: str) -> pd.DataFrame:
    with (resources.files("sim") / "data" / name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def sales(years: tuple[int, int] = (FIRST_SALES_YEAR, 1993)) -> pd.DataFrame:
    """``brand, year, units, period, confidence, source``: one row per reported figure (US new-car sales, units).

    The default, 1984-1993, is the original file exactly; ``years=(1984, 1997)`` (what :mod:`sim.moments` asks
    for: ``CALIBRATION_YEARS``) adds the 1994-1997 file's rows after it. ``period`` is ``calendar_year``, ``jan_nov``
    or ``model_year``; ``confidence`` ``low`` marks derived rows (formula in ``source``). A year may have two rows
    for a brand (Lexus 1997: two reports): moments, not a panel.

    Args:
        years: first and last calendar year, inclusive, within 1984-1997.

    Raises:
        HeldOutError: ``years`` reaches past 1997 (the held-out rule).
        ValueError: ``years`` starts before 1984 or is reversed.
    """
    first, last = years
    _refuse_held_out("brand sales", last)
    if first < FIRST_SALES_YEAR or first > last:
        raise ValueError(f"years={years!r}: sales rows cover {FIRST_SALES_YEAR}-{LAST_CALIBRATION_YEAR}")
    frames = [_read(SALES_FILE)] + ([_read(SALES_1994_FILE)] if last >= 1994 else [])
    df = pd.concat(frames, ignore_index=True).astype({"year": "int64", "units": "int64"})
    return df[df["year"].between(first, last)].reset_index(drop=True)


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


def blp_elasticities() -> pd.DataFrame:
    """``model, clustering_ids, brand, line, year, price, own_price_elasticity, confidence, source``: Berry,
    Levinsohn & Pakes's (1995, Table VI) own-price elasticities of demand for five luxury models of 1990, with the
    flagship's name for each (``brand``, ``line``). ``price`` is BLP's, thousands of 1983 dollars."""
    return _read(ELASTICITY_FILE).copy().astype({"year": "int64", "own_price_elasticity": "float64"})


def luxury_tax() -> pd.DataFrame:
    """``date, rate, threshold_usd, threshold_1989_usd, confidence, source``: the US luxury tax on cars, one row per
    change ("YYYY-MM", in force until the next row): the rate (fraction of the price above the threshold), the
    threshold in dollars of the day and deflated to 1989 dollars with :func:`cpi` of the row's year (empty where
    the tax ended). A policy timeline, not held out."""
    return _read(TAX_FILE).copy()


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


# ---- prices and the CPI deflator ---------------------------------------------------------------------------
@cache
def cpi_table() -> pd.DataFrame:
    """``year, cpi_u, source, confidence``: BLS CPI-U, US city average, all items, annual average (1982-84 = 100;
    series CUUR0000SA0), 1984-2010. A market-level input known in advance (not held out)."""
    return _read(CPI_FILE).copy().astype({"year": "int64", "cpi_u": "float64"})


def cpi(year: int) -> float:
    """CPI-U annual average for ``year`` (1982-84 = 100): ``price * cpi(1989) / cpi(year)`` is in 1989 dollars.

    Raises:
        KeyError: ``year`` outside 1984-2010 (the table's range).
    """
    table = cpi_table()
    rows = table.loc[table["year"] == year, "cpi_u"]
    if rows.empty:
        raise KeyError(f"no CPI-U for {year} (the table covers {table['year'].min()}-{table['year'].max()})")
    return float(rows.iloc[0])


def _brand_of(model: str) -> str:
    return model.split(" ", 1)[0]


def price_history(deflate_to: int = 1989) -> pd.DataFrame:
    """Base list prices by model and model year, nominal and in ``deflate_to`` dollars.

    Columns: ``model, year, base_price_usd`` (nominal USD, as published), ``confidence, source``, plus ``brand``
    (the model's first word), ``cpi_u`` (of ``year``), ``base_price_real_usd`` (``base_price_usd * cpi(deflate_to)
    / cpi(year)``) and ``real_usd_year`` (= ``deflate_to``). ``year`` is the price's model year as the source gives
    it. Some model-years have two rows (LS 400 1990: $35,000 high, $39,000 low; ES 300 1992); the LS 400 1994 row
    is inferred (low). Prices are not held out (any year).

    Raises:
        KeyError: ``deflate_to`` outside the CPI table (1984-2010).
    """
    base = cpi(deflate_to)
    df = _read(PRICE_FILE).copy().astype({"year": "int64", "base_price_usd": "float64"})
    df["brand"] = df["model"].map(_brand_of)
    df["cpi_u"] = df["year"].map(cpi)
    df["base_price_real_usd"] = df["base_price_usd"] * (base / df["cpi_u"])  # ratio first: exact in its own year
    df["real_usd_year"] = deflate_to
    return df


def price_path(model: str, deflate_to: int | None = 1989, min_confidence: str = "low") -> pd.Series:
    """One model's base price by year: the most confident row of each year (the first listed among equals).

    Args:
        model: as in the price file, e.g. ``"Lexus LS 400"``.
        deflate_to: real dollars of this year; ``None`` gives nominal USD.
        min_confidence: ``high``, ``medium`` or ``low``: rows less confident than this are dropped.

    Returns:
        A Series indexed by ``year`` (int), USD.

    Raises:
        KeyError: no rows for ``model`` at that confidence.
        ValueError: an unknown ``min_confidence``.
    """
    if min_confidence not in CONFIDENCE_ORDER:
        raise ValueError(f"min_confidence={min_confidence!r}: one of {list(CONFIDENCE_ORDER)}")
    df = price_history(deflate_to if deflate_to is not None else 1989)
    df = df[(df["model"] == model) & (df["confidence"].map(CONFIDENCE_ORDER) <= CONFIDENCE_ORDER[min_confidence])]
    if df.empty:
        raise KeyError(f"no price rows for {model!r} at confidence {min_confidence!r} or better")
    df = df.assign(rank=df["confidence"].map(CONFIDENCE_ORDER)).sort_values(["year", "rank"], kind="stable")
    best = df.drop_duplicates("year").set_index("year")
    return best["base_price_real_usd" if deflate_to is not None else "base_price_usd"].rename(model)


# ---- products ----------------------------------------------------------------------------------------------
_LAUNCH = re.compile(r"^(pre-)?(\d{4})(?:-(\d{2}))?")
_MODEL_YEAR = re.compile(r"[(;]\s*(\d{4})MY")


def _launch_fields(text: str) -> tuple[int, int | None, int | None, bool]:
    m = _LAUNCH.match(text.strip())
    if m is None:
        raise ValueError(f"unreadable us_launch {text!r}")
    year = int(m.group(2)) - (1 if m.group(1) else 0)
    month = int(m.group(3)) if m.group(3) else None
    my = _MODEL_YEAR.search(text)
    approximate = bool(m.group(1)) or "approx" in text or "/" in text.split(" ")[0]
    return year, month, (int(my.group(1)) if my else None), approximate


@cache
def _lineup() -> pd.DataFrame:
    df = _read(LINEUP_FILE).copy()
    parsed = [_launch_fields(t) for t in df["us_launch"]]
    df["launch_year"] = pd.array([p[0] for p in parsed], dtype="Int64")
    df["launch_month"] = pd.array([p[1] for p in parsed], dtype="Int64")
    df["launch_model_year"] = pd.array([p[2] for p in parsed], dtype="Int64")
    df["launch_approximate"] = [p[3] for p in parsed]
    return df.astype({"discontinued": "Int64", "base_price_usd": "float64", "price_year": "Int64"})


def model_lineup() -> pd.DataFrame:
    """Model lines each brand sold in the US, 1984-2010 (launch dates and prices: not held out; no sales).

    Columns as in the file: ``brand, model, body_type`` (``sedan``, ``coupe_convertible`` or ``suv``),
    ``us_launch`` (the source's text, e.g. ``"1994 (1995MY)"``), ``discontinued`` (last year, model or calendar
    year as the source gives it; missing = still sold or unknown), ``base_price_usd`` (nominal USD of
    ``price_year``: a launch-era base price where found), ``confidence, source``; parsed from ``us_launch``:
    ``launch_year`` (the first year given; ``pre-1984`` -> 1983), ``launch_month`` (where given),
    ``launch_model_year`` (the ``NNNNMY`` given, if any) and ``launch_approximate`` (``approx``, ``pre-`` or
    ``1983/1984``).
    """
    return _lineup().copy()


def lineup_on_sale(year: int) -> pd.DataFrame:
    """The :func:`model_lineup` rows on sale in ``year``: launched by then, not discontinued before it
    (year resolution: a line launched in September counts for its launch year)."""
    df = model_lineup()
    on = (df["launch_year"] <= year) & (df["discontinued"].isna() | (df["discontinued"] >= year))
    return df[on.fillna(False).astype(bool)].reset_index(drop=True)


#: How each body-type-mix row defines "luxury" and the shares; rows of different definitions must not be mixed.
BODY_TYPE_DEFINITIONS = {
    "automotive_news_price_based": "Automotive News, 1996-1997: vehicles with average base price over $30,000, "
                                   "incl. 20 luxury SUVs (any brand); body types suv and car (all cars)",
    "edmunds_brand_based": "Edmunds, 2002 onward: premium brands' utility (SUV) share; some are bounds",
    "jd_power_derived": "derived from J.D. Power 2003: luxury SUVs / (luxury SUVs + luxury sedans); car = sedans",
    "crossover_segment_only": "one segment (mid-size luxury crossovers), 2009: a lower bound for all SUVs",
    "light_truck_threshold": "Automotive News, 2016: light trucks passed half of luxury sales (a threshold)",
    "unspecified": "press figure without a stated definition (Korea Herald, 2019)",
    "retail_quarter": "one quarter (Q2 2021), retail sales only",
}
_BODY_TYPE_SOURCE_MARKERS = (
    ("price-based", "automotive_news_price_based"),
    ("Edmunds data", "edmunds_brand_based"),
    ("J.D. Power", "jd_power_derived"),
    ("Cadillac executive", "crossover_segment_only"),
    ("autospies", "light_truck_threshold"),
    ("Korea Herald", "unspecified"),
    ("carsbiz", "retail_quarter"),
)


def _classify(text: str, markers: tuple[tuple[str, str], ...], what: str) -> str:
    """The label of the first marker found in ``text`` (a row's source or definition field).

    Raises:
        ValueError: no marker is found (a row the loaders do not know how to read).
    """
    for marker, label in markers:
        if marker in text:
            return label
    raise ValueError(f"{what} row with no known definition: {text!r}")


def body_type_mix(definition: str) -> pd.DataFrame:
    """Market-level body-type shares of US luxury sales under one ``definition`` (see
    :data:`BODY_TYPE_DEFINITIONS`): ``year, body_type, share_of_us_luxury_sales`` (fraction), ``definition,
    confidence, source``. The calibration window has only ``automotive_news_price_based`` (1996, 1997: suv and
    car, car = sedans and coupes together); its SUV share (about 0.5) is not comparable with Edmunds's
    brand-based 0.2 of 2002.

    Raises:
        ValueError: an unknown ``definition`` (the message lists them).
    """
    if definition not in BODY_TYPE_DEFINITIONS:
        raise ValueError(f"definition={definition!r}: one of {sorted(BODY_TYPE_DEFINITIONS)}")
    df = _read(BODY_TYPE_FILE).copy().astype({"year": "int64", "share_of_us_luxury_sales": "float64"})
    df["definition"] = [_classify(src, _BODY_TYPE_SOURCE_MARKERS, "body-type-mix") for src in df["source"]]
    return df[df["definition"] == definition].reset_index(drop=True)


# ---- loyalty -----------------------------------------------------------------------------------------------
_MARKET_LABELS = ("ALL MAKES", "ALL MANUFACTURERS", "LUXURY CAR SEGMENT", "PRESTIGE LUXURY SEGMENT")
_LOYALTY_MEASURES = (
    ("Polk household make loyalty", "polk_make"),
    ("Polk make loyalty", "polk_make"),
    ("Polk manufacturer", "polk_manufacturer"),
    ("Polk model loyalty", "polk_model"),
    ("stated intention", "jd_power_stated_intention"),
    ("company claim", "company_claim"),
)


def _loyalty_level(label: str) -> str:
    if label.startswith(_MARKET_LABELS):
        return "market"
    return "model" if label.endswith("(model)") else "brand"


def loyalty() -> pd.DataFrame:
    """Every published loyalty row: ``brand`` (a make, a model "... (model)", or a market label such as
    ``ALL MAKES (industry average)``), ``year`` (model year), ``repurchase_loyalty`` (fraction), ``definition``,
    ``confidence, source``, plus ``measure`` and ``level`` (``market``, ``brand``, ``model``).

    Measures that must not be mixed: ``polk_make`` (share of households replacing a car of a make who bought the
    same make again: the repurchase measure), ``polk_manufacturer`` (the same for a corporation: higher),
    ``polk_model`` (the same model again: much lower), ``jd_power_stated_intention`` (1992 survey of intentions:
    much higher), ``company_claim`` (Lincoln 1997, undefined). Brand- and model-level rows stop at 1997 (held out).
    """
    df = _read(LOYALTY_FILE).copy().astype({"year": "int64", "repurchase_loyalty": "float64"})
    df["measure"] = [_classify(d, _LOYALTY_MEASURES, "loyalty") for d in df["definition"]]
    df["level"] = df["brand"].map(_loyalty_level)
    return df


def polk_loyalty(level: str | None = None, last_year: int = LAST_CALIBRATION_YEAR) -> pd.DataFrame:
    """The Polk repurchase-definition rows of :func:`loyalty` (``measure`` ``polk_make``, ``polk_manufacturer``
    or ``polk_model``) up to ``last_year``, with their ``level``.

    Args:
        level: ``market``, ``brand``, ``model`` or ``None`` (all). Only ``market`` may go past 1997.
        last_year: last model year returned.

    Raises:
        HeldOutError: ``last_year`` past 1997 for any level but ``market``.
        ValueError: an unknown ``level``.
    """
    if level not in (None, "market", "brand", "model"):
        raise ValueError(f"level={level!r}: 'market', 'brand', 'model' or None")
    if level != "market":
        _refuse_held_out(f"{level or 'brand'}-level loyalty (ask level='market' for the industry averages)",
                         last_year)
    df = loyalty()
    df = df[df["measure"].str.startswith("polk_") & (df["year"] <= last_year)]
    if level is not None:
        df = df[df["level"] == level]
    return df.reset_index(drop=True)


def make_loyalty(brand: str, year: int) -> float:
    """Polk make loyalty (repurchase) of ``brand`` in model year ``year``; ``brand="industry_average"`` for
    all makes (available 1997, 1999, 2000).

    Raises:
        HeldOutError: a brand (not the industry average) for a year past 1997.
        KeyError: no such row.
    """
    if brand != "industry_average":
        _refuse_held_out(f"{brand}'s make loyalty", year)
    df = loyalty()
    df = df[(df["measure"] == "polk_make") & (df["year"] == year)]
    rows = df[df["level"] == "market"] if brand == "industry_average" else df[df["brand"] == brand]
    if rows.empty:
        raise KeyError(f"no Polk make loyalty for {brand!r} in {year}")
    return float(rows["repurchase_loyalty"].iloc[0])


# ---- market context ----------------------------------------------------------------------------------------
def market_context() -> pd.DataFrame:
    """``metric, year, value, unit, confidence, source``: market context (luxury share of US light-vehicle sales
    1980, the 1997 price-based luxury market total, CNW 1990 intender shares, buyer ages 1994-2000, Lexus
    dealers 1989-1993, the 1994 model-year Lexus price rise, ...). ``unit`` says what ``value`` is."""
    return _read(CONTEXT_FILE).copy().astype({"year": "int64", "value": "float64"})


def lexus_dealers() -> dict[int, int]:
    """Lexus US dealers at each year, 1989-1993 (1989: 81 per the Lexus timeline; Automotive News gives 79)."""
    df = market_context()
    rows = df[df["metric"] == "Lexus US dealers"]
    return {int(y): int(v) for y, v in zip(rows["year"], rows["value"])}
