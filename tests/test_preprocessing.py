"""SequenceScaler on every input form."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skrnn import RNNRegressor, SequenceScaler


def _ragged(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(loc=[5, -3], scale=[2, 0.5], size=(t, 2)) for t in (4, 9, 1, 6)]


def test_statistics_pool_every_valid_step_and_ignore_padding():
    X = _ragged()
    steps = np.concatenate(X)
    scaler = SequenceScaler().fit(X)
    np.testing.assert_allclose(scaler.center_, steps.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, steps.std(axis=0))
    padded = np.full((4, 9, 2), np.nan)
    for i, seq in enumerate(X):
        padded[i, :len(seq)] = seq
    np.testing.assert_allclose(SequenceScaler().fit(padded).center_, scaler.center_)
    pooled = np.concatenate(scaler.transform(X))
    np.testing.assert_allclose(pooled.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(pooled.std(axis=0), 1, atol=1e-12)


def test_forms_are_kept_and_inverse_transform_round_trips():
    X = _ragged()
    scaler = SequenceScaler().fit(X)
    out = scaler.transform(X)
    assert isinstance(out, list) and [o.shape for o in out] == [x.shape for x in X]
    for a, b in zip(scaler.inverse_transform(out), X):
        np.testing.assert_allclose(a, b)

    padded = np.full((4, 9, 2), np.nan, dtype=np.float32)
    for i, seq in enumerate(X):
        padded[i, :len(seq)] = seq
    out = scaler.transform(padded)
    assert out.shape == padded.shape and out.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(out), np.isnan(padded))  # padding stays padding
    np.testing.assert_allclose(scaler.inverse_transform(out), padded, rtol=1e-5)

    univariate = [np.arange(5.0), np.arange(3.0) * 2]
    out = SequenceScaler().fit(univariate).transform(univariate)
    assert [o.shape for o in out] == [(5,), (3,)]


def test_minmax_and_constant_features():
    X = np.array([[[0.0, 7.0], [10.0, 7.0]], [[5.0, 7.0], [np.nan, np.nan]]])
    scaler = SequenceScaler(method="minmax", feature_range=(-1, 1)).fit(X)
    out = scaler.transform(X)
    np.testing.assert_allclose(out[0, :, 0], [-1, 1])
    np.testing.assert_allclose(out[1, 0, 0], 0)
    np.testing.assert_allclose(out[:, :, 1][~np.isnan(out[:, :, 1])], -1)  # constant: shifted only
    with pytest.raises(ValueError, match="feature_range"):
        SequenceScaler(method="minmax", feature_range=(1, 0)).fit(X)


def test_feature_names_and_errors():
    scaler = SequenceScaler().fit(np.ones((3, 4, 2)))
    assert list(scaler.get_feature_names_out()) == ["x0", "x1"]
    with pytest.raises(ValueError, match="3 features per step, but SequenceScaler is expecting 2"):
        scaler.transform(np.ones((3, 4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        scaler.transform(np.array([[[np.nan, 1.0], [1.0, 1.0]]]))


def test_in_a_pipeline_with_the_regressor():
    rng = np.random.default_rng(3)
    X = [rng.normal(loc=100, scale=20, size=(t, 2)) for t in rng.integers(3, 10, size=150)]
    y = np.array([(seq[:, 0] - 100).mean() / 20 for seq in X])
    pipe = make_pipeline(SequenceScaler(), RNNRegressor(cell="gru", hidden_layer_sizes=(16,),
                                                        max_iter=60, learning_rate_init=0.01,
                                                        random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.8
