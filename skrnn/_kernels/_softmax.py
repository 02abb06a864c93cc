"""Softmax cross-entropy on class indices: log-sum-exp, loss and gradient in one pass a row.

A multiclass head with many classes (a language model's vocabulary) makes rows of thousands
of logits per valid step. Encoding the targets one-hot would take an (n_steps, n_classes)
array as large as the logits for a single index per row; here each row reads its target
class as an index, and its gradient ``softmax - onehot`` overwrites the logits in place, so
the loss of a batch chunk allocates nothing of the logits' size.
"""

import math

from numba import njit

from ._activations import JIT_OPTIONS, exp


@njit(**JIT_OPTIONS)
def softmax_cross_entropy(logits, classes, weights, scale):
    """Weighted cross-entropy of a softmax over each row; the gradient replaces the logits.

    In place, one array read and written: with the logits and the gradient in two arrays
    that might overlap, LLVM kept the loops scalar (7 ns a logit against 0.7 vectorised).

    Parameters
    ----------
    logits : ndarray (N, K), overwritten
        Logits, one row per sample (or step), on entry; on return the gradient
        ``scale * weights[i] * (softmax(logits[i]) - onehot(classes[i]))``.
    classes : ndarray (N,) of int
        Target class of each row; a negative class marks a row that does not count (a
        padded step): no loss, a zero gradient row.
    weights : ndarray (N,)
        Weight of each row's loss.
    scale : float
        Multiplies every gradient row (one over the batch's weight sum).

    Returns
    -------
    loss : float
        ``sum_i weights[i] * (logsumexp(logits[i]) - logits[i, classes[i]])`` in float64.
    """
    n_rows, n_classes = logits.shape
    total = 0.0
    for i in range(n_rows):
        row = logits[i]
        target = classes[i]
        if target < 0:
            for j in range(n_classes):
                row[j] = 0
            continue
        largest = row[0]
        for j in range(1, n_classes):
            if row[j] > largest:  # (a NaN logit is skipped here, then makes the sum NaN)
                largest = row[j]
        target_logit = row[target]
        exp_sum = 0.0
        for j in range(n_classes):
            e = exp(row[j] - largest)
            row[j] = e
            exp_sum += e
        weight = weights[i]
        total += weight * (largest + math.log(exp_sum) - target_logit)
        step = scale * weight
        factor = step / exp_sum
        for j in range(n_classes):
            row[j] *= factor
        row[target] -= step
    return total
