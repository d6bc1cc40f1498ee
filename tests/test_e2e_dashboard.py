"""`crucible serve` end to end (issue 18, points 1 and 4): the dashboard as a subprocess on a
free loopback port, read by headless Chromium (Selenium) and by plain HTTP while real
`pytest --crucible` runs write the store.

- a live run: the page advances and shows new log lines without a reload, while the test
  releases the run's trials one by one (a file per item that the trial waits for);
- hostile item text, outputs and log lines are shown as text and run nothing;
- a non-loopback bind needs a token, and every page, API call and event stream needs it then;
- no database password and no API key of the server's environment reaches a page or JSON.

Screenshots of the main pages go to tests/.artifacts/screenshots/ (or $CRUCIBLE_SCREENSHOTS).
Without Selenium or chromedriver the browser test skips on a developer machine and FAILS in CI.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from browser_support import WAIT_S, chrome, click, screenshot, wait_until
from e2e_support import EXPERIMENT, sql, start_pytest

TOKEN = "t0ken-for-the-dashboard-tests-0123456789"

# Untrusted text (as the reports' tests use): had any of it run, the title would change, an
# element would appear or the body would get a data-pwned attribute.
PAYLOAD_OUTPUT = (
    "<img src=x id=pwned-img onerror=\"document.title='PWNED'\">"
    "<script>document.title='PWNED';document.body.setAttribute('data-pwned','1')</script>"
)
PAYLOAD_INPUT = "</script><script>document.body.setAttribute('data-pwned','2')</script>"
PAYLOAD_TEXT = '<b id=pwned-b onmouseover=alert(1)>bold</b> <a href="javascript:alert(1)">x</a>'

LIVE_EXPERIMENT = f"""
import os, pathlib, time
import pytest_crucible as crucible

GATES = pathlib.Path(os.environ["CRUCIBLE_GATES"])

def echo(text):
    return text + {PAYLOAD_OUTPUT!r}

live = crucible.Experiment(
    name="live-demo",
    description="Watched live " + {PAYLOAD_TEXT!r},
    dataset=[
        {{"id": f"item{{n}}", "input": f"question {{n}} " + {PAYLOAD_INPUT!r}, "expected": "x"}}
        for n in range(4)
    ],
    conditions={{"echo": echo}},
    metrics={{"score": crucible.Metric()}},
    repeat=1,
    seed=1,
)

@live.trial
def test_live(condition, item, trial):
    gate = GATES / item.id
    while not gate.exists():  # the test releases this trial by creating the file
        time.sleep(0.02)
    answer = condition(item.input)
    trial.log("warning", f"released {{item.id}} " + {PAYLOAD_OUTPUT!r})
    trial.record(score=len(answer))
