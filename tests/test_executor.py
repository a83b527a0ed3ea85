"""The execution layer (sim/executor.py): the same results in this process, on a local cluster and on an existing
scheduler; results in input order; a failing task named; DASK_SCHEDULER_ADDRESS honoured; every command that runs
the model accepts --scheduler and records the backend in its manifest.

One 2-worker cluster (processes, loopback) serves the module; the model runs are tiny (2,000 buyers, 3 years).
"""

from __future__ import annotations

import json
import math
import operator
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sim.executor import (
    IN_PROCESS,
    LOCAL_CLUSTER,
    SCHEDULER,
    STARTUP_SECONDS,
    Executor,
    SchedulerUnavailable,
    TaskError,
)
from sim.runner import run_replications
from sim.scenario_files import load_scenario
from tests.conftest import HANG_GUARD_S

pytestmark = pytest.mark.filterwarnings(r"ignore:Port \d+ is already in use:UserWarning")


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as local:
        yield local


@pytest.fixture(autouse=True)
def no_scheduler_from_the_environment(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)


def tiny_runs(executor: Executor) -> list[pd.DataFrame]:
    scenario = load_scenario("lexus_us_1989", ["market.years=3"])
    return [r.brand_year for r in run_replications(scenario, 2, seed=7, buyers=2000, executor=executor)]


# ---- same results whatever the backend ----------------------------------------------------------------------
def test_same_results_in_process_on_a_local_cluster_and_on_a_scheduler(cluster):
    with Executor(workers=1) as ex:
        serial = tiny_runs(ex)
        assert ex.describe() == {"backend": IN_PROCESS, "address": None, "workers": 1}
    with Executor(workers=2) as ex:
        local = tiny_runs(ex)
        described = ex.describe()
        assert described["backend"] == LOCAL_CLUSTER and described["workers"] == 2
        assert described["address"].startswith("tcp://127.0.0.1:")
    with Executor(scheduler=cluster.scheduler_address) as ex:
        remote = tiny_runs(ex)
        assert ex.describe() == {"backend": SCHEDULER, "address": cluster.scheduler_address, "workers": 2}
        assert ex.description == cluster.scheduler_address
    for a, b, c in zip(serial, local, remote):
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(a, c)
    assert not serial[0].drop(columns="replication").equals(serial[1].drop(columns="replication"))


def test_small_work_stays_in_this_process_unless_workers_are_asked_for():
    with Executor() as ex:
        assert ex.map(math.sqrt, [4.0, 9.0], cost=STARTUP_SECONDS / 10) == [2.0, 3.0]
        assert ex.describe()["backend"] == IN_PROCESS
    with Executor() as ex:  # a single task never starts a cluster
        assert ex.map(math.sqrt, [16.0]) == [4.0] and ex.describe()["backend"] == IN_PROCESS


# ---- order, errors, the environment -----------------------------------------------------------------------
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(-10**6, 10**6), max_size=30), st.integers(-5, 5))
def test_results_come_back_in_input_order(cluster, values, factor):
    with Executor(scheduler=cluster.scheduler_address) as ex:
        assert ex.map(operator.mul, values, shared=factor) == [factor * v for v in values]
        finished = dict(ex.as_completed(operator.neg, values))
    assert finished == {i: -v for i, v in enumerate(values)}


def _where(shared, item: int) -> tuple[str, int, int]:
    """A task that takes a moment (so that one worker cannot finish them all first): its worker, the shared
    object's length and the item."""
    import time

    from distributed import get_worker

    time.sleep(0.3)
    return get_worker().address, len(shared), item


@pytest.mark.parametrize("size", [10, 3_000_000])  # sent with every task; copied to every worker
def test_tasks_that_share_an_object_run_on_every_worker(cluster, size):
    """A shared object once pinned every task to the worker that held it: a 2-worker sweep (or calibration) ran on
    one worker. Small or large, the shared object is where every worker can use it."""
    shared = b"x" * size
    with Executor(scheduler=cluster.scheduler_address) as ex:
        results = ex.map(_where, list(range(8)), shared=shared)
    assert [(n, i) for _, n, i in results] == [(size, i) for i in range(8)]
    assert len({worker for worker, _, _ in results}) == 2


