"""The dashboard's finished-run pages (issue 18) in headless Chromium, against real runs.

Real `pytest --crucible` runs (subprocesses) write a SQLite store: two runs of one experiment
(two conditions, hostile outputs and item text, a failing trial, a gate, an image, a binary
and a hostile-named text artifact) and a run of another experiment. The pages are served
over real HTTP on loopback by uvicorn and checked against what `crucible show` and
`crucible compare` print for the same store; no secret of the environment reaches a page.
Screenshots go to $CRUCIBLE_SCREENSHOTS or tests/.artifacts/screenshots/.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from browser_support import chrome, screenshot

TIMEOUT = 300  # seconds for one pytest run or CLI call on a busy machine
SECRET = "sk-test-DASHBOARD-SECRET-4242"
HOSTILE = (
    "<img src=x id=pwned-img onerror=\"document.title='PWNED'\">"
    "<script>document.title='PWNED';document.body.setAttribute('data-pwned','1')</script>"
    "<a id=pwned-link href=\"javascript:document.title='PWNED'\">click</a>"
)
TEXT_ARTIFACT = "<b onmouseover=alert(1)>notes</b>.html"

EXPERIMENT = f"""
import os
import pytest_crucible as crucible

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f0ac"
    "5b0000000049454e44ae426082"
)
HOSTILE = {HOSTILE!r}
ITEMS = [
    {{"id": f"q{{n}}", "input": f"question {{n}} </script><script>document.title='PWNED'</script>",
     "expected": f"A{{n}}"}}
    for n in range(15)
]

def plain(text):
    n = int(text.split()[1])
    better = os.environ.get("QA_BETTER") == "1"  # the second run answers every item
    return "A" + str(n if better or n % 3 else n + 1)

def shouty(text):
    return HOSTILE + " A" + text.split()[1]

qa = crucible.Experiment(
    name="qa",
    description="hostile outputs, artifacts and a failing trial",
    dataset=ITEMS,
    conditions={{"plain": plain, "shouty": shouty}},
    baseline="plain",
    metrics={{"correct": crucible.Metric(kind="binary"), "length": crucible.Metric()}},
    repeat=2,
    seed=5,
)

@qa.trial
def test_qa(condition, item, trial):
    answer = condition(item.input)
    trial.log("info", f"answered {{item.id}}: {{answer}}")
    trial.artifact("plot.png", PNG)
    trial.artifact({TEXT_ARTIFACT!r}, "<script>alert('artifact')</script>")
    trial.artifact("weights.bin", bytes(range(256)))
    if item.id == "q5" and condition.name == "shouty":
        raise ValueError("the model refused: <script>alert(2)</script>")
    trial.record(correct=answer.endswith(item.expected), length=len(answer))
"""

OTHER = """
import pytest_crucible as crucible

other = crucible.Experiment(
    name="other",
    dataset=[{"id": "x", "input": "1"}, {"id": "y", "input": "2"}],
    conditions={"one": str, "two": str},
    metrics={"score": crucible.Metric()},
)

@other.trial
def test_other(condition, item, trial):
    trial.record(score=len(condition(item.input)))
