"""Time loops in Python over an array module, one product and one step call a step.

``StepBackend`` runs a layer's time loop from Python: the input product of all steps
first, then per step one recurrent matrix product (``gemm``) and one fused step function
of ``steps``. On NumPy (``numpy_step_backend``) the steps are the reference functions of
``_kernels._steps``, and the tests run the GPU path's orchestration that way on machines
without a GPU; ``_cuda.CudaBackend`` puts CUDA kernels, cuBLAS and CUDA-graph replay
(``GraphCache``) behind the same loops.
"""

import contextlib
import warnings
from collections import OrderedDict

import numpy as np

from .._kernels import _steps
from ._host import HostArrays


class GraphCache:
    """Time loops captured once and replayed, keyed by everything a loop reads.

    The key of a loop is its name, its flags, and the address, shape, strides and dtype of
    every array it reads or writes; its scratch arrays belong to the cache entry. Replaying
    a captured loop on the same key is therefore the same computation. A key seen once runs
    eagerly; the second time it is captured (by ``capture(body)``, which returns a function
    that replays it) and from then on replayed. The oldest entries are dropped beyond
    ``max_size``. If capturing fails, the cache switches itself off and runs eagerly.
    """

    _SEEN = object()

    def __init__(self, capture, pointer, max_size=128):
        self._capture = capture
        self._pointer = pointer
        self.max_size = max_size
        self.enabled = True
        self._entries = OrderedDict()
        self.n_captured = 0
        self.n_replayed = 0

    def key(self, name, flags, arrays):
        return (name, flags) + tuple((self._pointer(a), a.shape, a.strides, a.dtype.str)
                                     for a in arrays)

    def run(self, key, body, make_scratch):
        """Run ``body(scratch)`` for ``key``: eagerly, by capturing it, or by a replay."""
        if not self.enabled:
            body(make_scratch())
            return
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = self._SEEN
            self._evict()
            body(make_scratch())
            return
        if entry is self._SEEN:
            scratch = make_scratch()
            try:
                replay = self._capture(lambda: body(scratch))
            except Exception as error:  # noqa: BLE001 (any failure: fall back to eager)
                self.enabled = False
                self._entries.clear()
                warnings.warn(f"skrnn could not capture a CUDA graph ({error!r}); the time "
                              "loops run step by step from now on.", RuntimeWarning)
                body(scratch)
                return
            entry = self._entries[key] = (replay, scratch)
            self.n_captured += 1
        self._entries.move_to_end(key)
        self.n_replayed += 1
        entry[0]()

    def _evict(self):
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def clear(self):
        self._entries.clear()


