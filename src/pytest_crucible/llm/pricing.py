"""What a model call cost: `PriceTable`, USD per million input and output tokens per model.

    prices = PriceTable()                                    # the default table below
    prices = PriceTable({"my-model": (0.5, 1.5)})            # defaults plus my-model
    prices = PriceTable({"SmolLM2-135M-Instruct": (0, 0)}, defaults=False)
    prices.cost("gpt-4o-mini-2024-07-18", usage)             # priced as gpt-4o-mini

A model without a price costs None, never a guess. Names are matched exactly first, then
without a provider prefix ("openai/gpt-4o" -> "gpt-4o"), a date suffix
("gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022", "...@20240620"), a version
("gemini-1.5-flash-002") or "-latest", case-insensitively. Nothing looser:
"gpt-4o-mini-audio" is not "gpt-4o-mini".

The default prices are list prices as published by the providers in mid-2025
(`DEFAULT_PRICES_AS_OF`); providers change them, so pass your own for anything that matters.
Local models (the SmolLM2 served by llama.cpp) have no default price: say they cost 0 if
that is what you want reported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm.types import Usage

__all__ = ["DEFAULT_PRICES", "DEFAULT_PRICES_AS_OF", "ModelPrice", "PriceTable"]

DEFAULT_PRICES_AS_OF = "2025-06"

# USD per million tokens: (input, output).
DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-opus": (15.00, 75.00),
    "claude-3-haiku": (0.25, 1.25),
    # Gemini: the prices of prompts up to 200k tokens (longer ones cost more: pass your own)
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-1.5-flash": (0.075, 0.30),
}

_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-mini-2024-07-18
    re.compile(r"[-@]\d{8}$"),  # claude-3-5-haiku-20241022, claude-3-5-sonnet@20240620
    re.compile(r"-latest$"),  # claude-3-5-sonnet-latest
    re.compile(r"-\d{3}$"),  # gemini-1.5-flash-002
)


@dataclass(frozen=True)
class ModelPrice:
    """USD per million input tokens and per million output tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_million
            + usage.output_tokens * self.output_per_million
        ) / 1_000_000


PriceLike = ModelPrice | tuple[float, float]


class PriceTable:
    """Prices per model name. `prices` are added to (and override) the default table unless
    `defaults=False`. Immutable: `merge` returns a new table."""

    def __init__(
        self, prices: Mapping[str, PriceLike] | None = None, *, defaults: bool = True
    ) -> None:
        table: dict[str, ModelPrice] = {}
        if defaults:
            table.update({name: ModelPrice(*price) for name, price in DEFAULT_PRICES.items()})
        for name, price in (prices or {}).items():
            table[name] = _price(name, price)
        self._prices = table
        self._index = {name.lower(): price for name, price in table.items()}

    def merge(self, other: PriceTable | Mapping[str, PriceLike]) -> PriceTable:
        """A new table with this one's prices, overridden by `other`'s."""
        extra = other._prices if isinstance(other, PriceTable) else other
        return PriceTable({**self._prices, **extra}, defaults=False)

    def price(self, model: str) -> ModelPrice | None:
        """The price of `model`, or None when the table has none (see the module doc)."""
        for candidate in _candidates(model):
            found = self._index.get(candidate)
            if found is not None:
                return found
        return None

    def cost(self, model: str, usage: Usage) -> float | None:
        """USD for `usage` of `model`; None when the model has no price."""
        price = self.price(model)
        return None if price is None else price.cost(usage)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.price(model) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._prices))

    def __len__(self) -> int:
        return len(self._prices)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PriceTable) and self._prices == other._prices

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models)"


def _price(name: str, price: PriceLike) -> ModelPrice:
    if isinstance(price, ModelPrice):
        values: tuple[float, ...] = (price.input_per_million, price.output_per_million)
    else:
        try:
            values = tuple(float(value) for value in price)
        except (TypeError, ValueError):
            values = ()
    if len(values) != 2 or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ConfigError(
            f"price of {name!r} is {price!r}: give (USD per million input tokens, USD per "
            "million output tokens), two numbers >= 0, e.g. (0.15, 0.60)"
        )
    return ModelPrice(values[0], values[1])


def _candidates(model: str) -> Iterator[str]:
    """`model`, then the same without provider prefix and date or -latest suffix."""
    name = model.strip().lower()
    yield name
    bare = name.rsplit("/", 1)[-1]
    if bare != name:
        yield bare
    for pattern in _SUFFIXES:
        stripped = pattern.sub("", bare)
        if stripped != bare:
            yield stripped
