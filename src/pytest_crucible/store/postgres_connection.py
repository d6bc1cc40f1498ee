"""Connecting to a PostgreSQL store, and saying what to do when that fails.

Every failure to open becomes a `StoreError` naming the fix, raised by `open_store` before
any trial runs. libpq's messages may echo the connection string: `scrub` takes the password
out of every message we pass on. `PGPASSWORD`, `~/.pgpass` and the other `PG*` variables work
as in psql (libpq reads them).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pytest_crucible.errors import StoreError
from pytest_crucible.store.locations import masked
from pytest_crucible.store.postgres_schema import (
    DDL,
    MIGRATIONS,
    SCHEMA_LOCK,
    SCHEMA_VERSION,
    VERSION_DDL,
)
from pytest_crucible.store.rows import utc_now

__all__ = ["MIN_SERVER_VERSION", "connect", "explain", "prepare_schema", "server_version"]

MIN_SERVER_VERSION = 120000  # PostgreSQL 12 (generated identity columns, ON CONFLICT, JSONB)
CONNECT_TIMEOUT_S = 10  # a server that does not answer: libpq's default is to wait forever
_SECRET_PARAMETER = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
_UNREACHABLE = (
    "could not connect",
    "connection refused",
    "timeout expired",
    "could not translate host name",
    "no route to host",
    "network is unreachable",
    "connection timed out",
)
_CREDENTIALS = ("password authentication failed", "no password supplied", "authentication failed")


def connect(url: str, *, readonly: bool) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the store at `url`, whose server is recent enough."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreError(
            f"store {masked(url)}: not a valid PostgreSQL URL ({scrub(str(exc), url)}); write "
            "it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    extra: dict[str, Any] = {
        "application_name": "pytest-crucible",
        "connect_timeout": CONNECT_TIMEOUT_S,
    }
    try:
        conn = psycopg.connect(
            url, autocommit=True, **{k: v for k, v in extra.items() if k not in given}
        )
    except psycopg.Error as exc:
        raise explain(exc, url) from None
    version = server_version(conn)
    if version < MIN_SERVER_VERSION:
        conn.close()
        raise StoreError(
            f"store {masked(url)}: the server runs PostgreSQL {_shown(version)}; "
            f"pytest-crucible needs PostgreSQL {_shown(MIN_SERVER_VERSION)} or newer: "
            "upgrade the server, or use a SQLite store (--crucible-store PATH)"
        )
    if readonly:
        conn.execute("SET default_transaction_read_only = on")
    return conn


def server_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The server's version as a number (150004 for 15.4)."""
    return conn.info.server_version


def _shown(version: int) -> str:
    return f"{version // 10000}.{version % 10000}"


def prepare_schema(
    conn: psycopg.Connection[tuple[object, ...]], url: str, *, readonly: bool
) -> None:
    """Create the tables of a new store, migrate an older one, refuse a newer one (and, to
    read, a database without a store). Processes that open one database at once wait for
    each other on an advisory lock: the tables are created once."""
    version = _stored_version(conn)
    if version == SCHEMA_VERSION:
        return
    _refuse_newer(version, url)
    if readonly:
        if version is None:
            raise StoreError(
                f"store {masked(url)} holds no pytest-crucible results (no tables); run "
                "`pytest --crucible --crucible-store URL` first, or check the database name"
            )
        return  # an older store is read as it is (a write migrates it)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            version = _stored_version(conn)  # another process may have done it meanwhile
            _refuse_newer(version, url)
            if version is None:
                conn.execute(VERSION_DDL)
                conn.execute(DDL)  # our own DDL: several statements
                # ON CONFLICT: after waiting on the advisory lock, to_regclass may still
                # answer from this backend's catalog cache that another process's tables
                # do not exist (seen with four processes opening a new database at once)
                conn.execute(
                    "INSERT INTO crucible_schema(version, updated_at) VALUES (%s, %s)"
                    " ON CONFLICT (one) DO NOTHING",
                    (SCHEMA_VERSION, utc_now()),
                )
            elif version < SCHEMA_VERSION:
                for step in range(version, SCHEMA_VERSION):
                    conn.execute(MIGRATIONS[step])
                conn.execute(
                    "UPDATE crucible_schema SET version = %s, updated_at = %s",
                    (SCHEMA_VERSION, utc_now()),
                )
    except psycopg.Error as exc:
        raise explain(exc, url) from None


def _stored_version(conn: psycopg.Connection[tuple[object, ...]]) -> int | None:
    found = conn.execute("SELECT to_regclass('crucible_schema') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute("SELECT version FROM crucible_schema").fetchone()
    return None if row is None else int(str(row[0]))


def _refuse_newer(version: int | None, url: str) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"store {masked(url)} has schema version {version}, written by a newer "
            f"pytest-crucible (this one reads up to {SCHEMA_VERSION}); upgrade "
            "pytest-crucible, or use another database with --crucible-store URL"
        )


def explain(exc: psycopg.Error, url: str) -> StoreError:
    """The store error that says what to do about `exc` (its message scrubbed)."""
    where = f"store {masked(url)}"
    message = scrub(str(exc).strip(), url)
    lowered = message.lower()
    if any(words in lowered for words in _CREDENTIALS):
        return StoreError(
            f"{where}: the server refused the user name or password ({message}); check the "
            "user and password in the URL, or in PGPASSWORD or ~/.pgpass"
        )
    if "database" in lowered and "does not exist" in lowered:
        return StoreError(
            f"{where}: {message}; create it (createdb NAME, or CREATE DATABASE NAME) or name "
            "an existing database in the URL"
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return StoreError(
            f"{where}: the user may not create the store's tables ({message}); give it the "
            "right (GRANT CREATE ON SCHEMA public TO USER, or use a database it owns), or "
            "ask the database's owner to open the store once first"
        )
    if any(words in lowered for words in _UNREACHABLE):
        return StoreError(
            f"{where}: cannot reach the PostgreSQL server ({message}); check that it runs, "
            "the host and port in the URL, and the network (a firewall?)"
        )
    return StoreError(f"{where}: {message}")


def scrub(message: str, url: str) -> str:
    """`message` without the URL's password (as written or URL-decoded) and without any
    `password=...` of a connection string it echoes."""
    message = message.replace(url, masked(url))
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password or "")} - {None, ""}:
        message = message.replace(str(secret), "***")
    return _SECRET_PARAMETER.sub(r"\1***", message)
