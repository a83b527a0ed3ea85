"""The browser app's state, in plain Python (no Solara): the scenario, the lever overrides, the model, the run.

:class:`AppState` holds everything the page (``sim/app.py``) shows: the chosen scenario, the lever overrides
(``"dotted.path=value"`` strings handed to :func:`sim.scenario_files.load_scenario`, so the scenario schema validates
every slider value), the model, chunked stepping, the series drawn and the figures (``sim/app_figures.py``), and
the command line that reproduces the run (replication 0 of ``run_sim.py run`` uses the same random streams). It is
unit-tested without a browser (``tests/test_app.py``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.app_charts import CHARTS, network_option
from sim.app_figures import comparison_html, draw, latest_table_html, status_html, stress_layout
from sim.app_levers import LEVER_BY_KEY, in_words, lever_text
from sim.files import toml_inline
from sim.formats import MINUS, missing, money, points
from sim.model import LuxuryMarketModel
from sim.runner import replication_seed, run_scenarios, summarise
from sim.scenario import MAX_SEED, Scenario
from sim.scenario_files import SCENARIO_DIR, ScenarioError, join_path, load_scenario

DEFAULT_SCENARIO = "lexus_us_1989"
DEFAULT_BUYERS = 20_000  # one simulated year steps in well under a second at this size
BUYER_RANGE = (5_000, 100_000, 5_000)  # min, max, step of the buyers slider
MIN_BUYERS = 100  # the fewest buyers a loaded state may ask for (as run_sim.py --buyers)
NETWORK_SAMPLE = 150  # buyers shown in the network view
RENDER_INTERVALS = {"every month": 1, "every year": 12, "every 5 years": 60, "every 10 years": 120,
                    "at the end": 0}  # how often "Run to end" redraws, in months (0: only at the end)
DEFAULT_RENDER = "every 10 years"  # the control's default: twice in the flagship's 25 years, then at the end
REPLICATION_RANGE = (1, 8)  # the replications control: one (as fast as a single run) to a handful with a 5-95% band
FLOW_WINDOWS = ("last 12 months", "whole run")
MIN_REPLACERS = 30  # simulated owners replacing in a year below which a brand's loyalty is too noisy to show
NEW, LEFT = "new to segment", "left segment"


KERNELS_READY = threading.Event()  # set once this process has compiled (or loaded) the model's kernels
_WARMING = threading.Lock()


def warm_kernels() -> None:
    """Compile the model's kernels in this process (or load them from numba's on-disk cache), once: a one-year run of
    1,000 buyers of the flagship. Blocks until they are ready; sets :data:`KERNELS_READY` even if it fails (the
    user's own run then shows the error)."""
    with _WARMING:
        if KERNELS_READY.is_set():
            return
        try:
            import warnings

            from sim.scenario_files import ScenarioWarning

            with warnings.catch_warnings():  # one year of the flagship: its later dates never happen, as meant
                warnings.simplefilter("ignore", ScenarioWarning)
                scenario = load_scenario(DEFAULT_SCENARIO, ["market.years=1"])
            LuxuryMarketModel(scenario, seed=1, buyers=1000).run()
        finally:
            KERNELS_READY.set()


def start_warming(spare: bool = False) -> None:
    """:func:`warm_kernels` in a background thread (once per process), so a server answers at once while the kernels
    compile and the page can say so; with ``spare``, then the first browser session's state (:func:`build_spare`)."""
    def warm() -> None:
        warm_kernels()
        if spare:
            try:
                defaults = app_defaults()
            except ValueError:
                return
            build_spare(defaults)

    if not KERNELS_READY.is_set() and not _WARMING.locked():
        threading.Thread(target=warm, name="luxsim-warm-kernels", daemon=True).start()


_SPARES: dict[str, tuple[tuple, Any]] = {}  # settings -> (library_version() when built, an AppState built ahead)
_SPARE_LOCK = threading.Lock()


def new_state(defaults: dict[str, Any]) -> AppState:
    """The :class:`AppState` of a new browser session, opened on ``defaults`` (:func:`app_defaults`): one built ahead
    of time when there is one (built from scenario files that have not changed since), else built now; either way
    the next session's is then built in the background (:func:`build_spare`), so opening the page does not wait for
    the market to be built.

    Raises:
        ScenarioError, ValueError: as :class:`AppState` does for these settings.
    """
    key = json.dumps(defaults, sort_keys=True, default=str)
    with _SPARE_LOCK:
        version, spare = _SPARES.pop(key, (None, None))
    threading.Thread(target=build_spare, args=(defaults,), name="luxsim-spare-state", daemon=True).start()
    if spare is not None and version == library_version():
        return spare
    return AppState(**defaults)


def build_spare(defaults: dict[str, Any]) -> None:
    """Build an :class:`AppState` on ``defaults`` for the next browser session to take (:func:`new_state`); settings
    that fail are left for that session to report."""
    key = json.dumps(defaults, sort_keys=True, default=str)
    version = library_version()
    try:
        state = AppState(**defaults)
    except Exception:  # noqa: BLE001  (the session that asks for these settings gets the error itself)
        return
    with _SPARE_LOCK:
        _SPARES[key] = (version, state)


def app_defaults() -> dict[str, Any]:
    """What a new browser session opens on: the flagship with DEFAULT_BUYERS, unless the environment says
    otherwise (LUXSIM_APP_SCENARIO, LUXSIM_APP_BUYERS: e.g. a smaller population for a slow classroom laptop).

    Returns:
        ``{"scenario": name, "buyers": n}``, keyword arguments of :class:`AppState`.

    Raises:
        ValueError: LUXSIM_APP_BUYERS is not an integer.
    """
    return {"scenario": os.environ.get("LUXSIM_APP_SCENARIO", DEFAULT_SCENARIO),
            "buyers": int(os.environ.get("LUXSIM_APP_BUYERS", DEFAULT_BUYERS))}


_LIBRARY: dict[tuple, list[tuple[str, str]]] = {}  # the library, by the files' names and modification times


def library_version() -> tuple:
    """The scenario files' names and modification times: changes when a file in ``scenarios/`` is added, removed or
    modified."""
    return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(SCENARIO_DIR.glob("*.toml")))


