"""An optimisation problem: the optimisation file's schema, and the problem it loads into.

An optimisation file (``scenarios/optimisations/*.toml``) names a base ``scenario`` and ``set`` (overrides for every
run); the decision ``[[levers]]`` (a field path with a ``range`` for a number or ``choices``); the ``[objective]`` (a
metric of ``model.brand_year()``: a column over brands and years, aggregated by sum, mean, ... or ``npv`` at a
discount rate, optionally ``per`` another column; and its ``direction``), an optional ``[second_objective]`` (a Pareto
front), ``[[constraints]]`` (a metric with a ``max`` or a ``min``); the ``[uncertainty]`` to be robust against
(parameters with ranges, a number of scenarios drawn from them with a fixed seed, and a robustness ``measure``: mean,
a quantile, or regret); the budget, batch, replications, buyers and seed. ``load_optimisation`` validates it like a
scenario (one line per problem naming the file, the field path and the reason; ``ScenarioError``) and returns a
:class:`Problem`. The search is ``sim/optimisation.py``; the result folder ``sim/optimisation_report.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from sim.calibration_problem import base_scenario, field_value
from sim.compare import DISCOUNT_RATE
from sim.experiment import CellSelection, listed_values, overrides_list, value_kind
from sim.files import toml_inline
from sim.scenario import Name, RootSeed, StrictModel, Text, ordered_range
from sim.scenario_files import (
    SCENARIO_DIR,
    ScenarioError,
    explain_error,
    join_path,
    read_toml,
    resolve_path,
    set_values,
    split_path,
    validate,
)

OPTIMISATION_DIR = SCENARIO_DIR / "optimisations"
AGGREGATES = ("sum", "mean", "median", "min", "max", "npv")
Column = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64,
                              description="a column name: letters, digits and _, not starting with a digit")]


class Lever(StrictModel):
    """A decision lever: a scenario field the optimiser sets, over a ``range`` (a number) or among ``choices``."""

    path: str = Field(min_length=1, description="Dotted field path, as for --set (e.g. "
                                                "brands.Lexus.service.loaner_cars).")
    name: Column | None = Field(None, description="Column name in the results (default: the last part of the path).")
    range: tuple[float, float] | None = Field(None, description="[low, high] for a number field (an integer field: "
                                                                "whole ends, integers tried).")
    choices: list[Any] | None = Field(None, min_length=2, description="The values to choose among (numbers, "
                                                                      "booleans or strings).")

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if value is None else ordered_range(value, "search")

    @field_validator("choices")
    @classmethod
    def _one_kind(cls, value: list[Any] | None) -> list[Any] | None:
        return None if value is None else listed_values(value, "choices")

    @model_validator(mode="after")
    def _range_or_choices(self) -> Lever:
        if (self.range is None) == (self.choices is None):
            raise ValueError("give range = [low, high] or choices = [...], one of them")
        return self


class Metric(CellSelection):
    """A number per run from ``model.brand_year()``: one column over brands x years, aggregated (``npv``: each year's
    value discounted to the first year at ``discount_rate``, summed), optionally divided by the same aggregate of
    another column (``per``: service spending per car is ``service_cost`` per ``fleet``)."""

    name: Column | None = Field(None, description="Column name in the results (default: built from the metric).")
    metric: str = Field(min_length=1, description="A column of brand_year(): profit, sales_share, service_cost, ...")
    brand: str | None = Field(None, description="One brand (omit brand and brands for all brands).")
    brands: list[str] | None = Field(None, min_length=1, description="Several brands (their values summed per year "
                                                                     "for npv, else pooled).")
    year: int | None = Field(None, description="One year (omit year and years for all years).")
    years: tuple[int, int] | None = Field(None, description="[first, last], inclusive.")
    aggregate: Literal["sum", "mean", "median", "min", "max", "npv"] | None = Field(
        None, description="How the selected cells combine (NaN cells skipped); needed when more than one is selected. "
                          "npv: discounted to the first year and summed.")
    discount_rate: float = Field(DISCOUNT_RATE, ge=0, le=1, description="Real discount rate a year, for npv "
                                                                        "(default sim.compare.DISCOUNT_RATE).")
    per: str | None = Field(None, description="Divide by the same aggregate of this brand_year() column (e.g. fleet).")

    def label(self) -> str:
        """The column name: ``name``, or one made from the brand, metric, aggregate and years."""
        if self.name:
            return self.name
        parts = [*(b for b in (self.brand_list or []) if len(self.brand_list or []) == 1), self.metric]
        if self.per:
            parts += ["per", self.per]
        if self.aggregate:
            parts.append(self.aggregate)
        if self.year is not None:
            parts.append(str(self.year))
        elif self.years is not None:
            parts.append(f"{self.years[0]}_{self.years[1]}")
        return "_".join(parts).replace("-", "_").replace(" ", "_")


class Objective(Metric):
    """What the optimiser seeks: a :class:`Metric` and its direction."""

    direction: Literal["maximize", "minimize"] = Field(description="maximize or minimize.")


class Constraint(Metric):
    """A bound every policy must respect in every uncertainty scenario (on the replication mean): ``max`` or ``min``."""

    max: float | None = Field(None, description="The metric must not exceed this.")
    min: float | None = Field(None, description="The metric must not fall below this.")

    @model_validator(mode="after")
    def _one_bound(self) -> Constraint:
        if (self.max is None) == (self.min is None):
            raise ValueError("give max or min, one of them")
        return self


class Uncertain(StrictModel):
    """An uncertain parameter: one value drawn per uncertainty scenario, uniform over ``range``, set at every path in
    ``paths`` (e.g. every incumbent's response lag)."""

    name: Column | None = Field(None, description="Column name (default: the last part of the first path).")
    path: str | None = Field(None, min_length=1, description="A dotted field path.")
    paths: list[str] | None = Field(None, min_length=1, description="Several paths, all set to the same value.")
    range: tuple[float, float] = Field(description="[low, high]: drawn uniformly (an integer field: rounded).")

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        return ordered_range(value, "sample")

    @model_validator(mode="after")
    def _path_or_paths(self) -> Uncertain:
        if (self.path is None) == (self.paths is None):
            raise ValueError("give path or paths, one of them")
        return self

    @property
    def path_list(self) -> list[str]:
        """Every path this parameter sets."""
        return [self.path] if self.path is not None else list(self.paths)


class Uncertainty(StrictModel):
    """What to be robust against: the parameters, the scenarios drawn from them, and the robustness measure."""

    parameters: list[Uncertain] = Field(default_factory=list, description="Uncertain parameters (none: the "
                                                                          "scenario as written, one scenario).")
    scenarios: int = Field(1, ge=1, le=1000, description="Uncertainty scenarios drawn (a scrambled Sobol' sample, "
                                                         "fixed seed); every candidate runs on the same ones.")
    seed: RootSeed | None = Field(None, description="Seed of the draws (default: the file's seed).")
    measure: Literal["mean", "quantile", "regret"] = Field(
        "mean", description="mean over the scenarios; quantile (the value the policy beats in 1 - q of them, for "
                            "maximize); regret (the largest shortfall from the best policy found in any scenario).")
    quantile: float = Field(0.1, gt=0, lt=1, description="q for measure = quantile: 0.1 maximizes the 10th "
                                                         "percentile (minimize: the 90th).")

    @model_validator(mode="after")
    def _scenarios_need_parameters(self) -> Uncertainty:
        if not self.parameters and self.scenarios > 1:
            raise ValueError(f"scenarios = {self.scenarios} needs [[uncertainty.parameters]] to draw from")
        return self


class OptimisationSpec(StrictModel):
    """An optimisation file (``scenarios/optimisations/*.toml``): see the module docstring."""

    name: Name | None = Field(None, description="The optimisation's name (printable, not blank; default: the file's "
                                                "name).")
    question: Text = Field("", description="The question it answers.")
    description: str = ""
    scenario: str = Field(description="Base scenario (name in scenarios/ or a path).")
    set: list[str] = Field(default_factory=list, description="Overrides for every run: 'path=value' strings, or a "
                                                             "table of dotted keys.")
    levers: list[Lever] = Field(min_length=1)
    objective: Objective
    second_objective: Objective | None = Field(None, description="A second objective: NSGA-II and a Pareto front.")
    constraints: list[Constraint] = Field(default_factory=list)
    uncertainty: Uncertainty = Field(default_factory=Uncertainty)
    max_evaluations: int = Field(40, ge=1, le=100_000, description="Candidate policies evaluated (the budget).")
    batch: int = Field(4, ge=1, le=256, description="Candidates asked of the optimiser before any is told: run "
                                                    "together. Not tied to --workers, so results do not depend on it.")
    startup: int = Field(10, ge=1, le=10_000, description="TPE: random candidates before its model is used.")
    population: int = Field(16, ge=2, le=10_000, description="NSGA-II (two objectives): population size.")
    buyers: int = Field(10_000, ge=100, le=10_000_000, description="Simulated buyers per run.")
    replications: int = Field(2, ge=1, le=256, description="Replications per candidate and uncertainty scenario "
                                                           "(common random numbers: the same seeds for all).")
    seed: RootSeed = Field(1, description="Root seed: replication r uses SeedSequence(seed, spawn_key=(r,)); the "
                                          "optimiser's sampler and the uncertainty draws are seeded from it.")

    @field_validator("set", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        return overrides_list(value)


# ---- the loaded problem -------------------------------------------------------------------------------------------
@dataclass
class LeverInfo:
    """A lever as loaded: its column name, path, value kind (``int``, ``float``, ``bool``, ``str``), its range or
    choices, and its value in the scenario as written."""

    name: str
    path: str
    kind: str
    low: float | None
    high: float | None
    choices: list[Any] | None
    as_written: Any


@dataclass
class Problem:
    """A validated optimisation: the spec, the base scenario (raw, ``set`` applied), the levers, the metrics each run
    reports (objectives then constraints), and the uncertainty draws (scenarios x uncertain parameters)."""

    spec: OptimisationSpec
    source: str
    scenario_path: Path
    base_raw: dict
    levers: list[LeverInfo]
    draws: pd.DataFrame  # one row per uncertainty scenario, one column per uncertain parameter (the values run)
    integer_uncertain: list[bool]

    @property
    def objectives(self) -> list[Objective]:
        """The objective, and the second one if any."""
        return [self.spec.objective] + ([self.spec.second_objective] if self.spec.second_objective else [])

    @property
    def metrics(self) -> list[Metric]:
        """What every run reports, in order: the objectives, then the constraints."""
        return [*self.objectives, *self.spec.constraints]

    @property
    def draw_values(self) -> list[dict[str, Any]]:
        """Each uncertainty scenario as field path -> value (every path of each uncertain parameter)."""
        out = []
        for _, row in self.draws.iterrows():
            values = {}
            for u, is_int in zip(self.spec.uncertainty.parameters, self.integer_uncertain):
                value = row[uncertain_name(u)]
                for path in u.path_list:
                    values[path] = int(value) if is_int else float(value)
            out.append(values)
        return out or [{}]

    def fingerprint(self) -> str:
        """What a resumed optimisation must share with the interrupted one: everything but the budget (SHA-1)."""
        spec = self.spec.model_dump(mode="json")
        spec.pop("max_evaluations")
        text = json.dumps({"spec": spec, "base": self.base_raw}, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()


def uncertain_name(u: Uncertain) -> str:
    """An uncertain parameter's column name: its ``name``, or the last part of its first path."""
    return u.name or split_path(u.path_list[0])[-1].replace("-", "_")


def resolve_optimisation(name: str | Path) -> Path:
    """The optimisation file ``name`` (a path, or a name in ``scenarios/optimisations/``).

    Raises:
        ScenarioError: no such file.
    """
    return resolve_path(name, folder=OPTIMISATION_DIR, kind="optimisation")


OPTIONS = {"max_evaluations": "--max-evaluations", "buyers": "--buyers", "replications": "--replications",
           "seed": "--seed"}


def load_optimisation(name: str | Path, overrides: dict[str, Any] | None = None) -> Problem:
    """Read and validate an optimisation file and its base scenario into the :class:`Problem` to solve.

    Args:
        name: a path, or a name in ``scenarios/optimisations/``.
        overrides: spec fields set from the command line (``max_evaluations``, ``buyers``, ``replications``,
            ``seed``); None values are ignored. A bad one is named by its option, not by the file.

    Returns:
        The problem: the spec, the base scenario (``set`` applied), each lever's kind and value as written, and the
        uncertainty draws (a scrambled Sobol' sample of the uncertain ranges, seeded).

    Raises:
        ScenarioError: one line per problem naming the file, the field and the reason: no such file, bad TOML, a
            schema error, a lever or uncertain path that is not a scenario field (or not a single value), a range on
            a field that is not a number, a range end or choice the scenario refuses, a metric that is not a column of
            brand_year(), a brand not in the scenario, years outside the run, a bad base scenario or ``set``.
    """
    path = resolve_optimisation(name)
    source = str(path)
    raw = read_toml(path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    problems = []
    # the file as written first (a bad field is named even when an option replaces it), then with the options
    for checked, named in ((raw, set()), ({**raw, **overrides}, set(overrides))):
        try:
            spec = OptimisationSpec.model_validate(checked)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                line = explain_error(err, source, OptimisationSpec)
                if len(loc) == 1 and loc[0] in named:
                    line = f"{OPTIONS.get(loc[0], loc[0])}: {line.removeprefix(f'{source}: {join_path(loc)}: ')}"
                if line not in problems:
                    problems.append(line)
    if problems:
        raise ScenarioError(problems)
    if spec.name is None:
        spec = spec.model_copy(update={"name": path.stem})
    base = base_scenario(spec, source)
    scenario = validate(base, source)
    problems = []
    levers = _levers(spec, scenario, base, source, problems)
    integer_uncertain = _uncertain(spec, scenario, base, source, problems)
    problems += _metric_problems(spec, scenario, base, source)
    if problems:
        raise ScenarioError(problems)
    draws = draw_uncertainty(spec, integer_uncertain)
    for i, values in enumerate(Problem(spec, source, path, base, levers, draws, integer_uncertain).draw_values):
        try:
            validate(set_values(base, values), "<draw>")
        except ScenarioError as exc:
            raise ScenarioError([f"{source}: uncertainty: scenario {i} ({_show(values)}) is not a valid scenario: "
                                 + exc.problems[0].removeprefix("<draw>: ")]) from None
    return Problem(spec, source, resolve_scenario_path(spec), base, levers, draws, integer_uncertain)


def resolve_scenario_path(spec: OptimisationSpec) -> Path:
    """The base scenario's file (what ``best_policy.toml`` extends)."""
    return resolve_path(spec.scenario)


def _show(values: dict) -> str:
    return ", ".join(f"{k} = {toml_inline(v)}" for k, v in values.items())


def _kind_at(scenario, path: str) -> tuple[Any, str]:
    """(value as written, kind) of the field at ``path``; KeyError with one line if it is not a single value."""
    value = field_value(scenario, path)
    kind = value_kind(value)
    if kind is None:
        raise KeyError(f"{path} is a table or a list, not a single value")
    return value, kind


def _refused(base: dict, path: str, value: Any) -> str | None:
    """Why the scenario refuses ``value`` at ``path``, or None."""
    try:
        validate(set_values(base, {path: value}), "<probe>")
    except ScenarioError as exc:
        return exc.problems[0].split(": ", 2)[-1]
    return None


def _levers(spec: OptimisationSpec, scenario, base: dict, source: str, problems: list[str]) -> list[LeverInfo]:
    out = []
    for k, lever in enumerate(spec.levers):
        where = f"{source}: levers.{k}"
        try:
            current, kind = _kind_at(scenario, lever.path)
        except KeyError as exc:
            problems.append(f"{where}.path: {exc.args[0]}")
            continue
        name = lever.name or split_path(lever.path)[-1].replace("-", "_")
        if lever.range is not None:
            if kind not in ("int", "float"):
                problems.append(f"{where}.range: {lever.path} is a {kind} field, not a number; use choices = [...]")
                continue
            low, high = lever.range
            if kind == "int" and (low != int(low) or high != int(high)):
                problems.append(f"{where}.range: {lever.path} is an integer field; range ends must be whole numbers")
                continue
            for end, label in ((low, "low"), (high, "high")):
                why = _refused(base, lever.path, int(end) if kind == "int" else float(end))
                if why:
                    problems.append(f"{where}.range: the {label} end {end:g} is not a valid {lever.path}: {why}")
            out.append(LeverInfo(name, lever.path, kind, float(low), float(high), None, current))
        else:
            given = {value_kind(v) for v in lever.choices}
            ok = (given == {"int"} if kind == "int" else given <= {"int", "float"} if kind == "float"
                  else given == {kind})
            if not ok:
                problems.append(f"{where}.choices: {lever.path} is a {kind} field; got {lever.choices}")
                continue
            choices = [float(v) for v in lever.choices] if kind == "float" else list(lever.choices)
            for v in choices:
                why = _refused(base, lever.path, v)
                if why:
                    problems.append(f"{where}.choices: {toml_inline(v)} is not a valid {lever.path}: {why}")
            out.append(LeverInfo(name, lever.path, kind, None, None, choices, current))
    names = [x.name for x in out]
    paths = [x.path for x in out]
    for k, x in enumerate(out):
        if paths.count(x.path) > 1 and paths.index(x.path) != k:
            problems.append(f"{source}: levers.{k}.path: {x.path} is listed twice")
        elif names.count(x.name) > 1 and names.index(x.name) != k:
            problems.append(f"{source}: levers.{k}.name: column name {x.name!r} is used twice; set name = \"...\"")
    return out


def _uncertain(spec: OptimisationSpec, scenario, base: dict, source: str, problems: list[str]) -> list[bool]:
    integer = []
    lever_paths = {lever.path for lever in spec.levers}
    for k, u in enumerate(spec.uncertainty.parameters):
        where = f"{source}: uncertainty.parameters.{k}"
        kinds = set()
        for path in u.path_list:
            try:
                _, kind = _kind_at(scenario, path)
            except KeyError as exc:
                problems.append(f"{where}.path: {exc.args[0]}")
                continue
            if kind not in ("int", "float"):
                problems.append(f"{where}.path: {path} is a {kind} field; an uncertain parameter is a number")
                continue
            if path in lever_paths:
                problems.append(f"{where}.path: {path} is also a lever: a field is decided or uncertain, not both")
                continue
            kinds.add(kind)
            for end, label in ((u.range[0], "low"), (u.range[1], "high")):
                why = _refused(base, path, int(round(end)) if kind == "int" else float(end))
                if why:
                    problems.append(f"{where}.range: the {label} end {end:g} is not a valid {path}: {why}")
        integer.append(kinds == {"int"})
    names = [uncertain_name(u) for u in spec.uncertainty.parameters]
    for k, n in enumerate(names):
        if names.count(n) > 1 and names.index(n) != k:
            problems.append(f"{source}: uncertainty.parameters.{k}.name: column name {n!r} is used twice")
    return integer


def _metric_columns(base: dict) -> list[str]:
    """The columns of brand_year(), from a 100-buyer, one-year run of the base scenario."""
    from sim.model import LuxuryMarketModel

    tiny = validate(set_values(base, {"market.years": 1}), "<metrics>")
    table = LuxuryMarketModel(tiny, seed=0, buyers=100).run().brand_year()
    return [c for c in table.columns if c not in ("year", "brand")]


def _metric_problems(spec: OptimisationSpec, scenario, base: dict, source: str) -> list[str]:
    problems = []
    columns = _metric_columns(base)
    brands = list(scenario.brands)
    first = scenario.market.start_year
    last = first + scenario.market.years - 1
    named = [("objective", spec.objective)]
    if spec.second_objective is not None:
        named.append(("second_objective", spec.second_objective))
    named += [(f"constraints.{k}", c) for k, c in enumerate(spec.constraints)]
    import difflib

    for where, m in named:
        at = f"{source}: {where}"
        for field_name, column in (("metric", m.metric), ("per", m.per)):
            if column is not None and column not in columns:
                hint = difflib.get_close_matches(column, columns, n=1)
                problems.append(f"{at}.{field_name}: {column!r} is not a column of brand_year()"
                                + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        for b in m.brand_list or []:
            if b not in brands:
                hint = difflib.get_close_matches(b, brands, n=1)
                problems.append(f"{at}.brand: {b!r} is not a brand of the scenario"
                                + (f" (did you mean '{hint[0]}'?)" if hint else f" ({', '.join(brands)})"))
        span = [m.year] if m.year is not None else list(m.years) if m.years is not None else []
        for y in span:
            if not first <= y <= last:
                problems.append(f"{at}.{'year' if m.year is not None else 'years'}: {y} is outside the run "
                                f"({first}-{last})")
        cells = (1 if m.year is not None else 2) * (1 if m.brand is not None else 2)
        if m.aggregate is None and cells > 1:
            problems.append(f"{at}.aggregate: more than one brand-year cell is selected; give aggregate (sum, mean, "
                            "median, min, max or npv)")
    names = [m.label() for _, m in named]
    for (where, _), n in zip(named, names):
        if names.count(n) > 1:
            problems.append(f"{source}: {where}.name: column name {n!r} is used twice; set name = \"...\"")
            break
    return problems


def draw_uncertainty(spec: OptimisationSpec, integer: list[bool]) -> pd.DataFrame:
    """The uncertainty scenarios: ``scenarios`` points of a scrambled Sobol' sample of the uncertain ranges (seeded
    by ``uncertainty.seed``, else the file's seed), integers rounded; one row per scenario."""
    u = spec.uncertainty
    names = [uncertain_name(p) for p in u.parameters]
    if not u.parameters:
        return pd.DataFrame(index=range(1))
    import warnings

    from scipy.stats import qmc

    seed = spec.seed if u.seed is None else u.seed
    with warnings.catch_warnings():  # a sample size that is not a power of 2 loses balance: fine here
        warnings.simplefilter("ignore", UserWarning)
        unit = qmc.Sobol(len(names), scramble=True, seed=np.random.default_rng(seed)).random(u.scenarios)
    low = np.array([p.range[0] for p in u.parameters])
    high = np.array([p.range[1] for p in u.parameters])
    values = low + unit * (high - low)
    frame = pd.DataFrame(values, columns=names)
    for name, is_int in zip(names, integer):
        if is_int:
            frame[name] = frame[name].round().astype(np.int64)
    return frame
