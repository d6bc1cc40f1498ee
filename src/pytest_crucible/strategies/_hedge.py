"""Request hedging: send a backup of a slow call, keep the first answer, cancel the other.

    answer = await hedge(lambda: backend.achat("m", prompt), policy=p95, budget=0.1)

After Dean and Barroso, "The Tail at Scale" (CACM 2013). The call runs as a task; when it
has not finished after the policy's delay, the same call runs again as a second task (the
backup); the first to succeed wins and the other is cancelled (its HTTP request aborted)
and awaited, so no task is left running. How it meets the rest of the library:

- rate limits: the backup's requests take permits like any call, but never queue for one
  (`CallWatcher.waits_for_permit`): no permit free at the hedge time, no backup;
- the call cache and replay: a call answered from the recording returns before the timer,
  and a call in which any model call was answered from the recording never hedges; the
  recording holds the winner's answer (the cancelled loser never reaches it), so a replay
  returns the recorded winner's response without a request;
- the budget: the policy counts calls and backups; a backup that would pass
  `budget` x calls is not sent;
- an experiment's `Budget`: the loser's answered calls count like any call; its request cut
  off mid-flight counts too, at its prompt's estimated input cost (`CallContext.cut_off`);
- inside a trial, each hedged call is recorded under `trial.result("hedge", ...)`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm.context import (
    CallWatcher,
    current_call_context,
    current_call_watcher,
    update_trial_result,
    watch_calls,
)
from pytest_crucible.llm.errors import PermitUnavailable
from pytest_crucible.strategies._hedge_policy import HedgePolicy, check_budget

if TYPE_CHECKING:
    from typing import TypeAlias

    from pytest_crucible.llm.pricing import PriceTable
    from pytest_crucible.llm.types import ModelRequest, ModelResponse

    # requests cut off mid-flight: each with its estimated input tokens and their price
    CutOff: TypeAlias = list[tuple[ModelRequest, int, float | None]]

__all__ = ["HedgeRecord", "Hedged", "hedge", "hedge_outcome", "hedged"]

T = TypeVar("T")
P = ParamSpec("P")

# per-call records kept in a trial's "hedge" result (the totals count every call)
_KEPT_CALLS = 50


@dataclass
class HedgeRecord:
    """What happened to one hedged call."""

    fired: bool  # a backup request was sent
    winner: str  # "primary" or "backup"
    delay_s: float | None  # the policy's delay (None: no backup was possible)
    skipped: str | None  # why no backup: "budget", "rate_limit", "stored", "no_delay"
    latency_s: float  # the hedged call, from its start to the winner's answer
    stored: bool = False  # the winner was answered from the recording (cache, replay)
    extra_input_tokens: int = 0  # of the loser (estimated for a request cut off)
    extra_output_tokens: int = 0
    extra_cost_usd: float | None = None  # None: nothing priced


@dataclass
class Hedged(Generic[T]):
    """A hedged call's value and its record (`hedge_outcome`)."""

    value: T
    record: HedgeRecord


