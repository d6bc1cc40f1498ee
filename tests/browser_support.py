"""Headless Chromium for the tests that look at pages (the dashboard, the HTML reports): one
way to start it, to wait for what a page shows, to click what it offers and to keep a
screenshot for review.

Chromium and its driver come from Debian's `chromium` and `chromium-driver` (`.ci/run`
installs them). Without them a browser test fails in CI (`CI` set) and is skipped, with the
reason, elsewhere.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

WAIT_S = 240.0  # generous: the machine may be busy and 3x slower
SCREENSHOTS = Path(
    os.environ.get("CRUCIBLE_SCREENSHOTS") or Path(__file__).parent / ".artifacts" / "screenshots"
)

try:
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        ElementNotInteractableException,
        NoSuchElementException,
        StaleElementReferenceException,
    )

    # the page navigated or re-rendered between finding an element and reading it
    NOT_YET: tuple[type[Exception], ...] = (NoSuchElementException, StaleElementReferenceException)
    # ... or its script has not shown the element yet, or something covers it for a moment
    NOT_CLICKABLE_YET: tuple[type[Exception], ...] = (
        *NOT_YET,
        ElementNotInteractableException,
        ElementClickInterceptedException,
    )
except ImportError:  # chrome() reports the missing package itself
    NOT_YET = NOT_CLICKABLE_YET = ()


def missing(message: str) -> NoReturn:
    """A browser test without its browser: a failure in CI, a skip (with why) elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chrome(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium driven by Selenium, quit at the end."""
    try:
        from selenium import webdriver
    except ImportError:
        missing("Selenium is needed for the browser tests: pip install selenium")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        missing("chromedriver is needed: apt-get install --no-install-recommends chromium-driver")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    service = webdriver.ChromeService(executable_path=driver_path)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(WAIT_S)
        driver.set_window_size(width, height)
        yield driver
    finally:
        driver.quit()


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `check()` until it gives a true value (an event of another process, a page's
    script filling it in); an element gone stale or missing meanwhile counts as 'not yet'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except NOT_YET:
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def click(locate: Callable[[], Any], what: str) -> None:
    """Click the element `locate()` finds once it can be clicked: a page that has just
    navigated, or whose script has not shown the element yet, is 'not yet'."""

    def clicked() -> bool:
        try:
            element = locate()
            if not (element.is_displayed() and element.is_enabled()):
                return False
            element.click()
        except NOT_CLICKABLE_YET:
            return False
        return True

    wait_until(clicked, what)


def screenshot(browser: Any, name: str) -> None:
    """Keep the page as SCREENSHOTS/NAME.png, for a person to look at after the run, once
    its transitions have ended (a progress bar caught mid-way looks like a wrong count)."""
    settled = "return document.getAnimations().every(a => a.playState !== 'running')"
    wait_until(lambda: browser.execute_script(settled), f"the animations of {name} to end")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
