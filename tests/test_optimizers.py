"""Optimisers against scikit-learn's MLP optimisers, and clipping by global norm."""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from skrnn._backend import CPU
from skrnn._optimizers import RMSprop, SGD, Adam, add_l2_penalty, clip_by_global_norm


def _params_and_grads(rng, steps=5):
    params = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    grads = [{name: rng.normal(size=value.shape) for name, value in params.items()}
             for _ in range(steps)]
    return params, grads


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_matches_mlp(nesterov):
    rng = np.random.default_rng(0)
    params, grads = _params_and_grads(rng)
    reference = [params["a"].copy(), params["b"].copy()]
    ours = SGD(params, 0.1, momentum=0.9, nesterov=nesterov)
    theirs = SGDOptimizer(reference, learning_rate_init=0.1, momentum=0.9, nesterov=nesterov)
    for g in grads:
        ours.step(params, g, CPU)
        theirs.update_params(reference, [g["a"], g["b"]])
    np.testing.assert_allclose(params["a"], reference[0], rtol=1e-12)
    np.testing.assert_allclose(params["b"], reference[1], rtol=1e-12)


def test_adam_matches_mlp():
    rng = np.random.default_rng(1)
    params, grads = _params_and_grads(rng)
    reference = [params["a"].copy(), params["b"].copy()]
    ours = Adam(params, 0.01, 0.9, 0.999, 1e-8)
    theirs = AdamOptimizer(reference, learning_rate_init=0.01)
    for g in grads:
        ours.step(params, g, CPU)
        theirs.update_params(reference, [g["a"], g["b"]])
    np.testing.assert_allclose(params["a"], reference[0], rtol=1e-12)
    np.testing.assert_allclose(params["b"], reference[1], rtol=1e-12)


def test_rmsprop_follows_its_formula():
    rng = np.random.default_rng(2)
    params, grads = _params_and_grads(rng)
    expected = params["a"].copy()
    v = np.zeros_like(expected)
    ours = RMSprop(params, 0.01, beta_2=0.9, epsilon=1e-8)
    for t, g in enumerate(grads, start=1):
        ours.step(params, g, CPU)
        v = 0.9 * v + 0.1 * g["a"] ** 2
        expected -= 0.01 * g["a"] / (np.sqrt(v / (1 - 0.9 ** t)) + 1e-8)
    np.testing.assert_allclose(params["a"], expected, rtol=1e-12)


def test_float32_parameters_stay_float32():
    params = {"w": np.ones(3, np.float32)}
    for optimizer in (SGD(params, 0.1), Adam(params, 0.1), RMSprop(params, 0.1)):
        optimizer.step(params, {"w": np.ones(3, np.float32)}, CPU)
        assert params["w"].dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_l2_penalty_adds_to_weight_gradients_only(dtype):
    rng = np.random.default_rng(3)
    params = {name: rng.standard_normal(shape).astype(dtype) for name, shape in
              [("rnn.weight_ih_l0", (8, 3)), ("rnn.weight_hh_l0_reverse", (8, 2)),
               ("rnn.bias_ih_l0", (8,)), ("head.weight", (1, 4)), ("head.bias", (1,))]}
    grads = {name: rng.standard_normal(v.shape).astype(dtype) for name, v in params.items()}
    before = {name: g.copy() for name, g in grads.items()}
    squares = add_l2_penalty(params, grads, 0.25, CPU)
    weights = ["rnn.weight_ih_l0", "rnn.weight_hh_l0_reverse", "head.weight"]
    expected = sum(float(np.sum(params[n].astype(np.float64) ** 2)) for n in weights)
    assert squares == pytest.approx(expected, rel=1e-12)
    for name in grads:
        added = dtype(0.25) * params[name] if name in weights else 0
        np.testing.assert_allclose(grads[name], before[name] + added, rtol=1e-6)
        assert grads[name].dtype == dtype


