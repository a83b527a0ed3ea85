"""Scenario files: finding them, reading them (with ``extends``), ``--set`` overrides, and errors that say where.

The schema (what a scenario *is*: :class:`sim.scenario.Scenario` and its sections) is in :mod:`sim.scenario`;
this module is how a scenario gets from a file, or a raw dict, to a validated :class:`~sim.scenario.Scenario`.
Named ``scenario_files`` after the project's ``<concept>_<aspect>`` modules (``sweep_folder``, ``run_report``,
``app_state``): the scenario concept, its files aspect. The finder (:func:`resolve_path`), the reader
(:func:`read_toml`), the field paths (:func:`split_path`, :func:`join_path`) and the error lines
(:func:`explain_error`) serve the other TOML inputs too (experiments in :mod:`sim.experiment`, calibrations in
:mod:`sim.calibration_problem`).

Entry points: :func:`load_scenario` (a file by name or path, with ``--set`` overrides), :func:`validate` (a raw
dict, e.g. a design point of a sweep), :func:`read_raw` (a file with its ``extends`` chain merged, not
validated: tables key by key, timelines by date, model lines by name, ``replace = [...]`` for a whole value),
:func:`apply_overrides` and :func:`set_values` (dotted-path changes to a raw dict before validating it),
:func:`set_fields` and :func:`with_fields` (keyword field paths with Python values: a model's keyword arguments),
:func:`parse_override` (one ``--set`` text), :func:`resolve_path` (find a TOML file), :func:`read_toml` (UTF-8,
with or without a byte-order mark), :func:`split_path` and :func:`join_path` (``brands."Mercedes.Benz".dealers``),
:func:`date_warnings` (dates outside the run, issued by :func:`load_scenario` as :class:`ScenarioWarning`),
:func:`scenario_toml` (a resolved scenario as a file :func:`load_scenario` reads back: what ``explain`` prints),
:func:`explain_error` and :func:`field_names` (one line per pydantic error, with 'did you mean').
:data:`SCENARIO_DIR` is the scenario library (``scenarios/``).

Bad input raises :class:`ScenarioError`, one line per problem, each of the form ``SOURCE: field.path: reason``,
e.g. ``scenarios/x.toml: brands.Lexus.service.loaner_carz: unknown field (did you mean 'loaner_cars'?)``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
import warnings
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin, is_typeddict

import numpy as np
import tomli_w
from pydantic import BaseModel, ValidationError

from sim.scenario import YEAR_MONTH, FieldError, Scenario, ServiceLevers, year_month_index

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """Bad scenario input: one line per problem, each naming the file, the field path and the reason.

    ``problems`` holds the lines (``str(error)`` joins them with newlines), each of the form
    ``SOURCE: field.path: reason`` and each one line whatever the input held (:func:`one_line`); the command
    line prints one per line and exits with code 2.
    """

    def __init__(self, problems: list[str]):
        self.problems = [one_line(problem) for problem in problems]
        super().__init__("\n".join(self.problems))


CONTROL_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")  # what may break a line or drive a terminal (or reorder it: U+202E)


def one_line(text: str) -> str:
    """``text`` with its control and format characters (line breaks, tabs, terminal escapes, bidi overrides) written
    as escapes (``\\n``, ``\\u202e``): a name or a ``--set`` text holding one stays on its problem's line."""
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in CONTROL_CATEGORIES else c
                   for c in text)


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


