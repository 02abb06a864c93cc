"""The engine: gradients against finite differences, ragged batches, parity with PyTorch."""

import itertools

import numpy as np
import pytest

from skrnn import _network
from skrnn._network import NetworkSpec
from skrnn._sequences import valid_steps

from ._helpers import (finite_difference, random_problem, relative_error, torch_forward,
                       torch_twin, weighted_sum_loss)

CELLS = ["rnn", "lstm", "gru"]

# Every cell with: ragged lengths, two stacked layers of different sizes, bidirectional or
# not, per-step or final-state head; plus relu RNN and token-id embeddings.
GRADIENT_CASES = [
    dict(cell=cell, bidirectional=bi, return_sequences=rs)
    for cell, bi, rs in itertools.product(CELLS, [False, True], [False, True])
] + [
    dict(cell="rnn", activation="relu", bidirectional=True, return_sequences=True),
    dict(cell="lstm", vocab_size=7, bidirectional=True, return_sequences=False),
    dict(cell="gru", vocab_size=5, bidirectional=False, return_sequences=True),
]


def _case_id(case):
    return "-".join(f"{k}={v}" for k, v in case.items())


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=_case_id)
def test_gradients_match_finite_differences(case):
    rng = np.random.default_rng(0)
    spec = NetworkSpec(n_features=3, hidden_layer_sizes=(4, 3), n_outputs=2, **case)
    params, data, lengths, loss_weights = random_problem(spec, rng)
    _, cache = _network.forward(spec, params, data, lengths)
    grads, d_input = _network.backward(spec, params, cache, loss_weights,
                                              input_gradient=True)

    def loss():
        return weighted_sum_loss(spec, params, data, lengths, loss_weights)

    assert set(grads) == set(params)
    for name, value in params.items():
        assert grads[name].shape == value.shape
        err = relative_error(grads[name], finite_difference(loss, value))
        assert err < 1e-6, (name, err)
    if spec.vocab_size is None:
        err = relative_error(d_input, finite_difference(loss, data))
        assert err < 1e-6, ("input", err)
        # padded input steps get no gradient
        for b, length in enumerate(lengths):
            assert np.all(d_input[length:, b] == 0)
    else:
        assert d_input is None


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_ragged_batch_equals_each_sequence_alone(cell, bidirectional, return_sequences):
    rng = np.random.default_rng(1)
    spec = NetworkSpec(cell=cell, n_features=3, hidden_layer_sizes=(5, 4), n_outputs=2,
                       bidirectional=bidirectional, return_sequences=return_sequences)
    params, data, lengths, loss_weights = random_problem(spec, rng, T=7, lengths=(7, 3, 1, 5))
    # garbage in the padding must not matter
    for b, length in enumerate(lengths):
        data[length:, b] = 1e3 * rng.standard_normal(data[length:, b].shape)
    out, cache = _network.forward(spec, params, data, lengths)
    grads, d_input = _network.backward(spec, params, cache, loss_weights,
                                              input_gradient=True)

    grads_alone = {name: np.zeros_like(value) for name, value in params.items()}
    for b, length in enumerate(lengths):
        x_b = np.ascontiguousarray(data[:length, b:b + 1])
        one_length = np.array([length])
        out_b, cache_b = _network.forward(spec, params, x_b, one_length)
        w_b = loss_weights[:length, b:b + 1] if return_sequences else loss_weights[b:b + 1]
        g_b, d_x_b = _network.backward(spec, params, cache_b, np.ascontiguousarray(w_b),
                                       input_gradient=True)
        if return_sequences:
            np.testing.assert_allclose(out[:length, b:b + 1], out_b, rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_allclose(out[b:b + 1], out_b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(d_input[:length, b:b + 1], d_x_b, rtol=1e-10, atol=1e-12)
        for name in grads_alone:
            grads_alone[name] += g_b[name]
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_alone[name], rtol=1e-10, atol=1e-12)


def test_param_names_follow_pytorch_with_different_layer_sizes():
    spec = NetworkSpec(cell="gru", n_features=3, hidden_layer_sizes=(8, 5), n_outputs=2,
                       bidirectional=True, vocab_size=11)
    shapes = _network.param_shapes(spec)
    assert list(shapes)[:6] == ["embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0",
                                "rnn.bias_ih_l0", "rnn.bias_hh_l0", "rnn.weight_ih_l0_reverse"]
    assert shapes["embedding.weight"] == (11, 3)
    assert shapes["rnn.weight_ih_l1"] == (15, 16)  # second layer reads both directions
    assert shapes["rnn.weight_hh_l1_reverse"] == (15, 5)
    assert shapes["head.weight"] == (2, 10)
    assert list(shapes)[-2:] == ["head.weight", "head.bias"]


def test_init_is_reproducible_and_dtype_exact():
    spec = NetworkSpec(cell="lstm", n_features=3, hidden_layer_sizes=(6,), n_outputs=1)
    a = _network.init_params(spec, np.random.default_rng(5), np.float32)
    b = _network.init_params(spec, np.random.default_rng(5), np.float32)
    for name in a:
        assert a[name].dtype == np.float32 and a[name].flags.c_contiguous
        np.testing.assert_array_equal(a[name], b[name])
    # forget-gate bias starts at 1 (bias_ih block 2), recurrent blocks are orthogonal
    np.testing.assert_array_equal(a["rnn.bias_ih_l0"][6:12], 1.0)
    w_hh = a["rnn.weight_hh_l0"].astype(np.float64)
    for block in range(4):
        w = w_hh[6 * block:6 * (block + 1)]
        np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_follows_float64(cell):
    rng = np.random.default_rng(2)
    spec = NetworkSpec(cell=cell, n_features=4, hidden_layer_sizes=(16, 16), n_outputs=3,
                       bidirectional=True)
    params, data, lengths, loss_weights = random_problem(spec, rng, T=20, lengths=(20, 13, 7),
                                                         jitter=0.0)
    params32 = {name: value.astype(np.float32) for name, value in params.items()}
    out64, cache64 = _network.forward(spec, params, data, lengths)
    out32, cache32 = _network.forward(spec, params32, data.astype(np.float32), lengths)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, atol=2e-5)
    g64, _ = _network.backward(spec, params, cache64, loss_weights)
    g32, _ = _network.backward(spec, params32, cache32, loss_weights.astype(np.float32))
    for name in g64:
        assert g32[name].dtype == np.float32
        assert relative_error(g32[name], g64[name]) < 1e-4, name


