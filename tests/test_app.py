"""The photo app (app/, docs/app.md) in headless Chromium against the local cloud: the stack's
deploy put it in its bucket, the local cloud serves it from there at /_app/<stage>/, as the
CloudFront distribution does on AWS. One user goes through it all, in order: sign in (SRP),
upload three files (one is not a photo), see them processed, scroll, open one, download its
original, delete it, delete the account. Screenshots at 375 and 1280 px go to
artifacts/screenshots/ (and to docs/ with APP_SCREENSHOTS=docs: `make screenshots`)."""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests import images as pictures
from tests.browser import SCREENSHOTS, chromium, script_errors, text  # skips where there is no browser
from tests.browser import wait as browser_wait
from tests.test_readme import APP_BUILD, APP_USER, DOCUMENTED_PORT, run_block, users_shell

ROOT = Path(__file__).resolve().parent.parent

USER, PASSWORD = "app-user", "Photo-app-pass-1"
# Layout shifts since the page loaded (Chromium's Layout Instability API), user input excepted.
LAYOUT_SHIFT = """
const done = arguments[arguments.length - 1];
new PerformanceObserver((list, observer) => {
  observer.disconnect();
  done(list.getEntries().filter((e) => !e.hadRecentInput).map((e) => [e.value, e.sources.map(
    (s) => `${s.node && (s.node.id || s.node.className)}: ${JSON.stringify(s.previousRect)}`
      + ` -> ${JSON.stringify(s.currentRect)}`)]));
}).observe({type: 'layout-shift', buffered: true});
setTimeout(() => done([]), 500);
"""

ALL_LOADED = "return [...document.querySelectorAll('{}')].every(i => i.complete && i.naturalWidth > 0)"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, downloads):
    driver = chromium(tmp_path_factory.mktemp("chromium"), downloads)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def app_url(cloud, stack) -> str:
    """The app's address; its user is made as docs/app.md says (on this cloud's port and stage)."""
    port = cloud.endpoint.rsplit(":", 1)[1]
    block = APP_USER.text().replace(DOCUMENTED_PORT, port)
    block = block.replace("token alice", f"token {USER} --stage test").replace("Choose-a-password-1", PASSWORD)
    done = run_block(block, users_shell(), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return f"{cloud.endpoint}/_app/test/"


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> dict[str, Path]:
    """Two photos (one from a phone, with a capture time and a location) and a file that is not one."""
    folder = tmp_path_factory.mktemp("photos")
    phone = pictures.jpeg_bytes(pictures.photo("chelsea.jpg").rotate(17), exif=pictures.camera_exif())
    files = {
        "phone.jpg": phone,
        "coffee.jpg": pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(9)),
        "notes.jpg": b"shopping list: milk, eggs\n" * 40,  # named .jpg, but not a photo
    }
    for name, body in files.items():
        (folder / name).write_bytes(body)
    return {name: folder / name for name in files}


@pytest.fixture(autouse=True)
def no_script_errors(browser):
    yield
    assert script_errors(browser, expected=["the server responded with a status"]) == []


def wait(browser, condition, seconds: float = 90):
    return browser_wait(browser, condition, seconds)


def shown(browser, element_id: str) -> bool:
    return browser.find_element(By.ID, element_id).is_displayed()


def screenshot(browser, name: str) -> None:
    """At 375 px (a phone) and 1280 px, into artifacts/ (and docs/ when asked)."""
    for width, height in ((375, 812), (1280, 800)):
        browser.set_window_size(width, height)
        time.sleep(0.3)  # a resize lays out again: wait for the frame, not for any data
        path = SCREENSHOTS / f"app-{name}-{width}.png"
        browser.save_screenshot(str(path))
        if os.environ.get("APP_SCREENSHOTS"):
            shutil.copy(path, ROOT / os.environ["APP_SCREENSHOTS"] / path.name)
    browser.set_window_size(1280, 800)


def tiles(browser) -> list:
    return browser.find_elements(By.CSS_SELECTOR, "#library a.tile")


def sign_in(browser, password: str) -> None:
    browser.find_element(By.ID, "username").clear()
    browser.find_element(By.ID, "username").send_keys(USER)
    browser.find_element(By.ID, "password").clear()
    browser.find_element(By.ID, "password").send_keys(password, Keys.ENTER)


