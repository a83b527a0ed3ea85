"""Scenario discovery over a sweep folder: which regions of the inputs (levers and uncertainties) lead to an outcome.

``run_sim.py discover SWEEP_DIR --where "lexus_cum_profit_1995 < 0"`` takes a finished (or partly finished) sweep
(``sim.sweep``), marks each run whose outputs meet the condition (a pandas expression over the sweep's columns:
its outputs, and its inputs too) as a *case of interest*, and asks which boxes of the input space hold them:

* PRIM (the Patient Rule Induction Method: Friedman & Fisher 1999; as used for scenario discovery by Bryant &
  Lempert 2010), the EMA Workbench's implementation (``ema_workbench.analysis.prim``): it peels the input space
  a few percent at a time toward the cases of interest, giving a *peeling trajectory* of ever smaller, denser
  boxes. Of each trajectory this module keeps the box with the best balance of *coverage* (the share of all the
  cases of interest that the box holds) and *density* (the share of the runs in the box that are cases of
  interest): the highest harmonic mean of the two among boxes of density at least ``min_density`` (or, if none
  reaches it, the densest). Then PRIM looks for a further box among the runs outside every box found so far (its
  covering step: Friedman & Fisher's "remove the box's cases, search the rest"), up to ``max_boxes``, as long as
  the new box reaches ``min_density``.
* CART (a scikit-learn decision tree through ``ema_workbench.analysis.cart``, leaves of at least ``mass_min``
  of the runs) as a second view: its rules as text, and the leaves where most runs are cases of interest.

Each box is reported as a sentence a strategist can read: "when the uncertainty wom (word_of_mouth.strength) is
below 0.05 and the lever free_months (...) is above 30 (coverage 82%, density 91%: ...)". Each box is counted on
the cases it was sought among: the first on all of them, box k on those outside boxes 1 to k-1 (its limits, read
over the whole input space, may reach into an earlier box's region; the cases there belong to the earlier box).
So a box's *density* is the share of its cases outside the earlier boxes that are of interest, its *coverage* the
share of all the cases of interest that it adds, and its *mass* the share of all the cases that it adds: over the
boxes, coverages (and masses) add up to at most 100%, as along the EMA Workbench's peeling trajectories. CART's
leaves do not overlap and are counted on all the cases.

``discover(...)`` returns a :class:`Discovery`; ``write_discovery(destination, discovery)`` writes, whole or not at
all: ``boxes.csv`` (one row per box and restricted input: its bounds, role, coverage, density, the cases it was
counted on), ``cart_leaves.csv``, ``trajectory.csv`` and ``trajectory.png`` (coverage against density along each
box's peeling), ``cart.txt``, ``manifest.json`` and ``report.html``. Bad input (no sweep, a damaged one, an
expression naming unknown columns or not a condition, no case of interest, or every run a case of interest) is a
:class:`sim.scenario_files.ScenarioError` raised before anything is written.
"""

from __future__ import annotations

import difflib
import math
import sys
import warnings
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sim.files import atomic_folder, unique_suffix, write_json
from sim.scenario_files import ScenarioError
from sim.sweep_folder import read_manifest, read_outputs

MIN_DENSITY = 0.8  # a box is a finding when at least this share of its runs are cases of interest
MAX_BOXES = 3  # PRIM's covering stops after this many boxes
MASS_MIN = 0.05  # the smallest box (PRIM) or leaf (CART), as a share of the runs (the EMA Workbench's default)
PEEL_ALPHA = 0.05  # the share of the runs peeled off at each PRIM step (the EMA Workbench's default)
PASTE_ALPHA = 0.05
ON = ("runs", "points")
PACKAGES = ("ema_workbench", "scikit-learn", "pandas", "numpy", "matplotlib")


