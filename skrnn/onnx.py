"""ONNX export: fitted skrnn estimators and transformers as ONNX graphs, alone or in a
scikit-learn pipeline through skl2onnx.

Importing this module registers converters for ``RNNClassifier``, ``RNNRegressor``,
``SequenceScaler`` and ``SequenceImputer`` (strategies ``"mean"``, ``"median"`` and
``"constant"``) with skl2onnx, so ``skl2onnx.to_onnx(pipeline, X)`` converts a whole
``Pipeline``. ``import skrnn`` never imports it: it needs ``onnx`` and ``skl2onnx``
(``pip install "skrnn[onnx]"``, which adds ``onnxruntime`` to run the models).

The recurrent layers become ONNX's own ``RNN``/``LSTM``/``GRU`` operators (gates reordered
from PyTorch's i, f, g, o and r, z, n to ONNX's i, o, f, c and z, r, h; the GRU with
``linear_before_reset=1``, which is PyTorch's and skrnn's GRU), one operator per layer with
both directions in it, and ``sequence_lens`` carries each sequence's length, so the reverse
direction reads each sequence backwards from its own last valid step, as skrnn does.

Lengths come from the input's padding, as in ``predict``: trailing all-NaN steps of a float
array, trailing ``-1`` token ids. A 3-D array without padding is full length. With
``to_onnx(..., lengths_input=True)`` the model takes the lengths as a second input
``lengths`` instead (int64, one per sequence; steps after it are ignored, whatever they
hold). The graphs compute in float32, whatever the estimator's ``dtype``: ONNX Runtime's
recurrent operators run in float32 only. The graph does not validate its input: NaN inside
a sequence or unseen token ids give undefined results rather than ``predict``'s errors.
"""

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (DoubleTensorType, FloatTensorType, Int64TensorType,
                                            StringTensorType)
except ImportError as exc:  # pragma: no cover (installed in the test runs)
    raise ImportError("skrnn.onnx needs onnx and skl2onnx: pip install 'skrnn[onnx]'") from exc
from sklearn.utils.validation import check_is_fitted

from ._cells import CELLS
from ._estimators import RNNClassifier, RNNRegressor
from ._impute import SequenceImputer
from ._preprocessing import SequenceScaler

__all__ = ["to_onnx"]

#: the default opset: ONNX 1.12 (2022) and every onnxruntime since 1.12 read it
DEFAULT_OPSET = 17
#: the oldest opset with everything the graphs use (ReduceSum's axes as an input: 13;
#: the recurrent operators' current definitions: 14)
MIN_OPSET = 14

_ONNX_FLOAT = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class _Graph:
    """Nodes and constants of an ONNX graph under construction.

    ``unique`` turns a hint into a name not used elsewhere in the graph (skl2onnx's scope
    when the graph is part of a pipeline), so that several estimators can share one graph.
    """

    def __init__(self, unique):
        self.unique = unique
        self.nodes = []  # (op_type, inputs, outputs, name, attributes)
        self.constants = []  # (name, ndarray)

    def const(self, array, hint):
        name = self.unique(hint)
        self.constants.append((name, np.asarray(array)))
        return name

    def op(self, op_type, inputs, hint=None, n_outputs=1, outputs=None, **attributes):
        """Add a node; returns its output name (a list of them for ``n_outputs > 1``)."""
        if outputs is None:
            outputs = [self.unique(hint or op_type.lower()) for _ in range(n_outputs)]
        self.nodes.append((op_type, list(inputs), list(outputs), self.unique(op_type),
                           attributes))
        return outputs[0] if len(outputs) == 1 else outputs

    def onnx_nodes(self):
        return [helper.make_node(op, inputs, outputs, name=name, **attributes)
                for op, inputs, outputs, name, attributes in self.nodes]

    def onnx_initializers(self):
        return [_tensor(name, array) for name, array in self.constants]

    def add_to(self, container):
        """Copy into a skl2onnx container (inside ``skl2onnx.to_onnx``)."""
        for name, array in self.constants:
            if array.dtype.kind in "USO":
                container.add_initializer(name, TensorProto.STRING, list(array.shape),
                                          [str(value) for value in array.ravel()])
            else:
                container.add_initializer(name, None, None, _tensor(name, array))
        for op, inputs, outputs, name, attributes in self.nodes:
            container.add_node(op, inputs, outputs, name=name, op_version=container.target_opset,
                               **attributes)


