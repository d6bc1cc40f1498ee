"""What every results store does: the named operations the other layers call.

`ResultStore` is the whole surface a backend implements (`sqlite.py` today; PostgreSQL next):
no module outside `store/` writes SQL or sees a connection. tests/test_store_interface.py runs
every operation against each backend. The records the operations exchange are in
`run_records.py` (runs, holders, usage, baselines), `scale_records.py` (rate permits, claims,
a run's content for merging), `console_records.py` (watching and steering runs) and
`records.py` (the trial record).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pytest_crucible.store.console_records import Instance, LogLine, RunProgress, TrialPage
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.rows import Job
from pytest_crucible.store.run_records import (
    ConditionUsage,
    RunHolder,
    RunInfo,
    RunRecord,
    StoredBaseline,
    TrialSpan,
)
from pytest_crucible.store.scale_records import Claims, RatePermits, RunContent

__all__ = ["ResultStore"]


class ResultStore(Protocol):
    """Runs, trials, logs, baselines and the call cache of one store."""

    # printable (a database URL's password masked): the one form messages show
    location: str
    # a local folder for what lives beside the results: journals, dead letters, stop signals
    # and worker beacons (a SQLite store's own folder; for a database, given when opened)
    side_folder: Path
    readonly: bool

    def close(self) -> None: ...

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        holder: RunHolder | None = None,
        *,
        run_id: str | None = None,
        status: str = "running",
    ) -> str: ...

    def resume_run(self, run_id: str, header: Mapping[str, Any]) -> None: ...

    def finish_run(self, run_id: str, status: str) -> None: ...

    def save_analysis(self, run_id: str, analysis: Mapping[str, Any]) -> None: ...

    def runs(self, experiment: str | None = None) -> list[RunInfo]: ...

    def run_table(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Every stored run, newest first, with every field it records (JSON decoded)."""
        ...

    def run(self, run_id: str) -> RunInfo | None: ...

    def run_header(self, run_id: str) -> dict[str, Any]: ...

    def run_record(self, run_id: str) -> RunRecord: ...

    # -- run holders ----------------------------------------------------------------------

    def hold_run(
        self, run_id: str, holder: RunHolder, stale: Callable[[RunHolder], bool]
    ) -> RunHolder | None: ...

    def beat(self, holder: RunHolder, run_ids: Sequence[str]) -> int: ...

    def release_runs(self, holder: RunHolder, run_ids: Sequence[str]) -> None: ...

    # -- trials ---------------------------------------------------------------------------

    def record_trial(self, run_id: str, record: TrialRecord, worker: str) -> None: ...

    def record_trials(self, batch: Sequence[Job]) -> None: ...

    def import_trials(self, batch: Sequence[Job]) -> dict[str, int]: ...

    def completed_keys(self, run_id: str) -> list[str]: ...

    def failed_keys(self, run_id: str) -> list[str]: ...

    def trial_table(
        self, run_id: str, *, include_outputs: bool = False, with_lines: bool = False
    ) -> list[dict[str, Any]]:
        """One dict per trial for a pandas frame (condition, item, repeat order): the plain
        columns, the usage counts, `metrics` decoded, with `include_outputs` the output and
        error decoded, and with `with_lines` its `trial_lines` line as `line` (one read of
        the trials for both)."""
        ...

    def stored_trials(self, run_id: str) -> list[dict[str, Any]]: ...

    def trial_lines(self, run_id: str) -> list[str]: ...

    def items(self, run_id: str) -> dict[str, dict[str, Any]]: ...

    def logs(self, run_id: str) -> dict[str, list[tuple[str, str, str]]]: ...

    # -- spending and timing --------------------------------------------------------------

    def spent_by_condition(self, run_id: str) -> dict[str, float]: ...

    def usage_by_condition(self, run_id: str) -> list[ConditionUsage]: ...

    def trial_spans(self, run_id: str) -> list[TrialSpan]: ...

    def sessions(self, run_id: str) -> list[tuple[str, str]]: ...

    def record_session(self, run_id: str, started_at: str, ended_at: str) -> None: ...

    # -- the call cache -------------------------------------------------------------------

    def cached_response(self, cache_key: str) -> dict[str, Any] | None: ...

    # -- baselines ------------------------------------------------------------------------

    def save_baseline(self, baseline: StoredBaseline, document: Mapping[str, Any]) -> None: ...

    def baselines(
        self, name: str | None = None, experiment: str | None = None
    ) -> list[StoredBaseline]: ...

    def baseline_document(self, name: str, experiment: str) -> dict[str, Any]: ...

    # -- merging stores (issue 17, point 4: `crucible merge`) -------------------------------

    def run_content(self, run_id: str) -> RunContent:
        """Every row the store keeps of run `run_id` (StoreError when it has no such run):
        read in one transaction, so the rows belong together."""
        ...

    def call_cache_entries(self) -> list[dict[str, Any]]:
        """Every row of the call cache (the model_calls table: cache_key, backend, model,
        request, response, run_id, trial_key, created_at; JSON as text), by cache_key."""
        ...

    def merge_content(
        self,
        runs: Sequence[RunContent],
        cache: Sequence[Mapping[str, Any]] = (),
        baselines: Sequence[tuple[StoredBaseline, Mapping[str, Any]]] = (),
    ) -> dict[str, int]:
        """Write `runs`, call cache rows and baselines into this store, all in ONE
        transaction (an error writes nothing). For each run: its experiment is added if
        missing; its runs row is inserted, or replaces every column of the stored row of
        that run_id (the caller gives the merged row); its items, trials and sessions are
        added where the store lacks them (an item by (run_id, item_id), a trial by (run_id,
        condition, item_id, repeat), a session by (run_id, started_at, ended_at)): a row
        already stored is kept as it is, never updated; its logs are added for the trials
        this call adds, and only for those. Cache rows are added by cache_key where missing;
        baselines are inserted or replace the one of that (name, experiment). Returns the
        number of trials added per run_id (every run given is a key)."""

    # -- issue 17, point 6: rate limits shared by every process using the store -----------

    def take_rate_permits(
        self, bucket: str, wanted: int, rate: float, capacity: float, now: float | None = None
    ) -> RatePermits:
        """Take up to `wanted` (>= 1) permits from the shared token bucket `bucket`, in one
        transaction that locks its row (table rate_buckets: bucket, level, stamp):

        1. a bucket not stored yet starts full: level = capacity, stamp = now;
        2. refill: level = min(capacity, level + rate * (now - stamp)) when now > stamp (a
           clock that went back refills nothing and keeps the later stamp);
        3. granted = min(wanted, floor(level + 1e-9)) (the 1e-9 absorbs float rounding of
           the refill), 0 when that is below 1; level -= granted;
        4. store (level, max(stamp, now)); return granted and wait_s, the seconds until the
           bucket holds one whole permit again (0.0 when level + 1e-9 >= 1 now).

        `rate` (permits per second > 0) and `capacity` (>= 1) come with every call, so the
        latest caller's values apply; `now` is seconds since the epoch on a clock every
        caller shares (None: the store's own clock: this machine's for SQLite, the server's
        for PostgreSQL, so that machines with skewed clocks agree). Permits are never given
        back: a caller that did not use its permits lets them lapse.

        Atomic per bucket: two callers never both take the same permit. SQLite gets that from
        BEGIN IMMEDIATE; on PostgreSQL, INSERT the full row ON CONFLICT DO NOTHING, then
        SELECT ... FOR UPDATE, then UPDATE, in one transaction."""

    # -- joined runs (issue 17, point 3: --crucible-join) ----------------------------------
    # Many processes work on one run: each trial is claimed by one holder (a string naming a
    # process) before it starts. A claim lasts until its expiry (seconds since the epoch on
    # the store's clock: PostgreSQL's now(), SQLite's local clock), renewed by heartbeats;
    # an expired claim may be taken by anyone. A trial is "stored" when the trials table has
    # a row of the run with its key (passed or failed): stored trials are never claimed.

    def join_run(
        self,
        run_id: str,
        join_key: str,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        keys: Sequence[str],
    ) -> dict[str, Any] | None:
        """Create run `run_id` for `join_key`, unless it exists; one transaction (two
        processes joining at once create one run: the run's primary key decides). A new run
        gets status running and one unclaimed claim row per trial key, in `keys`' order.
        Returns None when this call created the run, else the stored run's header (the
        caller compares its fingerprint); joining a `cancelled` run continues it (status
        running, its cancel request deleted). PostgreSQL: INSERT ... ON CONFLICT DO NOTHING."""
        ...

    def claim_trials(self, run_id: str, keys: Sequence[str], holder: str, lease_s: float) -> Claims:
        """Claim for `holder` those of `keys` (of run `run_id`) that are not stored and not
        claimed by another holder until a time after now; one transaction. Claimed rows get
        holder and expiry now + `lease_s` (a row `holder` holds already is renewed). Keys
        without a claim row are ignored. Returns what was claimed (in `keys`' order) and who
        holds the others that are not stored. PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED
        of the claimable rows, then one UPDATE."""
        ...

    def renew_claims(self, holder: str, lease_s: float) -> int:
        """Push the expiry of every claim of `holder` whose trial is not stored to now +
        `lease_s` (a heartbeat); one statement. Returns how many claims it still holds."""
        ...

    def release_claims(self, run_id: str, keys: Sequence[str], holder: str) -> None:
        """Drop the claims `holder` has on those of `keys` whose trials are not stored (trials
        it claimed but never started, as its session ends early): other processes may claim
        them at once, without waiting for the lease; one transaction."""
        ...

    def finish_joined_run(self, run_id: str, finisher: str) -> str | None:
        """The atomic finishing transition of a joined run: when every trial of the run
        (every claim row) is stored and no finisher is recorded yet, record `finisher`, set
        the run's status to completed and its end time, in one transaction. Returns the
        run's finisher (`finisher` when this call made the transition, the earlier one's
        otherwise), or None while trials remain unstored."""
        ...

    def trials_by_holder(self, run_id: str) -> dict[str, int]:
        """How many stored trials of a joined run each holder claimed last (who ran them)."""
        ...

    def first_claim_holder(self, run_id: str) -> str | None:
        """Who holds (or held last) the claim of a joined run's first trial in plan order:
        the process that warms the run's analysis (session/recorder.py); None while it is
        unclaimed, or for a run nobody joined."""
        ...

    # -- watching and steering runs (issue 18) ---------------------------------------------
    # The dashboard, the MCP server and `crucible cancel` read runs while they go on and
    # write control rows the session polls (tables run_cancels and instances).

    def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask the sessions running `run_id` to stop (they poll `cancel_request`). True when
        the run's status is running and a request is now stored (a request already pending
        keeps its reason); False for an unknown run or one that is not running."""
        ...

    def cancel_request(self, run_id: str) -> str | None:
        """The reason of the run's pending cancel request, or None. One indexed read (the
        sessions poll it about twice a second); `resume_run` clears it."""
        ...

    def run_progress(self, run_id: str) -> RunProgress:
        """The run's status and its stored trials counted by condition and status, in one
        query (StoreError for an unknown run)."""
        ...

    def trial_page(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int = 50,
        condition: str | None = None,
        item: str | None = None,
        status: str | None = None,
    ) -> TrialPage:
        """One page of a run's stored trials, ordered by condition, item, repeat, with those
        filters given: LIMIT/OFFSET in SQL over an index (never every trial loaded). Rows as
        `trial_table` gives them (no output, error or artifacts; metrics decoded); `total`
        counts every trial matching the filters."""
        ...

    def trial_detail(self, run_id: str, trial_key: str) -> dict[str, Any] | None:
        """One stored trial, every column decoded (output, error, artifacts, metrics,
        results, usage, ...), plus `item` (input, expected, metadata, cluster; None when not
        stored) and `logs` (its LogLines as dicts, oldest first); None when not stored."""
        ...

    def log_page(
        self,
        run_id: str,
        *,
        after_id: int = 0,
        limit: int = 200,
        level: str | None = None,
        condition: str | None = None,
        item: str | None = None,
    ) -> list[LogLine]:
        """Up to `limit` log lines of the run with id > `after_id`, ascending id, with
        those filters given (`level` is matched without regard to case). Poll with the last
        line's id as the next `after_id`."""
        ...

    def save_instance(self, instance: Instance) -> None:
        """Insert `instance`, or replace the one of its name (its created_at kept; its
        updated_at as given)."""
        ...

    def instances(self, experiment: str | None = None) -> list[Instance]:
        """The stored instances (of `experiment`), by name."""
        ...

    def instance(self, name: str) -> Instance | None: ...

    def delete_instance(self, name: str) -> bool:
        """Delete the instance `name`; False when there was none."""
        ...
