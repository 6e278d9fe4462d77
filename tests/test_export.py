"""Exports leave in the lab's formats and come back unchanged: CSV and JSON read back and compared
with the store, FHIR validated against the published R4 models (fhir.resources' R4B package:
its Bundle, DiagnosticReport, Observation, Specimen and Device are those of R4)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.report import RESEARCH_ONLY, ReportError
from appliance.report.csvfile import COLUMNS, unguard
from appliance.report.export import ExportFormat, export_scan
from appliance.report.jsondoc import SCHEMA_VERSION
from appliance.store import NotFound, Store
from appliance.store.cases import CaseDetails, record_cases
from appliance.text import display_text
from appliance.values import TileMap

MODEL_SHA = "5" * 64
CASE_B = "=SUM(1)"  # a folder name a spreadsheet would run as a formula
FORMULA = f"{CASE_B}/a.png"
NOT_UTF8 = b"=SUM(1)/caf\xe9.png".decode("utf-8", "surrogateescape")
THUMB = b"\xff\xd8 not really a jpeg"
TILES = TileMap(
    tile_size=100,
    stride=100,
    image_width=300,
    image_height=200,
    origins=((0, 0), (100, 0), (200, 100)),
    probabilities=(0.95, 0.3, 0.01),
    skipped_background=3,
)


def _image(store: Store, scan_id: int, path: str, case: str, p: float | None, **kw) -> int:
    error = kw.get("error")
    return store.record_image(
        scan_id,
        path=path,
        case=case,
        sha256=hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest(),
        size_bytes=1000,
        width=300,
        height=200,
        status="error" if error else "ok",
        decision=None if error else ("malignant" if p >= 0.5794 else "benign"),  # type: ignore[operator]
        p_malignant=p,
        error=error,
        tiles=kw.get("tiles"),
        thumbnail=THUMB,
        elapsed_ms=12.0,
    )


@pytest.fixture()
def scan(tmp_path: Path) -> tuple[Path, int]:
    """A stored scan: two cases (one with specimen details), a tiled image, an unreadable one,
    hostile names, and reviews (one image reviewed twice: the later one is in force)."""
    db = tmp_path / "lab.db"
    with Store.open(db) as store:
        scan_id = store.start_scan(
            source="usb",
            volume_label="LAB",
            volume_path="/media/LAB",
            device="lab-pi-2",
            model_name="idc-mobilenetv2",
            model_version="1.4.0",
            model_sha256=MODEL_SHA,
            backend="litert",
            thresholds={"benign_below": 0.0588, "malignant_at": 0.5794, "operating_point": 0.21},
        )
        record_cases(
            store,
            scan_id,
            [
                CaseDetails(
                    case="patient-10262",
                    accession="S24-01234",
                    specimen="S24-01234-A",
                    specimen_type="core needle biopsy",
                    body_site="left breast",
                    collected="2024-05-01",
                    source="sidecar",
                ),
                CaseDetails(case=CASE_B),
            ],
        )
        a = _image(store, scan_id, "patient-10262/slide-10.png", "patient-10262", 0.9871234)
        _image(
            store,
            scan_id,
            "patient-10262/slide-9.png",
            "patient-10262",
            0.0123,
            tiles=TILES.to_dict(),
        )
        f = _image(store, scan_id, FORMULA, CASE_B, 0.2)
        _image(store, scan_id, NOT_UTF8, CASE_B, 0.7)
        _image(store, scan_id, f"{CASE_B}/broken.tif", CASE_B, None, error="not a readable image")
        store.add_review(a, reviewer="Dr A", agreed=True, corrected_decision=None)
        store.add_review(f, reviewer="Dr B", agreed=True, corrected_decision=None)
        store.add_review(
            f, reviewer="Dr B", agreed=False, corrected_decision="malignant", note="recut\n=2+2"
        )
        store.finish_scan(scan_id, "complete")
    return db, scan_id


def _export(db: Path, scan_id: int, fmt: str, dest: Path) -> Path:
    with Store.open(db) as store:
        return export_scan(store, scan_id, fmt, dest, device="lab-pi-2")


def test_csv_has_one_row_per_image_and_reads_back_as_stored(scan, tmp_path: Path) -> None:
    db, scan_id = scan
    out = _export(db, scan_id, "csv", tmp_path / "s.csv")
    with out.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    with Store.open(db) as store:
        images = {i.id: i for i in store.images(scan_id)}
        reviews = store.latest_reviews(scan_id)
        thresholds = store.scan(scan_id).thresholds
    assert len(rows) == len(images) == 5
    # Cases, then images, in natural order: =SUM(1) before patient-10262, slide-9 before slide-10.
    assert [unguard(r["case"]) for r in rows] == [CASE_B] * 3 + ["patient-10262"] * 2
    assert rows[0]["case"] == "'" + CASE_B  # a spreadsheet shows it, never runs it
    assert [r["path"] for r in rows][3:] == [
        "patient-10262/slide-9.png",
        "patient-10262/slide-10.png",
    ]
    for row in rows:
        image = images[int(row["image_id"])]
        assert unguard(row["path"]) == display_text(image.path)
        assert row["decision"] == image.effective_decision.value
        assert row["status"] == image.status and row["image_sha256"] == (image.sha256 or "")
        if image.p_malignant is None:
            assert row["p_malignant"] == "" and row["error"] == "not a readable image"
        else:  # at the card's precision (4 places), the precision of the cut-offs beside it
            assert row["p_malignant"] == thresholds.show(image.p_malignant)
            assert abs(float(row["p_malignant"]) - image.p_malignant) <= 0.5e-4
        assert (row["benign_below"], row["malignant_at"]) == ("0.0588", "0.5794")
        assert row["model_sha256"] == MODEL_SHA and row["model_version"] == "1.4.0"
        assert row["notice"] == RESEARCH_ONLY and row["scan_id"] == str(scan_id)
        review = reviews.get(image.id)
        assert row["review_by"] == (review.reviewer if review else "")
        assert row["review_at"] == (review.created_at if review else "")
    by_path = {unguard(r["path"]): r for r in rows}
    corrected = by_path[FORMULA]
    assert corrected["path"] == "'" + FORMULA
    assert corrected["review"] == "corrected" and corrected["review_decision"] == "malignant"
    assert corrected["review_note"] == "recut\n=2+2"  # a note's lines stay lines
    assert by_path["patient-10262/slide-10.png"]["review"] == "agreed"
    tiled = by_path["patient-10262/slide-9.png"]
    assert tiled["tiles_analysed"] == "3" and tiled["specimen"] == "S24-01234-A"
    assert tiled["accession"] == "S24-01234" and tiled["specimen_from"] == "sidecar"
    shown = display_text(NOT_UTF8)
    assert by_path[shown]["path_bytes_hex"] == NOT_UTF8.encode("utf-8", "surrogateescape").hex()


def test_json_reads_back_as_the_stored_records(scan, tmp_path: Path) -> None:
    db, scan_id = scan
    doc = json.loads(
        _export(db, scan_id, ExportFormat.JSON, tmp_path / "s.json").read_text("utf-8")
    )
    assert doc["schema_version"] == SCHEMA_VERSION and doc["notice"] == RESEARCH_ONLY
    assert doc["model"] == {"name": "idc-mobilenetv2", "version": "1.4.0", "sha256": MODEL_SHA}
    with Store.open(db) as store:
        record = store.scan(scan_id)
        images = store.images(scan_id)
        history = {i.id: store.reviews(i.id) for i in images}
    assert doc["scan"]["id"] == record.id and doc["scan"]["status"] == record.status
    assert doc["scan"]["rules"]["thresholds"]["malignant_at"] == 0.5794
    assert doc["scan"]["counts"] == record.counts
    assert [c["case"] for c in doc["cases"]] == [CASE_B, "patient-10262"]
    specimen = doc["cases"][1]["details"]
    assert specimen["accession"] == "S24-01234" and specimen["source"] == "sidecar"
    entries = {e["id"]: e for e in doc["images"]}
    assert set(entries) == {i.id for i in images}
    for image in images:
        entry = entries[image.id]
        for name in ("path", "case", "status", "decision", "p_malignant", "error", "sha256",
                     "result_sha256", "created_at", "width", "height"):  # fmt: skip
            assert entry[name] == getattr(image, name), name
        assert bytes.fromhex(entry["path_bytes_hex"]) == image.path_bytes
        assert entry["thumbnail_sha256"] == hashlib.sha256(THUMB).hexdigest()
        assert [r["id"] for r in entry["reviews"]] == [r.id for r in history[image.id]]
        if image.tiles is not None:
            assert TileMap.from_dict(entry["tiles"]) == image.tiles
    corrected = next(e for e in doc["images"] if e["path"] == FORMULA)
    assert len(corrected["reviews"]) == 2  # the whole history, oldest first
    assert corrected["review_in_force"] == corrected["reviews"][-1]["id"]
    assert corrected["reviews"][-1]["corrected_decision"] == "malignant"


def test_fhir_bundle_validates_against_the_r4_models(scan, tmp_path: Path) -> None:
    r4 = pytest.importorskip("fhir.resources.R4B", reason="the test extra's fhir.resources")
    db, scan_id = scan
    out = _export(db, scan_id, "fhir", tmp_path / "s.fhir.json")
    bundle = json.loads(out.read_text("utf-8"))
    r4.get_fhir_model_class("Bundle").model_validate(bundle)
    resources = [entry["resource"] for entry in bundle["entry"]]
    for resource in resources:  # a Bundle does not validate what it holds: each one is checked
        r4.get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert resource["meta"]["security"][0]["code"] == "HRESCH"  # research use, on each
    assert bundle["type"] == "collection"
    kinds = [r["resourceType"] for r in resources]
    assert kinds.count("DiagnosticReport") == 1 and kinds.count("Observation") == 5
    assert kinds.count("Specimen") == 1 and kinds.count("Device") == 2
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    report = resources[0]
    assert report["conclusion"].startswith(RESEARCH_ONLY)
    assert all(ref["reference"] in urls for ref in report["result"] + report["specimen"])
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    with Store.open(db) as store:
        images = {i.path: i for i in store.images(scan_id)}
    for obs in observations:
        path = next(
            c["valueString"] for c in obs["component"] if c["code"]["text"] == "File on the stick"
        )
        image = images[path]
        assert obs["valueCodeableConcept"]["coding"][0]["code"] == image.effective_decision.value
        p = obs["component"][0]
        if image.p_malignant is None:
            assert p["dataAbsentReason"]["coding"][0]["code"] == "error"
        else:
            assert p["valueQuantity"]["value"] == pytest.approx(image.p_malignant, abs=1e-6)
        assert obs["device"]["reference"] in urls
        assert any(RESEARCH_ONLY in note["text"] for note in obs["note"])
    corrected = next(
        o for o in observations if any(c.get("valueString") == FORMULA for c in o["component"])
    )
    assert any(
        n.get("authorString") == "Dr B" and "malignant" in n["text"].lower()
        for n in corrected["note"]
    )
    specimen = next(r for r in resources if r["resourceType"] == "Specimen")
    assert specimen["accessionIdentifier"]["value"] == "S24-01234"
    assert specimen["collection"]["collectedDateTime"] == "2024-05-01"
    model = next(r for r in resources if r.get("identifier", [{}])[0].get("value") == MODEL_SHA)
    assert model["version"][0]["value"] == "1.4.0"
    # The same scan exported again has the same resource ids.
    again = json.loads(_export(db, scan_id, "fhir", tmp_path / "t.fhir.json").read_text("utf-8"))
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_a_folder_gets_the_report_name_and_the_export_is_audited(scan, tmp_path: Path) -> None:
    db, scan_id = scan
    folder = tmp_path / "reports"
    folder.mkdir()
    written = {fmt: _export(db, scan_id, fmt, folder) for fmt in ExportFormat}
    assert written[ExportFormat.PDF].name.endswith(".pdf")
    assert written[ExportFormat.FHIR].name.endswith(".fhir.json")
    stems = {path.name.split(".")[0] for path in written.values()}
    assert len(stems) == 1 and stems.pop().startswith(f"scan-{scan_id}_")
    assert written[ExportFormat.PDF].read_bytes().startswith(b"%PDF")
    with Store.open(db) as store:
        events = [e for e in store.audit_log() if e.event == "export_written"]
    assert {e.payload["format"] for e in events} == {"csv", "json", "fhir"}
    csv_event = next(e for e in events if e.payload["format"] == "csv")
    digest = hashlib.sha256(written[ExportFormat.CSV].read_bytes()).hexdigest()
    assert csv_event.payload["sha256"] == digest and csv_event.scan_id == scan_id


def test_unknown_scan_and_unwritable_destination(scan, tmp_path: Path) -> None:
    db, scan_id = scan
    with pytest.raises(NotFound):
        _export(db, 99, "csv", tmp_path / "x.csv")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match="Could not write"):
        _export(db, scan_id, "json", blocker / "s.json")
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("x.*"))


def test_cli_export_writes_each_format_and_says_where(scan, tmp_path: Path, capsys) -> None:
    db, scan_id = scan
    for fmt in ("pdf", "csv", "json", "fhir"):
        out = tmp_path / f"out.{fmt}"
        assert main(["export", str(scan_id), "--format", fmt, "--db", str(db), "-o", str(out)]) == 0
        assert out.is_file() and str(out.resolve()) in capsys.readouterr().out
    assert main(["export", "42", "--format", "csv", "--db", str(db)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "42" in err and "Traceback" not in err
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    code = main(
        ["export", str(scan_id), "--format", "csv", "--db", str(db), "-o", str(blocked / "x.csv")]
    )
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "Could not write" in err


def test_hostile_names_and_notes_never_break_an_export(tmp_path: Path) -> None:
    hostile = "c/two\nlines\x1b[31m\u202egnp.exe"
    db = tmp_path / "h.db"
    with Store.open(db) as store:
        scan_id = store.start_scan(
            source="usb", volume_label="ST\x1bICK", volume_path="/media/x", device="pi",
            model_name="m", model_version="1", model_sha256=MODEL_SHA, backend=None,
            thresholds={"benign_below": 0.3, "malignant_at": 0.7},
        )  # fmt: skip
        image_id = _image(store, scan_id, hostile, "c", 0.9)
        store.add_review(image_id, reviewer="Dr \u202eX", agreed=True, corrected_decision=None,
                         note="one\x1b\ntwo")  # fmt: skip
        store.finish_scan(scan_id, "complete")
    row = next(
        csv.DictReader(_export(db, scan_id, "csv", tmp_path / "h.csv").open(encoding="utf-8-sig"))
    )
    assert row["path"] == "c/two\\nlines\\x1b[31m\\u202egnp.exe"  # visible, never acted on
    assert row["review_by"] == "Dr \\u202eX" and row["review_note"] == "one\\x1b\ntwo"
    assert bytes.fromhex(row["path_bytes_hex"]) == hostile.encode()
    doc = json.loads(_export(db, scan_id, "json", tmp_path / "h.json").read_text("utf-8"))
    assert doc["images"][0]["path"] == hostile  # JSON escapes it; a program gets it exactly
    r4 = pytest.importorskip("fhir.resources.R4B", reason="the test extra's fhir.resources")
    bundle = json.loads(_export(db, scan_id, "fhir", tmp_path / "h.fhir.json").read_text("utf-8"))
    for entry in bundle["entry"]:
        resource = entry["resource"]
        r4.get_fhir_model_class(resource["resourceType"]).model_validate(resource)

    def strings(value: object) -> list[str]:
        if isinstance(value, dict):
            return [s for item in value.values() for s in strings(item)]
        if isinstance(value, list):
            return [s for item in value for s in strings(item)]
        return [value] if isinstance(value, str) else []

    # FHIR strings hold no control characters but line breaks and tabs.
    assert not [s for s in strings(bundle) if any(ord(c) < 32 and c not in "\n\r\t" for c in s)]
    assert "c/two\\nlines\\x1b[31m\\u202egnp.exe" in strings(bundle)
