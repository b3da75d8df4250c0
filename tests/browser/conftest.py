"""Headless Chromium (Debian's chromium + chromium-driver) for the browser tests, and screenshots of failures."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.factories import UserFactory

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / "var" / "test-artifacts")
WAIT_SECONDS = 20
PASSWORD = "pw-for-tests-123"  # UserFactory's


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        reason = (f"browser tests need Chromium and its driver, missing: {', '.join(missing)} "
                  "(Debian: apt-get install -y chromium chromium-driver)")
        if _in_ci():
            pytest.fail(reason)  # CI must run them, never silently skip
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def admin_browser(browser: WebDriver, live_server) -> WebDriver:
    """A browser logged in to the admin through its login form, as an operator would."""
    user = UserFactory(is_staff=True, is_superuser=True)
    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, WAIT_SECONDS).until(EC.presence_of_element_located((By.ID, "user-tools")))
    return browser


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, keep what the browser showed (screenshot and HTML) in the artefacts folder."""
    report = yield
    driver = getattr(item, "funcargs", {}).get("browser")
    if report.failed and report.when in ("setup", "call") and driver is not None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stem = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
        try:
            driver.save_screenshot(f"{stem}.png")
            Path(f"{stem}.html").write_text(driver.page_source, encoding="utf-8")
            report.sections.append(("browser", f"screenshot: {stem}.png (page at {driver.current_url})"))
        except Exception as exc:  # a dead browser must not hide the test's own failure
            report.sections.append(("browser", f"no screenshot: {exc!r}"))
    return report
