"""pytest-xdist across hosts (issue 17, point 5), on loopback: two execnet socket servers
play two machines, each with its own checkout of the tests (a folder of its own); the
controller keeps the store. The run stores what `-n 2` stores (docs/scale.md)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import execnet.script.socketserver
import pytest

from e2e_support import EXPERIMENT, sql

_TIMEOUT = 300  # seconds for one pytest run: generous, the machine is shared
_LISTENING = re.compile(r"Entering Accept loop \('127\.0\.0\.1', (\d+)\)")


def _environment() -> dict[str, str]:
    """This process's environment without the settings of the test run (the conditions'
    calls file is part of their code identity: the same, relative, everywhere)."""
    drop = ("CRUCIBLE_", "PYTEST_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)} | {
        "PYTHONUNBUFFERED": "1"
    }


def start_socket_server(checkout: Path) -> tuple[subprocess.Popen[str], int]:
    """execnet's socket server in `checkout` (a host's working copy) on a free loopback
    port; returns once it listens (the line it prints then), with its port."""
    server = subprocess.Popen(
        [sys.executable, execnet.script.socketserver.__file__, "127.0.0.1:0"],
        cwd=checkout,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert server.stdout is not None
    for line in server.stdout:  # ends if the server dies: then no port was seen
        listening = _LISTENING.search(line)
        if listening:
            return server, int(listening[1])
    server.wait(timeout=_TIMEOUT)
    pytest.fail(f"the execnet socket server did not start (exit status {server.returncode})")


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[tuple[Path, int]]]:
    """Two "hosts": (checkout, port) of each, their servers stopped at the end."""
    servers = []
    found = []
    try:
        for name in ("host1", "host2"):
            checkout = tmp_path / name
            checkout.mkdir()
            (checkout / "test_demo.py").write_text(EXPERIMENT)
            server, port = start_socket_server(checkout)
            servers.append(server)
            found.append((checkout, port))
        yield found
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.communicate(timeout=_TIMEOUT)


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--crucible"]
    return subprocess.run(
        [*command, "--crucible-report=none", *args],
        cwd=folder,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )


def stored_rows(store: Path) -> list[dict[str, Any]]:
    found = sql(
        store,
        "SELECT condition, item_id, repeat, trial_key, status, metrics, output, error"
        " FROM trials ORDER BY condition, item_id, repeat",
    )
    return [dict(row) | {"metrics": json.loads(row["metrics"])} for row in found]


def test_workers_on_other_hosts_store_the_rows_of_n2(
    hosts: list[tuple[Path, int]], tmp_path: Path
) -> None:
    controller = tmp_path / "controller"
    controller.mkdir()
    (controller / "test_demo.py").write_text(EXPERIMENT)
    tx = [f"--tx=socket=127.0.0.1:{port}//chdir={checkout}" for checkout, port in hosts]
    remote = run_pytest(controller, "--crucible-store=hosts.db", *tx, "--dist=load")
    assert remote.returncode == 0, remote.stdout[-4000:] + remote.stderr[-2000:]
    assert "12 passed" in remote.stdout
    # the trials ran on the hosts (each condition call appends to calls.log in its cwd)
    ran = [(checkout / "calls.log").read_text().splitlines() for checkout, _ in hosts]
    assert sum(len(calls) for calls in ran) == 12 and all(ran), ran
    assert not (controller / "calls.log").exists()
    local = run_pytest(controller, "--crucible-store=n2.db", "-n", "2")
    assert local.returncode == 0, local.stdout[-4000:]
    expected = stored_rows(controller / "n2.db")
    assert len(expected) == 12
    assert stored_rows(controller / "hosts.db") == expected
    # the store stays on the controller: the hosts hold none
    assert not list(hosts[0][0].glob("**/*.db")) and not list(hosts[1][0].glob("**/*.db"))
