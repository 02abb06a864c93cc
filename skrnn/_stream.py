"""Stateful prediction: ``Stream`` feeds a fitted model new steps as they come, and ``generate``
samples from it, feeding each output back as the next input.

``predict`` recomputes a sequence from its first step; a stream keeps each layer's hidden (and
cell) state after the steps it has seen, so each new step costs one step of work. It runs the
prediction kernels ``predict`` runs, from the carried state, so its outputs are the same bits
as ``predict`` on the same prefix.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _network
from ._ingest import all_finite
from ._sequences import MISSING_VALUE_FIX, _as_token_ids


# the lengths of a one-step push (writeable: Numba compiles another variant for a read-only
# array; the kernels never write it)
_ONE_STEP = np.ones(1, dtype=np.int64)


class Stream:
    """Predictions from a fitted model, fed one or more steps at a time.

    Each ``push`` consumes new steps of one sequence in work proportional to their number,
    carrying every layer's state from the steps before, and returns the predictions ``predict``
    would give for the sequence so far: one per new step for a model fitted with
    ``return_sequences=True``, else one for the whole sequence. The results are bit-identical
    to ``predict`` on the same prefix (on the CPU, where a stream always runs).

    Parameters
    ----------
    estimator : fitted RNNClassifier or RNNRegressor
        Unidirectional (a bidirectional layer needs the whole sequence), any cell, stacked
        layers, with or without an embedding.

    Attributes
    ----------
    n_steps_ : int
        Steps consumed since the start or the last ``reset``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNRegressor, Stream
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 10, 2))
    >>> model = RNNRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(
    ...     X, X[:, :, 0].sum(axis=1))
    >>> stream = Stream(model)
    >>> _ = stream.push(X[0, :6])  # the first six steps of a sequence
    >>> bool(stream.push(X[0, 6:]) == model.predict(X[:1])[0])  # then the other four
    True
    """

    def __init__(self, estimator):
        check_is_fitted(estimator, "params_")
        if estimator.bidirectional:
            raise ValueError("A Stream needs a unidirectional model: a bidirectional layer reads "
                             "each sequence backwards from its end, so it needs the whole "
                             "sequence. Use predict on the whole sequence instead.")
        self.estimator = estimator
        self.reset()

    def reset(self):
        """Start a new sequence.

        Returns
        -------
        self : Stream
        """
        self._states = None
        self._prepared = self._layers = self._step_outputs = None
        self.n_steps_ = 0
        return self

    def push(self, steps):
        """Consume new steps and return the predictions after them.

        Parameters
        ----------
        steps : array-like
            Token ids ``(n_new,)`` (or one int) for a model with ``embedding_dim``; else
            ``(n_new, n_features)``, or ``(n_new,)`` for a univariate model (one feature per
            step), or ``(n_features,)`` for one step of a multivariate model.

        Returns
        -------
        predictions : ndarray
            With ``return_sequences``, ``predict``'s output for each new step,
            ``(n_new,)`` or ``(n_new, n_outputs)``; else ``predict``'s output for the
            sequence so far (a label or a value, or ``(n_outputs,)``).
        """
        return self._unpacked(self.estimator._predictions(self._advance(self._checked(steps))))

    def push_proba(self, steps):
        """Consume new steps and return class probabilities after them (classifiers).

        Parameters
        ----------
        steps : array-like
            As for ``push``.

        Returns
        -------
        proba : ndarray
            ``(n_new, n_classes)`` with ``return_sequences``, else ``(n_classes,)`` for the
            sequence so far.
        """
        if not hasattr(self.estimator, "predict_proba"):
            raise TypeError("push_proba needs a classifier; use push for a regressor.")
        return self._unpacked(self.estimator._probabilities(self._advance(self._checked(steps))))

    def _unpacked(self, rows):
        """One prediction per new step (per-step model), or the last one alone."""
        return rows if self.estimator.return_sequences else rows[-1]

    def _checked(self, steps):
        """New steps, validated, as the first layer reads them: (n_new, 1[, F])."""
        est = self.estimator
        if est.embedding_dim is not None:
            ids = _as_token_ids(np.atleast_1d(steps), "steps")
            if ids.ndim != 1 or ids.shape[0] == 0:
                raise ValueError(f"steps must be token ids of shape (n_new,) with n_new >= 1; "
                                 f"got shape {ids.shape}.")
            if ids.min() < 0 or ids.max() >= est.vocab_size_:
                bad = ids.min() if ids.min() < 0 else ids.max()
                raise ValueError(f"steps contain the token id {bad}, outside the vocabulary "
                                 f"learned in fit (ids 0 to {est.vocab_size_ - 1}).")
            return ids[:, None]
        values = np.asarray(steps)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"steps must be numbers, got dtype {values.dtype}.")
        n_features = 1 if est._fit_on_2d else est.n_features_in_
        if values.ndim == 0 or (values.ndim == 1 and n_features > 1):
            values = values.reshape(1, -1)  # one step
        elif values.ndim == 1:
            values = values[:, None]  # steps of a univariate model
        if values.ndim != 2 or values.shape[1] != n_features or values.shape[0] == 0:
            raise ValueError(f"steps must be (n_new, {n_features}) for this model (n_new >= 1"
                             f"{', or (n_new,)' if n_features == 1 else ''}); got shape "
                             f"{np.shape(steps)}.")
        data = np.ascontiguousarray(values[:, None, :], dtype=est.params_["head.bias"].dtype)
        if not all_finite(data):  # (one compiled pass: np.isfinite().all() took 2 us here)
            raise ValueError(f"steps contain NaN or infinity. {MISSING_VALUE_FIX}")
        return data

    def _advance(self, data):
        """Run validated new steps (n_new, 1[, F]) through the layers from the carried state;
        the head's linked output rows for each new step (per-step) or the last."""
        est = self.estimator
        spec, params, prepared = est._spec, est.params_, est._prediction_weights()
        dtype = params["head.bias"].dtype
        if prepared is not self._prepared:  # first push, or the estimator was refitted
            self._prepared = prepared
            self._layers = [_network.prediction_layer_weights(spec, params, prepared, layer)
                            for layer in range(len(spec.hidden_layer_sizes))]
            # each layer's output for a one-step push, reused (a new array per layer and
            # step was a tenth of a step's time at hidden 32)
            self._step_outputs = [np.empty((1, 1, hidden), dtype)
                                  for hidden in spec.hidden_layer_sizes]
        n_new = data.shape[0]
        lengths = _ONE_STEP if n_new == 1 else np.full(1, n_new, dtype=np.int64)
        outputs = self._step_outputs if n_new == 1 else [None] * len(self._layers)
        carried = self._states is not None
        if not carried:
            self._states = [_network.prediction_state(spec, layer, 1, dtype)
                            for layer in range(len(spec.hidden_layer_sizes))]
        x = params["embedding.weight"][data] if spec.vocab_size is not None else data
        for layer_weights, state, out in zip(self._layers, self._states, outputs):
            x = _network.predict_layer(spec, layer_weights, x, lengths, state, carried, out)
        features = x[:, 0] if spec.return_sequences else x[-1]  # (n_new, H) or (1, H)
        self.n_steps_ += n_new
        return est._linked(_network.predict_head(spec, params, prepared, features))

    def __getstate__(self):
        state = self.__dict__.copy()
        # derived from the estimator's weights
        state["_prepared"] = state["_layers"] = state["_step_outputs"] = None
        return state


