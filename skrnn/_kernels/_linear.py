"""Row-by-row products for the prediction head, in a fixed summation order.

BLAS picks kernels by matrix shape (GEMV for one row, thin-N kernels for a head with one or
two outputs), so a row's bits depend on the other rows in the call. The head's product in
prediction uses these instead: every output element accumulates its bias, then its terms in
index order, whatever the batch, so a sequence's prediction never depends on the other
sequences predicted with it. The loops run over the output dimension, which LLVM
vectorises. (The recurrent layers' one-row products follow the same rule on packed weights:
``_gemm.accumulate_matvec_panels``.)
"""

from numba import njit

from ._activations import JIT_OPTIONS


@njit(inline="always")
def accumulate_matvec(vec, w_t, out):
    """``out += vec @ w_t`` for vec (K,), w_t (K, N), out (N,): k in order, vectorised over N.

    Four rows of ``w_t`` per pass over ``out`` (a quarter of the loads and stores of ``out``);
    each element still adds its terms in the order k = 0, 1, 2, ...
    """
    K = vec.shape[0]
    k = 0
    while k + 4 <= K:
        v0, v1, v2, v3 = vec[k], vec[k + 1], vec[k + 2], vec[k + 3]
        w0, w1, w2, w3 = w_t[k], w_t[k + 1], w_t[k + 2], w_t[k + 3]
        for n in range(out.shape[0]):
            out[n] = out[n] + v0 * w0[n] + v1 * w1[n] + v2 * w2[n] + v3 * w3[n]
        k += 4
    while k < K:
        v = vec[k]
        for n in range(out.shape[0]):
            out[n] += v * w_t[k, n]
        k += 1


@njit(**JIT_OPTIONS)
def linear_rows(x, w_t, bias, out):
    """``out[i] = bias + x[i] @ w_t`` for every row, each row computed alone.

    Parameters
    ----------
    x : ndarray (N, K)
    w_t : ndarray (K, M)
        Weight transposed, C-contiguous.
    bias : ndarray (M,)
    out : ndarray (N, M), output
    """
    for i in range(x.shape[0]):
        row = out[i]
        for m in range(row.shape[0]):
            row[m] = bias[m]
        accumulate_matvec(x[i], w_t, row)
