"""Result folders of runs and comparisons, written whole or not at all (``sim.files.atomic_folder``).

Everything is written into a hidden temporary folder beside the destination, which is renamed into place
at the end: an interrupted run leaves no half-written result folder.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.files import atomic_folder, safe_name, unique_suffix, write_json
from sim.scenario import Scenario

if TYPE_CHECKING:  # (sim.runner imports the model: a sweep's own process reads this module without it)
    from sim.runner import RunResult

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("luxsim", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "networkx", "scipy", "matplotlib", "seaborn")


def default_destination(scenario: Scenario, started: datetime, seed: int | None = None) -> Path:
    """``results/NAME/<UTC start time>-<hash>-s<seed>-<random>/``: NAME is the scenario's name as a safe file name
    (:func:`sim.files.safe_name`: a name such as ``../x`` never leaves ``results/``); the hash is the first 8 hex
    digits of the scenario's SHA-1 (which version of it ran), then the seed and 6 random hex digits
    (:func:`sim.files.unique_suffix`), so that no two runs started in the same second pick the same folder."""
    digest = hashlib.sha1(scenario.model_dump_json().encode()).hexdigest()[:8]
    return ROOT / "results" / safe_name(scenario.name) / f"{started:%Y%m%dT%H%M%SZ}-{digest}-{unique_suffix(seed)}"


def git_commit() -> str | None:
    """The project's ``HEAD`` commit hash, or None outside a git checkout (or without git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Python's version and each installed package's (packages not installed are left out)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance(started: datetime) -> dict:
    """What every result folder's manifest records about how it was made: package versions, the git commit, the
    command line, and when it started and finished."""
    return {
        "packages": package_versions(),
        "git_commit": git_commit(),
        "command_line": sys.argv,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
    }


def effective(scenario: Scenario, results: list[RunResult], seed: int, buyers: int) -> Scenario:
    """The scenario as actually run (command-line buyers, replications and seed written into it)."""
    sim = scenario.simulation.model_copy(update={"buyers": buyers, "replications": len(results), "seed": seed})
    return scenario.model_copy(update={"simulation": sim})


def _manifest(scenario: Scenario | dict, results: list[RunResult] | None, started: datetime, seed: int,
              buyers: int, execution: dict | None = None) -> dict:
    if isinstance(scenario, Scenario) and results:
        scenario = effective(scenario, results, seed, buyers)
    return {
        "scenario": scenario.model_dump(mode="json") if isinstance(scenario, Scenario) else scenario,
        "seed": seed,
        "buyers_simulated": buyers,
        "replications": [{"replication": r.replication, "seed_entropy": r.seed_entropy,
                          "spawn_key": list(r.spawn_key), "seconds": round(r.seconds, 3)} for r in results or []],
        **({"execution": execution} if execution is not None else {}),
        **provenance(started),
    }


def combine(results: list[RunResult]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(brand_year, switching, monthly) of all replications."""
    return (pd.concat([r.brand_year for r in results], ignore_index=True),
            pd.concat([r.switching for r in results], ignore_index=True),
            pd.concat([r.monthly for r in results], ignore_index=True))


def _write_run_files(folder: Path, scenario: Scenario, results: list[RunResult], started: datetime, seed: int,
                     buyers: int, execution: dict | None = None) -> None:
    brand_year, switching, monthly = combine(results)
    folder.mkdir(parents=True, exist_ok=True)
    brand_year.to_parquet(folder / "brand_year.parquet", index=False)
    from sim.runner import summarise

    summarise(brand_year).to_csv(folder / "brand_year.csv", index=False, float_format="%.6g")
    # mean over replications, counting a flow that did not happen in a replication as zero
    mean_flows = switching.groupby(["year", "from_brand", "to_brand"], sort=False)["buyers"].sum() / len(results)
    mean_flows.reset_index().to_csv(folder / "switching.csv", index=False, float_format="%.6g")
    monthly.to_parquet(folder / "monthly.parquet", index=False)
    lines = [r.line_year for r in results if r.line_year is not None]
    if lines:  # sales by model line: mean over replications (a line-year with no sales in one counts as zero)
        line_year = pd.concat(lines, ignore_index=True)
        keys = ["year", "brand", "model", "body", "tier"]
        mean_sales = line_year.groupby(keys, sort=False)["sales"].sum().div(len(results)).reset_index()
        mean_sales["share_of_brand"] = mean_sales.sales / mean_sales.groupby(["year", "brand"]).sales.transform("sum")
        mean_sales.to_csv(folder / "line_year.csv", index=False, float_format="%.6g")
    write_json(folder / "manifest.json", _manifest(scenario, results, started, seed, buyers, execution))


def write_results(destination: Path, scenario: Scenario, results: list[RunResult], started: datetime,
                  seed: int, buyers: int, after=None, execution: dict | None = None) -> Path:
    """Write one run's tables and manifest atomically into ``destination``; ``after(folder)`` may add more
    (the report) before the folder is renamed into place; ``execution`` (``Executor.describe()``) goes into the
    manifest. Returns ``destination``."""
    with atomic_folder(destination) as tmp:
        _write_run_files(tmp, scenario, results, started, seed, buyers, execution)
        if after:
            after(tmp)
    return destination


def write_comparison(destination: Path, runs: dict[str, tuple[Scenario, list[RunResult]]], base: str,
                     started: datetime, seed: int, buyers: int, after=None, execution: dict | None = None) -> Path:
    """A comparison folder: one run folder per scenario (named by :func:`sim.files.safe_name`), plus
    ``differences.csv`` (each scenario − base, paired by replication, with 95% intervals), ``payback.csv`` and a
    manifest."""
    from sim.compare import paired_differences, payback

    with atomic_folder(destination) as tmp:
        for name, (scenario, results) in runs.items():
            _write_run_files(tmp / safe_name(name), scenario, results, started, seed, buyers, execution)
        base_table = combine(runs[base][1])[0]
        diffs, paybacks = [], []
        for name, (_, results) in runs.items():
            if name == base:
                continue
            other = combine(results)[0]
            d = paired_differences(base_table, other)
            d.insert(0, "scenario", name)
            diffs.append(d)
            p = payback(base_table, other)
            p["paid_back_by"] = p["paid_back_by"].map({"other": name, "base": base, "": ""})
            p.insert(0, "scenario", name)
            paybacks.append(p)
        pd.concat(diffs, ignore_index=True).to_csv(tmp / "differences.csv", index=False, float_format="%.6g")
        pd.concat(paybacks, ignore_index=True).to_csv(tmp / "payback.csv", index=False, float_format="%.6g")
        manifest = _manifest({"base": base, "scenarios": list(runs),
                              "questions": {name: sc.question for name, (sc, _) in runs.items()}},
                             runs[base][1], started, seed, buyers, execution)
        write_json(tmp / "manifest.json", manifest)
        if after:
            after(tmp)
    return destination
