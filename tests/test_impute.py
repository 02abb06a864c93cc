"""SequenceImputer: every strategy on every input form, indicators, pipelines, errors."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skrnn import RNNClassifier, RNNRegressor, SequenceImputer, SequenceScaler

STRATEGIES = ["mean", "median", "constant", "ffill", "linear"]


def _ragged_with_gaps():
    """Three 2-feature sequences of 4, 6 and 2 steps with known gaps (NaN)."""
    return [np.array([[1.0, 10.0], [np.nan, np.nan], [3.0, np.nan], [4.0, 40.0]]),
            np.array([[0.0, 1.0], [2.0, 3.0], [np.nan, 5.0], [6.0, 7.0], [8.0, 9.0],
                      [10.0, 11.0]]),
            np.array([[np.nan, 5.0], [7.0, np.nan]])]


def _padded(sequences, n_steps=None, dtype=np.float64):
    n_steps = n_steps or max(len(s) for s in sequences)
    out = np.full((len(sequences), n_steps, sequences[0].shape[1]), np.nan, dtype=dtype)
    for i, seq in enumerate(sequences):
        out[i, :len(seq)] = seq
    return out


def _observed_steps(sequences):
    return np.concatenate(sequences)


# what each strategy must give for _ragged_with_gaps(), worked out by hand
MEAN = np.nanmean(_observed_steps(_ragged_with_gaps()), axis=0)  # [41/9, 91/9]
EXPECTED = {
    "mean": [[[1, 10], MEAN, [3, MEAN[1]], [4, 40]], None, [[MEAN[0], 5], [7, MEAN[1]]]],
    "median": [[[1, 10], [4, 7], [3, 7], [4, 40]], None, [[4, 5], [7, 7]]],
    "constant": [[[1, 10], [-1, -1], [3, -1], [4, 40]], None, [[-1, 5], [7, -1]]],
    "ffill": [[[1, 10], [1, 10], [3, 10], [4, 40]], [[0, 1], [2, 3], [2, 5], [6, 7], [8, 9],
                                                      [10, 11]], [[MEAN[0], 5], [7, 5]]],
    "linear": [[[1, 10], [2, 20], [3, 30], [4, 40]], [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9],
                                                      [10, 11]], [[7, 5], [7, 5]]],
}


def _expected(strategy):
    given = _ragged_with_gaps()
    middle = given[1].copy()
    middle[2, 0] = {"mean": MEAN[0], "median": 4.0, "constant": -1.0}.get(strategy, np.nan)
    rows = EXPECTED[strategy]
    return [np.array(rows[0], float), np.array(rows[1], float) if rows[1] else middle,
            np.array(rows[2], float)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_on_ragged_lists_and_padded_arrays(strategy):
    X = _ragged_with_gaps()
    imputer = SequenceImputer(strategy=strategy, fill_value=-1)
    out = imputer.fit_transform(X)
    assert isinstance(out, list)
    for got, want in zip(out, _expected(strategy)):
        np.testing.assert_allclose(got, want)

    # the same sequences as a 3-D array: same values, the padding untouched (still NaN),
    # float32 kept
    padded = _padded(X, n_steps=8, dtype=np.float32)
    out = SequenceImputer(strategy=strategy, fill_value=-1).fit(padded).transform(padded)
    assert out.shape == padded.shape and out.dtype == np.float32
    for i, want in enumerate(_expected(strategy)):
        np.testing.assert_allclose(out[i, :len(want)], want, rtol=1e-6)
        assert np.isnan(out[i, len(want):]).all()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_on_univariate_2d_arrays_and_1d_lists(strategy):
    X = np.array([[1.0, np.nan, 3.0, np.nan, 5.0, np.nan],
                  [np.nan, 2.0, np.nan, np.nan, 8.0, np.nan],  # the last NaN is padding
                  [4.0, 4.0, np.nan, np.nan, np.nan, np.nan]])
    imputer = SequenceImputer(strategy=strategy, fill_value=-1).fit(X)
    out = imputer.transform(X)
    assert out.shape == X.shape
    np.testing.assert_array_equal(np.isnan(out), [[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1],
                                                  [0, 0, 1, 1, 1, 1]])
    mean = np.mean([1, 3, 5, 2, 8, 4, 4])  # every observed valid value, pooled
    want = {"mean": [1, mean, 3, mean, 5], "median": [1, 4, 3, 4, 5],
            "constant": [1, -1, 3, -1, 5], "ffill": [1, 1, 3, 3, 5], "linear": [1, 2, 3, 4, 5]}
    np.testing.assert_allclose(out[0, :5], want[strategy])
    second = {"mean": [mean, 2, mean, mean, 8], "median": [4, 2, 4, 4, 8],
              "constant": [-1, 2, -1, -1, 8], "ffill": [mean, 2, 2, 2, 8],
              "linear": [2, 2, 4, 6, 8]}
    np.testing.assert_allclose(out[1, :5], second[strategy])

    lists = [row[:5] for row in X[:2]] + [np.array([4.0, 4.0, np.nan])]  # ragged 1-D: NaN missing
    out = SequenceImputer(strategy=strategy, fill_value=-1).fit(lists).transform(lists)
    assert [o.shape for o in out] == [(5,), (5,), (3,)]
    np.testing.assert_allclose(out[0], want[strategy])
    np.testing.assert_allclose(out[2][2], {"mean": np.mean([1, 3, 5, 2, 8, 4, 4]), "median": 4,
                                           "constant": -1, "ffill": 4, "linear": 4}[strategy])


def test_linear_recovers_linear_series_exactly():
    rng = np.random.default_rng(0)
    t = np.arange(40.0)
    complete = np.stack([3.0 * t - 7.0, -0.5 * t + 2.0, np.full_like(t, 4.0)], axis=1)
    X = np.repeat(complete[None], 5, axis=0)
    knocked = X.copy()
    knocked[rng.random(X.shape) < 0.4] = np.nan
    knocked[:, 0] = X[:, 0]  # an edge gap takes the nearest value, which is not on the line
    knocked[:, -1] = X[:, -1]
    knocked[2, 10:20] = np.nan  # a burst: every feature of ten steps in the middle
    out = SequenceImputer(strategy="linear").fit_transform(knocked)
    np.testing.assert_allclose(out, X, rtol=0, atol=1e-12)


def test_ffill_leading_gap_takes_the_learned_mean():
    X = np.array([[[np.nan, 1.0], [np.nan, 2.0], [5.0, 3.0], [np.nan, 4.0]],
                  [[1.0, 1.0], [3.0, np.nan], [np.nan, np.nan], [np.nan, 9.0]]])
    imputer = SequenceImputer(strategy="ffill").fit(X)
    np.testing.assert_allclose(imputer.statistics_, [3.0, 20 / 6])
    out = imputer.transform(X)
    np.testing.assert_allclose(out[0, :, 0], [3.0, 3.0, 5.0, 5.0])
    np.testing.assert_allclose(out[1], [[1, 1], [3, 1], [3, 1], [3, 9]])
    # a sequence that never observes a feature also takes the mean (ffill and linear)
    new = [np.array([[np.nan, 2.0], [np.nan, 8.0]])]
    for strategy in ("ffill", "linear"):
        got = SequenceImputer(strategy=strategy).fit(X).transform(new)[0]
        np.testing.assert_allclose(got[:, 0], [3.0, 3.0])


def test_all_nan_step_inside_a_sequence_is_missing_not_padding():
    X = np.array([[[1.0], [np.nan], [3.0], [np.nan]],
                  [[2.0], [np.nan], [np.nan], [np.nan]]])
    out = SequenceImputer(strategy="linear").fit_transform(X)
    np.testing.assert_allclose(out[0, :3, 0], [1.0, 2.0, 3.0])
    assert np.isnan(out[0, 3]).all() and np.isnan(out[1, 1:]).all()  # trailing: padding


def test_statistics_ignore_padding_and_come_from_fit_only():
    train = _padded([np.array([[1.0], [3.0]]), np.array([[5.0], [np.nan], [7.0]])], n_steps=5)
    imputer = SequenceImputer().fit(train)
    np.testing.assert_allclose(imputer.statistics_, [4.0])
    out = imputer.transform([np.array([[np.nan], [100.0]])])
    np.testing.assert_allclose(out[0][:, 0], [4.0, 100.0])


def test_indicator_columns_and_feature_names():
    # features 0 and 2 have gaps, feature 1 never does
    X = [np.column_stack([seq[:, 0], np.ones(len(seq)), seq[:, 1]]) for seq in _ragged_with_gaps()]
    imputer = SequenceImputer(add_indicator=True).fit(X)
    np.testing.assert_array_equal(imputer.indicator_features_, [0, 2])
    out = imputer.transform(X)
    assert [o.shape for o in out] == [(4, 5), (6, 5), (2, 5)]
    for got, given in zip(out, X):
        np.testing.assert_array_equal(got[:, 3:], np.isnan(given[:, [0, 2]]))
        assert not np.isnan(got).any()
    assert list(imputer.get_feature_names_out()) == [
        "x0", "x1", "x2", "missingindicator_x0", "missingindicator_x2"]
    assert list(imputer.get_feature_names_out(["a", "b", "c"]))[-1] == "missingindicator_c"

    padded = _padded(X, n_steps=7)
    out = imputer.transform(padded)
    assert out.shape == (3, 7, 5)
    assert np.isnan(out[0, 4:]).all() and not np.isnan(out[0, :4]).any()  # padding stays NaN

    # univariate 2-D in, 3-D out (value, indicator); 1-D sequences of a list come back 2-D
    X2 = np.array([[1.0, np.nan, 3.0], [2.0, 2.0, np.nan]])
    uni = SequenceImputer(add_indicator=True).fit(X2)
    out = uni.transform(X2)
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out[0, :, 1], [0, 1, 0])
    assert np.isnan(out[1, 2]).all()
    assert list(uni.get_feature_names_out()) == ["x0", "missingindicator_x0"]
    out = uni.transform([np.array([np.nan, 1.0]), np.array([1.0, 2.0, np.nan])])
    assert [o.shape for o in out] == [(2, 2), (3, 2)]
    np.testing.assert_array_equal(out[1][:, 1], [0, 0, 1])  # a list has no padding

    # no feature had gaps in fit: no indicator columns, the form unchanged
    complete = np.ones((2, 3))
    assert SequenceImputer(add_indicator=True).fit(complete).transform(X2).shape == (2, 3)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_in_pipelines_with_both_estimators(strategy):
    rng = np.random.default_rng(1)
    X = [rng.normal(loc=50, scale=10, size=(t, 2)) for t in rng.integers(4, 12, size=160)]
    y = np.array([(seq[:, 0] - 50).mean() / 10 for seq in X])
    labels = np.where(y > 0, "up", "down")
    for seq in X:
        knocked_out = rng.random(seq.shape) < 0.15
        knocked_out[-1, 0] = False  # an all-NaN last step would be padding in an array
        seq[knocked_out] = np.nan
    padded = _padded(X, n_steps=13)  # the same sequences padded: the same predictions
    for estimator, target, floor in ((RNNRegressor(cell="gru"), y, 0.7),
                                     (RNNClassifier(cell="lstm"), labels, 0.9)):
        estimator.set_params(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01,
                             random_state=0)
        pipe = make_pipeline(SequenceImputer(strategy=strategy, fill_value=50.0,
                                             add_indicator=True),
                             SequenceScaler(), estimator)
        assert pipe.fit(X, target).score(X, target) > floor
        np.testing.assert_array_equal(pipe.predict(padded), pipe.predict(X))


def test_bad_inputs_and_parameters_raise_clear_errors():
    never = np.array([[[1.0, np.nan], [2.0, np.nan]], [[3.0, np.nan], [np.nan, np.nan]]])
    for strategy in ("mean", "median", "ffill", "linear"):
        with pytest.raises(ValueError, match=r"Feature 1 of 2 per step is missing \(NaN\) in "
                                             r"every valid step.*strategy='constant'"):
            SequenceImputer(strategy=strategy).fit(never)
    out = SequenceImputer(strategy="constant", fill_value=7).fit(never).transform(never)
    np.testing.assert_allclose(out[:, :, 1][~np.isnan(out[:, :, 1])], 7)

    with pytest.raises(ValueError, match="fill_value must be a finite number"):
        SequenceImputer(strategy="constant", fill_value=np.inf).fit(never)
    with pytest.raises(ValueError, match="strategy"):
        SequenceImputer(strategy="nearest").fit(never)
    with pytest.raises(ValueError, match="infinity"):
        SequenceImputer().fit(np.array([[[1.0], [np.inf]]]))
    with pytest.raises(ValueError, match="infinity in sequence 1"):
        SequenceImputer().fit([np.ones((2, 1)), np.array([[np.inf], [1.0], [2.0]])])
    with pytest.raises(ValueError, match="Sequence 1 of X is empty"):
        SequenceImputer().fit(np.array([[[1.0], [2.0]], [[np.nan], [np.nan]]]))
    imputer = SequenceImputer().fit(np.ones((2, 3, 2)))
    with pytest.raises(ValueError, match="3 features per step, but SequenceImputer is "
                                         "expecting 2"):
        imputer.transform(np.ones((2, 3, 3)))
