"""One execution layer: many independent tasks, run in this process, on a local Dask cluster or on an existing one.

Every command that runs the model more than once (``run``, ``compare``, ``attribute``, ``sweep``,
``calibrate``, ``validate``) goes through :class:`Executor`::

    with Executor(workers=None, scheduler=None) as ex:
        results = ex.map(run_one_task, tasks, shared=what_every_task_needs, progress=callback)
        for index, result in ex.as_completed(run_one_task, tasks):   # as they finish, with their index
            ...
        manifest["execution"] = ex.describe()   # {"backend": ..., "address": ..., "workers": ...}

Backends, chosen at the first call that has work to do:

* **in this process** (``in-process``) when ``workers == 1``, when a call holds a single task, or when the
  caller's estimate of the work (``cost``, serial seconds) is below :data:`STARTUP_SECONDS`, what a local
  cluster costs to start, import the model in and close (measured on the 2-core development machine); small
  runs stay as fast as a plain loop;
* a **Dask LocalCluster** (``dask-local-cluster``): one process per core (or ``workers``), one thread each,
  bound to 127.0.0.1, no dashboard; worker processes ignore SIGINT so that Ctrl-C reaches this process, which
  cancels what is pending and shuts the cluster down. It starts with as many workers as the first call has
  tasks (at most ``workers``) and grows when a later call has more;
* an **existing scheduler** (``dask-scheduler``): ``scheduler="tcp://host:8786"`` or the environment variable
  ``DASK_SCHEDULER_ADDRESS`` (or dask's ``scheduler-address`` setting); its workers need this project
  installed at the same commit.

Why Dask (``distributed``): one interface covers a laptop and a cluster; tasks on a lost worker are retried
(``retries``); results stream back as they finish (sweeps write them to disk as they come). The data every task
shares goes with each task when it is small (up to :data:`SHARED_INLINE_BYTES` pickled; a sweep's base scenario,
a calibration's problem), so that any worker can run any task and a lost worker loses nothing; a larger one is
copied to every worker once per call. (Made a task of its own, as it once was, it pinned every task that needs it
to the one worker holding it: Dask places a task where its inputs are, and a 2-worker sweep ran on one worker.)
A process pool would need a second code path for clusters, which is what luxsim had before.

Results do not depend on the backend or the number of workers: each task draws only from its own
``numpy.random.SeedSequence`` (set by the caller, e.g. ``SeedSequence(seed, spawn_key=(r,))``), never from
the order in which tasks run or the worker that runs them. A task that raises is reported as a
:class:`TaskError` naming the task.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# A 2-worker LocalCluster: ~0.6 s to start once the fork server has loaded the model (~1.5-2 s after it is asked
# for: prepare_local_workers, sim/worker_setup.py), ~0.1 s to close.
STARTUP_SECONDS = 4.0
# Dask settings of the local cluster's scheduler and workers (not of a cluster given with --scheduler): a worker's
# statistical profiler samples the running task's stack every 10 ms for a dashboard this cluster does not start, and
# its event loop checks every 20 ms that it is not blocked: both wait for the GIL the task holds in compiled code.
# Without them a 10k-buyer run takes as long in a worker as in one process (0.225 s; 0.26 s with them).
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s"}
SHARED_INLINE_BYTES = 1_000_000  # a shared object up to this size (pickled) is sent with every task (module docstring)
IN_PROCESS, LOCAL_CLUSTER, SCHEDULER = "in-process", "dask-local-cluster", "dask-scheduler"
_NOTHING = object()


class TaskError(RuntimeError):
    """A task raised. ``label`` names the task (e.g. ``lexus_us_1989 replication 3``); ``error`` is the original
    exception (also the ``__cause__`` when raised)."""

    def __init__(self, label: str, error: BaseException):
        super().__init__(f"{label}: {type(error).__name__}: {error}")
        self.label, self.error = label, error


class InsufficientMemory(MemoryError):
    """A run would need more memory than this machine has available (:func:`check_memory`); the message is one line
    with the estimate (the CLI prints it and exits 1). Raised before anything is allocated."""


# What a new worker process holds before it runs anything: Python, numpy, pandas, numba with the compiled kernels
# loaded from the cache, Mesa and distributed. Measured on the development machine (Python 3.12.1, 2 cores; psutil's
# memory_full_info after a 1,000-buyer run in a LocalCluster worker, whose own state is about 1 MB): the worker's
# proportional set size (its share of the pages it maps, shared libraries split between the processes that map them)
# 180 MB, plus its nanny's 41 MB; a bench process (spawned) the same. Counted once per process a check starts.
WORKER_BASELINE = 220_000_000
CGROUP_ROOT = Path("/sys/fs/cgroup")  # where the kernel's control groups are mounted (v2 unified; v1 under memory/)
PROC_CGROUP = Path("/proc/self/cgroup")  # this process's control groups
UNLIMITED = 2**60  # cgroup v1 writes "no limit" as about 2^63 (rounded down to a page)


def available_memory() -> int | None:
    """Bytes of memory available to new allocations now: the smaller of the machine's available memory (psutil's
    ``virtual_memory().available`` if psutil is installed, else ``MemAvailable`` of /proc/meminfo) and what this
    process's memory control group still allows (:func:`cgroup_memory_left`: a container's limit, which the
    machine's figure does not see); None where neither can be read (no check is then made)."""
    machine = None
    try:
        import psutil

        machine = int(psutil.virtual_memory().available)
    except ImportError:
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        machine = int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            pass
    known = [n for n in (machine, cgroup_memory_left()) if n is not None]
    return min(known) if known else None


