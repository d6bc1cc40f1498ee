"""The fixtures the plugin offers to users' own tests: a mock model server, a local model."""

from __future__ import annotations

import pytest


def test_the_mock_and_local_model_fixtures_serve_real_http(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_crucible.llm import OpenAICompatibleBackend

        def test_mock(mock_model_server):
            backend = OpenAICompatibleBackend(base_url=mock_model_server.base_url)
            answer = backend.chat("m", "hello there", max_tokens=8)
            assert "hello there" in answer.content
            assert mock_model_server.stats()["requests"] == 1

        def test_local(crucible_local_model):
            backend = OpenAICompatibleBackend(base_url=crucible_local_model.base_url)
            answer = backend.chat(crucible_local_model.model, "Say yes.", max_tokens=4)
            assert answer.content and answer.usage.output_tokens >= 1
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