@dataclass
class Box:
    """One PRIM box as chosen from its peeling trajectory (or a CART leaf): ``limits`` (input -> (low, high) for a
    number, inclusive, -inf/inf where unrestricted, or the set of values kept for a boolean or a string) of the
    inputs it restricts, and its statistics on the cases it was counted on: those outside boxes 1 to ``after``
    (the boxes before it; ``after`` = 0 for the first box and for a CART leaf: all the cases).

    ``runs``: cases inside the box among those; ``cases``: cases of interest among its ``runs``; ``density`` =
    cases / runs (NaN for an empty box); ``coverage`` = cases / all the cases of interest; ``mass`` = runs / all
    the cases (shares in [0, 1]); ``sought_among`` and ``interest_among``: the cases outside the earlier boxes
    and the cases of interest among them."""

    number: int
    limits: dict[str, tuple | set]
    coverage: float
    density: float
    mass: float
    runs: int
    cases: int
    trajectory_step: int
    reached_density: bool
    after: int = 0
    sought_among: int | None = None
    interest_among: int | None = None


@dataclass
class Discovery:
    """What :func:`discover` found in a sweep folder (the data, PRIM's boxes and trajectories, CART's rules)."""

    folder: Path
    where: str
    on: str
    inputs: list[dict]  # the sweep's varied columns: name, path, kind, role (lever, uncertainty)
    x: pd.DataFrame
    y: np.ndarray  # bool, one per case
    boxes: list[Box]
    trajectory: pd.DataFrame
    cart_text: str
    cart_leaves: list[Box]
    settings: dict
    manifest: dict = field(repr=False, default_factory=dict)

    @property
    def n_cases(self) -> int:
        """Cases (runs, or design points with ``on="points"``)."""
        return len(self.y)

    @property
    def n_interest(self) -> int:
        """Cases of interest (meeting ``where``)."""
        return int(self.y.sum())

    def sentence(self, box: Box) -> str:
        """The box as a sentence: "when the uncertainty wom (word_of_mouth.strength) is below 0.05 and ...
        (coverage 82%, density 91%)"."""
        return f"{describe(box.limits, self.inputs)} ({_stats_text(box)})"

    def summary_lines(self) -> list[str]:
        """The terminal summary: the cases, each box as a sentence, CART's leaves."""
        what = "runs" if self.on == "runs" else "design points (means over replications)"
        lines = [f"{self.n_interest:,} of {self.n_cases:,} {what} ({self.n_interest / self.n_cases:.0%}) meet: "
                 f"{self.where}"]
        lines.append("PRIM boxes, each sought and counted among the cases outside the boxes before it (coverage: "
                     "the share of all the cases that meet it that the box adds; density: the share of the box's "
                     "cases, outside earlier boxes, that meet it):")
        for box in self.boxes:
            flag = "" if box.reached_density else f" [density below {self.settings['min_density']:.0%}: a weak box]"
            lines.append(f"  {box.number}. {self.sentence(box)}{flag}")
        if len(self.boxes) > 1:
            held = sum(box.cases for box in self.boxes)
            lines.append(f"  Together the {len(self.boxes)} boxes hold {held:,} of the {self.n_interest:,} cases that "
                         f"meet it ({held / self.n_interest:.0%}), in {sum(box.runs for box in self.boxes):,} of the "
                         f"{self.n_cases:,} cases")
        if self.cart_leaves:
            lines.append("CART leaves where most cases meet it:")
            lines += [f"  - {self.sentence(leaf)}" for leaf in self.cart_leaves]
        else:
            lines.append("CART: no leaf where most cases meet it")
        return lines


