"""sim.files: atomic writes leave nothing half-written; TOML values round-trip."""

import math
import tomllib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.files import atomic_folder, toml_document, toml_inline, write_atomic, write_json, write_parquet

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