@dataclass
class _Watch:
    """The model calls made by one of the two tasks (a `CallWatcher`), passed on to a
    watcher around the hedge (a hedge inside a hedged condition)."""

    waits_for_permit: bool
    parent: CallWatcher | None
    sent: list[tuple[ModelRequest, PriceTable]] = field(default_factory=list)
    answers: list[ModelResponse] = field(default_factory=list)
    stored_hits: int = 0
    finished_at: float | None = None
    head_start_s: float = 0.0  # a backup's: the time since the primary started

    def take_head_start(self) -> float:
        head_start, self.head_start_s = self.head_start_s, 0.0
        return head_start

    def stored(self, response: ModelResponse) -> None:
        self.stored_hits += 1
        if self.parent is not None:
            self.parent.stored(response)

    def sending(self, request: ModelRequest, prices: PriceTable) -> None:
        self.sent.append((request, prices))
        if self.parent is not None:
            self.parent.sending(request, prices)

    def answered(self, response: ModelResponse) -> None:
        self.answers.append(response)
        if self.parent is not None:
            self.parent.answered(response)

    def cost(self, cut_off: CutOff) -> tuple[int, int, float | None]:
        """Tokens in and out and USD of what this task's calls spent: answered calls by
        their usage, the requests `cut_off()` gave by their estimate at the input price."""
        tokens_in = sum(r.usage.input_tokens for r in self.answers)
        tokens_out = sum(r.usage.output_tokens for r in self.answers)
        priced = [r.cost_usd for r in self.answers if r.cost_usd is not None]
        for _, estimate, cost in cut_off:
            tokens_in += estimate
            if cost is not None:
                priced.append(cost)
        return tokens_in, tokens_out, (sum(priced) if priced else None)

    def cut_off(self) -> CutOff:
        """The requests sent and never answered (the task was cancelled): each with its
        estimated input tokens (the prompt's characters / 4) and their price."""
        from pytest_crucible.llm.types import Usage

        cut = []
        for request, prices in self.sent[len(self.answers) :]:
            estimate = sum(len(m.content or "") for m in request.messages) // 4
            cut.append(
                (request, estimate, prices.cost(request.model, Usage(input_tokens=estimate)))
            )
        return cut


async def _run(call: Callable[[], Awaitable[T]], watch: _Watch) -> T:
    with watch_calls(watch):
        try:
            awaitable = call()
            if not isinstance(awaitable, Awaitable):
                raise ConfigError(
                    f"hedge(call): {call!r} returned {type(awaitable).__name__}, not an "
                    "awaitable; give a function with no arguments that starts the async call, "
                    "e.g. lambda: backend.achat(model, prompt)"
                )
            return await awaitable
        finally:
            watch.finished_at = time.perf_counter()


async def _settle(task: asyncio.Task[T]) -> None:
    """Cancel a task and wait until it has ended (its request aborted)."""
    task.cancel()
    await asyncio.wait({task})


async def hedge_outcome(
    call: Callable[[], Awaitable[T]],
    *,
    policy: HedgePolicy,
    budget: float | None = None,
    key: Hashable = None,
) -> Hedged[T]:
    """`hedge`, returning the value with its `HedgeRecord`."""
    if not isinstance(policy, HedgePolicy):
        raise ConfigError(
            f"hedge(policy={policy!r}): give a hedging policy made once and shared by the "
            "calls, e.g. Percentile(95), Fixed(0.5), Adaptive(target_extra=0.05)"
        )
    if not callable(call):
        raise ConfigError(
            f"hedge(call={call!r}): give a function with no arguments that starts the async "
            "call, e.g. lambda: backend.achat(model, prompt)"
        )
    budget = check_budget(budget)
    policy.start_call()
    delay = policy.delay(key)
    parent = current_call_watcher()
    waits = parent is None or parent.waits_for_permit
    first = _Watch(waits_for_permit=waits, parent=parent)
    started = time.perf_counter()
    primary = asyncio.ensure_future(_run(call, first))
    backup: asyncio.Task[T] | None = None
    second: _Watch | None = None
    skipped: str | None = None
    try:
        if delay is None:
            skipped = "no_delay"
        else:
            await asyncio.wait({primary}, timeout=delay)
        if not primary.done() and skipped is None:
            if first.stored_hits:
                skipped = "stored"
            elif not policy.admit_backup(budget):
                skipped = "budget"
            else:
                second = _Watch(waits_for_permit=False, parent=parent)
                second.head_start_s = time.perf_counter() - started
                backup = asyncio.ensure_future(_run(call, second))
        winner, value = await _first_success(primary, backup)
    finally:
        for task in (primary, backup):
            if task is not None and not task.done():
                await _settle(task)
    if (
        backup is not None
        and not backup.cancelled()
        and isinstance(backup.exception(), PermitUnavailable)
    ):
        policy.refund_backup()
        skipped, backup = "rate_limit", None
    fired = backup is not None
    _observe(policy, key, first, started)
    policy.settled(key, fired, delay)
    record = HedgeRecord(
        fired=fired,
        winner="backup" if winner is backup and backup is not None else "primary",
        delay_s=delay,
        skipped=skipped,
        latency_s=time.perf_counter() - started,
        stored=(second if winner is backup and second is not None else first).stored_hits > 0,
    )
    if fired:
        loser = first if record.winner == "backup" else second
        assert loser is not None
        cut_off = loser.cut_off()  # estimated once: for the record and for the budget
        extra = loser.cost(cut_off)
        record.extra_input_tokens, record.extra_output_tokens, record.extra_cost_usd = extra
        _spend_cut_off(cut_off)
    _note_on_trial(record)
    return Hedged(value, record)


