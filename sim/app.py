"""The luxsim browser app: the Lexus case with sliders, live charts and a view of word of mouth.

Start it with ``python run_sim.py app [--host 127.0.0.1] [--port 8765]`` (which calls :func:`serve`), or with
``solara run sim/app.py``. Students pick a scenario from the library (``scenarios/*.toml``), pick a brand and
move its service levers, then step the market a year at a time or run it to the end and watch sales share,
loyalty, conquest flows, satisfaction (CSI), the service P&L and a sample of the social network react.

Two layers:

* :class:`AppState` is plain Python and holds everything the page shows: the chosen scenario, the lever
  overrides (``"dotted.path=value"`` strings handed to :func:`sim.scenario.load_scenario`, so the scenario
  schema validates every slider value), the model, chunked stepping, and the series and figures drawn. It is
  unit-tested without a browser (``tests/test_app.py``).
* :func:`Page` is the Solara component: controls with a plain-language explanation beside each, buttons,
  and the charts, all reading from one ``AppState`` per browser session.

The app works offline: with ``solara-assets`` installed the page's scripts, styles and fonts are served by the
local server, and :func:`serve` turns off Solara's usage telemetry (``tests/test_app_browser.py`` checks that
no request leaves the machine).
"""

from __future__ import annotations

import html
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # `solara run sim/app.py` executes this file as a script: make `sim` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.model import LuxuryMarketModel
from sim.runner import replication_seed
from sim.scenario import SCENARIO_DIR, Scenario, ScenarioError, load_scenario

DEFAULT_SCENARIO = "lexus_us_1989"
DEFAULT_BUYERS = 20_000  # one simulated year steps in well under a second at this size
BUYER_RANGE = (5_000, 100_000, 5_000)  # min, max, step of the buyers slider
NETWORK_SAMPLE = 150  # buyers shown in the network view
CHUNK_SECONDS = 0.4  # "run to end" publishes the charts about this often
FLOW_WINDOWS = ("last 12 months", "whole run")
MIN_REPLACERS = 30  # simulated owners replacing in a year below which a brand's loyalty is too noisy to show
NEW, LEFT = "new to segment", "left segment"

BRAND_COLOURS = {
    "Lexus": "#c62828", "Cadillac": "#1565c0", "Lincoln": "#00838f", "Mercedes-Benz": "#616161",
    "BMW": "#2e7d32", "Jaguar": "#6d4c41", "Acura": "#6a1b9a", "Infiniti": "#ef6c00", "Audi": "#37474f",
    "Entrant": "#c62828", "Heritage": "#1565c0", "Sporty": "#2e7d32", "Comfort": "#6a1b9a",
}
_FALLBACK = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
             "#17becf")


def brand_colour(name: str, index: int) -> str:
    return BRAND_COLOURS.get(name, _FALLBACK[index % len(_FALLBACK)])


def _money(x: float) -> str:
    return f"${x:,.0f}"


# --------------------------------------------------------------------------------------------------------
# The controls: what each lever is, what it costs, what the case claims
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lever:
    """One brand-level control. ``path`` is the scenario field, with ``{brand}`` for the chosen brand."""

    key: str
    label: str
    kind: str  # "int", "float" or "bool"
    path: str
    explain: Callable[[Scenario], str]
    min: float = 0
    max: float = 1
    step: float = 1
    main: bool = True  # shown up front (else under "More levers")


def _explain_comp(sc: Scenario) -> str:
    c, iv = sc.costs, sc.service_events.maintenance_interval_months
    forgone = 12 / iv * c.maintenance_price
    return (f"Scheduled maintenance (a visit every {iv:g} months: oil, tires, battery, brakes) is free for this many "
            f"months after purchase. Cost: the owner no longer pays {_money(c.maintenance_price)} a visit, so the "
            f"brand forgoes about {_money(forgone)} per car-year while it lasts (the {_money(c.maintenance_cost)} "
            "visit is paid either way). Case: Lexus included it from 1989, so owners kept coming back to a dealer "
            "who looked after them.")


def _explain_quality(sc: Scenario) -> str:
    return (f"How well a routine dealer visit goes, from 0 (long waits, repeat visits) to 1 (excellent). Cost: "
            f"{_money(sc.costs.service_quality_cost)} extra per visit per unit of quality. Case: Lexus dealers ranked "
            "first in J.D. Power's customer satisfaction index (1992-1993).")


def _explain_loaner(sc: Scenario) -> str:
    return (f"A courtesy car during every repair visit, so the owner is never left without a car. Cost: "
            f"{_money(sc.costs.loaner_cost)} per repair visit. Case: a repair becomes proof that the brand cares.")


