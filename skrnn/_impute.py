"""SequenceImputer: missing values inside sequences, filled from statistics or from the sequence."""

from numbers import Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from . import _dask
from ._preprocessing import SequenceTransformer


def _previous_observed(observed):
    """(N, T, F) index of the last observed step at or before each step; -1 where none."""
    steps = np.arange(observed.shape[1])[None, :, None]
    return np.maximum.accumulate(np.where(observed, steps, -1), axis=1)


def _next_observed(observed):
    """(N, T, F) index of the first observed step at or after each step; -1 where none."""
    last = observed.shape[1] - 1
    flipped = _previous_observed(observed[:, ::-1])[:, ::-1]
    return np.where(flipped >= 0, last - flipped, -1)


def _take_steps(data, step_index):
    """data[n, step_index[n, t, f], f] for every (n, t, f); step_index must be >= 0."""
    return np.take_along_axis(data, step_index, axis=1)


def _forward_filled(data, observed, fallback):
    """Each missing value takes the last observed value of its sequence and feature, or
    ``fallback[f]`` before the first one."""
    previous = _previous_observed(observed)
    return np.where(previous >= 0, _take_steps(data, np.maximum(previous, 0)), fallback)


def _interpolated(data, observed, fallback):
    """Each missing value on the line between the observed neighbours in its sequence and
    feature; the nearest observed value at the edges; ``fallback[f]`` where none is observed."""
    previous, following = _previous_observed(observed), _next_observed(observed)
    before = _take_steps(data, np.maximum(previous, 0))
    after = _take_steps(data, np.maximum(following, 0))
    steps = np.arange(data.shape[1])[None, :, None]
    span = np.maximum(following - previous, 1)  # 0 at an observed step: its own value
    line = before + (after - before) * ((steps - previous) / span)
    edge = np.where(previous >= 0, before, np.where(following >= 0, after, fallback))
    return np.where((previous >= 0) & (following >= 0), line, edge)


