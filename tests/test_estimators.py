"""RNNRegressor and RNNClassifier: inputs, training behaviour, fitted state and errors."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import RNNClassifier, RNNRegressor

FAST = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)


def ragged_sign_data(n=120, seed=0, n_features=2):
    """Ragged sequences labelled by the sign of their first feature's sum."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(t, n_features)) for t in rng.integers(3, 12, size=n)]
    y = np.array([int(seq[:, 0].sum() > 0) for seq in X])
    return X, y


def nan_padded(X):
    T = max(len(seq) for seq in X)
    out = np.full((len(X), T, X[0].shape[1]), np.nan)
    for i, seq in enumerate(X):
        out[i, :len(seq)] = seq
    return out


# ---------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("Estimator", [RNNRegressor, RNNClassifier])
def test_ragged_list_and_nan_padded_array_give_the_same_model(Estimator):
    X, y = ragged_sign_data()
    a = Estimator(**FAST).fit(X, y)
    b = Estimator(**FAST).fit(nan_padded(X), y)
    assert a.n_features_in_ == b.n_features_in_ == 2
    for name in a.params_:
        np.testing.assert_array_equal(a.params_[name], b.params_[name])
    np.testing.assert_array_equal(a.predict(X), b.predict(nan_padded(X)))


def test_2d_univariate_equals_3d_with_one_feature():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 7))
    y = X.sum(axis=1)
    a = RNNRegressor(**FAST).fit(X, y)
    b = RNNRegressor(**FAST).fit(X[:, :, None], y)
    assert a.n_features_in_ == 7 and b.n_features_in_ == 1  # 2-D: scikit-learn's columns
    np.testing.assert_array_equal(a.predict(X), b.predict(X[:, :, None]))
    # a model fitted on 2-D arrays also reads univariate sequences of any length as lists
    assert a.predict([rng.normal(size=4), rng.normal(size=9)]).shape == (2,)
    with pytest.raises(ValueError, match="X has 5 features, but RNNRegressor is expecting 7"):
        a.predict(X[:, :5])


def test_predictions_do_not_depend_on_batch_composition():
    X, y = ragged_sign_data(n=50)
    clf = RNNClassifier(**FAST).fit(X, y)
    full = clf.predict_proba(X)
    alone = np.vstack([clf.predict_proba([seq]) for seq in X[:10]])
    np.testing.assert_array_equal(alone, full[:10])  # bit for bit: rows computed alone


