"""RNNRegressor and RNNClassifier: the scikit-learn contract around the recurrent engine.

The estimators own parameters, validation order, epochs, early stopping and label
encoding; the numerics live in ``_network`` (forward/backward), ``_losses`` and
``_optimizers``, the device in ``_backend``, the inputs' checks in ``_inputs`` and the
PyTorch round trip in ``_interop``.
"""

import contextlib
import signal
import threading
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_array, check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import check_is_fitted

from . import _backend, _dask, _lbfgs, _memory, _network
from ._cells import CELLS
from ._inputs import (check_sample_weight, pad_rows, per_sequence, per_step_targets,
                      rows_over_steps, step_weights, subset, validate_sequences)
from ._interop import estimator_from_state_dict
from ._losses import LOSSES, batch_loss_grad
from ._optimizers import add_l2_penalty, clip_by_global_norm, make_optimizer
from ._parallel import batch_chunks
from ._progress import EpochProgress
from ._sequences import length_batches, valid_steps
from ._version import PICKLE_FORMAT, __version__

_PREDICT_BATCH_SIZE = 256
# head outputs one prediction batch may hold (64 MB in float32): a per-step head over
# 30,000 classes predicts 100-step sequences 5 at a time, not 256 (3 GB of logits)
_PREDICT_OUTPUT_VALUES = 2 ** 24


def _has_stochastic_solver(estimator):
    """``partial_fit`` exists for the stochastic solvers only, as in MLP."""
    if estimator.solver == "lbfgs":
        raise AttributeError("partial_fit is only available for stochastic optimizers. "
                             "lbfgs is not stochastic.")
    return True


class BaseRNN(BaseEstimator, metaclass=ABCMeta):
    """Shared fitting machinery of the recurrent estimators. Not for direct use."""

    _parameter_constraints: dict = {
        "cell": [StrOptions(set(CELLS))],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"tanh", "relu"})],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "return_sequences": ["boolean"],
        "embedding_dim": [None, Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"adam", "sgd", "rmsprop", "lbfgs"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "adaptive", "invscaling"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "clip_norm": [None, Interval(Real, 0, None, closed="neither")],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "dtype": [StrOptions({"float32", "float64"})],
    }

    @abstractmethod
    def __init__(self, cell="lstm", hidden_layer_sizes=(64,), activation="tanh",
                 bidirectional=False, dropout=0.0, return_sequences=False, embedding_dim=None,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, clip_norm=5.0,
                 device="cpu", dtype="float32", power_t=0.5, max_fun=15000):
        self.cell = cell
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.return_sequences = return_sequences
        self.embedding_dim = embedding_dim
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.clip_norm = clip_norm
        self.device = device
        self.dtype = dtype
        self.power_t = power_t
        self.max_fun = max_fun

    # ---------------------------------------------------------------- subclass hooks

    @abstractmethod
    def _targets(self, y, seqs, sample_weight, first_call, classes=None):
        """Encode y: (Y, W) with W (N,) or (N, T) and Y (N, k) or (N, T, k) float, or for
        multiclass (N,) or (N, T) class indices (-1 at padded steps)."""

    @abstractmethod
    def _loss_name(self):
        """Key of ``_losses.LOSSES`` for the current targets."""

    @abstractmethod
    def _encoded_score(self, y_pred, Y):
        """Validation score of linked predictions against encoded targets, rows aligned."""

    @abstractmethod
    def _set_outputs(self, n_outputs, classes):
        """Output bookkeeping for weights given from outside (``from_torch_state_dict``)."""

    # ---------------------------------------------------------------- from PyTorch

    @classmethod
    def from_torch_state_dict(cls, state_dict, *, classes=None, **params):
        """A fitted estimator holding the weights of a PyTorch state dict.

        The state dict is one of a module with ``embedding`` (optional), ``rnn``
        (``nn.RNN``/``nn.LSTM``/``nn.GRU``) and ``head`` (``nn.Linear``), as ``to_torch``
        builds. The cell, layer sizes, directions and embedding size are read from the
        tensors' names and shapes.

        Parameters
        ----------
        state_dict : mapping of str to tensor or ndarray
        classes : array-like or None
            The classifier's labels, sorted (head output k is the k-th smallest, as in
            ``classes_``); required for ``RNNClassifier``: binary with one head output, or
            multiclass with one output per class.
        **params
            Other estimator parameters (``return_sequences``, ``activation``, ``dtype``,
            ...). Training parameters apply if the estimator is then fitted with
            ``warm_start=True`` or ``partial_fit``.

        Returns
        -------
        estimator : fitted RNNRegressor or RNNClassifier
        """
        return estimator_from_state_dict(cls, state_dict, classes, params)

    # ---------------------------------------------------------------- validation

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if len(sizes) == 0:
            raise ValueError("hidden_layer_sizes must name at least one layer, got ().")
        for size in sizes:
            if not isinstance(size, Integral) or isinstance(size, bool) or size < 1:
                raise ValueError("hidden_layer_sizes must hold positive integers, got "
                                 f"{self.hidden_layer_sizes!r}.")
        return tuple(int(s) for s in sizes)

    def _check_device(self):
        """Fail before any work when ``device="cuda"`` and there is no GPU."""
        _backend.check_device(self.device)

    def _backend_for(self, n_batch):
        """The backend for work in batches of ``n_batch`` sequences (see ``device``)."""
        return _backend.select_backend(self.device, self._hidden_sizes(), n_batch)

    def _validate_sequences(self, X, reset):
        """X in any accepted form -> ``Sequences`` (``_inputs.validate_sequences``)."""
        return validate_sequences(self, X, reset)

    # ---------------------------------------------------------------- fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, \
