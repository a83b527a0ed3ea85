"""What every local worker process needs before its first task, done once in the process they are forked from.

Local Dask workers (``sim.executor``) are forked from multiprocessing's fork server. The server imports this
module once (``sim.executor.prepare_local_workers`` adds it to the server's preload list), so each worker starts
with the model's stack imported (numpy, pandas, numba, Mesa and ``sim``) and the compiled kernels loaded from
numba's cache (a tiny run of the vectorised engine calls each of them once), instead of paying for both in every
worker at its first task (about 1.3 s a worker on the 2-core development machine, where a 48-run sweep of
10k-buyer runs takes 9 s). The server imports it while this process goes on with its own work (reading and
validating the experiment), so most of the cost is hidden.

Importing it has two effects beyond imports: the tiny run (300 buyers, one year of the flagship; about 0.3 s; none
on a cold numba cache), and the garbage collector's freeze of what exists then (``gc.freeze``). A failure of either
is ignored (the worker then loads what it needs at its first task, as it would without this module): the fork
server must not fail to start because of it.
"""

from __future__ import annotations

import gc
import warnings

WARM_BUYERS, WARM_YEARS = 300, 1


def _import_model() -> bool:
    """Import what tasks need; False if that fails (the error then comes back from the first task that needs it,
    named as that task's: a preload that raises anything but ImportError would take the fork server down)."""
    try:
        import sim.model  # noqa: F401 - the model and everything it imports
        import sim.runner  # noqa: F401 - the tasks of run, compare, attribute, validate
        import sim.sweep  # noqa: F401 - the tasks of sweeps
    except Exception:  # noqa: BLE001 - see above
        return False
    return True


def warm_kernels() -> bool:
    """Load the vectorised engine's compiled kernels from numba's cache with a tiny flagship run; True if it ran,
    False if it did not (then the worker loads what it needs at its first task). Nothing is run on a cold cache
    (``sim.jit.cache_is_warm``): compiling would keep the server busy, and a Ctrl-C waiting for the cluster to start,
    for ten seconds or more; the workers compile at their first task instead, as they would without this module."""
    try:
        import sim.jit  # (the module, not its names: sim/worker_setup.py has no compiled code of its own)
        from sim.model import LuxuryMarketModel

        if not sim.jit.cache_is_warm():
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (a one-year flagship says which of its dates never come)
            LuxuryMarketModel("lexus_us_1989", buyers=WARM_BUYERS, seed=0, collect=False,
                              **{"market.years": WARM_YEARS}).run()  # (the per-agent engine's loads when first used)
        return True
    except Exception:  # noqa: BLE001 - an optimisation only: the worker loads what it needs when it needs it
        return False


IMPORTED = _import_model()
WARM = IMPORTED and warm_kernels()
# The objects made so far live as long as the process: out of the garbage collector's sight, so that its passes in
# the forked workers neither walk them nor copy the pages they are on (gc.freeze, for servers that fork).
gc.collect()
gc.freeze()
