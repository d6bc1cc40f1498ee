"""The MCP server for agents (issue 18, point 3), driven by the official SDK's client: over
stdio against `crucible mcp` in a subprocess, and over streamable HTTP against a uvicorn
server of `mcp_asgi_app` on a loopback port. Runs are real `pytest --crucible` processes
writing a real store; the tests wait on what the store says, never on the clock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from e2e_support import crucible_serving, sql, start_pytest
from pytest_crucible.store import open_store

# generous: the machine is shared and runs 3x slower when busy
RUN_TIMEOUT_S = 300.0
CALL_TIMEOUT_S = 120.0

TINY = """
import os
import pytest_crucible as crucible

def echo(text):
    return text

def shout(text):
    return text.upper()

tiny = crucible.Experiment(
    name="tiny",
    description="two conditions on three words",
    dataset=[{"id": w, "input": w, "expected": w.upper()} for w in ("ab", "cd", "ef")],
    conditions={"echo": echo, "shout": shout},
    baseline="echo",
    metrics={"correct": crucible.Metric(kind="binary"), "length": crucible.Metric()},
    repeat=2,
    seed=3,
    config=crucible.ConfigSchema(
        scale=crucible.Field("integer", default=1, min=1, max=5, label="length factor"),
    ),
)

@tiny.trial
def test_tiny(condition, item, trial):
    answer = condition(item.input) * trial.config["scale"]
    trial.log("info", f"answered {answer}")
    trial.record(correct=answer == item.expected, length=len(answer))
"""

# the first trial is stored (a run is registered with its first trial); the others wait
# until the test creates the file `release` beside the test file
BLOCKING = """
import pathlib, time
import pytest_crucible as crucible

RELEASE = pathlib.Path(__file__).with_name("release")
STARTED = pathlib.Path(__file__).with_name("started")

def wait(text):
    if text == "0":
        return text
    STARTED.touch()
    while not RELEASE.exists():
        time.sleep(0.02)
    return text

blocking = crucible.Experiment(
    name="blocking",
    dataset=[{"id": f"i{n}", "input": str(n)} for n in range(6)],
    conditions={"wait": wait},
    metrics={"length": crucible.Metric()},
    repeat=1,
    concurrency=1,
)

@blocking.trial
def test_blocking(condition, item, trial):
    trial.record(length=len(condition(item.input)))
"""

# an output and a log line that quote the API key of the environment
LEAKY = """
import os
import pytest_crucible as crucible

def leak(text):
    return f"{text} with key {os.environ.get('OPENAI_API_KEY')}"

leaky = crucible.Experiment(
    name="leaky",
    dataset=[{"id": "x", "input": "hello"}],
    conditions={"leak": leak},
    metrics={"length": crucible.Metric()},
    repeat=1,
)

@leaky.trial
def test_leaky(condition, item, trial):
    answer = condition(item.input)
    trial.log("warning", f"said: {answer}")
    trial.record(length=len(answer))
