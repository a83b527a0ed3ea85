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

The levers (:data:`LEVERS`):

* ``service`` — the brand's whole ``service`` block (every field of ``ServiceLevers``) set to the incumbents'
  level: the mean of each float field, the mean rounded half up of each integer field (months of complimentary
  maintenance, roadside level), the majority of each boolean field (true only if more than half the incumbents
  have it). The brand's own timeline ``service`` changes and its strategy's ``response`` are dropped too: they
  are also the brand's service.
* ``price`` — the list price set to the incumbents' mean price at the launch month (timeline prices included),
  the discount to 0, and the brand's timeline price and discount changes dropped.
* ``quality`` — ``defects_per_car_year`` set to the incumbents' mean.
* ``word_of_mouth`` — a *switch-off*, not an incumbents' level: the brand's ``word_of_mouth`` multiplier set to
  0, so stories about the brand and sightings of its cars reach no one. It answers "what if the brand's
  reputation had had to spread by marketing and its own owners' experience alone?". (The incumbents' own
  multiplier is 1, no change, so an incumbents'-level counterfactual would be void.)

Timeline entries left with no change at all by a lever are removed. The levers touch disjoint fields, so
switching several of them gives the same scenario in any order.

**Value.** ``sales_share``: the brand's sales share in the ``to`` year minus its share in the year before
``from`` (0 for a brand not yet on sale then: for Lexus 1989-1995 this is its 1995 share). ``cumulative_profit``:
the brand's profit summed over ``from``..``to`` (1989 USD). Runs stop at the end of the ``to`` year.

**Common random numbers.** Replication r of every coalition uses the seed ``SeedSequence(seed, spawn_key=(r,))``
(``sim.runner.replication_seed``), so the phi are computed per replication and their 95% intervals are paired
t-intervals over replications (``sim.compare.mean_ci``). The 2^k x R runs go through ``sim.executor.Executor``
(this process for small attributions, else a local Dask cluster or ``--scheduler``); results do not depend on
where they run or on the number of workers.

