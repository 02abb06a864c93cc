"""Small real data sets shipped with skrnn, loadable without a network."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_digit_sequences", "load_guide", "load_sunspots", "text_windows"]

_SUNSPOTS_DESCR = """Yearly mean sunspot numbers, 1700-2008
--------------------------------------

309 yearly observations of solar activity (the Wolf/Zurich relative sunspot number),
from the National Geophysical Data Center (NOAA), as shipped by statsmodels
(``statsmodels.datasets.sunspots``). Public domain.

The series is quasi-periodic with an ~11-year cycle of varying amplitude: a classic
benchmark for one-step and multi-step forecasting.
"""


def load_sunspots():
    """Load the yearly sunspot numbers, 1700-2008.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data``: ndarray of shape (309,), float64, the sunspot number of each year;
        ``years``: ndarray of shape (309,), int64; ``DESCR``: description.

    Examples
    --------
    >>> from skrnn.datasets import load_sunspots
    >>> sunspots = load_sunspots()
    >>> sunspots.data.shape, int(sunspots.years[0]), int(sunspots.years[-1])
    ((309,), 1700, 2008)
    """
    text = resources.files(__name__).joinpath("data", "sunspots.csv").read_text()
    table = np.loadtxt(text.splitlines(), delimiter=",", skiprows=1)
    return Bunch(data=table[:, 1].astype(np.float64), years=table[:, 0].astype(np.int64),
                 DESCR=_SUNSPOTS_DESCR)


def load_digit_sequences():
    """scikit-learn's 8x8 digits read row by row: 8 steps of 8 features, scaled to [0, 1].

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data``: ndarray of shape (1797, 8, 8); ``target``: ndarray of shape (1797,);
        ``DESCR``: scikit-learn's description of the digits.

    Examples
    --------
    >>> from skrnn.datasets import load_digit_sequences
    >>> digits = load_digit_sequences()
    >>> digits.data.shape
    (1797, 8, 8)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Bunch(data=digits.images / 16.0, target=digits.target, DESCR=digits.DESCR)


_GUIDE_DESCR = """skrnn's guide, as plain text
--------------------------

The prose of skrnn's README (its user guide), without code blocks and tables: about 16,000
characters of English technical text, 81 distinct characters. Written by the skrnn
developers and distributed with skrnn under its BSD-3-Clause licence. A small corpus for a
character-level language model that runs in seconds.
"""


def load_guide():
    """Load skrnn's own guide as plain text, a corpus for a character-level language model.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data``: str, the text; ``DESCR``: its description, source and licence.

    Examples
    --------
    >>> from skrnn.datasets import load_guide
    >>> text = load_guide().data
    >>> text[:5], len(set(text)) > 50
    ('skrnn', True)
    """
    text = resources.files(__name__).joinpath("data", "skrnn_guide.txt").read_text("utf-8")
    return Bunch(data=text, DESCR=_GUIDE_DESCR)


def text_windows(text, window, step=None, alphabet=None):
    """Cut text into windows of character ids and the id of each next character.

    The input and target of a character-level language model:
    ``RNNClassifier(embedding_dim=..., return_sequences=True).fit(X, y)`` learns to predict
    each window's next characters, and ``skrnn.generate`` samples from it.

    Parameters
    ----------
    text : str
    window : int
        Characters per window.
    step : int or None, default=None
        Distance between the starts of consecutive windows; None: ``window`` (windows that
        do not overlap).
    alphabet : array-like of str or None, default=None
        The characters, id ``i`` being ``alphabet[i]``; None: the sorted distinct
        characters of ``text``. Pass the training text's alphabet for held-out text.

    Returns
    -------
    X : ndarray of shape (n_windows, window), int64
        Character ids of each window.
    y : ndarray of shape (n_windows, window), int64
        The id of the character after each one (``X`` shifted by one character).
    alphabet : ndarray of shape (n_characters,) of str
        Decode ids with ``"".join(alphabet[ids])``.

    Examples
    --------
    >>> from skrnn.datasets import text_windows
    >>> X, y, alphabet = text_windows("abcabcab", window=3)
    >>> X.tolist(), y.tolist(), "".join(alphabet[X[1]])
    ([[0, 1, 2], [0, 1, 2]], [[1, 2, 0], [1, 2, 0]], 'abc')
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}.")
    step = window if step is None else step
    for name, value in (("window", window), ("step", step)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if alphabet is None:
        alphabet = np.array(sorted(set(text)))
    alphabet = np.asarray(alphabet, dtype=str)
    lookup = {char: i for i, char in enumerate(alphabet)}
    unknown = sorted(set(text) - lookup.keys())
    if unknown:
        raise ValueError(f"text holds characters outside the alphabet: {unknown[:10]}; pass "
                         "the alphabet of a text that has them, or remove them.")
    ids = np.array([lookup[char] for char in text], dtype=np.int64)
    n_windows = (len(ids) - window - 1) // step + 1
    if n_windows < 1:
        raise ValueError(f"A text of {len(text)} characters is too short for one window of "
                         f"{window} and its next character.")
    starts = np.arange(n_windows)[:, None] * step + np.arange(window)[None, :]
    return ids[starts], ids[starts + 1], alphabet
