"""A character-level language model: train a GRU on skrnn's own guide, measure it, sample.
=======================================================================================

The language model of the RNN tutorials, as scikit-learn estimators: the text becomes
windows of character ids with the next character as each step's target
(``skrnn.datasets.text_windows``); ``RNNClassifier(embedding_dim=..., return_sequences=True)``
learns a softmax over the alphabet at every step. The last 10% of the text is held out:
its perplexity (the exponential of the mean negative log-likelihood per character; 1 is
perfect, the alphabet's size is a uniform guess) is printed next to that of a model that
only knows the characters' frequencies. Then ``skrnn.generate`` samples text from a prompt
at two temperatures, one step of work per character.

    python examples/char_language_model.py [--quick]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, generate
from skrnn.datasets import load_guide, text_windows


def perplexity(model, X, y):
    """exp(mean negative log-likelihood per character) of held-out windows."""
    proba = model.predict_proba(X)  # (n_windows, window, n_classes)
    columns = np.searchsorted(model.classes_, y)  # class index of each target id
    known = (columns < len(model.classes_)) & (model.classes_[np.minimum(
        columns, len(model.classes_) - 1)] == y)
    picked = np.take_along_axis(proba, np.minimum(columns, proba.shape[-1] - 1)[..., None],
                                axis=-1)[..., 0]
    picked = np.where(known, picked, 1e-12)  # a character never seen as a target
    return float(np.exp(-np.mean(np.log(np.maximum(picked, 1e-12)))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller model, fewer epochs")
    args = parser.parse_args(argv)
    text = load_guide().data
    split = int(0.9 * len(text))
    window = 64
    # 16,000 characters are few: a small GRU, and in the full run overlapping windows,
    # dropout before the softmax and early stopping against over-fitting (larger models
    # and longer training measured worse on the held-out text)
    X, y, alphabet = text_windows(text[:split], window, step=32 if args.quick else 16)
    X_test, y_test, _ = text_windows(text[split:], window, alphabet=alphabet)
    model = RNNClassifier(cell="gru", embedding_dim=16, hidden_layer_sizes=(64,),
                          return_sequences=True, learning_rate_init=0.01, batch_size=32,
                          dropout=0.0 if args.quick else 0.2, early_stopping=not args.quick,
                          max_iter=8 if args.quick else 60, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - start

    counts = np.bincount(y.ravel(), minlength=len(alphabet)) + 1.0
    unigram = float(np.exp(-np.mean(np.log(counts[y_test] / counts.sum()))))
    print(f"{len(text):,} characters, alphabet of {len(alphabet)}; {len(X)} training windows "
          f"of {window}; GRU-{model.hidden_layer_sizes[0]} fitted in {seconds:.1f} s "
          f"({model.n_iter_} epochs)")
    print(f"held-out perplexity {perplexity(model, X_test, y_test):.2f} per character "
          f"(character frequencies alone: {unigram:.2f})")
    prompt = "Training runs on "
    prompt_ids = np.searchsorted(alphabet, list(prompt))
    for temperature in (0.5, 1.0):
        start = time.perf_counter()
        ids = generate(model, prompt_ids, 200, temperature=temperature, random_state=0)
        rate = 200 / (time.perf_counter() - start)
        sample = prompt + "".join(alphabet[ids])
        print(f"\ntemperature {temperature} ({rate:,.0f} characters/s):\n{sample}")
    perplexity_line = f"held-out perplexity {perplexity(model, X_test, y_test):.2f}"
    print(f"\n{perplexity_line}, unigram {unigram:.2f}, alphabet {len(alphabet)}")


if __name__ == "__main__":
    main()
