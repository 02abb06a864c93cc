"""skrnn: recurrent neural networks (RNN, LSTM, GRU) as scikit-learn estimators."""

__version__ = "0.1.0"

from ._estimators import RNNClassifier, RNNRegressor

__all__ = ["RNNClassifier", "RNNRegressor", "__version__"]
