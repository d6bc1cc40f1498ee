"""The PostgreSQL store's schema (docs/postgres.md): the SQLite store's tables and columns
(`schema.py`, `records.TRIAL_COLUMNS`), with JSONB where SQLite keeps JSON text, and a
`seq` identity column where SQLite's reads order by rowid.

Its version is kept in the one-row table `crucible_schema`; `MIGRATIONS[N]` brings a store
of version N to N + 1. PostgreSQL's DDL is transactional: creating or migrating happens in
one transaction under an advisory lock, so processes that open a new database at once
create it once.
"""

from __future__ import annotations

from pytest_crucible.store.records import TRIAL_COLUMNS, TRIAL_PRIMARY_KEY

__all__ = ["DDL", "MIGRATIONS", "SCHEMA_LOCK", "SCHEMA_VERSION", "VERSION_DDL"]

SCHEMA_VERSION = 3
# pg_advisory_xact_lock key of schema creation and migration ("crucible" in ASCII)
SCHEMA_LOCK = 0x6372756369626C65

VERSION_DDL = """
CREATE TABLE IF NOT EXISTS crucible_schema (
    one         BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
)
"""

_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION"}


def _column(sql: str, json: bool) -> str:
    """A trials column's SQLite declaration in PostgreSQL's types."""
    kind, _, rest = sql.partition(" ")
    kind = "JSONB" if json else _TYPES.get(kind, kind)
    return f"{kind} {rest}".strip()


def _trials_table() -> str:
    lines = ["    seq BIGINT GENERATED ALWAYS AS IDENTITY,"]
    lines += [f"    {c.name} {_column(c.sql, c.json)}," for c in TRIAL_COLUMNS]
    lines.append(f"    PRIMARY KEY ({', '.join(TRIAL_PRIMARY_KEY)})")
    return "CREATE TABLE IF NOT EXISTS trials (\n" + "\n".join(lines) + "\n);"


DDL = """
CREATE TABLE IF NOT EXISTS experiments (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id              TEXT PRIMARY KEY,
    experiment          TEXT NOT NULL REFERENCES experiments(name),
    status              TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    seed                BIGINT NOT NULL,
    config              JSONB NOT NULL,
    header              JSON NOT NULL,
    environment         JSONB NOT NULL,
    git_commit          TEXT,
    git_dirty           INTEGER,
    total_trials        BIGINT NOT NULL,
    started_at          TEXT NOT NULL,
    ended_at            TEXT,
    sessions            INTEGER NOT NULL DEFAULT 1,
    analysis            JSONB,
    author              TEXT,
    version             TEXT,
    tags                JSONB
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, started_at);

CREATE TABLE IF NOT EXISTS items (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id    TEXT NOT NULL REFERENCES runs(run_id),
    item_id   TEXT NOT NULL,
    input     JSONB,
    expected  JSONB,
    metadata  JSONB,
    cluster   TEXT,
    PRIMARY KEY (run_id, item_id)
);

{trials}
CREATE INDEX IF NOT EXISTS trials_by_key ON trials(run_id, trial_key);

CREATE TABLE IF NOT EXISTS logs (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    trial_key  TEXT NOT NULL,
    condition  TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    repeat     BIGINT NOT NULL,
    level      TEXT NOT NULL,
    message    TEXT NOT NULL,
    meta       JSONB,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_trial ON logs(run_id, trial_key);

CREATE TABLE IF NOT EXISTS model_calls (
    cache_key  TEXT PRIMARY KEY,
    backend    TEXT NOT NULL,
    model      TEXT NOT NULL,
    request    JSONB NOT NULL,
    response   JSONB NOT NULL,
    run_id     TEXT,
    trial_key  TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS run_sessions (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    started_at  TEXT NOT NULL,
    ended_at    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS baselines (
    name        TEXT NOT NULL,
    experiment  TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    data        JSONB NOT NULL,
    PRIMARY KEY (name, experiment)
);

CREATE TABLE IF NOT EXISTS run_holders (
    run_id       TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    lease_s      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, host, pid)
);
""".replace("{trials}", _trials_table())

# Version 2 (issue 17, points 3 and 6; SQLite's schema.py has the same tables): token
# buckets of shared rate limits, the run a join key names and who finished it, and one claim
# per trial of a joined run. Times are seconds since the epoch on the server's clock.
SCALE_DDL = """
CREATE TABLE IF NOT EXISTS rate_buckets (
    bucket  TEXT PRIMARY KEY,
    level   DOUBLE PRECISION NOT NULL,
    stamp   DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS run_joins (
    run_id      TEXT PRIMARY KEY REFERENCES runs(run_id),
    join_key    TEXT NOT NULL,
    finisher    TEXT,
    finished_at TEXT
);

CREATE TABLE IF NOT EXISTS trial_claims (
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    trial_key  TEXT NOT NULL,
    position   BIGINT NOT NULL,
    holder     TEXT,
    expires_at DOUBLE PRECISION,
    PRIMARY KEY (run_id, trial_key)
);
CREATE INDEX IF NOT EXISTS trial_claims_by_holder ON trial_claims(holder);
"""

DDL += SCALE_DDL

# Version 3 (issue 18; SQLite's schema.py has the same tables): a cancel request per run,
# which the running sessions poll, and the saved instances of experiments. The indexes give
# the dashboard's pages in the reads' byte order (COLLATE "C"), whatever the database's
# locale, and its counts by condition and status without reading the trials.
CONSOLE_DDL = """
CREATE TABLE IF NOT EXISTS run_cancels (
    run_id       TEXT PRIMARY KEY REFERENCES runs(run_id),
    reason       TEXT NOT NULL,
    requested_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS instances (
    name         TEXT PRIMARY KEY,
    experiment   TEXT NOT NULL,
    source       TEXT NOT NULL,
    config       JSONB NOT NULL,
    conditions   JSONB,
    repeats      BIGINT,
    seed         BIGINT,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_experiment ON instances(experiment, name);

CREATE INDEX IF NOT EXISTS trials_in_order
    ON trials(run_id, condition COLLATE "C", item_id COLLATE "C", repeat);
CREATE INDEX IF NOT EXISTS trials_by_status
    ON trials(run_id, status, condition COLLATE "C", item_id COLLATE "C", repeat, ended_at);
"""

DDL += CONSOLE_DDL

# Statements that bring a store of version N (the key) to version N + 1.
# (the header becomes JSON, which keeps its keys' order: a header stored as JSONB keeps its
# sorted order, so declare metrics and conditions again by resuming or rerunning its run)
MIGRATIONS: dict[int, str] = {
    1: SCALE_DDL + "ALTER TABLE runs ALTER COLUMN header TYPE JSON USING header::json;",
    2: CONSOLE_DDL,
}
