"""GRU cell (PyTorch's equations and gate order r, z, n): forward and backward through time.

    hw = W_hh h_{t-1} + b_hh                          (3H: hw_r, hw_z, hw_n)
    r = sigmoid(xw_r + hw_r),  z = sigmoid(xw_z + hw_z)
    n = tanh(xw_n + r * hw_n)                         (reset applied after the product)
    h_t = (1 - z) * n + z * h_{t-1}

Because ``r`` multiplies ``hw_n``, the gradient reaching the recurrent product differs from
the one reaching the input projection in the n block: backward writes both.
Steps at or past a sequence's length carry ``h`` unchanged.
"""

import numpy as np
from numba import njit

from ._activations import JIT_OPTIONS, sigmoid, tanh


@njit(**JIT_OPTIONS)
def gru_forward(xw, w_hh_t, b_hh, lengths, gates, hw_n, h):
    """Run the recurrence over all steps.

    Parameters
    ----------
    xw : ndarray (T, B, 3H)
        Input projection of every step, ``bias_ih`` included.
    w_hh_t : ndarray (H, 3H)
        ``weight_hh`` transposed, C-contiguous.
    b_hh : ndarray (3H,)
    lengths : ndarray (B,) of int64
    gates : ndarray (T, B, 3H), output
        Activated r, z, n (undefined at padded steps).
    hw_n : ndarray (T, B, H), output
        ``W_hn h_{t-1} + b_hn``, needed for the gradient of r.
    h : ndarray (T, B, H), output
        Hidden state after each step.
    """
    T, B, G = xw.shape
    H = G // 3
    one = xw.dtype.type(1)
    h0 = np.zeros((B, H), xw.dtype)
    hw = np.empty((B, G), xw.dtype)  # W_hh h_{t-1}
    for t in range(T):
        h_prev = h0 if t == 0 else h[t - 1]
        np.dot(h_prev, w_hh_t, hw)
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    r = sigmoid(xw[t, b, j] + hw[b, j] + b_hh[j])
                    z = sigmoid(xw[t, b, H + j] + hw[b, H + j] + b_hh[H + j])
                    hn = hw[b, 2 * H + j] + b_hh[2 * H + j]
                    n = tanh(xw[t, b, 2 * H + j] + r * hn)
                    gates[t, b, j] = r
                    gates[t, b, H + j] = z
                    gates[t, b, 2 * H + j] = n
                    hw_n[t, b, j] = hn
                    h[t, b, j] = (one - z) * n + z * h_prev[b, j]
            else:
                for j in range(H):
                    h[t, b, j] = h_prev[b, j]


@njit(**JIT_OPTIONS)
def gru_backward(d_h, gates, hw_n, h, w_hh, lengths, d_gates_ih, d_gates_hh):
    """Backpropagate through time.

    Parameters
    ----------
    d_h : ndarray (T, B, H)
        Gradient with respect to each step's output from above.
    gates : ndarray (T, B, 3H)
    hw_n, h : ndarray (T, B, H)
        As written by ``gru_forward``.
    w_hh : ndarray (3H, H)
        ``weight_hh``, C-contiguous.
    lengths : ndarray (B,) of int64
    d_gates_ih : ndarray (T, B, 3H), output
        Gradient with respect to ``xw`` (and ``b_ih``); zero at padded steps.
    d_gates_hh : ndarray (T, B, 3H), output
        Gradient with respect to ``hw`` (and ``b_hh``); zero at padded steps.
    """
    T, B, G = gates.shape
    H = G // 3
    one, zero = gates.dtype.type(1), gates.dtype.type(0)
    h0 = np.zeros((B, H), gates.dtype)
    d_h_next = np.zeros((B, H), gates.dtype)  # gradient reaching h[t] from step t + 1
    d_carry = np.empty((B, H), gates.dtype)  # part of d_h_next that bypasses W_hh
    for t in range(T - 1, -1, -1):
        h_prev = h0 if t == 0 else h[t - 1]
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    r = gates[t, b, j]
                    z = gates[t, b, H + j]
                    n = gates[t, b, 2 * H + j]
                    dh = d_h[t, b, j] + d_h_next[b, j]
                    d_n_pre = dh * (one - z) * (one - n * n)
                    d_z_pre = dh * (h_prev[b, j] - n) * z * (one - z)
                    d_r_pre = d_n_pre * hw_n[t, b, j] * r * (one - r)
                    d_gates_ih[t, b, j] = d_r_pre
                    d_gates_ih[t, b, H + j] = d_z_pre
                    d_gates_ih[t, b, 2 * H + j] = d_n_pre
                    d_gates_hh[t, b, j] = d_r_pre
                    d_gates_hh[t, b, H + j] = d_z_pre
                    d_gates_hh[t, b, 2 * H + j] = d_n_pre * r
                    d_carry[b, j] = dh * z
            else:
                for j in range(G):
                    d_gates_ih[t, b, j] = zero
                    d_gates_hh[t, b, j] = zero
                for j in range(H):
                    d_carry[b, j] = d_h[t, b, j] + d_h_next[b, j]
        np.dot(d_gates_hh[t], w_hh, d_h_next)
        for b in range(B):
            for j in range(H):
                d_h_next[b, j] += d_carry[b, j]
