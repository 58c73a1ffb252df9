"""Headless Chromium for the browser tests (Debian's chromium + chromium-driver, driven by
Selenium): the console's and the photo app's. Importing this module skips the importing test
module where the browser is missing, unless REQUIRE_BROWSER is set (CI), where that is an error."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("REQUIRE_BROWSER"):
        raise RuntimeError("REQUIRE_BROWSER is set but chromium/chromedriver are not installed")
    pytest.skip("chromium and chromedriver are not installed (.ci/run installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
# What the machine's closed network needs: no background connections, no first-run pages.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
)


def chromium(user_data_dir: Path, downloads: Path | None = None) -> webdriver.Chrome:
    """A fresh browser with its console log kept; files it downloads go to `downloads`."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    if downloads:
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if downloads:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return driver


def script_errors(browser: webdriver.Chrome, expected: Iterable[str] = ()) -> list[str]:
    """The page's errors since the last call, but a missing favicon and the `expected` ones."""
    ignored = ("favicon", *expected)
    return [
        e["message"]
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and not any(text in e["message"] for text in ignored)
    ]


def wait(browser: webdriver.Chrome, condition: Callable[[], Any], seconds: float = 60) -> Any:
    return WebDriverWait(
        browser, seconds, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda _: condition())


def text(browser: webdriver.Chrome, selector: str) -> str:
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""
