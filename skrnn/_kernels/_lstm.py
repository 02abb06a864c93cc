"""LSTM cell (PyTorch's equations and gate order i, f, g, o): forward and backward through time.

    [i, f, g, o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      (4H pre-activations)
    i, f, o = sigmoid(.),  g = tanh(.)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Steps at or past a sequence's length carry ``h`` and ``c`` unchanged.

Each step's arithmetic runs in short loops that write one array each: LLVM vectorises a
loop only when it can rule out aliasing between what it writes and what it reads, and a
loop writing several arrays defeats that check.
"""

import numpy as np
from numba import njit

from ._activations import JIT_OPTIONS, sigmoid, tanh
from ._gemm import (accumulate_matvec_panels, aligned_zeros, matmul_panels, pack_for_matmul,
                    padded_columns)
from ._recurrence import (backward_buffers, carry_state, keep_final_state, pass_padded_step,
                          send_back)


@njit(inline="always")
def activate_gates(gates, H):
    """In place on one sequence's (4H,) pre-activations: sigmoid on i, f, o and tanh on g.

    Every loop starts at 0: LLVM does not vectorise ``range(start, stop)`` loops here
    (1.1 against 0.26 ns per element).
    """
    for j in range(2 * H):
        gates[j] = sigmoid(gates[j])  # i, f
    for j in range(H):
        gates[2 * H + j] = tanh(gates[2 * H + j])  # g
    for j in range(H):
        gates[3 * H + j] = sigmoid(gates[3 * H + j])  # o


@njit(**JIT_OPTIONS)
def lstm_forward(x, w_ih, w_hh_t, b_ih, b_hh, lengths, gates, c, h):
    """Run the recurrence over all steps.

    Each step's pre-activations are ``x_t @ W_ih.T + h_{t-1} @ W_hh.T``, both products into
    one buffer (see ``rnn_forward``).

    Parameters
    ----------
    x : ndarray (T, B, F)
        Layer input.
    w_ih : ndarray (4H, F)
        ``weight_ih``, any layout (its transpose is packed into panels).
    w_hh_t : ndarray (H, 4H)
        ``weight_hh`` transposed, any layout (a view will do: it is packed into panels).
    b_ih, b_hh : ndarray (4H,)
    lengths : ndarray (B,) of int64
    gates : ndarray (T, B, 4H), output
        The activated gates i, f, g, o of every valid step (the gates backward needs);
        zero at padded steps.
    c, h : ndarray (T, B, H), output
        Cell state and hidden state after each step.
    """
    T, B, G = gates.shape
    H = G // 4
    zero = gates.dtype.type(0)
    zeros = np.zeros((B, H), gates.dtype)
    w_hh_panels = pack_for_matmul(w_hh_t)
    w_ih_panels = pack_for_matmul(w_ih.T)
    pre = aligned_zeros((B, padded_columns(w_hh_panels)), gates.dtype)  # G used
    for t in range(T):
        h_prev = zeros if t == 0 else h[t - 1]
        c_prev = zeros if t == 0 else c[t - 1]
        if t > 0:  # h_{-1} = 0
            matmul_panels(h_prev, w_hh_panels, pre)
        matmul_panels(x[t], w_ih_panels, pre, t > 0)
        for b in range(B):
            g_t = gates[t, b]  # (4H,)
            if t < lengths[b]:
                for j in range(G):
                    g_t[j] = pre[b, j] + b_ih[j] + b_hh[j]
                activate_gates(g_t, H)
                c_t = c[t, b]
                for j in range(H):
                    c_t[j] = g_t[H + j] * c_prev[b, j] + g_t[j] * g_t[2 * H + j]
                h_t = h[t, b]
                for j in range(H):
                    h_t[j] = g_t[3 * H + j] * tanh(c_t[j])
            else:
                for j in range(G):
                    g_t[j] = zero
                for j in range(H):
                    c[t, b, j] = c_prev[b, j]
                for j in range(H):
                    h[t, b, j] = h_prev[b, j]