@pytest.mark.parametrize("workers", [1, None])
def test_a_failing_task_is_named(cluster, workers):
    scheduler = None if workers == 1 else cluster.scheduler_address
    with Executor(workers, scheduler) as ex:
        with pytest.raises(TaskError, match=r"^square root of -1: ValueError: .*domain") as info:
            ex.map(math.sqrt, [4.0, -1.0, 9.0], label=lambda i, x: f"square root of {x:g}")
        assert isinstance(info.value.__cause__, ValueError) and info.value.label == "square root of -1"
        outcomes = dict(ex.as_completed(math.sqrt, [4.0, -1.0], errors="yield"))  # the others go on
        assert outcomes[0] == 2.0 and isinstance(outcomes[1], TaskError) and "sqrt task 1" in str(outcomes[1])


def test_dask_scheduler_address_from_the_environment(cluster, monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
    with Executor(workers=2) as ex:  # the environment's address wins over a local worker count ...
        assert ex.map(math.sqrt, [1.0, 4.0]) == [1.0, 2.0]
        assert ex.describe()["backend"] == SCHEDULER and ex.describe()["address"] == cluster.scheduler_address
    with Executor(workers=1) as ex:  # ... but not over --workers 1, which means this process
        assert ex.map(math.sqrt, [1.0, 4.0]) == [1.0, 2.0]
        assert ex.describe()["backend"] == IN_PROCESS
    with Executor(workers=1, scheduler=cluster.scheduler_address) as ex:  # an explicit scheduler always wins
        assert ex.map(math.sqrt, [1.0, 4.0]) == [1.0, 2.0]
        assert ex.describe()["backend"] == SCHEDULER


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_scheduler_that_does_not_answer_is_named_in_one_error(monkeypatch):
    import sim.executor

    monkeypatch.setattr(sim.executor, "CONNECT_SECONDS", 1)
    address = f"tcp://127.0.0.1:{_free_port()}"
    with Executor(scheduler=address) as ex, \
            pytest.raises(SchedulerUnavailable, match=f"--scheduler {address}: no Dask") as info:
        ex.connect()
    assert not info.value.bad_address
    for bad in ("foo", "http://host:8786"):  # not an address at all: bad input, not the environment
        with Executor(scheduler=bad) as ex, pytest.raises(SchedulerUnavailable, match="not a Dask scheduler address") \
                as info:
            ex.connect()
        assert info.value.bad_address
    with Executor(workers=1) as ex:
        ex.connect()  # nothing to connect to: no error, still in this process
        assert ex.describe()["backend"] == IN_PROCESS
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)  # an address from the environment is named as such
    with Executor() as ex, pytest.raises(SchedulerUnavailable, match=f"^DASK_SCHEDULER_ADDRESS={address}: no Dask"):
        ex.connect()


def test_bad_worker_count_is_refused():
    with pytest.raises(ValueError, match="workers: must be at least 1"):
        Executor(workers=0)


# ---- the command line -------------------------------------------------------------------------------------
def cli(*args: str) -> None:
    from run_sim import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


SWEEP = """
scenario = "lexus_us_1989"
replications = 1
seed = 3
[set]
simulation.buyers = 2000
market.years = 3
[design]
kind = "grid"
[[parameters]]
path = "choice.inertia"
values = [0.5, 2.5]
[[outputs]]
name = "lexus_share"
metric = "sales_share"
brand = "Lexus"
year = 1988
"""

CALIBRATION = """
name = "t"
scenario = "lexus_us_1989"
buyers = 2000
replications = 2
seed = 4
end_year = 1988
[optimiser]
screening = 2
max_evaluations = 2
[[parameters]]
path = "choice.inertia"
range = [0.5, 3.0]
why = "x"
"""