"""


@dataclass(frozen=True)
class Project:
    folder: Path
    store: Path
    first: str  # run A of "qa"
    second: str  # run B of "qa" (plain answers every item)
    other: str  # a run of experiment "other"
    show: str  # `crucible show FIRST`
    compare_text: str  # `crucible compare FIRST SECOND`
    compare_json: dict[str, Any]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "OPENAI_API_KEY": SECRET, **env},
    )


def _pytest(folder: Path, *args: str, **env: str) -> None:
    done = _run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--crucible", "-q", *args],
        folder,
        **env,
    )
    # the failing trial (shouty, q5) fails the session; anything else is a fault
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 failed" in done.stdout or "test_other" in " ".join(args), done.stdout[-3000:]


def _cli(folder: Path, *args: str) -> str:
    done = _run([sys.executable, "-m", "pytest_crucible.cli", *args, "--store", "c.db"], folder)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from pytest_crucible.store import open_store

    folder = tmp_path_factory.mktemp("dashboard-results")
    (folder / "test_qa.py").write_text(EXPERIMENT)
    (folder / "test_other.py").write_text(OTHER)
    gate = "--crucible-gate=qa: shouty.correct.mean >= 0.5"
    _pytest(folder, "--crucible-store=c.db", gate, "test_qa.py")
    _pytest(folder, "--crucible-store=c.db", "test_qa.py", QA_BETTER="1")
    _pytest(folder, "--crucible-store=c.db", "test_other.py")
    store = open_store(folder / "c.db", readonly=True)
    try:
        first, second = sorted(store.runs("qa"), key=lambda run: run.started_at)
        (other,) = store.runs("other")
    finally:
        store.close()
    compared = json.loads(_cli(folder, "compare", first.run_id, second.run_id, "--format", "json"))
    return Project(
        folder=folder,
        store=folder / "c.db",
        first=first.run_id,
        second=second.run_id,
        other=other.run_id,
        show=_cli(folder, "show", first.run_id),
        compare_text=_cli(folder, "compare", first.run_id, second.run_id),
        compare_json=compared,
    )


@pytest.fixture(scope="module")
def server(project: Project) -> Iterator[str]:
    """The dashboard (`create_app`, as `crucible serve` builds it) served by uvicorn on a
    free loopback port, in a thread, with a secret in the server's environment."""
    import uvicorn

    from pytest_crucible.console.web.app import create_app

    app = create_app(str(project.store), project_root=None, token=None)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()  # connections wait in the backlog until the server accepts them
    port = listening.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3)
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [listening]})
    saved = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = SECRET
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=60)
        listening.close()
        if saved is None:
            os.environ.pop("OPENAI_API_KEY", None)
        else:
            os.environ["OPENAI_API_KEY"] = saved


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chrome() as driver:
        yield driver


def _visit(browser: Any, url: str) -> None:
    browser.get(url)
    _check_inert_and_secret_free(browser)


def _follow(browser: Any, selector: str) -> None:
    """Click a link or a form's button and wait until the next page replaced this one (read
    at once, the old page's elements go stale under the test)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(browser, 120).until(expected_conditions.staleness_of(page))
    WebDriverWait(browser, 120).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def _check_inert_and_secret_free(browser: Any) -> None:
    from selenium.webdriver.common.by import By

    assert "PWNED" not in browser.title
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-pwned") is None
    for element_id in ("pwned-img", "pwned-link", "pwned-b"):
        assert not browser.find_elements(By.ID, element_id), element_id
    assert SECRET not in browser.page_source


def _lines_of(browser: Any, element: Any) -> int:
    """How many lines the element's text takes as laid out (one box per line)."""
    script = (
        "const range = document.createRange(); range.selectNodeContents(arguments[0]);"
        "return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;"
    )
    return int(browser.execute_script(script, element))


