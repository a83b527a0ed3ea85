"""The plan of a parameter sweep: an experiment checked against its base scenario, and its design.

:func:`plan` loads an experiment (``sim.experiment``), resolves its base scenario (with ``set``), works out each
parameter's kind (integer, number, boolean, string) from the scenario schema, builds the design with SALib
(grid, latin hypercube, Sobol'/Saltelli, Morris; integer parameters rounded) and validates every design
point's scenario before anything runs or is written. Problems are reported as :class:`ScenarioError` lines
naming the file, the field path and the reason.

Run (design point i, replication r) is seeded with ``SeedSequence(seed, spawn_key=(i, r))`` (:func:`run_seed`):
results do not depend on the workers, the batching, or interruptions and resumes.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from sim.experiment import AGGREGATES, ROLES, Experiment, load_experiment, value_kind
from sim.files import plain
from sim.scenario import Scenario
from sim.scenario_files import (
    ScenarioError,
    apply_overrides,
    load_scenario,
    resolve_path,
    set_values,
    split_path,
    validate,
)

RESERVED = ("point", "replication", "status", "error", "seconds", "chunk", "worker", "year", "brand")
MAX_PROBLEMS = 20  # design-point problems listed before "... and N more"


@dataclass
class ParamInfo:
    """One varied parameter as planned: its column name, field path, value kind (``int``, ``float``, ``bool``,
    ``str``, from the base scenario's field), its grid ``values`` or its ``low``-``high`` range, and its ``role``:
    ``lever`` (an experiment's ``[[parameters]]``) or ``uncertainty`` (its ``[[uncertainties]]``)."""

    name: str
    path: str
    kind: str  # "int", "float", "bool", "str"
    values: list[Any] | None = None  # grid
    low: float | None = None
    high: float | None = None
    role: str = "lever"  # "lever" ([[parameters]]) or "uncertainty" ([[uncertainties]])

    @property
    def integer(self) -> bool:
        """True for an integer field (design values are rounded)."""
        return self.kind == "int"

    def as_dict(self) -> dict:
        """The parameter as the sweep manifest records it: name, path, kind, and ``values`` or ``range``."""
        d = {"name": self.name, "path": self.path, "kind": self.kind, "role": self.role}
        if self.values is not None:
            d["values"] = self.values
        if self.low is not None:
            d["range"] = [self.low, self.high]
        return d


@dataclass
class Plan:
    """Everything needed to run (or resume) a sweep; built and validated before anything is written."""

    experiment_file: Path | None
    experiment: Experiment
    base: dict  # the resolved base scenario (with `set`), JSON-able
    params: list[ParamInfo]
    design: pd.DataFrame  # point + one column per parameter (the values run)
    sample: np.ndarray | None  # SALib's sample (before integer rounding), one row per point
    problem: dict | None  # SALib problem
    seed: int
    metrics: list[str] = field(default_factory=list)
    seconds_per_run: float = 1.0  # estimate, for batching

    @property
    def n_points(self) -> int:
        """Design points (rows of :attr:`design`)."""
        return len(self.design)

    @property
    def n_runs(self) -> int:
        """Runs in all: design points x replications."""
        return self.n_points * self.experiment.replications


def _strip_source(problem: str, source: str) -> str:
    if problem.startswith(source + ": "):
        return problem[len(source) + 2:]
    if problem.startswith("--set "):
        return problem.split(": ", 1)[1] if ": " in problem else problem
    return problem


def _lookup(scenario: Scenario, keys: list[str]) -> Any:
    node: Any = scenario
    for key in keys:
        if isinstance(node, dict):
            node = node[key]
        elif isinstance(node, BaseModel) and key in type(node).model_fields:
            node = getattr(node, key)
        else:
            raise KeyError(key)
    return node


def _param_infos(exp: Experiment, base: Scenario, base_raw: dict, source: str) -> tuple[list[ParamInfo], list[str]]:
    problems: list[str] = []
    infos: list[ParamInfo] = []
    grid = exp.design.kind == "grid"
    entries = exp.varied()
    for role, i, p in entries:
        where = f"{source}: {ROLES[role]}.{i}"
        try:
            keys = split_path(p.path)
        except ValueError as exc:
            problems.append(f"{where}.path: {exc}")
            continue
        if grid and p.values is None and (p.range is None or p.steps is None):
            problems.append(f"{where}: a grid design needs values = [...] (or range = [low, high] with steps)")
            continue
        if grid and p.values is not None and p.range is not None:
            problems.append(f"{where}: give values or range, not both")
            continue
        if not grid and (p.values is not None or p.steps is not None):
            problems.append(f"{where}: a {exp.design.kind} design samples the range = [low, high]; values and steps "
                            "are for grid designs")
            continue
        if not grid and p.range is None:
            problems.append(f"{where}.range: a {exp.design.kind} design needs range = [low, high]")
            continue
        try:
            current = _lookup(base, keys)
            kind = value_kind(current)
            known = True
        except (KeyError, TypeError, IndexError):
            current, kind, known = None, None, False
        probe = p.values[0] if p.values is not None else p.range[0]
        if not known:  # not a field of the base scenario: let the scenario schema say why (or accept a free key)
            try:
                validate(set_values(base_raw, {p.path: probe}), "<probe>")
            except ScenarioError as exc:
                for line in exc.problems:
                    problems.append(f"{where}.path: {p.path!r}: {_strip_source(line, '<probe>')}")
                continue
        if isinstance(current, (dict, list, tuple, BaseModel)):
            problems.append(f"{where}.path: {p.path!r} is a table or a list, not a single value")
            continue
        if kind is None:  # e.g. a key of a free-form table: take the kind of the values given
            kind = value_kind(probe)
        if p.range is not None and kind not in ("int", "float"):
            problems.append(f"{where}.range: {p.path} is a {kind or 'non-numeric'} field; "
                            "use a grid design with values")
            continue
        if p.range is not None and (why := _range_problem(p.range, kind)):
            problems.append(f"{where}.range: {why}")
            continue
        name = p.name or keys[-1].replace("-", "_")
        if p.values is not None:
            given_kinds = {value_kind(v) for v in p.values}
            if kind == "int" and given_kinds != {"int"}:
                problems.append(f"{where}.values: {p.path} is an integer field; values must be whole numbers")
                continue
            if kind == "float" and not given_kinds <= {"int", "float"}:
                problems.append(f"{where}.values: {p.path} is a number field")
                continue
            if kind == "bool" and given_kinds != {"bool"}:
                problems.append(f"{where}.values: {p.path} is a boolean field; values must be true or false")
                continue
            values = [float(v) for v in p.values] if kind == "float" else list(p.values)
            infos.append(ParamInfo(name, p.path, kind or "str", values=values, role=role))
        else:
            low, high = p.range
            if kind == "int" and (low != int(low) or high != int(high)):
                problems.append(f"{where}.range: {p.path} is an integer field; range ends must be whole numbers")
                continue
            if p.steps is not None:
                values = np.linspace(low, high, p.steps)
                values = sorted({int(round(v)) for v in values}) if kind == "int" else [float(v) for v in values]
                infos.append(ParamInfo(name, p.path, kind, values=values, role=role))
            else:
                infos.append(ParamInfo(name, p.path, kind, low=float(low), high=float(high), role=role))
    if problems:
        return infos, problems
    # unique column names: lengthen clashing default names with more of their paths
    names = [info.name for info in infos]
    for (_, _, entry), info in zip(entries, infos):
        if names.count(info.name) > 1 and entry.name is None:
            keys = [re.sub(r"\W", "_", k) for k in split_path(info.path)]
            for n in range(2, len(keys) + 1):
                candidate = "_".join(keys[-n:])
                if candidate not in names:
                    info.name = candidate
                    break
    names = [info.name for info in infos]
    paths = [info.path for info in infos]
    for k, ((role, i, _), info) in enumerate(zip(entries, infos)):
        where = f"{source}: {ROLES[role]}.{i}"
        if names.count(info.name) > 1:
            problems.append(f"{where}.name: column name {info.name!r} is used twice; set name = \"...\"")
        if paths.count(info.path) > 1 and paths.index(info.path) != k:
            problems.append(f"{where}.path: {info.path!r} is varied twice")
        if info.name in RESERVED:
            problems.append(f"{where}.name: {info.name!r} is reserved; set name = \"...\"")
    return infos, problems


MAX_EXACT = 2**53  # the integers a float (SALib's sample) holds exactly


def _range_problem(bounds: tuple[float, float], kind: str) -> str | None:
    """Why a parameter's ``range`` cannot be sampled, or None: an integer field's end beyond 2^53 in size (SALib
    samples floats, which the design rounds to 64-bit integers: 2^63 - 1 became an invalid cast). Values the
    field refuses are reported design point by design point (:func:`plan`)."""
    low, high = bounds
    if kind == "int" and max(abs(low), abs(high)) > MAX_EXACT:
        return f"an integer field's range must lie within -2^53 and 2^53 (got [{low:g}, {high:g}])"
    return None


def _problem(params: list[ParamInfo], widen_integers: bool) -> dict:
    bounds = [[p.low - 0.5, p.high + 0.5] if (widen_integers and p.integer) else [p.low, p.high] for p in params]
    return {"num_vars": len(params), "names": [p.name for p in params], "bounds": bounds}


def make_design(exp: Experiment, params: list[ParamInfo], seed: int
                ) -> tuple[pd.DataFrame, np.ndarray | None, dict | None]:
    """(design table, SALib sample or None, SALib problem or None). Sampling is SALib's, seeded with ``seed``.

    Integer parameters: LHS and Sobol sample [low - 0.5, high + 0.5] and round (every integer equally
    likely); Morris levels lie in [low, high] and are rounded. SALib's own sample is kept too: Sobol' indices
    are computed on it, Morris effects on the values run (``sim.analysis.elementary_effects``).
    """
    kind = exp.design.kind
    if kind == "grid":
        rows = list(itertools.product(*[p.values for p in params]))
        design = pd.DataFrame(rows, columns=[p.name for p in params])
        sample, problem = None, None
    else:
        from SALib.sample import latin, morris, sobol

        problem = _problem(params, widen_integers=kind in ("lhs", "sobol"))
        if kind == "lhs":
            sample = latin.sample(problem, exp.design.samples, seed=seed)
        elif kind == "sobol":
            sample = sobol.sample(problem, exp.design.samples, calc_second_order=exp.design.second_order,
                                  scramble=True, seed=seed)
        else:
            sample = morris.sample(problem, exp.design.trajectories, num_levels=exp.design.levels, seed=seed)
        design = pd.DataFrame(sample, columns=[p.name for p in params])
        for p in params:
            if p.integer:
                design[p.name] = np.clip(np.floor(design[p.name].to_numpy() + 0.5), p.low, p.high).astype(np.int64)
        problem = _problem(params, widen_integers=False) | {"sampled_bounds": problem["bounds"]}
    for p in params:
        if p.kind == "int":
            design[p.name] = design[p.name].astype(np.int64)
        elif p.kind == "float":
            design[p.name] = design[p.name].astype(np.float64)
        elif p.kind == "bool":
            design[p.name] = design[p.name].astype(bool)
        else:
            design[p.name] = design[p.name].astype(object).astype(str)
    design.insert(0, "point", np.arange(len(design), dtype=np.int64))
    return design, sample, problem


def _metric_columns(base_raw: dict) -> list[str]:
    """The columns of brand_year() (``sim.metrics.Ledger.yearly``, which makes the table of every run), read from an
    empty year of the ledger: the same columns for every scenario, without building a model in this process (a
    sweep's own process then never imports the model: its workers do)."""
    from sim.metrics import Ledger

    table = Ledger(12, 1).yearly(["brand"], 2000, 1.0, 0.0, months_done=12)
    return [c for c in table.columns if c not in ("year", "brand")]


def _check_outputs(exp: Experiment, base: Scenario, metrics: list[str], params: list[ParamInfo],
                   source: str) -> list[str]:
    problems = []
    names = [o.name for o in exp.outputs]
    brands = base.brand_names
    for i, o in enumerate(exp.outputs):
        where = f"{source}: outputs.{i}"
        if o.metric not in metrics:
            hint = difflib.get_close_matches(o.metric, metrics, n=1)
            problems.append(f"{where}.metric: unknown metric {o.metric!r}"
                            + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(metrics)})"))
        for b in o.brand_list or []:
            if b not in brands:
                hint = difflib.get_close_matches(b, brands, n=1)
                problems.append(f"{where}.{'brand' if o.brand else 'brands'}: unknown brand {b!r}"
                                + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(brands)})"))
        cells = (1 if o.brand else len(o.brands) if o.brands else len(brands)) * \
                (1 if o.year is not None else (o.years[1] - o.years[0] + 1) if o.years else base.market.years)
        if cells > 1 and o.aggregate is None:
            problems.append(f"{where}.aggregate: {cells} brand-years are selected; say how to combine them "
                            f"({', '.join(AGGREGATES)})")
        if names.count(o.name) > 1 and names.index(o.name) != i:
            problems.append(f"{where}.name: {o.name!r} is used twice")
        if o.name in RESERVED or o.name in [p.name for p in params]:
            problems.append(f"{where}.name: {o.name!r} clashes with a parameter or a reserved column")
    for i, reason in _years_problems(exp, base):
        o = exp.outputs[i]
        problems.append(f"{source}: outputs.{i}.{'year' if o.year is not None else 'years'}: {reason} "
                        f"(market.start_year = {base.market.start_year}, market.years = {base.market.years})")
    if isinstance(exp.keep_series, list):
        for m in exp.keep_series:
            if m not in metrics:
                problems.append(f"{source}: keep_series: unknown metric {m!r}")
    return problems


