"""`crucible serve` on a finished run (issue 18, point 1): what the runs list shows (status,
started, duration, trials done / failed / total, cost, git commit), the log stream filtered
by level, condition AND item (the API, and the run page in headless Chromium), and the
per-trial drill-down's expected answer and metrics.

The run is real: `pytest --crucible` in a git repository, its conditions calling the project's
mock model server through a priced backend (so trials have a cost), its trials logging at two
levels. Without Selenium or chromedriver the browser test skips on a developer machine and
FAILS in CI.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from browser_support import WAIT_S, chrome, wait_until
from e2e_support import crucible_serving, sql
from pytest_crucible.testing import MockModelServer

PRICED = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable

backend = OpenAICompatibleBackend(
    base_url=os.environ["MOCK_URL"], prices=PriceTable({"mock-model": (1000.0, 2000.0)})
)

async def plain(question):
    return (await backend.achat("mock-model", question, temperature=0.0, seed=1)).content

async def polite(question):
    return await plain("Please: " + question)

priced = crucible.Experiment(
    name="priced",
    dataset=[
        {"id": f"q{n}", "input": f"question {n}", "expected": f"answer {n}"} for n in range(3)
    ],
    conditions={"plain": plain, "polite": polite},
    metrics={"length": crucible.Metric()},
    repeat=1,
    seed=4,
)

@priced.trial
async def test_priced(condition, item, trial):
    answer = await condition(item.input)
    trial.log("info", f"asked {item.id}")
    if item.id == "q1":
        trial.log("warning", f"long answer to {item.id} by {trial.condition}")
    trial.record(length=len(answer))
    if item.id == "q2" and trial.condition == "polite":
        raise ValueError("refused on purpose")
"""


@dataclass(frozen=True)
class Finished:
    folder: Path
    store: Path
    run_id: str
    commit: str


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=WAIT_S,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    folder = tmp_path_factory.mktemp("priced")
    (folder / "test_priced.py").write_text(PRICED)
    (folder / ".gitignore").write_text("c.db*\n.crucible/\n")
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "the experiment")
    commit = _git(folder, "rev-parse", "HEAD")
    with MockModelServer() as model:
        environment = {**os.environ, "MOCK_URL": model.base_url}
        environment.pop("PYTEST_ADDOPTS", None)
        environment.pop("CRUCIBLE_STORE", None)
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--crucible"),
                *("-q", "--crucible-report=none", "--crucible-store=c.db"),
            ],
            cwd=folder,
            env=environment,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            check=False,
        )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # one trial fails
    (run,) = sql(folder / "c.db", "SELECT run_id FROM runs")
    return Finished(folder, folder / "c.db", run["run_id"], commit)


@pytest.fixture(scope="module")
def base(finished: Finished) -> Iterator[str]:
    """`crucible serve --port 0` on the finished run's store: its loopback address."""
    arguments = ["--port", "0", "--store", "c.db"]
    with crucible_serving(arguments, cwd=finished.folder, timeout=WAIT_S) as address:
        port = re.search(r":(\d+)/", address)
        assert port, address
        yield f"http://127.0.0.1:{port.group(1)}"


def _stored_cost(finished: Finished) -> float:
    rows = sql(
        finished.store,
        "SELECT sum(cost_usd) AS spent FROM trials WHERE run_id = ? AND status = 'passed'",
        (finished.run_id,),
    )
    return float(rows[0]["spent"])


def test_the_runs_list_shows_counts_cost_and_the_git_commit(finished: Finished, base: str) -> None:
    spent = _stored_cost(finished)
    assert spent > 0  # every passed trial called the priced model
    with httpx.Client(base_url=base, timeout=WAIT_S) as client:
        (run,) = client.get("/api/runs").json()
        page = client.get("/runs").text
    assert (run["run_id"], run["status"]) == (finished.run_id, "completed")
    assert (run["stored"], run["failed"], run["total"]) == (6, 1, 6)
    assert run["cost_usd"] == pytest.approx(spent)
    assert run["git_commit"] == finished.commit
    assert run["started_at"] and run["duration_s"] is not None and run["duration_s"] >= 0

    (row,) = re.findall(r"<tr>\s*<td><a href=\"/runs/[^<]*</a></td>.*?</tr>", page, re.DOTALL)
    cells = [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    ]
    # run, experiment, status, started, duration, done, failed, total, cost, commit
    assert cells[:3] == [finished.run_id, "priced", "completed"]
    assert cells[3] and cells[4]  # when it started, how long it took
    assert cells[5:8] == ["6", "1", "6"]
    assert cells[8] == f"${spent:.4f}"
    assert cells[9] == finished.commit[:10]


def test_the_log_api_filters_by_level_condition_and_item(finished: Finished, base: str) -> None:
    address = f"/api/runs/{finished.run_id}/logs"
    with httpx.Client(base_url=base, timeout=WAIT_S) as client:
        every = client.get(address).json()["lines"]
        warnings = client.get(address, params={"level": "warning"}).json()["lines"]
        one = client.get(
            address, params={"level": "info", "condition": "polite", "item": "q1"}
        ).json()["lines"]
        bad = client.get(address, params={"level": "loud"})
    assert len(every) == 6 + 2  # an info line per trial, a warning for each q1
    assert sorted(line["message"] for line in warnings) == [
        "long answer to q1 by plain",
        "long answer to q1 by polite",
    ]
    assert [(line["level"], line["message"]) for line in one] == [("info", "asked q1")]
    assert (one[0]["condition"], one[0]["item_id"]) == ("polite", "q1")
    assert bad.status_code == 400 and "give one of debug, info, warning, error" in bad.text


def test_the_run_page_shows_only_the_log_lines_its_filters_ask_for(
    finished: Finished, base: str
) -> None:
    from selenium.webdriver.common.by import By

    with chrome() as driver:
        driver.get(f"{base}/runs/{finished.run_id}?level=warning&condition=polite&item=q1")
        entries = wait_until(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#log-lines li"), "log lines"
        )
        assert len(entries) == 1 and entries[0].text.endswith("long answer to q1 by polite")
        driver.get(f"{base}/runs/{finished.run_id}?level=info&item=q0")
        wait_until(
            lambda: len(driver.find_elements(By.CSS_SELECTOR, "#log-lines li")) == 2,
            "q0's two info lines",
        )
        texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#log-lines li")]
        assert all("asked q0" in text and "warning" not in text for text in texts), texts
        filters = driver.find_element(By.CSS_SELECTOR, "form.filters")
        assert filters.find_element(By.NAME, "item").get_attribute("value") == "q0"


def test_a_trials_page_shows_its_expected_answer_and_metrics(finished: Finished, base: str) -> None:
    (row,) = sql(
        finished.store,
        "SELECT trial_key, metrics FROM trials WHERE item_id = 'q0' AND condition = 'plain'",
    )
    with httpx.Client(base_url=base, timeout=WAIT_S) as client:
        page = client.get(f"/runs/{finished.run_id}/trials/{row['trial_key']}")
    assert page.status_code == 200
    expected = re.search(r'<pre id="trial-expected">(.*?)</pre>', page.text, re.DOTALL)
    assert expected and expected.group(1) == "answer 0"
    metrics = re.search(r'<table class="data" id="trial-metrics">(.*?)</table>', page.text, re.S)
    assert metrics, page.text[-3000:]
    length = re.sub(r"<[^>]+>", " ", metrics.group(1)).split()
    assert length[length.index("length") + 1] == str(json.loads(row["metrics"])["length"])
