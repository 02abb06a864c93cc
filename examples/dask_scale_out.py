"""Beyond one machine with Dask: a distributed lbfgs fit, a streamed fit, lazy prediction.
=======================================================================================

On a LocalCluster; the same code runs on any Dask cluster: pass its address.

    python examples/dask_scale_out.py --quick
    python examples/dask_scale_out.py --workers 2 --n-sequences 200000

Prints, for solver="lbfgs" on the cluster: the seconds per iteration, the bytes one
iteration moves (the weights out to each worker, each block's share of the gradient into
the tree of sums, the sum back), and the peak memory of each worker process.
"""

import argparse
import resource
import time
import warnings

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNRegressor


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (seconds)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-sequences", type=int, default=20_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--address", default=None, help="a running scheduler's address")
    args = parser.parse_args()
    n = 2_000 if args.quick else args.n_sequences
    iterations = 3 if args.quick else args.iterations
    steps, features, hidden = 20, 4, 16

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, steps, features)).astype(np.float32)
    y = X[:, :, 0].sum(axis=1) - X[:, :, 1].mean(axis=1)

    cluster = None if args.address else LocalCluster(
        n_workers=args.workers, threads_per_worker=1, dashboard_address=None)
    with Client(args.address or cluster) as client:
        # the data live on the workers, in blocks of whole sequences
        dX = client.persist(da.from_array(X, chunks=(max(n // (4 * args.workers), 1),
                                                     steps, features)))
        dy = da.from_array(y, chunks=dX.chunks[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # 1. full-batch L-BFGS: each iteration sums the workers' shares of the gradient
            lbfgs = RNNRegressor(cell="gru", hidden_layer_sizes=(hidden,), solver="lbfgs",
                                 max_iter=1, dtype="float32", random_state=0)
            lbfgs.fit(dX, dy)  # the JIT compiles on each worker: not timed
            lbfgs.set_params(max_iter=iterations)
            start = time.perf_counter()
            lbfgs.fit(dX, dy)
            per_iteration = (time.perf_counter() - start) / lbfgs.n_iter_
            # 2. adam, streaming the blocks to this process one by one
            adam = RNNRegressor(cell="gru", hidden_layer_sizes=(hidden,), max_iter=2,
                                dtype="float32", random_state=0).fit(dX, dy)
        # 3. lazy prediction, computed block by block on the workers
        predictions = lbfgs.predict(dX)
        r2 = 1 - float(((predictions - dy) ** 2).mean() / dy.var())
        peaks = client.run(_peak_rss_mb)
        n_weights = sum(value.size for value in lbfgs.params_.values())
        n_blocks = dX.numblocks[0]
        print(f"lbfgs on {len(peaks)} workers: {per_iteration:.3f} s per iteration "
              f"({lbfgs.n_iter_} iterations, {n:,} sequences, {n_blocks} blocks)")
        print(f"bytes per evaluation: weights {8 * n_weights:,} to each worker, "
              f"{n_blocks} gradient shares of {8 * n_weights:,} into the sums")
        print("peak memory per worker (MB): "
              + ", ".join(f"{peak:.0f}" for peak in peaks.values()))
        print(f"n_sequences {n}, lbfgs train R2 {r2:.3f}, adam epochs {adam.n_iter_}, "
              f"adam loss {adam.loss_curve_[0]:.3f} -> {adam.loss_curve_[-1]:.3f}")
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":
    main()
