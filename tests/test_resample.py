"""resample and time_deltas: float and datetime64 times, one series or many, gaps, errors."""

import datetime

import numpy as np
import pytest

from skrnn import SequenceImputer, resample, time_deltas


def _minutes(*offsets):
    return np.datetime64("2024-03-01T08:00") + np.array(offsets, dtype="timedelta64[m]")


def test_linear_puts_a_line_on_the_grid_exactly():
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 50, size=30))
    times[0], times[-1] = 0.0, 50.0
    values = np.column_stack([2.0 * times + 1.0, -times])
    grid, out = resample(times, values, step=0.5)
    np.testing.assert_allclose(grid, np.arange(101) * 0.5)
    np.testing.assert_allclose(out, np.column_stack([2.0 * grid + 1.0, -grid]), atol=1e-12)


def test_float_steps_land_on_observations_despite_rounding():
    times = np.array([0.0, 0.1, 0.2, 0.3])  # 0.3 / 0.1 is 2.9999999999999996
    grid, out = resample(times, [1.0, 2.0, 3.0, 4.0], step=0.1)
    assert grid.shape == (4,)
    np.testing.assert_allclose(out, [1.0, 2.0, 3.0, 4.0])


def test_datetime64_times_with_ffill_and_max_gap():
    times = _minutes(0, 25, 50, 240, 260)  # a 190-minute gap between 50 and 240
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    grid, out = resample(times, values, np.timedelta64(30, "m"), method="ffill")
    assert grid.dtype.kind == "M" and grid[0] == times[0] and len(grid) == 9
    np.testing.assert_array_equal(grid, _minutes(*range(0, 241, 30)))
    np.testing.assert_allclose(out, [1, 2, 3, 3, 3, 3, 3, 3, 4])
    _, gapped = resample(times, values, np.timedelta64(30, "m"), method="ffill",
                         max_gap=datetime.timedelta(hours=1))
    np.testing.assert_allclose(gapped, [1, 2, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 4])
    _, linear = resample(times, values, np.timedelta64(30, "m"), max_gap=np.timedelta64(1, "h"))
    np.testing.assert_allclose(linear[:2], [1.0, 2.0 + 5 / 25])
    assert np.isnan(linear[2:8]).all() and linear[8] == 4.0


def test_each_feature_uses_its_own_observations():
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    values = np.array([[0.0, np.nan], [np.nan, 10.0], [2.0, np.nan], [np.nan, 30.0],
                       [4.0, np.nan]])
    _, linear = resample(times, values, step=1.0)
    np.testing.assert_allclose(linear[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(linear[:, 1], [np.nan, 10, 20, 30, np.nan])  # outside: unknown
    _, ffill = resample(times, values, step=1.0, method="ffill")
    np.testing.assert_allclose(ffill[:, 1], [np.nan, 10, 10, 30, 30])
    _, gapped = resample(times, values, step=1.0, max_gap=1.5)
    np.testing.assert_allclose(gapped[:, 0], [0, np.nan, 2, np.nan, 4])


def test_a_list_of_series_becomes_ragged_sequences_for_the_imputer():
    times = [_minutes(0, 7, 30, 58), _minutes(5, 15, 95, 100, 120)]
    values = [np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [4.0, 3.0]]),
              np.array([[5.0, 5.0], [6.0, 6.0], [7.0, 7.0], [8.0, 8.0], [9.0, 9.0]])]
    grids, series = resample(times, values, np.timedelta64(10, "m"),
                             max_gap=np.timedelta64(30, "m"))
    assert [len(g) for g in grids] == [6, 12] and [s.shape for s in series] == [(6, 2), (12, 2)]
    assert grids[1][0] == times[1][0]
    assert np.isnan(series[1][2:9]).all() and not np.isnan(series[0]).any()
    filled = SequenceImputer(strategy="linear").fit_transform(series)
    assert not np.isnan(np.concatenate(filled)).any()
    np.testing.assert_allclose(filled[1][[1, 9], 0], series[1][[1, 9], 0])


def test_time_deltas_float_datetime_and_lists():
    np.testing.assert_allclose(time_deltas([1.0, 1.5, 4.0]), [0.0, 0.5, 2.5])
    times = _minutes(0, 30, 120)
    np.testing.assert_allclose(time_deltas(times), [0, 1800, 5400])
    np.testing.assert_allclose(time_deltas(times, unit="h"), [0, 0.5, 1.5])
    np.testing.assert_allclose(time_deltas(times, unit=np.timedelta64(15, "m")), [0, 2, 6])
    out = time_deltas([times, _minutes(3, 4)], unit="m")
    assert isinstance(out, list)
    np.testing.assert_allclose(out[1], [0, 1])


def test_bad_inputs_raise_clear_errors():
    times, values = np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"strictly increasing, but position 2 \(1.0\)"):
        resample([0.0, 1.0, 1.0], values, 1.0)
    with pytest.raises(ValueError, match="method must be 'linear' or 'ffill'"):
        resample(times, values, 1.0, method="cubic")
    with pytest.raises(ValueError, match="step must be a positive finite number"):
        resample(times, values, 0.0)
    with pytest.raises(TypeError, match="With datetime64 times, step must be a numpy.timedelta64"):
        resample(_minutes(0, 1, 2), values, 1.0)
    with pytest.raises(TypeError, match="With numeric times, max_gap must be a number"):
        resample(times, values, 1.0, max_gap=np.timedelta64(1, "s"))
    with pytest.raises(ValueError, match=r"values must have shape \(3,\) or \(3, n_features\)"):
        resample(times, values[:2], 1.0)
    with pytest.raises(ValueError, match="values contains infinity"):
        resample(times, [1.0, np.inf, 2.0], 1.0)
    with pytest.raises(ValueError, match="times contains NaN or infinity at position 1"):
        resample([0.0, np.nan, 2.0], values, 1.0)
    with pytest.raises(ValueError, match="times contains NaT"):
        time_deltas(np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"))
    with pytest.raises(TypeError, match="numpy.datetime64"):
        time_deltas(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="more than 100000000 grid points"):
        resample([0.0, 1e9], [1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="values must be a list of as many arrays"):
        resample([times, times], values, 1.0)
    with pytest.raises(ValueError, match=r"times\[1\] must be strictly increasing"):
        resample([times, times[::-1]], [values, values], 1.0)
    with pytest.raises(TypeError, match="unit applies to datetime64 times only"):
        time_deltas(times, unit="s")
    with pytest.raises(ValueError, match="unit must be a numpy time unit code"):
        time_deltas(_minutes(0, 1), unit="fortnight")
    with pytest.raises(ValueError, match="times is empty"):
        time_deltas([])
