"""The SQL schema of the results store (documented in docs/store.md).

JSON columns hold JSON text: use SQLite's json_extract, or `pytest_crucible.load_trials`,
which expands the metrics into one column each.
"""

from __future__ import annotations

from pytest_crucible.store.records import TRIAL_COLUMNS, TRIAL_PRIMARY_KEY

SCHEMA_VERSION = 5

# The plain columns of the runs table (its JSON columns: config, header, environment, analysis,
# tags)
RUN_COLUMNS = (
    "run_id",
    "experiment",
    "status",
    "fingerprint",
    "dataset_fingerprint",
    "seed",
    "git_commit",
    "git_dirty",
    "total_trials",
    "started_at",
    "ended_at",
    "sessions",
    "author",
    "version",
)


def _trials_table() -> str:
    """The trials table's DDL, from its one declaration (`records.TRIAL_COLUMNS`)."""
    lines = []
    for column in TRIAL_COLUMNS:
        definition = f"    {column.name:<13} {column.sql},"
        lines.append(f"{definition:<50} -- {column.note}" if column.note else definition)
    lines.append(f"    PRIMARY KEY ({', '.join(TRIAL_PRIMARY_KEY)})")
    return "CREATE TABLE IF NOT EXISTS trials (\n" + "\n".join(lines) + "\n);"


DDL = """
CREATE TABLE IF NOT EXISTS experiments (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id              TEXT PRIMARY KEY,
    experiment          TEXT NOT NULL REFERENCES experiments(name),
    status              TEXT NOT NULL,          -- running|completed|interrupted|failed|cancelled
    fingerprint         TEXT NOT NULL,          -- experiment fingerprint (config, code, data)
    dataset_fingerprint TEXT NOT NULL,
    seed                INTEGER NOT NULL,
    config              TEXT NOT NULL,          -- JSON: the resolved configuration
    header              TEXT NOT NULL,          -- JSON: conditions, baseline, metrics, repeat
    environment         TEXT NOT NULL,          -- JSON: python, platform, packages, git
    git_commit          TEXT,
    git_dirty           INTEGER,
    total_trials        INTEGER NOT NULL,
    started_at          TEXT NOT NULL,          -- ISO 8601, UTC
    ended_at            TEXT,
    sessions            INTEGER NOT NULL DEFAULT 1, -- 1 + how many times it was resumed
    analysis            TEXT,                   -- JSON: the session-end analysis
    author              TEXT,                   -- Experiment(author=...)
    version             TEXT,                   -- Experiment(version=...)
    tags                TEXT                    -- JSON list: Experiment(tags=[...])
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, started_at);

CREATE TABLE IF NOT EXISTS items (
    run_id    TEXT NOT NULL REFERENCES runs(run_id),
    item_id   TEXT NOT NULL,
    input     TEXT,                              -- JSON
    expected  TEXT,                              -- JSON
    metadata  TEXT,                              -- JSON
    cluster   TEXT,
    PRIMARY KEY (run_id, item_id)
);

{trials}
CREATE INDEX IF NOT EXISTS trials_by_key ON trials(run_id, trial_key);

CREATE TABLE IF NOT EXISTS logs (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    trial_key  TEXT NOT NULL,
    condition  TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    repeat     INTEGER NOT NULL,
    level      TEXT NOT NULL,
    message    TEXT NOT NULL,
    meta       TEXT,                              -- JSON
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_trial ON logs(run_id, trial_key);

-- The call cache (pytest_crucible.llm): one model response per request content. Written
-- from trial results by the controller; read by every process (--crucible-cache, --replay).
CREATE TABLE IF NOT EXISTS model_calls (
    cache_key  TEXT PRIMARY KEY,   -- hash of backend, model, messages, parameters, seed, repeat
    backend    TEXT NOT NULL,
    model      TEXT NOT NULL,
    request    TEXT NOT NULL,      -- JSON: the ModelRequest
    response   TEXT NOT NULL,      -- JSON: the ModelResponse
    run_id     TEXT,               -- the run that recorded it
    trial_key  TEXT,
    created_at TEXT NOT NULL
);
""".replace("{trials}", _trials_table())

# Statements that bring a store of version N (the key) to version N + 1.
MIGRATIONS = {
    1: """
ALTER TABLE trials ADD COLUMN recovery TEXT;
CREATE TABLE IF NOT EXISTS model_calls (
    cache_key  TEXT PRIMARY KEY,
    backend    TEXT NOT NULL,
    model      TEXT NOT NULL,
    request    TEXT NOT NULL,
    response   TEXT NOT NULL,
    run_id     TEXT,
    trial_key  TEXT,
    created_at TEXT NOT NULL
);
""",
    2: """
ALTER TABLE trials ADD COLUMN usage TEXT;
""",
    3: """
ALTER TABLE trials ADD COLUMN results TEXT;
ALTER TABLE runs ADD COLUMN author TEXT;
ALTER TABLE runs ADD COLUMN version TEXT;
ALTER TABLE runs ADD COLUMN tags TEXT;
""",
}

