"""Parameter sweeps: one experiment file, thousands of replicated runs, tidy Parquet that streams to disk.

The pieces, one module each: the experiment file's schema (``sim.experiment``), the plan and its SALib design,
every design point validated before anything is written (``sim.design``), the sweep folder and its chunk files
(``sim.sweep_folder``), and here, the running: :func:`run_sweep` (or finishing an interrupted sweep with
``resume=True``) and :func:`sweep_summary`.

Runs go through :class:`sim.executor.Executor` (a local Dask cluster on this machine's cores, or an existing
scheduler; in this process with ``workers=1``) in batches of a few seconds of work each (one task per batch,
retried if its worker is lost); finished runs are buffered and written as Parquet chunk files
(``runs_per_file`` runs, or whatever finished within ``flush_seconds``). Run (design point i, replication r)
is seeded with ``SeedSequence(seed, spawn_key=(i, r))`` (``sim.design.run_seed``): results are the same
whatever the backend, the number of workers, the batching, or interruptions and resumes. A resumed sweep runs
only the (point, replication) pairs that no chunk file holds, with the same seeds.
"""

from __future__ import annotations

import math
import os
import shlex
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.design import Plan, plan, run_seed
from sim.executor import Executor, SchedulerUnavailable, TaskError, check_memory, scheduler_address
from sim.experiment import EXECUTION_FIELDS, Experiment, select_cells
from sim.files import hold_ctrl_c, plain, write_json
from sim.scenario_files import ScenarioError, apply_overrides, set_values, validate
from sim.sweep_folder import (
    ChunkWriter,
    chunk_files,
    create_folder,
    default_folder,
    lock,
    now,
    outputs_schema,
    plan_from_folder,
    read_manifest,
    read_outputs,
    tidy,
    write_runs_table,
)

TARGET_TASK_SECONDS = 5.0  # a batch (one task) is about this much work
RETRIES = 2  # times a batch is retried on the cluster (a lost worker)


class SweepIncomplete(RuntimeError):
    """Some runs could not be completed (their tasks failed on the cluster); the rest are saved."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep; the finished runs are saved. The message says where they are and how to finish."""


def resume_command(experiment: str | Path | None, folder: str | Path, workers: int | None = None,
                   scheduler: str | None = None) -> str:
    """The command that finishes an interrupted sweep in ``folder``: ``python run_sim.py sweep EXPERIMENT --resume
    --out FOLDER`` (with the ``--workers`` and ``--scheduler`` given), each part quoted for a POSIX shell.
    ``experiment`` is the experiment as it was given (None: the copy the sweep folder keeps, ``experiment.toml``)."""
    args = ["python", "run_sim.py", "sweep", str(experiment if experiment is not None else
                                                 Path(folder) / "experiment.toml"), "--resume", "--out", str(folder)]
    if workers is not None:
        args += ["--workers", str(workers)]
    if scheduler:
        args += ["--scheduler", scheduler]
    return shlex.join(args)


@dataclass
class _Static:
    """What every batch needs; an opaque object so Dask does not look inside it."""

    base: dict
    paths: list[str]
    names: list[str]
    outputs: list[dict]
    series: bool | list[str]
    seed: int


@dataclass
class _Batch:
    batch: int
    runs: list[tuple[int, int, tuple]]  # (point, replication, parameter values)



def output_value(table: pd.DataFrame, spec: dict) -> float:
    """One named output from a brand_year() table (NaN cells skipped; NaN if nothing is left). An output with
    ``versus`` is this value of the run minus this value of its twin run (:func:`_run_batch`)."""
    brands = [spec["brand"]] if spec.get("brand") is not None else spec.get("brands")
    rows = select_cells(table, brands, spec.get("year"), spec.get("years"))
    values = rows[spec["metric"]].to_numpy(dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan")
    how = spec.get("aggregate") or "mean"
    return float(getattr(np, how)(values))


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _run_batch(static: _Static, batch: _Batch) -> dict:
    """Run a batch; a run that raises is recorded (status 'error') rather than failing the batch."""
    from sim.model import LuxuryMarketModel

    worker = _worker_name()
    rows, series = [], []
    for point, replication, values in batch.runs:
        start = time.perf_counter()
        row: dict[str, Any] = {"point": point, "replication": replication}
        row.update(zip(static.names, values))
        try:
            raw = set_values(static.base, dict(zip(static.paths, values)))
            scenario = validate(raw, f"design point {point}")
            seed = run_seed(static.seed, point, replication)
            model = LuxuryMarketModel(scenario, seed=seed, collect=False).run()  # its tables are the ledger's
            table = model.brand_year()
            twins: dict[tuple, pd.DataFrame] = {}  # one twin run per distinct counterfactual, the same seed
            for spec in static.outputs:
                row[spec["name"]] = output_value(table, spec)
                if spec.get("versus"):
                    key = tuple(spec["versus"])
                    if key not in twins:
                        twin = validate(apply_overrides(raw, list(key)), f"design point {point} versus")
                        twins[key] = LuxuryMarketModel(twin, seed=seed, collect=False).run().brand_year()
                    row[spec["name"]] -= output_value(twins[key], spec)
            row["status"], row["error"] = "ok", None
            if static.series:
                keep = table if static.series is True else table[["year", "brand", *static.series]]
                keep = keep.copy()
                keep.insert(0, "replication", replication)
                keep.insert(0, "point", point)
                series.append(keep)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded per run, the sweep goes on
            for spec in static.outputs:
                row[spec["name"]] = float("nan")
            row["status"], row["error"] = "error", f"{type(exc).__name__}: {exc}"[:2000]
        row["seconds"] = time.perf_counter() - start
        row["worker"] = worker
        rows.append(row)
    return {"batch": batch.batch, "rows": rows,
            "series": pd.concat(series, ignore_index=True) if series else None}




def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} runs/s" if speed else "- runs/s", style="progress.data.speed")

    return Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TextColumn("runs"), RateColumn(), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


