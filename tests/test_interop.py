"""to_torch and from_torch_state_dict (skipped without PyTorch)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNRegressor, to_torch

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(seed=0, n=40, T=7, F=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F)).astype(np.float32)
    return X, X[:, :, 0].sum(axis=1), (X[:, :, 1].sum(axis=1) > 0).astype(int)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_to_torch_regressor_matches_predict(cell, bidirectional):
    X, y, _ = _data()
    reg = RNNRegressor(cell=cell, hidden_layer_sizes=(8, 8), bidirectional=bidirectional,
                       max_iter=3, random_state=0).fit(X, y)
    module = to_torch(reg)
    with torch.no_grad():
        out = module(torch.from_numpy(X)).numpy()
    assert out.shape == (40,)
    np.testing.assert_allclose(out, reg.predict(X), rtol=1e-5, atol=1e-5)


def test_to_torch_classifiers_ragged_and_per_step():
    X, _, labels = _data(1)
    binary = RNNClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, labels)
    with torch.no_grad():
        p = to_torch(binary)(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(p[:, 0], binary.predict_proba(X)[:, 1], rtol=1e-5, atol=1e-6)

    three = np.array(["a", "b", "c"])[(X[:, :, 0].sum(axis=1) > 0).astype(int)
                                      + (X[:, :, 1].sum(axis=1) > 1).astype(int)]
    multi = RNNClassifier(cell="gru", hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, three)
    ragged = [x[:n] for x, n in zip(X, np.random.default_rng(0).integers(2, 8, size=40))]
    padded = np.zeros_like(X)
    for i, seq in enumerate(ragged):
        padded[i, :len(seq)] = seq
    with torch.no_grad():
        p = to_torch(multi)(torch.from_numpy(padded), lengths=[len(s) for s in ragged]).numpy()
    np.testing.assert_allclose(p, multi.predict_proba(ragged), rtol=1e-5, atol=1e-6)

    per_step = RNNRegressor(return_sequences=True, hidden_layer_sizes=(5,), max_iter=2,
                            random_state=0).fit(X, X[:, :, 0])
    with torch.no_grad():
        out = to_torch(per_step)(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, per_step.predict(X), rtol=1e-5, atol=1e-5)


def test_state_dict_round_trip_and_torch_built_models():
    X, y, labels = _data(2)
    reg = RNNRegressor(cell="gru", hidden_layer_sizes=(8, 8), bidirectional=True, max_iter=2,
                       random_state=0).fit(X, y)
    state = to_torch(reg).state_dict()
    again = RNNRegressor.from_torch_state_dict(state)
    assert again.get_params()["cell"] == "gru" and again.hidden_layer_sizes == (8, 8)
    assert again.bidirectional
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))

    # a model made in PyTorch (float64, never seen by skrnn) predicts the same in skrnn
    torch.manual_seed(0)
    module = torch.nn.Module()
    module.embedding = torch.nn.Embedding(12, 4)
    module.rnn = torch.nn.LSTM(4, 6, num_layers=2, batch_first=True)
    module.head = torch.nn.Linear(6, 3)
    module = module.double()
    ids = np.random.default_rng(0).integers(0, 12, size=(10, 9))
    clf = RNNClassifier.from_torch_state_dict(module.state_dict(), classes=[0, 1, 2],
                                              dtype="float64")
    assert clf.embedding_dim == 4 and clf.vocab_size_ == 12 and clf.cell == "lstm"
    with torch.no_grad():
        _, (h_n, _) = module.rnn(module.embedding(torch.from_numpy(ids)))
        expected = torch.softmax(module.head(h_n[-1]), dim=1).numpy()
    np.testing.assert_allclose(clf.predict_proba(ids), expected, rtol=1e-10, atol=1e-12)
    # and it can keep training
    clf.set_params(warm_start=True, max_iter=1).fit(ids, np.arange(10) % 3)
    assert clf.n_iter_ == 1


def test_errors():
    X, y, labels = _data(3)
    uneven = RNNRegressor(hidden_layer_sizes=(8, 4), max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="one hidden size"):
        to_torch(uneven)
    state = to_torch(RNNClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(X, labels)).state_dict()
    with pytest.raises(ValueError, match="needs classes"):
        RNNClassifier.from_torch_state_dict(state)
    with pytest.raises(ValueError, match="sorted, distinct"):
        RNNClassifier.from_torch_state_dict(state, classes=["b", "a"])
    with pytest.raises(ValueError, match="cell='gru' contradicts"):
        RNNClassifier.from_torch_state_dict(state, classes=[0, 1], cell="gru")
    with pytest.raises(ValueError, match="classes is for RNNClassifier"):
        RNNRegressor.from_torch_state_dict(state, classes=[0, 1])
    broken = dict(state)
    broken["head.weight"] = broken["head.weight"][:, :2]
    with pytest.raises(ValueError, match="head.weight has shape"):
        RNNClassifier.from_torch_state_dict(broken, classes=[0, 1])
