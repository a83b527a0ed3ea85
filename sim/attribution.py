"""Attribution: how much of a brand's gain comes from each lever (Shapley values over counterfactuals).

The question is a student's first one ("was it really the service?") and a strategist's ("which lever pays?").
Each *lever* is a counterfactual: a function of the raw scenario dict that puts one of the brand's levers at the
*incumbents' level*. For a coalition S of levers kept at the brand's own level (every other lever switched to the
incumbents' level) the value v(S) is the brand's gain in a metric; the Shapley value of lever i is

    phi_i = sum over S not containing i of |S|! (k - |S| - 1)! / k!  [v(S + i) - v(S)],

the lever's marginal contribution averaged over every order in which the levers could be switched on. The phi
sum exactly to v(all) - v(none): the gain the levers explain together.

**Incumbents** are the brands on sale at the start of the simulation (no ``launch``, or a launch no later than
the first month) other than the brand itself. Their level is taken *at the brand's launch month* (the first
month if the brand is on sale from the start): their initial values plus their timeline changes dated up to and
including that month. In the flagship, Lexus launches 1989-09 and the incumbents are Cadillac, Lincoln,
Mercedes-Benz, BMW and Jaguar (Acura launches 1986-03, after the January 1986 start).

The levers (:data:`LEVERS`). A brand either sets ``price`` (one implicit mid-tier sedan line) or lists its model
lines (``[[brands.X.models]]``, ``sim/lineup.py``); every lever works for both. A brand's *lines on sale* at a
month are those the scenario declares on sale then (launched by date, the brand launched, not yet ended); a line
declared ``launch = "response"`` is not among them (whether the strategy responds is known only by running).

* ``service`` — the brand's whole ``service`` block (every field of ``ServiceLevers``) set to the incumbents'
  level: the mean of each float field, the mean rounded half up of each integer field (months of complimentary
  maintenance, roadside level), the majority of each boolean field (true only if more than half the incumbents
  have it). The brand's own timeline ``service`` changes and its strategy's ``response`` are dropped too: they
  are also the brand's service.
* ``price`` — the brand's *mean list price* at launch set to the incumbents' mean price then. An incumbent's
  price is the mean list price of its lines on sale at the launch month (each line's price path by then, times
  the brand's ``price_index`` by then); for a brand without models, its ``price`` (timeline prices included)
  times its price index. For a brand with models the lever sets ``price_index`` so that the mean list price of
  its lines on sale at launch equals that mean (their relative prices and later price paths kept: a level,
  not a structure); for a brand without models it sets ``price`` (and a price index of 1). Either way the
  discount goes to 0, and the brand's timeline ``price``, ``price_index`` and ``discount`` changes and its
  strategy's ``price_index`` are dropped.
* ``reliability`` — ``defects_per_car_year`` set to the incumbents' mean (the car's reliability, not its service:
  dealer service quality is part of ``service``). An incumbent's rate is the mean over its lines on sale at the
  launch month of each line's rate (the brand's default where a line sets none); the brand's own line-level
  rates are removed, so every line of it has the incumbents' mean.
* ``line_up`` — *product line-up*: the brand keeps only the lines on sale at its launch month, on sale to the end
  of the run (their ``end`` removed, their price paths kept); every later line is dropped, and so is its
  strategy's ``launch`` (lines launched in response). It measures what the brand gained from *widening* its
  line-up after launch: new bodies (an SUV when households' needs shift toward SUVs, a coupe), new tiers (an
  entry line below the launch cars, a flagship above), and successor generations written as separate lines
  (the launch generation is kept on sale instead, at its price path). Not an incumbents' level: the brand's
  own launch line-up is the benchmark. For a brand without models (one implicit line) the lever is *void*: it
  changes nothing, so v(S) is the same with it kept or switched and its Shapley value is 0.
* ``word_of_mouth`` — a *switch-off*, not an incumbents' level: the brand's ``word_of_mouth`` multiplier set to
  0, so stories about the brand and sightings of its cars reach no one. It answers "what if the brand's
  reputation had had to spread by marketing and its own owners' experience alone?". (The incumbents' own
  multiplier is 1, no change, so an incumbents'-level counterfactual would be void.)

Timeline entries left with no change at all by a lever are removed. The levers touch disjoint fields (``price``
reads only the launch lines' prices, which ``line_up`` keeps), so switching several of them gives the same
scenario in any order.

**Value.** ``sales_share``: the brand's sales share in the ``to`` year minus its share in the year before
``from`` (0 for a brand not yet on sale then: for Lexus 1989-1995 this is its 1995 share). ``cumulative_profit``:
the brand's profit summed over ``from``..``to`` (1989 USD). Runs stop at the end of the ``to`` year.

**Common random numbers.** Replication r of every coalition uses the seed ``SeedSequence(seed, spawn_key=(r,))``
(``sim.runner.replication_seed``), so the phi are computed per replication and their 95% intervals are paired
t-intervals over replications (``sim.stats.mean_interval``; a share gain's interval is clipped to [−1, 1]). The
2^k x R runs go through ``sim.executor.Executor`` (this process for small attributions, else a local Dask
cluster or ``--scheduler``); results do not depend on where they run or on the number of workers.

**Effects.** Beside the Shapley value, each lever has a *leave-one-out* effect, v(all) − v(all without it): what
switching only that lever to the incumbents' level costs the brand as written (the marginal effect of removing it
from the full set), and a *solo* effect, v(only it) − v(none): what keeping only that lever gains over all
incumbents' levels. The Shapley value lies between them when the levers interact; the interaction remainder is
the total minus the sum of the leave-one-out effects.

``attribute(...)`` computes everything (an :class:`Attribution`, which prints its Shapley table);
``sim.attribution_report.write_attribution(...)`` writes the result folder atomically: ``shapley.csv``,
``coalitions.parquet``, ``brand_year.parquet`` (the brand's yearly rows per coalition), ``manifest.json`` and
``report.html`` (a waterfall plot, the table and a plain-language headline).
"""

