"""sliding_windows and recursive_forecast."""

import warnings

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrnn import RNNRegressor, SequenceScaler, recursive_forecast, sliding_windows
from skrnn.datasets import load_sunspots


def test_windows_of_a_univariate_series():
    X, y = sliding_windows(np.arange(10.0), window=3, horizon=2, step=2)
    np.testing.assert_array_equal(X, [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    np.testing.assert_array_equal(y, [[3, 4], [5, 6], [7, 8]])


def test_windows_of_a_multivariate_series_and_targets():
    series = np.stack([np.arange(8.0), 10 * np.arange(8.0)], axis=1)
    X, y = sliding_windows(series, window=3)
    assert X.shape == (5, 3, 2) and y.shape == (5, 2)
    np.testing.assert_array_equal(y[0], [3, 30])
    X, y = sliding_windows(series, window=3, horizon=2, target=1)
    np.testing.assert_array_equal(y[0], [30, 40])
    with pytest.raises(ValueError, match="target must name columns"):
        sliding_windows(series, window=3, target=2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(window=0), "window must be a positive integer"),
    (dict(window=3, step=0), "step must be a positive integer"),
    (dict(window=10), "too short"),
])
def test_window_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sliding_windows(np.arange(10.0), **kwargs)
    with pytest.raises(ValueError, match=r"series contains NaN at step 1 \(of 4\)\. Fill the "
                                         r"gaps first"):
        sliding_windows(np.array([1.0, np.nan, 2.0, 3.0]), window=2)
    with pytest.raises(ValueError, match=r"series contains infinity at step 2"):
        sliding_windows(np.array([[1.0, 0], [2, 0], [3, np.inf], [4, 0]]), window=2)


def test_recursive_forecast_feeds_predictions_back():
    series = np.arange(30.0)
    model = LinearRegression().fit(*sliding_windows(series, window=5))
    np.testing.assert_allclose(recursive_forecast(model, series, steps=4), [30, 31, 32, 33])
    two = np.stack([series, -series], axis=1)
    model = LinearRegression().fit(*(lambda X, y: (X.reshape(len(X), -1), y))(
        *sliding_windows(two, window=5)))

    class Flat:  # the linear model reads flattened windows
        def predict(self, X):
            return model.predict(np.asarray(X).reshape(len(X), -1))

    np.testing.assert_allclose(recursive_forecast(Flat(), two, steps=2, window=5),
                               [[30, -30], [31, -31]], atol=1e-9)
    class OneValue:  # predicts one value per window of a 2-feature series
        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(ValueError, match="next value of every feature"):
        recursive_forecast(OneValue(), two, 2, window=5)


def test_pipeline_in_transformed_target_regressor_forecasts_sunspots():
    series = load_sunspots().data
    X, y = sliding_windows(series, window=12)
    split = len(y) - 40
    model = TransformedTargetRegressor(
        regressor=make_pipeline(SequenceScaler(), RNNRegressor(
            cell="gru", hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=40,
            random_state=0)),
        transformer=StandardScaler())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:split], y[:split])
    rmse = np.sqrt(np.mean((model.predict(X[split:]) - y[split:]) ** 2))
    naive = np.sqrt(np.mean((X[split:, -1] - y[split:]) ** 2))
    assert rmse < naive
    forecast = recursive_forecast(model, series[:split + 12], steps=5)
    assert forecast.shape == (5,) and np.all(np.isfinite(forecast))
