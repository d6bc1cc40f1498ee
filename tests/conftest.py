"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas  # noqa: F401 - imported once here: pytester's in-process runs must not re-import
import psycopg  # noqa: F401 - and its exception classes must stay the ones raised
import pytest
import scipy.stats  # noqa: F401 - C extensions that cannot be loaded twice in one process
from hypothesis import settings

from e2e_support import EXAMPLES, SLOW_E2E
from postgres_server import PostgresServer, find_bindir

# No property test is timed: Hypothesis's default 200 ms deadline per example failed on a
# busy machine (load 10) with nothing wrong. Examples stay bounded by max_examples.
settings.register_profile("crucible", deadline=None)
settings.load_profile("crucible")


@pytest.fixture
def calls_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file every condition call of the EXPERIMENT appends a line to."""
    path = pytester.path / "calls.log"
    monkeypatch.setenv("CRUCIBLE_CALLS", str(path))
    return path


THIRD_PARTY_PLUGINS = Path(__file__).resolve().parent.parent / ".venv" / "third-party-plugins"


@pytest.fixture
def third_party_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts other people's pytest plugins (scripts/third-party-plugins.txt: pytest-sugar,
    pytest-rich, pytest-rerunfailures, pytest-asyncio, pytest-timeout) on PYTHONPATH, so that
    the pytest runs a test starts in a subprocess load them as a user's would."""
    if not (THIRD_PARTY_PLUGINS / ".installed").exists():
        pytest.fail(f"{THIRD_PARTY_PLUGINS} is missing: run `bash scripts/_venv.sh` first")
    path = os.pathsep.join(p for p in (str(THIRD_PARTY_PLUGINS), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    return THIRD_PARTY_PLUGINS


@pytest.hookimpl(tryfirst=True)  # before -m deselects: marks e2e_support.SLOW_E2E slow
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("[", 1)[0] in SLOW_E2E:
            item.add_marker(pytest.mark.slow)


# -- a real PostgreSQL server (tests/postgres_server.py) ------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server per test process, stopped at the end (also when tests fail).
    Without server binaries the PostgreSQL tests are skipped, except in CI (the environment
    variable CI set), where they fail: CI installs the server (scripts/_venv.sh)."""
    bindir = find_bindir()
    if bindir is None:
        reason = (
            "no PostgreSQL server binaries (initdb) on this machine: install Debian's "
            "`postgresql` package (scripts/_venv.sh does in CI) to run the PostgreSQL tests"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL (with the test role's password) of a fresh empty database of its own."""
    database = postgres_server.new_database()
    yield postgres_server.url(database)
    postgres_server.drop_database(database)


# -- every end-to-end behaviour on both stores (issue 17) -----------------------------------

# The PostgreSQL variant is `slow` (a database made and dropped, a server round trip per
# trial: 5-20 s each): the quick subset checks SQLite, the full suite (CI) both stores.
STORE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]


@pytest.fixture(params=STORE_BACKENDS)
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test once per store. For "postgresql" the pytester project (and every pytest
    or `crucible` process it starts) stores its runs in a fresh database: CRUCIBLE_STORE names
    it, as a user would. Read the rows through e2e_support.query/trial_rows/store_location,
    which follow it."""
    backend: str = request.param
    if backend == "postgresql":
        monkeypatch.setenv("CRUCIBLE_STORE", request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv("CRUCIBLE_STORE", raising=False)
    return backend


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A copy of example_experiments/, so the examples' runs store nothing in the repository."""
    import shutil

    shutil.copytree(
        EXAMPLES, tmp_path / "example_experiments", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path
