"""The shipped data sets load offline with the documented shapes."""

import numpy as np

from skrnn.datasets import load_digit_sequences, load_sunspots


def test_sunspots():
    sunspots = load_sunspots()
    assert sunspots.data.shape == sunspots.years.shape == (309,)
    np.testing.assert_array_equal(sunspots.years, np.arange(1700, 2009))
    assert sunspots.data.dtype == np.float64 and np.isfinite(sunspots.data).all()
    assert sunspots.data[0] == 5.0 and sunspots.data[-1] == 2.9  # 1700 and 2008
    assert sunspots.data.min() >= 0 and 150 < sunspots.data.max() < 200
    assert "Public domain" in sunspots.DESCR


def test_digit_sequences():
    digits = load_digit_sequences()
    assert digits.data.shape == (1797, 8, 8) and digits.target.shape == (1797,)
    assert digits.data.min() == 0 and digits.data.max() == 1
