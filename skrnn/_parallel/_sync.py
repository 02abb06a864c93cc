"""Flags for handing a batch between skrnn's threads without sleeping.

A thread woken from a sleep (a lock, a condition, a queue) on this kind of virtual machine
started 50-90 us late: its virtual CPU had halted. A batch hands a chunk to the worker
thread and waits for it, so a 2.8 ms LSTM-64 batch lost about 0.1 ms to wake-ups and 0.04
ms to posting the chunk on a queue. Here the waiting thread instead spins on a flag, for a
bounded number of pauses, in compiled code that does not hold the GIL, and the other
thread sets the flag. A thread that spins out goes back to sleeping on its queue or future,
so a late partner costs nothing but the spin.

Flags are int64 arrays written and read with atomic (release / acquire) stores and loads,
so that the compiler cannot hoist a load out of a spin loop.
"""

import platform

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


@intrinsic
def _load_acquire(typingctx, flags, index):
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(builder.gep(array.data, [args[1]]), "acquire", 8)

    return flags.dtype(flags, index), codegen


@intrinsic
def _store_release(typingctx, flags, index, value):
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        value = context.cast(builder, args[2], signature.args[2], signature.args[0].dtype)
        builder.store_atomic(value, builder.gep(array.data, [args[1]]), "release", 8)
        return context.get_dummy_value()

    return types.void(flags, index, value), codegen


@intrinsic
def _pause(typingctx):
    """x86 ``pause`` (spin-loop hint: saves power, leaves the core to a sibling thread);
    nothing elsewhere."""
    def codegen(context, builder, signature, args):
        if _X86:
            pause = builder.module.declare_intrinsic("llvm.x86.sse2.pause",
                                                     fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(pause, [])
        return context.get_dummy_value()

    return types.void(), codegen


@njit(cache=True, nogil=True)
def await_flag(flags, index, value, max_spins):
    """Spin until ``flags[index] >= value``, at most ``max_spins`` pauses.

    Returns True when the flag got there, False when the spins ran out.
    """
    for _ in range(max_spins):
        if _load_acquire(flags, index) >= value:
            return True
        _pause()
    return _load_acquire(flags, index) >= value


@njit(cache=True, nogil=True)
def signal_then_await(flags, signal_index, signal_value, await_index, await_value,
                      max_spins):
    """``flags[signal_index] = signal_value``, then ``await_flag(flags, await_index,
    await_value, max_spins)``: one call, so that the GIL is not taken in between."""
    _store_release(flags, signal_index, signal_value)
    return await_flag(flags, await_index, await_value, max_spins)


@njit(cache=True, nogil=True)
def signal(flags, index, value):
    """``flags[index] = value`` (a release store)."""
    _store_release(flags, index, value)
