"""A calibration problem: the calibration file's schema, and the problem it loads into.

A calibration file (``scenarios/calibration/*.toml``) names a base ``scenario``, the ``[[parameters]]`` to fit (a
field path, a prior ``range`` and ``why`` that range), the targets to leave out, the population, replications and
seed, and the optimiser's budget. ``load_calibration`` validates it like a scenario (one line per problem naming
the file, the field path and the reason; ``sim.scenario_files.ScenarioError``) and returns a :class:`Problem`:
the spec, the base scenario's raw table, the targets (``sim/moments.py``) and the starting point. The search
itself is ``sim/calibration.py``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sim import moments
from sim.scenario import Name, RootSeed, StrictModel, ordered_range
from sim.scenario_files import (
    SCENARIO_DIR,
    ScenarioError,
    apply_overrides,
    explain_error,
    join_path,
    read_raw,
    read_toml,
    resolve_path,
    set_values,
    split_path,
    validate,
)

CALIBRATION_DIR = SCENARIO_DIR / "calibration"


class FreeParameter(StrictModel):
    """One parameter the calibration fits: its scenario field path, the prior range searched and why, the start."""

    path: str = Field(description="Dotted field path in the scenario, as for --set (e.g. choice.inertia).")
    range: tuple[float, float] = Field(description="Prior range [low, high]: the search box.")
    why: str = Field(min_length=1, description="Why this range (the prior's reasoning and sources).")
    start: float | None = Field(None, description="Where the search starts (default: the base scenario's value). "
                                "Set it to make the calibration independent of values it has itself written.")

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        return ordered_range(value, "search")

    @model_validator(mode="after")
    def _start_inside(self) -> FreeParameter:
        if self.start is not None and not self.range[0] <= self.start <= self.range[1]:
            raise ValueError(f"start {self.start:g} lies outside range {list(self.range)}")
        return self


class Optimiser(StrictModel):
    """The search: Sobol' screening of the prior box, then bounded Nelder-Mead from the best point, and its stops."""

    screening: int = Field(64, ge=0, le=4096, description="Sobol' points over the prior box before the local search "
                                                          "(0: none; rounded up to a power of two).")
    max_evaluations: int = Field(
        400, ge=1, le=100_000,
        description="Candidates simulated at most, every stage counted: the start, the scenario's current values, "
                    "the screening, Nelder-Mead and the Jacobian (2 per parameter; see sim/calibration.py).")
    initial_step: float = Field(0.1, gt=0, le=0.5,
                                description="Nelder-Mead's first simplex: this fraction of each prior range.")
    xatol: float = Field(0.002, gt=0, description="Stop when the simplex is this small (fraction of the prior ranges).")
    fatol: float = Field(0.05, gt=0, description="... and the distance differs by less than this across it.")


class CalibrationSpec(StrictModel):
    """A calibration file (``scenarios/calibration/*.toml``): the base scenario, the window, the population and
    replications per candidate, the free parameters (each listed once), the targets left out and the optimiser."""

    name: Name = Field(description="The calibration's name (printable, not blank).")
    description: str = ""
    scenario: str = Field(description="Base scenario (name in scenarios/ or a path).")
    set: list[str] = Field(default_factory=list, description="--set style overrides applied before calibrating.")
    end_year: int = Field(moments.CALIBRATION_YEARS[1],
                          description="Last year simulated: the end of the calibration window.")
    buyers: int = Field(30_000, ge=500, le=10_000_000, description="Simulated buyers per run.")
    replications: int = Field(4, ge=1, le=256, description="Replications per candidate (common random numbers).")
    seed: RootSeed = Field(1993, description="Root seed (0 to 2^63 - 1): replication r uses "
                                             "SeedSequence(seed, spawn_key=(r,)).")
    jacobian_step: float = Field(0.05, gt=0, le=0.25,
                                 description="Central-difference step, fraction of each prior range.")
    exclude: list[str] = Field(default_factory=list, description="Target names (or kinds) left out of the distance.")
    parameters: list[FreeParameter] = Field(min_length=1)
    optimiser: Optimiser = Field(default_factory=Optimiser)

    @model_validator(mode="after")
    def _distinct(self) -> CalibrationSpec:
        paths = [p.path for p in self.parameters]
        dup = sorted({p for p in paths if paths.count(p) > 1})
        if dup:
            raise ValueError(f"parameters listed twice: {', '.join(dup)}")
        return self


