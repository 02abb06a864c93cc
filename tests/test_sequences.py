"""Input conventions and length bucketing."""

import numpy as np
import pytest

from skrnn._sequences import (is_regular_sequence_list, length_batches,
                              sequences_from_input)


def test_3d_array_keeps_every_step():
    X = np.arange(24, dtype=float).reshape(2, 4, 3)
    seqs = sequences_from_input(X, np.float32)
    assert seqs.data.dtype == np.float32 and seqs.data.shape == (2, 4, 3)
    np.testing.assert_array_equal(seqs.lengths, [4, 4])
    assert not seqs.is_ragged() and not seqs.from_list


def test_2d_array_is_univariate():
    seqs = sequences_from_input(np.ones((5, 7)), np.float64)
    assert seqs.data.shape == (5, 7, 1)
    np.testing.assert_array_equal(seqs.lengths, 7)


def test_trailing_nan_rows_are_padding():
    X = np.ones((3, 5, 2))
    X[0, 3:] = np.nan
    X[2, 1:] = np.nan
    seqs = sequences_from_input(X, np.float64)
    np.testing.assert_array_equal(seqs.lengths, [3, 5, 1])
    assert np.isfinite(seqs.data).all()
    assert np.all(seqs.data[0, 3:] == 0)
    X2 = np.ones((2, 4))
    X2[1, 2:] = np.nan
    np.testing.assert_array_equal(sequences_from_input(X2, np.float64).lengths, [4, 2])


@pytest.mark.parametrize("make_bad, message", [
    (lambda X: X.__setitem__((0, 1), np.nan), "before the end of the sequence"),
    (lambda X: X.__setitem__((0, 4, 0), np.nan), "some but not all features"),
    (lambda X: X.__setitem__((1, 2, 1), np.inf), "infinity"),
    (lambda X: X.__setitem__((2,), np.nan), "empty"),
])
def test_bad_nan_and_inf_are_named(make_bad, message):
    X = np.ones((3, 5, 2))
    make_bad(X)
    with pytest.raises(ValueError, match=message):
        sequences_from_input(X, np.float64)


@pytest.mark.parametrize("X", [
    np.array([[1.0, np.nan, 2.0]]),                       # inside a 2-D sequence
    np.array([[[1.0, 1.0], [np.nan, 1.0], [1.0, 1.0]]]),  # in one feature of a step
    [np.array([1.0, np.nan, 2.0]), np.ones(4)],           # in a ragged list
])
def test_missing_value_messages_say_how_to_fix_it(X):
    with pytest.raises(ValueError, match=r"NaN.*skrnn\.SequenceImputer.*cut the sequence"):
        sequences_from_input(X, np.float64)


def test_token_padding_message_is_capitalised():
    with pytest.raises(ValueError, match=r"The padding id -1 is only allowed as trailing"):
        sequences_from_input(np.array([[1, -1, 2]]), np.float64, token_ids=True)


def test_ragged_list_pads_without_changing_values():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(n, 2)) for n in (3, 6, 1)]
    seqs = sequences_from_input(X, np.float64)
    assert seqs.from_list and seqs.is_ragged()
    np.testing.assert_array_equal(seqs.lengths, [3, 6, 1])
    for i, seq in enumerate(X):
        np.testing.assert_array_equal(seqs.data[i, :len(seq)], seq)
        assert np.all(seqs.data[i, len(seq):] == 0)
    univariate = sequences_from_input([np.arange(3.0), np.arange(5.0)], np.float32)
    assert univariate.data.shape == (2, 5, 1)


@pytest.mark.parametrize("X, error, message", [
    ([], ValueError, "empty list"),
    ([np.ones((3, 2)), np.ones((0, 2))], ValueError, "Sequence 1 of X is empty"),
    ([np.ones((3, 2)), np.ones((4, 3))], ValueError, "different numbers of features"),
    ([np.ones((3, 2)), np.ones((2, 2, 2))], ValueError, "3 dimensions"),
    ([np.ones(3), np.array([1.0, np.inf])], ValueError, "infinity in sequence 1"),
    ([np.ones(3), np.array([1.0, np.nan])], ValueError, "NaN in sequence 1"),
    ([np.ones(3), np.array(["a", "b"])], ValueError, "not a numeric array"),
    (np.ones((2, 3, 0)), ValueError, "0 feature"),
])
def test_bad_float_sequences_are_named(X, error, message):
    with pytest.raises(error, match=message):
        sequences_from_input(X, np.float64)


def test_token_ids_from_padded_array_and_list_agree():
    padded = np.array([[3, 1, 4, -1], [1, 5, 9, 2], [6, -1, -1, -1]])
    listed = [np.array([3, 1, 4]), np.array([1, 5, 9, 2]), np.array([6])]
    a = sequences_from_input(padded, np.float32, token_ids=True)
    b = sequences_from_input(listed, np.float32, token_ids=True)
    np.testing.assert_array_equal(a.lengths, [3, 4, 1])
    np.testing.assert_array_equal(a.lengths, b.lengths)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data.dtype == np.int64 and a.data.min() == 0


