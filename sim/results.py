"""Result folders, written whole or not at all.

Everything is written into a hidden temporary folder beside the destination, which is renamed into place
at the end: an interrupted run leaves no half-written result folder.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Iterator

import pandas as pd

from sim.runner import RunResult, summarise
from sim.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("luxsim", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "networkx", "scipy")


@contextmanager
def atomic_folder(destination: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes ``destination``, on any error it vanishes."""
    destination = Path(destination)
    if destination.exists():
        raise FileExistsError(f"{destination} already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent))
    try:
        yield tmp
        tmp.rename(destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def default_destination(scenario: Scenario, started: datetime) -> Path:
    digest = hashlib.sha1(scenario.model_dump_json().encode()).hexdigest()[:8]
    return ROOT / "results" / scenario.name / f"{started:%Y%m%dT%H%M%SZ}-{digest}"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def write_results(destination: Path, scenario: Scenario, results: list[RunResult], started: datetime,
                  seed: int, buyers: int) -> Path:
    """Write one run's tables and manifest atomically into ``destination``; returns it."""
    brand_year = pd.concat([r.brand_year for r in results], ignore_index=True)
    switching = pd.concat([r.switching for r in results], ignore_index=True)
    monthly = pd.concat([r.monthly for r in results], ignore_index=True)
    with atomic_folder(destination) as tmp:
        brand_year.to_parquet(tmp / "brand_year.parquet", index=False)
        summarise(brand_year).to_csv(tmp / "brand_year.csv", index=False, float_format="%.6g")
        (switching.groupby(["year", "from_brand", "to_brand"], sort=False)["buyers"].mean().reset_index()
         .to_csv(tmp / "switching.csv", index=False, float_format="%.6g"))
        monthly.to_parquet(tmp / "monthly.parquet", index=False)
        manifest = {
            "scenario": scenario.model_dump(mode="json"),
            "seed": seed,
            "buyers_simulated": buyers,
            "replications": [{"replication": r.replication, "seed_entropy": r.seed_entropy,
                              "spawn_key": list(r.spawn_key), "seconds": round(r.seconds, 3)} for r in results],
            "packages": _versions(),
            "git_commit": _git_commit(),
            "command_line": sys.argv,
            "started": started.isoformat(),
            "finished": datetime.now(timezone.utc).isoformat(),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return destination