def _tensor(name, array):
    if array.dtype.kind in "USO":
        return helper.make_tensor(name, TensorProto.STRING, array.shape,
                                  [str(value).encode() for value in array.ravel()])
    return numpy_helper.from_array(array, name)


def _int64s(g, *values):
    """An int64 vector constant (axes, shapes): ONNX wants int64 on every platform."""
    return g.const(np.array(values, np.int64), "int64s")


def _weight(estimator, name):
    """A fitted parameter in the graph's float32 (ONNX Runtime's recurrent operators run in
    float32 only, so a float64 estimator's model computes in float32)."""
    return estimator.params_[name].astype(np.float32)


# ---------------------------------------------------------------- lengths and padding

def _valid_steps_from_nan(g, x, two_d):
    """bool (N, T): steps before the trailing all-NaN ones (skrnn's padding rule)."""
    is_nan = g.op("Cast", [g.op("IsNaN", [x])], to=TensorProto.INT64)
    if two_d:
        step_has_value = g.op("Sub", [g.const(np.int64(1), "one"), is_nan])
    else:
        n_nan = g.op("ReduceSum", [is_nan, _int64s(g, 2)], keepdims=0)
        n_features = g.op("Gather", [g.op("Shape", [x]), g.const(np.int64(2), "axis2")])
        step_has_value = g.op("Cast", [g.op("Not", [g.op("Equal", [n_nan, n_features])])],
                              to=TensorProto.INT64)
    # a step is valid when it or a later step has a value: a reversed cumulative sum
    later_values = g.op("CumSum", [step_has_value, g.const(np.int64(1), "axis1")], reverse=1)
    return g.op("Greater", [later_values, g.const(np.int64(0), "zero")], hint="valid_steps")


def _sequence_lens(g, valid_steps):
    """int32 (N,) lengths, as ONNX's recurrent operators take them."""
    counts = g.op("ReduceSum", [g.op("Cast", [valid_steps], to=TensorProto.INT64),
                                _int64s(g, 1)], keepdims=0)
    return g.op("Cast", [counts], to=TensorProto.INT32, hint="sequence_lens")


def _network_input(g, estimator, x, lengths):
    """The recurrent layers' input, time-major (T, N, F), and the int32 lengths.

    ``x`` is what the user feeds (float (N, T, F), float (N, T) for a model fitted on 2-D
    input, int64 (N, T) token ids); ``lengths`` the optional lengths input's name.
    """
    spec = estimator._spec
    if spec.vocab_size is not None:
        valid = g.op("GreaterOrEqual", [x, g.const(np.int64(0), "zero")])
        ids = g.op("Where", [valid, x, g.const(np.int64(0), "zero")])
        embedded = g.op("Gather", [g.const(_weight(estimator, "embedding.weight"), "embedding"),
                                   ids], axis=0)
    else:
        two_d = estimator._fit_on_2d
        valid = None if lengths is not None else _valid_steps_from_nan(g, x, two_d)
        embedded = g.op("Where", [g.op("IsNaN", [x]), g.const(np.float32(0), "zero"), x])
        if two_d:
            embedded = g.op("Unsqueeze", [embedded, _int64s(g, 2)])
    if lengths is not None:
        sequence_lens = g.op("Cast", [lengths], to=TensorProto.INT32, hint="sequence_lens")
    else:
        sequence_lens = _sequence_lens(g, valid)
    return g.op("Transpose", [embedded], perm=[1, 0, 2], hint="time_major"), sequence_lens


# ---------------------------------------------------------------- the network