from __future__ import annotations

import copy
import difflib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.files import safe_name
from sim.report import Rendered
from sim.scenario import Scenario, ServiceLevers, year_month_index
from sim.scenario_files import ScenarioError, validate
from sim.stats import mean_interval

MAX_LEVERS = 6
INTERACTION = "interaction (total - sum of leave-one-out effects)"
V_NONE = "v(none): every lever at the incumbents' level"
V_ALL = "v(all): the scenario as written"
TOTAL = "total explained: v(all) - v(none)"
METRICS = {
    "sales_share": "sales-share gain (share in the last year minus share the year before the first)",
    "cumulative_profit": "cumulative profit over the years (1989 USD)",
}


# ---- incumbents and their levels ---------------------------------------------------------------------------
NEVER = 10**6  # a month that never comes: a line launched only by a strategy response, or never ended


def _month(date: str | None, start_year: int) -> int:
    return 0 if date is None else year_month_index(date, start_year)


def incumbents(raw: dict, brand: str) -> list[str]:
    """Brands on sale at the first month of the simulation, other than ``brand``, in scenario order."""
    start = raw["market"]["start_year"]
    return [name for name, spec in raw["brands"].items()
            if name != brand and _month(spec.get("launch"), start) <= 0]


def launch_month(raw: dict, brand: str) -> int:
    """Months from the start to the brand's launch (0 if on sale from the start)."""
    return max(0, _month(raw["brands"][brand].get("launch"), raw["market"]["start_year"]))


def line_on_sale(line: dict, spec: dict, month: int, start_year: int) -> bool:
    """Whether model line ``line`` (a raw ``models`` entry of the brand ``spec``) is on sale at model month
    ``month`` as the scenario declares it: from its ``launch`` (or the brand's) to before its ``end``. A line
    declared ``launch = "response"`` is not: whether the strategy responds is known only by running."""
    if line.get("launch") == "response":
        return False
    brand_launch = _month(spec.get("launch"), start_year)
    first = brand_launch if line.get("launch") is None else max(brand_launch, _month(line["launch"], start_year))
    last = NEVER if line.get("end") is None else _month(line["end"], start_year)
    return first <= month < last


def lines_on_sale(spec: dict, month: int, start_year: int) -> list[dict]:
    """The brand's model lines on sale at ``month`` (raw ``models`` entries, file order); empty for a brand
    without models."""
    return [line for line in spec.get("models") or [] if line_on_sale(line, spec, month, start_year)]


def line_price_at(line: dict, month: int, start_year: int) -> float:
    """A line's list price at ``month`` before the brand's price index: its latest ``prices`` point dated up to
    then, else its launch ``price`` (1989 USD)."""
    price = line["price"]
    for point in line.get("prices") or []:
        if _month(point["date"], start_year) <= month:
            price = point["price"]
    return price


