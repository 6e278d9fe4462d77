"""The PDF report, read back with pypdf: what a person holding any single page can see."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

pypdf = pytest.importorskip("pypdf")

from appliance.decision import Decision, case_verdict  # noqa: E402
from appliance.report import RESEARCH_ONLY, ReportError, write_scan_report  # noqa: E402
from appliance.report.pdf import fonts  # noqa: E402
from appliance.store import NotFound, Store  # noqa: E402
from appliance.values import TileMap  # noqa: E402
from tests.conftest import start_test_scan  # noqa: E402

MODEL_SHA = "3f2a9c0d5b7e41a8" + "9" * 48
MARKUP_NAME = "case1/<b>x</b>&<font>.png"


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=80)
    return out.getvalue()


def new_scan(store: Store, *, label: str = "LAB_STICK") -> int:
    return store.start_scan(
        source="usb",
        volume_label=label,
        volume_path=f"/media/{label}",
        device="pi-lab-1",
        model_name="breakhis-mobilenet",
        model_version="1.2.0",
        model_sha256=MODEL_SHA,
        backend="ai_edge_litert",
        thresholds={"benign_below": 0.3, "malignant_at": 0.7, "operating_point": 0.5},
    )


def ok(store: Store, scan_id: int, path: str, case: str, decision: str, p: float, **kw) -> int:
    return store.record_image(
        scan_id,
        path=path,
        case=case,
        sha256=None,
        size_bytes=2048,
        width=96,
        height=64,
        status="ok",
        decision=decision,
        p_malignant=p,
        error=None,
        tiles=kw.get("tiles"),
        # A colour of its own per file: reportlab stores identical images once.
        thumbnail=kw.get("thumbnail", jpeg((len(path) * 7 % 256, 90, sum(map(ord, path)) % 256))),
        elapsed_ms=40.0,
    )


def pages_text(pdf: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(pdf).pages]


def flat(text: str) -> str:
    """Undo the line wrapping of table cells so sentences can be found whole."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture()
def store(tmp_path: Path):
    with Store.open(tmp_path / "appliance.sqlite") as opened:
        yield opened


def test_report_carries_everything_a_reader_needs(store: Store, tmp_path: Path) -> None:
    scan_id = new_scan(store)
    ok(store, scan_id, "case1/a.png", "case1", "benign", 0.05)
    marked = ok(
        store,
        scan_id,
        MARKUP_NAME,
        "case1",
        "malignant",
        0.873,
        tiles=TileMap(
            tile_size=224,
            stride=224,
            image_width=672,
            image_height=448,
            origins=((0, 0), (224, 0), (0, 224)),
            probabilities=(0.9, 0.75, 0.1),
            skipped_background=3,
        ).to_dict(),
    )
    ok(store, scan_id, "case2/c.png", "case2", "indeterminate", 0.5)
    ok(store, scan_id, "case2/no-thumb.png", "case2", "benign", 0.2, thumbnail=None)
    store.record_image(
        scan_id, path="case2/broken.tif", case="case2", sha256=None, size_bytes=10, width=None,
        height=None, status="error", decision=None, p_malignant=None,
        error="The file is not a readable image.", tiles=None, thumbnail=None, elapsed_ms=1.0,
    )  # fmt: skip
    store.add_review(
        marked,
        reviewer="Dr <Ada> Lovelace",
        agreed=False,
        corrected_decision="indeterminate",
        note="Needs <deeper> look & recut",
    )
    store.finish_scan(scan_id, "interrupted", "The stick was removed.")

    out = write_scan_report(store, scan_id, tmp_path / "out" / "scan.pdf", device="pi-lab-1")
    assert out == tmp_path / "out" / "scan.pdf" and out.read_bytes().startswith(b"%PDF")
    assert not out.with_name("scan.pdf.part").exists()

    texts = pages_text(out)
    total = len(texts)
    for number, page in enumerate(texts, start=1):
        assert RESEARCH_ONLY in page  # with its em dash, extracted as "—"
        assert MODEL_SHA[:16] in page
        assert f"Page {number} of {total}" in page
        assert "pi-lab-1" in page
    whole = flat("\n".join(texts))
    first = flat(texts[0])
    assert MODEL_SHA in first and "breakhis-mobilenet version 1.2.0" in first
    assert "LAB_STICK" in first and "ai_edge_litert" in first
    assert "INTERRUPTED" in first and "The stick was removed." in first
    assert "benign below 0.30, malignant from 0.70" in first  # the card's precision

    # The case summary says the same as the decision rules do for these rows.
    images = store.images(scan_id)
    for case in ("case1", "case2"):
        rows = [(i.path, i.effective_decision, i.p_malignant) for i in images if i.case == case]
        verdict = case_verdict(case, rows)
        assert flat(verdict.explanation()) in first
    assert "Malignant because of " + MARKUP_NAME in first

    # Stick and reviewer text is printed literally, never read as markup.
    assert MARKUP_NAME in whole
    assert "Dr <Ada> Lovelace" in whole and "Needs <deeper> look & recut" in whole
    assert "overridden to " + Decision.INDETERMINATE.wording in whole
    # The AI result stays visible beside the review, at the card's precision (0.3 / 0.7: two).
    assert "p(malignant) = 0.87" in whole
    assert "tiles: 3 (2 " in whole and "threshold 0.70" in whole
    assert "3 background tiles skipped" in whole
    assert "The file is not a readable image." in whole
    assert "no image" in whole
    # Real thumbnails are embedded, one per image that has one, and the tiled image's map with
    # its legend's three swatches (malignant, indeterminate, benign).
    embedded = sum(len(page.images) for page in pypdf.PdfReader(out).pages)
    assert embedded == sum(1 for i in images if i.thumbnail) + 1 + 3
    assert "Tile map" in whole and "Malignant: p ≥ 0.70 — 2 tiles" in whole
    assert any(e.event == "report_written" for e in store.audit_log())