def test_clip_by_global_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([4.0])}
    assert CPU.global_norm(grads) == pytest.approx(5.0)
    assert clip_by_global_norm(grads, 10.0, CPU) == pytest.approx(5.0)
    np.testing.assert_array_equal(grads["a"], [3.0, 0.0])  # below the bound: unchanged
    clip_by_global_norm(grads, 1.0, CPU)
    assert CPU.global_norm(grads) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])
    assert clip_by_global_norm(grads, None, CPU) == pytest.approx(1.0)


def test_reduce_learning_rate_divides_by_five_until_tiny():
    """MLP's order: a rate above 1e-6 is divided (and trained with), one at most 1e-6 stops."""
    optimizer = Adam({"w": np.ones(1)}, 1e-4)
    assert optimizer.reduce_learning_rate() and optimizer.learning_rate == pytest.approx(2e-5)
    assert optimizer.reduce_learning_rate() and optimizer.learning_rate == pytest.approx(4e-6)
    assert optimizer.reduce_learning_rate() and optimizer.learning_rate == pytest.approx(8e-7)
    assert not optimizer.reduce_learning_rate()  # 8e-7: too small to go on
    assert optimizer.learning_rate == pytest.approx(8e-7)


def test_reduce_learning_rate_stops_where_mlp_stops():
    ours = SGD({"w": np.ones(1)}, 1e-3, schedule="adaptive")
    mlp = SGDOptimizer([np.ones(1)], 1e-3, lr_schedule="adaptive")
    while True:
        go_on = ours.reduce_learning_rate()
        assert go_on == (not mlp.trigger_stopping("", False))
        assert ours.learning_rate == pytest.approx(mlp.learning_rate, rel=1e-12)
        if not go_on:
            break


@pytest.mark.parametrize("power_t", [0.5, 0.25])
def test_invscaling_follows_mlp(power_t):
    """learning_rate_init / (t + 1) ** power_t after each epoch, t the samples seen so far,
    exactly as MLP's SGDOptimizer.iteration_ends; the other schedules keep the rate."""
    ours = SGD({"w": np.ones(1)}, 0.1, schedule="invscaling", power_t=power_t)
    mlp = SGDOptimizer([np.ones(1)], 0.1, lr_schedule="invscaling", power_t=power_t)
    assert ours.learning_rate == mlp.learning_rate == 0.1
    for t in (50, 100, 150):
        ours.iteration_ends(t)
        mlp.iteration_ends(t)
        assert ours.learning_rate == pytest.approx(mlp.learning_rate, rel=1e-15)
    assert ours.learning_rate == pytest.approx(0.1 / 151 ** power_t)
    constant = SGD({"w": np.ones(1)}, 0.1)
    constant.iteration_ends(150)
    assert constant.learning_rate == 0.1


def test_updates_refuse_arrays_they_cannot_update_in_place():
    value = np.ones((4, 3), order="F")
    optimizer = Adam({"w": value}, 0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        optimizer.step({"w": value}, {"w": np.ones((4, 3))}, CPU)


def test_device_array_operations_match_the_host_ones():
    """The GPU's whole-array norms, checks and L2 gradient (run here on NumPy arrays)
    compute what the host's compiled passes compute."""
    from skrnn._backend._cuda import DeviceArrays

    class NumpyDevice(DeviceArrays):
        xp = np

    device = NumpyDevice()
    rng = np.random.default_rng(7)
    grads = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    assert device.global_norm(grads) == pytest.approx(CPU.global_norm(grads), rel=1e-14)
    assert device.all_finite(grads.values()) and CPU.all_finite(grads.values())
    grads["b"][2] = np.nan
    assert not device.all_finite(grads.values()) and not CPU.all_finite(grads.values())
    value = rng.normal(size=(4, 3))
    on_host, on_device = np.ones((4, 3)), np.ones((4, 3))
    squares = CPU.add_l2_gradient(on_host, value, 0.5)
    assert float(device.add_l2_gradient(on_device, value, 0.5)) == pytest.approx(squares)
    np.testing.assert_allclose(on_device, on_host, rtol=1e-15)
