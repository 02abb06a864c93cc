"""Builds the Cython extension (skrnn._ingest); all other metadata lives in pyproject.toml."""
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension("skrnn._ingest", ["skrnn/_ingest.pyx"], include_dirs=[np.get_include()],
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
              extra_compile_args=["-O3"]),
]

setup(ext_modules=cythonize(extensions, language_level=3))
