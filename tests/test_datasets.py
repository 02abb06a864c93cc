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


def test_guide_text_and_character_windows():
    import pytest

    from skrnn.datasets import load_guide, text_windows

    guide = load_guide()
    assert isinstance(guide.data, str) and len(guide.data) > 10_000
    assert "BSD-3-Clause" in guide.DESCR
    X, y, alphabet = text_windows(guide.data, window=50)
    assert X.shape == y.shape and X.shape[1] == 50 and X.dtype == np.int64
    assert "".join(alphabet[X[0]]) == guide.data[:50]
    assert "".join(alphabet[y[0]]) == guide.data[1:51]
    X2, _, _ = text_windows(guide.data, window=50, step=25, alphabet=alphabet)
    assert len(X2) == 2 * len(X) - 1 or len(X2) == 2 * len(X)
    with pytest.raises(ValueError, match=r"outside the alphabet: \['z'\]"):
        text_windows("abz", window=1, alphabet=["a", "b"])
    with pytest.raises(ValueError, match="too short"):
        text_windows("abc", window=3)
    with pytest.raises(ValueError, match="step must be a positive integer"):
        text_windows("abcdef", window=2, step=0)
