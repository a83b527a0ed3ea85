"""Experiment files: what a parameter sweep varies, how, and what it records (``scenarios/experiments/*.toml``).

An experiment names

* a base ``scenario`` and ``set``: overrides applied to every run (the same ``dotted.path=value`` as --set);
* ``[[parameters]]`` to vary, each by field path, with ``values`` (grid) or a ``range = [low, high]``
  (``lhs``, ``sobol``, ``morris``; integer fields are rounded): the levers, what the strategist decides;
* ``[[uncertainties]]``, written exactly as ``[[parameters]]``: market conditions the strategist does not control
  (word of mouth's strength, an incumbent's response delay), sampled in the same design as the levers so that a
  sweep spans both; the manifest and the outputs' Parquet schema record each column's role (``lever`` or
  ``uncertainty``), which ``run_sim.py discover`` reports with the boxes;
* a ``[design]``: ``grid`` (full factorial, BehaviorSpace-style), ``lhs`` (SALib latin), ``sobol`` (SALib
  Saltelli/Sobol' sampling) or ``morris`` (SALib trajectories);
* ``replications`` per design point and a root ``seed``;
* ``[[outputs]]``: named metrics of ``model.brand_year()``, e.g.
  ``{ name = "lexus_share_2000", metric = "sales_share", brand = "Lexus", year = 2000 }``;
* ``keep_series``: also keep each run's yearly brand table.

This module holds the file's schema (pydantic) and reads it: one line per problem, naming the file, the field
path and the reason. Checking it against its base scenario and building the design is ``sim.design``'s job;
running it, ``sim.sweep``'s.
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from sim.files import toml_inline
from sim.results import ROOT
from sim.scenario import INT64, RootSeed, StrictModel, Text
from sim.scenario_files import ScenarioError, explain_error, join_path, located_errors, read_toml, resolve_path

EXPERIMENT_DIR = ROOT / "scenarios" / "experiments"

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64,
                            description="a column name: letters, digits and _, not starting with a digit")]


class Parameter(StrictModel):
    """One parameter to vary, by its scenario field path (as in ``--set``)."""

    path: str = Field(min_length=1, description="Dotted field path, e.g. 'brands.Lexus.service.loaner_cars'.")
    name: Name | None = Field(None, description="Column name in the results (default: the last part of the path).")
    values: list[Any] | None = Field(
        None, min_length=1, description="Grid design: the values to run (numbers, booleans or strings).")
    range: tuple[float, float] | None = Field(
        None, description="[low, high]: LHS/Sobol/Morris bounds (uniform); grid with `steps`.")
    steps: int | None = Field(
        None, ge=2, le=10_000, description="Grid design with `range`: this many evenly spaced values.")

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            low, high = value
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ValueError("range ends must be finite numbers")
            if not low < high:
                raise ValueError(f"low ({low:g}) must be below high ({high:g})")
            if not math.isfinite(high - low):
                raise ValueError(f"the range [{low:g}, {high:g}] is too wide to sample (high - low overflows)")
        return value

    @field_validator("values")
    @classmethod
    def _one_kind(cls, value: list[Any] | None) -> list[Any] | None:
        return None if value is None else listed_values(value, "values")


class GridDesign(StrictModel):
    """Every combination of the parameters' ``values`` (or ``range`` with ``steps``): a full factorial."""

    kind: Literal["grid"] = "grid"


class LHSDesign(StrictModel):
    """A Latin hypercube of ``samples`` points over the parameters' ranges (SALib)."""

    kind: Literal["lhs"]
    samples: int = Field(ge=2, le=1_000_000, description="Design points (SALib latin hypercube).")


class SobolDesign(StrictModel):
    """Saltelli's sample for Sobol' indices (SALib): ``samples`` N, a power of 2, over the parameters' ranges."""

    kind: Literal["sobol"]
    samples: int = Field(
        ge=2, le=2**20, description="N, a power of 2: N*(D+2) design points, N*(2D+2) with second_order.")
    second_order: bool = Field(False, description="Also sample for second-order indices S2.")

    @field_validator("samples")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            lower = 1 << (value.bit_length() - 1)
            raise ValueError(f"must be a power of 2 for Sobol' sampling (e.g. {lower} or {lower * 2})")
        return value


class MorrisDesign(StrictModel):
    """Morris elementary-effects trajectories (SALib) on a grid of ``levels`` (even) over the parameters' ranges."""

    kind: Literal["morris"]
    trajectories: int = Field(ge=2, le=100_000, description="Morris trajectories r: r*(D+1) design points.")
    levels: int = Field(4, ge=2, le=100, description="Grid levels p (even).")

    @field_validator("levels")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even")
        return value


