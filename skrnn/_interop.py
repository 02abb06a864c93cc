"""Moving fitted networks between skrnn and PyTorch or ONNX (torch and onnx are imported only
when asked for)."""

import re

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import _network
from ._cells import CELLS

_CELL_BY_GATES = {cell.n_gates: name for name, cell in CELLS.items()}


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover (torch is installed in the test runs)
        raise ImportError("skrnn.to_torch needs PyTorch; its CPU-only wheel is enough: pip "
                          "install torch --index-url https://download.pytorch.org/whl/cpu") from exc
    return torch


def to_torch(estimator):
    """The equivalent ``torch.nn.Module`` holding a fitted estimator's weights.

    The module has the attributes ``embedding`` (with ``embedding_dim``), ``rnn``
    (``nn.RNN``/``nn.LSTM``/``nn.GRU``, ``batch_first``) and ``head`` (``nn.Linear``), whose
    ``state_dict()`` is ``estimator.params_``. Its ``forward(x, lengths=None)`` takes a
    batch-major tensor (float ``(B, T, F)``, or int64 ``(B, T)`` token ids) and optional
    per-sequence lengths (ragged batches are packed), and returns what ``predict`` computes
    before decoding labels: the regression values, or the class probabilities (for a binary
    classifier, of the positive class).

    Parameters
    ----------
    estimator : fitted RNNRegressor or RNNClassifier
        Its layers must share one hidden size (PyTorch's recurrent modules require it).

    Returns
    -------
    module : torch.nn.Module
        In float32 or float64 as the estimator, in eval mode.
    """
    torch = _import_torch()
    check_is_fitted(estimator, "params_")
    spec = estimator._spec
    sizes = set(spec.hidden_layer_sizes)
    if len(sizes) != 1:
        raise ValueError(f"PyTorch's recurrent modules need one hidden size for all layers; "
                         f"this estimator has {spec.hidden_layer_sizes}.")
    link = estimator._loss_name()
    squeeze = getattr(estimator, "_y_ndim", 2) == 1
    module = _module_class(torch)(spec, link, squeeze)
    dtype = torch.float64 if estimator.params_["head.weight"].dtype == np.float64 else torch.float32
    module = module.to(dtype)
    state = {name: torch.from_numpy(np.array(value)) for name, value in estimator.params_.items()}
    module.load_state_dict(state, strict=True)
    return module.eval()


_MODULE_CLASS = None


def _module_class(torch):
    """The nn.Module class (defined on first use, so that skrnn never imports torch itself)."""
    global _MODULE_CLASS
    if _MODULE_CLASS is not None:
        return _MODULE_CLASS
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class SkrnnNetwork(torch.nn.Module):
        """skrnn's network: embedding (optional), recurrent layers, linear head, link."""

        def __init__(self, spec, link, squeeze):
            super().__init__()
            self.return_sequences = spec.return_sequences
            self.n_directions = spec.n_directions
            self.link = link
            self.squeeze = squeeze
            cell = CELLS[spec.cell]
            self.state_is_tuple = cell.n_states > 1  # (h, c): h_n is its first
            if spec.vocab_size is not None:
                self.embedding = torch.nn.Embedding(spec.vocab_size, spec.n_features)
            kwargs = dict(input_size=spec.n_features, hidden_size=spec.hidden_layer_sizes[0],
                          num_layers=len(spec.hidden_layer_sizes), batch_first=True,
                          bidirectional=spec.bidirectional)
            if cell.takes_activation:
                kwargs["nonlinearity"] = spec.activation
            self.rnn = getattr(torch.nn, cell.torch_module)(**kwargs)
            self.head = torch.nn.Linear(spec.output_size, spec.n_outputs)

        def forward(self, x, lengths=None):
            if hasattr(self, "embedding"):
                x = self.embedding(x)
            n_steps = x.shape[1]
            if lengths is not None:
                x = pack_padded_sequence(x, torch.as_tensor(lengths).cpu(), batch_first=True,
                                         enforce_sorted=False)
            out, state = self.rnn(x)
            if self.return_sequences:
                if lengths is not None:
                    out, _ = pad_packed_sequence(out, batch_first=True, total_length=n_steps)
                features = out
            else:
                h_n = state[0] if self.state_is_tuple else state
                features = torch.cat([h_n[d - self.n_directions]
                                      for d in range(self.n_directions)], dim=1)
            raw = self.head(features)
            if self.link == "sigmoid_log_loss":
                raw = torch.sigmoid(raw)
            elif self.link == "softmax_log_loss":
                raw = torch.softmax(raw, dim=-1)
            return raw.squeeze(-1) if self.squeeze else raw

    _MODULE_CLASS = SkrnnNetwork
    return SkrnnNetwork