def _explain_roadside(sc: Scenario) -> str:
    r = sc.costs.rescue_cost
    return (f"Help when the car breaks down: 0 none, 1 tow truck, 2 premium (fast, alternative transport), "
            f"3 'helicopter' (whatever it takes). Cost per breakdown: {', '.join(_money(x) for x in r)} for levels "
            "0-3. Case: stories of stranded owners rescued travel by word of mouth.")


def _explain_take_back(sc: Scenario) -> str:
    return (f"Empowered staff may take back a very unhappy owner's car and replace it. Cost: "
            f"{_money(sc.costs.take_back_cost)} per take-back: rare but expensive. Case: the angriest owners become "
            "advocates.")


def _explain_goodwill(sc: Scenario) -> str:
    return (f"Share of defects found and fixed before the owner notices. Cost: {_money(sc.costs.goodwill_cost)} "
            "per fix. Avoiding a bad experience instead of recovering from it.")


def _explain_complaints(sc: Scenario) -> str:
    return (f"Chance a complaint is resolved within 90 days (later resolution restores less satisfaction; "
            f"Dillard & Bates). Cost: {_money(sc.costs.complaint_cost)} per complaint resolved. Fast + slow "
            "resolution cannot exceed 1.")


def _explain_defects(sc: Scenario) -> str:
    return ("Product quality: unscheduled repair visits per car-year of a new car (breakdowns are a share of "
            "them). Fewer defects means fewer bad experiences to recover from. Case: the 1991 Lexus had the best "
            "initial quality (J.D. Power).")


def _explain_price(sc: Scenario) -> str:
    return (f"Average transaction price before discount, 1989 dollars (the market's reference price is "
            f"{_money(sc.market.reference_price)}). Value-seekers and aspirational buyers are price-sensitive; "
            "prestige buyers hardly.")


def _explain_discount(sc: Scenario) -> str:
    return ("A price cut as a share of list price. It wins price-sensitive buyers but erodes prestige, and "
            "status buyers dislike it. A complimentary perk never touches prestige: compare the two.")


LEVERS: tuple[Lever, ...] = (
    Lever("complimentary_maintenance_months", "Complimentary maintenance (months)", "int",
          "brands.{brand}.service.complimentary_maintenance_months", _explain_comp, 0, 120, 6),
    Lever("dealer_service_quality", "Dealer service quality (0-1)", "float",
          "brands.{brand}.service.dealer_service_quality", _explain_quality, 0, 1, 0.05),
    Lever("loaner_cars", "Loaner cars", "bool", "brands.{brand}.service.loaner_cars", _explain_loaner),
    Lever("roadside_level", "Roadside rescue level (0-3)", "int", "brands.{brand}.service.roadside_level",
          _explain_roadside, 0, 3, 1),
    Lever("take_back_guarantee", "Take-back guarantee", "bool", "brands.{brand}.service.take_back_guarantee",
          _explain_take_back),
    Lever("price", "Price (1989 $)", "int", "brands.{brand}.price", _explain_price, 10_000, 80_000, 500),
    Lever("discount", "Discount (share of price)", "float", "brands.{brand}.discount", _explain_discount, 0, 0.3, 0.01),
    Lever("proactive_goodwill", "Proactive goodwill (0-1)", "float", "brands.{brand}.service.proactive_goodwill",
          _explain_goodwill, 0, 1, 0.05, main=False),
    Lever("complaint_resolution_fast", "Complaints resolved within 90 days (0-1)", "float",
          "brands.{brand}.service.complaint_resolution_fast", _explain_complaints, 0, 1, 0.05, main=False),
    Lever("defects_per_car_year", "Defects per car-year (product quality)", "float",
          "brands.{brand}.defects_per_car_year", _explain_defects, 0, 2, 0.01, main=False),
)
LEVER_BY_KEY = {lever.key: lever for lever in LEVERS}

LAG_EXPLAIN = ("Months between an incumbent noticing it has lost share and its new service policy taking effect "
               "(brands whose strategy is 'respond to share loss': {names}). Case: the incumbents took their "
               "customers for granted and answered late.")
BUYERS_EXPLAIN = ("Households simulated. Results are scaled to the real market ({real:,} cars in use); more buyers "
                  "means less noise and slower steps.")
SEED_EXPLAIN = "The random seed. Change it to see how much of a difference is luck rather than policy."

