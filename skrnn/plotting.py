"""Plots in scikit-learn's Display convention (matplotlib is optional).

Each display stores what it draws; ``plot`` draws it, and the class methods build one from
an estimator or from predictions and plot it. After plotting, ``ax_`` and ``figure_`` hold
the matplotlib axes and figure.
"""

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import check_is_fitted

from ._estimators import BaseRNN

__all__ = ["ForecastDisplay", "TrainingCurveDisplay"]


def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def _fitted_rnn(estimator):
    """The fitted RNNRegressor or RNNClassifier inside ``estimator``: itself, the last step
    of a Pipeline, a search's ``best_estimator_``, a TransformedTargetRegressor's
    ``regressor_`` (nested in any order)."""
    seen = estimator
    while not isinstance(seen, BaseRNN):
        if hasattr(seen, "steps"):  # Pipeline
            seen = seen.steps[-1][1]
        elif hasattr(seen, "best_estimator_"):
            seen = seen.best_estimator_
        elif hasattr(seen, "regressor_"):
            seen = seen.regressor_
        elif hasattr(seen, "regressor") or hasattr(seen, "refit"):
            check_is_fitted(seen)  # an unfitted TransformedTargetRegressor or search
            raise ValueError(f"{type(seen).__name__} has no refitted estimator to plot: "
                             "fit it with refit=True, or pass the RNN estimator itself.")
        else:
            raise TypeError("TrainingCurveDisplay.from_estimator needs a fitted RNNRegressor "
                            "or RNNClassifier, alone or inside a Pipeline, a search or a "
                            f"TransformedTargetRegressor; got {type(estimator).__name__}.")
    check_is_fitted(seen, "loss_curve_")
    return seen


class TrainingCurveDisplay:
    """Training loss (and validation score, with early stopping) per epoch.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
    validation_scores : array-like of shape (n_epochs,) or None
    estimator_name : str or None
    best_epoch : int or None
        The epoch whose weights the estimator kept (1-based), marked by a vertical line:
        with early stopping, the one with the best validation score.

    Attributes
    ----------
    loss_line_ : matplotlib Line2D
    validation_line_ : matplotlib Line2D or None
        On a second y axis (``validation_ax_``).
    best_epoch_line_ : matplotlib Line2D or None
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrnn.plotting import TrainingCurveDisplay
    >>> display = TrainingCurveDisplay([0.9, 0.5, 0.4], [0.6, 0.8, 0.75], best_epoch=2).plot()
    >>> display.ax_.get_xlabel()
    'epoch'
    >>> display.best_epoch_line_.get_label()
    'restored best epoch (2)'
    """

    def __init__(self, loss_curve, validation_scores=None, estimator_name=None,
                 best_epoch=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name
        self.best_epoch = best_epoch

    def plot(self, ax=None, **line_kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes or None
            Where to draw; a new figure when None.
        **line_kwargs
            Passed to the loss line.

        Returns
        -------
        self
        """
        check_matplotlib_support("TrainingCurveDisplay.plot")
        ax = _axes(ax)
        epochs = np.arange(1, len(self.loss_curve) + 1)
        (self.loss_line_,) = ax.plot(epochs, self.loss_curve, label="training loss",
                                     **line_kwargs)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        self.validation_line_ = self.validation_ax_ = None
        lines = [self.loss_line_]
        if self.validation_scores is not None and len(self.validation_scores):
            self.validation_ax_ = ax.twinx()
            (self.validation_line_,) = self.validation_ax_.plot(
                epochs[:len(self.validation_scores)], self.validation_scores, color="C1",
                label="validation score")
            self.validation_ax_.set_ylabel("validation score")
            lines.append(self.validation_line_)
        self.best_epoch_line_ = None
        if self.best_epoch is not None:
            self.best_epoch_line_ = ax.axvline(self.best_epoch, color="gray", linestyle=":",
                                               label=f"restored best epoch ({self.best_epoch})")
            lines.append(self.best_epoch_line_)
        ax.legend(lines, [line.get_label() for line in lines], loc="best")
        if self.estimator_name:
            ax.set_title(self.estimator_name)
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, ax=None, **line_kwargs):
        """Plot a fitted RNNRegressor or RNNClassifier's training curves.

        With early stopping, the validation score per epoch goes on a second axis and a
        vertical line marks the epoch whose weights were restored (the best score).

        Parameters
        ----------
        estimator : fitted RNNRegressor or RNNClassifier
            Or a fitted Pipeline ending in one, a search (``GridSearchCV`` ...) refitted on
            one, or a ``TransformedTargetRegressor`` around one: the display plots the
            fitted RNN estimator inside.
        ax : matplotlib Axes or None
        **line_kwargs

        Returns
        -------
        display : TrainingCurveDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        rnn = _fitted_rnn(estimator)
        scores = rnn.validation_scores_
        best_epoch = int(np.argmax(scores)) + 1 if scores else None
        return cls(rnn.loss_curve_, scores, type(rnn).__name__, best_epoch).plot(
            ax=ax, **line_kwargs)


class ForecastDisplay:
    """Observed values and forecasts over time.

    Parameters
    ----------
    y_true : array-like of shape (n_steps,)
    y_pred : array-like of shape (n_steps,)
    index : array-like of shape (n_steps,) or None
        x positions (years, timestamps); 0, 1, ... by default.
    label : str, default="forecast"

    Attributes
    ----------
    true_line_, pred_line_ : matplotlib Line2D
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrnn.plotting import ForecastDisplay
    >>> display = ForecastDisplay.from_predictions([1.0, 2.0, 3.0], [1.1, 1.9, 3.2])
    >>> len(display.pred_line_.get_xdata())
    3
    """

    def __init__(self, y_true, y_pred, index=None, label="forecast"):
        self.y_true = y_true
        self.y_pred = y_pred
        self.index = index
        self.label = label

    def plot(self, ax=None, **line_kwargs):
        """Draw the observed series and the forecast.

        Parameters
        ----------
        ax : matplotlib Axes or None
        **line_kwargs
            Passed to the forecast line.

        Returns
        -------
        self
        """
        check_matplotlib_support("ForecastDisplay.plot")
        y_true, y_pred = np.ravel(self.y_true), np.ravel(self.y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true and y_pred need one value per step each; got "
                             f"{y_true.shape} and {y_pred.shape}.")
        index = np.arange(len(y_true)) if self.index is None else np.ravel(self.index)
        if index.shape != y_true.shape:
            raise ValueError(f"index has {index.shape[0]} positions for {y_true.shape[0]} steps.")
        ax = _axes(ax)
        (self.true_line_,) = ax.plot(index, y_true, color="black", linewidth=2,
                                     label="observed")
        (self.pred_line_,) = ax.plot(index, y_pred, label=self.label, **line_kwargs)
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_predictions(cls, y_true, y_pred, index=None, label="forecast", ax=None,
                         **line_kwargs):
        """Plot a forecast against the observed values.

        Parameters
        ----------
        y_true, y_pred : array-like of shape (n_steps,)
        index : array-like of shape (n_steps,) or None
        label : str, default="forecast"
        ax : matplotlib Axes or None
        **line_kwargs

        Returns
        -------
        display : ForecastDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_predictions")
        return cls(y_true, y_pred, index, label).plot(ax=ax, **line_kwargs)
