"""What a trial's report carries to the controller, which stores it.

Each trial item's call report (or failed set-up report) gets a `crucible` payload, the JSON
form of a `TrialPayload`: the trial's record (`store/records.py`), and, the first time a
process reports a trial of an experiment, that experiment's run header and recovery policy.
An item's content travels once per process (and again with every failed trial, whose dead
letter needs it). Under xdist the payload crosses to the controller with the report; without
xdist it goes straight to the recorder. The controller decodes it once
(`TrialPayload.from_json`) and passes the typed payload on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_crucible.declare.plan import Plan
from pytest_crucible.run.recovery import TrialSkipped
from pytest_crucible.run.stored_values import describe_exception
from pytest_crucible.run.trial import Trial
from pytest_crucible.session.guard import run_policy
from pytest_crucible.session.prefetch import Started, interrupted
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.util.utf8 import ESCAPED_WARNING, escape_unencodable, has_unencodable

__all__ = ["TrialPayload", "TrialPayloads"]


@dataclass(slots=True)
class TrialPayload:
    """A trial's record and what the controller needs with it."""

    record: TrialRecord
    worker: str  # the xdist worker that ran it, or "main"
    # the run header and recovery policy: with a process's first trial of an experiment
    header: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    stop: str | None = None  # why the run must stop after this trial (on_error, abort)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "trial": self.record.to_json(),
            "header": self.header,
            "worker": self.worker,
        }
        if self.policy is not None:
            data["policy"] = self.policy
        if self.stop:
            data["stop"] = self.stop
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialPayload:
        return cls(
            record=TrialRecord.from_json(data["trial"]),
            worker=data.get("worker", "main"),
            header=data.get("header"),
            policy=data.get("policy"),
            stop=data.get("stop"),
        )


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
    def for_journal(started: Started) -> TrialRecord | None:
        """The result of a started trial that just ended, for this process's journal (None
        when it was cancelled: it never ran; or interrupted: as in one process, a trial a
        KeyboardInterrupt ended is not finished, and resume runs it). Its item's report, if
        it comes, is stored instead: it may know more (a failure in the item's teardown)."""
        if started.future.cancelled() or interrupted(started):
            return None
        # warnings of the result are the report's to note: not twice
        record = started.active.trial.to_record(status=_status(started), note_warnings=False)
        data = record.to_json()
        if has_unencodable(data):
            return TrialRecord.from_json(escape_unencodable(data))
        return record

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
        payload = TrialPayload(
            trial.to_record(status=status, error=error, with_item=with_item),
            self._worker_id,
            header,
            # what the controller needs for breakers and hooks
            run_policy(self._plans[spec.experiment].experiment) if header is not None else None,
            trial.stop_reason,
        )
        return storable(payload.to_json())


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