"""

# what a page may run: our own script, served by the package
CHECK_INERT = """
return {
  title: document.title,
  pwned: document.body.getAttribute('data-pwned'),
  injected: document.querySelectorAll(
    '#pwned-img, #pwned-b, [onerror], [onmouseover], a[href^="javascript:"]').length,
  scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
};
"""


class Server:
    """`crucible serve ...` as a subprocess; its output lines in a queue."""

    def __init__(self, folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest_crucible.cli", "serve", "--port", "0", *args],
            cwd=folder,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.address = self.wait_for("crucible: dashboard at ").split(" at ", 1)[1].strip()
        self.base = "http://127.0.0.1:" + str(urlsplit(self.address).port)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, start: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            if line.startswith(start):
                return line
        raise AssertionError(f"no line {start!r} from crucible serve: {''.join(self.output)}")

    def stop(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _assert_inert(browser: Any, page: str) -> None:
    state = browser.execute_script(CHECK_INERT)
    assert state["pwned"] is None and state["injected"] == 0, (page, state)
    assert "PWNED" not in state["title"], (page, state)
    assert all(src and src.startswith("/static/") for src in state["scripts"]), (page, state)


def _first_trial_run(store: Path) -> str | None:
    """The run id of the first stored trial, once the pytest process has stored one."""
    try:
        rows = sql(store, "SELECT run_id FROM trials LIMIT 1") if store.exists() else []
    except sqlite3.OperationalError:  # the store is being made: no tables yet
        return None
    return rows[0]["run_id"] if rows else None


@pytest.fixture
def browser() -> Iterator[Any]:
    with chrome() as driver:
        yield driver


def test_a_live_run_advances_on_the_page_and_hostile_text_is_inert(
    tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    gates = tmp_path / "gates"
    gates.mkdir()
    (tmp_path / "test_live.py").write_text(LIVE_EXPERIMENT)
    store = tmp_path / "c.db"
    run = start_pytest(
        tmp_path, "-p", "no:cacheprovider", f"--crucible-store={store}",
        env={"CRUCIBLE_GATES": str(gates)},
    )  # fmt: skip
    server = Server(tmp_path, "--store", str(store))
    try:
        (gates / "item0").touch()
        run_id = wait_until(lambda: _first_trial_run(store), "the first trial stored")

        browser.get(f"{server.base}/runs/{run_id}")
        text = lambda selector: browser.find_element(By.CSS_SELECTOR, selector).text  # noqa: E731
        wait_until(lambda: text("#progress-stored") == "1", "the page to show 1 trial")
        wait_until(lambda: "released item0" in text("#log-lines"), "the first log line")
        browser.execute_script("window.stillTheSamePage = true;")

        (gates / "item1").touch()  # the next trial is stored: the page follows, no reload
        wait_until(lambda: text("#progress-stored") == "2", "the page to show 2 trials")
        wait_until(lambda: "released item1" in text("#log-lines"), "the new log line")
        assert browser.execute_script("return window.stillTheSamePage === true;")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#trials-body tr")) == 2
        assert "2 / 4" in text("#conditions-body")  # echo: 2 of its 4 trials
        _assert_inert(browser, "live run")
        assert "<img src=x id=pwned-img" in text("#log-lines")  # shown, as text
        screenshot(browser, "dashboard-run-live")

        (gates / "item2").touch()
        (gates / "item3").touch()
        wait_until(lambda: text("#run-status") == "completed", "the run to be shown completed")
        assert text("#progress-stored") == "4"
        _assert_inert(browser, "finished run")
        screenshot(browser, "dashboard-run-finished")
        assert run.wait(timeout=WAIT_S) == 0, run.stdout.read().decode()[-3000:]  # type: ignore[union-attr]

        for name, address in (("experiments", "/"), ("experiment", "/experiments/live-demo")):
            browser.get(server.base + address)
            assert "live-demo" in browser.find_element(By.TAG_NAME, "main").text
            _assert_inert(browser, address)
            screenshot(browser, f"dashboard-{name}")
        assert "<b id=pwned-b" in browser.find_element(By.CSS_SELECTOR, ".description").text
    finally:
        for gate in ("item0", "item1", "item2", "item3"):
            (gates / gate).touch()
        if run.poll() is None:
            run.kill()
        status = server.stop()
    assert status == 0, "".join(server.output)
    assert "crucible: dashboard stopped" in "".join(server.output)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project folder whose store c.db holds one finished run of the demo experiment."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "test_demo.py").write_text(EXPERIMENT)
    done = start_pytest(folder, "-p", "no:cacheprovider", "--crucible-store=c.db")
    output = done.communicate(timeout=WAIT_S)[0].decode()
    assert done.returncode == 0, output[-3000:]
    (row,) = sql(folder / "c.db", "SELECT run_id FROM runs")
    return folder, row["run_id"]


def _addresses(run_id: str) -> list[str]:
    return [
        "/",
        "/runs",
        f"/runs/{run_id}",
        "/experiments/demo",
        "/api/experiments",
        "/api/runs",
        f"/api/runs/{run_id}",
        f"/api/runs/{run_id}/trials",
        f"/api/runs/{run_id}/logs",
        f"/runs/{run_id}/results",
        "/compare",
        "/static/style.css",
    ]


def _status_of_events(client: httpx.Client, url: str, **headers: str) -> int:
    with client.stream("GET", url, headers=headers) as answer:
        return answer.status_code


def test_another_address_needs_a_token_and_every_request_must_carry_it(
    finished: tuple[Path, str],
) -> None:
    folder, run_id = finished
    refused = subprocess.run(
        [sys.executable, "-m", "pytest_crucible.cli", "serve", "--host", "0.0.0.0"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={**os.environ, "CRUCIBLE_TOKEN": ""},
        check=False,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "give it a token, --token auto" in refused.stderr
    weak = subprocess.run(
        [sys.executable, "-m", "pytest_crucible.cli", "serve", "--host", "0.0.0.0", "--token", "x"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert weak.returncode == 2 and "16 or more characters" in weak.stderr

    server = Server(folder, "--store", "c.db", "--host", "0.0.0.0", "--token", TOKEN)
    try:
        assert server.address.endswith(f"/?token={TOKEN}")
        with httpx.Client(base_url=server.base, timeout=WAIT_S) as client:
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            for address in _addresses(run_id):
                assert client.get(address).status_code == 401, address
                wrong = {"Authorization": "Bearer not-the-token-0123456789"}
                assert client.get(address, headers=wrong).status_code == 401, address
                assert client.get(address, headers=bearer).status_code == 200, address
            events = f"/api/runs/{run_id}/events"
            assert _status_of_events(client, events) == 401
            assert client.post(f"/runs/{run_id}/cancel").status_code == 401  # a change too
            assert _status_of_events(client, events, **bearer) == 200
            assert "Bearer TOKEN" in client.get("/api/runs").json()["error"]

            first = client.get(f"/runs/{run_id}?page=1&token={TOKEN}")
            assert first.status_code == 303
            assert first.headers["location"] == f"/runs/{run_id}?page=1"  # token left out
            cookie = first.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert client.get(f"/runs/{run_id}").status_code == 200  # with the cookie now
            assert _status_of_events(client, events) == 200
    finally:
        assert server.stop() == 0


def test_without_a_token_another_site_can_neither_read_nor_steer_the_dashboard(
    finished: tuple[Path, str],
) -> None:
    folder, run_id = finished
    server = Server(folder, "--store", "c.db", "--project", ".")
    try:
        port = urlsplit(server.address).port
        # DNS rebinding: a page of another site whose name now resolves to 127.0.0.1; its
        # requests carry that name in Host (and, for a form, in Origin too)
        rebound = {"Host": f"evil.example:{port}"}
        with httpx.Client(base_url=server.base, timeout=WAIT_S) as client:
            for address in ("/", f"/runs/{run_id}", "/api/runs", "/instances", "/mcp"):
                refused = client.get(address, headers=rebound)
                assert refused.status_code == 403, (address, refused.text)
                assert "127.0.0.1" in refused.text and run_id not in refused.text, address
            origin = {"Origin": f"http://evil.example:{port}"}
            refused = client.post(f"/runs/{run_id}/cancel", headers={**rebound, **origin})
            assert refused.status_code == 403, refused.text
            # a form posted to 127.0.0.1 by another site's page (CSRF): refused by its Origin
            crossed = client.post(
                f"/runs/{run_id}/cancel", headers={"Origin": "http://evil.example"}
            )
            assert crossed.status_code == 400 and "another site" in crossed.text
            fetched = client.post("/instances", headers={"Sec-Fetch-Site": "cross-site"})
            assert fetched.status_code == 400 and "another site" in fetched.text
            for name in ("localhost", "127.0.0.1"):  # the loopback names are served
                assert client.get("/", headers={"Host": f"{name}:{port}"}).status_code == 200
    finally:
        assert server.stop() == 0


def test_a_taken_port_and_a_missing_store_are_clear(finished: tuple[Path, str]) -> None:
    folder, run_id = finished
    server = Server(folder, "--store", "c.db")
    try:
        port = str(urlsplit(server.address).port)
        taken = subprocess.run(
            [sys.executable, "-m", "pytest_crucible.cli", "serve", "--port", port],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            check=False,
        )
        assert taken.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr
        assert "--port 0 for any free port" in taken.stderr
        assert "Traceback" not in taken.stderr
        with httpx.Client(base_url=server.base, timeout=WAIT_S) as client:
            missing = client.get("/runs/nope")
            assert missing.status_code == 404 and f"the newest runs: {run_id}" in missing.text
            assert client.get("/api/runs/nope").json() == {
                "error": f"no run 'nope' in the store; the newest runs: {run_id} (demo)"
            }
            bad = client.get(f"/runs/{run_id}?page=x")
            assert bad.status_code == 400 and "page=&#39;x&#39;: give a whole number" in bad.text
            assert "Traceback" not in bad.text
    finally:
        assert server.stop() == 0
    empty = Server(folder, "--store", "nothing-here.db")
    try:
        empty.wait_for("crucible: no store at nothing-here.db yet")
        with httpx.Client(base_url=empty.base, timeout=WAIT_S) as client:
            page = client.get("/")
            assert page.status_code == 200 and "run `pytest --crucible`" in page.text
    finally:
        assert empty.stop() == 0


def _events_text(client: httpx.Client, url: str) -> str:
    """The first events of a stream (progress, trials, logs)."""
    seen: list[str] = []
    with client.stream("GET", url) as answer:
        for line in answer.iter_lines():
            seen.append(line)
            if sum(line.startswith("data:") for line in seen) >= 3:
                break
    return "\n".join(seen)


def test_no_database_password_or_api_key_reaches_a_page_or_json(
    tmp_path: Path, postgres_url: str
) -> None:
    password = urlsplit(postgres_url).password
    assert password
    key = "sk-dashboard-test-key-4f7c2a9e1b"
    secrets_env = {"CRUCIBLE_STORE": postgres_url, "OPENAI_API_KEY": key}
    (tmp_path / "test_demo.py").write_text(EXPERIMENT)
    done = start_pytest(tmp_path, "-p", "no:cacheprovider", env=secrets_env)
    assert done.wait(timeout=WAIT_S) == 0, done.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
    server = Server(tmp_path, env=secrets_env)
    try:
        with httpx.Client(base_url=server.base, timeout=WAIT_S) as client:
            (run,) = client.get("/api/runs").json()
            run_id = run["run_id"]
            key_of_a_trial = client.get(f"/api/runs/{run_id}/trials").json()["rows"][0]
            addresses = [
                *_addresses(run_id),
                "/api/experiments/demo",
                f"/api/runs/{run_id}/progress",
                f"/api/runs/{run_id}/trials/{key_of_a_trial['trial_key']}",
                "/runs/nope",
                "/api/runs/nope",
            ]
            texts = {address: client.get(address).text for address in addresses}
            texts["events"] = _events_text(client, f"/api/runs/{run_id}/events")
        assert "answered" in texts["events"] and "demo" in texts["/"]
        for address, text in texts.items():
            assert password not in text, address
            assert key not in text, address
        assert password not in "".join(server.output)
        assert "***" in "".join(server.output)  # the store's URL is shown, masked
    finally:
        assert server.stop() == 0


# An experiment with a config schema; with STEER_GATE set, the trials of item b wait for that
# file (and say so with STEER_GATE.started): a run started from the dashboard stays running.
STEERED = """
import os, pathlib, time
import pytest_crucible as crucible

