"""report.html of a real run, driven in headless Chromium with Selenium: the trial view shows
artifacts, the side-by-side view puts two conditions' outputs next to each other (the reader
picks them), and the plots follow the window's width.

One pytest run (a subprocess) writes the page for the whole module. Without Selenium or
chromedriver these tests skip on a developer machine and FAIL in CI (CI=true): install them
with `pip install selenium` and `apt-get install -y --no-install-recommends chromium-driver`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import chrome

EXPERIMENT = """
import pytest_crucible as crucible

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f0ac"
    "5b0000000049454e44ae426082"
)

def terse(text):
    return f"{text.upper()} (terse)"

def verbose(text):
    return f"The answer about {text} is long and careful (verbose)"

def sloppy(text):
    return f"{text}?? (sloppy)"

exp = crucible.Experiment(
    name="sbs",
    dataset=[{"id": f"item-{n}", "input": f"question {n}", "expected": "x"} for n in range(3)],
    conditions={"terse": terse, "verbose": verbose, "sloppy": sloppy},
    baseline="terse",
    metrics={"score": crucible.Metric()},
    repeat=2,
    seed=3,
)

@exp.trial
def test_sbs(condition, item, trial):
    answer = condition(item.input)
    code = f"def solve():\\n    return {answer!r}  # <script>alert(1)</script>\\n"
    trial.artifact("completion.py", code)
    trial.artifact("completion-bytes.py", code.encode())
    trial.artifact("plot.png", PNG)
    trial.artifact("weights.bin", bytes(range(256)))
    trial.record(score=len(answer))
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of a real run: 3 conditions x 3 items x 2 repeats, four artifacts each."""
    folder = tmp_path_factory.mktemp("sbs")
    (folder / "test_sbs.py").write_text(EXPERIMENT)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--crucible", "-q"),
            *("--crucible-report=html", "--crucible-output=out", "--crucible-store=c.db"),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (found,) = folder.glob("out/sbs/*/report.html")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chrome(1280, 1000) as driver:
        yield driver


def _open(browser: Any, page: Path, fragment: str = "", width: int = 1280) -> None:
    browser.set_window_size(width, 1000)
    browser.get("about:blank")  # a new document, so a changed fragment loads the page again
    browser.get(page.as_uri() + fragment)


def test_the_trial_view_shows_text_artifacts_and_links_binary_ones(
    browser: Any, page: Path
) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, page)
    index = browser.execute_script(
        """var data = JSON.parse(document.getElementById('crucible-trials').textContent);
        return data.rows.findIndex(r => data.conditions[r[0]] === 'terse' && r[1] === 'item-0');"""
    )
    _open(browser, page, f"#trial-{index}")
    detail = browser.find_element(By.ID, "trial-detail")
    assert detail.is_displayed()
    text = detail.text
    assert "Artifacts (4)" in text
    # the stored completion.py, as text and as bytes, shown as text: its markup did not run
    assert text.count("def solve():") == 2, text
    assert text.count("# <script>alert(1)</script>") == 2
    assert browser.title.startswith("sbs: run ")
    names = [e.text for e in detail.find_elements(By.CLASS_NAME, "artifact-name")]
    code = "def solve():\n    return 'QUESTION 0 (terse)'  # <script>alert(1)</script>\n"
    assert names == [
        f"completion.py · {len(code)} B",
        f"completion-bytes.py · {len(code)} B",
        "plot.png · 71 B",
        "weights.bin · 256 B",
    ]
    links = detail.find_elements(By.CSS_SELECTOR, "a[download]")
    assert [link.get_attribute("download") for link in links] == ["plot.png", "weights.bin"]
    assert all(
        link.get_attribute("href").startswith("data:application/octet-stream;base64,")
        for link in links
    )
    (image,) = detail.find_elements(By.TAG_NAME, "img")
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 1  # decoded


def test_side_by_side_shows_two_conditions_and_the_reader_picks_them(
    browser: Any, page: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _open(browser, page, "#side-by-side")
    left = Select(browser.find_element(By.ID, "sbs-left"))
    right = Select(browser.find_element(By.ID, "sbs-right"))
    assert [o.text for o in left.options] == ["terse", "verbose", "sloppy"]
    assert (left.first_selected_option.text, right.first_selected_option.text) == (
        "terse",
        "verbose",
    )  # the baseline against the next condition
    rows = browser.find_elements(By.CSS_SELECTOR, "#sbs-rows tr")
    assert len(rows) == 3  # one per item
    cells = rows[1].find_elements(By.TAG_NAME, "td")
    assert cells[0].text.startswith("item-1")
    assert cells[1].text.count("QUESTION 1 (terse)") == 2  # both repeats
    assert cells[2].text.count("The answer about question 1 is long and careful (verbose)") == 2
    assert all(cell.is_displayed() for cell in cells)

    right.select_by_visible_text("sloppy")  # the reader picks another pair
    head = browser.find_element(By.ID, "sbs-right-head").text
    cells = browser.find_elements(By.CSS_SELECTOR, "#sbs-rows tr")[1].find_elements(
        By.TAG_NAME, "td"
    )
    assert head == "sloppy" and cells[2].text.count("question 1?? (sloppy)") == 2
    assert cells[1].text.count("QUESTION 1 (terse)") == 2

    _open(browser, page, "#side-by-side?left=sloppy&right=verbose&item=item-2")
    rows = browser.find_elements(By.CSS_SELECTOR, "#sbs-rows tr")
    assert len(rows) == 1
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    assert "question 2?? (sloppy)" in cells[1].text and "(verbose)" in cells[2].text


def _plot_layout(browser: Any) -> dict[str, float]:
    return dict(
        browser.execute_script(
            """
            var box = document.querySelector('#plots .plots');
            var plots = Array.from(box.querySelectorAll('svg.plot'));
            var top = plots[0].getBoundingClientRect().top;
            var row = plots.filter(p => Math.abs(p.getBoundingClientRect().top - top) < 1);
            var last = row[row.length - 1].getBoundingClientRect();
            return {window: window.innerWidth, box: box.getBoundingClientRect().width,
                    left: plots[0].getBoundingClientRect().left - box.getBoundingClientRect().left,
                    right: box.getBoundingClientRect().right - last.right,
                    plot: plots[0].getBoundingClientRect().width, perRow: row.length};
            """
        )
    )


@pytest.mark.parametrize("width", [700, 1400])
def test_plots_fill_the_page_width_of_the_window(browser: Any, page: Path, width: int) -> None:
    _open(browser, page, "#plots", width=width)
    layout = _plot_layout(browser)
    # the plots' row spans its box, and the box spans the window (less the page's margins)
    assert layout["left"] < 2 and layout["right"] < 2, layout
    assert layout["box"] > layout["window"] - 80, layout
    assert layout["plot"] >= (layout["box"] - 16 * (layout["perRow"] - 1)) / layout["perRow"] - 2


def test_a_wider_window_gives_wider_plots(browser: Any, page: Path) -> None:
    widths = []
    for width in (700, 1400):
        _open(browser, page, "#plots", width=width)
        widths.append(_plot_layout(browser))
    narrow, wide = widths
    assert narrow["perRow"] == 1 and wide["box"] > narrow["box"] + 500, widths
    total = [w["plot"] * w["perRow"] for w in widths]
    assert total[1] > total[0] + 500, widths
