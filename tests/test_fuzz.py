"""Fuzz tests of the public API: every input either works or raises a ValueError, TypeError
or MemoryError that says what is wrong; nothing else escapes and nothing returns NaN.

Each API draws problems that are valid or broken in one way (a ``fault``); the counts of
what worked and what raised are kept per API and checked at the end of the module, so that
no fuzz test is all error paths (or all happy paths).
"""

import collections
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

from skrnn import (RNNClassifier, RNNRegressor, SequenceImputer, SequenceScaler, Stream,
                   generate, recursive_forecast, resample, sliding_windows, time_deltas)

CLEAR_ERRORS = (ValueError, TypeError, MemoryError)
OUTCOMES = collections.Counter()  # (api, "worked" or "raised") -> examples


def fuzz(max_examples):
    """Hypothesis settings of these tests: no deadline, no example database, no health
    checks (the problems are drawn by hand on purpose)."""
    return settings(max_examples=max_examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _outcome(api, call):
    """``call()``'s result, or None after a clear error; counted under ``api``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call()
        except CLEAR_ERRORS as error:
            assert str(error), "errors must say what is wrong"
            OUTCOMES[api, "raised"] += 1
            return None
    OUTCOMES[api, "worked"] += 1
    return result


def _assert_finite(values):
    for piece in values if isinstance(values, (list, tuple)) else [values]:
        assert np.isfinite(np.asarray(piece, dtype=float)).all()


def _sequences(draw, rng, fault, n, T, F, missing=False):
    """X as a 3-D NaN-padded array, a 2-D array or a ragged list; with ``missing``, NaN
    inside some sequences too."""
    kind = draw(st.sampled_from(["3d", "2d", "list"]))
    lengths = rng.integers(1, T + 1, size=n) if T else np.zeros(n, dtype=int)
    if fault == "empty sequence" and n:
        lengths[rng.integers(n)] = 0
    if kind == "list":
        X = [rng.normal(size=(length, F)) for length in lengths]
    else:
        X = rng.normal(size=(n, T, F) if kind == "3d" else (n, T))
        if kind == "3d" and fault != "empty sequence":  # NaN-padded ragged lengths
            for i, length in enumerate(lengths):
                X[i, length:] = np.nan
    if missing:
        for seq in (X if isinstance(X, list) else [X]):
            if np.size(seq):
                np.asarray(seq).flat[rng.integers(np.size(seq))] = np.nan
    if fault == "1d":
        X = rng.normal(size=T)
    elif fault == "4d":
        X = rng.normal(size=(n, T, F, 2))
    elif fault in ("nan inside", "inf"):
        target = X[0] if isinstance(X, list) and X else X
        if np.size(target):
            np.asarray(target).flat[0] = np.nan if fault == "nan inside" else np.inf
    elif fault == "complex" and not isinstance(X, list):
        X = X.astype(np.complex64)
    elif fault == "object strings" and not isinstance(X, list):
        X = X.astype(object)
        if X.size:
            X.flat[0] = "a"
    return X


# ------------------------------------------------------------------------------ estimators

_ESTIMATOR_FAULTS = [None] * 12 + [
    "1d", "4d", "no samples", "no steps", "no features", "nan inside", "inf", "complex",
    "object strings", "y short", "y nan", "y strings", "continuous labels", "hidden",
    "dropout", "dtype", "negative token", "huge token", "empty sequence", "predict width",
]


@st.composite
def _estimator_problems(draw):
    """A fit/predict problem, valid or broken in exactly one way (``fault``)."""
    fault = draw(st.sampled_from(_ESTIMATOR_FAULTS))
    tokens = draw(st.booleans()) and draw(st.booleans())
    classifier = draw(st.booleans())
    return_sequences = draw(st.booleans())
    n = 0 if fault == "no samples" else draw(st.integers(1, 6))
    T = 0 if fault == "no steps" else draw(st.integers(1, 6))
    F = 0 if fault == "no features" else draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    if tokens:
        lengths = rng.integers(1, T + 1, size=n) if T else np.zeros(n, dtype=int)
        if fault == "empty sequence" and n:
            lengths[rng.integers(n)] = 0
        ids = rng.integers(0, 12, size=(n, T))
        if fault == "negative token" and ids.size:
            ids.flat[0] = -5
        if fault == "huge token" and ids.size:
            ids.flat[0] = 2 ** 40
        X = ids if draw(st.booleans()) else [row[:length] for row, length in zip(ids, lengths)]
    else:
        X = _sequences(draw, rng, fault, n, T, F)

    valid_lengths = ([len(seq) for seq in X] if isinstance(X, list)
                     else [X.shape[1] if X.ndim > 1 else 0] * len(X))
    if return_sequences:
        y = [rng.integers(0, 3, size=length) if classifier else rng.normal(size=length)
             for length in valid_lengths]
    else:
        y = rng.integers(0, 3, size=len(X)) if classifier else rng.normal(size=len(X))
    if fault == "y short":
        y = y[:-1]
    elif fault == "y nan" and not return_sequences:
        y = np.full(len(X), np.nan)
    elif fault == "y strings" and not return_sequences:
        y = np.array(["a", "b"] * len(X), dtype=object)[:len(X)]
    elif fault == "continuous labels" and classifier and not return_sequences:
        y = rng.normal(size=len(X))
    params = dict(
        hidden_layer_sizes=(0,) if fault == "hidden" else draw(st.sampled_from([(3,), (2, 4)])),
        dropout=1.5 if fault == "dropout" else draw(st.sampled_from([0.0, 0.3])),
        dtype="float16" if fault == "dtype" else draw(st.sampled_from(["float32", "float64"])),
        embedding_dim=3 if tokens else None, return_sequences=return_sequences,
        cell=draw(st.sampled_from(["rnn", "lstm", "gru"])),
        bidirectional=draw(st.booleans()), batch_size=draw(st.sampled_from(["auto", 1, 64])),
        max_iter=1)
    X_new = X
    if fault == "predict width" and isinstance(X, np.ndarray) and X.ndim in (2, 3):
        X_new = np.concatenate([X, X], axis=-1)  # other time steps (2-D) or features (3-D)
    return X, y, X_new, classifier, params


@fuzz(300)
@given(problem=_estimator_problems())
def test_estimators_work_or_raise_a_clear_error(problem):
    X, y, X_new, classifier, params = problem
    est = _outcome("estimators", lambda: (RNNClassifier if classifier else RNNRegressor)(
        **params).fit(X, y))
    if est is None:
        return
    predicted = _outcome("estimators: predict", lambda: est.predict(X_new))
    if predicted is not None and not classifier:
        _assert_finite(predicted)
    if classifier and predicted is not None:
        _assert_finite(est.predict_proba(X_new))
    if predicted is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # R^2 of one sample: NaN, as scikit-learn says
            score = est.score(X, y)
        assert np.isfinite(score) or (not classifier and len(X) < 2)
    if isinstance(X_new, np.ndarray) and X_new.ndim in (2, 3) and X_new.dtype.kind == "f":
        _predict_on_dask(est, X_new, predicted)


def _predict_on_dask(est, X, predicted):
    """The same X as a Dask array of blocks of 1-3 sequences: the same predictions, or a
    clear error when it is read."""
    da = pytest.importorskip("dask.array")
    import dask

    lazy = da.from_array(X, chunks=(max(1, len(X) // 2),) + X.shape[1:])
    with dask.config.set(scheduler="synchronous"):
        result = _outcome("estimators on Dask", lambda: np.asarray(est.predict(lazy)))
    if result is not None and predicted is not None:
        np.testing.assert_array_equal(result, np.asarray(predicted))


# ------------------------------------------------------------------------------ transformers

_TRANSFORMER_FAULTS = [None] * 8 + ["1d", "4d", "no samples", "no steps", "no features",
                                    "inf", "complex", "object strings", "empty sequence",
                                    "other features"]


@st.composite
def _transformer_problems(draw):
    fault = draw(st.sampled_from(_TRANSFORMER_FAULTS))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    n = 0 if fault == "no samples" else draw(st.integers(1, 6))
    T = 0 if fault == "no steps" else draw(st.integers(1, 6))
    F = 0 if fault == "no features" else draw(st.integers(1, 3))
    X = _sequences(draw, rng, fault, n, T, F, missing=draw(st.booleans()))
    X_new = X
    if fault == "other features" and isinstance(X, np.ndarray) and X.ndim == 3:
        X_new = np.concatenate([X, X], axis=2)
    transformer = draw(st.sampled_from([
        SequenceScaler(), SequenceScaler(method="minmax"),
        SequenceScaler(method="minmax", feature_range=(2, 1)),
        SequenceImputer(), SequenceImputer(strategy="median", add_indicator=True),
        SequenceImputer(strategy="constant", fill_value=draw(st.sampled_from([0.0, np.inf]))),
        SequenceImputer(strategy="ffill"), SequenceImputer(strategy="linear", add_indicator=True),
    ]))
    return transformer, X, X_new


@fuzz(300)
@given(problem=_transformer_problems())
def test_transformers_work_or_raise_a_clear_error(problem):
    transformer, X, X_new = problem
    fitted = _outcome("transformers", lambda: transformer.fit(X))
    if fitted is None:
        return
    out = _outcome("transformers: transform", lambda: fitted.transform(X_new))
    if out is None or not isinstance(fitted, SequenceImputer):
        return
    # imputed: every valid step has a value (trailing all-NaN rows of arrays are padding)
    for seq in (out if isinstance(out, list) else [out]):
        seq = np.asarray(seq, dtype=float)
        seq = seq.reshape(seq.shape[0], -1) if isinstance(out, list) else seq
        rows = seq.reshape(-1, seq.shape[-1]) if seq.ndim == 3 else seq.reshape(-1, 1)
        padding = np.isnan(rows).all(axis=1)
        assert np.isfinite(rows[~padding]).all()


# ------------------------------------------------------------------------------ forecasting

@st.composite
def _forecast_problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    n_steps = draw(st.one_of(st.integers(8, 40), st.integers(0, 8)))
    series = rng.normal(size=(n_steps, draw(st.integers(1, 2))) if draw(st.booleans())
                        else n_steps)
    fault = draw(st.sampled_from([None] * 8 + ["nan", "inf", "strings", "3d", "window",
                                               "horizon", "step", "target", "steps"]))
    if fault in ("nan", "inf") and series.size:
        series.flat[rng.integers(series.size)] = np.nan if fault == "nan" else np.inf
    elif fault == "strings":
        series = series.astype(object)
        if series.size:
            series.flat[0] = "x"
    elif fault == "3d":
        series = series.reshape(-1, 1, 1)
    kwargs = {name: draw(st.sampled_from([0, -1, True, 2.5, 10 ** 12])) if fault == name
              else draw(st.integers(1, 5)) for name in ("window", "horizon", "step")}
    if fault == "target":
        kwargs["target"] = draw(st.sampled_from([5, -1, [], [0, 7]]))
    elif series.ndim == 2 and draw(st.booleans()):
        kwargs["target"] = draw(st.sampled_from([0, [0]]))
    steps = draw(st.sampled_from([0, -1, 2.0, True]) if fault == "steps" else st.integers(1, 5))
    return series, kwargs, steps


@fuzz(250)
@given(problem=_forecast_problems())
def test_forecasting_works_or_raises_a_clear_error(problem):
    series, kwargs, steps = problem
    windows = _outcome("forecasting", lambda: sliding_windows(series, **kwargs))
    if windows is None:
        return
    X, y = windows
    _assert_finite([X, y])
    if X.ndim != 2 or y.ndim != 1:
        return
    model = LinearRegression().fit(X, y)
    forecast = _outcome("forecasting: recursive_forecast",
                        lambda: recursive_forecast(model, series, steps))
    if forecast is not None:
        assert len(forecast) == steps


# ------------------------------------------------------------------------------ resampling

@st.composite
def _resample_problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    fault = draw(st.sampled_from([None] * 8 + ["unsorted", "duplicate", "nan time", "no times",
                                               "values short", "strings", "inf value",
                                               "step", "max_gap", "method"]))
    n_obs = 0 if fault == "no times" else draw(st.integers(2, 8))
    times = np.cumsum(rng.exponential(draw(st.sampled_from([0.5, 3.0])), size=n_obs))
    if fault == "unsorted":
        times = times[::-1]
    elif fault == "duplicate":
        times[1] = times[0]
    elif fault == "nan time":
        times[-1] = np.nan
    datetimes = draw(st.booleans())
    if datetimes:
        times = np.datetime64("2024-01-01T00:00", "s") + (times * 3600).astype("timedelta64[s]")
    values = rng.normal(size=(n_obs, draw(st.integers(1, 2))) if draw(st.booleans())
                        else n_obs)
    if values.size and draw(st.booleans()):
        values.flat[rng.integers(values.size)] = np.nan  # an unobserved feature value
    if fault == "values short":
        values = values[:-1]
    elif fault == "strings":
        values = values.astype(str)
    elif fault == "inf value" and values.size:
        values.flat[0] = np.inf
    hours = draw(st.sampled_from([0.0, -1.0, 1e-12]) if fault == "step"
                 else st.sampled_from([1.0, 0.25, 2.0]))
    step = np.timedelta64(int(hours * 3600), "s") if datetimes else hours
    max_gap = draw(st.sampled_from([0.0, -2.0]) if fault == "max_gap"
                   else st.sampled_from([None, 2.0, 5.0]))
    if datetimes and max_gap is not None:
        max_gap = np.timedelta64(int(max_gap * 3600), "s")
    method = "nearest" if fault == "method" else draw(st.sampled_from(["linear", "ffill"]))
    as_list = draw(st.booleans())
    return ([times, times] if as_list else times), ([values, values] if as_list else values), \
        step, method, max_gap


@fuzz(250)
@given(problem=_resample_problems())
def test_resampling_works_or_raises_a_clear_error(problem):
    times, values, step, method, max_gap = problem
    result = _outcome("resampling", lambda: resample(times, values, step, method=method,
                                                     max_gap=max_gap))
    if result is not None:
        grid_values = result[1] if isinstance(result[1], list) else [result[1]]
        for grid in grid_values:
            assert not np.isinf(grid).any()  # NaN is a gap; infinity never
    deltas = _outcome("resampling: time_deltas", lambda: time_deltas(times))
    if deltas is not None:
        _assert_finite(deltas)


# ------------------------------------------------------------------------------ streaming

_STREAM_MODELS = {}


def _stream_model(kind):
    """Small fitted models to stream from, made once: float per-step regressor (3
    features), univariate sequence-to-one regressor (2-D fit), token language model."""
    if kind not in _STREAM_MODELS:
        rng = np.random.default_rng(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "float":
                X = rng.normal(size=(20, 6, 3))
                model = RNNRegressor(cell="lstm", hidden_layer_sizes=(4, 3),
                                     return_sequences=True, max_iter=1).fit(X, X)
            elif kind == "univariate":
                X = rng.normal(size=(20, 6))
                model = RNNRegressor(cell="rnn", hidden_layer_sizes=(4,), max_iter=1).fit(
                    X, X[:, -1])
            else:
                ids = rng.integers(0, 8, size=(20, 6))
                model = RNNClassifier(cell="gru", hidden_layer_sizes=(4,), embedding_dim=2,
                                      return_sequences=True, max_iter=1).fit(
                    ids, np.roll(ids, -1, axis=1))
        _STREAM_MODELS[kind] = model
    return _STREAM_MODELS[kind]


@st.composite
def _stream_problems(draw):
    kind = draw(st.sampled_from(["float", "univariate", "tokens"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    n_new = draw(st.integers(0, 4))
    width = draw(st.sampled_from([3, 3, 3, 1, 2]))
    fault = draw(st.sampled_from([None] * 5 + ["nan", "strings", "3d", "big id", "float id"]))
    if kind == "tokens":
        steps = rng.integers(0, 8, size=n_new)
        if fault == "big id" and n_new:
            steps[0] = 10 ** 9
        elif fault == "float id":
            steps = steps + 0.5
    else:
        steps = rng.normal(size=(n_new, width) if kind == "float" else n_new)
        if fault == "nan" and steps.size:
            steps.flat[0] = np.nan
        elif fault == "3d":
            steps = steps[None]
    if fault == "strings":
        steps = np.asarray(steps).astype(str)
    generate_kwargs = dict(temperature=draw(st.sampled_from([0, 0.5, 1.0, -1.0, np.nan])),
                           top_k=draw(st.sampled_from([None, 1, 3, 0])),
                           random_state=draw(st.integers(0, 10)))
    return kind, steps, draw(st.integers(-1, 4)), generate_kwargs


@fuzz(250)
@given(problem=_stream_problems())
def test_streaming_works_or_raises_a_clear_error(problem):
    kind, steps, n_steps, generate_kwargs = problem
    model = _stream_model(kind)
    stream = Stream(model)
    out = _outcome("streaming", lambda: stream.push(steps))
    if out is not None and kind != "tokens":
        _assert_finite(out)
    kwargs = generate_kwargs if kind == "tokens" else {}
    generated = _outcome("streaming: generate", lambda: generate(model, steps, n_steps, **kwargs))
    if generated is not None:
        assert len(generated) == n_steps
        if kind != "tokens":
            _assert_finite(generated)


def test_every_fuzzed_api_both_worked_and_raised():
    """No fuzz test above is all error paths or all happy paths (runs after them, in file
    order); prints the counts."""
    apis = {api for api, _ in OUTCOMES if ":" not in api and "Dask" not in api}
    if not apis:
        pytest.skip("run together with the fuzz tests")
    for api in sorted(apis):
        worked, raised = OUTCOMES[api, "worked"], OUTCOMES[api, "raised"]
        print(f"{api}: {worked} worked, {raised} raised a clear error")
        assert worked >= 0.2 * (worked + raised) and raised >= 0.1 * (worked + raised), api
    on_dask = OUTCOMES["estimators on Dask", "worked"], OUTCOMES["estimators on Dask", "raised"]
    print(f"predict on Dask arrays: {on_dask[0]} worked, {on_dask[1]} raised a clear error")
