"""Own-price elasticities of demand for model lines, measured on the simulated market.

The elasticity of line l's demand to its own list price in calendar year Y is measured by paired simulation: each
replication is run twice, with l's list price multiplied by (1 - step) and by (1 + step) from January to December
of Y only (as listed before and after), and with the same replication seed (common random numbers: the two runs
share every draw until the price differs). Then

    e_l = [log q_l(1 + step) - log q_l(1 - step)] / [log(1 + step) - log(1 - step)]

where q_l is l's unit sales in Y: a central difference of the year's demand, holding what the market had become by
January of Y (owners, reputations, word of mouth) as it was. Supply limits (``dealer_capacity``) are lifted for
the measurement, so the figure is demand's, as in Berry, Levinsohn & Pakes (1995), whose 1990 estimates for five
luxury models (``sim/data/blp1995_elasticities.csv``, :func:`sim.reference.blp_elasticities`) set the price
sensitivity of the flagship's buyers (``docs/calibration.md``, "Price sensitivity").

In a logit with utility -beta * log(price), a model's own-price elasticity is -beta * (1 - its choice probability);
here a line also competes with its brand's other lines (the nested logit's lambda raises it) and an owner's brand
loyalty lowers it (a loyal owner rebuys whatever the price), so the measured figure, not beta, is what compares with
an econometric estimate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.executor import Executor
from sim.scenario import Scenario

BLP_YEAR = 1990  # the year of BLP's figures (sim/data/blp1995_elasticities.csv)
STEP = 0.05  # fraction: the price change each way (+/-5%: small enough to be local, large enough to move sales)


def _month(year: int, month: int = 1) -> str:
    return f"{year:04d}-{month:02d}"


def _price_at(line: dict, date: str) -> float:
    """The list price (1989 USD) a line's path gives in month ``date`` ("YYYY-MM")."""
    price = line["price"]
    for entry in sorted(line.get("prices") or [], key=lambda e: e["date"]):
        if entry["date"] <= date:
            price = entry["price"]
    return price


def _find_line(raw: dict, brand: str, line: str, where: str) -> dict:
    brands = raw["brands"]
    if brand not in brands:
        raise ValueError(f"{where}: no brand {brand!r} (brands: {', '.join(brands)})")
    for spec in brands[brand].get("models") or []:
        if spec["name"] == line:
            return spec
    names = [m["name"] for m in brands[brand].get("models") or []]
    raise ValueError(f"{where}: brand {brand!r} has no model line {line!r} (lines: {', '.join(names) or 'none'})")


def _on_sale(raw: dict, brand: str, spec: dict) -> tuple[str, str | None]:
    """A line's first month on sale ("YYYY-MM": its own launch or its brand's, the later) and its end (or None)."""
    return max(spec.get("launch") or "0000-00", raw["brands"][brand].get("launch") or "0000-00"), spec.get("end")


