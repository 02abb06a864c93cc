# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""One C-level pass over the sequences of X: validation and packing into one padded buffer.

A list of arrays cannot be walked by Numba, and NumPy walks it one call per sequence:
``check_array`` cost about 120 us a sequence, mostly looking for a dataframe. Here each
sequence that is already a C-contiguous NumPy array of a native dtype is read through its
data pointer: its shape and dtype checked, its values converted, checked for NaN and
infinity and copied into the padded (N, T_max, F) buffer in one loop. Anything else (a
nested list, a DataFrame, another dtype) goes through the caller's ``convert`` first,
which gives its errors. A NaN-padded array is measured and copied the same way, one
sample at a time, instead of several whole-array passes and temporaries.

The functions find problems and report the first, as ``(kind, index, detail)``; the
messages are written by ``skrnn._sequences``, which owns them. Problems are reported in
the order the sequences come: a sequence's conversion, dimensions, length and values
before those of the next one; different feature counts once every sequence is checked.
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport isinf, isnan
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cnp.import_array()

# flags of a scan: what a sequence's values hold
cdef enum:
    HAS_NAN = 1
    HAS_INF = 2

ctypedef fused src_t:
    float
    double

ctypedef fused dst_t:
    float
    double


cdef int _copy_checked(const src_t* src, dst_t* dst, Py_ssize_t n) noexcept nogil:
    """Copy ``n`` values (converted), or only scan them when ``dst`` is NULL; returns the
    HAS_NAN / HAS_INF flags of what was seen."""
    cdef Py_ssize_t k
    cdef int flags = 0
    cdef src_t value
    if dst == NULL:
        for k in range(n):
            value = src[k]
            if value - value != 0:  # NaN or infinite (finite values give exactly 0)
                flags |= HAS_INF if isinf(value) else HAS_NAN
        return flags
    for k in range(n):
        value = src[k]
        dst[k] = <dst_t>value
        if value - value != 0:
            flags |= HAS_INF if isinf(value) else HAS_NAN
    return flags


cdef int _copy_values(const void* src, int src_double, void* dst, int dst_double,
                      Py_ssize_t n) noexcept nogil:
    """``_copy_checked`` dispatched on the source and destination float widths."""
    if src_double:
        if dst_double:
            return _copy_checked(<const double*>src, <double*>dst, n)
        return _copy_checked(<const double*>src, <float*>dst, n)
    if dst_double:
        return _copy_checked(<const float*>src, <double*>dst, n)
    return _copy_checked(<const float*>src, <float*>dst, n)


cdef inline bint _native_float(object item):
    """A C-contiguous float32/float64 ndarray (not a subclass) of 1 or 2 dimensions with
    at least one feature: read in place, no conversion needed."""
    if not cnp.PyArray_CheckExact(item):
        return False
    cdef cnp.ndarray array = <cnp.ndarray>item
    cdef int ndim = cnp.PyArray_NDIM(array)
    cdef int kind = cnp.PyArray_TYPE(array)
    if (kind != cnp.NPY_FLOAT32 and kind != cnp.NPY_FLOAT64) or ndim < 1 or ndim > 2:
        return False
    if ndim == 2 and cnp.PyArray_DIMS(array)[1] == 0:
        return False  # the converter says why
    return cnp.PyArray_IS_C_CONTIGUOUS(array) and cnp.PyArray_ISNOTSWAPPED(array)


cdef object _value_problem(int flags, Py_ssize_t index):
    if flags & HAS_INF:
        return ("inf", index, None)
    if flags & HAS_NAN:
        return ("nan", index, None)
    return None


