"""A headless Chromium for the dashboards' tests, driven by selenium through the system's
chromedriver (nothing downloaded). Skipped when Chromium is missing, failed in CI (CI set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Set to refresh the screenshots in docs/images/ from the browser tests' runs.
SCREENSHOT_ENV = "HORUS_UPDATE_SCREENSHOTS"
#: Generous: the machine running the tests may be loaded, and every wait ends on an event anyway.
BROWSER_WAIT_S = 60
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,860",
)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[dev]')"
    return None


def require_chromium() -> None:
    why = missing()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the browser tests: {why}")
    pytest.skip(why)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile directory) that records the page's console."""
    require_chromium()
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never look for downloads
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout_s: float = BROWSER_WAIT_S) -> Any:
    """What ``condition`` returns once truthy; fails naming ``what`` and the page's console.
    An element the page replaced while the condition looked at it (stale) means: look again."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        console = "\n".join(str(entry) for entry in driver.get_log("browser"))
        pytest.fail(f"timed out after {timeout_s} s waiting for {what}; browser console:\n{console}")


def click(driver: Any, css: str, what: str) -> None:
    """Click the element ``css`` selects, even if the page redraws it meanwhile."""
    from selenium.webdriver.common.by import By

    wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, css).click() or True, what)


def console_errors(driver: Any) -> list[str]:
    """The console's errors so far (a Content-Security-Policy violation is one)."""
    return [str(entry["message"]) for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
