"""Scenario files: finding them, reading them (with ``extends``), ``--set`` overrides, and errors that say where.

The schema (what a scenario *is*: :class:`sim.scenario.Scenario` and its sections) is in :mod:`sim.scenario`;
this module is how a scenario gets from a file, or a raw dict, to a validated :class:`~sim.scenario.Scenario`.
Named ``scenario_files`` after the project's ``<concept>_<aspect>`` modules (``sweep_folder``, ``run_report``,
``app_state``): the scenario concept, its files aspect. The finder (:func:`resolve_path`) and the error lines
(:func:`explain_error`) serve the other TOML inputs too (experiments in :mod:`sim.experiment`, calibrations in
:mod:`sim.calibration`).

Entry points: :func:`load_scenario` (a file by name or path, with ``--set`` overrides), :func:`validate` (a raw
dict, e.g. a design point of a sweep), :func:`read_raw` (a file with its ``extends`` chain merged, not
validated), :func:`apply_overrides` and :func:`set_values` (dotted-path changes to a raw dict before validating
it), :func:`parse_override` (one ``--set`` text), :func:`resolve_path` (find a TOML file), :func:`explain_error`
and :func:`field_names` (one line per pydantic error, with 'did you mean'). :data:`SCENARIO_DIR` is the scenario
library (``scenarios/``).

Bad input raises :class:`ScenarioError`, one line per problem, each of the form ``SOURCE: field.path: reason``,
e.g. ``scenarios/x.toml: brands.Lexus.service.loaner_carz: unknown field (did you mean 'loaner_cars'?)``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ValidationError

from sim.scenario import Scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """Bad scenario input: one line per problem, each naming the file, the field path and the reason.

    ``problems`` holds the lines (``str(error)`` joins them with newlines), each of the form
    ``SOURCE: field.path: reason``; the command line prints one per line and exits with code 2.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def resolve_path(name: str | Path, base: Path | None = None, folder: Path = SCENARIO_DIR,
                 kind: str = "scenario") -> Path:
    """Find a TOML file by path (relative to ``base``, default the working directory), or by name in ``folder``.

    Tried in order: ``base / name``, ``folder / name``, then both with ``.toml`` added (``lexus_us_1989`` or
    ``lexus_us_1989.toml``); an absolute ``name`` is tried as it is (and with ``.toml``).

    Args:
        name: a path or a bare file name, with or without ``.toml``.
        base: folder a relative ``name`` is taken from first (an ``extends`` resolves from its file's folder).
        folder: the library searched next (default ``scenarios/``).
        kind: what is looked for, for the error line (``"scenario"``, ``"experiment"`` ...).

    Returns:
        The absolute path of the first candidate that is a file.

    Raises:
        ScenarioError: no candidate exists: ``NAME: no such KIND file (did you mean 'x'?)``, the hint being
            the closest file name in ``folder``.
    """
    path = Path(name)
    candidates = [path] if path.is_absolute() else [(base or Path.cwd()) / path, folder / path]
    candidates += [c.with_suffix(".toml") for c in candidates if c.suffix != ".toml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    known = sorted(p.stem for p in folder.glob("*.toml"))
    hint = difflib.get_close_matches(path.stem, known, n=1)
    raise ScenarioError([f"{name}: no such {kind} file" + (f" (did you mean '{hint[0]}'?)" if hint else "")])


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_raw(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A scenario file as a raw dict with its ``extends`` chain merged in (not validated).

    Raises:
        ScenarioError: not valid TOML, a cycle in ``extends``, or a parent file that does not exist.
    """
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError([f"{path}: extends: cycle in extends ({cycle})"])
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: not valid TOML: {exc}"]) from None
    parent = raw.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ScenarioError([f"{path}: extends: must be a file name string"])
    parent_path = resolve_path(parent, base=path.parent)
    inherited = read_raw(parent_path, (*chain, path))
    inherited.pop("name", None)
    inherited.pop("question", None)
    inherited.pop("description", None)
    return _deep_merge(inherited, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split one ``--set`` text ``a.b.c=value`` into its field path and its value.

    Args:
        text: ``FIELD.PATH=VALUE``; the value is read as a TOML value (``true``, ``0.5``, ``[24, 36]``,
            ``"x"``), and a value that is not valid TOML is kept as a bare string.

    Returns:
        ``(["a", "b", "c"], value)``: the path's parts (empty parts dropped) and the Python value.

    Raises:
        ScenarioError: no ``=`` (``--set TEXT: expected FIELD.PATH=VALUE``) or an empty path
            (``--set TEXT: empty field path``).
    """
    if "=" not in text:
        raise ScenarioError([f"--set {text}: expected FIELD.PATH=VALUE"])
    key, _, value_text = text.partition("=")
    keys = [k for k in key.strip().split(".") if k]
    if not keys:
        raise ScenarioError([f"--set {text}: empty field path"])
    try:
        value = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return keys, value


NAMED_TABLES = {("brands",): "brand", ("market", "segments"): "segment"}  # tables keyed by user-chosen names


def _check_named(raw: dict, keys: list[str], context: str) -> None:
    """An override may change a brand or segment but never create one: a typo must not add a brand."""
    for prefix, kind in NAMED_TABLES.items():
        n = len(prefix)
        if tuple(keys[:n]) == prefix and len(keys) > n + 1:
            table = raw
            for key in prefix:
                table = table.get(key, {}) if isinstance(table, dict) else {}
            if keys[n] not in table:
                hint = difflib.get_close_matches(keys[n], list(table), n=1)
                raise ScenarioError([f"{context}{'.'.join(keys[: n + 1])}: unknown {kind} '{keys[n]}'"
                                     + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(table)})")])


def set_values(raw: dict, values: dict[str, Any], context: str = "") -> dict:
    """A copy of the raw scenario with each ``dotted.path`` set to its (Python) value; validate it afterwards.

    Missing intermediate tables are created; ``raw`` itself and its nested tables are not modified. A path
    may change a brand or a segment but never create one (a typo must not add a brand).

    Args:
        raw: a scenario as read from TOML (nested dicts), not yet validated.
        values: ``{"brands.Lexus.price": 35000.0, ...}``; numpy scalars (a design's values) become Python ones.
        context: prefix of error lines (e.g. ``"--set TEXT: "``).

    Returns:
        The changed copy (unvalidated: pass it to :func:`validate`).

    Raises:
        ScenarioError: a path names a brand or segment the scenario lacks:
            ``CONTEXTbrands.Lexuss: unknown brand 'Lexuss' (did you mean 'Lexus'?)``.
    """
    raw = dict(raw)
    for path, value in values.items():
        keys = [k for k in path.split(".") if k]
        _check_named(raw, keys, context)
        if isinstance(value, np.generic):  # numpy scalars (a design's values) as plain Python
            value = value.item()
        node = raw
        for key in keys[:-1]:
            child = node.get(key)
            child = dict(child) if isinstance(child, dict) else {}
            node[key] = child
            node = child
        node[keys[-1]] = value
    return raw


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """``--set`` texts applied in order to a raw scenario (a copy; validate it afterwards).

    Args:
        raw: a scenario as read from TOML, not yet validated.
        overrides: ``FIELD.PATH=VALUE`` texts, the value read as TOML (:func:`parse_override`).

    Returns:
        The changed copy.

    Raises:
        ScenarioError: a malformed text or an unknown brand or segment, the line starting ``--set TEXT: ``
            (:func:`parse_override`, :func:`set_values`).
    """
    for text in overrides:
        keys, value = parse_override(text)
        raw = set_values(raw, {".".join(keys): value}, context=f"--set {text}: ")
    return raw


def _unwrap(tp: Any) -> Any:
    """The model type inside Annotated / Optional / list annotations (a tuple of members for a real union)."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (list, tuple):
            args = get_args(tp)
            tp = args[-1] if args else None
        elif origin is Union or type(tp).__name__ == "UnionType":
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
            else:
                return tuple(members)
        else:
            return tp


def field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed at ``loc`` in ``model`` (for 'did you mean'); unions are searched by their ``kind``.

    Args:
        model: the pydantic model the location is in (e.g. :class:`Scenario`).
        loc: a pydantic error location without its last part, e.g. ``("brands", "Lexus", "service")``;
            dict keys (brand, segment names) and list indices are stepped over.

    Returns:
        The field names of the model found there, or ``[]`` if the location is not a model.
    """
    current: Any = model
    for part in loc:
        if get_origin(current) is dict:  # ``part`` is a key (a brand or segment name): go to the value type
            current = get_args(current)[-1]
            continue
        current = _unwrap(current)
        if isinstance(part, int):
            continue
        if isinstance(current, tuple):  # a union: the discriminated design, pick the member by its kind
            current = next((m for m in current if isinstance(m, type) and issubclass(m, BaseModel)
                            and m.model_fields.get("kind")
                            and part in get_args(m.model_fields["kind"].annotation)), None)
            if current is not None:
                continue
            return []
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, tuple):
        return sorted({n for m in current if isinstance(m, type) and issubclass(m, BaseModel) for n in m.model_fields})
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


# Fields renamed so that one concept has one name (old name -> new name), for the unknown-field message.
RENAMED_FIELDS = {"quality_weight": "defect_weight"}


def explain_error(error: dict, source: str, model: type[BaseModel] = None, path: str | None = None) -> str:
    """One line for a pydantic error: the source, the field path and the reason (with 'did you mean').

    Args:
        error: one item of ``ValidationError.errors()``.
        source: what was read (a file path, ``"<scenario>"`` ...), the line's first part.
        model: the model validated, for the names an unknown field is matched against (default :class:`Scenario`).
        path: the field path to show (default: the error's location, dotted, validator names dropped).

    Returns:
        ``SOURCE: field.path: reason``, with ``(got VALUE)`` for a bad scalar value, ``(did you mean 'x'?)`` for
        an unknown field close to a known one (``(renamed 'x')`` for a field in :data:`RENAMED_FIELDS`), and
        ``(top level)`` for an error about the whole document.
    """
    loc = tuple(error["loc"])
    if path is None:
        path = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
    if error["type"] == "extra_forbidden":
        known = field_names(model or Scenario, loc[:-1])
        renamed = RENAMED_FIELDS.get(str(loc[-1]))
        hint = [renamed] if renamed in known else difflib.get_close_matches(str(loc[-1]), known, n=1)
        reason = "unknown field" + (f" (renamed '{renamed}')" if renamed in known else
                                    f" (did you mean '{hint[0]}'?)" if hint else "")
    else:
        reason = re.sub(r"^Value error, ", "", error["msg"])
        if "input" in error and error["type"] != "missing" and not isinstance(error["input"], (dict, list)):
            reason += f" (got {error['input']!r})"
    return f"{source}: {path or '(top level)'}: {reason}"


def validate(raw: dict, source: str = "<scenario>") -> Scenario:
    """Validate a raw scenario (nested dicts, as read from TOML) into a :class:`Scenario`.

    Args:
        raw: the scenario's tables; ``extends`` must already be resolved (:func:`load_scenario` does it).
        source: names the input in error lines (a file path, a design point ...).

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: one line per pydantic error, ``SOURCE: field.path: reason`` (:func:`explain_error`).
    """
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([explain_error(err, source) for err in exc.errors()]) from None


def load_scenario(name: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, inherit, override and validate a scenario file.

    The file's ``extends`` chain is merged first (tables merged key by key, the child winning; ``name``,
    ``question`` and ``description`` are never inherited), ``name`` defaults to the file's stem, then the
    overrides are applied in order and the result is validated.

    Args:
        name: a path, or a name in ``scenarios/`` (``"lexus_us_1989"``); see :func:`resolve_path`.
        overrides: ``--set`` texts, ``FIELD.PATH=VALUE`` with the value read as TOML
            (``["brands.Lexus.service.loaner_cars=false", "market.years=10"]``).

    Returns:
        The validated :class:`Scenario`.

    Raises:
        ScenarioError: with one line per problem, each ``SOURCE: field.path: reason``: no such file, a file
            (or one it extends) that is not valid TOML, a bad or cyclic ``extends``, a malformed override or one
            naming an unknown brand or segment (``--set TEXT: ...``), and every schema error (the source is then
            the file's path, with `` (with --set overrides)`` when there were any).
    """
    path = resolve_path(name)
    raw = read_raw(path)
    raw.setdefault("name", path.stem)
    raw.pop("extends", None)
    source = str(path) + (" (with --set overrides)" if overrides else "")
    return validate(apply_overrides(raw, overrides or []), source)
