"""LSTM cell (PyTorch's equations and gate order i, f, g, o): forward and backward through time.

    [i, f, g, o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (4H pre-activations)
    i, f, o = sigmoid(.),  g = tanh(.)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Steps at or past a sequence's length carry ``h`` and ``c`` unchanged.
"""

import numpy as np
from numba import njit

from ._activations import JIT_OPTIONS, sigmoid, tanh


@njit(**JIT_OPTIONS)
def lstm_forward(xw, w_hh_t, b_hh, lengths, gates, c, c_tanh, h):
    """Run the recurrence over all steps.

    Parameters
    ----------
    xw : ndarray (T, B, 4H)
        Input projection of every step, ``bias_ih`` included.
    w_hh_t : ndarray (H, 4H)
        ``weight_hh`` transposed, C-contiguous.
    b_hh : ndarray (4H,)
    lengths : ndarray (B,) of int64
    gates : ndarray (T, B, 4H), output
        Activated gates i, f, g, o (undefined at padded steps).
    c, c_tanh, h : ndarray (T, B, H), output
        Cell state, its tanh, and hidden state after each step.
    """
    T, B, G = xw.shape
    H = G // 4
    zeros = np.zeros((B, H), xw.dtype)
    hw = np.empty((B, G), xw.dtype)  # W_hh h_{t-1}
    for t in range(T):
        h_prev = zeros if t == 0 else h[t - 1]
        c_prev = zeros if t == 0 else c[t - 1]
        np.dot(h_prev, w_hh_t, hw)
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    i = sigmoid(xw[t, b, j] + hw[b, j] + b_hh[j])
                    f = sigmoid(xw[t, b, H + j] + hw[b, H + j] + b_hh[H + j])
                    g = tanh(xw[t, b, 2 * H + j] + hw[b, 2 * H + j] + b_hh[2 * H + j])
                    o = sigmoid(xw[t, b, 3 * H + j] + hw[b, 3 * H + j] + b_hh[3 * H + j])
                    c_t = f * c_prev[b, j] + i * g
                    c_t_tanh = tanh(c_t)
                    gates[t, b, j] = i
                    gates[t, b, H + j] = f
                    gates[t, b, 2 * H + j] = g
                    gates[t, b, 3 * H + j] = o
                    c[t, b, j] = c_t
                    c_tanh[t, b, j] = c_t_tanh
                    h[t, b, j] = o * c_t_tanh
            else:
                for j in range(H):
                    c[t, b, j] = c_prev[b, j]
                    h[t, b, j] = h_prev[b, j]


@njit(**JIT_OPTIONS)
def lstm_backward(d_h, gates, c, c_tanh, w_hh, lengths, d_gates):
    """Backpropagate through time.

    Parameters
    ----------
    d_h : ndarray (T, B, H)
        Gradient with respect to each step's output from above.
    gates : ndarray (T, B, 4H)
    c, c_tanh : ndarray (T, B, H)
        As written by ``lstm_forward``.
    w_hh : ndarray (4H, H)
        ``weight_hh``, C-contiguous.
    lengths : ndarray (B,) of int64
    d_gates : ndarray (T, B, 4H), output
        Gradient with respect to the gate pre-activations (zero at padded steps): the
        gradient of ``xw``, of both biases and of ``W_hh h_{t-1}``.
    """
    T, B, G = gates.shape
    H = G // 4
    one, zero = gates.dtype.type(1), gates.dtype.type(0)
    c0 = np.zeros((B, H), gates.dtype)
    d_h_next = np.zeros((B, H), gates.dtype)  # gradient reaching h[t] from step t + 1
    d_c_next = np.zeros((B, H), gates.dtype)  # gradient reaching c[t] from step t + 1
    d_carry = np.empty((B, H), gates.dtype)  # part of d_h_next that bypasses W_hh
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else c[t - 1]
        for b in range(B):
            if t < lengths[b]:
                for j in range(H):
                    i = gates[t, b, j]
                    f = gates[t, b, H + j]
                    g = gates[t, b, 2 * H + j]
                    o = gates[t, b, 3 * H + j]
                    dh = d_h[t, b, j] + d_h_next[b, j]
                    ct = c_tanh[t, b, j]
                    dc = d_c_next[b, j] + dh * o * (one - ct * ct)
                    d_gates[t, b, j] = dc * g * i * (one - i)
                    d_gates[t, b, H + j] = dc * c_prev[b, j] * f * (one - f)
                    d_gates[t, b, 2 * H + j] = dc * i * (one - g * g)
                    d_gates[t, b, 3 * H + j] = dh * ct * o * (one - o)
                    d_c_next[b, j] = dc * f
                    d_carry[b, j] = zero
            else:
                for j in range(G):
                    d_gates[t, b, j] = zero
                for j in range(H):
                    d_carry[b, j] = d_h[t, b, j] + d_h_next[b, j]
        np.dot(d_gates[t], w_hh, d_h_next)
        for b in range(B):
            for j in range(H):
                d_h_next[b, j] += d_carry[b, j]
