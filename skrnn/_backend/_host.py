"""NumPy arrays and the Numba engine: the host's array operations and the CPU backend.

``HostArrays`` is what every backend on NumPy arrays does the same way: optimiser updates
(one compiled pass per parameter, ``_optimizers._updates``), the global gradient norm,
finiteness checks, the L2 penalty's gradient and the fused softmax cross-entropy. The CPU
backend and the NumPy step backend share it; the CUDA backend replaces it
(``_cuda.DeviceArrays``).
"""

import contextlib

import numpy as np
from scipy import special

from .. import _kernels
from .._kernels._gemm import TN_DIRECT_ROWS, matmul_tn
from .._kernels._softmax import softmax_cross_entropy
from .._optimizers import _updates
from .._parallel import batch_chunks, map_chunks, single_threaded_blas


class HostArrays:
    """Array operations on NumPy arrays (what ``_optimizers`` and ``_losses`` call)."""

    xp = np
    #: ``scipy.special``'s ``expit``, ``log_expit``, ``softmax``, ``log_softmax``
    special = special

    sgd_update = staticmethod(_updates.sgd_update)
    adam_update = staticmethod(_updates.adam_update)
    rmsprop_update = staticmethod(_updates.rmsprop_update)

    @staticmethod
    def add_l2_gradient(grad, value, scale):
        """``grad += scale * value`` in place; returns ``sum(value ** 2)`` (float64).

        One compiled pass (NumPy took three and a temporary: 0.08 ms of a 5.7 ms RNN-256
        batch, 0.23 ms of a GRU-256 one).
        """
        return _updates.add_l2_gradient(grad, value, scale)

    @staticmethod
    def global_norm(grads):
        """Euclidean norm of all the arrays of the dict ``grads`` together."""
        return float(np.sqrt(sum(float(np.vdot(g.ravel(), g.ravel()))
                                 for g in grads.values())))

    @staticmethod
    def all_finite(arrays):
        """True when no array holds a NaN or an infinity."""
        return all(np.isfinite(a).all() for a in arrays)

    @staticmethod
    def softmax_cross_entropy(y_true, raw, sample_weight, normaliser, in_place):
        """Loss and gradient of ``_losses.softmax_log_loss`` from class indices: the
        log-sum-exp, the loss and the gradient in one compiled pass over each row
        (``_kernels._softmax``), the gradient over ``raw`` when ``in_place``."""
        if not (in_place and raw.flags.c_contiguous):
            raw = np.array(raw, order="C")
        total = softmax_cross_entropy(raw.reshape(-1, raw.shape[-1]),
                                      np.ascontiguousarray(y_true, dtype=np.int64).reshape(-1),
                                      np.ascontiguousarray(sample_weight,
                                                           dtype=np.float64).reshape(-1),
                                      1.0 / normaliser)
        return float(total / normaliser), raw


class CPUBackend(HostArrays):
    """The Numba engine: kernels on NumPy arrays, one batch chunk per thread."""

    name = "cpu"
    on_device = False

    embedding_backward = staticmethod(_kernels.embedding_backward)

    chunks = staticmethod(batch_chunks)
    map_chunks = staticmethod(map_chunks)

    @staticmethod
    def forward(cell, *args):
        """Run ``cell``'s forward Numba kernel."""
        cell.forward(*args)

    @staticmethod
    def backward(cell, *args):
        """Run ``cell``'s backward Numba kernel."""
        cell.backward(*args)

    @staticmethod
    def asarray(a):
        return np.asarray(a)

    @staticmethod
    def to_numpy(a):
        return np.asarray(a)

    @staticmethod
    def transposed(w, workspace):
        """``w.T`` as the time loops read it: a view (the kernels pack it into panels)."""
        return w.T

    @staticmethod
    def matmul_tn(a, b, columns=None):
        """``a.T @ b[:, :columns]`` for 2-D arrays: a weight gradient, summed over steps.

        Up to ``TN_DIRECT_ROWS`` rows of output (the input weights of a few features),
        ``_gemm.matmul_tn``'s blocks, reading both operands in place. More rows, NumPy's BLAS
        (``a.T`` and ``b``'s first columns passed as strides, not copied): on two threads at
        once (AVX2), 150-182 GFLOP/s where the blocks made 96-175 (R = 1568: M x N = 512 x 128
        float32 169 against 101, float64 80 against 31; 2048 x 512 182 against 175).
        """
        n_rows, n_columns = a.shape[1], b.shape[1] if columns is None else columns
        out = np.empty((n_rows, n_columns), a.dtype)
        if n_rows > TN_DIRECT_ROWS:
            np.dot(a.T, b[:, :n_columns], out=out)
        else:
            matmul_tn(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
        return out

    @staticmethod
    def training_context():
        """Held during a fit: skrnn's batch-chunk threads own the cores."""
        return single_threaded_blas()

    def release_memory(self):
        pass

    # -- prediction and memory

    @staticmethod
    def predict(spec, params, data, lengths, prepared):
        """The network's output through the prediction kernels, each sequence alone (see
        ``_network.predict``)."""
        from .._network import _prediction  # (the network imports the backends)

        return _prediction.predict_each_alone(spec, params, data, lengths, prepared)

    @staticmethod
    def prediction_weights(params, prepared):
        """``(params, prepared())``: the host's weights and the kernels' packed copies
        (``prepared`` returns them, cached by the estimator)."""
        return params, prepared()

    @staticmethod
    def prediction_context(n_sequences):
        """Held while predicting: one sequence runs in the calling thread alone (BLAS would
        not thread anyway, and limiting it costs more than the call)."""
        return contextlib.nullcontext() if n_sequences == 1 else single_threaded_blas()

    @staticmethod
    def check_host_memory(check):
        """Run ``check`` (it raises a ``MemoryError`` saying what to change): the work
        allocates host memory."""
        check()

    @staticmethod
    def out_of_memory_advice(error):
        """None: a ``MemoryError`` on the host is raised as it is."""
        return None


CPU = CPUBackend()
