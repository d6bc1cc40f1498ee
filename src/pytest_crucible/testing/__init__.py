"""A mock model server for tests, benchmarks and CI: real HTTP on loopback, no model.

`MockModelServer` speaks the OpenAI chat-completions API (`base_url`), the Anthropic
Messages API (`url + "/v1/messages"`) and Gemini's generateContent
(`url + "/v1beta/models/{model}:generateContent"`), with configurable `Latency` (with
stalls, per model), injected `Fault`s and deterministic answers (or answers right with a
chosen probability per model, `Accuracy`)::

    from pytest_crucible.testing import Fault, MockModelServer

    with MockModelServer(latency=0.05, faults=[Fault(status=429, retry_after=1.0)]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.stats()["by_status"] == {"429": 1, "200": 3}

`mock_model_server` is a pytest fixture yielding a fresh running server. See docs/testing.md.
"""

from __future__ import annotations

from pytest_crucible.testing._accuracy import Accuracy, Draw, split_confidence
from pytest_crucible.testing._answers import Reply, ToolCall, default_answer
from pytest_crucible.testing._errors import MockServerError
from pytest_crucible.testing._faults import Fault
from pytest_crucible.testing._fixture import mock_model_server
from pytest_crucible.testing._latency import Delay, Latency, Stall
from pytest_crucible.testing._mock import MockModelServer

__all__ = [
    "Accuracy",
    "Delay",
    "Draw",
    "Fault",
    "Latency",
    "MockModelServer",
    "MockServerError",
    "Reply",
    "Stall",
    "ToolCall",
    "default_answer",
    "mock_model_server",
    "split_confidence",
]
