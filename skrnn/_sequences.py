"""Input conventions, ragged batches and length bucketing.

Every accepted form of X becomes one ``Sequences``: a zero-padded batch-major array and the
length of each sequence. Accepted forms:

- 3-D float array (n_samples, n_timesteps, n_features); trailing all-NaN rows are padding.
- 2-D float array (n_samples, n_timesteps): univariate sequences; trailing NaN is padding.
- list of arrays, each (T_i, n_features) or (T_i,): ragged sequences.
- token ids (estimators with ``embedding_dim``): 2-D integer array with trailing -1 as
  padding, or a list of 1-D integer arrays.

NaN anywhere else is an error, except for ``allow_missing=True`` (``SequenceImputer``): then it
is a missing value, kept as NaN, and only the trailing all-NaN steps of an array are padding.

Lists and NaN-padded arrays are validated and packed in one C-level pass by the Cython
module ``_ingest``; this module converts what it cannot read in place and writes every
message.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_array

from . import _ingest

_FLOAT_DTYPES = (np.float64, np.float32)


@dataclass
class Sequences:
    """Validated sequences.

    Attributes
    ----------
    data : ndarray (N, T, F) float, or (N, T) int64 token ids
        Zero-padded past each sequence's length (token id 0 for ids); NaN at missing values
        inside a sequence when built with ``allow_missing=True``.
    lengths : ndarray (N,) of int64
        Valid steps of each sequence, all >= 1.
    from_list : bool
        The input was a list of sequences (predictions with one row per step come back
        as a list too).
    """

    data: np.ndarray
    lengths: np.ndarray
    from_list: bool = False

    def __len__(self):
        return self.lengths.shape[0]

    @property
    def n_features(self):
        return 1 if self.data.ndim == 2 else self.data.shape[2]

    def is_ragged(self):
        return bool(np.any(self.lengths != self.data.shape[1]))

    def batch(self, indices):
        """Time-major batch of the given samples, cut to their longest sequence.

        ``indices``: an array of sample indices, or a slice (no gather).

        Returns
        -------
        data : ndarray (T, B, F) or (T, B), C-contiguous
        lengths : ndarray (B,) of int64
        """
        lengths = self.lengths[indices]
        n_steps = int(lengths.max())
        data = self.data[indices, :n_steps]
        return np.ascontiguousarray(np.swapaxes(data, 0, 1)), lengths

    def step_mask(self):
        """(N, T) bool: True at valid steps."""
        return np.arange(self.data.shape[1])[None, :] < self.lengths[:, None]

    def to(self, backend):
        """These sequences where ``backend`` computes: themselves on the host, else a copy
        of the padded data and lengths on the device (``backend.on_device``), made once,
        from which batches are cut."""
        if not backend.on_device:
            return self
        return DeviceSequences(backend.asarray(self.data), self.lengths,
                               backend.asarray(self.lengths), backend.xp)


class DeviceSequences:
    """``Sequences`` whose data lives on a device; ``batch`` returns device arrays.

    The host keeps the lengths, from which the batches and their step counts are planned.
    """

    def __init__(self, data, lengths, device_lengths, xp):
        self.data = data
        self.lengths = lengths
        self._device_lengths = device_lengths
        self._xp = xp

    def __len__(self):
        return self.lengths.shape[0]

    def batch(self, indices):
        """As ``Sequences.batch``, cut on the device (only ``indices`` goes over)."""
        n_steps = int(self.lengths[indices].max())
        rows = self._xp.asarray(indices)
        data = self._xp.ascontiguousarray(self._xp.swapaxes(self.data[rows, :n_steps], 0, 1))
        return data, self._device_lengths[rows]


def _is_sequence_list(X):
    return isinstance(X, (list, tuple))


def is_regular_sequence_list(X):
    """True for a non-empty list whose sequences all have one shape and a numeric dtype.

    Such a list is what scikit-learn calls a 2-D (or 3-D) array-like and is treated exactly
    as the array it stacks into; only lists of different lengths take the ragged path.
    """
    if not _is_sequence_list(X) or len(X) == 0:
        return False
    try:  # stops at the first other shape: a ragged list costs a few sequences, not all
        shape = np.shape(X[0])
        if any(np.shape(seq) != shape for seq in X):
            return False
    except (TypeError, ValueError):
        return False
    if len(shape) not in (1, 2) or 0 in shape:
        return False
    return np.asarray(X[0]).dtype.kind in "biuf"


# what to do about a missing value inside a sequence, for every message that finds one
MISSING_VALUE_FIX = ("Fill missing values with skrnn.SequenceImputer (in a Pipeline before the "
                     "estimator), or cut the sequence before the gap.")


def _trailing_padding_lengths(is_pad, what, fix=""):
    """Lengths from a (N, T) mask of padded steps that must all sit at the end of each row.

    ``what`` names the padding marker in messages; ``fix`` says how to repair a marker found
    before the end of a sequence."""
    n_steps = is_pad.shape[1]
    lengths = n_steps - np.cumprod(is_pad[:, ::-1], axis=1).sum(axis=1)
    inner = is_pad & (np.arange(n_steps)[None, :] < lengths[:, None])
    if inner.any():
        raise _padding_inside_error(what, *np.argwhere(inner)[0], fix)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise _empty_sequence_error(empty[0])
    return lengths.astype(np.int64)


def _padding_inside_error(what, sample, step, fix=""):
    return ValueError(
        f"X contains {what} at sample {sample}, step {step}, before the end of the "
        f"sequence. {what[0].upper() + what[1:]} is only allowed as trailing padding: a sequence ends at its "
        f"first step from which every remaining step is padding. {fix}".rstrip())


def _empty_sequence_error(sample):
    return ValueError(f"Sequence {sample} of X is empty (every step is padding); "
                      "each sequence needs at least one step.")


def float_sequences_from_array(X, dtype, allow_missing=False):
    """Validate a 2-D or 3-D float array with NaN padding (see module docstring); with
    ``allow_missing``, NaN before a sequence's trailing padding stays as a missing value."""
    if isinstance(X, np.ndarray) and X.dtype in _FLOAT_DTYPES and X.ndim in (2, 3):
        # a plain float array needs no conversion: check_array's checks, without its cost
        if X.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                             "minimum of 1 is required.")
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a "
                             "minimum of 1 is required.")
    else:
        X = check_array(X, dtype=_FLOAT_DTYPES, ensure_all_finite=False, allow_nd=True,
                        input_name="X", ensure_min_features=1)
    if X.ndim not in (2, 3):
        raise ValueError(
            f"Expected X as a 2-D (n_samples, n_timesteps) or 3-D (n_samples, n_timesteps, "
            f"n_features) array, got {X.ndim} dimensions with shape {X.shape}.")
    if X.ndim == 3 and X.shape[2] == 0:
        raise ValueError(f"X has 0 features per step (shape {X.shape}); at least 1 is required.")
    values = np.ascontiguousarray(X if X.ndim == 3 else X[:, :, None])
    if values.dtype == dtype and values.size and _ingest.all_finite(values):
        # no padding and nothing to reject: the array itself, not a copy (a memmap stays on
        # disk, read batch by batch)
        return Sequences(values, np.full(values.shape[0], values.shape[1], dtype=np.int64))
    data, lengths, problem = _ingest.pack_padded_floats(values, dtype, allow_missing)
    if problem is None:
        return Sequences(data, lengths)
    kind, where, _ = problem
    if kind == "inf":
        raise ValueError("Input X contains infinity.")
    if kind == "partial_nan":
        raise ValueError(
            f"Input X contains NaN in some but not all features at sample {where[0]}, "
            f"step {where[1]}. A padded step has NaN in every feature; NaN is not allowed "
            f"elsewhere. {MISSING_VALUE_FIX}")
    if kind == "inner_nan":
        raise _padding_inside_error("NaN", *where, MISSING_VALUE_FIX)
    raise _empty_sequence_error(where)


