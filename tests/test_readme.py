"""The README's quick start runs as written."""

import re
import warnings
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quick_start_runs_without_warnings(capsys):
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 15
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        namespace = {}
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["search"].best_score_ > 0.8
    assert "rnn__cell" in capsys.readouterr().out
