"""Classify short texts from token ids with an embedding and an LSTM.
==================================================================

A small corpus is made in the script: product reviews built from phrases, whose label
depends on word order ("not good" is negative, "good" positive), so a bag of words is not
enough. Texts become lists of token ids of different lengths; RNNClassifier learns the
embedding with ``embedding_dim``.

    python examples/text_classification.py [--quick]
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skrnn import RNNClassifier

SUBJECTS = ["the phone", "this camera", "the battery", "the screen", "delivery", "the price"]
OPINIONS = ["good", "great", "fine", "bad", "awful", "poor"]
POSITIVE = {"good", "great", "fine"}
FILLERS = ["honestly", "i think", "overall", "to be fair", "after a week"]


def make_corpus(n, rng):
    texts, labels = [], []
    for _ in range(n):
        opinion = rng.choice(OPINIONS)
        negated = rng.random() < 0.5
        words = [rng.choice(FILLERS)] * int(rng.random() < 0.5) + [
            rng.choice(SUBJECTS), "is", "not" if negated else "really", opinion]
        if rng.random() < 0.4:
            words += ["and", rng.choice(FILLERS)]
        texts.append(" ".join(words))
        labels.append("positive" if (opinion in POSITIVE) != negated else "negative")
    return texts, np.array(labels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller corpus, fewer epochs")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    texts, labels = make_corpus(400 if args.quick else 2000, rng)
    vocabulary = {word: i for i, word in enumerate(sorted({w for t in texts for w in t.split()}))}
    X = [np.array([vocabulary[w] for w in text.split()]) for text in texts]
    X_train, X_test, y_train, y_test = train_test_split(X, labels, test_size=0.25,
                                                        random_state=0)
    clf = RNNClassifier(cell="lstm", embedding_dim=16, hidden_layer_sizes=(32,),
                        learning_rate_init=0.01, max_iter=20 if args.quick else 60,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    print(f"{len(texts)} texts, vocabulary of {clf.vocab_size_} words: test accuracy "
          f"{clf.score(X_test, y_test):.3f} (e.g. '{texts[0]}' -> "
          f"{clf.predict([X[0]])[0]})")


if __name__ == "__main__":
    main()
