"""Parameter sweeps (sim/experiment.py, sim/design.py, sim/sweep_folder.py, sim/sweep.py): experiment validation,
designs, seeding, Dask execution, streaming Parquet, resume after an interruption or a kill, a worker lost mid-sweep.

The model is tiny here (1,000 buyers x 4 years, ~0.1 s a run) so the Dask machinery is what is exercised.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import sweep
from sim.design import plan, run_seed
from sim.model import LuxuryMarketModel
from sim.scenario_files import ScenarioError, load_scenario
from sim.sweep import output_value, run_sweep
from sim.sweep_folder import ChunkWriter
from tests.conftest import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent

OUTPUTS = """
[[outputs]]
name = "mercedes_share_1989"
metric = "sales_share"
brand = "Mercedes-Benz"
year = 1989

[[outputs]]
name = "lexus_cum_profit"
metric = "profit"
brand = "Lexus"
years = [1989, 1989]
aggregate = "sum"

[[outputs]]
name = "incumbent_churn"
metric = "churn_rate"
brands = ["Mercedes-Benz", "BMW", "Cadillac"]
years = [1987, 1989]
aggregate = "mean"
"""

GRID = """
scenario = "lexus_us_1989"
replications = 2
seed = 11
keep_series = true
{extra}

[set]
simulation.buyers = 1000
market.years = 4

[design]
kind = "grid"

[[parameters]]
path = "brands.Lexus.service.complimentary_maintenance_months"
name = "free_months"
values = [0, 24, 48]

[[parameters]]
path = "choice.inertia"
values = [0.5, 2.5]
""" + OUTPUTS

SOBOL = """
scenario = "lexus_us_1989"
replications = 1
seed = 5

[set]
simulation.buyers = 1000
market.years = 4

[design]
kind = "sobol"
samples = 4

[[parameters]]
path = "brands.Lexus.service.dealer_service_quality"
range = [0.3, 0.95]

[[parameters]]
path = "brands.Mercedes-Benz.price_index"
name = "mercedes_price"
range = [0.7, 1.3]
""" + OUTPUTS


def write(folder: Path, name: str, text: str, **fmt) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(text.format(**fmt) if fmt or "{extra}" in text else text))
    return path


def grid_file(folder: Path, extra: str = "", name: str = "grid") -> Path:
    return write(folder, name, GRID, extra=extra)


def pairs(table: pd.DataFrame) -> list[tuple[int, int]]:
    return sorted(zip(table["point"].tolist(), table["replication"].tolist()))


def results(folder: Path) -> pd.DataFrame:
    """The runs' values (no timing or placement columns), sorted by (point, replication)."""
    table = pd.read_parquet(folder / "outputs")
    drop = ["seconds", "chunk", "worker"]
    return table.drop(columns=drop).sort_values(["point", "replication"]).reset_index(drop=True)


def assert_exactly_once(folder: Path, n_points: int, reps: int) -> None:
    expected = [(i, r) for i in range(n_points) for r in range(reps)]
    outputs = pd.read_parquet(folder / "outputs")
    assert pairs(outputs) == expected  # each (point, replication) exactly once: none missing, none twice
    runs = pd.read_parquet(folder / "runs.parquet")
    assert pairs(runs) == expected
    assert set(runs["status"]) == {"ok"}
    assert json.loads((folder / "manifest.json").read_text())["status"] == "complete"


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory) -> Path:
    """The grid (3 x 2 points x 2 replications) on a 2-worker LocalCluster, chunk files of 5 runs."""
    folder = tmp_path_factory.mktemp("grid")
    path = grid_file(folder, "runs_per_file = 5")
    return run_sweep(path, out=folder / "sweep", workers=2, progress=False)


# --------------------------------------------------------------------------------------------------------
# Bad input: ScenarioError lines naming the file and the field, nothing written
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, field, words", [
    (("choice.inertia", "choice.inertai"), "parameters.1.path", "did you mean 'inertia'"),
    (("brands.Lexus.service", "brands.Lexsu.service"), "parameters.0.path", "unknown brand 'Lexsu'"),
    (("choice.inertia", "choice..inertia"), "parameters.1.path", "empty part in the field path 'choice..inertia'"),
    (('kind = "grid"', 'kind = "factorial"'), "design.kind", "unknown design kind 'factorial'"),
    (("replications = 2", "replicatons = 2"), "replicatons", "did you mean 'replications'"),
    (('brand = "Mercedes-Benz"', 'brand = "Mercedez-Benz"'), "outputs.0.brand", "unknown brand"),
    (('metric = "profit"', 'metric = "profits"'), "outputs.1.metric", "did you mean 'profit'"),
    (("year = 1989", "year = 1995"), "outputs.0.year", "outside the simulated years 1986-1989"),
    (("simulation.buyers = 1000", "simulation.buyer = 1000"), "set: simulation.buyer", "unknown field"),
    (("values = [0.5, 2.5]", "values = [0.5, -1.0]"), "design point", "inertia"),
    (("values = [0, 24, 48]", "values = [0, 2.5]"), "parameters.0.values", "integer field"),
    (("values = [0, 24, 48]", "values = [true, false]"), "parameters.0.values", "integer field"),
    (("values = [0.5, 2.5]", "values = [0.5, nan]"), "parameters.1.values", "values must be finite numbers"),
    (("values = [0.5, 2.5]", "values = [0.5, true]"), "parameters.1.values", "must all be numbers"),
    # found by the fuzzer: 10^30 stopped the design's int64 column with an OverflowError traceback
    (("values = [0, 24, 48]", "values = [0, 1000000000000000000000000000000]"), "parameters.0.values",
     "integer values must fit 64 bits"),
    (("path = \"choice.inertia\"\nvalues = [0.5, 2.5]", "path = \"brands.Lexus.service.loaner_cars\"\n"
      "values = [0, 1]"), "parameters.1.values", "boolean field; values must be true or false"),
    (("seed = 11", "seed = 11.0"), "seed", "valid integer"),
    (("year = 1989", "year = true"), "outputs.0.year", "valid integer"),
])
def test_bad_experiment_names_file_and_field_and_writes_nothing(tmp_path, change, field, words):
    path = tmp_path / "bad.toml"
    path.write_text(GRID.format(extra="").replace(*change))
    out = tmp_path / "out"
    with pytest.raises(ScenarioError) as info:
        run_sweep(path, out=out, workers=1, progress=False)
    problems = info.value.problems
    assert problems and all(p.startswith(str(path) + ": ") for p in problems)
    assert any(field in p and words in p for p in problems), problems
    assert not out.exists()


