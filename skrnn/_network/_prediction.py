"""Prediction: the network through the ``*_predict`` kernels, each sequence alone.

The kernels compute each sequence alone with products in a fixed order, so that a
prediction never depends on what it is predicted with. ``predict`` leaves the choice of
path to the backend (``backend.predict``): the CPU's comes back to ``predict_each_alone``;
a device runs the training forward pass without dropout.
"""

import numpy as np

from .. import _kernels
from .._backend import CPU
from .._cells import CELLS
from .._kernels._gemm import MATVEC_VECTORS, pack_panels
from .._parallel import map_chunks, thread_chunks
from ._layers import run_directions, time_reversal_index


def prediction_weights(params):
    """The weights as the prediction kernels read them: the recurrent layers' transposed and
    packed into panels for one-row products, the head's transposed and C-contiguous."""
    prepared = {name: pack_panels(np.ascontiguousarray(value.T), MATVEC_VECTORS)
                for name, value in params.items() if name.startswith("rnn.weight")}
    prepared["head.weight"] = np.ascontiguousarray(params["head.weight"].T)
    return prepared


def predict(spec, params, data, lengths, prepared=None, backend=CPU):
    """The head's raw output, as ``forward`` computes it without dropout.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of ndarray
    data : ndarray (T, B, F) float, or (T, B) int64 token ids
    lengths : ndarray (B,) of int64
    prepared : dict of ndarray or None
        ``prediction_weights(params)``, when the caller keeps it between calls.
    backend : CPUBackend or StepBackend
        Its prediction path (``backend.predict``): on the CPU ``predict_each_alone``; on
        a device the training forward pass without dropout, on the backend's arrays (its
        result then depends on the batch only through the device's matrix products).

    Returns
    -------
    output : ndarray (B, n_outputs), or (T, B, n_outputs) with ``return_sequences``
    """
    return backend.predict(spec, params, data, lengths, prepared)


def predict_each_alone(spec, params, data, lengths, prepared=None):
    """``predict`` through the prediction kernels, split by threads.

    Returns
    -------
    output : ndarray (B, n_outputs), or (T, B, n_outputs) with ``return_sequences``
        Bit-identical for a sequence whatever the other sequences in ``data``.
    """
    if prepared is None:
        prepared = prediction_weights(params)
    chunks = thread_chunks(lengths.shape[0])
    results = map_chunks(lambda chunk: _predict_chunk(spec, params, prepared, data[:, chunk],
                                                      lengths[chunk]), chunks)
    axis = 1 if spec.return_sequences else 0
    return results[0] if len(results) == 1 else np.concatenate(results, axis)


def _predict_chunk(spec, params, prepared, data, lengths):
    T = data.shape[0]
    B = lengths.shape[0]
    reversal = time_reversal_index(lengths, T) if spec.bidirectional else None
    x = params["embedding.weight"][data] if spec.vocab_size is not None else data
    x = np.ascontiguousarray(x)
    for layer in range(len(spec.hidden_layer_sizes)):

        def run_direction(suffix, x_dir):
            return predict_layer(spec, prediction_layer_weights(spec, params, prepared, layer,
                                                                suffix),
                                 x_dir, lengths, prediction_state(spec, layer, B, x.dtype))

        x, finals = run_directions(spec, x, reversal, run_direction)

    features = x if spec.return_sequences else np.concatenate(finals, axis=1)
    return predict_head(spec, params, prepared, features)


def prediction_state(spec, layer, batch_size, dtype):
    """The recurrent state of one layer direction for its prediction kernel: (h,), or
    (h, c) for an LSTM (the cell's ``n_states``), each (B, H)."""
    hidden = spec.hidden_layer_sizes[layer]
    return tuple(np.zeros((batch_size, hidden), dtype)
                 for _ in range(CELLS[spec.cell].n_states))


def prediction_layer_weights(spec, params, prepared, layer, suffix=""):
    """What the prediction kernel of one layer direction reads besides its input and state:
    (kernel, its flags, packed input weights, packed recurrent weights, b_ih, b_hh)."""
    cell = CELLS[spec.cell]
    return (cell.predict, cell.flags(spec), prepared[f"rnn.weight_ih_l{layer}{suffix}"],
            prepared[f"rnn.weight_hh_l{layer}{suffix}"], params[f"rnn.bias_ih_l{layer}{suffix}"],
            params[f"rnn.bias_hh_l{layer}{suffix}"])


def predict_layer(spec, layer_weights, x, lengths, state, carried=False, out=None):
    """One direction of one layer through its prediction kernel.

    Parameters
    ----------
    layer_weights : tuple
        From ``prediction_layer_weights``.
    x : ndarray (T, B, F), C-contiguous
    lengths : ndarray (B,) of int64
    state : tuple of ndarray (B, H)
        From ``prediction_state``: read when ``carried`` (the sequences go on from it, as a
        stream's do), and left holding the state after each sequence's last valid step.
    out : ndarray (T, B, H), optional
        Where to write ``h`` (a stream's buffer for one step), else a new array.

    Returns
    -------
    h : ndarray (T, B, H)
    """
    kernel, flags, w_ih, w_hh, b_ih, b_hh = layer_weights
    h = np.empty((x.shape[0], x.shape[1], w_hh.shape[1]), x.dtype) if out is None else out
    kernel(x, w_ih, w_hh, b_ih, b_hh, lengths, *flags, carried, *state, h)
    return h


def predict_head(spec, params, prepared, features):
    """The head's raw output on features (..., D), each row computed alone."""
    rows = features if features.ndim == 2 else features.reshape(-1, features.shape[-1])
    if not rows.flags.c_contiguous:
        rows = np.ascontiguousarray(rows)
    output = np.empty((rows.shape[0], spec.n_outputs), features.dtype)
    _kernels.linear_rows(rows, prepared["head.weight"], params["head.bias"], output)
    return output if features.ndim == 2 else output.reshape(features.shape[:-1] + (-1,))
