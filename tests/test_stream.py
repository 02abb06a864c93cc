"""Stream and generate: predictions step by step equal predict's, sampling that reproduces."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNRegressor, Stream, generate


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _splits(n_steps, rng):
    """Cut points splitting n_steps into pushes of 1 to 4 steps."""
    cuts, at = [], 0
    while at < n_steps:
        size = int(rng.integers(1, 5))
        cuts.append((at, min(at + size, n_steps)))
        at += size
    return cuts


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("tokens", [False, True])
def test_stream_equals_predict_on_every_prefix(cell, dtype, per_step, tokens):
    rng = np.random.default_rng(0)
    T = 9
    if tokens:
        X = rng.integers(0, 7, size=(40, T))
        y = np.roll(X, -1, axis=1) if per_step else X[:, 0]
        est = RNNClassifier(cell=cell, hidden_layer_sizes=(6, 5), embedding_dim=3, dtype=dtype,
                            return_sequences=per_step, max_iter=2, random_state=0)
    else:
        X = rng.normal(size=(40, T, 2))
        y = X[:, :, :1].cumsum(axis=1)[:, :, 0] if per_step else X[:, :, 0].sum(axis=1)
        est = RNNRegressor(cell=cell, hidden_layer_sizes=(6, 5), dtype=dtype,
                           return_sequences=per_step, max_iter=2, random_state=0)
    _fit(est, X, y)
    sequence = X[3]
    stream = Stream(est)
    pushed = []
    for start, stop in _splits(T, rng):
        out = stream.push(sequence[start:stop])
        prefix = sequence[None, :stop]
        expected = est.predict(prefix)
        if per_step:
            pushed.append(out)
            np.testing.assert_array_equal(np.concatenate(pushed), expected[0])
        else:
            np.testing.assert_array_equal(out, expected[0])
        if tokens:
            proba = est.predict_proba(prefix)
            # the probabilities of the last step: the stream has advanced already
            assert proba.shape[-1] == len(est.classes_)
        assert stream.n_steps_ == stop
    stream.reset()
    assert stream.n_steps_ == 0
    first = stream.push(sequence[:1])
    np.testing.assert_array_equal(np.atleast_1d(first).ravel(),
                                  np.atleast_1d(est.predict(sequence[None, :1])[0]).ravel())


def test_stream_probabilities_equal_predict_proba_and_pickle():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 9, size=(50, 12))
    est = _fit(RNNClassifier(cell="lstm", hidden_layer_sizes=(8,), embedding_dim=4,
                             return_sequences=True, max_iter=2, random_state=0),
               X, np.roll(X, -1, axis=1))
    stream = Stream(est)
    first = stream.push_proba(X[0, :5])
    np.testing.assert_array_equal(first, est.predict_proba(X[:1, :5])[0])
    restored = pickle.loads(pickle.dumps(stream))  # the carried state goes with it
    np.testing.assert_array_equal(restored.push_proba(X[0, 5:]),
                                  est.predict_proba(X[:1])[0][5:])
    np.testing.assert_array_equal(stream.push(X[0, 5:]), est.predict(X[:1])[0][5:])


def test_stream_univariate_2d_model_takes_any_number_of_steps():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 6))
    est = _fit(RNNRegressor(cell="gru", hidden_layer_sizes=(4,), max_iter=2, random_state=0),
               X, X.sum(axis=1))
    stream = Stream(est)
    stream.push(X[0, :5])
    assert stream.push(X[0, 5]) == est.predict(X[:1])[0]  # a scalar is one step
    assert np.isfinite(stream.push(np.ones(10)))  # longer than the fitted columns


def test_stream_errors():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 5, 3))
    est = _fit(RNNRegressor(hidden_layer_sizes=(4,), max_iter=1), X, X[:, 0, 0])
    stream = Stream(est)
    with pytest.raises(ValueError, match=r"steps must be \(n_new, 3\)"):
        stream.push(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"steps must be \(n_new, 3\)"):
        stream.push(np.ones((0, 3)))
    with pytest.raises(ValueError, match="NaN or infinity.*SequenceImputer"):
        stream.push(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(TypeError, match="numbers"):
        stream.push(np.array([["a", "b", "c"]]))
    assert stream.n_steps_ == 0  # nothing consumed by a rejected push
    with pytest.raises(TypeError, match="classifier"):
        stream.push_proba(np.ones((1, 3)))
    bidirectional = _fit(RNNRegressor(hidden_layer_sizes=(4,), bidirectional=True, max_iter=1),
                         X, X[:, 0, 0])
    with pytest.raises(ValueError, match="unidirectional"):
        Stream(bidirectional)
    with pytest.raises(Exception, match="not fitted"):
        Stream(RNNRegressor())
    ids = rng.integers(0, 5, size=(20, 6))
    tokens = _fit(RNNClassifier(hidden_layer_sizes=(4,), embedding_dim=2, max_iter=1),
                  ids, ids[:, 0] % 2)
    with pytest.raises(ValueError, match=r"token id 5, outside the vocabulary"):
        Stream(tokens).push([1, 5])
    with pytest.raises(ValueError, match=r"token id -1"):
        Stream(tokens).push([-1])
    with pytest.raises(TypeError, match="integers"):
        Stream(tokens).push([0.5 > 0])


def test_token_models_take_any_number_of_time_steps():
    """Token-id columns are time steps: a model fitted on 40 steps predicts a 13-step prompt,
    and a one-item list stays a list of sequences."""
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 6, size=(30, 40))
    est = _fit(RNNClassifier(cell="gru", hidden_layer_sizes=(5,), embedding_dim=3,
                             return_sequences=True, max_iter=1, random_state=0),
               ids, np.roll(ids, -1, axis=1))
    assert est.n_features_in_ == 1
    prompt = ids[0, :13]
    short = est.predict(prompt[None])
    assert short.shape == (1, 13)
    as_list = est.predict([prompt])
    assert isinstance(as_list, list) and len(as_list) == 1
    np.testing.assert_array_equal(as_list[0], short[0])
    longer = est.predict(np.concatenate([ids[:2], ids[:2]], axis=1))
    assert longer.shape == (2, 80)


def _cyclic_language_model():
    """A deterministic toy language: 0 1 2 3 4 5 0 1 2 ..."""
    ids = (np.arange(20)[None, :] + np.arange(60)[:, None]) % 6  # every phase
    return _fit(RNNClassifier(cell="gru", hidden_layer_sizes=(24,), embedding_dim=6,
                              return_sequences=True, learning_rate_init=0.02, batch_size=20,
                              max_iter=60, random_state=0), ids[:, :-1], ids[:, 1:])


def test_greedy_generation_reproduces_a_deterministic_language():
    est = _cyclic_language_model()
    assert generate(est, [3, 4], 14, temperature=0).tolist() == [
        5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0]
    assert generate(est, [3, 4], 0).shape == (0,)


def test_sampling_is_reproducible_and_follows_temperature_and_top_k():
    est = _cyclic_language_model()
    hot = generate(est, [0], 60, temperature=5.0, random_state=7)
    np.testing.assert_array_equal(hot, generate(est, [0], 60, temperature=5.0, random_state=7))
    assert not np.array_equal(hot, generate(est, [0], 60, temperature=5.0, random_state=8))
    assert set(hot) <= set(range(6)) and len(set(hot)) > 3  # flattened: many tokens
    # top_k=1 is greedy whatever the temperature
    np.testing.assert_array_equal(generate(est, [0], 12, temperature=5.0, top_k=1,
                                           random_state=1), generate(est, [0], 12, temperature=0))


def test_generate_values_equals_feeding_predictions_back():
    rng = np.random.default_rng(5)
    t = np.arange(400) * 0.3
    series = np.sin(t) + 0.05 * rng.normal(size=t.shape)
    X = np.stack([series[i:i + 30] for i in range(300)])[:, :, None]
    est = _fit(RNNRegressor(cell="lstm", hidden_layer_sizes=(8,), return_sequences=True,
                            max_iter=3, random_state=0), X[:, :-1], X[:, 1:, 0])
    prompt = series[:20]
    out = generate(est, prompt, 5)
    history = list(prompt)
    for value in out:  # predict on the whole prefix, the slow way
        expected = est.predict(np.array(history)[None, :, None])[0, -1]
        assert value == expected
        history.append(value)


def test_generate_errors():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(20, 5, 2))
    clf = _fit(RNNClassifier(hidden_layer_sizes=(3,), max_iter=1), X, X[:, 0, 0] > 0)
    with pytest.raises(ValueError, match="token ids"):
        generate(clf, X[0], 3)
    reg = _fit(RNNRegressor(hidden_layer_sizes=(3,), max_iter=1), X, X[:, 0, 0])
    with pytest.raises(ValueError, match="predict its 2 input feature"):
        generate(reg, X[0], 3)
    est = _cyclic_language_model()
    for bad in (dict(temperature=-1), dict(temperature=np.inf), dict(top_k=0)):
        with pytest.raises(ValueError, match="temperature|top_k"):
            generate(est, [0], 3, **bad)
    with pytest.raises(ValueError, match="n_steps"):
        generate(est, [0], -1)