def _read_int(path: Path) -> int | None:
    """The integer a cgroup file holds, or None (``max``: no limit; a file that is missing or unreadable)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stat(path: Path, key: str) -> int:
    """One value of a cgroup's ``memory.stat`` (0 if it cannot be read)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_folders() -> list[tuple[Path, int]]:
    """This process's memory control groups as ``(folder, version)``: its own and each above it up to the mount
    (a limit may be set on any), then the mount itself (inside a container the mount is the container's group)."""
    chains: list[tuple[Path, int]] = []
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, where = (line.split(":", 2) + ["", ""])[:3]
        version, root = (2, CGROUP_ROOT) if controllers == "" else \
            (1, CGROUP_ROOT / "memory") if "memory" in controllers.split(",") else (0, None)
        if root is None:
            continue
        folder = root / where.strip("/")
        while folder != root and root in folder.parents:
            chains.append((folder, version))
            folder = folder.parent
    chains += [(CGROUP_ROOT, 2), (CGROUP_ROOT / "memory", 1)]
    seen, folders = set(), []
    for folder, version in chains:
        if (folder, version) not in seen:
            seen.add((folder, version))
            folders.append((folder, version))
    return folders


def cgroup_memory_left() -> int | None:
    """Bytes this process's memory control groups still allow, or None where none sets a limit (or none can be read).

    For each group with a limit (v2 ``memory.max``; v1 ``memory.limit_in_bytes``), the limit less what the group
    uses (``memory.current``; ``memory.usage_in_bytes``) other than inactive file cache, which the kernel reclaims
    before it runs out (``inactive_file``; v1 ``total_inactive_file``, as ``docker stats`` counts); the smallest.
    """
    left = []
    for folder, version in _cgroup_folders():
        limit_file, usage_file, cache = (("memory.max", "memory.current", "inactive_file") if version == 2 else
                                         ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"))
        limit = _read_int(folder / limit_file)
        if limit is None or limit >= UNLIMITED:
            continue
        used = max(0, (_read_int(folder / usage_file) or 0) - _stat(folder / "memory.stat", cache))
        left.append(max(0, limit - used))
    return min(left) if left else None


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.0f} MB"


