"""The sweep folder: everything a sweep writes, written so that an interruption loses nothing that finished.

::

    manifest.json      experiment, resolved base scenario, design (each varied column with its role: lever or
                       uncertainty; also listed as ``levers`` and ``uncertainties``), root seed, package versions,
                       sessions
    experiment.toml    the experiment file as given
    design.parquet     point + the parameter values run
    sample.parquet     (lhs/sobol/morris) SALib's sample before integer rounding, one row per point
    outputs/           part-NNNNN.parquet: one row per run: point, replication, parameters, outputs,
                       status, error, seconds, chunk, worker
    series/            (keep_series) part-NNNNN.parquet: point, replication, year, brand, metrics
    runs.parquet       one row per planned run: point, replication, seed_entropy, spawn_key, chunk, status,
                       error, seconds, worker (status ok | error | missing)
    sweep.lock         while a sweep runs on the folder: its pid and host

Finished runs are buffered by :class:`ChunkWriter` and written as zstd Parquet chunk files, each atomically
(``sim.files``); a chunk counts once its ``outputs/`` file exists, so the folder always reads as the runs that
finished. :func:`read_outputs` reads them as one table; :func:`tidy` removes what an interruption leaves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from sim.design import ParamInfo, Plan, estimate_seconds
from sim.experiment import ROLES, Experiment
from sim.files import (
    check_writable,
    hold_ctrl_c,
    pid_alive,
    safe_name,
    unique_suffix,
    write_atomic,
    write_json,
    write_parquet,
)
from sim.results import PACKAGES as BASE_PACKAGES
from sim.results import ROOT, git_commit, package_versions
from sim.scenario import MAX_SEED
from sim.scenario_files import ScenarioError, validate

FORMAT = 1
PACKAGES = BASE_PACKAGES + ("dask", "distributed", "SALib")


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def outputs_schema(manifest: dict) -> pa.Schema:
    """The Arrow schema of the outputs chunk files (the same in every file, so the folder reads as one table); each
    varied column carries its role (``lever`` or ``uncertainty``) as field metadata (``{b"role": b"lever"}``)."""
    kinds = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
    fields = [pa.field("point", pa.int64()), pa.field("replication", pa.int64())]
    fields += [pa.field(p["name"], kinds[p["kind"]], metadata={"role": p["role"]} if "role" in p else None)
               for p in manifest["design"]["parameters"]]  # a column's role (lever, uncertainty), where recorded
    fields += [pa.field(o["name"], pa.float64()) for o in manifest["experiment"]["outputs"]]
    fields += [pa.field("status", pa.string()), pa.field("error", pa.string()), pa.field("seconds", pa.float64()),
               pa.field("chunk", pa.int64()), pa.field("worker", pa.string())]
    return pa.schema(fields)


def new_manifest(p: Plan, started: str) -> dict:
    """The manifest of a new sweep folder (status ``running``, no sessions yet)."""
    exp = p.experiment
    design = {"kind": exp.design.kind, **exp.design.model_dump(), "points": p.n_points,
              "parameters": [info.as_dict() for info in p.params], "salib_problem": p.problem}
    return {
        "kind": "luxsim-sweep",
        "format": FORMAT,
        "name": exp.name,
        "question": exp.question,
        "experiment_file": str(p.experiment_file) if p.experiment_file else None,
        "experiment": exp.model_dump(mode="json"),
        "base_scenario": p.base,
        "design": design,
        "levers": [info.name for info in p.params if info.role == "lever"],
        "uncertainties": [info.name for info in p.params if info.role == "uncertainty"],
        "replications": exp.replications,
        "runs": p.n_runs,
        "root_seed": p.seed,
        "seeding": "run (point i, replication r) uses numpy SeedSequence(root_seed, spawn_key=(i, r))",
        "metrics": p.metrics,
        "packages": package_versions(PACKAGES),
        "git_commit": git_commit(),
        "command_line": sys.argv,
        "started": started,
        "finished": None,
        "status": "running",
        "sessions": [],
    }


def read_manifest(folder: Path) -> dict:
    """A sweep folder's ``manifest.json`` as a dict, with the fields every reader of the folder relies on.

    Raises:
        ScenarioError: no manifest.json in ``folder``, or one that is not a luxsim sweep manifest (not JSON, another
            kind, or a field missing or of the wrong type): one line naming the file and what is wrong.
    """
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise ScenarioError([f"{folder}: not a sweep folder (no manifest.json)"])
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ScenarioError([f"{path}: not a sweep manifest: not JSON ({exc})"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot be read ({exc.strerror or exc})"]) from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "luxsim-sweep":
        raise ScenarioError([f"{folder}: manifest.json is not a luxsim sweep manifest"])
    problem = _manifest_problem(manifest)
    if problem:
        raise ScenarioError([f"{path}: not a sweep manifest: {problem}"])
    return manifest


# The fields of a manifest that reading, resuming and analysing a sweep folder use, with their JSON types.
MANIFEST_FIELDS = {"experiment": dict, "design": dict, "base_scenario": dict, "root_seed": int, "runs": int,
                   "sessions": list}
DESIGN_KINDS = ("grid", "lhs", "sobol", "morris")  # sim.experiment's designs
DESIGN_FIELDS = {"kind": str, "points": int, "parameters": list}
PARAMETER_FIELDS = {"name": str, "path": str, "kind": str}


def _manifest_problem(manifest: dict) -> str | None:
    """What is missing or of the wrong type in a manifest (None: nothing)."""
    def check(table: dict, fields: dict, where: str) -> str | None:
        for key, kind in fields.items():
            if key not in table:
                return f"no {where}{key!r} field"
            if not isinstance(table[key], kind) or isinstance(table[key], bool):
                return f"{where}{key!r} is not {'an' if kind is int else 'a'} {_JSON_TYPES[kind]}"
        return None

    problem = check(manifest, MANIFEST_FIELDS, "") or check(manifest["design"], DESIGN_FIELDS, "design.")
    if problem:
        return problem
    if manifest["design"]["kind"] not in DESIGN_KINDS:
        return f"design.kind {manifest['design']['kind']!r} is not one of {', '.join(DESIGN_KINDS)}"
    for i, param in enumerate(manifest["design"]["parameters"]):
        if not isinstance(param, dict):
            return f"design.parameters[{i}] is not an object"
        if problem := check(param, PARAMETER_FIELDS, f"design.parameters[{i}]."):
            return problem
        if param["kind"] not in ("int", "float", "bool", "str"):
            return f"design.parameters[{i}].kind {param['kind']!r} is not int, float, bool or str"
        if param.get("role", "lever") not in ROLES:
            return f"design.parameters[{i}].role {param['role']!r} is not lever or uncertainty"
    outputs = manifest["experiment"].get("outputs")
    if not isinstance(outputs, list):
        return "no 'experiment.outputs' list"
    for i, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            return f"experiment.outputs[{i}] has no name"
    return None


_JSON_TYPES = {dict: "object", list: "list", str: "string", int: "integer"}


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One Parquet file of a sweep folder (the design, the sample, a chunk file) as a DataFrame.

    Raises:
        ScenarioError: the file is damaged (truncated, not Parquet, columns missing): one line naming it.
    """
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:  # ArrowInvalid is a ValueError
        if isinstance(exc, FileNotFoundError):
            raise ScenarioError([f"{path}: missing from the sweep folder"]) from None
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ("; delete it and finish the sweep with --resume to run its runs again"
                if path.parent.name == "outputs" else "")
        raise ScenarioError([f"{path}: damaged output file: {reason}{hint}"]) from None


