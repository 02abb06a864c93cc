"""Matrix products on weights packed once: the time loops' recurrent product, prediction's
one-row products, and the input weights' gradient ``x.T @ d_gates`` for few features.

Inside a time loop the recurrent product is small (a chunk of 32 sequences times ``W_hh``)
and repeats every step on the same weights. BLAS re-packs the weights on every call and
runs thin-M kernels: SciPy's OpenBLAS (the one ``np.dot`` reaches from ``@njit``) made
83-100 GFLOP/s for 32 x 256 @ 256 x (256-1024) on one core, where NumPy's OpenBLAS
makes 155-160 GFLOP/s on 2048 x 2048 products. Here the weights are packed once per
loop into column panels, and a register-blocked kernel computes each 4-row x 1-panel block
of the output with its accumulators in vector registers: 180-200 GFLOP/s on such a product
called alone, 175-190 inside a time loop, where the gate arithmetic between two products
takes its share of the caches.

Layout: ``w`` (K, N) becomes ``panels`` (ceil(N / NR), K, NR), panel ``p`` holding columns
``p * NR`` to ``p * NR + NR - 1`` row after row, zero past N. ``NR`` is four of the
machine's widest vectors where they tile N and the machine has 32 vector registers
(AVX-512; float32: 64 columns), else two (float32: 32 with AVX-512, 16 with AVX2, 8
otherwise). A block keeps 4 x 4 (or 4 x 2) vector accumulators and, per k, loads the
panel's vectors and broadcasts four entries of ``a``: 16 (or 8) independent multiply-adds
in flight, enough to hide their latency.

Every output element sums its terms in the order k = 0, 1, 2, ..., whatever the number of
rows in the call: a row's result does not depend on the other rows.
"""

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic

from ._activations import JIT_OPTIONS

_ROWS = 4  # rows of a block
MATVEC_VECTORS = 4  # vectors per panel row for one-row products (4 independent sums)
K_BLOCK_BYTES = 32768  # bytes of a panel's k slice: 128 rows of 64 floats, 256 of 32
TN_DIRECT_K_BLOCK = 32  # rows of b per pass when matmul_tn reads it in place
TN_DIRECT_ROWS = 48  # output rows up to which CPUBackend.matmul_tn uses matmul_tn; BLAS beyond


def _vector_bytes():
    """Width in bytes of the widest vector registers Numba compiles for."""
    if config.CPU_FEATURES is not None:
        features = {f[1:] for f in config.CPU_FEATURES.split(",") if f.startswith("+")}
    else:
        features = {name for name, on in llvm.get_host_cpu_features().items() if on}
    if "avx512f" in features:
        return 64
    if "avx" in features:
        return 32
    return 16


VECTOR_BYTES = _vector_bytes()
# Vectors per panel row for ``matmul_panels``: four where they tile N, else two. Four
# need 16 accumulators and 4 panel vectors in registers: AVX-512 has 32, AVX2 only 16.
PANEL_VECTORS = (4, 2) if VECTOR_BYTES == 64 else (2,)