Design = Annotated[GridDesign | LHSDesign | SobolDesign | MorrisDesign, Field(discriminator="kind")]
AGGREGATES = ("sum", "mean", "median", "min", "max")


class CellSelection(StrictModel):
    """The brand-year cells of ``model.brand_year()`` a number is taken over: ``brand`` or ``brands`` (neither: all),
    ``year`` or ``years`` (neither: all). The one rule for an experiment's outputs and an optimisation's metrics; a
    subclass declares the four fields."""

    @model_validator(mode="after")
    def _one_way(self):
        if self.brand is not None and self.brands is not None:
            raise ValueError("give brand or brands, not both")
        if self.year is not None and self.years is not None:
            raise ValueError("give year or years, not both")
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years: first ({self.years[0]}) must not be after last ({self.years[1]})")
        return self

    @property
    def brand_list(self) -> list[str] | None:
        """The selected brands (``brand`` or ``brands``), or None for all."""
        return [self.brand] if self.brand is not None else self.brands

    def cells(self, table):
        """The rows of a ``brand_year()`` table this selection takes (:func:`select_cells`)."""
        return select_cells(table, self.brand_list, self.year, self.years)


def select_cells(table, brands: list[str] | None, year: int | None, years) -> Any:
    """The rows of a ``brand_year()`` table (a DataFrame) of ``brands`` (None: all) in ``year`` or the inclusive
    ``years`` range (neither: all): the one selection of an experiment's output and an optimisation's metric."""
    rows = table
    if brands:
        rows = rows[rows["brand"].isin(brands)]
    if year is not None:
        rows = rows[rows["year"] == year]
    elif years:
        rows = rows[(rows["year"] >= years[0]) & (rows["year"] <= years[1])]
    return rows


class Output(CellSelection):
    """A named number per run from ``model.brand_year()``: one metric over brands x years, aggregated."""

    name: Name
    metric: str = Field(description="A column of brand_year(): sales_share, churn_rate, profit, ...")
    brand: str | None = Field(None, description="One brand (omit brand and brands for all brands).")
    brands: list[str] | None = Field(None, min_length=1, description="Several brands.")
    year: int | None = Field(None, description="One year (omit year and years for all years).")
    years: tuple[int, int] | None = Field(None, description="[first, last], inclusive.")
    aggregate: Literal["sum", "mean", "median", "min", "max"] | None = Field(
        None, description="How the selected cells combine (NaN cells skipped); needed when more than one is "
                          "selected.")
    versus: list[str] | None = Field(
        None, description="A counterfactual: the output is the run's value minus the same value in a twin run with "
                          "these fields changed (a table of dotted keys, or 'path=value' strings as in set), the "
                          "same seed (common random numbers), e.g. { brands.Lexus.service."
                          "complimentary_maintenance_months = 0 }: what the lever earned against not pulling it.")
    better: Literal["higher", "lower"] = Field(
        "higher", description="Which way is better (analyze's best design point of a grid): higher (profit, share) "
                              "or lower (churn, cost).")

    @field_validator("versus", mode="before")
    @classmethod
    def _flatten_versus(cls, value: Any) -> Any:
        return overrides_list(value)