@pytest.mark.parametrize("design, params, field, words", [
    ('kind = "lhs"\nsamples = 8', 'path = "choice.inertia"\nrange = [3.0, 0.5]', "parameters.0.range",
     "low (3) must be below high (0.5)"),
    ('kind = "sobol"\nsamples = 6', 'path = "choice.inertia"\nrange = [0.5, 3.0]', "design.samples", "power of 2"),
    ('kind = "morris"\ntrajectories = 4', 'path = "choice.inertia"\nvalues = [1, 2]', "parameters.0",
     "samples the range"),
    ('kind = "lhs"\nsamples = 8', 'path = "brands.Lexus.loaner_cars"\nrange = [0, 1]', "parameters.0.path",
     "unknown field"),
    ('kind = "lhs"\nsamples = 8', 'path = "market.segments.value.share"\nrange = [0.5, 0.7]', "design point",
     "segment shares must sum to 1"),
    # found by the fuzzer (tests/test_fuzz.py): an invalid cast (2^63 - 1 as a float), an overflowing width
    ('kind = "morris"\ntrajectories = 4', 'path = "costs.warranty_months"\nrange = [0, 9223372036854775807]',
     "parameters.0.range", "an integer field's range must lie within -2^53 and 2^53"),
    ('kind = "lhs"\nsamples = 8', 'path = "choice.inertia"\nrange = [-1e308, 1.7e308]', "parameters.0.range",
     "too wide to sample"),
])
def test_bad_design_input(tmp_path, design, params, field, words):
    path = tmp_path / "bad.toml"
    path.write_text(f'scenario = "lexus_us_1989"\n[set]\nmarket.years = 4\n[design]\n{design}\n'
                    f'[[parameters]]\n{params}\n' + OUTPUTS)
    with pytest.raises(ScenarioError) as info:
        run_sweep(path, out=tmp_path / "out", progress=False)
    problems = info.value.problems
    assert any(p.startswith(f"{path}: ") and field in p and words in p for p in problems), problems
    assert not (tmp_path / "out").exists()


def test_existing_folder_is_refused_without_resume(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "something").write_text("x")
    with pytest.raises(ScenarioError, match="already exists; pass --resume"):
        run_sweep(grid_file(tmp_path), out=out, progress=False)


# --------------------------------------------------------------------------------------------------------
# Designs and outputs (no runs)
# --------------------------------------------------------------------------------------------------------
def test_designs_have_salib_sizes_and_integer_fields_are_rounded(tmp_path):
    common = ('[set]\nmarket.years = 4\n'
              '[[parameters]]\npath = "brands.Lexus.service.complimentary_maintenance_months"\nrange = [0, 4]\n'
              '[[parameters]]\npath = "choice.inertia"\nrange = [0.5, 3.0]\n' + OUTPUTS)
    sizes = {'kind = "lhs"\nsamples = 200': 200, 'kind = "sobol"\nsamples = 16': 16 * (2 + 2),
             'kind = "sobol"\nsamples = 16\nsecond_order = true': 16 * (2 * 2 + 2),
             'kind = "morris"\ntrajectories = 5': 5 * (2 + 1)}
    for k, (design, n) in enumerate(sizes.items()):
        path = tmp_path / f"d{k}.toml"
        path.write_text(f'scenario = "lexus_us_1989"\n[design]\n{design}\n' + common)
        p = plan(path)
        assert p.n_points == n and list(p.design["point"]) == list(range(n))
        months = p.design["complimentary_maintenance_months"]
        assert months.dtype == np.int64 and months.between(0, 4).all()
        assert p.sample.shape == (n, 2) and not np.allclose(p.sample[:, 0], np.round(p.sample[:, 0]))
        assert p.design["inertia"].between(0.5, 3.0).all()
        if "lhs" in design:  # every integer level about equally likely (sampled on [low - 0.5, high + 0.5])
            counts = months.value_counts()
            assert set(counts.index) == {0, 1, 2, 3, 4} and counts.min() >= 30
    grid = plan(grid_file(tmp_path))
    assert grid.n_points == 6 and grid.n_runs == 12 and grid.sample is None
    assert grid.design[["free_months", "inertia"]].values.tolist() == [
        [0, 0.5], [0, 2.5], [24, 0.5], [24, 2.5], [48, 0.5], [48, 2.5]]


def test_output_value_selects_and_aggregates_skipping_nan():
    table = pd.DataFrame({"year": [2000, 2000, 2001, 2001], "brand": ["A", "B", "A", "B"],
                          "profit": [1.0, 2.0, 3.0, np.nan], "share": [0.25, 0.75, 0.5, 0.5]})
    assert output_value(table, {"metric": "share", "brand": "A", "year": 2001}) == 0.5
    assert output_value(table, {"metric": "profit", "brand": "A", "years": [2000, 2001], "aggregate": "sum"}) == 4.0
    assert output_value(table, {"metric": "profit", "aggregate": "sum"}) == 6.0  # all brands, all years; NaN skipped
    assert output_value(table, {"metric": "profit", "brands": ["A", "B"], "aggregate": "mean"}) == 2.0
    assert output_value(table, {"metric": "share", "year": 2000, "aggregate": "max"}) == 0.75
    assert np.isnan(output_value(table, {"metric": "profit", "brand": "B", "year": 2001}))


def test_set_accepts_cli_style_strings(tmp_path):
    text = GRID.format(extra="").replace("[set]\nsimulation.buyers = 1000\nmarket.years = 4\n", "")
    text = text.replace('keep_series = true', 'keep_series = true\nset = ["simulation.buyers=1000", "market.years=4"]')
    path = tmp_path / "strings.toml"
    path.write_text(text)
    p = plan(path)
    assert p.base["simulation"]["buyers"] == 1000 and p.base["market"]["years"] == 4
    assert p.base == plan(grid_file(tmp_path)).base