def _layer_constants(g, estimator, layer):
    """W, R, B of one layer in ONNX's layout: directions stacked, gates in ONNX's order."""
    spec = estimator._spec
    order = CELLS[spec.cell].onnx_gate_order
    hidden = spec.hidden_layer_sizes[layer]

    def onnx_gates(array):
        return np.concatenate([array[k * hidden:(k + 1) * hidden] for k in order])

    W, R, B = [], [], []
    for suffix in spec.suffixes:
        name = f"l{layer}{suffix}"
        W.append(onnx_gates(_weight(estimator, f"rnn.weight_ih_{name}")))
        R.append(onnx_gates(_weight(estimator, f"rnn.weight_hh_{name}")))
        B.append(np.concatenate([onnx_gates(_weight(estimator, f"rnn.bias_ih_{name}")),
                                 onnx_gates(_weight(estimator, f"rnn.bias_hh_{name}"))]))
    return (g.const(np.stack(W), f"W_l{layer}"), g.const(np.stack(R), f"R_l{layer}"),
            g.const(np.stack(B), f"B_l{layer}"))


def _recurrent_layers(g, estimator, x, sequence_lens):
    """The stacked layers; returns the head's input: (N, D*H), or (N, T, D*H) per step."""
    spec = estimator._spec
    attributes = {"direction": "bidirectional" if spec.bidirectional else "forward"}
    cell = CELLS[spec.cell]
    if cell.takes_activation:
        attributes["activations"] = [spec.activation.capitalize()] * spec.n_directions
    attributes.update(cell.onnx_attributes)
    merge_directions = _int64s(g, 0, 0, -1)
    for layer, hidden in enumerate(spec.hidden_layer_sizes):
        W, R, B = _layer_constants(g, estimator, layer)
        y, y_h = g.op(cell.onnx_op, [x, W, R, B, sequence_lens], n_outputs=2,
                      hint=f"layer{layer}", hidden_size=hidden, **attributes)
        # Y (T, D, N, H) -> (T, N, D*H): forward then reverse, as skrnn concatenates them
        x = g.op("Reshape", [g.op("Transpose", [y], perm=[0, 2, 1, 3]), merge_directions])
    if spec.return_sequences:
        return g.op("Transpose", [x], perm=[1, 0, 2], hint="features")
    # Y_h (D, N, H) of the last layer: each direction's state after its last valid step
    return g.op("Reshape", [g.op("Transpose", [y_h], perm=[1, 0, 2]),
                            _int64s(g, 0, -1)], hint="features")


def _linked_outputs(g, estimator, x, lengths):
    """The head's output after the link (identity, sigmoid or softmax): (N[, T], k)."""
    x, sequence_lens = _network_input(g, estimator, x, lengths)
    features = _recurrent_layers(g, estimator, x, sequence_lens)
    head_weight = g.const(_weight(estimator, "head.weight").T, "head_W")
    head_bias = g.const(_weight(estimator, "head.bias"), "head_b")
    raw = g.op("Add", [g.op("MatMul", [features, head_weight]), head_bias], hint="raw")
    link = estimator._loss_name()
    if link == "sigmoid_log_loss":
        return g.op("Sigmoid", [raw])
    if link == "softmax_log_loss":
        return g.op("Softmax", [raw], axis=-1)
    return raw


def _regressor(g, estimator, x, lengths, variable):
    linked = _linked_outputs(g, estimator, x, lengths)
    if estimator._y_ndim == 1:
        g.op("Squeeze", [linked, _int64s(g, -1)], outputs=[variable])
    else:
        g.op("Identity", [linked], outputs=[variable])


def _classifier(g, estimator, x, lengths, label, probabilities):
    linked = _linked_outputs(g, estimator, x, lengths)
    if estimator._target_type == "multilabel-indicator":
        g.op("Identity", [linked], outputs=[probabilities])
        g.op("Cast", [g.op("Greater", [linked, g.const(np.float32(0.5), "half")])],
             outputs=[label], to=TensorProto.INT64)
        return
    if estimator.n_outputs_ == 1:  # binary: the positive class's probability
        negative = g.op("Sub", [g.const(np.float32(1), "one"), linked])
        g.op("Concat", [negative, linked], outputs=[probabilities], axis=-1)
    else:
        g.op("Identity", [linked], outputs=[probabilities])
    # argmax of (1 - p, p) is class 1 exactly when p > 0.5, as in predict
    best = g.op("ArgMax", [probabilities], axis=-1, keepdims=0)
    g.op("Gather", [g.const(_label_array(estimator.classes_), "classes"), best],
         outputs=[label], axis=0)


