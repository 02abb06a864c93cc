"""One time step of each cell's gate arithmetic, in NumPy: the reference for the GPU twins.

The step backend (``skrnn._backend.StepBackend``) runs the time loop in Python: per step, one
matrix product for the recurrent term and one call of a function here (on NumPy) or of its
fused CUDA kernel in ``_backend/_cuda_steps.py`` (on CuPy). Both follow the equations and
the ragged-length rules of the Numba kernels in ``_rnn.py``, ``_lstm.py`` and ``_gru.py``:

- forward: a step at or past a sequence's length carries ``h`` (and ``c``) unchanged;
- backward: ``d_h_rec`` is the gradient reaching ``h[t]`` through ``W_hh`` from step t + 1,
  and ``d_carry`` the part that bypassed it (a padded step t + 1 passes its whole gradient
  straight to ``h[t]``). A valid step zeroes ``d_carry``; a padded one writes zero gate
  gradients and hands its total gradient on in ``d_carry``.

Every array is (B, ...) for one step; ``t`` is the step's index, compared with ``lengths``.
The functions write their outputs in place and return nothing, like the kernels.
"""

import numpy as np


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _valid(t, lengths):
    """(B, 1) bool: step t is within each sequence."""
    return (t < lengths)[:, None]


# ----------------------------------------------------------------------------- simple RNN

def rnn_forward_step(t, xw_t, hw, b_ih, b_hh, lengths, h_prev, use_relu, h_t):
    """``h_t = act(xw_t + b_ih + hw + b_hh)``; all (B, H) but the biases (H,)."""
    pre = xw_t + b_ih + hw + b_hh
    act = np.where(pre < 0, 0, pre) if use_relu else np.tanh(pre)
    h_t[...] = np.where(_valid(t, lengths), act, h_prev)


def rnn_backward_step(t, d_h_t, d_h_rec, d_carry, h_t, lengths, use_relu, d_pre_t):
    """Gradient of step t's pre-activation (B, H); updates ``d_carry`` in place."""
    valid = _valid(t, lengths)
    dh = d_h_t + d_h_rec + d_carry
    d_act = np.where(h_t > 0, dh, 0) if use_relu else dh * (1 - h_t * h_t)
    d_pre_t[...] = np.where(valid, d_act, 0)
    d_carry[...] = np.where(valid, 0, dh)


# ----------------------------------------------------------------------------------- LSTM

def lstm_forward_step(t, gates_t, hw, b_ih, b_hh, lengths, c_prev, h_prev, c_t, h_t):
    """One LSTM step; ``gates_t`` (B, 4H) holds ``x W_ih^T`` and receives i, f, g, o."""
    H = h_t.shape[1]
    pre = gates_t + hw + b_ih + b_hh
    i, f = _sigmoid(pre[:, :H]), _sigmoid(pre[:, H:2 * H])
    g, o = np.tanh(pre[:, 2 * H:3 * H]), _sigmoid(pre[:, 3 * H:])
    valid = _valid(t, lengths)
    c = f * c_prev + i * g
    gates_t[...] = np.where(valid, np.concatenate([i, f, g, o], axis=1), gates_t)
    c_t[...] = np.where(valid, c, c_prev)
    h_t[...] = np.where(valid, o * np.tanh(c), h_prev)


def lstm_backward_step(t, d_h_t, d_h_rec, d_carry, d_c, gates_t, c_t, c_prev, lengths,
                       d_gates_t):
    """Gate gradients (B, 4H) of step t; ``d_c`` (gradient reaching c[t], then c[t-1]) and
    ``d_carry`` are updated in place."""
    H = d_h_t.shape[1]
    valid = _valid(t, lengths)
    i, f = gates_t[:, :H], gates_t[:, H:2 * H]
    g, o = gates_t[:, 2 * H:3 * H], gates_t[:, 3 * H:]
    dh = d_h_t + d_h_rec + d_carry
    c_tanh = np.tanh(c_t)
    dc = d_c + dh * o * (1 - c_tanh * c_tanh)
    d_gates = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                              dc * i * (1 - g * g), dh * c_tanh * o * (1 - o)], axis=1)
    d_gates_t[...] = np.where(valid, d_gates, 0)
    d_c[...] = np.where(valid, dc * f, d_c)
    d_carry[...] = np.where(valid, 0, dh)


# ------------------------------------------------------------------------------------ GRU

def gru_forward_step(t, gates_t, hw, b_ih, b_hh, lengths, h_prev, hw_n_t, h_t):
    """One GRU step; ``gates_t`` (B, 3H) holds ``x W_ih^T`` and receives r, z, n;
    ``hw`` is ``h_prev W_hh^T`` without bias; ``hw_n_t`` receives ``W_hn h_prev + b_hn``."""
    H = h_t.shape[1]
    valid = _valid(t, lengths)
    rz = _sigmoid(gates_t[:, :2 * H] + b_ih[:2 * H] + hw[:, :2 * H] + b_hh[:2 * H])
    r, z = rz[:, :H], rz[:, H:]
    hn = hw[:, 2 * H:] + b_hh[2 * H:]
    n = np.tanh(gates_t[:, 2 * H:] + b_ih[2 * H:] + r * hn)
    hw_n_t[...] = np.where(valid, hn, hw_n_t)
    gates_t[...] = np.where(valid, np.concatenate([r, z, n], axis=1), gates_t)
    h_t[...] = np.where(valid, (1 - z) * n + z * h_prev, h_prev)


def gru_backward_step(t, d_h_t, d_h_rec, d_carry, gates_t, hw_n_t, h_prev, lengths,
                      d_hh_t, d_n_t):
    """Gradients of step t with respect to ``hw`` (``d_hh_t``, (B, 3H): r, z, ``d_n * r``)
    and to the n pre-activation (``d_n_t``, (B, H)); ``d_carry`` updated in place."""
    H = d_h_t.shape[1]
    valid = _valid(t, lengths)
    r, z, n = gates_t[:, :H], gates_t[:, H:2 * H], gates_t[:, 2 * H:]
    dh = d_h_t + d_h_rec + d_carry
    d_n = dh * (1 - z) * (1 - n * n)
    d_z = dh * (h_prev - n) * z * (1 - z)
    d_r = d_n * hw_n_t * r * (1 - r)
    d_hh_t[...] = np.where(valid, np.concatenate([d_r, d_z, d_n * r], axis=1), 0)
    d_n_t[...] = np.where(valid, d_n, 0)
    d_carry[...] = np.where(valid, dh * z, dh)


def embedding_backward(ids, lengths, d_x, d_weight):
    """``d_weight[ids[t, b]] += d_x[t, b]`` over the valid steps (as the Numba kernel)."""
    valid = np.arange(ids.shape[0])[:, None] < lengths[None, :]
    np.add.at(d_weight, ids[valid], d_x[valid])
