"""Validation of a calibrated scenario: the fit on the calibration window, the case's stylized facts, and the
years after the window as a forecast.

``validate_scenario`` runs the scenario (and its service-parity counterfactual, with the same seeds: common
random numbers) over R replications and checks:

* **fit**: every calibration target (``sim/moments.py``) against the replication mean, with the 5-95% band
  over replications and the standardised error z;
* **stylized facts** (each with its figures and a pass/fail):

  1. Lexus passes Mercedes-Benz and BMW in US sales within three years of launch (by the end of the third
     calendar year after the launch year; history: 1991);
  2. Lexus's acquisition (conquest + new-to-segment sales) exceeds its churned owners every year after the
     launch year;
  3. luxury buyers are sticky: the incumbents' repurchase loyalty before 1989 (pooled) lies in 35-60%;
  4. a service-parity counterfactual removes most (over half) of Lexus's share gain by 1995;
  5. loyalty stays where the data put it: every brand's repurchase loyalty lies in :data:`POLK_BAND` in every
     year of the run (including the forecast years: a property of the model, checked against no post-1997 data),
     checked as two facts, its ceiling (no brand near certainty: what the Polk data bound) and its floor (no brand
     keeps almost no one: a judgment, not a Polk figure);

* **forecast**: the years after the calibration window (to 2010 in the flagship, under the policy timeline:
  Mercedes customer care from 1991, BMW free maintenance 1993/1997/2000, Mercedes' dropped about 2004),
  reported with replication bands but not checked: no data was used for them.

Facts are judged on replication means; the share of replications in which each holds is reported too. A fact
whose brands or years the run does not have (a short run, a scenario without Lexus) is reported as *not covered*
(``passed`` None), neither passed nor failed; so is a target outside the run. A scenario whose market the reference
data do not describe (``sim.moments.coverage``) is refused before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from sim import moments
from sim.moments import MIN_REPLACERS, POLK_BAND  # the band the calibration also targets in its window
from sim.report import Rendered
from sim.scenario import Scenario, year_month_index
from sim.scenario_files import SCENARIO_DIR, ScenarioError, ScenarioWarning, load_counterfactual, load_scenario
from sim.stats import interval_text, mean_interval

LOYALTY_BAND = (0.35, 0.60)  # incumbents before 1989: around Polk's 1995-1997 make loyalty (0.43-0.44), higher
# before the Japanese entrants gave owners somewhere to go
PASS_WITHIN_YEARS = 3
MOST = 0.5
GAIN_YEAR = 1995
FORECAST_BRANDS = ("Lexus", "Mercedes-Benz", "BMW", "Cadillac", "Lincoln", "Infiniti", "Acura", "Jaguar")


def _not_covered(fact: str, expected: str, why: str) -> dict:
    """A facts-table row for a fact the run cannot judge: ``passed`` None, ``simulated`` saying why."""
    return {"fact": fact, "expected": expected, "simulated": f"not covered: {why}",
            "replications_holding": float("nan"), "passed": None}


def beside(value: float, bounds: tuple[float, ...], percent: bool = True, decimals: int = 0) -> str:
    """``value`` as a fact's table prints it next to ``bounds``, the bounds it is judged against (as a percentage
    with ``percent``): ``decimals`` decimals, or more (up to 6) until the figure as written lies on the same side of
    every bound as ``value`` does, so a value outside a band never reads as on or inside it (9.55% against a floor of
    10% is "9.6%", not "10%"), nor one inside as outside."""
    scale = 100 if percent else 1
    for d in range(decimals, 7 if np.isfinite(value) else decimals + 1):  # (NaN: written as it is)
        text = f"{value * scale:.{d}f}"
        if not np.isfinite(value):
            break
        shown = Decimal(text)
        if all((shown > Decimal(repr(b)) * scale) == (value > b) and (shown < Decimal(repr(b)) * scale) == (value < b)
               for b in bounds):
            break
    return f"{text}%" if percent else text


def _missing(brand_year: pd.DataFrame, brands: tuple[str, ...] | list[str]) -> list[str]:
    present = set(brand_year["brand"])
    return [b for b in brands if b not in present]


def _run_years(brand_year: pd.DataFrame) -> str:
    return f"the run covers {int(brand_year['year'].min())}-{int(brand_year['year'].max())}"


def run_moments(model) -> pd.DataFrame:
    """The calibration moments of a finished run (picklable: module level)."""
    return moments.simulated_moments(model)


@dataclass
class ValidationResult(Rendered):
    """The outcome of :func:`validate_scenario`. ``str()`` gives the sales fit and the stylized facts for the
    terminal, ``_repr_html_`` the same tables in a notebook (``sim.calibration_report.validation_tables``)."""

    scenario: Scenario
    fit: pd.DataFrame
    facts: pd.DataFrame
    forecast: pd.DataFrame
    brand_year: pd.DataFrame
    parity_brand_year: pd.DataFrame | None
    replications: int
    buyers: int
    seed: int

    @property
    def passed(self) -> bool:
        """True if no stylized fact fails (``run_sim.py validate --strict`` exits 1 otherwise); a fact the run does
        not cover (``passed`` None) neither holds nor fails."""
        return not any(not pd.isna(p) and not p for p in self.facts["passed"])

    def title(self) -> str:
        """``Validation NAME``: the heading of the notebook view."""
        return f"Validation {self.scenario.name}"

    def headline(self) -> list:
        """Facts holding, the sales fit in numbers, the runs behind it (``calibration_report.validation_headline``)."""
        from sim.calibration_report import validation_headline

        return validation_headline(self)

    def tables(self) -> list[dict]:
        """The sales fit and the stylized facts (``sim.calibration_report.validation_tables``)."""
        from sim.calibration_report import validation_tables

        return validation_tables(self)


def fit_table(runs: list[pd.DataFrame]) -> pd.DataFrame:
    """Targets vs replication-mean moments, with 5-95% bands over the replications."""
    stacked = pd.concat([r.assign(replication=k) for k, r in enumerate(runs)], ignore_index=True)
    stacked.loc[~stacked["available"], "simulated"] = np.nan
    g = stacked.groupby("name", sort=False)["simulated"]
    mean = g.mean()
    sim = pd.DataFrame({"name": mean.index, "simulated": mean.to_numpy(),
                        "available": np.isfinite(mean.to_numpy()), "basis": "mean of replications"})
    sim.attrs["brands"] = runs[0].attrs.get("brands")
    table = moments.moment_table(moments.targets(sim.attrs["brands"]), sim)
    table["sim_p05"] = table["name"].map(g.quantile(0.05))
    table["sim_p95"] = table["name"].map(g.quantile(0.95))
    return table


def _by(brand_year: pd.DataFrame, brand: str, column: str) -> pd.DataFrame:
    """replication x year table of one brand's column."""
    rows = brand_year[brand_year["brand"] == brand]
    return rows.pivot(index="replication", columns="year", values=column)


