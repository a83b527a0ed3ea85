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

:func:`suite` is issue #15's benchmark (``run_sim.py bench --suite``): ratios that hold on a noisy machine, all
measured in one run (the engine's rates and the 10k/1M ratio, the ratios to the peers in ``../shared/peers/``
run as subprocesses, whole-run efficiency of ``run_sim.py run``, sweep efficiency of ``run_sim.py sweep`` and the
app's efficiency and first chart in headless Chromium, :func:`app_efficiency`), each with its target and whether it
is met, or None with the reason it was not measured.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

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


# --- The suite of issue #15: ratios that hold on a noisy machine, measured in one run -------------------------------

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT.parent / "shared" / "peers"  # the performance peers, beside the repository
MESA_PEER, NUMPY_PEER = "idiomatic_mesa_market.py", "numpy_event_driven_prototype.py"
PEER_ARGS = {"full": {MESA_PEER: ["20000", "24"], NUMPY_PEER: ["1000000"]},
             "small": {MESA_PEER: ["500", "2"], NUMPY_PEER: ["5000"]}}
TARGET_MESA_RATIO, TARGET_NUMPY_RATIO = 100.0, 2.0
TARGET_SMALL_RATE = 0.5  # the 10k rate / the 1M rate
TARGET_RUN_EFFICIENCY, TARGET_SWEEP_EFFICIENCY, TARGET_APP_EFFICIENCY = 0.8, 0.7, 0.5
TARGET_FIRST_CHART_S = 3.0  # the app's first chart after page load on a warm server
SWEEP_GRID = "lexus_service_grid"
SUBPROCESS_TIMEOUT_S = 3600


def _row(name: str, measured: float | None, target: str, met: bool | None, reason: str | None = None,
         unit: str = "") -> dict:
    """One line of the suite: a finite number (or None with the reason), its target and whether it is met."""
    if measured is not None and not math.isfinite(measured):
        measured, reason = None, reason or "not finite"
    return {"name": name, "measured": measured, "unit": unit, "target": target,
            "met": None if measured is None else met, "reason": reason if measured is None else None}


def _python(args: list[str], cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess | None, float, str | None]:
    """Run this environment's python with ``args``: (the process, wall seconds, why it failed or None)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=SUBPROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t0, f"timed out after {SUBPROCESS_TIMEOUT_S} s"
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return proc, wall, f"exit {proc.returncode}: {last}"
    return proc, wall, None


def peer_rate(peers: Path, script: str, args: list[str]) -> tuple[float | None, str | None]:
    """A peer's printed buyer-months per second (or None and why: peer not found, failed, unparsable)."""
    path = peers / script
    if not path.is_file():
        return None, f"peer not found: {path}"
    proc, _, why = _python([str(path), *args], cwd=peers)
    if why:
        return None, f"{script} {' '.join(args)} failed ({why})"
    found = re.search(r"([0-9.]+)\s*M buyer-months/s", proc.stdout)
    if not found:
        return None, f"{script} printed no 'M buyer-months/s'"
    return float(found.group(1)) * 1e6, None


def whole_run(buyers: int, years: int | None) -> tuple[float | None, str | None]:
    """Whole-run efficiency: the replication's engine seconds (its manifest) / wall seconds of ``run_sim.py run``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        extra = ["--years", str(years)] if years else []
        _, wall, why = _python([str(ROOT / "run_sim.py"), "run", "lexus_us_1989", "--buyers", str(buyers), "-r", "1",
                                "--quiet", "--out", str(out), *extra])
        if why:
            return None, f"run failed ({why})"
        seconds = json.loads((out / "manifest.json").read_text())["replications"][0]["seconds"]
    return seconds / wall, None


def sweep_grid(buyers: int, runs: int | None, workers: int) -> tuple[dict | None, str | None]:
    """Time ``run_sim.py sweep`` of the shipped grid (its buyers set, its own years; ``runs``: a subset of its runs, by
    fewer replications, then fewer values): runs, seconds, runs/s and buyer-months per run."""
    import tomli_w

    from sim.experiment import resolve_experiment
    from sim.scenario_files import read_toml

    raw = read_toml(resolve_experiment(SWEEP_GRID))
    raw["scenario"] = str(ROOT / "scenarios" / f"{raw['scenario']}.toml")
    raw.setdefault("set", {}).setdefault("simulation", {})["buyers"] = buyers
    years = raw["set"]["market"]["years"]  # its outputs' years need them all
    values = [p["values"] for p in raw["parameters"]]
    if runs is not None:
        raw["replications"] = max(1, min(raw["replications"], runs // math.prod(map(len, values))))
        while math.prod(map(len, values)) * raw["replications"] > runs and max(map(len, values)) > 1:
            longest = max(values, key=len)
            del longest[-1]
    total = math.prod(map(len, values)) * raw["replications"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{SWEEP_GRID}.toml"
        path.write_text(tomli_w.dumps(raw))
        _, wall, why = _python([str(ROOT / "run_sim.py"), "sweep", str(path), "--workers", str(workers), "--out",
                                str(Path(tmp) / "sweep"), "--quiet"])
    if why:
        return None, f"sweep failed ({why})"
    return {"runs": total, "seconds": wall, "runs_per_s": total / wall,
            "buyer_months_per_run": buyers * years * 12}, None


def suite(sizes: list[int], repeats: int = 3, years: int = 30, run_years: int | None = None,
          sweep_runs: int | None = None, workers: int = 2, peer_sizes: str = "full", peers: Path = PEERS,
          app: bool = True, progress=None) -> dict:
    """Issue #15's benchmark suite in one run: the engine's rates (``sizes``, ``years`` each, ``repeats`` runs),
    the 10k/1M rate ratio, peak memory per buyer, the ratios to the two peers (``peer_sizes``: ``full`` or ``small``;
    skipped, with the reason, if ``peers`` has not got them), whole-run efficiency (``run_sim.py run`` at the sizes
    of 100k or more, else the largest; ``run_years`` or the scenario's), and sweep efficiency (the shipped grid at
    the smallest size x its own 20 years on ``workers`` workers; ``sweep_runs``: time that many of its runs), and
    the app in headless Chromium (``app`` False: its rows say "not measured (--no-app)").

    Returns:
        ``rows`` (``name, measured, unit, target, met, reason``: measured is a finite number, or None with the
        reason and ``met`` None), ``engine`` (the rows of :func:`benchmark`), ``sweep`` (:func:`sweep_grid`'s
        measurements, or None) and ``app`` (:func:`app_efficiency`'s, or None).
    """
    say = progress or (lambda text: None)
    engine = benchmark(sizes, repeats, years, progress=lambda e, n, r: say(f"engine, {n:,} buyers, run {r + 1}"))
    rate = {r["buyers"]: r["median_buyer_months_per_s"] for r in engine}
    small, large = min(sizes), max(sizes)
    rows = [_row(f"engine buyer-months/s, {n:,} buyers (median)", rate[n], "reported (no target)", None, unit="/s")
            for n in sizes]
    rows.append(_row(f"rate at {small:,} / rate at {large:,}", rate[small] / rate[large] if small != large else None,
                     f">= {TARGET_SMALL_RATE}", rate[small] / rate[large] >= TARGET_SMALL_RATE,
                     "one size only: give --sizes two or more"))
    top = next(r for r in engine if r["buyers"] == large)
    rows.append(_row(f"peak RSS bytes per buyer, {large:,} buyers", top["peak_rss_mb"] * 2**20 / large,
                     "reported (no target)", None, unit="B"))
    rows.append(_row(f"state bytes per buyer, {large:,} buyers", top["state_bytes_per_buyer"],
                     f"<= {TARGET_BYTES:.0f}", top["state_bytes_per_buyer"] <= TARGET_BYTES, unit="B"))
    for script, target, name in ((MESA_PEER, TARGET_MESA_RATIO, "Mesa peer"), (NUMPY_PEER, TARGET_NUMPY_RATIO,
                                                                                "numpy peer")):
        say(f"peer {script}")
        args = PEER_ARGS[peer_sizes][script]
        peer, why = peer_rate(peers, script, args)
        ratio = rate[large] / peer if peer else None
        rows.append(_row(f"engine {large:,} / {name} ({' '.join(args)})", ratio, f">= {target:.0f}x",
                         ratio is not None and ratio >= target, why, unit="x"))
    for n in [n for n in sizes if n >= 100_000] or [large]:
        say(f"whole run, {n:,} buyers")
        eff, why = whole_run(n, run_years)
        rows.append(_row(f"whole-run efficiency, {n:,} buyers", eff, f">= {TARGET_RUN_EFFICIENCY}",
                         eff is not None and eff >= TARGET_RUN_EFFICIENCY, why))
    say(f"sweep {SWEEP_GRID}, {small:,} buyers, {workers} workers")
    sweep, why = sweep_grid(small, sweep_runs, workers)
    eff = sweep["runs_per_s"] * sweep["buyer_months_per_run"] / (rate[small] * workers) if sweep else None
    label = f"{sweep['runs']} runs in {sweep['seconds']:.1f} s" if sweep else "not run"
    rows.append(_row(f"sweep efficiency, {SWEEP_GRID} ({label})", eff, f">= {TARGET_SWEEP_EFFICIENCY}",
                     eff is not None and eff >= TARGET_SWEEP_EFFICIENCY, why))
    from sim.app_state import DEFAULT_RENDER

    if app:
        say("app: Run to end in headless Chromium")
        in_app, why = app_efficiency((DEFAULT_RENDER,))
    else:
        in_app, why = None, "not measured (--no-app)"
    eff = in_app["runs"][DEFAULT_RENDER] if in_app else None
    rows.append(_row(f"app efficiency, Run to end (flagship, redraw {DEFAULT_RENDER})", eff,
                     f">= {TARGET_APP_EFFICIENCY}", eff is not None and eff >= TARGET_APP_EFFICIENCY, why))
    first = in_app["first_chart_s"] if in_app else None
    rows.append(_row("app: first chart after page load, warm server", first, f"<= {TARGET_FIRST_CHART_S:.0f} s",
                     first is not None and first <= TARGET_FIRST_CHART_S, why, unit=" s"))
    return {"rows": rows, "engine": engine, "sweep": sweep, "app": in_app}


# The page's own clock for "Run to end": the moment the button's click reaches the page (capture phase) and the
# first moment after it that the page shows the end (a MutationObserver on the whole document), in the page's
# performance.now(). The browser driver's own steps (checking the button can be clicked, polling for the end) are
# not the page's time and are left out.
_PAGE_CLOCK = """([button, done]) => {
  window.luxsimClicked = null; window.luxsimDone = null;
  document.addEventListener('click', (e) => {
    if (window.luxsimClicked === null && e.target.closest(button)) window.luxsimClicked = performance.now();
  }, {capture: true});
  const seen = new MutationObserver(() => {
    if (window.luxsimClicked !== null && window.luxsimDone === null && document.querySelector(done)) {
      window.luxsimDone = performance.now(); seen.disconnect();
    }
  });
  seen.observe(document, {subtree: true, childList: true, attributes: true});
}"""


def app_efficiency(renders: tuple[str, ...] | None = None) -> tuple[dict | None, str | None]:
    """The app's efficiency as a user meets it: its server started as ``run_sim.py app`` starts it (the flagship,
    20,000 buyers), driven by headless Chromium (:mod:`sim.app_browser`). A first page load warms the server (its
    kernels compiled or loaded, its first page built); a second is timed to its first chart drawn; then "Run to end"
    is clicked for each redraw interval in ``renders`` (labels of the page's control; default: the app's default,
    then "at the end"; Reset between) and timed by the page's own clock from the click reaching it to its showing the
    end (``_PAGE_CLOCK``). Efficiency = the model's own seconds in the server (the status line's
    ``data-model-seconds``) / the page's seconds.

    Returns:
        ({"first_chart_s": seconds, "runs": {render: efficiency}, "page_s": {render: seconds},
        "model_s": {render: seconds}}, None), or (None, why not: no Chromium or Playwright, the server failed, ...).
    """
    from sim.app_browser import DONE, READY, app_server, chart_drawn, launch, missing_browser, new_page, status
    from sim.app_state import DEFAULT_RENDER

    renders = renders or (DEFAULT_RENDER, "at the end")
    why = missing_browser()
    if why:
        return None, why
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    limit_ms = SUBPROCESS_TIMEOUT_S * 1000
    out: dict = {"runs": {}, "page_s": {}, "model_s": {}}
    try:
        with tempfile.TemporaryDirectory() as tmp, app_server(Path(tmp) / "server.log", SUBPROCESS_TIMEOUT_S) as url, \
                sync_playwright() as pw:
            browser = launch(pw, limit_ms)
            try:
                page = new_page(browser, limit_ms)
                page.goto(url)
                page.wait_for_selector(chart_drawn("share"))  # the server is warm from here on
                page.close()
                page = new_page(browser, limit_ms)
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_selector(chart_drawn("share"))
                out["first_chart_s"] = time.perf_counter() - t0
                for render in renders:
                    page.click(f".luxsim-render button:has-text('{render}')")
                    page.click(".luxsim-reset")
                    page.wait_for_selector(READY + "[data-months='0'][data-running='0']", state="attached")
                    page.evaluate(_PAGE_CLOCK, [".luxsim-run", DONE])
                    page.click(".luxsim-run")
                    page.wait_for_selector(DONE, state="attached")
                    clicked, done = page.evaluate("() => [window.luxsimClicked, window.luxsimDone]")
                    seconds = (done - clicked) / 1000.0
                    model = float(status(page, "model-seconds"))
                    out["page_s"][render], out["model_s"][render] = seconds, model
                    out["runs"][render] = model / seconds
            finally:
                browser.close()
    except (OSError, RuntimeError, PlaywrightError) as exc:
        return None, f"app not measured ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return out, None


def suite_table(result: dict, repeats: int):
    """The suite's rows (:func:`suite`'s result, or its JSON read back) as a rich table of 80 columns: each
    measure, its value, its target and met / not met / n/a / not measured (with the reason)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"luxsim benchmark suite (issue #15), median of {repeats}", width=80)
    for col, justify in (("measure", "left"), ("measured", "right"), ("target", "right"), ("", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for r in result["rows"]:
        value = r["measured"]
        shown = ("–" if value is None else f"{value / 1e6:.3g}M" if r["unit"] == "/s"
                 else f"{value:,.0f}" if r["unit"] == "B" else f"{value:.3g}{r['unit']}")
        verdict = ("[green]met[/]" if r["met"] else "[bold red]not met[/]" if r["met"] is False
                   else "n/a" if value is not None else "not measured")
        reason = f" [dim]({escape(r['reason'])})[/]" if r["reason"] else ""
        table.add_row(escape(r["name"]) + reason, shown, r["target"], verdict)
    return table