def price_changed(scenario: Scenario, brand: str, line: str, year: int, factor: float) -> Scenario:
    """The scenario with one line's list price multiplied by ``factor`` from January to December of ``year`` only.

    The line's path before and after the year is as listed: a change dated inside the year is scaled too, and the
    price listed for January of the next year is restored then. A line launched during the year has its launch
    price scaled; one that ends during it, its price until the end.

    Args:
        scenario: the scenario (not changed).
        brand, line: the brand and the name of one of its model lines.
        year: the calendar year of the change.
        factor: > 0, the multiplier (1.05 = five per cent dearer).

    Returns:
        A new, validated :class:`Scenario`.

    Raises:
        ValueError: no such brand or line, a line not on sale in ``year``, or ``factor`` not a positive finite number.
    """
    if not (np.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a positive finite number (got {factor!r})")
    raw = scenario.model_dump(mode="json")
    spec = _find_line(raw, brand, line, scenario.name)
    start, after = _month(year), _month(year + 1)
    launch, end = _on_sale(raw, brand, spec)
    if launch > _month(year, 12) or (end is not None and end <= start):
        raise ValueError(f"{scenario.name}: {brand} {line} is not on sale in {year} "
                         f"(on sale from {launch if launch != '0000-00' else 'the start'} to {end or 'the end'})")
    path = sorted(spec.get("prices") or [], key=lambda e: e["date"])
    before = [e for e in path if e["date"] < start]
    inside = [dict(e, price=e["price"] * factor) for e in path if start < e["date"] < after]
    later = [e for e in path if e["date"] > after]
    restored = [{"date": after, "price": _price_at(spec, after)}] if end is None or end > after else []
    if (spec.get("launch") or "0000-00") >= start:  # launched in the year: its launch price is the year's first
        spec["price"] *= factor
        spec["prices"] = inside + restored + later
    else:
        first = [{"date": start, "price": _price_at(spec, start) * factor}]
        spec["prices"] = before + first + inside + restored + later
    return Scenario.model_validate(raw)


def without_supply_limits(scenario: Scenario) -> Scenario:
    """The scenario with every brand's ``dealer_capacity`` lifted, at the start and in its timeline (demand only)."""
    raw = scenario.model_dump(mode="json")
    for spec in raw["brands"].values():
        spec["dealer_capacity"] = None
        for entry in spec.get("timeline") or []:
            entry["dealer_capacity"] = None
    return Scenario.model_validate(raw)


def check_request(scenario: Scenario, lines: Sequence[tuple[str, str]], year: int, step: float = STEP) -> None:
    """Refuse, before anything runs, a year outside the run, a step out of range, no lines, or a line unknown or
    not on sale in the year (``ValueError`` naming the scenario, the line and the reason)."""
    first = scenario.market.start_year
    last = first + scenario.market.years - 1
    if not first <= year <= last:
        raise ValueError(f"{scenario.name}: year {year} is outside the run ({first}-{last})")
    if not 0 < step < 0.5:
        raise ValueError(f"step must be in (0, 0.5) (got {step!r})")
    if not lines:
        raise ValueError("no model lines given")
    for brand, line in lines:
        price_changed(scenario, brand, line, year, 1.0)  # refuses an unknown line or one not on sale in the year


def own_price_elasticities(scenario: Scenario, lines: Sequence[tuple[str, str]], year: int,
                           buyers: int | None = None, replications: int | None = None, seed: int | None = None,
                           step: float = STEP, executor: Executor | None = None,
                           by_replication: bool = False) -> pd.DataFrame:
    """Each line's own-price elasticity of demand in ``year``, by paired simulation (module docstring).

    Args:
        scenario: the market (its supply limits are lifted for the measurement).
        lines: ``(brand, line)`` pairs, each on sale in ``year``.
        year: the calendar year measured; runs stop at its end.
        buyers, replications, seed: as for :func:`sim.runner.run_scenarios` (defaults: the scenario's).
        step: the price change each way, a fraction in (0, 0.5).
        executor: where the 2 x lines x replications runs go (default: a new one on the local cores).
        by_replication: one row per line and replication instead (``replication``, ``sales``,
            ``own_price_elasticity``: NaN where an arm sold nothing).

    Returns:
        One row per line: ``brand, line, year, price`` (list price in January of the year, 1989 USD), ``sales``
        (units in the year, mean of the two arms and the replications), ``own_price_elasticity`` (mean over the
        replications with sales in both arms; NaN if none), ``sd`` (its standard deviation over replications, NaN
        with one), ``replications`` (how many the mean is over).

    Raises:
        ValueError: ``year`` outside the run, ``step`` out of range, no lines, or a line that is unknown or not on
        sale in ``year``.
    """
    from sim.model import as_scenario
    from sim.runner import run_scenarios

    check_request(scenario, lines, year, step)
    base = as_scenario(without_supply_limits(scenario), {"market.years": year - scenario.market.start_year + 1})
    raw = base.model_dump(mode="json")
    arms = {}
    for k, (brand, line) in enumerate(lines):
        for sign, factor in (("down", 1 - step), ("up", 1 + step)):
            variant = price_changed(base, brand, line, year, factor)
            arms[f"{k}-{sign}"] = variant.model_copy(update={"name": f"{base.name} ({brand} {line} x{factor:g})"})
    results = run_scenarios(arms, replications, seed, buyers, executor)
    rows = []
    def sold(arm: str, brand: str, line: str) -> np.ndarray:  # the line's sales in the year, by replication
        return np.array([float(r.line_year.loc[(r.line_year["year"] == year) & (r.line_year["brand"] == brand)
                                               & (r.line_year["model"] == line), "sales"].sum()) for r in results[arm]])

    for k, (brand, line) in enumerate(lines):
        down, up = sold(f"{k}-down", brand, line), sold(f"{k}-up", brand, line)
        both = (down > 0) & (up > 0)
        each = np.full(len(down), np.nan)
        each[both] = (np.log(up[both]) - np.log(down[both])) / (np.log1p(step) - np.log1p(-step))
        e = each[both]
        spec = _find_line(raw, brand, line, base.name)
        if by_replication:
            rows += [{"brand": brand, "line": line, "year": year, "replication": r, "sales": (d + u) / 2,
                      "own_price_elasticity": v} for r, (d, u, v) in enumerate(zip(down, up, each))]
            continue
        rows.append({"brand": brand, "line": line, "year": year, "price": _price_at(spec, _month(year)),
                     "sales": float(np.mean((down + up) / 2)),
                     "own_price_elasticity": float(e.mean()) if e.size else float("nan"),
                     "sd": float(e.std(ddof=1)) if e.size > 1 else float("nan"), "replications": int(e.size)})
    return pd.DataFrame(rows)


def blp_lines() -> list[tuple[str, str]]:
    """The flagship's ``(brand, line)`` for each model of :func:`sim.reference.blp_elasticities`."""
    from sim.reference import blp_elasticities

    blp = blp_elasticities()
    return list(zip(blp["brand"], blp["line"]))


def compare_with_blp(scenario: Scenario, buyers: int | None = None, replications: int | None = None,
                     seed: int | None = None, executor: Executor | None = None) -> pd.DataFrame:
    """The scenario's own-price elasticities of the five luxury models BLP (1995) estimated for 1990, beside theirs.

    Returns:
        :func:`own_price_elasticities`'s columns plus ``model`` (BLP's name) and ``blp`` (their estimate).

    Raises:
        ValueError: the scenario lacks one of the five lines or does not run through 1990.
    """
    from sim.reference import blp_elasticities

    blp = blp_elasticities()
    table = own_price_elasticities(scenario, blp_lines(), BLP_YEAR, buyers, replications, seed, executor=executor)
    return table.merge(blp[["brand", "line", "model", "own_price_elasticity"]].rename(
        columns={"own_price_elasticity": "blp"}), on=["brand", "line"])
