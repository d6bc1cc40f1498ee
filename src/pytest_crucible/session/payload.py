"""What a trial's report carries to the controller, which stores it.

Each trial item's call report (or failed set-up report) gets a `crucible` payload: the
trial's JSON-safe result, and, the first time a process reports a trial of an experiment,
that experiment's run header and recovery policy. An item's content travels once per process
(and again with every failed trial, whose dead letter needs it). Under xdist the payload
crosses to the controller with the report; without xdist it goes straight to the recorder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_crucible.declare.experiment import Plan
from pytest_crucible.run.recovery import TrialSkipped
from pytest_crucible.run.trial import Trial, describe_exception
from pytest_crucible.session.guard import run_policy
from pytest_crucible.session.prefetch import Started, interrupted
from pytest_crucible.util.utf8 import ESCAPED_WARNING, escape_unencodable, has_unencodable

__all__ = ["TrialPayloads"]


class TrialPayloads:
    """The payloads of one process's trials (`worker_id`: the xdist worker, or "main")."""

    def __init__(self, plans: Mapping[str, Plan], worker_id: str) -> None:
        self._plans = plans
        self._worker_id = worker_id
        self._headers_sent: set[str] = set()
        self._items_sent: set[tuple[str, str]] = set()

    def for_report(
        self, trial: Trial, *, outcome: str, when: str, exception: BaseException | None
    ) -> dict[str, Any]:
        """The payload of a report with `outcome` (pytest's passed, failed or skipped) of
        phase `when`; `exception` is what failed it, if anything."""
        error = None
        if outcome == "failed" and trial.error is None and exception is not None:
            error = describe_exception(exception, where=when)
        return self.for_trial(trial, outcome, error)

    def for_started(self, started: Started) -> dict[str, Any]:
        """The payload of a trial that finished ahead of an item pytest never ran."""
        return self.for_trial(started.active.trial, _status(started), None)

    @staticmethod
    def for_journal(started: Started) -> dict[str, Any] | None:
        """The result of a started trial that just ended, for this process's journal (None
        when it was cancelled: it never ran; or interrupted: as in one process, a trial a
        KeyboardInterrupt ended is not finished, and resume runs it). Its item's report, if
        it comes, is stored instead: it may know more (a failure in the item's teardown)."""
        if started.future.cancelled() or interrupted(started):
            return None
        # warnings of the result are the report's to note: not twice
        result = started.active.trial.result(status=_status(started), note_warnings=False)
        if has_unencodable(result):
            escaped: dict[str, Any] = escape_unencodable(result)
            return escaped
        return result

    def for_trial(self, trial: Trial, status: str, error: dict[str, Any] | None) -> dict[str, Any]:
        spec = trial.spec
        header = None
        if spec.experiment not in self._headers_sent:
            self._headers_sent.add(spec.experiment)
            header = self._plans[spec.experiment].header()
        item_key = (spec.experiment, spec.item.id)
        # a failed trial always carries its item: its dead letter gives the full context
        with_item = item_key not in self._items_sent or status == "failed"
        self._items_sent.add(item_key)
        payload = {
            "trial": trial.result(status=status, error=error, with_item=with_item),
            "header": header,
            "worker": self._worker_id,
        }
        if header is not None:  # what the controller needs for breakers and hooks
            payload["policy"] = run_policy(self._plans[spec.experiment].experiment)
        if trial.stop_reason:
            payload["stop"] = trial.stop_reason
        return storable(payload)


def storable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with text UTF-8 cannot encode escaped (`_utf8.py`): SQLite, execnet and
    the reports could not hold it, and the trial would be lost to the rescue file."""
    if not has_unencodable(payload):
        return payload
    escaped: dict[str, Any] = escape_unencodable(payload)
    if escaped == payload:  # the check's rare false positive (a number's bytes): no warning
        return payload
    escaped["trial"]["warnings"].append(ESCAPED_WARNING)
    return escaped


def _status(started: Started) -> str:
    """passed, failed or skipped: how a started trial that is done ended."""
    error = started.future.exception()
    if isinstance(error, TrialSkipped):
        return "skipped"
    failed = error is not None or bool(started.active.trial.missing_metrics())
    return "failed" if failed else "passed"