``attribute(...)`` computes everything; ``write_attribution(...)`` writes the result folder atomically:
``shapley.csv``, ``coalitions.parquet``, ``brand_year.parquet`` (the brand's yearly rows per coalition),
``manifest.json`` and ``report.html`` (a waterfall plot, the table and a plain-language headline).
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from sim.scenario import Scenario, ScenarioError, ServiceLevers, validate, year_month_index

MAX_LEVERS = 6
METRICS = {
    "sales_share": "sales-share gain (share in the last year minus share the year before the first)",
    "cumulative_profit": "cumulative profit over the years (1989 USD)",
}


# ---- incumbents and their levels ---------------------------------------------------------------------------
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


def _state_at(spec: dict, month: int, start_year: int) -> dict:
    """A brand's service levers, price and discount as they stand at ``month`` (timeline changes up to then)."""
    service = dict(spec.get("service") or {})
    price, discount = spec["price"], spec.get("discount", 0.0)
    for change in spec.get("timeline") or []:
        if year_month_index(change["date"], start_year) > month:
            break
        service.update(change.get("service") or {})
        if change.get("price") is not None:
            price = change["price"]
        if change.get("discount") is not None:
            discount = change["discount"]
    full = ServiceLevers.model_validate(service).model_dump()  # defaults for fields not set
    return {"service": full, "price": price, "discount": discount}


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
    """The incumbents' level of each lever at the brand's launch month (see the module docstring)."""
    others = incumbents(raw, brand)
    if not others:
        raise ScenarioError([f"--brand {brand}: no other brand is on sale at the start of the simulation, so there "
                             "is no incumbents' level to compare with"])
    start, month = raw["market"]["start_year"], launch_month(raw, brand)
    states = [_state_at(raw["brands"][b], month, start) for b in others]
    service = {name: _mean_level([s["service"][name] for s in states], _service_kind(name))
               for name in ServiceLevers.model_fields}
    return {
        "incumbents": others,
        "at_month": month,
        "service": service,
        "price": round(float(np.mean([s["price"] for s in states])), 9),
        "defects_per_car_year": round(float(np.mean([raw["brands"][b].get("defects_per_car_year", 0.8) for b in others])), 9),
    }


# ---- the levers: raw scenario dict -> raw scenario dict ----------------------------------------------------
def _prune_timeline(timeline: list[dict]) -> list[dict]:
    """Drop timeline entries that no longer change anything."""
    return [c for c in timeline
            if c.get("service") or c.get("price") is not None or c.get("discount") is not None]


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
    spec["price"] = levels["price"]
    spec["discount"] = 0.0
    timeline = [{**c, "price": None, "discount": None} for c in spec.get("timeline") or []]
    spec["timeline"] = _prune_timeline(timeline)
    return raw


def _quality_lever(raw: dict, brand: str, levels: dict) -> dict:
    raw["brands"][brand]["defects_per_car_year"] = levels["defects_per_car_year"]
    return raw


def _word_of_mouth_lever(raw: dict, brand: str, levels: dict) -> dict:
    raw["brands"][brand]["word_of_mouth"] = 0.0
    return raw


@dataclass(frozen=True)
class Lever:
    name: str
    summary: str
    apply: Callable[[dict, str, dict], dict]


LEVERS: dict[str, Lever] = {lever.name: lever for lever in (
    Lever("service", "the whole service block at the incumbents' level at launch (own timeline service changes "
                     "and strategy response dropped)", _service_lever),
    Lever("price", "list price at the incumbents' mean at launch, no discount (own timeline price and discount "
                   "changes dropped)", _price_lever),
    Lever("quality", "defects per car-year at the incumbents' mean", _quality_lever),
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
    if brand not in scenario.brands:
        hint = difflib.get_close_matches(brand, list(scenario.brands), n=1)
        raise ScenarioError([f"--brand: unknown brand '{brand}' in {scenario.name}"
                             + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(scenario.brands)})")])
    return brand


def default_window(scenario: Scenario, brand: str) -> tuple[int, int]:
    """``from``: the brand's launch year (if after the first year), else the second simulated year; ``to``: six
    years later, within the simulation."""
    start, last = scenario.market.start_year, scenario.market.start_year + scenario.market.years - 1
    launch = scenario.brands[brand].launch
    first = max(start + 1, int(launch[:4])) if launch else start + 1
    return first, min(first + 6, last)


def check_window(scenario: Scenario, first: int, last: int) -> None:
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
class Attribution:
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
        return len(self.levers)

    @property
    def all_mask(self) -> int:
        return (1 << self.k) - 1

    def phi(self) -> np.ndarray:
        return shapley(self.values)

    def coalitions(self) -> pd.DataFrame:
        rows = [{"coalition": coalition_name(m, self.levers), "mask": m, "replication": r,
                 **{f"kept_{name}": bool(m >> i & 1) for i, name in enumerate(self.levers)},
                 "value": float(self.values[m, r])}
                for m in range(1 << self.k) for r in range(self.replications)]
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """One row per lever (phi with its interval, share of the total, alone and solo effects), then the
        interaction remainder, v(none), v(all) and the total."""
        from sim.compare import mean_ci

        phi, v, full = self.phi(), self.values, self.all_mask
        total = v[full] - v[0]
        total_mean = float(total.mean())
        rows = []
        for i, name in enumerate(self.levers):
            alone = v[full] - v[full & ~(1 << i)]
            solo = v[1 << i] - v[0]
            mean, lo, hi = mean_ci(phi[i])
            rows.append({"lever": name, "phi_mean": mean, "ci_low": lo, "ci_high": hi,
                         "share_of_total": mean / total_mean if total_mean else float("nan"),
                         **dict(zip(("alone_effect", "alone_ci_low", "alone_ci_high"), mean_ci(alone))),
                         **dict(zip(("solo_effect", "solo_ci_low", "solo_ci_high"), mean_ci(solo)))})
        alone_sum = sum(v[full] - v[full & ~(1 << i)] for i in range(self.k))
        for label, series in (("interaction (total - sum of alone effects)", total - alone_sum),
                              ("v(none): every lever at the incumbents' level", v[0]),
                              ("v(all): the scenario as written", v[full]),
                              ("total explained: v(all) - v(none)", total)):
            mean, lo, hi = mean_ci(series)
            rows.append({"lever": label, "phi_mean": mean, "ci_low": lo, "ci_high": hi,
                         "share_of_total": mean / total_mean if total_mean and label.startswith(("interaction", "total"))
                         else float("nan")})
        return pd.DataFrame(rows)


def prepare(scenario: Scenario, brand: str, levers: list[str], first: int, last: int) -> tuple[dict, dict, list[Scenario]]:
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
                                label=lambda _, job: f"coalition {coalition_name(job[0], levers)}, replication {job[2]}",
                                cost=sum(estimated_seconds(job[1], buyers) for job in jobs))
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
def default_destination(scenario: Scenario, brand: str, started: datetime) -> Path:
    from sim.results import ROOT

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{scenario.name}-{brand}")
    return ROOT / "results" / "attribution" / f"{safe}-{started:%Y%m%dT%H%M%SZ}"


def manifest(att: Attribution, started: datetime) -> dict:
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


def write_attribution(destination: Path, att: Attribution, started: datetime) -> Path:
    """Write the attribution folder atomically (tables, manifest, report) and return ``destination``."""
    from sim.results import atomic_folder

    with atomic_folder(destination) as tmp:
        att.table().to_csv(tmp / "shapley.csv", index=False, float_format="%.6g")
        att.coalitions().to_parquet(tmp / "coalitions.parquet", index=False)
        att.brand_year.to_parquet(tmp / "brand_year.parquet", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest(att, started), indent=2, default=str))
        build_report(tmp)
    return destination


# ---- the report --------------------------------------------------------------------------------------------
def unit(metric: str) -> tuple[float, str, int]:
    """(scale, unit, digits) for showing values of ``metric``: pp for shares, $M for profit."""
    return (100.0, "pp", 1) if metric == "sales_share" else (1e-6, "$M", 0)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def inert_levers(coalitions: pd.DataFrame, levers: list[str]) -> list[str]:
    """Levers whose switch changed no value at all: v(S + i) == v(S) for every coalition and replication."""
    values = coalitions.pivot(index="mask", columns="replication", values="value").sort_index().to_numpy()
    return [name for i, name in enumerate(levers)
            if all(np.array_equal(values[m | 1 << i], values[m]) for m in range(len(values)) if not m >> i & 1)]


def headline(table: pd.DataFrame, man: dict, inert: list[str] = ()) -> list[str]:
    """Plain-language sentences (HTML-escaped) on the total and each lever's part of it; ``inert`` names levers
    that changed no run."""
    from sim.report import esc, format_difference

    scale, u, digits = unit(man["metric"])
    t = table.set_index("lever")
    levers = man["levers"]
    total = t.loc["total explained: v(all) - v(none)"]
    v_all = t.loc["v(all): the scenario as written"]
    v_none = t.loc["v(none): every lever at the incumbents' level"]
    fmt = lambda r: format_difference(r["phi_mean"] * scale, r["ci_low"] * scale, r["ci_high"] * scale, u, digits)
    brand, first, last = esc(man["brand"]), man["from"], man["to"]
    if man["metric"] == "sales_share":
        what = f"sales-share gain {first}–{last} (share {last} − share {first - 1})"
    else:
        what = f"cumulative profit {first}–{last}"
    lines = [f"{brand}'s {what}: <b>{esc(fmt(v_all))}</b> as the scenario is written; "
             f"{esc(fmt(v_none))} with {esc(_and(levers))} {'all ' if len(levers) > 2 else ''}at the incumbents' "
             "level."]
    parts = []
    for name in sorted(levers, key=lambda n: -abs(t.loc[n, "phi_mean"])):
        r = t.loc[name]
        share = f" ({r['share_of_total']:.0%})" if r["share_of_total"] == r["share_of_total"] else ""
        parts.append(f"<b>{esc(name)}</b> accounts for {esc(fmt(r))}{share}")
    lines.append(f"Of the {esc(fmt(total))} that these levers add together (v(all) − v(none)), "
                 + "; ".join(parts) + ".")
    idle = [name for name in levers if name in inert]
    if idle:
        lines.append(f"{esc(', '.join(idle))}: switching it changed no run at all (identical results with and "
                     "without it in every coalition and replication), so the model as run does not respond to it.")
    inter = t.loc["interaction (total - sum of alone effects)"]
    lines.append(f"Switching each lever alone to the incumbents' level and adding up the losses leaves an "
                 f"interaction remainder of {esc(fmt(inter))}: the part of the gain that comes from levers working "
                 "together, which the Shapley values share out fairly.")
    n = len(man["replications"])
    lines.append(f"Intervals are 95% paired t-intervals over {n} replications that share their random numbers across "
                 "all coalitions.")
    return lines


def plot_waterfall(table: pd.DataFrame, man: dict):
    """From v(none) through each lever's phi (with its 95% interval) to v(all)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from sim.report import Figure, png_uri

    scale, _, _ = unit(man["metric"])
    t = table.set_index("lever")
    levers = man["levers"]
    v_none = t.loc["v(none): every lever at the incumbents' level"]
    v_all = t.loc["v(all): the scenario as written"]
    colours = sns.color_palette("deep")
    up, down, total = colours[2], colours[3], colours[0]
    fig, ax = plt.subplots(figsize=(1.6 * (len(levers) + 2) + 2, 4.6))
    labels, x = [], 0
    ax.bar(x, v_none["phi_mean"] * scale, color=total, alpha=0.6, width=0.6)
    ax.errorbar(x, v_none["phi_mean"] * scale, yerr=_yerr(v_none, scale), color="black", capsize=4, lw=1)
    labels.append("all levers at\nincumbents' level")
    level = v_none["phi_mean"] * scale
    for name in levers:
        x += 1
        r = t.loc[name]
        step = r["phi_mean"] * scale
        ax.bar(x, step, bottom=level, color=up if step >= 0 else down, width=0.6)
        ax.errorbar(x, level + step, yerr=_yerr(r, scale), color="black", capsize=4, lw=1)
        ax.plot([x - 1 + 0.3, x - 0.3], [level, level], color="#888", lw=0.8, ls=":")
        level += step
        labels.append(f"+ {name}")
    x += 1
    ax.plot([x - 1 + 0.3, x - 0.3], [level, level], color="#888", lw=0.8, ls=":")
    ax.bar(x, v_all["phi_mean"] * scale, color=total, width=0.6)
    ax.errorbar(x, v_all["phi_mean"] * scale, yerr=_yerr(v_all, scale), color="black", capsize=4, lw=1)
    labels.append("as written\n(all own levers)")
    ax.axhline(0, color="#444", lw=0.8)
    ax.set_xticks(range(len(labels)), labels)
    ylabel = f"{man['brand']}'s share gain {man['from']}–{man['to']} (pp)" if man["metric"] == "sales_share" else \
        f"{man['brand']}'s profit {man['from']}–{man['to']} ($M)"
    ax.set(ylabel=ylabel)
    return Figure("Waterfall: where the gain comes from",
                  "The first bar is the gain with every lever at the incumbents' level, v(none); each step is one lever's "
                  "Shapley value (green up, red down), its marginal contribution averaged over every order of switching "
                  "the levers on; the last bar is the scenario as written, v(all). Error bars are 95% paired intervals "
                  "over replications (on the totals, and on each step's own Shapley value).", png_uri(fig))


def _yerr(row: pd.Series, scale: float) -> np.ndarray | None:
    if pd.isna(row["ci_low"]):
        return None
    return np.array([[row["phi_mean"] - row["ci_low"]], [row["ci_high"] - row["phi_mean"]]]) * scale


def plot_trajectories(brand_year: pd.DataFrame, man: dict):
    """The brand's sales share over the years, as written and with every lever at the incumbents' level."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from sim.report import BAND, Figure, _integer_years, png_uri

    levers = man["levers"]
    full = "+".join(levers)
    keep = ["none", full, *levers]
    data = brand_year[brand_year["coalition"].isin(keep)].assign(share=lambda d: d["sales_share"].fillna(0) * 100)
    names = {full: "as written", "none": "all at incumbents' level", **{c: f"only own {c}" for c in levers}}
    data["coalition"] = data["coalition"].map(names)
    order = list(dict.fromkeys(names[c] for c in [full, *levers, "none"]))
    fig, ax = plt.subplots(figsize=(10, 4.4))
    sns.lineplot(data=data, x="year", y="share", hue="coalition", hue_order=order, errorbar=BAND, ax=ax)
    ax.set(xlabel=None, ylabel=f"{man['brand']}'s sales share (%)")
    _integer_years(ax)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), title=None, frameon=False)
    return Figure(f"{man['brand']}'s sales share by coalition",
                  "Mean over replications with the 5-95% band: the scenario as written, every lever at the incumbents' "
                  "level, and each lever kept on its own (the others at the incumbents' level).", png_uri(fig))


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, list):
        return f"{len(value)} timeline entries" if value and isinstance(value[0], dict) else json.dumps(value)
    return json.dumps(value) if isinstance(value, (dict, bool)) or value is None else str(value)