tiny = crucible.Experiment(
    name="tiny",
    description="two answers, three ways",
    dataset=[{"id": "a", "input": "1"}, {"id": "b", "input": "2"}, {"id": "c", "input": "3"}],
    conditions={"terse": str, "verbose": lambda x: x * 2},
    metrics=["temperature"],
    repeat=1,
    seed=5,
    config=crucible.ConfigSchema(
        temperature=crucible.Field(
            "float", default=0.5, min=0.0, max=2.0, label="Temperature",
            description="sampling temperature",
        ),
        style=crucible.Field("string", default="plain", choices=("plain", "fancy")),
    ),
)

@tiny.trial
def test_tiny(condition, item, trial):
    gate = os.environ.get("STEER_GATE")
    if gate and item.id == "b":
        pathlib.Path(gate + ".started").touch()
        while not os.path.exists(gate):
            time.sleep(0.05)
    condition(item.input)
    trial.record(temperature=trial.config["temperature"])
"""


def test_an_instance_made_in_the_form_starts_a_run_that_is_cancelled_from_its_page(
    tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    (tmp_path / "test_tiny.py").write_text(STEERED)
    gate = tmp_path / "release"
    server = Server(tmp_path, "--project", ".", env={"STEER_GATE": str(gate)})
    find = browser.find_element
    try:
        browser.get(f"{server.base}/experiments/tiny")  # found in the test file, never run
        assert "sampling temperature" in find(By.CSS_SELECTOR, "table.schema").text
        find(By.ID, "new-instance").click()
        find(By.NAME, "name").send_keys("fast")
        temperature = find(By.NAME, "config.temperature")
        # the form comes from the config schema: its type, limits, label and choices
        assert temperature.get_attribute("type") == "number"
        limits = [temperature.get_attribute(limit) for limit in ("min", "max", "step")]
        assert limits == ["0.0", "2.0", "any"]
        assert temperature.find_element(By.XPATH, "ancestor::label").text.startswith("Temperature")
        assert temperature.get_attribute("value") == "0.5"  # the default
        style = find(By.NAME, "config.style")
        assert style.tag_name == "select"
        options = style.find_elements(By.TAG_NAME, "option")
        assert [option.get_attribute("value") for option in options] == ["plain", "fancy"]
        temperature.clear()
        temperature.send_keys("5")
        find(By.CSS_SELECTOR, "input[name=conditions][value=terse]").click()
        screenshot(browser, "dashboard-instance-form")
        # the browser itself refuses 5 (the field's max is 2); the server must refuse it too
        browser.execute_script("document.querySelector('form.instance').noValidate = true;")
        find(By.ID, "save-instance").click()
        shown = lambda: browser.find_elements(By.ID, "form-problem")  # noqa: E731
        problem = wait_until(shown, f"the refusal: {browser.page_source[-2000:]}")[0].text
        assert "temperature" in problem and "above max 2.0" in problem
        temperature = find(By.NAME, "config.temperature")  # the form kept what was given
        temperature.clear()
        temperature.send_keys("0.7")
        assert find(By.CSS_SELECTOR, "input[name=conditions][value=terse]").is_selected()
        find(By.ID, "save-instance").click()

        # the save answers once the test file is collected again: slow on a busy machine
        saved = lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-instance=fast]")  # noqa: E731
        row = wait_until(saved, f"the saved instance: {browser.page_source[-2000:]}")[0]
        assert '"temperature": 0.7' in row.text and "terse" in row.text
        screenshot(browser, "dashboard-instances")
        click(lambda: find(By.CSS_SELECTOR, "tr[data-instance=fast] button.start"), "Start run")
        wait_until(lambda: "/runs/" in browser.current_url, "the started run's page")
        run_id = browser.current_url.rsplit("/", 1)[1]
        wait_until(Path(f"{gate}.started").exists, "a trial of the run to block")

        click(lambda: find(By.ID, "cancel-run"), "the cancel button")
        noted = lambda: [e for e in browser.find_elements(By.ID, "cancel-note") if e.is_displayed()]  # noqa: E731
        wait_until(noted, "the cancel note")
        with httpx.Client(base_url=server.base, timeout=WAIT_S) as client:
            wait_until(
                lambda: "cancel requested" in client.get("/instances").text,
                "the session to see the request",
            )
        gate.touch()  # the blocked trial finishes; no other starts
        wait_until(lambda: find(By.ID, "run-status").text == "cancelled", "the run cancelled")
        wait_until(lambda: not find(By.ID, "cancel-run").is_displayed(), "the cancel button to go")
        screenshot(browser, "dashboard-run-cancelled")
    finally:
        gate.touch()
        status = server.stop()
    assert status == 0, "".join(server.output)
    (run,) = sql(tmp_path / ".crucible" / "crucible.db", "SELECT * FROM runs")
    assert (run["run_id"], run["status"]) == (run_id, "cancelled")
    assert '"temperature": 0.7' in run["config"] and '"conditions": ["terse"]' in run["header"]


def _events(answer: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(kind, data) of each server-sent event of a streamed answer."""
    import json

    kind = ""
    for line in answer.iter_lines():
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield kind, json.loads(line.split(":", 1)[1])


