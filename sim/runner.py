"""Replications: independent runs of one scenario, seeded from one root seed.

Replication r uses ``SeedSequence(seed, spawn_key=(r,))`` — the r-th child of the root — so results do not
depend on how many worker processes run them, or in what order. They run through :class:`sim.executor.Executor`
(in this process for small runs, else on a local Dask cluster or the ``--scheduler`` given).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.executor import Executor
from sim.model import LuxuryMarketModel, memory_needed, run_size
from sim.report import Rendered
from sim.scenario import Scenario

BUYER_MONTHS_PER_SECOND = {"vectorised": 15e6, "agents": 5e4}  # on one core, setup included (README "Speed")


@dataclass
class RunResult:
    """One finished replication: which one, its root seed (``seed_entropy``) and spawn key, its three tables, the
    wall seconds it took, and what ``extra(model)`` returned (or None).

    ``brand_year`` is one row per year x brand (``model.brand_year()``, real units), ``switching`` one row per
    year x from_brand x to_brand (buyers), ``line_year`` one row per year x model line that sold
    (``model.line_year()``), ``monthly`` one row per month (Mesa's model-level series); each starts
    with a ``replication`` column, ``monthly`` also with ``month`` (0-based) and ``date`` (``"YYYY-MM"``).
    """

    replication: int
    seed_entropy: int
    spawn_key: tuple[int, ...]
    brand_year: pd.DataFrame
    switching: pd.DataFrame
    monthly: pd.DataFrame
    seconds: float
    extra: object = None  # what ``extra(model)`` returned, if run with one (e.g. calibration moments)
    line_year: pd.DataFrame | None = None  # sales by model line and year (``model.line_year()``), with replication


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """The seed of replication ``replication`` of a run with root ``seed``: ``SeedSequence(seed, spawn_key=(r,))``.

    The same (seed, replication) gives the same streams wherever the run happens (common random numbers across
    scenarios, backends and worker counts).
    """
    return np.random.SeedSequence(seed, spawn_key=(replication,))


def run_one(scenario: Scenario, replication: int, seed: int, buyers: int | None = None,
            engine: str = "vectorised", extra: Callable[[LuxuryMarketModel], object] | None = None) -> RunResult:
    """Run one replication of a scenario in this process, from month 0 to the end.

    Args:
        scenario: the validated scenario.
        replication: which replication (0-based): its streams are ``replication_seed(seed, replication)``.
        seed: the root seed (a non-negative int).
        buyers: buyers simulated (default: the scenario's ``simulation.buyers``).
        engine: ``"vectorised"`` (the default, fast) or ``"agents"`` (the per-agent reference engine).
        extra: a module-level function of the finished model whose result is kept in ``RunResult.extra``.

    Returns:
        The :class:`RunResult` (tables in real units, the wall seconds the run took).

    Raises:
        ValueError: an unknown ``engine`` (from :class:`~sim.model.LuxuryMarketModel`).
    """
    start = time.perf_counter()
    ss = replication_seed(seed, replication)
    model = LuxuryMarketModel(scenario, seed=ss, buyers=buyers, engine=engine)
    model.run()
    brand_year = model.brand_year()
    brand_year.insert(0, "replication", replication)
    switching = model.switching()
    switching.insert(0, "replication", replication)
    monthly = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    monthly.insert(0, "date", [model.date(m) for m in range(len(monthly))])
    monthly.insert(0, "month", np.arange(len(monthly)))
    monthly.insert(0, "replication", replication)
    line_year = model.line_year()
    line_year.insert(0, "replication", replication)
    return RunResult(replication, seed, ss.spawn_key, brand_year, switching, monthly, time.perf_counter() - start,
                     extra(model) if extra is not None else None, line_year)


def estimated_seconds(scenario: Scenario, buyers: int | None = None, engine: str = "vectorised") -> float:
    """Rough seconds one run takes on one core (0.2 s of setup plus the buyer-months at the engine's speed):
    only for choosing where to run, never for results."""
    n = buyers or scenario.simulation.buyers
    return 0.2 + n * scenario.market.months / BUYER_MONTHS_PER_SECOND[engine]


def _run_task(task: tuple) -> RunResult:
    return run_one(*task)


def run_scenarios(scenarios: dict[str, Scenario], replications: int | None = None, seed: int | None = None,
                  buyers: int | None = None, executor: Executor | None = None,
                  progress: Callable[[RunResult], None] | None = None, engine: str = "vectorised",
                  extra: Callable[[LuxuryMarketModel], object] | None = None,
                  skip: int = 0) -> dict[str, list[RunResult]]:
    """Run every scenario's replications with the same seeds (common random numbers), all in one batch.

    Args:
        scenarios: name -> scenario; replications, seed and buyers default to the first scenario's.
        replications, seed, buyers: as for :func:`run_replications`.
        skip: run replications ``skip`` to ``replications - 1`` only (the app steps replication 0 itself: 1).
        executor: where the runs go (default: a new :class:`Executor` on the local cores, closed after).
        progress: called with each finished :class:`RunResult`, in this process.
        engine: ``vectorised`` or ``agents``.
        extra: a module-level function of the finished model whose result each RunResult keeps (``.extra``).

    Returns:
        name -> the scenario's RunResults sorted by replication (``replications - skip`` of them).

    Raises:
        sim.executor.TaskError: a run raised (the message names the scenario and the replication).
        sim.executor.InsufficientMemory: the runs that would be in memory at once do not fit (nothing has run).
    """
    first = next(iter(scenarios.values()))
    replications = replications or first.simulation.replications
    seed = first.simulation.seed if seed is None else seed
    tasks = [(sc, r, seed, buyers, engine, extra) for sc in scenarios.values() for r in range(skip, replications)]
    cost = sum(estimated_seconds(sc, buyers, engine) for sc, *_ in tasks)
    biggest = max(scenarios.values(), key=lambda sc: memory_needed(sc, buyers))
    memory = (memory_needed(biggest, buyers), run_size(biggest, buyers or first.simulation.buyers))
    own = executor is None
    executor = executor or Executor()
    try:
        results = executor.map(_run_task, tasks, label=lambda _, t: f"{t[0].name} replication {t[1]}",
                               progress=(lambda _, result: progress(result)) if progress else None, cost=cost,
                               memory=memory)
    finally:
        if own:
            executor.close()
    n = len(range(skip, replications))
    return {name: results[k * n:(k + 1) * n] for k, name in enumerate(scenarios)}


def run_replications(scenario: Scenario, replications: int | None = None, seed: int | None = None,
                     buyers: int | None = None, workers: int | None = None,
                     progress: Callable[[RunResult], None] | None = None, engine: str = "vectorised",
                     extra: Callable[[LuxuryMarketModel], object] | None = None, scheduler: str | None = None,
                     executor: Executor | None = None) -> RunSet:
    """Run one scenario's replications in parallel; results sorted by replication.

    Args:
        scenario: the scenario to run.
        replications: how many (default: the scenario's ``simulation.replications``).
        seed: root seed (default: the scenario's); replication r uses ``replication_seed(seed, r)``.
        buyers: buyers simulated (default: the scenario's).
        workers, scheduler: where to run when no ``executor`` is given (see :class:`sim.executor.Executor`).
        progress, engine, extra: as for :func:`run_scenarios`.
        executor: an open executor to use (``workers`` and ``scheduler`` are then ignored).

    Returns:
        a :class:`RunSet` of ``replications`` RunResults, replication 0 first (it prints its summary).

    Raises:
        sim.executor.TaskError: a run raised (the message names the replication).
    """
    if executor is None:
        with Executor(workers, scheduler) as own:
            return run_replications(scenario, replications, seed, buyers, progress=progress, engine=engine,
                                    extra=extra, executor=own)
    return RunSet(run_scenarios({scenario.name: scenario}, replications, seed, buyers, executor, progress, engine,
                                extra)[scenario.name], scenario)


def summarise(brand_year: pd.DataFrame) -> pd.DataFrame:
    """Per year × brand over replications: mean, 5th and 95th percentile of every numeric column."""
    numeric = [c for c in brand_year.columns if c not in ("replication", "year", "brand")]
    grouped = brand_year.groupby(["year", "brand"], sort=False)[numeric]
    mean = grouped.mean().add_suffix("_mean")
    p05 = grouped.quantile(0.05).add_suffix("_p05")
    p95 = grouped.quantile(0.95).add_suffix("_p95")
    out = pd.concat([mean, p05, p95], axis=1)
    order = [f"{c}_{s}" for c in numeric for s in ("mean", "p05", "p95")]
    return out[order].reset_index()


class RunSet(Rendered, list):
    """The replications of one scenario: a list of :class:`RunResult` (sorted by replication) that knows its
    scenario and renders its summary (``str()`` for the terminal, ``_repr_html_`` in a notebook): sales share and
    repurchase loyalty by brand in milestone years, then conquest sales and sales (real units) in the last year,
    replication means (``sim.run_report.summary_tables``)."""

    def __init__(self, results=(), scenario: Scenario | None = None):
        super().__init__(results)
        self.scenario = scenario

    @property
    def brand_year(self) -> pd.DataFrame:
        """Every replication's yearly brand table, stacked (one row per replication × year × brand)."""
        return pd.concat([r.brand_year for r in self], ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """:func:`summarise` of :attr:`brand_year`."""
        return summarise(self.brand_year)

    def title(self) -> str:
        """The scenario's name (``luxsim run`` without a scenario)."""
        return self.scenario.name if self.scenario is not None else "luxsim run"

    def headline(self) -> list:
        """The run report's headline (:func:`sim.run_report.headline`: who leads, loyalty, money and its NPV),
        from these replications; none without a scenario."""
        from sim.run_report import RunData, headline

        if self.scenario is None or not len(self):
            return []
        run = RunData(folder=Path(self.scenario.name), manifest={"scenario": self.scenario.model_dump(mode="json")},
                      brand_year=self.brand_year, summary=self.summary(), switching=pd.DataFrame())
        return headline(run)

    def tables(self) -> list[dict]:
        """The summary tables of the replication means (:func:`sim.run_report.summary_tables`)."""
        from sim.run_report import summary_tables

        sc = self.scenario
        title = f"{sc.name} — {sc.question}" if sc is not None else ""
        return summary_tables(self.summary(), title, f"(mean of {len(self)} replications; sales in real units)")
