"""The members of an ensemble: a backend and a model name, or a callable; calling one.

A backend member's call goes through the backend as any call does (`agenerate`; a sync
`run` has an event loop of its own, and the backend a client for it), so the trial's call
cache, replay, budget, rate limits and retries apply to each member's call. A callable
member (a condition, a function, sync or async) returns an answer, or
`(answer, confidence)`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_crucible.errors import StrategyError
from pytest_crucible.llm.context import current_call_context
from pytest_crucible.strategies._ensemble_result import MemberAnswer

__all__ = ["Member", "as_members", "call_member", "repeat_offsets", "trailing_confidence"]

ConfidenceParser = Callable[[str], tuple[str, float | None]]
Normalizer = Callable[[str], Any]

_TRAILING = re.compile(r"^(.*?)[\s,;(]*confidence[\s:=]*([01](?:\.\d+)?)\)?\s*$", re.S | re.I)


def trailing_confidence(text: str) -> tuple[str, float | None]:
    """("Paris", 0.83) from "Paris (confidence 0.83)" or "Paris. Confidence: 0.83";
    (text, None) when the text ends with no confidence."""
    found = _TRAILING.match(text.strip())
    if found is None:
        return text.strip(), None
    return found.group(1).strip(), float(found.group(2))


@dataclass(frozen=True)
class Member:
    """One member. `target`: a backend (with `request` and `agenerate`, as every backend of
    `pytest_crucible.llm`) with `model`, or a callable (sync or async) with `model=None`.
    `weight` counts in vote="weighted"; `seed` fixes the request seed of a backend member;
    `params` are the request's other fields (temperature, max_tokens, system, ...)."""

    target: Any
    model: str | None = None
    weight: float = 1.0
    seed: int | None = None
    name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_backend(self) -> bool:
        return self.model is not None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.model is not None:
            return f"{getattr(self.target, 'name', type(self.target).__name__)}:{self.model}"
        return str(getattr(self.target, "name", None) or getattr(self.target, "__name__", "member"))


def _member(spec: Any, position: int) -> Member:
    if isinstance(spec, Member):
        member = spec
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str):
        member = Member(spec[0], spec[1])
    elif callable(spec) and not isinstance(spec, tuple):
        member = Member(spec)
    else:
        raise StrategyError(
            f"ensemble member {position}: {spec!r:.80} is neither (backend, 'model name'), a "
            "Member(...) nor a callable; e.g. members=[(backend, 'm1'), (backend, 'm2')]"
        )
    if member.model is not None and not (
        hasattr(member.target, "request") and hasattr(member.target, "agenerate")
    ):
        raise StrategyError(
            f"ensemble member {position}: {member.target!r:.60} is not a model backend (it "
            "has no request() and agenerate()); give a backend of pytest_crucible.llm with a "
            "model name, or a callable with no model"
        )
    if member.model is None and not callable(member.target):
        raise StrategyError(f"ensemble member {position}: {member.target!r:.60} is not callable")
    weight = member.weight
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
        raise StrategyError(f"ensemble member {position}: weight={weight!r}; give a number > 0")
    return member


def as_members(specs: Sequence[Any], weights: Sequence[float] | None) -> list[Member]:
    """The members, checked, with `weights` (one per member) applied."""
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence) or not specs:
        raise StrategyError(
            f"ensemble(members={specs!r:.80}): give a non-empty list of members, e.g. "
            "[(backend, 'm1'), (backend, 'm2'), my_condition]"
        )
    members = [_member(spec, position) for position, spec in enumerate(specs)]
    if weights is None:
        return members
    if isinstance(weights, str | bytes) or len(weights) != len(members):
        raise StrategyError(
            f"ensemble(weights={weights!r:.80}): give one weight per member "
            f"({len(members)} members)"
        )
    return [
        _member(Member(m.target, m.model, w, m.seed, m.name, m.params), position)
        for position, (m, w) in enumerate(zip(members, weights, strict=True))
    ]


def repeat_offsets(members: Sequence[Member]) -> list[int]:
    """For each member, how many earlier members use the same backend and model: the k-th
    repeat (k >= 1) is sent the seed (trial seed or 0) + k, an independent sample."""
    seen: dict[tuple[int, str], int] = {}
    offsets = []
    for member in members:
        key = (id(member.target), member.model or "")
        offsets.append(seen.get(key, 0) if member.is_backend else 0)
        seen[key] = seen.get(key, 0) + 1
    return offsets


def _is_async(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if getattr(fn, "is_async", None) is True:  # a declared Condition
        return True
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


async def _call_callable(member: Member, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if _is_async(member.target):
        output = member.target(*args, **kwargs)
    else:  # a thread, so that members run at once (a thread cannot be cancelled: a sync
        # member that lost a hedge runs to its end)
        output = await asyncio.to_thread(member.target, *args, **kwargs)
    if inspect.isawaitable(output):
        output = await output
    return output


async def call_member(
    member: Member,
    index: int,
    prompt: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    offset: int,
    confidence: ConfidenceParser | None,
    normalize: Normalizer | None,
) -> MemberAnswer:
    """Call one member and read its answer (and confidence) from what it returned."""
    started = time.perf_counter()
    if not member.is_backend:
        output = await _call_callable(member, args, kwargs)
        seconds = time.perf_counter() - started
        text, said = _split_output(member, output)
        return _answer(member, index, output, text, said, seconds, confidence, normalize)
    params = dict(member.params)
    seed = member.seed
    if seed is None and offset:
        context = current_call_context()
        seed = (context.seed if context is not None and context.seed is not None else 0) + offset
    if seed is not None:
        params["seed"] = seed
    assert member.model is not None
    request = member.target.request(member.model, prompt, **params)
    response = await member.target.agenerate(request)
    # the call's own duration (retries included), which a stored answer keeps: a replay
    # shows the latencies of the recording
    seconds = response.duration_s
    if seconds is None:
        seconds = response.latency_s if response.cached else time.perf_counter() - started
    text = response.content
    answer = _answer(member, index, text, text, None, seconds, confidence, normalize)
    return replace(
        answer,
        cached=response.cached,
        cost_usd=response.cost_usd,
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
    )


def _split_output(member: Member, output: Any) -> tuple[str | None, float | None]:
    """(text, confidence) from what a callable member returned."""
    if isinstance(output, tuple) and len(output) == 2:
        text, said = output
        if said is not None and (isinstance(said, bool) or not isinstance(said, int | float)):
            raise StrategyError(
                f"ensemble member {member.label}: returned (answer, {said!r}); the second "
                "value must be a confidence from 0 to 1 (or None)"
            )
        return (None if text is None else str(text)), (None if said is None else float(said))
    if output is None or isinstance(output, str | int | float):
        return (None if output is None else str(output)), None
    content = getattr(output, "content", None)  # a ModelResponse
    if isinstance(content, str):
        return content, None
    raise StrategyError(
        f"ensemble member {member.label}: returned {type(output).__name__}; return the answer "
        "(a string), (answer, confidence) or a model response"
    )


def _answer(
    member: Member,
    index: int,
    raw: Any,
    text: str | None,
    said: float | None,
    seconds: float,
    confidence: ConfidenceParser | None,
    normalize: Normalizer | None,
) -> MemberAnswer:
    if text is not None and said is None and confidence is not None:
        text, said = confidence(text)
    answer: Any = text
    if text is not None and normalize is not None:
        answer = normalize(text)
    return MemberAnswer(
        member=member.label,
        index=index,
        raw=raw,
        answer=None if answer is None else str(answer),
        confidence=said,
        latency_s=seconds,
    )