def _float_sequence(i, seq):
    """Sequence ``i`` of a list as a C-contiguous float array, for ``_ingest`` to read when
    it is not one already (a nested list, a DataFrame, another dtype)."""
    try:
        seq = check_array(seq, dtype=_FLOAT_DTYPES, ensure_2d=False, allow_nd=True,
                          ensure_all_finite=False, ensure_min_samples=0,
                          input_name=f"X[{i}]")
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"Sequence {i} of X is not a numeric array: {exc}") from None
    return np.ascontiguousarray(seq)


def float_sequences_from_list(X, dtype, allow_missing=False):
    """Validate a list of (T_i, n_features) or (T_i,) arrays (with ``allow_missing``, NaN
    anywhere in them is a missing value: a list has no padding)."""
    if len(X) == 0:
        raise ValueError("X is an empty list; at least one sequence is required.")
    data, lengths, problem = _ingest.pack_float_sequences(X, dtype, _float_sequence,
                                                          allow_missing)
    if problem is None:
        return Sequences(data, lengths, from_list=True)
    kind, i, detail = problem
    if kind == "ndim":
        raise ValueError(
            f"Sequence {i} of X has {len(detail)} dimensions (shape {detail}); each "
            "sequence must be (n_timesteps, n_features) or (n_timesteps,).")
    if kind == "empty":
        raise ValueError(f"Sequence {i} of X is empty; each sequence needs at least one step.")
    if kind == "no_features":
        raise ValueError(f"Sequence {i} of X has 0 features per step.")
    if kind == "inf":
        raise ValueError(f"Input X contains infinity in sequence {i}.")
    if kind == "nan":
        raise ValueError(f"Input X contains NaN in sequence {i}. {MISSING_VALUE_FIX}")
    raise ValueError(
        f"Sequences of X have different numbers of features: sequence 0 has "
        f"{detail[0]}, sequence {i} has {detail[1]}.")