def _runs_per_task(p: Plan, n_missing: int, n_workers: int) -> int:
    if p.experiment.runs_per_task:
        return p.experiment.runs_per_task
    by_time = max(1, int(TARGET_TASK_SECONDS / max(p.seconds_per_run, 1e-3)))
    by_balance = max(1, math.ceil(n_missing / (4 * max(1, n_workers))))  # each worker gets >= 4 tasks
    return min(by_time, by_balance, 1000)


def batch_sizes(n_runs: int, runs_per_task: int, n_workers: int, taper: bool = True) -> list[int]:
    """Runs per task, in the order the tasks are submitted: ``runs_per_task`` each, or with ``taper`` (guided
    self-scheduling, Polychronopoulos & Kuck 1987) at most that and never more than the runs left over twice the
    workers, so that the last tasks are single runs and no worker is left running a full batch while the others
    wait: for 48 runs on 2 workers, at most 5 a task, 5 x 7, 4, 3, 2, 1, 1, 1, 1.

    Args:
        n_runs: runs to split (0 gives no task).
        runs_per_task: the largest task, >= 1.
        n_workers: workers the tasks are spread over, >= 1.
        taper: False for equal tasks (the last one holds what is left); one worker never tapers.

    Returns:
        Positive sizes summing to ``n_runs``, non-increasing.
    """
    sizes, left = [], n_runs
    while left > 0:
        size = min(runs_per_task, left)
        if taper and n_workers > 1:  # (one worker has no one to wait for)
            size = min(size, math.ceil(left / (2 * n_workers)))
        sizes.append(size)
        left -= size
    return sizes




def _memory(p: Plan) -> tuple[int, str]:
    """(peak bytes of the sweep's largest run, what it is): its base scenario at the most buyers any point runs."""
    from sim.memory import memory_needed, run_size

    scenario = validate(p.base, "the sweep's base scenario")
    varied = next((info.name for info in p.params if info.path == "simulation.buyers"), None)
    buyers = int(p.design[varied].max()) if varied else scenario.simulation.buyers
    return memory_needed(scenario, buyers), run_size(scenario, buyers)


def _check_memory(p: Plan, workers: int | None, scheduler: str | None) -> None:
    """Refuse, before a folder is made or a cluster started, a sweep whose runs cannot fit this machine's memory as
    many at once as the local workers run (each new worker's baseline counted): ``InsufficientMemory``, one line
    (the CLI exits 1). Runs on a scheduler's workers are checked there, by the model."""
    if scheduler or (workers != 1 and scheduler_address(None)):
        return
    at_once = 1 if workers == 1 else max(1, min(workers or os.cpu_count() or 1, p.n_runs))
    check_memory(*_memory(p), at_once=at_once, new_processes=at_once if at_once > 1 else 0)


