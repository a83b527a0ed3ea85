"""Benchmark: buyer-months per second of the full flagship model, and peak memory.

Each measurement runs in a fresh process (so its peak resident memory is its own): build the model, run
all months with metrics collected as in a normal run, and time the run. Reported: best and median of the
repeats, buyer-months per second (initial buyers × months / run seconds), peak RSS, bytes per buyer of the
model's state (arrays and network), and the split of step time by phase.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import time


def _measure(scenario_name: str, buyers: int, years: int, seed: int, engine: str = "vectorised") -> dict:
    from sim.model import LuxuryMarketModel
    from sim.scenario import load_scenario

    scenario = load_scenario(scenario_name, overrides=[f"market.years={years}"])
    t0 = time.perf_counter()
    model = LuxuryMarketModel(scenario, seed=seed, buyers=buyers, engine=engine)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    return {
        "setup_s": t1 - t0,
        "run_s": t2 - t1,
        "buyer_months_per_s": buyers * model.n_months / (t2 - t1),
        "state_bytes_per_buyer": model.memory_bytes() / buyers,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "phases": dict(model.timings),
    }


def measure(scenario_name: str, buyers: int, years: int, seed: int, engine: str = "vectorised") -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (scenario_name, buyers, years, seed, engine))


def benchmark(sizes: list[int], repeats: int = 3, years: int = 30, scenario_name: str = "lexus_us_1989",
              seed: int = 1, progress=None, reference_sizes: list[int] = (), reference_repeats: int = 1) -> list[dict]:
    """Rows for the vectorised engine at ``sizes`` and the per-agent reference engine at ``reference_sizes``;
    a reference row also gives the vectorised engine's speed-up at the same population (when measured)."""
    plan = [("vectorised", n, repeats) for n in sizes] + [("agents", n, reference_repeats) for n in reference_sizes]
    rows = []
    for engine, n, reps in plan:
        runs = []
        for r in range(reps):
            runs.append(measure(scenario_name, n, years, seed + r, engine))
            if progress:
                progress(engine, n, r)
        rates = [x["buyer_months_per_s"] for x in runs]
        total = sum(sum(x["phases"].values()) for x in runs)
        phases = {k: sum(x["phases"][k] for x in runs) / total for k in runs[0]["phases"]}
        rows.append({
            "engine": engine,
            "buyers": n,
            "years": years,
            "repeats": repeats,
            "best_buyer_months_per_s": max(rates),
            "median_buyer_months_per_s": statistics.median(rates),
            "best_run_s": min(x["run_s"] for x in runs),
            "setup_s": statistics.median(x["setup_s"] for x in runs),
            "peak_rss_mb": max(x["peak_rss_mb"] for x in runs),
            "state_bytes_per_buyer": runs[0]["state_bytes_per_buyer"],
            "phase_share": phases,
        })
    fast = {r["buyers"]: r["median_buyer_months_per_s"] for r in rows if r["engine"] == "vectorised"}
    for r in rows:
        if r["engine"] == "agents" and r["buyers"] in fast:
            r["vectorised_speedup"] = fast[r["buyers"]] / r["median_buyer_months_per_s"]
    return rows
