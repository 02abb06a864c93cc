"""Irregularly sampled series: resampling onto a regular grid, and the time between observations."""

import datetime
from numbers import Real

import numpy as np

# a grid this long is a step picked in the wrong unit far more often than a real need
_MAX_GRID_POINTS = 100_000_000


def _is_series_list(times):
    """True when ``times`` is a list of per-sequence time arrays (not one series as a list)."""
    return isinstance(times, (list, tuple)) and len(times) > 0 and np.ndim(times[0]) >= 1


def _checked_times(times, where):
    """``times`` as a 1-D datetime64 or float64 array, strictly increasing, without NaN/NaT."""
    times = np.asarray(times)
    if times.dtype.kind not in "Miuf":
        raise TypeError(f"{where} must hold numbers or numpy.datetime64 values, got dtype "
                        f"{times.dtype}. Convert dates with numpy.asarray(..., dtype='datetime64[s]').")
    if times.ndim != 1:
        raise ValueError(f"{where} must be 1-D (one time per observation), got shape {times.shape}.")
    if times.size == 0:
        raise ValueError(f"{where} is empty; at least one observation is required.")
    if times.dtype.kind == "M":
        if np.isnat(times).any():
            raise ValueError(f"{where} contains NaT at position {np.flatnonzero(np.isnat(times))[0]}.")
    else:
        times = times.astype(np.float64)
        if not np.isfinite(times).all():
            raise ValueError(f"{where} contains NaN or infinity at position "
                             f"{np.flatnonzero(~np.isfinite(times))[0]}.")
    not_after = np.flatnonzero(times[1:] <= times[:-1])
    if not_after.size:
        i = not_after[0] + 1
        raise ValueError(f"{where} must be strictly increasing, but position {i} ({times[i]}) is "
                         f"not after position {i - 1} ({times[i - 1]}). Sort the observations "
                         "by time and merge those at the same time first.")
    return times


def _checked_duration(duration, name, times):
    """``step`` or ``max_gap`` in the times' kind: a positive timedelta64 for datetime64 times,
    a positive number for numeric times."""
    if times.dtype.kind == "M":
        if isinstance(duration, datetime.timedelta):
            duration = np.timedelta64(duration)
        if not isinstance(duration, np.timedelta64) or np.isnat(duration):
            raise TypeError(f"With datetime64 times, {name} must be a numpy.timedelta64 such as "
                            f"numpy.timedelta64(1, 'h'), got {duration!r}.")
        if duration <= np.timedelta64(0):
            raise ValueError(f"{name} must be positive, got {duration}.")
        return duration
    if not isinstance(duration, Real) or isinstance(duration, (bool, np.timedelta64)):
        raise TypeError(f"With numeric times, {name} must be a number in the times' unit, "
                        f"got {duration!r}.")
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"{name} must be a positive finite number, got {duration}.")
    return float(duration)


def _grid_positions(times, step):
    """Each observation's time in steps from the first, snapped to whole steps within
    float rounding (so 0.3 / 0.1 counts as step 3), and the number of grid points."""
    position = (times - times[0]) / step
    whole = np.round(position)
    position = np.where(np.abs(position - whole) <= 1e-9 * np.maximum(whole, 1.0), whole, position)
    n_grid = int(np.floor(position[-1])) + 1
    if n_grid > _MAX_GRID_POINTS:
        raise ValueError(f"The series spans {n_grid} steps of {step}: more than "
                         f"{_MAX_GRID_POINTS} grid points. Pick a larger step.")
    return position, n_grid


def _resample_feature(position, value, grid, method, max_gap_steps):
    """One feature's observations (NaN: not observed) at the grid positions; NaN before its
    first observation, after its last for "linear", and inside gaps over max_gap."""
    observed = ~np.isnan(value)
    position, value = position[observed], value[observed]
    if position.size == 0:
        return np.full(grid.shape, np.nan)
    previous = np.searchsorted(position, grid, side="right") - 1  # last observation <= grid
    following = np.searchsorted(position, grid, side="left")  # first observation >= grid
    has_previous, has_following = previous >= 0, following < position.size
    previous, following = np.maximum(previous, 0), np.minimum(following, position.size - 1)
    if method == "linear":
        out = np.where(has_previous & has_following, np.interp(grid, position, value), np.nan)
    else:
        out = np.where(has_previous, value[previous], np.nan)
    if max_gap_steps is not None:
        at_observation = has_following & (position[following] == grid)
        short_gap = (has_previous & has_following
                     & (position[following] - position[previous] <= max_gap_steps))
        out[~(at_observation | short_gap)] = np.nan
    return out


def _resample_one(times, values, step, method, max_gap, where):
    times = _checked_times(times, f"times{where}")
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"values{where} must be numeric, got dtype {values.dtype}.")
    values = values.astype(np.float64)
    if values.ndim not in (1, 2) or values.shape[0] != times.shape[0]:
        raise ValueError(f"values{where} must have shape ({times.shape[0]},) or "
                         f"({times.shape[0]}, n_features), one row per time; got {values.shape}.")
    if np.isinf(values).any():
        raise ValueError(f"values{where} contains infinity.")
    step = _checked_duration(step, "step", times)
    position, n_grid = _grid_positions(times, step)
    max_gap_steps = None if max_gap is None else _checked_duration(max_gap, "max_gap", times) / step
    grid = np.arange(n_grid, dtype=np.float64)
    columns = values.reshape(len(times), -1).T
    resampled = np.stack([_resample_feature(position, column, grid, method, max_gap_steps)
                          for column in columns], axis=1)
    grid_times = times[0] + np.arange(n_grid) * step
    return grid_times, resampled.reshape((n_grid,) + values.shape[1:])


