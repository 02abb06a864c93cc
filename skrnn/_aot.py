"""Machine code for the Numba kernels built at install time, and how Numba finds it first.

A fresh process with an empty Numba cache (a new container, CI job or Dask worker) used to
spend 10-17 s compiling the kernels before its first fit. Instead, building skrnn
(``pip install``, ``python -m build``, ``setup.py build_ext``) runs :func:`precompile`: a
small workload that touches every kernel specialisation users reach (each cell, both dtypes,
each solver, embeddings, per-step softmax, bidirectional, stacked, streaming), with Numba's
cache pointed into the package itself (``skrnn/_precompiled/``). Every cached kernel then
reads that directory before Numba's own cache (``NUMBA_CACHE_DIR``, ``__pycache__`` or the
user-wide one), so a first fit loads machine code instead of compiling it.

Numba's cache keys guard every entry, so nothing stale or foreign is ever run: an entry is
used only when every source file of the package has the same content as when it was built
(a SHA-256 of them all: Numba's own key hashes only the kernel's file, but a kernel inlines
and links functions of other files), its bytecode is the same, the Numba version is the
same, and the machine code was generated for this CPU (its name and features). Anything
else - another CPU model, another Numba, an edited kernel - misses and compiles just as
without this module, into Numba's usual cache.
The code loaded is the very code the JIT would have built on this machine, so results stay
bit-identical.
"""

import functools
import hashlib
import os
import shutil
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
#: Where the build writes the kernels' cache files, one folder per source folder.
PACKAGED_DIR = os.path.join(_ROOT, "_precompiled")

# True while precompile() runs: compiled kernels are saved into PACKAGED_DIR, not the user's
# cache, and only PACKAGED_DIR is read (so each specialisation reached lands there).
_writing = False


@functools.cache
def _package_stamp():
    """A SHA-256 of every Python source file of the package, names and contents."""
    digest = hashlib.sha256()
    for folder, subfolders, files in sorted(os.walk(_ROOT)):
        subfolders.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, _ROOT).encode())
                with open(path, "rb") as source:
                    digest.update(source.read())
    return digest.hexdigest()


@functools.cache
def _packaged_cache_class():
    """The Numba cache that reads the packaged directory first; None if Numba lacks the hooks.

    Built lazily so that an unexpected Numba (the cache classes are Numba internals) only
    costs the precompiled code, never an import error.
    """
    try:
        from numba.core.caching import FunctionCache, IndexDataCacheFile
    except ImportError:  # pragma: no cover - a Numba without these internals
        return None

    class PackagedFunctionCache(FunctionCache):
        """Numba's per-function cache, with the package's prebuilt entries in front of it."""

        def __init__(self, py_func):
            super().__init__(py_func)
            source_dir = os.path.dirname(os.path.abspath(self._impl.locator._py_file))
            self._packaged_path = os.path.join(PACKAGED_DIR, os.path.relpath(source_dir, _ROOT))
            self._packaged_file = IndexDataCacheFile(
                cache_path=self._packaged_path, filename_base=self._impl.filename_base,
                source_stamp=_package_stamp())

        def _load_overload(self, sig, target_context):
            if not self._enabled:
                return None
            key = self._index_key(sig, target_context.codegen())
            data = self._packaged_file.load(key)
            if data is None and not _writing:
                data = self._cache_file.load(key)
            return None if data is None else self._impl.rebuild(target_context, data)

        def _save_overload(self, sig, data):
            if not _writing:
                return super()._save_overload(sig, data)
            if not self._enabled or not self._impl.check_cachable(data):
                return None
            os.makedirs(self._packaged_path, exist_ok=True)
            key = self._index_key(sig, data.codegen)
            self._packaged_file.save(key, self._impl.reduce(data))
            return None

    return PackagedFunctionCache


def packaged_is_current():
    """Whether ``PACKAGED_DIR`` was built from the package's present sources (after an edit
    of any source file, its entries no longer apply until the next build)."""
    try:
        with open(os.path.join(PACKAGED_DIR, "SOURCES")) as stamp_file:
            return stamp_file.read() == _package_stamp()
    except OSError:
        return False


def kernel_dispatchers():
    """Every Numba dispatcher with on-disk caching defined by an imported skrnn module."""
    from numba.core.caching import FunctionCache
    from numba.core.registry import CPUDispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "skrnn" or name.startswith("skrnn.")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and isinstance(value._cache, FunctionCache):
                found[id(value)] = value
    return list(found.values())


