"""End to end: aggregates beyond the mean (pass@K, percentiles, cost per trial and per correct
answer) in the results table, the stored analysis and report.md, checked against values
computed here from the stored trials (`load_trials`), by the formulas themselves."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from e2e_support import XDIST, query, store_location
from pytest_crucible import load_trials
from pytest_crucible.review._numbers import number_text
from pytest_crucible.testing import MockModelServer

EXPERIMENT = """
import os
import time
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable

backend = OpenAICompatibleBackend(
    base_url=os.environ["MOCK_URL"], prices=PriceTable({"mock-model": (1000.0, 2000.0)})
)

async def plain(question, seed):
    return (await backend.achat("mock-model", question, temperature=0.7, seed=seed)).content

async def polite(question, seed):
    answer = await backend.achat("mock-model", "Please: " + question, temperature=0.7, seed=seed)
    return answer.content

# which repeats pass, per condition and item: fixed, so pass@K differs between items
PASSES = {
    "plain": {"q0": "10000", "q1": "00000", "q2": "11010", "q3": "01000"},
    "polite": {"q0": "11100", "q1": "10000", "q2": "11111", "q3": "00110"},
}

calls = crucible.Experiment(
    name="aggregates",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(4)],
    conditions={"plain": plain, "polite": polite},
    baseline="plain",
    metrics={
        "passed": crucible.Metric(kind="binary", aggregate=("mean", "pass@1", "pass@3")),
        "latency_s": crucible.Metric(lower_is_better=True, aggregate=("p50", "p95", "p99")),
    },
    repeat=5,
    seed=3,
)

@calls.trial
async def test_calls(condition, item, trial):
    started = time.perf_counter()
    answer = await condition(item.input, trial.seed)
    assert "Mock answer" in answer
    trial.record(
        passed=PASSES[trial.condition][item.id][trial.spec.repeat] == "1",
        latency_s=time.perf_counter() - started,
    )