def pack_float_sequences(sequences, dtype, convert, allow_nan=False):
    """Validate a list of float sequences and pack them, zero-padded.

    Parameters
    ----------
    sequences : list or tuple
        Each (T_i, F) or (T_i,).
    dtype : numpy dtype, float32 or float64
        Of the packed values.
    convert : callable ``(i, sequence) -> ndarray``
        For a sequence that is not a C-contiguous float32/float64 array of one or two
        dimensions: a float32 or float64 C-contiguous array, or an error saying why not.

    allow_nan : bool
        NaN is a missing value, kept, not a problem (``SequenceImputer``).

    Returns
    -------
    data : ndarray (N, T_max, F) or None
    lengths : ndarray (N,) of int64 or None
    problem : None, or (kind, index, detail) of the first problem (then data and lengths
        are None): "ndim" (detail: the shape), "empty", "no_features", "inf", "nan",
        "n_features" (detail: (features of sequence 0, of sequence ``index``)).
    """
    cdef Py_ssize_t n = len(sequences)
    cdef Py_ssize_t i, first_problem = n, longest = 0, n_features = 0, mismatch = -1
    cdef cnp.ndarray array
    cdef int flags = 0
    cdef int dst_double = np.dtype(dtype) == np.float64
    cdef object problem = None
    cdef int fatal = HAS_INF if allow_nan else HAS_INF | HAS_NAN  # the flags that fail
    arrays = [None] * n  # keeps converted arrays alive while their pointers are read
    lengths = np.empty(n, np.int64)
    cdef cnp.int64_t[::1] length_of = lengths
    cdef const void** source = <const void**>malloc(max(n, 1) * sizeof(void*))
    cdef Py_ssize_t* features = <Py_ssize_t*>malloc(max(n, 1) * sizeof(Py_ssize_t))
    cdef char* is_double = <char*>malloc(max(n, 1))
    cdef char* out
    cdef Py_ssize_t row_size
    if source == NULL or features == NULL or is_double == NULL:
        free(source); free(features); free(is_double)
        raise MemoryError()
    try:
        # pass 1: shapes, converting what is not a native array; up to the first problem
        for i in range(n):
            item = sequences[i]
            if not _native_float(item):
                item = convert(i, item)
            array = <cnp.ndarray>item
            arrays[i] = array
            if cnp.PyArray_NDIM(array) not in (1, 2):
                problem = ("ndim", i, (<object>array).shape)
            elif cnp.PyArray_DIMS(array)[0] == 0:
                problem = ("empty", i, None)
            elif cnp.PyArray_NDIM(array) == 2 and cnp.PyArray_DIMS(array)[1] == 0:
                problem = ("no_features", i, None)
            if problem is not None:
                first_problem = i
                break
            length_of[i] = cnp.PyArray_DIMS(array)[0]
            features[i] = cnp.PyArray_DIMS(array)[1] if cnp.PyArray_NDIM(array) == 2 else 1
            source[i] = cnp.PyArray_DATA(array)
            is_double[i] = cnp.PyArray_TYPE(array) == cnp.NPY_FLOAT64
            longest = max(longest, length_of[i])
        if problem is not None:  # the values of the sequences before it come first
            for i in range(first_problem):
                flags = _copy_values(source[i], is_double[i], NULL, dst_double,
                                     length_of[i] * features[i])
                if flags & fatal:
                    return None, None, _value_problem(flags & fatal, i)
            return None, None, problem

        # pass 2: values, converted, checked and copied, sequence by sequence
        n_features = features[0]
        data = np.zeros((n, longest, n_features), dtype)
        out = <char*>cnp.PyArray_DATA(<cnp.ndarray>data)
        row_size = longest * n_features * (8 if dst_double else 4)
        with nogil:
            for i in range(n):
                if features[i] != n_features:
                    if mismatch < 0:
                        mismatch = i
                    flags = _copy_values(source[i], is_double[i], NULL, dst_double,
                                         length_of[i] * features[i])
                else:
                    flags = _copy_values(source[i], is_double[i], out + i * row_size,
                                         dst_double, length_of[i] * n_features)
                if flags & fatal:
                    break
        if flags & fatal:
            return None, None, _value_problem(flags & fatal, i)
        if mismatch >= 0:
            return None, None, ("n_features", mismatch, (n_features, features[mismatch]))
        return data, lengths, None
    finally:
        free(source)
        free(features)
        free(is_double)