n_timesteps), or list of arrays
            Training sequences (see the module documentation for the accepted forms).
        y : array-like
            Targets: one per sequence, or one per valid step with ``return_sequences``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence's loss.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        self._check_device()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             "y is None.")
        first_call = not hasattr(self, "params_") or not (self.warm_start or incremental)
        seqs = self._validate_sequences(X, reset=first_call)
        Y, W = self._targets(y, seqs, check_sample_weight(sample_weight, seqs), first_call,
                             classes)
        dtype = np.dtype(self.dtype)

        if first_call or not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        rng = np.random.default_rng(self._random_state.randint(np.iinfo(np.int32).max))
        spec = _network.NetworkSpec(
            cell=self.cell,
            n_features=self.embedding_dim if self.embedding_dim is not None else seqs.n_features,
            hidden_layer_sizes=self._hidden_sizes(), n_outputs=self.n_outputs_,
            activation=self.activation, bidirectional=self.bidirectional,
            return_sequences=self.return_sequences,
            vocab_size=getattr(self, "vocab_size_", None) if self.embedding_dim else None,
            dropout=self.dropout)
        self._check_fit_memory(spec, seqs, dtype)
        if first_call:
            self._initialize(spec, rng, dtype)
        elif spec != self._spec or self.params_["head.weight"].dtype != dtype:
            raise ValueError("warm_start/partial_fit: the network described by the current "
                             "parameters and data differs from the fitted one; set "
                             "warm_start=False to fit a new network.")
        if self.solver != "lbfgs" and (not incremental or "_optimizer" not in self.__dict__):
            # as MLP: every fit starts a new optimiser from the current hyper-parameters (a
            # warm start may change the solver or the step size); partial_fit continues
            self._optimizer = make_optimizer(self.solver, self.params_, self)
        # as MLP's, lbfgs ignores early_stopping: it trains on all the sequences
        early_stopping = self.early_stopping and not incremental and self.solver != "lbfgs"
        train, val = self._split(seqs, Y, W, early_stopping, rng)
        backend = self._backend_for(self._batch_size(len(train[0]), warn=False))
        self.__dict__.pop("_prediction_cache", None)  # the weights are about to change
        _network.set_writeable(self.params_, True)  # the optimiser updates them in place
        # CPU: skrnn's batch-chunk threads own the cores; GPU: the backend's stream
        with backend.training_context():
            self._move_training_state(backend.asarray)
            try:
                if self.solver == "lbfgs":
                    self._fit_lbfgs(train, backend)
                else:
                    self._fit_epochs(train, val, rng, incremental, backend)
            except MemoryError as error:  # CuPy's OutOfMemoryError is a MemoryError
                advice = backend.out_of_memory_advice(error)
                if advice is None:
                    raise
                raise MemoryError(advice) from error
            finally:
                self._move_training_state(backend.to_numpy)
                backend.release_memory()
        _network.set_writeable(self.params_, False)
        self._cache_prediction_weights()
        return self

    def _check_fit_memory(self, spec, seqs, dtype):
        """A ``MemoryError`` saying why and what to change, before a fit on the host that
        would need more memory than there is allocates any of it (a device's own
        out-of-memory error is translated in ``_fit`` instead)."""
        batch_size = self._batch_size(len(seqs), warn=False)

        def check():
            early_stopping = self.early_stopping and self.solver != "lbfgs"
            needed = _memory.fit_bytes(spec, int(seqs.lengths.max()), batch_size,
                                       len(batch_chunks(batch_size)), dtype.itemsize,
                                       self.solver, early_stopping,
                                       class_indices=self._loss_name() == "softmax_log_loss")
            if early_stopping:
                needed["the validation split's copy of X"] = seqs.data.nbytes
            _memory.check_fits(needed, f"Fitting this {type(self).__name__}",
                               _memory.memory_remedy(type(self).__name__, batch_size))

        self._backend_for(batch_size).check_host_memory(check)

    def _move_training_state(self, convert):
        """Weights, best weights and optimiser state onto a device or back to NumPy."""
        self.params_ = {name: convert(value) for name, value in self.params_.items()}
        if self.__dict__.get("_best_params") is not None:
            self._best_params = {name: convert(value)
                                 for name, value in self._best_params.items()}
        if "_optimizer" in self.__dict__:  # (lbfgs has none)
            self._optimizer.move_state(convert)

    def _initialize(self, spec, rng, dtype):
        self._spec = spec
        self.params_ = _network.init_params(spec, rng, dtype)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.__dict__.pop("_best_params", None)
        self.__dict__.pop("_optimizer", None)  # ``_fit`` makes one for these weights
        if self.early_stopping and self.solver != "lbfgs":
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _split(self, seqs, Y, W, early_stopping, rng):
        """(train, validation) as (Sequences, Y, W) triples; validation is None without ES."""
        everything = (seqs, Y, W)
        if not early_stopping:
            return everything, None
        n = len(seqs)
        n_val = int(np.ceil(self.validation_fraction * n))
        if n - n_val < 1 or n_val < 1:
            raise ValueError(f"early_stopping needs at least one training and one validation "
                             f"sequence; {n} sequences with validation_fraction="
                             f"{self.validation_fraction} leave none for one of them.")
        stratify = self._stratify(Y)
        if stratify is not None and np.min(np.unique(stratify, return_counts=True)[1]) < 2:
            stratify = None
        seed = int(rng.integers(np.iinfo(np.int32).max))
        try:
            train_idx, val_idx = train_test_split(np.arange(n), test_size=n_val,
                                                  random_state=seed, stratify=stratify)
        except ValueError:  # too few samples per class for a stratified split
            train_idx, val_idx = train_test_split(np.arange(n), test_size=n_val,
                                                  random_state=seed)
        return subset(seqs, Y, W, train_idx), subset(seqs, Y, W, val_idx)

    def _stratify(self, Y):
        return None

    def _batch_size(self, n_samples, warn=True):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples and warn:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped", UserWarning)
        return int(np.clip(self.batch_size, 1, n_samples))

    def _fit_epochs(self, train, val, rng, incremental, backend):
        """Run epochs until max_iter, convergence, divergence or Ctrl-C.

        On Ctrl-C (which stops after the current batch) training returns to the weights of
        the last complete epoch; on divergence (a non-finite loss, gradient or weight) to the
        last weights that gave a finite loss, checked to predict finite values on the
        training data (else the weights this call started from). With early stopping, the
        best validation weights win in both cases.

        On a device, the training data, the weights and the optimiser state stay there for
        the whole call; only the batch indices go over, and each batch's loss comes back.
        """
        seqs, Y, W = train
        n_samples = len(seqs)
        batch_size = self._batch_size(n_samples)
        loss_fn = LOSSES[self._loss_name()][0]
        workspace = _network.Workspace(xp=backend.xp)
        streamed = isinstance(seqs, _dask.StreamedSequences)
        if not streamed:
            where_computed = (seqs.to(backend), backend.asarray(Y), backend.asarray(W))
        start_params = _copy_params(self.params_)
        epoch_params = start_params  # weights after the last complete epoch
        finite_params = start_params  # last weights whose forward pass gave a finite loss
        last_epoch = self.n_iter_ + self.max_iter
        stop = None  # "converged", "diverged" or "interrupted"
        progress = (EpochProgress(1 if incremental else self.max_iter, type(self).__name__)
                    if self.verbose else None)
        with _sigint_stops_after_batch() as interrupted:
            while stop is None and self.n_iter_ < last_epoch:
                shuffle_rng = rng if self.shuffle else None
                if streamed:  # the blocks of a Dask array, read one by one
                    batches = _dask.streamed_batches(seqs, Y, W, batch_size, shuffle_rng,
                                                     backend)
                else:
                    batches = ((where_computed, indices) for indices
                               in length_batches(seqs.lengths, batch_size, shuffle_rng))
                accumulated_loss = 0.0
                for batch_data, indices in batches:
                    evaluated = _copy_params(self.params_)
                    batch_loss = self._train_batch(*batch_data, indices, loss_fn, rng,
                                                   workspace, backend)
                    if batch_loss is None:
                        stop = "diverged"
                        break
                    finite_params = evaluated
                    accumulated_loss += batch_loss * len(indices)
                    if interrupted():
                        stop = "interrupted"
                        break
                if stop is not None:
                    break
                self._end_epoch(accumulated_loss / n_samples, n_samples, val, progress,
                                backend)
                self._optimizer.iteration_ends(self.t_)  # "invscaling": the next step size
                epoch_params = _copy_params(self.params_)
                if self._no_improvement_count > self.n_iter_no_change:
                    stop = self._on_no_improvement(val is not None, progress)
                if incremental:
                    break

        if progress is not None:
            progress.close()
        if stop in ("diverged", "interrupted"):
            best = self.__dict__.get("_best_params") if val is not None else None
            if best is not None:
                self.params_, kept = best, "the best validation weights"
            elif stop == "interrupted":
                self.params_, kept = epoch_params, f"the weights after epoch {self.n_iter_}"
            else:
                self.params_, kept = finite_params, "the last weights with a finite loss"
            if stop == "diverged" and not (
                    _dask.all_predictions_finite(self, seqs, backend) if streamed
                    else np.isfinite(self._predict_linked(seqs, backend)).all()):
                self.params_, kept = start_params, "the weights training started from"
            if stop == "diverged":
                warnings.warn(f"Training diverged in epoch {self.n_iter_ + 1}: the loss, a "
                              f"gradient or a weight became NaN or infinite. Stopped and "
                              f"restored {kept}; try a smaller learning_rate_init or "
                              "clip_norm.", ConvergenceWarning)
            else:
                warnings.warn(f"Training interrupted (KeyboardInterrupt) in epoch "
                              f"{self.n_iter_ + 1}; stopped after the current batch and kept "
                              f"{kept}. The estimator is ready to predict.", UserWarning)
        else:
            if stop is None and not incremental:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                              "reached and the optimization hasn't converged yet.",
                              ConvergenceWarning)
            if val is not None:
                self.params_ = self._best_params

    def _fit_lbfgs(self, train, backend):
        """solver="lbfgs": full-batch L-BFGS-B over all training sequences, as MLP's.

        Each iteration appends the (penalised) training loss to ``loss_curve_`` and counts
        in ``n_iter_``; ``t_`` is left alone, as MLP's lbfgs does. There is no dropout (the
        line search needs one deterministic loss), no gradient clipping and no early
        stopping; ``batch_size`` only bounds how many sequences one pass of the kernels
        holds. Ctrl-C stops after the current iteration and keeps its weights; a loss that
        becomes non-finite keeps the last iterate whose loss was finite, with a warning.
        """
        seqs, Y, W = train
        layout = _lbfgs.ParamLayout(self.params_)
        loss_fn = LOSSES[self._loss_name()][0]
        if isinstance(seqs, _dask.ClusterSequences):
            objective = _dask.DistributedObjective(layout, self._spec, seqs, Y, W, loss_fn,
                                                   self.alpha, self._batch_size(len(seqs)))
        else:
            data = _lbfgs.TrainingData(seqs.to(backend), backend.asarray(Y),
                                       backend.asarray(W), loss_fn, self.return_sequences)
            objective = _lbfgs.FullBatchObjective(
                layout, self._spec, data,
                _lbfgs.data_normaliser(seqs, W, self.return_sequences), self.alpha,
                self._batch_size(len(seqs)), backend)
        progress = (EpochProgress(self.max_iter, type(self).__name__, unit="iteration")
                    if self.verbose else None)
        first_iteration = self.n_iter_

        def on_iteration(loss):
            self.n_iter_ += 1
            self.loss_curve_.append(loss)
            if progress is not None:
                progress.update(self.n_iter_, loss)

        start = layout.flatten(self.params_, backend.to_numpy)  # (on a device during fit)
        with _sigint_stops_after_batch() as interrupted:
            outcome = _lbfgs.run_lbfgs(objective, start, max_iter=self.max_iter,
                                       max_fun=self.max_fun, tol=self.tol,
                                       on_iteration=on_iteration, should_stop=interrupted)
        if progress is not None:
            progress.close()
        self.params_ = layout.unflatten(outcome.x)
        self.loss_ = outcome.loss
        self.best_loss_ = min(self.loss_curve_, default=outcome.loss)
        if outcome.stopped:
            warnings.warn(f"Training interrupted (KeyboardInterrupt) in lbfgs iteration "
                          f"{self.n_iter_ - first_iteration + 1}; kept the weights of the "
                          "last complete iteration. The estimator is ready to predict.",
                          UserWarning)
        elif outcome.diverged:
            warnings.warn("Training diverged: the loss or the weights became NaN or "
                          "infinite. Stopped and restored the last weights with a finite "
                          "loss; try scaling the data or a larger alpha.", ConvergenceWarning)
        else:
            _check_optimize_result("lbfgs", outcome.result, self.max_iter)

    def _end_epoch(self, loss, n_samples, val, progress, backend):
        """Bookkeeping after a complete epoch: counters, loss curve, validation score."""
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_ = loss
        self.loss_curve_.append(loss)
        self._update_no_improvement_count(val, backend)
        if progress is not None:
            progress.update(self.n_iter_, loss,
                            self.validation_scores_[-1] if val is not None else None)

    def _on_no_improvement(self, early_stopping, progress):
        """Reduce the step ('adaptive') or stop; returns None to go on, 'converged' to stop."""
        what = "Validation score" if early_stopping else "Training loss"
        message = (f"{what} did not improve more than tol={self.tol} for "
                   f"{self.n_iter_no_change} consecutive epochs.")
        if self.learning_rate == "adaptive" and self._optimizer.reduce_learning_rate():
            self._no_improvement_count = 0
            if progress is not None:
                progress.note(f"{message} Setting learning rate to "
                              f"{self._optimizer.learning_rate:g}.")
            return None
        if progress is not None:
            progress.note(f"{message} Stopping.")
        return "converged"

    def _train_batch(self, seqs, Y, W, indices, loss_fn, rng, workspace, backend):
        """One optimiser step on the samples ``indices``.

        ``seqs``, ``Y`` and ``W`` live where ``backend`` computes (``Sequences.to``).
        Returns the batch loss, or None when the loss, the gradient or the updated weights
        are not finite (the step is then not taken or must be undone by the caller).
        """
        data, lengths = seqs.batch(indices)
        rows = backend.asarray(indices)  # on the CPU: ``indices`` itself
        loss_grad = batch_loss_grad(loss_fn, Y[rows], W[rows], lengths, data.shape[0],
                                    self.return_sequences, backend)
        loss, grads = _network.forward_backward(self._spec, self.params_, data, lengths,
                                                loss_grad, rng=rng, workspace=workspace,
                                                backend=backend)
        if self.alpha > 0:
            # L2 on weights (not biases) divided by the batch's sequence count, as MLP does
            # without sample weights; the loss is a weighted mean, so scaling every sample
            # weight by one constant changes nothing
            scale = self.alpha / len(indices)
            loss += 0.5 * scale * add_l2_penalty(self.params_, grads, scale, backend)
        grad_norm = clip_by_global_norm(grads, self.clip_norm, backend)
        if not (np.isfinite(loss) and np.isfinite(grad_norm)):
            return None
        self._optimizer.step(self.params_, grads, backend)
        if not backend.all_finite(self.params_.values()):
            return None
        return loss

    def _update_no_improvement_count(self, val, backend):
        if val is not None:
            seqs, Y, _ = val
            score = self._encoded_score(self._predict_linked(seqs, backend),
                                        rows_over_steps(Y, seqs, self.return_sequences))
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = {k: v.copy() for k, v in self.params_.items()}
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ---------------------------------------------------------------- prediction

    def _predict_linked(self, seqs, backend=None):
        """Linked predictions as rows: (N, k), or (n_valid_steps, k) with return_sequences,
        sequence after sequence in input order; computed by ``backend`` (by default the one
        ``device`` picks for this many sequences).

        Computed in the model's dtype and returned in float64, as scikit-learn expects,
        batch by batch into the output: besides it, nothing is the size of all the
        predictions (a per-step head of 30,000 classes makes 30,000 values a step).
        """
        if backend is None:
            backend = self._backend_for(len(seqs))
        n_outputs = self.params_["head.bias"].shape[0]
        if len(seqs) > 1:
            backend.check_host_memory(lambda: _memory.check_fits(
                _memory.predict_bytes(self._spec, len(seqs), seqs.data.shape[1],
                                      _PREDICT_BATCH_SIZE, self.params_["head.bias"].itemsize),
                f"Predicting {len(seqs):,} sequences of up to {seqs.data.shape[1]:,} steps",
                "Predict in parts (a slice of X at a time)."))
        n_rows = int(seqs.lengths.sum()) if self.return_sequences else len(seqs)
        out = np.empty((n_rows, n_outputs))
        with backend.prediction_context(len(seqs)):
            self._predict_linked_into(seqs, out, backend)
        return out

    def _predict_linked_into(self, seqs, out, backend):
        """Fill ``out`` (see ``_predict_linked``) batch by batch, batches of similar length."""
        params, prepared = backend.prediction_weights(self.params_, self._prediction_weights)
        n = len(seqs)
        first_rows = np.cumsum(seqs.lengths) - seqs.lengths  # of each sequence's steps in out
        batch_size = _PREDICT_BATCH_SIZE
        if self.return_sequences:
            steps_outputs = seqs.data.shape[1] * out.shape[1]
            batch_size = max(1, min(batch_size, _PREDICT_OUTPUT_VALUES // steps_outputs))
        # one batch: all of them, a slice (no sort, no gather); a sequence's prediction does
        # not depend on the others in its batch
        batches = ([slice(0, n)] if n <= batch_size
                   else length_batches(seqs.lengths, batch_size))
        for indices in batches:
            data, lengths = seqs.batch(indices)
            raw = backend.to_numpy(_network.predict(
                self._spec, params, backend.asarray(data), backend.asarray(lengths),
                prepared, backend))
            rows = indices
            if self.return_sequences:  # (T, B, k): the valid steps, sequence by sequence
                raw = np.swapaxes(raw, 0, 1)[valid_steps(lengths, raw.shape[0]).T]
                rows = (np.repeat(first_rows[indices] - (np.cumsum(lengths) - lengths), lengths)
                        + np.arange(raw.shape[0]))
            out[rows] = self._linked(raw)

    def _cache_prediction_weights(self):
        """Keep the weights as the prediction kernels read them (after fit/unpickling).

        The cache is keyed on the ids of the weight arrays (held by the cache, so their ids
        cannot be reused), and fitted weights are read-only, so they cannot change behind it.
        """
        arrays = tuple(self.params_.values())
        self._prediction_cache = (arrays, tuple(map(id, arrays)),
                                  _network.prediction_weights(self.params_))

    def _prediction_weights(self):
        """The cached prediction weights, or fresh ones if ``params_`` was replaced.

        Never stores anything: prediction leaves the estimator untouched (thread-safe). (The
        check compares ids: 0.3 us, where comparing the arrays one by one took 1.1 us of a
        Stream step's 10-20.)
        """
        cached = self.__dict__.get("_prediction_cache")
        if cached is not None and tuple(map(id, self.params_.values())) == cached[1]:
            return cached[2]
        return _network.prediction_weights(self.params_)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_prediction_cache", None)  # derived; rebuilt when loaded
        state["_skrnn_version"] = __version__
        state["_skrnn_pickle_format"] = PICKLE_FORMAT
        return state

    def __setstate__(self, state):
        state = dict(state)
        version = state.pop("_skrnn_version", "unknown")
        pickle_format = state.pop("_skrnn_pickle_format", None)
        if pickle_format != PICKLE_FORMAT:
            raise ValueError(
                f"This {type(self).__name__} was pickled by skrnn {version} (pickle format "
                f"{pickle_format}); skrnn {__version__} reads pickle format {PICKLE_FORMAT} "
                f"only. Load it with skrnn {version}, or refit it.")
        if version != __version__:
            warnings.warn(f"This {type(self).__name__} was pickled by skrnn {version} and is "
                          f"loaded by skrnn {__version__}; the formats are compatible, but "
                          "refit it if its predictions matter.", UserWarning)
        super().__setstate__(state)
        if "params_" in self.__dict__:
            _network.set_writeable(self.params_, False)
            self._cache_prediction_weights()

    def _linked(self, raw_rows):
        """The head's raw output rows (k,) through the loss's link (identity, sigmoid or
        softmax), each row alone; computed in the model's dtype, returned in float64 as
        scikit-learn expects."""
        return LOSSES[self._loss_name()][1](raw_rows.astype(np.float64))

    def _checked_sequences(self, X):
        if "params_" not in self.__dict__:  # (check_is_fitted alone costs 3 us a predict)
            check_is_fitted(self, "params_")
        self._check_device()
        return self._validate_sequences(X, reset=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.target_tags.required = True
        return tags


def _copy_params(params):
    return {name: value.copy() for name, value in params.items()}


@contextlib.contextmanager
def _sigint_stops_after_batch():
    """While fitting, Ctrl-C sets a flag (checked after each batch) instead of raising.

    Yields a function telling whether Ctrl-C was pressed. Signal handlers can only be set
    from the main thread; elsewhere Ctrl-C never reaches the fit anyway.
    """
    pressed = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


_PARAMETERS_DOC = """
    cell : {"rnn", "lstm", "gru"}, default="lstm"
        Recurrent cell: Elman RNN, LSTM or GRU (PyTorch's equations and weight layout).
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Hidden units of each stacked recurrent layer (per direction). Layers may differ.
    activation : {"tanh", "relu"}, default="tanh"
        Non-linearity of the simple RNN cell (LSTM and GRU use their own gates).
    bidirectional : bool, default=False
        Add a layer reading each sequence backwards from its last valid step; the two
        outputs are concatenated (forward, then reverse).
    dropout : float in [0, 1), default=0.0
        Inverted-dropout rate between recurrent layers and before the head (training only;
        not with "lbfgs", whose line search needs one deterministic loss: use ``alpha``).
    return_sequences : bool, default=False
        One prediction per valid time step instead of one per sequence.
    embedding_dim : int or None, default=None
        When set, X holds integer token ids (trailing -1 is padding), embedded in vectors of
        this size; the vocabulary size is learned from the data in ``fit``.
    solver : {"adam", "sgd", "rmsprop", "lbfgs"}, default="adam"
        Optimiser. "rmsprop" divides by the root of a ``beta_2``-decayed, bias-corrected mean
        of squared gradients. "lbfgs" is MLP's full-batch quasi-Newton solver
        (``scipy.optimize.minimize(method="L-BFGS-B")`` on the loss over all sequences),
        often the best on small data sets; it has no ``partial_fit``, and ignores
        ``early_stopping`` (as MLP), ``dropout``, ``clip_norm`` and the learning-rate
        parameters.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases), as in MLP.
    batch_size : int or "auto", default="auto"
        Sequences per minibatch; "auto" is ``min(200, n_samples)``. Batches group sequences
        of similar length. With "lbfgs", the sequences one pass of the kernels holds (the
        loss is over all of them either way): it bounds memory only.
    learning_rate : {"constant", "adaptive", "invscaling"}, default="constant"
        Step-size schedule, as MLP's (here for every stochastic solver). "adaptive" divides
        the learning rate by 5 each time ``n_iter_no_change`` consecutive epochs fail to
        improve by ``tol``, and stops when it is already at most 1e-6. "invscaling" steps
        with ``learning_rate_init / (t + 1) ** power_t`` after each epoch, ``t`` the
        training sequences seen so far (``t_``).
    learning_rate_init : float, default=0.001
        Initial step size (every ``fit`` starts from it, warm or not).
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    max_iter : int, default=200
        Maximum number of epochs; with "lbfgs", of iterations.
    max_fun : int, default=15000
        Maximum number of loss evaluations (passes over the data) of "lbfgs"; reaching it
        raises a ``ConvergenceWarning``.
    shuffle : bool, default=True
        Shuffle the batches (and the samples among sequences of equal length) each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout masks and the validation split; with an int
        training is bit-reproducible on the CPU.
    tol : float, default=1e-4
        Improvement threshold of the training loss (or validation score) for stopping;
        with "lbfgs", the largest gradient entry at which it has converged.
    verbose : bool, default=False
        Report each epoch's loss, validation score and the time left: a tqdm progress bar
        when tqdm is installed, else one line per epoch.
    warm_start : bool, default=False
        Continue from the fitted weights on the next call to ``fit``, with a new optimiser
        built from the current parameters (another solver or step size applies), as MLP
        does; ``partial_fit`` continues the optimiser's state instead.
    momentum : float in [0, 1], default=0.9
        Momentum of the "sgd" solver.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with "sgd".
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the sequences, stop when the validation score
        stops improving, and restore the best weights.
        Ignored by "lbfgs", which trains on all the sequences (as MLP's does).
    validation_fraction : float in (0, 1), default=0.1
        Share of the sequences held out for early stopping.
    beta_1 : float in [0, 1), default=0.9
        Decay of the first-moment estimate (adam).
    beta_2 : float in [0, 1), default=0.999
        Decay of the second-moment estimate (adam, rmsprop).
    epsilon : float, default=1e-8
        Numerical stability term (adam, rmsprop).
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` before stopping (or reducing the step size).
    clip_norm : float or None, default=5.0
        Maximum global norm of the gradient; larger gradients are scaled down. None disables.
        Not with "lbfgs" (its line search bounds the steps).
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where to compute. "cuda" trains and predicts on an NVIDIA GPU through CuPy
        (``pip install skrnn[cuda]``), with the same weights, equations and results as the
        CPU to float32 rounding; the fitted ``params_`` are NumPy arrays either way. "auto"
        uses the GPU when CuPy sees one and the problem is big enough to gain from it (a
        hidden layer of 128 units or more and batches of 64 sequences or more), else the
        CPU. "cuda" without CuPy or without a GPU raises a ValueError saying which.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the weights and of the computation.
"""

_ATTRIBUTES_DOC = """
    params_ : dict of str to ndarray
        Fitted weights, named and shaped as the ``state_dict()`` of a PyTorch module with
        ``embedding`` (nn.Embedding), ``rnn`` (nn.RNN/LSTM/GRU, batch_first) and ``head``
        (nn.Linear), e.g. "rnn.weight_ih_l0", "rnn.bias_hh_l1_reverse", "head.weight".
    loss_ : float
        Training loss (penalty included) of the last epoch.
    loss_curve_ : list of float
        Training loss of each epoch (of each iteration with "lbfgs").
    best_loss_ : float or None
        Smallest training loss seen; None with early stopping.
    validation_scores_ : list of float or None
        Validation score of each epoch with early stopping, else None.
    best_validation_score_ : float or None
        Best validation score with early stopping, else None.
    n_iter_ : int
        Number of epochs (with "lbfgs", iterations) run, over warm-started fits.
    t_ : int
        Number of training sequences seen by the stochastic solvers ("lbfgs" leaves it, as
        MLP's does).
    n_features_in_ : int
        Features per step; for a 2-D float input, its number of columns (time steps); 1
        for token ids (whose 2-D arrays may have any number of time steps).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when fitted on a 2-D DataFrame.
    vocab_size_ : int
        Number of token ids (with ``embedding_dim``).
"""


class RNNRegressor(RegressorMixin, BaseRNN):
    __doc__ = f"""Recurrent neural network regressor.

    Trains a stack of recurrent layers (RNN, LSTM or GRU) and a linear head with squared
    error, on sequences given as a 3-D array, a 2-D array of univariate sequences, a list
    of arrays of different lengths, NaN-padded arrays, or token ids.

    Parameters
    ----------{_PARAMETERS_DOC}
    Attributes
    ----------{_ATTRIBUTES_DOC}
    n_outputs_ : int
        Number of regression targets.

    See Also
    --------
    RNNClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : Feed-forward counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 10, 2))
    >>> y = X[:, :, 0].sum(axis=1)
    >>> reg = RNNRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50,
    ...                    random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    >>> bool(reg.score(X, y) > 0.9)
    True
    """

    def __init__(self, cell="lstm", hidden_layer_sizes=(64,), activation="tanh",
                 bidirectional=False, dropout=0.0, return_sequences=False, embedding_dim=None,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, clip_norm=5.0,
                 device="cpu", dtype="float32", power_t=0.5, max_fun=15000):
        super().__init__(
            cell=cell, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            bidirectional=bidirectional, dropout=dropout, return_sequences=return_sequences,
            embedding_dim=embedding_dim, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, clip_norm=clip_norm,
            device=device, dtype=dtype, power_t=power_t, max_fun=max_fun)

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like or list of arrays
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _loss_name(self):
        return "squared_error"

    def _set_outputs(self, n_outputs, classes):
        if classes is not None:
            raise ValueError("classes is for RNNClassifier; a regressor has no classes.")
        self.n_outputs_ = n_outputs
        self._y_ndim = 1 if n_outputs == 1 else 2

    def _targets(self, y, seqs, sample_weight, first_call, classes=None):
        if self.return_sequences:
            rows = per_step_targets(y, seqs, "target")
            flat = np.concatenate(rows)
            flat = _check_regression_targets(flat, seqs.lengths.sum())
            per_step_ndim = 1 if flat.ndim == 1 else 2
            Y = pad_rows(flat.reshape(flat.shape[0], -1), seqs)
            W = np.repeat(sample_weight[:, None], seqs.data.shape[1], axis=1)
        else:
            y = _check_regression_targets(y, len(seqs))
            per_step_ndim = y.ndim
            Y = y.reshape(y.shape[0], -1)
            W = sample_weight
        if first_call:
            self._y_ndim = per_step_ndim
            self.n_outputs_ = Y.shape[-1]
        elif Y.shape[-1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[-1]} outputs but the model was fitted with "
                             f"{self.n_outputs_}.")
        return Y.astype(self.dtype), W

    def _encoded_score(self, y_pred, Y):
        return r2_score(Y, y_pred)

    def predict(self, X):
        """Predict targets for the sequences in X.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences in any accepted form.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            With ``return_sequences``: one row per valid step of each sequence, stacked into
            (n_samples, n_timesteps[, n_outputs]) when all sequences have one length and X
            was an array, else a list of per-sequence arrays. For a Dask array X, a lazy
            Dask array computed block by block.
        """
        if _dask.is_dask_array(X):
            return _dask.map_samples(self, "predict", X)
        seqs = self._checked_sequences(X)
        rows = self._predictions(self._predict_linked(seqs))
        return per_sequence(rows, seqs) if self.return_sequences else rows

    def _predictions(self, linked_rows):
        """Linked rows as ``predict`` returns them: 1-D for a one-dimensional target."""
        return linked_rows[:, 0] if self._y_ndim == 1 else linked_rows

    def score(self, X, y, sample_weight=None):
        """R² of the predictions; with ``return_sequences``, over all valid steps.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like or list of arrays
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sequence (of each of its steps with ``return_sequences``).

        Returns
        -------
        score : float
        """
        if _dask.is_dask_array(X):
            return _dask.score(self, X, y, sample_weight, r2_score)
        if not self.return_sequences:
            return super().score(X, y, sample_weight)
        seqs = self._checked_sequences(X)
        y_true = _check_regression_targets(np.concatenate(
            per_step_targets(y, seqs, "target")), seqs.lengths.sum())
        y_pred = self._predict_linked(seqs).reshape(y_true.shape)
        weights = step_weights(sample_weight, seqs)
        return r2_score(y_true, y_pred, sample_weight=weights)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = False
        return tags


def _check_regression_targets(y, n_rows):
    if np.asarray(y).dtype.kind in "OUS":
        try:
            np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"y holds values that are not numbers ({error}); RNNRegressor predicts "
                "numbers. For class labels use RNNClassifier; for numbers stored as text, "
                "convert them first (np.asarray(y, dtype=float)).") from None
    y = check_array(y, ensure_2d=False, dtype=(np.float64, np.float32), input_name="y",
                    ensure_min_samples=0)
    if y.shape[0] != n_rows:
        raise ValueError(f"X and y have inconsistent numbers of samples: {n_rows} and "
                         f"{y.shape[0]}.")
    return y


class RNNClassifier(ClassifierMixin, BaseRNN):
    __doc__ = f"""Recurrent neural network classifier.

    Trains a stack of recurrent layers (RNN, LSTM or GRU) and a linear head with log-loss
    (sigmoid for binary and multilabel targets, softmax for multiclass), on sequences given
    as a 3-D array, a 2-D array of univariate sequences, a list of arrays of different
    lengths, NaN-padded arrays, or token ids.

    Parameters
    ----------{_PARAMETERS_DOC}    class_weight : dict, "balanced" or None, default=None
        Weights multiplied into each sample's (or step's) loss by class; "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))``.

    Attributes
    ----------{_ATTRIBUTES_DOC}
    classes_ : ndarray or list of ndarray
        Class labels (for multilabel targets, the label indices).
    n_outputs_ : int
        Width of the head: 1 for binary, the number of classes or of labels otherwise.

    See Also
    --------
    RNNRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : Feed-forward counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(n, 3)) for n in rng.integers(5, 15, size=200)]
    >>> y = np.array(["up" if seq[:, 0].sum() > 0 else "down" for seq in X])
    >>> clf = RNNClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50,
    ...                     random_state=0).fit(X, y)
    >>> clf.classes_
    array(['down', 'up'], dtype='<U4')
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _parameter_constraints: dict = {
        **BaseRNN._parameter_constraints,
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(self, cell="lstm", hidden_layer_sizes=(64,), activation="tanh",
                 bidirectional=False, dropout=0.0, return_sequences=False, embedding_dim=None,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, clip_norm=5.0,
                 device="cpu", dtype="float32", class_weight=None, power_t=0.5, max_fun=15000):
        super().__init__(
            cell=cell, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            bidirectional=bidirectional, dropout=dropout, return_sequences=return_sequences,
            embedding_dim=embedding_dim, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, clip_norm=clip_norm,
            device=device, dtype=dtype, power_t=power_t, max_fun=max_fun)
        self.class_weight = class_weight

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like
        classes : array-like of shape (n_classes,), default=None
            All classes that will ever appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        if not hasattr(self, "params_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(np.asarray(classes), self.classes_):
            raise ValueError(f"`classes={list(classes)}` is not the same as on the first call "
                             f"to partial_fit, which was {list(self.classes_)}.")
        if self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' is not supported for partial_fit: the "
                             "class frequencies of all the data are unknown. Pass a dict.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _targets(self, y, seqs, sample_weight, first_call, classes=None):
        if self.return_sequences:
            rows = per_step_targets(y, seqs, "label")
            labels = np.concatenate(rows)
            if labels.ndim != 1:
                raise ValueError("With return_sequences=True, RNNClassifier takes one label "
                                 f"per step (1-D per sequence), got shape {labels.shape[1:]} "
                                 "per step.")
        else:
            labels = _check_labels(y, len(seqs))
        check_classification_targets(labels)
        if first_call:
            self._fit_label_binarizer(labels, classes)
        else:
            unseen = np.setdiff1d(np.unique(labels), self.classes_) if labels.ndim == 1 else []
            if len(unseen):
                raise ValueError(f"y contains labels {list(unseen)} not seen in the first "
                                 f"fit (classes_={list(self.classes_)}).")
        Y = self._encode_labels(labels)
        class_weight = self.class_weight
        weights = (np.repeat(sample_weight, seqs.lengths) if self.return_sequences
                   else sample_weight)
        if class_weight is not None:
            weights = weights * compute_sample_weight(class_weight, labels)
        if self.return_sequences:
            return pad_rows(Y, seqs, fill=-1 if Y.ndim == 1 else 0), pad_rows(weights, seqs)
        return Y, weights

    def _encode_labels(self, labels):
        """Multiclass labels as class indices (int64), others as indicator rows (float)."""
        if self._target_type != "multiclass":
            return self._label_binarizer.transform(labels).astype(self.dtype)
        indices = np.searchsorted(self.classes_, labels)
        found = self.classes_[np.minimum(indices, len(self.classes_) - 1)] == labels
        if not found.all():  # labels outside ``classes`` given to the first partial_fit
            raise ValueError(f"y contains labels {list(np.unique(labels[~found]))} not in "
                             f"classes_={list(self.classes_)}.")
        return indices.astype(np.int64)

    def _fit_label_binarizer(self, labels, classes=None):
        self._label_binarizer = LabelBinarizer()
        self._label_binarizer.fit(np.asarray(classes) if classes is not None and labels.ndim == 1
                                  else labels)
        self.classes_ = self._label_binarizer.classes_
        self._target_type = type_of_target(labels)
        if self._target_type not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"RNNClassifier does not support {self._target_type} targets.")
        if len(self.classes_) < 2 and self._target_type != "multilabel-indicator":
            raise ValueError("RNNClassifier needs samples of at least 2 classes in the data, "
                             f"but the data contains only one class: {self.classes_[0]!r}.")
        self.n_outputs_ = 1 if len(self.classes_) == 2 and self._target_type != "multilabel-indicator" \
            else len(self.classes_)

    def _loss_name(self):
        return "softmax_log_loss" if self._target_type == "multiclass" else "sigmoid_log_loss"

    def _set_outputs(self, n_outputs, classes):
        if classes is None:
            raise ValueError("RNNClassifier.from_torch_state_dict needs classes: the labels in "
                             "the order of the head's outputs.")
        classes = np.asarray(classes)
        if classes.ndim != 1 or not np.array_equal(classes, np.unique(classes)):
            raise ValueError("classes must be the sorted, distinct labels: head output k is "
                             f"the k-th smallest label (as in classes_); got {list(classes)}.")
        if not ((len(classes) == 2 and n_outputs == 1)
                or (len(classes) > 2 and n_outputs == len(classes))):
            raise ValueError(f"A head with {n_outputs} output(s) does not fit {len(classes)} "
                             "classes: binary needs 1 output, multiclass one per class.")
        self._label_binarizer = LabelBinarizer().fit(classes)
        self.classes_ = self._label_binarizer.classes_
        self._target_type = "binary" if len(classes) == 2 else "multiclass"
        self.n_outputs_ = n_outputs

    def _stratify(self, Y):
        if self.return_sequences or self._target_type == "multilabel-indicator":
            return None
        return Y if Y.ndim == 1 else Y[:, 0]  # class indices, or the binary indicator

    def _decode(self, proba_rows):
        if self._target_type == "multilabel-indicator":
            return (proba_rows > 0.5).astype(int)
        if proba_rows.shape[1] == 1:
            return self.classes_[(proba_rows[:, 0] > 0.5).astype(int)]
        return self.classes_[np.argmax(proba_rows, axis=1)]

    def _encoded_score(self, y_pred, Y):
        if self._target_type == "multilabel-indicator":
            return accuracy_score(Y > 0.5, y_pred > 0.5)
        if Y.ndim == 1:  # class indices
            return accuracy_score(Y, y_pred.argmax(axis=1))
        return accuracy_score(Y[:, 0] > 0.5, y_pred[:, 0] > 0.5)

    def predict(self, X):
        """Predict class labels for the sequences in X.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences in any accepted form.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            With ``return_sequences``: one label per valid step (see ``RNNRegressor.predict``
            for the stacking rule). For a Dask array X, a lazy Dask array.
        """
        if _dask.is_dask_array(X):
            return _dask.map_samples(self, "predict", X)
        seqs = self._checked_sequences(X)
        labels = self._predictions(self._predict_linked(seqs))
        return per_sequence(labels, seqs) if self.return_sequences else labels

    def _predictions(self, linked_rows):
        """Linked rows as ``predict`` returns them: labels."""
        return self._decode(linked_rows)

    def _probabilities(self, linked_rows):
        """Linked rows as ``predict_proba`` returns them: a column per class."""
        if linked_rows.shape[1] == 1 and self._target_type != "multilabel-indicator":
            return np.hstack([1 - linked_rows, linked_rows])
        return linked_rows

    def predict_proba(self, X):
        """Class probabilities for the sequences in X.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            For multilabel targets, the probability of each label. With
            ``return_sequences``, one row per valid step (stacked or a list). For a Dask
            array X, a lazy Dask array.
        """
        if _dask.is_dask_array(X):
            return _dask.map_samples(self, "predict_proba", X)
        seqs = self._checked_sequences(X)
        proba = self._probabilities(self._predict_linked(seqs))
        return per_sequence(proba, seqs) if self.return_sequences else proba

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        if isinstance(proba, list):
            return [np.log(p) for p in proba]
        return np.log(proba)

    def score(self, X, y, sample_weight=None):
        """Accuracy of the predictions; with ``return_sequences``, over all valid steps.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like or list of arrays
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        if _dask.is_dask_array(X):
            return _dask.score(self, X, y, sample_weight, accuracy_score)
        if not self.return_sequences:
            return super().score(X, y, sample_weight)
        seqs = self._checked_sequences(X)
        y_true = np.concatenate(per_step_targets(y, seqs, "label"))
        y_pred = self._decode(self._predict_linked(seqs))
        weights = step_weights(sample_weight, seqs)
        return accuracy_score(y_true, y_pred, sample_weight=weights)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _check_labels(y, n_samples):
    y = check_array(y, ensure_2d=False, dtype=None, input_name="y", ensure_min_samples=0)
    if y.shape[0] != n_samples:
        raise ValueError(f"X and y have inconsistent numbers of samples: {n_samples} and "
                         f"{y.shape[0]}.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    return y