# --------------------------------------------------------------------------------------------------------
# End to end on a 2-worker LocalCluster
# --------------------------------------------------------------------------------------------------------
def test_grid_sweep_end_to_end(grid_sweep):
    folder = grid_sweep
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["runs"] == 12 and manifest["root_seed"] == 11
    assert manifest["base_scenario"]["simulation"]["buyers"] == 1000
    assert manifest["sessions"][0]["workers"] == 2 and "LocalCluster" in manifest["sessions"][0]["scheduler"]
    assert {"numpy", "dask", "distributed", "SALib", "mesa"} <= set(manifest["packages"])
    assert_exactly_once(folder, 6, 2)

    outputs = pd.read_parquet(folder / "outputs")  # the folder reads as one table
    parts = sorted(p.name for p in (folder / "outputs").iterdir())
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]  # 12 runs, 5 a file
    assert pq.ParquetFile(folder / "outputs" / parts[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    assert list(outputs.columns[:4]) == ["point", "replication", "free_months", "inertia"]
    assert {"mercedes_share_1989", "lexus_cum_profit", "incumbent_churn", "status", "seconds", "chunk"} <= set(outputs)
    design = pd.read_parquet(folder / "design.parquet")
    merged = outputs.merge(design, on="point", suffixes=("", "_design"))
    assert (merged["free_months"] == merged["free_months_design"]).all()
    assert (merged["inertia"] == merged["inertia_design"]).all()
    assert outputs["mercedes_share_1989"].between(0, 1).all() and outputs["lexus_cum_profit"].notna().all()

    runs = pd.read_parquet(folder / "runs.parquet")
    assert (runs["seed_entropy"] == 11).all()
    assert [list(k) for k in runs["spawn_key"]] == [[i, r] for i in range(6) for r in range(2)]

    series = pd.read_parquet(folder / "series")
    assert len(series) == 12 * 4 * 8  # runs x years x brands
    assert sorted(series["year"].unique()) == [1986, 1987, 1988, 1989]

    # run (point 3, replication 1) again in this process from its recorded seed: the same numbers
    row = outputs[(outputs["point"] == 3) & (outputs["replication"] == 1)].iloc[0]
    scenario = load_scenario("lexus_us_1989", ["simulation.buyers=1000", "market.years=4", "choice.inertia=2.5",
                                               "brands.Lexus.service.complimentary_maintenance_months=24"])
    table = LuxuryMarketModel(scenario, seed=run_seed(11, 3, 1)).run().brand_year()
    assert row["mercedes_share_1989"] == table.query("brand == 'Mercedes-Benz' and year == 1989")["sales_share"].item()
    assert row["lexus_cum_profit"] == table.query("brand == 'Lexus' and year == 1989")["profit"].item()

    # resuming a finished sweep runs nothing and changes nothing
    before = results(folder)
    assert run_sweep(None, out=folder, resume=True, progress=False) == folder
    pd.testing.assert_frame_equal(results(folder), before)


def test_sobol_sweep_end_to_end(tmp_path):
    from sim.analysis import analyze

    path = write(tmp_path, "sobol", SOBOL)
    folder = run_sweep(path, out=tmp_path / "sweep", workers=2, progress=False)
    assert_exactly_once(folder, 4 * (2 + 2), 1)
    sample = pd.read_parquet(folder / "sample.parquet")
    assert sample.shape == (16, 2) and sample["mercedes_price"].between(0.7, 1.3).all()
    analysis = analyze(folder)
    indices = pd.read_csv(analysis / "sobol_indices.csv")
    assert list(indices.columns) == ["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert len(indices) == 3 * 2 and set(indices["parameter"]) == {"dealer_service_quality", "mercedes_price"}
    assert (analysis / "sobol_lexus_cum_profit.png").stat().st_size > 5000
    assert (analysis / "scatter_incumbent_churn.png").exists()


# --------------------------------------------------------------------------------------------------------
# Reproducibility: whatever the workers and the chunking
# --------------------------------------------------------------------------------------------------------
def test_same_seed_same_outputs_with_one_worker_and_other_chunks(grid_sweep, tmp_path):
    path = grid_file(tmp_path, "runs_per_task = 1\nruns_per_file = 1")
    folder = run_sweep(path, out=tmp_path / "one", workers=1, progress=False)
    assert len(list((folder / "outputs").glob("part-*.parquet"))) == 12
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sessions"][0]["workers"] == 1 and manifest["sessions"][0]["runs_per_task"] == 1
    pd.testing.assert_frame_equal(results(folder), results(grid_sweep))
    a = pd.read_parquet(folder / "series").sort_values(["point", "replication", "year", "brand"]).reset_index(drop=True)
    b = (pd.read_parquet(grid_sweep / "series").sort_values(["point", "replication", "year", "brand"])
         .reset_index(drop=True))
    pd.testing.assert_frame_equal(a, b)


# --------------------------------------------------------------------------------------------------------
# Interruptions
# --------------------------------------------------------------------------------------------------------
def test_resume_after_interrupt_runs_only_what_is_missing(grid_sweep, tmp_path, monkeypatch):
    path = grid_file(tmp_path, "runs_per_task = 1\nruns_per_file = 2")
    out = tmp_path / "sweep"
    written = []
    real_flush = ChunkWriter.flush

    def ctrl_c_after_first_chunk(self, n=None) -> None:  # Ctrl-C just after the first chunk file is written
        real_flush(self, n)
        written.append(self.chunk)
        if len(written) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(ChunkWriter, "flush", ctrl_c_after_first_chunk)
    with pytest.raises(KeyboardInterrupt) as stopped:
        run_sweep(path, out=out, workers=2, progress=False)
    monkeypatch.setattr(ChunkWriter, "flush", real_flush)
    command = sweep.resume_command(path, out, 2)  # the exact command to finish it, printed on exit 130
    assert str(stopped.value).endswith(f"finish with: {command}")
    assert command == f"python run_sim.py sweep {path} --resume --out {out} --workers 2"

    first = {p.name: p.stat().st_mtime_ns for p in (out / "outputs").glob("part-*.parquet")}
    done = pd.read_parquet(out / "outputs")
    assert 2 <= len(done) < 12 and not done.duplicated(["point", "replication"]).any()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["sessions"][0]["status"] == "interrupted"
    runs = pd.read_parquet(out / "runs.parquet")
    assert (runs["status"] == "missing").sum() == 12 - len(done)
    assert not (out / "sweep.lock").exists()

    from typer.testing import CliRunner

    from run_sim import app

    finished = CliRunner().invoke(app, shlex.split(command)[2:])  # the printed command, as typed
    assert finished.exit_code == 0, finished.output
    assert_exactly_once(out, 6, 2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["runs_planned"] for s in manifest["sessions"]] == [12, 12 - len(done)]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "outputs").glob("part-*.parquet") if p.name in first} == first
    pd.testing.assert_frame_equal(results(out), results(grid_sweep))  # same seeds as the uninterrupted sweep


def test_resume_refuses_a_different_experiment(grid_sweep, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(grid_sweep, out)
    changed = grid_file(tmp_path, "", name="changed")
    changed.write_text(changed.read_text().replace("replications = 2", "replications = 3"))
    with pytest.raises(ScenarioError, match=r"differs from the experiment of the sweep .*replications"):
        run_sweep(changed, out=out, resume=True, progress=False)
    with pytest.raises(ScenarioError, match="not a sweep folder"):
        run_sweep(changed, out=tmp_path, resume=True, progress=False)


@pytest.mark.slow
def test_resume_after_the_sweep_process_is_killed(tmp_path):
    path = grid_file(tmp_path, "runs_per_task = 1\nruns_per_file = 1")
    path.write_text(path.read_text().replace("values = [0.5, 2.5]", "values = [0.5, 1.5, 2.5]")
                    .replace("simulation.buyers = 1000", "simulation.buyers = 2000"))
    out = tmp_path / "sweep"
    code = (f"from sim.sweep import run_sweep; "
            f"run_sweep({str(path)!r}, out={str(out)!r}, workers=2, progress=False)")
    # the project from ROOT (no sys.path edits); the sweep runs in tmp_path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # its own session, so the sweep, its nannies and workers can all be killed together (by its group id)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hung = time.monotonic() + HANG_GUARD_S
    try:
        while not list((out / "outputs").glob("part-*.parquet")) if out.exists() else True:  # however long it takes
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < hung, "hang guard: the sweep never wrote a chunk"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=HANG_GUARD_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=HANG_GUARD_S)
    done = pd.read_parquet(out / "outputs")
    assert 1 <= len(done) < 18
    assert (out / "sweep.lock").exists() and not (out / "runs.parquet").exists()  # killed: no clean-up ran

    run_sweep(None, out=out, workers=2, resume=True, progress=False)  # a stale lock is taken over
    assert_exactly_once(out, 9, 2)
    # spot-check two runs against this process, from their recorded seeds
    outputs = pd.read_parquet(out / "outputs").set_index(["point", "replication"])
    design = pd.read_parquet(out / "design.parquet").set_index("point")
    for point, rep in [(0, 0), (8, 1)]:
        d = design.loc[point]
        scenario = load_scenario("lexus_us_1989", [
            "simulation.buyers=2000", "market.years=4", f"choice.inertia={d['inertia']}",
            f"brands.Lexus.service.complimentary_maintenance_months={int(d['free_months'])}"])
        table = LuxuryMarketModel(scenario, seed=run_seed(11, point, rep)).run().brand_year()
        expected = table.query("brand == 'Mercedes-Benz' and year == 1989")["sales_share"].item()
        assert outputs.loc[(point, rep), "mercedes_share_1989"] == expected


@pytest.mark.slow
@pytest.mark.filterwarnings(r"ignore:Port \d+ is already in use:UserWarning")
def test_a_worker_killed_mid_sweep_does_not_fail_it(tmp_path, monkeypatch):
    from distributed import LocalCluster

    def worker_pids(cluster) -> list[int]:  # (from the nannies: no second client in this process beside the sweep's)
        return [nanny.process.process.pid for nanny in cluster.workers.values()
                if nanny.process is not None and nanny.process.process is not None]

    path = grid_file(tmp_path, "runs_per_task = 1\nruns_per_file = 4")
    path.write_text(path.read_text().replace("values = [0.5, 2.5]", "values = [0.5, 1.0, 1.5, 2.0, 2.5]"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        pids = worker_pids(cluster)
        killed = []
        real_add = ChunkWriter.add

        def kill_a_worker_after_the_first_batch(self, result: dict) -> None:
            real_add(self, result)
            if not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        monkeypatch.setattr(ChunkWriter, "add", kill_a_worker_after_the_first_batch)
        folder = run_sweep(path, out=tmp_path / "sweep", scheduler=cluster.scheduler_address, progress=False)
        assert killed
        cluster.wait_for_workers(2, timeout=HANG_GUARD_S)
        assert killed[0] not in worker_pids(cluster)  # that worker really died (the nanny restarted one)
    assert_exactly_once(folder, 15, 2)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sessions"][0]["scheduler"] == cluster.scheduler_address


@pytest.mark.slow
@pytest.mark.filterwarnings(r"ignore:Port \d+ is already in use:UserWarning")
def test_dask_scheduler_address_from_the_environment(tmp_path, monkeypatch, grid_sweep):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        folder = run_sweep(grid_file(tmp_path), out=tmp_path / "sweep", progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sessions"][0]["scheduler"] == cluster.scheduler_address
    pd.testing.assert_frame_equal(results(folder), results(grid_sweep))


def test_example_experiments_are_valid():
    for path in sorted((ROOT / "scenarios" / "experiments").glob("*.toml")):
        text = path.read_text()
        assert text.startswith("#"), f"{path.name} should begin with a comment saying what it asks"
        p = plan(path)
        assert p.n_runs <= 2000, f"{path.name}: keep the examples laptop-sized"
        assert p.base["simulation"]["buyers"] <= 20_000


def test_a_run_that_raises_is_recorded_not_fatal(tmp_path):
    p = plan(grid_file(tmp_path))
    outputs = [o.model_dump(mode="json") for o in p.experiment.outputs]
    outputs[1]["metric"] = "no_such_column"  # the run itself raises while computing this output
    static = sweep._Static(p.base, [i.path for i in p.params], [i.name for i in p.params], outputs, False, p.seed)
    result = sweep._run_batch(static, sweep._Batch(0, [(0, 0, (0, 0.5)), (1, 1, (0, 2.5))]))
    assert [r["status"] for r in result["rows"]] == ["error", "error"]
    assert "KeyError" in result["rows"][0]["error"] and np.isnan(result["rows"][0]["lexus_cum_profit"])
    assert result["rows"][1]["free_months"] == 0 and result["rows"][1]["inertia"] == 2.5


@pytest.mark.filterwarnings(r"ignore:Port \d+ is already in use:UserWarning")
def test_tasks_failing_after_their_retries_leave_a_resumable_sweep(grid_sweep, tmp_path, monkeypatch):
    from distributed import LocalCluster

    real = sweep._run_batch

    def first_batch_always_fails(static, batch):
        if batch.batch == 0:
            raise OSError("disk on fire")
        return real(static, batch)

    path = grid_file(tmp_path, "runs_per_task = 3")
    out = tmp_path / "sweep"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        monkeypatch.setattr(sweep, "_run_batch", first_batch_always_fails)
        with pytest.raises(sweep.SweepIncomplete, match=r"3 of 12 runs did not complete .*disk on fire.*--resume") \
                as stopped:
            run_sweep(path, out=out, scheduler=cluster.scheduler_address, progress=False)
        assert str(stopped.value).endswith(
            f"finish with: {sweep.resume_command(path, out, scheduler=cluster.scheduler_address)}")
        monkeypatch.setattr(sweep, "_run_batch", real)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "incomplete" and manifest["status_counts"] == {"ok": 9, "missing": 3}
        run_sweep(path, out=out, scheduler=cluster.scheduler_address, resume=True, progress=False)
    assert_exactly_once(out, 6, 2)
    pd.testing.assert_frame_equal(results(out), results(grid_sweep))


def test_an_error_that_stops_a_sweep_says_how_to_resume_it(tmp_path, monkeypatch):
    """Not only Ctrl-C: any error that stops the running (here a full disk while writing a chunk) leaves the finished
    runs and prints the command that finishes the sweep, before the error's own line."""
    from typer.testing import CliRunner

    from run_sim import app
    from sim.files import WriteError

    def disk_full(self, n=None) -> None:
        raise WriteError(f"{tmp_path}: cannot write: No space left on device")

    path = grid_file(tmp_path)
    out = tmp_path / "sweep"
    monkeypatch.setattr(ChunkWriter, "flush", disk_full)
    done = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1", "--quiet"])
    assert isinstance(done.exception, WriteError)
    assert f"finish with: {sweep.resume_command(str(path), out, 1)}" in done.stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def test_a_sweep_in_which_every_run_failed_exits_1_with_the_first_error(tmp_path, monkeypatch):
    """Runs that raise are recorded and the sweep goes on; when none succeeded there is nothing to analyse, and the
    command says so and fails (exit 1), where a sweep with some failed runs succeeds with its counts."""
    from typer.testing import CliRunner

    from run_sim import app
    from sim.model import LuxuryMarketModel

    def broken(self, months=None):
        raise FloatingPointError("a broken mechanism\nand its second line")

    path = grid_file(tmp_path)
    monkeypatch.setattr(LuxuryMarketModel, "run", broken)
    done = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "all"), "--workers", "1", "-q"])
    assert done.exit_code == 1, done.output
    assert "(0 ok, 12 errors)" in done.stderr and done.stdout.strip() == str(tmp_path / "all")  # (-q: the folder)
    assert "every run failed; the first error: FloatingPointError: a broken mechanism" in done.stderr
    assert "second line" not in done.stderr
    monkeypatch.undo()
    real, calls = LuxuryMarketModel.run, []

    def broken_once(self, months=None):
        calls.append(1)
        if len(calls) == 1:
            raise FloatingPointError("only the first")
        return real(self, months)

    monkeypatch.setattr(LuxuryMarketModel, "run", broken_once)
    done = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "one"), "--workers", "1", "-q"])
    assert done.exit_code == 0 and "(11 ok, 1 errors)" in done.stderr, done.output
    assert done.stdout.strip() == str(tmp_path / "one")  # (-q: only the folder on stdout)


