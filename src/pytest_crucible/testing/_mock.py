"""`MockModelServer`: the public front over the thread and child-process runners."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from pytest_crucible.testing._accuracy import Accuracy
from pytest_crucible.testing._answers import Answerer, AnswerFn, ReplyValue
from pytest_crucible.testing._errors import MockServerError
from pytest_crucible.testing._faults import Fault, FaultPlan
from pytest_crucible.testing._latency import Latency, LatencyByModel, coerce_latency
from pytest_crucible.testing._process import ProcessRunner
from pytest_crucible.testing._server import ServerState, build_app
from pytest_crucible.testing._thread import ThreadRunner

__all__ = ["MockModelServer"]

DEFAULT_MODELS = ("mock-model",)


def _fault_list(faults: Fault | Sequence[Fault] | None) -> list[Fault]:
    if faults is None:
        return []
    if isinstance(faults, Fault):
        return [faults]
    if isinstance(faults, str | bytes) or not isinstance(faults, Sequence):
        raise MockServerError(f"faults={faults!r}: give a list of Fault(...)")
    return list(faults)


class MockModelServer:
    """A loopback HTTP server speaking the OpenAI chat-completions and Anthropic Messages APIs.

    Use it as a context manager (`with` or `async with`). `in_process=False` (default) serves
    from a thread of this process; `in_process=True` serves from a child process (benchmarks:
    the server's CPU stays off the client's GIL), where `answer=` callables cannot go.
    """

    def __init__(
        self,
        *,
        latency: float | Latency | Mapping[str, float | Latency | None] | None = None,
        faults: Fault | Sequence[Fault] | None = None,
        answer: AnswerFn | None = None,
        answers: Mapping[str, ReplyValue] | Accuracy | None = None,
        in_process: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
        startup_timeout: float = 10.0,
    ) -> None:
        if in_process and answer is not None:
            raise MockServerError(
                "MockModelServer(in_process=True, answer=...): a callable cannot be sent to the "
                "child process; use answers={substring: reply} (JSON-safe), or in_process=False"
            )
        if isinstance(models, str) or not all(isinstance(m, str) for m in models):
            raise MockServerError(f"models={models!r}: give a list of model names")
        self._state = ServerState(
            latency=coerce_latency(latency),
            faults=FaultPlan(_fault_list(faults)),
            answerer=Answerer(answer, answers),
            models=tuple(models),
        )
        if in_process:
            try:
                json.dumps(self._state.answerer.config())
            except (TypeError, ValueError) as exc:
                raise MockServerError(
                    f"MockModelServer(in_process=True): answers must be JSON-safe to reach the "
                    f"child process: {exc}"
                ) from exc
        self.in_process = in_process
        self.host = host
        self._want_port = port
        self._startup_timeout = startup_timeout
        self._thread: ThreadRunner | None = None
        self._process: ProcessRunner | None = None
        self._control: httpx.Client | None = None
        self.port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> MockModelServer:
        """Start listening; returns self. Raises `MockServerError` if it cannot."""
        if self.running:
            raise MockServerError("MockModelServer.start(): the server is already running")
        if self.in_process:
            runner = ProcessRunner(self._config())
            self.port = runner.start(self._startup_timeout)
            self._process = runner
            self._control = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)
            self._call("GET", "/health")
        else:
            thread = ThreadRunner(build_app(self._state), self.host, self._want_port)
            self.port = thread.start(self._startup_timeout)
            self._thread = thread
        return self

    def stop(self) -> None:
        """Stop the server (requests still held are cancelled); a no-op when not running."""
        thread, process, control = self._thread, self._process, self._control
        self._thread = self._process = self._control = None
        if control is not None:
            control.close()
        if process is not None:
            process.stop()
        if thread is not None:
            thread.stop(self._startup_timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None or self._process is not None

    def __enter__(self) -> MockModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> MockModelServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- addresses ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://HOST:PORT`: Anthropic clients post to `url + "/v1/messages"`."""
        if self.port is None:
            raise MockServerError("MockModelServer.url: the server is not running; use `with`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT/v1`: the OpenAI base URL."""
        return self.url + "/v1"

    @property
    def pid(self) -> int | None:
        """The child's process id with in_process=True while running, else None."""
        process = self._process.process if self._process is not None else None
        return process.pid if process is not None else None

    # -- control ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """requests, in_flight, max_in_flight, by_status, by_path, faults, dropped, cancelled."""
        if self._control is not None:
            stats: dict[str, Any] = self._call("GET", "/_mock/stats")
            return stats
        return self._state.stats.snapshot()

    def reset(self) -> None:
        """Clear the stats, the request log and the faults; restart the latency's seed."""
        if self._control is not None:
            self._call("POST", "/_mock/reset")
        else:
            self._state.reset()

    def set_faults(self, faults: Fault | Sequence[Fault] | None) -> None:
        """Replace the faults (their counts start afresh)."""
        fault_list = _fault_list(faults)
        self._state.faults.replace(fault_list)
        if self._control is not None:
            self._call("PUT", "/_mock/faults", [fault.to_dict() for fault in fault_list])

    def faults(self) -> list[dict[str, Any]]:
        """The faults as dicts, each with `remaining` uses (None: unlimited)."""
        if self._control is not None:
            faults: list[dict[str, Any]] = self._call("GET", "/_mock/faults")
            return faults
        return self._state.faults.describe()

    def set_latency(
        self, latency: float | Latency | LatencyByModel | Mapping[str, Any] | None
    ) -> None:
        """Replace the latency of the answers that follow (one for all, or a dict by model)."""
        self._state.latency = coerce_latency(latency)
        if self._control is not None:
            self._call("PUT", "/_mock/latency", self._state.latency.to_dict())

    def request_log(self) -> list[dict[str, Any]]:
        """The last 1,000 /v1/ generation requests: method, path, headers, json (or body)."""
        if self._control is not None:
            log: list[dict[str, Any]] = self._call("GET", "/_mock/requests")
            return log
        return self._state.stats.request_log()

    def _config(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self._want_port,
            "latency": self._state.latency.to_dict(),
            "faults": [fault.to_dict() for fault in self._state.faults.current()],
            **self._state.answerer.config(),
            "models": list(self._state.models),
        }

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        assert self._control is not None
        try:
            response = self._control.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise MockServerError(
                f"MockModelServer child process at {self.url} did not answer {method} {path}: "
                f"{exc}; did it exit (pid {self.pid})?"
            ) from exc
        if response.status_code != 200:
            raise MockServerError(
                f"MockModelServer {method} {path}: {response.status_code} {response.text}"
            )
        return response.json()

    def __repr__(self) -> str:
        where = "child process" if self.in_process else "thread"
        state = self.url if self.port is not None and self.running else "stopped"
        return f"<MockModelServer {where} {state}>"
