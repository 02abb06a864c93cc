"""skrnn: recurrent neural networks (RNN, LSTM, GRU) as scikit-learn estimators."""

from ._estimators import RNNClassifier, RNNRegressor
from ._forecasting import recursive_forecast, sliding_windows
from ._impute import SequenceImputer
from ._interop import to_onnx, to_torch
from ._parallel import get_num_threads, set_num_threads
from ._preprocessing import SequenceScaler
from ._resample import resample, time_deltas
from ._stream import Stream, generate
from ._version import __version__
from ._aot import use_packaged_kernels

use_packaged_kernels()  # prebuilt machine code first, then Numba's own cache (see _aot)
del use_packaged_kernels

__all__ = [
    "RNNClassifier",
    "RNNRegressor",
    "SequenceImputer",
    "SequenceScaler",
    "Stream",
    "__version__",
    "generate",
    "get_num_threads",
    "recursive_forecast",
    "resample",
    "set_num_threads",
    "sliding_windows",
    "time_deltas",
    "to_onnx",
    "to_torch",
]