def _launch_year(scenario: Scenario, brand: str) -> int:
    launch = scenario.brands[brand].launch
    return int(launch[:4]) if launch else scenario.market.start_year


def fact_lexus_passes(brand_year: pd.DataFrame, scenario: Scenario, brand: str = "Lexus",
                      rivals: tuple[str, ...] = ("Mercedes-Benz", "BMW")) -> dict:
    """Stylized fact: ``brand`` outsells every one of ``rivals`` (US sales, replication mean) within
    ``PASS_WITHIN_YEARS`` of its launch (history: Lexus passed Mercedes-Benz and BMW in 1991).

    Returns:
        A facts-table row: ``fact``, ``expected``, ``simulated`` (texts), ``replications_holding`` (fraction of
        replications where it holds on their own) and ``passed`` (judged on the replication mean).
    """
    fact = f"{brand} passes {' and '.join(rivals)} in US sales within {PASS_WITHIN_YEARS} years of launch"
    if missing := _missing(brand_year, (brand, *rivals)):
        return _not_covered(fact, f"{brand} ahead of {' and '.join(rivals)}", f"no {', '.join(missing)} in the run")
    launch = _launch_year(scenario, brand)
    deadline = launch + PASS_WITHIN_YEARS
    expected = f"first year ahead <= {deadline} (history: 1991)"
    own = _by(brand_year, brand, "sales")
    ahead = np.ones_like(own.to_numpy(), dtype=bool)
    for r in rivals:
        ahead &= own.to_numpy() > _by(brand_year, r, "sales").to_numpy()
    years = own.columns.to_numpy()
    first = [int(years[np.flatnonzero(row & (years >= launch))[0]]) if (row & (years >= launch)).any() else None
             for row in ahead]
    rival_means = [_by(brand_year, r, "sales").mean().to_numpy() for r in rivals]
    mean_ahead = own.mean().to_numpy() > np.max(rival_means, axis=0)
    ok = mean_ahead & (years >= launch)
    first_mean = int(years[np.flatnonzero(ok)[0]]) if ok.any() else None
    share = np.mean([f is not None and f <= deadline for f in first])
    if (first_mean is None or first_mean > deadline) and years.max() < deadline:
        return _not_covered(fact, expected, f"{brand} not ahead yet and {_run_years(brand_year)}, before {deadline}")
    return {"fact": fact, "expected": expected,
            "simulated": f"first year ahead {first_mean or 'never'} "
                         f"(replications: {', '.join(str(f) for f in first)})",
            "replications_holding": share, "passed": first_mean is not None and first_mean <= deadline}


