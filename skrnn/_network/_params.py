"""A network's architecture and its parameters: PyTorch's names and shapes, initial values.

Parameters live in one dict ``{name: ndarray}`` whose names and shapes are those of the
``state_dict()`` of a PyTorch module with attributes ``embedding`` (``nn.Embedding``),
``rnn`` (``nn.RNN``/``nn.LSTM``/``nn.GRU``, ``batch_first``) and ``head`` (``nn.Linear``).
Gradients use the same keys.
"""

from dataclasses import dataclass

import numpy as np

from .._cells import CELLS
from .._parallel import map_chunks, single_threaded_blas


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture of a network; everything needed to name and shape its parameters.

    Attributes
    ----------
    cell : str
        A key of ``_cells.CELLS``.
    n_features : int
        Features per step of the input (the embedding width when ``vocab_size`` is set).
    hidden_layer_sizes : tuple of int
        Hidden units of each stacked layer (per direction).
    n_outputs : int
        Width of the linear head.
    activation : {"tanh", "relu"}
        Non-linearity of the simple RNN cell.
    bidirectional : bool
    return_sequences : bool
        Head on every step instead of on the final state.
    vocab_size : int or None
        Number of token ids when the input goes through an embedding.
    dropout : float
        Inverted-dropout rate between layers and before the head (training only).
    """

    cell: str
    n_features: int
    hidden_layer_sizes: tuple
    n_outputs: int
    activation: str = "tanh"
    bidirectional: bool = False
    return_sequences: bool = False
    vocab_size: int | None = None
    dropout: float = 0.0

    @property
    def n_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def suffixes(self):
        return ("", "_reverse") if self.bidirectional else ("",)

    @property
    def output_size(self):
        """Width of the features the head reads."""
        return self.hidden_layer_sizes[-1] * self.n_directions

    def layer_input_size(self, layer):
        if layer == 0:
            return self.n_features
        return self.hidden_layer_sizes[layer - 1] * self.n_directions


def param_shapes(spec):
    """Names and shapes of every parameter, in PyTorch's ``state_dict`` order."""
    shapes = {}
    if spec.vocab_size is not None:
        shapes["embedding.weight"] = (spec.vocab_size, spec.n_features)
    n_gates = CELLS[spec.cell].n_gates
    for layer, hidden in enumerate(spec.hidden_layer_sizes):
        n_in = spec.layer_input_size(layer)
        for suffix in spec.suffixes:
            shapes[f"rnn.weight_ih_l{layer}{suffix}"] = (n_gates * hidden, n_in)
            shapes[f"rnn.weight_hh_l{layer}{suffix}"] = (n_gates * hidden, hidden)
            shapes[f"rnn.bias_ih_l{layer}{suffix}"] = (n_gates * hidden,)
            shapes[f"rnn.bias_hh_l{layer}{suffix}"] = (n_gates * hidden,)
    shapes["head.weight"] = (spec.n_outputs, spec.output_size)
    shapes["head.bias"] = (spec.n_outputs,)
    return shapes


def _orthogonal_blocks(rng, n_blocks, size):
    """``n_blocks`` random orthogonal (size, size) matrices, stacked (n_blocks * size, size).

    The draws come from ``rng`` one after the other; the QR factorisations, which release
    the GIL, run on skrnn's threads (a hidden-512 LSTM's four took 0.12 s on one core, a
    tenth of an epoch on 512 sequences).
    """
    draws = [rng.standard_normal((size, size)) for _ in range(n_blocks)]
    return np.concatenate(map_chunks(_orthonormalised, draws))


def _orthonormalised(a):
    """The Q of ``a``'s QR factorisation, its columns signed so that R's diagonal is positive
    (the orthogonal matrix distributed uniformly)."""
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return q


def init_params(spec, rng, dtype):
    """Draw initial parameters.

    Input weights are Glorot-uniform per gate block, recurrent weights orthogonal per gate
    block, biases zero except the cell's ``initial_bias_ih`` (the LSTM forget gate's 1), the head
    Glorot-uniform and the embedding standard normal: the initialisation Keras uses, which
    trains recurrent networks more reliably than PyTorch's uniform default.
    """
    params = {}
    # one BLAS thread for the orthogonal blocks' QRs: after a multi-threaded call OpenBLAS's
    # workers spin for about 0.1 s, a core taken from the training that follows (58 ms of
    # every RNN-128 fit)
    with single_threaded_blas():
        for name, shape in param_shapes(spec).items():
            params[name] = np.ascontiguousarray(_initial_value(spec, rng, name, shape),
                                                dtype=dtype)
    return params


def _initial_value(spec, rng, name, shape):
    """One parameter's initial value (float64), as ``init_params`` describes."""
    if name == "embedding.weight":
        return rng.standard_normal(shape)
    cell = CELLS[spec.cell]
    if "bias" in name:
        value = np.zeros(shape)
        if "bias_ih" in name:
            hidden = shape[0] // cell.n_gates
            for block, bias in cell.initial_bias_ih:
                value[block * hidden:(block + 1) * hidden] = bias
        return value
    if "weight_hh" in name:
        hidden = shape[1]
        return _orthogonal_blocks(rng, shape[0] // hidden, hidden)
    # weight_ih and head.weight: Glorot uniform over each (fan_out, fan_in) block
    fan_out = shape[0] // cell.n_gates if name.startswith("rnn.") else shape[0]
    limit = np.sqrt(6.0 / (fan_out + shape[1]))
    return rng.uniform(-limit, limit, shape)


def set_writeable(params, writeable):
    """Lock the weights against writes, or unlock them for training.

    An array unpickled from a read-only buffer (as Dask's workers pass an estimator from
    task to task, e.g. under ``dask_ml.wrappers.Incremental``) cannot be unlocked: it is
    replaced by a writeable copy.
    """
    for name, value in params.items():
        try:
            value.flags.writeable = writeable
        except ValueError:
            params[name] = value.copy()
