"""EPUB: spine order, table-of-contents titles as heading path, navigation not repeated, DRM refused."""

from __future__ import annotations

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from tests.fixtures import office


def test_chapters_in_spine_order_with_heading_paths(run_extractor):
    segments, stats = run_extractor("epub", office.build_epub())

    text = "\n".join(s.text for s in segments)
    assert text.index("left the harbour") < text.index("main mast") < text.index("penguins")
    storm = next(s for s in segments if "main mast" in s.text)
    assert storm.metadata == {"heading_path": ["The Voyage", "Storm"], "chapter": 1}
    landfall = next(s for s in segments if "penguins" in s.text)
    assert landfall.metadata == {"heading_path": ["Landfall"], "chapter": 2}
    assert "Contents" not in text  # the navigation document is not text
    assert (stats.units_total, stats.units_done, stats.unit_name) == (2, 2, "chapters")


def test_drm_protected_chapters_are_encrypted(run_extractor):
    encryption = (b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><EncryptedData '
                  b'xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData><CipherReference URI="OEBPS/ch1.xhtml"/>'
                  b"</CipherData></EncryptedData></encryption>")
    data = office.replace_member(office.build_epub(), "META-INF/encryption.xml", encryption)
    with pytest.raises(ProcessingError) as err:
        run_extractor("epub", data)
    assert err.value.code == ErrorCode.ENCRYPTED


def test_too_many_chapters_is_too_large(run_extractor):
    with pytest.raises(ProcessingError) as err:
        run_extractor("epub", office.build_epub(), max_pages=1)
    assert err.value.code == ErrorCode.TOO_LARGE


def test_missing_package_document_is_corrupt(run_extractor):
    data = office.replace_member(office.build_epub(), "META-INF/container.xml", b"<container/>")
    with pytest.raises(ProcessingError) as err:
        run_extractor("epub", data)
    assert err.value.code == ErrorCode.CORRUPT
