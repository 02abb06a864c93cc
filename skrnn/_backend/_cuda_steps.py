"""The GPU twins of ``_steps.py``: one fused CUDA kernel per cell, direction and step.

Each kernel does one time step's gate arithmetic for the whole batch, one thread per
(sequence b, hidden unit j); the recurrent matrix product of the step runs through cuBLAS
beside it (``skrnn._backend``). The equations, the gate order and the ragged-length rules
are those of the NumPy reference in ``_steps.py``, argument for argument.

CuPy is imported only when a ``CudaSteps`` is made, so ``import skrnn`` never needs it.
"""

import numpy as np

_SOURCE = r"""
__device__ __forceinline__ real sigmoid_(real x) { return real(1) / (real(1) + EXP(-x)); }

#define UNIT_INDEX                                   \
    const int idx = blockDim.x * blockIdx.x + threadIdx.x; \
    if (idx >= B * H) return;                        \
    const int b = idx / H;                           \
    const int j = idx - b * H;                       \
    const bool valid = t < lengths[b];

extern "C" __global__ void rnn_forward_step(
        const real* xw_t, const real* hw, const real* b_ih, const real* b_hh,
        const long long* lengths, const real* h_prev, real* h_t,
        int t, int B, int H, int use_relu) {
    UNIT_INDEX
    if (valid) {
        real pre = xw_t[idx] + b_ih[j] + hw[idx] + b_hh[j];
        h_t[idx] = use_relu ? (pre < real(0) ? real(0) : pre) : TANH(pre);
    } else {
        h_t[idx] = h_prev[idx];
    }
}

extern "C" __global__ void rnn_backward_step(
        const real* d_h_t, const real* d_h_rec, real* d_carry, const real* h_t,
        const long long* lengths, real* d_pre_t, int t, int B, int H, int use_relu) {
    UNIT_INDEX
    real dh = d_h_t[idx] + d_h_rec[idx] + d_carry[idx];
    if (valid) {
        real h = h_t[idx];
        d_pre_t[idx] = use_relu ? (h > real(0) ? dh : real(0)) : dh * (real(1) - h * h);
        d_carry[idx] = real(0);
    } else {
        d_pre_t[idx] = real(0);
        d_carry[idx] = dh;
    }
}

extern "C" __global__ void lstm_forward_step(
        real* gates_t, const real* hw, const real* b_ih, const real* b_hh,
        const long long* lengths, const real* c_prev, const real* h_prev,
        real* c_t, real* h_t, int t, int B, int H) {
    UNIT_INDEX
    if (valid) {
        real* g = gates_t + (long long)b * 4 * H;
        const real* w = hw + (long long)b * 4 * H;
        real i = sigmoid_(g[j] + w[j] + b_ih[j] + b_hh[j]);
        real f = sigmoid_(g[H + j] + w[H + j] + b_ih[H + j] + b_hh[H + j]);
        real gg = TANH(g[2 * H + j] + w[2 * H + j] + b_ih[2 * H + j] + b_hh[2 * H + j]);
        real o = sigmoid_(g[3 * H + j] + w[3 * H + j] + b_ih[3 * H + j] + b_hh[3 * H + j]);
        g[j] = i;
        g[H + j] = f;
        g[2 * H + j] = gg;
        g[3 * H + j] = o;
        real c = f * c_prev[idx] + i * gg;
        c_t[idx] = c;
        h_t[idx] = o * TANH(c);
    } else {
        c_t[idx] = c_prev[idx];
        h_t[idx] = h_prev[idx];
    }
}

extern "C" __global__ void lstm_backward_step(
        const real* d_h_t, const real* d_h_rec, real* d_carry, real* d_c,
        const real* gates_t, const real* c_t, const real* c_prev,
        const long long* lengths, real* d_gates_t, int t, int B, int H) {
    UNIT_INDEX
    real dh = d_h_t[idx] + d_h_rec[idx] + d_carry[idx];
    real* d = d_gates_t + (long long)b * 4 * H;
    if (valid) {
        const real* g = gates_t + (long long)b * 4 * H;
        real i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
        real c_tanh = TANH(c_t[idx]);
        real dc = d_c[idx] + dh * o * (real(1) - c_tanh * c_tanh);
        d[j] = dc * gg * i * (real(1) - i);
        d[H + j] = dc * c_prev[idx] * f * (real(1) - f);
        d[2 * H + j] = dc * i * (real(1) - gg * gg);
        d[3 * H + j] = dh * c_tanh * o * (real(1) - o);
        d_c[idx] = dc * f;
        d_carry[idx] = real(0);
    } else {
        d[j] = real(0);
        d[H + j] = real(0);
        d[2 * H + j] = real(0);
        d[3 * H + j] = real(0);
        d_carry[idx] = dh;
    }
}

extern "C" __global__ void gru_forward_step(
        real* gates_t, const real* hw, const real* b_ih, const real* b_hh,
        const long long* lengths, const real* h_prev, real* hw_n_t, real* h_t,
        int t, int B, int H) {
    UNIT_INDEX
    if (valid) {
        real* g = gates_t + (long long)b * 3 * H;
        const real* w = hw + (long long)b * 3 * H;
        real r = sigmoid_(g[j] + b_ih[j] + w[j] + b_hh[j]);
        real z = sigmoid_(g[H + j] + b_ih[H + j] + w[H + j] + b_hh[H + j]);
        real hn = w[2 * H + j] + b_hh[2 * H + j];
        real n = TANH(g[2 * H + j] + b_ih[2 * H + j] + r * hn);
        g[j] = r;
        g[H + j] = z;
        g[2 * H + j] = n;
        hw_n_t[idx] = hn;
        h_t[idx] = (real(1) - z) * n + z * h_prev[idx];
    } else {
        h_t[idx] = h_prev[idx];
    }
}

extern "C" __global__ void gru_backward_step(
        const real* d_h_t, const real* d_h_rec, real* d_carry, const real* gates_t,
        const real* hw_n_t, const real* h_prev, const long long* lengths,
        real* d_hh_t, real* d_n_t, int t, int B, int H) {
    UNIT_INDEX
    real dh = d_h_t[idx] + d_h_rec[idx] + d_carry[idx];
    real* d_hh = d_hh_t + (long long)b * 3 * H;
    if (valid) {
        const real* g = gates_t + (long long)b * 3 * H;
        real r = g[j], z = g[H + j], n = g[2 * H + j];
        real d_n = dh * (real(1) - z) * (real(1) - n * n);
        real d_z = dh * (h_prev[idx] - n) * z * (real(1) - z);
        real d_r = d_n * hw_n_t[idx] * r * (real(1) - r);
        d_hh[j] = d_r;
        d_hh[H + j] = d_z;
        d_hh[2 * H + j] = d_n * r;
        d_n_t[idx] = d_n;
        d_carry[idx] = dh * z;
    } else {
        d_hh[j] = real(0);
        d_hh[H + j] = real(0);
        d_hh[2 * H + j] = real(0);
        d_n_t[idx] = real(0);
        d_carry[idx] = dh;
    }
}

extern "C" __global__ void embedding_backward(
        const long long* ids, const long long* lengths, const real* d_x, real* d_weight,
        int T, int B, int E) {
    // one thread per (t, b, e); atomics because several steps may share a token
    const long long idx = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (idx >= (long long)T * B * E) return;
    const int e = idx % E;
    const int b = (idx / E) % B;
    const int t = idx / ((long long)E * B);
    if (t < lengths[b]) atomicAdd(d_weight + ids[(long long)t * B + b] * E + e, d_x[idx]);
}
"""

