"""parse_html keeps the page's own text, structured by headings, and drops site chrome."""

from __future__ import annotations

import pytest

from sources.scraping.html import decode_body, parse_html, parse_plain_text
from tests.fixtures.http_server import BOILERPLATE_MARKERS, INDEX_HTML, LATIN1_HEADER_HTML, LATIN1_HTML

URL = "https://acme.example/shop/index.html"


def _parse(html: str, url: str = URL):
    return parse_html(html.encode("utf-8"), url=url, http_encoding="utf-8")


def test_index_page_metadata_links_and_main_text() -> None:
    page = _parse(INDEX_HTML.format(), url="https://acme.example/")
    assert page.title == "Acme Widgets"
    assert page.description == "Widgets for every workshop."
    assert page.language == "en"
    assert page.canonical_url == "https://acme.example/"
    assert "https://acme.example/about" in page.links
    assert "https://acme.example/private/secret" in page.links  # nav links are kept for crawling
    assert "https://elsewhere.example/offsite" in page.links
    assert not any(link.startswith("mailto:") for link in page.links)
    for marker in BOILERPLATE_MARKERS:
        assert marker not in page.text
    assert "Accept" not in page.text
    assert "Acme builds sturdy widgets for small workshops." in page.text


def test_headings_start_segments_and_build_the_heading_path() -> None:
    page = _parse(INDEX_HTML.format(), url="https://acme.example/")
    assert [s.metadata["heading_path"] for s in page.segments] == [
        ["Welcome to Acme Widgets"],
        ["Welcome to Acme Widgets", "Pricing"],
        ["Welcome to Acme Widgets", "Features"],
    ]
    assert all(s.boundary for s in page.segments)
    assert all(s.metadata["url"] == "https://acme.example/" for s in page.segments)
    assert all(s.metadata["title"] == "Acme Widgets" for s in page.segments)
    pricing = page.segments[1].text.splitlines()
    assert pricing == ["Pricing", "Plan: Basic; Price: 10 EUR", "Plan: Pro; Price: 25 EUR"]
    assert page.segments[2].text.splitlines() == ["Features", "- Fast delivery", "- Two-year warranty"]


def test_heading_levels_pop_back_up() -> None:
    page = _parse(
        "<body><h1>A</h1><p>a</p><h2>B</h2><p>b</p><h3>C</h3><p>c</p><h2>D</h2><p>d</p><h1>E</h1><p>e</p></body>"
    )
    assert [s.metadata["heading_path"] for s in page.segments] == [
        ["A"], ["A", "B"], ["A", "B", "C"], ["A", "D"], ["E"],
    ]  # fmt: skip


def test_heading_without_text_below_lives_on_in_the_path() -> None:
    page = _parse("<body><h1>Guide</h1><h2>Install</h2><p>Run the installer.</p></body>")
    assert len(page.segments) == 1
    assert page.segments[0].metadata["heading_path"] == ["Guide", "Install"]
    assert page.segments[0].text == "Install\nRun the installer."


def test_main_or_article_wins_over_body() -> None:
    page = _parse("<body><div>Sidebar promo</div><article><h1>Post</h1><p>Body text.</p></article></body>")
    assert "Sidebar promo" not in page.text
    assert "Body text." in page.text
    page = _parse('<body><div>Menu</div><div role="main"><p>Role main text.</p></div></body>')
    assert page.text == "Role main text."


def test_without_main_the_body_is_used_minus_chrome() -> None:
    page = _parse(
        "<body><header>Site header</header><div id='content'><p>Plain body text.</p></div>"
        "<div role='navigation'>Role nav</div><footer>Footer</footer></body>"
    )
    assert page.text == "Plain body text."


@pytest.mark.parametrize(
    "hidden",
    [
        "<div hidden>SECRET</div>",
        "<div aria-hidden='true'>SECRET</div>",
        "<p style='display:none'>SECRET</p>",
        "<p style='color:red; visibility: hidden'>SECRET</p>",
        "<template><p>SECRET</p></template>",
        "<noscript>SECRET</noscript>",
        "<form><label>SECRET</label><input value='x'></form>",
        "<select><option>SECRET</option></select>",
        "<svg><text>SECRET</text></svg>",
        "<iframe>SECRET</iframe>",
        "<div class='cc-window gdpr-notice'>SECRET</div>",
        "<section id='consent-manager'><h2>Your privacy</h2><p>SECRET</p></section>",
    ],
)
def test_hidden_and_interactive_elements_are_dropped(hidden: str) -> None:
    page = _parse(f"<body><main><p>Visible.</p>{hidden}</main></body>")
    assert "SECRET" not in page.text
    assert "Visible." in page.text


