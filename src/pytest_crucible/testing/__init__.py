"""A mock model server for tests, benchmarks and CI: real HTTP on loopback, no model.

`MockModelServer` speaks the OpenAI chat-completions API (`base_url`) and the Anthropic
Messages API (`url + "/v1/messages"`), with configurable `Latency`, injected `Fault`s and
deterministic answers::

    from pytest_crucible.testing import Fault, MockModelServer

    with MockModelServer(latency=0.05, faults=[Fault(status=429, retry_after=1.0)]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.stats()["by_status"] == {"429": 1, "200": 3}

`mock_model_server` is a pytest fixture yielding a fresh running server. See docs/testing.md.
"""

from __future__ import annotations

from pytest_crucible.testing._answers import Reply, ToolCall, default_answer
from pytest_crucible.testing._errors import MockServerError
from pytest_crucible.testing._faults import Fault
from pytest_crucible.testing._fixture import mock_model_server
from pytest_crucible.testing._latency import Latency
from pytest_crucible.testing._mock import MockModelServer

__all__ = [
    "Fault",
    "Latency",
    "MockModelServer",
    "MockServerError",
    "Reply",
    "ToolCall",
    "default_answer",
    "mock_model_server",
]
