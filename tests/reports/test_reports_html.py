"""report.html: self-contained, escaped, and checked in a real browser (headless Chromium).

The browser tests read the DOM after the page's script ran (`--dump-dom`). Without Chromium
they skip on a developer machine and FAIL in CI (CI=true): install it with
`apt-get install -y --no-install-recommends chromium`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_crucible.review.reports import write_reports
from pytest_crucible.store.frames import trials_frame
from pytest_crucible.store.sqlite import Store

RunFactory = Callable[..., tuple[Store, str]]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    message = (
        "headless Chromium is needed for the browser tests: "
        "apt-get install -y --no-install-recommends chromium"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def dump_dom(page: Path, fragment: str = "") -> str:
    """The DOM of a page after its scripts ran, as headless Chromium serialises it."""
    binary = _chromium()
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.resolve().as_uri() + fragment,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def evil_report(
    make_run: RunFactory, payloads: dict[str, str], tmp_path: Path
) -> tuple[Path, Store, str]:
    store, run_id = make_run(conditions=("terse", payloads["condition"]), evil=True)
    write_reports(store, run_id, tmp_path / "out", ["html"])
    return tmp_path / "out" / "report.html", store, run_id


def test_page_is_self_contained(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path, ["html"])
    page = (tmp_path / "report.html").read_text()
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "<link" not in page and "<script src" not in page and "@import" not in page
    script = re.findall(r"<script>(.*?)</script>", page, re.S)
    style = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(script) == 1 and len(style) == 1

    def digest(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    assert csp.group(1) == (
        f"default-src 'none'; script-src '{digest(script[0])}'; "
        f"style-src '{digest(style[0])}'; img-src data:"
    )


def test_page_sections_tables_and_plots(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path, ["html"])
    page = (tmp_path / "report.html").read_text()
    for section in ("summary", "conditions", "comparisons", "plots", "trials", "failures"):
        assert f'<section id="{section}">' in page
    assert page.count('<table class="conditions">') == 2  # one per metric
    assert page.count('<table class="comparisons">') == 2
    assert '<table id="costs">' in page and '<table id="failure-table">' in page
    # means and forest plot per metric, a distribution per metric, latency and cost scatter
    assert page.count("<svg ") == 8
    assert "few_shot is better than terse on correct" in page
    assert "per 1,000 trials for each percentage point of correct gained over terse" in page
    assert "TimeoutError: model timed out" in page
    data = re.search(r'<script type="application/json" id="crucible-trials">(.*?)</script>', page)
    assert data is not None
    payload = json.loads(data.group(1))
    assert len(payload["rows"]) == 48 and payload["conditions"] == ["terse", "few_shot"]
    assert payload["columns"][4:] == ["correct", "latency_s", "call time (s)", "cost ($)"]


def test_untrusted_text_is_escaped_in_the_file(
    evil_report: tuple[Path, Store, str], payloads: dict[str, str]
) -> None:
    page = evil_report[0].read_text()
    for payload in [*payloads.values(), "<i>item-0</i>"]:
        assert payload not in page
    assert html.escape(payloads["condition"], quote=False) in page  # server-rendered tables
    assert page.count("<script") == 2  # the data block and the page's own script


def _title(dom: str) -> str:
    match = re.search(r"<title>(.*?)</title>", dom)
    assert match is not None
    return match.group(1)


def _assert_nothing_ran(dom: str, run_id: str) -> None:
    assert _title(dom) == f"capitals: run {run_id}"
    assert 'id="pwned-img"' not in dom and 'id="pwned-b"' not in dom
    assert "data-pwned=" not in dom and "<i>item-0</i>" not in dom


@pytest.mark.parametrize("csp", [True, False], ids=["as-written", "without-csp"])
def test_browser_renders_tables_and_runs_no_injected_script(
    evil_report: tuple[Path, Store, str], payloads: dict[str, str], csp: bool
) -> None:
    page, store, run_id = evil_report
    if not csp:  # escaping alone must hold even if the policy were gone
        text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
        page = page.with_name("no-csp.html")
        page.write_text(text)
    frame = trials_frame(store, run_id)
    index = int(frame.index[frame["item_id"] == "<i>item-0</i>"][0])
    dom = dump_dom(page, f"#trial-{index}")
    _assert_nothing_ran(dom, run_id)
    assert dom.count('<tr class="trial') == 48  # the script rendered the trial table
    assert "Showing 1–48 of 48 trials" in dom
    detail = dom[dom.index('id="trial-detail"') :]
    assert html.escape(payloads["output"], quote=False) in detail  # shown as text
    assert html.escape(payloads["input"], quote=False) in detail
    assert "<td>" + html.escape(payloads["condition"], quote=False) in dom


def test_browser_filters_and_paginates(make_run: RunFactory, tmp_path: Path) -> None:
    store, run_id = make_run(items=40, repeats=2, failures=3)  # 160 trials
    write_reports(store, run_id, tmp_path, ["html"])
    page = tmp_path / "report.html"
    dom = dump_dom(page)
    assert dom.count('<tr class="trial"') == 50 and "Showing 1–50 of 160 trials" in dom
    dom = dump_dom(page, "#trials?outcome=failed")
    assert dom.count('<tr class="trial"') == 3 and "of 3 trials" in dom
    assert dom.count('class="status-failed">failed</td>') == 3
    dom = dump_dom(page, "#trials?condition=few_shot&item=item-3")
    rows = re.findall(r'<tr class="trial" data-index="\d+"><td>([^<]*)</td><td>([^<]*)</td>', dom)
    assert rows and {c for c, _ in rows} == {"few_shot"}
    assert {i for _, i in rows} == {"item-3", *(f"item-3{d}" for d in range(10))}


def test_summary_fragment_for_a_host_page(make_run: RunFactory, payloads: dict[str, str]) -> None:
    from pytest_crucible.review.reports import summary_html

    store, run_id = make_run(conditions=("terse", payloads["condition"]), evil=True)
    fragment = summary_html(store, run_id)
    assert fragment.startswith('<div class="crucible-summary">') and "<script" not in fragment
    assert payloads["condition"] not in fragment
    assert html.escape(payloads["condition"]) in fragment
    assert fragment.count('<table class="crucible-conditions">') == 2
    assert f"capitals: run {run_id}" in fragment
