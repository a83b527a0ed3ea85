"""The decorators for compiled code.

``@formula`` compiles a small per-event or per-shopper formula of a mechanism (``sim/service.py``,
``sim/satisfaction.py``, ...). The month's compiled passes over events and shoppers (``sim/kernels.py``) call
them, and so does the per-agent reference engine (``agents/buyer.py``), so the two engines share one copy of
each formula. A formula is compiled as a function of its own, which LLVM inlines where a kernel calls it;
numba's own inlining (``inline="always"``) is not used: it counts a reference to every array argument at
each call (an atomic operation), which cost a third of the month. Formulas called in a loop take numbers
rather than arrays where they can. ``@jit`` compiles a loop (a kernel, or a formula applied element-wise to
arrays).

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

# Modules with compiled code. Numba's cache notices when a compiled function's own file changes, not when a
# formula it calls (and inlines) from another file does; so the cache lives in a folder named after the
# source of all of them, and editing any formula recompiles every kernel that uses it.
COMPILED_MODULES = ("jit", "sampling", "service", "satisfaction", "replacement", "word_of_mouth", "choice",
                    "population", "rules", "kernels")


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
formula = numba.njit(cache=True)


def record(cls, source):
    """An instance of the named tuple ``cls`` with the fields of the same names read from ``source`` (a
    scenario section), as the plain floats, ints and tuples compiled code expects."""
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
