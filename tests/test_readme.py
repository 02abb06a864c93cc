"""The README's quick start and the user guide's forecasting workflow run as written; the
README's links to the documentation resolve."""

import re
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOOLS_GUIDE = ROOT / "docs" / "user_guide" / "tools.md"


def test_quick_start_runs_without_warnings(capsys):
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 15
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        namespace = {}
        exec(compile(code, str(README), "exec"), namespace)
    assert namespace["search"].best_score_ > 0.8
    assert "rnn__cell" in capsys.readouterr().out


def test_forecasting_workflow_runs():
    text = TOOLS_GUIDE.read_text()
    code = re.search(r"A whole forecasting workflow is one estimator:\n\n```python\n(.*?)```",
                     text, re.S).group(1)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # default max_iter may stop before convergence
        exec(compile(code, str(TOOLS_GUIDE), "exec"), namespace)
    forecast = namespace["next_11_years"]
    assert forecast.shape == (11,) and (forecast > -10).all() and (forecast < 300).all()


def test_links_to_the_documentation_resolve():
    links = re.findall(r"\]\((docs/[^)#]+)\)", README.read_text())
    assert len(links) >= 8
    for link in links:
        assert (ROOT / link).is_file(), link
