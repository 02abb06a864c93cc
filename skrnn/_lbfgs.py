"""solver="lbfgs": full-batch L-BFGS over one flat parameter vector, as MLP's ``_fit_lbfgs``.

``loss_and_gradient`` is the loss over all given sequences and its gradient for a flat
parameter vector, computed batch by batch by the training kernels, so memory stays that of
one batch whatever the data size; a shard of the data with the normaliser of all of it
gives that shard's share (shares add up: the piece a distributed run needs).
``FullBatchObjective`` adds the L2 penalty, and ``run_lbfgs`` drives
``scipy.optimize.minimize(method="L-BFGS-B")`` on it.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from . import _network
from ._losses import batch_loss_grad, batch_normaliser
from ._optimizers import is_weight
from ._sequences import length_batches


class ParamLayout:
    """Where each named parameter lives in the flat float64 vector L-BFGS works on.

    Parameters
    ----------
    params : dict of str to ndarray
        The parameters (their names, order, shapes and dtype are what counts).
    """

    def __init__(self, params):
        self.names = list(params)
        self.shapes = [tuple(params[name].shape) for name in self.names]
        self.dtype = params[self.names[0]].dtype
        self.bounds = np.cumsum([0] + [int(np.prod(shape)) for shape in self.shapes])
        self.size = int(self.bounds[-1])
        self.weight_mask = np.zeros(self.size, dtype=bool)  # weights (L2-penalised), not biases
        for name, start, stop in zip(self.names, self.bounds[:-1], self.bounds[1:]):
            self.weight_mask[start:stop] = is_weight(name)

    def flatten(self, arrays, to_numpy=np.asarray):
        """The arrays (a dict with these names, on any device) as one float64 host vector."""
        flat = np.empty(self.size)
        for name, start, stop in zip(self.names, self.bounds[:-1], self.bounds[1:]):
            flat[start:stop] = to_numpy(arrays[name]).ravel()
        return flat

    def unflatten(self, flat):
        """A flat vector back to a dict of fresh NumPy arrays in the parameters' dtype."""
        return {name: np.array(flat[start:stop].reshape(shape), dtype=self.dtype)
                for name, shape, start, stop
                in zip(self.names, self.shapes, self.bounds[:-1], self.bounds[1:])}

    def unflatten_into(self, flat, workspace, asarray=np.asarray):
        """A flat vector into the parameter arrays ``workspace`` keeps (on its device).

        The arrays stay at the same addresses from call to call, so that a GPU's captured
        time loops, which read their weights at fixed addresses, replay.
        """
        params = {}
        for name, shape, start, stop in zip(self.names, self.shapes, self.bounds[:-1],
                                            self.bounds[1:]):
            params[name] = workspace.empty(name, shape, self.dtype)
            params[name][...] = asarray(flat[start:stop].reshape(shape).astype(self.dtype))
        return params


@dataclass
class TrainingData:
    """Sequences and encoded targets where a backend computes, with how the loss reads them.

    Attributes
    ----------
    seqs : Sequences or DeviceSequences
    Y : ndarray (N, k), or (N, T, k) with ``per_step``
    W : ndarray (N,), or (N, T) with ``per_step``
        Sample (or step) weights.
    loss_fn : callable
        One of ``_losses.LOSSES``' losses.
    per_step : bool
        Targets at every valid step (``return_sequences``).
    """

    seqs: object
    Y: object
    W: object
    loss_fn: object
    per_step: bool


def data_normaliser(seqs, W, per_step):
    """What the weighted mean over all of ``seqs`` divides by (host arrays)."""
    return batch_normaliser(W[seqs.step_mask()] if per_step else W)


def loss_and_gradient(flat, layout, spec, data, normaliser, batch_size, backend,
                      workspace=None):
    """The data loss (no penalty) over all of ``data`` and its gradient, at ``flat``.

    Batches of at most ``batch_size`` sequences of similar length go through the training
    kernels (``_network.forward_backward``) one after another and are summed in a fixed
    order, so the result is deterministic and memory is that of one batch. There is no
    dropout (L-BFGS's line search needs one deterministic function).

    Parameters
    ----------
    flat : ndarray (layout.size,)
        The parameters, flat (float64).
    layout : ParamLayout
    spec : NetworkSpec
    data : TrainingData
    normaliser : float
        The sum of the weights the mean divides by: ``data_normaliser`` of ``data`` for its
        mean loss, of all the data when ``data`` is one shard of it (its share).
    batch_size : int
    backend : CPUBackend or StepBackend
        Where ``data`` lives and the kernels run.
    workspace : Workspace or None
        Weight and activation buffers reused from call to call.

    Returns
    -------
    loss : float
    gradient : ndarray (layout.size,) of float64
    """
    spec = dataclasses.replace(spec, dropout=0.0)
    if workspace is None:
        workspace = _network.Workspace(xp=backend.xp)
    params = layout.unflatten_into(flat, workspace.scope("lbfgs weights"), backend.asarray)
    total_loss, gradient = 0.0, np.zeros(layout.size)
    for indices in length_batches(data.seqs.lengths, batch_size):
        batch, lengths = data.seqs.batch(indices)
        rows = backend.asarray(indices)
        loss_grad = batch_loss_grad(data.loss_fn, data.Y[rows], data.W[rows], lengths,
                                    batch.shape[0], data.per_step, backend, normaliser)
        loss, grads = _network.forward_backward(spec, params, batch, lengths, loss_grad,
                                                workspace=workspace, backend=backend)
        total_loss += float(loss)
        gradient += layout.flatten(grads, backend.to_numpy)
    return total_loss, gradient


