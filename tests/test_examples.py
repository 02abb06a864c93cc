"""The examples run as a newcomer would run them (with --quick)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name, *args, cwd):
    completed = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick", *args],
                               capture_output=True, text=True, timeout=300, cwd=cwd)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Warning" not in completed.stderr, completed.stderr[-3000:]
    return completed.stdout.strip().splitlines()[-1]


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
    assert (tmp_path / "plots" / "sunspots_forecast.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "sunspots_training.png").stat().st_size > 1000


@pytest.mark.slow
def test_text_classification(tmp_path):
    line = _run("text_classification.py", cwd=tmp_path)
    assert float(re.search(r"test accuracy ([0-9.]+)", line).group(1)) > 0.9
