"""Calibration targets from the reference data, their simulated counterparts, and a distance between them.

Like is compared with like:

* **Sales** (``sales_calendar_year``, ``sales_jan_nov``): a brand's simulated sales summed over the months the
  row counts (January-December, or months 0..10 of the year for January-November rows), times
  ``model.scale``. Errors are log-ratios ``log(simulated / observed)`` so that Jaguar's 9,000 and Cadillac's
  220,000 count comparably; sd 0.10 (high confidence), 0.20 (medium) or 0.30 (low: derived rows and the
  Mercedes-Benz 1994 mid-December forecast) in log units: a tolerance for rounded figures ("about 61,900") and
  the stylised market, not a sampling error. ``model_year`` rows are *kept* as calendar-year moments (kind
  ``sales_model_year``) with twice the sd, since a model year runs roughly October-September. A
  January-November row for a brand-year that also has a calendar-year target (Lexus 1991, BMW 1995) carries
  weight 0.5: the same information twice. Rows come from ``reference.sales(years=CALIBRATION_YEARS)``, so
  1984-1997; the 1994-1997 file adds three rules:

  - **Derived rows** (``confidence`` low, source ``DERIVED: ...``: a 1997 figure divided by a published
    1996-97 growth rate) restate the 1997 row they divide, plus one new fact, the growth rate. A derived row
    for a brand-year that also has a *reported* row of any period is skipped: BMW 1996's calendar-year
    107,427 (= 122,467 / 1.14; another report's +16% gives 105,600) adds nothing to the reported
    January-November 99,260 (high), which is kept at full weight. Otherwise (Lexus 1996 = 96,500 / 1.196,
    Mercedes-Benz 1996 = 122,265 / 1.346) the row is kept with sd 0.30 and weight ``DERIVED_WEIGHT`` 0.5: its
    error is half the 1997 row's error, already counted.
  - **Two reports of one brand-year and period** (Lexus 1997: 97,593 and "about 96,500") make one target at
    their geometric mean (97,045), weight 1, the sd of the less confident report, both sources named. With
    log-ratio errors, ``(x - log a)^2 / 2 + (x - log b)^2 / 2`` equals ``(x - (log a + log b) / 2)^2`` plus a
    constant, so this is the same objective as two half-weight targets, with one name per target.
  - **Lower bounds**: Mercedes-Benz 1994 (a mid-December forecast of "over 70,000", low) is a two-sided target
    at 70,000 with sd 0.30, as the 1993 lease share's "over half" is one at 0.5.

  Brands the scenario does not have (Audi 1994-1995) are skipped.
* **J.D. Power CSI 1992-1993**: the simulated CSI is mean satisfaction after service events on 0-1000
  (``500 * (1 + csi_sum / csi_n)`` over the calendar year), J.D. Power's index has its own scale, so raw
  levels are never compared. For the brands both the report lists and the scenario has (set S), the gap of
  each brand to the industry average is standardised by the spread across S and centred:
  ``((x_b - avg) - mean_S(x - avg)) / sd_S(x) = (x_b - mean_S x) / sd_S x``. Centring removes the industry
  average, which the simulation cannot produce (it has no mass-market brands): what is compared is each
  brand's position relative to the other luxury brands in units of their spread (kind ``csi_gap``, sd 0.5).
  The Spearman rank correlation of simulated with observed CSI over S is reported (``csi_rank``, target 1)
  with weight 0: it is a step function of the parameters and repeats the gap information. Brands the report
  names only as "below average" (Lincoln 1992, BMW 1993) give ``csi_below_listed``: the share of S whose
  simulated CSI exceeds the brand's, target 1 (every listed brand was above average), sd 0.25.
  The survey year is compared with the same simulated calendar year (the survey was fielded over roughly
  the preceding year: a known misalignment of a few months).
* **Initial quality 1991** is *not* a target: the scenario sets ``defects_per_car_year`` from it (problems
  per 100 cars x 0.6), so it is an input (``tests/test_scenario_library.py`` checks that the flagship
  follows it).
* **Lease share 1993** (``lease_share``, 0.5, "over half": a lower bound, sd 0.05): the share of new cars
  sold in 1993 that were leased (``ledger.leased_sales / ledger.sales``). Note that lease-or-own is drawn
  with the scenario's
  ``lease_trend`` (0.50 in 1993) scaled by segment propensities, so this moment is nearly an input: it
  only checks the segment mix of 1993 buyers.
* **Dillard & Bates** (``rebuy_rate``): ``ledger.rebuy_rates`` over the calibration window
  (``CALIBRATION_YEARS``, 1984-1997, within the run) by the outcome of the owner's last complaint, against 0.474
  / 0.295 / 0.0; sd 0.10 (medium confidence, stated intentions of complaining owners rather than behaviour, no
  date: the whole window is the fairest match).
* **Polk make loyalty** (``make_loyalty``): the share of households replacing a car of a make who bought the same
  make again (``reference.polk_loyalty``, measure ``polk_make``). Simulated: the brand's ``repurchase_loyalty`` of
  that calendar year, ``1 - churned_owners / replacers`` summed over the year's 12 months of the ledger (as
  ``Ledger.yearly``): an owner who leaves the luxury segment counts as not loyal, as a Polk household buying any
  other make does. Cadillac 1995MY 0.43 (``make_loyalty:Cadillac:1995``), sd 0.05: a high-confidence published
  figure, but a model year (about October 1994-September 1995) compared with the calendar year, households compared
  with simulated buyers, and Polk's household basis may differ from its 1997 release's (see the caveat below); 0.05
  is as tight as the lease share's. Polk also called Cadillac's figure the highest of any make
  (``make_loyalty_highest:Cadillac:1995``): how far the most loyal of the scenario's other brands (with replacers
  that year) lies above Cadillac, ``max(0, max_b loyalty_b - loyalty_Cadillac)``, target 0, sd 0.05 (as the level:
  a brand 0.16 above Cadillac is a 3-sd miss). A share of brands above (the ``csi_below_listed`` form, sd 0.25)
  was tried first and let one brand sit 0.16 above Cadillac for a z of 0.6. The max of noisy simulated loyalties
  is biased upward by about their noise (a few points at 30,000 buyers): small against the sd. The all-makes
  average 1997MY 0.4426 (``make_loyalty:all:1997``) compares with the replacer-weighted mean over every
  simulated brand in 1997 (``1 - sum churned / sum replacers``), sd 0.08. Caveat: Polk's average is over *all*
  makes (Ford, Chevrolet, Toyota ...), the simulation's over the luxury makes only, and the direction of the
  difference is not known (big mass makes keep owners with a full line-up; luxury owners can trade down), hence the
  wider sd. A second caveat:
  Cadillac's 0.43 as the highest of any make in 1995 and an all-makes *average* of 0.4426 in 1997 fit one basis
  only if loyalty rose across makes in two years; the releases may count differently (households, vehicles). Not
  targets: J.D. Power's 1992 figures are *stated intentions* (Lincoln 0.73, Cadillac 0.711, all makes 0.626,
  against 0.44 for Polk's actual repurchase), so not repurchase, and as an upper bound they would never bind; Polk
  *manufacturer* loyalty (corporations: the simulation has none) and *model* loyalty (the same model again: another
  definition, and only after 1997); Lincoln's 1997 company claim (0.7, undefined); anything after 1997 (held out).
  **The band** (``make_loyalty_band:all:YEAR``, every year of the window): the same figures put every make's loyalty
  in :data:`POLK_BAND` (10-60%), the range the validation's stylized fact holds every year to 2010 (``sim/validation``).
  In the window it is a target: how far the brand furthest outside the band (of those with :data:`MIN_REPLACERS`
  real replacing owners that year) lies outside it, target 0, sd :data:`LOYALTY_BAND_SD` (a bound, not a level: its
  tolerance is the simulation noise of a small brand's yearly loyalty at 30,000 buyers, averaged over the
  calibration's replications); a year with no such brand is
  not available. Inside the band it costs nothing, so it only keeps a fit from buying sales with a brand that keeps
  no one or almost everyone.

Only a scenario of the market the data describe (``market.region = "US"``) whose run reaches into the window is
compared with them (:func:`coverage`); ``validate`` and ``calibrate`` refuse any other.

:func:`distance` is ``sum(weight * z**2)`` over available rows with ``z`` the standardised error; a moment
that should exist but is NaN (a brand with no service events, say) counts as a miss of ``MISSING_Z`` sds.
Brands a scenario does not have are skipped, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from sim import reference

CALIBRATION_YEARS = (1984, 1997)  # the held-out rule: reference.LAST_CALIBRATION_YEAR is the last
REGION = "US"  # the market the reference data describe (a scenario's market.region: see coverage)
SALES_SD = {"high": 0.10, "medium": 0.20, "low": 0.30}  # log units
MODEL_YEAR_SD_FACTOR = 2.0
DUPLICATE_JAN_NOV_WEIGHT = 0.5
DERIVED_WEIGHT = 0.5  # a derived row's error is half the error of the row it restates (module docstring)
DERIVED_MARKER = "DERIVED"  # how a derived row's source starts (sim/data/SOURCES.md)
LOYALTY_SD = 0.05  # fraction: Polk make loyalty of a brand
LOYALTY_ALL_SD = 0.08  # fraction: all makes (Polk) against the luxury makes (simulated)
LOYALTY_HIGHEST_SD = 0.05  # loyalty points by which the most loyal other brand may exceed the make Polk ranked first
POLK_BAND = (0.10, 0.60)  # any brand, any year: R.L. Polk household make loyalty was 0.43 for the most loyal make of
# 1995 (Cadillac) and 0.44 over all makes in 1997 (sim/data/loyalty_1992_2000.csv); 0.60 leaves room for brand
# differences and the noise of small brands but excludes the near-certain repurchase of a logit whose loyalty term
# can grow without bound; 0.10 excludes a brand that keeps no one (a failing brand can sit low: Jaguar)
MIN_REPLACERS = 2000  # real owners replacing in a year: fewer (a launch year) is too few to judge a rate
LOYALTY_BAND_SD = 0.01  # loyalty points outside POLK_BAND: the band is a bound, not a level, so its tolerance is the
# simulation noise of what the calibration compares, one brand-year's loyalty averaged over its replications (a small
# brand's at 30,000 buyers: ~200 replacers, sd ~0.02 in one run, ~0.01 in the mean of the calibration's 4)
HIGHEST_MARKER = "highest of any make"  # a Polk definition that also ranks the make first
CSI_GAP_SD = 0.5  # standardised units
CSI_BELOW_SD = 0.25
LEASE_SD = 0.05
REBUY_SD = 0.10
SALES_FLOOR = 1.0  # units: simulated sales below this count as this in the log-ratio (no log(0))
MISSING_Z = 5.0
ALL = "all"
SALES_KINDS = {"calendar_year": "sales_calendar_year", "jan_nov": "sales_jan_nov", "model_year": "sales_model_year"}
CSI_KINDS = ("csi_gap", "csi_rank", "csi_below_listed")
LOYALTY_KINDS = ("make_loyalty", "make_loyalty_highest", "make_loyalty_band")


@dataclass(frozen=True)
class Target:
    """One observed moment. ``error``: ``log_ratio`` (sales) or ``difference``; ``sd`` in those units."""

    name: str
    kind: str
    brand: str
    year: int | None
    observed: float
    sd: float
    weight: float = 1.0
    error: str = "difference"
    key: str = ""
    confidence: str = ""
    source: str = ""


# ---- targets ----------------------------------------------------------------------------------------------
def _sales_rows(brands: set[str] | None) -> pd.DataFrame:
    """The sales rows of the calibration window for ``brands`` (None: all), derived rows that restate a reported
    brand-year dropped, with a ``derived`` column (see the module docstring)."""
    df = reference.sales(years=CALIBRATION_YEARS)
    if brands is not None:
        df = df[df["brand"].isin(brands)]
    df = df.assign(derived=df["source"].str.startswith(DERIVED_MARKER))
    reported = set(zip(df.loc[~df["derived"], "brand"], df.loc[~df["derived"], "year"]))
    restated = [d and (b, y) in reported for b, y, d in zip(df["brand"], df["year"], df["derived"])]
    return df[~pd.Series(restated, index=df.index, dtype=bool)].reset_index(drop=True)


def _merge_reports(rows: pd.DataFrame) -> tuple[float, str, str]:
    """One brand-year-period's reports as one moment: geometric mean units, the least confident report's
    confidence, the sources joined with `` | ``."""
    confidence = max(rows["confidence"], key=lambda c: reference.CONFIDENCE_ORDER[c])
    units = rows["units"].to_numpy(float)
    units = float(units[0]) if len(units) == 1 else float(np.exp(np.log(units).mean()))  # one report: exact
    return units, confidence, " | ".join(rows["source"])


def _sales_targets(brands: set[str] | None) -> list[Target]:
    df = _sales_rows(brands)
    calendar = set(zip(df.loc[df["period"] == "calendar_year", "brand"],
                       df.loc[df["period"] == "calendar_year", "year"]))
    out = []
    for (brand, year, period), rows in df.groupby(["brand", "year", "period"], sort=False):
        units, confidence, source = _merge_reports(rows)
        kind = SALES_KINDS[period]
        sd = SALES_SD.get(confidence, 0.2) * (MODEL_YEAR_SD_FACTOR if period == "model_year" else 1.0)
        weight = DUPLICATE_JAN_NOV_WEIGHT if period == "jan_nov" and (brand, year) in calendar else 1.0
        if rows["derived"].any():
            weight *= DERIVED_WEIGHT
        out.append(Target(f"{kind}:{brand}:{year}", kind, brand, int(year), units, sd, weight, "log_ratio",
                          confidence=confidence, source=source))
    return out


def _in_window(year: int) -> bool:
    return CALIBRATION_YEARS[0] <= year <= CALIBRATION_YEARS[1]


def loyalty_targets(brands: set[str] | None = None) -> list[Target]:
    """Polk make-loyalty targets of the calibration window (module docstring): each brand's level, the ``all``
    makes average, and ``make_loyalty_highest`` for a make Polk called the most loyal. Brands outside ``brands``
    (None: all) are skipped."""
    out = []
    polk = reference.polk_loyalty("brand", last_year=CALIBRATION_YEARS[1])
    for r in polk[polk["measure"] == "polk_make"].itertuples(index=False):
        if (brands is not None and r.brand not in brands) or not _in_window(r.year):
            continue
        out.append(Target(f"make_loyalty:{r.brand}:{r.year}", "make_loyalty", r.brand, int(r.year),
                          float(r.repurchase_loyalty), LOYALTY_SD, confidence=r.confidence,
                          source=r.source))
        if HIGHEST_MARKER in r.definition:
            out.append(Target(f"make_loyalty_highest:{r.brand}:{r.year}", "make_loyalty_highest", r.brand,
                              int(r.year), 0.0, LOYALTY_HIGHEST_SD, confidence=r.confidence,
                              source=r.source))
    market = reference.polk_loyalty("market", last_year=CALIBRATION_YEARS[1])
    for r in market[market["measure"] == "polk_make"].itertuples(index=False):
        if _in_window(r.year):
            out.append(Target(f"make_loyalty:{ALL}:{r.year}", "make_loyalty", ALL, int(r.year),
                              float(r.repurchase_loyalty), LOYALTY_ALL_SD,
                              confidence=r.confidence, source=r.source))
    source = "; ".join(sorted({r.source for r in polk.itertuples() if r.measure == "polk_make"}
                              | {r.source for r in market.itertuples() if r.measure == "polk_make"}))
    for year in range(CALIBRATION_YEARS[0], CALIBRATION_YEARS[1] + 1):
        out.append(Target(f"make_loyalty_band:{ALL}:{year}", "make_loyalty_band", ALL, year, 0.0,
                          LOYALTY_BAND_SD, confidence="medium", source=f"band {POLK_BAND} from: {source}"))
    return out


def _standardise(values: dict[str, float]) -> dict[str, float]:
    x = np.array(list(values.values()), dtype=float)
    sd = x.std()
    return {b: float((v - x.mean()) / sd) if sd > 0 else float("nan") for b, v in values.items()}


def _csi_sets(year: int, brands: Iterable[str] | None) -> tuple[dict[str, float], list[str]]:
    """The report's scores for the compared set S (listed and in ``brands``), and the below-average brands."""
    scores = reference.jd_power_csi(year)
    scores.pop("industry_average", None)  # centring removes it (see the module docstring)
    keep = None if brands is None else set(brands)
    listed = {b: v for b, v in scores.items() if keep is None or b in keep}
    below = [b for b in reference.jd_power_csi_below_average(year) if (keep is None or b in keep) and b not in listed]
    return listed, below