class FullBatchObjective:
    """The penalised training loss and its gradient as a function of the flat parameters.

    The L2 penalty is MLP's: ``alpha / 2 * sum(w ** 2) / n_samples`` over the weights (not
    the biases), as the stochastic solvers add per batch. A non-finite loss or gradient
    comes back as an infinite loss, which makes the line search step back instead of
    stopping on a NaN.
    """

    def __init__(self, layout, spec, data, normaliser, alpha, batch_size, backend):
        self.layout, self.spec, self.data, self.backend = layout, spec, data, backend
        self.normaliser, self.batch_size = normaliser, batch_size
        self.penalty_scale = alpha / len(data.seqs)
        self.workspace = _network.Workspace(xp=backend.xp)

    def __call__(self, flat):
        loss, gradient = loss_and_gradient(flat, self.layout, self.spec, self.data,
                                           self.normaliser, self.batch_size, self.backend,
                                           self.workspace)
        return penalised(loss, gradient, flat, self.layout, self.penalty_scale)


def penalised(loss, gradient, flat, layout, penalty_scale):
    """The data loss and gradient plus the L2 penalty; non-finite ones as an infinite loss.

    ``FullBatchObjective``'s second half, shared with the distributed objective
    (``_dask.DistributedObjective``), whose data term comes back from the workers.
    """
    if penalty_scale > 0:
        weights = np.where(layout.weight_mask, flat, 0.0)
        loss += 0.5 * penalty_scale * float(weights @ weights)
        gradient += penalty_scale * weights
    if not (np.isfinite(loss) and np.isfinite(gradient).all()):
        return np.inf, np.zeros_like(gradient)
    return loss, gradient


class _Stop(Exception):
    """Raised from the iteration callback to end the run early (Ctrl-C)."""


@dataclass
class LbfgsOutcome:
    """How a run of ``run_lbfgs`` ended.

    Attributes
    ----------
    x : ndarray
        The weights to keep: the last iterate whose loss is finite (else the start).
    loss : float
        The objective at ``x``.
    result : scipy.optimize.OptimizeResult or None
        scipy's result; None when the run was stopped (``stopped``).
    stopped : bool
        ``should_stop`` ended the run after an iteration.
    diverged : bool
        The run ended on non-finite losses: the last iteration's line search met one (it
        steps back from them, and may then stop where it stands), or scipy's final point
        has one; ``x`` is the last point with a finite loss.
    """

    x: np.ndarray
    loss: float
    result: object
    stopped: bool
    diverged: bool


def run_lbfgs(objective, x0, *, max_iter, max_fun, tol, on_iteration, should_stop):
    """Minimise ``objective`` from ``x0`` with L-BFGS-B, with MLP's options.

    Parameters
    ----------
    objective : callable ``flat -> (loss, gradient)``
    x0 : ndarray of float64
    max_iter, max_fun : int
        scipy's ``maxiter`` (iterations) and ``maxfun`` (function evaluations).
    tol : float
        scipy's ``gtol``: stop when the largest gradient entry is at most ``tol``.
    on_iteration : callable ``loss -> None``
        Called after each iteration with the loss of the new iterate.
    should_stop : callable ``() -> bool``
        Checked after each iteration; True ends the run there (Ctrl-C).

    Returns
    -------
    LbfgsOutcome
    """
    last = {}  # the last evaluation: L-BFGS-B accepts the point it evaluated last
    accepted = {}  # the last iterate (the start until the first iteration ends)
    non_finite = []  # non-finite losses met since the last iterate that made progress

    def evaluate(x):
        loss, gradient = objective(x)
        last.update(x=x.copy(), loss=loss)
        if not accepted:
            accepted.update(last)
        if not np.isfinite(loss):
            non_finite.append(loss)
        return loss, gradient

    def callback(x):
        loss = last["loss"] if np.array_equal(last["x"], x) else objective(x)[0]
        if loss < accepted["loss"]:  # progress (after a non-finite trial, scipy may step 0)
            non_finite.clear()
        accepted.update(x=x.copy(), loss=loss)
        on_iteration(loss)
        if should_stop():
            raise _Stop

    try:
        result = scipy.optimize.minimize(
            evaluate, x0, method="L-BFGS-B", jac=True, callback=callback,
            options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol})
    except _Stop:
        return LbfgsOutcome(accepted["x"], accepted["loss"], None, True, False)
    if np.isfinite(result.fun) and np.isfinite(result.x).all():
        return LbfgsOutcome(result.x, float(result.fun), result, False, bool(non_finite))
    return LbfgsOutcome(accepted["x"], accepted["loss"], result, False, True)