def create_folder(p: Plan, folder: Path) -> dict:
    """Write a new sweep folder's manifest, experiment copy, design (and SALib sample); no runs yet. Whole or not at
    all: if any of it cannot be written (a full disk), a folder this call made is removed again, so that neither a
    new sweep ("already exists") nor ``--resume`` ("no manifest.json") is left stuck on it."""
    folder = Path(folder)
    manifest = new_manifest(p, now())
    check_writable(folder)  # a read-only or full disk: one line (sim.files.WriteError), not a traceback
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "outputs").mkdir(exist_ok=True)
        if p.experiment.keep_series:
            (folder / "series").mkdir(exist_ok=True)
        if p.experiment_file is not None:
            write_atomic(folder / "experiment.toml", p.experiment_file.read_bytes())
        write_parquet(folder / "design.parquet", pa.Table.from_pandas(p.design, preserve_index=False))
        if p.sample is not None:
            write_parquet(folder / "sample.parquet",
                          pa.Table.from_pandas(pd.DataFrame(p.sample, columns=[i.name for i in p.params]),
                                               preserve_index=False))
        write_json(folder / "manifest.json", manifest)
    except BaseException:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return manifest


def plan_from_folder(folder: Path, manifest: dict) -> Plan:
    """The plan a sweep folder was made from (to resume it), read back from its manifest and design."""
    try:
        exp = Experiment.model_validate(manifest["experiment"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ScenarioError([f"{folder / 'manifest.json'}: not a sweep manifest: experiment.{where}: "
                             f"{first['msg']}"]) from None
    params = [ParamInfo(d["name"], d["path"], d["kind"], values=d.get("values"),
                        low=(d.get("range") or [None, None])[0], high=(d.get("range") or [None, None])[1],
                        role=d.get("role", "lever"))
              for d in manifest["design"]["parameters"]]
    design = read_table(folder / "design.parquet")
    sample = read_table(folder / "sample.parquet").to_numpy() if (folder / "sample.parquet").exists() else None
    base = manifest["base_scenario"]
    seed = int(manifest["root_seed"])
    if not 0 <= seed <= MAX_SEED:  # a folder made before seeds were bounded: its runs table cannot be written
        raise ScenarioError([f"{folder}: manifest.json: root_seed {seed} lies outside 0 to 2^63 - 1, the seeds luxsim "
                             "can store; this sweep cannot be finished: start a new one with a smaller seed"])
    p = Plan(Path(manifest["experiment_file"]) if manifest.get("experiment_file") else None, exp, base, params,
             design, sample, manifest["design"].get("salib_problem"), seed,
             manifest.get("metrics", []))
    scenario = validate(base, "<stored base>")
    varied_buyers, varied_years = _param_name(params, "simulation.buyers"), _param_name(params, "market.years")
    buyers = design[varied_buyers] if varied_buyers else scenario.simulation.buyers
    years = design[varied_years] if varied_years else scenario.market.years
    p.seconds_per_run = float(np.mean(estimate_seconds(buyers, np.asarray(years) * 12)))
    return p


def _param_name(params: list[ParamInfo], path: str) -> str | None:
    return next((p.name for p in params if p.path == path), None)


def chunk_files(folder: Path, sub: str = "outputs") -> dict[int, Path]:
    """Finished chunk files by chunk number."""
    out = {}
    for path in (Path(folder) / sub).glob("part-*.parquet"):
        m = re.fullmatch(r"part-(\d+)\.parquet", path.name)
        if m:
            out[int(m.group(1))] = path
    return dict(sorted(out.items()))


def read_outputs(folder: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All finished runs (the chunk files of ``outputs/``) as one table."""
    files = chunk_files(folder)
    if not files:
        manifest = read_manifest(folder)
        return outputs_schema(manifest).empty_table().to_pandas()[columns] if columns else \
            outputs_schema(manifest).empty_table().to_pandas()
    try:
        return pq.ParquetDataset(list(map(str, files.values()))).read(columns=columns).to_pandas()
    except (pa.ArrowException, OSError, ValueError):  # one file is damaged: find it, and name it
        for path in files.values():
            read_table(path, columns)
        raise


def tidy(folder: Path) -> None:
    """Remove what an interruption may leave: temporary files, series chunks whose outputs chunk is missing."""
    for sub in ("outputs", "series"):
        d = folder / sub
        if d.is_dir():
            for pattern in (".*.tmp", ".*.partial"):  # .tmp: folders written before sim.files
                for tmp in d.glob(pattern):
                    tmp.unlink(missing_ok=True)
    done = chunk_files(folder)
    for chunk, path in chunk_files(folder, "series").items():
        if chunk not in done:
            path.unlink(missing_ok=True)
    for pattern in (".*.tmp", ".*.partial"):
        for tmp in folder.glob(pattern):
            tmp.unlink(missing_ok=True)


def write_runs_table(folder: Path, p: Plan) -> dict[str, int]:
    """runs.parquet: every planned run with its seed and what became of it. Returns status counts."""
    have = read_outputs(folder, ["point", "replication", "status", "error", "seconds", "chunk", "worker"])
    duplicated = have.duplicated(["point", "replication"])
    if duplicated.any():  # never expected: chunk files are planned from what is missing
        raise RuntimeError(f"{folder}: {int(duplicated.sum())} runs appear twice in outputs/")
    points = np.repeat(np.arange(p.n_points, dtype=np.int64), p.experiment.replications)
    reps = np.tile(np.arange(p.experiment.replications, dtype=np.int64), p.n_points)
    runs = pd.DataFrame({"point": points, "replication": reps})
    runs = runs.merge(have, on=["point", "replication"], how="left")
    runs["status"] = runs["status"].fillna("missing")
    runs.insert(2, "seed_entropy", np.int64(p.seed))
    runs.insert(3, "spawn_key", [[int(a), int(b)] for a, b in zip(runs["point"], runs["replication"])])
    table = pa.Table.from_pandas(runs, preserve_index=False, schema=pa.schema([
        ("point", pa.int64()), ("replication", pa.int64()), ("seed_entropy", pa.int64()),
        ("spawn_key", pa.list_(pa.int64())), ("status", pa.string()), ("error", pa.string()),
        ("seconds", pa.float64()), ("chunk", pa.int64()), ("worker", pa.string())]))
    write_parquet(folder / "runs.parquet", table)
    return runs["status"].value_counts().to_dict()


class ChunkWriter:
    """Buffers finished runs; writes one outputs (and series) chunk file per ``runs_per_file`` runs or
    ``flush_seconds``, atomically."""

    def __init__(self, folder: Path, schema: pa.Schema, next_chunk: int, runs_per_file: int, flush_seconds: float):
        self.folder, self.schema, self.chunk = folder, schema, next_chunk
        self.runs_per_file, self.flush_seconds = runs_per_file, flush_seconds
        self.rows: list[dict] = []
        self.series: list[pd.DataFrame] = []
        self.since = time.monotonic()
        self.written = 0

    def add(self, result: dict) -> None:
        """Buffer one batch's result (``rows``: one dict per run; ``series``: its yearly tables or None) and write
        whatever is due: a full chunk per ``runs_per_file`` runs, or everything after ``flush_seconds``."""
        if not self.rows:
            self.since = time.monotonic()
        self.rows += result["rows"]
        if result["series"] is not None:
            self.series.append(result["series"])
        while len(self.rows) >= self.runs_per_file:
            self.flush(self.runs_per_file)
        if self.rows and time.monotonic() - self.since >= self.flush_seconds:
            self.flush()

    def flush(self, n: int | None = None) -> None:
        """Write the first ``n`` buffered runs (default: all) as the next chunk: its series file first, then its
        outputs file (a chunk counts once its outputs file exists), each atomically. Nothing buffered: no file.
        A Ctrl-C while it writes is held until the chunk is written (``sim.files.hold_ctrl_c``): the runs taken
        from the buffer are never lost half-way."""
        if not self.rows:
            return
        with hold_ctrl_c():
            self._write(n)

    def _write(self, n: int | None) -> None:
        n = len(self.rows) if n is None else n
        rows, self.rows = self.rows[:n], self.rows[n:]
        keys = {(r["point"], r["replication"]) for r in rows}
        frame = pd.DataFrame(rows)
        frame["chunk"] = self.chunk
        frame = frame.sort_values(["point", "replication"], kind="stable")
        table = pa.Table.from_pandas(frame[self.schema.names], schema=self.schema, preserve_index=False)
        name = f"part-{self.chunk:05d}.parquet"
        if self.series:
            series = pd.concat(self.series, ignore_index=True)
            index = pd.MultiIndex.from_frame(series[["point", "replication"]])
            mine = index.isin(list(keys))
            if mine.any():
                (self.folder / "series").mkdir(exist_ok=True)
                kept = series[mine].sort_values(["point", "replication", "year"], kind="stable")
                write_parquet(self.folder / "series" / name, pa.Table.from_pandas(kept, preserve_index=False))
            rest = series[~mine]
            self.series = [rest] if len(rest) else []
        write_parquet(self.folder / "outputs" / name, table)  # last: a chunk counts once its outputs file exists
        self.chunk += 1
        self.written += len(rows)
        self.since = time.monotonic()


def lock(folder: Path) -> Path:
    """Take the folder's ``sweep.lock`` (a stale lock of a dead process is taken over) and return its path.

    Raises:
        ScenarioError: a live sweep on this host holds it.
    """
    lock = folder / "sweep.lock"
    if lock.exists():
        try:
            info = json.loads(lock.read_text())
            same_host = info.get("host") == socket.gethostname()
            alive = same_host and pid_alive(int(info.get("pid", -1)))
        except (ValueError, OSError):
            alive = False
        if alive:
            raise ScenarioError([f"{folder}: a sweep is already running on it (pid {info['pid']}); "
                                 "wait for it or stop it before resuming"])
    write_json(lock, {"pid": os.getpid(), "host": socket.gethostname(), "since": now()})
    return lock


def default_folder(name: str, started: datetime, seed: int | None = None) -> Path:
    """``results/sweeps/<name>/<UTC time>-s<seed>-<random>/`` (the name a safe file name, :func:`sim.files.safe_name`;
    :func:`sim.files.unique_suffix`): two sweeps started in the same second never share a folder."""
    return ROOT / "results" / "sweeps" / safe_name(name) / f"{started:%Y%m%dT%H%M%SZ}-{unique_suffix(seed)}"
