"""Dask arrays in the estimators: lazy block-wise prediction and transforms, and
``solver="lbfgs"`` fitted on sequences that stay on a Dask cluster's workers.

Dask is an optional dependency: this module imports it only inside the functions that need
it, and recognises a Dask array without importing Dask (a Dask array can only exist once
``dask.array`` is imported), so ``import skrnn`` never imports Dask.

A Dask array X is split along its first axis (the samples) into blocks; every block is an
ordinary NumPy array of whole sequences, which the estimators' NumPy code validates and
computes. Blocks of X chunked along the time or feature axis are first rechunked to whole
sequences (``X.rechunk({1: -1, 2: -1})``), since a recurrent network needs all of a
sequence's steps at once.
"""

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import _backend, _lbfgs
from ._sequences import length_batches


def is_dask_array(X):
    """Whether X is a ``dask.array.Array`` (without importing Dask)."""
    array_module = sys.modules.get("dask.array")
    return array_module is not None and isinstance(X, array_module.Array)


def whole_sequences(X):
    """X with every block holding whole sequences: chunked along the samples axis only.

    Raises
    ------
    ValueError
        When X's chunk sizes along the samples are unknown (NaN), as after boolean
        indexing: the blocks' rows are needed to place each block's results.
    """
    if any(np.isnan(size) for sizes in X.chunks for size in sizes):
        raise ValueError("X is a Dask array with unknown chunk sizes (NaN in X.chunks, as "
                         "after boolean indexing); call X.compute_chunk_sizes() first.")
    if all(len(sizes) == 1 for sizes in X.chunks[1:]):
        return X
    return X.rechunk({axis: -1 for axis in range(1, X.ndim)})


class _NamingTheBlock:
    """A function of one block of X whose ValueError names the block and its rows.

    The estimators' validation messages are kept word for word after that prefix, so a NaN
    inside a sequence of block 3 fails with the NumPy message, raised when block 3 is read.
    """

    def __init__(self, function):
        self.function = function

    def __call__(self, block, *args, block_index, rows):
        try:
            return self.function(block, *args)
        except ValueError as error:
            raise ValueError(f"In block {block_index} of the Dask array X (rows {rows[0]} to "
                             f"{rows[1] - 1}, counted from 0 within the block below): "
                             f"{error}") from error


def _method_on_block(block, estimator, method_name):
    result = getattr(estimator, method_name)(block)
    if isinstance(result, list):
        raise ValueError(
            f"{method_name} gives one row per valid step, and this block's sequences have "
            "different lengths (trailing NaN), so its result is a list, which a Dask array "
            "cannot hold. Predict on the NumPy array or a list of sequences instead.")
    return result


def _block_with_info(block, estimator, method_name, block_info=None):
    location = block_info[0]
    apply = _NamingTheBlock(_method_on_block)
    return apply(block, estimator, method_name, block_index=location["chunk-location"][0],
                 rows=location["array-location"][0])


def map_samples(estimator, method_name, X):
    """``estimator.method_name`` applied to each block of X: a lazy Dask array.

    The result's blocks line up with X's blocks along the samples axis; its other
    dimensions, and its dtype, are those of the method's result on one all-zero sequence,
    computed here, which also checks X's width against the fitted model right away.

    Parameters
    ----------
    estimator : fitted estimator
    method_name : str
        ``"predict"``, ``"predict_proba"``, ``"transform"``, ...: a method that returns one
        row per sequence (or per sequence and step) as a NumPy array.
    X : dask.array.Array of shape (n_samples, n_timesteps[, n_features])

    Returns
    -------
    dask.array.Array
        Lazy: nothing is computed until ``.compute()`` (on the workers with a
        ``distributed.Client``).
    """
    X = whole_sequences(X)
    probe = np.asarray(getattr(estimator, method_name)(
        np.zeros((1,) + X.shape[1:], dtype=X.dtype)))
    axes = {}
    if probe.ndim < X.ndim:
        axes["drop_axis"] = list(range(probe.ndim, X.ndim))
    elif probe.ndim > X.ndim:
        axes["new_axis"] = list(range(X.ndim, probe.ndim))
    return X.map_blocks(_block_with_info, estimator, method_name, dtype=probe.dtype,
                        chunks=(X.chunks[0],) + tuple((size,) for size in probe.shape[1:]),
                        meta=np.empty((0,) * probe.ndim, dtype=probe.dtype), **axes)