def _block_product(n_rows, vector_counts):
    """An intrinsic ``(a, a_start, a_row_step, a_k_step, w, w_start, w_k_step, width, out,
    out_start, out_row_step, k_start, k_stop, accumulate)`` on C-contiguous arrays, indexed
    as if flat (no views: a view made per call costs reference counting): for
    ``r < n_rows``, ``c < width`` and k from ``k_start`` to ``k_stop - 1`` in order,

        out[out_start + r * out_row_step + c] (+)=
            sum_k a[a_start + r * a_row_step + k * a_k_step] * w[w_start + k * w_k_step + c]

    adding to ``out`` when ``accumulate`` is true. The accumulators start from ``out`` then,
    so a sum split into k ranges adds its terms in the same order as one range.

    The steps let one kernel read ``a`` by rows (``a @ w``: a_k_step 1) or by columns
    (``a.T @ w``: a_row_step 1), and ``w`` packed in panels or in place. ``width`` must be
    one of ``vector_counts`` vectors: the intrinsic holds one loop per count and branches
    to the one that matches (the last count is taken when none of the others does).
    Nothing is bounds-checked here: the callers check shapes before the first block.
    """

    @intrinsic
    def block_product(typingctx, a, a_start, a_row_step, a_k_step, w, w_start, w_k_step,
                      width, out, out_start, out_row_step, k_start, k_stop, accumulate):
        arrays = (a, w, out)  # any shape: only their data pointers are read
        if not all(isinstance(x, types.Array) and x.layout == "C" for x in arrays):
            return None
        if not isinstance(a.dtype, types.Float) or w.dtype != a.dtype or out.dtype != a.dtype:
            return None
        signature = types.void(a, a_start, a_row_step, a_k_step, w, w_start, w_k_step, width,
                               out, out_start, out_row_step, k_start, k_stop, accumulate)

        def codegen(context, builder, signature, args):
            a_type = signature.args[0]
            intp = context.get_value_type(types.intp)
            a_data, w_data, out_data = (context.make_array(signature.args[i])(
                context, builder, args[i]).data for i in (0, 4, 8))
            (a_start, a_row_step, a_k_step, w_start, w_k_step, width, out_start, out_row_step,
             k_start, k_stop) = (context.cast(builder, args[i], signature.args[i], types.intp)
                                 for i in (1, 2, 3, 5, 6, 7, 9, 10, 11, 12))
            accumulate = context.cast(builder, args[13], signature.args[13], types.boolean)

            scalar = context.get_value_type(a_type.dtype)
            lanes = 8 * VECTOR_BYTES // a_type.dtype.bitwidth
            vector = ir.VectorType(scalar, lanes)
            zero = ir.Constant(vector, [0.0] * lanes)
            undefined = ir.Constant(vector, ir.Undefined)
            broadcast_mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            contract = ["contract"]  # fused multiply-add allowed; no reassociation

            def index(i):
                return ir.Constant(intp, i)

            def vector_at(data, offset):
                return builder.bitcast(builder.gep(data, [offset]), vector.as_pointer())

            def out_vector(r, v):  # pointer to vector v of row r of the block
                offset = builder.add(out_start, builder.add(builder.mul(index(r), out_row_step),
                                                            index(v * lanes)))
                return vector_at(out_data, offset)

            a_rows = [builder.gep(a_data, [builder.add(a_start, builder.mul(index(r),
                                                                            a_row_step))])
                      for r in range(n_rows)]  # &a[row r, k = 0]
            w_first = builder.gep(w_data, [w_start])

            def emit_block(n_vectors):
                """The block's loop for ``width`` = ``n_vectors`` vectors."""
                # initial accumulators: zero, or the block of ``out`` when accumulating
                before = builder.basic_block
                with builder.if_then(accumulate):
                    loaded = [builder.load(out_vector(r, v), align=4)
                              for r in range(n_rows) for v in range(n_vectors)]
                    loaded_end = builder.basic_block
                start = []
                for value in loaded:
                    phi = builder.phi(vector)
                    phi.add_incoming(zero, before)
                    phi.add_incoming(value, loaded_end)
                    start.append(phi)
                entry = builder.basic_block
                loop = builder.append_basic_block("k_loop")
                done = builder.append_basic_block("k_done")
                builder.cbranch(builder.icmp_signed("<", k_start, k_stop), loop, done)

                with builder.goto_block(loop):  # for k in range(k_start, k_stop)
                    k = builder.phi(intp)
                    k.add_incoming(k_start, entry)
                    acc = []
                    for value in start:
                        phi = builder.phi(vector)
                        phi.add_incoming(value, entry)
                        acc.append(phi)
                    w_row = builder.gep(w_first, [builder.mul(k, w_k_step)])
                    w = [builder.load(vector_at(w_row, index(v * lanes)), align=4)
                         for v in range(n_vectors)]
                    a_k = builder.mul(k, a_k_step)
                    acc_next = []
                    for r in range(n_rows):  # broadcast a[row r, k], multiply-add each vector
                        a_rk = builder.load(builder.gep(a_rows[r], [a_k]))
                        a_vec = builder.insert_element(undefined, a_rk, index(0))
                        a_vec = builder.shuffle_vector(a_vec, undefined, broadcast_mask)
                        for v in range(n_vectors):
                            product = builder.fmul(a_vec, w[v], flags=contract)
                            acc_next.append(builder.fadd(acc[r * n_vectors + v], product,
                                                         flags=contract))
                    k_next = builder.add(k, index(1))
                    loop_end = builder.basic_block
                    k.add_incoming(k_next, loop_end)
                    for phi, value in zip(acc, acc_next):
                        phi.add_incoming(value, loop_end)
                    builder.cbranch(builder.icmp_signed("<", k_next, k_stop), loop, done)

                builder.position_at_end(done)
                totals = []
                for first, last in zip(start, acc_next):
                    total = builder.phi(vector)
                    total.add_incoming(first, entry)
                    total.add_incoming(last, loop_end)
                    totals.append(total)
                for r in range(n_rows):
                    for v in range(n_vectors):
                        builder.store(totals[r * n_vectors + v], out_vector(r, v), align=4)

            def emit_choice(counts):
                if len(counts) == 1:
                    emit_block(counts[0])
                    return
                matches = builder.icmp_signed("==", width, index(counts[0] * lanes))
                with builder.if_else(matches) as (then, otherwise):
                    with then:
                        emit_block(counts[0])
                    with otherwise:
                        emit_choice(counts[1:])

            emit_choice(tuple(vector_counts))
            return context.get_dummy_value()

        return signature, codegen

    return block_product