CHART_NOTES = {
    "share": "Each brand's share of new luxury-car sales over the last 12 months. The dotted line is the selected "
             "brand's launch.",
    "loyalty": "Repurchase loyalty: of the owners who replaced their car that year, the share who bought the same "
               "brand again (churn = 1 - loyalty). Left blank while fewer than 30 simulated owners replaced.",
    "flows": "Who takes buyers from whom: rows are the brand owned before, columns the brand bought (thousands of "
             "real buyers). The diagonal (loyal repurchases) is left blank.",
    "csi": "Customer satisfaction index after service events, 0-1000 (500 = neutral), per year.",
    "money": "Left: the service P&L (service revenue - service cost, including every lever's cost) per year. Right: "
             "cumulative profit (new-car margin + service margin) since the start.",
    "network": "A sample of buyers who know each other, coloured by the brand they drive now (grey: not in the "
               "luxury segment at the moment). Stories of good and bad service travel along these ties.",
}


def app_defaults() -> dict[str, Any]:
    """What a new browser session opens on: the flagship with DEFAULT_BUYERS, unless the environment says
    otherwise (LUXSIM_APP_SCENARIO, LUXSIM_APP_BUYERS: e.g. a smaller population for a slow classroom laptop)."""
    return {"scenario": os.environ.get("LUXSIM_APP_SCENARIO", DEFAULT_SCENARIO),
            "buyers": int(os.environ.get("LUXSIM_APP_BUYERS", DEFAULT_BUYERS))}


def scenario_library() -> list[tuple[str, str]]:
    """(name, question) of every scenario in ``scenarios/`` that loads."""
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            out.append((path.stem, load_scenario(path).question))
        except ScenarioError:
            continue
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(round(float(value), 6))
    return repr(str(value))


def _focus_brand(sc: Scenario) -> str:
    """The brand the app opens on: Lexus, else the last to launch (the entrant), else the first."""
    if "Lexus" in sc.brands:
        return "Lexus"
    launched = [(b.launch, name) for name, b in sc.brands.items() if b.launch]
    return max(launched)[1] if launched else next(iter(sc.brands))


# --------------------------------------------------------------------------------------------------------
# The app state: plain Python, no Solara
# --------------------------------------------------------------------------------------------------------
class AppState:
    """Everything the page shows. Thread-safe: the model steps under ``lock`` (the page's "run" thread and a
    slider may touch it at once), and every rebuild bumps ``generation`` so a running loop knows to stop."""

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
        self.brand = _focus_brand(self.base)
        self.rebuild()

    # ---- choosing --------------------------------------------------------------------------------------
    def select_scenario(self, name: str) -> None:
        """Switch scenario: its own levers, seed and focus brand (overrides of the previous one are dropped)."""
        with self.lock:
            self.base = load_scenario(name)
            self.scenario_name = name
            self.overrides = {}
            self.seed = self.base.simulation.seed
            self.brand = _focus_brand(self.base)
            self.rebuild()

    def select_brand(self, brand: str) -> None:
        if brand not in self.base.brands:
            raise ValueError(f"unknown brand {brand!r}")
        self.brand = brand  # nothing to rebuild: only which brand the levers show

    def override_args(self) -> list[str]:
        return [f"{path}={_toml_value(value)}" for path, value in self.overrides.items()]

    def _apply(self, changes: dict[str, Any]) -> bool:
        """Set overrides (value ``None`` removes one) and rebuild; on invalid input keep the old ones."""
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

    def set_lever(self, key: str, value: Any, brand: str | None = None) -> bool:
        lever = LEVER_BY_KEY[key]
        brand = brand or self.brand
        if lever.kind == "int":
            value = int(round(value))
        elif lever.kind == "float":
            value = round(float(value), 6)
        else:
            value = bool(value)
        path = lever.path.format(brand=brand)
        base_spec = self.base.brands[brand]
        base_value = getattr(base_spec.service, key) if hasattr(base_spec.service, key) else getattr(base_spec, key)
        return self._apply({path: None if value == base_value else value})

    def responders(self) -> list[str]:
        return [n for n, b in self.scenario.brands.items() if b.strategy.kind == "respond_to_share_loss"]

    def response_lag(self) -> int | None:
        names = self.responders()
        return self.scenario.brands[names[0]].strategy.lag_months if names else None

    def set_response_lag(self, months: int) -> bool:
        changes = {}
        for name in self.responders():
            path = f"brands.{name}.strategy.lag_months"
            changes[path] = None if int(months) == self.base.brands[name].strategy.lag_months else int(months)
        return self._apply(changes)

    def set_buyers(self, buyers: int) -> None:
        with self.lock:
            self.buyers = int(buyers)
            self.rebuild()

    def set_seed(self, seed: int) -> None:
        with self.lock:
            self.seed = int(seed)
            self.rebuild()

    def restore_scenario(self) -> None:
        """Drop every override: back to the scenario file's levers."""
        self._apply({path: None for path in self.overrides})

    def cli_command(self) -> str:
        """The same run from the command line (replication 0 of `run` uses the same random streams)."""
        parts = ["python run_sim.py run", self.scenario_name, "--replications 1", f"--seed {self.seed}",
                 f"--buyers {self.buyers}"]
        parts += [f"--set {arg}" for arg in self.override_args()]
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
        self.rebuild()

    @property
    def months_done(self) -> int:
        return self.model.month + 1

    @property
    def n_months(self) -> int:
        return self.model.n_months

    @property
    def done(self) -> bool:
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
        """One row per brand: the numbers next to the charts (NaN before the first year is complete)."""
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

    _layouts: dict[frozenset, dict] = {}  # shared by all sessions: the layout depends only on the ties

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
        makers = {"share": fig_share, "loyalty": fig_loyalty, "flows": fig_flows, "csi": fig_csi,
                  "money": fig_money, "network": fig_network}
        extra = (self.flow_window, self.brand) if kind == "flows" else (self.brand,)
        return self._cached(f"fig_{kind}", lambda: makers[kind](self), *extra)

    def figure_key(self, kind: str) -> tuple:
        return (kind, *self._key(self.flow_window, self.brand))