def test_a_sweep_too_big_for_the_memory_is_refused_before_its_folder_or_cluster(tmp_path, monkeypatch):
    """Refused with the estimate (the command line prints it in one line, exit 1), and nothing made: no folder, no
    cluster started."""
    from typer.testing import CliRunner

    import sim.executor
    from run_sim import app

    monkeypatch.setattr(sim.executor, "available_memory", lambda: 300_000_000)
    path = grid_file(tmp_path)
    started = []
    monkeypatch.setattr(sim.executor.Executor, "_start", lambda self, n: started.append(n))
    out = tmp_path / "never"
    done = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "2", "-q"])
    assert isinstance(done.exception, sim.executor.InsufficientMemory), done.output  # (cli() prints it, exit 1)
    assert str(done.exception).startswith("not enough memory: 1,000 buyers need about")
    assert "2 new processes" in str(done.exception)
    assert not out.exists() and started == []


def test_ctrl_c_while_finished_runs_are_written_loses_none_of_them(tmp_path, monkeypatch):
    """A Ctrl-C pressed while a chunk of finished runs is being written (here: at every chunk, so also while the
    interrupted sweep writes what it holds) waits for the chunk: the sweep stops with every finished run on disk and
    a manifest that says so, and --resume has nothing left to run."""
    import os
    import signal

    from sim.sweep_folder import read_outputs

    real = ChunkWriter._write

    def pressed_while_writing(self, n):
        os.kill(os.getpid(), signal.SIGINT)  # delivered at once: held by the flush, or it would stop the write
        return real(self, n)

    path = grid_file(tmp_path)
    out = tmp_path / "sweep"
    monkeypatch.setattr(ChunkWriter, "_write", pressed_while_writing)
    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(path, out=out, workers=1, progress=False)
    assert isinstance(info.value, sweep.SweepInterrupted)
    monkeypatch.undo()
    manifest = json.loads((out / "manifest.json").read_text())
    done = read_outputs(out, ["point", "replication"])
    assert len(done) == manifest["status_counts"].get("ok", 0) == manifest["sessions"][-1]["runs_written"] >= 1
    run_sweep(path, out=out, workers=1, resume=True, progress=False)
    assert_exactly_once(out, 6, 2)


