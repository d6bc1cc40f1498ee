"""Chains as the conditions of a real experiment run (`pytest --crucible`), with and without
pytest-xdist, over HTTP against MockModelServer; editing a chain reruns that condition alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from e2e_support import XDIST, trial_rows
from pytest_crucible.testing import MockModelServer

EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm.openai_compat import OpenAICompatibleBackend
from pytest_crucible.llm.solvers import Chain, as_condition, generate, prompt_template, use_tools

TEMPLATE = "Compute {prompt}"

def add(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b

calc = crucible.Experiment(
    name="calc",
    dataset=[
        {"id": "a", "input": "2+3", "expected": 5},
        {"id": "b", "input": "4+5", "expected": 9},
        {"id": "c", "input": "10+7", "expected": 17},
    ],
    conditions={
        "plain": as_condition(Chain(generate()), None, "mock-model"),
        "tools": as_condition(
            Chain(prompt_template(TEMPLATE), use_tools(add), generate(), name="tools"),
            None,
            "mock-model",
        ),
    },
    baseline="plain",
    metrics={"correct": crucible.Metric(kind="binary")},
    seed=11,
)

@calc.trial
async def test_calc(condition, item, trial):
    base_url = os.environ["CRUCIBLE_MOCK_URL"]
    async with OpenAICompatibleBackend(base_url=base_url, api_key_env=None) as backend:
        answer = await condition(item.input, backend=backend, seed=trial.seed)
    trial.record(correct=answer == f"The answer is {item.expected}")
"""


def answer(request: dict[str, Any]) -> str | dict[str, Any]:
    """A model that adds with the tool when it has one, and guesses wrongly without."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return f"The answer is {last['content']}"
    a, b = map(int, re.findall(r"\d+", last["content"]))
    if request.get("tools"):
        return {"tool_calls": [{"name": "add", "arguments": {"a": a, "b": b}}]}
    return f"The answer is {a * b}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    with MockModelServer(answer=answer) as running:
        monkeypatch.setenv("CRUCIBLE_MOCK_URL", running.base_url)
        yield running


def requests_made(server: MockModelServer) -> int:
    return int(server.stats()["requests"])


@pytest.mark.parametrize("xdist", XDIST)
def test_chains_run_as_conditions(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    pytester.makepyfile(test_calc=EXPERIMENT)
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=6)
    rows = {(r["condition"], r["item_id"]): r for r in trial_rows(pytester)}
    assert rows["tools", "c"]["output"] == "The answer is 17"
    assert rows["plain", "c"]["output"] == "The answer is 70"
    assert {k: r["metrics"]["correct"] for k, r in rows.items()} == {
        (c, i): c == "tools" for c in ("plain", "tools") for i in "abc"
    }
    assert requests_made(server) == 3 + 3 * 2  # the tool loop calls the model twice


def test_editing_a_chain_reruns_its_condition_alone(
    pytester: pytest.Pytester, server: MockModelServer
) -> None:
    pytester.makepyfile(test_calc=EXPERIMENT)
    # no reports: the keys and the requests are what this checks
    pytester.runpytest("--crucible", "--crucible-report=none").assert_outcomes(passed=6)
    first = {(r["condition"], r["item_id"]): r["trial_key"] for r in trial_rows(pytester)}
    pytester.makepyfile(test_calc=EXPERIMENT.replace('"Compute {prompt}"', '"Add {prompt}"'))
    result = pytester.runpytest("--crucible", "--crucible-report=none", "--crucible-resume")
    result.assert_outcomes(passed=3, deselected=3)
    after = {(r["condition"], r["item_id"]): r["trial_key"] for r in trial_rows(pytester)}
    assert {k for k in first if first[k] != after[k]} == {("tools", i) for i in "abc"}
    assert requests_made(server) == 9 + 6