def _check_versus(exp: Experiment, base_raw: dict, source: str) -> list[str]:
    """Each output's ``versus`` counterfactual applied to the base scenario: the fields exist and take the values
    (each design point's twin is checked with the point, in :func:`plan`)."""
    problems = []
    for i, o in enumerate(exp.outputs):
        if o.versus:
            try:
                validate(apply_overrides(base_raw, o.versus), "<versus>")
            except ScenarioError as exc:
                problems += [f"{source}: outputs.{i}.versus: {_strip_source(line, '<versus>')}"
                             for line in exc.problems]
    return problems


def _years_problems(exp: Experiment, scenario: Scenario) -> list[str]:
    first = scenario.market.start_year
    last = first + scenario.market.years - 1
    out = []
    for i, o in enumerate(exp.outputs):
        lo, hi = (o.year, o.year) if o.year is not None else (o.years or (first, last))
        if lo < first or hi > last:
            what = f"year {o.year}" if o.year is not None else f"years {lo}-{hi}"
            out.append((i, f"{what} outside the simulated years {first}-{last}"))
    return out


def _label(value: Any, kind: str) -> str:
    if kind == "float":
        return f"{float(value):.6g}"
    return repr(value) if kind == "str" else str(plain(value))


def estimate_seconds(buyers: Any, months: Any) -> Any:
    """Seconds per run on one laptop core (flagship: 10k buyers x 20 years ~ 0.85 s), for batching only;
    numbers or arrays."""
    return 0.03 + 3.6e-7 * np.asarray(buyers) * np.asarray(months)


