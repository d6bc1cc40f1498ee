"""How an ensemble calls its members: all at once, one by one until the vote is decided,
a primary with backups after a delay, or a cascade that escalates while unsure.

Each function takes the number of members and `call(index)`, the coroutine that calls one
member, and returns the members' answers (in member order) and why the run stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pytest_crucible.strategies._ensemble_result import MemberAnswer

__all__ = ["EXECUTIONS", "run_cascade", "run_hedged", "run_parallel", "run_sequential"]

EXECUTIONS = ("parallel", "sequential", "hedged", "cascade")

MemberCall = Callable[[int], Awaitable[MemberAnswer]]
Run = tuple[list[MemberAnswer], str]


async def run_parallel(count: int, call: MemberCall) -> Run:
    """Every member at once; a member's error cancels the others and is raised (the error
    of the earliest member among those that failed together)."""
    tasks = [asyncio.ensure_future(call(index)) for index in range(count)]
    try:
        done, _ = await asyncio.wait(tasks, return_when="FIRST_EXCEPTION")
        for task in tasks:
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [task.result() for task in tasks], f"parallel: all {count} members called"


async def run_sequential(
    count: int, call: MemberCall, is_decided: Callable[[list[MemberAnswer]], bool]
) -> Run:
    """Members in list order, stopping once the answers so far decide the vote whatever
    the members not called would answer."""
    answers: list[MemberAnswer] = []
    for index in range(count):
        answers.append(await call(index))
        if index + 1 < count and is_decided(answers):
            return answers, f"decided after {index + 1} of {count} members"
    return answers, f"all {count} members called"


async def run_cascade(
    count: int, call: MemberCall, stop_reason: Callable[[list[MemberAnswer]], str | None]
) -> Run:
    """Members in list order (cheap first), stopping when `stop_reason` gives a reason
    (a confident answer, enough agreement)."""
    answers: list[MemberAnswer] = []
    for index in range(count):
        answers.append(await call(index))
        reason = stop_reason(answers)
        if reason is not None:
            return answers, reason
    return answers, f"all {count} members called: no answer was confident or agreed enough"


async def run_hedged(count: int, call: MemberCall, delay: float) -> Run:
    """The first member (the primary) at once; each further member after `delay` seconds
    without an answer, or at once when a member failed. The first answer wins and the
    members still running are cancelled. All members failing raises the first error."""
    running: dict[asyncio.Task[MemberAnswer], int] = {}
    errors: list[BaseException] = []
    started = 0

    def launch() -> None:
        nonlocal started
        running[asyncio.ensure_future(call(started))] = started
        started += 1

    launch()
    try:
        while running:
            wait = delay if started < count else None
            done, _ = await asyncio.wait(running, timeout=wait, return_when="FIRST_COMPLETED")
            if not done:
                launch()
                continue
            for task in sorted(done, key=running.__getitem__):
                index = running.pop(task)
                error = task.exception()
                if error is None:
                    return [task.result()], _hedge_reason(index, started, delay)
                errors.append(error)
                if started < count:
                    launch()
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    raise errors[0]


def _hedge_reason(index: int, started: int, delay: float) -> str:
    if index == 0:
        return f"hedged: the primary answered first ({started} of the members started)"
    return f"hedged: backup {index} answered first ({started} members started, {delay:g} s apart)"
