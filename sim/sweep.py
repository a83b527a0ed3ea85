"""Parameter sweeps: one experiment file, thousands of replicated runs on Dask, tidy Parquet that streams to disk.

An experiment (``scenarios/experiments/*.toml``, validated here like a scenario: one line per problem naming
the file, the field path and the reason) names

* a base ``scenario`` and ``set``: overrides applied to every run (the same ``dotted.path=value`` as --set);
* ``[[parameters]]`` to vary, each by field path, with ``values`` (grid) or a ``range = [low, high]``
  (``lhs``, ``sobol``, ``morris``; integer fields are rounded);
* a ``[design]``: ``grid`` (full factorial, BehaviorSpace-style), ``lhs`` (SALib latin), ``sobol`` (SALib
  Saltelli/Sobol' sampling) or ``morris`` (SALib trajectories);
* ``replications`` per design point and a root ``seed``;
* ``[[outputs]]``: named metrics of ``model.brand_year()``, e.g.
  ``{ name = "lexus_share_2000", metric = "sales_share", brand = "Lexus", year = 2000 }``;
* ``keep_series``: also keep each run's yearly brand table.

Run (design point i, replication r) is seeded with ``SeedSequence(seed, spawn_key=(i, r))``: results are the
same whatever the number of workers, the batching, or interruptions and resumes.

Every design point's scenario is validated before anything is written. Runs go to Dask (a LocalCluster on
this machine's cores, or an existing scheduler) in small batches (a few seconds of work each); finished runs
are buffered and written as Parquet chunk files (``runs_per_file`` runs, or whatever finished within
``flush_seconds``), each atomically (temporary name, then rename). A sweep folder holds::

    manifest.json      experiment, resolved base scenario, design, root seed, package versions, sessions
    experiment.toml    the experiment file as given
    design.parquet     point + the parameter values run
    sample.parquet     (lhs/sobol/morris) SALib's sample before integer rounding, one row per point
    outputs/           part-NNNNN.parquet: one row per run: point, replication, parameters, outputs,
                       status, error, seconds, chunk, worker
    series/            (keep_series) part-NNNNN.parquet: point, replication, year, brand, metrics
    runs.parquet       one row per planned run: point, replication, seed_entropy, spawn_key, chunk, status,
                       error, seconds, worker (status ok | error | missing)

``run_sweep(..., resume=True)`` on such a folder runs only the (point, replication) pairs that no chunk file
holds, with the same seeds.
"""

from __future__ import annotations

import difflib
import itertools
import json
import logging
import math
import os
import re
import socket
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.results import PACKAGES as BASE_PACKAGES
from sim.results import ROOT, git_commit, package_versions
from sim.scenario import (Scenario, ScenarioError, apply_overrides, explain_error, load_scenario, resolve_path,
                          set_values, validate)

EXPERIMENT_DIR = ROOT / "scenarios" / "experiments"
FORMAT = 1
PACKAGES = BASE_PACKAGES + ("dask", "distributed", "SALib")
RESERVED = ("point", "replication", "status", "error", "seconds", "chunk", "worker", "year", "brand")
TARGET_TASK_SECONDS = 5.0  # a batch (one Dask task) is about this much work
MAX_PROBLEMS = 20  # design-point problems listed before "... and N more"

# Test hooks (tests/test_sweep.py): called in the client after each chunk file is written / batch consumed.
_on_chunk_written: Callable[[Path], None] | None = None
_on_batch_done: Callable[[int], None] | None = None

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64,
                            description="a column name: letters, digits and _, not starting with a digit")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------------------
# The experiment file
# --------------------------------------------------------------------------------------------------------
class Parameter(_Strict):
    """One parameter to vary, by its scenario field path (as in ``--set``)."""

    path: str = Field(min_length=1, description="Dotted field path, e.g. 'brands.Lexus.service.loaner_cars'.")
    name: Name | None = Field(None, description="Column name in the results (default: the last part of the path).")
    values: list[Any] | None = Field(None, min_length=1, description="Grid design: the values to run (numbers, booleans or strings).")
    range: tuple[float, float] | None = Field(None, description="[low, high]: LHS/Sobol/Morris bounds (uniform); grid with `steps`.")
    steps: int | None = Field(None, ge=2, le=10_000, description="Grid design with `range`: this many evenly spaced values.")

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            low, high = value
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ValueError("range ends must be finite numbers")
            if not low < high:
                raise ValueError(f"low ({low:g}) must be below high ({high:g})")
        return value

    @field_validator("values")
    @classmethod
    def _one_kind(cls, value: list[Any] | None) -> list[Any] | None:
        if value is None:
            return value
        kinds = {_value_kind(v) for v in value}
        if None in kinds or len(kinds - {"int"} if kinds >= {"int", "float"} else kinds) > 1:
            raise ValueError("values must all be numbers, all booleans or all strings")
        if len({json.dumps(v) for v in value}) != len(value):
            raise ValueError("values must not repeat")
        return value


class GridDesign(_Strict):
    kind: Literal["grid"] = "grid"


