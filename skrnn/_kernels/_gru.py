"""GRU cell (PyTorch's equations and gate order r, z, n): forward and backward through time.

    hw = W_hh h_{t-1} + b_hh                          (3H: hw_r, hw_z, hw_n)
    r = sigmoid(xw_r + hw_r),  z = sigmoid(xw_z + hw_z)
    n = tanh(xw_n + r * hw_n)                         (reset applied after the product)
    h_t = (1 - z) * n + z * h_{t-1}

Because ``r`` multiplies ``hw_n``, the gradient reaching the recurrent product differs from
the one reaching the input projection in the n block: backward writes the first whole and
the n block of the second apart.
Steps at or past a sequence's length carry ``h`` unchanged. As in the LSTM kernels, each
loop writes one array so that LLVM vectorises it.
"""

import numpy as np
from numba import njit

from ._activations import JIT_OPTIONS, sigmoid, tanh
from ._gemm import (accumulate_matvec_panels, aligned_zeros, matmul_panels, pack_for_matmul,
                    padded_columns)
from ._recurrence import (backward_buffers, carry_state, keep_final_state, pass_padded_step,
                          send_back)


@njit(**JIT_OPTIONS)
def gru_forward(x, w_ih, w_hh_t, b_ih, b_hh, lengths, gates, hw_n, h):
    """Run the recurrence over all steps.

    Each step takes ``x_t @ W_ih.T`` and ``h_{t-1} @ W_hh.T`` into two buffers (the reset
    gate multiplies only the second's n block); see ``rnn_forward``.

    Parameters
    ----------
    x : ndarray (T, B, F)
        Layer input.
    w_ih : ndarray (3H, F)
        ``weight_ih``, any layout (its transpose is packed into panels).
    w_hh_t : ndarray (H, 3H)
        ``weight_hh`` transposed, any layout (a view will do: it is packed into panels).
    b_ih, b_hh : ndarray (3H,)
    lengths : ndarray (B,) of int64
    gates : ndarray (T, B, 3H), output
        The activated gates r, z, n of every valid step; zero at padded steps.
    hw_n : ndarray (T, B, H), output
        ``W_hn h_{t-1} + b_hn``, needed for the gradient of r.
    h : ndarray (T, B, H), output
        Hidden state after each step.
    """
    T, B, G = gates.shape
    H = G // 3
    one, zero = gates.dtype.type(1), gates.dtype.type(0)
    h0 = np.zeros((B, H), gates.dtype)
    w_hh_panels = pack_for_matmul(w_hh_t)
    w_ih_panels = pack_for_matmul(w_ih.T)
    hw = aligned_zeros((B, padded_columns(w_hh_panels)), gates.dtype)  # W_hh h_{t-1}, G used
    xw = aligned_zeros((B, padded_columns(w_ih_panels)), gates.dtype)  # W_ih x_t, G used
    for t in range(T):
        h_prev = h0 if t == 0 else h[t - 1]
        if t > 0:  # h_{-1} = 0: hw still holds the zeros it was made with
            matmul_panels(h_prev, w_hh_panels, hw)
        matmul_panels(x[t], w_ih_panels, xw)
        for b in range(B):
            g_t = gates[t, b]  # (3H,)
            if t < lengths[b]:
                for j in range(2 * H):
                    g_t[j] = sigmoid(xw[b, j] + b_ih[j] + hw[b, j] + b_hh[j])  # r, z
                hn = hw_n[t, b]
                for j in range(H):
                    hn[j] = hw[b, 2 * H + j] + b_hh[2 * H + j]
                # r * hw_n goes through the product's row: read from ``gates`` at j while
                # writing it at 2H + j, the n loop ran scalar (2.2 against 0.6 ns a unit)
                for j in range(H):
                    hw[b, 2 * H + j] = g_t[j] * hn[j]
                for j in range(H):
                    g_t[2 * H + j] = tanh(xw[b, 2 * H + j] + b_ih[2 * H + j]
                                          + hw[b, 2 * H + j])  # n
                h_t = h[t, b]
                for j in range(H):
                    z = g_t[H + j]
                    h_t[j] = (one - z) * g_t[2 * H + j] + z * h_prev[b, j]
            else:
                for j in range(G):
                    g_t[j] = zero
                for j in range(H):
                    hw_n[t, b, j] = zero
                for j in range(H):
                    h[t, b, j] = h_prev[b, j]