def plan(experiment_path: str | Path) -> Plan:
    """Load an experiment, resolve its base scenario, build the design and validate every design point's
    scenario. Raises :class:`ScenarioError` (one line per problem: file, field path, reason); writes nothing."""
    path, exp = load_experiment(experiment_path)
    source = str(path)
    try:
        given = load_scenario(resolve_path(exp.scenario, base=path.parent))
    except ScenarioError as exc:
        raise ScenarioError([f"{source}: scenario: {line}" for line in exc.problems]) from None
    try:
        base = validate(apply_overrides(given.model_dump(mode="json"), exp.set), "<set>")
    except ScenarioError as exc:
        raise ScenarioError([f"{source}: set: {_strip_source(line, '<set>')}" for line in exc.problems]) from None
    base_raw = base.model_dump(mode="json")
    seed = exp.seed if exp.seed is not None else base.simulation.seed
    params, problems = _param_infos(exp, base, base_raw, source)
    if problems:
        raise ScenarioError(problems)
    metrics = _metric_columns(base_raw)
    problems = _check_outputs(exp, base, metrics, params, source)
    if problems:
        raise ScenarioError(problems)
    problems = _check_versus(exp, base_raw, source)
    if problems:
        raise ScenarioError(problems)
    counterfactuals: dict[int, list[str]] = {}  # output index -> its versus, one per distinct counterfactual
    for i, o in enumerate(exp.outputs):
        if o.versus and o.versus not in counterfactuals.values():
            counterfactuals[i] = o.versus
    twins = len(counterfactuals)  # extra runs per run: one per distinct counterfactual
    design, sample, problem = make_design(exp, params, seed)
    # every design point's scenario, before anything runs
    seconds = 0.0
    point_problems: list[str] = []
    bad_points = 0
    points = design[[p.name for p in params]].to_numpy(dtype=object)  # each value of its column's kind (as run)
    for point in range(len(design)):
        row = dict(zip([p.name for p in params], points[point]))
        label = ", ".join(f"{p.name}={_label(row[p.name], p.kind)}" for p in params)
        where = f"{source}: design point {point} ({label})"
        try:
            scenario = validate(set_values(base_raw, {p.path: row[p.name] for p in params}),
                                "<point>")
        except ScenarioError as exc:
            bad_points += 1
            point_problems += [f"{where}: {_strip_source(line, '<point>')}" for line in exc.problems]
            continue
        years = _years_problems(exp, scenario) if scenario.market != base.market else []
        if years:
            bad_points += 1
            point_problems += [f"{where}: outputs.{i}: {reason}" for i, reason in years]
        for i, versus in counterfactuals.items():  # the twin of this point, as it will run
            try:
                validate(apply_overrides(set_values(base_raw, {p.path: row[p.name] for p in params}), versus),
                         "<versus>")
            except ScenarioError as exc:
                bad_points += 1
                point_problems += [f"{where}: outputs.{i}.versus: {_strip_source(line, '<versus>')}"
                                   for line in exc.problems]
        seconds += (1 + twins) * float(estimate_seconds(scenario.simulation.buyers, scenario.market.months))
    if point_problems:
        shown = point_problems[:MAX_PROBLEMS]
        if len(point_problems) > MAX_PROBLEMS:
            shown.append(f"{source}: ... and {len(point_problems) - MAX_PROBLEMS} more problems "
                         f"({bad_points} of {len(design)} design points are invalid)")
        raise ScenarioError(shown)
    return Plan(path, exp, base_raw, params, design, sample, problem, seed, metrics,
                seconds_per_run=seconds / max(1, len(design)))


def run_seed(root: int, point: int, replication: int) -> np.random.SeedSequence:
    """The seed of run (point, replication): the same whatever the workers, chunking or resumes."""
    return np.random.SeedSequence(root, spawn_key=(point, replication))
