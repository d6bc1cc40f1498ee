"""Which answer a request gets: a reply by substring, a user's callable, or the default."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from pytest_crucible.testing._accuracy import Accuracy, AccuracyError
from pytest_crucible.testing._errors import MockServerError
from pytest_crucible.testing._requests import ChatRequest

__all__ = ["AnswerError", "AnswerFn", "Answerer", "Reply", "ToolCall", "default_answer"]

ReplyValue: TypeAlias = "str | dict[str, Any]"
AnswerFn: TypeAlias = Callable[[dict[str, Any]], "ReplyValue | Awaitable[ReplyValue]"]
_REPLY_KEYS = ("content", "tool_calls")


class AnswerError(Exception):
    """The user's answer (callable or dict) produced something that is not a reply."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """What the model says: text and/or tool calls; `truncated` when max_tokens cut it."""

    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    truncated: bool = False

    @property
    def words(self) -> int:
        count = len((self.content or "").split())
        count += sum(len(json.dumps(call.arguments).split()) + 1 for call in self.tool_calls)
        return max(1, count)


def default_answer(request: ChatRequest) -> str:
    """The last user message and a short hash of the request: "Mock answer to: hi [1a2b3c4d]"."""
    tag = request.digest[:8]
    question = " ".join(request.last_user.split())
    return f"Mock answer to: {question} [{tag}]" if question else f"Mock answer [{tag}]"


def check_reply_value(value: Any, where: str) -> None:
    """Raise `MockServerError` unless `value` is a str or a reply dict (checked when configured)."""
    if isinstance(value, str):
        return
    if not isinstance(value, dict) or not set(value) <= set(_REPLY_KEYS) or not value:
        raise MockServerError(
            f"{where}={value!r}: a reply is a string, or a dict with 'content' and/or "
            "'tool_calls', e.g. {'tool_calls': [{'name': 'add', 'arguments': {'a': 1}}]}"
        )


def _tool_call(raw: Any, index: int, digest: str, prefix: str) -> ToolCall:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise AnswerError(f"tool_calls[{index}]={raw!r}: need a dict with a string 'name'")
    arguments = raw.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise AnswerError(f"tool_calls[{index}].arguments is not JSON: {exc}") from exc
    if not isinstance(arguments, dict):
        raise AnswerError(f"tool_calls[{index}].arguments must be a dict, got {arguments!r}")
    call_id = raw.get("id")
    if not isinstance(call_id, str):
        seed = f"{digest}/{index}/{raw['name']}".encode()
        call_id = prefix + hashlib.sha256(seed).hexdigest()[:24]
    return ToolCall(id=call_id, name=raw["name"], arguments=arguments)


def to_reply(value: Any, request: ChatRequest) -> Reply:
    """A `Reply` from what an answer gave, truncated to the request's max_tokens words."""
    if isinstance(value, str):
        content: Any = value
        raw_calls: Any = []
    elif isinstance(value, dict) and set(value) <= set(_REPLY_KEYS):
        content = value.get("content")
        raw_calls = value.get("tool_calls") or []
    else:
        raise AnswerError(
            f"the answer gave {value!r}; return a string or a dict with 'content' and/or "
            "'tool_calls'"
        )
    if content is not None and not isinstance(content, str):
        raise AnswerError(f"'content' must be a string, got {content!r}")
    if not isinstance(raw_calls, list):
        raise AnswerError(f"'tool_calls' must be a list, got {raw_calls!r}")
    prefix = "call_" if request.api == "openai" else "toolu_"
    calls = tuple(_tool_call(raw, i, request.digest, prefix) for i, raw in enumerate(raw_calls))
    if content is None and not calls:
        content = ""
    truncated = False
    if content and request.max_tokens is not None and not calls:
        words = content.split()
        if len(words) > request.max_tokens:
            content, truncated = " ".join(words[: request.max_tokens]), True
    return Reply(content=content, tool_calls=calls, truncated=truncated)


class Answerer:
    """Picks the reply: the first `answers` key found in the last user message, else `answer`
    (called with the request JSON, may be async), else `default_answer`. `answers` may be an
    `Accuracy` instead: every reply is then drawn from it."""

    def __init__(
        self,
        answer: AnswerFn | None = None,
        answers: Mapping[str, ReplyValue] | Accuracy | None = None,
    ) -> None:
        self.accuracy = answers if isinstance(answers, Accuracy) else None
        if self.accuracy is not None:
            if answer is not None:
                raise MockServerError(
                    "MockModelServer(answer=..., answers=Accuracy(...)): give one of them"
                )
            answers = None
        if answer is not None and not callable(answer):
            raise MockServerError(
                f"answer={answer!r} is not callable; pass a function taking the request JSON "
                "(dict) and returning a string or a reply dict, or use answers={substring: reply}"
            )
        if answers is not None and not isinstance(answers, Mapping):
            raise MockServerError(f"answers={answers!r}: give a dict {{substring: reply}}")
        for key, value in (answers or {}).items():
            if not isinstance(key, str):
                raise MockServerError(f"answers: key {key!r} must be a string (a substring)")
            check_reply_value(value, f"answers[{key!r}]")
        self.answer = answer
        self.answers = dict(answers or {})

    async def reply(self, request: ChatRequest) -> Reply:
        if self.accuracy is not None:
            return to_reply(self._drawn(self.accuracy, request), request)
        for key, reply in self.answers.items():
            if key in request.last_user:
                return to_reply(reply, request)
        if self.answer is None:
            return to_reply(default_answer(request), request)
        try:
            result = self.answer(request.body)
            value: Any = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            name = getattr(self.answer, "__name__", repr(self.answer))
            raise AnswerError(f"answer callable {name} raised {type(exc).__name__}: {exc}") from exc
        return to_reply(value, request)

    @staticmethod
    def _drawn(accuracy: Accuracy, request: ChatRequest) -> str:
        try:
            expected = accuracy.expected(request.body, request.last_user)
            draw = accuracy.draw(request.model, request.last_user, expected, request.seed)
        except AccuracyError as exc:
            raise AnswerError(str(exc)) from None
        except Exception as exc:  # the user's correct= callable
            raise AnswerError(f"Accuracy(correct=...) raised {type(exc).__name__}: {exc}") from exc
        return draw.text

    def config(self) -> dict[str, Any]:
        """What a child-process server needs to answer the same way (JSON-safe)."""
        if self.accuracy is not None:
            return {"accuracy": self.accuracy.to_dict()}
        return {"answers": self.answers}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Answerer:
        accuracy = config.get("accuracy")
        if accuracy is not None:
            return cls(answers=Accuracy.from_dict(accuracy))
        return cls(answers=config.get("answers"))