def test_unicode_file_names_are_printed(store: Store, tmp_path: Path) -> None:
    if not fonts().unicode:
        pytest.skip("no Unicode TrueType font available; Helvetica covers WinAnsi only")
    scan_id = new_scan(store)
    ok(store, scan_id, "φ-case/μ-biopsy 1.png", "φ-case", "benign", 0.1)
    store.finish_scan(scan_id, "complete")
    whole = "\n".join(pages_text(write_scan_report(store, scan_id, tmp_path / "u.pdf", device="d")))
    assert "φ-case/μ-biopsy 1.png" in whole and "INTERRUPTED" not in whole


def test_long_scan_runs_over_pages_and_every_page_says_research_only(
    store: Store, tmp_path: Path
) -> None:
    scan_id = new_scan(store, label="BIG")
    thumb = jpeg((120, 60, 140), size=(128, 128))
    for k in range(60):
        decision, p = ("malignant", 0.9) if k % 7 == 0 else ("benign", 0.1)
        ok(store, scan_id, f"case{k // 20}/img_{k:03}.png", f"case{k // 20}", decision, p,
           thumbnail=thumb)  # fmt: skip
    store.finish_scan(scan_id, "complete")
    texts = pages_text(write_scan_report(store, scan_id, tmp_path / "big.pdf", device="pi-2"))
    assert len(texts) >= 3
    for number, page in enumerate(texts, start=1):
        assert RESEARCH_ONLY in page and MODEL_SHA[:16] in page
        assert f"Page {number} of {len(texts)}" in page
    whole = "\n".join(texts)
    assert all(f"img_{k:03}.png" in whole for k in range(60))
    assert "Human review" in texts[-1]  # the table heading repeats on continued pages


def test_missing_scan_and_unwritable_destination(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        write_scan_report(store, 42, tmp_path / "x.pdf", device="d")
    scan_id = new_scan(store)
    store.finish_scan(scan_id, "complete")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match="Could not write the report"):
        write_scan_report(store, scan_id, blocker / "r.pdf", device="d")
    # An empty scan still gets a report that says so.
    whole = "\n".join(pages_text(write_scan_report(store, scan_id, tmp_path / "e.pdf", device="d")))
    assert "No images were recorded in this scan." in whole


def test_report_says_when_the_clock_was_wrong_or_the_pi_throttled(
    store: Store, tmp_path: Path
) -> None:
    scan_id = start_test_scan(
        store,
        model_sha256=MODEL_SHA,
        clock_believable=False,
        throttled_at_start=0,
        clock_note="clock reads 2020-01-01 10:00 UTC, EARLIER than 2026-11-30 12:00 UTC",
    )
    ok(store, scan_id, "case1/a.png", "case1", "benign", 0.05)
    store.finish_scan(scan_id, "complete", throttled_at_end=0x50000, throttled_during=0x5)
    first = flat(pages_text(write_scan_report(store, scan_id, tmp_path / "r.pdf", device="d"))[0])
    assert "CLOCK NOT BELIEVABLE" in first and "may be wrong" in first
    assert "Clock at scan start NOT believable — clock reads 2020-01-01 10:00 UTC" in first
    assert "RAN THROTTLED" in first and "under-voltage, throttled" in first
    assert "firmware flags at start 0x0, at end 0x50000" in first
    assert "5.1 V" in first


def test_report_of_a_plain_scan_has_no_condition_warnings(store: Store, tmp_path: Path) -> None:
    old = new_scan(store)  # as recorded before the conditions were kept
    ok(store, old, "case1/a.png", "case1", "benign", 0.05)
    store.finish_scan(old, "complete")
    first = flat(pages_text(write_scan_report(store, old, tmp_path / "o.pdf", device="d"))[0])
    assert "CLOCK NOT BELIEVABLE" not in first and "RAN THROTTLED" not in first
    assert "Clock at scan start not recorded" in first
    assert "Pi health during scan not recorded" in first
