"""CuPy arrays on a GPU: the device's array operations and the CUDA backend.

``CudaBackend`` is a ``StepBackend`` whose steps are the CUDA kernels of ``_cuda_steps``,
whose products go through cuBLAS (``_cublas``) and whose loops are captured as CUDA graphs
and replayed. ``DeviceArrays`` replaces the host's array operations: fused update kernels
(``_optimizers._cuda_updates``) and whole-array norms, checks and losses, each read back
with one device synchronisation. CuPy is imported only when a ``CudaBackend`` is made.
"""

import contextlib
import threading
import warnings

import numpy as np

from .._optimizers._cuda_updates import fused_update
from ._step import GraphCache, StepBackend


class ArraySpecial:
    """The four functions of ``scipy.special`` that the losses use, on any array module."""

    def __init__(self, xp):
        self.xp = xp

    def log_expit(self, x):
        return -self.xp.logaddexp(0, -x)

    def expit(self, x):
        return self.xp.exp(self.log_expit(x))

    def log_softmax(self, x, axis):
        shifted = x - x.max(axis=axis, keepdims=True)
        return shifted - self.xp.log(self.xp.exp(shifted).sum(axis=axis, keepdims=True))

    def softmax(self, x, axis):
        return self.xp.exp(self.log_softmax(x, axis))


class DeviceArrays:
    """Array operations on an array module Numba cannot read (``self.xp``: CuPy).

    The same arithmetic as ``_host.HostArrays``: one fused kernel per parameter for an
    update, and norms and checks over all arrays at once (one synchronisation each).
    """

    @property
    def special(self):
        return ArraySpecial(self.xp)

    @staticmethod
    def sgd_update(value, velocity, grad, learning_rate, momentum, nesterov):
        fused_update("nesterov" if nesterov else "sgd", grad, (learning_rate, momentum),
                     (value, velocity))

    @staticmethod
    def adam_update(value, m, v, grad, step_size, beta_1, beta_2, epsilon):
        fused_update("adam", grad, (step_size, beta_1, beta_2, epsilon), (value, m, v))

    @staticmethod
    def rmsprop_update(value, v, grad, learning_rate, beta_2, correction, epsilon):
        fused_update("rmsprop", grad, (learning_rate, beta_2, correction, epsilon), (value, v))

    def add_l2_gradient(self, grad, value, scale):
        """``grad += scale * value``; returns ``sum(value ** 2)`` as a float64 device scalar
        (summed there, read back once)."""
        squares = self.xp.vdot(value.ravel(), value.ravel()).astype(np.float64)
        grad += scale * value
        return squares

    def _flat(self, arrays):
        """All arrays as one flat device array (one kernel, instead of one per array)."""
        return self.xp.concatenate([a.ravel() for a in arrays])

    def global_norm(self, grads):
        flat = self._flat(list(grads.values()))
        return float(self.xp.sqrt(self.xp.vdot(flat, flat)))

    def all_finite(self, arrays):
        return bool(self.xp.isfinite(self._flat(list(arrays))).all())

    def softmax_cross_entropy(self, y_true, raw, sample_weight, normaliser, in_place):
        """``HostArrays.softmax_cross_entropy`` by whole-array operations: the same loss and
        gradient, with temporaries of the logits' size (``in_place`` is not honoured)."""
        xp = self.xp
        counts = y_true >= 0
        classes = xp.where(counts, y_true, 0).reshape(-1)
        step = (xp.where(counts, sample_weight, 0) / normaliser).reshape(-1)
        log_proba = self.special.log_softmax(raw.reshape(-1, raw.shape[-1]), axis=1)
        rows = xp.arange(classes.shape[0])
        loss = float(-(step * log_proba[rows, classes]).sum())
        d_raw = xp.exp(log_proba) * step[:, None]
        d_raw[rows, classes] -= step
        return loss, d_raw.astype(raw.dtype, copy=False).reshape(raw.shape)


class CudaBackend(DeviceArrays, StepBackend):
    """CuPy arrays, CUDA step kernels, cuBLAS products and CUDA-graph replay of each loop.

    One per process. Its work goes to a stream of its own, entered by
    ``training_context``: graph capture needs a stream other than the default one, and
    loops run on the default stream are never captured. Without the ctypes route to
    cuBLAS (``Cublas``), products go through CuPy and loops are not captured.
    """

    on_device = True

    def __init__(self):
        import cupy

        from ._cublas import Cublas
        from ._cuda_steps import CudaSteps

        self._cupy = cupy
        self._lock = threading.RLock()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        try:
            self._cublas = Cublas()
        except Exception as error:  # noqa: BLE001 (no usable cuBLAS library: CuPy's route)
            warnings.warn(f"skrnn calls cuBLAS through CuPy ({error!r}): the time loops are "
                          "not captured as CUDA graphs and run step by step.", RuntimeWarning)
            self._cublas = None
        graphs = None
        if self._cublas is not None:
            graphs = GraphCache(capture=self._capture, pointer=lambda a: a.data.ptr)
        super().__init__("cuda", cupy, CudaSteps(), graphs)

    def asarray(self, a):
        with self.stream:
            return self._cupy.asarray(a)

    def to_numpy(self, a):
        if isinstance(a, self._cupy.ndarray):
            return self._cupy.asnumpy(a, stream=self.stream, blocking=True)
        return np.asarray(a)

    @contextlib.contextmanager
    def training_context(self):
        """Held while fitting or predicting: the backend's stream, one thread at a time
        (the graph cache and the stream are shared; captures must not interleave)."""
        with self._lock, self.stream:
            yield

    def release_memory(self):
        """Give cached device memory back (GridSearchCV's workers share one GPU)."""
        self.stream.synchronize()
        if self.graphs is not None:
            self.graphs.clear()
        self._cupy.get_default_memory_pool().free_all_blocks()

    def gemm(self, a, b, out):
        if self._cublas is None:
            self._cupy.matmul(a, b, out=out)
        else:
            self._cublas.gemm(a, b, out)

    def _can_capture(self):
        # the default stream cannot be captured
        return self.graphs is not None and self._cupy.cuda.get_current_stream().ptr != 0

    def _capture(self, body):
        stream = self._cupy.cuda.get_current_stream()
        stream.begin_capture()
        try:
            body()
        finally:
            graph = stream.end_capture()
        return lambda: graph.launch(self._cupy.cuda.get_current_stream())
