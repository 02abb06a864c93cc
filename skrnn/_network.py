"""The recurrent network: parameters, initialisation, forward and backward over layers.

Parameters live in one dict ``{name: ndarray}`` whose names and shapes are those of the
``state_dict()`` of a PyTorch module with attributes ``embedding`` (``nn.Embedding``),
``rnn`` (``nn.RNN``/``nn.LSTM``/``nn.GRU``, ``batch_first``) and ``head`` (``nn.Linear``).
Gradients use the same keys.

Inside the engine everything is time-major, ``(T, B, ...)``. Per layer and direction:
the kernel runs the time loop from the layer's input (each step's input product taken with
its recurrent product), and backward turns the kernel's gate gradients into weight, bias
and input gradients with one matrix product each. The reverse direction of a bidirectional
layer runs the same kernels on each sequence reversed within its own length.
"""

import math
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._backend import CPU
from ._cells import CELLS
from ._kernels._gemm import MATVEC_VECTORS, pack_panels
from ._parallel import map_chunks, single_threaded_blas, thread_chunks

@dataclass(frozen=True)
class NetworkSpec:
    """Architecture of a network; everything needed to name and shape its parameters.

    Attributes
    ----------
    cell : str
        A key of ``_cells.CELLS``.
    n_features : int
        Features per step of the input (the embedding width when ``vocab_size`` is set).
    hidden_layer_sizes : tuple of int
        Hidden units of each stacked layer (per direction).
    n_outputs : int
        Width of the linear head.
    activation : {"tanh", "relu"}
        Non-linearity of the simple RNN cell.
    bidirectional : bool
    return_sequences : bool
        Head on every step instead of on the final state.
    vocab_size : int or None
        Number of token ids when the input goes through an embedding.
    dropout : float
        Inverted-dropout rate between layers and before the head (training only).
    """

    cell: str
    n_features: int
    hidden_layer_sizes: tuple
    n_outputs: int
    activation: str = "tanh"
    bidirectional: bool = False
    return_sequences: bool = False
    vocab_size: int | None = None
    dropout: float = 0.0

    @property
    def n_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def suffixes(self):
        return ("", "_reverse") if self.bidirectional else ("",)

    @property
    def output_size(self):
        """Width of the features the head reads."""
        return self.hidden_layer_sizes[-1] * self.n_directions

    def layer_input_size(self, layer):
        if layer == 0:
            return self.n_features
        return self.hidden_layer_sizes[layer - 1] * self.n_directions


def param_shapes(spec):
    """Names and shapes of every parameter, in PyTorch's ``state_dict`` order."""
    shapes = {}
    if spec.vocab_size is not None:
        shapes["embedding.weight"] = (spec.vocab_size, spec.n_features)
    n_gates = CELLS[spec.cell].n_gates
    for layer, hidden in enumerate(spec.hidden_layer_sizes):
        n_in = spec.layer_input_size(layer)
        for suffix in spec.suffixes:
            shapes[f"rnn.weight_ih_l{layer}{suffix}"] = (n_gates * hidden, n_in)
            shapes[f"rnn.weight_hh_l{layer}{suffix}"] = (n_gates * hidden, hidden)
            shapes[f"rnn.bias_ih_l{layer}{suffix}"] = (n_gates * hidden,)
            shapes[f"rnn.bias_hh_l{layer}{suffix}"] = (n_gates * hidden,)
    shapes["head.weight"] = (spec.n_outputs, spec.output_size)
    shapes["head.bias"] = (spec.n_outputs,)
    return shapes


