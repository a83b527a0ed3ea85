"""Writing results: one way to write a file or a folder atomically, and one TOML writer.

Every result folder luxsim writes appears whole or not at all (``atomic_folder``); every single file is
written to a temporary name and renamed over its destination (``write_atomic``), so a reader or an
interrupted run never sees half a file. A temporary folder that a killed process (kill -9) left behind names
its host and process, and is removed by the next ``atomic_folder`` beside it once that process is gone
(:func:`clean_stale`). Default result folders are named by :func:`unique_suffix` as well as by time, so two runs
started in the same second never pick the same one. TOML is written by tomli-w (``toml_document``, ``toml_inline``) or,
where a file's comments must be kept, by tomlkit (``sim.calibration_report.apply_to_scenario``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w

_STALE = re.compile(r"^\..+\.(?P<host>[^.]+)-(?P<pid>\d+)\.[^.]+\.partial$")  # .NAME.HOST-PID.XXXXXXXX.partial


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists on this host (signal 0 asks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unique_suffix(seed: int | None = None) -> str:
    """The end of a default result folder's name: ``s<seed>-<6 random hex digits>`` (``<6 hex digits>`` without a
    seed). With the start time before it, runs started in the same second (other seeds, other processes) never
    pick the same folder."""
    token = secrets.token_hex(3)
    return token if seed is None else f"s{seed}-{token}"


def clean_stale(parent: str | Path) -> list[Path]:
    """Remove the temporary folders :func:`atomic_folder` made in ``parent`` for processes of this host that no
    longer run (a run killed with kill -9 leaves its ``.NAME.HOST-PID.XXXXXXXX.partial``); others are left alone.
    Returns what was removed."""
    removed = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    host = _host()
    for path in entries:
        m = _STALE.match(path.name)
        if m and m["host"] == host and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextmanager
def atomic_folder(destination: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``destination``; on success it is renamed to ``destination``, on any
    error (or Ctrl-C) it is removed.

    Args:
        destination: the folder to create.
        replace: an existing ``destination`` is replaced (derived folders such as a sweep's ``analysis/``): it
            is renamed aside, the new folder renamed into place, then the old one deleted. A reader may find
            no folder for the instant between the two renames, never a half-written one; if the second rename
            fails the old folder is put back.

    Raises:
        FileExistsError: ``destination`` already exists and ``replace`` is false (results are never
            overwritten).
    """
    destination = Path(destination)
    if destination.exists() and not replace:
        raise FileExistsError(f"{destination} already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(destination.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.{_host()}-{os.getpid()}.", suffix=".partial",
                                dir=destination.parent))
    try:
        yield tmp
        if destination.exists():
            old = destination.with_name(f".{destination.name}.old.{os.getpid()}")
            destination.rename(old)
            try:
                tmp.rename(destination)
            except BaseException:
                old.rename(destination)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (values JSON cannot hold are written as their ``str``), atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_parquet(path: str | Path, table: pa.Table | pd.DataFrame) -> Path:
    """A table as zstd-compressed Parquet, atomically."""
    path = Path(path)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, tuples and Paths turned into the Python types TOML and JSON hold."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def toml_document(data: dict) -> str:
    """A TOML document (tables, arrays of tables) for ``data``.

    Raises:
        TypeError: a value TOML cannot hold (None, an object).
    """
    return tomli_w.dumps(plain(data))


def toml_inline(value: Any) -> str:
    """``value`` as one inline TOML value, what ``--set path=VALUE`` parses back: ``true``, ``12``, ``0.5``,
    ``"it's"``, ``[1, 2]``, ``{ "a" = 1 }``, ``nan``. Scalars are written by tomli-w; arrays and tables inline.

    Raises:
        TypeError: a value TOML cannot hold (None, an object).
    """
    value = plain(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_inline(k)} = {toml_inline(v)}" for k, v in value.items()) + " }"
    return tomli_w.dumps({"v": value}, multiline_strings=False)[4:].strip()