def csi_targets(year: int, brands: Iterable[str] | None = None) -> list[Target]:
    """CSI targets of ``year`` for the brands in ``brands`` (all listed brands if None); none if |S| < 3."""
    listed, below = _csi_sets(year, brands)
    if len(listed) < 3:
        return []
    f = reference.facts()
    src = f[(f["fact"] == "jd_power_csi") & (f["year"] == year)].set_index("brand")["source"]
    out = [Target(f"csi_gap:{b}:{year}", "csi_gap", b, year, z, CSI_GAP_SD, confidence="high", source=src[b])
           for b, z in _standardise(listed).items()]
    out.append(Target(f"csi_rank:{ALL}:{year}", "csi_rank", ALL, year, 1.0, CSI_BELOW_SD, weight=0.0,
                      key=",".join(listed), confidence="high", source=src["industry_average"]))
    out += [Target(f"csi_below_listed:{b}:{year}", "csi_below_listed", b, year, 1.0, CSI_BELOW_SD,
                   key=",".join(listed), confidence="high", source=src["industry_average"]) for b in below]
    return out


def targets(brands: Sequence[str] | None = None) -> list[Target]:
    """Every calibration target, for the brands in ``brands`` (a scenario's ``brand_names``; None: all)."""
    keep = set(brands) if brands is not None else None
    out = _sales_targets(keep)
    for year in (1992, 1993):
        out += csi_targets(year, keep)
    lease = reference.facts().query("fact == 'luxury_lease_share' and year == 1993").iloc[0]
    out.append(Target(f"lease_share:{ALL}:1993", "lease_share", ALL, 1993, float(lease["value"]), LEASE_SD,
                      confidence=lease["confidence"], source=lease["source"]))
    out += loyalty_targets(keep)
    f = reference.facts()
    for key, rate in reference.recovery_repurchase_rates().items():
        row = f[f["fact"] == f"recovery_repurchase_rate_{key}"].iloc[0]
        out.append(Target(f"rebuy_rate:{key}", "rebuy_rate", ALL, None, rate, REBUY_SD, key=key,
                          confidence=row["confidence"], source=row["source"]))
    return out