def stress_layout(g, ring_order: np.ndarray, iterations: int = 200) -> dict[int, tuple[float, float]]:
    """Positions whose distances follow the graph's shortest paths (stress majorization, Gansner, Koren & North
    2004), started from the ring order. Plain numpy, O(iterations x n^2): ~0.2 s for 150 nodes, where networkx's
    Kamada-Kawai takes seconds on a busy machine (its LAPACK calls contend for the cores)."""
    import networkx as nx
    from scipy.sparse.csgraph import shortest_path

    nodes = [int(v) for v in ring_order]
    n = len(nodes)
    if n < 3:
        return {v: (float(i), 0.0) for i, v in enumerate(nodes)}
    d = shortest_path(nx.to_scipy_sparse_array(g, nodelist=nodes, format="csr"), unweighted=True, directed=False)
    finite = np.isfinite(d)
    d[~finite] = d[finite].max() + 1  # disconnected pieces sit a step beyond the farthest pair
    w = np.zeros_like(d)
    w[d > 0] = d[d > 0] ** -2.0
    angle = 2 * np.pi * np.arange(n) / n
    x = np.c_[np.cos(angle), np.sin(angle)] * d.max() / 2
    wsum = w.sum(axis=1)[:, None]
    for _ in range(iterations):
        diff = x[:, None, :] - x[None, :, :]
        dist = np.sqrt((diff**2).sum(axis=-1))
        np.fill_diagonal(dist, 1.0)
        x = (w[:, :, None] * (x[None, :, :] + (d / np.maximum(dist, 1e-9))[:, :, None] * diff)).sum(axis=1) / wsum
    return {v: (float(x[i, 0]), float(x[i, 1])) for i, v in enumerate(nodes)}


# --------------------------------------------------------------------------------------------------------
# Figures (pure functions of the state)
# --------------------------------------------------------------------------------------------------------
def _figure(width: float = 5.6, height: float = 3.2, ncols: int = 1, right: float = 0.97):
    fig = Figure(figsize=(width, height), dpi=80)
    axes = fig.subplots(1, ncols)
    fig.subplots_adjust(left=0.12 if ncols == 1 else 0.1, right=right, bottom=0.12, top=0.92, wspace=0.35)
    return fig, axes


def _empty(ax, text: str = "Press 'Step one year' or 'Run to end'") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _lines(ax, state: AppState, table: pd.DataFrame, value: str, scale: float = 1.0) -> None:
    """One line per brand (colours as in the table beside the charts; the selected brand drawn thick)."""
    for i, name in enumerate(state.model.brand_names):
        rows = table[table["brand"] == name]
        focus = name == state.brand
        ax.plot(rows["year"] + 0.5, rows[value] * scale, color=brand_colour(name, i), lw=2.6 if focus else 1.2,
                alpha=1.0 if focus else 0.8, marker="o" if len(rows) < 4 else None, ms=3, zorder=3 if focus else 2)


def _x_range(ax, state: AppState) -> None:
    start = state.scenario.market.start_year
    ax.set_xlim(start, start + state.scenario.market.years)