def _orthogonal(rng, n_rows, n_cols):
    """A random (n_rows, n_cols) matrix with orthonormal rows or columns."""
    a = rng.standard_normal((max(n_rows, n_cols), min(n_rows, n_cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return q if n_rows >= n_cols else q.T


def init_params(spec, rng, dtype):
    """Draw initial parameters.

    Input weights are Glorot-uniform per gate block, recurrent weights orthogonal per gate
    block, biases zero except the cell's ``initial_bias_ih`` (the LSTM forget gate's 1), the head
    Glorot-uniform and the embedding standard normal: the initialisation Keras uses, which
    trains recurrent networks more reliably than PyTorch's uniform default.
    """
    params = {}
    # one BLAS thread for the orthogonal blocks' QRs: after a multi-threaded call OpenBLAS's
    # workers spin for about 0.1 s, a core taken from the training that follows (58 ms of
    # every RNN-128 fit)
    with single_threaded_blas():
        for name, shape in param_shapes(spec).items():
            params[name] = np.ascontiguousarray(_initial_value(spec, rng, name, shape),
                                                dtype=dtype)
    return params


def _initial_value(spec, rng, name, shape):
    """One parameter's initial value (float64), as ``init_params`` describes."""
    if name == "embedding.weight":
        return rng.standard_normal(shape)
    cell = CELLS[spec.cell]
    if "bias" in name:
        value = np.zeros(shape)
        if "bias_ih" in name:
            hidden = shape[0] // cell.n_gates
            for block, bias in cell.initial_bias_ih:
                value[block * hidden:(block + 1) * hidden] = bias
        return value
    if "weight_hh" in name:
        hidden = shape[1]
        return np.concatenate([_orthogonal(rng, hidden, hidden)
                               for _ in range(shape[0] // hidden)])
    # weight_ih and head.weight: Glorot uniform over each (fan_out, fan_in) block
    fan_out = shape[0] // cell.n_gates if name.startswith("rnn.") else shape[0]
    limit = np.sqrt(6.0 / (fan_out + shape[1]))
    return rng.uniform(-limit, limit, shape)


def time_reversal_index(lengths, n_steps, xp=np):
    """Index (T, B) that reverses each sequence within its own length.

    ``x[index, np.arange(B)]`` puts step ``lengths[b] - 1 - t`` of sequence ``b`` at ``t``
    and leaves padded steps where they are. The map is its own inverse.
    """
    steps = xp.arange(n_steps)[:, None]
    lengths = lengths[None, :]
    return xp.where(steps < lengths, lengths - 1 - steps, steps)


def _reverse_in_time(x, reversal, xp=np):
    """Apply ``time_reversal_index`` output to a (T, B, ...) array."""
    return x[reversal, xp.arange(x.shape[1])]


def _run_directions(spec, x, reversal, run_direction, xp=np):
    """One layer's directions over time-major input ``x`` (T, B, F).

    ``run_direction(suffix, x_dir)`` runs one direction and returns its hidden states
    (T, B, H) in its own time order; the reverse direction reads each sequence backwards
    from its last valid step.

    Returns
    -------
    out : ndarray (T, B, H * n_directions)
        The directions' outputs in time order, concatenated (forward, then reverse).
    finals : list of ndarray (B, H)
        Each direction's final state.
    """
    outputs, finals = [], []
    for suffix in spec.suffixes:
        x_dir = x if suffix == "" else _reverse_in_time(x, reversal, xp)
        h = run_direction(suffix, x_dir)
        outputs.append(h if suffix == "" else _reverse_in_time(h, reversal, xp))
        finals.append(h[-1])
    out = outputs[0] if len(outputs) == 1 else xp.concatenate(outputs, axis=2)
    return out, finals


class Workspace:
    """Arrays reused from one training step to the next.

    A step allocates tens of megabytes of activations; fresh allocations of that size come
    from the operating system page by page, which cost more than the arithmetic on small
    models. A fit keeps one workspace; everything that must outlive a step (gradients,
    outputs) is allocated normally. ``Workspace(reuse=False)`` hands out fresh arrays;
    ``xp`` is the array module they come from (NumPy, or CuPy on a GPU).
    """

    def __init__(self, reuse=True, xp=np):
        self.reuse = reuse
        self.xp = xp
        self._arrays = {}
        self._scopes = {}

    def scope(self, key):
        """The child workspace for ``key`` (a chunk, a layer and direction)."""
        if not self.reuse:
            return self
        if key not in self._scopes:
            self._scopes[key] = Workspace(xp=self.xp)
        return self._scopes[key]

    def empty(self, name, shape, dtype):
        if not self.reuse:
            return self.xp.empty(shape, dtype)
        size = math.prod(shape)  # (np.prod costs 5 us a call here, seven calls a chunk)
        buffer = self._arrays.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._arrays[name] = self.xp.empty(size, dtype)
        return buffer[:size].reshape(shape)

    def zeros(self, name, shape, dtype):
        out = self.empty(name, shape, dtype)
        out.fill(0)
        return out


def _fresh_if_none(workspace, xp):
    """``workspace``, or a workspace of fresh ``xp`` arrays when it is None."""
    return Workspace(reuse=False, xp=xp) if workspace is None else workspace


# --------------------------------------------------------------------------------------
# One direction of one layer: the input GEMM, the kernel, the gradient GEMMs.


def cell_forward(cell, weights, x, lengths, flags=(), workspace=None, backend=CPU):
    """Forward of one direction of one layer over time-major input.

    Parameters
    ----------
    cell : Cell
        The cell's record (``_cells.CELLS``).
    weights : tuple (weight_ih, weight_hh, bias_ih, bias_hh)
    x : ndarray (T, B, F)
    lengths : ndarray (B,) of int64
    flags : tuple
        ``cell.flags(spec)``: the simple RNN's ``use_relu``.
    workspace : Workspace or None
        Where the activations live (None: fresh arrays).
    backend : CPUBackend or StepBackend
        Runs the time loop; the arrays belong to its array module.

    Returns
    -------
    h : ndarray (T, B, H)
        Hidden state after each step (carried past each sequence's end).
    cache : dict
        What ``cell_backward`` needs: ``x``, ``h`` and the buffers ``cell.kept``.
    """
    workspace = _fresh_if_none(workspace, backend.xp)
    w_ih, w_hh, b_ih, b_hh = weights
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dtype = w_ih.dtype
    x = backend.xp.ascontiguousarray(x)  # the loops take the input's product step by step
    w_hh_t = backend.transposed(w_hh, workspace)
    h = workspace.empty("h", (T, B, H), dtype)
    kept = [workspace.empty(name, (T, B, width * H), dtype) for name, width in cell.kept]
    backend.forward(cell, x, w_ih, w_hh_t, b_ih, b_hh, lengths, *flags, *kept, h)
    cache = {"x": x, "h": h}
    cache.update(zip((name for name, _ in cell.kept), kept))
    return h, cache


def cell_backward(cell, weights, cache, d_h, lengths, flags=(), workspace=None,
                  input_gradient=True, backend=CPU):
    """Backward of one direction of one layer.

    Parameters
    ----------
    d_h : ndarray (T, B, H)
        Gradient with respect to each step's output (final-state gradient included at T-1).
    input_gradient : bool
        Compute ``d_x`` (not needed for the first layer of a network on float input).

    Returns
    -------
    d_x : ndarray (T, B, F) or None
    grads : tuple (d_weight_ih, d_weight_hh, d_bias_ih, d_bias_hh)
    """
    workspace = _fresh_if_none(workspace, backend.xp)
    w_ih, w_hh, _, _ = weights
    x, h = cache["x"], cache["h"]
    T, B, F = x.shape
    G, H = w_hh.shape
    xp = backend.xp
    # d_gates_hh: gradient of the recurrent product's output (and of b_hh), every gate.
    # input_blocks: the gradient of the input projection (and of b_ih), as column blocks
    # (array, columns used), in gate order; one block but for GRU (see ``_cells``)
    d_gates_hh = workspace.empty("d_gates_hh", (T, B, G), w_ih.dtype)
    d_gates_hh_2d = d_gates_hh.reshape(T * B, G)
    extra = [workspace.empty(name, (T, B, width * H), w_ih.dtype)
             for name, width in cell.backward_extra]
    backend.backward(cell, d_h, *(cache[name] for name in cell.backward_reads), w_hh, lengths,
                     *flags, d_gates_hh, *extra)
    input_blocks = cell.input_blocks(d_gates_hh_2d, extra, H)
    # the input weights' and bias_ih's gradients in one product per block: x with a column
    # of ones (a separate sum over the gate gradients was one more pass over them),
    # transposed (F + 1 rows of output: one pass over the gate gradients on the CPU)
    x_ones = workspace.empty("x_ones", (T * B, F + 1), w_ih.dtype)
    x_ones[:, :F] = x.reshape(T * B, F)
    x_ones[:, F] = 1
    block_grads = [backend.matmul_tn(x_ones, block, columns) for block, columns in input_blocks]
    d_w_ih_b = block_grads[0] if len(block_grads) == 1 else xp.concatenate(block_grads, axis=1)
    d_w_ih = xp.ascontiguousarray(d_w_ih_b[:F].T)  # (F + 1, G) -> (G, F)
    d_b_ih = d_w_ih_b[F].copy()
    # h_{t-1} is zero at t = 0, so step 0 adds nothing to d_w_hh.
    d_w_hh = backend.matmul_tn(d_gates_hh[1:].reshape((T - 1) * B, G),
                               h[:-1].reshape((T - 1) * B, H))
    # the two biases get one gradient but where the input blocks part from the recurrent
    # product's (GRU's n block; its r and z gradients are those of b_ih, already summed)
    d_b_hh = d_b_ih.copy()
    shared = input_blocks[0][1]
    if shared < G:
        d_b_hh[shared:] = d_gates_hh_2d[:, shared:].sum(axis=0)
    d_x = None
    if input_gradient:
        d_x = workspace.empty("d_x", (T, B, F), w_ih.dtype)
        d_x_2d = d_x.reshape(T * B, F)
        column = 0
        for block, columns in input_blocks:
            rows = w_ih[column:column + columns]
            if column == 0:
                xp.matmul(block[:, :columns], rows, out=d_x_2d)
            else:
                d_x_2d += block[:, :columns] @ rows
            column += columns
    return d_x, (d_w_ih, d_w_hh, d_b_ih, d_b_hh)


def _copy_into(workspace, name, array):
    """``array`` copied into the workspace's buffer ``name`` (same shape and dtype)."""
    out = workspace.empty(name, array.shape, array.dtype)
    out[...] = array
    return out


def _layer_weights(params, layer, suffix):
    return tuple(params[f"rnn.{kind}_l{layer}{suffix}"]
                 for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


# --------------------------------------------------------------------------------------
# The whole network. ``forward``/``backward`` split the batch into one chunk per thread
# (see ``_parallel``); ``_forward_chunk``/``_backward_chunk`` do the work on one chunk.


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
    workspace = _fresh_if_none(workspace, backend.xp)
    masks = None
    if training and spec.dropout > 0:
        masks = draw_dropout_masks(spec, T, B, rng, params["head.weight"].dtype, backend)
    # in a buffer of the workspace, so that the time loops read it at a fixed address (GPU
    # loops are captured once and replayed on the same addresses)
    lengths = _copy_into(workspace, "lengths", lengths)
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
            h, cell_cache = cell_forward(cell, _layer_weights(params, layer, suffix), x_dir,
                                         lengths, flags, workspace.scope((layer, suffix)),
                                         backend)
            directions.append(cell_cache)
            return h

        out, finals = _run_directions(spec, x, reversal, run_direction, xp)
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
                    d_h = _reverse_in_time(d_h, reversal, xp)
                d_h = _copy_into(scope, "d_h", d_h)
            if d_final is not None:
                d_h[T - 1] += d_final[:, d * H:(d + 1) * H]
            weights = _layer_weights(params, layer, suffix)
            needs_d_x = layer > 0 or input_gradient or spec.vocab_size is not None
            d_x_dir, layer_grads = cell_backward(cell, weights, layer_cache["directions"][d],
                                                 d_h, lengths, flags, scope, needs_d_x,
                                                 backend)
            for kind, grad in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), layer_grads):
                grads[f"rnn.{kind}_l{layer}{suffix}"] = grad
            if d_x_dir is None:
                continue
            if suffix:
                d_x_dir = _reverse_in_time(d_x_dir, reversal, xp)
            d_x = d_x_dir if d_x is None else d_x + d_x_dir
        d_out, d_final = d_x, None

    d_input = d_out
    if spec.vocab_size is not None:
        d_embedding = xp.zeros_like(params["embedding.weight"])
        backend.embedding_backward(cache["data"], lengths, xp.ascontiguousarray(d_input),
                                   d_embedding)
        grads["embedding.weight"] = d_embedding
        d_input = None
    return {name: grads[name] for name in params}, d_input


# --------------------------------------------------------------------------------------
# Prediction: the same network through the ``*_predict`` kernels, which compute each sequence
# alone in a fixed order, so a prediction never depends on what it is predicted with.

def prediction_weights(params):
    """The weights as the prediction kernels read them: the recurrent layers' transposed and
    packed into panels for one-row products, the head's transposed and C-contiguous."""
    prepared = {name: pack_panels(np.ascontiguousarray(value.T), MATVEC_VECTORS)
                for name, value in params.items() if name.startswith("rnn.weight")}
    prepared["head.weight"] = np.ascontiguousarray(params["head.weight"].T)
    return prepared


def predict(spec, params, data, lengths, prepared=None, backend=CPU):
    """The head's raw output, as ``forward`` computes it without dropout.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of ndarray
    data : ndarray (T, B, F) float, or (T, B) int64 token ids
    lengths : ndarray (B,) of int64
    prepared : dict of ndarray or None
        ``prediction_weights(params)``, when the caller keeps it between calls.
    backend : CPUBackend or StepBackend
        Off the CPU, prediction is the training forward pass without dropout, on the
        backend's arrays (its result then depends on the batch only through the device's
        matrix-product kernels).

    Returns
    -------
    output : ndarray (B, n_outputs), or (T, B, n_outputs) with ``return_sequences``
        Bit-identical for a sequence whatever the other sequences in ``data``.
    """
    if backend is not CPU:
        return forward(spec, params, data, lengths, backend=backend)[0]
    if prepared is None:
        prepared = prediction_weights(params)
    chunks = thread_chunks(lengths.shape[0])
    results = map_chunks(lambda chunk: _predict_chunk(spec, params, prepared, data[:, chunk],
                                                      lengths[chunk]), chunks)
    axis = 1 if spec.return_sequences else 0
    return results[0] if len(results) == 1 else np.concatenate(results, axis)


def _predict_chunk(spec, params, prepared, data, lengths):
    T = data.shape[0]
    B = lengths.shape[0]
    reversal = time_reversal_index(lengths, T) if spec.bidirectional else None
    x = params["embedding.weight"][data] if spec.vocab_size is not None else data
    x = np.ascontiguousarray(x)
    for layer in range(len(spec.hidden_layer_sizes)):

        def run_direction(suffix, x_dir):
            return predict_layer(spec, prediction_layer_weights(spec, params, prepared, layer,
                                                                suffix),
                                 x_dir, lengths, prediction_state(spec, layer, B, x.dtype))

        x, finals = _run_directions(spec, x, reversal, run_direction)

    features = x if spec.return_sequences else np.concatenate(finals, axis=1)
    return predict_head(spec, params, prepared, features)


def prediction_state(spec, layer, batch_size, dtype):
    """The recurrent state of one layer direction for its prediction kernel: (h,), or
    (h, c) for an LSTM (the cell's ``n_states``), each (B, H)."""
    hidden = spec.hidden_layer_sizes[layer]
    return tuple(np.zeros((batch_size, hidden), dtype)
                 for _ in range(CELLS[spec.cell].n_states))


def prediction_layer_weights(spec, params, prepared, layer, suffix=""):
    """What the prediction kernel of one layer direction reads besides its input and state:
    (kernel, its flags, packed input weights, packed recurrent weights, b_ih, b_hh)."""
    cell = CELLS[spec.cell]
    return (cell.predict, cell.flags(spec), prepared[f"rnn.weight_ih_l{layer}{suffix}"],
            prepared[f"rnn.weight_hh_l{layer}{suffix}"], params[f"rnn.bias_ih_l{layer}{suffix}"],
            params[f"rnn.bias_hh_l{layer}{suffix}"])


def predict_layer(spec, layer_weights, x, lengths, state, carried=False):
    """One direction of one layer through its prediction kernel.

    Parameters
    ----------
    layer_weights : tuple
        From ``prediction_layer_weights``.
    x : ndarray (T, B, F), C-contiguous
    lengths : ndarray (B,) of int64
    state : tuple of ndarray (B, H)
        From ``prediction_state``: read when ``carried`` (the sequences go on from it, as a
        stream's do), and left holding the state after each sequence's last valid step.

    Returns
    -------
    h : ndarray (T, B, H)
    """
    kernel, flags, w_ih, w_hh, b_ih, b_hh = layer_weights
    h = np.empty((x.shape[0], x.shape[1], w_hh.shape[1]), x.dtype)
    kernel(x, w_ih, w_hh, b_ih, b_hh, lengths, *flags, carried, *state, h)
    return h


def predict_head(spec, params, prepared, features):
    """The head's raw output on features (..., D), each row computed alone."""
    rows = features if features.ndim == 2 else features.reshape(-1, features.shape[-1])
    if not rows.flags.c_contiguous:
        rows = np.ascontiguousarray(rows)
    output = np.empty((rows.shape[0], spec.n_outputs), features.dtype)
    _kernels.linear_rows(rows, prepared["head.weight"], params["head.bias"], output)
    return output if features.ndim == 2 else output.reshape(features.shape[:-1] + (-1,))