def check_memory(per_run: int, what: str, at_once: int = 1, new_processes: int = 0) -> None:
    """Refuse work that cannot fit: ``at_once`` runs of ``per_run`` bytes each (peak, estimated before allocating:
    ``sim.model.memory_needed``), and :data:`WORKER_BASELINE` for each new process that will run them, against
    :func:`available_memory` (a container's limit included).

    Args:
        per_run: estimated peak bytes of one run.
        what: what is run, for the message (e.g. ``"2,000,000 buyers"``).
        at_once: runs held in memory at the same time on this machine (the local workers busy at once).
        new_processes: processes started to run them (local workers, a bench process), each holding the imported
            stack before it runs anything; 0 when they run in this process or in workers already running.

    Raises:
        InsufficientMemory: one line: the estimate, what is available, and what to lower.
    """
    available = available_memory()
    needed = per_run * max(1, at_once) + WORKER_BASELINE * max(0, new_processes)
    if available is None or needed <= available:
        return
    times = f" x {at_once} runs at once" if at_once > 1 else ""
    workers = (f" + {_gb(WORKER_BASELINE)} for each of {new_processes} new processes" if new_processes > 1 else
               f" + {_gb(WORKER_BASELINE)} for a new process" if new_processes == 1 else "")
    hint = " or --workers" if at_once > 1 or new_processes > 1 else ""
    total = f" ({_gb(needed)})" if times or workers else ""
    raise InsufficientMemory(f"not enough memory: {what} need about {_gb(per_run)} a run{times}{workers}{total}, "
                             f"this machine has {_gb(available)} available; lower --buyers{hint}")


class SchedulerUnavailable(ConnectionError):
    """No Dask scheduler answers at the address given (``--scheduler`` or ``DASK_SCHEDULER_ADDRESS``), or it has no
    workers, or the address is not one. The CLI prints the message as one line and exits 1 (the environment), or 2
    when ``bad_address`` (the input)."""

    def __init__(self, message: str, bad_address: bool = False):
        super().__init__(message)
        self.bad_address = bad_address


class LocalWorkersUnavailable(ConnectionError):
    """Local worker processes cannot be started here (multiprocessing's fork server does not start: e.g. a temporary
    folder whose path is too long for a Unix socket). The CLI prints the message as one line and exits 1 (the
    environment), before anything is written."""


CONNECT_SECONDS = 5  # how long to wait for a scheduler to answer before giving up: fail fast
WORKERS_SECONDS = 60  # how long to wait for a scheduler that answers to have a worker


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: ``scheduler`` if given, else ``DASK_SCHEDULER_ADDRESS``, else dask's
    ``scheduler-address`` setting, else None (a local cluster)."""
    if scheduler:
        return scheduler
    env = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if env:
        return env
    import dask

    return dask.config.get("scheduler-address", None)


def address_source() -> str:
    """Where a scheduler address not given as ``--scheduler`` came from, as an error names it:
    ``DASK_SCHEDULER_ADDRESS`` if that is set, else dask's ``scheduler-address`` setting."""
    return "DASK_SCHEDULER_ADDRESS" if os.environ.get("DASK_SCHEDULER_ADDRESS") else "dask's scheduler-address setting"


