"""The examples run as a newcomer would run them (with --quick)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _run(name, *args, cwd):
    # the skrnn of this checkout, whichever one the environment has installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick", *args],
                               capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Warning" not in completed.stderr, completed.stderr[-3000:]
    return completed.stdout


@pytest.mark.slow
def test_ragged_classification(tmp_path):
    line = _run("ragged_classification.py", cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", line).group(1))
    assert "240 traces" in line and accuracy > 0.5


@pytest.mark.slow
def test_forecast_sunspots_with_plots(tmp_path):
    line = _run("forecast_sunspots.py", "--out", str(tmp_path / "plots"), cwd=tmp_path)
    rmse, naive = map(float, re.search(r"RMSE ([0-9.]+) \(naive ([0-9.]+)\)", line).groups())
    assert rmse < naive
    assert len(re.search(r"forecast 2009-2019: (.*)", line).group(1).split()) == 11
    assert re.search(r"wrote \S+sunspots_forecast.png and \S+sunspots_training.png", line)
    assert (tmp_path / "plots" / "sunspots_forecast.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "sunspots_training.png").stat().st_size > 1000


@pytest.mark.slow
def test_text_classification(tmp_path):
    line = _run("text_classification.py", cwd=tmp_path)
    assert float(re.search(r"test accuracy ([0-9.]+)", line).group(1)) > 0.9


@pytest.mark.slow
def test_missing_values(tmp_path):
    line = _run("missing_values.py", cwd=tmp_path)
    share, best, worst, complete = re.search(
        r"([0-9.]+)% missing: best .* ([0-9.]+), worst ([0-9.]+), complete data ([0-9.]+)",
        line).groups()
    assert 10 <= float(share) <= 30
    assert 0.5 < float(worst) <= float(best) and float(complete) > 0.7


@pytest.mark.slow
def test_char_language_model(tmp_path):
    line = _run("char_language_model.py", cwd=tmp_path)
    model, unigram, alphabet = map(float, re.search(
        r"held-out perplexity ([0-9.]+), unigram ([0-9.]+), alphabet ([0-9]+)", line).groups())
    assert 1 < model < unigram < alphabet  # it learned more than the letters' frequencies


@pytest.mark.slow
def test_onnx_deployment(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    line = _run("onnx_deployment.py", "--out", str(tmp_path), cwd=tmp_path)
    assert re.search(r"ONNX Runtime [0-9]+ us", line)
    assert (tmp_path / "digits_gru.onnx").stat().st_size > 1000


@pytest.mark.slow
def test_dask_scale_out(tmp_path):
    pytest.importorskip("distributed")
    line = _run("dask_scale_out.py", cwd=tmp_path)
    r2 = float(re.search(r"lbfgs train R2 (-?[0-9.]+)", line).group(1))
    first, last = map(float, re.search(r"adam loss ([0-9.]+) -> ([0-9.]+)", line).groups())
    assert "n_sequences 2000" in line and r2 > 0 and last < first
