"""HTML and XHTML files: main content only, heading paths, tables, as the crawler reads pages."""

from __future__ import annotations

import pytest

from botsmith.errors import ErrorCode, ProcessingError

PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Opening hours</title></head>
<body><nav><a href="/">Home</a> | <a href="/shop">Shop menu link</a></nav>
<main><h1>Opening hours</h1><p>We open at nine on weekdays.</p>
<h2>Holidays</h2><p>Closed on 25 December.</p>
<table><tr><th>Day</th><th>Hours</th></tr><tr><td>Saturday</td><td>10-14</td></tr></table></main>
<footer>Copyright footer text</footer></body></html>"""

XHTML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Café notes</title></head>
<body><h1>Café notes</h1><p>Crème brûlée is served daily.</p></body></html>"""


def test_main_content_with_heading_paths_and_tables(run_extractor):
    segments, stats = run_extractor("html", PAGE.encode())

    text = "\n".join(s.text for s in segments)
    assert "We open at nine" in text and "Day: Saturday; Hours: 10-14" in text
    assert "Shop menu link" not in text and "Copyright footer" not in text
    holidays = next(s for s in segments if "25 December" in s.text)
    assert holidays.metadata == {"heading_path": ["Opening hours", "Holidays"], "title": "Opening hours"}
    assert stats.unit_name == "sections"


def test_xhtml_with_doctype_and_accents(run_extractor):
    segments, _ = run_extractor("html", XHTML.encode(), filename="notes.xhtml")
    assert "Crème brûlée is served daily." in segments[0].text


def test_external_entities_in_html_are_not_read(run_extractor, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("HTML-XXE-SECRET")
    page = f'<!DOCTYPE html [<!ENTITY x SYSTEM "file://{secret}">]><html><body><p>Hi &x; there</p></body></html>'
    segments, _ = run_extractor("html", page.encode())
    assert all("HTML-XXE-SECRET" not in s.text for s in segments)


def test_page_without_text_is_empty(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("html", b"<html><body><nav><a href='/'>x</a></nav><script>var a;</script></body></html>")
    assert err.value.code == ErrorCode.EMPTY
