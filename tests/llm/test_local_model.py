"""The backend against the real local model: llama.cpp serving SmolLM2-135M-Instruct."""

from __future__ import annotations

import asyncio

from pytest_crucible.llm import LocalServer, OpenAICompatibleBackend, PriceTable

QUESTION = "What is the capital of Japan?"


def test_the_backend_talks_to_the_local_model(local_model: LocalServer) -> None:
    prices = PriceTable({local_model.model: (0, 0)})
    backend = OpenAICompatibleBackend(local_model.base_url, api_key_env=None, prices=prices)
    with backend:
        response = backend.chat(local_model.model, QUESTION, max_tokens=24, seed=0)
        again = asyncio.run(backend.achat(local_model.model, QUESTION, max_tokens=24, seed=0))
    assert "tokyo" in response.content.lower()
    assert again.content == response.content  # temperature 0
    assert response.finish_reason in ("stop", "length")
    assert response.usage.input_tokens > 5
    assert 0 < response.usage.output_tokens <= 24
    assert response.latency_s > 0
    assert response.attempts == 1
    assert backend.cost(response) == 0.0
