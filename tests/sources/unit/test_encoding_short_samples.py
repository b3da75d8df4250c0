"""Short inputs with a few isolated non-ASCII bytes decode as Western text, not as Shift-JIS or UTF-16."""

from __future__ import annotations

import pytest

from sources.extractors.encoding import detect_encoding


@pytest.mark.parametrize(
    "sample",
    [b"name,owner\nLogo,\xa9 ACME 2024\n", b"a,b\n\xa9,1\n", b"city\nBesan\xe7on\n", b"Copyright \xa9 2024"],
)
def test_lone_latin1_bytes_are_cp1252(sample):
    assert detect_encoding(sample, complete=True) == "cp1252"


def test_multibyte_text_keeps_its_reading():
    assert detect_encoding("東京都,大阪\n".encode("shift_jis"), complete=True) in ("cp932", "shift_jis")
    assert detect_encoding("Zażółć gęślą jaźń\n".encode("cp1250"), complete=True) == "cp1250"


def test_tiny_csv_with_copyright_sign_reads_it(run_extractor):
    segments, _ = run_extractor("csv", b"name,owner\nLogo,\xa9 ACME 2024\n")
    assert segments[0].text == "name: Logo; owner: © ACME 2024"