@njit(**JIT_OPTIONS)
def lstm_backward(d_h, gates, c, w_hh, lengths, d_gates):
    """Backpropagate through time.

    Parameters
    ----------
    d_h : ndarray (T, B, H)
        Gradient with respect to each step's output from above.
    gates : ndarray (T, B, 4H)
        Activated gates from ``lstm_forward``.
    c : ndarray (T, B, H)
        Cell states from ``lstm_forward`` (``tanh(c)`` is recomputed, not stored).
    w_hh : ndarray (4H, H)
        ``weight_hh``, C-contiguous.
    lengths : ndarray (B,) of int64
    d_gates : ndarray (T, B, 4H), output
        Gradient with respect to the gate pre-activations (zero at padded steps): the
        gradient of ``xw``, of both biases and of ``W_hh h_{t-1}``. Must not alias ``gates``.
    """
    T, B, G = gates.shape
    H = G // 4
    one, zero = gates.dtype.type(1), gates.dtype.type(0)
    c0 = np.zeros((B, H), gates.dtype)
    w_hh_panels, d_h_next, d_carry = backward_buffers(w_hh, gates, B, H)
    d_c = np.zeros((B, H), gates.dtype)  # gradient reaching c[t] (from t + 1, then total)
    dh = np.empty(H, gates.dtype)  # total gradient of h[t] for one sequence
    c_tanh = np.empty(H, gates.dtype)
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else c[t - 1]
        for b in range(B):
            if t < lengths[b]:
                g_t = gates[t, b]
                d_t = d_gates[t, b]
                for j in range(H):
                    dh[j] = d_h[t, b, j] + d_h_next[b, j]
                for j in range(H):
                    c_tanh[j] = tanh(c[t, b, j])
                for j in range(H):  # total d_c: from step t + 1 and through h = o tanh(c)
                    o = g_t[3 * H + j]
                    d_c[b, j] += dh[j] * o * (one - c_tanh[j] * c_tanh[j])
                for j in range(H):
                    i = g_t[j]
                    f = g_t[H + j]
                    g = g_t[2 * H + j]
                    o = g_t[3 * H + j]
                    d_t[j] = d_c[b, j] * g * i * (one - i)
                    d_t[H + j] = d_c[b, j] * c_prev[b, j] * f * (one - f)
                    d_t[2 * H + j] = d_c[b, j] * i * (one - g * g)
                    d_t[3 * H + j] = dh[j] * c_tanh[j] * o * (one - o)
                for j in range(H):
                    d_c[b, j] *= g_t[H + j]  # becomes the gradient reaching c[t - 1]
                for j in range(H):
                    d_carry[b, j] = zero
            else:
                for j in range(G):
                    d_gates[t, b, j] = zero
                pass_padded_step(d_h, d_h_next, d_carry, t, b, H)
        if t == 0:
            break  # h_{-1} = 0 is no parameter: nothing needs its gradient
        send_back(d_gates[t], w_hh_panels, d_carry, d_h_next, B, H)


@njit(**JIT_OPTIONS)
def lstm_predict(x, w_ih_panels, w_hh_panels, b_ih, b_hh, lengths, carried, state_h, state_c,
                 h):
    """Forward for prediction: one sequence at a time, products in a fixed order.

    Parameters
    ----------
    x : ndarray (T, B, F)
        Layer input.
    w_ih_panels : ndarray
        ``pack_panels(weight_ih.T, MATVEC_VECTORS)`` (F rows of 4H columns).
    w_hh_panels : ndarray
        ``pack_panels(weight_hh.T, MATVEC_VECTORS)`` (H rows of 4H columns).
    b_ih, b_hh : ndarray (4H,)
    lengths : ndarray (B,) of int64
    carried : bool
        The sequences go on from ``state_h`` and ``state_c`` (a stream's earlier steps);
        else they start from zero, as ``predict`` does.
    state_h, state_c : ndarray (B, H), input and output
        Hidden and cell state before the first step (read when ``carried``), and after
        each sequence's last valid step (always written).
    h : ndarray (T, B, H), output
        Hidden state after each step (carried past each sequence's end).
    """
    T, B, F = x.shape
    H = w_hh_panels.shape[1]
    G = 4 * H
    gates = aligned_zeros((padded_columns(w_hh_panels),), x.dtype)  # G used
    for b in range(B):
        c = state_c[b]
        if not carried:
            for j in range(H):
                c[j] = 0
                state_h[b, j] = 0
        for t in range(T):
            h_prev = state_h[b] if t == 0 else h[t - 1, b]
            h_t = h[t, b]
            if t < lengths[b]:
                for j in range(G):
                    gates[j] = b_ih[j] + b_hh[j]
                accumulate_matvec_panels(x[t, b], w_ih_panels, gates)
                if t > 0 or carried:  # a new sequence starts from h = 0
                    accumulate_matvec_panels(h_prev, w_hh_panels, gates)
                activate_gates(gates, H)
                for j in range(H):
                    c[j] = gates[H + j] * c[j] + gates[j] * gates[2 * H + j]
                for j in range(H):
                    h_t[j] = gates[3 * H + j] * tanh(c[j])
            else:
                carry_state(h_prev, h_t, H)
        keep_final_state(state_h, h, b, H)