def mean_line_price(spec: dict, month: int, start_year: int) -> float | None:
    """The mean list price of the brand's lines on sale at ``month``, before its price index (1989 USD); None
    if none is (or the brand has no models)."""
    lines = lines_on_sale(spec, month, start_year)
    return float(np.mean([line_price_at(line, month, start_year) for line in lines])) if lines else None


def _state_at(spec: dict, month: int, start_year: int) -> dict:
    """A brand's levers as they stand at ``month`` (its initial values plus timeline changes dated up to then):
    ``service`` (every field), ``price`` (its mean list price then, 1989 USD: the mean over its lines on sale of
    each line's price path times the price index, or, without models, its ``price`` times the price index;
    None if no line is on sale), ``discount`` and ``defects_per_car_year`` (the mean over its lines on sale of
    each line's rate, the brand's default where a line sets none; None if no line is on sale)."""
    service = dict(spec.get("service") or {})
    price, discount, index = spec.get("price"), spec.get("discount", 0.0), spec.get("price_index", 1.0)
    for change in spec.get("timeline") or []:
        if year_month_index(change["date"], start_year) > month:
            break
        service.update(change.get("service") or {})
        if change.get("price") is not None:
            price = change["price"]
        if change.get("discount") is not None:
            discount = change["discount"]
        if change.get("price_index") is not None:
            index = change["price_index"]
    full = ServiceLevers.model_validate(service).model_dump()  # defaults for fields not set
    default = spec.get("defects_per_car_year", 0.8)
    if spec.get("models"):
        lines = lines_on_sale(spec, month, start_year)
        base = mean_line_price(spec, month, start_year)
        price = None if base is None else base * index
        defects = (float(np.mean([default if line.get("defects_per_car_year") is None
                                  else line["defects_per_car_year"] for line in lines])) if lines else None)
    else:
        price, defects = price * index, default
    return {"service": full, "price": price, "discount": discount, "defects_per_car_year": defects}


def list_price_at(spec: dict, month: int, start_year: int) -> float | None:
    """A brand's mean list price at model month ``month`` (1989 USD), measured as the incumbents' price is: the
    mean over its lines on sale then of each line's price path times the brand's price index then (a brand without
    models: its ``price`` times its price index); None if no line is on sale. ``spec`` is the brand's raw
    scenario section (``Brand.model_dump(mode="json")``)."""
    return _state_at(spec, month, start_year)["price"]


def _mean_level(values: list, kind: type) -> Any:
    if kind is bool:
        return sum(bool(v) for v in values) * 2 > len(values)  # strict majority
    mean = sum(values) / len(values)
    if kind is int:
        return math.floor(mean + 0.5)  # rounded half up
    return round(float(mean), 9)  # no float noise in manifests


def _service_kind(name: str) -> type:
    annotation = ServiceLevers.model_fields[name].annotation
    return annotation if annotation in (bool, int) else float


def incumbent_levels(raw: dict, brand: str) -> dict:
    """The incumbents' level of each lever at the brand's launch month (see the module docstring).

    Returns:
        ``incumbents`` (names), ``at_month`` (model month), ``service`` (field -> level), ``price`` (mean list
        price, 1989 USD) and ``defects_per_car_year`` (mean rate); price and defects over the incumbents with a
        line on sale then.

    Raises:
        ScenarioError: no incumbent, or none with a line on sale at the brand's launch.
    """
    others = incumbents(raw, brand)
    if not others:
        raise ScenarioError([f"--brand {brand}: no other brand is on sale at the start of the simulation, so there "
                             "is no incumbents' level to compare with"])
    start, month = raw["market"]["start_year"], launch_month(raw, brand)
    states = [_state_at(raw["brands"][b], month, start) for b in others]
    selling = [s for s in states if s["price"] is not None]
    if not selling:
        raise ScenarioError([f"--brand {brand}: no incumbent has a model line on sale at {brand}'s launch (month "
                             f"{month}), so there is no incumbents' price or defect rate to compare with"])
    service = {name: _mean_level([s["service"][name] for s in states], _service_kind(name))
               for name in ServiceLevers.model_fields}
    return {
        "incumbents": others,
        "at_month": month,
        "service": service,
        "price": round(float(np.mean([s["price"] for s in selling])), 9),
        "defects_per_car_year": round(float(np.mean([s["defects_per_car_year"] for s in selling])), 9),
    }


