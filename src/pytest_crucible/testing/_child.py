"""The mock server's child process: `python -m pytest_crucible.testing._child`.

It reads one JSON line of configuration from stdin, listens, prints one handshake line on
stdout (`READY_PREFIX` + {"port": N}, or `ERROR_PREFIX` + {"error": ...}) and serves until
stdin reaches EOF (the parent closed it, or died), SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from typing import Any

from pytest_crucible.testing._answers import Answerer
from pytest_crucible.testing._faults import Fault, FaultPlan
from pytest_crucible.testing._latency import latency_from_json
from pytest_crucible.testing._process import ERROR_PREFIX, READY_PREFIX
from pytest_crucible.testing._server import ServerState, build_app, serve

__all__ = ["main"]


def state_from_config(config: dict[str, Any]) -> ServerState:
    return ServerState(
        latency=latency_from_json(config["latency"]),
        faults=FaultPlan([Fault.from_dict(item) for item in config["faults"]]),
        answerer=Answerer.from_config(config),
        models=tuple(config["models"]),
    )


def _read_config() -> dict[str, Any]:
    data = b""
    while b"\n" not in data:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data += chunk
    config: dict[str, Any] = json.loads(data)
    return config


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set `stop` when stdin reaches EOF: the parent closed the pipe or died."""
    with contextlib.suppress(OSError):
        while os.read(0, 65536):
            pass
    with contextlib.suppress(RuntimeError):  # the loop is already closed
        loop.call_soon_threadsafe(stop.set)


def _handshake(prefix: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(prefix + json.dumps(payload) + "\n")
    sys.stdout.flush()


async def _serve_child(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    threading.Thread(target=_watch_stdin, args=(loop, stop), daemon=True).start()
    app = build_app(state_from_config(config))

    def started(port: int) -> None:
        _handshake(READY_PREFIX, {"port": port})
        sys.stdout = sys.stderr  # nothing else may write to the handshake pipe

    await serve(app, config["host"], config["port"], started, stop)


def main() -> int:
    try:
        config = _read_config()
        asyncio.run(_serve_child(config))
    except Exception as exc:
        _handshake(ERROR_PREFIX, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