"""

AGGREGATES = ("passed pass@1", "passed pass@3", "latency_s p50", "latency_s p95", "latency_s p99")
COSTS = ("cost per trial ($)", "cost per correct passed ($)")


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with MockModelServer() as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_aggregates=EXPERIMENT)
        yield


def pass_at(n: int, c: int, k: int) -> float:
    return 1.0 if n - c < k else 1 - math.comb(n - c, k) / math.comb(n, k)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def expected_values(store: str, run_id: str) -> dict[tuple[str, str], float]:
    trials = load_trials(run_id, store=store)
    expected: dict[tuple[str, str], float] = {}
    for condition, rows in trials.groupby("condition"):
        passed = rows[rows["status"] == "passed"]
        per_item = [
            (len(group), int(group["passed"].sum())) for _, group in passed.groupby("item_id")
        ]
        for k in (1, 3):
            estimates = [pass_at(n, c, k) for n, c in per_item]
            expected[(f"passed pass@{k}", str(condition))] = sum(estimates) / len(estimates)
        latencies = [float(v) for v in passed["latency_s"]]
        for q in (50, 95, 99):
            expected[(f"latency_s p{q}", str(condition))] = percentile(latencies, q)
        costs = [float(v) for v in rows["cost_usd"]]
        assert all(cost > 0 for cost in costs)  # every trial called the priced model
        expected[("cost per trial ($)", str(condition))] = sum(costs) / len(costs)
        correct = int(passed["passed"].sum())
        expected[("cost per correct passed ($)", str(condition))] = sum(costs) / correct
    return expected


def table_cells(lines: list[str]) -> dict[tuple[str, str], str]:
    """(column header, condition) -> cell of the results table (columns apart by 2+ spaces)."""
    start = next(i for i, line in enumerate(lines) if "crucible results" in line)
    index = next(i for i in range(start, len(lines)) if lines[i].startswith("condition "))
    header = re.split(r"\s{2,}", lines[index].strip())
    cells = {}
    for line in lines[index + 2 : index + 4]:
        row = re.split(r"\s{2,}", line.strip())
        assert len(row) == len(header), (header, row)
        cells.update({(column, row[0]): cell for column, cell in zip(header, row, strict=True)})
    return cells


@pytest.mark.parametrize("xdist", XDIST)
def test_aggregates_in_the_table_the_analysis_and_the_markdown_report(
    pytester: pytest.Pytester, server: None, xdist: list[str]
) -> None:
    result = pytester.runpytest("--crucible", "--crucible-report=md", "-p", "no:randomly", *xdist)
    result.assert_outcomes(passed=40)
    (run,) = query(pytester, "SELECT run_id, analysis FROM runs")
    expected = expected_values(store_location(pytester), run["run_id"])
    cells = table_cells(result.stdout.lines)
    expected_columns = {column for column, _ in expected}
    lines = result.stdout.lines
    header = next(i for i, line in enumerate(lines) if line.startswith("condition "))
    assert "aggregates [95% CI]" in lines[header - 1]
    for (column, condition), value in expected.items():
        cell = cells[(column, condition)]
        number = f"{value:.3g}" if column in COSTS else f"{value:.3f}"
        assert cell.startswith(f"{number} ["), (column, condition, cell, value)
        low, high = (float(v) for v in re.findall(r"\[(\S+), (\S+)\]", cell)[0])
        assert low <= float(number) <= high or math.isclose(low, high), cell

    # `crucible show` prints the same table from the store
    shown = subprocess.run(
        [sys.executable, "-m", "pytest_crucible.cli", "show", run["run_id"]],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    show_lines = ["crucible results", *shown.stdout.splitlines()]
    assert {k: v for k, v in table_cells(show_lines).items() if k[0] in expected_columns} == {
        k: v for k, v in cells.items() if k[0] in expected_columns
    }

    # the stored analysis: the same numbers at full precision, old fields unchanged
    analysis = json.loads(run["analysis"])
    stored = {
        (a["label"], a["condition"]): a for m in analysis["metrics"] for a in m["aggregates"]
    } | {(f"{c['label']} ($)", c["condition"]): c for c in analysis["costs"]}
    assert set(stored) == set(expected)
    for key, value in expected.items():
        assert stored[key]["estimate"] == pytest.approx(value, rel=1e-9), key
        assert stored[key]["method"] == "bootstrap percentile"
    assert {m["name"] for m in analysis["metrics"]} == {"passed", "latency_s"}
    assert all("mean" in c for m in analysis["metrics"] for c in m["conditions"])

    # report.md carries every aggregate with its interval under a header that names it
    (report,) = (pytester.path / "crucible-results").glob("aggregates/*/report.md")
    text = report.read_text().replace("\\", "")
    assert "### Aggregates" in text
    for column in (*AGGREGATES, *COSTS):
        assert f" {column} [95% CI] |" in text, column
    section = text.split("### Aggregates", 1)[1].splitlines()
    for condition in ("plain", "polite"):
        row = next(line for line in section if line.startswith(f"| {condition} | "))
        for column in AGGREGATES:
            shown = number_text(expected[(column, condition)])
            assert f"| {shown} [" in row, (column, row)


def test_no_correct_answer_leaves_the_cost_per_correct_undefined_with_a_note(
    pytester: pytest.Pytester, server: None
) -> None:
    pytester.makepyfile(test_aggregates=EXPERIMENT.replace('== "1"', '== "never"'))
    result = pytester.runpytest("--crucible", "--crucible-report=md", "-p", "no:randomly")
    result.assert_outcomes(passed=40)
    cells = table_cells(result.stdout.lines)
    assert cells[("cost per correct passed ($)", "plain")] == "-"
    assert cells[("passed pass@3", "plain")].startswith("0.000 [")
    result.stdout.fnmatch_lines(
        ["note: no trial of plain is correct on passed: the cost per correct answer is undefined"]
    )
    (report,) = (pytester.path / "crucible-results").glob("aggregates/*/report.md")
    assert "the cost per correct answer is undefined" in report.read_text()