def test_every_command_that_runs_the_model_accepts_a_scheduler(cluster, tmp_path):
    address = cluster.scheduler_address
    small = ["--buyers", "2000", "-r", "2", "--quiet", "--scheduler", address]
    cli("run", "lexus_us_1989", "--years", "3", *small, "--out", tmp_path / "run")
    cli("compare", "lexus_us_1989", "lexus_service_parity", "--years", "3", *small, "--out", tmp_path / "compare")
    cli("attribute", "lexus_us_1989", "--brand", "Lexus", "--levers", "reliability", "--from", "1987", "--to", "1988",
        *small, "--out", tmp_path / "attribute")
    cli("validate", "lexus_us_1989", "--parity", "", *small, "--out", tmp_path / "validate")
    for folder in ("run", "compare", "attribute"):
        execution = json.loads((tmp_path / folder / "manifest.json").read_text())["execution"]
        assert execution == {"backend": SCHEDULER, "address": address, "workers": 2}, folder

    (tmp_path / "sweep.toml").write_text(textwrap.dedent(SWEEP))
    cli("sweep", tmp_path / "sweep.toml", "--quiet", "--scheduler", address, "--out", tmp_path / "sweep")
    session = json.loads((tmp_path / "sweep" / "manifest.json").read_text())["sessions"][0]
    assert session["scheduler"] == address and session["execution"]["backend"] == SCHEDULER

    (tmp_path / "calibration.toml").write_text(textwrap.dedent(CALIBRATION))
    cli("calibrate", tmp_path / "calibration.toml", "--quiet", "--scheduler", address, "--out", tmp_path / "cal")
    assert json.loads((tmp_path / "cal" / "manifest.json").read_text())["backend"] == address


