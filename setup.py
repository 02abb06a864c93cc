"""Builds the Cython extension (skrnn._ingest) and the kernels' machine code; all other
metadata lives in pyproject.toml.

After the extension, the build compiles the Numba kernels into ``skrnn/_precompiled/`` (see
``skrnn/_aot.py``), so that a first fit in a fresh process loads machine code instead of
spending 10-20 s compiling it. That step takes about a minute; ``SKRNN_PRECOMPILE=0`` skips
it, and a failure only warns: the kernels then compile on first use, as they always could.
"""
import os
import subprocess
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

extensions = [
    Extension("skrnn._ingest", ["skrnn/_ingest.pyx"], include_dirs=[np.get_include()],
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
              extra_compile_args=["-O3"]),
]


class build_ext_and_kernels(build_ext):
    """``build_ext``, then the Numba kernels compiled into the package being built."""

    def run(self):
        super().run()
        if os.environ.get("SKRNN_PRECOMPILE", "1") == "0":
            print("skrnn: SKRNN_PRECOMPILE=0, the kernels will compile on first use")
            return
        # in place (an editable install): the source tree; otherwise the build tree
        root = os.path.dirname(os.path.abspath(__file__)) if self.inplace else self.build_lib
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [os.path.abspath(root)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
        result = subprocess.run(
            [sys.executable, "-c", "import skrnn._aot; skrnn._aot.main()"],
            cwd=root, env=env, capture_output=True, text=True)
        if result.returncode == 0:
            print(result.stdout.strip())
        else:
            print("skrnn: WARNING: precompiling the Numba kernels failed; they will compile on "
                  "first use instead.\n" + result.stderr[-2000:], file=sys.stderr)


setup(ext_modules=cythonize(extensions, language_level=3),
      cmdclass={"build_ext": build_ext_and_kernels})
