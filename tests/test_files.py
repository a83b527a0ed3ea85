"""sim.files: atomic writes leave nothing half-written; TOML values round-trip."""

import errno
import math
import re
import shutil
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.files import (
    NAME_LENGTH,
    WriteError,
    atomic_folder,
    check_writable,
    safe_name,
    toml_document,
    toml_inline,
    write_atomic,
    write_json,
    write_parquet,
)
from tests.conftest import HANG_GUARD_S

scalars = st.one_of(st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3), max_leaves=8)


@given(values)
def test_toml_inline_round_trips(value):
    assert tomllib.loads("x = " + toml_inline(value))["x"] == value


def test_toml_inline_numpy_and_non_finite():
    assert toml_inline(np.int64(3)) == "3"
    assert toml_inline(np.bool_(True)) == "true"
    assert math.isnan(tomllib.loads("x = " + toml_inline(float("nan")))["x"])
    assert toml_inline("it's") == '"it\'s"'
    with pytest.raises(TypeError):
        toml_inline(None)


def test_toml_document_round_trips():
    doc = {"market": {"years": np.int64(20), "growth": 0.02}, "brands": {"Lexus": {"launch": "1989-09"}}}
    assert tomllib.loads(toml_document(doc)) == {"market": {"years": 20, "growth": 0.02},
                                                 "brands": {"Lexus": {"launch": "1989-09"}}}


def test_atomic_folder_vanishes_on_error(tmp_path):
    dest = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_folder(dest) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("boom")
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    with atomic_folder(dest) as tmp:
        (tmp / "a.txt").write_text("whole")
    assert (dest / "a.txt").read_text() == "whole"
    with pytest.raises(FileExistsError):
        with atomic_folder(dest):
            pass


def test_atomic_folder_replaces_a_derived_folder_whole_or_not_at_all(tmp_path):
    dest = tmp_path / "analysis"
    with atomic_folder(dest) as tmp:
        (tmp / "old.csv").write_text("old")
    with pytest.raises(KeyboardInterrupt):  # an interrupted re-run leaves the earlier folder as it was
        with atomic_folder(dest, replace=True) as tmp:
            (tmp / "new.csv").write_text("half")
            raise KeyboardInterrupt
    assert [p.name for p in dest.iterdir()] == ["old.csv"] and [p.name for p in tmp_path.iterdir()] == ["analysis"]
    with atomic_folder(dest, replace=True) as tmp:
        (tmp / "new.csv").write_text("whole")
    assert [p.name for p in dest.iterdir()] == ["new.csv"] and [p.name for p in tmp_path.iterdir()] == ["analysis"]


def test_write_atomic_replaces_whole_files(tmp_path):
    path = write_json(tmp_path / "m.json", {"a": 1, "when": tmp_path})
    assert path.read_text().startswith("{")
    write_atomic(path, "new")
    assert path.read_text() == "new"
    write_parquet(tmp_path / "t.parquet", pd.DataFrame({"x": [1, 2]}))
    assert pq.read_table(tmp_path / "t.parquet").num_rows == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "t.parquet"]  # no temporary left


# ---- names that become paths, and disks that refuse (issue #14) --------------------------------------------------
names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@given(names)
def test_a_safe_name_is_one_short_harmless_path_part(text):
    name = safe_name(text)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) and len(name) <= NAME_LENGTH
    assert name not in (".", "..") and "/" not in name and "\\" not in name
    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", text) and len(text) <= NAME_LENGTH:
        assert name == text  # lexus_us_1989, Mercedes-Benz: as written


@given(names, names)
def test_different_names_never_share_a_folder(a, b):
    if a != b:
        assert safe_name(a) != safe_name(b)


@pytest.mark.parametrize("name", ["../../../elsewhere", "/etc/cron.d/x", "..", ".", "", "a/../../b", "[bold]x[/]",
                                  "L" * 300, "-rf"])
def test_no_scenario_or_brand_name_writes_outside_the_results_folder(name):
    """Issue #14: a scenario's name = "../../../elsewhere" wrote its run outside results/. Every default result
    folder (runs, comparisons' runs, attributions, calibrations, validations, sweeps) is named through safe_name."""
    from sim.attribution import default_destination as attribution_destination
    from sim.calibration_report import default_destination as calibration_destination
    from sim.results import ROOT, default_destination
    from sim.scenario_files import load_scenario
    from sim.sweep_folder import default_folder

    results = (ROOT / "results").resolve()
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    scenario = load_scenario("generic_new_entrant").model_copy(update={"name": name})
    for folder in (default_destination(scenario, started), attribution_destination(scenario, name, started),
                   calibration_destination(name, started), default_folder(name, started)):
        assert folder.resolve().is_relative_to(results) and folder.resolve() != results
        assert all(len(part.encode()) <= 255 for part in folder.parts)