def fact_acquisition_beats_churn(brand_year: pd.DataFrame, scenario: Scenario, brand: str = "Lexus",
                                 until: int | None = None) -> dict:
    """Stylized fact: every year after launch (up to ``until``), ``brand`` wins more buyers (conquest plus new to
    the segment) than it loses (churned owners), on the replication mean. Returns a facts-table row (as
    :func:`fact_lexus_passes`)."""
    fact = f"{brand}'s acquisition exceeds its churn every year after launch"
    launch = _launch_year(scenario, brand)
    expected = "(conquest + new-to-segment) / churned > 1 in every year after launch"
    rows = brand_year[(brand_year["brand"] == brand) & (brand_year["year"] > launch)]
    if until is not None:
        rows = rows[rows["year"] <= until]
    if rows.empty:
        why = f"no {brand} in the run" if _missing(brand_year, [brand]) else \
            f"no year after {brand}'s launch ({launch}): {_run_years(brand_year)}"
        return _not_covered(fact, expected, why)
    acq = rows["conquest_sales"] + rows["new_to_segment_sales"]
    rows = rows.assign(margin=acq - rows["churned_owners"])
    mean = rows.groupby("year")[["margin"]].mean()
    churned = rows.groupby("year")["churned_owners"].mean()
    ratio = rows.assign(acq=acq).groupby("year")["acq"].mean() / churned.where(churned > 0)  # NaN: nobody churned
    worst = ratio.idxmin() if ratio.notna().any() else None
    held = rows.groupby("replication")["margin"].min() > 0
    return {"fact": fact,
            "expected": f"(conquest + new-to-segment) / churned > 1 in every year "
                        f"{launch + 1}-{int(rows['year'].max())}",
            "simulated": (f"lowest ratio {beside(ratio.min(), (1.0,), False, 2)} ({worst})" if worst is not None
                          else "no churned owners" if len(ratio) else "no years"),
            "replications_holding": float(held.mean()) if len(held) else 0.0,
            "passed": bool(len(mean) and (mean["margin"] > 0).all())}


def fact_sticky_incumbents(brand_year: pd.DataFrame, scenario: Scenario, before: int = 1989) -> dict:
    """The incumbents' repurchase loyalty before ``before``: owners who rebought over owners who replaced, pooled
    over the incumbents (each brand's own figure is reported too: a brand in trouble, like Jaguar with the
    worst reliability, may lie below the band)."""
    start = scenario.market.start_year
    incumbents = [b for b, spec in scenario.brands.items()
                  if spec.launch is None or year_month_index(spec.launch, start) <= 0]
    rows = brand_year[brand_year["brand"].isin(incumbents) & (brand_year["year"] < before)]
    lo, hi = LOYALTY_BAND
    fact = f"Luxury buyers are sticky: incumbents' repurchase loyalty before {before} is {lo:.0%}-{hi:.0%}"
    if rows.empty or not rows["replacers"].sum() > 0:
        return _not_covered(fact, f"pooled over the incumbents: in [{lo:.0%}, {hi:.0%}]",
                            f"no incumbent's owner replaced a car before {before}: {_run_years(brand_year)}")
    rows = rows.assign(rebought=rows["replacers"] - rows["churned_owners"])
    pooled = rows.groupby("replication")[["rebought", "replacers"]].sum()
    per_rep = pooled["rebought"] / pooled["replacers"]
    by_brand = rows.groupby("brand")[["rebought", "replacers"]].sum().reindex(incumbents)
    by_brand = by_brand["rebought"] / by_brand["replacers"].where(by_brand["replacers"] > 0)
    mean = float(per_rep.mean()) if len(per_rep) else float("nan")
    return {"fact": fact,
            "expected": f"pooled over {', '.join(incumbents)}: in [{lo:.0%}, {hi:.0%}]",
            "simulated": f"{beside(mean, LOYALTY_BAND)} ("  # each brand's too: read against the band
                         + ", ".join(f"{b} {beside(v, LOYALTY_BAND)}" for b, v in by_brand.items()) + ")",
            "replications_holding": float(per_rep.between(lo, hi).mean()) if len(per_rep) else 0.0,
            "passed": bool(lo <= mean <= hi)}


