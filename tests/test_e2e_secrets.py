"""A key in `default_headers` or in the URL's query is sent, and recorded nowhere: not in the
store, dead letters, logs, reports, JUnit, pytest-html or the terminal (issue 14, point 12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e_support import XDIST
from pytest_crucible.testing import Fault, MockModelServer

HEADER_KEY = "sk-test-SECRET-7d1e0b5a93"
QUERY_KEY = "qk-test-SECRET-2c8f6a41e0"
ECHO = f"Incorrect API key provided: {HEADER_KEY} (key={QUERY_KEY})"  # servers quote keys

# The keys come from the environment, so that this source file (under the test folder too)
# does not hold them.
EXPERIMENT = """
import logging, os
import pytest_crucible as crucible
from pytest_crucible.llm import ModelCallError, OpenAICompatibleBackend, RetryPolicy

backend = OpenAICompatibleBackend(
    os.environ["MOCK_BASE_URL"] + "?key=" + os.environ["QUERY_KEY"],
    api_key_env=None,
    default_headers={"Authorization": "Bearer " + os.environ["HEADER_KEY"]},
    retry=RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.01),
    timeout=5,
)

def raises(prompt):
    return backend.chat("mock-model", prompt).content

def swallows(prompt):
    try:
        return backend.chat("mock-model", prompt).content
    except ModelCallError as exc:
        logging.getLogger("user").warning("call failed: %s", exc)
        return f"failed: {exc!r} {exc.to_dict() if hasattr(exc, 'to_dict') else ''}"

leaky = crucible.Experiment(
    name="leaky",
    dataset=[
        {"id": "ok", "input": "hello"},
        {"id": "refused", "input": "refuse me"},
        {"id": "flaky", "input": "fail me"},
        {"id": "missing", "input": "not found"},
    ],
    conditions={"raises": raises, "swallows": swallows},
    metrics=["length"],
    repeat=2,
)

@leaky.trial
def test_leaky(condition, item, trial):
    answer = condition(item.input)
    trial.log("info", "answered", answer=answer)
    trial.record(length=len(answer))
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    faults = [
        Fault(status=401, message=ECHO, match="refuse", times=None),
        Fault(status=500, message=ECHO, match="fail me", times=None),
        Fault(status=404, message=ECHO, match="not found", times=None),
    ]
    with MockModelServer(faults=faults) as mock:
        monkeypatch.setenv("MOCK_BASE_URL", mock.base_url)
        monkeypatch.setenv("HEADER_KEY", HEADER_KEY)
        monkeypatch.setenv("QUERY_KEY", QUERY_KEY)
        yield mock


def _files_holding(folder: Path, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(folder)}: {s}" for s in secrets if s.encode() in data]
    return found


@pytest.mark.parametrize("xdist", XDIST)
def test_keys_in_headers_and_urls_are_recorded_nowhere(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    pytester.makepyfile(test_leaky=EXPERIMENT)
    result = pytester.runpytest(
        "--crucible",
        "--crucible-report=all",
        "--junitxml=junit.xml",
        "--html=report.html",
        "--self-contained-html",
        "--tb=long",
        "--log-level=DEBUG",  # httpx logs each URL at INFO, httpcore each step at DEBUG
        "-rA",
        *xdist,
    )
    result.assert_outcomes(passed=10, failed=6)  # raises: only 'ok' passes
    sent = [request["headers"].get("Authorization", "") for request in server.request_log()]
    assert f"Bearer {HEADER_KEY}" in sent  # the key did go to the server
    assert server.stats()["by_status"].get("401") and server.stats()["by_status"].get("500")
    for name in ("junit.xml", "report.html", ".crucible/crucible.db"):
        assert (pytester.path / name).exists(), name
    assert list(pytester.path.glob("crucible-results/leaky/*/*.html")), "no reports written"
    secrets = (HEADER_KEY, QUERY_KEY)
    leaks = _files_holding(pytester.path, secrets)
    assert leaks == [], "\n".join(leaks)
    terminal = result.stdout.str() + result.stderr.str()
    assert [s for s in secrets if s in terminal] == []
    assert "[REDACTED]" in terminal or "key=[REDACTED]" in terminal
