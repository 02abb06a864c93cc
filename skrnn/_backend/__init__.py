"""Where the network runs: the backends and the rule that picks one for ``device``.

``_network`` orchestrates a layer the same way on every backend: the backend runs the time
loop from the layer's input (the input's product included), and the weight gradients are
one matrix product each after it. A backend is the one place that knows the device: its
array module (``xp``), how a batch is split into chunks, ``forward(cell, ...)`` and
``backward(cell, ...)`` (the time loops of a cell's record, ``_cells``), the optimiser
updates, norms, finiteness checks and loss operations on its arrays (``_host.HostArrays``
or ``_cuda.DeviceArrays``), its prediction path and its memory advice. Optimisers, losses
and estimators call these and never ask where they run.

- ``CPU`` (``_host``): the Numba kernels of ``_kernels``; the batch split into one chunk
  per thread; prediction through the ``*_predict`` kernels, each sequence alone.
- ``StepBackend`` (``_step``): the time loop in Python, per step one recurrent product and
  one fused step function. On CuPy (``cuda_backend``, ``_cuda``) the steps are CUDA
  kernels, the products cuBLAS calls, and each loop is captured once as a CUDA graph and
  replayed, so that a step costs no Python. On NumPy (``numpy_step_backend``) the steps are
  the reference functions of ``_kernels._steps``: the tests run the GPU path's
  orchestration that way on machines without a GPU.
"""

import threading

from ._host import CPU, CPUBackend, HostArrays
from ._step import GraphCache, StepBackend, numpy_step_backend

__all__ = ["CPU", "CPUBackend", "GraphCache", "HostArrays", "StepBackend", "check_device",
           "cuda_available", "cuda_backend", "numpy_step_backend", "select_backend"]

# device="auto" trains on a GPU from this hidden size and batch size on (and predicts on it
# from this many sequences). Measured on an H100 against skrnn's CPU path on 16 cores, at
# 100 steps: from hidden 128 and batch 64 the GPU is 2-5x faster per epoch; below, a fit's
# fixed cost on the GPU (about 40 ms) and its per-batch launches leave little to gain.
_AUTO_GPU_MIN_HIDDEN = 128
_AUTO_GPU_MIN_BATCH = 64


def select_backend(device, hidden_layer_sizes, n_batch):
    """The backend for work in batches of ``n_batch`` sequences.

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}
        The estimator's ``device``; "auto" takes a GPU only where it pays (big enough
        layers and batches) and there is one.
    hidden_layer_sizes : tuple of int
    n_batch : int

    Returns
    -------
    backend : CPUBackend or CudaBackend
        ``ValueError`` saying why for ``device="cuda"`` without a GPU.
    """
    if device == "cpu":
        return CPU
    if device == "cuda":
        return cuda_backend()
    big_enough = (max(hidden_layer_sizes) >= _AUTO_GPU_MIN_HIDDEN
                  and n_batch >= _AUTO_GPU_MIN_BATCH)
    if big_enough and cuda_available():
        return cuda_backend()
    return CPU


def check_device(device):
    """Fail before any work when ``device="cuda"`` and there is no GPU."""
    if device == "cuda":
        cuda_backend()


_cuda_lock = threading.Lock()
_cuda_backend = None
_cuda_error = None


def cuda_backend():
    """The process's CUDA backend; ``ValueError`` saying why when there is none."""
    global _cuda_backend, _cuda_error
    with _cuda_lock:
        if _cuda_backend is None and _cuda_error is None:
            _cuda_error = _cuda_unavailable_reason()
            if _cuda_error is None:
                from ._cuda import CudaBackend

                _cuda_backend = CudaBackend()
    if _cuda_backend is None:
        raise ValueError(f"device='cuda' is not available: {_cuda_error} Use device='cpu', "
                         "or device='auto' to use a GPU only when there is one.")
    return _cuda_backend


def cuda_available():
    """True when CuPy is installed and sees at least one CUDA GPU."""
    try:
        cuda_backend()
    except ValueError:
        return False
    return True


def _cuda_unavailable_reason():
    try:
        import cupy
    except ImportError:
        return ("CuPy is not installed (pip install 'skrnn[cuda]' for CUDA 12, or "
                "'skrnn[cuda13]' for CUDA 13).")
    except Exception as error:  # noqa: BLE001 (a broken CuPy install)
        return f"CuPy failed to import ({error!r})."
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # noqa: BLE001 (no driver, no device)
        return f"CuPy sees no CUDA device ({error!r})."
    if n_devices < 1:
        return "CuPy sees no CUDA device."
    return None