# ---- reading the sweep and the condition ------------------------------------------------------------------------
def load_cases(folder: Path, where: str, on: str = "runs") -> tuple[dict, list[dict], pd.DataFrame, np.ndarray]:
    """(manifest, inputs, x, y) of a sweep folder: the inputs (varied columns, each with its role) per finished ok
    run (or, ``on="points"``, per design point with its outputs averaged over the replications) and whether each
    meets ``where``.

    Raises:
        ScenarioError: one line: not a sweep folder, a damaged one, no finished run, ``on`` unknown, or an
            expression that is not a condition on the sweep's columns, or that no case or every case meets.
    """
    folder = Path(folder)
    if on not in ON:
        raise ScenarioError([f"--on: expected runs or points, got {on!r}"])
    if not folder.is_dir():
        raise ScenarioError([f"{folder}: no such sweep folder"])
    manifest = read_manifest(folder)
    inputs = [{"name": p["name"], "path": p["path"], "kind": p["kind"], "role": p.get("role", "lever")}
              for p in manifest["design"]["parameters"]]
    names = [p["name"] for p in inputs]
    outputs = [o["name"] for o in manifest["experiment"]["outputs"]]
    runs = read_outputs(folder)
    runs = runs[runs["status"] == "ok"]
    if runs.empty:
        raise ScenarioError([f"{folder}: no finished run to discover from"])
    if on == "points":
        runs = runs.groupby("point", sort=True).agg({**{n: "first" for n in names}, **{o: "mean" for o in outputs},
                                                     "replication": "size"}).reset_index()
    table = runs[["point", "replication", *names, *outputs]].reset_index(drop=True)
    y = condition(table, where, what="design points" if on == "points" else "runs")
    x = table[names].copy()
    for p in inputs:  # numbers peel, booleans and strings are categories; whole numbers go as floats, since the EMA
        # Workbench writes bounds between them (34.5) into its boxes, which pandas 3 refuses for an int64 column
        x[p["name"]] = x[p["name"]].astype({"int": np.float64, "float": np.float64, "bool": object,
                                            "str": object}[p["kind"]])
    return manifest, inputs, x, y


def condition(table: pd.DataFrame, where: str, what: str = "runs") -> np.ndarray:
    """Whether each row of ``table`` meets ``where``, a pandas expression over its columns (``DataFrame.eval``:
    comparisons, ``and``/``or``/``not``, arithmetic, backticks around odd names). A row where a compared value is
    NaN does not meet a comparison.

    Raises:
        ScenarioError: one line naming --where and the reason: empty, not valid, an unknown column (with the
            closest known name), not a condition (true or false per row), met by no row or by every row.
    """
    text = where.strip()
    if not text:
        raise ScenarioError(["--where: empty; give a condition on the sweep's outputs, e.g. "
                             "--where \"lexus_cum_profit < 0\""])
    columns = [c for c in table.columns]
    if "@" in text:
        raise ScenarioError([f"--where {where!r}: '@' (a Python variable) is not allowed: use the sweep's columns "
                             f"and numbers ({', '.join(columns)})"])
    try:
        result = table.eval(text, engine="python")
    except pd.errors.UndefinedVariableError as exc:
        name = str(exc).split("'")[1] if "'" in str(exc) else str(exc)
        hint = difflib.get_close_matches(name, columns, n=1)
        raise ScenarioError([f"--where {where!r}: unknown column {name!r}"
                             + (f" (did you mean '{hint[0]}'?)" if hint else "")
                             + f" (known: {', '.join(columns)})"]) from None
    except SyntaxError as exc:
        raise ScenarioError([f"--where {where!r}: not a valid expression ({exc.msg})"]) from None
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds for a bad expression: one line, the reason
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError([f"--where {where!r}: cannot be evaluated ({reason})"]) from None
    if not isinstance(result, pd.Series) or result.dtype != bool or len(result) != len(table):
        raise ScenarioError([f"--where {where!r}: not a condition (true or false for each of the {what}); compare "
                             "an output with a value, e.g. --where \"lexus_cum_profit < 0\""])
    y = result.to_numpy(dtype=bool)
    if not y.any():
        raise ScenarioError([f"--where {where!r}: none of the {len(y):,} {what} meets it: nothing to discover"])
    if y.all():
        raise ScenarioError([f"--where {where!r}: every one of the {len(y):,} {what} meets it: no region of the "
                             "inputs sets them apart"])
    return y