class Executor:
    """Runs independent tasks in this process or on Dask (see the module docstring); a context manager.

    Args:
        workers: local worker processes (default: the cores); 1 runs everything in this process (even when
            ``DASK_SCHEDULER_ADDRESS`` is set). Ignored when ``scheduler`` is given.
        scheduler: address of an existing Dask scheduler (default: ``DASK_SCHEDULER_ADDRESS``, if set).

    Raises:
        ValueError: ``workers`` below 1.
        SchedulerUnavailable: (on :meth:`connect` or the first call that needs it) no scheduler answers at the
            address within ``CONNECT_SECONDS``, it has no worker, or the address is malformed (:func:`connect`).
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        if workers is not None and workers < 1:
            raise ValueError(f"workers: must be at least 1, got {workers}")
        self.workers = workers
        # an explicit --workers 1 means this process, whatever the environment says
        self.address = scheduler or (None if workers == 1 else scheduler_address(None))
        self._source = "--scheduler" if scheduler else address_source()  # what errors name
        self.backend: str | None = None  # set by the first call with work to do
        self._client = None
        self._cluster = None
        self._size = 0  # workers of the running cluster (the most seen)
        self._token = f"{os.getpid()}-{time.time_ns()}"
        self._calls = 0

    # ---- lifetime ---------------------------------------------------------------------------------------
    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Shut down the client and the local cluster, if any (idempotent)."""
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    def describe(self) -> dict:
        """What ran the tasks, for manifests: ``{"backend": "in-process" | "dask-local-cluster" |
        "dask-scheduler", "address": scheduler address or None, "workers": worker threads}``."""
        if self.backend in (None, IN_PROCESS):
            return {"backend": IN_PROCESS, "address": None, "workers": 1}
        return {"backend": self.backend, "address": self._scheduler_address(), "workers": self._size}

    @property
    def description(self) -> str:
        """One short phrase: ``this process``, ``LocalCluster(2 workers)`` or the scheduler's address."""
        if self.backend in (None, IN_PROCESS):
            return "this process"
        return f"LocalCluster({self._size} workers)" if self.backend == LOCAL_CLUSTER else str(self.address)

    def _scheduler_address(self) -> str | None:
        if self._cluster is not None:
            return self._cluster.scheduler_address
        return self.address

    def connect(self) -> None:
        """Connect to the scheduler now, if one is given (so that a wrong address fails before anything is
        written); a no-op otherwise.

        Raises:
            SchedulerUnavailable: no scheduler answers at the address, or it is malformed.
        """
        if self.address and self._client is None:
            self._start(1)

    # ---- running ----------------------------------------------------------------------------------------
    def start(self, tasks: int) -> dict:
        """Choose the backend for a call of ``tasks`` tasks now (start or connect to the cluster) rather than at
        the first call, e.g. to size batches by the workers; returns :meth:`describe`."""
        if not self._in_process(tasks, None):
            self._start(tasks)
        return self.describe()

    def map(self, fn: Callable, items: Sequence, *, shared: Any = _NOTHING,
            label: Callable[[int, Any], str] | None = None, progress: Callable[[int, Any], None] | None = None,
            retries: int = 0, cost: float | None = None, memory: tuple[int, str] | None = None) -> list:
        """``[fn(item) for item in items]`` (``fn(shared, item)`` with ``shared``), run in parallel, in input order.

        Args:
            fn: a module-level function (it is pickled by reference to run on workers).
            items: the tasks' arguments, one per task.
            shared: an object every call receives first; sent with every task if small, else to every worker once
                (the module docstring).
            label: ``label(index, item)`` names a task in errors (default ``"<fn> task <index>"``).
            progress: called as ``progress(index, result)`` in this process as each task finishes.
            retries: times a task is retried on the cluster (a lost worker, a failure).
            cost: estimated serial seconds of all the tasks; below :data:`STARTUP_SECONDS` (and no
                ``workers``/``scheduler`` asked for) they run in this process.
            memory: ``(peak bytes of one task, what it runs)``: checked against this machine's available memory
                for as many tasks as run here at once (:func:`check_memory`) before anything starts; tasks on an
                existing scheduler's workers are checked there, by the model.

        Returns:
            One result per item, in the order of ``items``.

        Raises:
            TaskError: the first task found to have failed (its label, the original error as ``__cause__``);
                the tasks still pending are cancelled.
            InsufficientMemory: ``memory`` says the tasks cannot fit (nothing has run).
        """
        items = list(items)
        results: list = [None] * len(items)
        for index, result in self.as_completed(fn, items, shared=shared, label=label, progress=progress,
                                               retries=retries, cost=cost, memory=memory):
            results[index] = result
        return results

    def as_completed(self, fn: Callable, items: Sequence, *, shared: Any = _NOTHING,
                     label: Callable[[int, Any], str] | None = None,
                     progress: Callable[[int, Any], None] | None = None, retries: int = 0,
                     cost: float | None = None, errors: str = "raise",
                     memory: tuple[int, str] | None = None) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, result)`` for each task as it finishes (any order); arguments as :meth:`map`.

        With ``errors="yield"`` a failed task yields ``(index, TaskError)`` and the others go on; with
        ``"raise"`` (default) its :class:`TaskError` is raised. Leaving the loop early (``break``, an
        exception, Ctrl-C) cancels the tasks still pending.
        """
        if errors not in ("raise", "yield"):
            raise ValueError(f"errors: expected 'raise' or 'yield', got {errors!r}")
        items = list(items)
        if not items:
            return iter(())
        label = label or (lambda i, _: f"{getattr(fn, '__name__', 'task')} task {i}")
        args = () if shared is _NOTHING else (shared,)
        serial = self._in_process(len(items), cost)
        if memory is not None and (serial or self.address is None):  # this machine's memory
            at_once = 1 if serial else min(self.workers or os.cpu_count() or 1, len(items))
            check_memory(*memory, at_once=at_once, new_processes=0 if serial else max(0, at_once - self._size))
        if serial:
            return self._serial(fn, items, args, label, progress, errors)
        return self._dask(fn, items, args, label, progress, retries, errors)

    def _in_process(self, n: int, cost: float | None) -> bool:
        if self.backend in (LOCAL_CLUSTER, SCHEDULER):
            return False
        if self.address is None and (self.workers == 1 or n <= 1 or (
                self.workers is None and cost is not None and cost < STARTUP_SECONDS)):
            self.backend = self.backend or IN_PROCESS
            return True
        return False

    def _serial(self, fn, items, args, label, progress, errors) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(items):
            try:
                result = fn(*args, item)
            except Exception as exc:  # noqa: BLE001 - named and re-raised (or yielded) as a TaskError
                if interrupted(exc):
                    raise KeyboardInterrupt from exc
                error = TaskError(label(index, item), exc)
                if errors == "raise":
                    raise error from exc
                yield index, error
                continue
            if progress:
                progress(index, result)
            yield index, result

    def _dask(self, fn, items, args, label, progress, retries, errors) -> Iterator[tuple[int, Any]]:
        from distributed import Future, as_completed

        client = self._start(len(items))
        self._calls += 1
        prefix = f"luxsim-{getattr(fn, '__name__', 'task')}-{self._token}-{self._calls}"
        if args and not _small(args[0]):  # on every worker: no worker is the only one that can run the tasks
            args = (client.scatter(args[0], broadcast=True, hash=False),)
        futures = [client.submit(_call, fn, item, *args, pure=False, retries=retries, key=f"{prefix}-{index}")
                   for index, item in enumerate(items)]
        index_of = {future.key: index for index, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                index = index_of[future.key]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - named and re-raised (or yielded) as a TaskError
                    error = TaskError(label(index, items[index]), exc)
                    if errors == "raise":
                        raise error from exc
                    yield index, error
                    continue
                finally:
                    future.release()
                if progress:
                    progress(index, result)
                yield index, result
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                client.cancel(pending)
            for f in args:
                if isinstance(f, Future):
                    f.release()

    def _start(self, n_tasks: int):
        """The Dask client: connect or start a local cluster on first use; grow the local cluster to
        ``min(workers, n_tasks)``."""
        import dask
        from distributed import Client, LocalCluster

        if self._client is None and self.address:
            self._client = connect(self.address, self._source)
            self.backend = SCHEDULER
        elif self._client is None:
            size = max(1, min(self.workers or os.cpu_count() or 1, n_tasks))
            with warnings.catch_warnings(), _children_ignore_ctrl_c():
                # the scheduler's small HTTP server binds 127.0.0.1 on 8787 or, when it is taken, any free port;
                # workers log nothing below CRITICAL: a task's error comes back as a TaskError, and what they would
                # log as the cluster closes under them (Ctrl-C) is noise; no memory limit per worker (memory_limit
                # 0: nothing polls the workers' memory; a run's memory is checked before it starts, check_memory)
                warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
                with dask.config.set(LOCAL_CLUSTER_CONFIG):
                    self._cluster = LocalCluster(n_workers=size, threads_per_worker=1, processes=True,
                                                 dashboard_address=None, host="127.0.0.1",
                                                 silence_logs=logging.CRITICAL, memory_limit=0)
                self._client = Client(self._cluster)
                self._client.register_plugin(_ignore_sigint_plugin(), name="luxsim-ignore-sigint")
                self.backend = LOCAL_CLUSTER
                self._size = size
        elif self._cluster is not None:
            wanted = max(1, min(self.workers or os.cpu_count() or 1, n_tasks))
            if wanted > self._size:
                with _children_ignore_ctrl_c(), dask.config.set(LOCAL_CLUSTER_CONFIG):
                    self._cluster.scale(wanted)
                    self._cluster.wait_for_workers(wanted)
                self._size = wanted
        if self.backend == SCHEDULER:
            self._size = max(self._size, sum(self._client.nthreads().values()), 1)
        return self._client


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is what Ctrl-C became on its way out of compiled code: numba turns a KeyboardInterrupt raised
    inside a compiled call (e.g. while it unpickles a constant) into a ``SystemError`` ("returned a result with an
    exception set") whose cause or context is the KeyboardInterrupt. Such an error is an interrupt, not a task's
    failure."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def connect(address: str, source: str = "--scheduler"):
    """A ``distributed.Client`` of the scheduler at ``address`` that has at least one worker, or a one-line error
    within seconds: the address is parsed, its host and port are reached with a plain socket (``CONNECT_SECONDS``,
    so a host that does not answer fails fast and no half-made client is left behind), then the client connects.
    Errors name the address as ``source`` gave it (``--scheduler``, or the environment: :func:`address_source`).

    Raises:
        SchedulerUnavailable: a malformed address (``bad_address``), nothing answering there, something that is not
            a Dask scheduler answering, or no worker within ``WORKERS_SECONDS``.
    """
    import socket

    from distributed import Client
    from distributed.comm import parse_address, parse_host_port

    where = f"{source} {address}" if source == "--scheduler" else f"{source}={address}"
    try:
        scheme, location = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):  # a host and a port (not inproc:// or ucx://)
            host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise SchedulerUnavailable(f"{where}: not a Dask scheduler address ({_reason(exc)})", bad_address=True) \
            from None
    if scheme in ("tcp", "tls", "ws", "wss"):
        try:
            socket.create_connection((host, port), timeout=CONNECT_SECONDS).close()
        except OSError as exc:
            reason = f"no answer within {CONNECT_SECONDS} s" if isinstance(exc, TimeoutError) else _reason(exc)
            raise SchedulerUnavailable(f"{where}: no Dask scheduler answers there ({reason})") from None
    try:
        client = Client(address, timeout=f"{CONNECT_SECONDS}s")
    except ValueError as exc:
        raise SchedulerUnavailable(f"{where}: not a Dask scheduler address ({_reason(exc)})", bad_address=True) \
            from None
    except Exception as exc:  # noqa: BLE001 - whatever answered is not a Dask scheduler: one line, not a traceback
        raise SchedulerUnavailable(f"{where}: no Dask scheduler answers there ({_reason(exc)})") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a TimeoutError, or a scheduler lost meanwhile
        client.close()
        raise SchedulerUnavailable(f"{where}: the scheduler has no worker after {WORKERS_SECONDS} s "
                                   f"({_reason(exc)})") from None
    return client


def _small(value: Any) -> bool:
    """Whether ``value`` pickles (as Dask pickles it) to at most :data:`SHARED_INLINE_BYTES`."""
    from distributed.protocol import pickle

    try:
        return len(pickle.dumps(value)) <= SHARED_INLINE_BYTES
    except Exception:  # noqa: BLE001 - what cannot be measured is scattered, which reports its own error
        return False


def _call(fn: Callable, item: Any, *shared: Any) -> Any:
    return fn(*shared, item)


@contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Start workers so that Ctrl-C never reaches them and never cuts their start in half.

    A terminal's Ctrl-C reaches the whole process group: a worker still importing when it comes prints its own
    traceback, one running logs errors as the cluster goes down, and a cluster interrupted while it starts leaves
    half-started workers that complain at exit. So workers are forked from multiprocessing's fork server
    (``distributed.worker.multiprocessing-method``), started with SIGINT ignored: the server keeps ignoring it and
    gives its children the handlers it started with, SIG_IGN (this process ignores Ctrl-C for the milliseconds
    the server takes to start, once). And a Ctrl-C pressed while the block runs (the seconds a cluster takes to
    start) is held and raised as KeyboardInterrupt when it ends, with the cluster whole, so that the caller closes
    it cleanly. The worker plugin (:func:`_ignore_sigint_plugin`) covers workers restarted
    later; where there is no fork server (Windows) only the holding applies.
    """
    import multiprocessing
    import threading

    import dask

    from sim.files import hold_ctrl_c

    if threading.current_thread() is not threading.main_thread():  # signals can only be handled there
        yield
        return
    with hold_ctrl_c():
        if "forkserver" in multiprocessing.get_all_start_methods():
            with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
                _start_fork_server()
                yield
        else:
            yield