def fig_share(state: AppState) -> Figure:
    fig, ax = _figure()
    share = state.monthly_share()
    if share.empty:
        _empty(ax)
        return fig
    for i, name in enumerate(share.columns):
        focus = name == state.brand
        ax.plot(share.index, share[name] * 100, color=brand_colour(name, i), lw=2.6 if focus else 1.2,
                zorder=3 if focus else 2)
    launch = state.scenario.brands[state.brand].launch
    if launch:
        year, month = (int(p) for p in launch.split("-"))
        ax.axvline(year + (month - 1) / 12, color=brand_colour(state.brand, 0), ls=":", lw=1)
    _x_range(ax, state)
    ax.set_ylim(0, None)
    ax.set_ylabel("sales share, last 12 months (%)")
    ax.grid(alpha=0.3)
    return fig


def fig_loyalty(state: AppState) -> Figure:
    fig, ax = _figure()
    y = state.yearly()
    if y.empty:
        _empty(ax, "Loyalty appears after the first full year")
        return fig
    _lines(ax, state, y, "repurchase_loyalty", 100)
    _x_range(ax, state)
    ax.set_ylim(0, 100)
    ax.set_ylabel("repurchase loyalty (%)")
    ax.grid(alpha=0.3)
    return fig


def fig_csi(state: AppState) -> Figure:
    fig, ax = _figure()
    y = state.yearly()
    if y.empty:
        _empty(ax, "CSI appears after the first full year")
        return fig
    _lines(ax, state, y, "csi")
    _x_range(ax, state)
    ax.axhline(500, color="0.5", lw=0.8, ls="--")
    ax.set_ylabel("CSI (0-1000, 500 = neutral)")
    ax.grid(alpha=0.3)
    return fig


def fig_money(state: AppState) -> Figure:
    fig, (left, right) = _figure(ncols=2)
    y = state.yearly()
    if y.empty:
        _empty(left, "The P&L appears after\nthe first full year")
        _empty(right, "")
        return fig
    _lines(left, state, y, "service_margin", 1e-6)
    left.axhline(0, color="0.3", lw=0.8)
    left.set_title("service margin per year ($M)", fontsize=9)
    cum = y.sort_values("year").assign(cum_profit=lambda d: d.groupby("brand")["profit"].cumsum())
    _lines(right, state, cum, "cum_profit", 1e-6)
    right.set_title("cumulative profit ($M)", fontsize=9)
    for ax in (left, right):
        _x_range(ax, state)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    return fig


def fig_flows(state: AppState) -> Figure:
    fig, ax = _figure(height=3.8, right=0.99)
    fig.subplots_adjust(left=0.22, bottom=0.25, top=0.93)
    f = state.flows()
    if state.months_done == 0 or f.to_numpy().sum() == 0:
        _empty(ax)
        return fig
    shown = f.to_numpy() / 1000.0
    n = len(state.model.brand_names)
    shown[np.arange(n), np.arange(n)] = np.nan  # loyal repurchases: not a flow between brands
    ax.imshow(np.ma.masked_invalid(shown), cmap="Reds", aspect="auto")
    ax.set_xticks(range(f.shape[1]), f.columns, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(f.shape[0]), f.index, fontsize=8)
    top = np.nanmax(shown) if np.isfinite(shown).any() else 0
    for r in range(shown.shape[0]):
        for c in range(shown.shape[1]):
            v = shown[r, c]
            if np.isfinite(v) and v >= 0.05:
                ax.text(c, r, f"{v:.0f}" if v >= 10 else f"{v:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 * top else "black")
    if state.brand in f.index:
        i = list(f.index).index(state.brand)
        ax.add_patch(_row_box(i, f.shape[1]))
        ax.add_patch(_col_box(i, f.shape[0]))
    ax.set_title(f"thousands of buyers, {state.flow_window}", fontsize=9)
    return fig


def _row_box(i: int, width: int):
    from matplotlib.patches import Rectangle

    return Rectangle((-0.5, i - 0.5), width, 1, fill=False, lw=1.5, ec="#333333")


def _col_box(i: int, height: int):
    from matplotlib.patches import Rectangle

    return Rectangle((i - 0.5, -0.5), 1, height, fill=False, lw=1.5, ec="#333333", ls="--")


def fig_network(state: AppState) -> Figure:
    from matplotlib.collections import LineCollection

    fig, ax = _figure(height=3.8, right=0.7)
    fig.subplots_adjust(left=0.01, bottom=0.01, top=0.92)
    g, pos = state.network_graph()
    if not g.number_of_nodes():
        _empty(ax, "No buyers to show")
        return fig
    brands = state.network_brands()
    names = state.model.brand_names
    colours = {name: brand_colour(name, i) for i, name in enumerate(names)}
    segments = [(pos[u], pos[v]) for u, v in g.edges]
    ax.add_collection(LineCollection(segments, colors="#bbbbbb", linewidths=0.4, zorder=1))
    nodes = list(brands.index)
    xy = np.array([pos[int(v)] for v in nodes])
    ax.scatter(xy[:, 0], xy[:, 1], s=26, c=[colours.get(brands[v], "#eeeeee") for v in nodes],
               edgecolors="#555555", linewidths=0.3, zorder=2)
    counts = brands.value_counts()
    for name in names:
        if counts.get(name, 0):
            ax.scatter([], [], color=colours[name], label=f"{name} ({counts[name]})", s=25)
    outside = int(brands.isna().sum())
    if outside:
        ax.scatter([], [], color="#eeeeee", edgecolors="#555555", label=f"not in segment ({outside})", s=25)
    same, expected = state.same_brand_ties()
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_axis_off()
    title = f"{len(nodes)} neighbours and their ties, {state.model.date() if state.months_done else 'at the start'}"
    ax.set_title(title, fontsize=9)
    if np.isfinite(same):
        fig.text(0.72, 0.08, f"ties between owners\nof the same brand:\n{same:.0%} ({expected:.0%} if brands\n"
                 "were spread at random)", fontsize=7.5, color="0.25")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7.5, frameon=False)
    return fig