# ---- PRIM and CART -----------------------------------------------------------------------------------------------
def _ema():
    """The EMA Workbench's PRIM and CART modules, imported on first use (its import is slow, and it warns that
    ipyparallel, which luxsim does not use, is not installed: that one warning is silenced)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ipyparallel not installed", category=UserWarning)
        from ema_workbench.analysis import cart, prim
    return prim, cart


def in_box(x: pd.DataFrame, limits: dict) -> np.ndarray:
    """Which rows of ``x`` lie in a box (``limits``: input -> (low, high), inclusive, or a set of values)."""
    inside = np.ones(len(x), dtype=bool)
    for name, lim in limits.items():
        column = x[name]
        if isinstance(lim, set):
            inside &= column.isin(lim).to_numpy()
        else:
            inside &= ((column >= lim[0]) & (column <= lim[1])).to_numpy()
    return inside


def restricted(box: pd.DataFrame, init: pd.DataFrame) -> dict[str, tuple | set]:
    """The inputs a box (an EMA Workbench box: rows 0 and 1 the lower and upper limits, a set for a category)
    restricts against the whole space ``init``, as input -> (low, high) or the set of values kept. A number's
    unrestricted end is -inf or +inf."""
    out: dict[str, tuple | set] = {}
    for name in box.columns:
        low, high = box.loc[0, name], box.loc[1, name]
        if isinstance(low, set):
            if low != init.loc[0, name]:
                out[name] = set(low)
            continue
        lo = float(low) if low > init.loc[0, name] else -math.inf
        hi = float(high) if high < init.loc[1, name] else math.inf
        if lo != -math.inf or hi != math.inf:
            out[name] = (lo, hi)
    return out


def _stats(number: int, limits: dict, x: pd.DataFrame, y: np.ndarray, step: int, min_density: float,
           among: np.ndarray | None = None, after: int = 0) -> Box:
    """The :class:`Box` of ``limits`` counted on the cases ``among`` (bool, one per row of ``x``; default all of
    them), those outside the ``after`` boxes before it: density over its cases there, coverage and mass as shares of
    all the cases of interest and of all the cases (so that they add up over disjoint counts)."""
    among = np.ones(len(y), dtype=bool) if among is None else among
    inside = in_box(x, limits) & among
    runs, cases = int(inside.sum()), int(y[inside].sum())
    density = cases / runs if runs else math.nan
    return Box(number, limits, cases / y.sum(), density, runs / len(y), runs, cases, step,
               bool(runs and density >= min_density), after, int(among.sum()), int(y[among].sum()))


def choose_step(trajectory: pd.DataFrame, min_density: float) -> int:
    """The row of a peeling trajectory to keep: the highest harmonic mean of coverage and density among the rows of
    density at least ``min_density``; if none reaches it, the densest row (ties: the higher coverage)."""
    t = trajectory.reset_index(drop=True)
    cov, den = t["coverage"].to_numpy(dtype=float), t["density"].to_numpy(dtype=float)
    dense = den >= min_density
    if dense.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(dense, 2 * cov * den / (cov + den), -1.0)
        return int(np.nanargmax(f1))
    order = np.lexsort((-cov, -den))  # densest first, then the higher coverage
    return int(order[0])


def prim_boxes(x: pd.DataFrame, y: np.ndarray, max_boxes: int = MAX_BOXES, min_density: float = MIN_DENSITY,
               mass_min: float = MASS_MIN) -> tuple[list[Box], pd.DataFrame]:
    """PRIM's boxes (the EMA Workbench's ``Prim``, its covering: each box is sought among the cases outside every
    box before it) and their peeling trajectories.

    Args:
        x: the inputs, n rows (one per case; its index is ignored) by the inputs (numbers peel; booleans and
            strings, as objects, are categories).
        y: bool, shape (n,), whether each case is of interest (at least one).
        max_boxes: boxes sought at most; the first is always kept, a later one only if it reaches ``min_density``
            on the cases it was sought among; the search stops early when no case of interest is left outside
            the boxes.
        min_density: see :func:`choose_step`.
        mass_min: the smallest box PRIM peels to, as a share of all the cases.

    Returns:
        (boxes, trajectory): each box (:class:`Box`) counted on the cases it was sought among, those outside the
        boxes before it, so that no case counts in two boxes and the coverages add up to at most 1; the
        trajectories, one row per step (box, step, coverage, density, mass, res_dim, chosen), each box's on the
        same cases and with the same denominators (its chosen row has the box's coverage, density and mass).
    """
    prim, _ = _ema()
    x = x.reset_index(drop=True)  # the EMA Workbench takes the index for row positions
    y = np.asarray(y, dtype=bool)
    with warnings.catch_warnings():  # the EMA Workbench 3.0 calls DataFrame.drop(inplace=True): pandas 3 deprecates it
        warnings.filterwarnings("ignore", message="The inplace keyword", module="ema_workbench")
        finder = prim.Prim(x, y.astype(np.int64), peel_alpha=PEEL_ALPHA, paste_alpha=PASTE_ALPHA, mass_min=mass_min)
    boxes, trajectories = [], []
    outside = np.ones(len(y), dtype=bool)  # the cases in no box so far: where the next box is sought and counted
    for number in range(1, max_boxes + 1):
        if not y[outside].any():
            break
        found = finder.find_box()  # peels the cases outside the boxes it has found (finder.yi_remaining)
        if found is None:
            break
        t = found.peeling_trajectory.reset_index(drop=True)
        step = choose_step(t, min_density)
        found.select(step)  # the cases the finder removes before its next box: this box's among those outside
        box = _stats(number, restricted(found.box_lims[step], finder.box_init), x, y, step, min_density,
                     among=outside.copy(), after=number - 1)
        if number > 1 and not box.reached_density:
            break
        boxes.append(box)
        outside &= ~in_box(x, box.limits)
        trajectories.append(pd.DataFrame({"box": number, "step": np.arange(len(t)), "coverage": t["coverage"],
                                          "density": t["density"], "mass": t["mass"], "res_dim": t["res_dim"],
                                          "chosen": np.arange(len(t)) == step}))
    return boxes, pd.concat(trajectories, ignore_index=True)


def cart_view(x: pd.DataFrame, y: np.ndarray, min_density: float = 0.5, mass_min: float = MASS_MIN
              ) -> tuple[str, list[Box]]:
    """CART as a second view: (the tree's rules as text, the leaves where at least ``min_density`` of the cases are
    of interest, most cases of interest first). The tree is scikit-learn's ``DecisionTreeClassifier`` (leaves of at
    least ``mass_min`` of the cases, ``random_state=0``: the same tree every time) through the EMA Workbench's
    ``CART``, which turns leaves into boxes."""
    from sklearn.tree import DecisionTreeClassifier, export_text

    _, cart = _ema()
    x = x.astype({name: np.float64 for name in x.columns if x[name].dtype.kind in "iu"})  # as in load_cases
    model = cart.CART(x, y.astype(np.int64), mass_min=mass_min)
    model.clf = DecisionTreeClassifier(min_samples_leaf=max(1, int(mass_min * len(x))), random_state=0)
    model.clf.fit(model._x, model.y)
    text = export_text(model.clf, feature_names=[str(f) for f in model.feature_names],
                       class_names=["not of interest", "of interest"], show_weights=True)
    leaves = []
    for limits in leaf_limits(model.clf, [str(f) for f in model.feature_names], model.sep, x):
        leaf = _stats(0, limits, x, y, -1, min_density)
        if leaf.reached_density:
            leaves.append(leaf)
    leaves.sort(key=lambda b: -b.cases)
    return text.replace(model.sep, " = "), leaves


def leaf_limits(tree, features: list[str], sep: str, x: pd.DataFrame) -> list[dict[str, tuple | set]]:
    """Each leaf of a fitted scikit-learn tree as box limits over ``x``'s columns (the form :func:`in_box` takes):
    a number's split ``<= t`` bounds it above by t, ``> t`` below (just above t: its lower end is the smallest value
    of ``x`` above t); a category's dummy ``name<sep>value`` keeps (``> 0.5``) or drops (``<= 0.5``) that value.
    The EMA Workbench's own ``CART.boxes`` skips the kept-value side of a category, so it is not used."""
    t = tree.tree_
    out = []

    def walk(node: int, limits: dict) -> None:
        if t.children_left[node] == -1:
            out.append(limits)
            return
        feature, threshold = features[t.feature[node]], float(t.threshold[node])
        name, _, value = feature.partition(sep)
        if value:  # a category's dummy
            kept = limits.get(name, set(x[name].map(str)))
            walk(t.children_left[node], limits | {name: kept - {value}})
            walk(t.children_right[node], limits | {name: kept & {value}})
            return
        low, high = limits.get(name, (-math.inf, math.inf))
        walk(t.children_left[node], limits | {name: (low, min(high, threshold))})
        above = x[name][x[name] > threshold]
        walk(t.children_right[node], limits | {name: (max(low, float(above.min()) if len(above) else threshold),
                                                      high)})

    walk(0, {})
    cleaned = []
    for limits in out:  # a category's values back to the column's own (True, not 'True'), all of them: no limit
        fixed = {}
        for name, lim in limits.items():
            if isinstance(lim, set):
                values = {v for v in x[name].unique() if str(v) in lim}
                if values != set(x[name].unique()):
                    fixed[name] = values
            else:
                fixed[name] = lim
        cleaned.append(fixed)
    return cleaned


