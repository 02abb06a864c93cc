"""Losses on the head's raw output, with sample weights, as MLP defines them.

Each loss takes ``y_true`` and ``raw`` of shape (n, k) and ``sample_weight`` of shape (n,)
and returns the loss and its gradient with respect to ``raw``. Losses are weighted averages
over the n rows (samples, or valid steps with per-step targets):

- squared error: sum_i w_i * sum_k (y_ik - raw_ik)^2 / (2 k sum_i w_i), i.e. MLP's
  mean((y - y_pred)^2) / 2 over all entries when the weights are equal;
- log-loss with sigmoid links (binary, multilabel): summed over labels, averaged over rows;
- log-loss with a softmax link (multiclass): averaged over rows.
"""

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax


def _normaliser(sample_weight):
    total = sample_weight.sum()
    return total if total > 0 else 1.0  # an all-zero batch has zero loss and gradient


def squared_error(y_true, raw, sample_weight):
    """Half mean squared error and its gradient."""
    diff = raw - y_true
    scale = _normaliser(sample_weight) * raw.shape[1]
    loss = float((sample_weight * (diff * diff).sum(axis=1)).sum() / (2 * scale))
    d_raw = diff * (sample_weight[:, None] / scale)
    return loss, d_raw.astype(raw.dtype, copy=False)


def sigmoid_log_loss(y_true, raw, sample_weight):
    """Binary cross-entropy of independent sigmoid outputs, summed over outputs."""
    # -[y log s(z) + (1 - y) log s(-z)], computed from the logits without overflow
    per_entry = -(y_true * log_expit(raw) + (1 - y_true) * log_expit(-raw))
    loss = float((sample_weight * per_entry.sum(axis=1)).sum() / _normaliser(sample_weight))
    d_raw = (expit(raw) - y_true) * (sample_weight[:, None] / _normaliser(sample_weight))
    return loss, d_raw.astype(raw.dtype, copy=False)


def softmax_log_loss(y_true, raw, sample_weight):
    """Categorical cross-entropy of a softmax over the outputs (y_true one-hot)."""
    per_row = -(y_true * log_softmax(raw, axis=1)).sum(axis=1)
    loss = float((sample_weight * per_row).sum() / _normaliser(sample_weight))
    d_raw = (softmax(raw, axis=1) - y_true) * (sample_weight[:, None] / _normaliser(sample_weight))
    return loss, d_raw.astype(raw.dtype, copy=False)


def identity(raw):
    return raw


def softmax_link(raw):
    return softmax(raw, axis=-1)


# name -> (loss with gradient, link from raw output to prediction)
LOSSES = {
    "squared_error": (squared_error, identity),
    "sigmoid_log_loss": (sigmoid_log_loss, expit),
    "softmax_log_loss": (softmax_log_loss, softmax_link),
}
