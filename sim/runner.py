"""Replications: independent runs of one scenario, seeded from one root seed.

Replication r uses ``SeedSequence(seed, spawn_key=(r,))`` — the r-th child of the root — so results do not
depend on how many worker processes run them, or in what order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from sim.model import LuxuryMarketModel
from sim.report import Rendered
from sim.scenario import Scenario


@dataclass
class RunResult:
    replication: int
    seed_entropy: int
    spawn_key: tuple[int, ...]
    brand_year: pd.DataFrame
    switching: pd.DataFrame
    monthly: pd.DataFrame
    seconds: float
    extra: object = None  # what ``extra(model)`` returned, if run with one (e.g. calibration moments)


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(replication,))


def run_one(scenario: Scenario, replication: int, seed: int, buyers: int | None = None,
            engine: str = "vectorised", extra: Callable[[LuxuryMarketModel], object] | None = None) -> RunResult:
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
    return RunResult(replication, seed, ss.spawn_key, brand_year, switching, monthly, time.perf_counter() - start,
                     extra(model) if extra is not None else None)


def _run_args(args: tuple) -> RunResult:
    return run_one(*args)


def run_replications(scenario: Scenario, replications: int | None = None, seed: int | None = None,
                     buyers: int | None = None, workers: int | None = None,
                     progress: Callable[[RunResult], None] | None = None, engine: str = "vectorised",
                     extra: Callable[[LuxuryMarketModel], object] | None = None) -> RunSet:
    """Run the replications, in parallel on the local cores; results sorted by replication (a :class:`RunSet`,
    a list of :class:`RunResult` that prints its summary). ``extra``: a module-level function of the finished
    model whose result each RunResult keeps (``.extra``)."""
    replications = replications or scenario.simulation.replications
    seed = scenario.simulation.seed if seed is None else seed
    workers = min(workers or os.cpu_count() or 1, replications)
    jobs = [(scenario, r, seed, buyers, engine, extra) for r in range(replications)]
    results: list[RunResult] = []
    if workers <= 1:
        for job in jobs:
            results.append(_run_args(job))
            if progress:
                progress(results[-1])
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("forkserver")) as pool:
            for result in pool.map(_run_args, jobs):
                results.append(result)
                if progress:
                    progress(result)
    return RunSet(sorted(results, key=lambda r: r.replication), scenario)


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
    scenario and renders its summary (``str()`` for the terminal, ``_repr_html_`` in a notebook): sales share by
    brand in milestone years, then repurchase loyalty, conquest sales and sales (real units) in the last year,
    replication means (``sim.run_report.summary_table``)."""

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
        return self.scenario.name if self.scenario is not None else "luxsim run"

    def tables(self) -> list[dict]:
        from sim.run_report import summary_table

        sc = self.scenario
        title = f"{sc.name} — {sc.question}" if sc is not None else ""
        return [summary_table(self.summary(), title, f"(mean of {len(self)} replications; sales share, repurchase "
                                                      "loyalty, conquest sales, sales in real units)")]