# -- the tests, in the order a user goes ------------------------------------------------------
def test_make_app_builds_the_bundle():
    done = run_block(APP_BUILD.text(), users_shell(), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (ROOT / "app" / "dist" / "index.html").read_text()
    script = re.search(r'src="(app-[A-Z0-9]{8}\.js)"', page)
    assert script and (ROOT / "app" / "dist" / script.group(1)).stat().st_size > 10_000


def test_the_app_is_served_from_its_private_bucket(cloud, stack, app_url):
    bucket = stack.outputs["AppBucketName"]
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"index.html", "config.json"} <= keys and any(k.startswith("app-") and k.endswith(".js") for k in keys)
    # Private: only the distribution (here: the local cloud) reads it. moto does not apply a
    # template's PublicAccessBlockConfiguration, so the deployed template is what is checked.
    template = boto3.client("cloudformation").get_template(StackName=stack.name)["TemplateBody"]
    resources = template["Resources"]
    assert all(resources["AppBucket"]["Properties"]["PublicAccessBlockConfiguration"].values())
    [reader] = [
        s for s in resources["AppBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]
    assert reader["Principal"] == {"Service": "cloudfront.amazonaws.com"} and reader["Action"] == "s3:GetObject"
    origin = resources["AppDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["AppOriginAccessControl", "Id"]}
    with urllib.request.urlopen(app_url) as page:
        assert page.headers["Content-Type"].startswith("text/html") and page.headers["Cache-Control"] == "no-cache"
    with pytest.raises(urllib.error.HTTPError) as missing:  # as CloudFront answers for a key S3 hides
        urllib.request.urlopen(f"{app_url}no-such-file.js")
    assert missing.value.code == 403
    assert stack.outputs["AppUrl"].startswith("https://") and stack.outputs["AppUrl"].endswith(".cloudfront.net/")


def test_sign_in_refuses_a_wrong_password_then_signs_in(browser, app_url):
    browser.get(f"{app_url}?pageSize=1")
    wait(browser, lambda: shown(browser, "signin-view"))
    screenshot(browser, "signin")
    sign_in(browser, "Wrong-password-1")
    wait(browser, lambda: "Wrong user name or password" in text(browser, "#notice-text"))
    assert shown(browser, "signin-view")
    sign_in(browser, PASSWORD)
    wait(browser, lambda: shown(browser, "library-view"))
    browser.find_element(By.CSS_SELECTOR, "#account summary").click()
    assert text(browser, "#who") == USER
    browser.find_element(By.CSS_SELECTOR, "#account summary").click()
    wait(browser, lambda: shown(browser, "empty"))


def test_uploads_are_followed_until_processed_or_rejected(browser, uploads):
    browser.set_window_size(1280, 350)  # short: the library's first page leaves its end out of sight
    picker = browser.find_element(By.ID, "file-input")
    picker.send_keys("\n".join(str(path) for path in uploads.values()))
    rows = lambda: browser.find_elements(By.CSS_SELECTOR, "#upload-list li")  # noqa: E731
    wait(browser, lambda: len(rows()) == 3)
    final = ("done", "error", "duplicate")
    wait(browser, lambda: all(row.get_attribute("data-state") in final for row in rows()), seconds=180)
    outcome = {
        r.find_element(By.CSS_SELECTOR, ".name").text: r.find_element(By.CSS_SELECTOR, ".status").text for r in rows()
    }
    assert outcome["phone.jpg"].startswith("Processed") and outcome["coffee.jpg"].startswith("Processed"), outcome
    assert outcome["notes.jpg"] == "Rejected: it is not a picture", outcome
    bars = [float(p.get_attribute("value")) for p in browser.find_elements(By.CSS_SELECTOR, "#upload-list progress")]
    assert bars == [1.0, 1.0, 1.0]
    wait(browser, lambda: len(tiles(browser)) >= 1)


def test_the_same_photo_again_is_a_duplicate_of_the_one_in_the_library(browser, uploads):
    browser.find_element(By.ID, "file-input").send_keys(str(uploads["phone.jpg"]))
    newest = lambda: browser.find_element(By.CSS_SELECTOR, "#upload-list li")  # noqa: E731  (rows are prepended)
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#upload-list li")) == 4)
    wait(browser, lambda: newest().get_attribute("data-state") in ("done", "error", "duplicate"), seconds=120)
    assert newest().find_element(By.CSS_SELECTOR, ".status").text == "Already in your library: see the photo"
    link = newest().find_element(By.CSS_SELECTOR, ".status a").get_attribute("href")
    assert re.search(r"#/photo/[0-9a-f]{64}$", link)


def test_the_library_scrolls_through_pages_without_layout_shift(browser):
    # One photo a page (?pageSize=1): the second arrives only through the cursor, on scrolling.
    wait(browser, lambda: len(tiles(browser)) == 1 and shown(browser, "load-more"))  # a cursor, not yet used
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait(browser, lambda: len(tiles(browser)) == 2)
    assert not shown(browser, "load-more")  # the last page: no cursor
    boxes = browser.find_elements(By.CSS_SELECTOR, "#library .picture")
    # The ThumbHash placeholder is painted under each picture, then the thumbnail loads over it.
    assert all("data:image/png" in b.value_of_css_property("background-image") for b in boxes)
    wait(browser, lambda: browser.execute_script(ALL_LOADED.format("#library img")))
    images = browser.find_elements(By.CSS_SELECTOR, "#library img")
    # Each declared rendition (RENDITIONS: 640 and 1600 px, never enlarged) at its own width.
    widths = [[int(c.rsplit(" ", 1)[1][:-1]) for c in i.get_attribute("srcset").split(", ")] for i in images]
    assert all(len(w) == 2 and w == sorted(w) and w[1] <= 1600 for w in widths), widths
    assert all(i.get_attribute("alt").split(",")[0] in ("phone.jpg", "coffee.jpg") for i in images)
    assert browser.find_element(By.CSS_SELECTOR, "#library h2").text  # grouped by month
    shifts = browser.execute_async_script(LAYOUT_SHIFT)
    assert sum(v for v, _ in shifts) < 0.01, shifts
    browser.execute_script("window.scrollTo(0, 0)")
    screenshot(browser, "library")  # (and back to 1280 x 800)


def test_keyboard_opens_a_photo_with_its_details(browser):
    browser.execute_script("window.scrollTo(0, 0)")
    first = tiles(browser)[0]
    first.send_keys(Keys.NULL)  # focus it, as Tab would
    browser.execute_script("arguments[0].focus()", first)
    first.send_keys(Keys.ARROW_RIGHT)
    second = tiles(browser)[1]
    assert browser.switch_to.active_element == second
    second.send_keys(Keys.ENTER)
    wait(browser, lambda: shown(browser, "photo-view") and text(browser, "#photo-title"))
    if text(browser, "#photo-title") != "phone.jpg":  # the phone's photo has the details to check
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
        wait(browser, lambda: text(browser, "#photo-title") == "phone.jpg")
    details = text(browser, "#photo-details")
    assert "Google Pixel 9 Pro" in details and "Had a location (not kept)" in details
    assert "48.85" not in browser.page_source and "2.29" not in details  # never the coordinates
    assert "\u00d7 " in details and "pixels" in details
    assert "2024" in details and re.search(r"\b(2:03\sPM|14:03)\b", details), details  # the camera's clock
    wait(browser, lambda: browser.execute_script(ALL_LOADED.format("#photo-frame img")))
    screenshot(browser, "photo")


def test_download_gives_the_original_bytes(browser, uploads, downloads):
    browser.find_element(By.ID, "download").click()
    saved = downloads / "phone.jpg"
    wait(browser, lambda: saved.exists() and saved.stat().st_size > 0, seconds=30)
    assert saved.read_bytes() == uploads["phone.jpg"].read_bytes()


def test_delete_a_photo_after_confirming(browser, stack):
    photo_id = browser.current_url.rsplit("/", 1)[-1]
    browser.find_element(By.ID, "delete-photo").click()
    wait(browser, lambda: browser.find_element(By.ID, "confirm").is_displayed())
    browser.find_element(By.ID, "confirm-cancel").click()  # cancelling keeps it
    assert shown(browser, "photo-view")
    browser.find_element(By.ID, "delete-photo").click()
    wait(browser, lambda: browser.find_element(By.ID, "confirm").is_displayed())
    browser.find_element(By.ID, "confirm-ok").click()
    wait(browser, lambda: shown(browser, "library-view") and len(tiles(browser)) == 1)
    assert "was deleted" in text(browser, "#notice-text")
    browser.get(browser.current_url.split("#")[0] + f"#/photo/{photo_id}")  # its page is gone: a clear 404
    wait(browser, lambda: "That photo no longer exists" in text(browser, "#notice-text"))


def test_a_refused_token_signs_out_with_a_clear_message(browser, app_url):
    """An ID token the API refuses (401: here its signature is altered, as a revoked or foreign
    token would be refused) ends the session with a message, and signing in again works."""
    browser.execute_script(
        "const key = Object.keys(localStorage).find((k) => k.endsWith('.idToken'));"
        "const token = localStorage.getItem(key);"
        "localStorage.setItem(key, token.slice(0, -6) + (token.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA'));"
    )
    browser.get(f"{app_url}?pageSize=1")
    wait(browser, lambda: shown(browser, "signin-view") and "session has ended" in text(browser, "#notice-text"))
    sign_in(browser, PASSWORD)
    wait(browser, lambda: shown(browser, "library-view") and len(tiles(browser)) == 1)


def test_delete_the_account(browser, stack):
    wait(browser, lambda: shown(browser, "library-view"))
    browser.find_element(By.CSS_SELECTOR, "#account summary").click()
    browser.find_element(By.ID, "delete-account").click()
    wait(browser, lambda: browser.find_element(By.ID, "confirm").is_displayed())
    browser.find_element(By.ID, "confirm-ok").click()
    wait(browser, lambda: shown(browser, "signin-view") and "erased" in text(browser, "#notice-text"))
    idp = boto3.client("cognito-idp")
    with pytest.raises(idp.exceptions.UserNotFoundException):
        idp.admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=USER)
    sign_in(browser, PASSWORD)  # the account is gone
    wait(browser, lambda: "Wrong user name or password" in text(browser, "#notice-text"))