def test_dropout_masks_come_from_the_generator_and_scale_inverted():
    spec = NetworkSpec(cell="gru", n_features=2, hidden_layer_sizes=(32, 32), n_outputs=1,
                       dropout=0.5)
    rng = np.random.default_rng(3)
    params, data, lengths, _ = random_problem(spec, rng, T=5, lengths=(5, 5, 3), jitter=0.0)
    out_eval, _ = _network.forward(spec, params, data, lengths)
    out_eval2, _ = _network.forward(spec, params, data, lengths)
    np.testing.assert_array_equal(out_eval, out_eval2)  # no dropout outside training
    out_a, cache = _network.forward(spec, params, data, lengths, training=True,
                                    rng=np.random.default_rng(9))
    out_b, _ = _network.forward(spec, params, data, lengths, training=True,
                                rng=np.random.default_rng(9))
    np.testing.assert_array_equal(out_a, out_b)
    assert not np.allclose(out_a, out_eval)
    mask = cache["caches"][0]["layers"][0]["mask"]
    assert set(np.unique(mask)) == {0.0, 2.0}


def test_dropout_gradients_match_finite_differences():
    # with the masks held fixed, training-mode forward is a smooth function again
    spec = NetworkSpec(cell="lstm", n_features=3, hidden_layer_sizes=(4, 3), n_outputs=2,
                       dropout=0.3, bidirectional=True)
    rng = np.random.default_rng(4)
    params, data, lengths, loss_weights = random_problem(spec, rng)

    def loss():
        out, _ = _network.forward(spec, params, data, lengths, training=True,
                                  rng=np.random.default_rng(7))
        return float((out * loss_weights).sum())

    _, cache = _network.forward(spec, params, data, lengths, training=True,
                                rng=np.random.default_rng(7))
    grads, d_input = _network.backward(spec, params, cache, loss_weights,
                                              input_gradient=True)
    for name, value in params.items():
        assert relative_error(grads[name], finite_difference(loss, value)) < 1e-6, name
    assert relative_error(d_input, finite_difference(loss, data)) < 1e-6