def _cells(row: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [cell.text.strip() for cell in row.find_elements(By.TAG_NAME, "td")]


def test_results_page_shows_the_numbers_crucible_show_prints(
    browser: Any, server: str, project: Project
) -> None:
    from selenium.webdriver.common.by import By

    _visit(browser, f"{server}/runs/{project.first}/results")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"qa: run {project.first}"
    shown = 0
    for row in browser.find_elements(By.CSS_SELECTOR, "table.conditions tbody tr"):
        condition, items, _trials, _failed, mean, interval, _method = _cells(row)
        condition = condition.removesuffix(" (baseline)")
        mean = mean.rstrip("*")
        line = rf"^\s+{condition}\s+{items}\s+{re.escape(mean)}\s+{re.escape(interval)}\s"
        assert re.search(line, project.show, re.MULTILINE), (condition, mean, interval)
        shown += 1
    assert shown == 4  # two conditions x two metrics
    for row in browser.find_elements(By.CSS_SELECTOR, "table.comparisons tbody tr"):
        cells = _cells(row)
        pair, difference, p_adjusted = cells[0].replace("−", "-"), cells[2], cells[8]
        line = rf"^\s+{re.escape(pair)}\s+{re.escape(difference)}\s+\[.*\]\s*†?\s+{p_adjusted}\s"
        assert re.search(line, project.show, re.MULTILINE), (pair, difference, p_adjusted)
    (gate,) = browser.find_elements(By.CSS_SELECTOR, "table.gates tbody tr")
    status, name, explanation, _test = _cells(gate)
    assert f"{status} {name}: {explanation}" in project.show
    assert len(browser.find_elements(By.CSS_SELECTOR, "#plots svg")) >= 4
    screenshot(browser, "results-run")


def test_a_failed_trial_is_shown_whole_and_its_hostile_text_stays_text(
    browser: Any, server: str, project: Project
) -> None:
    from selenium.webdriver.common.by import By

    _visit(browser, f"{server}/runs/{project.first}/results?condition=shouty&status=failed")
    links = browser.find_elements(By.CSS_SELECTOR, "#trial-list a.trial-link")
    assert len(links) == 2  # shouty x q5 x two repeats
    _follow(browser, "#trial-list a.trial-link")  # the first of them
    _check_inert_and_secret_free(browser)
    text = {key: browser.find_element(By.ID, key).text for key in ("trial-input", "trial-output")}
    assert text["trial-input"] == "question 5 </script><script>document.title='PWNED'</script>"
    assert text["trial-output"] == f"{HOSTILE} A5"
    assert "ValueError: the model refused" in browser.find_element(By.ID, "trial-traceback").text
    assert "answered q5: <img" in browser.find_element(By.ID, "trial-logs").text
    image = browser.find_element(By.CSS_SELECTOR, "img.artifact-image")
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 1
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".artifact-name")]
    assert names == ["plot.png", TEXT_ARTIFACT, "weights.bin"]
    texts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.artifact-text")]
    assert texts == ["<script>alert('artifact')</script>"]
    screenshot(browser, "results-trial")


def test_artifact_downloads_are_never_rendered_as_pages(
    browser: Any, server: str, project: Project
) -> None:
    from selenium.webdriver.common.by import By

    _visit(browser, f"{server}/runs/{project.first}/results?condition=shouty&status=passed")
    _follow(browser, "#trial-list a.trial-link")
    links = {
        e.find_element(By.XPATH, "preceding-sibling::span[@class='artifact-name']").text: (
            e.get_attribute("href")
        )
        for e in browser.find_elements(By.CSS_SELECTOR, "a.artifact-download")
    }
    expected = {
        "plot.png": ("image/png", "inline"),
        TEXT_ARTIFACT: ("text/plain; charset=utf-8", "attachment"),
        "weights.bin": ("application/octet-stream", "attachment"),
    }
    assert set(links) == set(expected)
    for name, (media, disposition) in expected.items():
        with urllib.request.urlopen(links[name], timeout=TIMEOUT) as response:
            headers, body = response.headers, response.read()
        assert headers["Content-Type"] == media, name
        assert headers["Content-Disposition"].startswith(f'{disposition}; filename="'), name
        assert "<" not in headers["Content-Disposition"], name
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in headers["Content-Security-Policy"]
        if name == TEXT_ARTIFACT:
            assert body == b"<script>alert('artifact')</script>"