def _execute(folder: Path, p: Plan, manifest: dict, workers: int | None, scheduler: str | None,
             progress: bool, session: dict) -> None:
    """Run the runs that no chunk file of ``folder`` holds yet, filling in the ``session`` record."""
    tidy(folder)
    done = read_outputs(folder, ["point", "replication"])
    done_keys = set(zip(done["point"].tolist(), done["replication"].tolist()))
    reps = p.experiment.replications
    missing = [(i, r) for i in range(p.n_points) for r in range(reps) if (i, r) not in done_keys]
    existing = chunk_files(folder)
    writer = ChunkWriter(folder, outputs_schema(manifest), (max(existing) + 1) if existing else 0,
                         p.experiment.runs_per_file, p.experiment.flush_seconds)
    session.update(started=now(), finished=None, runs_before=len(done_keys), runs_planned=len(missing),
                   runs_written=0, scheduler=None, workers=None, runs_per_task=None, status="running")
    if not missing:
        session.update(finished=now(), status="complete", scheduler="(nothing to run)")
        return
    failures: list[str] = []
    with Executor(workers, scheduler) as executor:
        try:
            execution = executor.start(len(missing))
            per_task = _runs_per_task(p, len(missing), execution["workers"])
            session.update(scheduler=executor.description, workers=execution["workers"], runs_per_task=per_task,
                           execution=execution)
            columns = [info.name for info in p.params]
            values = p.design[columns].to_numpy(dtype=object)
            static = _Static(p.base, [info.path for info in p.params], columns,
                             [o.model_dump(mode="json") for o in p.experiment.outputs], p.experiment.keep_series,
                             p.seed)
            sizes = batch_sizes(len(missing), per_task, execution["workers"], taper=not p.experiment.runs_per_task)
            starts = np.cumsum([0, *sizes[:-1]]).tolist()
            batches = [_Batch(b, [(i, r, tuple(plain(v) for v in values[i])) for i, r in missing[k:k + size]])
                       for b, (k, size) in enumerate(zip(starts, sizes))]
            with _progress(progress) as bar:
                task = bar.add_task(f"{p.experiment.name}", total=p.n_runs, completed=len(done_keys))
                # (the runs' memory was checked before the folder and the cluster: _check_memory)
                for _, result in executor.as_completed(_run_batch, batches, shared=static, retries=RETRIES,
                                                       label=lambda b, _: f"batch {b}", errors="yield"):
                    if isinstance(result, TaskError):  # a task that failed even after its retries
                        failures.append(f"{type(result.error).__name__}: {result.error}")
                        continue
                    writer.add(result)
                    bar.advance(task, len(result["rows"]))
            writer.flush()
            session["status"] = "complete" if not failures else "incomplete"
            if failures:
                session["failures"] = failures[:20]
        except BaseException:
            session["status"] = "interrupted"
            raise
        finally:
            try:
                writer.flush()  # keep every finished run, also on Ctrl-C
            finally:
                session["runs_written"] = writer.written
                session["finished"] = now()


def _probe_scheduler(workers: int | None, scheduler: str | None) -> None:
    """Connect to the scheduler the sweep would use, if any, so that a wrong or silent address fails before the
    sweep's folder is made or touched (a resumed one's manifest included): ``SchedulerUnavailable``."""
    if scheduler or (workers != 1 and scheduler_address(None)):
        with Executor(workers, scheduler) as probe:
            probe.connect()


def _normalised(exp: Experiment) -> dict:
    d = exp.model_dump(mode="json")
    for key in EXECUTION_FIELDS:
        d.pop(key, None)
    return d


