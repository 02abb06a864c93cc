"""Backends: the GPU path's orchestration on NumPy (every machine) and on CuPy (GPU only).

The step backend runs the time loops in Python with one step function per step; on NumPy
with the reference steps it must agree with the Numba engine to rounding, with and without
its loops captured and replayed. Tests marked ``gpu`` run the CUDA kernels and skip cleanly
where CuPy sees no GPU.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skrnn import RNNClassifier, RNNRegressor, _backend, _network
from skrnn._backend import CPU, GraphCache, numpy_step_backend
from skrnn._kernels import _steps
from skrnn._network import NetworkSpec

from ._helpers import random_problem, relative_error
from .test_network import GRADIENT_CASES, _case_id

HAS_GPU = _backend.cuda_available()


def _forward_backward(spec, params, data, lengths, d_out, backend, rng=None, workspace=None):
    xp = backend.xp
    params = {name: backend.asarray(value) for name, value in params.items()}
    out, cache = _network.forward(spec, params, backend.asarray(data), backend.asarray(lengths),
                                  training=rng is not None, rng=rng, workspace=workspace,
                                  backend=backend)
    grads, d_input = _network.backward(spec, params, cache, xp.asarray(d_out),
                                       input_gradient=True)
    grads = {name: backend.to_numpy(g) for name, g in grads.items()}
    return (backend.to_numpy(out), grads,
            None if d_input is None else backend.to_numpy(d_input))


def _assert_same(a, b, tolerance):
    out_a, grads_a, d_a = a
    out_b, grads_b, d_b = b
    assert relative_error(out_a, out_b) < tolerance
    assert set(grads_a) == set(grads_b)
    for name in grads_a:
        assert relative_error(grads_a[name], grads_b[name]) < tolerance, name
    if d_a is None:
        assert d_b is None
    else:
        assert relative_error(d_a, d_b) < tolerance


def _problem(case, dtype=np.float64, seed=0):
    spec = NetworkSpec(n_features=3, hidden_layer_sizes=(4, 3), n_outputs=2, **case)
    params, data, lengths, weights = random_problem(spec, np.random.default_rng(seed), T=7,
                                                    lengths=(7, 3, 1, 5, 7), dtype=dtype)
    return spec, params, data, lengths, weights


# ------------------------------------------------------------------- NumPy standing in

@pytest.mark.parametrize("graphs", [False, True], ids=["eager", "replayed"])
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=_case_id)
def test_step_backend_matches_the_numba_engine(case, graphs):
    spec, params, data, lengths, weights = _problem(case)
    expected = _forward_backward(spec, params, data, lengths, weights, CPU)
    backend = numpy_step_backend(graphs=graphs)
    workspace = _network.Workspace(xp=np)
    for _ in range(3):  # eager, captured, replayed: the same arrays each time
        got = _forward_backward(spec, params, data, lengths, weights, backend,
                                workspace=workspace)
        _assert_same(got, expected, 1e-12)
    if graphs:
        assert backend.graphs.n_captured > 0 and backend.graphs.n_replayed > 0


def test_replayed_loops_read_the_current_contents_of_their_arrays():
    """A replay on the same buffers with new data must compute on the new data."""
    case = dict(cell="lstm", bidirectional=True, return_sequences=False)
    backend = numpy_step_backend(graphs=True)
    workspace = _network.Workspace(xp=np)
    params = None
    for seed in range(4):
        spec, new_params, data, lengths, weights = _problem(case, seed=seed)
        if params is None:
            params = new_params
        for name, value in new_params.items():  # in place, as the optimisers update them
            params[name][...] = value
        lengths = np.array([7, 2 + seed, 1, 7 - seed, 4], dtype=np.int64)
        expected = _forward_backward(spec, params, data, lengths, weights, CPU)
        got = _forward_backward(spec, params, data, lengths, weights, backend,
                                workspace=workspace)
        _assert_same(got, expected, 1e-12)
    assert backend.graphs.n_replayed > 0


def test_step_backend_float32_follows_the_engine():
    for cell in ("rnn", "lstm", "gru"):
        spec, params, data, lengths, weights = _problem(dict(cell=cell, bidirectional=True),
                                                        dtype=np.float32)
        expected = _forward_backward(spec, params, data, lengths, weights, CPU)
        got = _forward_backward(spec, params, data, lengths, weights, numpy_step_backend())
        _assert_same(got, expected, 1e-5)


def test_step_backend_dropout_matches_the_engine():
    spec = NetworkSpec(cell="gru", n_features=3, hidden_layer_sizes=(4, 3), n_outputs=2,
                       dropout=0.4, bidirectional=True)
    params, data, lengths, weights = random_problem(spec, np.random.default_rng(3))
    expected = _forward_backward(spec, params, data, lengths, weights, CPU,
                                 rng=np.random.default_rng(5))
    got = _forward_backward(spec, params, data, lengths, weights, numpy_step_backend(),
                            rng=np.random.default_rng(5))
    _assert_same(got, expected, 1e-12)


def test_graph_cache_captures_on_the_second_sight_and_evicts_the_oldest():
    captured = []

    def capture(body):
        captured.append(body)
        return body

    cache = GraphCache(capture, pointer=id, max_size=2)
    runs = []
    a, b, c = np.zeros(1), np.zeros(2), np.zeros(3)
    for array in (a, a, a, b, c, a):
        key = cache.key("loop", (), (array,))
        cache.run(key, lambda scratch, array=array: runs.append((array.size, scratch)),
                  make_scratch=lambda: object())
    assert [size for size, _ in runs] == [1, 1, 1, 2, 3, 1]
    assert len(captured) == 1  # a, captured the second time; evicted before its last run
    assert runs[1][1] is runs[2][1]  # a replay reuses the captured loop's scratch
    assert cache.n_replayed == 2


def test_graph_cache_falls_back_to_eager_when_capture_fails():
    def capture(body):
        raise RuntimeError("capture not supported")

    backend = numpy_step_backend()
    backend.graphs = GraphCache(capture, pointer=lambda a: a.__array_interface__["data"][0])
    case = dict(cell="rnn", bidirectional=False, return_sequences=True)
    spec, params, data, lengths, weights = _problem(case)
    expected = _forward_backward(spec, params, data, lengths, weights, CPU)
    workspace = _network.Workspace(xp=np)
    with pytest.warns(RuntimeWarning, match="could not capture"):
        for _ in range(2):
            got = _forward_backward(spec, params, data, lengths, weights, backend,
                                    workspace=workspace)
            _assert_same(got, expected, 1e-12)
    assert not backend.graphs.enabled


def test_embedding_backward_reference_matches_the_kernel():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, size=(6, 3))
    lengths = np.array([6, 2, 4])
    d_x = rng.standard_normal((6, 3, 5))
    expected, got = np.zeros((4, 5)), np.zeros((4, 5))
    CPU.embedding_backward(ids, lengths, d_x, expected)
    _steps.embedding_backward(ids, lengths, d_x, got)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-14)


# ----------------------------------------------------- the estimators' device plumbing

@pytest.fixture
def stand_in_gpu(monkeypatch):
    """device='cuda' served by the NumPy step backend, posing as a device backend."""
    backend = numpy_step_backend(graphs=True)
    backend.on_device = True  # data, weights and optimiser state take the device path
    monkeypatch.setattr(_backend, "cuda_backend", lambda: backend)
    monkeypatch.setattr(_backend, "cuda_available", lambda: True)
    return backend


def _ragged(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((rng.integers(3, 9), 2)) for _ in range(n)]
    y = np.array([float(x[:, 0].sum() > 0) for x in X])
    return X, y


DEVICE_FIT_CASES = [
    (RNNClassifier, dict(cell="lstm", bidirectional=True)),
    (RNNClassifier, dict(cell="gru", early_stopping=True, dropout=0.2,
                         hidden_layer_sizes=(5, 4))),
    (RNNClassifier, dict(cell="lstm", embedding_dim=3)),
    (RNNRegressor, dict(cell="rnn", return_sequences=True, alpha=1e-3, solver="sgd")),
    (RNNRegressor, dict(cell="gru", solver="rmsprop", bidirectional=True,
                        return_sequences=True)),
    (RNNClassifier, dict(cell="lstm", solver="lbfgs", bidirectional=True, alpha=1e-3,
                         hidden_layer_sizes=(5, 4))),
]


def _device_fit_data(extra):
    X, y = _ragged()
    if extra.get("embedding_dim"):
        X = [(np.abs(x[:, 0]) * 3).astype(np.int64) % 5 for x in X]
    if extra.get("return_sequences"):
        y = [np.cumsum(x[:, 0]) for x in X]
    return X, y


@pytest.mark.parametrize("Estimator, extra", DEVICE_FIT_CASES)
def test_device_fit_follows_the_cpu_fit(stand_in_gpu, Estimator, extra):
    _check_device_fit(Estimator, extra)
    assert stand_in_gpu.graphs.n_replayed > 0


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU: CuPy missing or sees no device")
@pytest.mark.parametrize("Estimator, extra", DEVICE_FIT_CASES)
def test_cuda_fit_follows_the_cpu_fit_for_every_kind_of_model(Estimator, extra):
    _check_device_fit(Estimator, extra)


def _check_device_fit(Estimator, extra, loss_rtol=1e-9, param_rtol=1e-8, param_atol=1e-10):
    X, y = _device_fit_data(extra)
    params = dict(dict(hidden_layer_sizes=(6,), max_iter=5, batch_size=16, random_state=0,
                       dtype="float64"), **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_cpu = Estimator(device="cpu", **params).fit(X, y)
        on_device = Estimator(device="cuda", **params).fit(X, y)
    assert on_device.loss_curve_ == pytest.approx(on_cpu.loss_curve_, rel=loss_rtol)
    for name, value in on_cpu.params_.items():
        assert type(on_device.params_[name]) is np.ndarray
        np.testing.assert_allclose(on_device.params_[name], value, rtol=param_rtol,
                                   atol=param_atol)
    np.testing.assert_allclose(np.concatenate(on_device.predict(X), axis=None),
                               np.concatenate(on_cpu.predict(X), axis=None), atol=1e-8)
    optimizer = on_device.__dict__.get("_optimizer")  # (lbfgs has none)
    for state in vars(optimizer).values() if optimizer is not None else ():
        if isinstance(state, dict):
            assert all(type(v) is np.ndarray for v in state.values())


def test_device_partial_fit_and_pickle(stand_in_gpu):
    X, y = _ragged()
    clf = RNNClassifier(device="cuda", hidden_layer_sizes=(4,), random_state=0)
    clf.partial_fit(X, y, classes=[0.0, 1.0])
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_auto_uses_the_gpu_only_for_big_enough_problems(stand_in_gpu):
    small = RNNRegressor(device="auto", hidden_layer_sizes=(32,))
    big = RNNRegressor(device="auto", hidden_layer_sizes=(256,))
    assert small._backend_for(200) is CPU
    assert big._backend_for(16) is CPU
    assert big._backend_for(64) is stand_in_gpu


def test_running_out_of_gpu_memory_is_a_clear_error(stand_in_gpu, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Out of memory allocating 1,073,741,824 bytes")

    monkeypatch.setattr(stand_in_gpu, "forward", out_of_memory)
    X, y = _ragged(20)
    clf = RNNClassifier(device="cuda", max_iter=2)
    with pytest.raises(MemoryError, match="GPU ran out of memory.*n_jobs"):
        clf.fit(X, y)
    assert all(type(v) is np.ndarray for v in clf.params_.values())  # back on the host


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_backend, "_cuda_backend", None)
    monkeypatch.setattr(_backend, "_cuda_error", "CuPy is not installed (pip install ...).")
    X, y = _ragged(10)
    with pytest.raises(ValueError, match="device='cuda' is not available: CuPy is not"):
        RNNClassifier(device="cuda").fit(X, y)
    clf = RNNClassifier(device="auto", hidden_layer_sizes=(256,), max_iter=1, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)  # auto falls back to the CPU
    fitted = RNNClassifier(max_iter=1).fit(X, y)
    fitted.set_params(device="cuda")
    with pytest.raises(ValueError, match="device='cuda' is not available"):
        fitted.predict(X)


# ------------------------------------------------------------------------ on a real GPU

@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU: CuPy missing or sees no device")
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_cuda_matches_the_numba_engine(case, dtype, tolerance):
    backend = _backend.cuda_backend()
    spec, params, data, lengths, weights = _problem(case, dtype=dtype)
    expected = _forward_backward(spec, params, data, lengths, weights, CPU)
    workspace = _network.Workspace(xp=backend.xp)
    with backend.training_context():
        for _ in range(3):  # eager, captured as a CUDA graph, replayed
            got = _forward_backward(spec, params, data, lengths, weights, backend,
                                    workspace=workspace)
            _assert_same(got, expected, tolerance)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU: CuPy missing or sees no device")
@pytest.mark.parametrize("solver, nesterov", [("adam", True), ("sgd", True), ("sgd", False),
                                              ("rmsprop", True)])
def test_cuda_fit_follows_the_cpu_fit(solver, nesterov):
    extra = dict(cell="lstm", solver=solver, nesterovs_momentum=nesterov, bidirectional=True,
                 alpha=1e-3)
    _check_device_fit(RNNClassifier, extra, loss_rtol=1e-8, param_rtol=1e-6, param_atol=1e-9)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU: CuPy missing or sees no device")
def test_cuda_fit_reaches_the_cpu_accuracy_and_pickles_to_numpy():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = digits.images / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, digits.target, random_state=0)
    scores = {}
    for device in ("cpu", "cuda"):
        clf = RNNClassifier(cell="gru", hidden_layer_sizes=(64,), max_iter=30,
                            random_state=0, device=device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X_train, y_train)
        scores[device] = clf.score(X_test, y_test)
        assert all(type(v) is np.ndarray for v in clf.params_.values())
    assert scores["cuda"] > 0.9
    assert abs(scores["cuda"] - scores["cpu"]) < 0.03
    loaded = pickle.loads(pickle.dumps(clf))
    loaded.set_params(device="cpu")
    assert loaded.score(X_test, y_test) == pytest.approx(scores["cuda"], abs=0.01)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU: CuPy missing or sees no device")
def test_cuda_grid_search_with_two_workers_shares_the_gpu():
    X, y = _ragged(200)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "cell": ["lstm", "gru"]}
    results = {}
    for n_jobs in (1, 2):
        search = GridSearchCV(RNNClassifier(device="cuda", max_iter=5, random_state=0,
                                            dtype="float64"), grid, cv=2, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X, y)
        results[n_jobs] = search.cv_results_["mean_test_score"]
    np.testing.assert_allclose(results[1], results[2], atol=1e-9)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU: CuPy missing or sees no device")
def test_cuda_predict_from_several_threads_matches_one_thread():
    from concurrent.futures import ThreadPoolExecutor

    X, y = _ragged(300)
    clf = RNNClassifier(device="cuda", hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    expected = clf.predict_proba(X)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(X), range(8)))
    for got in results:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [9, 48, 49, 300])
def test_cpu_matmul_tn_reads_the_first_columns_by_blocks_or_blas(dtype, M):
    # up to TN_DIRECT_ROWS rows the kernel's blocks, beyond NumPy's BLAS on strided views
    from skrnn._backend import CPU

    rng = np.random.default_rng(3)
    a = rng.standard_normal((150, M)).astype(dtype)
    b = rng.standard_normal((150, 96)).astype(dtype)
    out = CPU.matmul_tn(a, b, 64)
    assert out.shape == (M, 64) and out.flags.c_contiguous
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, a.astype(np.float64).T @ b[:, :64], rtol=tol, atol=tol * 12)
