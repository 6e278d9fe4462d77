"""Whatever names a stick holds, the PDF step finishes: long paths, unbroken names, bytes that are
not UTF-8, control and bidi characters. The records are built directly (not through the store),
so this tests the report alone, whatever the store does with such names."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

pypdf = pytest.importorskip("pypdf")

from appliance.report import RESEARCH_ONLY, write_scan_report  # noqa: E402
from appliance.store import ImageRecord, ReviewRecord, ScanRecord  # noqa: E402
from appliance.values import ScanRules, Thresholds  # noqa: E402

NON_UTF8 = b"caf\xe9/\xff\xfe-scan.png".decode("utf-8", "surrogateescape")
LONG_FOLDER = "/".join(["d" * 60] * 68)  # about 4 KB of folders
UNBROKEN = "x" * 300 + ".png"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 160)).save(out, "JPEG")
    return out.getvalue()


def _image(number: int, path: str, case: str, *, error: str | None = None) -> ImageRecord:
    return ImageRecord(
        id=number,
        scan_id=1,
        path=path,
        case=case,
        sha256=None,
        size_bytes=100,
        width=40,
        height=30,
        status="error" if error else "ok",
        decision=None if error else "malignant",
        p_malignant=None if error else 0.9,
        error=error,
        tiles=None,
        thumbnail=_jpeg(),
        elapsed_ms=1.0,
        reused_from=None,
        created_at="2026-12-02T01:00:00+00:00",
    )


@dataclass
class FakeStore:
    """What the report reads from a store, with records given as they are."""

    scan_record: ScanRecord
    records: list[ImageRecord]
    reviews: dict[int, ReviewRecord] = field(default_factory=dict)
    audited: list[str] = field(default_factory=list)

    def scan(self, scan_id: int) -> ScanRecord:
        return self.scan_record

    def images(self, scan_id: int) -> list[ImageRecord]:
        return self.records

    def latest_reviews(self, scan_id: int) -> dict[int, ReviewRecord]:
        return self.reviews

    def audit(self, action: str, **details: object) -> None:
        self.audited.append(action)

    def _rows(self, sql: str, params: tuple) -> list[dict]:
        return []  # no case details recorded (appliance.store.cases reads through this)


def _scan(label: str, volume_path: str, message: str | None = None) -> ScanRecord:
    return ScanRecord(
        id=1,
        started_at="2026-12-02T01:00:00+00:00",
        finished_at="2026-12-02T01:01:00+00:00",
        status="failed" if message else "complete",
        message=message,
        source="usb",
        volume_label=label,
        volume_path=volume_path,
        device="pi-lab-1",
        model_name="m",
        model_version="1",
        model_sha256="0" * 64,
        backend="litert",
        rules=ScanRules(Thresholds(operating_point=0.5, benign_below=0.3, malignant_at=0.7)),
    )


def _review(image_id: int, note: str, reviewer: str) -> ReviewRecord:
    return ReviewRecord(
        id=1,
        image_id=image_id,
        reviewer=reviewer,
        agreed=False,
        corrected_decision="benign",
        note=note,
        created_at="2026-12-02T01:02:00+00:00",
    )


def _text(pdf: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)


def test_a_four_kilobyte_path_and_case_still_make_a_report(tmp_path: Path) -> None:
    long_path = f"{LONG_FOLDER}/slide-0001.png"
    assert len(long_path) > 4000
    store = FakeStore(
        _scan(LONG_FOLDER[:2000], "/media/" + LONG_FOLDER, message="error in " + LONG_FOLDER),
        [
            _image(1, long_path, LONG_FOLDER),
            _image(2, f"{LONG_FOLDER}/b.png", LONG_FOLDER, error="not read: " + long_path),
        ],
        {1: _review(1, ("a long note " * 400).strip(), "r" * 500)},
    )
    pdf = write_scan_report(store, 1, tmp_path / "long.pdf", device="pi-lab-1")  # type: ignore[arg-type]
    words = _text(pdf)
    assert RESEARCH_ONLY in words
    assert "slide-0001.png" in words  # the end of a shortened path (the file name) is kept
    assert "…" in words
    assert store.audited == ["report_written"]


def test_an_unbroken_300_character_name_wraps_in_its_cell(tmp_path: Path) -> None:
    store = FakeStore(_scan("STICK", "/media/STICK"), [_image(1, f"c/{UNBROKEN}", "c" * 300)])
    pdf = write_scan_report(store, 1, tmp_path / "unbroken.pdf", device="pi")  # type: ignore[arg-type]
    assert "x" * 20 in _text(pdf)


def test_names_that_are_not_utf8_or_hold_control_characters_are_shown_escaped(
    tmp_path: Path,
) -> None:
    hostile = [
        NON_UTF8,
        "case/evil\u202egnp.exe",
        "case/two\nlines\r\x1b[31m.png",
        "case/\x00nul\x7f.png",
    ]
    store = FakeStore(
        _scan(b"ST\xffICK".decode("utf-8", "surrogateescape"), "/media/\udcff\n"),
        [_image(n, path, path.rsplit("/", 1)[0]) for n, path in enumerate(hostile, start=1)],
        {1: _review(1, "line one\nline two\u202e", "Dr \udce9")},
    )
    pdf = write_scan_report(store, 1, tmp_path / "hostile.pdf", device="pi")  # type: ignore[arg-type]
    words = _text(pdf)
    assert "caf\ufffd" in words
    assert "\\u202e" in words
    assert "\\x1b" in words
    assert "\\n" in words
    assert "\u202e" not in words and "\x1b" not in words


def test_a_layout_failure_is_a_report_error_and_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reportlab.platypus.doctemplate import LayoutError

    from appliance.report import ReportError
    from appliance.report import pdf as pdf_module

    def broken(*args: object, **kwargs: object) -> None:
        raise LayoutError("too tall")

    monkeypatch.setattr(pdf_module.SimpleDocTemplate, "build", broken)
    store = FakeStore(_scan("STICK", "/media/STICK"), [_image(1, "a.png", "(root)")])
    with pytest.raises(ReportError, match=r"laid out \(LayoutError\)\. The results are kept"):
        write_scan_report(store, 1, tmp_path / "r.pdf", device="pi")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
