"""Smoke test of an installed skrnn wheel, run from outside the source tree (by
.ci/check_wheel and by cibuildwheel's test step): the package, its data files and its
compiled kernels work from site-packages; the kernels' machine code built with the wheel is
used (a first fit compiles nothing), unless the wheel is meant for another CPU."""

import sys
import warnings
from pathlib import Path

import numpy as np
from numba.core import event

compiled = []


class CompileListener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)

    def on_end(self, ev):
        pass


event.register("numba:compile", CompileListener())

import skrnn  # noqa: E402
from skrnn import RNNClassifier, SequenceScaler  # noqa: E402
from skrnn.datasets import load_sunspots  # noqa: E402

packaged = Path(skrnn.__file__).resolve().parent / "_precompiled"
assert packaged.is_dir(), "the wheel holds no precompiled kernels (skrnn/_precompiled)"

here = Path(skrnn.__file__).resolve()
if "site-packages" not in here.parts:
    sys.exit(f"skrnn was imported from {here}, not from an installed wheel")
assert load_sunspots().data.shape[0] > 300  # package data shipped
rng = np.random.default_rng(0)
X = [rng.normal(size=(n, 2)) for n in rng.integers(4, 12, size=60)]
y = np.array([int(seq[:, 0].sum() > 0) for seq in X])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    X_scaled = SequenceScaler().fit_transform(X)
    for cell in ("rnn", "lstm", "gru"):
        clf = RNNClassifier(cell=cell, hidden_layer_sizes=(8,), max_iter=5, random_state=0)
        assert clf.fit(X_scaled, y).predict(X_scaled).shape == (60,)
if "--same-machine" in sys.argv:  # built here: the machine code must match this CPU
    assert not compiled, f"compiled on first use despite the packaged kernels: {compiled}"
print(f"skrnn {skrnn.__version__} from {here.parent}: fit and predict work; "
      f"{len(compiled)} kernels compiled on first use")
