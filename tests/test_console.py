"""The local execution console in headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium). Screenshots go to artifacts/screenshots/ (docs/ holds a chosen few)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from tests import images as pictures
from tests.browser import SCREENSHOTS, chromium, script_errors, text, wait  # skips where there is no browser
from tests.photo_checks import output_folders
from tests.workflow_states import every_state


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def no_script_errors(browser):
    yield
    assert script_errors(browser) == []


def state_statuses(browser) -> dict[str, str]:
    buttons = browser.find_elements(By.CSS_SELECTOR, "#state-list button")
    return {b.get_attribute("data-state"): b.get_attribute("data-status") for b in buttons}


# Each state's label in the drawn graph: its font size as rendered (CSS size times the SVG's
# scale on screen), its box's height, and its text.
LABEL_SIZES = """
return [...document.querySelectorAll('#graph [data-state]')].map((node) => {
  const label = node.querySelector('.nodeLabel, .cluster-label text');
  const scale = (label.closest('foreignObject') || label).getScreenCTM().a;
  return {state: node.dataset.state, px: parseFloat(getComputedStyle(label).fontSize) * scale,
          height: label.getBoundingClientRect().height, text: label.textContent};
});
"""


def label_sizes(browser) -> list[dict]:
    return browser.execute_script(LABEL_SIZES)


def open_execution(browser, cloud, arn: str) -> None:
    browser.get(f"{cloud.console_url}#/execution/{urllib.parse.quote(arn, safe='')}")
    wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#graph [data-state]"))


def fault(cloud, function: str, times: int) -> None:
    body = json.dumps({"function": function, "error": "ClientError", "message": "S3 is down", "times": times})
    request = urllib.request.Request(
        f"{cloud.endpoint}/_localcloud/faults",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()


def sub_of(stack, username: str) -> str:
    user = boto3.client("cognito-idp").admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=username)
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


def upload_through_the_page(browser, cloud, photo: Path, username: str) -> None:
    """Signs in as `username` with the upload form and uploads `photo`; returns on its execution page."""
    browser.get(cloud.console_url)
    wait(browser, lambda: browser.find_elements(By.ID, "upload-form"))
    browser.find_element(By.ID, "upload-file").send_keys(str(photo))
    user = browser.find_element(By.ID, "upload-user")
    user.clear()
    user.send_keys(username)
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    wait(browser, lambda: "#/execution/" in browser.current_url)


def test_upload_through_the_page_and_follow_the_execution_to_green(browser, cloud, stack, tmp_path):
    photo = tmp_path / "console photo.jpg"
    photo.write_bytes(pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(123)))
    upload_through_the_page(browser, cloud, photo, "browser-user")
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
    # Every output (the renditions too: the browser shows WebP and AVIF) is previewed.
    outputs = len(output_folders(stack.outputs))
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#previews img")) == outputs)
    # What a user came for (result, previews, record) is on the first screen, above the graph
    # (it once started ~1,100 px down, below it).
    tops = browser.execute_script(
        "const top = (id) => document.getElementById(id).getBoundingClientRect().top;"
        "return {result: top('execution-result'), previews: top('previews'), metadata: top('metadata'),"
        " graph: top('graph-panel'), screen: window.innerHeight}"
    )
    assert max(tops["result"], tops["previews"], tops["metadata"]) < min(tops["graph"], tops["screen"] - 100), tops
    wait(
        browser,
        lambda: browser.execute_script(
            "return [...document.querySelectorAll('#previews img')].every(i => i.complete && i.naturalWidth > 0)"
        ),
    )
    assert sub_of(stack, "browser-user") in text(browser, "#metadata") and "photoId" in text(browser, "#metadata")
    browser.save_screenshot(str(SCREENSHOTS / "execution-succeeded.png"))


def test_the_upload_form_signs_in_and_each_user_uploads_into_their_own_folder(browser, cloud, stack, tmp_path, unique):
    """The form signs in as the user it names (created in the stage's user pool if needed) and
    posts with that user's ID token: the photo lands under that user's `sub`, whoever uploaded
    before in the same page."""
    for n, username in enumerate((f"alice-{unique}", f"bob-{unique}")):
        photo = tmp_path / f"{username}.jpg"
        photo.write_bytes(pictures.jpeg_bytes(pictures.photo("chelsea.jpg").rotate(40 + n)))
        upload_through_the_page(browser, cloud, photo, username)
        wait(browser, lambda: text(browser, "#execution-status") in ("SUCCEEDED", "FAILED"))
        heading = text(browser, "#execution-header h2")
        assert heading.startswith(f"uploads/{sub_of(stack, username)}/"), heading
        assert heading.split(" ")[0].endswith(f"-{username}.jpg")


def test_the_consoles_sign_in_refuses_what_cognito_would(cloud, stack):
    request = urllib.request.Request(
        f"{cloud.console_url}api/token",
        data=json.dumps({"username": "two words"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 400 and "not a valid username" in json.loads(refused.value.read())["error"]


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
    assert "No outputs written" in text(browser, "#outputs-panel")  # the discarded copy is not shown
    assert text(browser, "#execution-result") == "failed: ClientError: S3 is down (fault injected by localcloud)"
    # the state's details stay at the bottom of the window, under the part of the graph that failed
    browser.execute_script(
        "document.querySelector('#graph [data-state=ProcessFile]').scrollIntoView(); window.scrollBy(0, -120)"
    )
    browser.save_screenshot(str(SCREENSHOTS / "execution-failed.png"))


def test_the_graph_has_exactly_the_deployed_states(browser, cloud, stack, pipeline):
    definition = json.loads(
        boto3.client("stepfunctions").describe_state_machine(stateMachineArn=stack.outputs["ImageWorkflowArn"])[
            "definition"
        ]
    )

    [first] = [
        e
        for e in pipeline.sfn.list_executions(stateMachineArn=stack.outputs["ImageWorkflowArn"], maxResults=1)[
            "executions"
        ]
    ]
    browser.get(f"{cloud.console_url}#/execution/{urllib.parse.quote(first['executionArn'], safe='')}")
    wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#graph [data-state]"))
    drawn = {n.get_attribute("data-state") for n in browser.find_elements(By.CSS_SELECTOR, "#graph [data-state]")}
    assert drawn == set(every_state(definition["States"]))
    labels = browser.find_element(By.ID, "graph").text
    assert "default" in labels and "BooleanEquals true" in labels  # Choice edges are labelled
    # A string in a rule is quoted once, never shown as `&quot;regenerate&quot;` (escaped twice).
    assert "StringEquals “regenerate”" in " ".join(labels.split()), labels
    assert "&quot;" not in labels and "#quot;" not in labels


EDGES = """
const names = new Map([...document.querySelectorAll('#graph [data-state]')].map(
  (node) => [node.id.match(/(S\\d+)(?:-\\d+)?$/)[1], node.dataset.state]));
return [...document.querySelectorAll('#graph .edgePaths path')].map((path) => {
  const [, from, to] = path.dataset.id.match(/^L_(\\w+?)_(S\\d+)_\\d+$/);
  return [names.get(from) || from, names.get(to)];
});
"""


def test_a_catch_all_shared_by_many_states_is_drawn_where_it_was_taken(browser, cloud, stack, pipeline, unique):
    """Seven dotted edges into QuitMain would double the graph's width: each is drawn only
    when the execution went that way, and QuitMain says how many states lead to it."""
    fault_body = {"function": f"{stack.name}-getFileType", "error": "InvalidImage", "message": "unreadable", "times": 1}
    request = urllib.request.Request(
        f"{cloud.endpoint}/_localcloud/faults",
        data=json.dumps(fault_body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()
    key = f"{pipeline.upload_prefix}console/{unique}-unreadable.jpg"
    pipeline.s3.put_object(
        Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("rocket.jpg").rotate(21))
    )
    [outcome] = pipeline.wait({key: "unreadable"}, timeout=60)
    assert outcome.status == "FAILED" and outcome.path == ["GetFileType", "QuitMain"]
    definition = json.loads(
        pipeline.sfn.describe_state_machine(stateMachineArn=stack.outputs["ImageWorkflowArn"])["definition"]
    )
    catch_alls = [
        name
        for name, state in definition["States"].items()
        for rule in state.get("Catch", [])
        if rule["ErrorEquals"] == ["States.ALL"] and rule["Next"] == "QuitMain"
    ]
    assert len(catch_alls) > 3

    open_execution(browser, cloud, outcome.execution_arn)
    into_quit = sorted(source for source, target in browser.execute_script(EDGES) if target == "QuitMain")
    # the catch taken, and every Choice whose default is QuitMain (always drawn)
    defaults = [name for name, state in definition["States"].items() if state.get("Default") == "QuitMain"]
    assert defaults and into_quit == sorted(["GetFileType", *defaults])
    label = browser.find_element(By.CSS_SELECTOR, '#graph [data-state="QuitMain"]').text
    assert f"catch-all of {len(catch_alls)} states" in label.replace("\n", " ")

    open_execution(
        browser,
        cloud,
        pipeline.sfn.list_executions(
            stateMachineArn=stack.outputs["ImageWorkflowArn"], statusFilter="SUCCEEDED", maxResults=1
        )["executions"][0]["executionArn"],
    )
    # no catch was taken: only the Choices' defaults lead there
    assert sorted(source for source, target in browser.execute_script(EDGES) if target == "QuitMain") == sorted(
        defaults
    )


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


def row_results(browser) -> dict[str, dict]:
    """Per key: the row's result kind and text, its status, and the colours of its badges."""
    return browser.execute_script(
        """
        const found = {};
        for (const row of document.querySelectorAll('#executions tr[data-result]')) {
          const colours = [...row.querySelectorAll('.badge')].map((b) => {
            const style = getComputedStyle(b);
            return [style.color, style.backgroundColor];
          });
          found[row.querySelector('td.key').textContent] = {
            result: row.dataset.result, text: row.querySelector('td.result').textContent,
            status: row.dataset.status, colours};
        }
        return found;
        """
    )


def test_every_outcome_says_why_in_the_list_and_on_its_page(browser, cloud, stack, pipeline, unique):
    user = f"results-{unique}"
    processed = f"{pipeline.upload_prefix}{user}/{unique}-first.jpg"
    again = f"{pipeline.upload_prefix}{user}/{unique}-again.jpg"
    drawing = f"{pipeline.upload_prefix}{user}/{unique}-drawing.png"
    photo = pictures.jpeg_bytes(pictures.photo("rocket.jpg").rotate(31))
    pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=processed, Body=photo)
    [first] = pipeline.wait({processed: "first"}, timeout=60)
    assert first.status == "SUCCEEDED"
    pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=again, Body=photo)
    pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=drawing, Body=pictures.png_bytes())
    assert {o.status for o in pipeline.wait({again: "again", drawing: "drawing"}, timeout=60)} == {"SUCCEEDED"}

    browser.get(cloud.console_url)
    wait(browser, lambda: {processed, again, drawing} <= set(row_results(browser)))
    rows = row_results(browser)
    assert (rows[processed]["result"], rows[processed]["text"]) == ("processed", "processed")
    assert (rows[drawing]["result"], rows[drawing]["text"]) == ("rejected", "rejected: not-a-jpeg")
    assert (rows[again]["result"], rows[again]["text"]) == ("duplicate", f"duplicate of {processed}")
    assert {rows[key]["status"] for key in (processed, again, drawing)} == {"SUCCEEDED"}
    # Each result kind has its own colours, and nothing in a rejected or duplicate row wears
    # the colours of a processed upload (the status badge included).
    result_colours = {key: tuple(rows[key]["colours"][0]) for key in (processed, again, drawing)}  # first: result
    assert len(set(result_colours.values())) == 3
    for key in (again, drawing):
        worn = {colour for pair in rows[key]["colours"] for colour in pair}
        assert not worn & set(result_colours[processed]), (key, rows[key]["colours"])

    Select(browser.find_element(By.ID, "result-filter")).select_by_value("rejected")
    wait(browser, lambda: drawing in row_results(browser) and processed not in row_results(browser))
    assert {row["result"] for row in row_results(browser).values()} == {"rejected"}
    Select(browser.find_element(By.ID, "result-filter")).select_by_value("duplicate")
    wait(browser, lambda: again in row_results(browser) and drawing not in row_results(browser))
    assert {row["result"] for row in row_results(browser).values()} == {"duplicate"}

    # The duplicate's page says what it duplicates and links to the upload that was processed.
    wait(browser, lambda: browser.find_element(By.LINK_TEXT, again).click() or True)  # rows are redrawn live
    wait(browser, lambda: text(browser, "#execution-result") == f"duplicate of {processed}")
    assert text(browser, "#execution-status") == "SUCCEEDED"
    assert text(browser, "#duplicate-of").startswith(f"Duplicate of {processed}")
    link = browser.find_element(By.CSS_SELECTOR, "#duplicate-of a")
    assert link.get_attribute("href").endswith(f"#/execution/{urllib.parse.quote(first.execution_arn, safe='')}")
    assert "No item for this upload" in text(browser, "#metadata")
    shown = json.loads(browser.find_element(By.CSS_SELECTOR, "#metadata pre").text)
    assert shown["sourceKey"] == processed  # the recorded item, presented as the other upload's
    browser.save_screenshot(str(SCREENSHOTS / "execution-duplicate.png"))
    link.click()
    wait(browser, lambda: text(browser, "#execution-result") == "processed")
    assert first.execution_arn in urllib.parse.unquote(browser.current_url)
    item = json.loads(wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#metadata pre"))[0].text)
    # DynamoDB's numbers shown as numbers, not as the strings of their Decimals
    assert item["sourceKey"] == processed and item["sourceBytes"] == len(photo)
    assert (type(item["width"]), type(item["thumbnailWidth"])) == (int, int)


def test_state_labels_are_readable_and_the_graph_takes_the_page_width(browser, cloud, stack, pipeline):
    [latest] = pipeline.sfn.list_executions(stateMachineArn=stack.outputs["ImageWorkflowArn"], maxResults=1)[
        "executions"
    ]
    browser.set_window_size(1280, 900)
    try:
        open_execution(browser, cloud, latest["executionArn"])
        sizes = label_sizes(browser)
        assert len(sizes) == len(browser.find_elements(By.CSS_SELECTOR, "#state-list button"))
        small = [s for s in sizes if s["px"] < 12 or s["height"] < 12]
        assert small == [], small
        widths = browser.execute_script(
            "const app = document.getElementById('app'); const pad = getComputedStyle(app);"
            "return [document.getElementById('graph-panel').getBoundingClientRect().width,"
            " app.clientWidth - parseFloat(pad.paddingLeft) - parseFloat(pad.paddingRight)]"
        )
        assert widths[0] >= widths[1] - 1  # the graph's panel spans the page: nothing beside it
        # At 1280 px the whole drawing fits: no state's box (or name) runs past the graph's edges.
        fits = browser.execute_script(
            "const graph = document.getElementById('graph'); const box = graph.getBoundingClientRect();"
            "return {overflow: graph.scrollWidth - graph.clientWidth,"
            " cut: [...graph.querySelectorAll('[data-state]')].filter((n) => {"
            "   const b = n.getBoundingClientRect(); return b.left < box.left - 1 || b.right > box.right + 1; })"
            " .map((n) => n.dataset.state)}"
        )
        assert fits == {"overflow": 0, "cut": []}, fits
        assert not browser.find_element(By.ID, "state-panel").is_displayed()  # no empty panel takes room
        browser.find_element(By.CSS_SELECTOR, '#state-list button[data-state="GetFileType"]').click()
        wait(browser, lambda: "GetFileType" in text(browser, "#selected-state"))
        assert min(s["px"] for s in label_sizes(browser)) >= 12  # a selected state does not squeeze the graph
        browser.find_element(By.CSS_SELECTOR, "#state-panel button.close").click()
        wait(browser, lambda: not browser.find_element(By.ID, "state-panel").is_displayed())
    finally:
        browser.set_window_size(1280, 800)


def test_readable_on_a_narrow_window(browser, cloud, stack, pipeline):
    browser.set_window_size(480, 900)
    try:
        browser.get(cloud.console_url)
        wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#executions tr"))
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        browser.save_screenshot(str(SCREENSHOTS / "list-narrow.png"))
        [latest] = pipeline.sfn.list_executions(stateMachineArn=stack.outputs["ImageWorkflowArn"], maxResults=1)[
            "executions"
        ]
        open_execution(browser, cloud, latest["executionArn"])
        # the graph keeps readable labels and scrolls sideways in its own box, not the page
        assert min(s["px"] for s in label_sizes(browser)) >= 12
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        browser.save_screenshot(str(SCREENSHOTS / "execution-narrow.png"))
    finally:
        browser.set_window_size(1280, 800)
