"""Embedding lookup gradient: scatter-add of the input gradient into the table rows."""

from numba import njit

from ._activations import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def embedding_backward(ids, lengths, d_x, d_weight):
    """Accumulate ``d_weight[ids[t, b]] += d_x[t, b]`` over the valid steps.

    Parameters
    ----------
    ids : ndarray (T, B) of int64
        Token ids, each in ``[0, vocab_size)`` (padding already mapped to 0).
    lengths : ndarray (B,) of int64
    d_x : ndarray (T, B, E)
        Gradient with respect to the looked-up vectors.
    d_weight : ndarray (vocab_size, E), output
        Zeroed by the caller; receives the gradient of the embedding table.
    """
    T, B, E = d_x.shape
    for b in range(B):
        for t in range(lengths[b]):
            row = ids[t, b]
            for j in range(E):
                d_weight[row, j] += d_x[t, b, j]