def generate(estimator, prompt, n_steps, *, temperature=1.0, top_k=None, random_state=None):
    """Continue a sequence from a fitted model, feeding each output back as the next input.

    For a token classifier (``embedding_dim`` set; per-step, as a language model, or
    sequence-to-one), each next token is sampled from the predicted class probabilities
    (sharpened or flattened by ``temperature``, restricted to the ``top_k`` likeliest); its
    label must be a token id the model reads. For a regressor whose outputs are its
    inputs' features, each next step is the predicted value. Each step costs one step of
    work (a ``Stream``); the model reads the prompt and everything generated after it.

    Parameters
    ----------
    estimator : fitted RNNClassifier or RNNRegressor
    prompt : array-like
        The sequence so far, as ``Stream.push`` takes it (at least one step).
    n_steps : int
        Steps to generate.
    temperature : float, default=1.0
        Classifiers: probabilities are raised to ``1 / temperature`` and renormalised; 0 takes
        the likeliest class (greedy).
    top_k : int or None, default=None
        Classifiers: sample among the ``top_k`` likeliest classes only.
    random_state : int, RandomState instance or None, default=None
        Seeds the sampling; an int makes it reproducible.

    Returns
    -------
    generated : ndarray
        ``(n_steps,)`` labels for a classifier; ``(n_steps,)`` or ``(n_steps, n_features)``
        values for a regressor.

    Examples
    --------
    >>> import numpy as np
    >>> from skrnn import RNNClassifier, generate
    >>> ids = np.tile(np.arange(5), (40, 3))  # 0 1 2 3 4 0 1 2 ...
    >>> model = RNNClassifier(cell="gru", hidden_layer_sizes=(16,), embedding_dim=4,
    ...                       return_sequences=True, learning_rate_init=0.02, max_iter=100,
    ...                       random_state=0).fit(ids[:, :-1], ids[:, 1:])
    >>> generate(model, [0, 1], 6, temperature=0).tolist()
    [2, 3, 4, 0, 1, 2]
    """
    if not isinstance(n_steps, Integral) or isinstance(n_steps, bool) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}.")
    stream = Stream(estimator)
    if hasattr(estimator, "classes_"):
        return _generate_tokens(stream, prompt, n_steps, temperature, top_k, random_state)
    return _generate_values(stream, prompt, n_steps)


