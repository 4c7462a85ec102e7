"""The workflows page in a real (headless) Chromium: log in, open a running workflow, watch its
DAG change as its steps end, without a reload."""
# ruff: noqa: F811 - fixtures are imported by name.

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import redis

from tests.conftest import ROOT
from tests.integration.browser import SCREENSHOT_ENV, browser, click, console_errors, wait_for  # noqa: F401
from tests.integration.coordinator_fixtures import ADMIN, Stack, python_step, serve, stack  # noqa: F401


def node_status(driver: Any, step_id: str) -> str | None:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'#dag g.node[data-step="{step_id}"]')
    return found[0].get_attribute("data-status") if found else None


def test_a_running_workflow_is_drawn_and_its_steps_turn_completed_without_a_reload(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    stack.start_worker(concurrency=3)
    coordinator = stack.start_coordinator()
    gate = f"{stack.namespace}:gate"
    flow = {
        "name": "nightly build",
        "steps": [
            python_step("fetch", "wf_value", 1),
            python_step("compile", "gated", stack.redis_url, gate, depends_on=["fetch"]),
            python_step("lint", "wf_value", 2, depends_on=["fetch"]),
            python_step("docs", "wf_value", 3, depends_on=["fetch"]),
            python_step("package", "wf_inputs", depends_on=["compile", "lint"]),
            python_step("publish", "wf_inputs", depends_on=["package", "docs"]),
        ],
    }
    with stack.client() as client:
        workflow_id = client.submit(flow)

    driver = browser
    driver.get(coordinator.url + "ui")
    wait_for(driver, lambda d: d.find_element(By.ID, "token").is_displayed(), "the login form")
    driver.find_element(By.ID, "token").send_keys(ADMIN)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()

    row = f'#workflow-rows tr[data-workflow="{workflow_id}"]'
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row), "the workflow in the list")
    assert driver.execute_script("return sessionStorage.getItem('horus.coordinator.token')") == ADMIN
    assert driver.execute_script("return document.cookie") == ""
    click(driver, row, "the workflow's row")

    nodes = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#dag svg g.node"), "the DAG")
    assert sorted(n.get_attribute("data-step") for n in nodes) == sorted(s["id"] for s in flow["steps"])
    assert len(driver.find_elements(By.CSS_SELECTOR, "#dag svg path.edge")) == 7
    # The held step runs, its siblings end: the page shows both, live.
    wait_for(driver, lambda d: node_status(d, "compile") == "dispatched", "compile to be dispatched")
    wait_for(driver, lambda d: node_status(d, "lint") == "completed", "lint to complete")
    wait_for(driver, lambda d: node_status(d, "docs") == "completed", "docs to complete")
    assert node_status(driver, "package") == "waiting"
    assert driver.find_element(By.ID, "wf-status").text == "running"
    assert driver.find_element(By.ID, "wf-cancel").is_displayed()  # an admin may cancel a running workflow
    wait_for(
        driver,
        lambda d: "running" in d.find_element(By.CSS_SELECTOR, '#dag g.node[data-step="compile"] .step-status').text,
        "compile's job to run",
    )
    shot = tmp_path / "workflows.png"
    driver.save_screenshot(str(shot))
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, ROOT / "docs" / "images" / "workflows.png")

    driver.execute_script("window.__sameDocument = true")  # gone if the page reloads
    redis.Redis.from_url(stack.redis_url).lpush(gate, "go")
    wait_for(driver, lambda d: node_status(d, "compile") == "completed", "compile to complete")
    wait_for(driver, lambda d: d.find_element(By.ID, "wf-status").text == "completed", "the workflow to complete")
    assert {n.get_attribute("data-step"): n.get_attribute("data-status") for n in nodes} == dict.fromkeys(
        (s["id"] for s in flow["steps"]), "completed"
    )
    assert not driver.find_element(By.ID, "wf-cancel").is_displayed()
    assert driver.execute_script("return window.__sameDocument") is True
    assert console_errors(driver) == []

    driver.find_element(By.LINK_TEXT, "← All workflows").click()
    wait_for(driver, lambda d: "completed" in d.find_element(By.CSS_SELECTOR, row).text, "the list, it completed")
    with stack.client() as client:
        assert client.status(workflow_id).status == "completed"


def test_a_user_token_cancels_a_running_workflow_and_a_bad_token_is_refused(stack: Stack, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    stack.start_worker()
    coordinator = stack.start_coordinator()
    gate = f"{stack.namespace}:gate"
    flow = {
        "name": "held",
        "steps": [
            python_step("hold", "gated", stack.redis_url, gate),
            python_step("after", "wf_value", 1, depends_on=["hold"]),
        ],
    }
    with stack.client() as client:
        workflow_id = client.submit(flow)
    user = stack.supervisor.call("token.create", {"name": "operator", "role": "user"})["token"]

    driver = browser
    driver.get(coordinator.url + f"ui#/workflow/{workflow_id}")
    wait_for(driver, lambda d: d.find_element(By.ID, "token").is_displayed(), "the login form")
    driver.find_element(By.ID, "token").send_keys("not-a-token")
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait_for(driver, lambda d: "Token refused" in d.find_element(By.ID, "notice").text, "the refusal")
    assert driver.execute_script("return sessionStorage.getItem('horus.coordinator.token')") is None

    driver.find_element(By.ID, "token").send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait_for(driver, lambda d: node_status(d, "hold") == "dispatched", "the held step to be dispatched")
    assert driver.find_element(By.ID, "who").text == "token:operator (user)"
    # A user may call workflow.cancel (its x-role): the page offers it.
    wait_for(driver, lambda d: d.find_element(By.ID, "wf-cancel").is_displayed(), "the cancel button")
    driver.find_element(By.ID, "wf-cancel").click()
    wait_for(driver, lambda d: d.switch_to.alert, "the confirmation").accept()
    wait_for(driver, lambda d: d.find_element(By.ID, "wf-status").text == "cancelled", "the workflow to be cancelled")
    wait_for(driver, lambda d: node_status(d, "after") == "cancelled", "the step not started to be cancelled")
    assert not driver.find_element(By.ID, "wf-cancel").is_displayed()
    with stack.client() as client:
        assert client.status(workflow_id).status == "cancelled"

    # The refused login's 401 is logged by the browser; nothing else may have failed.
    assert [e for e in console_errors(driver) if "/ui/api/session" not in e] == []

    driver.find_element(By.ID, "logout").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "token").is_displayed(), "the login form again")
    assert driver.execute_script("return sessionStorage.getItem('horus.coordinator.token')") is None