"""

API_KEY = "sk-crucible-test-0123456789abcdef"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_tiny.py").write_text(TINY)
    (root / "tests" / "test_blocking.py").write_text(BLOCKING)
    (root / "tests" / "test_leaky.py").write_text(LEAKY)
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return root


@pytest.fixture
def store(project: Path) -> str:
    """An empty store (created as a first run would create it)."""
    location = project / ".crucible" / "crucible.db"
    location.parent.mkdir()
    open_store(location).close()
    return str(location)


# -- the client side --------------------------------------------------------------------------


class Agent:
    """An MCP client session, with tool results as dicts."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.texts: list[str] = []  # every result and error text seen (the secrets test)

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self._call(tool, arguments)
        text = _text(result)
        assert not result.is_error, f"{tool}({arguments}) failed: {text}"
        assert isinstance(result.structured_content, dict), text
        return result.structured_content

    async def error(self, tool: str, **arguments: Any) -> str:
        result = await self._call(tool, arguments)
        assert result.is_error, f"{tool}({arguments}) did not fail: {_text(result)}"
        return _text(result)

    async def _call(self, tool: str, arguments: dict[str, Any]) -> Any:
        with anyio.fail_after(CALL_TIMEOUT_S):
            result = await self.session.call_tool(tool, arguments)
        self.texts.append(_text(result))
        self.texts.append(json.dumps(result.structured_content))
        return result

    async def wait_for(
        self, what: str, check: Callable[[], Awaitable[Any]], timeout: float = RUN_TIMEOUT_S
    ) -> Any:
        """`check()`'s first true value: the state the store reports, asked again and again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = await check()
            if found:
                return found
            await anyio.sleep(0.2)
        raise AssertionError(f"waited {timeout:.0f} s for {what}")

    async def finished_run(self, run_id: str) -> dict[str, Any]:
        async def finished() -> dict[str, Any] | None:
            progress = await self.call("get_progress", run_id=run_id)
            done = progress["status"] != "running" and progress["analysis_ready"]
            return progress if done else None

        result: dict[str, Any] = await self.wait_for(f"run {run_id} to end", finished)
        return result

    async def launched_run_id(self, launch_id: Any) -> str:
        async def run_id() -> str | None:
            launches = (await self.call("list_launches"))["launches"]
            (launch,) = [one for one in launches if one["launch_id"] == launch_id]
            if launch["run_id"] is None and launch["state"] == "exited":
                raise AssertionError(f"the launch ended without a run: {launch}")
            return launch["run_id"]  # type: ignore[no-any-return]

        found: str = await self.wait_for("the launched run's id", run_id)
        return found


def _text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def _environment(**extra: str) -> dict[str, str]:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    environment.pop("PYTEST_ADDOPTS", None)
    environment.pop("CRUCIBLE_STORE", None)
    return environment


@asynccontextmanager
async def stdio_agent(
    store: str, project: Path, env: dict[str, str] | None = None
) -> AsyncIterator[Agent]:
    """`crucible mcp` in a subprocess, with a session initialised over its stdio."""
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pytest_crucible.cli", "mcp", "--store", store, "--project", str(project)],
        env=env or _environment(),
        cwd=str(project),
    )
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        with anyio.fail_after(CALL_TIMEOUT_S):
            await session.initialize()
        yield Agent(session)


def run_agent(main: Callable[[], Awaitable[None]]) -> None:
    anyio.run(main)


# -- stdio ------------------------------------------------------------------------------------


def test_the_tools_have_descriptions_and_input_schemas(project: Path, store: str) -> None:
    async def main() -> None:
        async with stdio_agent(store, project) as agent:
            tools = (await agent.session.list_tools()).tools
        names = {tool.name for tool in tools}
        assert len(tools) >= 15, names
        assert {
            "list_experiments",
            "describe_experiment",
            "create_instance",
            "update_instance",
        } <= names
        assert {"start_run", "get_progress", "cancel_run", "query_logs", "list_trials"} <= names
        assert {"get_trial", "get_analysis", "compare_runs", "list_runs", "list_launches"} <= names
        for tool in tools:
            assert tool.description and len(tool.description) > 80, tool.name
            assert tool.input_schema["type"] == "object", tool.name
            for name, schema in tool.input_schema.get("properties", {}).items():
                assert schema.get("description"), f"{tool.name}.{name} has no description"
        paging = {t.name: t.input_schema["properties"] for t in tools}
        assert {"after_id", "limit", "level", "condition", "item"} <= set(paging["query_logs"])
        assert {"offset", "limit", "condition", "item", "status"} <= set(paging["list_trials"])

    run_agent(main)


def test_an_unknown_run_or_instance_is_a_tool_error_that_names_the_fix(
    project: Path, store: str
) -> None:
    async def main() -> None:
        async with stdio_agent(store, project) as agent:
            for tool in ("get_progress", "get_run", "get_analysis", "list_trials", "query_logs"):
                assert "list_runs" in await agent.error(tool, run_id="no-such-run")
            assert "list_runs" in await agent.error("cancel_run", run_id="no-such-run")
            assert "list_instances" in await agent.error("start_run", instance="nobody")
            assert "list_instances" in await agent.error("update_instance", name="nobody")
            # a wrong type is refused by the schema, and the server goes on serving
            assert "limit" in await agent.error("list_runs", limit="many")
            assert (await agent.call("list_runs"))["runs"] == []

    run_agent(main)


def test_an_agent_creates_an_instance_runs_it_and_reads_its_results(
    project: Path, store: str
) -> None:
    async def main() -> None:
        async with stdio_agent(store, project) as agent:
            await _run_an_instance_and_read_it(agent, store)

    run_agent(main)


async def _run_an_instance_and_read_it(agent: Agent, store: str) -> None:
    """discover, create (a bad value refused), update and describe, start a run, poll it to
    completion, and read its results."""
    found = (await agent.call("discover_experiments"))["experiments"]
    (tiny,) = [e for e in found if e["name"] == "tiny"]
    bad = await agent.error(
        "create_instance", name="big", experiment="tiny", source=tiny["source"],
        config={"scale": 99},
    )  # fmt: skip
    assert "scale" in bad, bad
    await agent.call(
        "create_instance", name="double", experiment="tiny", source=tiny["source"],
        config={"scale": 1}, conditions=["echo", "shout"],
    )  # fmt: skip
    assert "update_instance" in await agent.error(
        "create_instance", name="double", experiment="tiny", source=tiny["source"]
    )
    updated = await agent.call("update_instance", name="double", config={"scale": 2})
    assert updated["config"] == {"scale": 2}, updated
    described = await agent.call("describe_experiment", name="tiny")
    assert described["declared"]["conditions"] == ["echo", "shout"], described

    launch = await agent.call("start_run", instance="double")
    run_id = await agent.launched_run_id(launch["launch_id"])
    progress = await agent.finished_run(run_id)
    assert progress["status"] == "completed", progress
    assert progress["stored"] == progress["total_trials"] == 12, progress
    await _read_results(agent, store, run_id)


async def _read_results(agent: Agent, store: str, run_id: str) -> None:
    """list_trials, get_trial, query_logs and get_analysis agree with the store's rows."""
    ordered = 'SELECT * FROM trials WHERE run_id = ? ORDER BY condition, item_id, "repeat"'
    rows = sql(store, ordered, (run_id,))
    first = await agent.call("list_trials", run_id=run_id, offset=0, limit=5)
    rest = await agent.call("list_trials", run_id=run_id, offset=5, limit=50)
    assert first["total"] == len(rows) == 12
    listed = first["rows"] + rest["rows"]
    assert [r["trial_key"] for r in listed] == [row["trial_key"] for row in rows]
    shout = await agent.call("list_trials", run_id=run_id, condition="shout", item="ab")
    assert shout["total"] == 2 and {r["condition"] for r in shout["rows"]} == {"shout"}

    key = next(row["trial_key"] for row in rows if row["condition"] == "shout")
    trial = await agent.call("get_trial", run_id=run_id, trial_key=key)
    stored = next(row for row in rows if row["trial_key"] == key)
    assert trial["metrics"] == json.loads(stored["metrics"]), trial
    assert trial["metrics"]["length"] == 4 and trial["metrics"]["correct"] is False
    assert trial["item"]["input"] == stored["item_id"]
    assert any("answered" in line["message"] for line in trial["logs"]), trial["logs"]
    assert "list_trials" in await agent.error("get_trial", run_id=run_id, trial_key="nope")

    page = await agent.call("query_logs", run_id=run_id, limit=7)
    after = await agent.call("query_logs", run_id=run_id, after_id=page["next_after_id"])
    assert len(page["lines"]) == 7 and len(after["lines"]) == 5
    assert all(line["level"] == "info" for line in page["lines"] + after["lines"])
    only = await agent.call("query_logs", run_id=run_id, condition="echo", item="cd")
    assert [line["message"] for line in only["lines"]] == ["answered cdcd"] * 2

    analysis = await agent.call("get_analysis", run_id=run_id)
    (length,) = [m for m in analysis["metrics"] if m["name"] == "length"]
    means = {c["condition"]: c["mean"] for c in length["conditions"]}
    assert means == {"echo": 4.0, "shout": 4.0}, means
    assert analysis["status"] == "completed" and isinstance(analysis["gates"], list)
    assert (await agent.call("get_run", run_id=run_id))["run_id"] == run_id

    # the run against itself: the same values, so no regression on any metric
    compared = await agent.call("compare_runs", run_a=run_id, run_b=run_id, margins={"*": 1.0})
    assert compared["passed"] is True, compared
    verdicts = {(v["condition"], v["metric"]): v["verdict"] for v in compared["verdicts"]}
    assert verdicts[("shout", "length")] == "noninferior", verdicts
    assert "regression" not in verdicts.values(), verdicts