WORKER_SETUP = "sim.worker_setup"  # imported once by the fork server: the model's stack and its kernels, loaded


def _start_fork_server() -> None:
    """Start multiprocessing's fork server, if it is not running, with SIGINT ignored (what the server starts
    with and passes on to the workers it forks; this process's handler is put back after), preloading
    distributed's modules and :data:`WORKER_SETUP` (``sim/worker_setup.py``): it imports them in its own process
    while this one goes on, and every worker forked from it starts with them. (Not the program's main module: on
    Python 3.12 the server is not told its path, CPython gh-126631, so each worker imports it, tens of ms.) The
    server is ended at exit (:func:`_stop_fork_server_at_exit`)."""
    from multiprocessing import forkserver

    from distributed.utils import get_mp_context

    get_mp_context()  # with the method forkserver: sets distributed's preload list, once
    preload = list(getattr(forkserver._forkserver, "_preload_modules", None) or ["distributed"])
    _ensure_fork_server([*preload, *([WORKER_SETUP] if WORKER_SETUP not in preload else [])])


def _ensure_fork_server(preload: list[str]) -> None:
    """Start the fork server with ``preload`` (if it is not running yet: a running server keeps what it has) and
    SIGINT ignored meanwhile (then this process's handler is put back), and have it ended at exit."""
    import multiprocessing
    import signal
    from multiprocessing import forkserver

    if getattr(forkserver._forkserver, "_forkserver_pid", None) is None:
        multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    # SIGINT blocked as well as ignored meanwhile: a Ctrl-C in those milliseconds stays pending (Linux never discards
    # a blocked signal) and arrives once the handler is back, rather than being lost (the command would have gone
    # on to the end); the server starts with it ignored (and blocked), as do the workers it forks
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hasattr(signal, "pthread_sigmask") else None
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    except OSError as exc:
        raise LocalWorkersUnavailable(_why_no_fork_server(exc)) from exc
    finally:
        signal.signal(signal.SIGINT, previous)
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    _stop_fork_server_at_exit()