def read_toml(path: Path) -> dict:
    """A TOML file as a dict: UTF-8 text, with or without a byte-order mark (as some Windows editors save it).

    The one reader of luxsim's input files (scenarios, experiments, calibrations).

    Raises:
        ScenarioError: one line naming the file and the reason: it cannot be read, it is not UTF-8 text (the
            line of the first bad byte), or it is not valid TOML (tomllib's reason, with its line and column).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read the file: {exc.strerror or exc}"]) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ScenarioError([f"{path}: not UTF-8 text (it is UTF-16): save the file as UTF-8"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError([f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save the file "
                             "as UTF-8"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{path}: not valid TOML: {exc}"]) from None


BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")  # a key TOML (and a field path) writes without quotes


def split_path(path: str) -> list[str]:
    """A dotted field path as its parts; a part in quotes is one part, dots and all, as in TOML's dotted keys.

    ``brands."Mercedes.Benz".dealers`` -> ``["brands", "Mercedes.Benz", "dealers"]``. Double-quoted parts take
    TOML's escapes (``\\"``), single-quoted parts are literal; spaces around a part are dropped. A blank path has
    no parts (``[]``). :func:`join_path` writes a path back.

    Raises:
        ValueError: a quote that is not closed, text between a closing quote and the next dot, or an empty part
            (``market..years``, a dot at either end: a typo, never a field).
    """
    if not path.strip():
        return []
    parts: list[str] = []
    i, n = 0, len(path)
    while i <= n:
        while i < n and path[i] in " \t":
            i += 1
        if i < n and path[i] in "\"'":
            quote, j = path[i], i + 1
            while j < n and path[j] != quote:
                j += 2 if quote == '"' and path[j] == "\\" else 1
            if j >= n:
                raise ValueError(f"unclosed {quote} in the field path {path!r}")
            part = path[i + 1: j] if quote == "'" else tomllib.loads(f"v = {path[i: j + 1]}")["v"]
            j += 1
            while j < n and path[j] in " \t":
                j += 1
            if j < n and path[j] != ".":
                raise ValueError(f"expected a dot after the quoted part {path[i: j]} in the field path {path!r}")
            parts.append(part)
        else:
            j = path.find(".", i)
            j = n if j < 0 else j
            if not path[i:j].strip():
                raise ValueError(f"empty part in the field path {path!r} (two dots together, or a dot at one end)")
            parts.append(path[i:j].strip())
        i = j + 1
    return parts


def join_path(parts: list | tuple) -> str:
    """Field path parts as one dotted path, quoting a part that is not a bare TOML key (``Mercedes.Benz``,
    ``Alfa Romeo``): the inverse of :func:`split_path`, used in every error line that names a field."""
    return ".".join(str(p) if BARE_KEY.match(str(p)) else tomli_w.dumps({"k": str(p)})[4:].strip() for p in parts)


MERGE_KEYS = ("date", "year", "name")  # lists of tables merged entry by entry on the first of these all entries have
REPLACE = "replace"  # a table's ``replace = ["key", ...]``: those keys take the child's value whole, not merged


def _merge_key(base: list, override: list) -> str | None:
    """The key two lists of tables are merged on (``date``, ``year`` or ``name``), or None: the child's list wins."""
    entries = [*base, *override]
    if not base or not all(isinstance(e, dict) for e in entries):
        return None
    return next((key for key in MERGE_KEYS if all(key in e for e in entries)), None)


def _merge_list(base: list, override: list, key: str) -> list:
    """The parent's entries, each replaced whole by the child's entries with the same key, then the child's new
    entries; dated entries (``date``, ``year``) sorted by date if the child's own are in order (if not, the list
    is left out of order for the schema to refuse, as it refuses a file's own list out of order)."""
    by_key: dict[Any, list] = {}
    for entry in override:
        by_key.setdefault(_hashable(entry[key]), []).append(entry)
    merged, replaced = [], set()
    for entry in base:
        k = _hashable(entry[key])
        if k in by_key:
            merged += by_key.pop(k)
            replaced.add(k)
        elif k not in replaced:
            merged.append(entry)
    merged += [e for entries in by_key.values() for e in entries]
    if key != "name":
        try:
            dates = [e[key] for e in override]
            if dates == sorted(dates):
                merged.sort(key=lambda e: e[key])  # stable: entries of one date keep their order (and are refused)
        except TypeError:
            pass  # a date of the wrong type: left in place for the schema to refuse
    return merged


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) else repr(value)


def _deep_merge(base: dict, override: dict, source: str, where: tuple = ()) -> dict:
    """``override`` (a child file's table) merged into ``base`` (its parent's), neither modified.

    Tables merge key by key; lists of tables with a ``date``, ``year`` or ``name`` in every entry merge entry by
    entry (:func:`_merge_list`); any other value, and every key the table lists in ``replace``, is the child's.
    The ``replace`` keys are checked and dropped.
    """
    replace = override.get(REPLACE, [])
    here = join_path(where) if where else "(top level)"
    if not isinstance(replace, list) or not all(isinstance(k, str) for k in replace):
        raise ScenarioError([f"{source}: {join_path((*where, REPLACE))}: must be a list of key names of this "
                             f"table, e.g. replace = [\"timeline\"] (got {replace!r})"])
    for key in replace:
        if key not in override or key == REPLACE:
            hint = difflib.get_close_matches(key, [k for k in override if k != REPLACE], n=1)
            raise ScenarioError([f"{source}: {join_path((*where, REPLACE))}: '{key}' is not a key of {here}"
                                 + (f" (did you mean '{hint[0]}'?)" if hint else "")])
    merged = dict(base)
    for key, value in override.items():
        if key == REPLACE:
            continue
        old = merged.get(key) if key not in replace else None
        if isinstance(value, dict):
            merged[key] = _deep_merge(old if isinstance(old, dict) else {}, value, source, (*where, key))
        elif isinstance(value, list) and isinstance(old, list) and (by := _merge_key(old, value)):
            if not value:
                raise ScenarioError([f"{source}: {join_path((*where, key))}: an empty list merges nothing into the "
                                     f"inherited one; to remove the inherited entries, write replace = [\"{key}\"] "
                                     f"in {here}"])
            merged[key] = _merge_list(old, value, by)
        else:
            merged[key] = value
    return merged