class StepBackend(HostArrays):
    """Time loops in Python over an array module: per step, one product and one step call.

    Parameters
    ----------
    name : str
    xp : module
        ``numpy`` or ``cupy``.
    steps : object
        The step functions of ``_kernels._steps`` (or their CUDA twins, ``CudaSteps``).
    graphs : GraphCache or None
        Captures and replays whole loops (CUDA graphs); None runs every step from Python.
    """

    on_device = False

    def __init__(self, name, xp, steps, graphs=None):
        self.name = name
        self.xp = xp
        self.steps = steps
        self.graphs = graphs

    # -- what the orchestration asks of a backend

    @staticmethod
    def chunks(n_samples):
        return [slice(0, n_samples)]  # one chunk: the device parallelises within a step

    @staticmethod
    def map_chunks(fn, items):
        return [fn(item) for item in items]

    def asarray(self, a):
        return self.xp.asarray(a)

    def to_numpy(self, a):
        return np.asarray(a)

    def training_context(self):
        return contextlib.nullcontext()

    def release_memory(self):
        pass

    # -- prediction and memory (the GPU path's)

    def predict(self, spec, params, data, lengths, prepared):
        """The training forward pass without dropout, on the backend's arrays: a
        prediction then depends on its batch only through the matrix products."""
        from .._network import _training  # (the network imports the backends)

        return _training.forward(spec, params, data, lengths, backend=self)[0]

    def prediction_weights(self, params, prepared):
        """The weights on the backend's arrays (no packed copies): they go over once per
        prediction (during a fit on a device, they are already there)."""
        return {name: self.asarray(value) for name, value in params.items()}, None

    def prediction_context(self, n_sequences):
        return self.training_context()

    @staticmethod
    def check_host_memory(check):
        """Nothing: the device's own out-of-memory error is translated instead."""

    @staticmethod
    def out_of_memory_advice(error):
        """What to change when the device ran out of memory during a fit."""
        return (f"The GPU ran out of memory while fitting ({error}). Use a smaller "
                "batch_size, fewer or smaller layers, or fewer parallel fits on the GPU "
                "(GridSearchCV's n_jobs: each worker holds its own model and data there).")

    def gemm(self, a, b, out):
        """``out = a @ b`` for C-contiguous 2-D arrays."""
        self.xp.matmul(a, b, out=out)

    @staticmethod
    def transposed(w, workspace):
        """``w.T`` C-contiguous, in a workspace buffer (a fixed address for graph replay)."""
        w_t = workspace.empty("w_hh_t", w.shape[::-1], w.dtype)
        w_t[...] = w.T
        return w_t

    @staticmethod
    def matmul_tn(a, b, columns=None):
        """``a.T @ b[:, :columns]``."""
        return a.T @ b[:, :columns]

    def _can_capture(self):
        return self.graphs is not None

    def loop(self, name, flags, arrays, body, scratch_shapes, dtype):
        def make_scratch():
            return [self.xp.empty(shape, dtype) for shape in scratch_shapes]

        if self._can_capture():
            self.graphs.run(self.graphs.key(name, flags, arrays), body, make_scratch)
        else:
            body(make_scratch())

    # -- the time loops: each cell's loop (``Cell.step_forward``/``step_backward``), with
    # the signatures of its Numba kernels

    def forward(self, cell, *args):
        """Run ``cell``'s forward time loop (its Numba kernel's arguments)."""
        cell.step_forward(self, *args)

    def backward(self, cell, *args):
        """Run ``cell``'s backward time loop (its Numba kernel's arguments)."""
        cell.step_backward(self, *args)

    def input_product(self, x, w_ih, w_ih_t, out):
        """``out = x @ w_ih.T`` for every step at once, inside a loop's body (capturable:
        ``w_ih.T`` is copied into the scratch ``w_ih_t`` for the cuBLAS product)."""
        T, B, F = x.shape
        w_ih_t[...] = w_ih.T
        self.gemm(x.reshape(T * B, F), w_ih_t, out.reshape(T * B, out.shape[2]))

    def embedding_backward(self, ids, lengths, d_x, d_weight):
        self.steps.embedding_backward(ids, lengths, d_x, d_weight)


def numpy_step_backend(graphs=False):
    """The GPU path's loops on NumPy with the reference steps (for tests and debugging).

    ``graphs=True`` adds a ``GraphCache`` whose 'capture' records the loop body and whose
    replay calls it again on the same arrays, to test the cache's keying on the CPU.
    """
    cache = None
    if graphs:
        cache = GraphCache(capture=lambda body: body,
                           pointer=lambda a: a.__array_interface__["data"][0])
    return StepBackend("numpy-steps", np, _steps, cache)


# ------------------------------------------------------- each cell's step-backend time loop
# Per step: one recurrent product (``backend.gemm``) and one step function of
# ``backend.steps`` (NumPy's ``_kernels._steps`` or the CUDA twins); the arguments are those
# of the cell's Numba kernels. ``_cells`` names them in each cell's record.

def rnn_step_forward(backend, x, w_ih, w_hh_t, b_ih, b_hh, lengths, use_relu, h):
    """The simple RNN's forward loop (``rnn_forward``'s arguments)."""
    T, B, H = h.shape
    F = x.shape[2]

    def body(scratch):
        zeros, hw, w_ih_t, xw = scratch  # h_0 = 0; hw: h_{t-1} W_hh^T (B, H)
        zeros.fill(0)
        backend.input_product(x, w_ih, w_ih_t, xw)
        for t in range(T):
            h_prev = zeros if t == 0 else h[t - 1]
            backend.gemm(h_prev, w_hh_t, hw)
            backend.steps.rnn_forward_step(t, xw[t], hw, b_ih, b_hh, lengths, h_prev,
                                           use_relu, h[t])

    backend.loop("rnn_forward", bool(use_relu), (x, w_ih, w_hh_t, b_ih, b_hh, lengths, h),
                 body, [(B, H), (B, H), (F, H), (T, B, H)], h.dtype)