def launch_lines(raw: dict, brand: str) -> list[dict]:
    """The brand's model lines on sale at its launch month (its launch line-up; raw ``models`` entries).

    Raises:
        ScenarioError: the brand has models but none is on sale at its launch.
    """
    spec, month = raw["brands"][brand], launch_month(raw, brand)
    lines = lines_on_sale(spec, month, raw["market"]["start_year"])
    if spec.get("models") and not lines:
        raise ScenarioError([f"brands.{brand}.models: no line is on sale at the brand's launch (month {month}), so "
                             "the price and line-up levers have no launch line-up to start from"])
    return lines


# ---- the levers: raw scenario dict -> raw scenario dict ----------------------------------------------------
PRICE_FIELDS = ("price", "discount", "price_index")  # a timeline entry's price changes


def _prune_timeline(timeline: list[dict]) -> list[dict]:
    """Drop timeline entries that no longer change anything."""
    return [c for c in timeline
            if c.get("service") or any(v is not None for k, v in c.items() if k not in ("date", "note", "service"))]


def _service_lever(raw: dict, brand: str, levels: dict) -> dict:
    spec = raw["brands"][brand]
    spec["service"] = dict(levels["service"])
    timeline = [{**c, "service": {}} for c in spec.get("timeline") or []]
    spec["timeline"] = _prune_timeline(timeline)
    strategy = dict(spec.get("strategy") or {})
    if strategy.get("response"):
        strategy["response"] = {}
        spec["strategy"] = strategy
    return raw


def _price_lever(raw: dict, brand: str, levels: dict) -> dict:
    spec = raw["brands"][brand]
    if spec.get("models"):
        month = launch_month(raw, brand)
        launch_lines(raw, brand)  # raises if the brand has no line on sale at launch
        own = mean_line_price(spec, month, raw["market"]["start_year"])
        spec["price_index"] = round(levels["price"] / own, 9)
    else:
        spec["price"] = levels["price"]
        if spec.get("price_index", 1.0) != 1.0:
            spec["price_index"] = 1.0
    spec["discount"] = 0.0
    timeline = [{**c, **dict.fromkeys(PRICE_FIELDS)} for c in spec.get("timeline") or []]
    spec["timeline"] = _prune_timeline(timeline)
    strategy = spec.get("strategy") or {}
    if strategy.get("price_index") is not None:
        spec["strategy"] = {**strategy, "price_index": None}
    return raw


def _reliability_lever(raw: dict, brand: str, levels: dict) -> dict:
    spec = raw["brands"][brand]
    spec["defects_per_car_year"] = levels["defects_per_car_year"]
    if spec.get("models"):
        spec["models"] = [{**line, "defects_per_car_year": None} for line in spec["models"]]
    return raw


def _line_up_lever(raw: dict, brand: str, levels: dict) -> dict:
    spec = raw["brands"][brand]
    if not spec.get("models"):
        return raw  # one implicit line: no line-up to narrow (the lever is void)
    spec["models"] = [{**line, "end": None} for line in launch_lines(raw, brand)]
    strategy = spec.get("strategy") or {}
    if strategy.get("launch"):
        spec["strategy"] = {**strategy, "launch": []}
    return raw


def _word_of_mouth_lever(raw: dict, brand: str, levels: dict) -> dict:
    raw["brands"][brand]["word_of_mouth"] = 0.0
    return raw


@dataclass(frozen=True)
class Lever:
    """One lever of :data:`LEVERS`: its ``name`` (as ``--levers`` takes it), a one-line ``summary`` of its
    counterfactual, and ``apply(raw, brand, levels)``, which puts it at the incumbents' ``levels`` in the raw
    scenario dict ``raw`` (in place) and returns ``raw``."""

    name: str
    summary: str
    apply: Callable[[dict, str, dict], dict]


LEVERS: dict[str, Lever] = {lever.name: lever for lever in (
    Lever("service", "the whole service block at the incumbents' level at launch (own timeline service changes "
                     "and strategy response dropped)", _service_lever),
    Lever("price", "mean list price at launch at the incumbents' mean then (a brand with model lines: its price "
                   "index scales its launch lines' prices to it), no discount (own timeline and strategy price, "
                   "price index and discount changes dropped)", _price_lever),
    Lever("reliability", "defects per car-year at the incumbents' mean (line-level rates dropped)",
          _reliability_lever),
    Lever("line_up", "only the model lines on sale at launch, on sale to the end of the run; later lines "
                     "dropped (void for a brand without model lines)", _line_up_lever),
    Lever("word_of_mouth", "word of mouth about the brand switched off (multiplier 0): a switch-off, not an "
                           "incumbents' level", _word_of_mouth_lever),
)}


