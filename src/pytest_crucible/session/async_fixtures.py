"""Async plugins (pytest-asyncio, anyio) beside the session's own event loop (worker role).

Trials run on the process's loop (`run/loop_thread.py:LoopThread`), many in flight at once; an
async plugin would run each async trial function on its own loop, one at a time. So:

- Trial items stay the session's: the worker calls the trial function as collected (not the
  sync wrapper pytest-asyncio puts in its place while an item runs), and pytest-asyncio's
  per-item loop runner is not a fixture that keeps trials from running ahead.
- An async fixture that a trial item asks for is set up (and torn down) on the session's
  loop, not on a plugin's: an object bound to a loop, such as a session-scoped
  `httpx.AsyncClient`, then works in every trial ("bound to a different event loop"
  otherwise). Such a fixture is the session's for the whole run: an ordinary async test
  that asks for the same instance later gets one bound to the session's loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_crucible.run.loop_thread import LoopThread

__all__ = ["is_plugin_loop_runner", "on_session_loop", "runs_on_session_loop"]

# pytest-asyncio's fixtures that hold the loop of each test (one per loop scope)
_ASYNCIO_RUNNERS = frozenset(
    f"_{scope}_scoped_runner" for scope in ("function", "class", "module", "package", "session")
)


def is_plugin_loop_runner(name: str, config: pytest.Config) -> bool:
    """Whether a fixture is an async plugin's loop for running the test function itself
    (pytest-asyncio adds it to an item's fixtures as the item is set up): the session runs
    trial functions on its own loop, so it does not keep a trial from running ahead."""
    return name in _ASYNCIO_RUNNERS and config.pluginmanager.has_plugin("asyncio")


def runs_on_session_loop(fixture_function: Any, request: pytest.FixtureRequest) -> bool:
    """Whether the session sets up this fixture: an async one, for a trial function (not a
    method: its binding to a class instance is left to the plugins)."""
    is_async = inspect.iscoroutinefunction(fixture_function) or inspect.isasyncgenfunction(
        fixture_function
    )
    return is_async and request.instance is None


def on_session_loop(fixture_function: Any, loop: LoopThread) -> Callable[..., Any]:
    """A sync stand-in for an async fixture function that runs it on the session's loop;
    pytest calls it (and tears it down) like any sync fixture."""
    name = getattr(fixture_function, "__name__", "fixture")
    if inspect.isasyncgenfunction(fixture_function):

        def generator(**kwargs: Any) -> Iterator[Any]:
            steps = fixture_function(**kwargs)
            yield loop.run(steps.__anext__())
            try:
                loop.run(steps.__anext__())
            except StopAsyncIteration:
                return
            loop.run(steps.aclose())
            pytest.fail(f"async fixture {name} yields more than once", pytrace=False)

        stand_in: Callable[..., Any] = generator
    else:

        def call(**kwargs: Any) -> Any:
            return loop.run(fixture_function(**kwargs))

        stand_in = call
    stand_in.__name__ = stand_in.__qualname__ = name
    stand_in.__module__ = getattr(fixture_function, "__module__", __name__)
    return stand_in
