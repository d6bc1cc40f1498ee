"""A trial item's call phase on a worker, beside the hook itself (worker.py).

With more than one trial in flight the item's trial runs through the prefetcher (prefetch.py),
with the standard streams routed to the trial that wrote (output.py); a trial that ends
ahead of its item is journaled at once (`AheadJournal`). After the call the item gets its
trial's log and output as report sections, and a trial that did not record a declared metric
fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.session.items import slot_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pytest_crucible.declare.plan import Plan
    from pytest_crucible.run.trial import Trial
    from pytest_crucible.session.link import ControllerLink
    from pytest_crucible.session.output import OutputRouter
    from pytest_crucible.session.payload import TrialPayloads
    from pytest_crucible.session.prefetch import Prefetcher, Started

__all__ = ["AheadJournal", "add_output_sections", "fail_for_missing_metrics", "run_ahead"]


def run_ahead(
    prefetcher: Prefetcher,
    output: OutputRouter,
    item: pytest.Function,
    function: Any,
    kwargs: dict[str, Any],
    limit: int,
) -> None:
    """Run `item`'s trial with up to `limit` in flight, starting those that follow it."""
    slot = slot_of(item)
    assert slot is not None and slot.active is not None
    output.install()
    try:
        prefetcher.run(item, function, slot.active, kwargs, limit)
    finally:
        output.uninstall()


def add_output_sections(output: OutputRouter, item: pytest.Function, trial: Trial) -> None:
    if trial.concurrent and trial.captured_log():
        item.add_report_section("call", "log", trial.captured_log())
    for stream, text in output.take(trial).items():
        item.add_report_section("call", stream, text)


def fail_for_missing_metrics(trial: Trial, missing: list[str]) -> None:
    message = (
        f"trial {trial.spec.test_id} of experiment {trial.spec.experiment} did not "
        f"record the declared metric(s) {missing}; call trial.record({missing[0]}=...)"
    )
    trial.error = {
        "type": "MetricError",
        "message": message,
        "where": "trial function",
        "traceback": "",
    }
    pytest.fail(message, pytrace=False)


class AheadJournal:
    """Journals a trial started ahead as soon as it ends (on the loop's thread): its item
    may report it much later, or never (a kill -9), and only then is it stored."""

    def __init__(
        self, link: ControllerLink, plans: Mapping[str, Plan], payloads: TrialPayloads
    ) -> None:
        self.link = link
        self.plans = plans
        self.payloads = payloads
        self._failed = False

    def finished(self, started: Started) -> None:
        journal = self.link.journal
        if journal is None or self._failed:
            return
        try:
            result = self.payloads.for_journal(started)
            if result is None:
                return
            run_id = self.link.inputs.run_id_for(result.experiment)
            header = None
            if not journal.has_header(run_id):
                header = self.plans[result.experiment].header()
            journal.append(run_id, header, result, self.link.worker_id)
        except Exception as exc:  # the report still brings the result: warn, go on
            self._failed = True
            self.link.warn(
                f"could not journal finished trials ({type(exc).__name__}: {exc}); they are "
                "stored when their items report, and a kill before that loses them"
            )
