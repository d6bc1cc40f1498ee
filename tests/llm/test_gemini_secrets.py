"""A pytest run whose trials call Gemini with GEMINI_API_KEY set: the key goes in the
x-goog-api-key header only (never in a URL the mock server logged), and no stored trial,
report or terminal line holds it, even when the server's error quotes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_crucible.testing import Fault, MockModelServer

KEY = "gm-e2e-SECRET-93c1d07f5a"
ECHO = f"API key not valid. Please pass a valid API key. (got {KEY})"  # servers quote keys

EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import GeminiBackend, ModelCallError, RetryPolicy

backend = GeminiBackend(
    os.environ["MOCK_URL"], retry=RetryPolicy(max_attempts=2, initial_delay=0.01), timeout=30
)

def gemini(prompt):
    try:
        return backend.chat("gemini-2.0-flash", prompt, max_tokens=20).content
    except ModelCallError as exc:
        return f"failed: {exc}"

exp = crucible.Experiment(
    name="gemini_keys",
    dataset=[{"id": "ok", "input": "hello"}, {"id": "refused", "input": "refuse me"}],
    conditions={"gemini": gemini},
    metrics=["length"],
    repeat=2,
)

@exp.trial
def test_gemini(condition, item, trial):
    answer = condition(item.input)
    trial.log("info", "answered", answer=answer)
    trial.record(length=len(answer))
    assert not answer.startswith("failed")
"""


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    with MockModelServer(faults=[Fault(status=400, message=ECHO, match="refuse", times=None)]) as m:
        monkeypatch.setenv("MOCK_URL", m.url)
        monkeypatch.setenv("GEMINI_API_KEY", KEY)
        yield m


def _files_holding(folder: Path, secret: str) -> list[str]:
    return [
        str(path.relative_to(folder))
        for path in sorted(folder.rglob("*"))
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


def test_the_gemini_key_is_sent_in_its_header_and_recorded_nowhere(
    pytester: pytest.Pytester, mock: MockModelServer
) -> None:
    pytester.makepyfile(test_gemini_keys=EXPERIMENT)
    result = pytester.runpytest("--crucible", "--crucible-report=all", "--tb=long", "-rA")
    result.assert_outcomes(passed=2, failed=2)
    log = mock.request_log()
    assert len(log) == 4
    assert {entry["headers"].get("x-goog-api-key") for entry in log} == {KEY}
    assert [entry["path"] for entry in log if KEY in entry["path"]] == []
    assert (pytester.path / ".crucible" / "crucible.db").exists()
    assert _files_holding(pytester.path, KEY) == []
    terminal = result.stdout.str() + result.stderr.str()
    assert KEY not in terminal
    # the echoed key reached the trials' answers masked, and so was stored
    assert ".crucible/crucible.db" in _files_holding(pytester.path, "[REDACTED]")
