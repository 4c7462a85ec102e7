"""The dashboard in a real headless Chromium, against a real supervisor, Redis and worker: what an
operator sees change without reloading the page, and what a click does.

Needs Debian's chromium and chromium-driver (.ci/run installs them); skipped without them
locally, failed without them in CI. Selenium talks to the system chromedriver only: it never
downloads a driver or a browser.
"""

# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from nacl.signing import SigningKey

from horus.broker import Broker
from horus.schedules import sign
from tests.conftest import ROOT, StartWorker
from tests.integration import test_supervisor
from tests.integration.browser import SCREENSHOT_ENV, browser, missing  # noqa: F401 - a fixture
from tests.integration.test_dead_letter import dead_letter, job
from tests.integration.test_schedules_supervisor import schedule, wire
from tests.integration.test_supervisor import ADMIN, Server, signed

serve = test_supervisor.serve  # the fixture: real supervisors on loopback ports
api = test_supervisor.api  # runner r1 registered, the test key trusted

#: Generous: a busy 2-core machine runs the browser, the supervisor and a worker at once.
WAIT = 60
SCREENSHOT = ROOT / "docs" / "images" / "dashboard.png"

if (why := missing()) is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs the dashboard's browser test: {why}")
    pytest.skip(why, allow_module_level=True)

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402 - only once it is there
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def gate(r: redis.Redis, namespace: str) -> Iterator[str]:
    name = f"{namespace}-gate"
    yield name
    r.lpush(name, *["go"] * 4)  # a test that failed midway leaves no job blocked


def wait_for(driver: WebDriver, check: Callable[[WebDriver], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException]).until(
        check, f"timed out waiting for {what}"
    )


def text_of(driver: WebDriver, selector: str) -> str | None:
    """The element's text read in the page, in one step: the page redraws itself every second."""
    found: str | None = driver.execute_script(
        "const node = document.querySelector(arguments[0]); return node ? node.textContent : null;", selector
    )
    return found


def login(driver: WebDriver, server: Server, token: str) -> None:
    driver.get(server.url + "ui")
    wait_for(driver, lambda d: d.find_element(By.ID, "token").is_displayed(), "the login form")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login-button").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "nav").is_displayed(), "the page after login")
    # Set once; still there at the end only if the page was never reloaded.
    driver.execute_script("window.horusTestMark = 'not reloaded';")


def not_reloaded(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return window.horusTestMark === 'not reloaded';"))


def go(driver: WebDriver, hash_: str) -> None:
    """Follow an in-page link (the hash changes; the page is not loaded again)."""
    driver.execute_script("location.hash = arguments[0];", hash_)
    wait_for(driver, lambda d: d.find_element(By.ID, "view").get_attribute("data-loaded") == hash_, hash_)


def click(driver: WebDriver, selector: str) -> bool:
    try:
        driver.find_element(By.CSS_SELECTOR, selector).click()
    except StaleElementReferenceException:  # redrawn between finding and clicking: find it again
        return False
    return True


def test_a_submitted_job_appears_runs_and_logs_live(
    api: Server, key: SigningKey, start_worker: StartWorker, browser: WebDriver, redis_url: str, r: redis.Redis,
    gate: str, tmp_path: Path,
) -> None:  # fmt: skip
    start_worker()
    login(browser, api, ADMIN)
    wait_for(browser, lambda d: text_of(d, 'tr[data-runner-id="r1"] td:nth-child(3)') == "alive", "r1 alive")
    workers = 'tr[data-runner-id="r1"] td:nth-child(4)'
    wait_for(browser, lambda d: (text_of(d, workers) or "").startswith("1 ("), "one worker master")

    go(browser, "#/jobs")
    listed = api.call("job.create", {"job": signed(key, "gated", redis_url, gate)})
    row = f'tr[data-job-id="{listed}"] .job-status'
    wait_for(browser, lambda d: text_of(d, row) in ("dispatched", "running"), "the new job in the list")
    r.rpush(gate, "go")
    wait_for(browser, lambda d: text_of(d, row) == "completed", "the job completed in the list")

    # A few more for the picture: one fails, one waits on the gate while its log is followed.
    others = {api.call("job.create", {"job": signed(key, "shout", "hello")}): "completed"}
    others[api.call("job.create", {"job": signed(key, "boom")})] = "failed"
    for job_id, ended in others.items():
        wait_for(browser, lambda d, j=job_id, e=ended: text_of(d, f'tr[data-job-id="{j}"] .job-status') == e, ended)
    followed = api.call("job.create", {"job": signed(key, "gated", redis_url, gate)})
    wait_for(browser, lambda d: text_of(d, f'tr[data-job-id="{followed}"] .job-status') == "running", "one running")
    browser.set_window_size(1200, 520)
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, SCREENSHOT)

    wait_for(browser, lambda d: click(d, f'tr[data-job-id="{followed}"] a'), "a click on the job")
    wait_for(browser, lambda d: text_of(d, "#job-id") == followed, "the job's page")
    wait_for(browser, lambda d: text_of(d, "#log") == "before\n", "the first log line, live")
    assert text_of(browser, "#job-status") == "running"
    r.rpush(gate, "go")
    wait_for(browser, lambda d: text_of(d, "#log") == "before\nafter\n", "the second log line, live")
    wait_for(browser, lambda d: text_of(d, "#log-state") == "ended: completed", "the log's end")
    wait_for(browser, lambda d: text_of(d, "#job-status") == "completed", "the job's status")
    wait_for(browser, lambda d: text_of(d, "#value") == '"done"', "the job's value")
    assert text_of(browser, "#attempts tbody tr.current td:nth-child(2)") == "completed"
    assert not_reloaded(browser)
    assert text_of(browser, "#error") == ""