def score(estimator, X, y, sample_weight, metric):
    """``metric(y, predict(X))`` with X a Dask array: the predictions are computed block
    by block and come back (one row per sequence), with y and the weights if lazy too."""
    import dask

    if estimator.return_sequences:
        raise ValueError("score on a Dask array needs return_sequences=False (per-step "
                         "targets of ragged sequences do not fit in a Dask array); score on "
                         "NumPy arrays or lists instead.")
    y_pred, y, sample_weight = dask.compute(map_samples(estimator, "predict", X), y,
                                            sample_weight)
    return metric(y, y_pred, sample_weight=sample_weight)


# ---------------------------------------------------------------- fit on a Dask array


def fit_sequences(estimator, X, reset):
    """X (a Dask array) validated for ``fit``/``partial_fit``, block by block.

    ``solver="lbfgs"`` keeps the validated blocks on the cluster's workers
    (``ClusterSequences``); the stochastic solvers stream them to this process
    (``StreamedSequences``). With ``reset``, the input width is first recorded from X's
    shape, by the NumPy validation of one all-zero sequence of that shape (which also
    checks the number of dimensions).
    """
    _check_fit_parameters(estimator)
    X = whole_sequences(X)
    estimator._validate_sequences(np.zeros((1,) + X.shape[1:], dtype=X.dtype), reset)
    if estimator.solver == "lbfgs":
        return cluster_sequences(estimator, X)
    return streamed_sequences(estimator, X)


def _client():
    try:
        from distributed import get_client
    except ImportError:
        raise ImportError("solver='lbfgs' on a Dask array needs dask.distributed: "
                          "pip install 'dask[distributed]'.") from None
    try:
        return get_client()
    except ValueError:
        raise ValueError("solver='lbfgs' on a Dask array runs on a Dask cluster, where the "
                         "sequences stay: start a client "
                         "first (from distributed import Client; client = Client(), or "
                         "Client(address) of a running cluster).") from None


def _check_fit_parameters(estimator):
    """What a fit on a Dask array supports, each refusal with what to do instead."""
    if estimator.early_stopping and estimator.solver != "lbfgs":
        raise ValueError("fit on a Dask array streams the blocks and holds no validation "
                         "split: set early_stopping=False, and score a held-out Dask array "
                         "after each partial_fit to stop early yourself.")
    if estimator.embedding_dim is not None:
        raise ValueError("fit on a Dask array takes float sequences; with embedding_dim "
                         "(token ids) fit on a NumPy array or list.")
    if estimator.return_sequences:
        raise ValueError("fit on a Dask array takes one target per sequence; with "
                         "return_sequences=True fit on a NumPy array or list.")


def _validated_block(block, estimator):
    return estimator._validate_sequences(block, reset=False)


_validate_block = _NamingTheBlock(_validated_block)


def _block_rows(X):
    """Each block's first row and the row after its last."""
    bounds = np.cumsum((0,) + X.chunks[0])
    return [(int(start), int(stop)) for start, stop in zip(bounds[:-1], bounds[1:])]


def _validation_tasks(estimator, X):
    """One lazy task per block of X: the block validated into ``Sequences``."""
    import dask

    rows = _block_rows(X)
    return [dask.delayed(_validate_block)(block, estimator, block_index=index,
                                          rows=rows[index])
            for index, block in enumerate(X.to_delayed().ravel())]


def _lengths(seqs):
    return seqs.lengths


