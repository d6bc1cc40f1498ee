"""The PostgreSQL store's operations for runs spread over many processes and machines
(issue 17: joined runs' claims, shared rate limits; `crucible merge`'s are in
postgres_merging.py, inherited here); their semantics are in interface.py. `PostgresStore`
(postgres.py) inherits them.

Many processes on many hosts call these at once, so each is one transaction that is safe
under concurrency: claims are taken with SELECT ... FOR UPDATE SKIP LOCKED (no claimer waits
for another), a rate bucket's row is locked while it is refilled and taken from, and the
finishing transition of a joined run locks its row (one process wins). Times a caller does
not give come from the server's clock, so hosts whose clocks disagree still agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.buckets import take_from_bucket
from pytest_crucible.store.postgres_merging import Cursor, PostgresMerging
from pytest_crucible.store.rows import utc_now
from pytest_crucible.store.scale_records import Claims, RatePermits

__all__ = ["PostgresScale"]

# seconds since the epoch on the server's clock (the clocks of the hosts may disagree)
_SERVER_NOW = "extract(epoch FROM clock_timestamp())::double precision"
# a claim's trial is not stored: no trial row of its run has its key (trials_by_key index)
_NOT_STORED = (
    "NOT EXISTS (SELECT 1 FROM trials t WHERE t.run_id = c.run_id AND t.trial_key = c.trial_key)"
)
# the same for a claim batch: its stored keys are looked up once, by the index (run, key).
# (A correlated NOT EXISTS lets the planner, misled by a new run's stale statistics, scan
# every stored trial of the run once per claim row: seconds per batch of a large run.)
_NOT_STORED_OF_KEYS = (
    "c.trial_key NOT IN (SELECT t.trial_key FROM trials t WHERE t.run_id = %(run)s"
    " AND t.trial_key = ANY(%(keys)s) AND t.trial_key IS NOT NULL)"
)
# a key locked by another process's claim at this instant: it holds it once that commits
_BEING_CLAIMED = "(being claimed)"
# the rows are picked and locked once (MATERIALIZED), then updated by key: a semi-join of
# the UPDATE on the subquery could run the subquery again for every claim row of the run
_CLAIM = (
    "WITH picked AS MATERIALIZED ("
    "  SELECT c.trial_key FROM trial_claims c"
    "  WHERE c.run_id = %(run)s AND c.trial_key = ANY(%(keys)s)"
    "  AND (c.holder IS NULL OR c.holder = %(holder)s"
    f"       OR c.expires_at < {_SERVER_NOW})"
    f"  AND {_NOT_STORED_OF_KEYS} FOR UPDATE SKIP LOCKED"
    ")"
    f" UPDATE trial_claims u SET holder = %(holder)s, expires_at = {_SERVER_NOW} + %(lease)s"
    " FROM picked WHERE u.run_id = %(run)s AND u.trial_key = picked.trial_key"
    " RETURNING u.trial_key"
)


class PostgresScale(PostgresMerging):
    """Claims and rate buckets over `self._transact` (postgres.py); merging is inherited
    (postgres_merging.py)."""

    def _write(self, *, transient: bool = False) -> AbstractContextManager[Cursor]:
        raise NotImplementedError  # postgres.py: a cursor in a transaction of its own

    def _insert_run(
        self,
        cursor: Cursor,
        run_id: str,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        status: str,
    ) -> bool:
        raise NotImplementedError  # postgres.py: a new run's rows; False when it exists

    # -- issue 17, point 6: shared rate limits ---------------------------------------------

    def take_rate_permits(
        self, bucket: str, wanted: int, rate: float, capacity: float, now: float | None = None
    ) -> RatePermits:
        """See `ResultStore.take_rate_permits`: INSERT the full bucket ON CONFLICT DO
        NOTHING, SELECT ... FOR UPDATE, UPDATE, in one transaction (`now` None: the
        server's clock)."""

        def take(cursor: Cursor) -> RatePermits:
            cursor.execute(
                "INSERT INTO rate_buckets(bucket, level, stamp)"
                f" VALUES (%s, %s, COALESCE(%s, {_SERVER_NOW})) ON CONFLICT DO NOTHING",
                (bucket, capacity, now),
            )
            cursor.execute(
                f"SELECT level, stamp, COALESCE(%s, {_SERVER_NOW}) FROM rate_buckets"
                " WHERE bucket = %s FOR UPDATE",
                (now, bucket),
            )
            level, stamp, clock = _one(cursor)
            taken = take_from_bucket(level, stamp, clock, wanted, rate, capacity)
            cursor.execute(
                "UPDATE rate_buckets SET level = %s, stamp = %s WHERE bucket = %s",
                (taken.level, taken.stamp, bucket),
            )
            return taken.permits

        return self._transact(take)

    # -- joined runs (issue 17, point 3) ---------------------------------------------------

    def join_run(
        self,
        run_id: str,
        join_key: str,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        keys: Sequence[str],
    ) -> dict[str, Any] | None:
        """Processes joining at once: the runs row's primary key decides (INSERT ... ON
        CONFLICT DO NOTHING waits for the other's commit), the others read its header."""

        def join(cursor: Cursor) -> dict[str, Any] | None:
            if not self._insert_run(cursor, run_id, header, environment, "running"):
                _continue_cancelled(cursor, run_id)
                cursor.execute("SELECT header::text FROM runs WHERE run_id = %s", (run_id,))
                return dict(json.loads(_one(cursor)[0]))
            cursor.execute(
                "INSERT INTO run_joins(run_id, join_key) VALUES (%s, %s)", (run_id, join_key)
            )
            cursor.execute(
                "INSERT INTO trial_claims(run_id, trial_key, position)"
                " SELECT %s, key, position - 1"
                " FROM unnest(%s::text[]) WITH ORDINALITY AS k(key, position)",
                (run_id, list(keys)),
            )
            return None

        return self._transact(join)

    def claim_trials(self, run_id: str, keys: Sequence[str], holder: str, lease_s: float) -> Claims:
        """Rows another process is claiming at this instant are skipped (SKIP LOCKED), not
        waited for: they are reported held, by whoever holds them before its commit."""

        def claim(cursor: Cursor) -> Claims:
            args = {"run": run_id, "keys": list(keys), "holder": holder, "lease": lease_s}
            cursor.execute(_CLAIM, args)
            claimed = {row[0] for row in cursor.fetchall()}
            cursor.execute(
                "SELECT c.trial_key, c.holder FROM trial_claims c WHERE c.run_id = %(run)s"
                f" AND c.trial_key = ANY(%(keys)s) AND {_NOT_STORED_OF_KEYS}",
                args,
            )
            held = {
                key: other or _BEING_CLAIMED
                for key, other in cursor.fetchall()
                if key not in claimed
            }
            return Claims([key for key in keys if key in claimed], held)

        return self._transact(claim)

    def renew_claims(self, holder: str, lease_s: float) -> int:
        def renew(cursor: Cursor) -> int:
            cursor.execute(
                f"UPDATE trial_claims c SET expires_at = {_SERVER_NOW} + %s"
                f" WHERE c.holder = %s AND {_NOT_STORED}",
                (lease_s, holder),
            )
            return cursor.rowcount

        return self._transact(renew)

    def release_claims(self, run_id: str, keys: Sequence[str], holder: str) -> None:
        def release(cursor: Cursor) -> None:
            cursor.execute(
                "UPDATE trial_claims c SET holder = NULL, expires_at = NULL"
                " WHERE c.run_id = %s AND c.trial_key = ANY(%s) AND c.holder = %s"
                f" AND {_NOT_STORED}",
                (run_id, list(keys), holder),
            )

        self._transact(release)

    def finish_joined_run(self, run_id: str, finisher: str) -> str | None:
        """The run_joins row is locked (FOR UPDATE): processes finishing at once take
        turns, and the later ones read the finisher the first one recorded."""

        def finish(cursor: Cursor) -> str | None:
            cursor.execute("SELECT finisher FROM run_joins WHERE run_id = %s FOR UPDATE", (run_id,))
            row = cursor.fetchone()
            if row is None:
                raise StoreError(f"store {self.location} has no joined run {run_id!r}")
            if row[0] is not None:
                return str(row[0])
            # a set difference (hashed, once) rather than a correlated NOT EXISTS, which
            # stale statistics can turn into a scan of the stored trials per claim row
            cursor.execute(
                "SELECT EXISTS (SELECT trial_key FROM trial_claims WHERE run_id = %(run)s"
                " EXCEPT SELECT trial_key FROM trials WHERE run_id = %(run)s)",
                {"run": run_id},
            )
            if _one(cursor)[0]:
                return None
            now = utc_now()
            cursor.execute(
                "UPDATE run_joins SET finisher = %s, finished_at = %s WHERE run_id = %s",
                (finisher, now, run_id),
            )
            cursor.execute(
                "UPDATE runs SET status = 'completed', ended_at = %s WHERE run_id = %s",
                (now, run_id),
            )
            return finisher

        return self._transact(finish)

    def trials_by_holder(self, run_id: str) -> dict[str, int]:
        rows = self._fetch(
            "SELECT c.holder, COUNT(*) AS n FROM trial_claims c WHERE c.run_id = %s"
            f" AND c.holder IS NOT NULL AND NOT {_NOT_STORED} GROUP BY c.holder",
            (run_id,),
        )
        return {row["holder"]: row["n"] for row in rows}

    def first_claim_holder(self, run_id: str) -> str | None:
        rows = self._fetch(
            "SELECT holder FROM trial_claims WHERE run_id = %s AND position = 0", (run_id,)
        )
        holder = rows[0]["holder"] if rows else None
        return None if holder is None else str(holder)


def _continue_cancelled(cursor: Cursor, run_id: str) -> None:
    """Joining a cancelled run continues it: running again, its request cleared."""
    cursor.execute(
        "UPDATE runs SET status = 'running', ended_at = NULL"
        " WHERE run_id = %s AND status = 'cancelled'",
        (run_id,),
    )
    if cursor.rowcount:
        cursor.execute("DELETE FROM run_cancels WHERE run_id = %s", (run_id,))


def _one(cursor: Cursor) -> tuple[Any, ...]:
    row = cursor.fetchone()
    if row is None:
        raise AssertionError("a query of one row returned none")
    return row
