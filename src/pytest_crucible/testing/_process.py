"""Start the mock server in a child process (`_child.py`) and end it without a zombie.

The parent writes one JSON line of configuration on the child's stdin and keeps the pipe
open: closing it (or dying) stops the child. The child answers with one handshake line on
stdout. Benchmarks use this mode to keep the server's CPU off the client's GIL.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from pytest_crucible.testing._errors import MockServerError

__all__ = ["ERROR_PREFIX", "READY_PREFIX", "ProcessRunner"]

READY_PREFIX = "CRUCIBLE-MOCK-SERVER "
ERROR_PREFIX = "CRUCIBLE-MOCK-SERVER-ERROR "


class ProcessRunner:
    """Starts the child, reads its handshake, and ends it without leaving a zombie."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float) -> int:
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # the directory holding pytest_crucible
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", "pytest_crucible.testing._child"]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(self._config).encode() + b"\n")
            process.stdin.flush()
        except OSError:
            pass  # the child died at once: its handshake (or EOF) says why
        line = _read_line(process.stdout, timeout)
        if line.startswith(READY_PREFIX):
            process.stdout.close()
            port: int = json.loads(line[len(READY_PREFIX) :])["port"]
            return port
        self.stop(timeout=2.0)
        if line.startswith(ERROR_PREFIX):
            problem = json.loads(line[len(ERROR_PREFIX) :])["error"]
            hint = "pass port=0 for a free port" if "address" in problem else "see its stderr"
        else:
            said = f"unexpected output {line!r}" if line else f"no handshake within {timeout} s"
            problem = f"{said} (exit code {process.returncode})"
            hint = "its stderr has details"
        host, want = self._config["host"], self._config["port"]
        raise MockServerError(
            f"MockModelServer(in_process=True) could not start on {host}:{want}: {problem}; {hint}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Close the child's stdin (it stops), then terminate or kill it if it does not."""
        process = self.process
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(2.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            with contextlib.suppress(OSError):
                process.stdout.close()
        self.process = None


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """The first line of `stream`, or "" at EOF or after `timeout` seconds."""
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].decode("utf-8", "replace").strip() if lines else ""
