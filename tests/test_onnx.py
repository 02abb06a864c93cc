"""ONNX export: onnxruntime's outputs against predict/predict_proba, case by case."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import Pipeline

from skrnn import RNNClassifier, RNNRegressor, SequenceImputer, SequenceScaler

pytest.importorskip("onnx")
pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

import skl2onnx  # noqa: E402

import skrnn  # noqa: E402
from skrnn.onnx import to_onnx  # noqa: E402

ATOL = 1e-5  # float32
SMALL = dict(hidden_layer_sizes=(6,), max_iter=4, random_state=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(estimator, X, **kwargs):
    """onnxruntime's outputs for X (its lengths as a second input if given)."""
    lengths = kwargs.pop("lengths", None)
    model = to_onnx(estimator, X, lengths_input=lengths is not None, **kwargs)
    feed = {"X": X}
    if lengths is not None:
        feed["lengths"] = np.asarray(lengths, dtype=np.int64)
    return _session(model).run(None, feed)


def _ragged(rng, n=24, n_features=3, low=3, high=9):
    return [rng.normal(size=(int(t), n_features)).astype(np.float32)
            for t in rng.integers(low, high, size=n)]


def _nan_padded(seqs):
    T = max(len(s) for s in seqs)
    X = np.full((len(seqs), T, seqs[0].shape[1]), np.nan, np.float32)
    for i, s in enumerate(seqs):
        X[i, :len(s)] = s
    return X


def _zero_padded(seqs):
    return np.nan_to_num(_nan_padded(seqs)), np.array([len(s) for s in seqs])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("cell, activation", [("rnn", "tanh"), ("rnn", "relu"),
                                              ("lstm", "tanh"), ("gru", "tanh")])
@pytest.mark.parametrize("layers, bidirectional", [((6,), False), ((6, 4), False),
                                                   ((5,), True), ((6, 4), True)])
