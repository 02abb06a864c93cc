"""Optimisers over the parameter dict, gradient clipping by global norm and the L2 penalty.

Each optimiser keeps its state per parameter name and updates the arrays in place, the way
scikit-learn's ``SGDOptimizer``/``AdamOptimizer`` do for MLP. The update of one array is
the backend's (``backend.adam_update`` and so on: the compiled loops of ``_updates`` on
the host, the fused kernels of ``_cuda_updates`` on a GPU), so nothing here knows where
the arrays live, nor how many tensors a cell has.
"""

import numpy as np


class BaseOptimizer:
    """Shared bookkeeping: the learning rate and its schedule, as MLP's optimisers keep them.

    ``schedule`` is the estimator's ``learning_rate``: "constant", "adaptive" (divided by 5
    on a plateau, ``reduce_learning_rate``) or "invscaling" (``learning_rate_init /
    (t + 1) ** power_t`` after each epoch, ``iteration_ends``). MLP's ``SGDOptimizer`` alone
    has the schedules; here every solver follows them.
    """

    def __init__(self, learning_rate, schedule="constant", power_t=0.5):
        self.learning_rate_init = float(learning_rate)
        self.learning_rate = float(learning_rate)
        self.schedule = schedule
        self.power_t = power_t

    def iteration_ends(self, time_step):
        """After an epoch: with "invscaling", the step size for ``time_step`` samples seen."""
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def reduce_learning_rate(self):
        """Divide the learning rate by 5, as MLP's "adaptive" schedule does on a plateau.

        Returns False (stop training) instead once the rate is at most 1e-6.
        """
        if self.learning_rate <= 1e-6:
            return False
        self.learning_rate /= 5.0
        return True

    def step(self, params, grads, backend):
        """Update ``params`` in place from ``grads`` with ``backend``'s update kernels."""
        raise NotImplementedError

    def move_state(self, convert):
        """Apply ``convert`` to every state array (to move it to or from a device)."""
        for attribute in ("velocities", "ms", "vs"):
            state = getattr(self, attribute, None)
            if state is not None:
                setattr(self, attribute, {name: convert(v) for name, v in state.items()})


class SGD(BaseOptimizer):
    """Stochastic gradient descent with (Nesterov) momentum, as MLP's ``SGDOptimizer``."""

    def __init__(self, params, learning_rate, momentum=0.9, nesterov=True, **schedule):
        super().__init__(learning_rate, **schedule)
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = {name: np.zeros_like(value) for name, value in params.items()}

    def step(self, params, grads, backend):
        lr = params_dtype_scalar(params, self.learning_rate)
        momentum = params_dtype_scalar(params, self.momentum)
        for name, value in params.items():
            backend.sgd_update(value, self.velocities[name], grads[name], lr, momentum,
                               self.nesterov)


class Adam(BaseOptimizer):
    """Adam with bias correction folded into the step size, as MLP's ``AdamOptimizer``."""

    def __init__(self, params, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 **schedule):
        super().__init__(learning_rate, **schedule)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.ms = {name: np.zeros_like(value) for name, value in params.items()}
        self.vs = {name: np.zeros_like(value) for name, value in params.items()}

    def step(self, params, grads, backend):
        self.t += 1
        lr = (self.learning_rate * np.sqrt(1 - self.beta_2 ** self.t)
              / (1 - self.beta_1 ** self.t))
        # in the parameters' dtype: float32 arithmetic stays float32
        scalars = [params_dtype_scalar(params, x)
                   for x in (lr, self.beta_1, self.beta_2, self.epsilon)]
        for name, value in params.items():
            backend.adam_update(value, self.ms[name], self.vs[name], grads[name], *scalars)


class RMSprop(BaseOptimizer):
    """RMSprop: step ``lr * g / (sqrt(v_hat) + eps)`` with ``v`` a ``beta_2``-decayed mean of g².

    ``v`` is bias-corrected like Adam's (``v_hat = v / (1 - beta_2^t)``), so the first steps
    are not inflated by a near-zero average.
    """

    def __init__(self, params, learning_rate, beta_2=0.999, epsilon=1e-8, **schedule):
        super().__init__(learning_rate, **schedule)
        self.beta_2, self.epsilon = beta_2, epsilon
        self.t = 0
        self.vs = {name: np.zeros_like(value) for name, value in params.items()}

    def step(self, params, grads, backend):
        self.t += 1
        correction = 1 - self.beta_2 ** self.t
        # in the parameters' dtype: float32 arithmetic stays float32
        scalars = [params_dtype_scalar(params, x)
                   for x in (self.learning_rate, self.beta_2, correction, self.epsilon)]
        for name, value in params.items():
            backend.rmsprop_update(value, self.vs[name], grads[name], *scalars)


def params_dtype_scalar(params, value):
    """``value`` as a scalar of the parameters' dtype (keeps float32 arithmetic in float32)."""
    return next(iter(params.values())).dtype.type(value)


def make_optimizer(solver, params, estimator):
    """The optimiser an estimator's hyper-parameters ask for (a stochastic ``solver``)."""
    schedule = dict(schedule=estimator.learning_rate, power_t=estimator.power_t)
    if solver == "sgd":
        return SGD(params, estimator.learning_rate_init, estimator.momentum,
                   estimator.nesterovs_momentum, **schedule)
    if solver == "adam":
        return Adam(params, estimator.learning_rate_init, estimator.beta_1, estimator.beta_2,
                    estimator.epsilon, **schedule)
    return RMSprop(params, estimator.learning_rate_init, estimator.beta_2, estimator.epsilon,
                   **schedule)


def is_weight(name):
    """Whether the parameter ``name`` is a weight (L2-penalised), not a bias."""
    return name.endswith("weight") or "weight_" in name


def add_l2_penalty(params, grads, scale, backend):
    """Add ``scale * w`` to the gradient of every weight ``w`` (not the biases), in place.

    Returns the sum of the weights' squares (float): the penalty is half of it times
    ``scale``. One pass per weight (``backend.add_l2_gradient``); on a device the squares
    are summed there and read back once.
    """
    squares = 0.0
    for name, value in params.items():
        if is_weight(name):
            squares = squares + backend.add_l2_gradient(grads[name], value,
                                                        value.dtype.type(scale))
    return float(squares)


def clip_by_global_norm(grads, max_norm, backend):
    """Scale all gradients in place so that their global norm is at most ``max_norm``.

    Returns the norm before clipping (``backend.global_norm``).
    """
    norm = backend.global_norm(grads)
    if max_norm is not None and norm > max_norm:
        scale = max_norm / norm
        for g in grads.values():
            g *= g.dtype.type(scale)
    return norm
