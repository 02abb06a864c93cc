"""Losses: values as scikit-learn defines them, gradients against finite differences."""

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_squared_error

from skrnn._backend._cuda import DeviceArrays
from skrnn._losses import LOSSES, sigmoid_log_loss, softmax_log_loss, squared_error

from ._helpers import finite_difference, relative_error


def _problem(name, rng, n=7, k=3):
    raw = rng.normal(size=(n, k))
    if name == "squared_error":
        y = rng.normal(size=(n, k))
    elif name == "sigmoid_log_loss":
        y = (rng.random((n, k)) > 0.5).astype(float)
    else:
        y = np.eye(k)[rng.integers(0, k, size=n)]
    return y, raw


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    y, raw = _problem(name, rng)
    weights = rng.random(y.shape[0])
    loss_fn = LOSSES[name][0]
    _, d_raw = loss_fn(y, raw, weights)
    numeric = finite_difference(lambda: loss_fn(y, raw, weights)[0], raw)
    assert relative_error(d_raw, numeric) < 1e-7


def test_values_match_scikit_learn():
    rng = np.random.default_rng(1)
    y, raw = _problem("squared_error", rng)
    ones = np.ones(len(y))
    assert squared_error(y, raw, ones)[0] == pytest.approx(mean_squared_error(y, raw) / 2)

    y, raw = _problem("softmax_log_loss", rng)
    proba = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    assert softmax_log_loss(y, raw, ones)[0] == pytest.approx(log_loss(y.argmax(1), proba, labels=[0, 1, 2]))

    y, raw = _problem("sigmoid_log_loss", rng, k=1)
    p = 1 / (1 + np.exp(-raw[:, 0]))
    assert sigmoid_log_loss(y, raw, ones)[0] == pytest.approx(log_loss(y[:, 0], p))


def test_sample_weights_are_a_weighted_average():
    rng = np.random.default_rng(2)
    y, raw = _problem("softmax_log_loss", rng, n=6)
    weights = np.array([1, 1, 2, 0, 0, 1.0])
    repeated = np.array([0, 1, 2, 2, 5])
    loss_w, _ = softmax_log_loss(y, raw, weights)
    loss_r, _ = softmax_log_loss(y[repeated], raw[repeated], np.ones(5))
    assert loss_w == pytest.approx(loss_r)
    # scaling all weights changes nothing
    assert softmax_log_loss(y, raw, 3 * weights)[0] == pytest.approx(loss_w)


def test_extreme_logits_stay_finite_and_all_zero_weights_give_zero():
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    raw = np.array([[-1e4, 1e4], [1e4, -1e4]])
    for loss_fn in (sigmoid_log_loss, softmax_log_loss):
        loss, grad = loss_fn(y, raw, np.ones(2))
        assert np.isfinite(loss) and np.isfinite(grad).all() and loss > 1e3
        loss, grad = loss_fn(y, raw, np.zeros(2))
        assert loss == 0 and np.all(grad == 0)


def test_float32_gradient_stays_float32():
    rng = np.random.default_rng(3)
    y, raw = _problem("squared_error", rng)
    _, grad = squared_error(y.astype(np.float32), raw.astype(np.float32), np.ones(len(y)))
    assert grad.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_log_loss_reads_class_indices_and_skips_negative_ones(dtype):
    """Class indices give the loss and gradient of their one-hot rows; index -1 (a padded
    step) counts for nothing; in place, the gradient is written over the logits."""
    rng = np.random.default_rng(4)
    raw = rng.normal(size=(3, 5, 7)).astype(dtype)  # (steps, sequences, classes)
    classes = rng.integers(0, 7, size=(3, 5))
    classes[2, 3:] = -1
    weights = rng.uniform(0.5, 2, size=(3, 5))
    counted = classes >= 0
    one_hot = np.eye(7)[classes[counted]]
    normaliser = weights[counted].sum()
    loss, grad = softmax_log_loss(one_hot, raw[counted].astype(np.float64), weights[counted],
                                  normaliser)
    tolerance = 1e-6 if dtype == np.float32 else 1e-14
    for in_place in (False, True):
        logits = raw.copy()
        loss_i, grad_i = softmax_log_loss(classes, logits, weights, normaliser, in_place)
        assert (grad_i is logits) == in_place and grad_i.dtype == dtype
        assert loss_i == pytest.approx(loss, rel=tolerance)
        np.testing.assert_allclose(grad_i[counted], grad, rtol=tolerance * 10, atol=tolerance)
        assert np.all(grad_i[~counted] == 0)
    # the whole-array version (CuPy's) computes the same
    loss_a, grad_a = softmax_log_loss(classes, raw, weights, normaliser,
                                      backend=_NumpyDevice())
    assert loss_a == pytest.approx(loss, rel=tolerance)
    np.testing.assert_allclose(grad_a[counted], grad, rtol=tolerance * 10, atol=tolerance)
    assert np.all(grad_a[~counted] == 0) and grad_a.dtype == dtype


class _NumpyDevice(DeviceArrays):
    """The device's array operations on NumPy arrays (as CuPy's, without a GPU)."""

    xp = np
