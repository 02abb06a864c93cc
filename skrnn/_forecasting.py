"""Forecasting helpers: sliding windows over one long series, and recursive forecasts."""

import numpy as np
from sklearn.utils import check_array

from ._memory import check_fits


def _check_series(series, name="series"):
    series = check_array(series, ensure_2d=False, dtype=(np.float64, np.float32),
                         input_name=name, ensure_all_finite=False)
    if series.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (n_steps,) or 2-D (n_steps, n_features); got "
                         f"shape {series.shape}.")
    finite_steps = np.isfinite(series.reshape(series.shape[0], -1)).all(axis=1)
    if not finite_steps.all():
        step = int(np.flatnonzero(~finite_steps)[0])
        what = "NaN" if np.isnan(series[step]).any() else "infinity"
        raise ValueError(f"{name} contains {what} at step {step} (of {series.shape[0]}). "
                         "Fill the gaps first (for example with pandas' interpolate, or "
                         "skrnn.SequenceImputer), or cut the series there.")
    return series


def sliding_windows(series, window, horizon=1, step=1, target=None):
    """Cut one long series into (X, y) pairs for forecasting.

    Window ``i`` holds ``series[i * step : i * step + window]`` and its target the following
    ``horizon`` values.

    Parameters
    ----------
    series : array-like of shape (n_steps,) or (n_steps, n_features)
        The series, oldest first.
    window : int
        Steps in each input window.
    horizon : int, default=1
        Steps ahead to predict.
    step : int, default=1
        Stride between consecutive windows.
    target : int, sequence of int or None, default=None
        Columns of a 2-D series to predict (None: all of them).

    Returns
    -------
    X : ndarray of shape (n_windows, window) for a 1-D series, (n_windows, window,
        n_features) for a 2-D one
    y : ndarray of shape (n_windows,) with one target value per window (horizon 1, one
        column), else (n_windows, horizon * n_targets), the horizon's steps in order

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import sliding_windows
    >>> X, y = sliding_windows(np.arange(6.0), window=3)
    >>> X
    array([[0., 1., 2.],
           [1., 2., 3.],
           [2., 3., 4.]])
    >>> y
    array([3., 4., 5.])
    """
    series = _check_series(series)
    for name, value in (("window", window), ("horizon", horizon), ("step", step)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    n_windows = (series.shape[0] - window - horizon) // step + 1
    if n_windows < 1:
        raise ValueError(f"A series of {series.shape[0]} steps is too short for one window of "
                         f"{window} steps and a horizon of {horizon}.")
    n_columns = series.shape[1] if series.ndim == 2 else 1
    check_fits({"windows": n_windows * (window + horizon) * n_columns * series.itemsize},
               f"Cutting {n_windows:,} windows of {window:,} steps",
               "Each window holds a copy of its steps: use a larger step or a shorter window.")
    starts = np.arange(n_windows) * step
    X = series[starts[:, None] + np.arange(window)]
    future = series[starts[:, None] + window + np.arange(horizon)]  # (n, horizon[, F])
    if series.ndim == 2:
        columns = np.arange(series.shape[1]) if target is None else np.atleast_1d(target)
        if columns.size == 0 or np.any(columns >= series.shape[1]) or np.any(columns < 0):
            raise ValueError(f"target must name columns of the series (0 to "
                             f"{series.shape[1] - 1}), got {target!r}.")
        future = future[:, :, columns]
    elif target is not None:
        raise ValueError("target selects columns of a 2-D series; this series is 1-D.")
    y = future.reshape(n_windows, -1)
    return X, (y[:, 0] if y.shape[1] == 1 else y)


def recursive_forecast(estimator, history, steps, window=None):
    """Forecast ``steps`` values ahead, feeding each prediction back as the next input.

    Parameters
    ----------
    estimator : fitted estimator
        Trained on windows from ``sliding_windows`` with horizon 1 and every column as
        target: it maps a window to the next value of the series (a Pipeline or a
        TransformedTargetRegressor around an RNNRegressor works).
    history : array-like of shape (n_steps,) or (n_steps, n_features)
        The series up to now, oldest first.
    steps : int
        Values to forecast.
    window : int or None, default=None
        Input length; by default the estimator's ``n_features_in_`` for a model fitted on
        2-D windows of a 1-D series, else the whole history.

    Returns
    -------
    forecast : ndarray of shape (steps,) or (steps, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skrnn import recursive_forecast, sliding_windows
    >>> series = np.arange(20.0)
    >>> model = LinearRegression().fit(*sliding_windows(series, window=4))
    >>> recursive_forecast(model, series, steps=3).round(6)
    array([20., 21., 22.])
    """
    history = _check_series(history, "history")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    if window is None:
        window = getattr(estimator, "n_features_in_", None) if history.ndim == 1 else None
        window = history.shape[0] if window is None else window
    if window > history.shape[0]:
        raise ValueError(f"history has {history.shape[0]} steps; the model reads windows of "
                         f"{window}.")
    buffer = list(history[-window:])
    forecast = []
    for _ in range(steps):
        inputs = np.asarray(buffer[-window:])[None]
        prediction = np.asarray(estimator.predict(inputs), dtype=float).reshape(-1)
        expected = 1 if history.ndim == 1 else history.shape[1]
        if prediction.shape[0] != expected:
            raise ValueError(f"The estimator predicts {prediction.shape[0]} values per window "
                             f"but the series has {expected} feature(s); a recursive forecast "
                             "needs the next value of every feature.")
        value = prediction[0] if history.ndim == 1 else prediction
        forecast.append(value)
        buffer.append(value)
    return np.asarray(forecast)