def fact_loyalty_in_band(brand_year: pd.DataFrame, scenario: Scenario, band: tuple[float, float] = POLK_BAND,
                         label: str = "stays in the Polk band",
                         why: str = "Polk make loyalty: 43% for the most loyal make of 1995, 44% over all makes in 1997"
                         ) -> dict:
    """Stylized fact: every brand's repurchase loyalty (replication mean) lies in ``band`` in every year with at least
    ``MIN_REPLACERS`` replacing owners (``label`` names the fact). Returns a facts-table row (as
    :func:`fact_lexus_passes`), naming the lowest and highest brand-years."""
    rows = brand_year[brand_year["replacers"] >= MIN_REPLACERS]
    rows = rows.assign(loyalty=1.0 - rows["churned_owners"] / rows["replacers"])  # repurchase loyalty
    mean = rows.groupby(["brand", "year"])["loyalty"].mean()
    lo, hi = band
    if mean.empty:
        return _not_covered(f"Every brand's repurchase loyalty {label}", f"[{lo:.0%}, {hi:.0%}]",
                            f"no brand-year with {MIN_REPLACERS:,} replacing owners or more")
    held = rows.groupby("replication")["loyalty"].agg(lambda v: v.between(lo, hi).all())
    (b_min, y_min), (b_max, y_max) = mean.idxmin(), mean.idxmax()
    first, last = int(rows["year"].min()), int(rows["year"].max())
    return {"fact": f"Every brand's repurchase loyalty {label}, {first}-{last}",
            "expected": f"every brand-year in [{lo:.0%}, {hi:.0%}] ({why})",
            "simulated": f"lowest {beside(mean.min(), band)} ({b_min} {y_min}), "
                         f"highest {beside(mean.max(), band)} ({b_max} {y_max})",
            "replications_holding": float(held.mean()), "passed": bool(mean.between(lo, hi).all())}


def fact_price_sensitivity(scenario: Scenario, elasticities: pd.DataFrame | None, why_not: str | None) -> dict:
    """The five 1990 luxury models' mean own-price elasticity (``sim.elasticity.compare_with_blp`` by replication)
    lies within the range of Berry, Levinsohn & Pakes's (1995) estimates for them: the flagship's price weights are
    set from those estimates (docs/calibration.md, "Price sensitivity"), and this checks that they still are."""
    from sim.reference import blp_elasticities

    blp = blp_elasticities()
    lo, hi = float(blp["own_price_elasticity"].min()), float(blp["own_price_elasticity"].max())
    fact = "Luxury buyers are as price-sensitive as BLP (1995) estimated for 1990 models"
    expected = (f"own-price elasticity, mean over {', '.join(blp['model'])}: in [{lo:.2f}, {hi:.2f}] (BLP's five; "
                f"their mean "
                f"{blp['own_price_elasticity'].mean():.2f})")
    if elasticities is None:
        return _not_covered(fact, expected, why_not or "not measured")
    per_rep = elasticities.groupby("replication")["own_price_elasticity"].mean()
    by_line = elasticities.groupby("line", sort=False)["own_price_elasticity"].mean()
    mean = float(per_rep.mean())
    return {"fact": fact, "expected": expected,
            "simulated": f"{beside(mean, (lo, hi), percent=False, decimals=2)} ("
                         + ", ".join(f"{line} {v:.2f}" for line, v in by_line.items()) + ")",
            "replications_holding": float(per_rep.between(lo, hi).mean()),
            "passed": bool(lo <= mean <= hi)}


