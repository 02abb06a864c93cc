"""The estimators' inputs: X checked against what fit learned, and targets aligned with it.

``validate_sequences`` turns X in any accepted form into ``Sequences`` (``_sequences``)
and records (in ``fit``) or checks (afterwards) the input width, 2-D input and vocabulary
on the estimator; the other functions line per-step targets and weights up with the
sequences' valid steps, and predictions back into one entry per sequence.
"""

import numpy as np
from sklearn.utils.validation import _check_sample_weight, validate_data

from . import _dask, _memory
from ._sequences import is_regular_sequence_list, sequences_from_input


def validate_sequences(estimator, X, reset):
    """X in any accepted form -> ``Sequences``; records or checks the input width.

    ``estimator``'s fitted attributes say what ``fit`` learned (``n_features_in_``, 2-D
    input, the vocabulary); with ``reset`` they are set from X.
    """
    if _dask.is_dask_array(X):  # fit on a Dask array: kept on the workers or streamed
        return _dask.fit_sequences(estimator, X, reset)
    dtype = np.dtype(estimator.dtype)
    token_ids = estimator.embedding_dim is not None
    if is_regular_sequence_list(X) and not token_ids:
        X = np.asarray(X)  # scikit-learn's array-like: the same as the stacked array
    is_list = isinstance(X, (list, tuple))
    ndim = None
    if not is_list:
        ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
        if ndim not in (2, 3):
            raise ValueError(
                f"Expected X as a 2-D array (n_samples, n_timesteps), a 3-D array "
                f"(n_samples, n_timesteps, n_features) or a list of sequences; got a "
                f"{ndim}-D array. Reshape your data: a single sequence as X[None] (3-D) "
                "or X.reshape(1, -1) (2-D univariate).")
    two_d = ndim == 2
    if two_d and not token_ids and (reset or getattr(estimator, "_fit_on_2d", False)):
        # scikit-learn's meaning of a 2-D input: columns (here time steps) are fixed
        try:
            X = validate_data(estimator, X, reset=reset, dtype=(np.float64, np.float32),
                              ensure_all_finite=False)
        except ValueError as error:
            if reset or "features, but" not in str(error):
                raise
            raise ValueError(
                f"{error} This model was fitted on 2-D input (n_samples, n_timesteps): "
                f"its columns are time steps, so X must have "
                f"{estimator.n_features_in_} steps too (pad shorter sequences with trailing "
                "NaN). To predict sequences of other lengths, fit on 3-D input "
                "(n_samples, n_timesteps, 1) or on a list of 1-D sequences.") from None
    seqs = sequences_from_input(X, dtype, token_ids=token_ids)
    width = X.shape[1] if two_d else seqs.n_features
    if reset:
        estimator._fit_on_2d = two_d
        estimator.n_features_in_ = 1 if token_ids else int(width)  # one token id per step
        if not two_d and hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif not (token_ids or (estimator._fit_on_2d and two_d)):
        # (token-id columns are time steps, any number of them; a 2-D float input's
        # width was checked by validate_data)
        expected = 1 if estimator._fit_on_2d else estimator.n_features_in_
        if seqs.n_features != expected:
            raise ValueError(f"X has {seqs.n_features} features, but "
                             f"{type(estimator).__name__} is expecting {expected} features "
                             "per step as input.")
    if token_ids:
        seqs = _check_vocabulary(estimator, seqs, reset)
    return seqs


def _check_vocabulary(estimator, seqs, reset):
    largest = int(seqs.data.max())
    if reset:
        _memory.check_vocabulary(largest + 1, estimator.embedding_dim,
                                 np.dtype(estimator.dtype).itemsize, largest)
        estimator.vocab_size_ = largest + 1
    elif largest >= estimator.vocab_size_:
        raise ValueError(f"X contains the token id {largest}, outside the vocabulary "
                         f"learned in fit (ids 0 to {estimator.vocab_size_ - 1}).")
    return seqs


def check_sample_weight(sample_weight, seqs):
    """One non-negative float64 weight per sequence (all ones for None)."""
    return _check_sample_weight(sample_weight, seqs.lengths, dtype=np.float64,
                                ensure_non_negative=True)


def step_weights(sample_weight, seqs):
    """Each sequence's weight repeated for each of its valid steps (None stays None)."""
    if sample_weight is None:
        return None
    return np.repeat(check_sample_weight(sample_weight, seqs), seqs.lengths)


def per_step_targets(y, seqs, what):
    """Per-step targets as a list of (T_i, ...) arrays aligned with the sequences."""
    n = len(seqs)
    if isinstance(y, (list, tuple)):
        if len(y) != n:
            raise ValueError(f"y has {len(y)} sequences but X has {n}.")
        rows = [np.asarray(row) for row in y]
        for i, (row, length) in enumerate(zip(rows, seqs.lengths)):
            if row.ndim == 0 or row.shape[0] != length:
                raise ValueError(
                    f"With return_sequences=True, y[{i}] needs one {what} per valid step "
                    f"of X[{i}] ({length}), got shape {row.shape}.")
        return rows
    y = np.asarray(y)
    if y.ndim < 2 or y.shape[0] != n:
        raise ValueError(
            f"With return_sequences=True, y needs one {what} per time step: an array "
            f"(n_samples, n_timesteps[, n_outputs]) or a list of per-sequence arrays; "
            f"got shape {y.shape} for {n} sequences.")
    if y.shape[1] < seqs.lengths.max():
        raise ValueError(f"y has {y.shape[1]} time steps but X has sequences of "
                         f"{seqs.lengths.max()} steps.")
    return [y[i, :length] for i, length in enumerate(seqs.lengths)]


def per_sequence(rows, seqs):
    """Per-step row predictions back into one entry per sequence.

    A stacked array when all sequences have one length and X was an array, else a list.
    """
    if not seqs.from_list and not seqs.is_ragged():
        return rows.reshape((len(seqs), -1) + rows.shape[1:])  # (a view: no copy)
    return np.split(rows, np.cumsum(seqs.lengths)[:-1])


def rows_over_steps(values, seqs, per_step):
    """Per-sequence values (N, ...) or per-step values (N, T, ...) as rows over valid steps."""
    return values[seqs.step_mask()] if per_step else values


def subset(seqs, Y, W, indices):
    """The sequences, targets and weights ``indices``."""
    sub = type(seqs)(seqs.data[indices], seqs.lengths[indices], seqs.from_list)
    return sub, Y[indices], W[indices]


def pad_rows(rows, seqs, fill=0):
    """Rows over valid steps -> (N, T, ...), ``fill`` at padded steps."""
    out = np.full((len(seqs), seqs.data.shape[1]) + rows.shape[1:], fill, dtype=rows.dtype)
    out[seqs.step_mask()] = rows
    return out
