"""A real PostgreSQL server for tests and benchmarks, started from the machine's binaries.

`PostgresServer.start()` makes a cluster in a temporary folder (owned by the unprivileged
user `postgres` when we run as root: the server refuses to run as root), listening on a free
loopback port with password authentication for the role `crucible` (so that URLs carry a
password, as users' do) and on a Unix socket in that folder where the superuser `postgres`
is trusted (for administration: creating databases and roles). `stop()` stops it
(`pg_ctl stop -m fast`) and removes the folder.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ROLE", "ROLE_PASSWORD", "PostgresServer", "find_bindir"]

ROLE = "crucible"
ROLE_PASSWORD = "s3cret-Pw_17"  # a string tests look for in messages (it must never appear)
_ADMIN = "postgres"
_START_TIMEOUT_S = 120  # pg_ctl -w waits for the server to accept connections (an event)
_COMMAND_TIMEOUT_S = 300  # initdb, pg_ctl: a bound on a very busy machine


def find_bindir() -> Path | None:
    """The folder of initdb/pg_ctl: the newest /usr/lib/postgresql/*/bin, `pg_config
    --bindir`, or PATH; None when the machine has no PostgreSQL server."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_of)
    if found:
        return Path(found[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir and (Path(bindir) / "initdb").exists():
            return Path(bindir)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _major_of(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One throw-away PostgreSQL cluster. `durable=False` (tests) turns fsync off."""

    bindir: Path
    durable: bool = False
    folder: Path = field(init=False)
    port: int = field(init=False, default=0)
    _databases: int = field(init=False, default=0)

    def start(self) -> PostgresServer:
        self.folder = Path(tempfile.mkdtemp(prefix="crucible-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, _ADMIN, _ADMIN)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            _ADMIN,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        self.port = _free_port()
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t",
                  str(_START_TIMEOUT_S), "start")  # fmt: skip
        self.admin(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{ROLE_PASSWORD}'")
        return self

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def stop(self) -> None:
        if self.port:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
            self.port = 0
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str, *, user: str = ROLE, password: str | None = ROLE_PASSWORD) -> str:
        """A URL over TCP, as users write it (`password=None`: none in it)."""
        credentials = f"{user}:{password}" if password is not None else user
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{database}"

    def new_database(self, owner: str = ROLE) -> str:
        """A fresh empty database owned by `owner`; its name."""
        self._databases += 1
        name = f"crucible_{os.getpid()}_{self._databases}"
        self.admin(f"CREATE DATABASE {name} OWNER {owner} TEMPLATE template0")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def admin(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run `sql` as the superuser over the Unix socket; its rows."""
        import psycopg

        with psycopg.connect(
            host=str(self.folder),
            port=self.port,
            user=_ADMIN,
            dbname=database,
            autocommit=True,
            connect_timeout=30,
        ) as conn:
            cursor = conn.execute(sql)  # type: ignore[arg-type]  # a test's own SQL
            return cursor.fetchall() if cursor.description else []

    def server_pids(self) -> list[int]:
        """The server's processes (the postmaster and its children), for reading their CPU."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children")
        return [postmaster, *(int(pid) for pid in children.read_text().split())]

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _ADMIN, "--", *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            timeout=_COMMAND_TIMEOUT_S,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