def parity_mismatch(scenario: Scenario, parity: Scenario, brand: str = "Lexus") -> str | None:
    """Why ``parity`` cannot be ``scenario``'s service-parity counterfactual, or None if it can: the paired-seed
    comparison means something only for the same market (``market.region``) with the same brands, ``brand``
    among them. The reason is one clause (the caller names the option or argument)."""
    if parity.market.region != scenario.market.region:
        return (f"its market.region is {parity.market.region!r}, not {scenario.market.region!r} "
                f"as in {scenario.name}: a counterfactual must be of the same market")
    if brand not in parity.brands:
        return f"it has no {brand}, the brand whose gain the counterfactual removes"
    ours, theirs = set(scenario.brands), set(parity.brands)
    if ours != theirs:
        diff = "; ".join(part for part in (
            f"lacks {', '.join(sorted(ours - theirs))}" if ours - theirs else "",
            f"adds {', '.join(sorted(theirs - ours))}" if theirs - ours else "") if part)
        return f"its brands differ from {scenario.name}'s ({diff}): a counterfactual must be of the same market"
    return None


def fact_parity_removes_gain(brand_year: pd.DataFrame, parity: pd.DataFrame, scenario: Scenario,
                             brand: str = "Lexus", year: int = GAIN_YEAR) -> dict:
    """Stylized fact: service parity (``parity``: the same seeds with the brand's service at the incumbents')
    removes more than ``MOST`` of ``brand``'s sales-share gain from the year before launch to ``year``, paired by
    replication, with its 95% interval. Returns a facts-table row (as :func:`fact_lexus_passes`)."""
    launch = _launch_year(scenario, brand)
    fact = f"Service parity removes most of {brand}'s share gain {launch}-{year}"
    expected = f"share of the gain removed > {MOST:.0%}"
    for by in (brand_year, parity):
        if _missing(by, [brand]) or year not in set(by["year"]):
            why = f"no {brand} in the run" if _missing(by, [brand]) else f"{_run_years(by)}, not {year}"
            return _not_covered(fact, expected, why)

    def gain(by: pd.DataFrame) -> pd.Series:
        share = _by(by, brand, "sales_share")
        base = share[launch - 1] if launch - 1 in share.columns else 0.0
        return share[year] - base
    g, gp = gain(brand_year), gain(parity)
    removed = (g - gp) / g.where(g != 0)  # NaN for a replication with no gain to remove
    mean, lo, hi = mean_interval(removed.to_numpy())
    return {"fact": fact, "expected": expected,
            "simulated": f"gain {g.mean():.1%} -> {gp.mean():.1%} with parity: "
                         f"{beside(mean, (MOST,))} removed "
                         f"({interval_text(lo, hi, int(removed.notna().sum()))}, paired seeds)",
            "replications_holding": float((removed > MOST).mean()), "passed": bool(mean > MOST)}


def forecast_table(brand_year: pd.DataFrame, after: int, brands: tuple[str, ...] = FORECAST_BRANDS) -> pd.DataFrame:
    """Per year after ``after`` and brand of ``brands``: sales (real units) and sales share, mean and 5th/95th
    percentile over replications, and mean repurchase loyalty."""
    rows = brand_year[(brand_year["year"] > after) & brand_year["brand"].isin(brands)]
    g = rows.groupby(["year", "brand"])
    out = pd.concat({
        "sales_mean": g["sales"].mean(), "sales_p05": g["sales"].quantile(0.05),
        "sales_p95": g["sales"].quantile(0.95),
        "share_mean": g["sales_share"].mean(), "share_p05": g["sales_share"].quantile(0.05),
        "share_p95": g["sales_share"].quantile(0.95), "loyalty_mean": g["repurchase_loyalty"].mean(),
    }, axis=1).reset_index()
    return out


def validatable() -> list[str]:
    """The scenarios in ``scenarios/`` that the reference data can judge (``sim.moments.coverage``); a file that does
    not load is left out."""
    import warnings

    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            with warnings.catch_warnings():  # a library file's own warnings are not this command's
                warnings.simplefilter("ignore", ScenarioWarning)
                scenario = load_scenario(path)
        except ScenarioError:
            continue
        if moments.coverage(scenario) is None:
            out.append(path.stem)
    return out