def coverage(scenario) -> str | None:
    """Why the reference data cannot judge ``scenario`` (a ``sim.scenario.Scenario``), or None if they can: its
    market must be the one they describe (``market.region`` = :data:`REGION`), its run must reach into the calibration
    window (:data:`CALIBRATION_YEARS`), and one of its brands must have reference sales there. What a scenario that
    passes this lacks (a brand, a year) is left out target by target (:func:`simulated_moments`: not available)."""
    region = scenario.market.region
    if region != REGION:
        said = f"market.region is {region!r}" if region else "market.region is not set"
        return (f"the reference data (sim/data/) describe the {REGION} luxury market and its {said} "
                f"(a scenario of that market says market.region = \"{REGION}\")")
    first = scenario.market.start_year
    last = first + scenario.market.years - 1
    lo, hi = CALIBRATION_YEARS
    if last < lo or first > hi:
        return f"it runs {first}-{last}, outside the years the reference data cover ({lo}-{hi})"
    if not any(t.kind.startswith("sales_") and first <= t.year <= last for t in _sales_targets(set(scenario.brands))):
        return (f"none of its brands ({', '.join(scenario.brands)}) has reference sales in {max(first, lo)}-"
                f"{min(last, hi)}")
    return None


def for_brands(ts: Iterable[Target], brands: Sequence[str]) -> list[Target]:
    """``ts`` restricted to ``brands`` (and ``all``), CSI targets rebuilt for that set if they were built for
    another (standardised gaps depend on the compared set)."""
    ts = [t for t in ts if t.brand == ALL or t.brand in brands]
    years = sorted({t.year for t in ts if t.kind in CSI_KINDS})
    wanted = [c for y in years for c in csi_targets(y, brands)]
    if [t for t in ts if t.kind in CSI_KINDS] != wanted:
        ts = [t for t in ts if t.kind not in CSI_KINDS] + wanted
    return ts


