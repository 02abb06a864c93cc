"""The documentation site builds with warnings as errors (broken references fail), API
reference, user guide and example gallery included."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

for name in ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser", "pydata_sphinx_theme"):
    pytest.importorskip(name, reason="the docs extra is not installed: pip install -e '.[docs]'")


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    # the skrnn of this checkout, whichever one the environment has installed
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    out = tmp_path / "html"
    completed = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT, env=env)
    assert completed.returncode == 0, completed.stderr[-5000:]
    for page in ("index.html", "user_guide/deployment.html", "generated/skrnn.RNNClassifier.html",
                 "generated/skrnn.onnx.to_onnx.html"):
        assert (out / page).is_file(), page
    if os.environ.get("SKRNN_DOCS_RUN_EXAMPLES", "1") == "1":
        gallery = (out / "auto_examples" / "forecast_sunspots.html").read_text()
        assert "RMSE" in gallery  # the example ran and its output is on the page
