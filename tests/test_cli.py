"""The command line as a user meets it: exit codes, messages, result folders."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.files import atomic_folder
from tests.conftest import HANG_GUARD_S, ctrl_c_as_in_a_terminal

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=HANG_GUARD_S)


def test_run_writes_a_whole_result_folder(tmp_path):
    out = tmp_path / "flagship"
    proc = cli("run", "lexus_us_1989", "-n", "2000", "--years", "5", "-r", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"brand_year.parquet", "brand_year.csv", "switching.csv",
                                                "monthly.parquet", "manifest.json", "report.html", "line_year.csv"}
    table = pd.read_parquet(out / "brand_year.parquet")
    assert set(table.replication) == {0, 1}
    assert set(table.year) == set(range(1986, 1991))
    for col in ("sales", "sales_share", "fleet", "fleet_share", "churn_rate", "repurchase_loyalty", "conquest_sales",
                "new_to_segment_sales", "csi", "service_cost", "service_revenue", "new_car_margin", "profit"):
        assert col in table.columns
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["buyers_simulated"] == 2000 and len(manifest["replications"]) == 2
    assert "Lexus" in proc.stdout and "share" in proc.stdout and str(out) in proc.stdout.replace("\n", "")


def test_bad_override_names_the_field_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    proc = cli("run", "lexus_us_1989", "--set", "brands.Lexus.service.proactive_goodwill=1.5", "--out", str(out))
    assert proc.returncode == 2
    assert "brands.Lexus.service.proactive_goodwill" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("override, reason", [
    ("brands.Lexus.dealers=true", "brands.Lexus.dealers: Input should be a valid integer (got True)"),
    ("market.segments.value.outside_utility=nan",
     "market.segments.value.outside_utility: Input should be a finite number (got nan)"),
])
def test_a_value_of_the_wrong_kind_exits_2_in_one_line_and_writes_nothing(tmp_path, override, reason):
    """``dealers=true`` once ran with 1 dealer; a NaN utility once ran."""
    out = tmp_path / "never"
    proc = cli("run", "lexus_us_1989", "--set", override, "--out", str(out))
    assert proc.returncode == 2 and reason in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_unknown_field_gets_did_you_mean(tmp_path):
    proc = cli("run", "lexus_us_1989", "--set", "brands.Lexus.service.loaner_car=true", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert "did you mean 'loaner_cars'" in proc.stderr


def test_unknown_scenario_exits_2():
    proc = cli("run", "lexus_us_1898")
    assert proc.returncode == 2
    assert "no such scenario" in proc.stderr and "lexus_us_1989" in proc.stderr


def test_quiet_prints_only_the_folder(tmp_path):
    out = tmp_path / "q"
    proc = cli("run", "lexus_us_1989", "-n", "1000", "--years", "2", "-r", "1", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)


def test_benchmark_runs_at_a_tiny_size():
    proc = cli("bench", "--sizes", "2000", "--reference-sizes", "2000", "--repeats", "1", "--years", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    # one line for --years (not "--set overrides"), none from the measuring processes
    assert [line.split(": market.years: ")[0] for line in proc.stderr.splitlines()] == [
        f"Warning: {ROOT / 'scenarios' / 'lexus_us_1989.toml'} (with --years)"]
    rows = json.loads(proc.stdout)
    assert [r["engine"] for r in rows] == ["vectorised", "agents"]
    assert rows[1]["vectorised_speedup"] > 0  # measured, not asserted: speed is the benchmark's to report
    assert rows[0]["buyers"] == 2000 and rows[0]["best_buyer_months_per_s"] > 0
    assert rows[0]["peak_rss_mb"] > 0 and 0 < rows[0]["state_bytes_per_buyer"] < 1000
    assert set(rows[0]["phase_share"]) == {"brands", "service", "market", "metrics"}


def test_atomic_folder_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "result"
    with pytest.raises(RuntimeError):
        with atomic_folder(dest) as tmp:
            (tmp / "half.parquet").write_text("partial")
            raise RuntimeError("interrupted")
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    with atomic_folder(dest) as tmp:
        (tmp / "whole.csv").write_text("ok")
    assert (dest / "whole.csv").read_text() == "ok"


def test_set_cannot_create_a_brand_from_a_typo(tmp_path):
    proc = cli("run", "lexus_us_1989", "--set", "brands.Lexsu.price=20000", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert "unknown brand 'Lexsu'" in proc.stderr and "did you mean 'Lexus'" in proc.stderr


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_terminated_run_leaves_no_result_folder(tmp_path, how):
    """Terminated or killed (``kill -9``, issue #14 item 18: its pool's workers, ~0.8 GB, lived on for minutes), a
    run leaves no result folder and none of its processes."""
    import signal
    import time

    import psutil

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_sim.py"), "run", "lexus_us_1989", "-n", "300000",
                             "-r", "4", "--workers", "2", "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parent = psutil.Process(proc.pid)
    # into the simulation, whatever the machine's speed: once the workers are up (resource tracker, fork server,
    # two workers), four replications of 300,000 buyers x 25 years are far from done
    hung = time.monotonic() + HANG_GUARD_S
    while proc.poll() is None and len(parent.children(recursive=True)) < 4:
        assert time.monotonic() < hung, "hang guard: the run's workers never started"
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    children = parent.children(recursive=True)
    proc.send_signal(getattr(signal, how))
    proc.wait(timeout=HANG_GUARD_S)
    assert proc.returncode != 0
    def running(p: psutil.Process) -> bool:  # a zombie has ended: it only waits for whoever adopted it to reap it
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    hung = time.monotonic() + HANG_GUARD_S
    while alive := [p for p in children if running(p)]:  # they go within seconds
        assert time.monotonic() < hung, f"hang guard: the run's processes outlived it: {alive}"
        time.sleep(0.1)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_same_seed_gives_identical_parquet(tmp_path):
    for name in ("a", "b"):
        proc = cli("run", "lexus_us_1989", "-n", "1500", "--years", "4", "-r", "2", "--seed", "9",
                   "--out", str(tmp_path / name), "--quiet")
        assert proc.returncode == 0, proc.stderr
    for table in ("brand_year.parquet", "monthly.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / table), pd.read_parquet(tmp_path / "b" / table))


def test_compare_a_scenario_with_itself_gives_zero_difference(tmp_path):
    out = tmp_path / "cmp"
    proc = cli("compare", "lexus_us_1989", "lexus_us_1989.toml", "-n", "1500", "--years", "5", "-r", "2",
               "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    diffs = pd.read_csv(out / "differences.csv")
    assert len(diffs) > 0
    assert (diffs["diff_mean"].fillna(0) == 0).all()


def test_compare_reports_differences_with_intervals(tmp_path):
    out = tmp_path / "cmp"
    proc = cli("compare", "lexus_us_1989", "lexus_service_parity", "-n", "3000", "--years", "8", "-r", "3",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    diffs = pd.read_csv(out / "differences.csv")
    lexus = diffs[(diffs.metric == "sales_share") & (diffs.brand == "Lexus") & (diffs.year == 1993)].iloc[0]
    assert lexus.scenario == "lexus_service_parity"
    assert lexus.ci_low <= lexus.diff_mean <= lexus.ci_high and lexus.diff_mean < 0
    before = diffs[(diffs.year < 1989) & (diffs.metric == "sales")]
    assert (before["diff_mean"] == 0).all()  # common random numbers: identical until Lexus launches
    assert "share 1993" in proc.stdout or "share" in proc.stdout
    assert {"lexus_us_1989", "lexus_service_parity", "report.html", "differences.csv", "payback.csv"} <= {
        p.name for p in out.iterdir()}
    assert "lexus_service_parity" in (out / "report.html").read_text()


def test_a_scheduler_that_does_not_answer_exits_in_one_line_and_writes_nothing(tmp_path):
    """A malformed --scheduler is bad input (exit 2), one that does not answer the environment (exit 1): one line
    naming the address, no result folder (not even the sweep's, which is created before anything runs)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        silent = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there once the socket is closed
    for address, code, says in (("foo", 2, "not a Dask scheduler address"), (silent, 1, "no Dask scheduler answers")):
        for args in (["run", "lexus_us_1989", "--years", "2", "-n", "1000", "-r", "2", "--out", str(tmp_path / "r")],
                     ["sweep", "lexus_service_grid", "--out", str(tmp_path / "sweep")]):
            done = cli(*args, "--scheduler", address)
            assert done.returncode == code, done.stderr
            lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Warning: ")]
            assert len(lines) == 1 and f"--scheduler {address}: {says}" in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_app_on_a_port_that_is_taken_exits_1_in_one_line_before_announcing_an_address(monkeypatch):
    """A port another process holds: one line naming the address and the reason, exit 1, no URL printed, and at
    once: before the app's imports (seconds), which here would fail; a host that does not resolve is bad input."""
    import socket

    from typer.testing import CliRunner

    import run_sim

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = cli("app", "--port", str(port))
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert done.stderr.strip() == f"cannot serve the app on 127.0.0.1:{port}: address already in use (try --port N)"
        monkeypatch.setitem(sys.modules, "sim.app", None)  # importing the app now raises
        quick = CliRunner().invoke(run_sim.app, ["app", "--port", str(port)])
        assert quick.exit_code == 1 and "address already in use" in quick.output, quick.output
        bad = cli("app", "--host", "no-such-host.invalid", "--port", str(port))
    assert bad.returncode == 2 and bad.stdout == "", bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "no-such-host.invalid" in bad.stderr, bad.stderr


def test_a_question_with_square_brackets_is_printed_as_written(tmp_path):
    """Console output is never read as rich markup: a question may hold [/x] or [bold]."""
    scenario = tmp_path / "brackets.toml"
    scenario.write_text(f'extends = "{ROOT / "scenarios" / "lexus_us_1989.toml"}"\n'
                        'question = "What if [/x] and [bold]this[/bold] [sic]?"\n')
    done = cli("run", str(scenario), "--years", "2", "-n", "1000", "-r", "1", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "What if [/x] and [bold]this[/bold] [sic]?" in " ".join(done.stdout.split())
    explained = cli("explain", str(scenario))
    assert explained.returncode == 0 and "[/x]" in explained.stdout


def test_compare_scenarios_without_a_brand_in_common_is_refused(tmp_path):
    proc = cli("compare", "lexus_us_1989", "generic_new_entrant", "-r", "2", "-n", "500", "--out", str(tmp_path / "c"))
    assert proc.returncode == 2 and "no brand in common" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c").exists()


# ---- issue #14: scenario files, dates, names, paths ------------------------------------------------------------------
def _entrant(tmp_path: Path, name: str, replace: dict[str, str]) -> Path:
    """generic_new_entrant (a small market) with its name and texts replaced."""
    text = (ROOT / "scenarios" / "generic_new_entrant.toml").read_text()
    for old, new in {'name = "generic_new_entrant"': f"name = {json.dumps(name)}", **replace}.items():
        text = text.replace(old, new)
    path = tmp_path / "entrant.toml"
    path.write_text(text)
    return path


def test_explain_shows_the_merged_timeline(tmp_path):
    child = tmp_path / "mercedes_1995.toml"
    child.write_text(f'extends = "{(ROOT / "scenarios" / "lexus_us_1989.toml").as_posix()}"\n'
                     '[[brands.Mercedes-Benz.timeline]]\ndate = "1995-01"\nservice = { loaner_cars = true }\n')
    done = cli("explain", str(child), "--json")
    assert done.returncode == 0, done.stderr
    timeline = json.loads(done.stdout)["brands"]["Mercedes-Benz"]["timeline"]
    assert [c["date"] for c in timeline] == ["1991-06", "1995-01", "1998-01", "2004-01"]


def test_what_explain_prints_saved_as_a_file_loads_back_as_the_same_scenario(tmp_path):
    """A user who saves explain's output can run it: no prose outside TOML comments, no line wrapped (a long
    question), whatever the terminal's width."""
    from sim.scenario_files import load_scenario

    question = "Would a long question " + "and its many words " * 20 + "[bold] stay [/] whole?"
    sets = ["--set", f"question={json.dumps(question)}", "--set", "brands.Lexus.dealers=200"]
    done = cli("explain", "lexus_no_complimentary", "--years", "3", *sets)
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "saved.toml"
    saved.write_text(done.stdout, encoding="utf-8")
    expected = load_scenario("lexus_no_complimentary", ["market.years=3", sets[1], sets[3]])
    assert load_scenario(saved) == expected and expected.question == question


def test_dates_outside_the_run_warn_in_one_line_each_and_the_command_goes_on():
    done = cli("explain", "generic_new_entrant", "--years", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"Warning: {ROOT / 'scenarios' / 'generic_new_entrant.toml'} (with --years): brands.Entrant.launch: "
        "2022-01 is after the run's last month (2021-12): the brand never sells"]
    assert cli("explain", "generic_new_entrant", "--years", "3").stderr == ""


@pytest.mark.parametrize("args, given", [
    (["--years", "2"], "--years"),
    (["--set", "brands.Entrant.dealers=90"], None),  # no warning: the run is as long as the file says
    (["--set", "market.years=2"], "--set overrides"),
    (["--set", "brands.Entrant.dealers=90", "--years", "2"], "--set overrides and --years"),
])
def test_warnings_and_errors_name_what_the_user_gave(args, given):
    """--years alone was once labelled "(with --set overrides)": the label says what changed the file."""
    file = ROOT / "scenarios" / "generic_new_entrant.toml"
    done = cli("explain", "generic_new_entrant", *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("" if given is None else f"Warning: {file} (with {given}): brands.Entrant.launch: 2022-01 "
                                                     "is after the run's last month (2021-12): the brand never sells\n")
    bad = cli("run", "generic_new_entrant", "--years", "500", "--out", "/nonexistent/never")
    assert bad.returncode == 2 and bad.stderr.splitlines()[1:] == [
        f"  {file} (with --years): market.years: Input should be less than or equal to 100 (got 500)"]


def test_the_scenario_listing_flags_a_bad_file_in_one_line_and_lists_the_others(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from run_sim import app

    for name in ("lexus_us_1989", "generic_new_entrant"):
        (tmp_path / f"{name}.toml").write_bytes((ROOT / "scenarios" / f"{name}.toml").read_bytes())
    (tmp_path / "latin1.toml").write_bytes("question = 'caf\xe9?'\n".encode("latin-1"))
    (tmp_path / "broken.toml").write_text("[market\n")
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf"
                                        + (ROOT / "scenarios" / "generic_new_entrant.toml").read_bytes())
    monkeypatch.setattr("sim.scenario_files.SCENARIO_DIR", tmp_path)
    result = CliRunner().invoke(app, ["scenarios"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert all(name in result.stdout for name in ("lexus_us_1989", "generic_new_entrant", "bom"))
    assert result.stderr.splitlines() == [
        f"not listed, invalid: {tmp_path / 'broken.toml'}: not valid TOML: Expected ']' at the end of a table "
        "declaration (at line 1, column 8)",
        f"not listed, invalid: {tmp_path / 'latin1.toml'}: not UTF-8 text (byte 0xe9 on line 1): save the file as "
        "UTF-8"]


def test_names_with_markup_are_printed_as_written(tmp_path):
    """Issue #14: a brand or scenario name holding rich markup ('[/]') crashed the command after the computing."""
    path = _entrant(tmp_path, "[/]mine [bold]", {"[brands.Entrant]": '[brands."[/]Entrant"]',
                                                 "[brands.Entrant.service]": '[brands."[/]Entrant".service]'})
    done = cli("run", str(path), "--years", "3", "-n", "500", "-r", "1", "--workers", "1", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    assert "[/]Entrant" in done.stdout and "[/]mine [bold]" in done.stdout and "Traceback" not in done.stderr


def test_an_unwritable_destination_is_refused_before_simulating(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from run_sim import app
    from sim.files import WriteError

    blocker = tmp_path / "a_file"
    blocker.write_text("")

    def never(*args, **kwargs):
        raise AssertionError("simulated before checking where the results go")

    monkeypatch.setattr("sim.runner.run_replications", never)
    monkeypatch.setattr("sim.runner.run_scenarios", never)
    for args in (["run", "generic_new_entrant"], ["compare", "generic_new_entrant", "generic_new_entrant"]):
        result = CliRunner().invoke(app, [*args, "-n", "500", "--years", "2", "--out", str(blocker / "out")])
        assert isinstance(result.exception, WriteError), result.exception
    done = cli("run", "generic_new_entrant", "-n", "500", "--years", "3", "--out", str(blocker / "out"))
    assert done.returncode == 1 and done.stderr == f"cannot write {blocker / 'out'}: {blocker} is not a folder\n"


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_disk_that_fills_while_writing_is_one_line_exit_1_and_leaves_nothing(tmp_path):
    """A file-size limit makes every write past 20 kB fail as a full disk would, after all the computing."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "run", "generic_new_entrant", "--years", "3",
                           "-n", "500", "-r", "1", "--workers", "1", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_S, preexec_fn=limit)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()  # (the progress display leaves an empty line)
    assert len(lines) == 1 and lines[0].startswith(f"cannot write {out}: "), done.stderr
    assert list(tmp_path.iterdir()) == []


# ---- issue #14: commands that crash or leave partial work -----------------------------------------------------
def test_compare_the_same_scenario_twice_runs_it_twice(tmp_path):
    out = tmp_path / "same"
    proc = cli("compare", "lexus_us_1989", "lexus_us_1989", "-n", "2000", "--years", "3", "-r", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {"lexus_us_1989", "lexus_us_1989-2"} <= {p.name for p in out.iterdir()}
    diffs = pd.read_csv(out / "differences.csv")
    assert set(diffs["scenario"]) == {"lexus_us_1989-2"} and (diffs["diff_mean"].fillna(0) == 0).all()

def test_compare_scenarios_with_some_brands_in_common_compares_those_and_names_the_rest(tmp_path):
    out = tmp_path / "eu"
    proc = cli("compare", "lexus_us_1989", "europe_1990", "-n", "2000", "--years", "3", "-r", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "left out: Cadillac, Lincoln, Acura, Infiniti (only in lexus_us_1989); Audi (only in europe_1990)" \
        in proc.stderr
    diffs = pd.read_csv(out / "differences.csv")
    assert set(diffs["brand"]) == {"Mercedes-Benz", "BMW", "Jaguar", "Lexus"} and set(diffs["year"]) == {1988}
    assert "Mercedes-Benz" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["run", "lexus_us_1989"], ["compare", "lexus_us_1989", "lexus_service_parity"]])
def test_a_summary_that_fails_late_leaves_no_result_folder(tmp_path, monkeypatch, command):
    """Output appears whole or not at all: the terminal summary is drawn before the folder is written, so a
    summary that cannot be drawn fails the command with nothing on disk."""
    from typer.testing import CliRunner

    import run_sim
    from sim.report import Rendered

    def broken(self):
        raise RuntimeError("the summary cannot be drawn")

    monkeypatch.setattr(Rendered, "__rich__", broken)
    out = tmp_path / "out"
    done = CliRunner().invoke(run_sim.app, [*command, "-n", "500", "--years", "2", "-r", "1", "--workers", "1",
                                            "--out", str(out)])
    assert isinstance(done.exception, RuntimeError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("moment", ["cluster starting", "workers running"])
def test_ctrl_c_during_a_run_prints_one_line_exits_130_and_leaves_nothing(tmp_path, moment):
    """A terminal's Ctrl-C reaches the whole process group, workers included: one line, exit 130, no folder."""
    import os
    import signal
    import time

    import psutil

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_sim.py"), "run", "lexus_us_1989", "-n", "300000",
                             "-r", "4", "--workers", "2", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=ctrl_c_as_in_a_terminal)
    parent = psutil.Process(proc.pid)

    def ready() -> bool:
        children = parent.children(recursive=True)
        if moment == "workers running":  # the resource tracker, the fork server and two workers
            return len(children) >= 4
        try:  # a worker forked by the fork server, still importing: the fork server is up, the cluster is not
            return any(c.children() for c in children if "forkserver" in " ".join(c.cmdline()))
        except psutil.NoSuchProcess:
            return False

    hung = time.monotonic() + HANG_GUARD_S
    while proc.poll() is None and not ready():
        assert time.monotonic() < hung, f"hang guard: never {moment}"
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=HANG_GUARD_S)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert proc.returncode == 130 and lines == ["Interrupted (Ctrl-C): nothing was written."], stderr
    assert list(tmp_path.iterdir()) == []


def test_run_and_compare_summaries_fit_80_columns_and_the_payback_reads_as_in_the_report(tmp_path):
    """Issue #17: at COLUMNS=80 no line is longer and nothing is cut ("72,7...", "Cadi..."); the compare summary
    opens with the verdict (the policy's effect) and its payback words are the report's ("ahead throughout", not
    "-"), with a warning at 2 replications."""
    import os

    env = {**os.environ, "COLUMNS": "80"}
    for command in (["run", "lexus_us_1989"], ["compare", "lexus_service_parity", "lexus_us_1989"]):
        out = tmp_path / command[0]
        done = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *command, "-n", "1500", "--years", "6",
                               "-r", "2", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, env=env,
                              timeout=HANG_GUARD_S)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[-1] == str(out)  # the result folder, whole on a line of its own (a path may be longer than 80)
        lines = lines[:-1]
        assert max(len(line) for line in lines) <= 80 and "…" not in done.stdout and "..." not in done.stdout
        assert any(line.startswith("│ Mercedes-Benz ") for line in lines)
    text = " ".join(done.stdout.split())
    assert "Verdict for Lexus, 1986–1991: lexus_us_1989 (the policy" in text
    assert "Warning: only 2 replications" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    payback = next(line for line in done.stdout.splitlines() if line.startswith("Payback: "))
    assert payback.rstrip() in html


SUITE_TINY = ("bench", "--suite", "--sizes", "2000", "--repeats", "1", "--years", "2", "--peer-sizes", "small",
              "--sweep-runs", "2", "--no-app")  # the app in the browser: tests/test_app_browser.py


def test_benchmark_suite_gives_numbers_or_reasons_reports_a_missing_peer_and_prints_in_80_columns(tmp_path):
    proc = cli(*SUITE_TINY, "--peers", str(tmp_path / "no_peers"), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rows"]
    names = " | ".join(r["name"] for r in rows)
    for part in ("engine buyer-months/s", "peak RSS bytes per buyer", "Mesa peer", "numpy peer",
                 "whole-run efficiency", "sweep efficiency", "app efficiency"):
        assert part in names
    for r in rows:  # measured, not asserted: speed is the benchmark's to report
        assert r["target"]
        if r["measured"] is None:
            assert r["reason"] and r["met"] is None, r
        else:
            assert math.isfinite(r["measured"]) and r["measured"] >= 0, r
    peers = [r for r in rows if "peer" in r["name"]]
    assert len(peers) == 2 and all(r["reason"].startswith("peer not found") for r in peers)
    assert next(r for r in rows if r["name"].startswith("sweep"))["measured"] is not None
    assert next(r for r in rows if r["name"].startswith("whole-run"))["measured"] is not None
    assert all(r["reason"] == "not measured (--no-app)" for r in rows if r["name"].startswith("app"))
    # the printed form (the same rows, drawn as `bench --suite` prints them without --json): 80 columns, each row
    # with its target and verdict
    from sim.bench import suite_table
    from sim.report import text_of

    lines = text_of(suite_table({"rows": rows}, 1), width=80).splitlines()
    assert max(len(line) for line in lines) <= 80
    body = [line for line in lines if line.startswith("│")]
    starts = [i for i, line in enumerate(body) if line.split("│")[3].strip()]  # a row's first line has its target
    assert len(starts) == 10  # 9, and the app's first chart after page load
    for i in starts:
        assert any(v in body[i] for v in ("met", "n/a", "not measured")), body[i]


def test_benchmark_suite_refuses_unknown_peer_sizes_in_one_line():
    proc = cli("bench", "--suite", "--sizes", "2000", "--peer-sizes", "huge")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "--peer-sizes: expected one of full, small, got 'huge'" and not proc.stdout


@pytest.mark.parametrize("body, code, stderr", [
    ("pass", 0, ""),
    ("sys.exit(2)", 2, ""),
    ("sys.exit(None)", 0, ""),
    ("sys.exit('bad input: x')", 1, "bad input: x"),
])
def test_the_program_ends_as_python_would_without_its_teardown(tmp_path, body, code, stderr):
    """``run_sim.exit_without_teardown``: the exit code of a SystemExit (a text one printed, code 1), every
    line written on stdout (a pipe), the threads that are not daemons finished and the atexit functions run, in
    the interpreter's order, before the process ends."""
    import textwrap

    done = tmp_path / "thread.txt"
    script = textwrap.dedent(f"""
        import atexit, sys, threading, time
        import run_sim
        atexit.register(lambda: print("atexit ran after", open({str(done)!r}).read()))
        def main():
            threading.Thread(target=lambda: (time.sleep(0.3), open({str(done)!r}, "w").write("the thread"))).start()
            sys.stdout.write("x" * 100_000 + "\\n")
            {body}
        run_sim.exit_without_teardown(main)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert out.returncode == code, out.stderr
    assert out.stdout.splitlines() == ["x" * 100_000, "atexit ran after the thread"]
    assert out.stderr.strip() == stderr


def test_a_ctrl_c_before_the_command_line_is_ready_is_one_line_and_exit_130(capsys, monkeypatch):
    """Until ``cli()`` takes over, SIGINT's handler is ``quit_while_starting``: one line, exit 130, no import's
    traceback; ``cli()`` then gives Ctrl-C back to Python (a KeyboardInterrupt, which the commands handle)."""
    import signal

    import run_sim

    with pytest.raises(SystemExit) as stop:
        run_sim.quit_while_starting(signal.SIGINT, None)
    assert stop.value.code == 130
    assert capsys.readouterr().err == "Interrupted (Ctrl-C) before the command started: nothing was run.\n"
    previous = signal.signal(signal.SIGINT, run_sim.quit_while_starting)
    try:
        monkeypatch.setattr(sys, "argv", ["run_sim.py", "--help"])
        with pytest.raises(SystemExit):
            run_sim.cli()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("command", [["scenarios"], ["--help"]])
def test_output_that_cannot_be_written_is_one_line_and_exit_1(command):
    """Standard output on a full disk (/dev/full: every write fails with ENOSPC): one line on stderr saying so,
    exit 1 (the environment), not a traceback."""
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "run_sim.py", *command], cwd=Path(__file__).resolve().parent.parent,
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=HANG_GUARD_S)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["cannot write the output: No space left on device"], out.stderr
