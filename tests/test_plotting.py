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


def test_training_curve_marks_the_restored_best_epoch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 5, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = RNNRegressor(hidden_layer_sizes=(4,), max_iter=12, early_stopping=True,
                           n_iter_no_change=50, random_state=0).fit(X, X[:, :, 0].sum(1))
        plain = RNNRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
        plain.fit(X, X[:, 0, 0])
    display = TrainingCurveDisplay.from_estimator(reg)
    best = int(np.argmax(reg.validation_scores_)) + 1
    assert display.best_epoch == best
    assert list(display.best_epoch_line_.get_xdata()) == [best, best]
    labels = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert labels == ["training loss", "validation score", f"restored best epoch ({best})"]
    without = TrainingCurveDisplay.from_estimator(plain)
    assert without.best_epoch_line_ is None and without.validation_line_ is None


def test_training_curve_unwraps_pipelines_searches_and_target_transformers():
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    from skrnn import SequenceScaler

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 5, 2))
    y = X[:, :, 0].sum(1)
    rnn = RNNRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    pipe = make_pipeline(SequenceScaler(), rnn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        wrapped = TransformedTargetRegressor(GridSearchCV(pipe, {"rnnregressor__max_iter": [2, 3]},
                                                          cv=2)).fit(X, y)
        no_refit = GridSearchCV(rnn, {"max_iter": [2]}, cv=2, refit=False).fit(X, y)
    inner = wrapped.regressor_.best_estimator_[-1]
    display = TrainingCurveDisplay.from_estimator(wrapped)
    np.testing.assert_array_equal(display.loss_line_.get_ydata(), inner.loss_curve_)
    with pytest.raises(NotFittedError, match="RNNRegressor"):
        TrainingCurveDisplay.from_estimator(make_pipeline(SequenceScaler(), RNNRegressor()))
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(GridSearchCV(rnn, {"max_iter": [2]}))
    with pytest.raises(ValueError, match="refit=True"):
        TrainingCurveDisplay.from_estimator(no_refit)
    with pytest.raises(TypeError, match="RNNRegressor or RNNClassifier"):
        TrainingCurveDisplay.from_estimator(SequenceScaler().fit(X))
