"""Elman RNN cell: forward and backward through time.

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act in {tanh, relu}

Forward adds the input's product to the recurrent one step by step; after backward the
caller computes the weight and input gradients from ``d_pre`` in one product each.
Steps at or past a sequence's length carry its state unchanged and pass the gradient
straight through, so padded steps contribute nothing to any gradient. Each loop writes one
array so that LLVM vectorises it.
"""

import numpy as np
from numba import njit

from ._activations import JIT_OPTIONS, relu, tanh
from ._gemm import (accumulate_matvec_panels, aligned_zeros, matmul_panels, pack_for_matmul,
                    padded_columns)
from ._recurrence import (backward_buffers, carry_state, keep_final_state, pass_padded_step,
                          send_back)


@njit(**JIT_OPTIONS)
def rnn_forward(x, w_ih, w_hh_t, b_ih, b_hh, lengths, use_relu, h):
    """Run the recurrence over all steps.

    The input's product goes into the same step buffer as the recurrent one: ``x @ W_ih.T``
    for all steps at once wrote (T, B, H) floats that the loop then read back, 0.10 of a
    1.51 ms RNN-256 forward (32 sequences, 8 features).

    Parameters
    ----------
    x : ndarray (T, B, F)
        Layer input.
    w_ih : ndarray (H, F)
        ``weight_ih``, any layout (its transpose is packed into panels).
    w_hh_t : ndarray (H, H)
        ``weight_hh`` transposed, any layout (a view will do: it is packed into panels).
    b_ih, b_hh : ndarray (H,)
    lengths : ndarray (B,) of int64
        Valid steps of each sequence, 1 <= lengths[b] <= T.
    use_relu : bool
        relu instead of tanh.
    h : ndarray (T, B, H), output
        Hidden state after each step.
    """
    T, B, H = h.shape
    h0 = np.zeros((B, H), h.dtype)
    w_hh_panels = pack_for_matmul(w_hh_t)
    w_ih_panels = pack_for_matmul(w_ih.T)
    pre = aligned_zeros((B, padded_columns(w_hh_panels)), h.dtype)  # x_t W_ih^T + h_{t-1} W_hh^T
    for t in range(T):
        h_prev = h0 if t == 0 else h[t - 1]
        if t > 0:  # h_{-1} = 0
            matmul_panels(h_prev, w_hh_panels, pre)
        matmul_panels(x[t], w_ih_panels, pre, t > 0)
        for b in range(B):
            if t < lengths[b]:
                if use_relu:
                    for j in range(H):
                        h[t, b, j] = relu(pre[b, j] + b_ih[j] + b_hh[j])
                else:
                    for j in range(H):
                        h[t, b, j] = tanh(pre[b, j] + b_ih[j] + b_hh[j])
            else:
                for j in range(H):
                    h[t, b, j] = h_prev[b, j]


@njit(**JIT_OPTIONS)
def rnn_backward(d_h, h, w_hh, lengths, use_relu, d_pre):
    """Backpropagate through time.

    Parameters
    ----------
    d_h : ndarray (T, B, H)
        Gradient of the loss with respect to each step's output ``h[t]`` from above
        (next layer or per-step head; the final-state gradient is added at ``T - 1``).
    h : ndarray (T, B, H)
        Hidden states from ``rnn_forward``.
    w_hh : ndarray (H, H)
        ``weight_hh``, C-contiguous.
    lengths : ndarray (B,) of int64
    use_relu : bool
    d_pre : ndarray (T, B, H), output
        Gradient with respect to the pre-activation of each step: the gradient of
        ``xw``, of ``b_ih`` and ``b_hh`` (summed), and of ``W_hh h_{t-1}``.
    """
    T, B, H = h.shape
    one, zero = h.dtype.type(1), h.dtype.type(0)
    w_hh_panels, d_h_next, d_carry = backward_buffers(w_hh, h, B, H)
    for t in range(T - 1, -1, -1):
        for b in range(B):
            if t < lengths[b]:
                d_t = d_pre[t, b]
                for j in range(H):
                    d_t[j] = d_h[t, b, j] + d_h_next[b, j]
                if use_relu:
                    for j in range(H):
                        d_t[j] = d_t[j] if h[t, b, j] > 0 else zero
                else:
                    for j in range(H):
                        d_t[j] *= one - h[t, b, j] * h[t, b, j]
                for j in range(H):
                    d_carry[b, j] = zero
            else:
                for j in range(H):
                    d_pre[t, b, j] = zero
                pass_padded_step(d_h, d_h_next, d_carry, t, b, H)
        if t == 0:
            break  # h_{-1} = 0 is no parameter: nothing needs its gradient
        send_back(d_pre[t], w_hh_panels, d_carry, d_h_next, B, H)


@njit(**JIT_OPTIONS)
def rnn_predict(x, w_ih_panels, w_hh_panels, b_ih, b_hh, lengths, use_relu, carried, state_h,
                h):
    """Forward for prediction: one sequence at a time, products in a fixed order.

    Parameters
    ----------
    x : ndarray (T, B, F)
        Layer input.
    w_ih_panels : ndarray
        ``pack_panels(weight_ih.T, MATVEC_VECTORS)`` (F rows of H columns).
    w_hh_panels : ndarray
        ``pack_panels(weight_hh.T, MATVEC_VECTORS)`` (H rows of H columns).
    b_ih, b_hh : ndarray (H,)
    lengths : ndarray (B,) of int64
    use_relu : bool
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
    pre = aligned_zeros((padded_columns(w_hh_panels),), x.dtype)  # H used
    for b in range(B):
        if not carried:
            for j in range(H):
                state_h[b, j] = 0
        for t in range(T):
            h_prev = state_h[b] if t == 0 else h[t - 1, b]
            h_t = h[t, b]
            if t < lengths[b]:
                for j in range(H):
                    pre[j] = b_ih[j] + b_hh[j]
                accumulate_matvec_panels(x[t, b], w_ih_panels, pre)
                if t > 0 or carried:  # a new sequence starts from h = 0
                    accumulate_matvec_panels(h_prev, w_hh_panels, pre)
                if use_relu:
                    for j in range(H):
                        h_t[j] = relu(pre[j])
                else:
                    for j in range(H):
                        h_t[j] = tanh(pre[j])
            else:
                carry_state(h_prev, h_t, H)
        keep_final_state(state_h, h, b, H)