class Experiment(StrictModel):
    """An experiment file (``scenarios/experiments/*.toml``): the base scenario and its overrides, the design, the
    parameters varied, the outputs recorded per run, replications and seed, and how runs are batched and written."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="Short name (default: the file name).")
    question: Text = Field("", description="The question this experiment asks (printable text: no control characters).")
    description: str = ""
    scenario: str = Field(description="Base scenario: a name in scenarios/ or a path relative to this file.")
    set: list[str] = Field(default_factory=list, description="Overrides for every run: 'path=value' strings, or a "
                                                             "table of dotted keys.")
    replications: int = Field(1, ge=1, le=100_000, description="Runs per design point (different seeds).")
    seed: RootSeed | None = Field(
        None, description="Root seed, 0 to 2^63 - 1 (default: the base scenario's simulation.seed).")
    design: Design
    parameters: list[Parameter] = Field(
        default_factory=list, description="The levers varied: what the strategist decides.")
    uncertainties: list[Parameter] = Field(
        default_factory=list, description="Market conditions the strategist does not control, varied in the same "
                                          "design as the levers (written as parameters are).")
    outputs: list[Output] = Field(min_length=1)
    keep_series: bool | list[str] = Field(
        False, description="Keep each run's yearly brand table (true, or a list of metrics).")
    runs_per_task: int | None = Field(
        None, ge=1, le=100_000, description="Runs per Dask task, all of the same size (default: at most about "
                                         "5 s of work, the last tasks smaller so that the workers end together).")
    runs_per_file: int = Field(250, ge=1, le=1_000_000, description="Runs per Parquet chunk file (at most).")
    flush_seconds: float = Field(300.0, gt=0, description="Write buffered finished runs at least this often.")

    @model_validator(mode="after")
    def _something_varies(self) -> Experiment:
        if not self.parameters and not self.uncertainties:
            raise ValueError("nothing is varied: give at least one [[parameters]] (a lever) or [[uncertainties]] "
                             "entry")
        return self

    def varied(self) -> list[tuple[str, int, Parameter]]:
        """Every varied field as (role, index in its list, entry): the levers (role ``lever``, from ``parameters``)
        then the uncertainties (role ``uncertainty``): the order of the design's columns."""
        return [*(("lever", i, p) for i, p in enumerate(self.parameters)),
                *(("uncertainty", i, p) for i, p in enumerate(self.uncertainties))]

    @field_validator("design", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @field_validator("set", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        return overrides_list(value)



ROLES = {"lever": "parameters", "uncertainty": "uncertainties"}  # a varied column's role -> its list

EXECUTION_FIELDS = ("runs_per_task", "runs_per_file", "flush_seconds")  # may change on resume


def value_kind(value: Any) -> str | None:
    """``int``, ``float``, ``bool`` or ``str`` for a scalar value; None for anything else."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def listed_values(value: list[Any], what: str) -> list[Any]:
    """A list of values a file gives to try (an experiment's ``values``, an optimisation's ``choices``), checked: all
    numbers, all booleans or all strings; numbers finite and integers within 64 bits; none repeated.

    Raises:
        ValueError: naming ``what`` and the reason, for pydantic to name the field.
    """
    kinds = {value_kind(v) for v in value}
    if None in kinds or len(kinds - {"int"} if kinds >= {"int", "float"} else kinds) > 1:
        raise ValueError(f"{what} must all be numbers, all booleans or all strings")
    if any(isinstance(v, float) and not math.isfinite(v) for v in value):
        raise ValueError(f"{what} must be finite numbers, got {value}")
    if any(value_kind(v) == "int" and not INT64[0] <= v <= INT64[1] for v in value):
        raise ValueError(f"integer {what} must fit 64 bits ({INT64[0]} to {INT64[1]})")
    if len({json.dumps(v) for v in value}) != len(value):
        raise ValueError(f"{what} must not repeat")
    return value


def overrides_list(value: Any) -> Any:
    """A table of dotted keys as 'path=value' strings (as --set takes them); a list of such strings checked."""
    if isinstance(value, dict):
        return [f"{path}={toml_inline(v)}" for path, v in _flatten_table(value)]
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str) or "=" not in item:
                raise ValueError(f"expected 'field.path=value' strings, got {item!r}")
    return value


def _flatten_table(table: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in table.items():
        path = f"{prefix}{join_path([key])}"  # a key holding a dot stays one key: brands."A.B".dealers
        if isinstance(value, dict):
            out += _flatten_table(value, path + ".")
        else:
            out.append((path, value))
    return out



# ---- errors naming the file, the field path and the reason -----------------------------------------------
def _explain(error: dict, source: str) -> str:
    """Scenario-style error lines, plus the design's kind (a tagged union) named in the path."""
    loc = tuple(error["loc"])
    if len(loc) > 1 and loc[0] == "design" and loc[1] in ("grid", "lhs", "sobol", "morris"):
        shown = (loc[0], *loc[2:])
    else:
        shown = loc
    path = join_path([p for p in shown if not str(p).startswith("function-")])
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
    """Validate a raw experiment (nested dicts, as read from TOML) against the schema.

    Raises:
        ScenarioError: one line per problem, ``SOURCE: field.path: reason``.
    """
    try:
        return Experiment.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([_explain(err, source) for err in located_errors(exc.errors(), Experiment)]) from None


def load_experiment(name: str | Path) -> tuple[Path, Experiment]:
    """Read and validate an experiment file's schema (not yet against its scenario: see :func:`plan`)."""
    path = resolve_experiment(name)
    raw = read_toml(path)
    experiment = parse_experiment(raw, str(path))
    if experiment.name is None:
        experiment = experiment.model_copy(update={"name": path.stem})
    return path, experiment
