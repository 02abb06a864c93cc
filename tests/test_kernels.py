"""The shared activations, the packed recurrent product and the kernels' dtype behaviour."""

import numpy as np
import pytest

from skrnn._kernels._activations import apply_exp, apply_sigmoid, apply_tanh
from skrnn._kernels._gemm import (MATVEC_VECTORS, PANEL_VECTORS, VECTOR_BYTES,
                                  accumulate_matvec_panels, aligned_zeros, matmul_panels,
                                  matmul_tn, pack_for_matmul, pack_panels, padded_columns)


def test_float64_activations_are_exact():
    x = np.linspace(-40, 40, 100001)
    out = np.empty_like(x)
    apply_tanh(x, out)
    np.testing.assert_allclose(out, np.tanh(x), rtol=0, atol=4e-16)
    apply_sigmoid(x, out)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-x)), rtol=1e-15, atol=4e-16)


def test_float32_tanh_is_accurate_to_a_few_ulp():
    x = np.linspace(-30, 30, 2_000_001).astype(np.float32)
    out = np.empty_like(x)
    apply_tanh(x, out)
    assert out.dtype == np.float32
    error = np.abs(out.astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert error.max() < 5e-7
    assert np.all(np.abs(out) <= 1)
    # odd as tanh is; monotone up to its error (near |x| = 7.9 it wobbles by 3 ulp, by 8
    # where the machine has no fused multiply-add: 4.8e-7 compiled for SSE only)
    np.testing.assert_array_equal(out, -out[::-1])
    assert np.diff(out).min() > -5e-7


def test_float32_sigmoid_is_accurate():
    x = np.linspace(-30, 30, 200_001).astype(np.float32)
    out = np.empty_like(x)
    apply_sigmoid(x, out)
    expected = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert np.abs(out - expected).max() < 5e-7
    assert out.min() >= 0 and out.max() <= 1


def test_float32_exp_is_accurate_to_two_ulp_and_saturates():
    x = np.linspace(-87, 88, 2_000_001).astype(np.float32)
    out = np.empty_like(x)
    apply_exp(x, out)
    expected = np.exp(x.astype(np.float64))
    assert out.dtype == np.float32
    assert (np.abs(out - expected) / expected).max() < 2 * 2.0**-24
    extremes = np.array([np.nan, -np.inf, -200, np.inf], np.float32)
    out = np.empty_like(extremes)
    apply_exp(extremes, out)
    assert np.isnan(out[0]) and 0 <= out[1] < 2e-38 and 0 <= out[2] < 2e-38
    assert np.isfinite(out[3]) and out[3] > 1e38
    x = np.linspace(-700, 700, 10001)
    out = np.empty_like(x)
    apply_exp(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-15)  # float64: libm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates_and_infinities_saturate(dtype):
    x = np.array([np.nan, np.inf, -np.inf], dtype=dtype)
    out = np.empty_like(x)
    apply_tanh(x, out)
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1:], [1, -1], atol=1e-6)
    apply_sigmoid(x, out)
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1:], [1, 0], atol=1e-6)


def test_flush_denormals_sets_and_restores_the_thread_state():
    from skrnn._parallel._fpenv import _X86_64, flush_denormals, get_mxcsr

    tiny = np.array([1e-39], dtype=np.float32)  # a float32 denormal
    before = get_mxcsr() if _X86_64 else None
    assert tiny[0] * np.float32(1) != 0
    with flush_denormals():
        if _X86_64:
            assert tiny[0] * np.float32(1) == 0
            assert get_mxcsr() & 0x8040 == 0x8040
    assert tiny[0] * np.float32(1) != 0
    if _X86_64:  # control bits restored (the low 6 bits are sticky status flags)
        assert get_mxcsr() & ~0x3F == before & ~0x3F
    with pytest.raises(RuntimeError):  # restored on errors too
        with flush_denormals():
            raise RuntimeError
    assert tiny[0] * np.float32(1) != 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 7), (32, 64, 256), (13, 33, 17),
                                   (6, 200, 40), (9, 600, 70), (4, 0, 9), (7, 300, 128),
                                   (30, 70, 192)])
def test_matmul_panels_matches_numpy(dtype, shape):
    M, K, N = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((K, N)).astype(dtype)
    panels = pack_for_matmul(w)
    assert padded_columns(panels) >= N and padded_columns(panels) % panels.shape[2] == 0
    out = np.full((M, padded_columns(panels)), np.nan, dtype)
    matmul_panels(a, panels, out)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out[:, :N], a.astype(np.float64) @ w, rtol=tol, atol=tol * 10)
    np.testing.assert_array_equal(out[:, N:], 0)


def test_panels_are_wide_where_they_tile():
    for dtype in (np.float32, np.float64):
        lanes = VECTOR_BYTES // np.dtype(dtype).itemsize
        wide, narrow = PANEL_VECTORS[0] * lanes, PANEL_VECTORS[-1] * lanes
        assert pack_for_matmul(np.ones((3, 2 * wide), dtype)).shape == (2, 3, wide)
        assert pack_for_matmul(np.ones((3, wide + narrow), dtype)).shape[2] == narrow
        assert pack_panels(np.ones((3, 5), dtype), MATVEC_VECTORS).shape[2] == \
            MATVEC_VECTORS * lanes


