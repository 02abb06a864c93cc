"""The training passes over the whole network: forward, backward and both per batch chunk.

Inside the engine everything is time-major, ``(T, B, ...)``. A batch is split into chunks
(one per thread on the CPU, one on a device); each chunk goes through the embedding, the
layers (``_layers``) and the head, and its gradients are summed in chunk order.
"""

from .._backend import CPU
from .._cells import CELLS
from ._layers import (cell_backward, cell_forward, layer_weights, reverse_in_time,
                      run_directions, time_reversal_index)
from ._workspace import copy_into, fresh_if_none


# ``forward``/``backward`` split the batch into one chunk per thread (see ``_parallel``);
# ``_forward_chunk``/``_backward_chunk`` do the work on one chunk.


def _dropout_mask(rng, shape, rate, dtype):
    """Inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) / dtype.type(1.0 - rate)


def draw_dropout_masks(spec, n_steps, batch_size, rng, dtype, backend=CPU):
    """Masks for the outputs of every layer but the last (T, B, D) and for the head's input.

    Drawn on the host from ``rng`` for the whole batch before it is split, so a model does
    not depend on how many threads (or which device) trained it.
    """
    n_layers = len(spec.hidden_layer_sizes)
    layer_masks = [
        backend.asarray(_dropout_mask(rng, (n_steps, batch_size, h * spec.n_directions),
                                      spec.dropout, dtype))
        if layer < n_layers - 1 else None
        for layer, h in enumerate(spec.hidden_layer_sizes)
    ]
    head_shape = ((n_steps, batch_size, spec.output_size) if spec.return_sequences
                  else (batch_size, spec.output_size))
    return layer_masks, backend.asarray(_dropout_mask(rng, head_shape, spec.dropout, dtype))


def forward(spec, params, data, lengths, *, training=False, rng=None, workspace=None,
            backend=CPU):
    """Forward pass of the whole network.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of ndarray
    data : ndarray (T, B, F) float, or (T, B) int64 token ids when ``spec.vocab_size`` is set
    lengths : ndarray (B,) of int64, each in [1, T]
    training : bool
        Apply dropout (drawn from ``rng``).
    rng : numpy.random.Generator or None
    workspace : Workspace or None
        Reusable activation arrays (training); None allocates fresh ones.
    backend : CPUBackend or StepBackend
        Where it runs; ``params``, ``data`` and ``lengths`` belong to its array module.

    Returns
    -------
    output : ndarray (B, n_outputs), or (T, B, n_outputs) with ``return_sequences``
        The head's raw output (before any link function).
    cache : dict
        What ``backward`` needs.
    """
    xp = backend.xp
    lengths, masks, chunks, scopes = _prepare_batch(spec, params, data, lengths, training, rng,
                                                     workspace, backend)

    def run(i):
        chunk = chunks[i]
        return _forward_chunk(spec, params, data[:, chunk], lengths[chunk],
                              _chunk_masks(spec, masks, chunk), scopes[i], backend)

    results = backend.map_chunks(run, list(range(len(chunks))))
    axis = 1 if spec.return_sequences else 0
    output = results[0][0] if len(results) == 1 else xp.concatenate([r[0] for r in results], axis)
    return output, {"chunks": chunks, "caches": [r[1] for r in results], "scopes": scopes,
                    "backend": backend}


def _prepare_batch(spec, params, data, lengths, training, rng, workspace, backend):
    """What the chunks of a batch share: (lengths, dropout masks, chunks, workspace scopes)."""
    T, B = data.shape[0], lengths.shape[0]
    workspace = fresh_if_none(workspace, backend.xp)
    masks = None
    if training and spec.dropout > 0:
        masks = draw_dropout_masks(spec, T, B, rng, params["head.weight"].dtype, backend)
    # in a buffer of the workspace, so that the time loops read it at a fixed address (GPU
    # loops are captured once and replayed on the same addresses)
    lengths = copy_into(workspace, "lengths", lengths)
    chunks = backend.chunks(B)
    return lengths, masks, chunks, [workspace.scope(i) for i in range(len(chunks))]


def _chunk_masks(spec, masks, chunk):
    """The dropout masks (or None) of one chunk of the batch."""
    if masks is None:
        return None
    layer_masks, head_mask = masks
    return ([None if m is None else m[:, chunk] for m in layer_masks],
            head_mask[:, chunk] if spec.return_sequences else head_mask[chunk])


def backward(spec, params, cache, d_output, input_gradient=False):
    """Gradients of every parameter given the gradient of the head's output.

    Parameters
    ----------
    d_output : ndarray, same shape as ``forward``'s output
        Zero wherever a step or sample must not count (padded steps).
    input_gradient : bool
        Also return the gradient with respect to the float input (training does not need
        it; one matrix product less).

    Returns
    -------
    grads : dict of ndarray
        Same keys and shapes as ``params``.
    d_input : ndarray (T, B, F) or None
        Gradient with respect to the float input (None unless asked for, or with an
        embedding).
    """
    chunks, backend = cache["chunks"], cache["backend"]
    xp = backend.xp

    def run(i):
        chunk = chunks[i]
        d_chunk = d_output[:, chunk] if spec.return_sequences else d_output[chunk]
        return _backward_chunk(spec, params, cache["caches"][i], xp.ascontiguousarray(d_chunk),
                               cache["scopes"][i], input_gradient, backend)

    results = backend.map_chunks(run, list(range(len(chunks))))
    grads = _sum_grads([r[0] for r in results])
    if spec.vocab_size is not None or not input_gradient:
        return grads, None
    d_inputs = [r[1] for r in results]
    return grads, d_inputs[0] if len(d_inputs) == 1 else xp.concatenate(d_inputs, axis=1)


def forward_backward(spec, params, data, lengths, loss_grad, *, rng=None, workspace=None,
                     backend=CPU):
    """Forward pass, loss and backward pass of one training batch.

    ``forward`` then ``backward`` hand the batch to skrnn's threads twice; here each chunk
    goes from input to gradients on its thread, its share of the loss included, so a
    batch costs one hand-off (on 2 cores: about 0.3 ms of a 3 ms LSTM-64 batch).

    Parameters
    ----------
    spec, params, data, lengths, rng, workspace, backend
        As for ``forward`` (with ``training=True``).
    loss_grad : callable ``(output, rows) -> (loss, d_output)``
        The loss of the batch's rows ``rows`` (a slice) given the head's raw output on them,
        as their share of the batch's loss (the shares add up to it), and its gradient with
        respect to that output. Called from skrnn's threads.

    Returns
    -------
    loss : float
        The sum of the chunks' shares, in chunk order.
    grads : dict of ndarray
        As ``backward`` returns them.
    """
    lengths, masks, chunks, scopes = _prepare_batch(spec, params, data, lengths, True, rng,
                                                     workspace, backend)

    def run(i):
        chunk = chunks[i]
        output, cache = _forward_chunk(spec, params, data[:, chunk], lengths[chunk],
                                       _chunk_masks(spec, masks, chunk), scopes[i], backend)
        loss, d_output = loss_grad(output, chunk)
        grads, _ = _backward_chunk(spec, params, cache, backend.xp.ascontiguousarray(d_output),
                                   scopes[i], False, backend)
        return loss, grads

    results = backend.map_chunks(run, list(range(len(chunks))))
    return sum(r[0] for r in results), _sum_grads([r[1] for r in results])


def _sum_grads(chunk_grads):
    """The gradients of a batch from its chunks', summed in chunk order (deterministic)."""
    grads = chunk_grads[0]
    for other in chunk_grads[1:]:
        for name in grads:
            grads[name] += other[name]
    return grads


