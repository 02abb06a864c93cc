"""Sequence transformers' shared input handling (every form in, the same form out), and
SequenceScaler: per-feature scaling over every time step of every training sequence."""

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _dask
from ._sequences import is_regular_sequence_list, sequences_from_input


class SequenceTransformer(TransformerMixin, BaseEstimator):
    """Base of skrnn's transformers: validates X in every form skrnn accepts and gives the
    result back in the same form.

    A subclass works on ``Sequences`` (a padded (N, T, F) float64 array and the lengths) and
    returns its result through ``_in_form``. ``_allow_missing = True`` keeps NaN inside a
    sequence as a missing value (``SequenceImputer``) rather than rejecting it.
    """

    _allow_missing = False

    def _sequences(self, X, reset):
        """Validate X; returns (Sequences, form) with form[0] in {"2d", "3d", "list"}."""
        if is_regular_sequence_list(X):
            X = np.asarray(X)
        if isinstance(X, (list, tuple)):
            seqs = sequences_from_input(X, np.float64, allow_missing=self._allow_missing)
            form = ("list", [np.ndim(seq) for seq in X])
            two_d = False
        else:
            two_d = (X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim) == 2
            if two_d and (reset or self._fit_on_2d):  # scikit-learn's fixed columns
                X = validate_data(self, X, reset=reset, dtype=(np.float64, np.float32),
                                  ensure_all_finite=False)
            seqs = sequences_from_input(X, np.float64, allow_missing=self._allow_missing)
            form = ("2d" if two_d else "3d", np.asarray(X).dtype)
        if reset:
            self._fit_on_2d = two_d
            self._step_features = seqs.n_features
            self.n_features_in_ = int(X.shape[1] if two_d else seqs.n_features)
            if not two_d and hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif seqs.n_features != self._step_features:
            raise ValueError(f"X has {seqs.n_features} features per step, but "
                             f"{type(self).__name__} is expecting {self._step_features}.")
        return seqs, form

    @staticmethod
    def _in_form(data, seqs, form):
        """(N, T, F') float64 ``data`` computed from ``seqs``, in the form X came in.

        Padding becomes NaN again in arrays. With one feature per step, 2-D input comes back
        2-D and 1-D sequences 1-D; with more (indicator columns added), 3-D and 2-D.
        """
        kind, detail = form
        univariate = data.shape[2] == 1
        if kind == "list":
            return [data[i, :length, 0] if ndim == 1 and univariate else data[i, :length]
                    for i, (length, ndim) in enumerate(zip(seqs.lengths, detail))]
        data[~seqs.step_mask()] = np.nan  # padding stays padding
        dtype = detail if np.issubdtype(detail, np.floating) else np.float64
        out = data[:, :, 0] if kind == "2d" and univariate else data
        return out.astype(dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags


class SequenceScaler(OneToOneFeatureMixin, SequenceTransformer):
    """Standardise or min-max scale each feature over all steps of all sequences.

    ``StandardScaler`` scales the columns of a 2-D array; sequences are 3-D, ragged or padded.
    This scaler pools every valid step of every training sequence per feature, and returns
    data in the form it was given: a 3-D array (trailing all-NaN padding rows stay NaN), a
    2-D array of univariate sequences (one feature: one scale for every column), or a list
    of arrays.

    Parameters
    ----------
    method : {"standard", "minmax"}, default="standard"
        Zero mean and unit variance, or the range ``feature_range``.
    feature_range : tuple (min, max), default=(0, 1)
        Target range of "minmax".

    Attributes
    ----------
    center_ : ndarray of shape (n_step_features,)
        Mean ("standard") or data minimum ("minmax") of each feature.
    scale_ : ndarray of shape (n_step_features,)
        Standard deviation, or ``(data max - data min) / (max - min)``; 1 where a feature is
        constant.
    n_features_in_ : int
        Features per step; for a 2-D input, its number of columns (time steps).
    feature_names_in_ : ndarray
        Column names of a 2-D DataFrame input.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import SequenceScaler
    >>> X = [np.array([[1.0, 10.0], [3.0, 30.0]]), np.array([[5.0, 50.0]])]
    >>> scaled = SequenceScaler().fit_transform(X)
    >>> [s.round(3).tolist() for s in scaled]
    [[[-1.225, -1.225], [0.0, 0.0]], [[1.225, 1.225]]]
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"standard", "minmax"})],
        "feature_range": [tuple],
    }

    def __init__(self, method="standard", feature_range=(0, 1)):
        self.method = method
        self.feature_range = feature_range

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute each feature's statistics over all valid steps.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps[, n_features]) or list of arrays
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        if self.method == "minmax":
            low, high = self.feature_range
            if not low < high:
                raise ValueError(f"feature_range must be (min, max) with min < max, got "
                                 f"{self.feature_range}.")
        seqs, _ = self._sequences(X, reset=True)
        steps = seqs.data[seqs.step_mask()]  # (n_valid_steps, n_step_features)
        if self.method == "standard":
            self.center_ = steps.mean(axis=0)
            spread = steps.std(axis=0)
            target_width = 1.0
        else:
            self.center_ = steps.min(axis=0)
            spread = steps.max(axis=0) - self.center_
            target_width = self.feature_range[1] - self.feature_range[0]
        self.scale_ = np.where(spread > 0, spread / target_width, 1.0)
        return self

    def _apply(self, X, forward):
        check_is_fitted(self, "scale_")
        if _dask.is_dask_array(X):  # lazily, block by block
            return _dask.map_samples(self, "transform" if forward else "inverse_transform",
                                     X)
        seqs, form = self._sequences(X, reset=False)
        offset = 0.0 if self.method == "standard" else self.feature_range[0]
        if forward:
            data = (seqs.data - self.center_) / self.scale_ + offset
        else:
            data = (seqs.data - offset) * self.scale_ + self.center_
        return self._in_form(data, seqs, form)

    def transform(self, X):
        """Scale X with the fitted statistics, keeping its form.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        X_scaled : same form as X
        """
        return self._apply(X, forward=True)

    def inverse_transform(self, X):
        """Undo ``transform``.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        X_original : same form as X
        """
        return self._apply(X, forward=False)