def rnn_step_backward(backend, d_h, h, w_hh, lengths, use_relu, d_pre):
    """The simple RNN's backward loop (``rnn_backward``'s arguments)."""
    T, B, H = h.shape

    def body(scratch):
        d_h_rec, d_carry = scratch  # (B, H) each, gradients reaching h[t] from t + 1
        d_h_rec.fill(0)
        d_carry.fill(0)
        for t in range(T - 1, -1, -1):
            backend.steps.rnn_backward_step(t, d_h[t], d_h_rec, d_carry, h[t], lengths,
                                            use_relu, d_pre[t])
            if t > 0:
                backend.gemm(d_pre[t], w_hh, d_h_rec)

    backend.loop("rnn_backward", bool(use_relu), (d_h, h, w_hh, lengths, d_pre), body,
                 [(B, H), (B, H)], h.dtype)


def lstm_step_forward(backend, x, w_ih, w_hh_t, b_ih, b_hh, lengths, gates, c, h):
    """The LSTM's forward loop (``lstm_forward``'s arguments)."""
    T, B, G = gates.shape
    H = G // 4

    def body(scratch):
        zeros, hw, w_ih_t = scratch  # zeros (B, H): h_0 and c_0; hw (B, 4H)
        zeros.fill(0)
        backend.input_product(x, w_ih, w_ih_t, gates)  # activated in place step by step
        for t in range(T):
            h_prev = zeros if t == 0 else h[t - 1]
            c_prev = zeros if t == 0 else c[t - 1]
            backend.gemm(h_prev, w_hh_t, hw)
            backend.steps.lstm_forward_step(t, gates[t], hw, b_ih, b_hh, lengths, c_prev,
                                            h_prev, c[t], h[t])

    backend.loop("lstm_forward", (), (x, w_ih, w_hh_t, b_ih, b_hh, lengths, gates, c, h),
                 body, [(B, H), (B, G), w_ih.shape[::-1]], gates.dtype)


def lstm_step_backward(backend, d_h, gates, c, w_hh, lengths, d_gates):
    """The LSTM's backward loop (``lstm_backward``'s arguments)."""
    T, B, G = gates.shape
    H = G // 4

    def body(scratch):
        zeros, d_h_rec, d_carry, d_c = scratch  # (B, H) each
        for a in scratch:
            a.fill(0)
        for t in range(T - 1, -1, -1):
            c_prev = zeros if t == 0 else c[t - 1]
            backend.steps.lstm_backward_step(t, d_h[t], d_h_rec, d_carry, d_c, gates[t],
                                             c[t], c_prev, lengths, d_gates[t])
            if t > 0:
                backend.gemm(d_gates[t], w_hh, d_h_rec)

    backend.loop("lstm_backward", (), (d_h, gates, c, w_hh, lengths, d_gates), body,
                 [(B, H)] * 4, gates.dtype)


def gru_step_forward(backend, x, w_ih, w_hh_t, b_ih, b_hh, lengths, gates, hw_n, h):
    """The GRU's forward loop (``gru_forward``'s arguments)."""
    T, B, G = gates.shape
    H = G // 3

    def body(scratch):
        zeros, hw, w_ih_t = scratch  # zeros (B, H): h_0; hw (B, 3H) without bias
        zeros.fill(0)
        backend.input_product(x, w_ih, w_ih_t, gates)  # activated in place step by step
        for t in range(T):
            h_prev = zeros if t == 0 else h[t - 1]
            backend.gemm(h_prev, w_hh_t, hw)
            backend.steps.gru_forward_step(t, gates[t], hw, b_ih, b_hh, lengths, h_prev,
                                           hw_n[t], h[t])

    backend.loop("gru_forward", (), (x, w_ih, w_hh_t, b_ih, b_hh, lengths, gates, hw_n, h),
                 body, [(B, H), (B, G), w_ih.shape[::-1]], gates.dtype)


def gru_step_backward(backend, d_h, gates, hw_n, h, w_hh, lengths, d_gates_hh, d_n):
    """The GRU's backward loop (``gru_backward``'s arguments)."""
    T, B, G = gates.shape
    H = G // 3

    def body(scratch):
        zeros, d_h_rec, d_carry = scratch  # (B, H) each
        for a in scratch:
            a.fill(0)
        for t in range(T - 1, -1, -1):
            h_prev = zeros if t == 0 else h[t - 1]
            backend.steps.gru_backward_step(t, d_h[t], d_h_rec, d_carry, gates[t], hw_n[t],
                                            h_prev, lengths, d_gates_hh[t], d_n[t])
            if t > 0:
                backend.gemm(d_gates_hh[t], w_hh, d_h_rec)

    backend.loop("gru_backward", (),
                 (d_h, gates, hw_n, h, w_hh, lengths, d_gates_hh, d_n), body,
                 [(B, H)] * 3, gates.dtype)

