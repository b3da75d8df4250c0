"""Hostile presentations, OpenDocument files, e-books and mail: entity tricks, zip bombs and huge counts end clearly."""

from __future__ import annotations

import io

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors import get_extractor
from sources.extractors.base import ExtractionLimits, ExtractionStats, Segment
from tests.fixtures import office

pytestmark = pytest.mark.reliability

SECRET = "XXE-SECRET-7f3a9c-DO-NOT-LEAK"


def run_extractor(kind: str, data: bytes, **limits: object) -> tuple[list[Segment], ExtractionStats]:
    """In-process: these files are refused before any large allocation (the sandbox is tested elsewhere)."""
    stats = ExtractionStats()
    extractor = get_extractor(kind)
    return list(extractor.extract(io.BytesIO(data), limits=ExtractionLimits(**limits), stats=stats)), stats

# (kind, builder of a benign file, the XML member an attacker would replace)
CONTAINERS = [
    ("pptx", office.build_pptx, "ppt/slides/slide1.xml"),
    ("pptx", office.build_pptx, "ppt/presentation.xml"),
    ("odt", office.build_odt, "content.xml"),
    ("odp", office.build_odp, "content.xml"),
    ("ods", office.build_ods, "content.xml"),
    ("epub", office.build_epub, "OEBPS/content.opf"),
]
IDS = [f"{kind}:{member}" for kind, _, member in CONTAINERS]


@pytest.mark.parametrize(("kind", "build", "member"), CONTAINERS, ids=IDS)
def test_billion_laughs_is_refused_without_expanding(kind, build, member):
    with pytest.raises(ProcessingError) as err:
        run_extractor(kind, office.replace_member(build(), member, office.billion_laughs()))
    assert err.value.code == ErrorCode.CORRUPT


@pytest.mark.parametrize(("kind", "build", "member"), CONTAINERS, ids=IDS)
def test_external_entity_is_never_read(tmp_path, kind, build, member):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    try:
        segments, _ = run_extractor(kind, office.replace_member(build(), member, office.xxe(str(secret))))
    except ProcessingError as exc:
        assert exc.code in (ErrorCode.CORRUPT, ErrorCode.EMPTY)
        assert SECRET not in exc.message
    else:
        assert all(SECRET not in s.text for s in segments)


@pytest.mark.parametrize(("kind", "build", "member"), CONTAINERS[::2] + CONTAINERS[3:], ids=IDS[::2] + IDS[3:])
def test_zip_bomb_member_is_too_large(kind, build, member):
    with pytest.raises(ProcessingError) as err:
        run_extractor(kind, office.zip_bomb(build(), "bomb.xml"))
    assert err.value.code == ErrorCode.TOO_LARGE


@pytest.mark.parametrize("kind", ["pptx", "odt", "odp"])
def test_too_many_zip_entries_is_too_large(kind):
    build = {"pptx": office.build_pptx, "odt": office.build_odt, "odp": office.build_odp}[kind]
    with pytest.raises(ProcessingError) as err:
        run_extractor(kind, build(), max_zip_entries=2)
    assert err.value.code == ErrorCode.TOO_LARGE


def test_odt_huge_repeat_counts_stay_bounded():
    content = (
        b'<?xml version="1.0"?><office:document-content '
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body><office:text>'
        b'<text:p>a<text:s text:c="999999999"/>b</text:p><table:table><table:table-row>'
        b'<table:table-cell table:number-columns-repeated="1000000"><text:p>x</text:p></table:table-cell>'
        b"</table:table-row></table:table></office:text></office:body></office:document-content>"
    )
    segments, _ = run_extractor("odt", office.replace_member(office.build_odt(), "content.xml", content))
    assert sum(len(s.text) for s in segments) < 1000


def test_epub_chapter_entities_neither_expand_nor_leak(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    chapter = office.xxe(str(secret)).replace(b"<root>&xxe;</root>", b"<html><body><p>Hi &xxe;</p></body></html>")
    laughs = office.billion_laughs(b"<html><body><p>&lol9;</p></body></html>")
    for attack in (chapter, laughs):
        data = office.replace_member(office.build_epub(), "OEBPS/ch1.xhtml", attack)
        segments, _ = run_extractor("epub", data)
        text = " ".join(s.text for s in segments)
        assert SECRET not in text and "lollol" not in text
        assert "penguins" in text  # the other chapter is still read


def test_mail_with_a_zip_bomb_attachment_keeps_the_message_and_notes_the_attachment():
    from tests.fixtures import mail
    from tests.fixtures.documents import build_zip_bomb_docx

    segments, stats = run_extractor("eml", mail.build_email(attach=("bomb.docx", build_zip_bomb_docx())))

    assert "closed on Friday" in segments[0].text
    assert any("bomb.docx could not be read" in n for n in stats.notices)
