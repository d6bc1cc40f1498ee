"""How a model call finds the trial it belongs to.

The session runs each trial with a `CallContext` in a context variable (asyncio tasks and
`asyncio.to_thread` copy it, so concurrent trials each see their own). Backends call
`before_call` first (the call cache, replay and the budget may answer or refuse the call) and
`after_call` with the response (usage and cost are added to the trial; a new response goes to
the cache). Outside a trial (a backend used in a plain script) there is no context and
backends simply call the model.

A call answered from a recording (replay, the call cache) takes no time, yet the trial's
`latency_s` must be what the recorded call took: the condition wrapper starts a `ReplayClock`
around each condition call, the call context adds each stored answer's recorded `latency_s`
to it (`note_replayed`), and the wrapper adds that to the time it measured. Stored answers
served concurrently inside one condition call are summed (the recording's overlap is not
known).

A strategy around an opaque call (a hedge: strategies/) watches the model calls made inside
it with `watch_calls`: which were answered from the recording, which went to the model and
what they cost, and whether they may queue for a rate-limit permit.

Library code below the trial (ensembles, hedging, scorers) keeps what it did on the running
trial through one sink: `note_trial_result(key, value)` sets a result, and
`update_trial_result(key, update)` replaces it by `update(current)` in one step (a hedge's
totals accumulate over the trial's calls). The runner points the sink at the running trial
(`trial_result_sink`, any `TrialResults`), so this layer never imports the trial.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pytest_crucible.llm.pricing import PriceTable
    from pytest_crucible.llm.types import ModelRequest, ModelResponse

__all__ = [
    "CallContext",
    "CallWatcher",
    "ReplayClock",
    "TrialResults",
    "call_context",
    "current_call_context",
    "current_call_watcher",
    "note_replayed",
    "note_trial_result",
    "start_replay_clock",
    "trial_result_sink",
    "update_trial_result",
    "watch_calls",
]


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

    def cut_off(self, request: ModelRequest, cost_usd: float | None) -> None:
        """Account for a request sent and cancelled before its answer (a hedge's loser):
        `cost_usd` is what it may have cost (None: its model has no price)."""
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


class ReplayClock:
    """Recorded seconds of the stored answers served during one condition call."""

    __slots__ = ("_token", "seconds")

    def __init__(self) -> None:
        self.seconds = 0.0
        self._token: contextvars.Token[ReplayClock | None] | None = None

    def stop(self) -> float:
        """Stop counting (in the context that started the clock); the seconds counted."""
        if self._token is not None:
            _CLOCK.reset(self._token)
            self._token = None
        return self.seconds


_CLOCK: contextvars.ContextVar[ReplayClock | None] = contextvars.ContextVar(
    "crucible_replay_clock", default=None
)


def start_replay_clock() -> ReplayClock:
    """A clock that stored answers served in this context (and tasks and threads started
    from it) add their recorded duration to, until `stop()`."""
    clock = ReplayClock()
    clock._token = _CLOCK.set(clock)
    return clock


def note_replayed(seconds: float) -> None:
    """A stored answer was served: count its recorded duration on the running clock."""
    clock = _CLOCK.get()
    if clock is not None:
        clock.seconds += seconds


class CallWatcher(Protocol):
    """Sees the model calls made in its context (`watch_calls`): what a strategy wrapped
    around an opaque call (hedging, strategies/) needs to know about the calls inside it."""

    # False: a call must not queue for a rate-limit permit; when none is free at once it
    # raises `PermitUnavailable` instead (a hedge's backup request is sent now or never).
    waits_for_permit: bool

    def stored(self, response: ModelResponse) -> None:
        """A call was answered from the recording (call cache, replay): no request sent."""
        ...

    def sending(self, request: ModelRequest, prices: PriceTable) -> None:
        """A call is going to the model (`prices`: the backend's, to price what it costs)."""
        ...

    def answered(self, response: ModelResponse) -> None:
        """A call that went to the model got its response (usage and cost in it)."""
        ...

    def take_head_start(self) -> float:
        """Seconds the watched calls began after the call they stand in for (a hedge's
        backup: the delay it waited), once (then 0): added to the first response's
        `duration_s`, so the recording, and a replay of it, count the whole hedged call."""
        ...


_WATCHER: contextvars.ContextVar[CallWatcher | None] = contextvars.ContextVar(
    "crucible_call_watcher", default=None
)


def current_call_watcher() -> CallWatcher | None:
    return _WATCHER.get()


@contextmanager
def watch_calls(watcher: CallWatcher | None) -> Iterator[None]:
    """Let `watcher` see the model calls made in this context (and the tasks it starts)."""
    token = _WATCHER.set(watcher)
    try:
        yield
    finally:
        _WATCHER.reset(token)


class TrialResults(Protocol):
    """The running trial's JSON results as library code sees them (the runner gives its
    `run/trial.py:Trial`)."""

    def result(self, key: str, value: Any) -> None:
        """Keep `value` under `key` (replacing what was there)."""
        ...

    def update_result(self, key: str, update: Callable[[Any | None], Any]) -> None:
        """Replace the value under `key` by `update(current)` (None when unset), in one step
        that concurrent updates of the same trial cannot interleave with."""
        ...


# the results of the trial running in this context (None outside a trial)
_RESULT_SINK: contextvars.ContextVar[TrialResults | None] = contextvars.ContextVar(
    "crucible_trial_result_sink", default=None
)


def trial_result_sink(results: TrialResults | None) -> Callable[[], None]:
    """Send `note_trial_result` and `update_trial_result` calls in this context (and the
    tasks and threads started from it) to `results`, the running trial's; returns the
    function that restores the previous sink."""
    token = _RESULT_SINK.set(results)
    return lambda: _RESULT_SINK.reset(token)


def note_trial_result(key: str, value: Any) -> bool:
    """Keep a JSON value on the running trial (`trial.result(key, value)`); False, and
    nothing kept, outside a trial."""
    results = _RESULT_SINK.get()
    if results is None:
        return False
    results.result(key, value)
    return True


def update_trial_result(key: str, update: Callable[[Any | None], Any]) -> bool:
    """Replace the running trial's result under `key` by `update(current)` (current: None
    when unset), e.g. totals that add up over a trial's calls. `update` is called at most
    once, and must return a JSON value and leave the trial alone (it runs under the trial's
    lock). False, `update` not called and nothing kept, outside a trial."""
    results = _RESULT_SINK.get()
    if results is None:
        return False
    results.update_result(key, update)
    return True
