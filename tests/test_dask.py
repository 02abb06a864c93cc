"""Grid search of skrnn estimators on a Dask cluster (joblib's dask backend)."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from skrnn import RNNClassifier

distributed = pytest.importorskip("dask.distributed")


def _data():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(t, 2)) for t in rng.integers(3, 12, size=90)]
    return X, np.array([int(seq[:, 0].sum() > 0) for seq in X])


@pytest.mark.slow
def test_searches_on_a_local_dask_cluster_match_serial_ones():
    X, y = _data()
    estimator = RNNClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    grid = {"cell": ["gru", "rnn"], "bidirectional": [False, True]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = GridSearchCV(estimator, grid, cv=2).fit(X, y)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client, joblib.parallel_backend("dask"):
            on_dask = GridSearchCV(estimator, grid, cv=2).fit(X, y)
            randomized = RandomizedSearchCV(estimator, grid, n_iter=3, cv=2,
                                            random_state=0).fit(X, y)
            workers = client.run(lambda: __import__("os").getpid())
    assert len(workers) == 2
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == serial.best_params_
    assert len(randomized.cv_results_["params"]) == 3