class SequenceImputer(SequenceTransformer):
    """Fill missing values (NaN) inside sequences, keeping the input's form.

    ``SimpleImputer`` fills the columns of a 2-D array; sequences are 3-D, ragged or padded,
    and a value missing in a time series is best guessed from the same sequence. This imputer
    takes every form skrnn accepts and returns the same form, so it goes first in a
    ``Pipeline``, before ``SequenceScaler`` and the estimators (which reject NaN inside a
    sequence).

    What is missing: in an array, trailing steps whose features are all NaN are padding (the
    sequence ends before them) and stay NaN; any other NaN, including a whole all-NaN step
    before the end, is a missing value. In a ragged list a sequence has no padding: every NaN
    is missing (a list whose sequences all have one shape is the array it stacks into).

    Parameters
    ----------
    strategy : {"mean", "median", "constant", "ffill", "linear"}, default="mean"
        - "mean", "median": the feature's statistic over every observed valid step of every
          training sequence (learned in ``fit``);
        - "constant": ``fill_value``;
        - "ffill": the last observed value of the same sequence and feature; before the first
          one (a leading gap), the learned mean;
        - "linear": linear interpolation between the observed neighbours in the same sequence
          and feature; at the edges, the nearest observed value.

        With "ffill" and "linear", a feature never observed in a sequence takes the learned mean.
    fill_value : float, default=None
        The value of "constant" (None: 0); ignored by the other strategies.
    add_indicator : bool, default=False
        Append one 0/1 column per step for each feature that had missing values in ``fit``
        (1 where the value was missing), so a network can learn what missingness means.
        Univariate 2-D input then comes back 3-D, and 1-D sequences of a list 2-D.

    Attributes
    ----------
    statistics_ : ndarray of shape (n_step_features,)
        The value each feature's missing values take: the mean ("mean", and the fallback of
        "ffill" and "linear"), the median, or ``fill_value``.
    indicator_features_ : ndarray of int
        Features (per step) that had missing values in ``fit``: those that get an indicator
        column with ``add_indicator``.
    n_features_in_ : int
        Features per step; for a 2-D input, its number of columns (time steps).
    feature_names_in_ : ndarray
        Column names of a 2-D DataFrame input.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import SequenceImputer
    >>> X = [np.array([[1.0, 10.0], [np.nan, np.nan], [3.0, 30.0]]), np.array([[np.nan, 50.0]])]
    >>> SequenceImputer(strategy="linear").fit_transform(X)[0].tolist()
    [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]
    >>> SequenceImputer(strategy="ffill").fit_transform(X)[1].tolist()  # leading gap: the mean
    [[2.0, 50.0]]
    >>> SequenceImputer(add_indicator=True).fit_transform(X)[1].tolist()
    [[2.0, 50.0, 1.0, 0.0]]
    """

    _allow_missing = True

    _parameter_constraints: dict = {
        "strategy": [StrOptions({"mean", "median", "constant", "ffill", "linear"})],
        "fill_value": [Real, None],
        "add_indicator": ["boolean"],
    }

    def __init__(self, strategy="mean", fill_value=None, add_indicator=False):
        self.strategy = strategy
        self.fill_value = fill_value
        self.add_indicator = add_indicator

    def _observed(self, seqs):
        """(N, T, F) bool: True where a valid step holds a value."""
        return ~np.isnan(seqs.data) & seqs.step_mask()[:, :, None]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each feature's fill value and which features have missing values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps[, n_features]) or list of arrays
            NaN inside a sequence marks a missing value.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        seqs, _ = self._sequences(X, reset=True)
        steps = seqs.data[seqs.step_mask()]  # (n_valid_steps, n_step_features), NaN = missing
        missing = np.isnan(steps)
        if self.strategy == "constant":
            fill_value = 0.0 if self.fill_value is None else float(self.fill_value)
            if not np.isfinite(fill_value):
                raise ValueError(f"fill_value must be a finite number, got {self.fill_value}.")
            self.statistics_ = np.full(seqs.n_features, fill_value)
        else:
            never_observed = np.flatnonzero(missing.all(axis=0))
            if never_observed.size:
                raise ValueError(
                    f"Feature {never_observed[0]} of {seqs.n_features} per step is missing (NaN) "
                    f"in every valid step of every training sequence, so SequenceImputer "
                    f"cannot learn its {'median' if self.strategy == 'median' else 'mean'}. "
                    "Drop the feature, or use strategy='constant' with a fill_value.")
            statistic = np.nanmedian if self.strategy == "median" else np.nanmean
            self.statistics_ = statistic(steps, axis=0)
        self.indicator_features_ = np.flatnonzero(missing.any(axis=0))
        return self

    def transform(self, X):
        """Fill the missing values of X, keeping its form; padding stays padding.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        X_filled : same form as X, with the indicator columns appended per step when
            ``add_indicator`` is set and some feature had missing values in ``fit``
        """
        check_is_fitted(self, "statistics_")
        if _dask.is_dask_array(X):  # lazily, block by block
            return _dask.map_samples(self, "transform", X)
        seqs, form = self._sequences(X, reset=False)
        observed = self._observed(seqs)
        if self.strategy == "ffill":
            filled = _forward_filled(seqs.data, observed, self.statistics_)
        elif self.strategy == "linear":
            filled = _interpolated(seqs.data, observed, self.statistics_)
        else:
            filled = np.broadcast_to(self.statistics_, seqs.data.shape)
        data = np.where(observed, seqs.data, filled)
        if self.add_indicator and self.indicator_features_.size:
            was_missing = ~observed[:, :, self.indicator_features_]
            data = np.concatenate([data, was_missing.astype(np.float64)], axis=2)
        return self._in_form(data, seqs, form)

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the input's, then ``missingindicator_<name>`` for each
        indicator column.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input names; by default ``feature_names_in_`` or ``x0``, ``x1``, ...

        Returns
        -------
        feature_names_out : ndarray of str
            One name per column of a 2-D output, or per feature of a step otherwise (a
            univariate 2-D input with indicator columns comes back 3-D: ``x0`` and
            ``missingindicator_x0``).
        """
        check_is_fitted(self, "statistics_")
        names = _check_feature_names_in(self, input_features)
        if not (self.add_indicator and self.indicator_features_.size):
            return names
        if self._fit_on_2d:
            names = np.asarray(["x0"], dtype=object)
        indicators = [f"missingindicator_{names[j]}" for j in self.indicator_features_]
        return np.concatenate([names, np.asarray(indicators, dtype=object)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
