"""The recurrent cells: one record per cell says everything the rest of skrnn needs of it.

A cell's equations live in its kernel file (``_kernels/_rnn.py``, ``_lstm.py``,
``_gru.py``: the Numba kernels) and in its step functions (``_kernels/_steps.py`` on NumPy,
``_backend/_cuda_steps.py`` on a GPU, run by the loops of ``_backend/_step.py``); its
record here says how to call them and what else about the cell differs: the gate count,
the buffers forward keeps for backward, the initial biases, GRU's split input gradient,
and the PyTorch and ONNX operators it maps to. Nothing else in skrnn branches on a cell's
name: to add a cell, write its kernels and steps and one record.

The kernels of every cell share an argument order, so that one caller serves them all::

    forward(x, w_ih, w_hh_t, b_ih, b_hh, lengths, *flags, *kept, h)
    backward(d_h, *backward_reads, w_hh, lengths, *flags, d_gates_hh, *backward_extra)
    predict(x, w_ih_panels, w_hh_panels, b_ih, b_hh, lengths, *flags, carried, *state, h)

``flags`` is ``(use_relu,)`` for a cell with ``takes_activation``, else empty.
"""

from dataclasses import dataclass, field

from ._backend import _step
from ._kernels import _gru, _lstm, _rnn


def _one_block(d_gates_hh_2d, extra, H):
    """The input projection's gradient is the recurrent product's: one block, every gate."""
    return [(d_gates_hh_2d, d_gates_hh_2d.shape[1])]


def _gru_blocks(d_gates_hh_2d, extra, H):
    """GRU: r and z as the recurrent product's, n apart (``r`` multiplies ``hw_n``)."""
    (d_n,) = extra
    return [(d_gates_hh_2d, 2 * H), (d_n.reshape(-1, H), H)]  # r z | n


@dataclass(frozen=True, eq=False)
class Cell:
    """Everything skrnn needs to know of one recurrent cell.

    Attributes
    ----------
    name : str
        The estimator's ``cell`` value.
    n_gates : int
        Gate blocks of ``weight_ih``/``weight_hh`` (each ``hidden`` rows).
    forward, backward, predict : Numba kernels
        The training time loops and the prediction one (see the module docstring).
    step_forward, step_backward : callable ``(backend, *kernel arguments)``
        The same time loops on a ``StepBackend`` (NumPy or CUDA steps).
    kept : tuple of (str, int)
        Buffers forward keeps for backward besides ``h``, in kernel argument order: name
        and width in hidden units.
    backward_reads : tuple of str
        What backward reads of forward's cache before ``w_hh``, in argument order.
    backward_extra : tuple of (str, int)
        Outputs of backward besides ``d_gates_hh``: name and width in hidden units.
    input_blocks : callable ``(d_gates_hh_2d, extra, H) -> [(array, columns)]``
        The input projection's gradient (and ``bias_ih``'s) as column blocks in gate order;
        columns past the first block get their own ``bias_hh`` gradient.
    takes_activation : bool
        The kernels take ``use_relu`` (the simple RNN's tanh or relu).
    n_states : int
        Recurrent state arrays (h; h and c for an LSTM).
    initial_bias_ih : tuple of (int, float)
        Gate blocks of ``bias_ih`` that start non-zero (the LSTM's forget gate at 1).
    stored_per_unit : int
        Floats a training step stores per step, sequence and hidden unit (``_memory``).
    torch_module : str
        The ``torch.nn`` class with the same equations and ``state_dict``.
    onnx_op, onnx_gate_order, onnx_attributes
        The ONNX operator, ONNX's gate order as indices of skrnn's blocks, and its fixed
        attributes.
    """

    name: str
    n_gates: int
    forward: object
    backward: object
    predict: object
    step_forward: object
    step_backward: object
    kept: tuple = ()
    backward_reads: tuple = ("h",)
    backward_extra: tuple = ()
    input_blocks: object = _one_block
    takes_activation: bool = False
    n_states: int = 1
    initial_bias_ih: tuple = ()
    stored_per_unit: int = 0
    torch_module: str = ""
    onnx_op: str = ""
    onnx_gate_order: tuple = (0,)
    onnx_attributes: dict = field(default_factory=dict)

    def flags(self, spec):
        """The kernels' flags for a network ``spec``: ``(use_relu,)`` or ``()``."""
        return (spec.activation == "relu",) if self.takes_activation else ()


CELLS = {cell.name: cell for cell in (
    Cell("rnn", 1, _rnn.rnn_forward, _rnn.rnn_backward, _rnn.rnn_predict,
         _step.rnn_step_forward, _step.rnn_step_backward,
         takes_activation=True,
         # h, d_pre, d_h
         stored_per_unit=3, torch_module="RNN", onnx_op="RNN"),
    Cell("lstm", 4, _lstm.lstm_forward, _lstm.lstm_backward, _lstm.lstm_predict,
         _step.lstm_step_forward, _step.lstm_step_backward,
         kept=(("gates", 4), ("c", 1)), backward_reads=("gates", "c"), n_states=2,
         initial_bias_ih=((1, 1.0),),  # the forget gate: remember by default
         # gates 4, c, h, d_gates 4, d_h
         stored_per_unit=11, torch_module="LSTM", onnx_op="LSTM",
         onnx_gate_order=(0, 3, 1, 2)),  # ONNX: i, o, f, c
    Cell("gru", 3, _gru.gru_forward, _gru.gru_backward, _gru.gru_predict,
         _step.gru_step_forward, _step.gru_step_backward,
         kept=(("gates", 3), ("hw_n", 1)), backward_reads=("gates", "hw_n", "h"),
         backward_extra=(("d_n", 1),), input_blocks=_gru_blocks,
         # gates 3, hw_n, h, d_gates_hh 3, d_n, d_h
         stored_per_unit=10, torch_module="GRU", onnx_op="GRU",
         onnx_gate_order=(1, 0, 2),  # ONNX: z, r, h
         onnx_attributes={"linear_before_reset": 1}),  # PyTorch's r * (W_hn h + b_hn)
)}
