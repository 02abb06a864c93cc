"""What every cell's time loops share, inlined into each kernel: gradient hand-back and state tails.

Backpropagation through time ends each step the same way whatever the cell: a padded step
hands its whole gradient on to ``h[t - 1]`` (``d_carry``), and every other step's gate
gradients go back through ``W_hh`` and join it. The prediction kernels likewise carry a
sequence's state past its end and keep its last state. These helpers are
``inline="always"``: Numba pastes them into the kernel, so the compiled loops and their
arithmetic order are those of the kernel that calls them.
"""

import numpy as np
from numba import njit

from ._gemm import aligned_zeros, matmul_panels, pack_for_matmul, padded_columns


@njit(inline="always")
def backward_buffers(w_hh, like, B, H):
    """``(w_hh_panels, d_h_next, d_carry)`` for a backward kernel.

    ``d_h_next`` (B, >= H) is the gradient reaching ``h[t]`` from step t + 1 (H of its
    columns used), ``d_carry`` (B, H) the part of it that bypasses ``W_hh``; both in the
    dtype of ``like``.
    """
    w_hh_panels = pack_for_matmul(w_hh)
    d_h_next = aligned_zeros((B, padded_columns(w_hh_panels)), like.dtype)
    d_carry = np.empty((B, H), like.dtype)
    return w_hh_panels, d_h_next, d_carry


@njit(inline="always")
def pass_padded_step(d_h, d_h_next, d_carry, t, b, H):
    """A padded step t of sequence b: its whole gradient goes on to ``h[t - 1]``."""
    for j in range(H):
        d_carry[b, j] = d_h[t, b, j] + d_h_next[b, j]


@njit(inline="always")
def send_back(d_gates_t, w_hh_panels, d_carry, d_h_next, B, H):
    """The gradient reaching ``h[t - 1]``: step t's gate gradients (B, G) through ``W_hh``,
    plus what padded steps carried past it."""
    matmul_panels(d_gates_t, w_hh_panels, d_h_next)
    for b in range(B):
        for j in range(H):
            d_h_next[b, j] += d_carry[b, j]


@njit(inline="always")
def carry_state(h_prev, h_t, H):
    """A prediction step past a sequence's end: ``h`` unchanged."""
    for j in range(H):
        h_t[j] = h_prev[j]


@njit(inline="always")
def keep_final_state(state_h, h, b, H):
    """After sequence b: its state is ``h`` at the last step (carried past its end)."""
    T = h.shape[0]
    for j in range(H):
        state_h[b, j] = h[T - 1, b, j]
