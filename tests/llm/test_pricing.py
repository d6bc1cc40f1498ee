"""PriceTable: USD per million tokens, dated names, user prices, and no guessing."""

from __future__ import annotations

import pytest

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm import ModelPrice, OpenAICompatibleBackend, PriceTable, Usage
from pytest_crucible.testing import MockModelServer

from .conftest import FAST

MILLION = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


def test_default_prices_per_million_tokens() -> None:
    prices = PriceTable()
    assert prices.price("gpt-4o-mini") == ModelPrice(0.15, 0.60)
    assert prices.cost("gpt-4o-mini", MILLION) == pytest.approx(0.75)
    usage = Usage(input_tokens=1200, output_tokens=300)
    assert prices.cost("gpt-4o", usage) == pytest.approx((1200 * 2.50 + 300 * 10.00) / 1e6)


@pytest.mark.parametrize(
    ("name", "priced_as"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("GPT-4o-Mini", "gpt-4o-mini"),
    ],
)
def test_names_with_dates_prefixes_and_case_match(name: str, priced_as: str) -> None:
    prices = PriceTable()
    assert prices.price(name) == prices.price(priced_as)
    assert name in prices


@pytest.mark.parametrize(
    "name",
    ["gpt-4o-mini-audio", "gpt-4o-minimal", "my-own-model", "SmolLM2-135M-Instruct", "gpt-4", ""],
)
def test_unknown_models_have_no_price(name: str) -> None:
    prices = PriceTable()
    assert prices.price(name) is None
    assert prices.cost(name, MILLION) is None
    assert name not in prices


def test_user_prices_add_to_and_override_the_defaults() -> None:
    prices = PriceTable({"my-model": (0.5, 1.5), "gpt-4o": ModelPrice(1.0, 2.0)})
    assert prices.cost("my-model", MILLION) == pytest.approx(2.0)
    assert prices.price("gpt-4o") == ModelPrice(1.0, 2.0)
    assert prices.price("gpt-4o-mini") == ModelPrice(0.15, 0.60)
    only = PriceTable({"my-model": (0.5, 1.5)}, defaults=False)
    assert list(only) == ["my-model"]
    assert only.price("gpt-4o") is None


def test_merge_returns_a_new_table() -> None:
    base = PriceTable()
    merged = base.merge({"gpt-4o": (9.0, 9.0), "extra": (1.0, 1.0)})
    assert merged.price("gpt-4o") == ModelPrice(9.0, 9.0)
    assert merged.price("extra") == ModelPrice(1.0, 1.0)
    assert base.price("gpt-4o") == ModelPrice(2.50, 10.00)
    assert "extra" not in base
    assert PriceTable().merge(PriceTable({"extra": (1, 1)}, defaults=False)) == PriceTable(
        {"extra": (1, 1)}
    )
    assert len(merged) == len(base) + 1


def test_a_local_model_costs_zero_when_the_user_says_so() -> None:
    prices = PriceTable({"SmolLM2-135M-Instruct": (0, 0)})
    assert prices.cost("SmolLM2-135M-Instruct", MILLION) == 0.0
    assert PriceTable().cost("SmolLM2-135M-Instruct", MILLION) is None


@pytest.mark.parametrize(
    "bad", [(-1.0, 1.0), (1.0,), (1.0, 2.0, 3.0), ("a", "b"), (float("nan"), 1)]
)
def test_invalid_prices_are_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="price of 'm'"):
        PriceTable({"m": bad})  # type: ignore[dict-item]


def test_the_backend_prices_its_responses(server: MockModelServer) -> None:
    prices = PriceTable({"mock-model": (1.0, 2.0)}, defaults=False)
    with OpenAICompatibleBackend(server.base_url, retry=FAST, prices=prices) as backend:
        response = backend.chat("mock-model", "hi")
        unpriced = backend.chat("other-model", "hi")
    usage = response.usage
    assert backend.cost(response) == pytest.approx(
        (usage.input_tokens * 1.0 + usage.output_tokens * 2.0) / 1e6
    )
    assert backend.cost(unpriced) is None
    assert OpenAICompatibleBackend().prices == PriceTable()
