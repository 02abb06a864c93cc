"""The recurrent network: parameters, one workspace, training passes and prediction.

- ``_params``: ``NetworkSpec``, the parameters' names and shapes (PyTorch's
  ``state_dict``) and their initial values;
- ``_workspace``: the arrays a fit reuses between steps;
- ``_layers``: one layer direction's time loop and gradients (``cell_forward``,
  ``cell_backward``), and the two directions of a bidirectional layer;
- ``_training``: ``forward``, ``backward`` and ``forward_backward`` over the whole
  network, batch chunk by batch chunk;
- ``_prediction``: ``predict`` and the pieces a ``Stream`` runs step by step.
"""

from ._layers import cell_backward, cell_forward, time_reversal_index
from ._params import NetworkSpec, init_params, param_shapes, set_writeable
from ._prediction import (predict, predict_each_alone, predict_head, predict_layer,
                          prediction_layer_weights, prediction_state, prediction_weights)
from ._training import backward, draw_dropout_masks, forward, forward_backward
from ._workspace import Workspace

__all__ = ["NetworkSpec", "Workspace", "backward", "cell_backward", "cell_forward",
           "draw_dropout_masks", "forward", "forward_backward", "init_params",
           "param_shapes", "predict", "predict_each_alone", "predict_head", "predict_layer",
           "prediction_layer_weights", "prediction_state", "prediction_weights",
           "set_writeable", "time_reversal_index"]