def test_a_set_table_key_holding_a_dot_stays_one_key(tmp_path):
    """Issue #14: a brand named "A.B" in an experiment's [set] table is one key of the path, quoted as --set does."""
    from sim.experiment import load_experiment
    from sim.scenario_files import parse_override

    path = tmp_path / "dotted.toml"
    path.write_text('scenario = "lexus_us_1989"\n[set]\nbrands."A.B".dealers = 3\n[design]\nkind = "grid"\n'
                    '[[parameters]]\npath = "choice.inertia"\nvalues = [1.0]\n' + OUTPUTS)
    _, experiment = load_experiment(path)
    assert experiment.set == ['brands."A.B".dealers=3']
    assert parse_override(experiment.set[0]) == (["brands", "A.B", "dealers"], 3)


# --------------------------------------------------------------------------------------------------------
# Seeds at the edge and a scheduler that does not answer (issue #14, item 15)
# --------------------------------------------------------------------------------------------------------
TINY = GRID.replace("simulation.buyers = 1000", "simulation.buyers = 500").replace("market.years = 4",
                                                                                   "market.years = 2")


@pytest.fixture
def tiny_sweep(tmp_path) -> Path:
    """A finished 12-run sweep in this process, one chunk file per run, with its last chunk file removed."""
    path = write(tmp_path, "tiny", TINY.replace("{extra}", "runs_per_file = 1").replace("year = 1989", "year = 1987")
                 .replace("years = [1989, 1989]", "years = [1987, 1987]").replace("years = [1987, 1989]",
                                                                                  "years = [1986, 1987]"))
    folder = run_sweep(path, out=tmp_path / "sweep", workers=1, progress=False)
    max(sorted((folder / "outputs").glob("part-*.parquet"))).unlink()
    return folder