def test_side_by_side_pages_two_conditions_outputs_per_item(
    browser: Any, server: str, project: Project
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _visit(browser, f"{server}/runs/{project.first}/side-by-side")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.sbs-row")
    assert len(rows) == 25  # a page of 30 trials of plain (15 items x 2 repeats)
    first = rows[0].find_elements(By.CSS_SELECTOR, "pre.sbs-output")
    assert [e.text for e in first] == ["A1", f"{HOSTILE} A0"]  # q0: plain misses, shouty hits
    screenshot(browser, "results-side-by-side")
    _follow(browser, "a[rel=next]")
    _check_inert_and_secret_free(browser)
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.sbs-row")
    assert len(rows) == 5
    assert "no trial of this item and repeat" not in rows[0].text
    Select(browser.find_element(By.NAME, "a")).select_by_value("shouty")
    Select(browser.find_element(By.NAME, "b")).select_by_value("plain")
    _follow(browser, "#sbs-form button")
    _check_inert_and_secret_free(browser)
    assert "a=shouty" in browser.current_url
    heads = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#sbs-table thead th")]
    assert heads == ["item", "shouty", "plain"]


def test_two_runs_compared_as_crucible_compare_decides(
    browser: Any, server: str, project: Project
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from pytest_crucible.review.gates._result import fmt

    _visit(browser, f"{server}/compare")
    Select(browser.find_element(By.NAME, "a")).select_by_value(project.first)
    Select(browser.find_element(By.NAME, "b")).select_by_value(project.second)
    _follow(browser, "#compare-form button")
    _check_inert_and_secret_free(browser)
    assert browser.current_url == f"{server}/compare/{project.first}/{project.second}"
    title = browser.find_element(By.ID, "compare-title").text
    assert title == project.compare_text.splitlines()[1]
    rows = [_cells(r) for r in browser.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")]
    verdicts = project.compare_json["verdicts"]
    assert len(rows) == len(verdicts) == 4
    for row, verdict in zip(rows, verdicts, strict=True):
        assert row[1:3] == [verdict["condition"], verdict["metric"]]
        assert row[5] == fmt(verdict["estimate"])
        assert row[8] == fmt(verdict["p_regression_adjusted"])
        assert row[10:] == [verdict["verdict"], verdict["explanation"]]
    plain = next(r for r in rows if r[1:3] == ["plain", "correct"])
    assert float(plain[5]) > 0  # run B's plain answers every item
    # numbers and one-word cells are never broken across lines; a wide table scrolls
    numbers = browser.find_elements(By.CSS_SELECTOR, "#compare-table td.num")
    assert len(numbers) == 4 * 7
    assert {cell.value_of_css_property("white-space") for cell in numbers} == {"nowrap"}
    words = browser.find_elements(By.CSS_SELECTOR, "#compare-table td:first-child")
    for cell in [*numbers, *words]:
        assert _lines_of(browser, cell) == 1, cell.text
    box = browser.find_element(By.CSS_SELECTOR, ".table-scroll:has(> #compare-table)")
    assert box.value_of_css_property("overflow-x") == "auto"
    screenshot(browser, "results-compare")
    _visit(browser, f"{server}/compare/{project.first}/{project.other}")
    error = browser.find_element(By.ID, "compare-error").text
    assert "compare two runs of one experiment" in error
    assert "'qa'" in error and "'other'" in error


@pytest.mark.parametrize(
    ("address", "status", "says"),
    [
        ("/runs/nope/results", 404, "no run 'nope' in this store; the newest runs are: "),
        ("/runs/FIRST/trials/nope", 404, "has no trial 'nope': pick one from /runs/FIRST/results"),
        ("/runs/FIRST/trials/KEY/artifacts/nope.txt", 404, "its artifacts: 'plot.png', "),
        ("/runs/FIRST/side-by-side?a=nope", 404, "its conditions: plain, shouty"),
        ("/runs/FIRST/results?page=two", 400, "page='two': give a whole number"),
        ("/compare/FIRST/SECOND?alpha=2", 400, "alpha"),
        ("/compare/FIRST/SECOND?margin=correct", 400, "expected METRIC=NUMBER"),
        ("/compare/FIRST/nope", 404, "no run 'nope' in this store"),
    ],
)
def test_a_bad_address_gets_a_page_that_says_what_to_do(
    server: str, project: Project, address: str, status: int, says: str
) -> None:
    from pytest_crucible.store import open_store

    store = open_store(project.store, readonly=True)
    try:
        key = store.trial_page(project.first, limit=1).rows[0]["trial_key"]
    finally:
        store.close()
    names = {"FIRST": project.first, "SECOND": project.second, "KEY": key}
    for name, value in names.items():
        address, says = address.replace(name, value), says.replace(name, value)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server + address, timeout=TIMEOUT)
    page = caught.value.read().decode()
    assert caught.value.code == status
    assert says in html.unescape(page)
    assert "Traceback" not in page