def _label_array(classes):
    """classes_ as an ONNX-typable array: int64, float or str."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        return classes
    if classes.dtype.kind in "UO" and all(isinstance(c, str) for c in classes):
        return classes.astype(str)
    raise ValueError(f"ONNX labels are integers, floats or strings; classes_ holds "
                     f"{classes.dtype} values ({classes[:3]!r}). Refit on labels of one of "
                     "those types.")


def _label_type(estimator):
    if estimator._target_type == "multilabel-indicator":
        return TensorProto.INT64
    labels = _label_array(estimator.classes_)
    return (TensorProto.STRING if labels.dtype.kind == "U"
            else helper.np_dtype_to_tensor_dtype(labels.dtype))


# ---------------------------------------------------------------- to_onnx

def _check_estimator(estimator):
    if not isinstance(estimator, (RNNClassifier, RNNRegressor)):
        raise TypeError(f"to_onnx converts a fitted RNNClassifier or RNNRegressor; got "
                        f"{type(estimator).__name__}. For a Pipeline, import skrnn.onnx and "
                        "call skl2onnx.to_onnx(pipeline, X).")
    check_is_fitted(estimator, "params_")


def _check_opset(target_opset):
    if target_opset is None:
        return DEFAULT_OPSET
    if isinstance(target_opset, dict):
        target_opset = target_opset.get("", DEFAULT_OPSET)
    if not isinstance(target_opset, (int, np.integer)) or isinstance(target_opset, bool):
        raise TypeError(f"target_opset must be an int; got {target_opset!r}.")
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= target_opset <= newest:
        raise ValueError(f"target_opset must be between {MIN_OPSET} (the recurrent operators' "
                         f"current definitions) and {newest} (the newest this onnx package "
                         f"knows); got {target_opset}.")
    return int(target_opset)


def _input_info(estimator, X_sample):
    """ONNX input type of X, from the estimator (checked against ``X_sample``)."""
    estimator._validate_sequences(X_sample, reset=False)  # a clear error for a wrong sample
    if estimator._spec.vocab_size is not None:
        return helper.make_tensor_value_info("X", TensorProto.INT64, ["N", "T"])
    elem = TensorProto.FLOAT
    if estimator._fit_on_2d:
        return helper.make_tensor_value_info("X", elem, ["N", estimator.n_features_in_])
    return helper.make_tensor_value_info("X", elem, ["N", "T", estimator.n_features_in_])


def to_onnx(estimator, X_sample, *, target_opset=None, lengths_input=False):
    """A fitted RNNClassifier or RNNRegressor as an ONNX model.

    The model's input ``X`` takes what ``predict`` takes as an array: float32
    ``(N, T, F)``, float ``(N, T)`` when it was fitted on 2-D input, or int64
    ``(N, T)`` token ids with ``embedding_dim``; ragged batches padded with trailing NaN
    steps (or ``-1`` ids), or with ``lengths_input=True`` padded with anything and their
    lengths in a second input ``lengths`` (int64 ``(N,)``).

    Outputs, named as skl2onnx names them: a regressor's ``variable`` (``predict``'s
    values, ``(N,)`` or ``(N, n_outputs)``); a classifier's ``label`` (``predict``) and
    ``probabilities`` (``predict_proba``). With ``return_sequences`` each gains a time axis
    after the first, ``(N, T, ...)``; entries at padded steps are meaningless (``predict``
    leaves them out).

    Parameters
    ----------
    estimator : fitted RNNClassifier or RNNRegressor
    X_sample : array-like or list of arrays
        A few sequences in the form the model will see; checked against the estimator
        (feature count, token ids).
    target_opset : int, default=None
        ONNX opset of the model, 14 or later; None: 17.
    lengths_input : bool, default=False
        Take the sequence lengths as a second input instead of reading X's padding.

    Returns
    -------
    model : onnx.ModelProto

    Examples
    --------
    >>> import numpy as np, onnxruntime
    >>> from skrnn import RNNRegressor
    >>> from skrnn.onnx import to_onnx
    >>> X = np.random.default_rng(0).normal(size=(200, 10, 2)).astype(np.float32)
    >>> model = RNNRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50,
    ...                      random_state=0).fit(X, X[:, :, 0].sum(axis=1))
    >>> session = onnxruntime.InferenceSession(to_onnx(model, X).SerializeToString())
    >>> onnx_pred = session.run(["variable"], {"X": X})[0]
    >>> bool(np.allclose(onnx_pred, model.predict(X), atol=1e-5))
    True
    """
    _check_estimator(estimator)
    opset = _check_opset(target_opset)
    x_info = _input_info(estimator, X_sample)
    inputs = [x_info]
    if lengths_input:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT64, ["N"]))
    used = {"X", "lengths", "label", "probabilities", "variable"}

    def unique(hint):
        name, k = hint, 1
        while name in used:
            name, k = f"{hint}_{k}", k + 1
        used.add(name)
        return name

    g = _Graph(unique)
    lengths = "lengths" if lengths_input else None
    per_step = ["N", "T"] if estimator.return_sequences else ["N"]
    elem = TensorProto.FLOAT
    if isinstance(estimator, RNNClassifier):
        _classifier(g, estimator, "X", lengths, "label", "probabilities")
        label_shape = per_step + ([len(estimator.classes_)]
                                  if estimator._target_type == "multilabel-indicator" else [])
        outputs = [helper.make_tensor_value_info("label", _label_type(estimator),
                                                 label_shape),
                   helper.make_tensor_value_info("probabilities", elem,
                                                 per_step + [len(estimator.classes_)])]
    else:
        _regressor(g, estimator, "X", lengths, "variable")
        shape = per_step + ([] if estimator._y_ndim == 1 else [estimator.n_outputs_])
        outputs = [helper.make_tensor_value_info("variable", elem, shape)]
    graph = helper.make_graph(g.onnx_nodes(), f"skrnn_{type(estimator).__name__}", inputs,
                              outputs, initializer=g.onnx_initializers())
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="skrnn")
    model.ir_version = min(model.ir_version, _IR_VERSION_BY_OPSET.get(opset, model.ir_version))
    onnx.checker.check_model(model)
    return model


# the IR version each opset came with: runtimes of that time read no newer one
_IR_VERSION_BY_OPSET = {14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


# ---------------------------------------------------------------- skl2onnx converters

def _tensor_type(onnx_elem):
    return {TensorProto.FLOAT: FloatTensorType, TensorProto.DOUBLE: DoubleTensorType,
            TensorProto.INT64: Int64TensorType, TensorProto.STRING: StringTensorType}[onnx_elem]


def _rnn_shape_calculator(operator):
    estimator = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    per_step = [n, None] if estimator.return_sequences else [n]
    elem = TensorProto.FLOAT
    if isinstance(estimator, RNNClassifier):
        multilabel = estimator._target_type == "multilabel-indicator"
        label_shape = per_step + ([len(estimator.classes_)] if multilabel else [])
        operator.outputs[0].type = _tensor_type(_label_type(estimator))(label_shape)
        operator.outputs[1].type = _tensor_type(elem)(per_step + [len(estimator.classes_)])
    else:
        shape = per_step + ([] if estimator._y_ndim == 1 else [estimator.n_outputs_])
        operator.outputs[0].type = _tensor_type(elem)(shape)


def _model_input(g, estimator, variable):
    """The input variable cast to the graph's type (a pipeline may hand over float64)."""
    to = TensorProto.INT64 if estimator._spec.vocab_size is not None else TensorProto.FLOAT
    return g.op("Cast", [variable.full_name], to=to)