def test_cancel_run_stops_a_run_started_from_a_terminal(project: Path, store: str) -> None:
    process = start_pytest(project, "tests/test_blocking.py", f"--crucible-store={store}")
    output: list[str] = []
    reader = threading.Thread(
        target=lambda: output.extend(line.decode(errors="replace") for line in process.stdout or ())
    )
    reader.start()
    try:

        async def main() -> None:
            async with stdio_agent(store, project) as agent:
                await _cancel_the_blocking_run(agent, project, output)

        run_agent(main)
        process.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(timeout=CALL_TIMEOUT_S)
    (run,) = sql(store, "SELECT run_id, status FROM runs WHERE experiment = 'blocking'")
    assert run["status"] == "cancelled", "".join(output)
    stored = sql(store, "SELECT count(*) AS n FROM trials WHERE run_id = ?", (run["run_id"],))
    assert 1 <= stored[0]["n"] < 6, "".join(output)


async def _cancel_the_blocking_run(agent: Agent, project: Path, output: list[str]) -> None:
    """Wait for the blocking run (started from a terminal) to start a trial, cancel it,
    see the session take the request, release the trial: the run ends cancelled."""

    async def running() -> str | None:
        runs = (await agent.call("list_runs", experiment="blocking"))["runs"]
        started = (project / "tests" / "started").exists()
        return runs[0]["run_id"] if runs and started else None

    async def seen_by_the_session() -> bool:
        return any("cancel requested (enough)" in line for line in output)

    run_id = await agent.wait_for("the blocking run to start a trial", running)
    cancelled = await agent.call("cancel_run", run_id=run_id, reason="enough")
    assert cancelled["cancel_requested"] is True, cancelled
    progress = await agent.call("get_progress", run_id=run_id)
    assert progress["cancel_requested"] == "enough", progress
    await agent.wait_for("the session to see the request", seen_by_the_session)
    (project / "tests" / "release").touch()  # the trial in flight may now finish
    assert (await agent.finished_run(run_id))["status"] == "cancelled"
    assert "not running" in await agent.error("cancel_run", run_id=run_id)


