"""Memory a fit or a prediction will take, estimated from shapes before anything is allocated.

A fit or a prediction that does not fit in memory should fail with a ``MemoryError`` that
says how much it needs, how much there is and what to change, not be killed by the
operating system's out-of-memory killer with no Python error. The estimates count what
skrnn allocates besides the data already validated: the weights and their copies, the
optimiser's state, each batch's stored activations and gradients, the head's outputs and
the loss's temporaries, and the targets' encoding; they were checked against the peak that
``tracemalloc`` measured (tests/test_memory.py).
"""

import math

from ._cells import CELLS
from ._network import param_shapes

# Floats per step, sequence and output of the head and the loss: with dense targets the raw
# output, its gradient, the loss's temporaries and the valid steps' copies of outputs,
# targets and gradients; with class indices (multiclass) only the raw output, which the
# fused softmax overwrites with its gradient.
_HEAD_FLOATS_PER_OUTPUT = 9
_HEAD_FLOATS_PER_CLASS = 1
# Below this, no machine that runs Python at all lacks the memory: not worth a look.
_UNCHECKED_BYTES = 64 * 2**20
# Arrays the size of the weights that each solver keeps (lbfgs: about 25 float64 vectors,
# the flat weights and gradient and SciPy's L-BFGS-B memory of 10 pairs; counted in
# float64, see fit_bytes).
_OPTIMIZER_SLOTS = {"adam": 2, "sgd": 1, "rmsprop": 1, "lbfgs": 25}


def available_bytes():
    """Memory this process may still allocate, in bytes, or None where it cannot be told.

    The smaller of the system's available memory (``MemAvailable``, which counts the page
    cache that can be dropped) and what is left under this process's control-group limit
    (a container's memory limit).
    """
    candidates = []
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as f:
                limit = f.read().strip()
            with open(usage_file) as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            candidates.append(max(int(limit) - usage, 0))
        break
    return min(candidates) if candidates else None


def _gib(n_bytes):
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**27 else f"{n_bytes / 2**20:.0f} MiB"


def check_fits(needed, doing, remedy):
    """Raise a ``MemoryError`` when ``needed`` (a dict of bytes by what they hold) exceeds
    the memory available.

    Parameters
    ----------
    needed : dict of str to int
        The estimate, by part ("activations", "weights and optimiser state", ...).
    doing : str
        What would need it ("Fitting this RNNClassifier"), the message's subject.
    remedy : str
        What to change, for the largest parts.
    """
    total = sum(needed.values())
    if total < _UNCHECKED_BYTES:  # spares reading the system's figures on every call
        return
    available = available_bytes()
    if available is None or total <= available:
        return
    parts = ", ".join(f"{what} {_gib(size)}" for what, size in
                      sorted(needed.items(), key=lambda item: -item[1])
                      if size >= total / 100)
    raise MemoryError(f"{doing} needs about {_gib(total)} of memory ({parts}), but only "
                      f"{_gib(available)} is available. {remedy}")


def _layer_floats_per_step(spec, training):
    """Floats per step and sequence that the recurrent layers keep at once."""
    if not training:
        # the batch's input, then per layer its input (contiguous), each direction's output
        # and, with two directions, their concatenation and the reversed input and output;
        # one layer's arrays live at a time
        layers = [n_in + (4 * hidden + n_in if spec.bidirectional else hidden)
                  for n_in, hidden in zip(map(spec.layer_input_size, range(len(
                      spec.hidden_layer_sizes))), spec.hidden_layer_sizes)]
        return spec.n_features + max(layers)
    total = 0
    for layer, hidden in enumerate(spec.hidden_layer_sizes):
        n_in = spec.layer_input_size(layer)
        out = hidden * spec.n_directions
        # per direction: stored activations and their gradients, the input's copy, the
        # input with a column of ones (weight gradients) and the input's gradient
        # (``stored_per_unit``: forward's stored gates and states and backward's gate and
        # state gradients)
        per_direction = CELLS[spec.cell].stored_per_unit * hidden + 3 * n_in + 1
        # the direction outputs' concatenation, its gradient, and dropout's mask
        total += spec.n_directions * per_direction + 2 * out + (out if spec.dropout else 0)
        if spec.bidirectional:  # sequences reversed in time: input, output, gradient
            total += n_in + 2 * hidden
    if spec.vocab_size is not None:
        total += 2 * spec.n_features  # the embedded input and its gradient
    return total


