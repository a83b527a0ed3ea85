"""The browser app's state, in plain Python (no Solara): the scenario, the lever overrides, the model, the run.

:class:`AppState` holds everything the page (``sim/app.py``) shows: the chosen scenario, the lever overrides
(``"dotted.path=value"`` strings handed to :func:`sim.scenario_files.load_scenario`, so the scenario schema validates
every slider value), the model, chunked stepping, the series drawn and the figures (``sim/app_figures.py``), and
the command line that reproduces the run (replication 0 of ``run_sim.py run`` uses the same random streams). It is
unit-tested without a browser (``tests/test_app.py``).
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.app_figures import FIGURES, stress_layout
from sim.app_levers import LEVER_BY_KEY
from sim.files import toml_inline
from sim.model import LuxuryMarketModel
from sim.runner import replication_seed
from sim.scenario import Scenario
from sim.scenario_files import SCENARIO_DIR, ScenarioError, join_path, load_scenario

DEFAULT_SCENARIO = "lexus_us_1989"
DEFAULT_BUYERS = 20_000  # one simulated year steps in well under a second at this size
BUYER_RANGE = (5_000, 100_000, 5_000)  # min, max, step of the buyers slider
NETWORK_SAMPLE = 150  # buyers shown in the network view
CHUNK_SECONDS = 0.4  # "run to end" publishes the charts about this often
FLOW_WINDOWS = ("last 12 months", "whole run")
MIN_REPLACERS = 30  # simulated owners replacing in a year below which a brand's loyalty is too noisy to show
NEW, LEFT = "new to segment", "left segment"


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


def scenario_library() -> list[tuple[str, str]]:
    """(name, question) of every scenario in ``scenarios/`` that loads, sorted by name."""
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            out.append((path.stem, load_scenario(path).question))
        except ScenarioError:
            continue
    return out


def override_arg(path: str, value: Any) -> str:
    """One ``--set`` argument, ``path=VALUE`` with the value written as inline TOML (:func:`sim.files.toml_inline`),
    so :func:`sim.scenario_files.parse_override` reads back the same value: ``true``, ``36``, ``0.05``, ``"it's"``.

    Raises:
        TypeError: a value TOML cannot hold (None, an object).
    """
    return f"{path}={toml_inline(value)}"


def focus_brand(sc: Scenario) -> str:
    """The brand the app opens on: Lexus, else the last to launch (the entrant), else the first."""
    if "Lexus" in sc.brands:
        return "Lexus"
    launched = [(b.launch, name) for name, b in sc.brands.items() if b.launch]
    return max(launched)[1] if launched else next(iter(sc.brands))


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
        self.generation = 0
        self.stop_requested = False
        self.flow_window = FLOW_WINDOWS[0]
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
            As :meth:`set_overrides`: False (and ``error`` set) if the scenario schema refuses the value.

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
        return self.set_overrides({path: None if value == base_value else value})

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

    def set_seed(self, seed: int) -> None:
        """Run with seed ``seed`` from month 0."""
        with self.lock:
            self.seed = int(seed)
            self.rebuild()

    def restore_scenario(self) -> None:
        """Drop every override: back to the scenario file's levers."""
        self.set_overrides({path: None for path in self.overrides})

    def cli_command(self) -> str:
        """The same run from the command line (replication 0 of `run` uses the same random streams), quoted for a
        POSIX shell: ``shlex.split`` of it gives back each ``--set`` argument, whatever quotes its value holds."""
        parts = ["python run_sim.py run", shlex.quote(self.scenario_name), "--replications 1", f"--seed {self.seed}",
                 f"--buyers {self.buyers}"]
        parts += [f"--set {shlex.quote(arg)}" for arg in self.override_args()]
        return " ".join(parts)

    # ---- the model ----------------------------------------------------------------------------------------
    def rebuild(self) -> None:
        """A fresh model at month 0 from the scenario with the overrides (raises ScenarioError if invalid)."""
        with self.lock:
            scenario = load_scenario(self.scenario_name, self.override_args())
            self.scenario = scenario
            # the random streams of replication 0 of `run_sim.py run --seed S`: the CLI reproduces the app's run
            self.model = LuxuryMarketModel(scenario, seed=replication_seed(self.seed, 0), buyers=self.buyers)
            self.generation += 1
            self.error = None
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

    def advance(self, months: int) -> int:
        """Simulate up to ``months`` more months; returns how many were simulated."""
        with self.lock:
            n = max(0, min(int(months), self.n_months - self.months_done))
            if n:
                self.model.run(n)
            return n

    def step_year(self) -> int:
        """One simulated year (to the next January, so the yearly tables stay aligned)."""
        return self.advance(12 - self.months_done % 12)

    def run_to_end(self, on_chunk: Callable[[], None] | None = None, chunk_seconds: float = CHUNK_SECONDS) -> bool:
        """Run to the scenario's end a year at a time, calling ``on_chunk`` about every ``chunk_seconds`` so the
        page can redraw. Stops early (returns False) if ``stop_requested`` is set or the model is rebuilt."""
        generation = self.generation
        self.stop_requested = False
        last = time.perf_counter()
        while not self.done:
            if self.stop_requested or self.generation != generation:
                return False
            with self.lock:
                if self.generation != generation:
                    return False
                self.step_year()
            if on_chunk is not None and (time.perf_counter() - last >= chunk_seconds or self.done):
                on_chunk()
                last = time.perf_counter()
        return True

    def status(self) -> str:
        """One line: the simulated month reached ("1990-12: month 60 of 300") or "not started"."""
        if self.months_done == 0:
            return f"{self.model.date(0)}: not started ({self.n_months} months to simulate)"
        return f"{self.model.date()}: month {self.months_done} of {self.n_months}"

    # ---- series --------------------------------------------------------------------------------------------
    def _key(self, *extra: Any) -> tuple:
        return (self.generation, self.months_done, *extra)

    def _cached(self, name: str, make: Callable[[], Any], *extra: Any) -> Any:
        key = (name, *self._key(*extra))
        with self.lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    def monthly_share(self) -> pd.DataFrame:
        """Trailing 12-month sales share per brand, one row per simulated month (index: fractional year)."""
        def make() -> pd.DataFrame:
            m = self.months_done
            sales = self.model.ledger.sales[:m]
            cum = np.vstack([np.zeros((1, sales.shape[1])), np.cumsum(sales, axis=0)])
            window = cum[1:] - cum[np.maximum(np.arange(1, m + 1) - 12, 0)]
            total = window.sum(axis=1, keepdims=True)
            share = np.divide(window, total, out=np.zeros_like(window), where=total > 0)
            years = self.scenario.market.start_year + (np.arange(m) + 1) / 12
            return pd.DataFrame(share, index=pd.Index(years, name="year"), columns=self.model.brand_names)
        return self._cached("monthly_share", make)

    def yearly(self) -> pd.DataFrame:
        """The model's tidy yearly table (complete years only), real units, plus ``replacers_simulated``: simulated
        owners of the brand who replaced their car that year (loyalty is left blank below MIN_REPLACERS)."""
        def make() -> pd.DataFrame:
            y = self.model.brand_year()
            if y.empty:
                return y
            years = len(y) // len(self.model.brand_names)
            rep = self.model.ledger.replacers[: years * 12].reshape(years, 12, -1).sum(axis=1).reshape(-1)
            y["replacers_simulated"] = rep
            y.loc[rep < MIN_REPLACERS, ["repurchase_loyalty", "churn_rate"]] = np.nan
            return y
        return self._cached("yearly", make)

    def latest(self) -> pd.DataFrame:
        """One row per brand (index ``brand``, scenario order): the numbers next to the charts. Columns:
        ``share_12m`` (fraction of sales, last 12 months), ``prestige`` (0-1), and from the last complete year
        ``loyalty`` (fraction), ``csi`` (0-1000), ``service_margin`` (1989 $), then ``cum_profit`` (1989 $ since the
        start); NaN before the first year is complete."""
        def make() -> pd.DataFrame:
            names = self.model.brand_names
            share = self.monthly_share()
            out = pd.DataFrame(index=pd.Index(names, name="brand"))
            out["share_12m"] = share.iloc[-1].to_numpy() if len(share) else np.nan
            out["prestige"] = [b.prestige for b in self.model.brands]
            y = self.yearly()
            if len(y):
                last = y[y["year"] == y["year"].max()].set_index("brand")
                out["loyalty"] = last["repurchase_loyalty"].reindex(names).to_numpy()
                out["csi"] = last["csi"].reindex(names).to_numpy()
                out["service_margin"] = last["service_margin"].reindex(names).to_numpy()
                out["cum_profit"] = y.groupby("brand")["profit"].sum().reindex(names).to_numpy()
            else:
                out[["loyalty", "csi", "service_margin", "cum_profit"]] = np.nan
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

    # ---- figures ----------------------------------------------------------------------------------------
    def figure(self, kind: str) -> Figure:
        """A matplotlib figure of the current state (cached until the model moves)."""
        extra = (self.flow_window, self.brand) if kind == "flows" else (self.brand,)
        return self._cached(f"fig_{kind}", lambda: FIGURES[kind](self), *extra)

    def figure_key(self, kind: str) -> tuple:
        """A key that changes whenever :meth:`figure` of ``kind`` would draw something else (the page's cue)."""
        return (kind, *self._key(self.flow_window, self.brand))