_KERNEL_NAMES = ("rnn_forward_step", "rnn_backward_step", "lstm_forward_step",
                 "lstm_backward_step", "gru_forward_step", "gru_backward_step",
                 "embedding_backward")

_BLOCK = 256


class CudaSteps:
    """The step functions of ``_steps.py`` as CUDA kernels.

    Same names and arguments as the NumPy functions; the arrays are CuPy arrays,
    C-contiguous, ``lengths`` and token ids int64. Each floating dtype's kernels are
    compiled (NVRTC, cached on disk by CuPy) the first time that dtype is used.
    """

    def __init__(self):
        self._kernels = {}

    def _kernel(self, name, dtype):
        dtype = np.dtype(dtype)
        if dtype not in self._kernels:
            import cupy

            real = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[dtype]
            exp, tanh = ("expf", "tanhf") if real == "float" else ("exp", "tanh")
            header = f"typedef {real} real;\n#define EXP {exp}\n#define TANH {tanh}\n"
            module = cupy.RawModule(code=header + _SOURCE, options=("--std=c++14",))
            self._kernels[dtype] = {n: module.get_function(n) for n in _KERNEL_NAMES}
        return self._kernels[dtype][name]

    def _launch(self, name, dtype, n_threads, args):
        blocks = (n_threads + _BLOCK - 1) // _BLOCK
        self._kernel(name, dtype)((blocks,), (_BLOCK,), args)

    def rnn_forward_step(self, t, xw_t, hw, b_ih, b_hh, lengths, h_prev, use_relu, h_t):
        B, H = h_t.shape
        self._launch("rnn_forward_step", h_t.dtype, B * H,
                     (xw_t, hw, b_ih, b_hh, lengths, h_prev, h_t, np.int32(t), np.int32(B),
                      np.int32(H), np.int32(bool(use_relu))))

    def rnn_backward_step(self, t, d_h_t, d_h_rec, d_carry, h_t, lengths, use_relu, d_pre_t):
        B, H = h_t.shape
        self._launch("rnn_backward_step", h_t.dtype, B * H,
                     (d_h_t, d_h_rec, d_carry, h_t, lengths, d_pre_t, np.int32(t),
                      np.int32(B), np.int32(H), np.int32(bool(use_relu))))

    def lstm_forward_step(self, t, gates_t, hw, b_ih, b_hh, lengths, c_prev, h_prev, c_t,
                          h_t):
        B, H = h_t.shape
        self._launch("lstm_forward_step", h_t.dtype, B * H,
                     (gates_t, hw, b_ih, b_hh, lengths, c_prev, h_prev, c_t, h_t,
                      np.int32(t), np.int32(B), np.int32(H)))

    def lstm_backward_step(self, t, d_h_t, d_h_rec, d_carry, d_c, gates_t, c_t, c_prev,
                           lengths, d_gates_t):
        B, H = d_h_t.shape
        self._launch("lstm_backward_step", d_h_t.dtype, B * H,
                     (d_h_t, d_h_rec, d_carry, d_c, gates_t, c_t, c_prev, lengths, d_gates_t,
                      np.int32(t), np.int32(B), np.int32(H)))

    def gru_forward_step(self, t, gates_t, hw, b_ih, b_hh, lengths, h_prev, hw_n_t, h_t):
        B, H = h_t.shape
        self._launch("gru_forward_step", h_t.dtype, B * H,
                     (gates_t, hw, b_ih, b_hh, lengths, h_prev, hw_n_t, h_t, np.int32(t),
                      np.int32(B), np.int32(H)))

    def gru_backward_step(self, t, d_h_t, d_h_rec, d_carry, gates_t, hw_n_t, h_prev,
                          lengths, d_hh_t, d_n_t):
        B, H = d_h_t.shape
        self._launch("gru_backward_step", d_h_t.dtype, B * H,
                     (d_h_t, d_h_rec, d_carry, gates_t, hw_n_t, h_prev, lengths, d_hh_t,
                      d_n_t, np.int32(t), np.int32(B), np.int32(H)))

    def embedding_backward(self, ids, lengths, d_x, d_weight):
        T, B, E = d_x.shape
        self._launch("embedding_backward", d_x.dtype, T * B * E,
                     (ids, lengths, d_x, d_weight, np.int32(T), np.int32(B), np.int32(E)))