def _spend_cut_off(cut_off: CutOff) -> None:
    """The loser's answered calls are in the trial's usage and budget already; its requests
    cut off mid-flight are billed too, so the budget counts them (llm/context.py)."""
    context = current_call_context()
    if context is None:
        return
    for request, _, cost in cut_off:
        context.cut_off(request, cost)


async def _first_success(
    primary: asyncio.Task[T], backup: asyncio.Task[T] | None
) -> tuple[asyncio.Task[T], T]:
    """The task that succeeded first and its value. A failed task leaves the other to
    finish; when both fail, the primary's error is raised."""
    pending = {primary} if backup is None else {primary, backup}
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in (primary, backup):  # both done at once: the primary wins
            if task in done and not task.cancelled() and task.exception() is None:
                return task, task.result()
    return primary, primary.result()  # raises the primary's error (or its cancellation)


def _observe(policy: HedgePolicy, key: Hashable, first: _Watch, started: float) -> None:
    """The first request's latency for the policy: when it finished, or was cancelled (a
    lower bound). A call answered from the recording took no time and teaches nothing."""
    if first.stored_hits or first.finished_at is None:
        return
    policy.observe(key, first.finished_at - started)


def _note_on_trial(record: HedgeRecord) -> None:
    """Add the call to the running trial's "hedge" result (totals and the first calls);
    nothing outside a trial."""

    def add(previous: Any | None) -> dict[str, Any]:
        totals: dict[str, Any] = dict(previous or {})
        cost = totals.get("extra_cost_usd")
        if record.extra_cost_usd is not None:
            cost = (cost or 0.0) + record.extra_cost_usd
        kept = list(totals.get("per_call", []))
        if len(kept) < _KEPT_CALLS:
            kept.append(asdict(record))
        return {
            "calls": int(totals.get("calls", 0)) + 1,
            "backups": int(totals.get("backups", 0)) + record.fired,
            "backup_won": int(totals.get("backup_won", 0)) + (record.winner == "backup"),
            "extra_input_tokens": int(totals.get("extra_input_tokens", 0))
            + record.extra_input_tokens,
            "extra_output_tokens": int(totals.get("extra_output_tokens", 0))
            + record.extra_output_tokens,
            "extra_cost_usd": cost,
            "per_call": kept,
        }

    update_trial_result("hedge", add)


async def hedge(
    call: Callable[[], Awaitable[T]],
    *,
    policy: HedgePolicy,
    budget: float | None = None,
    key: Hashable = None,
) -> T:
    """Await `call()`; if it has not answered after `policy`'s delay, start `call()` again
    and return whichever succeeds first, cancelling the other. `budget`: the largest share
    of calls that may send a backup (0.1: 10% extra requests; None: no cap). `key`: the
    workload, for policies that keep separate delays (a model name, a prompt length)."""
    return (await hedge_outcome(call, policy=policy, budget=budget, key=key)).value


def hedged(
    policy: HedgePolicy,
    *,
    budget: float | None = None,
    key: Callable[..., Hashable] | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """The decorator form: `@hedged(Percentile(95), budget=0.1)` over an async function
    hedges each call of it; `key(*args, **kwargs)` gives the workload key."""

    def wrap(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(function)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            return await hedge(
                lambda: function(*args, **kwargs),
                policy=policy,
                budget=budget,
                key=None if key is None else key(*args, **kwargs),
            )

        return run

    return wrap