def counterfactual(raw: dict, brand: str, switched: list[str] | tuple[str, ...], levels: dict | None = None) -> dict:
    """A copy of the raw scenario with each lever in ``switched`` put at the incumbents' level for ``brand``.
    ``levels`` are the incumbents' levels of the *original* scenario (computed if not given)."""
    levels = levels if levels is not None else incumbent_levels(raw, brand)
    out = copy.deepcopy(raw)
    for name in switched:
        out = LEVERS[name].apply(out, brand, levels)
    return out


def dict_changes(before: Any, after: Any, path: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted path -> (before, after) for every leaf that differs (lists are compared whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for key in dict.fromkeys([*before, *after]):
            sub = f"{path}.{key}" if path else str(key)
            out.update(dict_changes(before.get(key), after.get(key), sub))
        return out
    return {} if before == after else {path: (before, after)}


# ---- input checks ------------------------------------------------------------------------------------------
def parse_levers(text: str | list[str]) -> list[str]:
    """The lever names in ``text`` (comma-separated, or a list; blanks around names ignored), in order.

    Raises:
        ScenarioError: no lever, an unknown lever (with the closest known one), a lever given twice, or more than
            :data:`MAX_LEVERS`; every problem is listed.
    """
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    problems = []
    if not names:
        problems.append(f"--levers: no lever given (known: {', '.join(LEVERS)})")
    for name in names:
        if name not in LEVERS:
            hint = difflib.get_close_matches(name, list(LEVERS), n=1)
            problems.append(f"--levers: unknown lever '{name}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")
                            + f"; known levers: {', '.join(LEVERS)}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"--levers: lever given twice: {', '.join(duplicates)}")
    if len(names) > MAX_LEVERS:
        problems.append(f"--levers: at most {MAX_LEVERS} levers (2^k coalitions are simulated), got {len(names)}")
    if problems:
        raise ScenarioError(problems)
    return names


def check_brand(scenario: Scenario, brand: str) -> str:
    """``brand``, if it is one of the scenario's brands.

    Raises:
        ScenarioError: an unknown brand (naming the closest brand, or the known ones).
    """
    if brand not in scenario.brands:
        hint = difflib.get_close_matches(brand, list(scenario.brands), n=1)
        known = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(scenario.brands)})"
        raise ScenarioError([f"--brand: unknown brand '{brand}' in {scenario.name}{known}"])
    return brand


def default_window(scenario: Scenario, brand: str) -> tuple[int, int]:
    """``from``: the brand's launch year (if after the first year), else the second simulated year; ``to``: six
    years later, within the simulation."""
    start, last = scenario.market.start_year, scenario.market.start_year + scenario.market.years - 1
    launch = scenario.brands[brand].launch
    first = max(start + 1, int(launch[:4])) if launch else start + 1
    return first, min(first + 6, last)


def check_window(scenario: Scenario, first: int, last: int) -> None:
    """Check the years ``first``..``last`` of the gain (``--from``, ``--to``) against the simulation.

    Raises:
        ScenarioError: ``first`` not after the first simulated year (the gain needs the year before it), ``last``
            past the last simulated year, or ``last`` before ``first``.
    """
    start, end = scenario.market.start_year, scenario.market.start_year + scenario.market.years - 1
    problems = []
    if not start < first <= end:
        problems.append(f"--from {first}: must lie in {start + 1}..{end} (the year before it, {first - 1}, is the "
                        f"baseline and must be simulated: the scenario runs {start}-{end})")
    if not start <= last <= end:
        problems.append(f"--to {last}: must lie in {start}..{end} (the years {scenario.name} simulates)")
    elif last < first:
        problems.append(f"--to {last}: must not be before --from {first}")
    if problems:
        raise ScenarioError(problems)


