"""Matrix products on weights packed once: the time loops' recurrent product, prediction's
one-row products, and the weight gradients' ``a.T @ b``.

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
from numba.core import cgutils
from numba.extending import intrinsic

from ._activations import JIT_OPTIONS

_ROWS = 4  # rows of a block
MATVEC_VECTORS = 4  # vectors per panel row for one-row products (4 independent sums)
K_BLOCK_BYTES = 32768  # bytes of a panel's k slice: 256 rows of float32 panels


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
    """An intrinsic ``(a, row, panels, panel, k_start, k_stop, out, accumulate)``: for the
    block of rows ``row:row + n_rows`` and columns ``panel * NR:(panel + 1) * NR``,

        out[block] (+)= a[rows, k_start:k_stop] @ panels[panel, k_start:k_stop]

    adding to ``out`` when ``accumulate`` is true. The accumulators start from ``out`` then,
    so a sum split into k ranges adds its terms in the same order as one range.

    NR is read from ``panels`` at run time and must be one of ``vector_counts`` vectors:
    the intrinsic holds one loop per count and branches to the one that matches (the last
    count is taken when none of the others does).
    """

    @intrinsic
    def block_product(typingctx, a, row, panels, panel, k_start, k_stop, out, accumulate):
        arrays = (a, panels, out)
        if not all(isinstance(x, types.Array) and x.layout == "C" for x in arrays):
            return None
        if (a.ndim, panels.ndim, out.ndim) != (2, 3, 2) or not isinstance(a.dtype, types.Float):
            return None
        if panels.dtype != a.dtype or out.dtype != a.dtype:
            return None

        def codegen(context, builder, signature, args):
            a_type, panels_type, out_type = signature.args[0], signature.args[2], signature.args[6]
            intp = context.get_value_type(types.intp)
            a_arr = context.make_array(a_type)(context, builder, args[0])
            panels_arr = context.make_array(panels_type)(context, builder, args[2])
            out_arr = context.make_array(out_type)(context, builder, args[6])
            row, panel, k_start, k_stop = (context.cast(builder, args[i], signature.args[i],
                                                        types.intp) for i in (1, 3, 4, 5))
            accumulate = context.cast(builder, args[7], signature.args[7], types.boolean)
            K = cgutils.unpack_tuple(builder, a_arr.shape, 2)[1]
            NR = cgutils.unpack_tuple(builder, panels_arr.shape, 3)[2]
            out_width = cgutils.unpack_tuple(builder, out_arr.shape, 2)[1]

            scalar = context.get_value_type(a_type.dtype)
            lanes = 8 * VECTOR_BYTES // a_type.dtype.bitwidth
            vector = ir.VectorType(scalar, lanes)
            zero = ir.Constant(vector, [0.0] * lanes)
            undefined = ir.Constant(vector, ir.Undefined)
            broadcast_mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            contract = ["contract"]  # fused multiply-add allowed; no reassociation

            def index(i):
                return ir.Constant(intp, i)

            def out_vector(r, v):  # pointer to vector v of row r of the block
                offset = builder.add(builder.mul(builder.add(row, index(r)), out_width),
                                     builder.add(builder.mul(panel, NR), index(v * lanes)))
                return builder.bitcast(builder.gep(out_arr.data, [offset]), vector.as_pointer())

            a_rows = builder.gep(a_arr.data, [builder.mul(row, K)])  # &a[row, 0]
            w_panel = builder.gep(panels_arr.data, [builder.mul(builder.mul(panel, K), NR)])

            def emit_block(n_vectors):
                """The block's loop for panels of ``n_vectors`` vectors."""
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
                    w_row = builder.gep(w_panel, [builder.mul(k, NR)])  # &panels[panel, k, 0]
                    w = [builder.load(builder.bitcast(builder.gep(w_row, [index(v * lanes)]),
                                                      vector.as_pointer()), align=4)
                         for v in range(n_vectors)]
                    acc_next = []
                    for r in range(n_rows):  # broadcast a[row + r, k], multiply-add each vector
                        a_rk = builder.load(builder.gep(a_rows, [builder.add(
                            builder.mul(index(r), K), k)]))
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
                matches = builder.icmp_signed("==", NR, index(counts[0] * lanes))
                with builder.if_else(matches) as (then, otherwise):
                    with then:
                        emit_block(counts[0])
                    with otherwise:
                        emit_choice(counts[1:])

            emit_choice(tuple(vector_counts))
            return context.get_dummy_value()

        return types.void(a, row, panels, panel, k_start, k_stop, out, accumulate), codegen

    return block_product


_block_1, _block_2, _block_3, _block_4 = (_block_product(n, PANEL_VECTORS)
                                          for n in range(1, _ROWS + 1))
_matvec_block = _block_product(1, (MATVEC_VECTORS,))


@njit(**JIT_OPTIONS)
def aligned_zeros(shape, like):
    """Zeros of ``like``'s dtype whose data starts on a vector boundary.

    Vector loads that straddle two cache lines cost up to twice as much; Numba's
    allocations are only 16- or 32-byte aligned, and one 50-step LSTM-128 prediction took
    186 or 132 us depending on where its packed weights had landed.
    """
    size = 1
    for n in shape:
        size *= n
    lanes = VECTOR_BYTES // like.itemsize
    buffer = np.zeros(size + lanes, like.dtype)
    offset = (-buffer.ctypes.data % VECTOR_BYTES) // like.itemsize
    return buffer[offset:offset + size].reshape(shape)