# -- streamable HTTP --------------------------------------------------------------------------

TOKEN = "tok-0123456789-abcdefghij"


@contextmanager
def http_server(store: str, project: Path, token: str | None) -> Iterator[str]:
    """uvicorn serving `mcp_asgi_app` on a free loopback port in a thread: its URL."""
    import uvicorn

    from pytest_crucible.console.mcp_server import mcp_asgi_app

    app = mcp_asgi_app(store, project, token)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + CALL_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=CALL_TIMEOUT_S)
        sock.close()


ACCEPT = "application/json, text/event-stream"


def _post(url: str, headers: dict[str, str]) -> tuple[int, str]:
    hello = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    }
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})
    request = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/json", "Accept": ACCEPT, **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_over_http_the_token_is_required_and_the_tools_answer(project: Path, store: str) -> None:

    with http_server(store, project, TOKEN) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            status, body = _post(url, headers)
            assert status == 401, (headers, status, body)
            assert "Authorization: Bearer" in json.loads(body)["error"]

        async def main() -> None:
            async with http_agent(url, TOKEN) as agent:
                assert len((await agent.session.list_tools()).tools) >= 15
                assert (await agent.call("list_runs"))["runs"] == []
                assert "list_runs" in await agent.error("get_progress", run_id="nope")

        run_agent(main)


@asynccontextmanager
async def http_agent(url: str, token: str) -> AsyncIterator[Agent]:
    """An SDK client session over streamable HTTP at `url`, carrying the bearer token."""
    import httpx2

    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        with anyio.fail_after(CALL_TIMEOUT_S):
            await session.initialize()
        yield Agent(session)


