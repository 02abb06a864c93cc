"""Scalar activations shared by the cell kernels, and the compile options they all use.

``tanh`` and ``sigmoid`` dispatch on the scalar type at compile time:

- float64 uses libm's ``tanh``, exact, so that float64 gradients can be checked against
  finite differences to 1e-6 and better.
- float32 uses a clamped rational approximation (Eigen's ``ptanh_float``): only multiply,
  add and divide, so LLVM vectorises the gate loops. Its absolute error is below 3e-7, about
  one float32 ulp near 1, and NaN stays NaN.

``sigmoid(x) = 0.5 + 0.5 * tanh(x / 2)`` is exact algebra, stable for every finite ``x``.

``exp`` dispatches the same way: libm in float64; in float32, Cephes' ``expf`` (a degree-7
polynomial on the range-reduced argument times 2**n built from its bits, error below 2 ulp),
which LLVM vectorises where libm's ``expf`` runs one value at a time (6.5 ns a value in the
softmax of a 2,000-class head).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

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


# Cephes expf: exp(x) = 2**n * exp(r), n = round(x / ln 2), r = x - n ln 2 in two parts
_EXP_MAX, _EXP_MIN = 88.3762626647949, -87.3365447504019  # float32 exp stays normal
_LOG2_E = 1.44269504088896341
_LN2_HIGH, _LN2_LOW = 0.693359375, -2.12194440e-4
_EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
             1.6666665459e-1, 5.0000001201e-1)


def exp(x):
    """Exponential of a scalar (libm in float64, a vectorisable polynomial in float32)."""
    return math.exp(x)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bits are the int32 ``bits`` (a bitcast, which vectorises)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


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


@overload(exp, jit_options={"fastmath": set(FASTMATH), "error_model": "numpy"})
def _exp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        high, low = np.float32(_EXP_MAX), np.float32(_EXP_MIN)
        log2_e, ln2_high, ln2_low = (np.float32(v) for v in (_LOG2_E, _LN2_HIGH, _LN2_LOW))
        p0, p1, p2, p3, p4, p5 = (np.float32(v) for v in _EXP_POLY)
        half, one = np.float32(0.5), np.float32(1.0)

        def exp_f32(x):
            x = high if x > high else x
            x = low if x < low else x
            n = math.floor(x * log2_e + half)
            r = x - n * ln2_high - n * ln2_low
            p = (((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5) * r * r + r + one
            return p * _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))

        return exp_f32
    return lambda x: math.exp(x)


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


_TANH, _SIGMOID, _EXP = 0, 1, 2


@njit(**JIT_OPTIONS)
def _apply(x, out, function):
    """``out[...] = f(x)`` elementwise for the kernels' ``function`` (one of the codes)."""
    flat_x = x.ravel()
    flat_out = out.reshape(flat_x.shape[0])
    for i in range(flat_x.shape[0]):
        if function == _TANH:
            flat_out[i] = tanh(flat_x[i])
        elif function == _SIGMOID:
            flat_out[i] = sigmoid(flat_x[i])
        else:
            flat_out[i] = exp(flat_x[i])


def apply_tanh(x, out):
    """``out[...] = tanh(x)`` elementwise with the kernels' tanh (used by the tests)."""
    _apply(x, out, _TANH)


def apply_sigmoid(x, out):
    """``out[...] = sigmoid(x)`` elementwise with the kernels' sigmoid (used by the tests)."""
    _apply(x, out, _SIGMOID)


def apply_exp(x, out):
    """``out[...] = exp(x)`` elementwise with the kernels' exp (used by the tests)."""
    _apply(x, out, _EXP)