@njit(**JIT_OPTIONS)
def pack_panels(w, vectors=0):
    """Pack ``w`` (K, N) into column panels (ceil(N / NR), K, NR), zero past column N.

    NR is ``vectors`` vectors (``MATVEC_VECTORS`` for ``accumulate_matvec_panels``). The
    default 0 picks for ``matmul_panels``: four vectors where they tile N, else two. A
    4 x 4-vector block keeps 16 accumulators in flight against 8, and ran 10-17% faster
    (32 x 256 @ 256 x 256: 191 against 163 GFLOP/s in a 50-step loop).
    """
    K, N = w.shape
    lanes = VECTOR_BYTES // w.itemsize
    if vectors == 0:
        wide = PANEL_VECTORS[0]
        vectors = wide if N % (wide * lanes) == 0 else PANEL_VECTORS[-1]
    NR = vectors * lanes
    n_panels = (N + NR - 1) // NR
    panels = aligned_zeros((n_panels, K, NR), w)
    for p in range(n_panels):
        width = min(NR, N - p * NR)
        for k in range(K):
            for j in range(width):
                panels[p, k, j] = w[k, p * NR + j]
    return panels


@njit(**JIT_OPTIONS)
def padded_columns(panels):
    """Columns ``matmul_panels`` writes: N rounded up to whole panels."""
    return panels.shape[0] * panels.shape[2]


@njit(**JIT_OPTIONS)
def matmul_panels(a, panels, out):
    """``out[:, :padded_columns(panels)] = a @ w`` for ``panels = pack_panels(w)``.

    The k range goes in slices of ``K_BLOCK_BYTES`` of a panel, which stay in the L1 cache
    while every row block passes (32 x 1024 @ 1024 x 256: 104 GFLOP/s unsliced, 129 in
    slices of 256 rows; slices of 64 or 128 rows were slower at every shape tried).

    Parameters
    ----------
    a : ndarray (M, K)
    panels : ndarray (n_panels, K, NR)
    out : ndarray (M, >= n_panels * NR), C-contiguous, output
        Columns past N receive zeros.
    """
    a = np.ascontiguousarray(a)
    M, K = a.shape
    if panels.shape[1] != K:
        raise ValueError("matmul_panels: a's columns differ from the packed rows")
    if out.shape[0] != M or out.shape[1] < padded_columns(panels):
        raise ValueError("matmul_panels: out is too small")
    k_block = K_BLOCK_BYTES // (panels.shape[2] * panels.itemsize)
    for k_start in range(0, max(K, 1), k_block):
        k_stop = min(K, k_start + k_block)
        accumulate = k_start > 0
        for p in range(panels.shape[0]):
            row = 0
            while row + 4 <= M:
                _block_4(a, row, panels, p, k_start, k_stop, out, accumulate)
                row += 4
            rest = M - row
            if rest == 3:
                _block_3(a, row, panels, p, k_start, k_stop, out, accumulate)
            elif rest == 2:
                _block_2(a, row, panels, p, k_start, k_stop, out, accumulate)
            elif rest == 1:
                _block_1(a, row, panels, p, k_start, k_stop, out, accumulate)


@njit(**JIT_OPTIONS)
def accumulate_matvec_panels(x, panels, out):
    """``out[:padded_columns(panels)] += x @ w`` for ``panels = pack_panels(w, MATVEC_VECTORS)``.

    One row (a sequence's step in prediction): four vector accumulators per panel, each
    element adding its terms to ``out`` in the order k = 0, 1, 2, ...

    Parameters
    ----------
    x : ndarray (K,)
    panels : ndarray (n_panels, K, NR)
    out : ndarray (>= n_panels * NR,), C-contiguous, updated in place
    """
    K = x.shape[0]
    NR = panels.shape[2]
    if panels.shape[1] != K or NR != MATVEC_VECTORS * VECTOR_BYTES // panels.itemsize:
        raise ValueError("accumulate_matvec_panels: panels do not match x")
    if out.shape[0] < padded_columns(panels):
        raise ValueError("accumulate_matvec_panels: out is too small")
    row = np.ascontiguousarray(x).reshape(1, K)
    out_row = out.reshape(1, out.shape[0])
    for p in range(panels.shape[0]):
        _matvec_block(row, 0, panels, p, 0, K, out_row, True)


@njit(**JIT_OPTIONS)
def matmul_tn(a, b, out):
    """``out = a.T @ b`` for C-contiguous a (R, M) and b (R, N): the weight gradients.

    BLAS through Numba takes ``a.T`` as a transposed operand. NumPy's ``a.T @ b`` copied
    ``a`` into a temporary first; with a large ``a`` (the gate gradients of a batch chunk)
    two threads doing so at once ran 2x slower than one after the other (allocation and
    page faults of the temporaries); these calls scale to 1.9x on two threads.
    """
    np.dot(a.T, b, out)