class LHSDesign(_Strict):
    kind: Literal["lhs"]
    samples: int = Field(ge=2, le=1_000_000, description="Design points (SALib latin hypercube).")


class SobolDesign(_Strict):
    kind: Literal["sobol"]
    samples: int = Field(ge=2, le=2**20, description="N, a power of 2: N*(D+2) design points, N*(2D+2) with second_order.")
    second_order: bool = Field(False, description="Also sample for second-order indices S2.")

    @field_validator("samples")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            lower = 1 << (value.bit_length() - 1)
            raise ValueError(f"must be a power of 2 for Sobol' sampling (e.g. {lower} or {lower * 2})")
        return value


class MorrisDesign(_Strict):
    kind: Literal["morris"]
    trajectories: int = Field(ge=2, le=100_000, description="Morris trajectories r: r*(D+1) design points.")
    levels: int = Field(4, ge=2, le=100, description="Grid levels p (even).")

    @field_validator("levels")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even")
        return value


Design = Annotated[Union[GridDesign, LHSDesign, SobolDesign, MorrisDesign], Field(discriminator="kind")]
AGGREGATES = ("sum", "mean", "median", "min", "max")


class Output(_Strict):
    """A named number per run from ``model.brand_year()``: one metric over brands x years, aggregated."""

    name: Name
    metric: str = Field(description="A column of brand_year(): sales_share, churn_rate, profit, ...")
    brand: str | None = Field(None, description="One brand (omit brand and brands for all brands).")
    brands: list[str] | None = Field(None, min_length=1, description="Several brands.")
    year: int | None = Field(None, description="One year (omit year and years for all years).")
    years: tuple[int, int] | None = Field(None, description="[first, last], inclusive.")
    aggregate: Literal["sum", "mean", "median", "min", "max"] | None = Field(
        None, description="How the selected cells combine (NaN cells skipped); needed when more than one is selected.")

    @model_validator(mode="after")
    def _one_way(self) -> Output:
        if self.brand is not None and self.brands is not None:
            raise ValueError("give brand or brands, not both")
        if self.year is not None and self.years is not None:
            raise ValueError("give year or years, not both")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years: first ({self.years[0]}) must not be after last ({self.years[1]})")
        return self

    @property
    def brand_list(self) -> list[str] | None:
        return [self.brand] if self.brand is not None else self.brands


