"""One layer of the network: a direction's time loop and gradients, and the two directions.

Per direction the backend runs the cell's time loop from the layer's input (each step's
input product taken with its recurrent product), and backward turns the loop's gate
gradients into weight, bias and input gradients with one matrix product each. The reverse
direction of a bidirectional layer runs the same loops on each sequence reversed within
its own length.
"""

import numpy as np

from .._backend import CPU
from ._workspace import fresh_if_none


def time_reversal_index(lengths, n_steps, xp=np):
    """Index (T, B) that reverses each sequence within its own length.

    ``x[index, np.arange(B)]`` puts step ``lengths[b] - 1 - t`` of sequence ``b`` at ``t``
    and leaves padded steps where they are. The map is its own inverse.
    """
    steps = xp.arange(n_steps)[:, None]
    lengths = lengths[None, :]
    return xp.where(steps < lengths, lengths - 1 - steps, steps)


def reverse_in_time(x, reversal, xp=np):
    """Apply ``time_reversal_index`` output to a (T, B, ...) array."""
    return x[reversal, xp.arange(x.shape[1])]


def run_directions(spec, x, reversal, run_direction, xp=np):
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
        x_dir = x if suffix == "" else reverse_in_time(x, reversal, xp)
        h = run_direction(suffix, x_dir)
        outputs.append(h if suffix == "" else reverse_in_time(h, reversal, xp))
        finals.append(h[-1])
    out = outputs[0] if len(outputs) == 1 else xp.concatenate(outputs, axis=2)
    return out, finals


# --------------------------------------------------------------------------------------
# One direction of one layer: the kernel (input products included), the gradient GEMMs.


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
    workspace = fresh_if_none(workspace, backend.xp)
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
    cell, weights, lengths, flags, workspace, backend
        As for ``cell_forward``.
    cache : dict
        From ``cell_forward``.
    d_h : ndarray (T, B, H)
        Gradient with respect to each step's output (final-state gradient included at T-1).
    input_gradient : bool
        Compute ``d_x`` (not needed for the first layer of a network on float input).

    Returns
    -------
    d_x : ndarray (T, B, F) or None
    grads : tuple (d_weight_ih, d_weight_hh, d_bias_ih, d_bias_hh)
    """
    workspace = fresh_if_none(workspace, backend.xp)
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


def layer_weights(params, layer, suffix):
    return tuple(params[f"rnn.{kind}_l{layer}{suffix}"]
                 for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
