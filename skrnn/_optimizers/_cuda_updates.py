"""Optimiser updates on a GPU: one fused CuPy kernel per parameter array.

One kernel instead of a dozen array operations, with the same formulas as the host's
loops in ``_updates``. CuPy is imported when an update first runs.
"""

_UPDATES = {
    "sgd": ("T g, T lr, T momentum", "T value, T velocity",
            "velocity = momentum * velocity - lr * g; value += velocity;"),
    "nesterov": ("T g, T lr, T momentum", "T value, T velocity",
                 "velocity = momentum * velocity - lr * g;"
                 " value += momentum * velocity - lr * g;"),
    "adam": ("T g, T lr, T beta_1, T beta_2, T epsilon", "T value, T m, T v",
             "m = beta_1 * m + (1 - beta_1) * g; v = beta_2 * v + (1 - beta_2) * (g * g);"
             " value -= lr * m / (sqrt(v) + epsilon);"),
    "rmsprop": ("T g, T lr, T beta_2, T correction, T epsilon", "T value, T v",
                "v = beta_2 * v + (1 - beta_2) * (g * g);"
                " value -= lr * g / (sqrt(v / correction) + epsilon);"),
}
_update_kernels = {}


def fused_update(kind, g, scalars, state):
    """Apply optimiser update ``kind`` in place: ``state`` = (value, *optimiser state)."""
    kernel = _update_kernels.get(kind)
    if kernel is None:
        import cupy

        in_params, out_params, body = _UPDATES[kind]
        kernel = _update_kernels[kind] = cupy.ElementwiseKernel(
            in_params, out_params, body, f"skrnn_{kind}_update")
    dtype = g.dtype.type
    kernel(g, *(dtype(x) for x in scalars), *state)