def _rnn_converter(scope, operator, container):
    estimator = operator.raw_operator
    g = _Graph(scope.get_unique_variable_name)
    x = _model_input(g, estimator, operator.inputs[0])
    if isinstance(estimator, RNNClassifier):
        _classifier(g, estimator, x, None, operator.outputs[0].full_name,
                    operator.outputs[1].full_name)
    else:
        _regressor(g, estimator, x, None, operator.outputs[0].full_name)
    g.add_to(container)


def _transformer_shape_calculator(operator):
    """The input's type and shape, with the indicator columns of a SequenceImputer."""
    source, transformer = operator.inputs[0].type, operator.raw_operator
    shape = list(source.shape)
    if (isinstance(transformer, SequenceImputer) and transformer.add_indicator
            and transformer.indicator_features_.size):
        width = transformer._step_features + transformer.indicator_features_.size
        shape = shape[:2] + [width]  # univariate 2-D input comes back 3-D
    operator.outputs[0].type = type(source)(shape)


def _scaler_converter(scope, operator, container):
    scaler = operator.raw_operator
    g = _Graph(scope.get_unique_variable_name)
    x = operator.inputs[0].full_name
    dtype = _input_numpy_dtype(operator)
    offset = 0.0 if scaler.method == "standard" else scaler.feature_range[0]
    centred = g.op("Sub", [x, g.const(scaler.center_.astype(dtype), "center")])
    scaled = g.op("Div", [centred, g.const(scaler.scale_.astype(dtype), "scale")])
    g.op("Add", [scaled, g.const(dtype.type(offset), "offset")],
         outputs=[operator.outputs[0].full_name])
    g.add_to(container)


