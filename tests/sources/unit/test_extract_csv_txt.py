from __future__ import annotations

import pytest

from botsmith.errors import ErrorCode, ProcessingError
from sources.extractors.csv import sniff_delimiter
from sources.extractors.encoding import detect_encoding
from tests.fixtures.documents import (
    build_csv,
    build_csv_latin1_semicolon_multiline,
    build_markdown,
    build_utf16_bom_txt,
)


def test_csv_latin1_semicolon_multiline(run_extractor):
    segments, stats = run_extractor("csv", build_csv_latin1_semicolon_multiline())
    assert [s.text for s in segments] == [
        "Nom: Zoé; Ville: Besançon; Remarque: Très bien\n"
        "Nom: Jérôme; Ville: Orléans; Remarque: Première ligne seconde ligne; avec point-virgule\n"
        "Nom: Anaïs; Ville: Nîmes; Remarque: Déjà vu"
    ]
    assert segments[0].metadata == {"sheet": None, "row_start": 2, "row_end": 4}
    assert stats.units_done == 3 and "cp1252" in stats.engine


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_sniffs_delimiters(run_extractor, delimiter):
    rows = [["id", "name", "note"], ["1", "Ann", "hi there"], ["2", "Bo", "x"]]
    segments, _ = run_extractor("csv", build_csv(rows, delimiter=delimiter))
    assert segments[0].text.split("\n")[0] == "id: 1; name: Ann; note: hi there"


def test_sniff_falls_back_to_comma():
    assert sniff_delimiter("singlecolumn\nvalue\n") == ","


def test_csv_blank_rows_split_groups_and_keep_record_numbers(run_extractor):
    data = b"a,b\n1,2\n\n3,4\n"
    segments, _ = run_extractor("csv", data)
    assert [(s.text, s.metadata["row_start"], s.metadata["row_end"]) for s in segments] == [
        ("a: 1; b: 2", 2, 2),
        ("a: 3; b: 4", 4, 4),
    ]


def test_csv_header_only_is_kept(run_extractor):
    segments, _ = run_extractor("csv", b"alpha,beta\n")
    assert segments[0].text == "alpha; beta"


def test_csv_max_rows(run_extractor):
    data = build_csv([["n"]] + [[str(i)] for i in range(50)])
    with pytest.raises(ProcessingError) as exc:
        run_extractor("csv", data, max_rows=10)
    assert exc.value.code == ErrorCode.TOO_LARGE
    segments, stats = run_extractor("csv", data, max_rows=10, truncate=True)
    assert segments[-1].metadata["row_end"] == 11 and stats.truncated


def test_csv_gigantic_field_is_too_large(run_extractor):
    data = b'a,b\n1,"' + b"x" * (11 * 1024 * 1024) + b'"\n'
    with pytest.raises(ProcessingError) as exc:
        run_extractor("csv", data)
    assert exc.value.code == ErrorCode.TOO_LARGE


def test_csv_gigantic_line_without_quotes_is_too_large(run_extractor):
    with pytest.raises(ProcessingError) as exc:
        run_extractor("csv", b"a,b\n" + b"y" * (11 * 1024 * 1024))
    assert exc.value.code == ErrorCode.TOO_LARGE


@pytest.mark.parametrize("data", [b"", b"   \r\n \n"])
def test_empty_csv_and_txt(run_extractor, data):
    for kind in ("csv", "txt"):
        with pytest.raises(ProcessingError) as exc:
            run_extractor(kind, data)
        assert exc.value.code == ErrorCode.EMPTY


def test_utf16_bom_txt(run_extractor):
    segments, stats = run_extractor("txt", build_utf16_bom_txt())
    assert segments[0].text == "Grüße aus Köln.\n\nZweiter Absatz: naïve café — 東京."
    assert "utf-16" in stats.engine


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16-le", "utf-16-be", "utf-32"])
def test_txt_encodings(run_extractor, encoding):
    text = "Hello wörld, ça va? " * 20
    segments, _ = run_extractor("txt", text.encode(encoding))
    assert segments[0].text == text.strip()


def test_invalid_bytes_never_raise(run_extractor):
    data = "Prix: 10 €, très cher\n".encode("cp1252") + bytes(range(0x80, 0x100)) + b"\nend\n"
    segments, _ = run_extractor("txt", data)
    assert "très cher" in segments[0].text and segments[0].text.endswith("end")


def test_txt_segments_split_at_blank_lines_and_nothing_lost(run_extractor):
    paragraphs = [f"Paragraph {i} " + ("lorem ipsum " * 30).strip() for i in range(100)]
    segments, stats = run_extractor("txt", "\n\n".join(paragraphs).encode())
    assert len(segments) > 5
    joined = "\n\n".join(s.text for s in segments)
    assert joined == "\n\n".join(paragraphs).strip()
    assert stats.unit_name == "lines"


def test_txt_long_line_without_newlines_keeps_words(run_extractor):
    words = [f"w{i}" for i in range(60_000)]
    segments, _ = run_extractor("txt", " ".join(words).encode())
    assert " ".join(s.text.strip() for s in segments).split() == words


def test_markdown_heading_paths(run_extractor):
    segments, _ = run_extractor("txt", build_markdown(), filename="guide.md")
    assert [s.metadata["heading_path"] for s in segments] == [
        ["Guide"],
        ["Guide", "Install"],
        ["Guide", "Usage"],
        ["Appendix"],
    ]
    assert "# not a heading, a shell comment" in segments[1].text
    assert all(s.boundary for s in segments)


def test_plain_txt_ignores_hash_lines(run_extractor):
    segments, _ = run_extractor("txt", build_markdown(), filename="notes.txt")
    assert len(segments) == 1 and segments[0].metadata == {}


def test_encoding_detection_order():
    assert detect_encoding("naïve".encode()) == "utf-8"
    assert detect_encoding("naïve".encode("utf-8-sig")) == "utf-8-sig"
    assert detect_encoding("plain text here".encode("utf-16-le")) == "utf-16-le"
    assert detect_encoding("Grüße aus Köln, schöne Straße".encode("latin-1"), complete=True) == "cp1252"
    cyrillic = "Привет, как дела? Это тестовый текст на русском языке.".encode("cp1251")
    assert detect_encoding(cyrillic, complete=True) == "cp1251"
    assert detect_encoding("abcé".encode()[:-1]) == "utf-8"  # cut mid-character in a sample
