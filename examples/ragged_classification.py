"""Classify ragged sequences with a grid search over cells and sizes.
==================================================================

Synthetic sensor traces of different lengths (20 to 120 steps, 2 channels): the class is
the frequency band of a noisy oscillation. A Pipeline scales every channel over all steps
(SequenceScaler), and GridSearchCV picks the cell and the hidden size.

    python examples/ragged_classification.py [--quick]
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skrnn import RNNClassifier, SequenceScaler


def make_traces(n, rng):
    """Noisy two-channel oscillations; class 0, 1 or 2 by frequency band."""
    X, y = [], []
    for _ in range(n):
        label = rng.integers(3)
        length = rng.integers(20, 121)
        frequency = (0.02, 0.06, 0.12)[label] * rng.uniform(0.8, 1.2)
        t = np.arange(length)
        phase = rng.uniform(0, 2 * np.pi)
        signal = np.stack([np.sin(2 * np.pi * frequency * t + phase),
                           np.cos(2 * np.pi * frequency * t + phase)], axis=1)
        X.append(50 + 10 * signal + rng.normal(scale=3, size=signal.shape))
        y.append(["slow", "medium", "fast"][label])
    return X, np.array(y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data and grid")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    X, y = make_traces(240 if args.quick else 900, rng)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    pipe = make_pipeline(SequenceScaler(), RNNClassifier(learning_rate_init=0.01,
                                                         early_stopping=True, random_state=0))
    grid = {"rnnclassifier__cell": ["gru", "lstm"],
            "rnnclassifier__hidden_layer_sizes": [(16,)] if args.quick else [(16,), (32,)]}
    if args.quick:
        pipe.set_params(rnnclassifier__max_iter=15)
    with warnings.catch_warnings():  # --quick caps the epochs below convergence
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=2 if args.quick else 3).fit(X_train, y_train)
    lengths = [len(seq) for seq in X]
    print(f"{len(X)} traces of {min(lengths)} to {max(lengths)} steps; best {search.best_params_}"
          f" (cv accuracy {search.best_score_:.3f}); test accuracy "
          f"{search.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