def check_inputs(scenario: Scenario, brand: str, levers: str | list[str], metric: str, first: int | None,
                 last: int | None) -> tuple[list[str], int, int]:
    """Check the brand, levers, metric and years (all problems at once); returns (levers, first, last) with the
    default window filled in. Raises :class:`ScenarioError`."""
    problems = []
    for check in (lambda: check_brand(scenario, brand), lambda: parse_levers(levers)):
        try:
            check()
        except ScenarioError as exc:
            problems += exc.problems
    if metric not in METRICS:
        problems.append(f"--metric: unknown metric '{metric}'; known: {', '.join(METRICS)}")
    if problems:
        raise ScenarioError(problems)
    first = first or default_window(scenario, brand)[0]
    last = last or min(first + 6, scenario.market.start_year + scenario.market.years - 1)
    check_window(scenario, first, last)
    return parse_levers(levers), first, last


# ---- Shapley values ----------------------------------------------------------------------------------------
def coalition_name(mask: int, levers: list[str]) -> str:
    """The coalition of bit mask ``mask`` over ``levers`` (bit i = lever i kept at the brand's own level), as its
    kept levers joined by ``+``; ``"none"`` for the empty one."""
    kept = [name for i, name in enumerate(levers) if mask >> i & 1]
    return "+".join(kept) if kept else "none"


def shapley(values: np.ndarray) -> np.ndarray:
    """Shapley values from a value table ``values[mask, ...]`` over the 2^k coalitions (bit i of ``mask`` set =
    player i in the coalition; trailing axes, e.g. replications, are kept). Returns ``phi[i, ...]``."""
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    k = n.bit_length() - 1
    if n != 1 << k:
        raise ValueError(f"a value table needs 2^k rows, got {n}")
    phi = np.zeros((k, *values.shape[1:]))
    for i in range(k):
        for mask in range(n):
            if mask >> i & 1:
                continue
            size = bin(mask).count("1")
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            phi[i] += weight * (values[mask | 1 << i] - values[mask])
    return phi


# ---- running -----------------------------------------------------------------------------------------------
def value_of(brand_year: pd.DataFrame, brand: str, metric: str, first: int, last: int) -> float:
    """The value of one run (``brand_year`` of one replication) for ``brand``."""
    rows = brand_year[brand_year["brand"] == brand].set_index("year")
    if metric == "sales_share":
        share = rows["sales_share"].fillna(0.0)
        return float(share.get(last, 0.0) - share.get(first - 1, 0.0))
    if metric == "cumulative_profit":
        return float(rows.loc[first:last, "profit"].fillna(0.0).sum())
    raise ValueError(f"unknown metric {metric!r}")


def _run_job(args: tuple) -> tuple[int, int, pd.DataFrame, float]:
    """One coalition's replication: (mask, replication, the brand's yearly rows, seconds)."""
    from sim.runner import run_one

    mask, scenario, replication, seed, buyers, brand = args
    result = run_one(scenario, replication, seed, buyers)
    rows = result.brand_year[result.brand_year["brand"] == brand].reset_index(drop=True)
    return mask, replication, rows, result.seconds