def n_parameters(spec):
    """Number of weights of the network ``spec`` describes."""
    return sum(math.prod(shape) for shape in param_shapes(spec).values())


def fit_bytes(spec, n_steps, batch_size, n_chunks, itemsize, solver, early_stopping,
              class_indices=False):
    """Estimated working memory of a fit, by part, in bytes.

    Parameters
    ----------
    spec : NetworkSpec
    n_steps : int
        The longest sequence (the longest batch's steps).
    batch_size : int
    n_chunks : int
        Chunks a batch is split into (each keeps its own gradients).
    itemsize : int
        Bytes per float of the model's dtype.
    solver : str
        The optimiser, which keeps state the size of the weights (adam twice).
    early_stopping : bool
        The best validation weights are kept too.
    class_indices : bool
        The targets are class indices (a multiclass softmax head), not dense rows.
    """
    steps = n_steps * batch_size
    head_per_step = spec.n_outputs * (_HEAD_FLOATS_PER_CLASS if class_indices
                                      else _HEAD_FLOATS_PER_OUTPUT)
    head_floats = steps * head_per_step if spec.return_sequences else batch_size * head_per_step
    # weights, the copies kept to restore after Ctrl-C or divergence (at the start, after
    # the last epoch, before the last batch), the best ones, each chunk's gradients
    solver_slots = _OPTIMIZER_SLOTS.get(solver, 2) * (8 // itemsize if solver == "lbfgs" else 1)
    weight_copies = 1 + 3 + int(early_stopping) + n_chunks + solver_slots
    return {
        "activations": steps * _layer_floats_per_step(spec, training=True) * itemsize,
        "head and loss": head_floats * itemsize,
        "weights, gradients and optimiser state":
            n_parameters(spec) * weight_copies * itemsize,
    }


def predict_bytes(spec, n_sequences, n_steps, batch_size, itemsize):
    """Estimated working memory of a prediction, by part, in bytes.

    The float64 outputs of every sequence (filled batch by batch; ``predict`` and
    ``predict_proba`` then make one more array of them) and one batch's layer activations.
    """
    rows = n_sequences * (n_steps if spec.return_sequences else 1)
    return {
        "outputs": rows * spec.n_outputs * 2 * 8,
        "activations": (min(batch_size, n_sequences) * n_steps
                        * _layer_floats_per_step(spec, training=False) * itemsize),
    }


def check_vocabulary(vocab_size, embedding_dim, itemsize, largest_id):
    """A ``MemoryError`` when the embedding implied by the largest token id cannot fit.

    A fit keeps the embedding several times over (weights, gradients, optimiser state,
    copies): an id of 2**27 alone means a table of 134 million rows.
    """
    table = vocab_size * embedding_dim * itemsize
    check_fits({"embedding table and its copies": 8 * table},
               f"The largest token id, {largest_id}, implies a vocabulary of {vocab_size:,} "
               f"ids; an embedding of {vocab_size:,} x {embedding_dim} weights",
               "Token ids index the embedding's rows: re-index them to 0 .. n_unique - 1 "
               "(np.unique(ids, return_inverse=True), or sklearn's OrdinalEncoder) before "
               "fitting.")


def memory_remedy(estimator_name, batch_size):
    """What to change when a fit would not fit."""
    return (f"Use a smaller batch_size (now {batch_size}; activations grow with batch_size x "
            "the longest sequence's steps), or fewer or smaller layers, or fewer outputs. In a "
            f"search with n_jobs, each worker fits its own {estimator_name}: use fewer jobs.")