def _forward_chunk(spec, params, data, lengths, masks, workspace, backend):
    """Forward pass over one chunk of the batch; ``masks`` from ``draw_dropout_masks``."""
    T = data.shape[0]
    xp = backend.xp
    cell = CELLS[spec.cell]
    flags = cell.flags(spec)
    reversal = time_reversal_index(lengths, T, xp) if spec.bidirectional else None
    layer_masks, head_mask = masks if masks is not None else (None, None)

    x = params["embedding.weight"][data] if spec.vocab_size is not None else data
    layers = []
    for layer in range(len(spec.hidden_layer_sizes)):
        directions = []  # each direction's cache, for backward

        def run_direction(suffix, x_dir):
            h, cell_cache = cell_forward(cell, layer_weights(params, layer, suffix), x_dir,
                                         lengths, flags, workspace.scope((layer, suffix)),
                                         backend)
            directions.append(cell_cache)
            return h

        out, finals = run_directions(spec, x, reversal, run_direction, xp)
        mask = None if layer_masks is None else layer_masks[layer]
        if mask is not None:
            out = out * mask
        layers.append({"directions": directions, "mask": mask})
        x = out

    # the head reads every step, or the final state of each direction: (T, B, D) or (B, D)
    features = x if spec.return_sequences else xp.concatenate(finals, axis=1)
    if head_mask is not None:
        features = features * head_mask
    # one 2-D product (per step, NumPy made one BLAS call a step: 71 against 85 GFLOP/s for
    # a 2,000-class head), the bias added in place (the output may be n_classes a step)
    n_out = params["head.weight"].shape[0]
    output = (features.reshape(-1, features.shape[-1]) @ params["head.weight"].T).reshape(
        features.shape[:-1] + (n_out,))
    output += params["head.bias"]
    cache = {"data": data, "lengths": lengths, "reversal": reversal, "layers": layers,
             "features": features, "head_mask": head_mask}
    return output, cache