def pack_token_sequences(sequences, convert):
    """Validate a list of token-id sequences and pack them as int64, zero-padded.

    Parameters
    ----------
    sequences : list or tuple
        Each a 1-D array of token ids.
    convert : callable ``(i, sequence) -> ndarray``
        For a sequence that is not a C-contiguous int64 array: an int64 C-contiguous
        array, or an error saying why not.

    Returns
    -------
    data : ndarray (N, T_max) of int64 or None
    lengths : ndarray (N,) of int64 or None
    problem : None, or (kind, index, detail) of the first problem: "ndim" (detail: the
        shape), "empty", "negative" (detail: the smallest id).
    """
    cdef Py_ssize_t n = len(sequences)
    cdef Py_ssize_t i, k, first_problem = n, longest = 0
    cdef cnp.ndarray array
    cdef const cnp.int64_t* ids
    cdef cnp.int64_t smallest
    cdef object problem = None
    arrays = [None] * n
    lengths = np.empty(n, np.int64)
    cdef cnp.int64_t[::1] length_of = lengths
    cdef const cnp.int64_t** source = <const cnp.int64_t**>malloc(max(n, 1) * sizeof(void*))
    cdef cnp.int64_t* out
    if source == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            item = sequences[i]
            if not (cnp.PyArray_CheckExact(item)
                    and cnp.PyArray_TYPE(<cnp.ndarray>item) == cnp.NPY_INT64
                    and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>item)
                    and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>item)):
                item = convert(i, item)
            array = <cnp.ndarray>item
            arrays[i] = array
            if cnp.PyArray_NDIM(array) != 1:
                problem = ("ndim", i, (<object>array).shape)
            elif cnp.PyArray_DIMS(array)[0] == 0:
                problem = ("empty", i, None)
            if problem is not None:
                first_problem = i
                break
            length_of[i] = cnp.PyArray_DIMS(array)[0]
            source[i] = <const cnp.int64_t*>cnp.PyArray_DATA(array)
            longest = max(longest, length_of[i])

        # negative ids, in sequence order, up to the first problem of shape
        for i in range(first_problem):
            ids = source[i]
            smallest = ids[0]
            for k in range(1, length_of[i]):
                smallest = min(smallest, ids[k])
            if smallest < 0:
                return None, None, ("negative", i, smallest)
        if problem is not None:
            return None, None, problem

        data = np.zeros((n, longest), np.int64)
        out = <cnp.int64_t*>cnp.PyArray_DATA(<cnp.ndarray>data)
        with nogil:
            for i in range(n):
                memcpy(out + i * longest, source[i], length_of[i] * sizeof(cnp.int64_t))
        return data, lengths, None
    finally:
        free(source)


cdef Py_ssize_t _padded_length(const src_t* sample, Py_ssize_t n_steps,
                               Py_ssize_t n_features) noexcept nogil:
    """Steps before the trailing all-NaN rows of one sample (T, F)."""
    cdef Py_ssize_t t = n_steps, j
    while t > 0:
        for j in range(n_features):
            if not isnan(sample[(t - 1) * n_features + j]):
                return t
        t -= 1
    return 0


cdef void _pack_padded(const src_t* values, dst_t* out, Py_ssize_t n_samples,
                       Py_ssize_t n_steps, Py_ssize_t n_features, cnp.int64_t* lengths,
                       Py_ssize_t* found, bint keep_nan) noexcept nogil:
    """Lengths and zero-padded copies of NaN-padded samples; ``found`` receives the first
    problem of each kind: [any infinity, partial-NaN sample, step, inner-NaN sample, step,
    empty sample] (-1: none). With ``keep_nan``, NaN before the trailing padding is a
    missing value: copied as NaN, not a problem."""
    cdef Py_ssize_t b, t, j, length, n_nan
    cdef const src_t* sample
    cdef const src_t* row
    cdef dst_t* out_row
    cdef src_t value
    for b in range(n_samples):
        sample = values + b * n_steps * n_features
        length = _padded_length(sample, n_steps, n_features)
        lengths[b] = length
        if length == 0 and found[5] < 0:
            found[5] = b
        for t in range(length):
            row = sample + t * n_features
            out_row = out + (b * n_steps + t) * n_features
            n_nan = 0
            for j in range(n_features):
                value = row[j]
                if value - value != 0:
                    if isnan(value):
                        n_nan += 1
                        if not keep_nan:
                            value = 0
                    elif found[0] < 0:
                        found[0] = b
                out_row[j] = <dst_t>value
            if keep_nan:
                continue
            if n_nan == n_features:
                if found[3] < 0:
                    found[3] = b
                    found[4] = t
            elif n_nan > 0 and found[1] < 0:
                found[1] = b
                found[2] = t


