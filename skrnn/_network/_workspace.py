"""The arrays a fit reuses from one training step to the next."""

import math

import numpy as np


class Workspace:
    """Arrays reused from one training step to the next.

    A step allocates tens of megabytes of activations; fresh allocations of that size come
    from the operating system page by page, which cost more than the arithmetic on small
    models. A fit keeps one workspace; everything that must outlive a step (gradients,
    outputs) is allocated normally. ``Workspace(reuse=False)`` hands out fresh arrays;
    ``xp`` is the array module they come from (NumPy, or CuPy on a GPU).
    """

    def __init__(self, reuse=True, xp=np):
        self.reuse = reuse
        self.xp = xp
        self._arrays = {}
        self._scopes = {}

    def scope(self, key):
        """The child workspace for ``key`` (a chunk, a layer and direction)."""
        if not self.reuse:
            return self
        if key not in self._scopes:
            self._scopes[key] = Workspace(xp=self.xp)
        return self._scopes[key]

    def empty(self, name, shape, dtype):
        if not self.reuse:
            return self.xp.empty(shape, dtype)
        size = math.prod(shape)  # (np.prod costs 5 us a call here, seven calls a chunk)
        buffer = self._arrays.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._arrays[name] = self.xp.empty(size, dtype)
        return buffer[:size].reshape(shape)

    def zeros(self, name, shape, dtype):
        out = self.empty(name, shape, dtype)
        out.fill(0)
        return out


def fresh_if_none(workspace, xp):
    """``workspace``, or a workspace of fresh ``xp`` arrays when it is None."""
    return Workspace(reuse=False, xp=xp) if workspace is None else workspace


def copy_into(workspace, name, array):
    """``array`` copied into the workspace's buffer ``name`` (same shape and dtype)."""
    out = workspace.empty(name, array.shape, array.dtype)
    out[...] = array
    return out