def _backward_chunk(spec, params, cache, d_output, workspace, input_gradient, backend):
    """Backward pass over one chunk: (grads, d_input) as ``backward`` returns them."""
    xp = backend.xp
    lengths, reversal = cache["lengths"], cache["reversal"]
    T = cache["data"].shape[0]
    B = lengths.shape[0]
    dtype = params["head.weight"].dtype
    cell = CELLS[spec.cell]
    flags = cell.flags(spec)
    grads = {}

    features = cache["features"]
    n_out = params["head.weight"].shape[0]
    D = features.shape[-1]
    grads["head.weight"] = d_output.reshape(-1, n_out).T @ features.reshape(-1, D)
    grads["head.bias"] = d_output.reshape(-1, n_out).sum(axis=0)
    d_features = d_output @ params["head.weight"]
    if cache["head_mask"] is not None:
        d_features *= cache["head_mask"]

    if spec.return_sequences:
        d_out, d_final = d_features, None
    else:
        d_out, d_final = None, d_features  # (B, D)

    for layer in range(len(spec.hidden_layer_sizes) - 1, -1, -1):
        layer_cache = cache["layers"][layer]
        H = spec.hidden_layer_sizes[layer]
        if layer_cache["mask"] is not None:
            d_out = d_out * layer_cache["mask"]
        d_x = None
        for d, suffix in enumerate(spec.suffixes):
            scope = workspace.scope((layer, suffix))
            if d_out is None:
                d_h = scope.zeros("d_h", (T, B, H), dtype)
            else:
                d_h = d_out[:, :, d * H:(d + 1) * H]
                if suffix:
                    d_h = reverse_in_time(d_h, reversal, xp)
                d_h = copy_into(scope, "d_h", d_h)
            if d_final is not None:
                d_h[T - 1] += d_final[:, d * H:(d + 1) * H]
            weights = layer_weights(params, layer, suffix)
            needs_d_x = layer > 0 or input_gradient or spec.vocab_size is not None
            d_x_dir, layer_grads = cell_backward(cell, weights, layer_cache["directions"][d],
                                                 d_h, lengths, flags, scope, needs_d_x,
                                                 backend)
            for kind, grad in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), layer_grads):
                grads[f"rnn.{kind}_l{layer}{suffix}"] = grad
            if d_x_dir is None:
                continue
            if suffix:
                d_x_dir = reverse_in_time(d_x_dir, reversal, xp)
            d_x = d_x_dir if d_x is None else d_x + d_x_dir
        d_out, d_final = d_x, None

    d_input = d_out
    if spec.vocab_size is not None:
        d_embedding = xp.zeros_like(params["embedding.weight"])
        # contiguous ids: one compiled variant whatever the batch's ids were a view of
        backend.embedding_backward(xp.ascontiguousarray(cache["data"]), lengths,
                                   xp.ascontiguousarray(d_input), d_embedding)
        grads["embedding.weight"] = d_embedding
        d_input = None
    return {name: grads[name] for name in params}, d_input