def test_content_about_cookies_is_not_mistaken_for_a_banner() -> None:
    page = _parse(
        "<body><main class='cookie-recipes'><div class='cookie-recipe'><h1>Chocolate cookies</h1>"
        "<p>Mix butter and sugar.</p></div></main></body>"
    )
    assert "Mix butter and sugar." in page.text
    assert page.segments[0].metadata["heading_path"] == ["Chocolate cookies"]


def test_article_header_is_kept_but_site_header_dropped() -> None:
    page = _parse(
        "<body><header>Logo</header><article><header><h1>Release 2.0</h1></header><p>News.</p></article></body>"
    )
    assert page.text == "Release 2.0\nNews."


def test_links_are_absolute_without_fragments_and_respect_base() -> None:
    page = _parse(
        "<html><head><base href='https://cdn.acme.example/docs/'></head><body>"
        "<a href='intro.html#part-2'>Intro</a><a href='#top'>Top</a><a href='javascript:void(0)'>JS</a>"
        "<a href='//acme.example/x?y=1'>X</a><a href='intro.html'>again</a></body></html>"
    )
    assert page.links == ["https://cdn.acme.example/docs/intro.html", "https://acme.example/x?y=1"]


def test_link_text_stays_inline_and_whitespace_is_normalised() -> None:
    page = _parse("<body><p>Read   the\n  <a href='/g'>user <b>guide</b></a>  today.</p><p>Line<br>break</p></body>")
    assert page.text.splitlines() == ["Read the user guide today.", "Line", "break"]


def test_tables_without_headers_and_nested_lists() -> None:
    page = _parse(
        "<body><table><tr><td>Mon</td><td>9-17</td></tr></table>"
        "<ul><li>Fruit<ul><li>Apple</li><li>Pear</li></ul></li><li>Bread</li></ul>"
        "<ol><li>First</li></ol></body>"
    )
    assert page.text.splitlines() == ["Mon; 9-17", "- Fruit", "  - Apple", "  - Pear", "- Bread", "- First"]


def test_table_with_thead_and_empty_cells() -> None:
    page = _parse(
        "<body><table><thead><tr><th>Name</th><th>Role</th><th>Phone</th></tr></thead>"
        "<tbody><tr><td>Ann</td><td>CEO</td><td></td></tr></tbody></table></body>"
    )
    assert page.text == "Name: Ann; Role: CEO"


def test_meta_robots_flags() -> None:
    page = _parse("<head><meta name='robots' content='noindex, nofollow'></head><body><p>x</p></body>")
    assert page.noindex and page.nofollow
    assert not _parse("<body><p>x</p></body>").noindex


def test_title_falls_back_to_og_title_then_h1() -> None:
    assert _parse("<head><meta property='og:title' content='OG'></head><body><p>x</p></body>").title == "OG"
    assert _parse("<body><h1>Heading title</h1><p>x</p></body>").title == "Heading title"


def test_encoding_from_meta_charset_only() -> None:
    page = parse_html(LATIN1_HTML, url=URL, http_encoding=None)
    assert page.title == "Café"
    assert "Un café crème coûte 3 €." in page.text


def test_encoding_from_http_header_only() -> None:
    page = parse_html(LATIN1_HEADER_HTML, url=URL, http_encoding="iso-8859-1")
    assert page.title == "Crème"
    assert "Crème brûlée du chef." in page.text


def test_http_header_charset_wins_over_meta() -> None:
    body = "<html><head><meta charset='windows-1252'></head><body><p>Zürich</p></body></html>".encode()
    assert "Zürich" in parse_html(body, url=URL, http_encoding="utf-8").text


def test_encoding_detected_when_undeclared() -> None:
    text = "Le café crème et la crème brûlée sont très appréciés à Genève, où l'on déjeune en été. " * 5
    body = f"<html><body><p>{text}</p></body></html>".encode("cp1252")
    page = parse_html(body, url=URL, http_encoding=None)
    assert "crème brûlée" in page.text
    assert "\ufffd" not in page.text


def test_utf8_bom_and_unknown_charset_label() -> None:
    text, codec = decode_body("\ufeffnaïve".encode(), "no-such-charset")
    assert (text, codec) == ("naïve", "utf-8")


def test_plain_text_page() -> None:
    page = parse_plain_text(b"Notes\r\n\r\nLine   one\nline two\n", "https://acme.example/notes.txt", None)
    assert page.title == "notes.txt"
    assert page.text == "Notes\n\nLine one line two"
    assert page.segments[0].metadata == {
        "url": "https://acme.example/notes.txt",
        "title": "notes.txt",
        "heading_path": [],
    }
    assert parse_plain_text(b"  \n ", "https://acme.example/e.txt", "utf-8").segments == []