def test_a_dead_letter_is_retried_by_a_click_and_the_rest_purged(
    api: Server, key: SigningKey, start_worker: StartWorker, browser: WebDriver, redis_url: str, namespace: str
) -> None:
    dead_broker = Broker.from_url(redis_url, namespace, max_deliveries=1)
    try:
        dead, other = job(key), job(key)
        for j in (dead, other):
            dead_letter(dead_broker, j)  # before any worker runs: no real worker takes them first
    finally:
        dead_broker.close()
    start_worker()
    login(browser, api, ADMIN)
    go(browser, "#/dead")
    row = f'section[data-runner-id="r1"] tr[data-job-id="{dead.id}"]'
    wait_for(browser, lambda d: text_of(d, row) is not None, "the dead letter listed")
    assert "dead-lettered: x" in (text_of(browser, row) or "")
    wait_for(browser, lambda d: click(d, f"{row} button.retry"), "a click on Retry")
    wait_for(browser, lambda d: text_of(d, row) is None, "the dead letter gone from the list")
    assert api.call("job.result", {"job_id": dead.id, "wait_s": WAIT})["status"] == "completed"
    assert [d["job_id"] for d in api.call("dead.list", {"runner_id": "r1"})] == [other.id]

    wait_for(browser, lambda d: click(d, 'section[data-runner-id="r1"] button.purge'), "a click on Purge")
    wait_for(browser, lambda d: d.switch_to.alert, "the confirmation").accept()
    wait_for(browser, lambda d: "None." in (text_of(d, 'section[data-runner-id="r1"]') or ""), "an empty list")
    assert api.call("dead.list", {"runner_id": "r1"}) == []
    assert not_reloaded(browser)


def test_an_admin_pauses_and_resumes_a_schedule(api: Server, key: SigningKey, browser: WebDriver) -> None:
    api.call("schedule.add", {"schedules": [wire(sign(schedule(), key))]})
    login(browser, api, ADMIN)
    go(browser, "#/schedules")
    row = 'tr[data-schedule="nightly"]'
    wait_for(browser, lambda d: text_of(d, f"{row} .state") == "active", "the schedule listed")
    wait_for(browser, lambda d: click(d, f"{row} button.pause"), "a click on Pause")
    wait_for(browser, lambda d: text_of(d, f"{row} .state") == "paused", "the schedule paused")
    assert api.call("schedule.list")[0]["paused"] is True
    wait_for(browser, lambda d: click(d, f"{row} button.resume"), "a click on Resume")
    wait_for(browser, lambda d: text_of(d, f"{row} .state") == "active", "the schedule resumed")


def test_a_user_token_gets_no_admin_buttons(api: Server, key: SigningKey, browser: WebDriver) -> None:
    user = api.call("token.create", {"name": "alice", "role": "user"})["token"]
    api.call("schedule.add", {"schedules": [wire(sign(schedule(), key))]})
    mine = api.call("job.create", {"job": signed(key, "add", 1, 2)}, token=user)
    theirs = api.call("job.create", {"job": signed(key, "add", 2, 3)})
    login(browser, api, user)
    assert text_of(browser, "#who") == "token:alice (user)"
    assert not browser.find_element(By.ID, "nav-dead").is_displayed()
    go(browser, "#/jobs")
    wait_for(browser, lambda d: text_of(d, f'tr[data-job-id="{mine}"]') is not None, "the user's own job")
    assert text_of(browser, f'tr[data-job-id="{theirs}"]') is None, "another's job is not listed"
    go(browser, "#/schedules")
    wait_for(browser, lambda d: text_of(d, 'tr[data-schedule="nightly"] .state') == "active", "the schedule")
    assert browser.find_elements(By.CSS_SELECTOR, "#view button") == [], "no pause, resume or run for a user"
    go(browser, "#/dead")
    assert browser.find_elements(By.CSS_SELECTOR, "button.retry, button.purge") == []
    assert "admin token" in (text_of(browser, "#view") or "")
    # The page hides the buttons; the server refuses the calls anyway.
    for method, params in (("dead.retry", {"runner_id": "r1", "all": True}), ("schedule.pause", {"name": "nightly"})):
        assert api.error(method, params, token=user)["data"]["reason"] == "forbidden", method


def test_a_wrong_token_is_refused_at_login(api: Server, browser: WebDriver) -> None:
    browser.get(api.url + "ui")
    wait_for(browser, lambda d: d.find_element(By.ID, "token").is_displayed(), "the login form")
    browser.find_element(By.ID, "token").send_keys("not-a-token")
    browser.find_element(By.ID, "login-button").click()
    wait_for(browser, lambda d: "unknown or revoked token" in (text_of(d, "#login-error") or ""), "the refusal")
    assert not browser.find_element(By.ID, "nav").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('horus.token');") is None


def test_the_screenshot_is_in_the_docs() -> None:
    """docs/operations.md shows the screenshot the first test takes."""
    assert "images/dashboard.png" in (ROOT / "docs" / "operations.md").read_text()
    assert Path(SCREENSHOT).exists()