@pytest.mark.parametrize("X, error, message", [
    (np.array([[1, -2, 3]]), ValueError, "negative token id"),
    (np.array([[1, -1, 3]]), ValueError, "before the end"),
    (np.array([[1.5, 2.0]]), ValueError, "whole numbers"),
    (np.array([["a", "b"]]), TypeError, "must be integers"),
    (np.array([[True, False]]), TypeError, "must be integers"),
    ([np.array([1, 2]), np.array([], dtype=int)], ValueError, "empty"),
    ([np.array([1, 2]), np.array([-3])], ValueError, "negative token id"),
    (np.ones((2, 3, 1), dtype=int), ValueError, "2-D"),
])
def test_bad_token_ids_are_named(X, error, message):
    with pytest.raises(error, match=message):
        sequences_from_input(X, np.float32, token_ids=True)


def test_regular_lists_are_array_likes():
    assert is_regular_sequence_list([[1, 2, 3], [4, 5, 6]])
    assert is_regular_sequence_list([np.ones((3, 2)), np.ones((3, 2))])
    assert not is_regular_sequence_list([[1, 2, 3], [4, 5]])
    assert not is_regular_sequence_list([np.ones((3, 2)), np.ones((4, 2))])
    assert not is_regular_sequence_list([])
    assert not is_regular_sequence_list(np.ones((2, 3)))


def test_length_batches_cover_every_sample_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=1000)
    batches = length_batches(lengths, 64, np.random.default_rng(1))
    everything = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(everything), np.arange(1000))
    # padding work: each batch pads to its longest member
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_padded = sum(len(b) * lengths[b].max() for b in np.array_split(rng.permutation(1000), 16))
    assert padded < 1.1 * lengths.sum() < random_padded
    # reproducible from the generator, and shuffled between epochs
    again = length_batches(lengths, 64, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = length_batches(lengths, 64, np.random.default_rng(2))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


def test_batch_is_time_major_and_cut_to_longest():
    X = [np.full((n, 2), n, dtype=float) for n in (2, 5, 3)]
    seqs = sequences_from_input(X, np.float64)
    data, lengths = seqs.batch(np.array([0, 2]))
    assert data.shape == (3, 2, 2) and data.flags.c_contiguous
    np.testing.assert_array_equal(lengths, [2, 3])
    np.testing.assert_array_equal(data[:, 1, 0], [3, 3, 3])


def test_list_of_any_array_like_packs_the_values_check_array_gives():
    """Native float arrays are read in place, everything else is converted first: the
    packed values are the same either way."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    base = [rng.normal(size=(t, 3)) for t in (4, 2, 5, 3, 1, 2)]
    X = [base[0].astype(np.float32), base[1], np.asfortranarray(base[2]),
         (base[3] * 100).astype(np.int64), pd.DataFrame(base[4]), base[5].tolist()]
    values = [np.asarray(x, dtype=np.float64) for x in X]
    for dtype in (np.float32, np.float64):
        seqs = sequences_from_input(X, dtype)
        assert seqs.data.dtype == dtype and seqs.from_list
        np.testing.assert_array_equal(seqs.lengths, [4, 2, 5, 3, 1, 2])
        for i, seq in enumerate(values):
            np.testing.assert_array_equal(seqs.data[i, :len(seq)], seq.astype(dtype))
            assert np.all(seqs.data[i, len(seq):] == 0)


@pytest.mark.parametrize("X, message", [
    # a sequence's values are checked before the next sequence's shape
    ([np.ones((2, 2)), np.array([[1.0, np.nan]]), np.ones((2, 2, 2))], "NaN in sequence 1"),
    ([np.ones((2, 2)), np.ones((2, 2, 2)), np.array([[1.0, np.nan]])], "sequence 1 of X has 3 dim"),
    # feature counts are compared once every sequence is checked
    ([np.ones((2, 2)), np.ones((2, 3)), np.array([[np.inf, 1.0]])], "infinity in sequence 2"),
    ([np.ones((2, 2)), np.ones((2, 3)), np.ones((1, 4))], "sequence 0 has 2, sequence 1 has 3"),
    # within a sequence, infinity is named before NaN
    ([np.array([[np.nan], [np.inf]], np.float32)], "infinity in sequence 0"),
])
def test_list_problems_come_in_sequence_order(X, message):
    with pytest.raises(ValueError, match=f"(?i){message}"):
        sequences_from_input(X, np.float32)


def test_padded_array_problems_keep_their_precedence():
    X = np.ones((3, 4, 2))
    X[0, 1] = np.nan  # NaN inside sample 0
    X[2, 0, 0] = np.nan  # partial NaN in sample 2: named first
    with pytest.raises(ValueError, match="some but not all features at sample 2, step 0"):
        sequences_from_input(X, np.float32)
    X[1, 3, 1] = np.inf  # infinity anywhere: named first
    with pytest.raises(ValueError, match="contains infinity"):
        sequences_from_input(X, np.float32)
    X = np.ones((2, 3, 1), np.float32)
    X[1] = np.nan
    with pytest.raises(ValueError, match="Sequence 1 of X is empty"):
        sequences_from_input(X, np.float64)
