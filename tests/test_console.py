"""The local execution console in headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium). Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest

from tests import images as pictures

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError("REQUIRE_BROWSER is set but chromium/chromedriver are not installed")
    pytest.skip("chromium and chromedriver are not installed (.ci/run installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def no_script_errors(browser):
    yield
    errors = [
        e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
    ]
    assert errors == []


def wait(browser, condition, seconds: float = 60):
    return WebDriverWait(
        browser, seconds, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda _: condition())


def text(browser, selector: str) -> str:
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


def state_statuses(browser) -> dict[str, str]:
    buttons = browser.find_elements(By.CSS_SELECTOR, "#state-list button")
    return {b.get_attribute("data-state"): b.get_attribute("data-status") for b in buttons}


def fault(cloud, function: str, times: int) -> None:
    body = json.dumps({"function": function, "error": "ClientError", "message": "S3 is down", "times": times})
    request = urllib.request.Request(
        f"{cloud.endpoint}/_localcloud/faults",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()


def test_upload_through_the_page_and_follow_the_execution_to_green(browser, cloud, stack, tmp_path):
    photo = tmp_path / "console photo.jpg"
    photo.write_bytes(pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(123)))
    browser.get(cloud.console_url)
    wait(browser, lambda: browser.find_elements(By.ID, "upload-form"))
    browser.find_element(By.ID, "upload-file").send_keys(str(photo))
    user = browser.find_element(By.ID, "upload-user")
    user.clear()
    user.send_keys("browser-user")
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    wait(browser, lambda: "#/execution/" in browser.current_url)
    wait(browser, lambda: text(browser, "#execution-status") == "SUCCEEDED")
    statuses = state_statuses(browser)
    reached = {name for name, status in statuses.items() if status != "not-reached"}
    assert {
        "GetFileType",
        "ProcessFile",
        "ResizeImage",
        "MakeThumbnail",
        "WriteToDynamoDb",
        "DeleteSourceFile",
    } <= reached
    assert {statuses[name] for name in reached} == {"succeeded"}
    graph_nodes = browser.find_elements(By.CSS_SELECTOR, "#graph [data-state]")
    assert {n.get_attribute("data-status") for n in graph_nodes if n.get_attribute("data-state") in reached} == {
        "succeeded"
    }
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#previews img")) == 3)
    wait(
        browser,
        lambda: browser.execute_script(
            "return [...document.querySelectorAll('#previews img')].every(i => i.complete && i.naturalWidth > 0)"
        ),
    )
    assert "browser-user" in text(browser, "#metadata") and "photoId" in text(browser, "#metadata")
    browser.save_screenshot(str(SCREENSHOTS / "execution-succeeded.png"))


def test_a_failed_execution_shows_the_failed_state_and_its_error(browser, cloud, stack, pipeline, unique):
    fault(cloud, f"{stack.name}-resizeImage", times=3)
    key = f"{pipeline.upload_prefix}console/{unique}-broken.jpg"
    pipeline.s3.put_object(
        Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(77))
    )
    [outcome] = pipeline.wait({key: "broken"}, timeout=60)
    assert outcome.status == "FAILED"
    browser.get(f"{cloud.console_url}#/execution/{urllib.parse.quote(outcome.execution_arn, safe='')}")
    wait(browser, lambda: text(browser, "#execution-status") == "FAILED")
    assert "ClientError" in text(browser, "#execution-error")
    statuses = state_statuses(browser)
    assert statuses["QuitResize"] == "failed" and statuses["ResizeImage"] == "caught"
    assert statuses["CopyToDestination"] == "succeeded" and statuses["WriteToDynamoDb"] == "not-reached"
    browser.find_element(By.CSS_SELECTOR, '#graph [data-state="ResizeImage"]').click()
    wait(browser, lambda: "ResizeImage" in text(browser, "#selected-state"))
    assert "ClientError" in text(browser, "#state-error") and "S3 is down" in text(browser, "#state-error")
    assert "attempts: 3 (failed: 3)" in text(browser, "#state-details")
    assert "No outputs written" in text(browser, "#extras")  # the discarded copy is not shown
    browser.save_screenshot(str(SCREENSHOTS / "execution-failed.png"))


def test_the_graph_has_exactly_the_deployed_states(browser, cloud, stack, pipeline):
    definition = json.loads(
        boto3.client("stepfunctions").describe_state_machine(stateMachineArn=stack.outputs["ImageWorkflowArn"])[
            "definition"
        ]
    )

    def names(states):
        for name, state in states.items():
            yield name
            for branch in state.get("Branches", []):
                yield from names(branch["States"])

    [first] = [
        e
        for e in pipeline.sfn.list_executions(stateMachineArn=stack.outputs["ImageWorkflowArn"], maxResults=1)[
            "executions"
        ]
    ]
    browser.get(f"{cloud.console_url}#/execution/{urllib.parse.quote(first['executionArn'], safe='')}")
    wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#graph [data-state]"))
    drawn = {n.get_attribute("data-state") for n in browser.find_elements(By.CSS_SELECTOR, "#graph [data-state]")}
    assert drawn == set(names(definition["States"]))
    labels = browser.find_element(By.ID, "graph").text
    assert "default" in labels and "BooleanEquals true" in labels  # Choice edges are labelled


def row_statuses(browser) -> list[str]:
    # read in one go: the live refresh replaces the rows while we look
    return browser.execute_script("return [...document.querySelectorAll('#executions tr')].map(r => r.dataset.status)")


def test_the_list_filters_updates_live_and_works_from_the_keyboard(browser, cloud, stack, pipeline, unique):
    done = f"{pipeline.upload_prefix}console/{unique}-done.jpg"
    pipeline.s3.put_object(
        Bucket=pipeline.upload_bucket, Key=done, Body=pictures.jpeg_bytes(pictures.photo("chelsea.jpg").rotate(66))
    )
    assert pipeline.wait({done: "done"}, timeout=60)[0].status == "SUCCEEDED"
    browser.get(cloud.console_url)
    wait(browser, lambda: done in browser.find_element(By.ID, "executions").text)
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("SUCCEEDED")
    wait(browser, lambda: set(row_statuses(browser)) == {"SUCCEEDED"})
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("RUNNING")
    wait(browser, lambda: "SUCCEEDED" not in row_statuses(browser))
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("")
    live = f"{pipeline.upload_prefix}console/{unique}-live.jpg"
    pipeline.s3.put_object(
        Bucket=pipeline.upload_bucket, Key=live, Body=pictures.jpeg_bytes(pictures.photo("rocket.jpg").rotate(55))
    )
    wait(browser, lambda: live in browser.find_element(By.ID, "executions").text)  # appears without a reload
    browser.execute_script("document.activeElement.blur()")
    wait(browser, lambda: browser.find_element(By.LINK_TEXT, live)).send_keys(Keys.ENTER)
    button = wait(
        browser, lambda: browser.find_elements(By.CSS_SELECTOR, '#state-list button[data-state="GetFileType"]')
    )
    button[0].send_keys(Keys.ENTER)
    wait(browser, lambda: "GetFileType" in text(browser, "#selected-state"))


def test_readable_on_a_narrow_window(browser, cloud, stack):
    browser.set_window_size(480, 900)
    try:
        browser.get(cloud.console_url)
        wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#executions tr"))
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        browser.save_screenshot(str(SCREENSHOTS / "list-narrow.png"))
    finally:
        browser.set_window_size(1280, 800)
