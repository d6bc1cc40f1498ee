"""pytest-html: trial columns, escaped per-trial extras and the results in the summary."""

from __future__ import annotations

import html
import json
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


@pytest.mark.parametrize("xdist", XDIST)
def test_gates_are_rows_and_counts_of_the_report(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    """A run that fails on its gates is not "0 Failed" in pytest-html."""
    pytester.makepyfile(test_html=EXPERIMENT)
    gates = ["--crucible-gate=echo.length.max <= 3", "--crucible-gate=shout.length.max >= 2"]
    result = pytester.runpytest("--crucible", "--html=report.html", *gates, *xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    page = (pytester.path / "report.html").read_text()
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', page).group(1)))  # type: ignore[union-attr]
    outcomes = {nodeid: [t["result"] for t in runs] for nodeid, runs in blob["tests"].items()}
    assert outcomes["crucible::gates::html-demo::echo.length.max <= 3"] == ["Failed"]
    assert outcomes["crucible::gates::html-demo::shout.length.max >= 2"] == ["Passed"]
    results = [r for runs in outcomes.values() for r in runs]
    assert (results.count("Failed"), results.count("Passed")) == (1, 5)