class Experiment(_Strict):
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="Short name (default: the file name).")
    question: str = Field("", description="The question this experiment asks.")
    description: str = ""
    scenario: str = Field(description="Base scenario: a name in scenarios/ or a path relative to this file.")
    set: list[str] = Field(default_factory=list, description="Overrides for every run: 'path=value' strings, or a table of dotted keys.")
    replications: int = Field(1, ge=1, le=100_000, description="Runs per design point (different seeds).")
    seed: int | None = Field(None, ge=0, lt=2**63, description="Root seed (default: the base scenario's simulation.seed).")
    design: Design
    parameters: list[Parameter] = Field(min_length=1)
    outputs: list[Output] = Field(min_length=1)
    keep_series: bool | list[str] = Field(False, description="Keep each run's yearly brand table (true, or a list of metrics).")
    runs_per_task: int | None = Field(None, ge=1, le=100_000, description="Runs per Dask task (default: about 5 s of work).")
    runs_per_file: int = Field(250, ge=1, le=1_000_000, description="Runs per Parquet chunk file (at most).")
    flush_seconds: float = Field(300.0, gt=0, description="Write buffered finished runs at least this often.")

    @field_validator("design", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @field_validator("set", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [f"{path}={_toml_value(v)}" for path, v in _flatten_table(value)]
        if isinstance(value, list):
            for item in value:
                if not isinstance(item, str) or "=" not in item:
                    raise ValueError(f"expected 'field.path=value' strings, got {item!r}")
        return value


EXECUTION_FIELDS = ("runs_per_task", "runs_per_file", "flush_seconds")  # may change on resume


def _value_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def _flatten_table(table: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _flatten_table(value, path + ".")
        else:
            out.append((path, value))
    return out


def _toml_value(value: Any) -> str:
    """A value as inline TOML text (what ``--set path=VALUE`` parses)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return repr(value) if math.isfinite(value) else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


# ---- errors naming the file, the field path and the reason -----------------------------------------------
def _explain(error: dict, source: str) -> str:
    """Scenario-style error lines, plus the design's kind (a tagged union) named in the path."""
    loc = tuple(error["loc"])
    if len(loc) > 1 and loc[0] == "design" and loc[1] in ("grid", "lhs", "sobol", "morris"):
        shown = (loc[0], *loc[2:])
    else:
        shown = loc
    path = ".".join(str(p) for p in shown if not str(p).startswith("function-"))
    if error["type"] == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        hint = difflib.get_close_matches(str(tag), ["grid", "lhs", "sobol", "morris"], n=1)
        reason = f"unknown design kind {tag!r}" + (f" (did you mean '{hint[0]}'?)" if hint else "") \
            + " (known: grid, lhs, sobol, morris)"
        return f"{source}: {path}.kind: {reason}"
    if error["type"] == "union_tag_not_found":
        return f"{source}: {path}.kind: missing kind (grid, lhs, sobol or morris)"
    return explain_error(error, source, Experiment, path)


def resolve_experiment(name: str | Path) -> Path:
    """An experiment by path, or by name in ``scenarios/experiments/``."""
    return resolve_path(name, folder=EXPERIMENT_DIR, kind="experiment")


def parse_experiment(raw: dict, source: str) -> Experiment:
    try:
        return Experiment.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([_explain(err, source) for err in exc.errors()]) from None


def load_experiment(name: str | Path) -> tuple[Path, Experiment]:
    """Read and validate an experiment file's schema (not yet against its scenario: see :func:`plan`)."""
    path = resolve_experiment(name)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: not valid TOML: {exc}"]) from None
    experiment = parse_experiment(raw, str(path))
    if experiment.name is None:
        experiment = experiment.model_copy(update={"name": path.stem})
    return path, experiment


# --------------------------------------------------------------------------------------------------------
# The plan: base scenario, parameters, design; every design point validated
# --------------------------------------------------------------------------------------------------------
@dataclass
class ParamInfo:
    name: str
    path: str
    kind: str  # "int", "float", "bool", "str"
    values: list[Any] | None = None  # grid
    low: float | None = None
    high: float | None = None

    @property
    def integer(self) -> bool:
        return self.kind == "int"

    def as_dict(self) -> dict:
        d = {"name": self.name, "path": self.path, "kind": self.kind}
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
        return len(self.design)

    @property
    def n_runs(self) -> int:
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
    for i, p in enumerate(exp.parameters):
        where = f"{source}: parameters.{i}"
        keys = [k for k in p.path.split(".") if k]
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
            kind = _value_kind(current)
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
            kind = _value_kind(probe)
        if p.range is not None and kind not in ("int", "float"):
            problems.append(f"{where}.range: {p.path} is a {kind or 'non-numeric'} field; use a grid design with values")
            continue
        name = p.name or keys[-1].replace("-", "_")
        if p.values is not None:
            value_kind = {_value_kind(v) for v in p.values}
            if kind == "int" and value_kind != {"int"}:
                problems.append(f"{where}.values: {p.path} is an integer field; values must be whole numbers")
                continue
            if kind == "float" and not value_kind <= {"int", "float"}:
                problems.append(f"{where}.values: {p.path} is a number field")
                continue
            values = [float(v) for v in p.values] if kind == "float" else list(p.values)
            infos.append(ParamInfo(name, p.path, kind or "str", values=values))
        else:
            low, high = p.range
            if kind == "int" and (low != int(low) or high != int(high)):
                problems.append(f"{where}.range: {p.path} is an integer field; range ends must be whole numbers")
                continue
            if p.steps is not None:
                values = np.linspace(low, high, p.steps)
                values = sorted({int(round(v)) for v in values}) if kind == "int" else [float(v) for v in values]
                infos.append(ParamInfo(name, p.path, kind, values=values))
            else:
                infos.append(ParamInfo(name, p.path, kind, low=float(low), high=float(high)))
    if problems:
        return infos, problems
    # unique column names: lengthen clashing default names with more of their paths
    names = [info.name for info in infos]
    for i, info in enumerate(infos):
        if names.count(info.name) > 1 and exp.parameters[i].name is None:
            keys = [k.replace("-", "_") for k in info.path.split(".")]
            for n in range(2, len(keys) + 1):
                candidate = "_".join(keys[-n:])
                if candidate not in names:
                    info.name = candidate
                    break
    names = [info.name for info in infos]
    paths = [info.path for info in infos]
    for i, info in enumerate(infos):
        if names.count(info.name) > 1:
            problems.append(f"{source}: parameters.{i}.name: column name {info.name!r} is used twice; set name = \"...\"")
        if paths.count(info.path) > 1 and paths.index(info.path) != i:
            problems.append(f"{source}: parameters.{i}.path: {info.path!r} is varied twice")
        if info.name in RESERVED:
            problems.append(f"{source}: parameters.{i}.name: {info.name!r} is reserved; set name = \"...\"")
    return infos, problems


def _problem(params: list[ParamInfo], widen_integers: bool) -> dict:
    bounds = [[p.low - 0.5, p.high + 0.5] if (widen_integers and p.integer) else [p.low, p.high] for p in params]
    return {"num_vars": len(params), "names": [p.name for p in params], "bounds": bounds}


def make_design(exp: Experiment, params: list[ParamInfo], seed: int) -> tuple[pd.DataFrame, np.ndarray | None, dict | None]:
    """(design table, SALib sample or None, SALib problem or None). Sampling is SALib's, seeded with ``seed``.

    Integer parameters: LHS and Sobol sample [low - 0.5, high + 0.5] and round (every integer equally
    likely); Morris levels lie in [low, high] and are rounded. The sample kept for analysis is SALib's own.
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
    """The columns of brand_year(), from a 100-buyer, one-year run of the base scenario."""
    from sim.model import LuxuryMarketModel

    tiny = validate(apply_overrides(base_raw, ["market.years=1"]), "<metrics>")
    table = LuxuryMarketModel(tiny, seed=0, buyers=100).run().brand_year()
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
    return repr(value) if kind == "str" else str(_py(value))


def _estimate_seconds(scenario: Scenario) -> float:
    """Seconds per run on one laptop core (flagship: 10k buyers x 20 years ~ 0.85 s), for batching only."""
    return 0.03 + 3.6e-7 * scenario.simulation.buyers * scenario.market.months


def plan(experiment_path: str | Path) -> Plan:
    """Load an experiment, resolve its base scenario, build the design and validate every design point's
    scenario. Raises :class:`ScenarioError` (one line per problem: file, field path, reason); writes nothing."""
    path, exp = load_experiment(experiment_path)
    source = str(path)
    try:
        plain = load_scenario(resolve_path(exp.scenario, base=path.parent))
    except ScenarioError as exc:
        raise ScenarioError([f"{source}: scenario: {line}" for line in exc.problems]) from None
    try:
        base = validate(apply_overrides(plain.model_dump(mode="json"), exp.set), "<set>")
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
    design, sample, problem = make_design(exp, params, seed)
    # every design point's scenario, before anything runs
    seconds = 0.0
    point_problems: list[str] = []
    bad_points = 0
    for point in range(len(design)):
        row = design.iloc[point]
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
        seconds += _estimate_seconds(scenario)
    if point_problems:
        shown = point_problems[:MAX_PROBLEMS]
        if len(point_problems) > MAX_PROBLEMS:
            shown.append(f"{source}: ... and {len(point_problems) - MAX_PROBLEMS} more problems "
                         f"({bad_points} of {len(design)} design points are invalid)")
        raise ScenarioError(shown)
    return Plan(path, exp, base_raw, params, design, sample, problem, seed, metrics,
                seconds_per_run=seconds / max(1, len(design)))


# --------------------------------------------------------------------------------------------------------
# One batch of runs (on a Dask worker)
# --------------------------------------------------------------------------------------------------------
@dataclass
class _Static:
    """What every batch needs; an opaque object so Dask does not look inside it."""

    base: dict
    paths: list[str]
    names: list[str]
    outputs: list[dict]
    series: bool | list[str]
    seed: int


@dataclass
class _Batch:
    batch: int
    runs: list[tuple[int, int, tuple]]  # (point, replication, parameter values)


def run_seed(root: int, point: int, replication: int) -> np.random.SeedSequence:
    """The seed of run (point, replication): the same whatever the workers, chunking or resumes."""
    return np.random.SeedSequence(root, spawn_key=(point, replication))


def output_value(table: pd.DataFrame, spec: dict) -> float:
    """One named output from a brand_year() table (NaN cells skipped; NaN if nothing is left)."""
    rows = table
    brands = [spec["brand"]] if spec.get("brand") is not None else spec.get("brands")
    if brands:
        rows = rows[rows["brand"].isin(brands)]
    if spec.get("year") is not None:
        rows = rows[rows["year"] == spec["year"]]
    elif spec.get("years"):
        lo, hi = spec["years"]
        rows = rows[(rows["year"] >= lo) & (rows["year"] <= hi)]
    values = rows[spec["metric"]].to_numpy(dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan")
    how = spec.get("aggregate") or "mean"
    return float(getattr(np, how)(values))


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _run_batch(static: _Static, batch: _Batch) -> dict:
    """Run a batch; a run that raises is recorded (status 'error') rather than failing the batch."""
    from sim.model import LuxuryMarketModel

    worker = _worker_name()
    rows, series = [], []
    for point, replication, values in batch.runs:
        start = time.perf_counter()
        row: dict[str, Any] = {"point": point, "replication": replication}
        row.update(zip(static.names, values))
        try:
            scenario = validate(set_values(static.base, dict(zip(static.paths, values))), f"design point {point}")
            model = LuxuryMarketModel(scenario, seed=run_seed(static.seed, point, replication)).run()
            table = model.brand_year()
            for spec in static.outputs:
                row[spec["name"]] = output_value(table, spec)
            row["status"], row["error"] = "ok", None
            if static.series:
                keep = table if static.series is True else table[["year", "brand", *static.series]]
                keep = keep.copy()
                keep.insert(0, "replication", replication)
                keep.insert(0, "point", point)
                series.append(keep)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded per run, the sweep goes on
            for spec in static.outputs:
                row[spec["name"]] = float("nan")
            row["status"], row["error"] = "error", f"{type(exc).__name__}: {exc}"[:2000]
        row["seconds"] = time.perf_counter() - start
        row["worker"] = worker
        rows.append(row)
    return {"batch": batch.batch, "rows": rows,
            "series": pd.concat(series, ignore_index=True) if series else None}


# --------------------------------------------------------------------------------------------------------
# The sweep folder
# --------------------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _write_atomic(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def _write_parquet(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def outputs_schema(manifest: dict) -> pa.Schema:
    """The Arrow schema of the outputs chunk files (the same in every file, so the folder reads as one table)."""
    kinds = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    fields = [pa.field("point", pa.int64()), pa.field("replication", pa.int64())]
    fields += [pa.field(p["name"], kinds[p["kind"]]) for p in manifest["design"]["parameters"]]
    fields += [pa.field(o["name"], pa.float64()) for o in manifest["experiment"]["outputs"]]
    fields += [pa.field("status", pa.string()), pa.field("error", pa.string()), pa.field("seconds", pa.float64()),
               pa.field("chunk", pa.int64()), pa.field("worker", pa.string())]
    return pa.schema(fields)


def _manifest(p: Plan, started: str) -> dict:
    exp = p.experiment
    design = {"kind": exp.design.kind, **exp.design.model_dump(), "points": p.n_points,
              "parameters": [info.as_dict() for info in p.params], "salib_problem": p.problem}
    return {
        "kind": "luxsim-sweep",
        "format": FORMAT,
        "name": exp.name,
        "question": exp.question,
        "experiment_file": str(p.experiment_file) if p.experiment_file else None,
        "experiment": exp.model_dump(mode="json"),
        "base_scenario": p.base,
        "design": design,
        "replications": exp.replications,
        "runs": p.n_runs,
        "root_seed": p.seed,
        "seeding": "run (point i, replication r) uses numpy SeedSequence(root_seed, spawn_key=(i, r))",
        "metrics": p.metrics,
        "packages": package_versions(PACKAGES),
        "git_commit": git_commit(),
        "command_line": sys.argv,
        "started": started,
        "finished": None,
        "status": "running",
        "sessions": [],
    }


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise ScenarioError([f"{folder}: not a sweep folder (no manifest.json)"])
    manifest = json.loads(path.read_text())
    if manifest.get("kind") != "luxsim-sweep":
        raise ScenarioError([f"{folder}: manifest.json is not a luxsim sweep manifest"])
    return manifest


def create_folder(p: Plan, folder: Path) -> dict:
    """Write a new sweep folder's manifest, experiment copy, design (and SALib sample); no runs yet."""
    folder = Path(folder)
    manifest = _manifest(p, _now())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "outputs").mkdir(exist_ok=True)
    if p.experiment.keep_series:
        (folder / "series").mkdir(exist_ok=True)
    if p.experiment_file is not None:
        _write_atomic(folder / "experiment.toml", p.experiment_file.read_bytes())
    _write_parquet(folder / "design.parquet", pa.Table.from_pandas(p.design, preserve_index=False))
    if p.sample is not None:
        _write_parquet(folder / "sample.parquet",
                       pa.Table.from_pandas(pd.DataFrame(p.sample, columns=[i.name for i in p.params]),
                                            preserve_index=False))
    _write_json(folder / "manifest.json", manifest)
    return manifest


def _plan_from_folder(folder: Path, manifest: dict) -> Plan:
    exp = Experiment.model_validate(manifest["experiment"])
    params = [ParamInfo(d["name"], d["path"], d["kind"], values=d.get("values"),
                        low=(d.get("range") or [None, None])[0], high=(d.get("range") or [None, None])[1])
              for d in manifest["design"]["parameters"]]
    design = pd.read_parquet(folder / "design.parquet")
    sample = pd.read_parquet(folder / "sample.parquet").to_numpy() if (folder / "sample.parquet").exists() else None
    base = manifest["base_scenario"]
    p = Plan(Path(manifest["experiment_file"]) if manifest.get("experiment_file") else None, exp, base, params,
             design, sample, manifest["design"].get("salib_problem"), int(manifest["root_seed"]), manifest.get("metrics", []))
    scenario = validate(base, "<stored base>")
    buyers = design[_param_name(params, "simulation.buyers")] if _param_name(params, "simulation.buyers") else scenario.simulation.buyers
    years = design[_param_name(params, "market.years")] if _param_name(params, "market.years") else scenario.market.years
    p.seconds_per_run = float(np.mean(0.03 + 3.6e-7 * np.asarray(buyers) * np.asarray(years) * 12))
    return p


def _param_name(params: list[ParamInfo], path: str) -> str | None:
    return next((p.name for p in params if p.path == path), None)


def chunk_files(folder: Path, sub: str = "outputs") -> dict[int, Path]:
    """Finished chunk files by chunk number."""
    out = {}
    for path in (Path(folder) / sub).glob("part-*.parquet"):
        m = re.fullmatch(r"part-(\d+)\.parquet", path.name)
        if m:
            out[int(m.group(1))] = path
    return dict(sorted(out.items()))


def read_outputs(folder: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All finished runs (the chunk files of ``outputs/``) as one table."""
    files = chunk_files(folder)
    if not files:
        manifest = read_manifest(folder)
        return outputs_schema(manifest).empty_table().to_pandas()[columns] if columns else \
            outputs_schema(manifest).empty_table().to_pandas()
    return pq.ParquetDataset(list(map(str, files.values()))).read(columns=columns).to_pandas()


def _tidy(folder: Path) -> None:
    """Remove what an interruption may leave: temporary files, series chunks whose outputs chunk is missing."""
    for sub in ("outputs", "series"):
        d = folder / sub
        if d.is_dir():
            for tmp in d.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
    done = chunk_files(folder)
    for chunk, path in chunk_files(folder, "series").items():
        if chunk not in done:
            path.unlink(missing_ok=True)
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _write_runs_table(folder: Path, p: Plan) -> dict[str, int]:
    """runs.parquet: every planned run with its seed and what became of it. Returns status counts."""
    have = read_outputs(folder, ["point", "replication", "status", "error", "seconds", "chunk", "worker"])
    duplicated = have.duplicated(["point", "replication"])
    if duplicated.any():  # never expected: chunk files are planned from what is missing
        raise RuntimeError(f"{folder}: {int(duplicated.sum())} runs appear twice in outputs/")
    points = np.repeat(np.arange(p.n_points, dtype=np.int64), p.experiment.replications)
    reps = np.tile(np.arange(p.experiment.replications, dtype=np.int64), p.n_points)
    runs = pd.DataFrame({"point": points, "replication": reps})
    runs = runs.merge(have, on=["point", "replication"], how="left")
    runs["status"] = runs["status"].fillna("missing")
    runs.insert(2, "seed_entropy", np.int64(p.seed))
    runs.insert(3, "spawn_key", [[int(a), int(b)] for a, b in zip(runs["point"], runs["replication"])])
    table = pa.Table.from_pandas(runs, preserve_index=False, schema=pa.schema([
        ("point", pa.int64()), ("replication", pa.int64()), ("seed_entropy", pa.int64()),
        ("spawn_key", pa.list_(pa.int64())), ("status", pa.string()), ("error", pa.string()),
        ("seconds", pa.float64()), ("chunk", pa.int64()), ("worker", pa.string())]))
    _write_parquet(folder / "runs.parquet", table)
    return runs["status"].value_counts().to_dict()


# --------------------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------------------
class SweepIncomplete(RuntimeError):
    """Some runs could not be completed (their tasks failed on the cluster); the rest are saved."""


class _ChunkWriter:
    """Buffers finished runs; writes one outputs (and series) chunk file per ``runs_per_file`` runs or
    ``flush_seconds``, atomically."""

    def __init__(self, folder: Path, schema: pa.Schema, next_chunk: int, runs_per_file: int, flush_seconds: float):
        self.folder, self.schema, self.chunk = folder, schema, next_chunk
        self.runs_per_file, self.flush_seconds = runs_per_file, flush_seconds
        self.rows: list[dict] = []
        self.series: list[pd.DataFrame] = []
        self.since = time.monotonic()
        self.written = 0

    def add(self, result: dict) -> None:
        if not self.rows:
            self.since = time.monotonic()
        self.rows += result["rows"]
        if result["series"] is not None:
            self.series.append(result["series"])
        while len(self.rows) >= self.runs_per_file:
            self.flush(self.runs_per_file)
        if self.rows and time.monotonic() - self.since >= self.flush_seconds:
            self.flush()

    def flush(self, n: int | None = None) -> None:
        if not self.rows:
            return
        n = len(self.rows) if n is None else n
        rows, self.rows = self.rows[:n], self.rows[n:]
        keys = {(r["point"], r["replication"]) for r in rows}
        frame = pd.DataFrame(rows)
        frame["chunk"] = self.chunk
        frame = frame.sort_values(["point", "replication"], kind="stable")
        table = pa.Table.from_pandas(frame[self.schema.names], schema=self.schema, preserve_index=False)
        name = f"part-{self.chunk:05d}.parquet"
        if self.series:
            series = pd.concat(self.series, ignore_index=True)
            index = pd.MultiIndex.from_frame(series[["point", "replication"]])
            mine = index.isin(list(keys))
            if mine.any():
                (self.folder / "series").mkdir(exist_ok=True)
                _write_parquet(self.folder / "series" / name,
                               pa.Table.from_pandas(series[mine].sort_values(["point", "replication", "year"], kind="stable"),
                                                    preserve_index=False))
            rest = series[~mine]
            self.series = [rest] if len(rest) else []
        _write_parquet(self.folder / "outputs" / name, table)  # last: a chunk counts once its outputs file exists
        self.chunk += 1
        self.written += len(rows)
        self.since = time.monotonic()
        if _on_chunk_written is not None:
            _on_chunk_written(self.folder / "outputs" / name)


def _scheduler_address(scheduler: str | None) -> str | None:
    if scheduler:
        return scheduler
    env = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if env:
        return env
    import dask

    return dask.config.get("scheduler-address", None)


def _start_client(workers: int | None, scheduler: str | None):
    """(client, cluster or None, description). A LocalCluster on localhost unless a scheduler is given."""
    from distributed import Client, LocalCluster

    address = _scheduler_address(scheduler)
    if address:
        client = Client(address, timeout="60s")
        client.wait_for_workers(1, timeout=300)
        return client, None, address
    n = workers or os.cpu_count() or 1
    with warnings.catch_warnings():
        # No dashboard; the scheduler's small health/metrics HTTP server binds 127.0.0.1 like everything else, on
        # port 8787 or, when another cluster has it, any free port (distributed warns about that: harmless).
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1", silence_logs=logging.ERROR)
    client = Client(cluster)
    try:  # Ctrl-C reaches the whole process group: let this process stop the workers rather than each die noisily
        client.register_plugin(_ignore_sigint_plugin(), name="luxsim-ignore-sigint")
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    return client, cluster, f"LocalCluster({n} workers)"


def _ignore_sigint_plugin():
    """A worker plugin (local clusters only): worker processes ignore SIGINT; the client shuts them down."""
    from distributed import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker) -> None:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()


def _lock(folder: Path) -> Path:
    lock = folder / "sweep.lock"
    if lock.exists():
        try:
            info = json.loads(lock.read_text())
            same_host = info.get("host") == socket.gethostname()
            alive = same_host and _pid_alive(int(info.get("pid", -1)))
        except (ValueError, OSError):
            alive = False
        if alive:
            raise ScenarioError([f"{folder}: a sweep is already running on it (pid {info['pid']}); "
                                 "wait for it or stop it before resuming"])
    _write_json(lock, {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()})
    return lock


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def default_folder(name: str, started: datetime) -> Path:
    base = ROOT / "results" / "sweeps" / name / f"{started:%Y%m%dT%H%M%SZ}"
    folder, k = base, 1
    while folder.exists():
        k += 1
        folder = base.with_name(f"{base.name}-{k}")
    return folder


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} runs/s" if speed else "- runs/s", style="progress.data.speed")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                    RateColumn(), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


def _runs_per_task(p: Plan, n_missing: int, n_workers: int) -> int:
    if p.experiment.runs_per_task:
        return p.experiment.runs_per_task
    by_time = max(1, int(TARGET_TASK_SECONDS / max(p.seconds_per_run, 1e-3)))
    by_balance = max(1, math.ceil(n_missing / (4 * max(1, n_workers))))  # each worker gets >= 4 tasks
    return min(by_time, by_balance, 1000)


def _execute(folder: Path, p: Plan, manifest: dict, workers: int | None, scheduler: str | None,
             progress: bool, session: dict) -> None:
    """Run the runs that no chunk file of ``folder`` holds yet, filling in the ``session`` record."""
    from distributed import as_completed

    _tidy(folder)
    done = read_outputs(folder, ["point", "replication"])
    done_keys = set(zip(done["point"].tolist(), done["replication"].tolist()))
    reps = p.experiment.replications
    missing = [(i, r) for i in range(p.n_points) for r in range(reps) if (i, r) not in done_keys]
    existing = chunk_files(folder)
    writer = _ChunkWriter(folder, outputs_schema(manifest), (max(existing) + 1) if existing else 0,
                          p.experiment.runs_per_file, p.experiment.flush_seconds)
    session.update(started=_now(), finished=None, runs_before=len(done_keys), runs_planned=len(missing),
                   runs_written=0, scheduler=None, workers=None, runs_per_task=None, status="running")
    if not missing:
        session.update(finished=_now(), status="complete", scheduler="(nothing to run)")
        return
    client, cluster, description = _start_client(workers, scheduler)
    failures: list[str] = []
    pending: set = set()
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        per_task = _runs_per_task(p, len(missing), n_workers)
        session.update(scheduler=description, workers=n_workers, runs_per_task=per_task)
        columns = [info.name for info in p.params]
        values = p.design[columns].to_numpy(dtype=object)
        static = _Static(p.base, [info.path for info in p.params], columns,
                         [o.model_dump(mode="json") for o in p.experiment.outputs], p.experiment.keep_series, p.seed)
        token = f"{p.experiment.name}-{os.getpid()}-{time.time_ns()}"
        # one small task holds what every batch needs (recomputed by Dask if its worker is lost)
        static_future = client.submit(_identity, static, pure=False, key=f"luxsim-static-{token}")
        batches = [missing[k:k + per_task] for k in range(0, len(missing), per_task)]
        with _progress(progress) as bar:
            task = bar.add_task(f"{p.experiment.name}", total=p.n_runs, completed=len(done_keys))
            for b, pairs in enumerate(batches):
                runs = [(i, r, tuple(_py(v) for v in values[i])) for i, r in pairs]
                pending.add(client.submit(_run_batch, static_future, _Batch(b, runs), retries=2, pure=False,
                                          key=f"luxsim-batch-{token}-{b}"))
            for future in as_completed(list(pending)):
                pending.discard(future)
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a task that failed even after its retries
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                finally:
                    future.release()
                writer.add(result)
                bar.advance(task, len(result["rows"]))
                if _on_batch_done is not None:
                    _on_batch_done(result["batch"])
        writer.flush()
        session["status"] = "complete" if not failures else "incomplete"
        if failures:
            session["failures"] = failures[:20]
    except BaseException:
        session["status"] = "interrupted"
        raise
    finally:
        try:
            writer.flush()  # keep every finished run, also on Ctrl-C
        finally:
            session["runs_written"] = writer.written
            session["finished"] = _now()
            try:
                if pending:
                    client.cancel(list(pending))
                client.close()
            finally:
                if cluster is not None:
                    cluster.close()


def _identity(x: Any) -> Any:
    return x


def _py(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _normalised(exp: Experiment) -> dict:
    d = exp.model_dump(mode="json")
    for key in EXECUTION_FIELDS:
        d.pop(key, None)
    return d


def run_sweep(experiment_path: str | Path | None, out: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, progress: bool = True) -> Path:
    """Run an experiment's sweep (or finish an interrupted one) and return its folder.

    ``experiment_path``: a path or a name in ``scenarios/experiments/``. ``out``: the sweep folder (default
    ``results/sweeps/<name>/<UTC time>/``; with ``resume=True``, the folder to finish). ``workers``: processes
    of the LocalCluster (default: the cores); ``scheduler`` (or env ``DASK_SCHEDULER_ADDRESS``): an existing
    Dask scheduler such as ``tcp://host:8786`` instead. ``progress``: a rich progress bar on stderr.

    Bad input raises :class:`ScenarioError` (one line per problem: file, field path, reason) before anything is
    written: the CLI prints the lines and exits 2. Runs whose Dask tasks failed even after retries raise
    :class:`SweepIncomplete` after every other run is saved: the CLI prints the message (it names the folder
    and says to use --resume) and exits 1. Ctrl-C saves the finished runs and re-raises KeyboardInterrupt.

    On success the CLI should print the folder, then one line such as
    ``1,280 runs (1,280 ok, 0 errors) in 3m12s -> results/sweeps/lexus_sobol/20261123T120000Z`` (numbers in
    ``manifest.json``: ``runs``, ``status_counts``, ``sessions[-1]``; see :func:`sweep_summary`) and the next
    step: ``python run_sim.py analyze <folder>``.
    """
    if workers is not None and workers < 1:
        raise ScenarioError([f"--workers: must be at least 1, got {workers}"])
    if resume:
        if out is None:
            raise ScenarioError(["--resume: give the sweep folder to finish with --out DIR"])
        folder = Path(out)
        manifest = read_manifest(folder)
        stored = _plan_from_folder(folder, manifest)
        if experiment_path is not None:
            given = plan(experiment_path)
            if _normalised(given.experiment) != _normalised(stored.experiment) or given.base != stored.base:
                a, b = _normalised(given.experiment), _normalised(stored.experiment)
                differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                if given.base != stored.base:
                    differ.append("the base scenario")
                raise ScenarioError([f"{given.experiment_file}: differs from the experiment of the sweep in {folder} "
                                     f"({', '.join(differ)}); resume with the same experiment, or start a new sweep"])
            for key in EXECUTION_FIELDS:  # batching and file size may change on resume
                setattr(stored.experiment, key, getattr(given.experiment, key))
        p = stored
    else:
        p = plan(experiment_path)
        started_dt = datetime.now(timezone.utc)
        folder = Path(out) if out is not None else default_folder(p.experiment.name, started_dt)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ScenarioError([f"{folder}: already exists; pass --resume to finish that sweep, or choose another --out"])
        manifest = create_folder(p, folder)
    lock = _lock(folder)
    session: dict = {"status": "interrupted"}
    try:
        try:
            _execute(folder, p, manifest, workers, scheduler, progress, session)
        finally:
            counts = _write_runs_table(folder, p)
            manifest = read_manifest(folder)
            manifest["sessions"].append(session)
            manifest["status_counts"] = counts
            complete = counts.get("missing", 0) == 0
            manifest["status"] = "complete" if complete else ("incomplete" if session.get("status") == "incomplete"
                                                              else "interrupted")
            manifest["finished"] = _now() if complete else None
            _write_json(folder / "manifest.json", manifest)
    finally:
        lock.unlink(missing_ok=True)
    if manifest["status"] != "complete":
        missing = counts.get("missing", 0)
        raise SweepIncomplete(f"{missing} of {p.n_runs} runs did not complete "
                              f"({'; '.join(session.get('failures', [])[:3]) or 'tasks failed'}); the finished runs are "
                              f"in {folder}: finish with --resume --out {folder}")
    return folder


def sweep_summary(folder: str | Path) -> str:
    """One line for the CLI: runs, status counts, time of the last session and the folder."""
    manifest = read_manifest(Path(folder))
    counts = manifest.get("status_counts", {})
    seconds = 0.0
    for s in manifest.get("sessions", []):
        if s.get("started") and s.get("finished"):
            seconds += (datetime.fromisoformat(s["finished"]) - datetime.fromisoformat(s["started"])).total_seconds()
    minutes, secs = divmod(int(round(seconds)), 60)
    return (f"{manifest['runs']:,} runs ({counts.get('ok', 0):,} ok, {counts.get('error', 0):,} errors"
            + (f", {counts['missing']:,} missing" if counts.get("missing") else "")
            + f") in {minutes}m{secs:02d}s -> {folder}")