def resample(times, values, step, method="linear", max_gap=None):
    """Resample series observed at irregular times onto a regular time grid.

    RNNs read one step after another as if steps were equally spaced; a series measured at
    irregular times is first put on a grid ``times[0], times[0] + step, ...`` up to its last
    observation. Gaps longer than ``max_gap`` are left NaN rather than bridged, for
    ``SequenceImputer`` (or its indicator columns) to handle.

    Parameters
    ----------
    times : array-like of shape (n_obs,), or list of them
        Strictly increasing observation times: numbers, or ``numpy.datetime64``. A list of
        arrays is one series per sequence.
    values : array-like of shape (n_obs,) or (n_obs, n_features), or list of them
        The observations; NaN marks a feature not observed at that time (each feature is
        resampled from its own observations).
    step : float or numpy.timedelta64
        Grid spacing, in the times' unit (a ``numpy.timedelta64`` for datetime64 times).
    method : {"linear", "ffill"}, default="linear"
        "linear": interpolate between the neighbouring observations; "ffill": the last
        observation at or before the grid time. Before a feature's first observation (and,
        with "linear", after its last) the value is NaN.
    max_gap : float or numpy.timedelta64, default=None
        When set, a grid time takes a value only at an observation time or between two
        consecutive observations at most ``max_gap`` apart; elsewhere NaN.

    Returns
    -------
    grid_times : ndarray of shape (n_grid,), or list of them
        The grid, of the times' dtype.
    grid_values : ndarray of shape (n_grid,) or (n_grid, n_features), or list of them
        A list of them is the ragged-sequence input of skrnn's transformers and estimators.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import resample
    >>> times = np.array(["2024-01-01T00:00", "2024-01-01T00:40", "2024-01-01T03:00"],
    ...                  dtype="datetime64[m]")
    >>> grid, values = resample(times, [0.0, 4.0, 18.0], np.timedelta64(1, "h"),
    ...                         max_gap=np.timedelta64(2, "h"))
    >>> grid.astype(str).tolist()
    ['2024-01-01T00:00', '2024-01-01T01:00', '2024-01-01T02:00', '2024-01-01T03:00']
    >>> values.tolist()
    [0.0, nan, nan, 18.0]
    >>> resample(times, [0.0, 4.0, 18.0], np.timedelta64(1, "h"))[1].tolist()
    [0.0, 6.0, 12.0, 18.0]
    """
    if method not in ("linear", "ffill"):
        raise ValueError(f"method must be 'linear' or 'ffill', got {method!r}.")
    if not _is_series_list(times):
        return _resample_one(times, values, step, method, max_gap, "")
    if not isinstance(values, (list, tuple)) or len(values) != len(times):
        raise ValueError(f"times is a list of {len(times)} series, so values must be a list of "
                         f"as many arrays, got {type(values).__name__} of length "
                         f"{len(values) if hasattr(values, '__len__') else 'none'}.")
    pairs = [_resample_one(t, v, step, method, max_gap, f"[{i}]")
             for i, (t, v) in enumerate(zip(times, values))]
    return [grid for grid, _ in pairs], [series for _, series in pairs]


def time_deltas(times, unit=None):
    """Time since the previous observation, as a feature for irregularly sampled series.

    The other common answer to irregular sampling (instead of ``resample``): keep the
    observations as they are and give the network the elapsed time as an extra feature,
    e.g. ``np.column_stack([values, time_deltas(times, unit="h")])``.

    Parameters
    ----------
    times : array-like of shape (n_obs,), or list of them
        Strictly increasing observation times: numbers, or ``numpy.datetime64``.
    unit : str or numpy.timedelta64, default=None
        For datetime64 times, the unit of the result: a code such as ``"s"``, ``"h"``, ``"D"``
        or a ``numpy.timedelta64`` (None: seconds). Numeric times keep their own unit and take
        no ``unit``.

    Returns
    -------
    deltas : ndarray of shape (n_obs,) of float64, or list of them
        0 at the first observation (nothing precedes it), then ``times[i] - times[i - 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import time_deltas
    >>> time_deltas(np.array(["2024-01-01T00:00", "2024-01-01T00:30", "2024-01-01T02:00"],
    ...                      dtype="datetime64[m]"), unit="h").tolist()
    [0.0, 0.5, 1.5]
    >>> time_deltas([0.0, 0.25, 1.0]).tolist()
    [0.0, 0.25, 0.75]
    """
    if _is_series_list(times):
        return [_time_deltas_one(t, unit, f"times[{i}]") for i, t in enumerate(times)]
    return _time_deltas_one(times, unit, "times")


def _time_deltas_one(times, unit, where):
    times = _checked_times(times, where)
    deltas = np.diff(times, prepend=times[:1])
    if times.dtype.kind != "M":
        if unit is not None:
            raise TypeError(f"unit applies to datetime64 times only; {where} is numeric, got "
                            f"unit={unit!r}.")
        return deltas
    if unit is None:
        unit = np.timedelta64(1, "s")
    elif isinstance(unit, str):
        try:
            unit = np.timedelta64(1, unit)
        except (TypeError, ValueError):
            raise ValueError(f"unit must be a numpy time unit code such as 's', 'm', 'h' or "
                             f"'D', got {unit!r}.") from None
    return deltas / _checked_duration(unit, "unit", times)
