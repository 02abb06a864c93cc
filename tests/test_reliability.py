"""Reliability: interruption, divergence, long sequences, parallel search, threads and
pickles (the fuzz tests of the input boundary are in test_fuzz.py)."""

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import skrnn
from skrnn import RNNClassifier, RNNRegressor, _kernels
from skrnn._version import PICKLE_FORMAT


def adding_problem(n, T, rng):
    """The adding problem: sum the two values marked in a long sequence."""
    values = rng.random((n, T))
    markers = np.zeros((n, T))
    for i in range(n):
        markers[i, rng.choice(T, size=2, replace=False)] = 1
    return np.stack([values, markers], axis=2), (values * markers).sum(axis=1)


# ------------------------------------------------------------------------------ Ctrl-C

_INTERRUPTED_FIT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    from skrnn import RNNClassifier

    snapshots = []
    original = RNNClassifier._end_epoch
    def end_epoch(self, *args):
        original(self, *args)
        snapshots.append({k: v.copy() for k, v in self.params_.items()})
    RNNClassifier._end_epoch = end_epoch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 30, 4)).astype("float32")
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    clf = RNNClassifier(hidden_layer_sizes=(32,), batch_size=16, max_iter=1000, tol=0,
                        random_state=0)
    print("fitting", flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    same = bool(snapshots) and all(np.array_equal(clf.params_[k], snapshots[-1][k])
                                   for k in clf.params_)
    print(json.dumps(dict(
        n_iter=clf.n_iter_, epochs_recorded=len(snapshots), kept_last_epoch=same,
        warnings=[str(w.message) for w in caught],
        finite=bool(np.isfinite(clf.predict_proba(X[:50])).all()),
        accuracy=clf.score(X[:500], y[:500]))))
""")


@pytest.mark.slow
def test_ctrl_c_stops_after_the_batch_and_keeps_the_last_epoch():
    process = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_FIT], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "fitting"
    time.sleep(4.0)  # compile, then train a few epochs
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["n_iter"] >= 1 and result["n_iter"] < 1000
    assert result["epochs_recorded"] == result["n_iter"]
    assert result["kept_last_epoch"]  # whole weights of the last complete epoch
    assert any("interrupted (KeyboardInterrupt)" in w for w in result["warnings"])
    assert result["finite"] and result["accuracy"] > 0.7


# ------------------------------------------------------------------------------ divergence


@pytest.mark.parametrize("cell, params", [
    ("rnn", dict(activation="relu", solver="sgd", learning_rate_init=1e8, clip_norm=None)),
    ("lstm", dict(solver="sgd", learning_rate_init=1e30, clip_norm=None, momentum=0.0)),
])
def test_divergence_stops_and_restores_finite_weights(cell, params):
    rng = np.random.default_rng(0)
    X = rng.normal(scale=10, size=(64, 40, 3))
    y = rng.normal(scale=1e3, size=64)
    reg = RNNRegressor(cell=cell, hidden_layer_sizes=(16,), max_iter=50, random_state=0,
                       **params)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(X, y)
    assert all(np.isfinite(v).all() for v in reg.params_.values())
    assert np.isfinite(reg.predict(X)).all()
    assert all(np.isfinite(loss) for loss in reg.loss_curve_)


# ------------------------------------------------------------------------------ long sequences


def _peak_fit_memory(cell, T):
    rng = np.random.default_rng(0)
    X, y = adding_problem(32, T, rng)
    reg = RNNRegressor(cell=cell, hidden_layer_sizes=(16,), max_iter=2, batch_size=32,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X[:2], y[:2])  # compile outside the measurement
        tracemalloc.start()
        try:
            reg.fit(X, y)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return reg, peak


@pytest.mark.slow
@pytest.mark.parametrize("cell, floats_per_step", [("lstm", 4 + 1 + 1 + 4 + 1), ("gru", 3 + 1 + 1 + 3 + 1 + 1)])
def test_long_sequences_train_and_memory_grows_linearly(cell, floats_per_step):
    short, peak_500 = _peak_fit_memory(cell, 500)
    long, peak_2000 = _peak_fit_memory(cell, 2000)
    for reg in (short, long):
        assert all(np.isfinite(v).all() for v in reg.params_.values())
        assert all(np.isfinite(loss) for loss in reg.loss_curve_)
    assert 3.6 < peak_2000 / peak_500 < 4.2  # linear in the number of steps
    bytes_per_step = (peak_2000 - peak_500) / 1500 / 32  # per sequence
    # activation storage: forward gates + cell/hidden state (GRU: hw_n and h), backward gate
    # gradients (GRU: d_gates_hh and d_n) and d_h, 16 hidden units of float32, plus the
    # input's copies (2 features)
    required = floats_per_step * 16 * 4
    assert required <= bytes_per_step <= required + 64


# ------------------------------------------------------------------------------ parallel search


def _worker_report():
    from skrnn import _parallel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 5, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RNNClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(X, y).predict(X)
    return (_parallel.get_num_threads(), _kernels.lstm_forward.stats.cache_misses,
            _kernels.lstm_forward.stats.cache_hits, os.getpid())


def test_process_workers_share_the_jit_cache_and_the_cores():
    _worker_report()  # compile (or load) in this process: the on-disk cache is warm
    reports = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_worker_report)() for _ in range(2))
    cores = skrnn._parallel.available_cores()
    assert len({pid for *_, pid in reports}) >= 1
    for threads, misses, hits, _ in reports:
        assert sum(misses.values()) == 0 and sum(hits.values()) >= 1  # loaded, not compiled
        assert threads * 2 <= max(cores, 2)  # each worker its share of the cores


# ------------------------------------------------------------------------------ threads


def test_predict_from_many_threads_at_once():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(t, 3)) for t in rng.integers(3, 40, size=200)]
    y = np.array([int(seq[:, 0].sum() > 0) for seq in X])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = RNNClassifier(cell="gru", hidden_layer_sizes=(16,), bidirectional=True,
                            max_iter=3, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(X), range(16)))
    for result in results:
        np.testing.assert_array_equal(result, expected)


def _threaded_fit(n_threads, **params):
    """Parameters and loss curve of a fit whose batches (128 sequences: 4 chunks) split."""
    rng = np.random.default_rng(5)
    X = [rng.normal(size=(t, 3)) for t in rng.integers(5, 30, size=300)]
    y = np.array([int(seq[:, 0].sum() > 0) for seq in X])
    skrnn.set_num_threads(n_threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = RNNClassifier(batch_size=128, max_iter=3, random_state=0, **params).fit(X, y)
    finally:
        skrnn.set_num_threads(None)
    return clf.params_, clf.loss_curve_, clf.predict_proba(X)


@pytest.mark.parametrize("params", [
    dict(cell="lstm", hidden_layer_sizes=(16,)),
    dict(cell="gru", hidden_layer_sizes=(8, 6), bidirectional=True, dropout=0.2),
    dict(cell="rnn", hidden_layer_sizes=(8,), return_sequences=False, early_stopping=True,
         dtype="float64"),
])
def test_the_model_is_the_same_bits_for_any_thread_count(params):
    from skrnn._parallel import batch_chunks

    assert len(batch_chunks(128)) == 4 and len(batch_chunks(300 - 128 * 2)) == 2  # 24 + 20
    reference, curve, proba = _threaded_fit(1, **params)
    for n_threads in (2, 3, 4):
        weights, other_curve, other_proba = _threaded_fit(n_threads, **params)
        assert other_curve == curve
        for name in reference:
            np.testing.assert_array_equal(weights[name], reference[name], err_msg=name)
        np.testing.assert_array_equal(other_proba, proba)


def test_parallel_search_gives_the_serial_results_when_batches_split():
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 12, 3))
    y = X[:, :, 0].sum(axis=1) + 0.5 * rng.normal(size=300)  # R^2 shows any change of bits
    grid = {"cell": ["lstm", "gru"], "hidden_layer_sizes": [(8,), (16,)]}
    estimator = RNNRegressor(batch_size=128, max_iter=4, random_state=0)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for n_jobs in (1, 2):  # 2 threads in one process, or 1 thread in each of 2 workers
            search = GridSearchCV(estimator, grid, cv=3, n_jobs=n_jobs).fit(X, y)
            results[n_jobs] = search
    for key in ("mean_test_score", "split0_test_score", "split1_test_score",
                "split2_test_score"):
        np.testing.assert_array_equal(results[2].cv_results_[key], results[1].cv_results_[key])
    assert results[2].best_params_ == results[1].best_params_


# ------------------------------------------------------------------------------ persistence


def test_pickle_and_joblib_round_trips_and_versions(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 6, 2))
    y = X[:, :, 0].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = RNNRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    expected = reg.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), expected)
    joblib.dump(reg, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(X), expected)

    state = reg.__getstate__()
    assert state["_skrnn_version"] == skrnn.__version__
    assert state["_skrnn_pickle_format"] == PICKLE_FORMAT

    older = dict(state, _skrnn_version="0.0.1")
    with pytest.warns(UserWarning, match="pickled by skrnn 0.0.1 and is loaded by skrnn"):
        RNNRegressor.__new__(RNNRegressor).__setstate__(older)
    incompatible = dict(state, _skrnn_version="9.0", _skrnn_pickle_format=PICKLE_FORMAT + 1)
    with pytest.raises(ValueError, match="pickled by skrnn 9.0 .*reads pickle format"):
        RNNRegressor.__new__(RNNRegressor).__setstate__(incompatible)


def test_sync_flags_spin_until_set_or_give_up():
    import threading

    from skrnn._parallel._sync import await_flag, signal, signal_then_await

    flags = np.zeros(16, np.int64)
    assert not await_flag(flags, 0, 1, 1000)  # never set: gives up
    signal(flags, 0, 3)
    assert await_flag(flags, 0, 2, 0) and await_flag(flags, 0, 3, 10)  # ">=": already there
    rounds = 200  # a partner thread answers each signal

    def partner():
        for i in range(1, rounds + 1):
            assert await_flag(flags, 8, i, 10**9)
            signal(flags, 15, i)

    thread = threading.Thread(target=partner)
    thread.start()
    for i in range(1, rounds + 1):
        assert signal_then_await(flags, 8, i, 15, i, 10**9)
    thread.join()
    assert flags[8] == flags[15] == rounds


def test_map_chunks_after_the_workers_stopped_spinning():
    import time

    from skrnn import _parallel
    from skrnn._parallel._sync import await_flag

    assert _parallel.map_chunks(lambda c: c + 1, [0, 1, 2]) == [1, 2, 3]
    time.sleep(0.05)  # longer than _SPINS pauses: the workers sleep on their queues again
    assert _parallel.map_chunks(lambda c: c * 2, [1, 2, 3]) == [2, 4, 6]
    for worker in _parallel._worker_pool(2):
        # each signals every task it finished, just after handing over its result
        assert await_flag(worker.flags, _parallel._DONE, worker.posted, 10**9)
        assert worker.flags[_parallel._DONE] == worker.posted


def test_map_chunks_runs_chunks_on_their_own_threads_and_waits_for_all_before_raising():
    import threading
    import time

    from skrnn._parallel import map_chunks, set_num_threads

    seen, finished = [], []

    def work(chunk):
        seen.append((chunk, threading.current_thread().name))
        if chunk == 0:
            raise RuntimeError("chunk 0 failed")
        time.sleep(0.05)
        finished.append(chunk)
        return chunk * 10

    set_num_threads(3)
    try:
        assert map_chunks(lambda c: c * 10, [0, 1, 2]) == [0, 10, 20]
        with pytest.raises(RuntimeError, match="chunk 0 failed"):
            map_chunks(work, [0, 1, 2])
    finally:
        set_num_threads(None)
    assert sorted(finished) == [1, 2]  # the others had finished when the error came
    names = dict(seen)
    assert names[0] == threading.current_thread().name  # the first in the caller
    assert len({names[1], names[2], names[0]}) == 3
