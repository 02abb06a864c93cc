"""Displays render with the Agg backend."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNRegressor
from skrnn.plotting import ForecastDisplay, TrainingCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def test_training_curve_from_estimator(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 2))
    y = X[:, :, 0].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = RNNRegressor(hidden_layer_sizes=(4,), max_iter=6, early_stopping=True,
                           n_iter_no_change=50, random_state=0).fit(X, y)
    display = TrainingCurveDisplay.from_estimator(reg)
    np.testing.assert_array_equal(display.loss_line_.get_ydata(), reg.loss_curve_)
    np.testing.assert_array_equal(display.validation_line_.get_ydata(), reg.validation_scores_)
    assert display.ax_.get_title() == "RNNRegressor"
    display.figure_.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000
    no_validation = TrainingCurveDisplay([1.0, 0.5]).plot()
    assert no_validation.validation_line_ is None


def test_forecast_display(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    display = ForecastDisplay.from_predictions([1, 2, 3], [1.5, 2, 2.5], index=[2000, 2001, 2002],
                                               label="gru", ax=ax, linestyle="--")
    assert display.ax_ is ax and display.pred_line_.get_linestyle() == "--"
    np.testing.assert_array_equal(display.true_line_.get_xdata(), [2000, 2001, 2002])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["observed", "gru"]
    with pytest.raises(ValueError, match="one value per step"):
        ForecastDisplay.from_predictions([1, 2], [1, 2, 3])
    display.figure_.savefig(tmp_path / "forecast.png")