def scenario_library() -> list[tuple[str, str]]:
    """(name, question) of every scenario in ``scenarios/`` that loads, sorted by name. Read again only when a file
    is added, removed or modified (:func:`library_version`: a new browser session does not pay for reading them)."""
    key = library_version()
    if key not in _LIBRARY:
        out = []
        for path in sorted(SCENARIO_DIR.glob("*.toml")):
            try:
                out.append((path.stem, load_scenario(path).question))
            except ScenarioError:
                continue
        _LIBRARY.clear()
        _LIBRARY[key] = out
    return list(_LIBRARY[key])


def override_arg(path: str, value: Any) -> str:
    """One ``--set`` argument, ``path=VALUE`` with the value written as inline TOML (:func:`sim.files.toml_inline`),
    so :func:`sim.scenario_files.parse_override` reads back the same value: ``true``, ``36``, ``0.05``, ``"it's"``.

    Raises:
        TypeError: a value TOML cannot hold (None, an object).
    """
    return f"{path}={toml_inline(value)}"


def replication_series(model: LuxuryMarketModel) -> tuple[np.ndarray, np.ndarray]:
    """What the app keeps of a replication that :mod:`sim.runner` ran (``RunResult.extra``): the monthly sales and
    owners replacing, simulated units, each of shape (months, brands)."""
    return model.ledger.sales.copy(), model.ledger.replacers.copy()


def focus_brand(sc: Scenario) -> str:
    """The brand the app opens on: Lexus, else the last to launch (the entrant), else the first."""
    if "Lexus" in sc.brands:
        return "Lexus"
    launched = [(b.launch, name) for name, b in sc.brands.items() if b.launch]
    return max(launched)[1] if launched else next(iter(sc.brands))


# ---- series: what a run (one or several replications) has produced up to a month ----------------------------
COMPARED = ("sales_share", "repurchase_loyalty", "cum_profit")  # the difference panel's metrics (yearly)
YEARLY_METRICS = ("sales_share", "repurchase_loyalty", "churn_rate", "csi", "service_margin", "profit", "cum_profit")


def with_replacers(brand_year: pd.DataFrame, replacers: np.ndarray, n_brands: int) -> pd.DataFrame:
    """A copy of a tidy yearly table (complete years, one row per year x brand) with ``replacers_simulated``, the
    simulated owners of the brand who replaced their car that year, from the monthly ``replacers`` (months, brands);
    repurchase loyalty and churn left blank (NaN) below MIN_REPLACERS: too noisy to show."""
    y = brand_year.copy()
    if y.empty:
        return y.assign(replacers_simulated=pd.Series(dtype=float))
    years = len(y) // n_brands
    rep = replacers[: years * 12].reshape(years, 12, -1).sum(axis=1).reshape(-1)
    y["replacers_simulated"] = rep
    y.loc[rep < MIN_REPLACERS, ["repurchase_loyalty", "churn_rate"]] = np.nan
    return y


def trailing_share(sales: np.ndarray) -> np.ndarray:
    """Each month's sales share per brand over the trailing 12 months (fewer at the start), from monthly sales of
    shape (months, brands); a month without sales has share 0 for every brand."""
    m = sales.shape[0]
    cum = np.vstack([np.zeros((1, sales.shape[1])), np.cumsum(sales, axis=0)])
    window = cum[1:] - cum[np.maximum(np.arange(1, m + 1) - 12, 0)]
    total = window.sum(axis=1, keepdims=True)
    return np.divide(window, total, out=np.zeros_like(window, dtype=float), where=total > 0)


@dataclass(frozen=True)
class RunSeries:
    """What a run has produced up to a month, for every replication: the charts, the table beside them, the
    comparison with a pinned baseline and the exports all read it. Immutable (a pinned baseline keeps one).

    Attributes:
        start_year: the market's first calendar year.
        months: months simulated (the same for every replication).
        brands: brand names, scenario order.
        share: trailing 12-month sales share, shape (replications, months, brands).
        yearly: one row per replication x complete year x brand: the model's yearly columns (real units, money in
            the scenario's dollars), ``replacers_simulated`` (loyalty blank below MIN_REPLACERS) and ``cum_profit``
            (profit summed since the start).
        settings: what produced it (:meth:`AppState.settings`).
    """

    start_year: int
    months: int
    brands: tuple[str, ...]
    share: np.ndarray
    yearly: pd.DataFrame
    settings: dict

    @classmethod
    def build(cls, start_year: int, brands: list[str], sales: list[np.ndarray], yearly: list[pd.DataFrame],
              settings: dict) -> RunSeries:
        """From each replication's monthly sales (months, brands) and yearly table (:func:`with_replacers`)."""
        share = np.stack([trailing_share(np.asarray(s, dtype=float)) for s in sales])
        tables = []
        for r, y in enumerate(yearly):
            y = y.drop(columns="replication", errors="ignore")
            y.insert(0, "replication", r)
            y["cum_profit"] = y.groupby("brand", sort=False)["profit"].cumsum() if len(y) else []
            tables.append(y)
        return cls(start_year, int(share.shape[1]), tuple(brands), share, pd.concat(tables, ignore_index=True),
                   dict(settings))

    @property
    def replications(self) -> int:
        """How many replications the series hold."""
        return int(self.share.shape[0])

    @property
    def month_years(self) -> np.ndarray:
        """The x position of each month: the fractional year at its end (the first month of 1989 is 1989 + 1/12)."""
        return self.start_year + (np.arange(self.months) + 1) / 12

    def share_frame(self, stat: str = "mean") -> pd.DataFrame:
        """The monthly trailing share per brand (rows: months, index the fractional year): the mean over
        replications, or their 5th (``"p05"``) or 95th (``"p95"``) percentile."""
        if stat == "mean":
            values = self.share.mean(axis=0)
        else:
            values = np.quantile(self.share, {"p05": 0.05, "p95": 0.95}[stat], axis=0)
        return pd.DataFrame(values, index=pd.Index(self.month_years, name="year"), columns=list(self.brands))

    def band(self, metric: str) -> pd.DataFrame:
        """One row per complete year x brand: ``year``, ``brand``, and the metric's ``mean``, ``p05`` and ``p95``
        over the replications (:func:`sim.runner.summarise`; missing values, e.g. a blank loyalty, are skipped)."""
        s = summarise(self.yearly[["replication", "year", "brand", metric]])
        return s.rename(columns={f"{metric}_{k}": k for k in ("mean", "p05", "p95")})

    def year_means(self) -> pd.DataFrame:
        """One row per complete year x brand: the mean over replications of each of YEARLY_METRICS."""
        if self.yearly.empty:
            return pd.DataFrame(columns=["year", "brand", *YEARLY_METRICS])
        return self.yearly.groupby(["year", "brand"], sort=False)[list(YEARLY_METRICS)].mean().reset_index()

    def latest(self) -> pd.DataFrame:
        """One row per brand (index ``brand``, scenario order), means over the replications: ``share_12m`` (the
        last month's trailing 12-month share) and from the last complete year ``loyalty`` (fraction), ``csi``
        (0-1000), ``service_margin`` and ``cum_profit`` (dollars); NaN before there is a month or a year."""
        names = list(self.brands)
        out = pd.DataFrame(index=pd.Index(names, name="brand"))
        out["share_12m"] = self.share[:, -1].mean(axis=0) if self.months else np.nan
        means = self.year_means()
        if len(means):
            last = means[means["year"] == means["year"].max()].set_index("brand").reindex(names)
            for column, metric in (("loyalty", "repurchase_loyalty"), ("csi", "csi"),
                                   ("service_margin", "service_margin"), ("cum_profit", "cum_profit")):
                out[column] = last[metric].to_numpy(dtype=float)
        else:
            out[["loyalty", "csi", "service_margin", "cum_profit"]] = np.nan
        return out


@dataclass(frozen=True)
class Baseline:
    """A pinned run: its series (frozen at the month it had reached) and a one-line description of its settings."""

    series: RunSeries
    label: str


def compare_series(current: RunSeries, baseline: RunSeries) -> pd.DataFrame:
    """Current minus baseline, year by year: one row per complete year both runs have x brand both hold (the
    current run's order) x metric of YEARLY_METRICS, with ``year, brand, metric, baseline, current, difference``
    (means over each run's replications; a share or loyalty as a fraction, money in dollars)."""
    a, b = current.year_means(), baseline.year_means()
    if a.empty or b.empty:
        return pd.DataFrame(columns=["year", "brand", "metric", "baseline", "current", "difference"])
    both = a.merge(b, on=["year", "brand"], suffixes=("_current", "_baseline"))
    order = {name: i for i, name in enumerate(current.brands)}
    rows = []
    for metric in YEARLY_METRICS:
        rows.append(pd.DataFrame({"year": both["year"], "brand": both["brand"], "metric": metric,
                                  "baseline": both[f"{metric}_baseline"], "current": both[f"{metric}_current"]}))
    out = pd.concat(rows, ignore_index=True)
    out["difference"] = out["current"] - out["baseline"]
    out["_brand"] = out["brand"].map(order)
    out["_metric"] = out["metric"].map({m: i for i, m in enumerate(YEARLY_METRICS)})
    out = out.sort_values(["year", "_brand", "_metric"], kind="stable")
    return out.drop(columns=["_brand", "_metric"]).reset_index(drop=True)


def difference_panel(current: RunSeries, baseline: RunSeries) -> pd.DataFrame:
    """The difference panel: one row per brand both runs hold (index ``brand``) in the last complete year both
    have, columns ``year`` and, for each of COMPARED, ``METRIC_baseline``, ``METRIC_current``, ``METRIC_diff``.
    Empty until both runs have a complete year in common."""
    table = compare_series(current, baseline)
    if table.empty:
        return pd.DataFrame()
    last = table[(table["year"] == table["year"].max()) & table["metric"].isin(COMPARED)]
    wide = last.pivot(index="brand", columns="metric", values=["baseline", "current", "difference"])
    out = pd.DataFrame(index=pd.Index([b for b in current.brands if b in wide.index], name="brand"))
    out["year"] = int(last["year"].iloc[0])
    for metric in COMPARED:
        out[f"{metric}_baseline"] = wide[("baseline", metric)]
        out[f"{metric}_current"] = wide[("current", metric)]
        out[f"{metric}_diff"] = wide[("difference", metric)]
    return out


def _direction(diff: float, text: str) -> str:
    if missing(diff):
        return "not comparable (too few owners replaced)"
    if text.lstrip("+" + MINUS) in ("0.0 pp", "$0"):
        return "the same"
    return f"{text.lstrip('+' + MINUS)} {'higher' if diff > 0 else 'lower'}"


def headline(current: RunSeries, baseline: RunSeries, brand: str) -> str:
    """One sentence in words: "Against the baseline, Lexus's 2000 share is 12.3 pp higher and its cumulative profit
    $1.2B higher" (means over the replications, the last complete year both runs have); a sentence saying why
    not when there is no such year or the brand is in one run only."""
    panel = difference_panel(current, baseline)
    if panel.empty:
        return "The difference from the baseline appears once both runs have a complete year in common."
    if brand not in panel.index:
        return f"{brand} is not in both runs: see the table for the brands they share."
    row = panel.loc[brand]
    year = int(row["year"])
    share = _direction(row["sales_share_diff"], points(row["sales_share_diff"]))
    profit = _direction(row["cum_profit_diff"], money(row["cum_profit_diff"]))
    loyalty = _direction(row["repurchase_loyalty_diff"], points(row["repurchase_loyalty_diff"]))
    reps = current.replications
    tail = f" (means of {reps} replications)" if reps > 1 else ""
    return (f"Against the baseline, {brand}'s {year} share is {share}, its {year} repurchase loyalty {loyalty}, and "
            f"its cumulative profit to {year} {profit}{tail}.")


class _StateError(ValueError):
    """A state file that cannot be loaded: the one-line message names the file, the field and the reason."""