# The sessions of each run (one row per pytest session that ran or resumed it): its wall time
# from the session's start to the end of its session-end review, so that `--crucible-estimate`
# can add the measured start-up and session-end time to the trials' time. A store made before
# this table gets it when a session is first recorded.
SESSIONS_DDL = """
CREATE TABLE IF NOT EXISTS run_sessions (
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    started_at  TEXT NOT NULL,                   -- ISO 8601, UTC: the pytest session began
    ended_at    TEXT NOT NULL                    -- its session-end review was done
);
"""

# Named baselines (pytest_crucible.review.gates, docs/ci.md): one row per name and experiment,
# holding the portable JSON document also written to .crucible/baselines/NAME.json. A store made
# before this table existed gets it when a baseline is first saved.
BASELINES_DDL = """
CREATE TABLE IF NOT EXISTS baselines (
    name        TEXT NOT NULL,
    experiment  TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL,                   -- ISO 8601, UTC
    data        TEXT NOT NULL,                   -- JSON: the portable baseline document
    PRIMARY KEY (name, experiment)
);
"""

DDL += BASELINES_DDL

# Which live session holds a run (pytest_crucible.store.holding): a session that would continue a
# run another live process is writing is refused. One row per holding process, its heartbeat
# refreshed while it runs; a row whose process is gone is stale and may be taken over. Shaped
# for runs joined by many processes later (several holders per run, and trial claims that
# name their holder). Stores made before it get the table when a run is first held.
HOLDERS_DDL = """
CREATE TABLE IF NOT EXISTS run_holders (
    run_id       TEXT NOT NULL,
    host         TEXT NOT NULL,                  -- socket.gethostname() of the process
    pid          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,                  -- ISO 8601, UTC: when it took the run
    heartbeat_at TEXT NOT NULL,                  -- ISO 8601, UTC: refreshed while it runs
    lease_s      REAL NOT NULL,                  -- stale when heartbeat_at is older than this
    PRIMARY KEY (run_id, host, pid)
);
"""

DDL += HOLDERS_DDL

# Token buckets of rate limits shared by every process that uses the store (issue 17, point 6;
# llm/ratelimit.py): one row per bucket (a provider's base URL and model), its level refilled
# from its stamp when permits are taken (`ResultStore.take_rate_permits`). Stores made before
# it get the table when permits are first taken.
RATE_BUCKETS_DDL = """
CREATE TABLE IF NOT EXISTS rate_buckets (
    bucket  TEXT PRIMARY KEY,                    -- 'requests BASE_URL MODEL' (* for all)
    level   REAL NOT NULL,                       -- permits in the bucket at stamp
    stamp   REAL NOT NULL                        -- seconds since the epoch of the last refill
);
"""

DDL += RATE_BUCKETS_DDL
# Joined runs (--crucible-join, issue 17): the run a join key names, who finished it, and
# one claim per trial (created with the run; `interface.ResultStore.claim_trials`). Made
# when first needed, so no schema version is spent on them.
JOIN_DDL = (
    """
CREATE TABLE IF NOT EXISTS run_joins (
    run_id      TEXT PRIMARY KEY REFERENCES runs(run_id),
    join_key    TEXT NOT NULL,
    finisher    TEXT,                              -- the holder that analyses the run
    finished_at TEXT                               -- ISO 8601, UTC
)""",
    """
CREATE TABLE IF NOT EXISTS trial_claims (
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    trial_key  TEXT NOT NULL,
    position   INTEGER NOT NULL,                   -- the trial's place in collection order
    holder     TEXT,                               -- who runs (or ran) it; NULL: unclaimed
    expires_at REAL,                               -- seconds since the epoch
    PRIMARY KEY (run_id, trial_key)
)""",
    "CREATE INDEX IF NOT EXISTS trial_claims_by_holder ON trial_claims(holder)",
)

# Watching and steering runs (issue 18; docs/store.md): a cancel request per run, which the
# running sessions poll (`ResultStore.cancel_request`), and the saved instances of
# experiments the dashboard starts runs of. `trials_by_status` serves the dashboard's counts
# by condition and status and its pages of trials of one status without reading the trials
# table (the primary key serves the unfiltered pages: run, condition, item, repeat order).
CONSOLE_DDL = """
CREATE TABLE IF NOT EXISTS run_cancels (
    run_id       TEXT PRIMARY KEY REFERENCES runs(run_id),
    reason       TEXT NOT NULL,                  -- who asked, and why
    requested_at TEXT NOT NULL                   -- ISO 8601, UTC
);

CREATE TABLE IF NOT EXISTS instances (
    name         TEXT PRIMARY KEY,
    experiment   TEXT NOT NULL,                  -- Experiment(name=...)
    source       TEXT NOT NULL,                  -- the test file, relative to the project root
    config       TEXT NOT NULL,                  -- JSON: --crucible-set values
    conditions   TEXT,                           -- JSON list; NULL: every condition
    repeats      INTEGER,                        -- NULL: as declared
    seed         INTEGER,                        -- NULL: as declared
    description  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,                  -- ISO 8601, UTC
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_experiment ON instances(experiment, name);

CREATE INDEX IF NOT EXISTS trials_by_status
    ON trials(run_id, status, condition, item_id, repeat, ended_at);
"""

DDL += CONSOLE_DDL
MIGRATIONS[4] = CONSOLE_DDL