# --------------------------------------------------------------------------------------------------------
# The page (Solara)
# --------------------------------------------------------------------------------------------------------
def _fmt(value: float, kind: str) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "money":
        return f"${value / 1e6:,.0f}M"
    if kind == "frac":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def latest_table_html(state: AppState) -> str:
    """The numbers beside the charts, as an HTML table with a stable test id per cell."""
    t = state.latest()
    head = ("<tr><th>brand</th><th>sales share<br>(last 12 mo)</th><th>repurchase<br>loyalty</th><th>CSI</th>"
            "<th>service margin<br>(last year)</th><th>cumulative<br>profit</th><th>prestige<br>(0-1)</th></tr>")
    rows = []
    for i, (name, r) in enumerate(t.iterrows()):
        key = html.escape(str(name))
        swatch = f'<span class="luxsim-swatch" style="background:{brand_colour(str(name), i)}"></span>'
        bold = ' style="font-weight:bold"' if name == state.brand else ""
        cells = []
        for col, kind in (("share_12m", "pct"), ("loyalty", "pct"), ("csi", "num"), ("service_margin", "money"),
                          ("cum_profit", "money"), ("prestige", "frac")):
            v = r[col]
            raw = "" if not np.isfinite(v) else repr(float(v))
            cells.append(f'<td data-testid="{col}-{key}" data-value="{raw}">{_fmt(v, kind)}</td>')
        rows.append(f"<tr{bold}><td>{swatch}{key}</td>{''.join(cells)}</tr>")
    return f'<table class="luxsim-latest">{head}{"".join(rows)}</table>'


def status_html(state: AppState, running: bool) -> str:
    return (f'<div class="luxsim-status" data-testid="status" data-months="{state.months_done}" '
            f'data-done="{int(state.done)}" data-running="{int(running)}" data-generation="{state.generation}">'
            f"{html.escape(state.status())}{' (running...)' if running else ''}</div>")


CSS = """
.luxsim-latest { border-collapse: collapse; font-size: 13px; }
.luxsim-latest td, .luxsim-latest th { padding: 2px 8px; text-align: right; border-bottom: 1px solid #ddd; }
.luxsim-latest td:first-child, .luxsim-latest th:first-child { text-align: left; }
.luxsim-explain { font-size: 12px; color: #555; margin: 0 0 12px 0; line-height: 1.3; }
.luxsim-label { font-size: 14px; margin-top: 4px; }
.luxsim-slider .v-input { margin-top: 0; padding-top: 0; }
.luxsim-status { font-size: 15px; font-weight: 500; }
.luxsim-swatch { display: inline-block; width: 18px; height: 4px; margin: 0 6px 3px 0; }
.luxsim-cli { font-family: monospace; font-size: 11px; word-break: break-all; color: #333; }
"""

try:
    import solara
    import solara.lab
except ImportError:  # the model and AppState work without the app's extra packages
    solara = None