# ---------------------------------------------------------------------------------------
# Parity with PyTorch (skipped when torch is not installed).

TORCH_CASES = [
    dict(cell=cell, bidirectional=bi, return_sequences=rs)
    for cell, bi, rs in itertools.product(CELLS, [False, True], [False, True])
] + [
    dict(cell="rnn", activation="relu", bidirectional=True, return_sequences=False),
    dict(cell="lstm", vocab_size=9, bidirectional=True, return_sequences=True),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=_case_id)
def test_outputs_and_gradients_match_pytorch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    spec = NetworkSpec(n_features=3, hidden_layer_sizes=(5, 5), n_outputs=2, **case)
    params, data, lengths, loss_weights = random_problem(spec, rng, T=7, lengths=(7, 2, 5, 4))
    out, cache = _network.forward(spec, params, data, lengths)
    grads, d_input = _network.backward(spec, params, cache, loss_weights,
                                              input_gradient=True)

    module = torch_twin(spec, params)
    y, x = torch_forward(spec, module, data, lengths)
    (y * torch.from_numpy(loss_weights)).sum().backward()

    y = y.detach().numpy()
    if spec.return_sequences:  # PyTorch pads with zeros; compare valid steps only
        valid = (np.arange(data.shape[0])[:, None] < lengths[None, :])[:, :, None]
        y, out = y * valid, out * valid
    np.testing.assert_allclose(out, y, rtol=1e-6, atol=1e-9)
    for name, parameter in module.named_parameters():
        assert relative_error(grads[name], parameter.grad.numpy()) < 1e-6, name
    if spec.vocab_size is None:
        torch_d_input = np.swapaxes(x.grad.numpy(), 0, 1)
        assert relative_error(d_input, torch_d_input) < 1e-6


# ---------------------------------------------------------------------------------------
# Prediction kernels: same function as forward, each sequence computed alone.

PREDICT_CASES = [
    dict(cell=cell, bidirectional=bi, return_sequences=rs)
    for cell, bi, rs in itertools.product(CELLS, [False, True], [False, True])
] + [
    dict(cell="rnn", activation="relu", bidirectional=True, return_sequences=False),
    dict(cell="lstm", vocab_size=7, bidirectional=True, return_sequences=True),
]


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("case", PREDICT_CASES, ids=_case_id)
def test_predict_matches_forward_and_ignores_the_rest_of_the_batch(case, dtype, tolerance):
    rng = np.random.default_rng(7)
    spec = NetworkSpec(n_features=3, hidden_layer_sizes=(6, 4), n_outputs=2, **case)
    params, data, lengths, _ = random_problem(spec, rng, T=7, lengths=(7, 2, 5, 1, 7),
                                              dtype=dtype, jitter=0.0)
    out, _ = _network.forward(spec, params, data, lengths)
    pred = _network.predict(spec, params, data, lengths)
    assert pred.dtype == dtype and pred.shape == out.shape
    valid = (np.arange(7)[:, None] < lengths[None, :])[:, :, None]
    if spec.return_sequences:
        out, pred = out * valid, pred * valid
    np.testing.assert_allclose(pred, out, rtol=0, atol=tolerance)
    for b in range(len(lengths)):  # bit for bit, alone or in company, any order
        alone = _network.predict(spec, params, np.ascontiguousarray(data[:, b:b + 1]),
                                 lengths[b:b + 1])
        if spec.return_sequences:
            np.testing.assert_array_equal(alone * valid[:, b:b + 1], pred[:, b:b + 1])
        else:
            np.testing.assert_array_equal(alone, pred[b:b + 1])
    order = np.array([3, 0, 4, 1, 2])
    shuffled = _network.predict(spec, params, np.ascontiguousarray(data[:, order]), lengths[order])
    if spec.return_sequences:
        np.testing.assert_array_equal(shuffled * valid[:, order], pred[:, order])
    else:
        np.testing.assert_array_equal(shuffled, pred[order])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_input_gradient_is_optional_and_changes_nothing_else(bidirectional):
    rng = np.random.default_rng(11)
    spec = NetworkSpec(cell="gru", n_features=3, hidden_layer_sizes=(4, 3), n_outputs=2,
                       bidirectional=bidirectional)
    params, data, lengths, loss_weights = random_problem(spec, rng)
    _, cache = _network.forward(spec, params, data, lengths)
    with_input, d_input = _network.backward(spec, params, cache, loss_weights,
                                            input_gradient=True)
    _, cache = _network.forward(spec, params, data, lengths)
    without, none = _network.backward(spec, params, cache, loss_weights)
    assert d_input.shape == data.shape and none is None
    for name in with_input:
        np.testing.assert_array_equal(with_input[name], without[name])


@pytest.mark.parametrize("return_sequences", [False, True])
def test_forward_backward_in_chunks_equals_forward_then_backward(return_sequences):
    """One hand-off per batch (each chunk from input to gradients) computes the same loss
    and gradients as ``forward``, the whole batch's loss, then ``backward``."""
    from skrnn._backend import CPU
    from skrnn._losses import batch_loss_grad, squared_error
    from skrnn._parallel import batch_chunks, set_num_threads

    rng = np.random.default_rng(3)
    spec = NetworkSpec(cell="gru", n_features=3, hidden_layer_sizes=(5, 4), n_outputs=2,
                       bidirectional=True, return_sequences=return_sequences, dropout=0.2)
    params = _network.init_params(spec, rng, np.float64)
    B, T = 70, 7
    lengths = rng.integers(1, T + 1, B).astype(np.int64)
    data = rng.standard_normal((T, B, 3))
    y = rng.standard_normal((B, T, 2) if return_sequences else (B, 2))
    w = rng.uniform(0.5, 2.0, (B, T) if return_sequences else B)

    set_num_threads(3)
    try:
        assert len(batch_chunks(B)) == 2  # chunks of at least 32 sequences, a power of two
        raw, cache = _network.forward(spec, params, data, lengths, training=True,
                                      rng=np.random.default_rng(0))
        if return_sequences:
            valid = valid_steps(lengths, T)
            loss, d_valid = squared_error(np.swapaxes(y, 0, 1)[valid], raw[valid],
                                          np.swapaxes(w, 0, 1)[valid])
            d_raw = np.zeros_like(raw)
            d_raw[valid] = d_valid
        else:
            loss, d_raw = squared_error(y, raw, w)
        grads, _ = _network.backward(spec, params, cache, d_raw)

        loss_grad = batch_loss_grad(squared_error, y, w, lengths, T, return_sequences, CPU)
        loss_2, grads_2 = _network.forward_backward(spec, params, data, lengths, loss_grad,
                                                    rng=np.random.default_rng(0))
    finally:
        set_num_threads(None)
    assert loss_2 == pytest.approx(loss, rel=1e-13)
    for name in params:
        np.testing.assert_allclose(grads_2[name], grads[name], rtol=1e-12, atol=1e-15)