# ---- words -------------------------------------------------------------------------------------------------------
def _number(v: float, kind: str) -> str:
    return f"{v:,.0f}" if kind == "int" and float(v).is_integer() else f"{v:.4g}"


def describe(limits: dict, inputs: list[dict]) -> str:
    """A box's limits as words: "when the uncertainty wom (word_of_mouth.strength) is below 0.05 and the lever
    free_months (brands.Lexus.service.complimentary_maintenance_months) is between 12 and 30"; "everywhere (no
    input restricted)" for a box that restricts nothing."""
    if not limits:
        return "everywhere (no input restricted)"
    meta = {p["name"]: p for p in inputs}
    parts = []
    for name, lim in limits.items():
        p = meta[name]
        who = f"the {p['role']} {name}" + (f" ({p['path']})" if p["path"] != name else "")
        if isinstance(lim, set):
            values = sorted(map(str, lim))
            parts.append(f"{who} is {values[0]}" if len(values) == 1 else f"{who} is one of {', '.join(values)}")
        elif lim[0] == -math.inf:
            parts.append(f"{who} is at most {_number(lim[1], p['kind'])}")
        elif lim[1] == math.inf:
            parts.append(f"{who} is at least {_number(lim[0], p['kind'])}")
        else:
            parts.append(f"{who} is between {_number(lim[0], p['kind'])} and {_number(lim[1], p['kind'])}")
    return "when " + " and ".join(parts)


