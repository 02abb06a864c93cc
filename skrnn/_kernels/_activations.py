"""Scalar activations shared by the cell kernels, and the compile options they all use.

``tanh`` and ``sigmoid`` dispatch on the scalar type at compile time:

- float64 uses libm's ``tanh``, exact, so that float64 gradients can be checked against
  finite differences to 1e-6 and better.
- float32 uses a clamped rational approximation (Eigen's ``ptanh_float``): only multiply,
  add and divide, so LLVM vectorises the gate loops. Its absolute error is below 3e-7, about
  one float32 ulp near 1, and NaN stays NaN.

``sigmoid(x) = 0.5 + 0.5 * tanh(x / 2)`` is exact algebra, stable for every finite ``x``.
"""

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# Every kernel compiles with these options. ``error_model="numpy"`` drops Python's
# ZeroDivisionError check on float division, which otherwise blocks vectorisation.
# The fast-math flags exclude ``nnan``/``ninf``: a NaN must survive to be detected.
FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=set(FASTMATH), error_model="numpy")

_TANH_CLAMP = 7.90531110763549805  # tanh(±7.905) rounds to ±1 in float32
_TANH_ALPHA = (  # odd numerator coefficients, highest power first
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
    5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
    4.89352455891786e-03,
)
_TANH_BETA = (  # even denominator coefficients, highest power first
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
    4.89352518554385e-03,
)


def tanh(x):
    """Hyperbolic tangent of a scalar (exact in float64, rational in float32)."""
    return math.tanh(x)


def sigmoid(x):
    """Logistic function of a scalar."""
    return 0.5 + 0.5 * math.tanh(0.5 * x)


def relu(x):
    """max(x, 0) of a scalar; NaN stays NaN."""
    return x if not x < 0 else 0.0


@overload(tanh, jit_options={"fastmath": set(FASTMATH), "error_model": "numpy"})
def _tanh_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        c = np.float32(_TANH_CLAMP)
        a0, a1, a2, a3, a4, a5, a6 = (np.float32(v) for v in _TANH_ALPHA)
        b0, b1, b2, b3 = (np.float32(v) for v in _TANH_BETA)

        def tanh_f32(x):
            x = c if x > c else x
            x = -c if x < -c else x
            x2 = x * x
            p = ((((((a0 * x2 + a1) * x2 + a2) * x2 + a3) * x2 + a4) * x2 + a5) * x2 + a6) * x
            q = ((b0 * x2 + b1) * x2 + b2) * x2 + b3
            return p / q

        return tanh_f32
    return lambda x: math.tanh(x)


@overload(sigmoid, jit_options={"fastmath": set(FASTMATH), "error_model": "numpy"})
def _sigmoid_overload(x):
    if isinstance(x, types.Float):
        half = np.float32(0.5) if x.bitwidth == 32 else 0.5
        return lambda x: half + half * tanh(half * x)
    return None


@overload(relu)
def _relu_overload(x):
    if isinstance(x, types.Float):
        zero = np.float32(0.0) if x.bitwidth == 32 else 0.0
        return lambda x: x if not x < zero else zero
    return None


@njit(**JIT_OPTIONS)
def apply_tanh(x, out):
    """``out[...] = tanh(x)`` elementwise with the kernels' tanh (used by the tests)."""
    flat_x = x.ravel()
    flat_out = out.reshape(flat_x.shape[0])
    for i in range(flat_x.shape[0]):
        flat_out[i] = tanh(flat_x[i])


@njit(**JIT_OPTIONS)
def apply_sigmoid(x, out):
    """``out[...] = sigmoid(x)`` elementwise with the kernels' sigmoid (used by the tests)."""
    flat_x = x.ravel()
    flat_out = out.reshape(flat_x.shape[0])
    for i in range(flat_x.shape[0]):
        flat_out[i] = sigmoid(flat_x[i])
