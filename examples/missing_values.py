"""Classify sequences with missing values: each SequenceImputer strategy next to complete data.
============================================================================================

The data are scikit-learn's handwritten digits read row by row (skrnn.datasets.
load_digit_sequences: 8 steps of 8 features, the pixel columns), the one real multivariate
sequence data set shipped with skrnn or scikit-learn. A share of the values is knocked out,
in training and test sets alike, the two ways sensors lose data: single values at random,
and bursts where one feature is missing for several consecutive steps. Each strategy fills
the gaps inside a Pipeline(SequenceImputer, RNNClassifier) fitted on the training set; the
table gives the test accuracy of each (the mean over 3 seeds of the network; 1 with
--quick), and of the same model on the complete data.

    python examples/missing_values.py [--quick]
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skrnn import RNNClassifier, SequenceImputer
from skrnn.datasets import load_digit_sequences

STRATEGIES = [("mean", False), ("median", False), ("constant", False), ("ffill", False),
              ("linear", False), ("mean", True), ("linear", True)]


def knock_out(X, rng, random_share=0.10, bursts_per_sequence=2, burst_steps=(2, 4)):
    """A copy of X (n, T, F) with values set to NaN: each value at random with probability
    ``random_share``, plus bursts of 2-4 consecutive steps of one feature per sequence."""
    X = X.copy()
    n, n_steps, n_features = X.shape
    X[rng.random(X.shape) < random_share] = np.nan
    for i in range(n):
        for _ in range(bursts_per_sequence):
            length = rng.integers(burst_steps[0], burst_steps[1] + 1)
            start = rng.integers(0, n_steps - length + 1)
            X[i, start:start + length, rng.integers(n_features)] = np.nan
    return X


def test_accuracy(imputer, X_train, y_train, X_test, y_test, max_iter, seeds):
    """Mean test accuracy of Pipeline(imputer, RNNClassifier) over the network's seeds."""
    scores = []
    for seed in seeds:
        steps = [] if imputer is None else [imputer]
        model = make_pipeline(*steps, RNNClassifier(cell="gru", hidden_layer_sizes=(32,),
                                                    learning_rate_init=0.01, max_iter=max_iter,
                                                    early_stopping=True, random_state=seed))
        with warnings.catch_warnings():  # --quick caps the epochs below convergence
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        scores.append(model.score(X_test, y_test))
    return np.mean(scores)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sequences and epochs")
    args = parser.parse_args(argv)
    digits = load_digit_sequences()
    X, y = digits.data, digits.target
    if args.quick:
        X, y = X[:600], y[:600]
    max_iter, seeds = (30, [0]) if args.quick else (200, [0, 1, 2])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    rng = np.random.default_rng(0)
    gappy_train, gappy_test = knock_out(X_train, rng), knock_out(X_test, rng)
    missing_share = np.isnan(np.concatenate([gappy_train, gappy_test])).mean()

    rows = [("complete data (no values missing)",
             test_accuracy(None, X_train, y_train, X_test, y_test, max_iter, seeds))]
    for strategy, indicator in STRATEGIES:
        imputer = SequenceImputer(strategy=strategy, add_indicator=indicator)
        accuracy = test_accuracy(imputer, gappy_train, y_train, gappy_test, y_test, max_iter,
                                 seeds)
        rows.append((f"SequenceImputer(strategy={strategy!r}"
                     f"{', add_indicator=True' if indicator else ''})", accuracy))

    print(f"Digits read row by row (8 steps x 8 features): {len(X_train)} train / "
          f"{len(X_test)} test sequences, {missing_share:.1%} of the values missing "
          "(10% at random, plus 2 bursts of 2-4 steps of one feature per sequence)")
    width = max(len(name) for name, _ in rows)
    print(f"{'model input':<{width}}  test accuracy (mean of {len(seeds)})")
    print(f"{'-' * width}  {'-' * len(f'test accuracy (mean of {len(seeds)})')}")
    for name, accuracy in rows:
        print(f"{name:<{width}}  {accuracy:.4f}")
    best_name, best = max(rows[1:], key=lambda row: row[1])
    print(f"{missing_share:.1%} missing: best {best_name} {best:.4f}, worst "
          f"{min(accuracy for _, accuracy in rows[1:]):.4f}, complete data {rows[0][1]:.4f}")


if __name__ == "__main__":
    main()