def test_token_ids_with_embedding():
    rng = np.random.default_rng(2)
    # class 1 sequences contain token 7, class 0 ones do not
    X = [rng.integers(0, 7, size=rng.integers(3, 10)) for _ in range(200)]
    y = rng.integers(0, 2, size=200)
    for seq, label in zip(X, y):
        if label:
            seq[rng.integers(len(seq))] = 7
    clf = RNNClassifier(cell="gru", embedding_dim=8, hidden_layer_sizes=(16,), max_iter=60,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.vocab_size_ == 8
    assert clf.params_["embedding.weight"].shape == (8, 8)
    assert clf.n_features_in_ == 1
    assert clf.score(X, y) > 0.95
    padded = np.full((len(X), max(map(len, X))), -1)
    for i, seq in enumerate(X):
        padded[i, :len(seq)] = seq
    np.testing.assert_array_equal(clf.predict(padded), clf.predict(X))
    with pytest.raises(ValueError, match="token id 9, outside the vocabulary"):
        clf.predict([np.array([1, 9])])
    with pytest.raises(ValueError, match="negative token id"):
        clf.predict([np.array([1, -4])])
    with pytest.raises(TypeError, match="must be integers"):
        clf.predict([np.array(["a", "b"])])


def test_return_sequences_regressor_shapes_and_score():
    rng = np.random.default_rng(3)
    X = [rng.normal(size=(t, 1)) for t in rng.integers(4, 10, size=150)]
    y = [np.cumsum(seq[:, 0]) for seq in X]  # running sum: needs memory
    reg = RNNRegressor(cell="gru", return_sequences=True, hidden_layer_sizes=(16,),
                       max_iter=80, learning_rate_init=0.01, random_state=0).fit(X, y)
    pred = reg.predict(X)
    assert isinstance(pred, list) and [p.shape for p in pred] == [(len(s),) for s in X]
    assert reg.score(X, y) > 0.9
    flat_true, flat_pred = np.concatenate(y), np.concatenate(pred)
    r2 = 1 - ((flat_true - flat_pred) ** 2).sum() / ((flat_true - flat_true.mean()) ** 2).sum()
    assert reg.score(X, y) == pytest.approx(r2, rel=1e-6)
    # equal lengths as an array: stacked (n, T) output; multi-output targets keep their axis
    X_eq = rng.normal(size=(20, 6, 1))
    assert reg.predict(X_eq).shape == (20, 6)
    Y2 = np.stack([np.cumsum(X_eq[:, :, 0], axis=1), X_eq[:, :, 0]], axis=2)
    reg2 = RNNRegressor(return_sequences=True, **FAST).fit(X_eq, Y2)
    assert reg2.predict(X_eq).shape == (20, 6, 2)
    with pytest.raises(ValueError, match="one target per valid step"):
        reg.fit(X, [s[:-1, 0] for s in X])


def test_return_sequences_classifier_ignores_padding():
    rng = np.random.default_rng(4)
    X = [rng.normal(size=(t, 1)) for t in rng.integers(3, 8, size=120)]
    y = [np.where(seq[:, 0] > 0, "pos", "neg") for seq in X]
    clf = RNNClassifier(return_sequences=True, hidden_layer_sizes=(16,), max_iter=60,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.score(X, y) > 0.95
    proba = clf.predict_proba(X)
    assert all(p.shape == (len(s), 2) for p, s in zip(proba, X))
    # NaN-padded array with anything at padded steps of y: same model
    Xp = nan_padded(X)
    yp = np.full(Xp.shape[:2], "ignored", dtype=object)
    for i, labels in enumerate(y):
        yp[i, :len(labels)] = labels
    clf2 = clone(clf).fit(Xp, yp)
    assert list(clf2.classes_) == ["neg", "pos"]
    for name in clf.params_:
        np.testing.assert_array_equal(clf.params_[name], clf2.params_[name])


# ---------------------------------------------------------------------------- training


def test_default_classifier_learns_a_few_hundred_sequences():
    X, y = ragged_sign_data(n=300, seed=5)
    clf = RNNClassifier(random_state=0).fit(X[:240], y[:240])
    assert clf.score(X[240:], y[240:]) > 0.9


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_every_cell_and_solver_reduces_the_loss(cell, solver):
    X, y = ragged_sign_data(n=80)
    clf = RNNClassifier(cell=cell, solver=solver, hidden_layer_sizes=(8, 6),
                        bidirectional=True, dropout=0.1, max_iter=15, random_state=0,
                        learning_rate_init=0.01 if solver != "sgd" else 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.loss_curve_[-1] < 0.8 * clf.loss_curve_[0]
    assert clf.n_iter_ == len(clf.loss_curve_) == 15
    assert clf.t_ == 15 * 80


def test_convergence_warning_and_tolerance_stopping():
    X, y = ragged_sign_data()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        RNNClassifier(**{**FAST, "max_iter": 3}).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = RNNClassifier(hidden_layer_sizes=(8,), max_iter=500, tol=10.0,
                            n_iter_no_change=2, random_state=0).fit(X, y)
    # epoch 1 improves on inf; stopping once the count of epochs without an improvement of
    # tol exceeds n_iter_no_change (as MLP does) takes epochs 2, 3 and 4
    assert clf.n_iter_ == 4


def test_adaptive_learning_rate_divides_by_five():
    X, y = ragged_sign_data()
    clf = RNNClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.1, tol=10.0, n_iter_no_change=1, max_iter=4,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ == 4
    assert clf._optimizer.learning_rate == pytest.approx(0.1 / 5)


def test_early_stopping_restores_the_best_weights(monkeypatch):
    X, y = ragged_sign_data(n=200)
    snapshots = []  # weights after each epoch, recorded when its validation score is taken
    original = RNNClassifier._update_no_improvement_count

    def spy(self, val, backend):
        snapshots.append({k: v.copy() for k, v in self.params_.items()})
        return original(self, val, backend)

    monkeypatch.setattr(RNNClassifier, "_update_no_improvement_count", spy)
    clf = RNNClassifier(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=0.2,
                        max_iter=40, n_iter_no_change=3, learning_rate_init=0.05,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == len(snapshots)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    best_epoch = int(np.argmax(clf.validation_scores_))
    assert best_epoch < clf.n_iter_ - 1  # training went on past the best epoch...
    for name, value in clf.params_.items():  # ...and its weights came back
        np.testing.assert_array_equal(value, snapshots[best_epoch][name])
    assert not np.array_equal(clf.params_["head.weight"], snapshots[-1]["head.weight"])


def test_partial_fit_and_warm_start_continue_training():
    X, y = ragged_sign_data()
    clf = RNNClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1])
    first = {k: v.copy() for k, v in clf.params_.items()}
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2 and clf.t_ == 2 * len(X)
    assert not np.array_equal(first["head.weight"], clf.params_["head.weight"])
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    # classes given up front may include labels absent from the first batch
    clf3 = RNNClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf3.partial_fit(X, y, classes=[0, 1, 2])
    assert clf3.n_outputs_ == 3 and list(clf3.classes_) == [0, 1, 2]

    reg = RNNRegressor(**{**FAST, "warm_start": True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y.astype(float))
        n1 = reg.n_iter_
        reg.fit(X, y.astype(float))
    assert reg.n_iter_ == 2 * n1
    with pytest.raises(ValueError, match="X has 3 features"):
        reg.fit([np.ones((4, 3))], [1.0])


def test_sample_weight_and_class_weight():
    X, y = ragged_sign_data(n=100)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = RNNClassifier(**params).fit(X, y)
        b = RNNClassifier(**params).fit(X, y, sample_weight=np.full(len(X), 3.0))
        c = RNNClassifier(**params).fit(X, y, sample_weight=np.where(y == 1, 5.0, 1.0))
        d = RNNClassifier(**params, class_weight={0: 1.0, 1: 5.0}).fit(X, y)
    for name in a.params_:  # a constant weight is no weight
        np.testing.assert_allclose(a.params_[name], b.params_[name], rtol=1e-10, atol=1e-12)
    for name in c.params_:  # class_weight multiplies into the sample weights
        np.testing.assert_allclose(c.params_[name], d.params_[name], rtol=1e-10, atol=1e-12)
    assert not np.allclose(a.params_["head.weight"], c.params_["head.weight"])
    with pytest.raises(ValueError, match="Negative values.*sample_weight"):
        RNNClassifier(**params).fit(X, y, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="balanced.*partial_fit"):
        RNNClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_per_step_multiclass_loss_is_log_loss_with_sample_and_class_weights():
    """Per-step multiclass targets train on class indices: the loss is MLP's log-loss of
    the valid steps, weighted by sample_weight times class_weight."""
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(5)
    lengths = rng.integers(2, 9, size=30)
    X = [rng.integers(0, 12, size=t) for t in lengths]
    y = [rng.choice(np.array(["a", "b", "c", "d"]), size=t) for t in lengths]
    sample_weight = rng.uniform(0.5, 2, size=30)
    class_weight = {"a": 1.0, "b": 2.0, "c": 0.5, "d": 3.0}
    clf = RNNClassifier(cell="gru", hidden_layer_sizes=(6,), embedding_dim=4,
                        return_sequences=True, class_weight=class_weight, batch_size=30,
                        max_iter=1, learning_rate_init=1e-12, alpha=0, shuffle=False,
                        random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=sample_weight)
    labels = np.concatenate(y)
    weights = np.repeat(sample_weight, lengths) * np.array([class_weight[v] for v in labels])
    proba = np.concatenate(clf.predict_proba(X))  # the weights moved by 1e-12 at most
    expected = log_loss(labels, proba, sample_weight=weights, labels=clf.classes_)
    assert clf.loss_ == pytest.approx(expected, rel=1e-9)


def test_per_step_multiclass_targets_are_never_one_hot():
    """A per-step head over a large vocabulary trains without an (n_steps, n_classes)
    array: the targets stay class indices, the logits live one batch at a time."""
    import tracemalloc

    n_classes = 50_000
    rng = np.random.default_rng(6)
    X = rng.integers(0, 50, size=(40, 25))
    y = rng.integers(0, n_classes, size=(40, 25))
    y[0, 0], y[1, 0] = 0, n_classes - 1
    clf = RNNClassifier(cell="gru", hidden_layer_sizes=(8,), embedding_dim=4,
                        return_sequences=True, batch_size=4, max_iter=1, random_state=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # not converged; "more classes than samples"
            clf.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_hot_bytes = 40 * 25 * n_classes * 4  # 200 MB in float32
    assert peak < one_hot_bytes / 4
    assert len(clf.classes_) == clf.n_outputs_ <= n_classes
    assert np.isfinite(clf.loss_)


def test_balanced_class_weight_helps_the_minority_class():
    X, y = ragged_sign_data(n=300, seed=7)
    keep = np.flatnonzero((y == 0) | (np.arange(len(y)) % 6 == 0))  # ~1:6 imbalance
    X, y = [X[i] for i in keep], y[keep]
    params = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = RNNClassifier(**params).fit(X, y)
        balanced = RNNClassifier(**params, class_weight="balanced").fit(X, y)
    minority = y == 1
    assert (balanced.predict(X)[minority] == 1).mean() > (plain.predict(X)[minority] == 1).mean()


def test_multilabel_and_multiclass_outputs():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 5, 3))
    Y = np.stack([X[:, :, 0].sum(1) > 0, X[:, :, 1].sum(1) > 0, X[:, :, 2].sum(1) > 0], axis=1).astype(int)
    clf = RNNClassifier(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                        random_state=0).fit(X, Y)
    assert clf.predict(X).shape == (120, 3) and clf.predict_proba(X).shape == (120, 3)
    assert clf.score(X, Y) > 0.8
    labels = np.array(["a", "b", "c"])[Y.argmax(axis=1)]
    clf = RNNClassifier(**FAST).fit(X, labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-6)


def test_reproducible_with_random_state_and_different_seeds_differ():
    X, y = ragged_sign_data(n=100)
    params = dict(hidden_layer_sizes=(8, 6), bidirectional=True, dropout=0.2, max_iter=6,
                  early_stopping=True, n_iter_no_change=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = RNNClassifier(**params, random_state=3).fit(X, y)
        b = RNNClassifier(**params, random_state=3).fit(X, y)
        c = RNNClassifier(**params, random_state=4).fit(X, y)
    for name in a.params_:
        np.testing.assert_array_equal(a.params_[name], b.params_[name])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.params_["head.weight"], c.params_["head.weight"])


# ---------------------------------------------------------------------------- fitted state


def test_params_follow_pytorch_state_dict_names():
    X, y = ragged_sign_data(n=30)
    clf = RNNClassifier(cell="gru", hidden_layer_sizes=(8, 5), bidirectional=True, **{
        k: v for k, v in FAST.items() if k != "hidden_layer_sizes"}).fit(X, y)
    assert list(clf.params_)[:4] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                     "rnn.bias_hh_l0"]
    assert clf.params_["rnn.weight_ih_l0"].shape == (24, 2)
    assert clf.params_["rnn.weight_hh_l1_reverse"].shape == (15, 5)
    assert clf.params_["head.weight"].shape == (1, 10)
    assert all(type(v) is np.ndarray and v.dtype == np.float32 for v in clf.params_.values())


def test_pickle_round_trip_predicts_identically():
    X, y = ragged_sign_data(n=40)
    clf = RNNClassifier(**FAST).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_float64_dtype():
    X, y = ragged_sign_data(n=40)
    reg = RNNRegressor(**FAST, dtype="float64").fit(X, y.astype(float))
    assert all(v.dtype == np.float64 for v in reg.params_.values())
    assert reg.predict(X).dtype == np.float64


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("X, message", [
    (np.ones(5), "Reshape your data"),
    (np.ones((2, 3, 4, 5)), "got a 4-D array"),
    (np.ones((0, 4, 2)), "0 sample"),
    (np.ones((3, 0, 2)), "0 feature|empty"),
    ([], "empty list"),
    ([np.ones((2, 2)), np.ones((0, 2))], "Sequence 1 of X is empty"),
    ([np.ones((2, 2)), np.ones((3, 1))], "different numbers of features"),
])
def test_bad_x_in_fit(X, message):
    with pytest.raises(ValueError, match=message):
        RNNRegressor(**FAST).fit(X, np.ones(len(X)))


def test_bad_inputs_in_predict():
    X, y = ragged_sign_data(n=30)
    clf = RNNClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but RNNClassifier is expecting 2"):
        clf.predict([np.ones((4, 3))])
    with pytest.raises(ValueError, match="infinity"):
        clf.predict([np.full((4, 2), np.inf)])
    bad = nan_padded(X)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="some but not all features"):
        clf.predict(bad)
    with pytest.raises(NotFittedError):
        RNNClassifier().predict(X)