def _earlier(after: int) -> str:
    """The boxes before a box, in words: "box 1", "boxes 1 and 2", "boxes 1-3"."""
    return "box 1" if after == 1 else "boxes 1 and 2" if after == 2 else f"boxes 1-{after}"


def _stats_text(box: Box) -> str:
    where = f" outside {_earlier(box.after)}" if box.after else ""
    return (f"coverage {box.coverage:.0%}, density {box.density:.0%}: {box.cases:,} of its {box.runs:,} cases{where} "
            "meet it")


# ---- the whole -----------------------------------------------------------------------------------------------------
def discover(folder: str | Path, where: str, on: str = "runs", max_boxes: int = MAX_BOXES,
             min_density: float = MIN_DENSITY, cases: tuple | None = None, before=None) -> Discovery:
    """Scenario discovery over a sweep folder (see the module's docstring).

    Args:
        folder: a sweep folder (``sim.sweep.run_sweep``), finished or not (its finished ok runs are used).
        where: a pandas expression over the sweep's columns (outputs, inputs, ``point``, ``replication``) that
            marks the cases of interest, e.g. ``"lexus_cum_profit_1995 < 0"``.
        on: ``runs`` (each run a case) or ``points`` (each design point a case, its outputs averaged over its
            replications).
        max_boxes: PRIM boxes at most (1 to 10).
        min_density: the density a box should reach (0 to 1).
        cases: :func:`load_cases`'s answer for the same folder, ``where`` and ``on``, if already read.
        before: called once the input is known good, before PRIM runs (the CLI claims its destination there).

    Returns:
        A :class:`Discovery`.

    Raises:
        ScenarioError: bad input, one line (see :func:`load_cases`); nothing is written.
    """
    if not 1 <= max_boxes <= 10:
        raise ScenarioError([f"--boxes: expected 1 to 10, got {max_boxes}"])
    if not 0 < min_density <= 1:
        raise ScenarioError([f"--min-density: expected a share in (0, 1], got {min_density:g}"])
    manifest, inputs, x, y = cases if cases is not None else load_cases(Path(folder), where, on)
    if before is not None:
        before()
    boxes, trajectory = prim_boxes(x, y, max_boxes, min_density)
    cart_text, leaves = cart_view(x, y)
    settings = {"min_density": min_density, "max_boxes": max_boxes, "mass_min": MASS_MIN, "peel_alpha": PEEL_ALPHA,
                "paste_alpha": PASTE_ALPHA, "cart_leaf_density": 0.5}
    return Discovery(Path(folder), where, on, inputs, x, y, boxes, trajectory, cart_text, leaves, settings, manifest)


