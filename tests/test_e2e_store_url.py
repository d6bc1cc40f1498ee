"""A store given as a `postgresql://` URL (issue 17, points 1 and 2, the wiring): every layer
above the store takes the URL as a location, never as a path, and its password reaches no
output and no file. Until the PostgreSQL backend is merged, opening such a store is refused
with a clear message before any trial runs; these tests hold that refusal and the masking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import EXPERIMENT, query, read_calls

PASSWORD = "hunter2-Zq8"
URL = f"postgresql://lab:{PASSWORD}@127.0.0.1:1/results"
SHOWN = "postgresql://lab:***@127.0.0.1:1/results"
CRUCIBLE = Path(sys.executable).parent / "crucible"
_TIMEOUT = 300  # seconds: generous, the machine is shared


def _places_holding(folder: Path, secret: str, written: tuple[str, ...] = ()) -> list[str]:
    """The files under `folder` whose name or content holds `secret`, but the ones the test
    `written` itself (an ini file giving the URL)."""
    found = []
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if name in written:
            continue
        if secret in name or (path.is_file() and secret.encode() in path.read_bytes()):
            found.append(name)
    return found


def _assert_refused_cleanly(
    pytester: pytest.Pytester, result: pytest.RunResult, written: tuple[str, ...] = ()
) -> str:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output and "pytest_crucible/" not in output, output
    assert PASSWORD not in output, output
    assert _places_holding(pytester.path, PASSWORD, written) == []
    assert read_calls(pytester.path / "calls.log") == []  # no trial ran
    return output


@pytest.mark.parametrize("given", ["flag", "environment", "ini"])
def test_a_url_store_is_refused_before_any_trial_with_its_password_masked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    monkeypatch.setenv("CRUCIBLE_CALLS", str(pytester.path / "calls.log"))
    args = ["--crucible"]
    if given == "flag":
        args.append(f"--crucible-store={URL}")
    elif given == "environment":
        monkeypatch.setenv("CRUCIBLE_STORE", URL)
    else:
        pytester.makeini(f"[pytest]\ncrucible_store = {URL}\n")
    result = pytester.runpytest(*args)
    output = _assert_refused_cleanly(pytester, result, written=("tox.ini",))
    # the URL was taken as a URL (not resolved as a path under the rootdir), shown masked
    # (no server listens on port 1: the store cannot be reached, and says so before any trial)
    assert f"store {SHOWN}: cannot reach the PostgreSQL server" in output, output
    assert not (pytester.path / "postgresql:").exists()


def test_the_space_form_of_a_url_store_is_refused_with_its_password_masked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    monkeypatch.setenv("CRUCIBLE_CALLS", str(pytester.path / "calls.log"))
    result = pytester.runpytest("--crucible", "--crucible-store", URL)
    output = _assert_refused_cleanly(pytester, result)
    assert f"write --crucible-store={SHOWN} (with '=', no space)" in output, output


def test_the_environment_record_masks_a_database_url_on_the_command_line(
    pytester: pytest.Pytester,
) -> None:
    """A SQLite run whose command line carries a URL (an option of the user's conftest, in
    both forms): the run's environment record keeps the command line, password masked."""
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.makeconftest(
        """
        def pytest_addoption(parser):
            parser.addoption("--results-db")
            parser.addoption("--mirror-db")
        """
    )
    result = pytester.runpytest_subprocess(
        "--crucible",
        "--crucible-report=all",
        "-p",
        "no:cacheprovider",
        f"--results-db={URL}",
        "--mirror-db",
        URL,
        timeout=_TIMEOUT,
    )
    result.assert_outcomes(passed=12)
    (run,) = query(pytester, "SELECT environment FROM runs")
    argv = json.loads(run["environment"])["argv"]
    assert f"--results-db={SHOWN}" in argv and argv[-2:] == ["--mirror-db", SHOWN], argv
    assert _places_holding(pytester.path, PASSWORD) == []
    assert PASSWORD not in result.stdout.str() + result.stderr.str()


def _crucible(
    cwd: Path, *args: str, store_env: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CRUCIBLE_STORE"}
    if store_env is not None:
        environment["CRUCIBLE_STORE"] = store_env
    return subprocess.run(
        [str(CRUCIBLE), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["runs"],
        ["show", "latest"],
        ["compare", "a", "b"],
        ["export", "latest"],
        ["report", "latest"],
        ["analyse", "latest"],
        ["import"],
    ],
    ids=lambda command: command[0],
)
def test_every_crucible_command_takes_a_url_store_and_masks_its_password(
    tmp_path: Path, command: list[str]
) -> None:
    for result in (
        _crucible(tmp_path, "--store", URL, *command),
        _crucible(tmp_path, *command, store_env=URL),
    ):
        output = result.stdout + result.stderr
        assert result.returncode == 2, output
        assert "Traceback" not in output and PASSWORD not in output, output
        assert result.stderr.startswith(
            f"crucible: store {SHOWN}: cannot reach the PostgreSQL server"
        ), result.stderr
        assert "check that it runs, the host and port in the URL" in result.stderr
    assert _places_holding(tmp_path, PASSWORD) == [] and list(tmp_path.iterdir()) == []
