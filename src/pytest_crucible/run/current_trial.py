"""The trial running in this context, and the log records attributed to it.

`enter_trial` makes a trial the current one (for log records, model calls and library code
that records on it, llm/context.py); asyncio tasks and threads started with
`asyncio.to_thread` copy the context, so concurrent trials each see their own.
`TrialLogHandler` keeps the log records made inside a trial with that trial;
`ForeignTrialFilter` keeps them out of the report of whichever item pytest is capturing.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable

from pytest_crucible.llm.context import _CURRENT as _CALL_CONTEXT
from pytest_crucible.llm.context import trial_result_sink
from pytest_crucible.run.trial import Trial

__all__ = ["CURRENT_TRIAL", "ForeignTrialFilter", "TrialLogHandler", "enter_trial"]

# The trial whose code is running in this context. asyncio tasks and `asyncio.to_thread`
# copy the context, so concurrent trials each see their own: log records and model calls
# made anywhere below a trial are attributed to it, whichever item pytest is reporting.
CURRENT_TRIAL: contextvars.ContextVar[Trial | None] = contextvars.ContextVar(
    "crucible_trial", default=None
)


def enter_trial(trial: Trial | None) -> Callable[[], None]:
    """Make `trial` the current one in this context (for log records and model calls);
    returns the function that restores the previous one."""
    trial_token = CURRENT_TRIAL.set(trial)
    calls_token = _CALL_CONTEXT.set(trial.call_context if trial is not None else None)
    # library code (ensembles, hedging) keeps its records on the trial (llm/context.py)
    leave_sink = trial_result_sink(trial)

    def leave() -> None:
        leave_sink()
        _CALL_CONTEXT.reset(calls_token)
        CURRENT_TRIAL.reset(trial_token)

    return leave


class TrialLogHandler(logging.Handler):
    """Keeps log records emitted inside a trial with that trial (its stored `logs`)."""

    def emit(self, record: logging.LogRecord) -> None:
        trial = CURRENT_TRIAL.get()
        if trial is None:
            return
        level = record.levelname.lower()
        if level not in ("debug", "info", "warning", "error", "critical"):
            level = "info"
        try:
            trial.log(level, record.getMessage(), logger=record.name)
        except Exception:  # a log call must never fail the trial
            self.handleError(record)


class ForeignTrialFilter(logging.Filter):
    """For pytest's capture handlers: drop records of trials that run concurrently. pytest
    would file them under whichever item is capturing at the time; they are kept with their
    own trial (`TrialLogHandler`) and shown in that trial's report instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        trial = CURRENT_TRIAL.get()
        return trial is None or not trial.concurrent
