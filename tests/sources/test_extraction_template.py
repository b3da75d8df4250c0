"""The warm extraction template: chunks identical to in-parent chunking, one fresh child per document,
a template without secrets or connections, and children that are killed and reaped like cold ones."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from botsmith.errors import ErrorCode, ProcessingError
from sources.chunking import chunk_segments
from sources.cleaning import clean_segments
from sources.extractors.base import Segment
from sources.services import warm_template
from sources.services.extraction import ChunkBatch, ExtractionProcess, StatsUpdate
from sources.services.ingestion import extraction_limits, sandbox_limits
from tests.fixtures import documents, office

DOCUMENTS = {
    "report.pdf": ("pdf", lambda: documents.build_pdf([f"Page {i} says " + "words " * 300 for i in range(1, 8)])),
    "handbook.docx": ("docx", documents.build_docx),
    "long.docx": ("docx", lambda: documents.build_docx_many_paragraphs(600, words=30)),
    "people.xlsx": ("xlsx", documents.build_xlsx),
    "rows.xlsx": ("xlsx", lambda: documents.build_xlsx_rows(3000)),
    "latin1.csv": ("csv", documents.build_csv_latin1_semicolon_multiline),
    "greeting.txt": ("txt", documents.build_utf16_bom_txt),
    "guide.md": ("txt", documents.build_markdown),
    "deck.pptx": ("pptx", office.build_pptx),
    "staff.ods": ("ods", office.build_ods),
}


def _process(path: Path, kind: str, **options) -> ExtractionProcess:
    return ExtractionProcess(kind=kind, path=str(path), filename=path.name, limits=extraction_limits(),
                             sandbox=sandbox_limits(), **options)


def _in_parent_chunks(path: Path, kind: str, size: int, overlap: int) -> list[tuple[str, dict]]:
    """The pipeline before the template: a fresh interpreter ships segments, we clean and chunk here."""
    with _process(path, kind, warm=False) as proc:
        segments = [item for item in proc if isinstance(item, Segment)]
    return [(d.text, d.metadata) for d in chunk_segments(clean_segments(segments), size, overlap)]


def _child_chunks(path: Path, kind: str, size: int, overlap: int) -> list[tuple[str, dict]]:
    with _process(path, kind, chunking=(size, overlap)) as proc:
        return [(d.text, d.metadata) for item in proc if isinstance(item, ChunkBatch) for d in item.drafts]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
@pytest.mark.parametrize(("size", "overlap"), [(1000, 150), (200, 40)])
def test_child_chunks_equal_in_parent_chunks(tmp_path, name, size, overlap):
    kind, build = DOCUMENTS[name]
    path = documents.write_file(tmp_path, name, build())

    expected = _in_parent_chunks(path, kind, size, overlap)
    got = _child_chunks(path, kind, size, overlap)

    assert expected, f"{name} produced no chunks"
    assert got == expected  # same texts, same order (ordinals), same metadata


def _template_pid() -> int:
    template = warm_template._template
    assert template is not None and template.alive()
    return template.proc.pid


def test_each_document_gets_a_fresh_child_of_one_template(tmp_path):
    path = documents.write_file(tmp_path, "rows.xlsx", documents.build_xlsx_rows(500))
    pids, templates = [], []
    for _ in range(3):
        with _process(path, "xlsx", chunking=(1000, 150)) as proc:
            chunks = sum(len(item.drafts) for item in proc if isinstance(item, ChunkBatch))
        assert chunks > 0 and proc.stats.units_done == 500
        pids.append(proc.pid)
        templates.append(_template_pid())
        assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).ppid() != templates[-1]
    assert len(set(pids)) == 3 and len(set(templates)) == 1
    assert templates[0] not in pids


def test_template_holds_no_secrets_and_no_connections(tmp_path, monkeypatch):
    monkeypatch.setenv("BOTSMITH_TEST_API_TOKEN", "do-not-leak")
    warm_template.discard()  # start one with the variable set
    path = documents.write_file(tmp_path, "greeting.txt", documents.build_utf16_bom_txt())
    with _process(path, "txt") as proc:
        list(proc)
    template = psutil.Process(_template_pid())

    environ = template.environ()
    assert environ, "could not read the template's environment"
    for name in ("SECRET_KEY", "DATABASE_URL", "BOTSMITH_TEST_API_TOKEN"):
        assert name not in environ
    assert os.environ["SECRET_KEY"] and "PATH" in environ
    assert template.net_connections(kind="inet") == []
    # stdin, stdout, stderr and its socket to us: no database file, no inherited descriptors.
    assert len(os.listdir(f"/proc/{template.pid}/fd")) == 4
    assert not any(settings.DATABASES["default"]["NAME"] == f.path for f in template.open_files())


def test_killed_child_is_reaped_and_the_template_serves_the_next_document(tmp_path):
    rows = [[f"row {i}", "x" * 200] for i in range(60_000)]
    big = documents.write_file(tmp_path, "big.csv", documents.build_csv(rows))
    with _process(big, "csv", chunking=(1000, 150)) as proc:
        first = next(iter(proc))
        assert isinstance(first, ChunkBatch | StatsUpdate)
        child = psutil.Process(proc.pid)
        assert child.ppid() == _template_pid()
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        assert f"{settings.EXTRACTION_MEMORY_LIMIT_MB * 1024 * 1024}" in limits  # the child keeps its rlimits
    assert not psutil.pid_exists(child.pid)  # killed and reaped, not a zombie
    small = documents.write_file(tmp_path, "greeting.txt", documents.build_utf16_bom_txt())
    with _process(small, "txt", chunking=(1000, 150)) as proc:
        texts = [d.text for item in proc if isinstance(item, ChunkBatch) for d in item.drafts]
    assert texts and "Grüße aus Köln." in texts[0]


def test_a_dead_template_is_replaced(tmp_path):
    path = documents.write_file(tmp_path, "greeting.txt", documents.build_utf16_bom_txt())
    with _process(path, "txt") as proc:
        list(proc)
    old = psutil.Process(_template_pid())
    old.kill()
    old.wait(timeout=10)
    with _process(path, "txt") as proc:
        segments = [item for item in proc if isinstance(item, Segment)]
    assert segments and _template_pid() != old.pid


def test_child_errors_keep_their_codes(tmp_path):
    path = documents.write_file(tmp_path, "broken.pdf", documents.build_corrupt_pdf())
    with pytest.raises(ProcessingError) as raised, _process(path, "pdf", chunking=(1000, 150)) as proc:
        list(proc)
    assert raised.value.code == ErrorCode.CORRUPT


def test_a_second_extraction_in_the_same_process_runs_cold_instead_of_waiting(tmp_path):
    path = documents.write_file(tmp_path, "greeting.txt", documents.build_utf16_bom_txt())
    with _process(path, "txt", chunking=(1000, 150)) as outer, _process(path, "txt", chunking=(1000, 150)) as inner:
        inner_chunks = [d.text for item in inner if isinstance(item, ChunkBatch) for d in item.drafts]
        outer_chunks = [d.text for item in outer if isinstance(item, ChunkBatch) for d in item.drafts]
    assert inner._popen is not None and outer._popen is None  # the nested one did not deadlock on the template
    assert inner_chunks == outer_chunks and inner_chunks
