"""Resources: a run's memory is estimated before anything is allocated and refused in one line when it cannot fit
(issue #14, item 16)."""

from __future__ import annotations

import builtins
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.executor
from sim.executor import Executor, InsufficientMemory, available_memory, check_memory
from sim.model import PEAK_OVER_STATE, LuxuryMarketModel, memory_needed
from sim.scenario_files import load_scenario
from tests.conftest import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=HANG_GUARD_S)


@settings(max_examples=12)
@given(name=st.sampled_from(["lexus_us_1989", "generic_new_entrant", "europe_1990"]), buyers=st.integers(100, 20_000),
       years=st.integers(1, 6), growth=st.sampled_from([0.0, 0.03, 0.2]))
def test_the_estimate_is_the_state_the_model_allocates(name, buyers, years, growth):
    """Before allocating, the estimate (over the peak factor) is the state the model then holds, the ledger being
    the only part the model's own count leaves out."""
    scenario = load_scenario(name, [f"market.years={years}", f"market.annual_growth={growth}"])
    state = LuxuryMarketModel(scenario, seed=1, buyers=buyers).memory_bytes()
    assert state <= memory_needed(scenario, buyers) / PEAK_OVER_STATE <= 1.25 * state + 200_000


def test_a_run_that_cannot_fit_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(sim.executor, "available_memory", lambda: 50_000_000)
    scenario = load_scenario("lexus_us_1989", ["market.years=2"])
    with pytest.raises(InsufficientMemory) as info:
        LuxuryMarketModel(scenario, seed=1, buyers=2_000_000)
    text = str(info.value)
    assert "\n" not in text and "2,000,000 buyers need about" in text and "50 MB available" in text
    LuxuryMarketModel(scenario, seed=1, buyers=2000)  # a small one fits


def test_the_executor_counts_the_runs_held_at_once(monkeypatch):
    per_run = 40_000_000
    monkeypatch.setattr(sim.executor, "available_memory", lambda: 100_000_000)
    check_memory(per_run, "x", at_once=2)  # 80 MB of 100: fits
    with pytest.raises(InsufficientMemory, match=r"x 3 runs at once \(120 MB\)"):
        check_memory(per_run, "x", at_once=3)
    with Executor(workers=3) as ex, pytest.raises(InsufficientMemory):
        ex.map(abs, [1, 2, 3], memory=(per_run, "x"))
    assert ex.backend is None  # refused before a cluster was started
    with Executor(workers=1) as ex:
        assert ex.map(abs, [-1, -2, -3], memory=(per_run, "x")) == [1, 2, 3]  # one at a time in this process


def test_available_memory_reads_proc_meminfo_without_psutil(monkeypatch):
    real_import = builtins.__import__

    def no_psutil(name, *args, **kwargs):
        if name == "psutil":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psutil)
    found = available_memory()
    if Path("/proc/meminfo").exists():
        assert found is not None and found > 0
    else:
        assert found is None


def test_cli_refuses_a_run_too_big_for_this_machine_in_one_line(tmp_path):
    # a segment growing 50% a year for 30 years: the population's capacity is far beyond any machine's memory
    done = cli("run", "lexus_us_1989", "-n", "100000", "--years", "30", "--set", "market.annual_growth=0.5",
               "--out", str(tmp_path / "big"))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 2, done.stderr
    # the scenario's warning names the growth, and so does the refusal, with what to lower
    assert lines[0].startswith("Warning: ") and "market.annual_growth: 50% a year for 30 years grows the segment " \
        "191,751-fold" in lines[0]
    assert lines[1].startswith("not enough memory: 100,000 buyers growing to about ") and "available" in lines[1]
    assert "(market.annual_growth 50% a year for 30 years)" in lines[1] and "lower --buyers" in lines[1]
    assert list(tmp_path.iterdir()) == []


def test_a_segment_that_grows_or_shrinks_tenfold_is_worth_a_warning():
    from sim.scenario_files import ScenarioWarning, growth_warnings, load_scenario

    assert growth_warnings(load_scenario("lexus_us_1989")) == []
    assert growth_warnings(load_scenario("lexus_us_1989", ["market.annual_growth=0.09"])) == []  # 25 years: 8.6-fold
    with pytest.warns(ScenarioWarning, match="grows the segment 11-fold"):  # 10.8-fold
        load_scenario("lexus_us_1989", ["market.annual_growth=0.1"])
    (shrinks,) = growth_warnings(load_scenario("lexus_us_1989", ["market.annual_growth=-0.1"]))
    assert "shrinks the segment to 7.2% of its start" in shrinks


@pytest.mark.parametrize("sizes", ["0", "-5", "2000,0"])
def test_bench_refuses_sizes_below_the_minimum_in_one_line(sizes):
    done = cli("bench", f"--sizes={sizes}", "--reference-sizes", "")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "--sizes: every buyer count must be at least 100" in lines[0]


# ---- a container's memory limit and the workers' own memory (issue #14) ------------------------------------------
V1_NO_LIMIT = 9223372036854771712  # what cgroup v1 writes for "no limit"