def test_root_seeds_beyond_64_bits_are_refused_by_every_loader(tmp_path):
    from sim.calibration_problem import CalibrationSpec
    from sim.experiment import Experiment
    from sim.scenario import MAX_SEED

    too_big = MAX_SEED + 1
    for field in ("seed", "simulation.seed"):  # the experiment's, or (none given) its base scenario's
        path = grid_file(tmp_path, name=field.replace(".", "_"))
        text = path.read_text().replace("seed = 11\n", f"seed = {too_big}\n" if field == "seed" else "")
        path.write_text(text.replace("[set]\n", f"[set]\n{field} = {too_big}\n" if field != "seed" else "[set]\n"))
        with pytest.raises(ScenarioError, match=f"{field}: Input should be less than or equal to {MAX_SEED}"):
            plan(path)
    with pytest.raises(ValueError, match="less than or equal to"):
        Experiment.model_validate({"scenario": "x", "seed": too_big, "design": {"kind": "grid"}, "parameters": [],
                                   "outputs": []})
    with pytest.raises(ValueError, match="less than or equal to"):
        CalibrationSpec.model_validate({"name": "x", "scenario": "x", "seed": too_big,
                                        "parameters": [{"path": "a", "range": [0, 1], "why": "x"}]})
    assert load_scenario("lexus_us_1989", [f"simulation.seed={MAX_SEED}"]).simulation.seed == MAX_SEED


@pytest.mark.parametrize("command", [["run", "lexus_us_1989"], ["compare", "lexus_us_1989", "lexus_us_1989"],
                                     ["validate", "lexus_us_1989"], ["attribute", "lexus_us_1989", "--brand", "Lexus"]])
def test_every_command_refuses_a_seed_beyond_64_bits(command, tmp_path):
    from typer.testing import CliRunner

    from run_sim import app

    done = CliRunner().invoke(app, [*command, "--seed", str(2**63), "--out", str(tmp_path / "never")])
    assert done.exit_code == 2 and "--seed" in done.output and list(tmp_path.iterdir()) == []


def test_a_sweep_folder_with_a_seed_beyond_64_bits_says_so_on_resume(tiny_sweep):
    manifest = json.loads((tiny_sweep / "manifest.json").read_text())
    manifest["root_seed"] = 2**63  # as a sweep made before seeds were bounded recorded it
    (tiny_sweep / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ScenarioError, match="root_seed 9223372036854775808 lies outside 0 to 2\\^63 - 1"):
        run_sweep(None, out=tiny_sweep, workers=1, resume=True, progress=False)


def test_resume_with_a_scheduler_that_does_not_answer_fails_in_one_line_and_leaves_no_running_manifest(tiny_sweep):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        silent = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    before = (tiny_sweep / "manifest.json").read_bytes()
    done = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "sweep", str(tiny_sweep.parent / "tiny.toml"),
                           "--resume", "--out", str(tiny_sweep), "--scheduler", silent], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG_GUARD_S)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and "no Dask scheduler answers" in lines[0], done.stderr
    # the scheduler is tried before the folder is locked or written: the manifest is as it was (never "running",
    # and no session that ran nothing is added)
    assert (tiny_sweep / "manifest.json").read_bytes() == before
    assert not (tiny_sweep / "sweep.lock").exists()


# ---- a damaged sweep folder (issue #14, kind 13) ---------------------------------------------------------------------
def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused_with_nothing_written(folder: Path, match: str) -> None:
    """``analyze`` and ``sweep --resume`` on ``folder`` both raise a ScenarioError of one line matching ``match``,
    and leave every file of the folder as it was (no analysis/, no session appended, no runs.parquet rewritten)."""
    from sim.analysis import analyze

    before = _snapshot(folder)
    for attempt in (lambda: analyze(folder), lambda: run_sweep(None, out=folder, workers=1, resume=True,
                                                                 progress=False)):
        with pytest.raises(ScenarioError) as info:
            attempt()
        assert len(info.value.problems) == 1 and re.search(match, info.value.problems[0]), info.value.problems
        assert _snapshot(folder) == before


REQUIRED = [("experiment",), ("design",), ("base_scenario",), ("root_seed",), ("runs",), ("sessions",),
            ("design", "kind"), ("design", "points"), ("design", "parameters"), ("experiment", "outputs")]
DAMAGE_SETTINGS = settings(derandomize=True, database=None, deadline=None, max_examples=25,
                           suppress_health_check=[HealthCheck.function_scoped_fixture])


@DAMAGE_SETTINGS
@given(data=st.data())
def test_a_damaged_manifest_is_refused_in_one_line_naming_it_with_nothing_written(tiny_sweep, data):
    """A manifest.json cut short, or missing a field the folder is read by, or holding one of the wrong type, was a
    22-80-line traceback (exit 1) from analyze and sweep --resume."""
    path = tiny_sweep / "manifest.json"
    good = path.read_text()
    manifest = json.loads(good)
    how = data.draw(st.sampled_from(["cut", "drop", "retype"]))
    if how == "cut":
        text = good[:data.draw(st.integers(0, len(good.rstrip()) - 1))]
    else:
        *parents, key = data.draw(st.sampled_from(REQUIRED))
        table = manifest
        for part in parents:
            table = table[part]
        if how == "drop":
            del table[key]
        else:
            table[key] = data.draw(st.sampled_from(["x", 1.5, None, True, [] if isinstance(table[key], dict) else {}]))
        text = json.dumps(manifest)
    path.write_text(text)
    try:
        _refused_with_nothing_written(tiny_sweep, re.escape(str(path)) + ": not a sweep manifest: ")
    finally:
        path.write_text(good)


@DAMAGE_SETTINGS
@given(data=st.data())
def test_a_truncated_chunk_file_is_refused_in_one_line_naming_it_with_nothing_written(tiny_sweep, data):
    chunk = tiny_sweep / "outputs" / "part-00000.parquet"
    good = chunk.read_bytes()
    chunk.write_bytes(good[:data.draw(st.integers(0, len(good) - 1))])
    try:
        _refused_with_nothing_written(tiny_sweep, re.escape(str(chunk)) + ": damaged output file: .*--resume")
    finally:
        chunk.write_bytes(good)


