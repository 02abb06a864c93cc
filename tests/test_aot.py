"""The kernels' machine code built at install time (skrnn/_aot.py): found, complete, identical."""

import importlib
import json
import os
import pkgutil
import subprocess
import sys

import numpy as np
import pytest

import skrnn
from skrnn import _aot

needs_packaged = pytest.mark.skipif(
    not _aot.packaged_is_current(),
    reason="skrnn/_precompiled/ is missing (built with SKRNN_PRECOMPILE=0) or was built from "
           "other sources (rebuild: python setup.py build_ext --inplace)")


def test_a_build_stamps_the_sources_it_compiled(tmp_path, monkeypatch):
    monkeypatch.setattr(_aot, "PACKAGED_DIR", str(tmp_path))
    assert not _aot.packaged_is_current()
    (tmp_path / "SOURCES").write_text(_aot._package_stamp())
    assert _aot.packaged_is_current()
    (tmp_path / "SOURCES").write_text("an edit since")
    assert not _aot.packaged_is_current()


def test_every_kernel_reads_the_packaged_cache_first():
    # a module that defines kernels and escapes use_packaged_kernels() would compile them on
    # every first use: import every module, as users may, and check each cached kernel
    for module in pkgutil.walk_packages(skrnn.__path__, "skrnn."):
        if module.name in ("skrnn._aot",):
            continue
        try:
            importlib.import_module(module.name)
        except ImportError:  # an optional dependency (CuPy, ONNX) is missing
            continue
    dispatchers = _aot.kernel_dispatchers()
    assert len(dispatchers) > 20
    cache_class = _aot._packaged_cache_class()
    strays = [d.py_func.__qualname__ for d in dispatchers if not isinstance(d._cache, cache_class)]
    assert not strays, f"kernels outside the packaged cache: {strays}"


_FIRST_USES = r"""
import json, warnings
import numpy as np
from numba.core import event
compiled = []
class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__ + str(ev.data["args"]))
    def on_end(self, ev):
        pass
event.register("numba:compile", Listener())
import skrnn
warnings.simplefilter("ignore")
rng = np.random.default_rng(1)
results = {}
for dtype in ("float32", "float64"):
    X = rng.normal(size=(40, 12, 3)).astype(dtype)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    for cell in ("rnn", "lstm", "gru"):
        model = skrnn.RNNClassifier(cell=cell, dtype=dtype, hidden_layer_sizes=(8,),
                                    max_iter=3, random_state=0).fit(X, y)
        results[cell + dtype] = model.predict_proba(X).tolist()
        reg = skrnn.RNNRegressor(cell=cell, dtype=dtype, solver="lbfgs", max_iter=3,
                                 random_state=0).fit(X, X[:, -1, 0])
        results[cell + dtype + "lbfgs"] = reg.predict(X).tolist()
tokens = rng.integers(0, 30, size=(40, 15))
lm = skrnn.RNNClassifier(cell="gru", embedding_dim=6, return_sequences=True, max_iter=2,
                         random_state=0).fit(tokens[:, :-1], tokens[:, 1:])
results["generate"] = [int(t) for t in skrnn.generate(lm, tokens[0, :5], 10, random_state=0)]
print(json.dumps(dict(compiled=compiled, results=results)))
"""


def _first_uses(tmp_path, **env):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), **env)
    out = subprocess.run([sys.executable, "-c", _FIRST_USES], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


@needs_packaged
def test_common_first_uses_compile_nothing_and_match_the_jit(tmp_path):
    packaged = _first_uses(tmp_path / "empty")
    assert packaged["compiled"] == [], "add these uses to skrnn._aot._workload"
    # the same uses compiled by Numba in this process: the same machine code, the same bits
    jit = _first_uses(tmp_path / "jit", SKRNN_PACKAGED_KERNELS="0")
    assert jit["compiled"], "SKRNN_PACKAGED_KERNELS=0 should leave the kernels to Numba"
    assert packaged["results"] == jit["results"]
    assert np.isfinite(np.asarray(packaged["results"]["gru" + "float32"])).all()