@dataclass
class Attribution(Rendered):
    """The outcome of :func:`attribute`: every coalition's value per replication, and what each lever changed.
    ``str()`` is the Shapley table for the terminal, ``_repr_html_`` the same table in a notebook."""

    scenario: Scenario  # the base scenario as run (years cut to ``last``)
    brand: str
    levers: list[str]
    metric: str
    first: int
    last: int
    seed: int
    buyers: int
    replications: int
    levels: dict
    changes: dict[str, dict[str, tuple[Any, Any]]]  # lever -> dotted path -> (own, counterfactual)
    values: np.ndarray  # [mask, replication]
    brand_year: pd.DataFrame  # the brand's yearly rows per coalition and replication
    seconds: float
    run_seconds: dict[tuple[int, int], float] = field(default_factory=dict)
    execution: dict = field(default_factory=dict)  # Executor.describe(): where the runs went

    @property
    def k(self) -> int:
        """The number of levers."""
        return len(self.levers)

    @property
    def all_mask(self) -> int:
        """The mask of the coalition of every lever (the scenario as written)."""
        return (1 << self.k) - 1

    def phi(self) -> np.ndarray:
        """The Shapley value of each lever per replication, shape (k, replications), in the metric's units."""
        return shapley(self.values)

    def coalitions(self) -> pd.DataFrame:
        """One row per coalition and replication: ``coalition``, ``mask``, ``replication``, ``kept_<lever>``
        (bool, per lever) and ``value`` (the metric), as ``coalitions.parquet`` holds them."""
        rows = [{"coalition": coalition_name(m, self.levers), "mask": m, "replication": r,
                 **{f"kept_{name}": bool(m >> i & 1) for i, name in enumerate(self.levers)},
                 "value": float(self.values[m, r])}
                for m in range(1 << self.k) for r in range(self.replications)]
        return pd.DataFrame(rows)

    def interval(self, values: np.ndarray) -> tuple[float, float, float]:
        """Mean and 95% paired t-interval over replications; a share gain's clipped to [−1, 1]."""
        return mean_interval(values, bounds=(-1.0, 1.0) if self.metric == "sales_share" else None)

    def table(self) -> pd.DataFrame:
        """One row per lever (phi with its interval, share of the total, leave-one-out and solo effects with
        theirs), then the interaction remainder, v(none), v(all) and the total (what ``shapley.csv`` holds).

        Returns:
            Columns lever, phi_mean, ci_low, ci_high, share_of_total, leave_one_out_effect,
            leave_one_out_ci_low, leave_one_out_ci_high, solo_effect, solo_ci_low, solo_ci_high (the effects
            only on lever rows); values in the metric's units (a share gain as a fraction, profit in dollars).
        """
        phi, v, full = self.phi(), self.values, self.all_mask
        total = v[full] - v[0]
        total_mean = float(total.mean())
        rows = []
        for i, name in enumerate(self.levers):
            leave_one_out = v[full] - v[full & ~(1 << i)]
            solo = v[1 << i] - v[0]
            mean, lo, hi = self.interval(phi[i])
            rows.append({"lever": name, "phi_mean": mean, "ci_low": lo, "ci_high": hi,
                         "share_of_total": mean / total_mean if total_mean else float("nan"),
                         **dict(zip(("leave_one_out_effect", "leave_one_out_ci_low", "leave_one_out_ci_high"),
                                    self.interval(leave_one_out))),
                         **dict(zip(("solo_effect", "solo_ci_low", "solo_ci_high"), self.interval(solo)))})
        leave_one_out_sum = sum(v[full] - v[full & ~(1 << i)] for i in range(self.k))
        for label, series in ((INTERACTION, total - leave_one_out_sum), (V_NONE, v[0]), (V_ALL, v[full]),
                              (TOTAL, total)):
            mean, lo, hi = self.interval(series)
            share = mean / total_mean if total_mean and label.startswith(("interaction", "total")) else float("nan")
            rows.append({"lever": label, "phi_mean": mean, "ci_low": lo, "ci_high": hi, "share_of_total": share})
        return pd.DataFrame(rows)

    def title(self) -> str:
        """The report's title: brand and scenario."""
        return f"Attribution: {self.brand} in {self.scenario.name}"

    def tables(self) -> list[dict]:
        """The Shapley table (``sim.attribution_report.summary_table``)."""
        from sim.attribution_report import summary_table

        return [summary_table(self)]


def prepare(scenario: Scenario, brand: str, levers: list[str], first: int,
            last: int) -> tuple[dict, dict, list[Scenario]]:
    """(levels, changes per lever, one validated scenario per coalition mask), runs cut to the ``last`` year."""
    raw = scenario.model_dump(mode="json")
    raw["market"]["years"] = last - scenario.market.start_year + 1
    levels = incumbent_levels(raw, brand)
    changes = {name: dict_changes(raw, counterfactual(raw, brand, [name], levels)) for name in levers}
    scenarios = []
    for mask in range(1 << len(levers)):
        switched = [name for i, name in enumerate(levers) if not mask >> i & 1]
        scenarios.append(validate(counterfactual(raw, brand, switched, levels),
                                  f"{scenario.name} with {brand}'s {', '.join(switched) or 'no lever'} at the "
                                  "incumbents' level"))
    return levels, changes, scenarios