def fake_cgroups(root: Path, proc: str, files: dict[str, str]) -> pytest.MonkeyPatch:
    """A control-group tree under ``root`` (``files``: path under root -> text) and a /proc/self/cgroup of
    ``proc``, in place of the machine's (undo with the returned MonkeyPatch)."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "proc_self_cgroup").write_text(proc)
    patch = pytest.MonkeyPatch()
    patch.setattr(sim.executor, "CGROUP_ROOT", root)
    patch.setattr(sim.executor, "PROC_CGROUP", root / "proc_self_cgroup")
    return patch


GB = 1_000_000_000


@settings(max_examples=40)
@given(version=st.sampled_from([1, 2]), machine=st.integers(0, 64 * GB), limit=st.integers(0, 64 * GB) | st.none(),
       used=st.integers(0, 64 * GB), cache=st.integers(0, 8 * GB), nested=st.booleans())
def test_available_memory_is_the_smaller_of_the_machine_and_the_cgroup_limit(tmp_path_factory, version, machine,
                                                                              limit, used, cache, nested):
    """In a container the machine's available memory is the host's: the group's limit, less what the group uses
    (inactive file cache aside, which the kernel reclaims), is what a run can have when it is smaller."""
    import psutil

    root = tmp_path_factory.mktemp("cgroup")
    where = "docker/abc" if nested else ""
    base = "" if version == 2 else "memory/"
    limit_file, usage_file, cache_key = (("memory.max", "memory.current", "inactive_file") if version == 2 else
                                         ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"))
    group = f"{base}{where}/".lstrip("/")
    files = {f"{group}{limit_file}": ("max" if version == 2 else str(V1_NO_LIMIT)) if limit is None else str(limit),
             f"{group}{usage_file}": str(used), f"{group}memory.stat": f"active_file 5\n{cache_key} {cache}\n"}
    if nested:  # the levels above set no limit
        files[f"{base}{limit_file}"] = "max" if version == 2 else str(V1_NO_LIMIT)
    proc = f"0::/{where}\n" if version == 2 else f"9:name=systemd:/\n4:memory:/{where}\n0::/\n"
    patch = fake_cgroups(root, proc, files)
    patch.setattr(psutil, "virtual_memory", lambda: type("VM", (), {"available": machine})())
    try:
        expected_left = None if limit is None else max(0, limit - max(0, used - cache))
        assert sim.executor.cgroup_memory_left() == expected_left
        assert available_memory() == (machine if limit is None else min(machine, expected_left))
    finally:
        patch.undo()


def test_a_run_that_fits_the_machine_but_not_the_container_is_refused(tmp_path, monkeypatch):
    """A cgroup v2 limit of 256 MB with 200 MB used: a 2,000,000-buyer run is refused in one line naming what is
    left, though the machine has more."""
    patch = fake_cgroups(tmp_path, "0::/\n", {"memory.max": str(256 * 2**20), "memory.current": str(200 * 2**20),
                                              "memory.stat": "inactive_file 0\n"})
    try:
        scenario = load_scenario("lexus_us_1989", ["market.years=2"])
        with pytest.raises(InsufficientMemory) as info:
            LuxuryMarketModel(scenario, seed=1, buyers=2_000_000)
        assert "\n" not in str(info.value) and "this machine has 59 MB available" in str(info.value)
    finally:
        patch.undo()


def test_each_new_worker_process_counts_its_baseline_memory(monkeypatch):
    """Runs of a few MB each still need a new worker's imported stack each (WORKER_BASELINE); runs in this process
    or in workers already running do not."""
    from sim.executor import WORKER_BASELINE

    assert 150_000_000 <= WORKER_BASELINE <= 250_000_000
    monkeypatch.setattr(sim.executor, "available_memory", lambda: WORKER_BASELINE + 50_000_000)
    check_memory(10_000_000, "x", at_once=2)  # in this process (or running workers): 20 MB
    check_memory(10_000_000, "x", new_processes=1)  # one new process: 230 MB of 270
    with pytest.raises(InsufficientMemory, match=r"x 2 runs at once \+ 220 MB for each of 2 new processes "
                                                 r"\(460 MB\), this machine has 270 MB available"):
        check_memory(10_000_000, "x", at_once=2, new_processes=2)
    with Executor(workers=2) as ex, pytest.raises(InsufficientMemory):
        ex.map(abs, [1, 2], memory=(10_000_000, "x"))
    assert ex.backend is None  # refused before a cluster was started
    with Executor(workers=1) as ex:
        assert ex.map(abs, [-1, -2], memory=(10_000_000, "x")) == [1, 2]


@pytest.mark.parametrize("sizes", ["", " ", ",", " , "])
@pytest.mark.parametrize("reference", [[], ["--reference-sizes", ""]])
def test_bench_refuses_no_sizes_in_one_line(sizes, reference):
    """--sizes "" once measured nothing and exited 0 (--reference-sizes "" is how to measure no reference runs)."""
    done = cli("bench", f"--sizes={sizes}", *reference)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0] == f"--sizes: expected at least one buyer count, e.g. --sizes 10000,100000 (got {sizes!r}): " \
                       "nothing would be measured"


def test_bench_refuses_a_long_non_number_in_one_line():
    done = cli("bench", "--sizes", "x" * 150, "--reference-sizes", "")
    assert done.returncode == 2 and done.stderr.splitlines() == [f"--sizes: expected comma-separated integers, got "
                                                                 f"'{'x' * 150}'"]
