"""How a model call finds the trial it belongs to.

The session runs each trial with a `CallContext` in a context variable (asyncio tasks and
`asyncio.to_thread` copy it, so concurrent trials each see their own). Backends call
`before_call` first (the call cache, replay and the budget may answer or refuse the call) and
`after_call` with the response (usage and cost are added to the trial; a new response goes to
the cache). Outside a trial (a backend used in a plain script) there is no context and
backends simply call the model.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .types import ModelRequest, ModelResponse

__all__ = ["CallContext", "call_context", "current_call_context"]


class CallContext(Protocol):
    # A backend sends this seed with a request that has none (None: send none).
    seed: int | None

    def before_call(self, backend: str, request: ModelRequest) -> ModelResponse | None:
        """A stored response to use instead of calling the model, or None to call it.
        May raise (a replay that has no recording of the call, a budget that is spent)."""
        ...

    def after_call(self, backend: str, request: ModelRequest, response: ModelResponse) -> None:
        """Account for a response that came from the model (not from `before_call`)."""
        ...


_CURRENT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "crucible_call_context", default=None
)


def current_call_context() -> CallContext | None:
    return _CURRENT.get()


@contextmanager
def call_context(context: CallContext | None) -> Iterator[None]:
    token = _CURRENT.set(context)
    try:
        yield
    finally:
        _CURRENT.reset(token)
