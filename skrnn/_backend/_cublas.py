"""Row-major GEMM through cuBLAS by ctypes, on a handle that CUDA graphs can capture."""

import numpy as np


class Cublas:
    """Row-major GEMM through cuBLAS, called through ctypes on a handle of our own.

    CuPy refuses to call cuBLAS while a stream is being captured into a CUDA graph, but
    cuBLAS itself supports capture when the handle has a workspace set beforehand (so
    that it allocates nothing during capture). This handle gets its own 32 MiB workspace
    and follows the current CuPy stream.
    """

    _WORKSPACE_BYTES = 32 * 1024 * 1024

    def __init__(self):
        import ctypes

        import cupy

        self._cupy = cupy
        lib = ctypes.CDLL(_cublas_path())
        c_void_p, c_int, c_size_t = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        self._check_calls = []
        for name, argtypes in [
            ("cublasCreate_v2", [ctypes.POINTER(c_void_p)]),
            ("cublasSetStream_v2", [c_void_p, c_void_p]),
            ("cublasSetWorkspace_v2", [c_void_p, c_void_p, c_size_t]),
            ("cublasSgemm_v2", [c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p,
                                c_void_p, c_int, c_void_p, c_int, c_void_p, c_void_p, c_int]),
            ("cublasDgemm_v2", [c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p,
                                c_void_p, c_int, c_void_p, c_int, c_void_p, c_void_p, c_int]),
        ]:
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = c_int
            setattr(self, "_" + name, function)
        handle = c_void_p()
        _check(self._cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        self._handle = handle
        self._workspace = cupy.empty(self._WORKSPACE_BYTES, dtype=np.uint8)
        self._scalars = {np.dtype(d): (np.ones(1, d), np.zeros(1, d))
                         for d in (np.float32, np.float64)}
        self._stream = None

    def _bind_stream(self):
        """Bind the handle to the current stream (setting a stream resets the workspace)."""
        stream = self._cupy.cuda.get_current_stream().ptr
        if stream != self._stream:
            _check(self._cublasSetStream_v2(self._handle, stream), "cublasSetStream")
            _check(self._cublasSetWorkspace_v2(self._handle, self._workspace.data.ptr,
                                               self._WORKSPACE_BYTES), "cublasSetWorkspace")
            self._stream = stream

    def gemm(self, a, b, out):
        """``out = a @ b`` for C-contiguous 2-D CuPy arrays of one dtype.

        Row-major ``out (M, N) = a (M, K) @ b (K, N)`` is column-major
        ``out^T = b^T a^T``: cuBLAS sees b as (N, K) with leading dimension N.
        """
        M, K = a.shape
        N = b.shape[1]
        one, zero = self._scalars[a.dtype]
        gemm = self._cublasSgemm_v2 if a.dtype == np.float32 else self._cublasDgemm_v2
        self._bind_stream()
        _check(gemm(self._handle, 0, 0, N, M, K, one.ctypes.data, b.data.ptr, N, a.data.ptr,
                    K, zero.ctypes.data, out.data.ptr, N), "cublasGemm")


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"{what} failed with cuBLAS status {status}")


def _cublas_path():
    """The cuBLAS library CuPy loaded into this process (not cuBLASLt)."""
    import cupy

    cupy.cuda.device.get_cublas_handle()  # makes CuPy load it
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "/libcublas.so" in path:
                return path
    raise RuntimeError("cuBLAS is not loaded in this process")
