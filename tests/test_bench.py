"""The main job runs end to end in its quick form and writes its results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.mark.slow
def test_quick_bench_runs_and_writes_json(tmp_path):
    out = tmp_path / "results"
    completed = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    for section in ("1. Speed", "2. First use", "3. Digits", "4. Sunspots", "5. Data path",
                    "Language model", "6. Streaming", "Generation", "7. Shapes"):
        assert section in completed.stdout
    results = json.loads((out / "bench.json").read_text())
    assert {"machine", "speed", "first_use", "digits", "sunspots", "data_path",
            "streaming", "shapes"} <= set(results)
    ragged = results["data_path"]["ragged"]
    assert all(ragged[form]["ingest_us_per_sequence"] > 0 and ragged[form]["fit_epoch_s"] > 0
               and ragged[form]["predict_s"] > 0 for form in ("list", "3-D array"))
    assert results["data_path"]["language_model"]["skrnn_epoch_s"] > 0
    assert all(r["skrnn_step_us"] > 0 for r in results["streaming"]["steps"])
    assert results["streaming"]["generation"]["skrnn_tokens_per_s"] > 0
    speed = results["speed"]["results"]
    assert {r["cell"] for r in speed} == {"rnn", "lstm", "gru"}
    assert all(r["skrnn_epoch_s"] > 0 and r["skrnn_predict_us"] > 0 for r in speed)
    assert results["speed"]["matmul_peak_gflops"] > 0
    shapes = results["shapes"]["results"]
    assert len(shapes) >= 10 and all(r["skrnn_epoch_s"] > 0 for r in shapes)
    assert {"float32", "float64"} <= {r.get("dtype", "float32") for r in shapes}
    assert results["first_use"]["warm_cache"]["first_fit_s"] > 0
    digits = results["digits"]
    assert {r["solver"] for r in digits} == {"adam", "lbfgs"}
    assert all(0 < r["accuracy"] <= 1 and r["epochs"] >= 1 and r["fit_s"] > 0 for r in digits)
    sunspots = {r["model"]: r["rmse"] for r in results["sunspots"]["results"]}
    # the real series is forecastable: every model beats nothing, ridge beats naive
    assert sunspots["ridge on windows"] < sunspots["naive (last value)"]
    assert all(0 < rmse < 60 for rmse in sunspots.values())


def test_one_section_runs_alone(tmp_path):
    completed = subprocess.run([sys.executable, str(BENCH), "--quick", "--only", "sunspots",
                                "--out", str(tmp_path)], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "4. Sunspots" in completed.stdout and "1. Speed" not in completed.stdout
    assert set(json.loads((tmp_path / "bench.json").read_text())) == {"machine", "quick",
                                                                      "sunspots"}


def test_gpu_section_without_a_gpu_says_why(tmp_path):
    from skrnn._backend import cuda_available

    if cuda_available():
        pytest.skip("this machine has a GPU: the GPU section runs (see the gpu test)")
    completed = subprocess.run([sys.executable, str(BENCH), "--device", "cuda", "--quick",
                                "--out", str(tmp_path)], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode != 0
    assert "device='cuda' is not available" in completed.stderr


@pytest.mark.gpu
@pytest.mark.slow
def test_quick_gpu_bench_runs_and_writes_json(tmp_path):
    from skrnn._backend import cuda_available

    if not cuda_available():
        pytest.skip("no CUDA GPU: CuPy missing or sees no device")
    completed = subprocess.run([sys.executable, str(BENCH), "--device", "cuda", "--quick",
                                "--out", str(tmp_path)], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((tmp_path / "bench_cuda.json").read_text())["cuda"]["results"]
    assert {r["cell"] for r in results} == {"rnn", "lstm", "gru"}
    assert all(r["skrnn_cuda_s"] + r["skrnn_cuda_fixed_s"] > 0 for r in results)
