"""Writing results: one way to write a file or a folder atomically, one way to name it, and one TOML writer.

Every result folder luxsim writes appears whole or not at all (``atomic_folder``); every single file is
written to a temporary name and renamed over its destination (``write_atomic``), so a reader or an
interrupted run never sees half a file. A failure to write (a full or read-only disk, no permission) is a
:class:`WriteError`, one line naming the path and the reason; ``check_writable`` asks before the computing
starts. Every file or folder name made from a name in the data (a scenario, a brand, an experiment) goes
through ``safe_name``, so nothing an input says can write outside the destination. A temporary folder that a
killed process (kill -9) left behind names its host and process, and is removed by the next ``atomic_folder``
beside it once that process is gone (:func:`clean_stale`). Default result folders are named by
:func:`unique_suffix` as well as by time, so two runs started in the same second never pick the same one. TOML is
written by tomli-w (``toml_document``, ``toml_inline``) or, where a file's comments must be kept, by tomlkit
(``sim.calibration_report.apply_to_scenario``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tomli_w

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")
NAME_LENGTH = 64  # characters of a name kept in a file name (file systems allow 255 bytes a name)


def safe_name(text: str, max_length: int = NAME_LENGTH) -> str:
    """A file or folder name made from a name in the data (a scenario, a brand, an experiment, a calibration).

    The one rule for every path luxsim builds from a name: a name of letters, digits, ``_``, ``.`` and ``-``, not
    starting with a dot or a dash and at most ``max_length`` long, is kept as it is (``lexus_us_1989``,
    ``Mercedes-Benz``); any other has every other run of characters replaced by ``_``, dots, dashes and ``_`` at its
    ends dropped, is cut to fit, and ends in ``-`` and 8 hex digits of its SHA-1, so two different names never
    share a folder.
    The result is never empty, ``.`` or ``..``, and holds no path separator: ``../../x`` becomes ``x-<hash>``.
    The name itself (in tables, manifests and reports) is kept as written.
    """
    text = str(text)
    name = SAFE_CHARACTERS.sub("_", text)
    if name == text and not name.startswith((".", "-")) and 0 < len(name) <= max_length:
        return name
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    name = name.strip("._-")[: max(0, max_length - 9)].rstrip("._-")
    return f"{name}-{digest}" if name else digest


class WriteError(OSError):
    """A result that cannot be written (a full or read-only disk, no permission, a name the file system refuses).

    ``str(error)`` is one line naming the path and the reason; the command line prints it and exits with code 1
    (an environment failure, not bad input). Whatever was half-written has been removed.
    """


def _write_error(path: str | Path, exc: OSError) -> WriteError:
    if isinstance(exc, WriteError):
        return exc
    reason = " ".join(str(exc.strerror or exc).split())  # one line, whatever the library wrote
    error = WriteError(f"cannot write {path}: {reason}")
    error.errno = exc.errno
    return error


def new_folder(parent: str | Path, prefix: str, suffix: str) -> Path:
    """Create a folder ``parent/PREFIX<8 random hex digits>SUFFIX`` that did not exist, with the permissions the
    user's umask gives (as ``mkdir`` would: 0755 under the usual umask 022; ``tempfile.mkdtemp`` gives 0700, which
    a renamed result folder would keep).

    Raises:
        OSError: the folder cannot be made (read-only, full, no permission, a name too long).
    """
    for _ in range(100):
        path = Path(parent) / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.mkdir(path)  # mode 0o777, less the umask
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no free temporary folder name", str(Path(parent) / f"{prefix}*{suffix}"))


def check_writable(destination: str | Path) -> None:
    """Ask, before any computing, whether a folder can be created at ``destination``: a temporary folder named like
    the destination's own is made (and removed) in its nearest existing parent.

    Raises:
        WriteError: the nearest existing parent is not a folder, or the file system refuses (read-only, full, no
            permission, a name too long).
    """
    destination = Path(destination)
    parent = destination.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise WriteError(f"cannot write {destination}: {parent} is not a folder")
    try:
        os.rmdir(new_folder(parent, f".{destination.name}.", ".check"))
    except OSError as exc:
        raise _write_error(destination, exc) from None


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
def hold_ctrl_c() -> Iterator[None]:
    """Let the block finish even if Ctrl-C is pressed meanwhile: the press is held, and raised as KeyboardInterrupt
    when the block ends (for writes that must not stop half-way, e.g. a sweep's chunk of finished runs). In the main
    thread only (where signals are handled); elsewhere the block runs as it is."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


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
        WriteError: any OSError while the folder is made, written or renamed, as one line naming ``destination``
            and the reason (the temporary folder is removed first).
    """
    destination = Path(destination)
    if destination.exists() and not replace:
        raise FileExistsError(f"{destination} already exists")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(destination.parent)
        tmp = new_folder(destination.parent, f".{destination.name}.{_host()}-{os.getpid()}.", ".partial")
    except OSError as exc:
        raise _write_error(destination, exc) from None
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
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(destination, exc) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to a temporary file beside ``path``, then rename it over ``path``.

    Raises:
        WriteError: the file cannot be written (one line naming ``path`` and the reason; nothing is left).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (values JSON cannot hold are written as their ``str``), atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_parquet(path: str | Path, table: pa.Table | pd.DataFrame) -> Path:
    """A table as zstd-compressed Parquet, atomically.

    Raises:
        WriteError: the file cannot be written (one line naming ``path`` and the reason; nothing is left).
    """
    path = Path(path)
    import pandas as pd  # (here: the command line imports this module before it knows it will write a table)
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
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