def test_over_http_an_agent_runs_an_instance_reads_it_and_cancels_a_terminal_run(
    project: Path, store: str
) -> None:
    """The stdio flow again, over `crucible serve`'s /mcp: create an instance, start a run,
    poll it to completion, read its results; then cancel a run started from a terminal."""
    output: list[str] = []
    started: list[subprocess.Popen[bytes]] = []

    async def main() -> None:
        async with http_agent(url, TOKEN) as agent:
            assert len((await agent.session.list_tools()).tools) >= 15
            await _run_an_instance_and_read_it(agent, store)
            process = start_pytest(project, "tests/test_blocking.py", f"--crucible-store={store}")
            started.append(process)
            threading.Thread(
                target=lambda: output.extend(
                    line.decode(errors="replace") for line in process.stdout or ()
                ),
                daemon=True,
            ).start()
            await _cancel_the_blocking_run(agent, project, output)

    try:
        with crucible_serve(store, project, TOKEN) as url:
            run_agent(main)
        (process,) = started
        process.wait(timeout=RUN_TIMEOUT_S)  # the cancelled run's session has ended
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
    (run,) = sql(store, "SELECT run_id, status FROM runs WHERE experiment = 'blocking'")
    assert run["status"] == "cancelled", "".join(output)
    stored = sql(store, "SELECT count(*) AS n FROM trials WHERE run_id = ?", (run["run_id"],))
    assert 1 <= stored[0]["n"] < 6, "".join(output)


def test_without_a_token_only_loopback_host_names_are_served(project: Path, store: str) -> None:
    with http_server(store, project, None) as url:
        status, _ = _post(url, {})
        assert status == 200
        # a page of another site that reached the port through DNS rebinding
        status, _ = _post(url, {"Host": "evil.example:80"})
        assert status in (403, 421)


@contextmanager
def crucible_serve(store: str, project: Path, token: str) -> Iterator[str]:
    """`crucible serve --token TOKEN` in a subprocess on a free port: its /mcp URL, once it
    printed where it listens."""
    arguments = ["--store", store, "--project", str(project), "--port", "0", "--token", token]
    with crucible_serving(arguments, env=_environment(), timeout=CALL_TIMEOUT_S) as address:
        yield address.split("?", 1)[0] + "mcp"


def test_crucible_serve_serves_the_tools_at_mcp_behind_its_token(project: Path, store: str) -> None:
    with crucible_serve(store, project, TOKEN) as url:
        assert _post(url, {})[0] == 401
        assert _post(url, {"Authorization": "Bearer not-the-token-at-all"})[0] == 401

        async def main() -> None:
            async with http_agent(url, TOKEN) as agent:
                assert len((await agent.session.list_tools()).tools) >= 15
                assert "list_runs" in await agent.error("get_run", run_id="nope")

        run_agent(main)


# -- secrets ----------------------------------------------------------------------------------


def test_no_database_password_or_api_key_reaches_an_agent(project: Path, postgres_url: str) -> None:
    password = postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert len(password) >= 8, "the test role's password is too short to be looked for"
    env = _environment(OPENAI_API_KEY=API_KEY)

    async def main() -> None:
        async with stdio_agent(postgres_url, project, env) as agent:
            (leaky,) = [
                e
                for e in (await agent.call("discover_experiments"))["experiments"]
                if e["name"] == "leaky"
            ]
            await agent.call(
                "create_instance", name="l", experiment="leaky", source=leaky["source"]
            )
            launch = await agent.call("start_run", instance="l")
            run_id = await agent.launched_run_id(launch["launch_id"])
            assert (await agent.finished_run(run_id))["status"] == "completed"
            (row,) = (await agent.call("list_trials", run_id=run_id))["rows"]
            trial = await agent.call("get_trial", run_id=run_id, trial_key=row["trial_key"])
            assert "with key ***" in json.dumps(trial["output"]), trial["output"]
            for tool in ("list_experiments", "list_instances", "list_launches", "list_runs"):
                await agent.call(tool)
            await agent.call("describe_experiment", name="leaky")
            for tool in ("get_run", "get_progress", "get_analysis", "query_logs"):
                await agent.call(tool, run_id=run_id)
            await agent.error("get_progress", run_id="nope")
            seen = "\n".join(agent.texts)
            assert password not in seen
            assert API_KEY not in seen
            assert "hello with key" in seen  # the output was there, the key masked

    run_agent(main)
