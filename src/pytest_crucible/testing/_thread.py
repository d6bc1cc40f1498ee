"""Run the mock server on its own event loop in a daemon thread of this process."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from aiohttp import web

from pytest_crucible.testing._errors import MockServerError
from pytest_crucible.testing._server import logger, serve

__all__ = ["ThreadRunner"]


class ThreadRunner:
    """Serves one aiohttp application from a thread with its own event loop.

    Independent of any loop the caller runs, so it works from sync tests and async code.
    """

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self, timeout: float) -> int:
        """Start serving; returns the port. Raises `MockServerError` if it cannot listen."""
        self._thread = threading.Thread(target=self._main, name="crucible-mock-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop(timeout)
            raise MockServerError(
                f"MockModelServer did not start on {self._host}:{self._port} within {timeout} s"
            )
        if self._error is not None:
            self._thread.join(timeout)
            raise MockServerError(
                f"MockModelServer cannot listen on {self._host}:{self._port}: {self._error}; "
                "pass port=0 to use a free port"
            ) from self._error
        return self.port

    def stop(self, timeout: float) -> None:
        """Stop serving, cancel requests still held, and end the thread."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise MockServerError(f"MockModelServer thread did not stop within {timeout} s")
        self._thread = None

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            if self._ready.is_set():  # it had started: nobody is waiting for this error
                logger.exception("MockModelServer on port %s stopped with an error", self.port)
            self._error = exc
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()

        def started(port: int) -> None:
            self.port = port
            self._ready.set()

        await serve(self._app, self._host, self._port, started, self._stop)