def _read_state(data: bytes | str, source: str) -> tuple[dict, str, str, dict | None]:
    """Parse and check a saved app state (:meth:`AppState.state_json`) without building anything.

    Returns:
        (settings as :meth:`AppState.settings` gives them, brand, flow window, the baseline's settings with
        ``months`` or None).

    Raises:
        _StateError: not UTF-8 JSON, not a luxsim app state, or a field of the wrong kind or out of range.
    """
    try:
        doc = json.loads(data.decode("utf-8-sig") if isinstance(data, bytes) else data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _StateError(f"{source}: not a luxsim app state (not UTF-8 JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("luxsim_app_state") != AppState.STATE_VERSION:
        raise _StateError(f"{source}: luxsim_app_state: not a luxsim app state file (version "
                          f"{AppState.STATE_VERSION} expected)")

    def settings(d: Any, where: str) -> dict:
        if not isinstance(d, dict):
            raise _StateError(f"{source}: {where.rstrip('.') or 'state'}: expected an object")

        def whole(key: str, lo: int, hi: int) -> int:
            v = d.get(key)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise _StateError(f"{source}: {where}{key}: expected a whole number from {lo:,} to {hi:,}, got "
                                  f"{v!r}")
            return v
        name, overrides = d.get("scenario"), d.get("overrides", {})
        if not isinstance(name, str) or not name.strip():
            raise _StateError(f"{source}: {where}scenario: expected a scenario name")
        if not isinstance(overrides, dict) or not all(isinstance(k, str) for k in overrides):
            raise _StateError(f"{source}: {where}overrides: expected an object of field paths and values")
        for key, value in overrides.items():
            if value is None or isinstance(value, dict):
                raise _StateError(f"{source}: {where}overrides.{key}: expected a number, a boolean, a text or a "
                                  "list")
        return {"scenario": name, "overrides": overrides, "seed": whole("seed", 0, MAX_SEED),
                "buyers": whole("buyers", MIN_BUYERS, BUYER_RANGE[1]),
                "replications": whole("replications", *REPLICATION_RANGE)}

    current = settings(doc, "")
    brand, window = doc.get("brand"), doc.get("flow_window", FLOW_WINDOWS[0])
    if not isinstance(brand, str):
        raise _StateError(f"{source}: brand: expected a brand name")
    if window not in FLOW_WINDOWS:
        raise _StateError(f"{source}: flow_window: expected one of {', '.join(FLOW_WINDOWS)}")
    base = doc.get("baseline")
    if base is not None:
        months = base.get("months") if isinstance(base, dict) else None
        base = settings(base, "baseline.")
        if isinstance(months, bool) or not isinstance(months, int) or months < 1:
            raise _StateError(f"{source}: baseline.months: expected a whole number of months from 1")
        base["months"] = months
    return current, brand, window, base


class AppState:
    """Everything the page shows. Thread-safe: the model steps under ``lock`` (the page's "run" thread and a
    slider may touch it at once), and every rebuild bumps ``generation`` so a running loop knows to stop.

    Args:
        scenario: a scenario name in ``scenarios/`` or a path to a TOML file.
        buyers: simulated households at the start (results are scaled to the real market).
        seed: the run's seed (``run_sim.py run --seed``); None: the scenario's own.
        network_sample: buyers shown in the network view.
        overrides: dotted scenario path -> value, as ``--set`` takes them (e.g. ``{"market.years": 8}``).

    Raises:
        ScenarioError: the scenario cannot be read or, with the overrides, does not validate.
    """

    def __init__(self, scenario: str = DEFAULT_SCENARIO, buyers: int = DEFAULT_BUYERS, seed: int | None = None,
                 network_sample: int = NETWORK_SAMPLE, overrides: dict[str, Any] | None = None):
        self.lock = threading.RLock()
        self.buyers = int(buyers)
        self.network_sample = network_sample
        self.overrides: dict[str, Any] = dict(overrides or {})  # dotted path -> value, as `--set` takes them
        self.error: str | None = None
        self.rejections = 0  # bumped by every refused value: the page re-creates the controls at the model's values
        self.generation = 0
        self.stop_requested = False
        self.flow_window = FLOW_WINDOWS[0]
        self.replications = 1
        self.render_every = RENDER_INTERVALS[DEFAULT_RENDER]  # "Run to end" redraws every so many months (0: the end)
        self.model_seconds = 0.0  # seconds the model has spent simulating replication 0 since the last rebuild
        self._network: tuple[int, int, dict, str] | None = None  # generation, month, option, JSON: the network drawn
        self.baseline: Baseline | None = None  # a pinned run, drawn under the current one
        self._others: list | None = None  # replications 1.. as sim.runner ran them (RunResult), for this generation
        self.others_done: int | None = None  # while they run: how many have finished
        self._cache: dict[tuple, Any] = {}
        self.scenario_name = scenario
        self.base = load_scenario(scenario)
        self.seed = self.base.simulation.seed if seed is None else int(seed)
        self.brand = focus_brand(self.base)
        self.rebuild()

    # ---- choosing --------------------------------------------------------------------------------------
    def select_scenario(self, name: str) -> None:
        """Switch scenario: its own levers, seed and focus brand (overrides of the previous one are dropped).

        Raises:
            ScenarioError: the scenario cannot be read or does not validate (the state is left as it was).
        """
        with self.lock:
            self.base = load_scenario(name)
            self.scenario_name = name
            self.overrides = {}
            self.seed = self.base.simulation.seed
            self.brand = focus_brand(self.base)
            self.rebuild()

    def select_brand(self, brand: str) -> None:
        """Show ``brand``'s levers. Raises ValueError for a brand not in the scenario."""
        if brand not in self.base.brands:
            raise ValueError(f"unknown brand {brand!r}")
        self.brand = brand  # nothing to rebuild: only which brand the levers show

    def override_args(self) -> list[str]:
        """The overrides as ``--set`` arguments (``path=VALUE``, the value inline TOML), in the order set."""
        return [override_arg(path, value) for path, value in self.overrides.items()]

    def set_overrides(self, changes: dict[str, Any]) -> bool:
        """Set overrides (dotted scenario path -> value; ``None`` removes one) and rebuild the model at month 0.

        Returns:
            True if the scenario validates with them; False if not: the old overrides are kept and ``error`` says
            why in one line (the schema's words, e.g. "... must not exceed 1").
        """
        with self.lock:
            old = dict(self.overrides)
            for path, value in changes.items():
                if value is None:
                    self.overrides.pop(path, None)
                else:
                    self.overrides[path] = value
            try:
                self.rebuild()
            except ScenarioError as exc:
                self.overrides = old
                self.rebuild()
                self.error = "; ".join(p.split(": ", 1)[-1] for p in exc.problems)
                self.rejections += 1
                return False
            return True

    def lever_value(self, key: str, brand: str | None = None) -> Any:
        """The lever's value for ``brand`` in the scenario being run (overrides included)."""
        brand = brand or self.brand
        spec = self.scenario.brands[brand]
        return getattr(spec.service, key) if hasattr(spec.service, key) else getattr(spec, key)

    def lever_explanation(self, key: str, brand: str | None = None) -> str:
        """Lever ``key``'s plain-language explanation for ``brand`` (default: the selected brand) in the scenario
        being run (overrides included): its costs, and the brand's own numbers where the lever has them (the price
        level quotes the brand's mean list price at its launch at the level set).

        Raises:
            KeyError: an unknown lever or brand.
        """
        return LEVER_BY_KEY[key].explain(self.scenario, brand or self.brand)

    def set_lever(self, key: str, value: Any, brand: str | None = None) -> bool:
        """Move lever ``key`` (a :data:`sim.app_levers.LEVERS` key) of ``brand`` (default: the selected brand) to
        ``value``, rounded to the lever's kind; back at the scenario's value, the override is dropped.

        Returns:
            As :meth:`set_overrides`: False if the scenario schema refuses the value; the model keeps the value it
            had and ``error`` says so in the app's words, naming only controls that exist (:func:`in_words`):
            "Complaints resolved within 90 days = 1.00 refused for Lexus: ...; kept at 0.75".

        Raises:
            KeyError: an unknown lever or brand.
        """
        lever = LEVER_BY_KEY[key]
        brand = brand or self.brand
        if lever.kind == "int":
            value = int(round(value))
        elif lever.kind == "float":
            value = round(float(value), 6)
        else:
            value = bool(value)
        path = lever.path.format(brand=join_path([brand]))  # quoted if the name holds a dot: brands."A.B".x
        base_spec = self.base.brands[brand]
        base_value = getattr(base_spec.service, key) if hasattr(base_spec.service, key) else getattr(base_spec, key)
        if self.set_overrides({path: None if value == base_value else value}):
            return True
        self.error = (f"{lever.label.split(' (')[0]} = {lever_text(lever, value)} refused for {brand}: "
                      f"{in_words(self.error.rsplit(': ', 1)[-1], self.scenario, brand)}; kept at "
                      f"{lever_text(lever, self.lever_value(key, brand))}")
        return False

    def responders(self) -> list[str]:
        """The brands whose strategy is ``respond_to_share_loss``, in scenario order."""
        return [n for n, b in self.scenario.brands.items() if b.strategy.kind == "respond_to_share_loss"]

    def response_lag(self) -> int | None:
        """The first responder's lag in months (the slider moves them all); None when no brand responds."""
        names = self.responders()
        return self.scenario.brands[names[0]].strategy.lag_months if names else None

    def set_response_lag(self, months: int) -> bool:
        """Set every responder's lag to ``months``; returns as :meth:`set_overrides`."""
        changes = {}
        for name in self.responders():
            path = f"brands.{name}.strategy.lag_months"
            changes[path] = None if int(months) == self.base.brands[name].strategy.lag_months else int(months)
        return self.set_overrides(changes)

    def set_buyers(self, buyers: int) -> None:
        """Simulate ``buyers`` households from month 0."""
        with self.lock:
            self.buyers = int(buyers)
            self.rebuild()

    def set_seed(self, seed: Any) -> bool:
        """Run with seed ``seed`` (a whole number 0 to 2^63 - 1, or its text) from month 0.

        Returns:
            False for anything else (a negative or fractional number, a text that is not a whole number, a boolean):
            the seed is kept, ``error`` says why and ``rejections`` is bumped (the page shows the seed kept).
        """
        given = str(seed).strip() or "(empty)"
        text = str(seed).strip() if isinstance(seed, str) else None
        if text is not None and re.fullmatch(r"[+-]?\d+", text.replace("_", "").replace(",", "")):
            seed = int(text.replace("_", "").replace(",", ""))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
            self.error = f"Seed {given} refused: a whole number from 0 to 2^63 − 1; kept at {self.seed}"
            self.rejections += 1
            return False
        with self.lock:
            self.seed = int(seed)
            self.rebuild()
            return True

    def set_replications(self, replications: Any) -> bool:
        """Run ``replications`` replications (1-8) from month 0: replication 0 steps here as the charts draw it, the
        others run to the end through :func:`sim.runner.run_scenarios` (as ``run_sim.py run -r R`` runs them) at the
        first step, and the charts draw the mean with a 5-95% band up to the month reached.

        Returns:
            False (and ``error`` says why, nothing changed) for a value that is not a whole number in range.
        """
        lo, hi = REPLICATION_RANGE
        if isinstance(replications, bool) or not isinstance(replications, (int, np.integer)) or not (
                lo <= replications <= hi):
            self.error = f"Replications: {replications!r} refused: a whole number from {lo} to {hi}"
            return False
        with self.lock:
            self.replications = int(replications)
            self.rebuild()
            return True

    def restore_scenario(self) -> None:
        """Drop every override: back to the scenario file's levers."""
        self.set_overrides({path: None for path in self.overrides})

    def cli_command(self) -> str:
        """The same run from the command line (replication r of `run` uses the same random streams as the app's
        replication r), quoted for a POSIX shell: ``shlex.split`` of it gives back each ``--set`` argument, whatever
        quotes its value holds."""
        parts = ["python run_sim.py run", shlex.quote(self.scenario_name), f"--replications {self.replications}",
                 f"--seed {self.seed}",
                 f"--buyers {self.buyers}"]
        parts += [f"--set {shlex.quote(arg)}" for arg in self.override_args()]
        return " ".join(parts)

    def settings(self) -> dict[str, Any]:
        """What the current run is made of: ``scenario`` (name or path), ``overrides`` (dotted path -> value, as
        ``--set`` takes them), ``seed``, ``buyers``, ``replications``."""
        return {"scenario": self.scenario_name, "overrides": dict(self.overrides), "seed": self.seed,
                "buyers": self.buyers, "replications": self.replications}

    def settings_label(self) -> str:
        """The settings in one line: "lexus_us_1989, seed 20240901, 20,000 buyers, 1 replication, the scenario's
        levers" (or the ``--set`` arguments that differ from the scenario file)."""
        reps = f"{self.replications} replication" + ("s" if self.replications > 1 else "")
        changes = "; ".join(self.override_args()) or "the scenario's levers"
        return f"{self.scenario_name}, seed {self.seed}, {self.buyers:,} buyers, {reps}, {changes}"

    # ---- the baseline ------------------------------------------------------------------------------------
    def pin_baseline(self) -> bool:
        """Pin the current run (its series as far as it has run, and its settings) as the baseline that later runs
        are drawn against. Returns False (and ``error`` says why) before the first month is simulated."""
        with self.lock:
            if self.months_done == 0:
                self.error = "nothing to pin yet: step or run the market first"
                return False
            self.baseline = Baseline(self.series(), self.settings_label())
            self.error = None
            self._cache.clear()  # the charts draw the baseline from now on
            return True

    def clear_baseline(self) -> None:
        """Forget the pinned baseline."""
        with self.lock:
            self.baseline = None
            self.error = None
            self._cache.clear()

    def comparison(self) -> pd.DataFrame:
        """Current minus baseline, year by year (:func:`compare_series`); empty without a baseline."""
        if self.baseline is None:
            return compare_series(self.series(), self.series()).iloc[0:0]
        return self._cached("comparison", lambda: compare_series(self.series(), self.baseline.series))

    def difference_panel(self) -> pd.DataFrame:
        """The difference panel (:func:`difference_panel`) against the baseline; empty without one."""
        if self.baseline is None:
            return pd.DataFrame()
        return self._cached("difference_panel", lambda: difference_panel(self.series(), self.baseline.series))

    def headline(self) -> str:
        """The headline difference from the baseline in words, for the selected brand (:func:`headline`); ""
        without a baseline."""
        if self.baseline is None:
            return ""
        return self._cached("headline", lambda: headline(self.series(), self.baseline.series, self.brand),
                            self.brand)

    # ---- export and save ---------------------------------------------------------------------------------------
    def series_csv(self) -> str:
        """The series the charts draw, as a tidy CSV: ``year, month, brand, metric, value, replication``; the
        monthly trailing 12-month share (``share_12m``, month 1-12, a fraction) and each complete year's
        YEARLY_METRICS (month blank; shares and loyalty as fractions, CSI 0-1000, money in dollars); replication
        0-based, as ``run_sim.py run`` numbers them."""
        series = self.series()
        frames = []
        if series.months:
            months = np.arange(series.months)
            for r in range(series.replications):
                for b, brand in enumerate(series.brands):
                    frames.append(pd.DataFrame({"year": series.start_year + months // 12, "month": months % 12 + 1,
                                                "brand": brand, "metric": "share_12m", "value": series.share[r, :, b],
                                                "replication": r}))
        if len(series.yearly):
            long = series.yearly.melt(id_vars=["replication", "year", "brand"], value_vars=list(YEARLY_METRICS),
                                      var_name="metric", value_name="value")
            frames.append(long.assign(month=pd.NA)[["year", "month", "brand", "metric", "value", "replication"]])
        columns = ["year", "month", "brand", "metric", "value", "replication"]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        table["month"] = table["month"].astype("Int64")
        return table[columns].to_csv(index=False)

    def comparison_csv(self) -> str:
        """The pinned-vs-current comparison, every complete year both runs have (:func:`compare_series`): ``year,
        brand, metric, baseline, current, difference`` (means over replications); only the header without a
        baseline."""
        return self.comparison().to_csv(index=False)

    def figure_bytes(self, kind: str, fmt: str) -> bytes:
        """Chart ``kind`` as it is drawn now, as ``png`` or ``svg`` bytes (a file to download)."""
        import io

        buffer = io.BytesIO()
        with self.lock:
            self.figure(kind).savefig(buffer, format=fmt)
        return buffer.getvalue()

    def scenario_toml(self) -> str:
        """The current settings as a scenario file that ``run_sim.py run FILE`` accepts unchanged and that reproduces
        the app's numbers: it ``extends`` the chosen scenario, sets each changed field (the overrides) and the
        simulation's ``seed``, ``buyers`` and ``replications``."""
        from sim.files import toml_document
        from sim.scenario_files import one_line, resolve_path, split_path

        path = resolve_path(self.scenario_name)
        parent = path.name if path.parent == SCENARIO_DIR.resolve() else str(path)
        name = f"{self.scenario.name}_app" if self.overrides else self.scenario.name
        doc: dict[str, Any] = {"extends": parent, "name": name, "question": self.scenario.question}
        for dotted, value in self.overrides.items():
            node = doc
            *parents, last = split_path(dotted)
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        doc.setdefault("simulation", {}).update(seed=self.seed, buyers=self.buyers, replications=self.replications)
        changes = "; ".join(self.override_args()) or "none (the scenario's own levers)"
        header = (f"# Saved from the luxsim app: {one_line(self.scenario.name)} with the changes {one_line(changes)}.\n"
                  f"# Run it with: python run_sim.py run FILE  (seed, buyers and replications are set below)\n")
        return header + toml_document(doc)

    STATE_VERSION: ClassVar[int] = 1  # the "luxsim_app_state" key of a saved state file

    def state_json(self) -> str:
        """The app's state as a JSON file to download and load again (:meth:`restore_state`): the settings, the
        selected brand and flow window, and the pinned baseline's settings and month (it is re-run on loading:
        runs are reproducible, so the file holds settings, never results)."""
        doc = {"luxsim_app_state": self.STATE_VERSION, **self.settings(), "brand": self.brand,
               "flow_window": self.flow_window,
               "baseline": None if self.baseline is None else {**self.baseline.series.settings,
                                                               "months": self.baseline.series.months}}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def restore_state(self, data: bytes | str, source: str = "state file") -> bool:
        """Load a state file (:meth:`state_json`): everything is checked and the new runs built aside first, then
        applied at once; on any problem nothing changes and ``error`` names the file, the field and the reason.

        Returns:
            True if the state was applied (the model back at month 0, the baseline re-run to its month).
        """
        try:
            settings, brand, window, base = _read_state(data, source)
            fresh = AppState(settings["scenario"], settings["buyers"], settings["seed"], self.network_sample,
                             settings["overrides"])
            if brand not in fresh.base.brands:
                raise _StateError(f"{source}: brand: {brand!r} is not a brand of {settings['scenario']}")
            baseline = None
            if base is not None:
                pinned = AppState(base["scenario"], base["buyers"], base["seed"], self.network_sample,
                                  base["overrides"])
                pinned.replications = base["replications"]
                pinned.advance(min(base["months"], pinned.n_months))
                baseline = Baseline(pinned.series(), pinned.settings_label()) if pinned.months_done else None
        except ScenarioError as exc:
            self.error = f"{source}: " + "; ".join(exc.problems)
            return False
        except _StateError as exc:
            self.error = str(exc)
            return False
        with self.lock:
            self.scenario_name, self.base, self.overrides = fresh.scenario_name, fresh.base, fresh.overrides
            self.seed, self.buyers, self.replications = fresh.seed, fresh.buyers, settings["replications"]
            self.brand, self.flow_window, self.baseline = brand, window, baseline
            self.rebuild()
        return True

    # ---- the model ----------------------------------------------------------------------------------------
    def rebuild(self) -> None:
        """A fresh model at month 0 from the scenario with the overrides (raises ScenarioError if invalid)."""
        with self.lock:
            scenario = load_scenario(self.scenario_name, self.override_args())
            self.scenario = scenario
            # the random streams of replication 0 of `run_sim.py run --seed S`: the CLI reproduces the app's run
            self.model = LuxuryMarketModel(scenario, seed=replication_seed(self.seed, 0), buyers=self.buyers)
            self.generation += 1
            self.model_seconds = 0.0
            self.error = None
            self._others = None
            self._cache.clear()
            self._sample = self._network_sample()

    def reset(self) -> None:
        """Back to month 0 with the current scenario and overrides (the page's reset button): :meth:`rebuild`."""
        self.rebuild()

    @property
    def months_done(self) -> int:
        """Months simulated so far (0 before the first step)."""
        return self.model.month + 1

    @property
    def n_months(self) -> int:
        """Months the scenario runs in all (``market.years * 12``)."""
        return self.model.n_months

    @property
    def done(self) -> bool:
        """True once every month of the scenario has been simulated."""
        return self.months_done >= self.n_months

    def run_replications(self, progress: Callable[[], None] | None = None) -> None:
        """With several replications, run replications 1.. to the end (once per model: a rebuild drops them) through
        :func:`sim.runner.run_scenarios` and its executor (in this process when the work is small, else on the local
        cores), with the random streams ``run_sim.py run -r R`` gives them; ``progress()`` is called as each
        finishes (:meth:`status` counts them). Nothing to do with one replication. The lock is not held while they
        run (unless the caller holds it), so a control moved meanwhile rebuilds at once and the runs are dropped."""
        with self.lock:
            if self.replications <= 1 or self._others is not None:
                return
            generation, scenario, reps = self.generation, self.scenario, self.replications
            self.others_done = 0

        def finished(_result) -> None:
            self.others_done += 1
            if progress is not None:
                progress()
        try:
            runs = run_scenarios({scenario.name: scenario}, reps, self.seed, self.buyers, progress=finished,
                                 extra=replication_series, skip=1)[scenario.name]
        finally:
            self.others_done = None
        with self.lock:
            if self.generation == generation and self._others is None:
                self._others = runs

    def advance(self, months: int) -> int:
        """Simulate up to ``months`` more months (every replication); returns how many were simulated."""
        with self.lock:
            n = max(0, min(int(months), self.n_months - self.months_done))
            if n:
                self.run_replications()
                started = time.perf_counter()
                self.model.run(n)
                self.model_seconds += time.perf_counter() - started
                self.error = None  # a successful action clears the last refusal
            return n

    def step_month(self) -> int:
        """One simulated month; returns 1, or 0 at the end."""
        return self.advance(1)

    def step_year(self) -> int:
        """One simulated year (to the next January, so the yearly tables stay aligned)."""
        return self.advance(12 - self.months_done % 12)

    def run_to_end(self, on_chunk: Callable[[], None] | None = None, render_every: int | None = None) -> bool:
        """Run to the scenario's end a year at a time (a month at a time when redrawing every month), calling
        ``on_chunk`` so the page can redraw each time the run passes a multiple of ``render_every`` months (default
        :attr:`render_every`; 0: only at the end) and at the end (with several replications, first the others,
        :meth:`run_replications`, calling it as each finishes). Stops early (returns False) if ``stop_requested``
        is set or the model is rebuilt.

        Returns:
            True once the scenario's last month is simulated.
        """
        every = self.render_every if render_every is None else int(render_every)
        generation = self.generation
        self.stop_requested = False
        self.run_replications(progress=on_chunk)
        drawn = self.months_done // every if every > 0 else 0
        while not self.done:
            if self.stop_requested or self.generation != generation:
                return False
            with self.lock:
                if self.generation != generation:
                    return False
                self.step_month() if every == 1 else self.step_year()
            if on_chunk is not None and (self.done or (every > 0 and self.months_done // every > drawn)):
                drawn = self.months_done // every if every > 0 else 0
                on_chunk()
        return True

    def status(self) -> str:
        """One line: the simulated month reached ("1990-12: month 60 of 300") or "not started"; while replications
        2.. run, how many have finished."""
        if self.others_done is not None:
            return (f"{self.model.date(0)}: running replications 2-{self.replications} "
                    f"({self.others_done} of {self.replications - 1} done)")
        if self.months_done == 0:
            return f"{self.model.date(0)}: not started ({self.n_months} months to simulate)"
        return f"{self.model.date()}: month {self.months_done} of {self.n_months}"

    # ---- series ----------------------------------------------------------------------------------------------
    def _key(self, *extra: Any) -> tuple:
        return (self.generation, self.months_done, *extra)

    def _cached(self, name: str, make: Callable[[], Any], *extra: Any) -> Any:
        key = (name, *self._key(*extra))
        with self.lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    def yearly(self) -> pd.DataFrame:
        """The model's tidy yearly table (complete years only), real units, plus ``replacers_simulated``: simulated
        owners of the brand who replaced their car that year (loyalty is left blank below MIN_REPLACERS)."""
        return self._cached("yearly", lambda: with_replacers(self.model.brand_year(), self.model.ledger.replacers,
                                                             len(self.model.brand_names)))

    def series(self) -> RunSeries:
        """Every replication's series up to the month reached: what the charts, the table, the comparison with a
        baseline and the exports read (:class:`RunSeries`)."""
        def make() -> RunSeries:
            m, names, start = self.months_done, self.model.brand_names, self.scenario.market.start_year
            sales, yearly = [self.model.ledger.sales[:m]], [self.yearly()]
            for run in (self._others or []) if m else []:
                run_sales, replacers = run.extra
                y = run.brand_year[run.brand_year["year"] < start + m // 12]
                sales.append(run_sales[:m])
                yearly.append(with_replacers(y.reset_index(drop=True), replacers, len(names)))
            return RunSeries.build(start, names, sales, yearly, self.settings())
        return self._cached("series", make)

    def monthly_share(self) -> pd.DataFrame:
        """Trailing 12-month sales share per brand (mean over replications), one row per simulated month (index:
        fractional year)."""
        return self._cached("monthly_share", lambda: self.series().share_frame())

    def latest(self) -> pd.DataFrame:
        """One row per brand (index ``brand``, scenario order): the numbers next to the charts, means over the
        replications (:meth:`RunSeries.latest`), plus ``prestige`` (0-1) of replication 0 now."""
        def make() -> pd.DataFrame:
            out = self.series().latest()
            out.insert(1, "prestige", [b.prestige for b in self.model.brands])
            return out
        return self._cached("latest", make)

    def flows(self, window: str | None = None) -> pd.DataFrame:
        """Buyers (real units) moving from the brand owned before (rows, plus 'new to segment') to the brand bought
        (columns, plus 'left segment') over the window."""
        window = window or self.flow_window

        def make() -> pd.DataFrame:
            m = self.months_done
            start = max(0, m - 12) if window == FLOW_WINDOWS[0] else 0
            s = self.model.ledger.switching[start:m].sum(axis=0) * self.model.scale
            names = self.model.brand_names
            return pd.DataFrame(s, index=[*names, NEW], columns=[*names, LEFT])
        return self._cached("flows", make, window)

    def history(self) -> list[tuple[str, str, str]]:
        """(date, brand, note) of policy changes that have happened so far, oldest first."""
        rows = []
        for b in self.model.brands:
            for month, note in b.history:
                if 0 < month <= self.model.month:
                    rows.append((self.model.date(month), b.name, note))
        return sorted(rows)

    # ---- the network sample -------------------------------------------------------------------------------
    def _network_sample(self) -> np.ndarray:
        """About ``network_sample`` neighbouring buyers of one community. Within a community the ties form a
        Watts-Strogatz small world whose ring order is the slot order (``sim/network.py``), so consecutive slots
        are each other's close contacts, plus a few long-range shortcuts."""
        pop, net = self.model.pop, self.model.network
        rng = np.random.default_rng(self.seed)
        active = np.flatnonzero(pop.active)
        if active.size == 0:
            return np.empty(0, dtype=np.int64)
        size = max(1, min(self.scenario.word_of_mouth.community_size, net.n))
        root = int(rng.choice(active))
        lo = root // size * size
        hi = min(lo + size, net.n)
        n = min(self.network_sample, hi - lo)
        start = lo + int(rng.integers(0, hi - lo - n + 1))
        return np.arange(start, start + n, dtype=np.int64)

    _layouts: ClassVar[dict[frozenset, dict]] = {}  # shared by all sessions: the layout depends only on the ties

    def network_graph(self):
        """(networkx graph of the sample, positions). The ties depend on the seed, the buyers and the word-of-mouth
        parameters, not on the levers, so a lever change reuses the layout and the picture stays put."""
        key = ("network_graph", self.generation)
        with self.lock:
            if key not in self._cache:
                g = self.model.network.to_networkx(self._sample)
                ties = frozenset(frozenset(e) for e in g.edges) | frozenset(frozenset((v,)) for v in g.nodes)
                pos = AppState._layouts.get(ties)
                if pos is None:
                    pos = stress_layout(g, self._sample)
                    if len(AppState._layouts) > 32:
                        AppState._layouts.clear()
                    AppState._layouts[ties] = pos
                self._cache[key] = (g, pos)
            return self._cache[key]

    def network_brands(self) -> pd.Series:
        """Brand of each sampled buyer now (None: not in the luxury segment at the moment)."""
        pop, names = self.model.pop, self.model.brand_names
        nodes = self._sample
        brand = pop.brand[nodes].astype(np.int64)
        labels = [names[b] if a and b >= 0 else None for a, b in zip(pop.active[nodes], brand)]
        return pd.Series(labels, index=nodes, dtype=object)

    def same_brand_ties(self) -> tuple[float, float]:
        """(share of ties in the sample joining two owners of the same brand, the share expected if brands were
        spread at random over the sampled owners). Word of mouth and cars seen by neighbours cluster brands."""
        g, _ = self.network_graph()
        brands = self.network_brands()
        pairs = [(brands[u], brands[v]) for u, v in g.edges if brands[u] is not None and brands[v] is not None]
        if not pairs:
            return float("nan"), float("nan")
        p = brands.dropna().value_counts(normalize=True).to_numpy()
        return float(np.mean([x == y for x, y in pairs])), float((p**2).sum())

    # ---- charts and figures ---------------------------------------------------------------------------------
    def _view(self, kind: str) -> tuple:
        """What chart ``kind`` depends on besides the model's month (its cache key's extra): the selected brand, and
        for the flows the window too."""
        return (self.flow_window, self.brand) if kind == "flows" else (self.brand,)

    def chart(self, kind: str) -> dict:
        """The browser chart ``kind`` (a :data:`sim.app_charts.CHARTS` key) of the current state: an ECharts option,
        cached until the model moves."""
        return self._cached(f"chart_{kind}", lambda: CHARTS[kind](self), *self._view(kind))

    def chart_json(self, kind: str) -> str:
        """:meth:`chart` as JSON text, what the page sends to the browser (cached as the option is; no NaN)."""
        return self._cached(f"chart_json_{kind}", lambda: json.dumps(self.chart(kind), allow_nan=False),
                            *self._view(kind))

    def draw_network(self) -> dict:
        """Draw the network view now (the page's button; it is not redrawn as the run moves): the option of
        :func:`sim.app_charts.network_option` at the month reached, kept (with its JSON text) until the next call or
        rebuild."""
        with self.lock:
            option = network_option(self)
            self._network = (self.generation, self.months_done, option, json.dumps(option, allow_nan=False))
            return option

    def network_chart(self) -> tuple[int, str] | None:
        """(month, option as JSON text) of the network view last drawn for this model (:meth:`draw_network`), or
        None."""
        with self.lock:
            if self._network is None or self._network[0] != self.generation:
                return None
            return self._network[1], self._network[3]

    def figure(self, kind: str) -> Figure:
        """A matplotlib figure of the current state, for the PNG and SVG exports (cached until the model moves)."""
        return self._cached(f"fig_{kind}", lambda: draw(kind, self), *self._view(kind))

    def frame(self, running: bool = False) -> dict[str, Any]:
        """Everything the page draws, taken at one month under the lock (the run thread steps under it too), so no
        chart lags behind another, nor the table behind the charts, mid-run: ``charts`` and ``keys`` (kind ->
        :meth:`chart_json`, :meth:`figure_key`), ``network`` (:meth:`network_chart`), ``status``, ``table`` and
        ``comparison`` (HTML), ``months``."""
        with self.lock:
            return {"charts": {kind: self.chart_json(kind) for kind in CHARTS},
                    "keys": {kind: self.figure_key(kind) for kind in CHARTS},
                    "network": self.network_chart(),
                    "status": status_html(self, running), "table": latest_table_html(self),
                    "comparison": comparison_html(self), "months": self.months_done}

    def figure_key(self, kind: str) -> tuple:
        """A key that changes whenever :meth:`figure` of ``kind`` would draw something else (the page's cue)."""
        return (kind, *self._key(self.flow_window, self.brand))

