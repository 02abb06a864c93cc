"""Progress reporting with verbose=True: a tqdm bar or plain lines."""

import io

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier
from skrnn._progress import EpochProgress


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 2))
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def test_plain_lines_carry_epoch_loss_validation_and_eta():
    stream = io.StringIO()
    progress = EpochProgress(4, "RNNClassifier", use_tqdm=False, stream=stream)
    progress.update(1, 0.5, 0.75)
    progress.update(2, 0.25)
    progress.note("Stopping.")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("RNNClassifier epoch 1 (1/4): loss = 0.50000000, "
                               "validation score = 0.750000 [")
    assert "ETA" in lines[0] and "elapsed" in lines[0]
    assert "validation" not in lines[1] and lines[2] == "Stopping."


def test_tqdm_bar_when_installed():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    progress = EpochProgress(3, "RNNRegressor", stream=stream)
    progress.update(1, 0.5, 0.9)
    progress.close()
    text = stream.getvalue()
    assert "RNNRegressor" in text and "loss=0.5" in text and "validation=0.9" in text
    assert "1/3" in text


def test_verbose_fit_reports_every_epoch(capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # no tqdm: plain lines
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    X, y = _data()
    clf = RNNClassifier(hidden_layer_sizes=(4,), max_iter=3, early_stopping=True,
                        verbose=True, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf.fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert len(lines) == 3 and all("validation score" in line for line in lines)