def targets_frame(ts: Iterable[Target]) -> pd.DataFrame:
    """The targets as a table: one row per target, one column per :class:`Target` field (in field order)."""
    return pd.DataFrame([asdict(t) for t in ts], columns=list(Target.__dataclass_fields__))


# ---- simulated moments ----------------------------------------------------------------------------------
def _csi_by_year(led, year_index: int, b: int) -> float:
    rows = slice(year_index * 12, year_index * 12 + 12)
    n = led.csi_n[rows, b].sum()
    return float(500.0 * (1.0 + led.csi_sum[rows, b].sum() / n)) if n > 0 else float("nan")


def repurchase_loyalty(led, months: slice, brands: Sequence[int] | None = None) -> float:
    """``1 - churned_owners / replacers`` over ``months`` and the brand indices ``brands`` (None: every brand,
    i.e. the replacer-weighted mean of the brands' loyalties), as ``Ledger.yearly``'s ``repurchase_loyalty``;
    NaN without replacers. Leaving the luxury segment counts as churn."""
    cols = slice(None) if brands is None else list(brands)
    replacers = float(led.replacers[months][:, cols].sum())
    return 1.0 - float(led.churned_owners[months][:, cols].sum()) / replacers if replacers > 0 else float("nan")


def _loyalty_highest(led, months: slice, b: int) -> float:
    """How far the most loyal other brand with replacers in ``months`` lies above brand ``b``'s loyalty, 0 if none
    does (NaN if ``b`` had no replacers or no other brand had any)."""
    own = repurchase_loyalty(led, months, [b])
    others = [repurchase_loyalty(led, months, [k]) for k in range(led.n_brands) if k != b]
    others = [x for x in others if not np.isnan(x)]
    return max(0.0, float(max(others)) - own) if others and not np.isnan(own) else float("nan")


