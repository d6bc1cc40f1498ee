"""`TaskState`: what a solver chain threads through its solvers for one sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.llm.solvers._errors import SolverError
from pytest_crucible.llm.types import ChatMessage, ModelResponse, Usage

if TYPE_CHECKING:
    from pytest_crucible.llm.solvers._tools import Tool

__all__ = ["Limits", "SolverFailure", "TaskState", "to_messages"]

DEFAULT_MAX_TURNS = 10


@dataclass(frozen=True)
class Limits:
    """Limits of one task state; `None` means no limit. Reaching one raises `LimitExceeded`.

    - `max_turns`: the most model calls one `generate` makes in its tool loop (default 10).
    - `max_tokens`: the most tokens (input + output) all model calls of the state may use.
    - `max_model_calls`: the most model calls the state may make (tool-loop turns and the
      extra calls of solvers such as `self_critique` count).
    """

    max_turns: int | None = None
    max_tokens: int | None = None
    max_model_calls: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_tokens", "max_model_calls"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise SolverError(
                    f"Limits({name}={value!r}): a limit is a positive int, or None for no limit"
                )


@dataclass(frozen=True)
class SolverFailure:
    """Why a chain stopped early: the failing solver's name and the exception it raised."""

    solver: str
    exception: BaseException

    def __str__(self) -> str:
        return f"solver {self.solver!r} raised {type(self.exception).__name__}: {self.exception}"


class TaskState:
    """The state of one sample as it goes through a solver chain.

    `messages` starts as the input (a string becomes one user message). Solvers read and change
    the state in place (or return a new one); `generate` appends the model's messages and keeps
    `output`, `usage` and `model_calls` up to date. `store` holds a solver's intermediate values
    for later solvers (and for the trial to record); setting `completed` ends the chain.
    """

    def __init__(
        self,
        input: str | Sequence[ChatMessage | Mapping[str, Any]],
        *,
        target: Any = None,
        metadata: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        id: str | None = None,
    ) -> None:
        self.id = id
        self.messages: list[ChatMessage] = to_messages(input)
        self.input: str | list[ChatMessage] = (
            input if isinstance(input, str) else list(self.messages)
        )
        self.target = target
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.store: dict[str, Any] = {}
        self.limits = limits or Limits()
        self.tools: list[Tool] = []
        self.output: ModelResponse | None = None
        self.completed = False
        self.usage = Usage()
        self.model_calls = 0
        self.error: SolverFailure | None = None

    def __repr__(self) -> str:
        return (
            f"<TaskState id={self.id!r} messages={len(self.messages)} "
            f"model_calls={self.model_calls} completed={self.completed} error={self.error}>"
        )

    @property
    def input_text(self) -> str:
        """The input as text: the string itself, or the last user message of the input."""
        if isinstance(self.input, str):
            return self.input
        return _last_user(self.input)[1]

    @property
    def user_prompt(self) -> str:
        """The text of the last user message ("" if there is none)."""
        return _last_user(self.messages)[1]

    @user_prompt.setter
    def user_prompt(self, text: str) -> None:
        index, _ = _last_user(self.messages)
        if index is None:
            self.messages.append(ChatMessage(role="user", content=text))
        else:
            self.messages[index] = self.messages[index].model_copy(update={"content": text})

    @property
    def completion(self) -> str:
        """The text of the last model response ("" before any model call)."""
        return self.output.content if self.output is not None else ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary: messages, output, usage, store keys, error."""
        return {
            "id": self.id,
            "messages": [m.model_dump(exclude_defaults=True) for m in self.messages],
            "output": self.completion,
            "finish_reason": self.output.finish_reason if self.output else None,
            "usage": self.usage.model_dump(),
            "model_calls": self.model_calls,
            "completed": self.completed,
            "store": sorted(self.store),
            "error": str(self.error) if self.error else None,
        }


def to_messages(input: str | Sequence[ChatMessage | Mapping[str, Any]]) -> list[ChatMessage]:
    """Messages from an input: a string is one user message; mappings are validated."""
    if isinstance(input, str):
        return [ChatMessage(role="user", content=input)]
    messages: list[ChatMessage] = []
    for position, message in enumerate(input):
        if isinstance(message, ChatMessage):
            messages.append(message)
        elif isinstance(message, Mapping):
            try:
                messages.append(ChatMessage.model_validate(dict(message)))
            except ValueError as exc:
                raise SolverError(
                    f"input message {position} ({dict(message)!r:.80}) is not a chat message: "
                    f"{exc}; write {{'role': 'user', 'content': '...'}}"
                ) from None
        else:
            raise SolverError(
                f"input message {position} is a {type(message).__name__}; an input is a string "
                "or a list of ChatMessage or {'role': ..., 'content': ...} dicts"
            )
    return messages


def _last_user(messages: Sequence[ChatMessage]) -> tuple[int | None, str]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index, messages[index].content
    return None, ""
