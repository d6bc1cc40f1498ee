"""End to end: the results table at the session end keeps trial counts and metrics apart."""

from __future__ import annotations

import pytest

STATUS_NAMED_METRICS = """
import pytest_crucible as crucible

exp = crucible.Experiment(
    "named", dataset=[{"id": f"q{n}", "input": n} for n in range(4)],
    conditions={"one": lambda n: n, "two": lambda n: n + 1},
    metrics=["passed", "errors"], seed=1,
)

@exp.trial
def test_named(condition, item, trial):
    trial.record(passed=condition(item.input) % 2 == 0, errors=3)
    assert not (condition.name == "two" and item.id == "q0")
"""


def test_a_metric_named_like_a_trial_status_is_not_taken_for_a_count(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_named=STATUS_NAMED_METRICS)
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", timeout=300
    )
    result.assert_outcomes(passed=7, failed=1)
    lines = result.stdout.lines
    results = next(i for i, line in enumerate(lines) if "crucible results" in line)
    header = next(line for line in lines[results:] if line.startswith("condition "))
    # pytest's words are not column labels: `passed` appears once, as the metric
    assert header.split() == [
        "condition",
        "stored",
        "analysed",
        "errors",
        "passed",
        "errors",
        "(metric)",
    ]
    above = lines[lines.index(header) - 1]
    assert above.split()[0] == "trials" and "mean [95% CI]" in above
    result.stdout.fnmatch_lines(
        [
            "one  * 4 * 4 * 0 * 0.500 [[]*",
            "two  * 4 * 3 * 1 * 0.667 [[]*",
            "trials: stored = in the store for this run; analysed = passed, *; errors = failed*",
        ]
    )