def test_other_time_steps_after_a_2d_fit_are_named_time_steps():
    reg = RNNRegressor(**FAST).fit(np.ones((6, 5)), np.ones(6))
    with pytest.raises(ValueError, match=r"X has 7 features, but RNNRegressor is expecting 5 "
                                         r"features as input\. .*its columns are time steps"):
        reg.predict(np.ones((2, 7)))


@pytest.mark.parametrize("y, message", [
    (np.ones(7), "inconsistent numbers of samples"),
    (np.array([1.0, np.nan] * 15), "NaN"),
    (np.ones((30, 2, 2)), "dim 3"),
    (np.array(["a", "b", "c"] * 10, dtype=object),
     r"y holds values that are not numbers .*For class labels use RNNClassifier"),
])
def test_bad_y_regressor(y, message):
    X, _ = ragged_sign_data(n=30)
    with pytest.raises(ValueError, match=message):
        RNNRegressor(**FAST).fit(X, y)


def test_bad_y_classifier():
    X, _ = ragged_sign_data(n=30)
    with pytest.raises(ValueError, match="Unknown label type"):
        RNNClassifier(**FAST).fit(X, np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="only one class"):
        RNNClassifier(**FAST).fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="requires y to be passed"):
        RNNClassifier(**FAST).fit(X, None)


@pytest.mark.parametrize("params", [
    dict(cell="transformer"), dict(hidden_layer_sizes=(8, 0)), dict(hidden_layer_sizes=()),
    dict(dropout=1.0), dict(solver="newton"), dict(batch_size=0), dict(clip_norm=0),
    dict(dtype="float16"), dict(device="tpu"), dict(embedding_dim=0),
    dict(learning_rate="optimal"), dict(power_t=-1), dict(max_fun=0),
])
def test_invalid_parameters_are_named(params):
    X, y = ragged_sign_data(n=20)
    with pytest.raises((InvalidParameterError, ValueError), match="|".join(params)):
        RNNClassifier(**params).fit(X, y)


def test_fitted_weights_are_read_only_and_predictions_follow_replaced_weights():
    X, y = ragged_sign_data(n=40)
    reg = RNNRegressor(**FAST).fit(X, y.astype(float))
    before = reg.predict(X)
    with pytest.raises(ValueError, match="read-only"):
        reg.params_["head.bias"] += 1.0
    params = {k: v.copy() for k, v in reg.params_.items()}
    params["head.bias"] = params["head.bias"] + 1.0
    reg.params_ = params  # replaced, not edited: predictions follow
    np.testing.assert_allclose(reg.predict(X), before + 1.0, rtol=1e-6)
    again = pickle.loads(pickle.dumps(reg))
    assert "_prediction_cache" not in pickle.loads(pickle.dumps(reg)).__getstate__()
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    with pytest.raises(ValueError, match="read-only"):
        again.params_["head.bias"][0] = 0.0


def test_regressor_partial_fit_trains_one_epoch_per_call():
    X, y = ragged_sign_data(n=80)
    target = np.array([seq[:, 0].sum() for seq in X])
    reg = RNNRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0)
    losses = []
    for _ in range(15):
        reg.partial_fit(X, target)
        losses.append(reg.loss_)
    assert reg.n_iter_ == 15 and reg.t_ == 15 * len(X)
    assert losses[-1] < 0.8 * losses[0]
    with pytest.raises(ValueError, match="X has 3 features"):
        reg.partial_fit([np.ones((4, 3))], [1.0])


def test_per_step_score_weights_every_step_by_its_sequence():
    from sklearn.metrics import accuracy_score, r2_score

    rng = np.random.default_rng(0)
    X = [rng.normal(size=(t, 1)) for t in (3, 5, 4)]
    weights = np.array([1.0, 2.0, 0.5])
    per_step = np.repeat(weights, [3, 5, 4])
    y = [seq[:, 0] for seq in X]
    reg = RNNRegressor(return_sequences=True, **FAST).fit(X, y)
    expected = r2_score(np.concatenate(y), np.concatenate(reg.predict(X)), sample_weight=per_step)
    assert reg.score(X, y, sample_weight=weights) == pytest.approx(expected)
    labels = [(seq[:, 0] > 0).astype(int) for seq in X]
    clf = RNNClassifier(return_sequences=True, **FAST).fit(X, labels)
    expected = accuracy_score(np.concatenate(labels), np.concatenate(clf.predict(X)),
                              sample_weight=per_step)
    assert clf.score(X, labels, sample_weight=weights) == pytest.approx(expected)