def all_finite(cnp.ndarray values):
    """Whether a C-contiguous float32/float64 array holds no NaN and no infinity, read in
    one pass without allocating (``np.isfinite(values).all()`` makes a mask of its size)."""
    cdef Py_ssize_t n = values.size
    cdef int flags
    cdef const void* src = cnp.PyArray_DATA(values)
    cdef int src_double = cnp.PyArray_TYPE(values) == cnp.NPY_FLOAT64
    with nogil:
        flags = _copy_values(src, src_double, NULL, src_double, n)
    return flags == 0


def pack_padded_floats(cnp.ndarray values, dtype, bint allow_nan=False):
    """Validate a NaN-padded float array and pack it, zero-padded, with its lengths.

    Parameters
    ----------
    values : ndarray (N, T, F), float32 or float64, C-contiguous
        Trailing all-NaN steps are padding.
    dtype : numpy dtype, float32 or float64
        Of the packed values.
    allow_nan : bool
        NaN before a sample's trailing padding is a missing value, kept as NaN, not a
        problem (``SequenceImputer``).

    Returns
    -------
    data : ndarray (N, T, F) or None
    lengths : ndarray (N,) of int64 or None
    problem : None, or (kind, index, detail): "inf" (index None), "partial_nan" and
        "inner_nan" (index: (sample, step)), "empty" (index: the sample), in that order of
        precedence.
    """
    cdef Py_ssize_t n_samples = values.shape[0], n_steps = values.shape[1]
    cdef Py_ssize_t n_features = values.shape[2]
    cdef Py_ssize_t found[6]
    cdef int k
    cdef int src_double = cnp.PyArray_TYPE(values) == cnp.NPY_FLOAT64
    cdef int dst_double = np.dtype(dtype) == np.float64
    cdef void* src = cnp.PyArray_DATA(values)
    data = np.zeros((n_samples, n_steps, n_features), dtype)
    lengths = np.empty(n_samples, np.int64)
    cdef void* dst = cnp.PyArray_DATA(<cnp.ndarray>data)
    cdef cnp.int64_t* length_of = <cnp.int64_t*>cnp.PyArray_DATA(<cnp.ndarray>lengths)
    for k in range(6):
        found[k] = -1
    with nogil:
        if src_double and dst_double:
            _pack_padded(<const double*>src, <double*>dst, n_samples, n_steps, n_features,
                         length_of, found, allow_nan)
        elif src_double:
            _pack_padded(<const double*>src, <float*>dst, n_samples, n_steps, n_features,
                         length_of, found, allow_nan)
        elif dst_double:
            _pack_padded(<const float*>src, <double*>dst, n_samples, n_steps, n_features,
                         length_of, found, allow_nan)
        else:
            _pack_padded(<const float*>src, <float*>dst, n_samples, n_steps, n_features,
                         length_of, found, allow_nan)
    if found[0] >= 0:
        return None, None, ("inf", None, None)
    if found[1] >= 0:
        return None, None, ("partial_nan", (found[1], found[2]), None)
    if found[3] >= 0:
        return None, None, ("inner_nan", (found[3], found[4]), None)
    if found[5] >= 0:
        return None, None, ("empty", found[5], None)
    return data, lengths, None