def _imputer_converter(scope, operator, container):
    imputer = operator.raw_operator
    if imputer.strategy not in ("mean", "median", "constant"):
        raise NotImplementedError(
            f"skrnn.onnx converts SequenceImputer with strategy 'mean', 'median' or "
            f"'constant'; strategy={imputer.strategy!r} fills from each sequence's own "
            "neighbours, which has no ONNX converter. Use one of those, or impute before "
            "the ONNX model.")
    g = _Graph(scope.get_unique_variable_name)
    x = operator.inputs[0].full_name
    dtype = _input_numpy_dtype(operator)
    two_d = imputer._fit_on_2d
    valid = _valid_steps_from_nan(g, x, two_d)
    if not two_d:
        valid = g.op("Unsqueeze", [valid, _int64s(g, 2)])
    missing = g.op("And", [g.op("IsNaN", [x]), valid], hint="missing")
    statistics = g.const(imputer.statistics_.astype(dtype), "statistics")
    filled = g.op("Where", [missing, statistics, x])
    if not (imputer.add_indicator and imputer.indicator_features_.size):
        g.op("Identity", [filled], outputs=[operator.outputs[0].full_name])
    else:
        if two_d:  # univariate 2-D input comes back 3-D with the indicator
            filled = g.op("Unsqueeze", [filled, _int64s(g, 2)])
            missing = g.op("Unsqueeze", [missing, _int64s(g, 2)])
            valid = g.op("Unsqueeze", [valid, _int64s(g, 2)])
        with_indicator = g.const(imputer.indicator_features_.astype(np.int64), "with_indicator")
        was_missing = g.op("Gather", [missing, with_indicator], axis=2)
        indicator = g.op("Where", [valid, g.op("Cast", [was_missing], to=_ONNX_FLOAT[dtype]),
                                   g.const(dtype.type(np.nan), "nan")])
        g.op("Concat", [filled, indicator], outputs=[operator.outputs[0].full_name], axis=2)
    g.add_to(container)


def _input_numpy_dtype(operator):
    return np.dtype(np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType)
                    else np.float32)


def _register():
    classifier_options = {"zipmap": [True, False, "columns"], "nocl": [True, False]}
    update_registered_converter(RNNClassifier, "SkrnnRNNClassifier", _rnn_shape_calculator,
                                _rnn_converter, options=classifier_options)
    update_registered_converter(RNNRegressor, "SkrnnRNNRegressor", _rnn_shape_calculator,
                                _rnn_converter)
    update_registered_converter(SequenceScaler, "SkrnnSequenceScaler", _transformer_shape_calculator,
                                _scaler_converter)
    update_registered_converter(SequenceImputer, "SkrnnSequenceImputer",
                                _transformer_shape_calculator, _imputer_converter)


_register()
