"""Who owns the cores: skrnn's batch-chunk threads, with BLAS kept to one thread meanwhile.

NumPy and SciPy each bundle an OpenBLAS with its own thread pool, and Numba's ``np.dot``
inside the kernels calls SciPy's. Two pools spinning on two cores slow one LSTM step about
threefold, and a BLAS call per time step cannot be split efficiently anyway. So during
training and batched prediction skrnn limits every BLAS to one thread and instead splits
each batch into chunks, each chunk running the whole network (matrix products and kernels,
which release the GIL) on its own: no barrier per time step.

A training batch is split by a plan that depends on its size alone (``batch_chunks``), so
the gradients, summed chunk by chunk in a fixed order, are the same bits whatever the
number of threads; the threads only decide who computes which chunks. Prediction computes
each sequence alone anyway, so it splits by threads (``thread_chunks``).

The first group of chunks runs in the calling thread, group i on skrnn's worker thread i,
each worker with a queue of its own, so a batch wakes one thread on 2 cores. Between batches a worker
spins for a while on a flag instead of sleeping on its queue, and the caller spins on the
workers' flags when it waits for their chunks (``_sync``): a thread woken from a
sleep started 50-90 us late here, twice a batch.

The thread count is, in order: ``set_num_threads``; the ``SKRNN_NUM_THREADS`` environment
variable; ``OMP_NUM_THREADS`` (joblib sets it in its workers to their share of the cores);
the cores this process may run on.
"""

import contextlib
import os
import queue
import threading
from concurrent.futures import Future

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS Numba calls, so it is limited too)
from threadpoolctl import ThreadpoolController

from ._fpenv import flush_denormals
from ._sync import await_flag, signal_then_await

# A training batch's chunks: the largest power of two (so that 1, 2, 4, 8 or 16 threads
# share them evenly) of at least _CHUNK_ROWS sequences each, at most _MAX_CHUNKS. Each chunk
# costs 20-100 us of Python and packing besides its arithmetic: on 2 cores, 4 chunks of 16
# made a batch of 64 5-17% slower than 2 chunks of 32 (rnn/lstm/gru at hidden 32-256).
# But a batch of 32-63 still splits in two (chunks of _PAIR_ROWS or more): in one chunk it
# ran on one core, and an LSTM-128 epoch at batch 32 took 1.12 s against PyTorch's 0.84.
_CHUNK_ROWS = 32
_PAIR_ROWS = 16
_MAX_CHUNKS = 16
_ROW_BLOCK = 4  # chunk bounds at multiples of this: whole row blocks for the GEMM kernel
_MIN_CHUNK = 8  # samples: in prediction, below this a thread costs more than it saves
# pauses a waiting thread spins on a flag before it sleeps: about 1 ms at the 11 ns a
# pause took here (the serial work between two batches took 0.1-0.6 ms)
_SPINS = 100_000
_POSTED, _DONE = 0, 8  # a worker's flags: tasks posted to it, tasks it finished

_state = threading.local()
_lock = threading.Lock()
_num_threads = None
_workers = []  # the worker threads' _Worker handles
_workers_pid = None
_controller = None


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def get_num_threads():
    """Threads skrnn uses for training and batched prediction."""
    if _num_threads is not None:
        return _num_threads
    for variable in ("SKRNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.strip().isdigit() and int(value) > 0:
            return min(int(value), available_cores())
    return available_cores()


def set_num_threads(n_threads):
    """Set the threads skrnn uses (None: back to the default).

    Parameters
    ----------
    n_threads : int or None
    """
    global _num_threads
    if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
        raise ValueError(f"n_threads must be a positive int or None, got {n_threads!r}.")
    _num_threads = n_threads


class _Worker:
    """A worker thread: its task queue, and its flags (tasks posted to it and tasks it
    finished, a cache line apart). The queue and the futures carry the tasks and their
    results; the flags only spare the sleeps, so a flag that lags costs a sleep, not a
    result."""

    def __init__(self, name):
        self.tasks = queue.SimpleQueue()
        self.flags = np.zeros(16, np.int64)
        self.posted = 0
        threading.Thread(target=_worker_loop, args=(self.tasks, self.flags), daemon=True,
                         name=name).start()

    def post(self, future, fn, item):
        """Queue ``fn(item)``, its result to go to ``future``."""
        self.tasks.put((future, fn, item))
        self.posted += 1
        self.flags[_POSTED] = self.posted  # ends the worker's spin, if it still spins

    def await_done(self):
        """Spin until the worker has finished every task posted to it; False if it had not
        within ``_SPINS`` pauses (then wait on the futures)."""
        return await_flag(self.flags, _DONE, self.posted, _SPINS)


def _worker_loop(tasks, flags):
    """Run (future, fn, item) tasks from this worker's queue, forever."""
    _state.inside = True
    done = 0
    while True:
        future, fn, item = tasks.get()  # at once when the spin saw the task posted
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(item))
            except BaseException as error:  # noqa: BLE001 (handed to the caller)
                future.set_exception(error)
        done += 1
        # tell the caller, then watch for the next task, taking no GIL in between
        signal_then_await(flags, _DONE, done, _POSTED, done + 1, _SPINS)


