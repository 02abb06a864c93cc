"""skrnn inside scikit-learn's meta-estimators on 3-D and ragged data (aeon-style)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import VotingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skrnn import RNNClassifier, RNNRegressor

SMALL = dict(hidden_layer_sizes=(8,), max_iter=8, learning_rate_init=0.02, random_state=0)


def _data(kind, n=90, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "3d":
        X = rng.normal(size=(n, 6, 2))
        y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    else:
        X = [rng.normal(size=(t, 2)) for t in rng.integers(3, 10, size=n)]
        y = np.array([int(seq[:, 0].sum() > 0) for seq in X])
    return X, y


def _scale(X):
    """A stateless per-sequence step that keeps the input's form (3-D or list)."""
    if isinstance(X, list):
        return [seq / 2.0 for seq in X]
    return np.asarray(X) / 2.0


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.mark.parametrize("kind", ["3d", "ragged"])
def test_pipeline_and_cross_val_score(kind):
    X, y = _data(kind)
    pipe = Pipeline([("scale", FunctionTransformer(_scale)), ("rnn", RNNClassifier(**SMALL))])
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(y),)
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)


@pytest.mark.parametrize("kind", ["3d", "ragged"])
def test_grid_search_with_two_processes(kind):
    X, y = _data(kind)
    grid = {"rnn__cell": ["gru", "rnn"], "rnn__hidden_layer_sizes": [(4,), (8,)]}
    pipe = Pipeline([("scale", FunctionTransformer(_scale)), ("rnn", RNNClassifier(**SMALL))])
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X, y)
    serial = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert search.best_estimator_.predict(X).shape == (len(y),)


def test_clone_keeps_parameters_and_drops_fitted_state():
    X, y = _data("ragged")
    clf = RNNClassifier(cell="gru", bidirectional=True, **SMALL).fit(X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "params_")
    copy.set_params(cell="rnn", hidden_layer_sizes=(4, 4))
    assert copy.fit(X, y).params_["rnn.weight_hh_l1"].shape == (4, 4)


@pytest.mark.parametrize("kind", ["3d", "ragged"])
def test_calibrated_classifier(kind):
    X, y = _data(kind, n=120)
    calibrated = CalibratedClassifierCV(RNNClassifier(**SMALL), cv=3).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)


@pytest.mark.parametrize("kind", ["3d", "ragged"])
def test_voting_classifier(kind):
    X, y = _data(kind)
    vote = VotingClassifier([("gru", RNNClassifier(cell="gru", **SMALL)),
                             ("lstm", RNNClassifier(cell="lstm", **SMALL))], voting="soft")
    vote.fit(X, y)
    assert vote.predict_proba(X).shape == (len(y), 2)
    assert vote.score(X, y) > 0.6


def test_regressor_in_grid_search_on_ragged_data():
    rng = np.random.default_rng(3)
    X = [rng.normal(size=(t, 1)) for t in rng.integers(3, 9, size=80)]
    y = np.array([seq.sum() for seq in X])
    search = GridSearchCV(RNNRegressor(**SMALL), {"cell": ["gru", "rnn"]}, cv=2).fit(X, y)
    assert search.best_estimator_.predict(X).shape == (80,)
