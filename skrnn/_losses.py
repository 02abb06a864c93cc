"""Losses on the head's raw output, with sample weights, as MLP defines them.

Each loss takes ``y_true`` and ``raw`` of shape (n, k) and ``sample_weight`` of shape (n,)
and returns the loss and its gradient with respect to ``raw``. Losses are weighted averages
over the n rows (samples, or valid steps with per-step targets). With ``normaliser`` (the
``batch_normaliser`` of the whole batch) the rows are part of a batch and the loss is
their share of the batch's loss:

- squared error: sum_i w_i * sum_k (y_ik - raw_ik)^2 / (2 k sum_i w_i), i.e. MLP's
  mean((y - y_pred)^2) / 2 over all entries when the weights are equal;
- log-loss with sigmoid links (binary, multilabel): summed over labels, averaged over rows;
- log-loss with a softmax link (multiclass): averaged over rows. Its targets are class
  indices, not one-hot rows: with thousands of classes (a language model's vocabulary) the
  one-hot rows would be as large as the logits.

The array operations that differ between the host and a device (``scipy.special``'s
functions, the fused softmax cross-entropy) are the ``backend``'s.
"""

from scipy import special

from ._backend import CPU
from ._sequences import valid_steps


def batch_normaliser(sample_weight):
    """What a batch's weighted average divides by: the sum of its weights."""
    total = sample_weight.sum()
    return total if total > 0 else 1.0  # an all-zero batch has zero loss and gradient


def squared_error(y_true, raw, sample_weight, normaliser=None, backend=CPU):
    """Half mean squared error and its gradient."""
    diff = raw - y_true
    if normaliser is None:
        normaliser = batch_normaliser(sample_weight)
    scale = normaliser * raw.shape[1]
    loss = float((sample_weight * (diff * diff).sum(axis=1)).sum() / (2 * scale))
    d_raw = diff * (sample_weight[:, None] / scale)
    return loss, d_raw.astype(raw.dtype, copy=False)


def sigmoid_log_loss(y_true, raw, sample_weight, normaliser=None, backend=CPU):
    """Binary cross-entropy of independent sigmoid outputs, summed over outputs."""
    # -[y log s(z) + (1 - y) log s(-z)], computed from the logits without overflow
    sp = backend.special
    if normaliser is None:
        normaliser = batch_normaliser(sample_weight)
    per_entry = -(y_true * sp.log_expit(raw) + (1 - y_true) * sp.log_expit(-raw))
    loss = float((sample_weight * per_entry.sum(axis=1)).sum() / normaliser)
    d_raw = (sp.expit(raw) - y_true) * (sample_weight[:, None] / normaliser)
    return loss, d_raw.astype(raw.dtype, copy=False)


def softmax_log_loss(y_true, raw, sample_weight, normaliser=None, in_place=False,
                     backend=CPU):
    """Categorical cross-entropy of a softmax over the last axis of ``raw``.

    ``y_true`` holds class indices of shape ``raw.shape[:-1]`` (a negative index marks a
    row that does not count: a padded step), or one-hot rows of ``raw``'s shape. With
    ``in_place`` the gradient overwrites ``raw`` (the head's output of a training chunk,
    not needed afterwards): nothing of the logits' size is allocated. On the host the
    log-sum-exp, the loss and the gradient are one compiled pass over each row
    (``backend.softmax_cross_entropy``).
    """
    if y_true.ndim == raw.ndim:  # one-hot rows
        y_true = y_true.argmax(axis=-1)
    if normaliser is None:
        normaliser = batch_normaliser(sample_weight)
    return backend.softmax_cross_entropy(y_true, raw, sample_weight, normaliser, in_place)


def batch_loss_grad(loss_fn, y, w, lengths, n_steps, per_step, backend, normaliser=None):
    """``loss_grad(raw, rows)`` for ``_network.forward_backward``: the loss of the batch's
    rows ``rows`` (a slice) as their share of a weighted average, and its gradient.

    ``y`` and ``w`` are the batch's targets and sample weights, per sequence or, with
    ``per_step``, per step (B, T, ...); per-step losses count the valid steps only. The
    average is the batch's own unless ``normaliser`` (the ``batch_normaliser`` of more data,
    all the training data for full-batch L-BFGS) says what it divides by. Integer ``y``
    holds class indices (-1 at padded steps) for ``softmax_log_loss``, which then reads the
    head's output of every step in place and writes its gradient over it. The arrays
    belong to ``backend``, whose array operations the loss uses.
    """
    xp = backend.xp
    if y.dtype.kind in "iu":
        if per_step:
            valid = valid_steps(lengths, n_steps, xp)  # (T, B)
            y, w = xp.swapaxes(y[:, :n_steps], 0, 1), xp.swapaxes(w[:, :n_steps], 0, 1)
            if normaliser is None:
                normaliser = batch_normaliser(w[valid])
            return lambda raw, rows: loss_fn(y[:, rows], raw, w[:, rows], normaliser,
                                             in_place=True, backend=backend)
        if normaliser is None:
            normaliser = batch_normaliser(w)
        return lambda raw, rows: loss_fn(y[rows], raw, w[rows], normaliser, in_place=True,
                                         backend=backend)
    if not per_step:
        if normaliser is None:
            normaliser = batch_normaliser(w)
        return lambda raw, rows: loss_fn(y[rows], raw, w[rows], normaliser, backend=backend)
    valid = valid_steps(lengths, n_steps, xp)  # (T, B)
    y_steps = xp.swapaxes(y[:, :n_steps], 0, 1)  # (T, B, k)
    w_steps = xp.swapaxes(w[:, :n_steps], 0, 1)  # (T, B)
    if normaliser is None:
        normaliser = batch_normaliser(w_steps[valid])

    def loss_grad(raw, rows):
        valid_rows = valid[:, rows]
        loss, d_valid = loss_fn(y_steps[:, rows][valid_rows], raw[valid_rows],
                                w_steps[:, rows][valid_rows], normaliser, backend=backend)
        d_raw = xp.zeros_like(raw)
        d_raw[valid_rows] = d_valid
        return loss, d_raw

    return loss_grad


def identity(raw):
    return raw


def softmax_link(raw):
    return special.softmax(raw, axis=-1)


# name -> (loss with gradient, link from raw output to prediction)
LOSSES = {
    "squared_error": (squared_error, identity),
    "sigmoid_log_loss": (sigmoid_log_loss, special.expit),
    "softmax_log_loss": (softmax_log_loss, softmax_link),
}