def _as_token_ids(values, where):
    values = np.asarray(values)
    if values.dtype.kind == "b" or values.dtype.kind not in "iuf":
        raise TypeError(f"Token ids in {where} must be integers, got dtype {values.dtype}.")
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or np.any(values != np.round(values)):
            raise ValueError(f"Token ids in {where} must be whole numbers; found non-integer "
                             "or non-finite values.")
    return values.astype(np.int64)


def token_sequences(X):
    """Validate token ids: a 2-D integer array (-1 = trailing padding) or a list of 1-D arrays."""
    if _is_sequence_list(X):
        if len(X) == 0:
            raise ValueError("X is an empty list; at least one sequence is required.")
        data, lengths, problem = _ingest.pack_token_sequences(
            X, lambda i, seq: np.ascontiguousarray(_as_token_ids(seq, f"sequence {i} of X")))
        if problem is None:
            return Sequences(data, lengths, from_list=True)
        kind, i, detail = problem
        if kind == "ndim":
            raise ValueError(f"Sequence {i} of X has shape {detail}; token-id "
                             "sequences must be 1-D.")
        if kind == "empty":
            raise ValueError(f"Sequence {i} of X is empty; each sequence needs at "
                             "least one token.")
        raise ValueError(f"Sequence {i} of X contains the negative token id "
                         f"{detail}; token ids must be >= 0.")

    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError("Sparse token-id matrices are not supported; pass a dense 2-D array "
                        "or a list of 1-D arrays.")
    X = _as_token_ids(X, "X")
    if X.ndim != 2:
        raise ValueError(f"Expected token ids as a 2-D (n_samples, n_timesteps) array, got "
                         f"shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X has shape {X.shape}; at least one sample with one step is "
                         "required.")
    if np.any(X < -1):
        raise ValueError(f"X contains the negative token id {X.min()}; token ids must be >= 0 "
                         "(-1 marks trailing padding).")
    lengths = _trailing_padding_lengths(X == -1, "the padding id -1")
    return Sequences(np.where(X < 0, 0, X), lengths)


def sequences_from_input(X, dtype, token_ids=False, allow_missing=False):
    """Turn any accepted X into ``Sequences`` (validation included); with ``allow_missing``,
    NaN inside a sequence stays in ``data`` as a missing value instead of an error."""
    if token_ids:
        return token_sequences(X)
    if _is_sequence_list(X):
        return float_sequences_from_list(X, dtype, allow_missing)
    return float_sequences_from_array(X, dtype, allow_missing)


def valid_steps(lengths, n_steps, xp=np):
    """(T, B) bool: True where step t is within sequence b (a time-major batch's mask)."""
    return xp.arange(n_steps)[:, None] < lengths[None, :]


def length_batches(lengths, batch_size, rng=None):
    """Split sample indices into batches of similar length.

    Samples are sorted by length (ties broken at random when ``rng`` is given) and cut into
    consecutive batches, so a batch pads little; with ``rng`` the batch order is shuffled.

    Returns
    -------
    list of ndarray of int64
    """
    n = lengths.shape[0]
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        order = np.lexsort((rng.random(n), lengths))
    batches = [order[start:start + batch_size] for start in range(0, n, batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