def test_the_scheduler_option_reads_the_same_everywhere():
    from run_sim import app

    helps = {}
    for command in ("run", "compare", "attribute", "validate", "sweep", "calibrate"):
        text = " ".join(CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"}).output.split())
        assert "--scheduler" in text and "--workers" in text, command
        helps[command] = "DASK_SCHEDULER_ADDRESS" in text
    assert all(helps.values()), helps


def test_results_and_manifest_keys_of_a_small_run_do_not_depend_on_the_backend(cluster, tmp_path):
    cli("run", "lexus_us_1989", "--years", "3", "--buyers", "2000", "-r", "2", "--quiet", "--workers", "1",
        "--out", tmp_path / "one")
    cli("run", "lexus_us_1989", "--years", "3", "--buyers", "2000", "-r", "2", "--quiet", "--scheduler",
        cluster.scheduler_address, "--out", tmp_path / "cluster")
    for name in ("brand_year.parquet", "monthly.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / name),
                                      pd.read_parquet(tmp_path / "cluster" / name))
    assert (tmp_path / "one" / "switching.csv").read_text() == (tmp_path / "cluster" / "switching.csv").read_text()
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert one["execution"] == {"backend": IN_PROCESS, "address": None, "workers": 1}
    assert set(one) == set(json.loads((tmp_path / "cluster" / "manifest.json").read_text()))


def test_dask_is_not_imported_for_a_run_in_this_process(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from sim.executor import Executor; import math\n"
            "with Executor(workers=1) as ex: ex.map(math.sqrt, [1.0, 4.0])\n"
            "print('distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert out.stdout.strip() == "False", out.stderr


def test_workers_are_forked_with_the_model_loaded_and_a_sweeps_own_process_never_imports_it():
    """The fork server imports sim/worker_setup.py (the model, its kernels loaded by a tiny run of each engine);
    the process that plans a sweep reads its design, validates every point and sizes its memory without the model
    (Mesa and the engine are the workers' to import); and nothing is started for a run in this process."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    code = ("import sys, multiprocessing.forkserver as fs\n"
            "from sim.executor import prepare_local_workers\n"
            "prepare_local_workers(workers=1)\n"
            "assert fs._forkserver._forkserver_pid is None, 'started for a run in this process'\n"
            "from sim.design import plan\n"
            "from sim.sweep import _memory\n"
            "p = plan('lexus_service_grid'); _memory(p)\n"
            "print(len(p.design), 'mesa' in sys.modules, 'sim.model' in sys.modules)\n"
            "import sim.worker_setup as w\n"
            "print(w.WARM, 'sim.model' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         timeout=HANG_GUARD_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["12", "False", "False", "True", "True"], out.stdout + out.stderr


def test_the_fork_server_never_outlives_a_command_that_ends_early(tmp_path):
    """A sweep asks for the fork server before it reads its experiment; refused at once (bad input, exit 2), the
    command ends the server too, so that whoever reads its output is not kept waiting and nothing runs on."""
    import os
    import subprocess
    import sys
    import uuid

    root = Path(__file__).resolve().parent.parent
    bad = tmp_path / "bad.toml"
    text = (root / "scenarios" / "experiments" / "lexus_service_grid.toml").read_text()
    bad.write_text(text.replace('metric = "sales_share"', 'metric = "sales_shar"', 1))
    mark = uuid.uuid4().hex
    log = tmp_path / "output.txt"
    with log.open("w") as sink:  # (a file, not a pipe: the run returns when the command ends, not when its output
        # closes, which a server left running would hold open)
        out = subprocess.run([sys.executable, "run_sim.py", "sweep", str(bad), "--workers", "2"], cwd=root,
                             stdout=sink, stderr=subprocess.STDOUT, timeout=HANG_GUARD_S,
                             env={**os.environ, "LUXSIM_TEST_MARK": mark})
    assert out.returncode == 2 and "unknown metric 'sales_shar'" in log.read_text()
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if mark.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                left.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
        except OSError:
            continue
    assert left == [], f"still running after the command: {left}"


def test_on_a_cold_numba_cache_the_fork_server_compiles_nothing(tmp_path):
    """The fork server's warm-up only loads compiled kernels: on a cold cache it would compile for ten seconds or
    more while the cluster (and a Ctrl-C) waits, so it imports the model and stops there."""
    import os
    import subprocess
    import sys

    code = "import sim.worker_setup as w; print(w.IMPORTED, w.WARM)"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=HANG_GUARD_S,
                         env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cold")})
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr
    assert not list((tmp_path / "cold").rglob("kernels.*.nbi"))


def test_a_sweeps_metric_names_are_the_columns_of_a_runs_table():
    """The sweep validates its outputs' metrics against the ledger's yearly table without running the model."""
    from sim.design import _metric_columns
    from sim.model import LuxuryMarketModel

    table = LuxuryMarketModel("lexus_us_1989", buyers=200, seed=1, collect=False,
                              **{"market.years": 2}).run().brand_year()
    assert _metric_columns({}) == [c for c in table.columns if c not in ("year", "brand")]


def _ctrl_c_inside_compiled_code(_item):
    """What numba makes of Ctrl-C pressed while a compiled call runs: a SystemError caused by the KeyboardInterrupt."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        raise SystemError("CPUDispatcher(<function market_month>) returned a result with an exception set") from exc


def test_ctrl_c_that_compiled_code_turned_into_a_system_error_is_an_interrupt_not_a_failed_task():
    """Issue #14 item 17, found again after the market month became one compiled call: the SystemError numba raises
    around a KeyboardInterrupt must reach the command as Ctrl-C (one line, exit 130), not as a task's traceback."""
    from sim.executor import Executor, TaskError, interrupted

    with pytest.raises(KeyboardInterrupt), Executor(workers=1) as ex:
        ex.map(_ctrl_c_inside_compiled_code, [1, 2])
    assert not interrupted(ValueError("a real failure"))
    with pytest.raises(TaskError), Executor(workers=1) as ex:
        ex.map(int, ["not a number"])


def test_local_workers_have_no_profiler_and_a_slow_tick_and_this_process_keeps_its_settings():
    """The local cluster's workers run without Dask's statistical profiler and with a 1 s event-loop tick
    (``LOCAL_CLUSTER_CONFIG``: both wait for the GIL a task holds in compiled code); the caller's Dask settings are
    its own again once the cluster has started."""
    import dask
    import distributed  # noqa: F401 - (its settings' defaults)

    from sim.executor import LOCAL_CLUSTER_CONFIG

    def settings() -> tuple:
        import dask

        return tuple(dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG)

    before = settings()
    assert before != tuple(LOCAL_CLUSTER_CONFIG.values())  # (Dask's defaults differ, or the test shows nothing)
    with Executor(2) as executor:
        executor.start(2)
        assert set(executor._client.run(settings).values()) == {tuple(LOCAL_CLUSTER_CONFIG.values())}
        assert settings() == before
    assert dask.config.get("distributed.worker.profile.enabled") == before[0]


@pytest.mark.parametrize("argv, starts", [
    (["sweep", "grid.toml"], True),
    (["sweep", "grid.toml", "--workers", "2"], True),
    (["sweep", "grid.toml", "--workers=3", "--quiet"], True),
    (["sweep", "grid.toml", "--workers", "1"], False),
    (["sweep", "grid.toml", "--workers=1"], False),
    (["sweep", "grid.toml", "--scheduler", "tcp://h:8786"], False),
    (["sweep", "grid.toml", "--scheduler=tcp://h:8786"], False),
    (["sweep", "--help"], False),
    (["run", "lexus_us_1989"], False),
    (["compare", "sweep"], False),
    ([], False),
])
def test_a_sweeps_workers_parent_starts_before_the_command_lines_imports_only_for_a_local_sweep(
        monkeypatch, argv, starts):
    """``run_sim.py sweep`` starts the fork server as the program starts (``prepare_for_command_line``), unless
    its arguments say it will not run on local workers (one worker, a scheduler) or is asked for help."""
    import sim.executor

    calls = []
    monkeypatch.setattr(sim.executor, "prepare_local_workers", lambda *a, **k: calls.append(a))
    sim.executor.prepare_for_command_line(argv)
    assert bool(calls) == starts


@pytest.mark.parametrize("command", [["sweep", "lexus_service_grid"], ["run", "--buyers", "2000", "-r", "2",
                                                                     "--years", "2"]])
def test_local_workers_that_cannot_start_are_one_line_and_nothing_is_written(tmp_path, command):
    """A temporary folder whose path is too long for a Unix socket keeps multiprocessing's fork server, and so local
    workers, from starting: the command says so in one line with what to do (exit 1, the environment), writes
    nothing and leaves nothing running."""
    import os
    import subprocess
    import sys

    long_tmp = tmp_path / ("t" * max(1, 110 - len(str(tmp_path))))
    long_tmp.mkdir()
    out_dir = tmp_path / "out"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "run_sim.py", *command, "--workers", "2", "--out", str(out_dir), "--quiet"],
                         cwd=root, capture_output=True, text=True, timeout=HANG_GUARD_S,
                         env={**os.environ, "TMPDIR": str(long_tmp)})
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "set TMPDIR to a shorter folder" in out.stderr
    assert not out_dir.exists()


def test_a_ctrl_c_while_the_fork_server_starts_is_held_not_lost():
    """The fork server starts with SIGINT ignored (what its workers inherit); a Ctrl-C arriving in those
    milliseconds is kept pending (SIGINT is blocked too) and raised once this process's handler is back, rather
    than lost, which let a command run on to its end."""
    import subprocess
    import sys

    code = ("import os, signal, time\n"
            "import multiprocessing.forkserver as fs\n"
            "import sim.executor as ex\n"
            "fs.ensure_running = lambda: os.kill(os.getpid(), signal.SIGINT)  # the Ctrl-C, mid-start\n"
            "ex._stop_fork_server_at_exit = lambda: None\n"
            "try:\n"
            "    ex._ensure_fork_server(['distributed'])\n"
            "    time.sleep(0.2)\n"
            "    print('lost')\n"
            "except KeyboardInterrupt:\n"
            "    print('held')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert out.stdout.strip() == "held", out.stdout + out.stderr
