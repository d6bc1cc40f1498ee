"""pytest-html: trial columns, escaped per-trial extras and the results in the summary."""

from __future__ import annotations

import html
import re

import pytest

from e2e_support import XDIST

pytest.importorskip("pytest_html")  # a dev dependency: installed by scripts/test.sh

EXPERIMENT = """
import pytest_crucible as crucible

exp = crucible.Experiment(
    "html-demo",
    dataset=[{"id": "a", "input": "<img src=x onerror=alert(1)>"}, {"id": "b", "input": "ok"}],
    conditions={"echo": lambda text: text, "shout": lambda text: text.upper()},
    metrics=["length"],
)

@exp.trial
def test_html(condition, item, trial):
    trial.record(length=len(condition(item.input)))
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_report_has_trial_columns_extras_and_summary(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_html=EXPERIMENT)
    result = pytester.runpytest("--crucible", "--html=report.html", *xdist)
    result.assert_outcomes(passed=4)
    page = (pytester.path / "report.html").read_text()
    blob = html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1))  # type: ignore[union-attr]
    assert '<th class="sortable">condition</th>' in page
    assert '<th class="sortable">metrics</th>' in page
    assert "<td>shout</td>" in blob and "<td>a</td>" in blob and "<td>length=2</td>" in blob
    # the untrusted input is escaped inside the extras, never live markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in blob
    assert "<img src=x onerror" not in blob
    assert "crucible results" in page and "html-demo  run " in page