def test_regressor_matches_predict_for_every_cell_and_layout(rng, cell, activation, layers,
                                                             bidirectional):
    seqs = _ragged(rng)
    y = np.array([s[:, 0].sum() for s in seqs])
    est = RNNRegressor(cell=cell, activation=activation, hidden_layer_sizes=layers,
                       bidirectional=bidirectional, max_iter=4, random_state=0).fit(seqs, y)
    X = _nan_padded(seqs)
    (onnx_pred,) = _run(est, X)
    assert onnx_pred.shape == (len(seqs),)
    np.testing.assert_allclose(onnx_pred, est.predict(seqs), atol=ATOL, rtol=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_lengths_input_ignores_what_pads_the_sequences(rng, cell):
    seqs = _ragged(rng)
    Y = np.stack([s[:2, :2].sum(0) for s in seqs])  # two outputs
    est = RNNRegressor(cell=cell, hidden_layer_sizes=(6, 5), bidirectional=True, max_iter=4,
                       random_state=0).fit(seqs, Y)
    X, lengths = _zero_padded(seqs)
    beyond = np.arange(X.shape[1])[None, :, None] >= lengths[:, None, None]
    X = np.where(beyond, np.float32(7), X)  # whatever is there beyond the lengths
    (onnx_pred,) = _run(est, X, lengths=lengths)
    assert onnx_pred.shape == (len(seqs), 2)
    np.testing.assert_allclose(onnx_pred, est.predict(seqs), atol=ATOL, rtol=0)


def test_unpadded_array_is_full_length(rng):
    X = rng.normal(size=(16, 7, 2)).astype(np.float32)
    est = RNNRegressor(cell="gru", bidirectional=True, **SMALL).fit(X, X[:, -1, 0])
    (onnx_pred,) = _run(est, X)
    np.testing.assert_allclose(onnx_pred, est.predict(X), atol=ATOL, rtol=0)


def test_model_fitted_on_2d_input(rng):
    X = rng.normal(size=(20, 9)).astype(np.float32)
    X[2, 6:] = np.nan
    est = RNNRegressor(cell="lstm", **SMALL).fit(X, np.nan_to_num(X).sum(1))
    (onnx_pred,) = _run(est, X)
    np.testing.assert_allclose(onnx_pred, est.predict(X), atol=ATOL, rtol=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_binary_classifier_labels_and_probabilities(rng, cell):
    seqs = _ragged(rng, n=40)
    y = np.array(["up" if s[:, 0].sum() > 0 else "down" for s in seqs])
    est = RNNClassifier(cell=cell, hidden_layer_sizes=(6, 4), bidirectional=True, max_iter=4,
                        random_state=0).fit(seqs, y)
    label, proba = _run(est, _nan_padded(seqs))
    np.testing.assert_allclose(proba, est.predict_proba(seqs), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(label, est.predict(seqs))


def test_multiclass_classifier(rng):
    seqs = _ragged(rng, n=45)
    y = np.array([int(np.argmax(s.mean(0))) for s in seqs]) * 10  # labels 0, 10, 20
    est = RNNClassifier(cell="gru", **SMALL).fit(seqs, y)
    label, proba = _run(est, _nan_padded(seqs))
    assert proba.shape == (45, 3) and label.dtype == np.int64
    np.testing.assert_allclose(proba, est.predict_proba(seqs), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(label, est.predict(seqs))


def test_multilabel_classifier(rng):
    seqs = _ragged(rng, n=30)
    Y = np.array([[s[:, 0].mean() > 0, s[:, 1].mean() > 0, s[:, 2].mean() > 0]
                  for s in seqs]).astype(int)
    est = RNNClassifier(cell="lstm", **SMALL).fit(seqs, Y)
    label, proba = _run(est, _nan_padded(seqs))
    np.testing.assert_allclose(proba, est.predict_proba(seqs), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(label, est.predict(seqs))


def test_embeddings_with_padded_token_ids(rng):
    tokens = [rng.integers(0, 12, size=int(t)) for t in rng.integers(2, 8, size=30)]
    y = np.array([int((t == 3).any()) for t in tokens])
    est = RNNClassifier(cell="lstm", embedding_dim=4, bidirectional=True, **SMALL).fit(tokens, y)
    X = np.full((30, 7), -1, np.int64)
    for i, t in enumerate(tokens):
        X[i, :len(t)] = t
    label, proba = _run(est, X)
    np.testing.assert_allclose(proba, est.predict_proba(tokens), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(label, est.predict(tokens))


def _valid(per_step, lengths):
    return np.concatenate([row[:n] for row, n in zip(per_step, lengths)])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_per_step_regressor_on_ragged_batch(rng, cell):
    seqs = _ragged(rng)
    y = [np.cumsum(s[:, 0]) for s in seqs]
    est = RNNRegressor(cell=cell, return_sequences=True, hidden_layer_sizes=(6, 4),
                       bidirectional=True, max_iter=4, random_state=0).fit(seqs, y)
    lengths = [len(s) for s in seqs]
    (onnx_pred,) = _run(est, _nan_padded(seqs))
    assert onnx_pred.shape == (len(seqs), max(lengths))
    np.testing.assert_allclose(_valid(onnx_pred, lengths), np.concatenate(est.predict(seqs)),
                               atol=ATOL, rtol=0)


def test_per_step_classifier(rng):
    seqs = _ragged(rng)
    y = [(s[:, 0] > 0).astype(int) + (s[:, 1] > 1) for s in seqs]  # classes 0, 1, 2
    est = RNNClassifier(cell="gru", return_sequences=True, **SMALL).fit(seqs, y)
    X, lengths = _zero_padded(seqs)
    label, proba = _run(est, X, lengths=lengths)
    np.testing.assert_allclose(_valid(proba, lengths),
                               np.concatenate(est.predict_proba(seqs)), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(_valid(label, lengths), np.concatenate(est.predict(seqs)))


def test_float64_estimator_runs_in_float32(rng):
    seqs = _ragged(rng)
    est = RNNRegressor(cell="lstm", dtype="float64", **SMALL).fit(
        seqs, [s[0, 0] for s in seqs])
    (onnx_pred,) = _run(est, _nan_padded(seqs))
    assert onnx_pred.dtype == np.float32
    np.testing.assert_allclose(onnx_pred, est.predict(seqs), atol=ATOL, rtol=0)


def test_pipeline_through_skl2onnx(rng):
    seqs = [3 + 2 * s for s in _ragged(rng, n=40)]
    y = np.array([int(s[:, 0].mean() > 3) for s in seqs])
    pipe = Pipeline([("scale", SequenceScaler()),
                     ("rnn", RNNClassifier(cell="gru", bidirectional=True, **SMALL))]).fit(seqs, y)
    X = _nan_padded(seqs)
    model = skl2onnx.to_onnx(pipe, X, options={id(pipe.steps[-1][1]): {"zipmap": False}})
    label, proba = _session(model).run(None, {"X": X} if model.graph.input[0].name == "X"
                                       else {model.graph.input[0].name: X})
    np.testing.assert_allclose(proba, pipe.predict_proba(seqs), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(label, pipe.predict(seqs))
    # the default (a ZipMap of probabilities, as for scikit-learn's classifiers) converts too
    default = skl2onnx.to_onnx(pipe, X)
    labels, dicts = _session(default).run(None, {default.graph.input[0].name: X})
    np.testing.assert_allclose([d[1] for d in dicts], proba[:, 1], atol=1e-7)


@pytest.mark.parametrize("strategy, add_indicator", [("mean", False), ("median", True),
                                                     ("constant", True)])
def test_pipeline_with_imputer_and_regressor(rng, strategy, add_indicator):
    seqs = _ragged(rng, n=30)
    for s in seqs[::3]:
        s[1, 0] = np.nan  # missing values inside sequences
    seqs[4][:, 1] = np.nan
    y = np.array([np.nanmean(s[:, 0]) for s in seqs])
    pipe = Pipeline([("impute", SequenceImputer(strategy=strategy, add_indicator=add_indicator)),
                     ("scale", SequenceScaler(method="minmax")),
                     ("rnn", RNNRegressor(cell="lstm", **SMALL))]).fit(seqs, y)
    X = _nan_padded(seqs).astype(np.float64)  # a float64 input: the graph casts it
    model = skl2onnx.to_onnx(pipe, X)
    (onnx_pred,) = _session(model).run(None, {model.graph.input[0].name: X})
    np.testing.assert_allclose(np.ravel(onnx_pred), pipe.predict(seqs), atol=ATOL, rtol=0)


def test_pipeline_on_univariate_2d_input_with_indicator(rng):
    X = rng.normal(size=(30, 8))
    X[::4, 2] = np.nan  # missing
    X[1, 5:] = np.nan  # padding
    pipe = Pipeline([("impute", SequenceImputer(add_indicator=True)),
                     ("rnn", RNNRegressor(cell="gru", **SMALL))]).fit(X, np.nansum(X, axis=1))
    model = skl2onnx.to_onnx(pipe, X)
    (onnx_pred,) = _session(model).run(None, {model.graph.input[0].name: X})
    np.testing.assert_allclose(np.ravel(onnx_pred), pipe.predict(X), atol=ATOL, rtol=0)


def test_imputer_strategies_without_converter_say_so(rng):
    seqs = _ragged(rng)
    pipe = Pipeline([("impute", SequenceImputer(strategy="ffill")),
                     ("rnn", RNNRegressor(**SMALL))]).fit(seqs, [s[0, 0] for s in seqs])
    with pytest.raises(NotImplementedError, match="'mean', 'median' or 'constant'"):
        skl2onnx.to_onnx(pipe, _nan_padded(seqs))


def test_errors(rng):
    X = rng.normal(size=(10, 5, 2)).astype(np.float32)
    with pytest.raises(NotFittedError):
        to_onnx(RNNRegressor(), X)
    with pytest.raises(TypeError, match="RNNClassifier or RNNRegressor"):
        to_onnx(SequenceScaler().fit(X), X)
    est = RNNRegressor(**SMALL).fit(X, X[:, 0, 0])
    with pytest.raises(ValueError, match="target_opset"):
        to_onnx(est, X, target_opset=11)
    with pytest.raises(ValueError, match="features"):
        to_onnx(est, X[:, :, :1])


def test_labels_onnx_cannot_hold_are_refused(rng):
    X = rng.normal(size=(10, 5, 2)).astype(np.float32)
    dates = np.array(["2020-01-01", "2021-01-01"] * 5, dtype="datetime64[D]")
    est = RNNClassifier(**SMALL).fit(X, dates)
    with pytest.raises(ValueError, match="integers, floats or strings"):
        to_onnx(est, X)


def test_opsets_and_top_level_wrapper(rng):
    X = rng.normal(size=(12, 4, 2)).astype(np.float32)
    est = RNNRegressor(cell="gru", **SMALL).fit(X, X[:, 0, 0])
    for opset in (14, 18):
        (pred,) = _session(to_onnx(est, X, target_opset=opset)).run(None, {"X": X})
        np.testing.assert_allclose(pred, est.predict(X), atol=ATOL, rtol=0)
    assert skrnn.to_onnx(est, X).graph.output[0].name == "variable"


def test_import_skrnn_does_not_import_onnx():
    code = "import sys, skrnn; assert not {'onnx', 'skl2onnx', 'skrnn.onnx'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