@dataclass
class _BlockSequences:
    """What ``fit`` needs to know of sequences held in blocks: their number, lengths and
    width, and where each block's rows are (the data themselves are elsewhere)."""

    rows: list
    lengths: np.ndarray
    n_features: int
    from_list = False

    def __len__(self):
        return self.lengths.shape[0]


@dataclass
class ClusterSequences(_BlockSequences):
    """Validated sequences held on a Dask cluster's workers, one ``Sequences`` per block.

    What ``fit`` needs on the calling machine (the number of sequences, their lengths and
    width) is here; the data are not. A worker lost during a fit has its blocks recomputed
    by Dask from X's task graph.

    Attributes
    ----------
    client : distributed.Client
    blocks : list of distributed.Future
        Each block's ``Sequences``, in X's order.
    rows : list of (int, int)
        Each block's first row and the row after its last.
    lengths : ndarray (N,) of int64
    n_features : int
    """

    client: object = None
    blocks: list = None


def cluster_sequences(estimator, X):
    """X (whole sequences per block) validated block by block on the workers, kept there.

    Each block is validated by the estimator's own NumPy validation where it lies; a bad
    block fails the fit with the NumPy message, naming the block.

    Returns
    -------
    ClusterSequences
    """
    client = _client()
    blocks = client.compute(_validation_tasks(estimator, X))
    lengths = np.concatenate(client.gather(client.map(_lengths, blocks)))
    return ClusterSequences(_block_rows(X), lengths, X.shape[2] if X.ndim == 3 else 1,
                            client=client, blocks=blocks)


@dataclass
class StreamedSequences(_BlockSequences):
    """Sequences read from a Dask array block by block, each time they are needed.

    Nothing of X stays in memory between passes: ``blocks`` computes each block (from
    disk, or on the workers with a ``distributed.Client``), validates it, and hands it over,
    with the next one read in the background meanwhile, so at most three blocks are held at
    once (the one in use, the next, and the one being read). The lengths, read once in a
    first validation pass, tell ``fit`` the number of sequences and the longest.

    Attributes
    ----------
    X : dask.array.Array
        Chunked along the samples only.
    estimator : estimator
        Validates each block (``_validate_sequences`` with the recorded width).
    rows : list of (int, int)
    lengths : ndarray (N,) of int64
    n_features : int
    """

    X: object = None
    estimator: object = None

    def _read(self, index):
        return _validate_block(self.X.blocks[index].compute(), self.estimator,
                               block_index=index, rows=self.rows[index])

    def blocks(self, order):
        """Yield ``(rows, Sequences)`` for the blocks in ``order``, reading one ahead."""
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(self._read, order[0]) if len(order) else None
            for position in range(len(order)):
                seqs = pending.result()
                if position + 1 < len(order):
                    pending = reader.submit(self._read, order[position + 1])
                yield self.rows[order[position]], seqs


def streamed_sequences(estimator, X):
    """X (whole sequences per block) checked in one validation pass, then streamed.

    The pass fails on the first bad block (naming it) before any weight changes, and
    returns only each block's lengths.

    Returns
    -------
    StreamedSequences
    """
    import dask

    lengths = dask.compute(*[task.lengths for task in _validation_tasks(estimator, X)])
    return StreamedSequences(_block_rows(X), np.concatenate(lengths),
                             X.shape[2] if X.ndim == 3 else 1, X=X, estimator=estimator)


def streamed_batches(seqs, Y, W, batch_size, rng, backend):
    """One epoch of training batches from the blocks of ``seqs`` (StreamedSequences).

    With ``rng`` (``shuffle=True``) the block order is shuffled, and within each block the
    batches (of similar lengths, as in memory); a batch never mixes sequences of two
    blocks, so blocks should each hold a random sample of the data.

    Yields
    ------
    (Sequences, Y, W) where ``backend`` computes, and the batch's indices into them
    """
    order = np.arange(len(seqs.rows)) if rng is None else rng.permutation(len(seqs.rows))
    for (start, stop), block in seqs.blocks(order):
        where_computed = (block.to(backend), backend.asarray(Y[start:stop]),
                          backend.asarray(W[start:stop]))
        for indices in length_batches(block.lengths, batch_size, rng):
            yield where_computed, indices


