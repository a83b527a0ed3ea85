"""The decorator for compiled code, and how compiled code reads the scenario.

``@jit`` (``numba.njit(cache=True)``) compiles everything: the small per-event or per-shopper formulas of the
mechanisms (``sim/service.py``, ``sim/satisfaction.py``, ...) and rules (``sim/rules.py``), the month's passes
over events and shoppers that call them (``sim/kernels.py``), and the loops that apply a formula element-wise to
arrays. There is one decorator because there is one way of compiling: a formula is compiled as a function of its
own, which LLVM inlines where a kernel calls it. (An earlier second name, ``@formula``, was the same decorator;
numba's own inlining, ``inline="always"``, which could have made it differ, is not used: it counts a reference
to every array argument at each call, an atomic operation, which cost a third of the month.) What distinguishes a
formula is how it is written, not compiled: numbers in, numbers out, where it can (see ``sim/rules.py``). The
per-agent reference engine (``agents/buyer.py``) calls the same formulas and rules, so both engines share one copy
of each (the small scalar ones it calls once per event, it runs as Python, numba's ``py_func``: calling compiled
code with a Generator from Python costs more than the rule).

``record`` turns a scenario section into the named tuple of plain numbers compiled code reads
(``EventParams.of``, ``SatisfactionParams.of`` ...): the tuple's fields are the section's field names.

Compiled code is cached on disk (``sim/__pycache__/numba-<hash of the sources>``), so only the first run after
installing or editing a formula pays for compiling (about 10 s).
Set ``NUMBA_DISABLE_JIT=1`` to run everything as plain Python (slow, but steppable in a debugger).

A ``numpy.random.Generator`` passed to compiled code is used as is: numba draws from its bit generator with
numpy's own algorithms, so the same seed gives the same numbers, and the generator's state moves on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
import numba.extending
import numpy as np

# Modules with compiled code. Numba's cache notices when a compiled function's own file changes, not when a
# formula it calls (and inlines) from another file does; so the cache lives in a folder named after the
# source of all of them, and editing any formula recompiles every kernel that uses it.
COMPILED_MODULES = ("jit", "sampling", "service", "satisfaction", "replacement", "word_of_mouth", "choice",
                    "lineup", "population", "rules", "kernels", "network")


def _cache_dir() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for name in COMPILED_MODULES:
        digest.update((here / f"{name}.py").read_bytes())
    base = Path(os.environ.get("NUMBA_CACHE_DIR") or here / "__pycache__")
    if not os.access(base if base.exists() else base.parent, os.W_OK):
        base = Path.home() / ".cache" / "luxsim"
    return str(base / f"numba-{digest.hexdigest()[:12]}")


numba.config.CACHE_DIR = _cache_dir()

jit = numba.njit(cache=True)

# A Generator's numba type is one interned constant, but numba builds it anew at every call from Python (three ctypes
# casts and an interning lookup): in the per-agent engine, which passes a Generator to a compiled rule a few times per
# household-month, that was a tenth of its time. The same type, looked up once.
_GENERATOR_TYPE = numba.types.NumPyRandomGeneratorType("NumPyRandomGeneratorType")


@numba.extending.typeof_impl.register(np.random.Generator)
def _typeof_generator(value, context):
    """numba's type of a ``numpy.random.Generator`` argument (numba's own, built once)."""
    return _GENERATOR_TYPE


def cache_is_warm(kernels: tuple[str, ...] = ("kernels.service_month", "kernels.market_month")) -> bool:
    """Whether numba's cache (``CACHE_DIR``, named after the sources) holds these compiled ``kernels`` (module.name)
    already, so that calling them loads rather than compiles (about 10 s on a cold cache)."""
    base = Path(numba.config.CACHE_DIR)
    return all(any(base.glob(f"*/{name}-*.nbi")) or any(base.glob(f"{name}-*.nbi")) for name in kernels)


def record(cls, source):
    """An instance of the named tuple ``cls`` with the fields of the same names read from ``source``.

    Args:
        cls: a ``typing.NamedTuple`` class whose fields are named after fields of ``source`` and annotated
            ``float``, ``int``, ``bool`` or a tuple of floats.
        source: a scenario section (e.g. :class:`sim.scenario.ServiceEvents`), or any object with those
            attributes.

    Returns:
        ``cls(...)``, each value converted to what compiled code expects: a tuple or list to a tuple of floats,
        otherwise to the field's annotated type (``float`` unless annotated ``int`` or ``bool``).

    Raises:
        AttributeError: ``source`` lacks one of the fields.
    """
    values = {}
    for name in cls._fields:
        value, kind = getattr(source, name), cls.__annotations__[name]
        kind = getattr(kind, "__forward_arg__", kind)  # the annotation as written
        if isinstance(value, (tuple, list)):
            values[name] = tuple(float(v) for v in value)
        else:
            values[name] = {"int": int, "bool": bool}.get(kind, float)(value)
    return cls(**values)


# ---- prefetch: start loading memory that a later loop iteration will read ------------------------------------------
# The passes over shoppers and complaints visit slots scattered over the population's arrays: each read of a
# slot's data is a cache miss the CPU waits for. Asking for the data of the slot a few iterations ahead lets
# those loads overlap with the work on the current one. A prefetch never changes a result (and never faults).
if numba.config.DISABLE_JIT:
    def prefetch(array, index) -> None:
        """No-op when running as plain Python."""
else:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, array, index):
        """Start loading ``array[index]`` into the cache (LLVM's prefetch: read, keep in all cache levels)."""
        if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            aryty, _ = signature.args
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [builder.bitcast(ptr, cgutils.voidptr_t), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen
