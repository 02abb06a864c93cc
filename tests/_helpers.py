"""Helpers shared by the test modules: finite differences and a PyTorch twin of the network."""

import numpy as np

from skrnn import _network


def random_problem(spec, rng, T=6, lengths=(6, 2, 4), dtype=np.float64, jitter=0.3):
    """Parameters (jittered away from the symmetric init), input and loss weights."""
    params = _network.init_params(spec, rng, dtype)
    for name in params:
        params[name] = (params[name] + jitter * rng.standard_normal(params[name].shape)).astype(dtype)
    lengths = np.asarray(lengths, dtype=np.int64)
    B = lengths.shape[0]
    if spec.vocab_size is not None:
        data = rng.integers(0, spec.vocab_size, size=(T, B)).astype(np.int64)
    else:
        data = rng.standard_normal((T, B, spec.n_features)).astype(dtype)
    out, _ = _network.forward(spec, params, data, lengths)
    loss_weights = rng.standard_normal(out.shape).astype(dtype)
    if spec.return_sequences:  # padded steps must not count
        loss_weights *= (np.arange(T)[:, None] < lengths[None, :])[:, :, None]
    return params, data, lengths, loss_weights


def weighted_sum_loss(spec, params, data, lengths, loss_weights):
    out, _ = _network.forward(spec, params, data, lengths)
    return float((out * loss_weights).sum())


def finite_difference(f, array, eps=1e-6):
    """Central-difference gradient of the scalar ``f()`` with respect to ``array`` (in place)."""
    grad = np.zeros_like(array, dtype=np.float64)
    for index in np.ndindex(array.shape):
        old = array[index]
        array[index] = old + eps
        f_plus = f()
        array[index] = old - eps
        f_minus = f()
        array[index] = old
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    scale = max(np.linalg.norm(a), np.linalg.norm(b), 1e-12)
    return float(np.linalg.norm(a - b) / scale)


def torch_twin(spec, params):
    """The PyTorch module with ``embedding``/``rnn``/``head`` holding ``params``.

    PyTorch's recurrent modules need one hidden size for all layers; callers use such specs.
    """
    import torch

    hidden = spec.hidden_layer_sizes[0]
    assert all(h == hidden for h in spec.hidden_layer_sizes)
    kwargs = dict(input_size=spec.n_features, hidden_size=hidden,
                  num_layers=len(spec.hidden_layer_sizes), batch_first=True,
                  bidirectional=spec.bidirectional)
    if spec.cell == "rnn":
        rnn = torch.nn.RNN(nonlinearity=spec.activation, **kwargs)
    elif spec.cell == "lstm":
        rnn = torch.nn.LSTM(**kwargs)
    else:
        rnn = torch.nn.GRU(**kwargs)
    module = torch.nn.Module()
    if spec.vocab_size is not None:
        module.embedding = torch.nn.Embedding(spec.vocab_size, spec.n_features)
    module.rnn = rnn
    module.head = torch.nn.Linear(spec.output_size, spec.n_outputs)
    module = module.double()
    state = {name: torch.from_numpy(np.array(value, dtype=np.float64)) for name, value in params.items()}
    module.load_state_dict(state, strict=True)
    return module


def torch_forward(spec, module, data, lengths):
    """Run the twin the way skrnn's forward does: packed ragged batch, head on final or all steps.

    ``data`` is time-major as in the engine; the result is time-major too.
    """
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    x = torch.from_numpy(np.ascontiguousarray(np.swapaxes(data, 0, 1)))
    if spec.vocab_size is not None:
        x = module.embedding(x)
    else:
        x.requires_grad_(True)
    packed = pack_padded_sequence(x, torch.from_numpy(lengths), batch_first=True,
                                  enforce_sorted=False)
    out_packed, state = module.rnn(packed)
    h_n = state[0] if spec.cell == "lstm" else state
    if spec.return_sequences:
        out, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=data.shape[0])
        y = module.head(out).transpose(0, 1)
    else:
        final = torch.cat([h_n[-spec.n_directions + d] for d in range(spec.n_directions)], dim=1)
        y = module.head(final)
    return y, x