def attribute(scenario: Scenario, brand: str, levers: list[str], metric: str = "sales_share",
              first: int | None = None, last: int | None = None, replications: int | None = None,
              seed: int | None = None, buyers: int | None = None, workers: int | None = None,
              progress: Callable[[], None] | None = None, scheduler: str | None = None) -> Attribution:
    """Run the 2^k coalitions x R replications and return the :class:`Attribution`.

    Args:
        scenario: the base scenario; brand, levers, metric, first, last as checked by :func:`check_inputs`.
        replications, seed, buyers: default to the scenario's ``simulation`` values.
        workers, scheduler: where the runs go (:class:`sim.executor.Executor`).
        progress: called with no argument as each run finishes.

    Raises:
        ScenarioError: bad brand, lever, metric or years (before anything runs).
        sim.executor.TaskError: a run raised (the message names the coalition and the replication).
    """
    from sim.executor import Executor
    from sim.model import memory_needed, run_size
    from sim.runner import estimated_seconds

    levers, first, last = check_inputs(scenario, brand, levers, metric, first, last)
    reps = replications or scenario.simulation.replications
    seed = scenario.simulation.seed if seed is None else seed
    buyers = buyers or scenario.simulation.buyers
    levels, changes, scenarios = prepare(scenario, brand, levers, first, last)
    started = time.perf_counter()
    jobs = [(mask, sc, r, seed, buyers, brand) for mask, sc in enumerate(scenarios) for r in range(reps)]
    with Executor(workers, scheduler) as executor:
        outcomes = executor.map(_run_job, jobs, progress=(lambda *_: progress()) if progress else None,
                                label=lambda _, job: (f"coalition {coalition_name(job[0], levers)}, "
                                                      f"replication {job[2]}"),
                                cost=sum(estimated_seconds(job[1], buyers) for job in jobs),
                                memory=(max(memory_needed(sc, buyers) for sc in scenarios),
                                        run_size(scenario, buyers)))
        execution = executor.describe()
    values = np.full((len(scenarios), reps), np.nan)
    frames, run_seconds = [], {}
    for mask, r, rows, seconds in sorted(outcomes, key=lambda o: (o[0], o[1])):
        values[mask, r] = value_of(rows, brand, metric, first, last)
        rows = rows.copy()
        rows.insert(0, "coalition", coalition_name(mask, levers))
        frames.append(rows)
        run_seconds[(mask, r)] = seconds
    return Attribution(scenarios[-1], brand, levers, metric, first, last, seed, buyers, reps, levels, changes,
                       values, pd.concat(frames, ignore_index=True), time.perf_counter() - started, run_seconds,
                       execution)


# ---- the result folder -------------------------------------------------------------------------------------
def default_destination(scenario: Scenario, brand: str, started: datetime, seed: int | None = None) -> Path:
    """``results/attribution/<scenario>-<brand>-<UTC start time>-s<seed>-<random>/``, the names as a safe file name
    (:func:`sim.files.safe_name`: any length, any characters; :func:`sim.files.unique_suffix`)."""
    from sim.files import unique_suffix
    from sim.results import ROOT

    name = safe_name(f"{scenario.name}-{brand}")
    return ROOT / "results" / "attribution" / f"{name}-{started:%Y%m%dT%H%M%SZ}-{unique_suffix(seed)}"


def manifest(att: Attribution, started: datetime) -> dict:
    """The attribution's ``manifest.json`` content: what was asked, the incumbents' levels, each lever's changes,
    the seeds, the execution record and provenance (plain JSON types)."""
    from sim.results import provenance
    from sim.runner import replication_seed

    return {
        "kind": "attribution",
        "scenario_name": att.scenario.name,
        "question": att.scenario.question,
        "brand": att.brand,
        "metric": att.metric,
        "metric_meaning": METRICS[att.metric],
        "from": att.first,
        "to": att.last,
        "levers": att.levers,
        "incumbents": att.levels["incumbents"],
        "incumbents_level_at": f"month {att.levels['at_month']} of the simulation (the brand's launch)",
        "counterfactuals": {name: {"what": LEVERS[name].summary,
                                   "changes": {path: {"own": own, "counterfactual": cf}
                                               for path, (own, cf) in att.changes[name].items()}}
                            for name in att.levers},
        "coalitions": {coalition_name(m, att.levers): m for m in range(1 << att.k)},
        "seed": att.seed,
        "buyers_simulated": att.buyers,
        "replications": [{"replication": r, "seed_entropy": att.seed,
                          "spawn_key": list(replication_seed(att.seed, r).spawn_key),
                          "seconds": round(sum(s for (m, rr), s in att.run_seconds.items() if rr == r), 3)}
                         for r in range(att.replications)],
        "runs": (1 << att.k) * att.replications,
        "wall_seconds": round(att.seconds, 3),
        "execution": att.execution,
        "scenario": att.scenario.model_dump(mode="json"),
        **provenance(started),
    }