def build_report(folder: Path) -> Path:
    """Write ``folder/report.html`` from the folder's shapley.csv, brand_year.parquet and manifest.json."""
    from sim.report import _style, _write, esc, figure_html, format_difference, page, provenance_html, table_html

    folder = Path(folder)
    man = json.loads((folder / "manifest.json").read_text())
    table = pd.read_csv(folder / "shapley.csv")
    brand_year = pd.read_parquet(folder / "brand_year.parquet")
    inert = inert_levers(pd.read_parquet(folder / "coalitions.parquet"), man["levers"])
    scale, u, digits = unit(man["metric"])
    with _style():
        figures = [plot_waterfall(table, man), plot_trajectories(brand_year, man)]
    fmt = lambda m, lo, hi: esc(format_difference(m * scale, lo * scale, hi * scale, u, digits))
    rows = []
    for _, r in table.iterrows():
        is_lever = r["lever"] in man["levers"]
        share = "" if pd.isna(r["share_of_total"]) else f"{r['share_of_total']:.0%}"
        alone = fmt(r["alone_effect"], r["alone_ci_low"], r["alone_ci_high"]) if is_lever else ""
        solo = fmt(r["solo_effect"], r["solo_ci_low"], r["solo_ci_high"]) if is_lever else ""
        cls = ' class="first"' if r["lever"].startswith("interaction") else ""
        rows.append(f'<tr{cls}><td class="name">{"<b>" + esc(r["lever"]) + "</b>" if is_lever else esc(r["lever"])}</td>'
                    f"<td>{fmt(r['phi_mean'], r['ci_low'], r['ci_high'])}</td><td>{share}</td>"
                    f"<td>{alone}</td><td>{solo}</td></tr>")
    shapley_table = table_html("figures", f'<th class="name">Lever</th><th>Shapley value [95% CI] ({esc(u)})</th>'
                                          "<th>Share of total</th><th>Alone: v(all) − v(all without it)</th>"
                                          "<th>Solo: v(only it) − v(none)</th>", rows)
    cf_rows = []
    for name, spec in man["counterfactuals"].items():
        changes = spec["changes"] or {"(nothing)": {"own": "", "counterfactual": ""}}
        for i, (path, c) in enumerate(changes.items()):
            group = (f'<th rowspan="{len(changes)}" class="group">{esc(name)}</th>' if i == 0 else "")
            cf_rows.append(f'<tr class="{"first" if i == 0 else ""}">{group}<td class="name">{esc(path)}</td>'
                           f"<td>{esc(_value_text(c['own']))}</td><td>{esc(_value_text(c['counterfactual']))}</td></tr>")
    cf_table = table_html("figures", '<th>Lever</th><th class="name">Field</th><th>Own level</th>'
                                     "<th>Counterfactual</th>", cf_rows)
    wom = ("<p class=\"note\"><b>Word of mouth is a switch-off, not an incumbents' level:</b> the counterfactual sets "
           f"{esc(man['brand'])}'s word-of-mouth multiplier to 0, so stories about it and sightings of its cars reach "
           "no one: what if its reputation had had to spread by marketing and its own owners' experience alone? "
           "(The incumbents' own multiplier is 1, so their level would change nothing.)</p>"
           if "word_of_mouth" in man["levers"] else "")
    body = (f"<h1>Attribution: {esc(man['brand'])} in {esc(man['scenario_name'])}</h1>"
            + (f'<p class="question">{esc(man.get("question", ""))}</p>' if man.get("question") else "")
            + f'<p class="note">Which of {esc(man["brand"])}\'s levers explain its {esc(METRICS[man["metric"]])}, '
              f"{man['from']}–{man['to']}? Each lever is switched to the incumbents' level "
              f"({esc(', '.join(man['incumbents']))}, at {esc(man['brand'])}'s launch) in every combination "
              f"(2^{len(man['levers'])} = {man['runs'] // len(man['replications'])} coalitions × "
              f"{len(man['replications'])} replications with common random numbers), and the gain is shared out "
              "by Shapley values.</p>"
            + '<h2>Headline</h2><div class="headline">' + "".join(f"<p>{line}</p>" for line in headline(table, man, inert))
            + "</div>"
            + "<h2>Shapley values</h2><p class=\"note\">Mean over replications [95% paired t-interval]. The Shapley "
              "values add up exactly to the total, v(all) − v(none), in every replication. <i>Alone</i> is what "
              "switching only that lever to the incumbents' level costs; <i>solo</i> is what keeping only that lever "
              "gains over all-incumbent levels; their gaps to the Shapley value are interactions.</p>"
            + shapley_table + "".join(figure_html(f) for f in figures)
            + "<h2>What each lever changes</h2><p class=\"note\">The brand's own value and the counterfactual value "
              "of every field a lever touches (timeline lists shown by their number of entries).</p>" + cf_table + wom
            + provenance_html(man, man["replications"], {"Brand": man["brand"], "Levers": ", ".join(man["levers"]),
                                                          "Metric": man["metric"],
                                                          "Runs": f"{man['runs']} in {man['wall_seconds']:,.1f} s"}))
    return _write(folder, page(f"luxsim attribution: {man['brand']} in {man['scenario_name']}", body))
