"""Hostile documents through the API to a real worker: bombs, cycles and entity tricks end clearly, never kill it."""

from __future__ import annotations

import io
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from sources.models import Chunk, Source, source_upload_path
from sources.services import dispatch
from tests.fixtures import documents
from tests.fixtures.http_server import pdf_from_objects
from tests.sources.helpers_sources import upload, wait_for_source
from tests.worker import WorkerProcess

pytestmark = pytest.mark.reliability


def with_worker(test):
    """Integration: a real worker in another process reads what the test committed."""
    return pytest.mark.integration(pytest.mark.django_db(transaction=True)(test))

MB = 1024 * 1024
SECRET = "XXE-SECRET-7f3a9c-DO-NOT-LEAK"
# The extraction child is capped at EXTRACTION_MEMORY_LIMIT_MB; pool processes add their own baseline.
HEADROOM_MB = 300


# --- builders of hostile files -----------------------------------------------------------------




def write_flate_bomb_pdf(path: Path, inflated_bytes: int = 2200 * MB) -> Path:
    """A one-page PDF whose content stream inflates to ``inflated_bytes``, written by streaming.

    The compressed stream (~2 MB) goes to a side file first because its length must precede it.
    """
    compressed = path.with_suffix(".deflate")
    block = b" " * MB  # whitespace: a valid, empty content stream however far it is inflated
    deflater = zlib.compressobj(9)
    with open(compressed, "wb") as out:
        for _ in range(inflated_bytes // MB):
            out.write(deflater.compress(block))
        out.write(deflater.flush())
    length = compressed.stat().st_size
    with open(path, "wb") as out, open(compressed, "rb") as stream:
        offsets: list[int] = []
        out.write(b"%PDF-1.4\n")

        def obj(number: int, body: bytes) -> None:
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        obj(3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>")
        offsets.append(out.tell())
        out.write(b"4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % length)
        while chunk := stream.read(MB):
            out.write(chunk)
        out.write(b"\nendstream\nendobj\n")
        obj(5, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        xref = out.tell()
        out.write(b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets))
        out.write(b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    compressed.unlink()
    return path


def build_cyclic_page_tree_pdf() -> bytes:
    """The root /Pages lists a child /Pages node whose /Kids point back at the root (and itself)."""
    stream = b"BT /F1 18 Tf 72 720 Td (Cyclic page text) Tj ET"
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [6 0 R 3 0 R 6 0 R] /Count 2000 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 6 0 R] /Count 2000 >>",
    ])


_SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


def build_xlsx_parts(*, sheet_prolog: str = "", sheet_cell: str | None = None, strings_prolog: str = "",
                     second_string: str = "plain value") -> bytes:
    """A minimal hand-written workbook (one sheet, shared strings) so each XML part can carry a DTD."""
    content_types = (
        f'{_XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )
    rels = (f'{_XML_DECL}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    workbook = (f'{_XML_DECL}<workbook xmlns="{_SML}" xmlns:r="{_REL}"><sheets>'
                '<sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>')
    workbook_rels = (
        f'{_XML_DECL}<Relationships xmlns="{_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    )
    cell = (f'<c r="A2" t="inlineStr"><is><t>{sheet_cell}</t></is></c>' if sheet_cell is not None
            else '<c r="A2" t="s"><v>1</v></c>')
    sheet = (f'{_XML_DECL}{sheet_prolog}<worksheet xmlns="{_SML}"><sheetData>'
             f'<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2">{cell}</row></sheetData></worksheet>')
    strings = (f'{_XML_DECL}{strings_prolog}<sst xmlns="{_SML}" count="2" uniqueCount="2">'
               f'<si><t>Header</t></si><si><t>{second_string}</t></si></sst>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in [("[Content_Types].xml", content_types), ("_rels/.rels", rels),
                           ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", workbook_rels),
                           ("xl/worksheets/sheet1.xml", sheet), ("xl/sharedStrings.xml", strings)]:
            archive.writestr(name, text)
    return out.getvalue()


def _laughs_dtd(root: str, levels: int = 10) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)]
    return f"<!DOCTYPE {root} [{''.join(entities)}]>"


def _xxe_dtd(root: str, target: Path) -> str:
    return f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file://{target.resolve()}">]>'


def _entity_attack(kind: str, secret_file: Path) -> tuple[str, bytes]:
    builders = {
        "docx-billion-laughs": lambda: ("laughs.docx", documents.build_billion_laughs_docx()),
        "docx-xxe": lambda: ("xxe.docx", documents.build_xxe_docx(secret_file)),
        "xlsx-sheet-billion-laughs": lambda: ("laughs-sheet.xlsx", build_xlsx_parts(
            sheet_prolog=_laughs_dtd("worksheet"), sheet_cell="&lol9;")),
        "xlsx-strings-billion-laughs": lambda: ("laughs-strings.xlsx", build_xlsx_parts(
            strings_prolog=_laughs_dtd("sst"), second_string="&lol9;")),
        "xlsx-sheet-xxe": lambda: ("xxe-sheet.xlsx", build_xlsx_parts(
            sheet_prolog=_xxe_dtd("worksheet", secret_file), sheet_cell="before &xxe; after")),
        "xlsx-strings-xxe": lambda: ("xxe-strings.xlsx", build_xlsx_parts(
            strings_prolog=_xxe_dtd("sst", secret_file), second_string="before &xxe; after")),
    }
    return builders[kind]()


# --- memory sampling and helpers -------------------------------------------------------------------


@dataclass
class MemoryPeak:
    tree_bytes: int = 0  # pool children and the extraction grandchild, summed
    single_bytes: int = 0  # the largest one of them
    # The most any one process grew over its first sample: what a task made it allocate, without the
    # baseline every pool process carries (which grows with each imported library).
    growth_bytes: int = 0
    main_alive: bool = True

    @property
    def tree_mb(self) -> float:
        return self.tree_bytes / MB


class RssSampler:
    """Samples the worker's descendants every 0.1 s in a background thread."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker
        self.peak = MemoryPeak()
        self._stop = threading.Event()
        self._sampled = threading.Event()
        self._first_rss: dict[int, int] = {}
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        assert self.worker.proc is not None
        while not self._stop.is_set():
            total = 0
            for proc in self.worker.children():
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                self.peak.single_bytes = max(self.peak.single_bytes, rss)
                first = self._first_rss.setdefault(proc.pid, rss)
                self.peak.growth_bytes = max(self.peak.growth_bytes, rss - first)
            self.peak.tree_bytes = max(self.peak.tree_bytes, total)
            if self.worker.proc.poll() is not None:
                self.peak.main_alive = False
            self._sampled.set()
            self._stop.wait(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        self._sampled.wait(timeout=10)  # the baseline is taken before the caller starts any work
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _memory_bound_bytes() -> int:
    return (settings.EXTRACTION_MEMORY_LIMIT_MB + HEADROOM_MB) * MB


def _pool_pids(worker: WorkerProcess) -> set[int]:
    """The worker's direct children: the prefork pool (extraction children are grandchildren)."""
    assert worker.proc is not None
    return {child.pid for child in psutil.Process(worker.proc.pid).children(recursive=False)}


def _upload_one(api_client, chatbot, name: str, data: bytes) -> int:
    response = upload(api_client, chatbot.pk, (name, data))
    assert response.status_code == 202, response.data
    entry = response.data["sources"][0]
    assert entry["status"] == "pending", entry
    return entry["source_id"]


def _assert_failed_without_chunks(source: Source, code: str) -> None:
    assert (source.status, source.error_code) == ("failed", code), (source.error_code, source.error_message)
    assert source.error_message
    assert source.chunk_count == 0
    assert not Chunk.objects.filter(source=source).exists()


def _assert_next_upload_completes(api_client, chatbot, worker: WorkerProcess) -> None:
    assert worker.proc is not None and worker.proc.poll() is None, "the worker main process died"
    source_id = _upload_one(api_client, chatbot, "next.txt", b"After the hostile file, the queue moves on.")
    source = wait_for_source(source_id)
    assert source.status == "completed", (source.error_code, source.error_message)
    assert "queue moves on" in Chunk.objects.get(source=source).text


def _report(case: str, source: Source, seconds: float, peak: MemoryPeak | None = None) -> None:
    memory = f" peak tree RSS {peak.tree_mb:.0f} MB (largest {peak.single_bytes / MB:.0f} MB)" if peak else ""
    print(f"\n[hostile] {case}: {source.status}/{source.error_code or '-'} in {seconds:.1f}s{memory}")


@pytest.fixture(scope="module")
def flate_bomb_pdf(tmp_path_factory) -> Path:
    return write_flate_bomb_pdf(tmp_path_factory.mktemp("bomb") / "bomb.pdf")


# --- tests -------------------------------------------------------------------------------------------


@with_worker
def test_pdf_flate_bomb_ends_too_large_with_bounded_memory(api_client, chatbot, celery_worker, flate_bomb_pdf):
    data = flate_bomb_pdf.read_bytes()
    assert len(data) < 5 * MB  # small on disk, more than 2 GB once inflated
    pool_before = _pool_pids(celery_worker)

    with RssSampler(celery_worker) as sampler:
        started = time.monotonic()
        source = wait_for_source(_upload_one(api_client, chatbot, "bomb.pdf", data), timeout=120)
        elapsed = time.monotonic() - started

    _report("PDF Flate bomb (>2 GB)", source, elapsed, sampler.peak)
    _assert_failed_without_chunks(source, "too_large")
    assert "decompression bomb" in source.error_message
    assert sampler.peak.main_alive
    assert 0 < sampler.peak.tree_bytes < _memory_bound_bytes(), sampler.peak
    assert _pool_pids(celery_worker) == pool_before  # only the sandboxed extraction child died
    _assert_next_upload_completes(api_client, chatbot, celery_worker)


@with_worker
def test_pdf_with_cyclic_page_tree_fails_corrupt_quickly(api_client, chatbot, celery_worker):
    started = time.monotonic()
    source = wait_for_source(_upload_one(api_client, chatbot, "cycle.pdf", build_cyclic_page_tree_pdf()), timeout=60)
    elapsed = time.monotonic() - started

    _report("PDF cyclic page tree", source, elapsed)
    _assert_failed_without_chunks(source, "corrupt")
    assert elapsed < 30
    _assert_next_upload_completes(api_client, chatbot, celery_worker)


@with_worker
@pytest.mark.parametrize(("name", "build"), [
    ("bomb.docx", documents.build_zip_bomb_docx),
    ("bomb.xlsx", documents.build_zip_bomb_xlsx),
])
def test_office_zip_bombs_fail_too_large(api_client, chatbot, celery_worker, name, build):
    data = build(20)
    assert len(data) < MB  # 20 MB inside

    with RssSampler(celery_worker) as sampler:
        started = time.monotonic()
        source = wait_for_source(_upload_one(api_client, chatbot, name, data))
        elapsed = time.monotonic() - started

    _report(f"zip bomb {name}", source, elapsed, sampler.peak)
    _assert_failed_without_chunks(source, "too_large")
    assert "compressed" in source.error_message or "expands" in source.error_message
    assert sampler.peak.tree_bytes < _memory_bound_bytes()
    _assert_next_upload_completes(api_client, chatbot, celery_worker)


@with_worker
@pytest.mark.parametrize("attack", [
    "docx-billion-laughs", "docx-xxe",
    "xlsx-sheet-billion-laughs", "xlsx-strings-billion-laughs", "xlsx-sheet-xxe", "xlsx-strings-xxe",
])
def test_xml_entity_attacks_neither_expand_nor_leak(api_client, chatbot, celery_worker, tmp_path, attack):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    name, data = _entity_attack(attack, secret_file)

    with RssSampler(celery_worker) as sampler:
        started = time.monotonic()
        source = wait_for_source(_upload_one(api_client, chatbot, name, data))
        elapsed = time.monotonic() - started

    _report(f"entity attack {attack}", source, elapsed, sampler.peak)
    assert source.status in ("failed", "completed")
    if source.status == "failed":
        _assert_failed_without_chunks(source, "corrupt")
    texts = list(Chunk.objects.filter(source=source).values_list("text", flat=True))
    assert not any(SECRET in text for text in texts)
    assert not any("lollollol" in text for text in texts)
    assert SECRET not in source.error_message
    assert sampler.peak.tree_bytes < _memory_bound_bytes()
    _assert_next_upload_completes(api_client, chatbot, celery_worker)


@pytest.mark.django_db
def test_ole_compound_file_named_xlsx_is_refused_at_upload_as_encrypted(api_client, chatbot):
    folder = Path(settings.MEDIA_ROOT) / "sources" / str(chatbot.pk)
    before = set(folder.glob("*"))  # ids repeat across tests; earlier tests' files may be there
    response = upload(api_client, chatbot.pk, ("budget.xlsx", documents.build_cfb_file()))

    assert response.status_code == 415
    entry = response.data["sources"][0]
    assert (entry["status"], entry["error_code"], entry["source_id"]) == ("refused", "encrypted", None)
    assert "password" in entry["detail"].lower()
    assert not Source.objects.exists()
    assert set(folder.glob("*")) == before


@pytest.mark.django_db
def test_empty_file_is_refused_at_upload_as_empty(api_client, chatbot):
    response = upload(api_client, chatbot.pk, ("empty.pdf", b""), ("empty.txt", b""))

    assert response.status_code == 400
    entries = response.data["sources"]
    assert [(e["status"], e["error_code"]) for e in entries] == [("refused", "empty")] * 2
    assert all("empty" in e["detail"].lower() for e in entries)
    assert not Source.objects.exists()


def _stream_single_line_csv(size: int) -> Iterator[bytes]:
    block = b"x" * MB
    for _ in range(size // MB):
        yield block


@with_worker
def test_huge_single_line_csv_fails_too_large_with_bounded_memory(api_client, chatbot, celery_worker):
    size = 200 * MB
    # Written straight into storage, as the upload service would leave it: a 200 MB upload
    # through the test client would sit in this process's memory.
    source = Source(chatbot=chatbot, kind=Source.Kind.FILE, name="one-line.csv", original_filename="one-line.csv",
                    file_kind="csv", content_type="text/csv", size_bytes=size)
    dispatch.prepare_run(source)
    stored = source_upload_path(source, "one-line.csv")
    path = Path(default_storage.path(stored))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for block in _stream_single_line_csv(size):
            out.write(block)
    source.file.name = stored
    source.save()

    with RssSampler(celery_worker) as sampler:
        started = time.monotonic()
        dispatch.publish(source)
        source = wait_for_source(source.pk, timeout=120)
        elapsed = time.monotonic() - started

    _report("200 MB single-line CSV", source, elapsed, sampler.peak)
    _assert_failed_without_chunks(source, "too_large")
    assert "too long" in source.error_message
    assert sampler.peak.main_alive
    # The extractor reads a capped line (10 M characters), nowhere near the 200 MB file.
    assert sampler.peak.single_bytes < 400 * MB, sampler.peak
    assert sampler.peak.tree_bytes < _memory_bound_bytes()
    _assert_next_upload_completes(api_client, chatbot, celery_worker)
