"""Small real data sets shipped with skrnn, loadable without a network."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_digit_sequences", "load_sunspots"]

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
