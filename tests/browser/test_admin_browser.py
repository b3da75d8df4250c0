"""An operator in a real browser: log in, read a source's status page, reprocess it through a real worker."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from sources.extractors.detect import content_type_for
from sources.models import Chunk, Source
from tests.browser.conftest import WAIT_SECONDS
from tests.factories import ChatbotFactory
from tests.retrieval.helpers_retrieval import make_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTES = "Opening hours\nThe shop opens at nine every weekday.\n\nReturns\nReturns are accepted within 30 days.\n"


def _open_source(browser: WebDriver, live_server, source: Source) -> None:
    browser.get(f"{live_server.url}/admin/sources/source/{source.pk}/change/")
    WebDriverWait(browser, WAIT_SECONDS).until(EC.presence_of_element_located((By.ID, "source-status")))


def _status(browser: WebDriver) -> str:
    return browser.find_element(By.ID, "source-status-value").text


def test_completed_source_shows_status_block_and_chunk_preview(admin_browser, live_server):
    chatbot = ChatbotFactory(name="Shop bot")
    source = make_source(chatbot, [f"Paragraph {i} about delivery times." for i in range(3)], name="faq.pdf")

    _open_source(admin_browser, live_server, source)

    status = admin_browser.find_element(By.ID, "source-status").text
    assert "faq.pdf" in status and "Shop bot" in status and _status(admin_browser) == "Completed"
    rows = admin_browser.find_elements(By.CSS_SELECTOR, "#chunk-preview tbody tr")
    assert [row.find_element(By.TAG_NAME, "td").text for row in rows] == ["0", "1", "2"]
    assert "page 1" in rows[0].text and "Paragraph 0 about delivery times." in rows[0].text
    admin_browser.find_element(By.LINK_TEXT, "Shop bot").click()
    WebDriverWait(admin_browser, WAIT_SECONDS).until(EC.presence_of_element_located((By.ID, "chatbot-sources")))
    assert "faq.pdf" in admin_browser.find_element(By.ID, "chatbot-sources").text


@pytest.mark.integration
def test_failed_source_reprocessed_from_its_page_completes_through_the_worker(admin_browser, live_server,
                                                                              celery_worker):
    chatbot = ChatbotFactory()
    source = Source(chatbot=chatbot, kind=Source.Kind.FILE, name="notes.txt", original_filename="notes.txt",
                    file_kind="txt", content_type=content_type_for("txt"), size_bytes=len(NOTES),
                    status=Source.Status.FAILED, error_code="timeout",
                    error_message="Processing took longer than the time limit.")
    source.file.save("notes.txt", ContentFile(NOTES.encode()), save=False)
    source.save()

    _open_source(admin_browser, live_server, source)
    assert _status(admin_browser) == "Failed"
    assert "timeout" in admin_browser.find_element(By.ID, "source-error").text
    assert admin_browser.find_element(By.ID, "chunk-preview-empty").is_displayed()
    admin_browser.find_element(By.ID, "reprocess-button").click()
    WebDriverWait(admin_browser, WAIT_SECONDS).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "ul.messagelist"), "queued for reprocessing"))

    def completed_after_reload(driver: WebDriver) -> bool:
        driver.refresh()
        return _status(driver) in ("Completed", "Failed", "Cancelled")

    WebDriverWait(admin_browser, 60, poll_frequency=0.5).until(completed_after_reload)
    assert _status(admin_browser) == "Completed", admin_browser.find_element(By.ID, "source-status").text
    assert not admin_browser.find_elements(By.ID, "source-error")
    preview = admin_browser.find_element(By.ID, "chunk-preview").text
    assert "The shop opens at nine every weekday." in preview
    source.refresh_from_db()
    assert (source.status, source.error_code) == ("completed", "")
    assert Chunk.objects.filter(source=source, is_active=True).count() == source.chunk_count >= 1