def _why_no_fork_server(exc: OSError) -> str:
    """One line: why local workers cannot start, and what to do."""
    import tempfile

    if "AF_UNIX path too long" in str(exc):
        return (f"local workers cannot start: the temporary folder's path is too long for a Unix socket "
                f"({len(tempfile.gettempdir())} characters: {tempfile.gettempdir()}); set TMPDIR to a shorter folder "
                f"(e.g. TMPDIR=/tmp) or run in this process (--workers 1)")
    return f"local workers cannot start ({type(exc).__name__}: {exc}); run in this process (--workers 1)"


_STOP_REGISTERED: list[bool] = []


def _stop_fork_server_at_exit() -> None:
    """At this process's exit, end the fork server if it is still running (registered once). Left alone, a server
    still loading ``sim/worker_setup.py`` when a command ends early (bad input, Ctrl-C) would go on for a second or
    more (many more on a cold numba cache) with the command's stdout and stderr open, so that whoever reads them
    (a shell's ``$(...)``, ``subprocess.run(capture_output=True)``) waits for it. The workers forked from it are
    separate processes, stopped by their cluster before this runs."""
    if _STOP_REGISTERED:
        return
    _STOP_REGISTERED.append(True)
    import atexit

    def stop() -> None:
        import signal
        from multiprocessing import forkserver

        pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
        if not pid:
            return
        try:
            if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still running (a server that ended is reaped here)
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
        except OSError:  # (ChildProcessError, ProcessLookupError: gone already)
            pass

    atexit.register(stop)
    # The resource tracker the server started is ended after multiprocessing's own exit work (its finalizers of
    # priority 0 unlink this process's semaphores): ended before, it would unlink them itself, as leaked, and those
    # finalizers then fail on names already gone.
    from multiprocessing import util

    util.Finalize(None, _stop_resource_tracker, exitpriority=-100)