def test_check_writable_refuses_before_anything_is_computed(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(WriteError, match=f"cannot write {re.escape(str(blocker))}/out: .* is not a folder"):
        check_writable(blocker / "out")
    check_writable(tmp_path / "new" / "deeper" / "out")  # parents that do not exist yet are fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing made

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("os.mkdir", read_only)
    with pytest.raises(WriteError) as info:
        check_writable(tmp_path / "out")
    assert str(info.value) == f"cannot write {tmp_path / 'out'}: Read-only file system"


@given(umask=st.integers(0, 0o077))
def test_a_result_folder_has_the_permissions_the_umask_gives_as_mkdir_would(tmp_path_factory, umask):
    """Not tempfile.mkdtemp's 0700: with the usual umask 022 a finished folder is 0755, like one ``mkdir`` makes."""
    import os
    import stat

    parent = tmp_path_factory.mktemp("umask")
    previous = os.umask(umask)
    try:
        with atomic_folder(parent / "result") as tmp:
            (tmp / "x.csv").write_text("whole")
        (parent / "by_mkdir").mkdir()
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((parent / "result").stat().st_mode)
    assert mode == 0o777 & ~umask == stat.S_IMODE((parent / "by_mkdir").stat().st_mode)
    assert [p.name for p in parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("where", ["body", "rename"])
def test_a_disk_that_fills_up_while_writing_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, where):
    dest = tmp_path / "result"
    full = OSError(errno.ENOSPC, "No space left on device")
    if where == "rename":
        def rename(self, target):
            raise full
        monkeypatch.setattr("pathlib.Path.rename", rename)
    with pytest.raises(WriteError) as info:
        with atomic_folder(dest) as tmp:
            (tmp / "a.csv").write_text("half")
            if where == "body":
                pd.DataFrame({"x": [1]}).to_csv(tmp / "no_such_folder" / "b.csv")  # any OSError of the writing
            raise full
    assert isinstance(info.value, OSError) and "\n" not in str(info.value)
    assert str(info.value).startswith(f"cannot write {dest}: ")
    assert list(tmp_path.iterdir()) == []


def test_single_files_that_cannot_be_written_are_one_line_and_leave_nothing(tmp_path):
    with pytest.raises(WriteError, match=r"^cannot write .*missing/m\.json: No such file or directory$"):
        write_json(tmp_path / "missing" / "m.json", {"a": 1})
    with pytest.raises(WriteError, match=r"^cannot write .*missing/t\.parquet: "):
        write_parquet(tmp_path / "missing" / "t.parquet", pd.DataFrame({"x": [1]}))
    assert list(tmp_path.iterdir()) == []


# ---- unique default folders, stale temporary folders (issue #14, item 18) ------------------------------------
def test_default_folders_differ_for_runs_started_in_the_same_second():
    from datetime import UTC, datetime

    from sim.attribution import default_destination as attribution_destination
    from sim.calibration_report import default_destination as calibration_destination
    from sim.results import default_destination
    from sim.scenario_files import load_scenario
    from sim.sweep_folder import default_folder

    scenario = load_scenario("lexus_us_1989")
    started = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    for make in (lambda seed: default_destination(scenario, started, seed),
                 lambda seed: calibration_destination("c", started, seed),
                 lambda seed: attribution_destination(scenario, "Lexus", started, seed),
                 lambda seed: default_folder("sweep", started, seed)):
        names = [make(seed).name for seed in (7, 7, 7, 8)]
        assert len(set(names)) == 4 and all("20261130T120000Z" in n for n in names)
        assert "-s7-" in names[0] and "-s8-" in names[3]


def test_two_runs_of_one_scenario_started_together_write_two_folders(tmp_path):
    """No --out, the same second, other seeds: each run picks its own folder and both succeed."""
    import os
    import subprocess
    import sys
    import uuid

    from sim.results import ROOT

    name = f"test_concurrent_{uuid.uuid4().hex[:8]}"
    scenario = tmp_path / f"{name}.toml"
    scenario.write_text(f'extends = "{ROOT / "scenarios" / "lexus_us_1989.toml"}"\nname = "{name}"\n')
    runs = [subprocess.Popen([sys.executable, str(ROOT / "run_sim.py"), "run", str(scenario), "-n", "500",
                              "--years", "1", "-r", "1", "--seed", str(seed), "--quiet"], cwd=ROOT,
                             env={**os.environ, "COLUMNS": "40"},  # a path longer than the terminal stays whole
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    try:
        outs = [p.communicate(timeout=HANG_GUARD_S) for p in runs]
        assert [p.returncode for p in runs] == [0, 0], [err for _, err in outs]
        folders = sorted(Path(out.strip()) for out, _ in outs)
        assert len(set(folders)) == 2 and all((f / "manifest.json").exists() for f in folders)
        assert "-s1-" in folders[0].name or "-s1-" in folders[1].name
    finally:
        shutil.rmtree(ROOT / "results" / name, ignore_errors=True)


def test_a_temporary_folder_left_by_a_killed_process_is_cleaned_and_never_in_the_way(tmp_path):
    import os
    import subprocess
    import sys

    from sim.files import _host

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid is free now: the process that "was killed"
    stale = tmp_path / f".result.{_host()}-{gone.pid}.abcd1234.partial"
    live = tmp_path / f".other.{_host()}-{os.getppid()}.efgh5678.partial"  # a process still running
    foreign = tmp_path / f".result.elsewhere-{gone.pid}.ijkl9012.partial"  # another host's: not ours to judge
    for folder in (stale, live, foreign):
        folder.mkdir()
        (folder / "brand_year.csv").write_text("half")
    with atomic_folder(tmp_path / "result") as tmp:
        (tmp / "x").write_text("whole")
    assert not stale.exists() and live.exists() and foreign.exists()
    assert (tmp_path / "result" / "x").read_text() == "whole"