def _loyalty_band_excess(led, months: slice, scale: float) -> float:
    """How far the brand furthest outside :data:`POLK_BAND` lies outside it in ``months``, over the brands with at
    least :data:`MIN_REPLACERS` real replacing owners there (0 if every one lies inside; NaN if none qualifies)."""
    lo, hi = POLK_BAND
    judged = [repurchase_loyalty(led, months, [k]) for k in range(led.n_brands)
              if float(led.replacers[months][:, k].sum()) * scale >= MIN_REPLACERS]
    return max((max(lo - x, x - hi, 0.0) for x in judged), default=float("nan"))


def _rank_corr(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if np.isnan(ra).any() or np.isnan(rb).any() or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def simulated_moments(model, ts: Sequence[Target] | None = None) -> pd.DataFrame:
    """``name, simulated, available, basis`` for each target (default: ``targets(model.brand_names)``).

    ``available`` is False when this run cannot give the moment (a year outside the run); ``basis`` says
    where the number came from.

    Args:
        model: a run (``LuxuryMarketModel``): its ``brand_names``, ``ledger``, ``scale``, ``config`` and the
            months simulated so far (``month``) are read.
        ts: the targets; restricted to the model's brands, CSI targets rebuilt for them (:func:`for_brands`).

    Returns:
        One row per target, in the targets' order; ``attrs["brands"]`` holds the model's brand names.

    Raises:
        ValueError: a target of a kind this module does not know.
    """
    names = list(model.brand_names)
    ts = targets(names) if ts is None else for_brands(ts, names)
    led, scale = model.ledger, float(model.scale)
    start = int(model.config.market.start_year)
    done = model.month + 1
    index = {b: i for i, b in enumerate(names)}

    def months(year: int, n: int = 12) -> slice | None:
        m0 = (year - start) * 12
        return slice(m0, m0 + n) if m0 >= 0 and m0 + n <= done else None

    rows = []
    for t in ts:
        value, basis = float("nan"), "not simulated"
        if t.kind.startswith("sales_"):
            span = months(t.year, 11 if t.kind == "sales_jan_nov" else 12)
            if span is not None:
                value, basis = float(led.sales[span, index[t.brand]].sum() * scale), "ledger.sales x scale"
        elif t.kind in CSI_KINDS:
            if months(t.year) is not None:
                yi, basis = t.year - start, "ledger.csi_sum / csi_n"
                if t.kind == "csi_gap":
                    listed, _ = _csi_sets(t.year, names)
                    z = _standardise({b: _csi_by_year(led, yi, index[b]) for b in listed})
                    value = z.get(t.brand, float("nan"))
                else:
                    listed = t.key.split(",")
                    sim = [_csi_by_year(led, yi, index[b]) for b in listed]
                    if t.kind == "csi_rank":
                        obs = reference.jd_power_csi(t.year)
                        value = _rank_corr([obs[b] for b in listed], sim)
                    else:
                        own = _csi_by_year(led, yi, index[t.brand])
                        known = not np.isnan([own, *sim]).any()
                        value = float(np.mean([s > own for s in sim])) if known else float("nan")
        elif t.kind == "lease_share":
            span = months(t.year)
            if span is not None:
                new, leased = led.sales[span].sum(), led.leased_sales[span].sum()
                value, basis = (float(leased / new) if new else float("nan")), "ledger.leased_sales / sales"
        elif t.kind in LOYALTY_KINDS:
            span = months(t.year)
            if span is not None:
                basis = "1 - ledger.churned_owners / replacers"
                if t.kind == "make_loyalty_highest":
                    value = _loyalty_highest(led, span, index[t.brand])
                    basis += " (the most loyal other brand's excess)"
                elif t.kind == "make_loyalty_band":
                    value = _loyalty_band_excess(led, span, scale)
                    basis = (f"needs a brand with {MIN_REPLACERS:,} replacing owners" if np.isnan(value)
                             else basis + f" (furthest outside {POLK_BAND})")
                else:
                    value = repurchase_loyalty(led, span, None if t.brand == ALL else [index[t.brand]])
        elif t.kind == "rebuy_rate":
            lo = max(0, (CALIBRATION_YEARS[0] - start) * 12)
            hi = min(done, (CALIBRATION_YEARS[1] - start + 1) * 12)
            if hi > lo:
                value, basis = led.rebuy_rates(slice(lo, hi))[t.key], f"ledger.rebuy_rates(months {lo}..{hi - 1})"
        else:
            raise ValueError(f"unknown target kind {t.kind!r}")
        rows.append({"name": t.name, "simulated": value, "available": basis != "not simulated"
                     and not basis.startswith("needs"), "basis": basis})
    out = pd.DataFrame(rows, columns=["name", "simulated", "available", "basis"])
    out.attrs["brands"] = names
    return out


# ---- comparison ----------------------------------------------------------------------------------------
def moment_table(ts: Sequence[Target], simulated: pd.DataFrame) -> pd.DataFrame:
    """Observed vs simulated, one row per target whose brand the simulation has (or ``all``).

    If ``simulated`` came from :func:`simulated_moments` and ``ts`` were built for another brand set, the
    CSI targets are rebuilt for the simulation's brands (standardised gaps depend on the compared set).

    Returns:
        The :class:`Target` fields plus ``simulated``, ``difference`` (simulated - observed),
        ``relative_error`` (over ``|observed|``; NaN for 0), ``z`` (the error in its units over ``sd``: a
        log-ratio for sales, with simulated sales floored at ``SALES_FLOOR``), ``available`` and ``basis``.
    """
    brands = simulated.attrs.get("brands")
    ts = list(ts) if brands is None else for_brands(ts, brands)
    table = targets_frame(ts).merge(simulated, on="name", how="left")
    table["available"] = table["available"].astype("boolean").fillna(False).astype(bool)
    obs, sim = table["observed"].to_numpy(float), table["simulated"].to_numpy(float)
    log = (table["error"] == "log_ratio").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        table["difference"] = sim - obs
        table["relative_error"] = np.where(obs != 0, (sim - obs) / np.abs(obs), np.nan)
        err = np.where(log, np.log(np.maximum(sim, SALES_FLOOR) / obs), sim - obs)
        table["z"] = err / table["sd"].to_numpy(float)
    cols = ["name", "kind", "brand", "year", "observed", "simulated", "difference", "relative_error", "error", "z",
            "sd", "weight", "available", "basis", "confidence", "source"]
    return table[cols]


def distance(table: pd.DataFrame) -> float:
    """Weighted sum of squared standardised errors over available rows (NaN counts as ``MISSING_Z`` sds)."""
    rows = table[table["available"]]
    z = rows["z"].to_numpy(float)
    z2 = np.where(np.isnan(z), MISSING_Z**2, z**2)
    return float(np.sum(rows["weight"].to_numpy(float) * z2))
