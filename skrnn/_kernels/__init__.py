"""Numba-compiled kernels: each cell's time loops, the GEMM they use, and the network's others.

One file per cell (``_rnn``, ``_lstm``, ``_gru``: forward, backward and predict side by
side, their shared tails in ``_recurrence``), the packed matrix products (``_gemm``), the
activations and ``JIT_OPTIONS`` (``_activations``), the embedding's gradient, the
prediction head's rows and the fused softmax cross-entropy; ``_steps`` is the NumPy
reference of one time step of each cell (the step backend's, and the CUDA twins').

Each kernel receives preallocated arrays in time-major layout ``(T, B, ...)`` and writes
into them. For training, the time loop runs each step's input and recurrent products and
its gate arithmetic; the weight gradients, one matrix product over all steps each, stay
with the caller. For prediction, ``*_predict`` run each sequence alone with products in a
fixed order, so that a prediction does not depend on what else is predicted with it.
"""

from ._embedding import embedding_backward
from ._gru import gru_backward, gru_forward, gru_predict
from ._linear import linear_rows
from ._lstm import lstm_backward, lstm_forward, lstm_predict
from ._rnn import rnn_backward, rnn_forward, rnn_predict

__all__ = [
    "embedding_backward",
    "gru_backward",
    "gru_forward",
    "gru_predict",
    "linear_rows",
    "lstm_backward",
    "lstm_forward",
    "lstm_predict",
    "rnn_backward",
    "rnn_forward",
    "rnn_predict",
]