def _generate_tokens(stream, prompt, n_steps, temperature, top_k, random_state):
    est = stream.estimator
    if not isinstance(temperature, Real) or not temperature >= 0 or temperature == np.inf:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}.")
    if top_k is not None and (not isinstance(top_k, Integral) or isinstance(top_k, bool)
                              or top_k < 1):
        raise ValueError(f"top_k must be None or a positive integer, got {top_k!r}.")
    classes = est.classes_
    if (est.embedding_dim is None or est._target_type == "multilabel-indicator"
            or classes.dtype.kind not in "iu" or classes.min() < 0
            or classes.max() >= est.vocab_size_):
        raise ValueError("generate feeds each sampled label back as the next input: it needs "
                         "a classifier fitted with embedding_dim whose labels are token ids "
                         f"it reads (0 to vocab_size_ - 1); got classes {classes[:5]}... and "
                         f"embedding_dim={est.embedding_dim}.")
    rng = check_random_state(random_state)
    proba = stream.push_proba(prompt)
    generated = np.empty(n_steps, dtype=classes.dtype)
    for i in range(n_steps):
        token = classes[_sample(proba[-1] if proba.ndim == 2 else proba, temperature, top_k,
                                rng)]
        generated[i] = token
        if i + 1 < n_steps:
            proba = est._probabilities(stream._advance(np.array([[token]], dtype=np.int64)))
            proba = proba if est.return_sequences else proba[-1]
    return generated


def _sample(proba, temperature, top_k, rng):
    """The index of a class drawn from ``proba`` at ``temperature`` among the ``top_k``."""
    if temperature == 0:
        return int(np.argmax(proba))
    with np.errstate(divide="ignore"):
        logits = np.log(proba) / temperature
    if top_k is not None and top_k < logits.shape[0]:
        threshold = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= threshold, logits, -np.inf)
    weights = np.exp(logits - logits.max())
    cumulative = np.cumsum(weights)
    index = int(np.searchsorted(cumulative, rng.random_sample() * cumulative[-1], side="right"))
    return min(index, proba.shape[0] - 1)


def _generate_values(stream, prompt, n_steps):
    est = stream.estimator
    n_features = 1 if est._fit_on_2d else est.n_features_in_
    if est.embedding_dim is not None or est.n_outputs_ != n_features:
        raise ValueError(f"generate feeds each prediction back as the next step: the model "
                         f"must predict its {n_features} input feature(s) (n_outputs_="
                         f"{est.n_outputs_}) from float input.")
    prediction = stream.push(prompt)
    generated = []
    for i in range(n_steps):
        value = np.asarray(prediction[-1] if est.return_sequences else prediction)
        generated.append(value)
        if i + 1 < n_steps:
            prediction = stream.push(value)
    shape = (n_steps,) if est._y_ndim == 1 else (n_steps, n_features)
    return np.array(generated, dtype=np.float64).reshape(shape)
