"""Memory estimates: close to what a fit allocates, and a clear MemoryError before too much."""

import sys
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNRegressor, _memory
from skrnn._network import NetworkSpec
from skrnn._parallel import batch_chunks


@pytest.fixture
def available(monkeypatch):
    """Pretend the machine has ``set(n_bytes)`` available, whatever it really has."""
    def set_available(n_bytes):
        monkeypatch.setattr(_memory, "available_bytes", lambda: n_bytes)
    return set_available


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_available_bytes_reads_the_system():
    n_bytes = _memory.available_bytes()
    assert isinstance(n_bytes, int) and 0 < n_bytes < 2**50


@pytest.mark.parametrize("cell, bidirectional, dropout", [("lstm", False, 0.0),
                                                          ("gru", True, 0.3)])
def test_fit_estimate_is_close_to_what_a_fit_allocates(cell, bidirectional, dropout):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 100, 8)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    clf = RNNClassifier(cell=cell, hidden_layer_sizes=(64,), bidirectional=bidirectional,
                        dropout=dropout, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        try:
            clf.fit(X, y)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    spec = NetworkSpec(cell=cell, n_features=8, hidden_layer_sizes=(64,), n_outputs=1,
                       bidirectional=bidirectional, dropout=dropout)
    estimate = sum(_memory.fit_bytes(spec, 100, 200, len(batch_chunks(200)), 4, "adam",
                                     False).values())
    assert 0.8 < estimate / peak < 1.5


def test_a_fit_that_cannot_fit_says_so_before_allocating(available):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 200, 8)).astype(np.float32)
    y = X[:, :, 0].sum(axis=1)
    available(100 * 2**20)
    reg = RNNRegressor(cell="lstm", hidden_layer_sizes=(128,), max_iter=1)
    with pytest.raises(MemoryError, match=r"Fitting this RNNRegressor needs about .*GiB of "
                                          r"memory \(activations .* but only 100 MiB is "
                                          r"available\. Use a smaller batch_size \(now 200"):
        reg.fit(X, y)
    assert not hasattr(reg, "params_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.set_params(batch_size=8, hidden_layer_sizes=(16,)).fit(X, y)  # the remedy works


def test_a_huge_token_id_says_the_vocabulary_it_implies(available):
    available(4 * 2**30)
    X = np.array([[1, 2, 2**27], [3, 4, 5]])
    with pytest.raises(MemoryError, match=r"token id, 134217728, implies a vocabulary of "
                                          r"134,217,729 ids.*re-index them"):
        RNNClassifier(embedding_dim=16).fit(X, [0, 1])


def test_per_step_labels_of_many_classes_are_estimated_as_class_indices(available):
    """30,000 classes over 2,000 x 50 tokens: the logits of one batch, not a one-hot matrix
    of every step (which took 43 GiB and the out-of-memory killer)."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 30_000, size=(2_000, 50))
    available(512 * 2**20)
    clf = RNNClassifier(cell="gru", hidden_layer_sizes=(16,), embedding_dim=8,
                        return_sequences=True, max_iter=1)
    with pytest.raises(MemoryError, match=r"Fitting this RNNClassifier needs about "
                                          r"(1\.[0-9]|2\.[0-9]) GiB of memory \(head and loss"):
        clf.fit(ids, np.roll(ids, -1, axis=1))


def test_a_prediction_that_cannot_fit_says_so(available):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 500, size=(64, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = RNNClassifier(cell="gru", hidden_layer_sizes=(8,), embedding_dim=4,
                            return_sequences=True, max_iter=1).fit(ids, np.roll(ids, -1, 1))
    available(64 * 2**20)
    many = rng.integers(0, 500, size=(4_000, 20))
    with pytest.raises(MemoryError, match=r"Predicting 4,000 sequences of up to 20 steps "
                                          r"needs about .*Predict in parts"):
        clf.predict_proba(many)
    clf.predict_proba(many[:100])  # small enough not to be checked at all


def test_windows_that_cannot_fit_say_so(available):
    from skrnn import sliding_windows

    available(2**30)
    with pytest.raises(MemoryError, match=r"Cutting 990,000 windows of 10,000 steps needs "
                                          r"about 73\.8 GiB.*use a larger step"):
        sliding_windows(np.zeros(1_000_000), window=10_000)
    assert sliding_windows(np.zeros(1_000_000), window=10_000, step=1000)[0].shape == (990, 10_000)
