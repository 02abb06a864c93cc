"""Flush-to-zero for denormal floats while skrnn computes (x86-64).

Gradients that fade through many time steps reach denormal magnitudes (below 1.2e-38 in
float32), where x86 arithmetic, BLAS included, slows down up to a hundredfold: an LSTM's
backward pass over 2,000 steps ran 6x slower per step than over 200. Setting the FTZ and
DAZ bits of the thread's MXCSR register treats such values as zero, as
``torch.set_flush_denormal(True)`` does. ``flush_denormals`` sets them for the duration and
restores the caller's register afterwards; elsewhere than x86-64 it does nothing.
"""

import contextlib
import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_FTZ_DAZ = 0x8040  # bit 15 flush-to-zero, bit 6 denormals-are-zero
_X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def _mxcsr_call(builder, name, slot):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])


@intrinsic
def _stmxcsr(typingctx):
    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _ldmxcsr(typingctx, value):
    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        builder.store(args[0], slot)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


@njit(cache=True)
def get_mxcsr():
    """The calling thread's MXCSR register."""
    return _stmxcsr()


@njit(cache=True)
def set_mxcsr(value):
    """Load the calling thread's MXCSR register."""
    _ldmxcsr(value)


@contextlib.contextmanager
def flush_denormals():
    """Treat denormal floats as zero in this thread for the duration (x86-64 only)."""
    if not _X86_64:
        yield
        return
    previous = get_mxcsr()
    set_mxcsr(np.uint32(previous | _FTZ_DAZ))
    try:
        yield
    finally:
        set_mxcsr(previous)
