"""The controller's side of a session: trial results in, stored runs out.

Each trial result arrives with its pytest report (from this process or from an xdist worker)
and is committed at once. The first result of an experiment carries the experiment's header,
from which the run is created, or the resumed run is reopened. At the session end the runs
are finished and sent to the analysis child (analysis_child.py); what happened to each run is
a `RunOutcome` (outcomes.py).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import StoreError
from pytest_crucible.review.request import ReviewRequest, ReviewStatus
from pytest_crucible.session.analysis_child import (
    review_failure,
    reviews_from,
    start_analysis_child,
)
from pytest_crucible.session.inputs import ResumeTarget
from pytest_crucible.session.joining import other_sessions, session_of
from pytest_crucible.session.outcomes import RunOutcome, outcome_summary
from pytest_crucible.session.payload import TrialPayload
from pytest_crucible.store import ResultStore
from pytest_crucible.store.holding import RunHold
from pytest_crucible.store.journal import Journal, JournalImport, import_journals, journal_folder
from pytest_crucible.store.locations import quoted
from pytest_crucible.store.rows import utc_now
from pytest_crucible.store.writer import TrialWriter

if TYPE_CHECKING:
    from pytest_crucible.review.gates._result import GateResult

__all__ = ["LEAD_WAIT_S", "Recorder"]

# How long a process of a joined run that did not warm the analysis, finding every trial
# stored, leaves the finishing to the one that did (whose sweep sees the same within 0.05 s)
# before it finishes the run itself, with an analysis child started then.
LEAD_WAIT_S = 3.0
_LEAD_POLL_S = 0.05


class Recorder:
    """Persists trial results as they arrive and finishes the runs at session end."""

    def __init__(
        self,
        store: ResultStore,
        resume: Mapping[str, ResumeTarget],
        environment: Callable[[], Mapping[str, Any]],
        run_id_for: Callable[[str], str] | None = None,
        hold: RunHold | None = None,
        location: str | None = None,
        joined: str | None = None,
    ) -> None:
        """`hold`: this session's hold on its runs (the resumed ones are held already; a
        new run is held as it is created; all are released at `finish`); `location`: the
        store's as the user gave it, unmasked, for the writer thread's own connection
        (`store.location` is masked; the two are the same for a SQLite file). `joined`: this
        session's holder name under --crucible-join (its runs were created at collection,
        are held by no one, and are finished by whichever process stores their last
        trial: joining.py)."""
        self.joined = joined
        self.store = store
        self.resume = resume
        self._run_id_for = run_id_for or (lambda experiment: secrets.token_hex(4))
        self.hold = hold
        self._environment = environment
        self._env_cache: Mapping[str, Any] | None = None
        self.runs: dict[str, RunOutcome] = {}
        self._headers: dict[str, Mapping[str, Any]] = {}  # each experiment's, as first sent
        self._reviewer: subprocess.Popen[str] | None = None
        self._leads: dict[str, bool] = {}  # joined run -> whether this session warms it
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.started_at = utc_now()  # the session's wall time is kept with its runs
        self.journal = Journal(journal_folder(store))  # this process's: trials not stored
        self.writer = TrialWriter(
            location or store.location, self.warnings.append, self.journal, store.side_folder
        )
        self.unstored: list[str] = []  # why journalled trials could not be stored at the end

    def record(self, payload: TrialPayload) -> None:
        """ResultStore one trial result (and open its run if this is the experiment's first)."""
        record = payload.record
        if payload.header is not None:  # kept first: opening the run may be interrupted
            self._headers.setdefault(record.experiment, payload.header)
        outcome = self._run_for(record.experiment, self._headers.get(record.experiment))
        if self._reviewer is None and self._warms(outcome.run_id):
            self._reviewer = start_analysis_child()
        self.writer.put(outcome.run_id, record, payload.worker)
        outcome.ran.add(record.key)
        for warning in record.warnings:
            self.warnings.append(f"{record.experiment} {record.name}: {warning}")

    def _warms(self, run_id: str) -> bool:
        """Whether this session starts the analysis child with the run's first result, so
        that it imports numpy, scipy and pandas (1.3 s of CPU) while the trials run. In a
        joined run only the session holding the claim of the run's first trial does: the
        others would import them for nothing, and on a machine shared by several of them
        take CPU from the trials. It is the one that finishes the run (`_finish_joined`)."""
        if self.joined is None:
            return True
        if run_id not in self._leads:
            try:
                holder = self.store.first_claim_holder(run_id)
            except StoreError:
                holder = None
            mine = holder is None or session_of(holder) == session_of(self.joined)
            self._leads[run_id] = mine
        return self._leads[run_id]

    def _run_for(self, experiment: str, header: Mapping[str, Any] | None) -> RunOutcome:
        outcome = self.runs.get(experiment)
        if outcome is not None:
            return outcome
        if header is None:  # a process always sends the header with its first result
            raise StoreError(f"experiment {experiment}: a result arrived before its header")
        target = self.resume.get(experiment)
        run_id = target.run_id if target is not None else self._run_id_for(experiment)
        self.writer.open_run(run_id, header)
        try:
            if self.joined is not None:
                pass  # created (or joined) at collection, before any trial started
            elif target is not None:
                self.store.resume_run(run_id, header)
            else:
                holder = self.hold.me if self.hold is not None else None
                self.store.create_run(header, self.environment, holder, run_id=run_id)
                if self.hold is not None:
                    self.hold.note(run_id)
        except StoreError as exc:  # its results go to the journal, with the run's header
            self.warnings.append(f"experiment {experiment}: could not open run {run_id}: {exc}")
        outcome = RunOutcome(experiment, run_id, header, resumed=target is not None)
        self.runs[experiment] = outcome
        return outcome

    @property
    def store_full(self) -> StoreError | None:
        """Why no more results can be stored (the disk is full), once it is so."""
        return self.writer.full

    @property
    def environment(self) -> Mapping[str, Any]:
        if self._env_cache is None:
            self._env_cache = self._environment()
        return self._env_cache

    def finish(
        self,
        *,
        interrupted: bool,
        crashed: bool,
        collected: Mapping[str, int] | None = None,
        stopped: Collection[str] = (),
        cancelled: Collection[str] = (),
    ) -> list[RunOutcome]:
        """Set each run's final status.

        collected: the experiments this session collected, each with how many of its
        trials were left out because the resumed run has them (reused). A resumed run that
        ran nothing now is finished too, and counts the session, when its experiment was
        collected. stopped: experiments stopped early (a breaker, an abort): interrupted.
        cancelled: experiments whose runs a cancel request stopped: cancelled (unless every
        trial was stored)."""
        self.writer.close()
        self.journal.close()
        self.import_journals()
        collected = collected or {}
        for name, target in self.resume.items():
            if name not in self.runs and name in collected:
                header = self.store.run_header(target.run_id)
                self.store.resume_run(target.run_id, header)
                self.runs[name] = RunOutcome(name, target.run_id, header, resumed=True)
        if self.joined is not None:
            self._joined_without_trials_here(collected)
        for outcome in self.runs.values():
            info = self.store.run(outcome.run_id)
            outcome.stored = info.stored_trials if info else 0
            if self.joined is not None:
                self._finish_joined(outcome, cancelled=outcome.experiment in cancelled)
                continue
            total = info.total_trials if info else 0
            outcome.reused = collected.get(outcome.experiment, 0) if outcome.resumed else 0
            if crashed:
                outcome.status = "failed"
            elif info is not None and outcome.stored >= total and not interrupted:
                outcome.status = "completed"
            else:
                outcome.status = "interrupted"
            if outcome.experiment in stopped and outcome.status == "completed":
                outcome.status = "interrupted"
            if outcome.experiment in cancelled and outcome.status == "interrupted":
                complete = info is not None and outcome.stored >= total
                outcome.status = "completed" if complete else "cancelled"
            self.store.finish_run(outcome.run_id, outcome.status)
        if self.hold is not None:
            self.hold.release()
        return list(self.runs.values())

    def _joined_without_trials_here(self, collected: Mapping[str, int]) -> None:
        """A joined run whose trials all ran in other processes: said, and finished if
        this process is the first to find every trial stored."""
        for name in collected:
            run_id = self._run_id_for(name)
            if name not in self.runs and self.store.run(run_id) is not None:
                header = self.store.run_header(run_id)
                self.runs[name] = RunOutcome(name, run_id, header, resumed=False)

    def _finish_joined(self, outcome: RunOutcome, *, cancelled: bool) -> None:
        """A joined run: finished (completed, analysed here) by the first process to find
        every trial stored, and that is the session that warmed its analysis (`_warms`)
        unless it is gone: the others give it `LEAD_WAIT_S` first, then say who analyses
        it. A cancelled one that is not complete is marked cancelled by each of its
        processes as it stops."""
        assert self.joined is not None
        if not self._warms(outcome.run_id):
            self._await_lead(outcome.run_id)
        finisher = self.store.finish_joined_run(outcome.run_id, self.joined)
        outcome.status = "completed" if finisher else "running"
        if cancelled and not finisher:
            self.store.finish_run(outcome.run_id, "cancelled")
            outcome.status = "cancelled"
        outcome.finisher = "self" if finisher == self.joined else (finisher or "")
        counts = self.store.trials_by_holder(outcome.run_id)
        outcome.others = other_sessions(counts, session_of(self.joined))

    def _await_lead(self, run_id: str) -> None:
        """A complete joined run this session did not warm the analysis of: give the session
        that did `LEAD_WAIT_S` to finish it (it may have stopped early, or died)."""
        deadline = time.monotonic() + LEAD_WAIT_S
        while time.monotonic() < deadline:
            info = self.store.run(run_id)
            if info is None or info.status != "running" or info.stored_trials < info.total_trials:
                return  # finished (or cancelled) by another, or not complete: nobody waits
            time.sleep(_LEAD_POLL_S)

    def import_journals(self) -> None:
        """ResultStore the journalled trials the store lacks: those of this session (trials whose
        report never came, results the store refused) and of killed sessions."""
        try:
            imported = import_journals(self.store)
        except (StoreError, OSError) as exc:
            imported = JournalImport(kept=[str(exc)])
        message = imported.message()
        if message:
            self.warnings.append(message)
        if imported.kept:
            self.unstored = imported.kept
            runs = " ".join(f"--crucible-resume={o.run_id}" for o in self.runs.values())
            self.errors.append(
                f"finished trials are not in the store yet: they wait in "
                f"{journal_folder(self.store)} ({imported.kept[0]}). Once the store can "
                f"be written, `crucible --store {quoted(self.store.location)} import` stores "
                "them, as does "
                f"the next run (`pytest --crucible {runs}` continues this one)"
            )

    def record_sessions(self) -> None:
        """Keep this session's wall time, start to reviewed, with each run it stored trials
        of: `--crucible-estimate` adds the measured start-up and session-end time."""
        ended_at = utc_now()
        for outcome in self.runs.values():
            if not outcome.stored:
                continue
            try:
                self.store.record_session(outcome.run_id, self.started_at, ended_at)
            except StoreError:  # only a later estimate would have used it
                return

    def review(self, request: ReviewRequest) -> ReviewStatus:
        """Analyse the session's runs in the analysis child (`review/session_end.py`): keep
        each run's text, gate results and report folder; return GATE_FAILED when a gate
        failed, USAGE_ERROR for an unknown gate or baseline, INTERRUPTED on Ctrl-C,
        INTERNAL_ERROR when a run's analysis or reports are missing (the child crashed, or a
        report could not be written: `self.errors` says which and why), else OK."""
        ids = tuple(o.run_id for o in self.runs.values() if o.stored and o.analysed_here)
        if not ids:
            self.close_reviewer()
            return ReviewStatus.OK
        if self._reviewer is None:
            self._reviewer = start_analysis_child()
        assert self._reviewer is not None
        message = json.dumps(request.for_runs(ids).to_json()) + "\n"
        try:
            stdout, stderr = self._reviewer.communicate(message)
        except KeyboardInterrupt:  # the trials are stored: the analysis can be made later
            self._reviewer.kill()
            self._reviewer.wait()
            self._reviewer = None
            self.errors.append(
                f"the session-end analysis was interrupted: every trial is stored; "
                f"`crucible --store {quoted(self.store.location)} analyse {' '.join(ids)}` "
                "analyses the runs and decides their gates, and "
                f"`crucible --store {quoted(self.store.location)} "
                f"report RUN_ID` writes a run's reports"
            )
            return ReviewStatus.INTERRUPTED
        returncode = self._reviewer.returncode
        self._reviewer = None
        reviews = reviews_from(stdout)
        for outcome in self.runs.values():
            outcome.review = reviews.get(outcome.run_id)
        return self._review_status(returncode, stderr)

    def _review_status(self, returncode: int, stderr: str) -> ReviewStatus:
        if returncode == ReviewStatus.USAGE_ERROR:
            self.errors.append(stderr.strip().removeprefix("crucible: "))
            return ReviewStatus.USAGE_ERROR
        gate_failed = any(not gate.passed for _, gate in self.gate_results())
        missing = [
            o for o in self.runs.values() if o.stored and o.analysed_here and o.review is None
        ]
        unwritten = [o for o in self.runs.values() if o.review and o.review.report_error]
        if (
            returncode not in (ReviewStatus.OK, ReviewStatus.GATE_FAILED)
            or missing
            or unwritten
            or (returncode == ReviewStatus.GATE_FAILED and not gate_failed)
        ):
            self.errors.append(
                review_failure(returncode, stderr, missing, unwritten, self.store.location)
            )
            return ReviewStatus.INTERNAL_ERROR
        return ReviewStatus.GATE_FAILED if gate_failed else ReviewStatus.OK

    def close_reviewer(self) -> None:
        """End an analysis child that will not be needed (no run to analyse): killed, since
        it holds nothing and may still be importing at its low priority."""
        if self._reviewer is not None:
            self._reviewer.kill()
            self._reviewer.communicate()
            self._reviewer = None

    def summaries(self) -> str:
        return "\n\n".join(self.summary(outcome) for outcome in self.runs.values())

    def summary(self, outcome: RunOutcome) -> str:
        """One run's line for the terminal, followed by its results table and analysis."""
        return outcome_summary(outcome, self.store.location)

    def gate_results(self) -> list[tuple[str, GateResult]]:
        """(experiment, gate result) for every gate decided at session end."""
        return [
            (outcome.experiment, gate)
            for outcome in self.runs.values()
            for gate in (outcome.review.gates if outcome.review else ())
        ]