# ---- loading -------------------------------------------------------------------------------------------
@dataclass
class Problem:
    """A validated calibration: the spec, the resolved base scenario and the targets."""

    spec: CalibrationSpec
    source: str
    base_raw: dict
    targets: list[moments.Target]
    integer: np.ndarray  # bool per parameter: the field is an integer (values are rounded)
    start: np.ndarray  # where the search starts: each parameter's `start`, or the base scenario's value
    current: np.ndarray | None = None  # the base scenario's values (what --apply replaces; None: as start)

    @property
    def paths(self) -> list[str]:
        """The free parameters' scenario field paths, in file order (the order of ``theta``)."""
        return [p.path for p in self.spec.parameters]

    @property
    def names(self) -> list[str]:
        """Short column names of the free parameters (:func:`parameter_name`), in ``theta`` order."""
        return [parameter_name(p.path) for p in self.spec.parameters]

    @property
    def low(self) -> np.ndarray:
        """Lower ends of the prior ranges, shape (parameters,), in each field's unit."""
        return np.array([p.range[0] for p in self.spec.parameters], dtype=float)

    @property
    def high(self) -> np.ndarray:
        """Upper ends of the prior ranges, shape (parameters,), in each field's unit."""
        return np.array([p.range[1] for p in self.spec.parameters], dtype=float)

    def values(self, theta: np.ndarray) -> dict[str, Any]:
        """Field path -> value (integers rounded) for parameter vector ``theta``."""
        out = {}
        for path, v, is_int in zip(self.paths, theta, self.integer):
            out[path] = int(round(float(v))) if is_int else float(v)
        return out

    def to_unit(self, theta: np.ndarray) -> np.ndarray:
        """``theta`` as fractions of the prior ranges (0 at ``low``, 1 at ``high``), shape (parameters,)."""
        return (np.asarray(theta, float) - self.low) / (self.high - self.low)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Fractions of the prior ranges (clipped to [0, 1]) as parameter values, shape (parameters,)."""
        return self.low + np.clip(np.asarray(u, float), 0.0, 1.0) * (self.high - self.low)


def parameter_name(path: str) -> str:
    """A short column name for a field path: ``brands.BMW.prestige`` -> ``BMW.prestige``."""
    try:
        parts = split_path(path)
    except ValueError:
        return path
    if parts[:1] == ["brands"] and len(parts) >= 3:
        return join_path(parts[1:])
    if parts[:2] == ["market", "segments"] and len(parts) >= 4:
        return join_path(parts[2:])
    return path


OPTION_FIELDS = {"max_evaluations": ("optimiser", "max_evaluations")}  # an override's spec field, if not its name


def resolve_calibration(name: str | Path) -> Path:
    """The calibration file ``name`` (a path, or a name in ``scenarios/calibration/``).

    Raises:
        ScenarioError: no such file (:func:`sim.scenario_files.resolve_path`).
    """
    return resolve_path(name, folder=CALIBRATION_DIR, kind="calibration")


def load_calibration(name: str | Path, overrides: dict[str, Any] | None = None) -> Problem:
    """Read and validate a calibration file and its base scenario into the :class:`Problem` to fit.

    Args:
        name: a path, or a name in ``scenarios/calibration/`` (``"lexus_us_1989"``).
        overrides: spec fields set from the command line (``buyers``, ``replications``, ``max_evaluations``, the
            last going to ``[optimiser]``); None values are ignored. A bad one is named by its option
            (``--buyers: Input should be greater than or equal to 500 (got 200)``), not by the file.

    Returns:
        The problem: the spec, the base scenario as a raw dict (its ``set`` applied, ``market.years`` cut at
        ``end_year``), the targets inside the window (minus ``exclude``), which parameters are integers, and
        where the search starts (each parameter's ``start`` or the base scenario's value).

    Raises:
        ScenarioError: one line per problem naming the file, the field and the reason: no such file, bad TOML,
            a schema error, a path that is not a numeric scenario field, a range end the scenario rejects, an
            ``end_year`` before the start, an unknown excluded target, a bad base scenario, or one whose market the
            reference data do not describe (``sim.moments.coverage``).
    """
    path = resolve_calibration(name)
    source = str(path)
    raw = read_toml(path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    options = {OPTION_FIELDS.get(k, (k,)): "--" + k.replace("_", "-") for k in overrides}  # spec field -> option
    if "max_evaluations" in overrides:  # the command line's --max-evaluations belongs to [optimiser]
        optimiser = raw.setdefault("optimiser", {})
        value = overrides.pop("max_evaluations")
        if isinstance(optimiser, dict):  # (if not, the file's optimiser is refused below)
            optimiser["max_evaluations"] = value
    raw.update(overrides)
    try:
        spec = CalibrationSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([_spec_problem(err, source, options) for err in exc.errors()]) from None

    base = base_scenario(spec, source)
    start_year = base["market"]["start_year"]
    if spec.end_year < start_year:
        raise ScenarioError([f"{source}: end_year: must not be before the scenario's start_year {start_year} "
                             f"(got {spec.end_year})"])
    base = set_values(base, {"market.years": spec.end_year - start_year + 1})
    try:
        scenario = validate(base, "<end_year>")
    except ScenarioError as exc:
        raise ScenarioError([f"{source}: end_year: {spec.end_year} is too late for the scenario (from {start_year}): "
                             + line.removeprefix("<end_year>: ") for line in exc.problems]) from None
    why = moments.coverage(scenario)
    if why is not None:
        raise ScenarioError([f"{source}: scenario: {spec.scenario} cannot be calibrated to the reference data: {why}"])

    problems, integer, start, current_values = [], [], [], []
    for k, p in enumerate(spec.parameters):
        where = f"{source}: parameters[{k}].path"
        try:
            current = field_value(scenario, p.path)
        except KeyError as exc:
            problems.append(f"{where}: {exc.args[0]}")
            integer.append(False), start.append(float("nan"))
            continue
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            problems.append(f"{where}: {p.path} is not a number (got {current!r})")
            integer.append(False), start.append(float("nan"))
            continue
        integer.append(isinstance(current, int))
        start.append(float(current) if p.start is None else float(p.start))
        current_values.append(float(current))
        for end, label in ((p.range[0], "low"), (p.range[1], "high")):
            try:
                validate(set_values(base, {p.path: int(round(end)) if isinstance(current, int) else end},
                                    f"{source}: "), source)
            except ScenarioError as exc:
                reason = exc.problems[0].split(": ", 2)[-1]
                problems.append(f"{source}: parameters[{k}].range: the {label} end {end:g} is not a valid "
                                f"{p.path}: {reason}")
    if problems:
        raise ScenarioError(problems)

    ts = [t for t in moments.targets(list(scenario.brands))
          if t.name not in spec.exclude and t.kind not in spec.exclude]
    # moments of years before the run starts or after end_year cannot be simulated: not targets here
    ts = [t for t in ts if t.year is None or start_year <= t.year <= spec.end_year]
    unknown = [x for x in spec.exclude
               if not any(x in (t.name, t.kind) for t in moments.targets(list(scenario.brands)))]
    if unknown:
        names = [t.name for t in moments.targets(list(scenario.brands))]
        hint = difflib.get_close_matches(unknown[0], names, n=1)
        raise ScenarioError([f"{source}: exclude: unknown target {unknown[0]!r}"
                             + (f" (did you mean '{hint[0]}'?)" if hint else "")])
    return Problem(spec, source, base, ts, np.array(integer), np.array(start), np.array(current_values))


def _spec_problem(error: dict, source: str, options: dict[tuple, str]) -> str:
    """One line for a schema error, ``SOURCE: field: reason``; a value given on the command line is named by its
    option (``options``: spec field -> option), ``--buyers: reason``, not by the file that does not hold it."""
    line = explain_error(error, source, CalibrationSpec)
    option = options.get(tuple(error["loc"]))
    return line if option is None else f"{option}: {line.removeprefix(f'{source}: {join_path(error['loc'])}: ')}"


def base_scenario(spec: CalibrationSpec, source: str) -> dict:
    """The calibration's (or an optimisation's: any spec with ``scenario`` and ``set``) base scenario as a raw dict
    with its ``set`` applied, validated. Every problem is the input file's, naming its field: ``SOURCE: scenario:
    ...`` (no such file, or the scenario file's own problem) or ``SOURCE: set: ...`` (an override that does not
    apply)."""
    try:
        scenario_path = resolve_path(spec.scenario)
        base = read_raw(scenario_path)
        base.setdefault("name", scenario_path.stem)
        base.pop("extends", None)
        validate(base, str(scenario_path))
    except ScenarioError as exc:
        raise ScenarioError([f"{source}: scenario: {line}" for line in exc.problems]) from None
    try:
        base = apply_overrides(base, spec.set)
        validate(base, "<set>")
    except ScenarioError as exc:
        raise ScenarioError([f"{source}: set: {line.removeprefix('<set>: ').removeprefix('--set ')}"
                             for line in exc.problems]) from None
    return base


def field_value(scenario, path: str) -> Any:
    """The value of the field at ``path`` in a validated scenario.

    Raises:
        KeyError: one line: no such field (with "did you mean"), or a path through a value that has no fields.
    """
    node: Any = scenario
    done = []
    try:
        keys = split_path(path)
    except ValueError as exc:
        raise KeyError(str(exc)) from None
    for key in keys:
        if isinstance(node, dict):
            if key not in node:
                hint = difflib.get_close_matches(key, list(node), n=1)
                raise KeyError(f"no {join_path(done + [key])} in the scenario"
                               + (f" (did you mean '{hint[0]}'?)" if hint else ""))
            node = node[key]
        elif isinstance(node, BaseModel):
            fields = list(type(node).model_fields)
            if key not in fields:
                hint = difflib.get_close_matches(key, fields, n=1)
                raise KeyError(f"unknown field {join_path(done + [key])}"
                               + (f" (did you mean '{hint[0]}'?)" if hint else ""))
            node = getattr(node, key)
        else:
            raise KeyError(f"{join_path(done)} has no fields")
        done.append(key)
    return node