def read_raw(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A scenario file as a raw dict with its ``extends`` chain merged in (not validated).

    The child's tables merge into the parent's key by key; lists of dated tables (``timeline``, any list whose
    entries have a ``date`` or a ``year``) merge by date and lists of named tables (``models``) by name, a child
    entry replacing the parent's entry of the same date or name whole; other values are the child's. A table's
    ``replace = ["key", ...]`` makes those keys the child's whole (e.g. ``replace = ["timeline"]`` with
    ``timeline = []`` removes the inherited timeline). ``name``, ``question`` and ``description`` are never
    inherited.

    Raises:
        ScenarioError: not UTF-8 or not valid TOML (:func:`read_toml`), a cycle in ``extends``, a parent file that
            does not exist, a bad ``replace``, or an empty list where it would merge nothing.
    """
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError([f"{path}: extends: cycle in extends ({cycle})"])
    raw = read_toml(path)
    parent = raw.get("extends")
    if parent is None:
        return _deep_merge({}, raw, str(path))
    if not isinstance(parent, str):
        raise ScenarioError([f"{path}: extends: must be a file name string"])
    try:
        parent_path = resolve_path(parent, base=path.parent)
    except ScenarioError as exc:  # the file that names the missing parent, and the field
        raise ScenarioError([f"{path}: extends: {line}" for line in exc.problems]) from None
    inherited = read_raw(parent_path, (*chain, path))
    inherited.pop("name", None)
    inherited.pop("question", None)
    inherited.pop("description", None)
    return _deep_merge(inherited, raw, str(path))


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split one ``--set`` text ``a.b.c=value`` into its field path and its value.

    Args:
        text: ``FIELD.PATH=VALUE``; the path is read by :func:`split_path` (a part in quotes may hold dots or
            ``=``: ``brands."Mercedes.Benz".dealers=3``); the value is read as a TOML value (``true``, ``0.5``,
            ``[24, 36]``, ``"x"``), and a value that is not valid TOML is kept as a bare string.

    Returns:
        ``(["a", "b", "c"], value)``: the path's parts and the Python value.

    Raises:
        ScenarioError: no ``=`` (``--set TEXT: expected FIELD.PATH=VALUE``), an empty path
            (``--set TEXT: empty field path``), an empty part in it (``market..years``) or an unclosed quote.
    """
    quote, cut, escaped = None, -1, False
    for i, char in enumerate(text):  # the first '=' outside quotes (a double-quoted part may escape a quote)
        if escaped:
            escaped = False
        elif quote:
            escaped = quote == '"' and char == "\\"
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "=":
            cut = i
            break
    if cut < 0:
        raise ScenarioError([f"--set {text}: " + (f"unclosed {quote} in the field path" if quote else
                                                  "expected FIELD.PATH=VALUE")])
    key, value_text = text[:cut], text[cut + 1:]
    try:
        keys = split_path(key)
    except ValueError as exc:
        raise ScenarioError([f"--set {text}: {exc}"]) from None
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
                raise ScenarioError([f"{context}{join_path(keys[: n + 1])}: unknown {kind} '{keys[n]}'"
                                     + (f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(table)})")])


def set_values(raw: dict, values: dict[str, Any], context: str = "") -> dict:
    """A copy of the raw scenario with each ``dotted.path`` set to its (Python) value; validate it afterwards.

    Missing intermediate tables are created; ``raw`` itself and its nested tables are not modified. A path
    may change a brand or a segment but never create one (a typo must not add a brand).

    Args:
        raw: a scenario as read from TOML (nested dicts), not yet validated.
        values: ``{"brands.Lexus.price": 35000.0, ...}``, each path read by :func:`split_path` (quote a name
            holding a dot: ``brands."Mercedes.Benz".price``); numpy scalars (a design's values) become Python ones.
        context: prefix of error lines (e.g. ``"--set TEXT: "``).

    Returns:
        The changed copy (unvalidated: pass it to :func:`validate`).

    Raises:
        ScenarioError: a path names a brand or segment the scenario lacks:
            ``CONTEXTbrands.Lexuss: unknown brand 'Lexuss' (did you mean 'Lexus'?)``, reaches into a list
            (``brands.Lexus.models.0.price``: ``CONTEXTbrands.Lexus.models is a list: ...``), or has an unclosed
            quote.
    """
    raw = dict(raw)
    for path, value in values.items():
        try:
            keys = split_path(path)
        except ValueError as exc:
            raise ScenarioError([f"{context}{exc}"]) from None
        _check_named(raw, keys, context)
        if isinstance(value, np.generic):  # numpy scalars (a design's values) as plain Python
            value = value.item()
        node = raw
        for depth, key in enumerate(keys[:-1]):
            child = node.get(key)
            if isinstance(child, list):  # a path names tables' fields, never a list's items
                raise ScenarioError([f"{context}{join_path(keys[: depth + 1])} is a list: a field path cannot reach "
                                     f"its items; set the whole list, or change the item in a scenario file that "
                                     f"extends this one"])
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
        raw = set_values(raw, {join_path(keys): value}, context=f"--set {text}: ")
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


def _walk(model: type[BaseModel], loc: tuple) -> tuple[Any, int | None, tuple | None]:
    """Follow a pydantic error location through ``model``'s annotations.

    Returns:
        ``(annotation, tag, field)``: the annotation at ``loc`` (``None`` where the location leaves the models);
        ``tag``, the index in ``loc`` of a union member's name where the location enters a union of plain values
        (``dealer_capacity = 5.0 | "unlimited"``: pydantic reports one error per member, each under its member's
        name), else ``None``; ``field``, the model and field name holding that union.
    """
    current: Any = model
    owner: tuple | None = None
    for i, part in enumerate(loc):
        if get_origin(current) is dict:  # ``part`` is a key (a brand or segment name): go to the value type
            current = get_args(current)[-1]
            continue
        current = _unwrap(current)
        if isinstance(part, int):
            continue
        if isinstance(current, tuple):  # a union: the discriminated design, pick the member by its kind
            models = [m for m in current if isinstance(m, type) and issubclass(m, BaseModel)]
            if not models:
                return None, i, owner
            current = next((m for m in models if m.model_fields.get("kind")
                            and part in get_args(m.model_fields["kind"].annotation)), None)
            if current is not None:
                continue
            return None, None, None
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None, None, None
            owner = (current.__name__, str(part))
            current = info.annotation
        else:
            return None, None, None
    return current, None, owner


def field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed at ``loc`` in ``model`` (for 'did you mean'); unions are searched by their ``kind``.

    Args:
        model: the pydantic model the location is in (e.g. :class:`Scenario`).
        loc: a pydantic error location without its last part, e.g. ``("brands", "Lexus", "service")``;
            dict keys (brand, segment names) and list indices are stepped over.

    Returns:
        The field names of the model found there, or ``[]`` if the location is not a model.
    """
    current = _unwrap(_walk(model, loc)[0])
    if isinstance(current, tuple):
        return sorted({n for m in current if isinstance(m, type) and issubclass(m, BaseModel) for n in m.model_fields})
    if is_typeddict(current):  # a partial service policy (sim.scenario.LeverChanges)
        return list(current.__annotations__)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


# Fields renamed so that one concept has one name (old name -> new name), for the unknown-field message.
RENAMED_FIELDS = {"quality_weight": "defect_weight"}

DATE_REASON = "must be a date as \"YYYY-MM\" with a month 01-12"  # every YYYY-MM field's (sim.scenario.YearMonth)

# What a text that must match a pattern must be, in words (pattern -> reason): pydantic's line shows the regex.
PATTERN_REASONS = {YEAR_MONTH: DATE_REASON}

# What a field that takes one of several kinds of value must be (model, field -> reason): one line instead of one
# per kind, each named by pydantic's internal name of the kind (``dealer_capacity.constrained-float``).
UNION_REASONS = {
    ("PolicyChange", "dealer_capacity"): "must be a number of cars a dealer delivers a year, above 0 and at most "
                                         "10,000, or \"unlimited\" to lift the limit",
    ("ModelLine", "launch"): f"{DATE_REASON} (the first month on sale), or \"response\" (a line the brand's strategy "
                             "launches when it responds)",
    ("Experiment", "keep_series"): "must be true, false, or a list of brand_year() metrics to keep (e.g. "
                                   "[\"sales_share\", \"profit\"])",
}


def located_errors(errors: list[dict], model: type[BaseModel] = None) -> list[dict]:
    """Pydantic errors as :func:`explain_error` should show them: a rule broken by one field
    (:class:`sim.scenario.FieldError`) located at that field, and the errors of a union of plain values (one per
    kind of value it takes) merged into one at the field, with the reason in :data:`UNION_REASONS` (else the
    kinds' reasons joined by "or").

    Args:
        errors: ``ValidationError.errors()``.
        model: the model validated (default :class:`Scenario`).

    Returns:
        The errors, in order, as new dicts.
    """
    out: list[dict] = []
    unions: dict[tuple, tuple[dict, list[str]]] = {}
    for error in errors:
        error = dict(error)
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            error["loc"], error["msg"] = (*error["loc"], *cause.loc), str(cause)
        _, tag, owner = _walk(model or Scenario, tuple(error["loc"]))
        if tag is None:
            out.append(error)
            continue
        loc = tuple(error["loc"])[:tag]
        reason = re.sub(r"^Value error, ", "", error["msg"])
        if loc in unions:
            unions[loc][1].append(reason)
            continue
        error["loc"] = loc
        error.pop("ctx", None)  # the reason is the union's, not its first kind's (PATTERN_REASONS: not a date's)
        unions[loc] = (error, [reason])
        out.append(error)
        error["msg"] = UNION_REASONS.get(owner)
    for error, reasons in unions.values():
        if error["msg"] is None:
            error["msg"] = " or ".join(dict.fromkeys(reasons))
    return out


def _toml_value(value: Any) -> str:
    """``value`` as written in TOML, for a hint (``...`` for a table or anything tomli_w cannot write inline)."""
    if isinstance(value, dict):
        return "..."
    try:
        return tomli_w.dumps({"x": value}).strip()[len("x = "):]
    except (TypeError, ValueError):
        return "..."


def _one_level_down(model: type[BaseModel], loc: tuple, path: str, value: Any) -> str | None:
    """Where an unknown field at ``loc`` belongs when it is a field of one of its table's own fields (a service lever
    written in a timeline entry rather than in its ``service``, or at the brand's top level), as a hint; else None."""
    name, parent = str(loc[-1]), tuple(loc[:-1])
    homes = [f for f in field_names(model, parent) if name in field_names(model, (*parent, f))]
    if not homes:
        return None
    last = join_path([name])
    here = path[: -len(last)].rstrip(".") if path.endswith(last) else join_path(parent)
    if len(homes) > 1:
        each = [f"each {h} entry" if get_origin(_walk(model, (*parent, h))[0]) is list else h for h in homes]
        return f"{name} is a field of {' and of '.join(each)}, one level down: write it in the one meant"
    home = homes[0]
    table = f"{here}.{join_path([home])}" if here else join_path([home])
    if get_origin(_walk(model, (*parent, home))[0]) is list:  # a field of each entry of a list of tables
        return f"{name} is a field of each {home} entry: write it in a [[{table}]] entry"
    levers = set(field_names(model, (*parent, home))) == set(ServiceLevers.model_fields)
    what = "a service lever" if levers else f"a field of {home}"
    written = f"{name} = {_toml_value(value)}"
    if parent and isinstance(parent[-1], int):  # an entry of a list of tables: an inline table in the entry
        return f"{name} is {what}: write {home} = {{ {written} }} in the {parent[-2]} entry"
    return f"{name} is {what}: write it under [{table}], or as {table}.{written}"


def explain_error(error: dict, source: str, model: type[BaseModel] = None, path: str | None = None) -> str:
    """One line for a pydantic error: the source, the field path and the reason (with 'did you mean').

    Args:
        error: one item of ``ValidationError.errors()`` (or of :func:`located_errors`).
        source: what was read (a file path, ``"<scenario>"`` ...), the line's first part.
        model: the model validated, for the names an unknown field is matched against (default :class:`Scenario`).
        path: the field path to show (default: the error's location, dotted, validator names dropped).

    Returns:
        ``SOURCE: field.path: reason``, with ``(got VALUE)`` for a bad scalar value, ``(did you mean 'x'?)`` for
        an unknown field close to a known one (``(renamed 'x')`` for a field in :data:`RENAMED_FIELDS`), where it
        belongs for an unknown field that is a field one level down (a service lever written in a timeline entry
        rather than in its ``service = { ... }``), and ``(top level)`` for an error about the whole document.
    """
    loc = tuple(error["loc"])
    if path is None:
        path = join_path([p for p in loc if not str(p).startswith("function-")])
    if error["type"] == "extra_forbidden":
        known = field_names(model or Scenario, loc[:-1])
        renamed = RENAMED_FIELDS.get(str(loc[-1]))
        hint = [renamed] if renamed in known else difflib.get_close_matches(str(loc[-1]), known, n=1)
        down = None if renamed in known else _one_level_down(model or Scenario, loc, path, error.get("input"))
        reason = "unknown field" + (f" (renamed '{renamed}')" if renamed in known else f": {down}" if down else
                                    f" (did you mean '{hint[0]}'?)" if hint else "")
    else:
        pattern = (error.get("ctx") or {}).get("pattern") if error["type"] == "string_pattern_mismatch" else None
        reason = PATTERN_REASONS.get(pattern) or re.sub(r"^Value error, ", "", error["msg"])
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
        ScenarioError: one line per pydantic error, ``SOURCE: field.path: reason`` (:func:`explain_error`); an
            entry of a dated or named list is named by its date or name, ``brands.Lexus.timeline[1995-01].service``,
            ``brands.Lexus.models[RX].price`` (its index may not be its place in any one file, after ``extends``).
    """
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError([explain_error(err, source, path=_error_path(err["loc"], raw))
                             for err in located_errors(exc.errors())]) from None


def _error_path(loc: tuple, raw: Any) -> str:
    """An error's field path, each index into a list of dated or named tables shown as the entry's date or name."""
    text, node = "", raw
    for part in loc:
        if str(part).startswith("function-"):
            continue
        if isinstance(part, int) and isinstance(node, list):
            entry = node[part] if 0 <= part < len(node) else None
            key = next((k for k in MERGE_KEYS if isinstance(entry, dict) and isinstance(entry.get(k), (str, int))
                        and not isinstance(entry.get(k), bool)), None)
            text += f"[{entry[key]}]" if key else f".{part}"
            node = entry
            continue
        text += ("." if text else "") + join_path([part])
        node = node.get(part) if isinstance(node, dict) else None
    return text


class ScenarioWarning(UserWarning):
    """A scenario that is valid but says something that will not happen as written (a date outside the run).

    :func:`load_scenario` issues one per problem, ``SOURCE: field.path: reason``; the command line prints each
    as one line on stderr and goes on.
    """


AFTER_THE_END = "after the run's last month"  # the phrase of date_warnings' lines about dates past the end


def date_warnings(scenario: Scenario) -> list[str]:
    """What a valid scenario dates outside its run, one ``field.path: reason`` line per brand and field.

    Checked against the run as configured (``market.years`` after any override): a brand launched after the
    last month never sells; a model line launched after it is never sold; a timeline entry after it never
    takes effect, and one before the start takes effect from the start. (Two timeline entries on one date
    are refused by the schema, :class:`sim.scenario.Brand`.)

    Returns:
        The lines, in brand order; empty when every date falls inside the run.
    """
    start, months = scenario.market.start_year, scenario.market.months
    last = f"{start + scenario.market.years - 1}-12"
    lines = []
    for name, brand in scenario.brands.items():
        where = join_path(["brands", name])
        if brand.launch and year_month_index(brand.launch, start) >= months:
            lines.append(f"{where}.launch: {brand.launch} is {AFTER_THE_END} ({last}): the brand never sells")
            continue
        late = [c.date for c in brand.timeline if year_month_index(c.date, start) >= months]
        if late:
            lines.append(f"{where}.timeline: {', '.join(late)} {AFTER_THE_END} ({last}): never in force")
        early = [c.date for c in brand.timeline if year_month_index(c.date, start) < 0]
        if early:
            lines.append(f"{where}.timeline: {', '.join(early)} before the run's start ({start}-01): in force from "
                         "the start")
        unsold = [f"{line.name} ({line.launch})" for line in brand.models if line.launch not in (None, "response")
                  and year_month_index(line.launch, start) >= months]
        if unsold:
            lines.append(f"{where}.models: {', '.join(unsold)} launch {AFTER_THE_END} ({last}): never sold")
    return lines


GROWTH_WARNING_FACTOR = 10.0  # a segment that grows (or shrinks) more than this over the run is worth a word


def growth_warnings(scenario: Scenario) -> list[str]:
    """A ``market.annual_growth: reason`` line when the segment grows more than :data:`GROWTH_WARNING_FACTOR`-fold
    over the run (the simulated buyers, and the run's time and memory, grow with it) or shrinks below its inverse
    (the last years rest on few buyers); empty otherwise."""
    mk = scenario.market
    factor = mk.growth_factor
    if factor > GROWTH_WARNING_FACTOR:
        return [f"market.annual_growth: {mk.annual_growth:.0%} a year for {mk.years} years grows the segment "
                f"{factor:,.0f}-fold: the run simulates, and takes the time and memory of, about that many times "
                "the buyers it starts with"]
    if factor < 1.0 / GROWTH_WARNING_FACTOR:
        return [f"market.annual_growth: {mk.annual_growth:.0%} a year for {mk.years} years shrinks the segment to "
                f"{factor:.1%} of its start: the last years rest on few buyers"]
    return []


def set_fields(raw: dict, values: dict[str, Any]) -> dict:
    """Keyword field paths set to Python values (:func:`set_values`), each error line starting ``PATH=VALUE: ``.

    What ``LuxuryMarketModel(scenario, **values)`` (and so Mesa's ``batch_run``) applies, as ``--set`` applies
    its texts; validate the result afterwards.

    Raises:
        ScenarioError: a path naming a brand or segment the scenario lacks, or with an unclosed quote.
    """
    for path, value in values.items():
        raw = set_values(raw, {path: value}, context=f"{path}={value!r}: ")
    return raw


def with_fields(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """A validated scenario with dotted field paths set to Python values (the scenario itself if there are none).

    Args:
        scenario: a validated scenario.
        values: ``{"brands.Lexus.service.complimentary_maintenance_months": 0, ...}``.

    Returns:
        A new validated :class:`Scenario`.

    Raises:
        ScenarioError: one line per problem (:func:`set_fields`, :func:`validate`), the source
            ``scenario NAME (with keyword fields)``.
    """
    if not values:
        return scenario
    raw = set_fields(scenario.model_dump(mode="json", exclude_none=True), values)
    return validate(raw, f"scenario {scenario.name} (with keyword fields)")


def load_scenario(name: str | Path, overrides: list[str] | None = None,
                  options: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> Scenario:
    """Read, inherit, override and validate a scenario file.

    The file's ``extends`` chain is merged first (:func:`read_raw`: tables key by key, timelines by date, model
    lines by name, ``replace`` for a whole value; ``name``, ``question`` and ``description`` are never
    inherited), ``name`` defaults to the file's stem, then the overrides are applied in order (``overrides``, then
    ``options``) and the result is validated. Dates outside the run (:func:`date_warnings`) are issued as
    :class:`ScenarioWarning`.

    Args:
        name: a path, or a name in ``scenarios/`` (``"lexus_us_1989"``); see :func:`resolve_path`.
        overrides: ``--set`` texts, ``FIELD.PATH=VALUE`` with the value read as TOML
            (``["brands.Lexus.service.loaner_cars=false", "market.years=10"]``).
        options: command-line options that stand for an override, each option to its ``FIELD.PATH=VALUE``
            (``{"--years": "market.years=3"}``): lines about the result name the option, not ``--set``.
        values: field paths set to Python values last (:func:`set_fields`: a model's keyword arguments,
            ``LuxuryMarketModel("lexus_us_1989", **values)``).

    Returns:
        The validated :class:`Scenario`.

    Raises:
        ScenarioError: with one line per problem, each ``SOURCE: field.path: reason``: no such file, a file
            (or one it extends) that is not UTF-8 or not valid TOML, a bad or cyclic ``extends`` or ``replace``, a
            malformed override or one naming an unknown brand or segment (``--set TEXT: ...``), an option setting a
            field a ``--set`` sets too (``--years: market.years is also set by --set ...``), and every schema
            error (the source is then the file's path, with what changed it: `` (with --set overrides)``,
            `` (with --years)``, `` (with --set overrides and --years)``, `` (with keyword fields)``); a keyword
            field naming an unknown brand or segment starts ``PATH=VALUE: ``.
    """
    options = options or {}
    path = resolve_path(name)
    raw = read_raw(path)
    raw.setdefault("name", path.stem)
    raw.pop("extends", None)
    given = (["--set overrides"] if overrides else []) + list(options) + (["keyword fields"] if values else [])
    source = str(path) + (f" (with {' and '.join(given)})" if given else "")
    changed = apply_overrides(raw, overrides or [])
    set_paths = {join_path(parse_override(text)[0]): text for text in overrides or []}
    for option, text in options.items():
        keys, value = parse_override(text)
        if join_path(keys) in set_paths:  # never overwrite a --set silently (a bad one would go unseen)
            raise ScenarioError([f"{option}: {join_path(keys)} is also set by --set {set_paths[join_path(keys)]}: "
                                 f"give one of them"])
        changed = set_values(changed, {join_path(keys): value}, context=f"{option}: ")
    changed = set_fields(changed, values or {})
    scenario = validate(changed, source)
    for line in _summarised(date_warnings(scenario), scenario, raw) + growth_warnings(scenario):
        warnings.warn(f"{source}: {line}", ScenarioWarning, stacklevel=2)  # (dates against the file's own years)
    return scenario


def load_counterfactual(name: str | Path, changes: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Scenario ``name`` with the changes of the scenario file ``changes`` applied on top: what that file itself
    sets (its own tables and values, not those it inherits through ``extends``), merged as a file that extends
    ``name`` would be (:func:`read_raw`), then ``overrides``. A what-if's counterfactual is so the what-if with,
    say, the service-parity file's changes, not the file the parity file happens to extend
    (``validate WHATIF --parity lexus_service_parity``). Named, asked and described as ``changes``. A file that
    extends nothing is a whole scenario, its own counterfactual (:func:`load_scenario`).

    Raises:
        ScenarioError: as :func:`load_scenario`, for either file; schema errors name ``changes`` applied to ``name``.
    """
    path, changes_path = resolve_path(name), resolve_path(changes)
    own = read_toml(changes_path)
    if "extends" not in own:  # a whole scenario, not changes to one: it is its own counterfactual
        return load_scenario(changes_path, overrides)
    meta = {key: own.pop(key) for key in ("question", "description") if key in own}
    own.pop("extends"), own.pop("name", None)
    raw = _deep_merge(read_raw(path), own, str(changes_path))
    for key in ("extends", "question", "description"):
        raw.pop(key, None)
    raw |= meta | {"name": changes_path.stem}
    source = f"{changes_path} (applied to {path}" + (", with --set overrides)" if overrides else ")")
    return validate(apply_overrides(raw, overrides or []), source)


def scenario_toml(scenario: Scenario) -> str:
    """A resolved scenario as a TOML file that :func:`load_scenario` reads back as the same :class:`Scenario`.

    What ``run_sim.py explain`` prints: two comment lines (the name and question, then how to use the text),
    then every field, defaults included (``extends`` resolved, overrides applied, no ``None``). The comments
    are one line each whatever the name or question holds (:func:`one_line`).
    """
    from sim.files import toml_document  # pandas and pyarrow are loaded only when a document is written

    header = (f"# {one_line(scenario.name)}: {one_line(scenario.question)}\n"
              "# The resolved scenario (after extends and --set): saved as a .toml file, it loads as this scenario.\n")
    return header + toml_document(scenario.model_dump(mode="json", exclude_none=True))


def _summarised(lines: list[str], scenario: Scenario, raw: dict) -> list[str]:
    """``date_warnings``' lines, with those about dates after the end in one line when an override shortened the
    run (``--years``, ``--set market.years``): what the file dates later is then expected, not a mistake."""
    file_years = (raw.get("market") or {}).get("years", type(scenario.market).model_fields["years"].default)
    late = [line for line in lines if AFTER_THE_END in line]
    if len(late) < 2 or not isinstance(file_years, int) or scenario.market.years >= file_years:
        return lines
    fields = [line.split(":")[0] for line in late]
    named = ", ".join(fields[:3]) + (f" and {len(fields) - 3} more" if len(fields) > 3 else "")
    last = f"{scenario.market.start_year + scenario.market.years - 1}-12"
    summary = (f"market.years: the run ends {last} ({scenario.market.years} of the file's {file_years} years): "
               f"the dates after it in {named} never take effect")
    return [summary] + [line for line in lines if AFTER_THE_END not in line]