def validate_scenario(name: str = "lexus_us_1989", parity: str | None = "lexus_service_parity",
                      replications: int | None = None, buyers: int | None = None, seed: int | None = None,
                      workers: int | None = None, overrides: list[str] | None = None, progress=None,
                      scheduler: str | None = None) -> ValidationResult:
    """Run the scenario (and ``parity``, with the same seeds) and check the fit and the stylized facts.

    Args:
        name: the calibrated scenario (a name in ``scenarios/`` or a path).
        parity: the service-parity file, or None/"" to skip the parity fact: its own changes applied to the scenario
            (``sim.scenario_files.load_counterfactual``) make the counterfactual.
        replications, buyers, seed: default to the scenario's ``simulation`` values.
        workers, scheduler: where the runs go (:class:`sim.executor.Executor`).
        overrides: ``--set`` texts applied to both scenarios.
        progress: called with each finished :class:`~sim.runner.RunResult`.

    Returns:
        The :class:`ValidationResult`: the fit table (one row per calibration target: observed, replication
        mean, 5-95% band, z), the stylized facts (one row each, pass/fail), the forecast after the calibration
        window (:func:`forecast_table`), every replication's ``brand_year`` (and the parity runs').

    Raises:
        ScenarioError: a scenario that does not load (one line per problem), one the reference data cannot
            judge (``sim.moments.coverage``: one line naming the scenarios that can be validated), or a ``parity``
            of another market (:func:`parity_mismatch`); all before anything runs.
        sim.executor.TaskError: a run raised.
    """
    from sim.elasticity import BLP_YEAR, blp_lines, check_request, own_price_elasticities
    from sim.executor import Executor
    from sim.runner import run_replications

    scenario = load_scenario(name, overrides)
    why = moments.coverage(scenario)
    if why is not None:
        can = validatable()
        raise ScenarioError([f"{name}: cannot be validated: {why}; "
                             + (f"the scenarios in scenarios/ that can: {', '.join(can)}" if can
                                else "no scenario in scenarios/ can")])
    parity_scenario = load_counterfactual(name, parity, overrides) if parity else None
    mismatch = parity_mismatch(scenario, parity_scenario) if parity_scenario is not None else None
    if mismatch is not None:
        raise ScenarioError([f"parity {parity}: cannot be {name}'s counterfactual: {mismatch}"])
    reps = replications or scenario.simulation.replications
    seed = scenario.simulation.seed if seed is None else seed
    n = buyers or scenario.simulation.buyers
    with Executor(workers, scheduler) as executor:
        runs = run_replications(scenario, reps, seed, n, progress=progress, extra=run_moments, executor=executor)
        parity_runs = (run_replications(parity_scenario, reps, seed, n, progress=progress, executor=executor)
                       if parity_scenario is not None else None)
        elasticities, why_not = None, None
        try:
            check_request(scenario, blp_lines(), BLP_YEAR)
        except ValueError as exc:
            why_not = str(exc)
        else:
            elasticities = own_price_elasticities(scenario, blp_lines(), BLP_YEAR, n, reps, seed, executor=executor,
                                                  by_replication=True)
    brand_year = pd.concat([r.brand_year for r in runs], ignore_index=True)
    facts = [fact_lexus_passes(brand_year, scenario), fact_acquisition_beats_churn(brand_year, scenario),
             fact_sticky_incumbents(brand_year, scenario),
             fact_loyalty_in_band(brand_year, scenario, (0.0, POLK_BAND[1]), "is never near certainty"),
             fact_loyalty_in_band(brand_year, scenario, (POLK_BAND[0], 1.0), "keeps more than a few owners",
                                  "a judgment, not a Polk figure: a brand keeps more than one owner in ten")]
    parity_by = None
    if parity_runs is not None:
        parity_by = pd.concat([r.brand_year for r in parity_runs], ignore_index=True)
        facts.append(fact_parity_removes_gain(brand_year, parity_by, scenario))
    facts.append(fact_price_sensitivity(scenario, elasticities, why_not))
    fit = fit_table([r.extra for r in runs])
    forecast = forecast_table(brand_year, moments.CALIBRATION_YEARS[1])
    return ValidationResult(scenario, fit, pd.DataFrame(facts), forecast, brand_year, parity_by, reps, n, seed)