def test_a_damaged_design_file_is_refused_in_one_line_naming_it(tiny_sweep):
    (tiny_sweep / "design.parquet").write_bytes(b"PAR1 not really")
    _refused_with_nothing_written(tiny_sweep, re.escape(str(tiny_sweep / "design.parquet")) + ": damaged output file")


@pytest.mark.parametrize("damage", ["manifest", "chunk"])
def test_cli_analyze_and_resume_of_a_damaged_folder_exit_2_in_one_line(tiny_sweep, damage):
    if damage == "manifest":
        (tiny_sweep / "manifest.json").write_text("{\n")
    else:
        chunk = tiny_sweep / "outputs" / "part-00000.parquet"
        chunk.write_bytes(chunk.read_bytes()[:100])
    before = _snapshot(tiny_sweep)
    for args in (["analyze", str(tiny_sweep)],
                 ["sweep", str(tiny_sweep.parent / "tiny.toml"), "--resume", "--out", str(tiny_sweep), "--workers", "1",
                  "--quiet"]):
        done = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=HANG_GUARD_S)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and lines[0] == "Invalid input" and len(lines) == 2, done.stderr
        assert ("not a sweep manifest" if damage == "manifest" else "damaged output file") in lines[1]
        assert _snapshot(tiny_sweep) == before


def test_a_sweep_folder_that_cannot_be_written_whole_is_not_left_behind(tmp_path, monkeypatch):
    """A full disk once left design.parquet and an empty outputs/ but no manifest: "already exists" for a new sweep,
    "no manifest.json" for --resume. The folder is written whole or removed; one the user made stays."""
    import sim.sweep_folder as sf

    def full(path, *args, **kwargs):
        raise OSError(28, "No space left on device", str(path))
    monkeypatch.setattr(sf, "write_json", full)
    path = write(tmp_path, "grid", GRID.replace("{extra}", ""))
    with pytest.raises(OSError, match="No space left"):
        run_sweep(path, out=tmp_path / "sweep", workers=1, progress=False)
    assert not (tmp_path / "sweep").exists()
    made = tmp_path / "mine"
    made.mkdir()
    with pytest.raises(OSError, match="No space left"):
        sf.create_folder(plan(path), made)
    assert made.is_dir()  # a folder that was there before is the user's: kept


def test_an_experiment_question_with_control_characters_is_refused_naming_the_field(tmp_path):
    """As a scenario's question (sim.scenario.printable): an ESC sequence would reach the terminal."""
    path = tmp_path / "bad.toml"
    path.write_text(GRID.format(extra='question = "\\u001b[31mred"'))
    with pytest.raises(ScenarioError) as info:
        run_sweep(path, out=tmp_path / "out", workers=1, progress=False)
    assert any("question" in p for p in info.value.problems), info.value.problems
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------------
# [[uncertainties]]: market conditions sampled with the levers, validated alike, their role recorded
# --------------------------------------------------------------------------------------------------------
UNCERTAIN = """
scenario = "lexus_us_1989"
replications = 1
seed = 4

[set]
simulation.buyers = 500
market.years = 2

[design]
kind = "lhs"
samples = 4

[[parameters]]
path = "brands.Lexus.service.complimentary_maintenance_months"
name = "free_months"
range = [0, 48]

[[uncertainties]]
path = "word_of_mouth.strength"
name = "wom"
range = [0.02, 0.15]

[[uncertainties]]
path = "brands.Cadillac.strategy.lag_months"
range = [6, 48]
""" + OUTPUTS.replace("1989", "1987").replace("[1987, 1987]", "[1986, 1987]")