@pytest.mark.parametrize("N", [50, 128])  # narrow and (with AVX-512) wide panels
def test_matmul_panels_rows_do_not_depend_on_each_other(N):
    """A row's bits are the same alone, in a block of four or in a remainder block."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((11, 600)).astype(np.float32)  # k in several slices
    panels = pack_for_matmul(rng.standard_normal((600, N)).astype(np.float32))
    together = np.empty((11, padded_columns(panels)), np.float32)
    matmul_panels(a, panels, together)
    for i in range(11):
        alone = np.empty((1, padded_columns(panels)), np.float32)
        matmul_panels(a[i:i + 1], panels, alone)
        np.testing.assert_array_equal(alone[0], together[i])


def test_matmul_panels_reads_strided_rows_and_checks_shapes():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((8, 40))[:, ::2]  # not contiguous
    w = rng.standard_normal((20, 30))
    panels = pack_for_matmul(w)
    out = np.empty((8, padded_columns(panels)))
    matmul_panels(a, panels, out)
    np.testing.assert_allclose(out[:, :30], a @ w, rtol=1e-13)
    with pytest.raises(ValueError, match="too small"):
        matmul_panels(a, panels, np.empty((8, 30)))
    with pytest.raises(ValueError, match="columns differ"):
        matmul_panels(a[:, :5], panels, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1600, 9, 256), (300, 48, 64), (301, 49, 64), (1568, 256, 64),
                                   (150, 30, 96), (70, 5, 33), (0, 4, 64), (40, 0, 64),
                                   (33, 7, 1), (200, 131, 128), (300, 516, 64)])
def test_matmul_tn_matches_numpy(dtype, shape):
    """Read in place, any number of rows; BLAS (N not whole panels, empty sums)."""
    R, M, N = shape
    rng = np.random.default_rng(6)
    a = rng.standard_normal((R, M)).astype(dtype)
    b = rng.standard_normal((R, N)).astype(dtype)
    out = np.full((M, N), np.nan, dtype)
    matmul_tn(a, b, out)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    expected = a.astype(np.float64).T @ b
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(max(R, 1)))


def test_matmul_tn_reads_strided_operands_and_checks_shapes():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((100, 20))[:, ::2]  # (100, 10), not contiguous
    b = rng.standard_normal((200, 64))[::2]  # (100, 64), not contiguous
    out = np.empty((10, 64))
    matmul_tn(a, b, out)
    np.testing.assert_allclose(out, a.T @ b, rtol=1e-12)
    with pytest.raises(ValueError, match="do not match"):
        matmul_tn(a, b[:50], out)
    with pytest.raises(ValueError, match="do not match"):
        matmul_tn(a, b[:, :32], out)  # out wider than b


@pytest.mark.parametrize("M, N", [(9, 128), (100, 128), (9, 20), (100, 20)])
def test_matmul_tn_into_fewer_columns_reads_b_first_columns(M, N):
    # in place, and through BLAS (widths panels do not tile)
    rng = np.random.default_rng(8)
    a = rng.standard_normal((70, M))
    b = rng.standard_normal((70, N + 64))
    out = np.empty((M, N))
    matmul_tn(a, b, out)
    np.testing.assert_allclose(out, a.T @ b[:, :N], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (8, 512), (64, 192), (130, 70), (0, 5)])
def test_accumulate_matvec_panels_adds_the_product(dtype, shape):
    K, N = shape
    rng = np.random.default_rng(4)
    x = rng.standard_normal(K).astype(dtype)
    w = rng.standard_normal((K, N)).astype(dtype)
    panels = pack_panels(w, MATVEC_VECTORS)
    start = rng.standard_normal(padded_columns(panels)).astype(dtype)
    out = start.copy()
    accumulate_matvec_panels(x, panels, out)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out[:N], start[:N] + x.astype(np.float64) @ w, rtol=tol,
                               atol=tol * 10)
    np.testing.assert_array_equal(out[N:], start[N:])  # zero columns add nothing
    with pytest.raises(ValueError, match="do not match"):
        accumulate_matvec_panels(x, pack_panels(w, 2), out)  # two vectors, not four


def test_packed_weights_and_scratch_start_on_a_vector_boundary():
    rng = np.random.default_rng(5)
    for shape in [(3, 5), (128, 512), (64, 96)]:
        for dtype in (np.float32, np.float64):
            w = rng.standard_normal(shape).astype(dtype)
            for vectors in (2, MATVEC_VECTORS):
                assert pack_panels(w, vectors).ctypes.data % VECTOR_BYTES == 0
            scratch = aligned_zeros((7, 33), w.dtype)
            assert scratch.ctypes.data % VECTOR_BYTES == 0
            assert scratch.shape == (7, 33) and scratch.dtype == dtype and not scratch.any()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_forward_kernels_carry_the_zero_state_through_padded_steps(cell):
    """A sequence shorter than the batch keeps its last state; one of length 0 keeps
    h_{-1} = 0 from the first step (never memory from another step)."""
    from skrnn._cells import CELLS

    record = CELLS[cell]
    T, B, F, H = 5, 3, 2, 4
    G = record.n_gates * H
    rng = np.random.default_rng(6)
    x = rng.standard_normal((T, B, F))
    w_ih, w_hh = rng.standard_normal((G, F)), rng.standard_normal((G, H))
    b_ih, b_hh = rng.standard_normal(G), rng.standard_normal(G)
    lengths = np.array([0, 2, T], dtype=np.int64)
    h = np.full((T, B, H), np.nan)
    kept = [np.full((T, B, width * H), np.nan) for _, width in record.kept]
    flags = (False,) if record.takes_activation else ()
    record.forward(x, w_ih, np.ascontiguousarray(w_hh.T), b_ih, b_hh, lengths, *flags, *kept, h)
    np.testing.assert_array_equal(h[:, 0], 0)
    np.testing.assert_array_equal(h[2:, 1], np.broadcast_to(h[1, 1], (T - 2, H)))
    assert np.isfinite(h).all()