if solara is not None:

    @solara.component
    def Explain(text: str):
        solara.Text(text, classes=["luxsim-explain"])

    def _shown(lever: Lever, value: Any) -> str:
        if lever.kind == "bool":
            return "on" if value else "off"
        if lever.key == "price":
            return _money(value)
        if lever.kind == "int":
            return f"{int(value)}"
        return f"{float(value):.2f}"

    @solara.component
    def Slider(label: str, value: float, lo: float, hi: float, step: float, on_value, kind: str, css: str,
               disabled: bool = False):
        """A labelled slider: the label with the current value above the track, keyboard-friendly."""
        with solara.Column(classes=[css], gap="0px"):
            solara.Text(label, classes=["luxsim-label"])
            if kind == "int":
                solara.SliderInt("", value=int(value), min=int(lo), max=int(hi), step=int(step), on_value=on_value,
                                 thumb_label=False, disabled=disabled)
            else:
                solara.SliderFloat("", value=float(value), min=lo, max=hi, step=step, on_value=on_value,
                                   thumb_label=False, disabled=disabled)

    @solara.component
    def LeverControl(state: AppState, lever: Lever, bump: Callable[[], None], value: Any, generation: int):
        """A lever of the selected brand; ``value`` and ``generation`` are props so the control re-renders."""

        def on_value(v):
            state.set_lever(lever.key, v)
            bump()

        with solara.Column(classes=[f"lever-{lever.key}"], gap="0px"):
            if lever.kind == "bool":
                solara.Switch(label=f"{lever.label}: {_shown(lever, value)}", value=bool(value), on_value=on_value)
            else:
                Slider(f"{lever.label}: {_shown(lever, value)}", value, lever.min, lever.max, lever.step, on_value,
                       lever.kind, "luxsim-slider")
            Explain(lever.explain(state.scenario))

    @solara.component
    def Chart(state: AppState, kind: str, title: str, figure_key: tuple):
        """One chart card; ``figure_key`` changes whenever the figure does, which re-renders the card."""
        with solara.Card(title, margin=1, classes=[f"luxsim-chart-{kind}"]):
            solara.FigureMatplotlib(state.figure(kind), dependencies=[figure_key], format="png")
            Explain(CHART_NOTES[kind])

    @solara.component
    def Page():
        state = solara.use_memo(lambda: AppState(**app_defaults()), [])
        _version, set_version = solara.use_state(0)  # bumped after every change: re-renders the page
        lock = solara.use_memo(threading.Lock, [])
        counter = solara.use_ref(0)

        def bump():
            with lock:
                counter.current += 1
                value = counter.current
            set_version(value)

        def run_loop():
            state.run_to_end(on_chunk=bump)
            bump()

        runner = solara.lab.use_task(run_loop, dependencies=None)
        running = bool(runner.pending)

        def step():
            state.step_year()
            bump()

        def stop():
            state.stop_requested = True

        def reset():
            state.stop_requested = True
            state.reset()
            bump()

        def choose_scenario(name):
            state.stop_requested = True
            state.select_scenario(name)
            bump()

        def choose_brand(name):
            state.select_brand(name)
            bump()

        def set_buyers(n):
            state.set_buyers(n)
            bump()

        def set_seed(s):
            if s is not None and s >= 0:
                state.set_seed(s)
                bump()

        def set_lag(m):
            state.set_response_lag(m)
            bump()

        def set_window(w):
            state.flow_window = w
            bump()

        def restore():
            state.restore_scenario()
            bump()

        library = solara.use_memo(scenario_library, [])
        questions = dict(library)
        sc = state.scenario

        solara.Style(CSS)
        solara.Title("luxsim: the Lexus case")
        with solara.Column(gap="8px", style={"padding": "0 8px"}):
            solara.AppBarTitle("luxsim: service, loyalty and share in the luxury car market")
            with solara.Sidebar():
                with solara.Column(gap="4px"):
                    solara.Select("Scenario", values=[n for n, _ in library], value=state.scenario_name,
                                  on_value=choose_scenario)
                    Explain(questions.get(state.scenario_name, sc.question))
                    with solara.Column(classes=["lever-buyers"], gap="0px"):
                        Slider(f"Buyers simulated: {state.buyers:,}", state.buyers, *BUYER_RANGE, set_buyers, "int",
                               "luxsim-slider")
                        Explain(BUYERS_EXPLAIN.format(real=sc.market.segment_households))
                    solara.InputInt("Seed", value=state.seed, on_value=set_seed)
                    Explain(SEED_EXPLAIN)
                    solara.Select("Brand whose levers you move", values=list(sc.brands), value=state.brand,
                                  on_value=choose_brand)
                    for lever in LEVERS:
                        if lever.main:
                            LeverControl(state, lever, bump, state.lever_value(lever.key), state.generation)
                    with solara.Details("More levers (product quality, goodwill, complaints)"):
                        for lever in LEVERS:
                            if not lever.main:
                                LeverControl(state, lever, bump, state.lever_value(lever.key), state.generation)
                    lag = state.response_lag()
                    with solara.Column(classes=["lever-response_lag"], gap="0px"):
                        if lag is None:
                            Slider("Incumbent response lag: none respond", 0, 0, 120, 3, None, "int", "luxsim-slider",
                                   disabled=True)
                            Explain("No brand in this scenario responds to share loss: the incumbents follow their "
                                    "timelines only.")
                        else:
                            Slider(f"Incumbent response lag: {lag} months", lag, 0, 120, 3, set_lag, "int",
                                   "luxsim-slider")
                            Explain(LAG_EXPLAIN.format(names=", ".join(state.responders())))
                    timeline = sc.brands[state.brand].timeline
                    if timeline:
                        Explain(f"Dated changes for {state.brand} still happen on schedule: "
                                + "; ".join(f"{c.date} {c.note or 'policy change'}" for c in timeline))
                    solara.Button("Restore the scenario's levers", on_click=restore, text=True,
                                  disabled=not state.overrides, classes=["luxsim-restore"])

            # the main area (the sidebar above goes to the app bar's drawer)
            solara.HTML(tag="h3", unsafe_innerHTML=html.escape(f"{sc.name}: {sc.question}"))
            if sc.description:
                Explain(sc.description.strip())
            with solara.Row(gap="8px", classes=["luxsim-buttons"]):
                solara.Button("Step one year", on_click=step, disabled=running or state.done, color="primary",
                              classes=["luxsim-step"])
                solara.Button("Run to end", on_click=lambda: runner(), disabled=running or state.done,
                              color="primary", classes=["luxsim-run"])
                solara.Button("Stop", on_click=stop, disabled=not running, classes=["luxsim-stop"])
                solara.Button("Reset", on_click=reset, disabled=running, classes=["luxsim-reset"])
            solara.HTML(unsafe_innerHTML=status_html(state, running))
            solara.ProgressLinear(value=100 * state.months_done / state.n_months)
            if state.error:
                solara.Error(f"Not applied: {state.error}")
            solara.HTML(unsafe_innerHTML=latest_table_html(state))
            with solara.Details("The same run from the command line"):
                solara.Text(state.cli_command(), classes=["luxsim-cli"])
            with solara.Columns([1, 1]):
                Chart(state, "share", "Sales share", state.figure_key("share"))
                Chart(state, "loyalty", "Churn and repurchase loyalty", state.figure_key("loyalty"))
            with solara.Columns([1, 1]):
                with solara.Column(gap="0px"):
                    solara.ToggleButtonsSingle(value=state.flow_window, values=list(FLOW_WINDOWS),
                                               on_value=set_window, dense=True)
                    Chart(state, "flows", "Conquest flows: who takes buyers from whom", state.figure_key("flows"))
                Chart(state, "network", "Word of mouth: a sample of the social network", state.figure_key("network"))
            with solara.Columns([1, 1]):
                Chart(state, "csi", "Customer satisfaction (CSI)", state.figure_key("csi"))
                Chart(state, "money", "Service P&L and cumulative profit", state.figure_key("money"))
            events = state.history()
            if events:
                with solara.Details(f"Policy changes so far ({len(events)})"):
                    solara.HTML(tag="ul", unsafe_innerHTML="".join(
                        f"<li>{html.escape(d)} <b>{html.escape(b)}</b>: {html.escape(n)}</li>" for d, b, n in events))


# --------------------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------------------
def serve(host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
    """Start the Solara server for this app on ``host:port`` and block until it is stopped (Ctrl-C).

    Works offline: the page's assets come from the ``solara-assets`` package through the local server, and
    Solara's usage telemetry is switched off before the server starts."""
    os.environ["SOLARA_APP"] = "sim.app"
    os.environ["SERVER_NAME"] = host
    os.environ["SERVER_PORT"] = str(port)
    os.environ["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] = "False"
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "False")
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    import solara.server.settings as settings
    import uvicorn

    settings.telemetry.mixpanel_enable = False
    settings.theme.show_banner = False
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")  # plain http on loopback
    settings.main.mode = "production"
    from solara.server.starlette import app as starlette_app  # reads SOLARA_APP: import after setting it

    print(f"luxsim app: http://{host}:{port}  (Ctrl-C to stop)", flush=True)
    uvicorn.run(starlette_app, host=host, port=port, log_level=log_level, loop="asyncio")