def test_uncertainties_are_sampled_with_the_levers_and_their_roles_recorded(tmp_path):
    folder = run_sweep(write(tmp_path, "uncertain", UNCERTAIN), out=tmp_path / "sweep", workers=1, progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["levers"] == ["free_months"] and manifest["uncertainties"] == ["wom", "lag_months"]
    assert [p["role"] for p in manifest["design"]["parameters"]] == ["lever", "uncertainty", "uncertainty"]
    schema = pq.read_schema(next((folder / "outputs").glob("part-*.parquet")))
    assert {n: schema.field(n).metadata for n in ("free_months", "wom", "lag_months")} == {
        "free_months": {b"role": b"lever"}, "wom": {b"role": b"uncertainty"}, "lag_months": {b"role": b"uncertainty"}}
    outputs = pd.read_parquet(folder / "outputs")
    assert outputs["wom"].between(0.02, 0.15).all() and outputs["lag_months"].between(6, 48).all()
    assert outputs["wom"].nunique() == 4  # a latin hypercube over levers and uncertainties together


@pytest.mark.parametrize("change, field, words", [
    (("range = [0.02, 0.15]", "range = [0.15, 0.02]"), "uncertainties.0.range", "must be below high"),
    (('path = "word_of_mouth.strength"', 'path = "word_of_mouth.strenght"'), "uncertainties.0.path",
     "did you mean 'strength'"),
    (("range = [6, 48]", "range = [6.5, 48]"), "uncertainties.1.range", "range ends must be whole numbers"),
    (('name = "wom"', 'name = "free_months"'), "uncertainties.0.name", "is used twice"),
    (('path = "brands.Cadillac.strategy.lag_months"', 'path = "brands.Lexus.service.complimentary_maintenance_months"'),
     "uncertainties.1.path", "is varied twice"),
    (("range = [6, 48]", "range = [6, 480]"), "design point", "lag_months"),
    (("range = [6, 48]", "rnage = [6, 48]"), "uncertainties.1.rnage", "did you mean 'range'"),
    (('name = "wom"', 'name = "point"'), "uncertainties.0.name", "reserved"),
])
def test_bad_uncertainties_name_file_and_field_and_write_nothing(tmp_path, change, field, words):
    path = write(tmp_path, "bad", UNCERTAIN.replace(*change))
    with pytest.raises(ScenarioError) as info:
        run_sweep(path, out=tmp_path / "out", workers=1, progress=False)
    problems = info.value.problems
    assert any(p.startswith(f"{path}: ") and field in p and words in p for p in problems), problems
    assert not (tmp_path / "out").exists()


def test_an_experiment_varying_nothing_is_refused_and_uncertainties_alone_suffice(tmp_path):
    lever = UNCERTAIN[UNCERTAIN.index("[[parameters]]"):UNCERTAIN.index("[[uncertainties]]")]
    path = write(tmp_path, "nothing", UNCERTAIN.replace(lever, "").split("[[uncertainties]]")[0] + OUTPUTS)
    with pytest.raises(ScenarioError) as info:
        plan(path)
    assert info.value.problems == [f"{path}: (top level): nothing is varied: give at least one [[parameters]] "
                                   "(a lever) or [[uncertainties]] entry"], info.value.problems
    p = plan(write(tmp_path, "only", UNCERTAIN.replace(lever, "")))
    assert [(i.name, i.role) for i in p.params] == [("wom", "uncertainty"), ("lag_months", "uncertainty")]


VERSUS = """
scenario = "lexus_us_1989"
replications = 2
seed = 9

[set]
simulation.buyers = 500
market.years = 5

[design]
kind = "grid"

[[parameters]]
path = "brands.Lexus.service.complimentary_maintenance_months"
name = "free_months"
values = [0, 36]

[[outputs]]
name = "lexus_profit_gain"
metric = "profit"
brand = "Lexus"
years = [1990, 1990]
aggregate = "sum"
versus = { brands.Lexus.service.complimentary_maintenance_months = 0 }

[[outputs]]
name = "lexus_profit"
metric = "profit"
brand = "Lexus"
year = 1990
"""


def test_an_output_versus_a_counterfactual_is_the_paired_difference_with_the_same_seed(tmp_path):
    """``versus``: the run's value minus its twin's (the fields changed, the same seed): exactly 0 where the twin is
    the run itself (0 free months), and the difference with a run of the counterfactual on the same seed."""
    folder = run_sweep(write(tmp_path, "versus", VERSUS), out=tmp_path / "sweep", workers=1, progress=False)
    runs = results(folder)
    assert (runs.loc[runs["free_months"] == 0, "lexus_profit_gain"] == 0).all()
    row = runs[(runs["free_months"] == 36) & (runs["replication"] == 1)].iloc[0]
    base = ["simulation.buyers=500", "market.years=5", "brands.Lexus.service.complimentary_maintenance_months=0"]
    twin = LuxuryMarketModel(load_scenario("lexus_us_1989", base), seed=run_seed(9, int(row["point"]), 1)).run()
    twin_profit = output_value(twin.brand_year(), {"metric": "profit", "brand": "Lexus", "year": 1990})
    assert row["lexus_profit_gain"] == pytest.approx(row["lexus_profit"] - twin_profit, rel=1e-9, abs=1e-6)
    assert row["lexus_profit_gain"] != 0  # 1990: the first free visits of the cars bought since September 1989


@pytest.mark.parametrize("change, field, words", [
    (("complimentary_maintenance_months = 0 }", "complimentary_maintenance_monts = 0 }"), "outputs.0.versus",
     "did you mean 'complimentary_maintenance_months'"),
    (("complimentary_maintenance_months = 0 }", "complimentary_maintenance_months = -3 }"), "outputs.0.versus",
     "complimentary_maintenance_months"),
    (("versus = {", "versus = [1] #"), "outputs.0.versus", "path=value"),
])
def test_a_bad_counterfactual_names_file_and_field(tmp_path, change, field, words):
    path = write(tmp_path, "bad", VERSUS.replace(*change))
    with pytest.raises(ScenarioError) as info:
        run_sweep(path, out=tmp_path / "out", workers=1, progress=False)
    problems = info.value.problems
    assert any(p.startswith(f"{path}: ") and field in p and words in p for p in problems), problems
    assert not (tmp_path / "out").exists()


@given(n=st.integers(0, 5000), cap=st.integers(1, 200), workers=st.integers(1, 16), taper=st.booleans())
def test_batches_cover_every_run_and_taper_so_the_workers_end_together(n, cap, workers, taper):
    """``batch_sizes``: positive sizes, in submission order never growing, summing to the runs, none above the cap;
    equal tasks without ``taper`` (or on one worker); with it, no task holds more than half a worker's share of
    the runs left when it is taken, so the last tasks are single runs."""
    sizes = sweep.batch_sizes(n, cap, workers, taper)
    assert sum(sizes) == n and all(1 <= s <= cap for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    if not taper or workers == 1:
        assert sizes[:-1] == [cap] * (len(sizes) - 1)
    else:
        left = np.cumsum([0, *sizes[:-1]])
        assert all(s <= max(1, -(-(n - k) // (2 * workers))) for s, k in zip(sizes, left))
        if n >= 2 * workers:
            assert sizes[-workers:] == [1] * workers


def test_the_shipped_grid_is_split_into_tapering_tasks():
    assert sweep.batch_sizes(48, 5, 2) == [5, 5, 5, 5, 5, 5, 5, 4, 3, 2, 1, 1, 1, 1]
    assert sweep.batch_sizes(48, 5, 2, taper=False) == [5] * 9 + [3]


@pytest.mark.parametrize("address, bad_address", [("bogus", True), ("tcp://127.0.0.1:9", False)])
def test_resuming_with_a_scheduler_that_cannot_be_used_touches_nothing(tmp_path, grid_sweep, address, bad_address):
    """A resumed sweep connects to its scheduler before it locks or writes its folder: a malformed address (the CLI
    exits 2) or one where nothing answers (exit 1) leaves every file of the folder as it was."""
    from typer.testing import CliRunner

    from run_sim import app
    from sim.executor import SchedulerUnavailable

    folder = tmp_path / "sweep"
    shutil.copytree(grid_sweep, folder)
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    done = CliRunner().invoke(app, ["sweep", str(grid_sweep.parent / "grid.toml"), "--resume", "--out", str(folder),
                                    "--scheduler", address])
    assert isinstance(done.exception, SchedulerUnavailable), done.output  # (cli() prints it: exit 2 or 1)
    assert done.exception.bad_address == bad_address
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("value, got", [("5", " (got 5)"), ('"yes"', " (got 'yes')"), ('["profit", 3]', "")])
def test_a_bad_keep_series_is_one_line_without_pydantic_internals(tmp_path, value, got):
    """``keep_series`` takes true/false or a list of metrics: pydantic reported one line per kind, each under its
    internal name (``keep_series.bool``, ``keep_series."list[str]"``)."""
    from typer.testing import CliRunner

    from run_sim import app

    path = tmp_path / "bad.toml"
    path.write_text(GRID.format(extra="").replace("keep_series = true", f"keep_series = {value}"))
    done = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert done.exit_code == 2, done.output
    lines = [line.strip() for line in done.output.strip().splitlines()]
    assert lines[1:] == [f"{path}: keep_series: must be true, false, or a list of brand_year() metrics to keep "
                         f"(e.g. [\"sales_share\", \"profit\"]){got}"], done.output
    assert not (tmp_path / "out").exists()