@njit(**JIT_OPTIONS)
def gru_backward(d_h, gates, hw_n, h, w_hh, lengths, d_gates_hh, d_n):
    """Backpropagate through time.

    Parameters
    ----------
    d_h : ndarray (T, B, H)
        Gradient with respect to each step's output from above.
    gates : ndarray (T, B, 3H)
        Activated gates from ``gru_forward``.
    hw_n, h : ndarray (T, B, H)
        As written by ``gru_forward``.
    w_hh : ndarray (3H, H)
        ``weight_hh``, C-contiguous.
    lengths : ndarray (B,) of int64
    d_gates_hh : ndarray (T, B, 3H), output
        Gradient with respect to ``hw`` (and ``b_hh``): r, z, then ``d_n * r``. Zero at
        padded steps.
    d_n : ndarray (T, B, H), output
        Gradient with respect to the n pre-activation (``xw``'s n block, and ``b_ih``'s).
        ``xw``'s gradient is ``d_gates_hh``'s r and z blocks followed by ``d_n``; it is not
        written out whole (two of its blocks would be copies: 2H more floats a row to
        write, 5.3 -> 4.9 ms of a GRU-256 backward).
    """
    T, B, G = gates.shape
    H = G // 3
    one, zero = gates.dtype.type(1), gates.dtype.type(0)
    h0 = np.zeros((B, H), gates.dtype)
    w_hh_panels, d_h_next, d_carry = backward_buffers(w_hh, gates, B, H)
    dh = np.empty(H, gates.dtype)  # total gradient of h[t] for one sequence
    for t in range(T - 1, -1, -1):
        h_prev = h0 if t == 0 else h[t - 1]
        for b in range(B):
            if t < lengths[b]:
                g_t = gates[t, b]
                d_hh = d_gates_hh[t, b]
                d_n_t = d_n[t, b]
                for j in range(H):
                    dh[j] = d_h[t, b, j] + d_h_next[b, j]
                for j in range(H):
                    n = g_t[2 * H + j]
                    d_n_t[j] = dh[j] * (one - g_t[H + j]) * (one - n * n)  # d n_pre
                for j in range(H):
                    z = g_t[H + j]
                    d_hh[H + j] = dh[j] * (h_prev[b, j] - g_t[2 * H + j]) * z * (one - z)
                for j in range(H):
                    r = g_t[j]
                    d_hh[j] = d_n_t[j] * hw_n[t, b, j] * r * (one - r)  # d r_pre
                for j in range(H):
                    d_hh[2 * H + j] = d_n_t[j] * g_t[j]
                for j in range(H):
                    d_carry[b, j] = dh[j] * g_t[H + j]
            else:
                for j in range(G):
                    d_gates_hh[t, b, j] = zero
                for j in range(H):
                    d_n[t, b, j] = zero
                pass_padded_step(d_h, d_h_next, d_carry, t, b, H)
        if t == 0:
            break  # h_{-1} = 0 is no parameter: nothing needs its gradient
        send_back(d_gates_hh[t], w_hh_panels, d_carry, d_h_next, B, H)


@njit(**JIT_OPTIONS)
def gru_predict(x, w_ih_panels, w_hh_panels, b_ih, b_hh, lengths, carried, state_h, h):
    """Forward for prediction: one sequence at a time, products in a fixed order.

    Parameters
    ----------
    x : ndarray (T, B, F)
        Layer input.
    w_ih_panels : ndarray
        ``pack_panels(weight_ih.T, MATVEC_VECTORS)`` (F rows of 3H columns).
    w_hh_panels : ndarray
        ``pack_panels(weight_hh.T, MATVEC_VECTORS)`` (H rows of 3H columns).
    b_ih, b_hh : ndarray (3H,)
    lengths : ndarray (B,) of int64
    carried : bool
        The sequences go on from ``state_h`` (a stream's earlier steps); else they start
        from zero, as ``predict`` does.
    state_h : ndarray (B, H), input and output
        Hidden state before the first step (read when ``carried``), and after each
        sequence's last valid step (always written).
    h : ndarray (T, B, H), output
        Hidden state after each step (carried past each sequence's end).
    """
    T, B, F = x.shape
    H = w_hh_panels.shape[1]
    G = 3 * H
    one = x.dtype.type(1)
    gx = aligned_zeros((padded_columns(w_hh_panels),), x.dtype)  # W_ih x_t + b_ih (G used)
    gh = aligned_zeros((padded_columns(w_hh_panels),), x.dtype)  # W_hh h_{t-1} + b_hh (G used)
    for b in range(B):
        if not carried:
            for j in range(H):
                state_h[b, j] = 0
        for t in range(T):
            h_prev = state_h[b] if t == 0 else h[t - 1, b]
            h_t = h[t, b]
            if t < lengths[b]:
                for j in range(G):
                    gx[j] = b_ih[j]
                for j in range(G):
                    gh[j] = b_hh[j]
                accumulate_matvec_panels(x[t, b], w_ih_panels, gx)
                if t > 0 or carried:  # a new sequence starts from h = 0
                    accumulate_matvec_panels(h_prev, w_hh_panels, gh)
                for j in range(2 * H):
                    gx[j] = sigmoid(gx[j] + gh[j])  # r, z
                for j in range(H):
                    gx[2 * H + j] = tanh(gx[2 * H + j] + gx[j] * gh[2 * H + j])  # n
                for j in range(H):
                    z = gx[H + j]
                    h_t[j] = (one - z) * gx[2 * H + j] + z * h_prev[j]
            else:
                carry_state(h_prev, h_t, H)
        keep_final_state(state_h, h, b, H)