def run_sweep(experiment_path: str | Path | None, out: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, progress: bool = True) -> Path:
    """Run an experiment's sweep (or finish an interrupted one) and return its folder.

    Args:
        experiment_path: a path or a name in ``scenarios/experiments/`` (None with ``resume``: the folder's own).
        out: the sweep folder (default ``results/sweeps/<name>/<UTC time>-s<seed>-<random>/``; with
            ``resume=True``, the folder to finish).
        workers: local worker processes (default: the cores; 1 runs in this process).
        scheduler: an existing Dask scheduler such as ``tcp://host:8786`` (or env ``DASK_SCHEDULER_ADDRESS``).
        resume: run only the runs the folder lacks, with the same seeds.
        progress: a rich progress bar on stderr.

    Returns:
        The sweep folder: ``manifest.json``, ``design.parquet``, ``outputs/`` (Parquet chunks, one row per run:
        point, replication, parameter values, outputs, status), ``runs.parquet``, and ``series/`` with
        ``keep_series``.

    Raises:
        ScenarioError: bad input (one line per problem: file, field path, reason), raised before anything is
            written; the CLI prints the lines and exits 2.
        SweepIncomplete: runs whose Dask tasks failed even after retries, raised after every other run is saved;
            the message names the folder and says to use --resume (the CLI exits 1).
        SweepInterrupted: Ctrl-C (a KeyboardInterrupt), raised after the finished runs are saved; its message says
            where they are and the command that finishes the sweep (:func:`resume_command`). Any other error
            that stops the running carries that command as a note (``__notes__``).

    On success the CLI should print the folder, then one line such as
    ``1,280 runs (1,280 ok, 0 errors) in 3m12s -> results/sweeps/lexus_sobol/20261123T120000Z`` (numbers in
    ``manifest.json``: ``runs``, ``status_counts``, ``sessions[-1]``; see :func:`sweep_summary`) and the next
    step: ``python run_sim.py analyze <folder>``.
    """
    if workers is not None and workers < 1:
        raise ScenarioError([f"--workers: must be at least 1, got {workers}"])
    if resume:
        if out is None:
            raise ScenarioError(["--resume: give the sweep folder to finish with --out DIR"])
        folder = Path(out)
        manifest = read_manifest(folder)
        stored = plan_from_folder(folder, manifest)
        if experiment_path is not None:
            given = plan(experiment_path)
            if _normalised(given.experiment) != _normalised(stored.experiment) or given.base != stored.base:
                a, b = _normalised(given.experiment), _normalised(stored.experiment)
                differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                if given.base != stored.base:
                    differ.append("the base scenario")
                raise ScenarioError([f"{given.experiment_file}: differs from the experiment of the sweep in {folder} "
                                     f"({', '.join(differ)}); resume with the same experiment, or start a new sweep"])
            for key in EXECUTION_FIELDS:  # batching and file size may change on resume
                setattr(stored.experiment, key, getattr(given.experiment, key))
        p = stored
        read_outputs(folder, ["point", "replication"])  # a damaged chunk file: one line, before anything is written
        _probe_scheduler(workers, scheduler)
        _check_memory(p, workers, scheduler)
    else:
        p = plan(experiment_path)
        started_dt = datetime.now(UTC)
        folder = Path(out) if out is not None else default_folder(p.experiment.name, started_dt, p.seed)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ScenarioError([f"{folder}: already exists; pass --resume to finish that sweep, "
                                 "or choose another --out"])
        _probe_scheduler(workers, scheduler)
        _check_memory(p, workers, scheduler)
        manifest = create_folder(p, folder)
    lock_file = lock(folder)
    session: dict = {"status": "interrupted"}
    again = resume_command(experiment_path, folder, workers, scheduler)
    try:
        try:
            _execute(folder, p, manifest, workers, scheduler, progress, session)
        except KeyboardInterrupt:
            raise SweepInterrupted(f"Interrupted (Ctrl-C): the finished runs are in {folder}; finish with: "
                                   f"{again}") from None
        except SchedulerUnavailable:  # its one line says what to fix; the same command would fail the same way
            raise
        except Exception as exc:  # an error stopped it: the finished runs are kept all the same
            exc.add_note(f"The finished runs are in {folder}; finish with: {again}")
            raise
        finally:
            counts = None
            with hold_ctrl_c():  # (a second Ctrl-C waits for the folder's tables and manifest)
                try:
                    counts = write_runs_table(folder, p)
                finally:  # whatever failed, the manifest never stays "running"
                    manifest = read_manifest(folder)
                    manifest["sessions"].append(session)
                    if counts is not None:
                        manifest["status_counts"] = counts
                    complete = counts is not None and counts.get("missing", 0) == 0
                    manifest["status"] = "complete" if complete else (
                        "incomplete" if session.get("status") == "incomplete" else "interrupted")
                    manifest["finished"] = now() if complete else None
                    write_json(folder / "manifest.json", manifest)
    finally:
        lock_file.unlink(missing_ok=True)
    if manifest["status"] != "complete":
        missing = counts.get("missing", 0)
        why = "; ".join(session.get("failures", [])[:3]) or "tasks failed"
        raise SweepIncomplete(f"{missing} of {p.n_runs} runs did not complete ({why}); the finished runs are "
                              f"in {folder}; finish with: {again}")
    return folder


def every_run_failed(folder: str | Path) -> str | None:
    """The first run's error (one line) if every run of the sweep in ``folder`` raised (none ok), else None."""
    counts = read_manifest(Path(folder)).get("status_counts", {})
    if counts.get("ok", 0) or not counts.get("error", 0):
        return None
    errors = read_outputs(Path(folder), ["status", "error"])
    first = errors.loc[errors["status"] == "error", "error"]
    return str(first.iloc[0]).splitlines()[0] if len(first) else "unknown"


def sweep_summary(folder: str | Path) -> str:
    """One line for the CLI: runs, status counts, time of the last session and the folder."""
    manifest = read_manifest(Path(folder))
    counts = manifest.get("status_counts", {})
    seconds = 0.0
    for s in manifest.get("sessions", []):
        if s.get("started") and s.get("finished"):
            seconds += (datetime.fromisoformat(s["finished"]) - datetime.fromisoformat(s["started"])).total_seconds()
    minutes, secs = divmod(int(round(seconds)), 60)
    return (f"{manifest['runs']:,} runs ({counts.get('ok', 0):,} ok, {counts.get('error', 0):,} errors"
            + (f", {counts['missing']:,} missing" if counts.get("missing") else "")
            + f") in {minutes}m{secs:02d}s -> {folder}")
