"""Numba-compiled kernels: one forward/backward pair per recurrent cell.

Each kernel receives preallocated arrays in time-major layout ``(T, B, ...)`` and writes
into them. Only the recurrent product and the gate arithmetic run inside the time loop;
everything that is one matrix product over all steps stays with the caller.
"""

from ._embedding import embedding_backward
from ._gru import gru_backward, gru_forward
from ._lstm import lstm_backward, lstm_forward
from ._rnn import rnn_backward, rnn_forward

__all__ = [
    "embedding_backward",
    "gru_backward",
    "gru_forward",
    "lstm_backward",
    "lstm_forward",
    "rnn_backward",
    "rnn_forward",
]
