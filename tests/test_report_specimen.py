"""Specimen details from the stick (specimen.txt), kept in the store, printed in the PDF with a
sign-off block, tile maps and cases in natural order — what a lab files a result under."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from appliance.ingest.listing import ROOT_CASE, list_volume
from appliance.ingest.sidecar import MAX_BYTES, MAX_VALUE, listing_case_details, read_case_details
from appliance.report import write_scan_report
from appliance.store import Store
from appliance.store.cases import (
    FOLDER,
    SIDECAR,
    SIDECAR_NAME,
    CaseDetails,
    case_details,
    record_cases,
)
from appliance.values import TileMap
from tests.conftest import DEMO_STICK, start_test_scan

pypdf = pytest.importorskip("pypdf")

GOOD = (
    "\ufeff# exported from the LIS\n"
    "Accession: S24-01234\n"
    "specimen id: S24-01234-A\n"
    "TYPE: core needle biopsy\n"
    "Body_Site: left breast\n"
    "Collected: 2024-05-01\n"
    "Note: three cores\n"
)


def _case(tmp_path: Path, name: str, content: bytes | str | None) -> Path:
    folder = tmp_path / "stick" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.png").write_bytes(b"")
    if content is not None:
        data = content.encode() if isinstance(content, str) else content
        (folder / SIDECAR_NAME).write_bytes(data)
    return tmp_path / "stick"


def test_a_sidecar_gives_the_case_its_fields(tmp_path: Path) -> None:
    stick = _case(tmp_path, "patient-1", GOOD)
    details = read_case_details(stick, "patient-1")
    assert details == CaseDetails(
        case="patient-1",
        accession="S24-01234",
        specimen="S24-01234-A",
        specimen_type="core needle biopsy",
        body_site="left breast",
        collected="2024-05-01",
        note="three cores",
        source=SIDECAR,
    )
    assert details.fields()[0] == ("Accession", "S24-01234")


def test_without_a_sidecar_only_the_folder_is_known(tmp_path: Path) -> None:
    stick = _case(tmp_path, "patient-2", None)
    details = read_case_details(stick, "patient-2")
    assert details == CaseDetails(case="patient-2", source=FOLDER)
    assert details.specimen_label == "patient-2" and details.fields() == []


def test_hostile_text_is_shown_safely_and_unknown_lines_are_said(tmp_path: Path) -> None:
    content = (
        b"Accession: A\x1b[31mB\n"
        b"Specimen: caf\xe9\xff\n"
        b"Colour: pink\n"
        b"free text without a colon\n"
        b"Accession: second\n"
        b"Note: " + b"x" * 900 + b"\n"
        b"Site: \xe2\x80\xaeevil\n"
    )
    details = read_case_details(_case(tmp_path, "c", content), "c")
    assert details.accession == "A\\x1b[31mB"  # visible escape, no terminal control
    assert details.specimen == "caf\ufffd\ufffd"  # bytes that are not UTF-8
    assert details.body_site == "\\u202eevil"  # no right-to-left override
    assert details.note is not None and len(details.note) <= 500 and "…" in details.note
    problems = " | ".join(details.problems)
    assert "('Colour') is not a known field" in problems and "free text" in problems
    assert "accession is given twice" in problems


def test_a_long_value_is_shortened(tmp_path: Path) -> None:
    details = read_case_details(_case(tmp_path, "c", "Specimen: " + "s" * 1000), "c")
    assert details.specimen is not None and len(details.specimen) == MAX_VALUE


def test_files_that_are_not_a_small_regular_file_are_not_read(tmp_path: Path) -> None:
    stick = _case(tmp_path, "big", "Accession: " + "a" * (MAX_BYTES + 10))
    assert "more than" in read_case_details(stick, "big").problems[0]
    outside = tmp_path / "outside.txt"
    outside.write_text("Accession: from outside the stick")
    linked = _case(tmp_path, "linked", None) / "linked" / SIDECAR_NAME
    linked.symlink_to(outside)
    details = read_case_details(stick, "linked")
    assert details.source == FOLDER and details.accession is None and "link" in details.problems[0]
    fifo = _case(tmp_path, "fifo", None) / "fifo" / SIDECAR_NAME
    os.mkfifo(fifo)  # would block a plain open() forever
    assert "not a regular file" in read_case_details(stick, "fifo").problems[0]
    (_case(tmp_path, "folder", None) / "folder" / SIDECAR_NAME).mkdir()
    assert read_case_details(stick, "folder").source == FOLDER


def test_every_case_of_a_listing_in_natural_order_including_the_top_folder(tmp_path: Path) -> None:
    stick = _case(tmp_path, "patient-10262", GOOD)
    _case(tmp_path, "patient-9036", None)
    (stick / "top.png").write_bytes(b"")
    (stick / SIDECAR_NAME).write_text("Accession: TOP-1\n")
    details = listing_case_details(list_volume(stick))
    assert [d.case for d in details] == [ROOT_CASE, "patient-9036", "patient-10262"]
    assert details[0].accession == "TOP-1" and details[2].accession == "S24-01234"


def test_details_are_stored_per_scan_and_append_only(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with Store.open(db) as store:
        scan_id = start_test_scan(store)
        record_cases(store, scan_id, [CaseDetails(case="c1", accession="A1", source=SIDECAR,
                                                  problems=("line 3 unknown",))])  # fmt: skip
        assert case_details(store, scan_id)["c1"].problems == ("line 3 unknown",)
        assert case_details(store, scan_id + 1) == {}
        # Two folders that differ only in bytes that are not UTF-8 show alike: one case.
        alike = [b"caf\xe9", b"caf\xff"]
        names = [name.decode("utf-8", "surrogateescape") for name in alike]
        other = start_test_scan(store)
        record_cases(
            store, other, [CaseDetails(case=n, accession=f"A{i}") for i, n in enumerate(names)]
        )
        assert {k: d.accession for k, d in case_details(store, other).items()} == {
            "caf\ufffd": "A0"
        }
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE case_details SET accession = 'forged'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM case_details")
    conn.close()


def test_a_scan_records_the_sidecar_of_each_case(tmp_path: Path, shipped_model: Path) -> None:
    from appliance.inference.bundle import ModelBundle
    from appliance.inference.classifier import Classifier
    from appliance.pipeline import Analyzer

    stick = tmp_path / "stick"
    shutil.copytree(DEMO_STICK / "patient-9036", stick / "patient-9036")
    (stick / "patient-9036" / SIDECAR_NAME).write_text(GOOD)
    shutil.copytree(DEMO_STICK / "damaged-example", stick / "damaged-example")
    with Store.open(tmp_path / "a.db") as store:
        summary = Analyzer(Classifier(ModelBundle.load(shipped_model)), store, "pi").scan(stick)
        details = case_details(store, summary.scan_id)
    assert details["patient-9036"].accession == "S24-01234"
    assert details["damaged-example"].source == FOLDER
    assert all(not o.path.endswith(".txt") for o in summary.outcomes)  # not an image row


def _text(pdf: Path) -> str:
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages))


def test_the_pdf_files_results_under_the_specimen_and_has_a_sign_off(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a.db") as store:
        scan_id = start_test_scan(
            store,
            thresholds={"benign_below": 0.0588, "malignant_at": 0.5794, "operating_point": 0.2},
        )
        for case in ("patient-10262", "patient-9036", "patient-9077"):
            for name in ("img10.png", "img9.png"):
                store.record_image(
                    scan_id, path=f"{case}/{name}", case=case, sha256=None, size_bytes=1,
                    width=10, height=10, status="ok", decision="benign", p_malignant=0.01,
                    error=None, tiles=None, thumbnail=None, elapsed_ms=1.0,
                )  # fmt: skip
        tiles = TileMap(
            tile_size=50, stride=50, image_width=200, image_height=100,
            origins=((0, 0), (50, 0), (100, 50)), probabilities=(0.9, 0.3, 0.01),
            skipped_background=5, out_of_scope=((150, 50),),
        )  # fmt: skip
        store.record_image(
            scan_id, path="slide-1/region.png", case="slide-1", sha256=None, size_bytes=1,
            width=200, height=100, status="ok", decision="malignant", p_malignant=0.9,
            error=None, tiles=tiles.to_dict(), thumbnail=None, elapsed_ms=1.0,
        )  # fmt: skip
        record_cases(store, scan_id, [
            CaseDetails(case="patient-9036", accession="S24-01234", specimen="S24-01234-A",
                        body_site="left breast", source=SIDECAR, problems=("line 7 unknown",)),
        ])  # fmt: skip
        store.finish_scan(scan_id, "complete")
        text = _text(write_scan_report(store, scan_id, tmp_path / "r.pdf", device="pi"))
    # Natural order, in the summary and in the case sections: 9036, 9077, 10262; img9, img10.
    summary = text[text.index("Summary per case") :]
    assert (
        summary.index("patient-9036")
        < summary.index("patient-9077")
        < summary.index("patient-10262")
    )
    section = text[text.index("Case: patient-9036") :]
    assert section.index("patient-9036/img9.png") < section.index("patient-9036/img10.png")
    assert "Accession: S24-01234" in section and "Body site: left breast" in section
    assert "line 7 unknown" in section
    assert "no specimen.txt in the case folder" in text[text.index("Case: patient-10262") :]
    # The tile map of the tiled image, its legend at the card's precision, with counts.
    assert "Tile map" in text and "Malignant: p ≥ 0.5794 — 1 tiles" in text
    assert "Benign: p < 0.0588 — 1 tiles" in text and "Outside the model's scope" in text
    # The sign-off block, last.
    signoff = text[text.rindex("Sign-off") :]
    for words in ("Results read by (name)", "Role", "Date", "Signature", "none — no image"):
        assert words in signoff
