"""Benchmark: buyer-months per second of the full flagship model, and peak memory.

Each measurement runs in a fresh process (so its peak resident memory is its own): compile (or load from the
on-disk cache) the kernels on a tiny model, then build the model, run all months with metrics collected as in
a normal run, and time the run. Reported: best and median of the repeats, buyer-months per second (initial
buyers × months / run seconds), peak RSS, bytes per buyer of the model's state (arrays, network, calendar),
the split of step time by phase (``phase_share``: brands, service, market, metrics; ``phase_detail_share``
and ``phase_ms_per_month``: brands, service_events (drawn and lived in one pass), complaints (the month's
money booked and complaints resolved), shopping (word of mouth and choice), metrics), the seconds spent
compiling or loading the kernels, and the targets of
issue #6 with whether each is met (:func:`targets`).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import statistics
import time
import warnings

TARGET_RATE = 50e6  # buyer-months per second, vectorised engine at 1M buyers, one core
TARGET_RATE_BUYERS = 1_000_000
TARGET_SPEEDUP = 200.0  # vectorised over the per-agent reference engine at the same population
TARGET_BYTES = 200.0  # state bytes per buyer, network included
# The model's phases (sim/model.py), grouped: service = service events + complaints; market = shopping.
# Word of mouth and choice are one compiled pass over the shoppers (sim/kernels.py: shop): "shopping".
PHASE_GROUP = {"service_events": "service", "complaints": "service", "shopping": "market"}


def _measure(scenario_name: str, buyers: int, years: int, seed: int, engine: str = "vectorised") -> dict:
    from sim.model import LuxuryMarketModel
    from sim.scenario_files import ScenarioWarning, load_scenario

    # The benchmark's years are its own: dates after them are expected (the command line warns once, naming --years).
    warnings.simplefilter("ignore", ScenarioWarning)  # (this is a process of its own: measure())
    t0 = time.perf_counter()
    LuxuryMarketModel(load_scenario(scenario_name, overrides=["market.years=1"]), seed=seed, buyers=1000,
                      engine=engine).run()  # compiles the kernels, or loads them from the cache
    t1 = time.perf_counter()
    scenario = load_scenario(scenario_name, options={"--years": f"market.years={years}"})
    model = LuxuryMarketModel(scenario, seed=seed, buyers=buyers, engine=engine)
    t2 = time.perf_counter()
    model.run()
    t3 = time.perf_counter()
    return {
        "jit_s": t1 - t0,
        "setup_s": t2 - t1,
        "run_s": t3 - t2,
        "buyer_months_per_s": buyers * model.n_months / (t3 - t2),
        "state_bytes_per_buyer": model.memory_bytes() / buyers,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "phases": dict(model.timings),
    }


def measure(scenario_name: str, buyers: int, years: int, seed: int, engine: str = "vectorised") -> dict:
    """One timed run in a fresh (spawned) process, so that its peak memory is its own.

    Args:
        scenario_name: a scenario name or path (:func:`sim.scenario_files.load_scenario`).
        buyers: buyers simulated.
        years: years simulated (``market.years`` is overridden).
        seed: the run's seed.
        engine: ``"vectorised"`` or ``"agents"`` (the per-agent reference engine).

    Returns:
        ``jit_s``, ``setup_s``, ``run_s`` (seconds), ``buyer_months_per_s``, ``state_bytes_per_buyer``,
        ``peak_rss_mb`` (the child process's peak resident memory, MiB) and ``phases`` (seconds by phase).
    """
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (scenario_name, buyers, years, seed, engine))


def benchmark(sizes: list[int], repeats: int = 3, years: int = 30, scenario_name: str = "lexus_us_1989",
              seed: int = 1, progress=None, reference_sizes: list[int] = (), reference_repeats: int = 1) -> list[dict]:
    """Rows for the vectorised engine at ``sizes`` and the per-agent reference engine at ``reference_sizes``;
    a reference row also gives the vectorised engine's speed-up at the same population (when measured).
    Each row lists the targets that apply to it (``targets``: target, measured, met).

    Args:
        sizes: buyer counts for the vectorised engine, each measured ``repeats`` times (seeds ``seed + r``).
        repeats: runs per vectorised size.
        years: years simulated per run.
        scenario_name: the scenario measured (a name in ``scenarios/`` or a path).
        seed: the first run's seed.
        progress: called as ``progress(engine, buyers, repeat)`` after each run, or None.
        reference_sizes: buyer counts for the per-agent reference engine.
        reference_repeats: runs per reference size.

    Returns:
        One dict per engine and size: ``engine, buyers, years, repeats``, best and median buyer-months per
        second and run seconds, ``setup_s``, ``jit_s``, ``peak_rss_mb``, ``state_bytes_per_buyer``, the phase
        shares and milliseconds per month, ``vectorised_speedup`` (reference rows, when the same size was
        measured vectorised) and ``targets``.
    """
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
        detail = {k: sum(x["phases"][k] for x in runs) / total for k in runs[0]["phases"]}
        phases: dict[str, float] = {}
        for k, v in detail.items():
            phases[PHASE_GROUP.get(k, k)] = phases.get(PHASE_GROUP.get(k, k), 0.0) + v
        rows.append({
            "engine": engine,
            "buyers": n,
            "years": years,
            "repeats": reps,
            "best_buyer_months_per_s": max(rates),
            "median_buyer_months_per_s": statistics.median(rates),
            "best_run_s": min(x["run_s"] for x in runs),
            "median_run_s": statistics.median(x["run_s"] for x in runs),
            "setup_s": statistics.median(x["setup_s"] for x in runs),
            "jit_s": max(x["jit_s"] for x in runs),
            "peak_rss_mb": max(x["peak_rss_mb"] for x in runs),
            "state_bytes_per_buyer": runs[0]["state_bytes_per_buyer"],
            "phase_share": phases,
            "phase_detail_share": detail,
            "phase_ms_per_month": {k: 1e3 * sum(x["phases"][k] for x in runs) / (len(runs) * years * 12)
                                   for k in runs[0]["phases"]},
        })
    fast = {r["buyers"]: r["median_buyer_months_per_s"] for r in rows if r["engine"] == "vectorised"}
    for r in rows:
        if r["engine"] == "agents" and r["buyers"] in fast:
            r["vectorised_speedup"] = fast[r["buyers"]] / r["median_buyer_months_per_s"]
        r["targets"] = targets(r)
    return rows


def targets(row: dict) -> list[dict]:
    """The targets of issue #6 that apply to a benchmark row, measured, and whether each is met."""
    out = []
    if row["engine"] == "vectorised":
        out.append({"target": f"state bytes per buyer <= {TARGET_BYTES:.0f}", "measured": row["state_bytes_per_buyer"],
                    "met": row["state_bytes_per_buyer"] <= TARGET_BYTES})
        if row["buyers"] >= TARGET_RATE_BUYERS:
            out.append({"target": f"buyer-months/s >= {TARGET_RATE / 1e6:.0f}M at {TARGET_RATE_BUYERS:,} buyers (best)",
                        "measured": row["best_buyer_months_per_s"],
                        "met": row["best_buyer_months_per_s"] >= TARGET_RATE})
    if "vectorised_speedup" in row:
        out.append({"target": f"vectorised >= {TARGET_SPEEDUP:.0f}x the reference engine at {row['buyers']:,} buyers "
                              "(medians)", "measured": row["vectorised_speedup"],
                    "met": row["vectorised_speedup"] >= TARGET_SPEEDUP})
    return out


def target_lines(rows: list[dict]) -> list[str]:
    """One line per target: what, measured, met or not (for the command line's table)."""
    lines = []
    for r in rows:
        for t in r.get("targets", []):
            value = t["measured"]
            shown = f"{value / 1e6:.3g}M" if value >= 1e5 else f"{value:.3g}"
            lines.append(f"{'met' if t['met'] else 'NOT met'}: {t['target']} (measured {shown}, {r['engine']} "
                         f"{r['buyers']:,})")
    return lines