@pytest.mark.slow
def test_the_event_stream_follows_a_run_under_xdist_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    """The same live feed for a run whose trials two xdist workers run, stored in
    PostgreSQL: each trial released shows up in the stream, then the run's end."""
    gates = tmp_path / "gates"
    gates.mkdir()
    (tmp_path / "test_live.py").write_text(LIVE_EXPERIMENT)
    store = {"CRUCIBLE_STORE": postgres_url}
    run = start_pytest(
        tmp_path, "-p", "no:cacheprovider", "-n", "2", env={"CRUCIBLE_GATES": str(gates), **store}
    )
    server = Server(tmp_path, env=store)
    seen: list[int] = []
    try:
        (gates / "item0").touch()
        with httpx.Client(base_url=server.base, timeout=WAIT_S) as client:

            def started() -> list[dict[str, Any]] | None:
                answer = client.get("/api/runs")  # 404 until the run has made the store
                listed = answer.json() if answer.status_code == 200 else []
                return [run for run in listed if run["stored"] >= 1] or None

            runs = wait_until(started, "the first trial stored")
            run_id = runs[0]["run_id"]
            with client.stream("GET", f"/api/runs/{run_id}/events") as answer:
                for kind, data in _events(answer):
                    if kind != "progress":
                        continue
                    if not seen or data["stored"] != seen[-1]:
                        seen.append(data["stored"])
                        (gates / f"item{data['stored']}").touch()  # release the next one
                    if data["status"] == "completed":
                        break
            logs = client.get(f"/api/runs/{run_id}/logs").json()["lines"]
            trials = client.get(f"/api/runs/{run_id}/trials").json()["rows"]
        assert seen[-1] == 4 and seen == sorted(seen), seen
        assert len(seen) >= 2, seen  # the stream showed the run before its end
        assert {line["item_id"] for line in logs} == {"item0", "item1", "item2", "item3"}
        assert {trial["worker"] for trial in trials} <= {"gw0", "gw1"}, trials  # xdist ran them
        assert run.wait(timeout=WAIT_S) == 0, run.stdout.read().decode()[-3000:]  # type: ignore[union-attr]
    finally:
        for gate in ("item0", "item1", "item2", "item3"):
            (gates / gate).touch()
        if run.poll() is None:
            run.kill()
        assert server.stop() == 0, "".join(server.output)