def use_packaged_kernels():
    """Give every imported skrnn kernel the cache that reads the packaged machine code first.

    Called at the end of ``import skrnn``; a module that defines kernels and is imported
    lazily calls it at its end too. Calling it again is harmless. The environment variable
    ``SKRNN_PACKAGED_KERNELS=0`` leaves the kernels to Numba alone (to compare, or to rule
    the prebuilt code out when debugging).
    """
    if os.environ.get("SKRNN_PACKAGED_KERNELS", "1") == "0":
        return
    cache_class = _packaged_cache_class()
    if cache_class is None:  # pragma: no cover
        return
    for dispatcher in kernel_dispatchers():
        if not isinstance(dispatcher._cache, cache_class):
            try:
                dispatcher._cache = cache_class(dispatcher.py_func)
            except (AttributeError, OSError, RuntimeError):  # pragma: no cover
                pass  # a source that is no plain file (a zip, a frozen app): Numba's cache


def _workload():
    """Fit, predict and stream the models that reach every kernel specialisation.

    Tiny data, one or two epochs: what counts is which (kernel, argument types) pairs run,
    not the numbers. Each case mirrors a path through the estimators; ``tests/test_aot.py``
    checks from a fresh process that common uses then compile nothing.
    """
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    from . import RNNClassifier, RNNRegressor, Stream

    rng = np.random.default_rng(0)
    n, steps, features = 24, 6, 3
    X = rng.normal(size=(n, steps, features))
    y_value = X[:, :, 0].sum(axis=1)
    y_label = (y_value > 0).astype(int)
    y_three = np.digitize(y_value, [-1.0, 1.0])
    y_steps = rng.integers(0, 4, size=(n, steps))
    tokens = rng.integers(0, 11, size=(n, steps))
    ragged = [X[i, : 3 + i % 4] for i in range(n)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for dtype in ("float32", "float64"):
            Xd = X.astype(dtype)
            for cell in ("rnn", "lstm", "gru"):
                common = dict(cell=cell, dtype=dtype, hidden_layer_sizes=(4,), max_iter=2,
                              random_state=0)
                activations = ("tanh", "relu") if cell == "rnn" else ("tanh",)
                for activation in activations:
                    for solver in ("adam", "sgd", "rmsprop", "lbfgs"):
                        model = RNNRegressor(solver=solver, activation=activation, alpha=1e-3,
                                             **common).fit(Xd, y_value)
                        model.predict(Xd)
                        Stream(model).push(Xd[0])
                binary = RNNClassifier(**common).fit(ragged, y_label)
                binary.predict_proba(ragged)
                RNNClassifier(**common).fit(Xd, y_three).predict_proba(Xd)
                stacked = dict(common, hidden_layer_sizes=(4, 3))
                RNNRegressor(bidirectional=True, **stacked).fit(Xd, y_value).predict(Xd)
                per_step = RNNClassifier(return_sequences=True, **stacked).fit(Xd, y_steps)
                per_step.predict_proba(Xd)
                Stream(per_step).push(Xd[0])
                language = RNNClassifier(embedding_dim=5, return_sequences=True, **common)
                language.fit(tokens, y_steps).predict_proba(tokens)
                Stream(language).push(tokens[0])
                RNNRegressor(return_sequences=True, **common).fit(Xd, Xd[:, :, 0]).predict(Xd)


def precompile():
    """Compile every kernel specialisation of :func:`_workload` into :data:`PACKAGED_DIR`.

    Run by the build (:func:`main`) with the package being built on the path.
    Returns the number of cache files written.
    """
    global _writing
    shutil.rmtree(PACKAGED_DIR, ignore_errors=True)  # no stale files from an earlier build
    use_packaged_kernels()
    _writing = True
    try:
        _workload()
    finally:
        _writing = False
    with open(os.path.join(PACKAGED_DIR, "SOURCES"), "w") as stamp_file:
        stamp_file.write(_package_stamp())
    count = 0
    for _, _, files in os.walk(PACKAGED_DIR):
        count += sum(name.endswith((".nbi", ".nbc")) for name in files)
    return count


def main():
    """The build's entry point: ``python -c "import skrnn._aot; skrnn._aot.main()"``."""
    import time

    start = time.perf_counter()
    written = precompile()
    print(f"skrnn: precompiled the Numba kernels into {PACKAGED_DIR} "
          f"({written} files, {time.perf_counter() - start:.0f} s)")