def _worker_pool(n_workers):
    """``n_workers`` worker threads (started on first use, again after a fork)."""
    global _workers, _workers_pid
    with _lock:
        if _workers_pid != os.getpid():
            _workers, _workers_pid = [], os.getpid()
        while len(_workers) < n_workers:
            _workers.append(_Worker(f"skrnn-{len(_workers) + 1}"))
        return _workers[:n_workers]


def batch_chunks(n_samples):
    """Contiguous slices splitting a training batch, the same whatever the thread count.

    The gradient of a batch is the sum of its chunks' gradients in chunk order; a plan that
    depends on ``n_samples`` alone makes it bit-identical for any number of threads.
    """
    n_chunks = 1 if n_samples < 2 * _PAIR_ROWS else 2
    while 2 * n_chunks <= min(_MAX_CHUNKS, n_samples // _CHUNK_ROWS):
        n_chunks *= 2
    bounds = [_ROW_BLOCK * round(i * n_samples / (_ROW_BLOCK * n_chunks))
              for i in range(n_chunks)] + [n_samples]
    return [slice(bounds[i], bounds[i + 1]) for i in range(n_chunks)]


def thread_chunks(n_samples, n_threads=None):
    """Contiguous slices splitting a batch into one chunk per thread (for work whose result
    does not depend on how it is split, such as prediction)."""
    if n_samples < 2 * _MIN_CHUNK:  # one chunk whatever the threads (spares a system call)
        return [slice(0, n_samples)]
    n_threads = get_num_threads() if n_threads is None else n_threads
    n_chunks = max(1, min(n_threads, n_samples // _MIN_CHUNK))
    bounds = [round(i * n_samples / n_chunks) for i in range(n_chunks + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(n_chunks)]


def map_chunks(fn, chunks):
    """``[fn(chunk) for chunk in chunks]`` on skrnn's threads.

    The chunks are dealt out in contiguous groups, one group per thread (at most
    ``get_num_threads()`` threads): the first group in the calling thread, each other on a
    worker thread of its own, each group's chunks one after the other. Each chunk runs with
    denormal floats flushed to zero (see ``_fpenv``). An error in a chunk is raised
    once every group has finished.
    """
    def run_group(group):
        with flush_denormals():
            return [fn(chunk) for chunk in group]

    n_groups = 1 if getattr(_state, "inside", False) else min(get_num_threads(), len(chunks))
    if n_groups <= 1:
        return run_group(chunks)
    groups = [chunks[len(chunks) * g // n_groups:len(chunks) * (g + 1) // n_groups]
              for g in range(n_groups)]

    workers = _worker_pool(n_groups - 1)
    futures = [Future() for _ in workers]
    for worker, future, group in zip(workers, futures, groups[1:]):
        worker.post(future, run_group, group)
    _state.inside = True
    try:
        first = run_group(groups[0])
    finally:
        _state.inside = False
        for worker in workers:
            worker.await_done()
        errors = [future.exception() for future in futures]  # waits for every group
    for error in errors:
        if error is not None:
            raise error
    return first + [result for future in futures for result in future.result()]


@contextlib.contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS to one thread for the duration (skrnn owns the cores)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield
