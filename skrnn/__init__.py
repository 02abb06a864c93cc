"""skrnn: recurrent neural networks (RNN, LSTM, GRU) as scikit-learn estimators."""

from ._estimators import RNNClassifier, RNNRegressor
from ._parallel import get_num_threads, set_num_threads
from ._version import __version__

__all__ = ["RNNClassifier", "RNNRegressor", "__version__", "get_num_threads", "set_num_threads"]