def _stop_resource_tracker(grace_s: float = 2.0) -> None:
    """End multiprocessing's resource tracker, which the fork server started, and wait for it (up to ``grace_s``
    seconds): left alone it ends only once this process has exited and closed its pipe, a moment after the command,
    with the command's output still open. It is told to end by closing that pipe, as the standard library's own
    ``ResourceTracker._stop`` does; the wait is bounded because a worker still alive would keep it running."""
    import time
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    fd, pid = getattr(tracker, "_fd", None), getattr(tracker, "_pid", None)
    if fd is None or pid is None:
        return
    try:
        os.close(fd)
    except OSError:
        return
    tracker._fd = tracker._pid = None
    deadline = time.monotonic() + grace_s
    try:
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.005)
    except OSError:  # (ChildProcessError: gone already, or not this process's child)
        pass


def prepare_for_command_line(argv: list[str]) -> None:
    """:func:`prepare_local_workers` for ``run_sim.py sweep`` as soon as the program starts, before its own imports
    (about 0.25 s sooner than the command itself could): ``argv`` (the program's arguments) read only as far as
    this needs (the command, ``--workers``, ``--scheduler``, ``--help``). Speed only: a guess that is wrong starts
    the server for nothing (it is ended at exit) or leaves the start to the command, as without this."""
    if argv[:1] != ["sweep"] or any(a in ("--help", "-h") or a.startswith("--scheduler") for a in argv):
        return
    workers = [b for a, b in zip(argv, argv[1:]) if a == "--workers"] + [a.split("=", 1)[1] for a in argv
                                                                       if a.startswith("--workers=")]
    if workers and workers[-1].strip() == "1":
        return
    try:
        prepare_local_workers()
    except OSError:  # (LocalWorkersUnavailable: the command meets it again, and says so in its own place)
        pass


def prepare_local_workers(workers: int | None = None, scheduler: str | None = None) -> None:
    """Start, in the background, the process local workers will be forked from (:func:`_start_fork_server`), so
    that it loads the model while the caller does its own work (e.g. a sweep validating its design) before the
    first task: a no-op when the tasks will not run on a local cluster (``workers`` 1, or a scheduler given or set
    in the environment), where there is no fork server (Windows), or off the main thread. Costs nothing later:
    :meth:`Executor._start` uses the same server."""
    import multiprocessing
    import threading

    if workers == 1 or scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") \
            or threading.current_thread() is not threading.main_thread() \
            or "forkserver" not in multiprocessing.get_all_start_methods():
        return
    # (distributed is not imported here: the server imports it, and this process has other work meanwhile)
    _ensure_fork_server(["distributed", WORKER_SETUP])


def _ignore_sigint_plugin():
    """A worker plugin: worker processes of a local cluster ignore SIGINT. Ctrl-C reaches the whole process
    group; the client, not each worker, decides how to stop."""
    from distributed import WorkerPlugin

    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker) -> None:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()
