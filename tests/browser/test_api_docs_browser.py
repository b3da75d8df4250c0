"""The API docs render offline in a real browser, from local assets, without a CSP violation."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import WAIT_SECONDS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _csp_violations(browser: WebDriver) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]


def test_swagger_ui_lists_the_operations(browser, live_server):
    browser.get_log("browser")  # drop earlier pages' entries
    browser.get(f"{live_server.url}/api/docs/")

    WebDriverWait(browser, WAIT_SECONDS).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    paths = {element.text.replace("\u200b", "") for element in
             browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert {"/api/chatbots/", "/api/health/"} <= paths
    assert _csp_violations(browser) == []


def test_redoc_renders_the_schema(browser, live_server):
    browser.get_log("browser")
    browser.get(f"{live_server.url}/api/redoc/")

    WebDriverWait(browser, WAIT_SECONDS).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "h1"), "BotSmith API"))
    assert "/api/chatbots/" in browser.find_element(By.TAG_NAME, "body").text
    # Redoc's bundle hard-codes its "by Redocly" logo from cdn.redoc.ly; the policy keeps that
    # request from leaving the machine, and nothing else is blocked.
    assert [v for v in _csp_violations(browser) if "https://cdn.redoc.ly/" not in v] == []