_block_1, _block_2, _block_3, _block_4 = (_block_product(n, PANEL_VECTORS)
                                          for n in range(1, _ROWS + 1))
_matvec_block = _block_product(1, (MATVEC_VECTORS,))


@njit(**JIT_OPTIONS)
def aligned_empty(shape, dtype):
    """An uninitialised array of ``dtype`` whose data starts on a vector boundary.

    Vector loads that straddle two cache lines cost up to twice as much; Numba's
    allocations are only 16- or 32-byte aligned, and one 50-step LSTM-128 prediction took
    186 or 132 us depending on where its packed weights had landed. (A dtype, not an array
    to take it from: one compiled variant per number of dimensions, not per array type.)
    """
    size = 1
    for n in shape:
        size *= n
    # room to shift the start by up to one vector of the narrowest dtype (float32)
    buffer = np.empty(size + VECTOR_BYTES // 4, dtype)
    offset = (-buffer.ctypes.data % VECTOR_BYTES) // buffer.itemsize
    return buffer[offset:offset + size].reshape(shape)


@njit(**JIT_OPTIONS)
def aligned_zeros(shape, dtype):
    """Zeros of ``dtype`` whose data starts on a vector boundary."""
    out = aligned_empty(shape, dtype)
    out[...] = 0
    return out


@njit(**JIT_OPTIONS)
def panel_vectors(columns, itemsize):
    """Vectors per panel row for ``matmul_panels``: four where they tile ``columns``, else two.

    A 4 x 4-vector block keeps 16 accumulators in flight against 8, and ran 10-17% faster
    (32 x 256 @ 256 x 256: 191 against 163 GFLOP/s in a 50-step loop).
    """
    wide = PANEL_VECTORS[0]
    return wide if columns % (wide * VECTOR_BYTES // itemsize) == 0 else PANEL_VECTORS[-1]


@njit(**JIT_OPTIONS)
def pack_panels(w, vectors):
    """Pack ``w`` (K, N) into column panels (ceil(N / NR), K, NR), zero past column N.

    NR is ``vectors`` vectors: ``panel_vectors(N, w.itemsize)`` for ``matmul_panels``,
    ``MATVEC_VECTORS`` for ``accumulate_matvec_panels``.
    """
    K, N = w.shape
    NR = vectors * VECTOR_BYTES // w.itemsize
    n_full, rest = N // NR, N % NR
    panels = aligned_empty((n_full + (rest > 0), K, NR), w.dtype)
    for k in range(K):  # w row by row: one pass over it (loops: slices compile for 2 s)
        for p in range(n_full):
            for j in range(NR):
                panels[p, k, j] = w[k, p * NR + j]
        if rest > 0:
            for j in range(NR):
                panels[n_full, k, j] = w[k, n_full * NR + j] if j < rest else 0
    return panels


@njit(inline="always", **JIT_OPTIONS)
def pack_for_matmul(w):
    """``pack_panels(w, panel_vectors(N, w.itemsize))``: ``w`` (K, N) as ``matmul_panels``
    reads it. (Inlined where it is called: no compiled variant of its own.)"""
    return pack_panels(w, panel_vectors(w.shape[1], w.itemsize))


@njit(**JIT_OPTIONS)
def padded_columns(panels):
    """Columns ``matmul_panels`` writes: N rounded up to whole panels."""
    return panels.shape[0] * panels.shape[2]


@njit(**JIT_OPTIONS)
def _block_rows(a, a_row_step, a_k_step, M, w, w_start, w_k_step, width, out, out_start,
                out_row_step, k_start, k_stop, accumulate):
    """Every row of one column panel: blocks of four rows, then one block of the rest."""
    row = 0
    while row + _ROWS <= M:
        _block_4(a, row * a_row_step, a_row_step, a_k_step, w, w_start, w_k_step, width, out,
                 out_start + row * out_row_step, out_row_step, k_start, k_stop, accumulate)
        row += _ROWS
    rest = M - row
    a_start, block_start = row * a_row_step, out_start + row * out_row_step
    if rest == 3:
        _block_3(a, a_start, a_row_step, a_k_step, w, w_start, w_k_step, width, out,
                 block_start, out_row_step, k_start, k_stop, accumulate)
    elif rest == 2:
        _block_2(a, a_start, a_row_step, a_k_step, w, w_start, w_k_step, width, out,
                 block_start, out_row_step, k_start, k_stop, accumulate)
    elif rest == 1:
        _block_1(a, a_start, a_row_step, a_k_step, w, w_start, w_k_step, width, out,
                 block_start, out_row_step, k_start, k_stop, accumulate)


@njit(**JIT_OPTIONS)
def matmul_panels(a, panels, out, accumulate=False):
    """``out[:, :padded_columns(panels)] = a @ w`` for ``panels = pack_for_matmul(w)``,
    or ``+=`` with ``accumulate``.

    The k range goes in slices of ``K_BLOCK_BYTES`` of a panel, which stay in the L1 cache
    while every row block passes. With 32-float panels (32 x 1024 @ 1024 x 256): 104
    GFLOP/s unsliced, 129 in 32 KiB slices, less in 8 or 16 KiB ones at every shape tried;
    with 64-float panels, 16 to 64 KiB slices were within the noise of each other.

    Parameters
    ----------
    a : ndarray (M, K)
    panels : ndarray (n_panels, K, NR)
    out : ndarray (M, >= n_panels * NR), C-contiguous, output
        Columns past N receive zeros.
    """
    a = np.ascontiguousarray(a)
    M, K = a.shape
    n_panels, NR = panels.shape[0], panels.shape[2]
    if panels.shape[1] != K:
        raise ValueError("matmul_panels: a's columns differ from the packed rows")
    if out.shape[0] != M or out.shape[1] < padded_columns(panels):
        raise ValueError("matmul_panels: out is too small")
    k_block = K_BLOCK_BYTES // (NR * panels.itemsize)
    for k_start in range(0, max(K, 1), k_block):
        k_stop = min(K, k_start + k_block)
        for p in range(n_panels):
            _block_rows(a, K, 1, M, panels, p * K * NR, NR, NR, out, p * NR, out.shape[1],
                        k_start, k_stop, accumulate or k_start > 0)


@njit(**JIT_OPTIONS)
def accumulate_matvec_panels(x, panels, out):
    """``out[:padded_columns(panels)] += x @ w`` for ``panels = pack_panels(w, MATVEC_VECTORS)``.

    One row (a sequence's step in prediction): four vector accumulators per panel, each
    element adding its terms to ``out`` in the order k = 0, 1, 2, ...

    Parameters
    ----------
    x : ndarray (K,), C-contiguous
    panels : ndarray (n_panels, K, NR)
    out : ndarray (>= n_panels * NR,), C-contiguous, updated in place
    """
    K = x.shape[0]
    NR = panels.shape[2]
    if panels.shape[1] != K or NR != MATVEC_VECTORS * VECTOR_BYTES // panels.itemsize:
        raise ValueError("accumulate_matvec_panels: panels do not match x")
    if out.shape[0] < padded_columns(panels):
        raise ValueError("accumulate_matvec_panels: out is too small")
    for p in range(panels.shape[0]):
        _matvec_block(x, 0, 0, 1, panels, p * K * NR, NR, NR, out, p * NR, 0, 0, K, True)


@njit(**JIT_OPTIONS)
def matmul_tn(a, b, out):
    """``out = a.T @ b[:, :N]`` for a (R, M), b (R, N_b >= N) and out (M, N): the input
    weights' gradient, ``x.T @ d_gates`` summed over R, for up to ``TN_DIRECT_ROWS`` features.

    With few rows of output the blocks read ``a`` by columns and ``b`` in place,
    ``TN_DIRECT_K_BLOCK`` rows at a time, leaving any columns of ``b`` past N unread and
    ``a.T`` never copied: against OpenBLAS through Numba, 2.2x for M = 33, 3.0x for M = 9
    (0.20 -> 0.067 ms). More rows are correct here too, but NumPy's BLAS is the faster
    there: ``CPUBackend.matmul_tn`` is where that choice is made. Widths that panels do not
    tile, and empty sums, go to BLAS.

    Parameters
    ----------
    a : ndarray (R, M)
    b : ndarray (R, N_b), N_b >= N
    out : ndarray (M, N), C-contiguous, output
    """
    R, M = a.shape
    N = out.shape[1]
    if b.shape[0] != R or out.shape[0] != M or b.shape[1] < N:
        raise ValueError("matmul_tn: shapes do not match")
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    NR = panel_vectors(N, a.itemsize) * VECTOR_BYTES // a.itemsize
    if R == 0 or N % NR != 0:
        np.dot(a.T, np.ascontiguousarray(b[:, :N]), out)
        return
    w = b.reshape(b.size)
    for k_start in range(0, R, TN_DIRECT_K_BLOCK):
        k_stop = min(R, k_start + TN_DIRECT_K_BLOCK)
        for p in range(N // NR):
            _block_rows(a, 1, M, M, w, p * NR, b.shape[1], NR, out, p * NR, N, k_start,
                        k_stop, k_start > 0)