def default_destination(folder: str | Path, started: datetime) -> Path:
    """``SWEEP_DIR/discovery/<UTC time>-<random>/``: beside the sweep's own analysis, never overwriting."""
    return Path(folder) / "discovery" / f"{started:%Y%m%dT%H%M%SZ}-{unique_suffix()}"


def boxes_table(d: Discovery, boxes: list[Box] | None = None) -> pd.DataFrame:
    """One row per box and restricted input (a box restricting nothing: one row without an input): box, coverage,
    density, mass, runs, cases (see :class:`Box`: counted among the cases outside the boxes before it),
    reached_min_density, after (how many boxes before it), sought_among and interest_among (the cases outside those
    boxes, and the cases of interest among them), input, role, path, low, high (numbers; -inf/inf where
    unrestricted) or values (a category's kept values, ``|``-separated), and the box as a sentence."""
    meta = {p["name"]: p for p in d.inputs}
    rows = []
    for box in d.boxes if boxes is None else boxes:
        common = dict(box=box.number, coverage=box.coverage, density=box.density, mass=box.mass, runs=box.runs,
                      cases=box.cases, reached_min_density=box.reached_density, after=box.after,
                      sought_among=box.sought_among, interest_among=box.interest_among)
        dims = box.limits.items() or [(None, None)]
        for name, lim in dims:
            p = meta.get(name, {})
            rows.append(common | dict(input=name, role=p.get("role"), path=p.get("path"),
                                      low=None if lim is None or isinstance(lim, set) else lim[0],
                                      high=None if lim is None or isinstance(lim, set) else lim[1],
                                      values="|".join(sorted(map(str, lim))) if isinstance(lim, set) else None,
                                      sentence=d.sentence(box)))
    return pd.DataFrame(rows, columns=["box", "coverage", "density", "mass", "runs", "cases", "reached_min_density",
                                       "after", "sought_among", "interest_among", "input", "role", "path", "low",
                                       "high", "values", "sentence"])