def params_from_state_dict(state_dict):
    """NumPy copies of a state dict's tensors (or arrays)."""
    params = {}
    for name, value in state_dict.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        params[name] = np.array(value)
    return params


def spec_arguments(params):
    """Estimator arguments a state dict implies: cell, layer sizes, directions, embedding."""
    layers = sorted({int(m.group(1)) for name in params
                     for m in [re.fullmatch(r"rnn\.weight_hh_l(\d+)(_reverse)?", name)] if m})
    if not layers or layers != list(range(len(layers))) or "head.weight" not in params:
        raise ValueError("The state dict is not one of an embedding/rnn/head network: expected "
                         "'rnn.weight_hh_l0', ... and 'head.weight', got "
                         f"{sorted(params)[:6]}...")
    hidden = tuple(params[f"rnn.weight_hh_l{k}"].shape[1] for k in layers)
    gates = params["rnn.weight_hh_l0"].shape[0] // hidden[0]
    if gates not in _CELL_BY_GATES:
        raise ValueError(f"rnn.weight_hh_l0 has shape {params['rnn.weight_hh_l0'].shape}: not "
                         "an RNN, LSTM or GRU layer.")
    embedding = params.get("embedding.weight")
    return dict(cell=_CELL_BY_GATES[gates], hidden_layer_sizes=hidden,
                bidirectional="rnn.weight_hh_l0_reverse" in params,
                embedding_dim=None if embedding is None else int(embedding.shape[1]))


def check_params_match(spec, params):
    """Raise a ValueError unless ``params`` has exactly the names and shapes ``spec`` needs."""
    expected = _network.param_shapes(spec)
    if set(expected) != set(params):
        missing, extra = set(expected) - set(params), set(params) - set(expected)
        raise ValueError(f"The state dict does not match the network: missing "
                         f"{sorted(missing)}, unexpected {sorted(extra)}.")
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise ValueError(f"{name} has shape {params[name].shape}; the network needs {shape}.")


def estimator_from_state_dict(cls, state_dict, classes, params):
    """``cls.from_torch_state_dict``: a fitted ``cls`` holding a state dict's weights."""
    weights = params_from_state_dict(state_dict)
    inferred = spec_arguments(weights)
    for name, value in inferred.items():
        if name in params and params[name] != value:
            raise ValueError(f"{name}={params[name]!r} contradicts the state dict, which "
                             f"holds {name}={value!r}.")
    estimator = cls(**{**params, **inferred})
    install_weights(estimator, weights, classes)
    return estimator


def install_weights(estimator, weights, classes):
    """Give ``estimator`` the fitted state around ``weights`` (a dict of arrays)."""
    estimator._validate_params()
    n_outputs = weights["head.weight"].shape[0]
    estimator._set_outputs(n_outputs, classes)
    embedding = weights.get("embedding.weight")
    spec = _network.NetworkSpec(
        cell=estimator.cell, n_features=weights["rnn.weight_ih_l0"].shape[1],
        hidden_layer_sizes=estimator._hidden_sizes(), n_outputs=n_outputs,
        activation=estimator.activation, bidirectional=estimator.bidirectional,
        return_sequences=estimator.return_sequences,
        vocab_size=None if embedding is None else embedding.shape[0],
        dropout=estimator.dropout)
    check_params_match(spec, weights)
    dtype = np.dtype(estimator.dtype)
    estimator._initialize(spec, np.random.default_rng(0), dtype)
    estimator.params_ = {name: np.ascontiguousarray(weights[name], dtype=dtype)
                         for name in _network.param_shapes(spec)}
    estimator._fit_on_2d = False
    estimator.n_features_in_ = 1 if embedding is not None else spec.n_features
    if embedding is not None:
        estimator.vocab_size_ = embedding.shape[0]
    _network.set_writeable(estimator.params_, False)
    estimator._cache_prediction_weights()


def to_onnx(estimator, X_sample, *, target_opset=None, lengths_input=False):
    """A fitted RNNClassifier or RNNRegressor as an ``onnx.ModelProto``.

    A shortcut to ``skrnn.onnx.to_onnx`` (see it for the model's inputs and outputs), which
    imports onnx and skl2onnx only when called.

    Parameters
    ----------
    estimator : fitted RNNClassifier or RNNRegressor
    X_sample : array-like or list of arrays
    target_opset : int, default=None
    lengths_input : bool, default=False

    Returns
    -------
    model : onnx.ModelProto
    """
    from .onnx import to_onnx as convert

    return convert(estimator, X_sample, target_opset=target_opset, lengths_input=lengths_input)
