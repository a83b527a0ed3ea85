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

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


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
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("not enough memory: 100,000 buyers need about") and "available" in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sizes", ["0", "-5", "2000,0"])
def test_bench_refuses_sizes_below_the_minimum_in_one_line(sizes):
    done = cli("bench", f"--sizes={sizes}", "--reference-sizes", "")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "--sizes: every buyer count must be at least 100" in lines[0]