def all_predictions_finite(estimator, seqs, backend):
    """Whether the model predicts finite values on every streamed block."""
    return all(np.isfinite(estimator._predict_linked(block, backend)).all()
               for _, block in seqs.blocks(np.arange(len(seqs.rows))))


@dataclass
class _Problem:
    """What every worker needs to evaluate its share, sent once per fit."""

    layout: object
    spec: object
    normaliser: float
    batch_size: int


def _training_block(seqs, Y, W, loss_fn, per_step):
    return _lbfgs.TrainingData(seqs, Y, W, loss_fn, per_step)


def _block_share(data, flat, problem):
    """One block's share of the loss and gradient at ``flat`` (on a worker's CPU)."""
    with _backend.CPU.training_context():
        return _lbfgs.loss_and_gradient(flat, problem.layout, problem.spec, data,
                                        problem.normaliser, problem.batch_size, _backend.CPU)


def _on_a_worker(value):
    """``value`` as the result of a task: the scheduler keeps the task, so a worker lost
    with the value has it recomputed (scattered data would be lost with it)."""
    return value


def _sum_shares(*shares):
    """Shares of the loss and gradient added in the order given (a fixed order: the
    result does not depend on which worker computed what)."""
    loss, gradient = shares[0]
    gradient = gradient.copy()
    for share_loss, share_gradient in shares[1:]:
        loss += share_loss
        gradient += share_gradient
    return loss, gradient


class DistributedObjective:
    """``FullBatchObjective`` for sequences on a Dask cluster: the data term is summed
    over the workers.

    Each call sends the flat weights to one worker as a task's result (the other workers
    fetch them from there, one copy per worker; a task, not scattered data, so that Dask
    recomputes it when its worker is lost), each block
    computes its share of the loss and gradient where it lies (``loss_and_gradient`` with
    the normaliser of all the data), and the shares are added pairwise in a tree of
    ``fan_in``-way sums on the workers, in a fixed order; only the sum (one loss and one
    gradient) comes back. The penalty is added here, as in memory.

    Parameters
    ----------
    layout : ParamLayout
    spec : NetworkSpec
    seqs : ClusterSequences
    Y, W : ndarray
        Encoded targets and weights for all sequences (on this machine; their rows of each
        block are sent once with the block).
    loss_fn : callable
    alpha : float
    batch_size : int
    fan_in : int
        How many shares one task of the tree adds.
    """

    def __init__(self, layout, spec, seqs, Y, W, loss_fn, alpha, batch_size, fan_in=8):
        self.client, self.layout, self.fan_in = seqs.client, layout, fan_in
        self.penalty_scale = alpha / len(seqs)
        normaliser = _lbfgs.data_normaliser(seqs, W, per_step=False)
        self.problem = self.client.submit(_on_a_worker,
                                          _Problem(layout, spec, normaliser, batch_size))
        self.blocks = [self.client.submit(_training_block, block, Y[start:stop],
                                          W[start:stop], loss_fn, False)
                       for block, (start, stop) in zip(seqs.blocks, seqs.rows)]

    def __call__(self, flat):
        weights = self.client.submit(_on_a_worker, flat)
        shares = [self.client.submit(_block_share, block, weights, self.problem)
                  for block in self.blocks]
        while len(shares) > 1:
            shares = [self.client.submit(_sum_shares, *shares[start:start + self.fan_in])
                      for start in range(0, len(shares), self.fan_in)]
        loss, gradient = shares[0].result()
        return _lbfgs.penalised(loss, gradient, flat, self.layout, self.penalty_scale)