def _trajectory_plot(d: Discovery):
    import matplotlib.pyplot as plt

    from sim.figures import style

    with style():
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for number, t in d.trajectory.groupby("box"):
            points = ax.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=18,
                                marker="o" if number == 1 else "s", label=f"box {number}'s peeling")
            chosen = t[t["chosen"]]
            ax.scatter(chosen["coverage"], chosen["density"], s=120, facecolors="none", edgecolors="#c44e52",
                       linewidths=1.5)
            ax.annotate(f"box {number}", (chosen["coverage"].iloc[0], chosen["density"].iloc[0]),
                        xytext=(6, 6), textcoords="offset points", fontsize=9, color="#c44e52")
        fig.colorbar(points, ax=ax, label="restricted inputs")
        ax.axhline(d.settings["min_density"], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("coverage (share of the cases of interest inside the box)")
        ax.set_ylabel("density (share of the box's cases of interest)")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_title("PRIM peeling trajectory (circled: the boxes kept)")
    return fig


def manifest(d: Discovery, started: datetime) -> dict:
    """The discovery's ``manifest.json``: the sweep, the condition, the cases, the settings, the boxes, provenance."""
    from sim.results import git_commit, package_versions

    return {
        "kind": "luxsim-discovery",
        "sweep": str(d.folder),
        "sweep_name": d.manifest.get("name"),
        "where": d.where,
        "on": d.on,
        "cases": d.n_cases,
        "cases_of_interest": d.n_interest,
        "inputs": d.inputs,
        "levers": [p["name"] for p in d.inputs if p["role"] == "lever"],
        "uncertainties": [p["name"] for p in d.inputs if p["role"] == "uncertainty"],
        "settings": d.settings,
        "method": "PRIM (ema_workbench.analysis.prim, covering) and CART (scikit-learn through "
                  "ema_workbench.analysis.cart)",
        "boxes_counted_on": "each box on the cases outside the boxes before it (coverage: share of all the cases "
                            "of interest; mass: share of all the cases)",
        "boxes": [{"box": b.number, "sentence": d.sentence(b), "coverage": b.coverage, "density": b.density,
                   "mass": b.mass, "runs": b.runs, "cases": b.cases, "sought_among": b.sought_among,
                   "interest_among": b.interest_among, "trajectory_step": b.trajectory_step} for b in d.boxes],
        "cart_leaves": [d.sentence(leaf) for leaf in d.cart_leaves],
        "packages": package_versions(PACKAGES),
        "git_commit": git_commit(),
        "command_line": sys.argv,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": ["boxes.csv", "trajectory.csv", "trajectory.png", "cart.txt", "manifest.json", "report.html"],
    }


def write_discovery(destination: str | Path, d: Discovery, started: datetime) -> Path:
    """Write the discovery folder atomically and return it: ``boxes.csv``, ``cart_leaves.csv``, ``trajectory.csv``,
    ``trajectory.png``, ``cart.txt``, ``manifest.json``, ``report.html``.

    Raises:
        FileExistsError: ``destination`` exists (nothing is written); sim.files.WriteError: it cannot be written.
    """
    from sim.figures import png_uri
    from sim.report import cell, head, provenance, render, row, table, write_report

    with atomic_folder(destination) as tmp:
        boxes = boxes_table(d)
        boxes.to_csv(tmp / "boxes.csv", index=False, float_format="%.6g")
        leaves = boxes_table(d, [replace(leaf, number=i + 1) for i, leaf in enumerate(d.cart_leaves)])
        leaves.rename(columns={"box": "leaf"}).to_csv(tmp / "cart_leaves.csv", index=False, float_format="%.6g")
        d.trajectory.to_csv(tmp / "trajectory.csv", index=False, float_format="%.6g")
        fig = _trajectory_plot(d)
        fig.savefig(tmp / "trajectory.png", dpi=110, bbox_inches="tight")
        uri = png_uri(fig)  # closes it
        header = "\n".join([f"CART (scikit-learn DecisionTreeClassifier, leaves of at least {MASS_MIN:.0%} of the "
                            f"cases) of: {d.where}", f"{d.n_interest:,} of {d.n_cases:,} cases meet it", ""])
        listed = "".join(f"  - {d.sentence(leaf)}\n" for leaf in d.cart_leaves) or "  (none)\n"
        (tmp / "cart.txt").write_text(header + d.cart_text + "\nLeaves where most cases meet it:\n" + listed,
                                      encoding="utf-8")
        man = manifest(d, started)
        write_json(tmp / "manifest.json", man)
        rows = [row([cell(str(b.number), "bold"), cell(d.sentence(b), "name"),
                     cell(f"the {b.sought_among:,} outside {_earlier(b.after)}" if b.after else
                          f"all {b.sought_among:,}"),
                     cell(f"{b.coverage:.0%}"), cell(f"{b.density:.0%}"), cell(f"{b.mass:.0%}"),
                     cell("yes" if b.reached_density else "no", "pass" if b.reached_density else "fail")])
                for b in d.boxes]
        t = table("boxes", [head("box"), head("region", left=True), head("sought and counted among the cases"),
                            head("coverage"), head("density"), head("mass"),
                            head(f"density ≥ {d.settings['min_density']:.0%}")], rows)
        headlines = [f"{b.number}. {d.sentence(b)}" for b in d.boxes]
        write_report(tmp, render("discovery.html.j2", title=f"Discovery: {d.where}", d=d, man=man, boxes=t,
                                 headlines=headlines,
                                 figure={"title": "Peeling trajectory", "uri": uri,
                                         "caption": "Each point a box along PRIM's peeling, from the whole input "
                                                    "space (for box 1 coverage 100%; a later box peels only the "
                                                    "cases outside the boxes before it, so it starts lower) to ever "
                                                    "smaller, denser boxes; colour: "
                                                    "the inputs it restricts; circled: the box kept (the best "
                                                    "balance of coverage and density)."},
                                 provenance=provenance(man, extra={"Sweep": str(d.folder),
                                                                   "Condition": d.where})))
    return Path(destination)
