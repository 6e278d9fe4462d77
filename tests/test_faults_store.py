"""The fault suite (issue 10): the database, the model, the card, append-only history and
abandoned scans.

Same table form as the other ``tests/test_faults*.py`` (see ``tests/faults_support.py``).
A database or model fault must end in the app's own
error type (``StoreError`` / ``ModelRejected``) with a message a person can act on, and nothing
stored before it may be lost.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.errors import ModelRejected, StoreError
from appliance.inference.bundle import ModelBundle
from appliance.inference.classifier import Classifier
from appliance.store import Store
from tests.conftest import ROOT, TINY_BUNDLE
from tests.faults_support import (
    IS_ROOT,
    FaultCase,
    assert_readable,
    make_analyzer,
    note,
    run_and_record,
    save,
    scan_within,
    tissue,
)

# --- the database ----------------------------------------------------------------------------


def _scanned_db(tmp_path: Path) -> tuple[Path, list[tuple]]:
    """A database holding one finished scan of three images; returns its path and its results."""
    stick = tmp_path / "stick"
    for i in range(3):
        save(tissue(seed=i), stick / "case" / f"img{i}.png")
    analyzer = make_analyzer(tmp_path)
    summary = scan_within(analyzer, stick)
    results = [
        (r.id, r.sha256, r.p_malignant, r.decision) for r in analyzer.store.images(summary.scan_id)
    ]
    analyzer.store.close()
    return tmp_path / "db" / "appliance.db", results


def _results(db: Path) -> list[tuple]:
    with Store.open(db) as store:
        return [
            (r.id, r.sha256, r.p_malignant, r.decision)
            for s in store.scans()
            for r in store.images(s.id)
        ]


def _db_locked(tmp_path: Path) -> None:
    db, before = _scanned_db(tmp_path)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as caught:
            analyzer = make_analyzer(tmp_path)
            analyzer.scan(tmp_path / "stick")
        assert_readable(str(caught.value))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert set(before) <= set(_results(db))


def _db_read_only(tmp_path: Path) -> None:
    db, before = _scanned_db(tmp_path)
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip(f"this file system cannot make {db} immutable (chattr +i)")
    try:
        with pytest.raises(StoreError) as caught:
            analyzer = make_analyzer(tmp_path)
            analyzer.scan(tmp_path / "stick")
        assert_readable(str(caught.value))
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert set(before) <= set(_results(db))


def _db_full(tmp_path: Path) -> None:
    db, before = _scanned_db(tmp_path)
    analyzer = make_analyzer(tmp_path)
    conn = analyzer.store.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    stick = tmp_path / "stick2"
    for i in range(20):
        save(tissue((200, 200), seed=100 + i), stick / f"c{i}.png")
    with pytest.raises(StoreError) as caught:
        analyzer.scan(stick)
    assert_readable(str(caught.value))
    assert "full" in str(caught.value).lower()
    analyzer.store.close()
    assert set(before) <= set(_results(db))


def _db_truncated(tmp_path: Path) -> None:
    db, _ = _scanned_db(tmp_path)
    size = db.stat().st_size
    with open(db, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(StoreError) as caught:
        Store.open(db)
    assert_readable(str(caught.value))


def _db_zero_length(tmp_path: Path) -> None:
    db = tmp_path / "db" / "appliance.db"
    db.parent.mkdir()
    db.write_bytes(b"")
    with pytest.raises(StoreError) as caught:
        Store.open(db)
    assert_readable(str(caught.value))


def _db_garbage(tmp_path: Path) -> None:
    db = tmp_path / "appliance.db"
    db.write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(StoreError) as caught:
        Store.open(db)
    assert_readable(str(caught.value))
    assert db.read_bytes().startswith(b"this is not"), "the damaged file was overwritten"


# --- append-only -----------------------------------------------------------------------------


def _refused(sql: str):
    def run(tmp_path: Path) -> None:
        db, before = _scanned_db(tmp_path)
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            with pytest.raises(sqlite3.DatabaseError) as caught:
                conn.execute(sql)
            note(f"sqlite refuses: {caught.value}")
        finally:
            conn.close()
        assert _results(db) == before

    return run


def _edited_not_reused(tmp_path: Path) -> None:
    db, before = _scanned_db(tmp_path)
    conn = sqlite3.connect(db, isolation_level=None)
    triggers = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'images'"
    ).fetchall()
    for (name,) in triggers:  # an attacker with the file can drop triggers; the hash remains
        conn.execute(f'DROP TRIGGER "{name}"')
    conn.execute("UPDATE images SET p_malignant = 1.0 - p_malignant, decision = 'benign'")
    conn.close()
    analyzer = make_analyzer(tmp_path)
    summary = scan_within(analyzer, tmp_path / "stick")
    again = {o.path: o for o in summary.outcomes}
    originals = {sha: p for _id, sha, p, _d in before}
    for row in analyzer.store.images(summary.scan_id):
        assert abs(row.p_malignant - originals[row.sha256]) < 1e-6, "an edited result was reused"
        note("rescan: " + ("reused (verified)" if row.reused_from else "analysed again"))
        assert again[row.path].p_malignant == row.p_malignant
    analyzer.store.close()


_ABANDON = """
import os, sys
from pathlib import Path
from appliance.store import Store
from tests.conftest import start_test_scan
store = Store.open(Path(sys.argv[1]))
print(start_test_scan(store), flush=True)
os._exit(0)  # dies without finishing the scan, like kill -9
"""


def _abandoned(tmp_path: Path) -> None:
    db = tmp_path / "appliance.db"
    out = subprocess.run(
        [sys.executable, "-c", _ABANDON, str(db)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    scan_id = int(out.stdout.strip())
    with Store.open(db) as store:
        scan = store.scan(scan_id)
        assert scan.status == "interrupted"
        assert_readable(scan.message)


# --- the model and its card --------------------------------------------------------------------


def _bundle_copy(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, bundle)
    return bundle


def _load(bundle: Path) -> None:
    Classifier(ModelBundle.load(bundle))


def _model_fault(change):
    def run(tmp_path: Path) -> None:
        bundle = _bundle_copy(tmp_path)
        change(bundle)
        with pytest.raises(ModelRejected) as caught:
            _load(bundle)
        assert_readable(str(caught.value))

    return run


def _flip_byte(bundle: Path) -> None:
    model = bundle / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))


def _truncate_model(bundle: Path) -> None:
    model = bundle / "model.tflite"
    model.write_bytes(model.read_bytes()[:1000])


def _card(edit):
    def change(bundle: Path) -> None:
        card = json.loads((bundle / "card.json").read_text())
        edit(card)
        (bundle / "card.json").write_text(json.dumps(card))

    return change


def _set(section: str, key: str, value):
    return _card(lambda c: c[section].__setitem__(key, value))


MODEL_CASES = [
    FaultCase(
        "model_byte_flipped",
        "model",
        "one byte of model.tflite flipped",
        "ModelRejected: does not match its card",
        _model_fault(_flip_byte),
    ),
    FaultCase(
        "model_truncated",
        "model",
        "model.tflite cut to 1000 bytes",
        "ModelRejected",
        _model_fault(_truncate_model),
    ),
    FaultCase(
        "model_missing",
        "model",
        "model.tflite deleted",
        "ModelRejected: missing",
        _model_fault(lambda b: (b / "model.tflite").unlink()),
    ),
    FaultCase(
        "card_not_json",
        "card",
        "card.json is not JSON",
        "ModelRejected",
        _model_fault(lambda b: (b / "card.json").write_text("{ not json")),
    ),
    FaultCase(
        "card_wrong_input_shape",
        "card",
        "card says 32x32 input, the model takes 16x16",
        "ModelRejected (card and model disagree)",
        _model_fault(_card(lambda c: c["input"].update(height=32, width=32))),
    ),
    FaultCase(
        "card_one_channel",
        "card",
        "card says 1 input channel",
        "ModelRejected",
        _model_fault(_set("input", "channels", 1)),
    ),
    FaultCase(
        "card_thresholds_strings",
        "card",
        "thresholds given as strings",
        "ModelRejected",
        _model_fault(_set("thresholds", "benign_below", "0.35")),
    ),
    FaultCase(
        "card_thresholds_null",
        "card",
        "a threshold is null",
        "ModelRejected",
        _model_fault(_set("thresholds", "malignant_at", None)),
    ),
    FaultCase(
        "card_allowed_range_3",
        "card",
        "allowed_range of three numbers",
        "ModelRejected",
        _model_fault(_set("thresholds", "allowed_range", [0.1, 0.5, 0.9])),
    ),
    FaultCase(
        "card_negative_tile",
        "card",
        "tile_size = -50",
        "ModelRejected",
        _model_fault(_set("input", "tile_size", -50)),
    ),
    FaultCase(
        "card_thresholds_zero",
        "card",
        "benign_below = malignant_at = 0",
        "ModelRejected (every image would be malignant)",
        _model_fault(_card(lambda c: c["thresholds"].update(benign_below=0, malignant_at=0))),
    ),
]

STORE_CASES = [
    *MODEL_CASES,
    FaultCase(
        "db_locked",
        "database",
        "another process holds an exclusive lock",
        "StoreError after the busy timeout; nothing lost",
        _db_locked,
    ),
    FaultCase(
        "db_read_only",
        "database",
        "the database file is immutable (chattr +i)",
        "StoreError; nothing lost",
        _db_read_only,
        marks=(pytest.mark.skipif(not IS_ROOT, reason="chattr needs root"),),
    ),
    FaultCase(
        "db_full",
        "database",
        "the database cannot grow (max_page_count reached)",
        "StoreError 'full'; earlier results kept",
        _db_full,
    ),
    FaultCase(
        "db_truncated",
        "database",
        "the database file cut in half",
        "StoreError 'damaged' at open",
        _db_truncated,
    ),
    FaultCase(
        "db_zero_length",
        "database",
        "a 0-byte database file",
        "StoreError (not silently a new database)",
        _db_zero_length,
    ),
    FaultCase(
        "db_not_sqlite",
        "database",
        "the database file holds text",
        "StoreError; the file is left as it was",
        _db_garbage,
    ),
    FaultCase(
        "update_images_refused",
        "append-only",
        "UPDATE images SET p_malignant",
        "refused by the database",
        _refused("UPDATE images SET p_malignant = 0.01"),
    ),
    FaultCase(
        "delete_images_refused",
        "append-only",
        "DELETE FROM images",
        "refused by the database",
        _refused("DELETE FROM images"),
    ),
    FaultCase(
        "update_scans_refused",
        "append-only",
        "UPDATE scans SET model_sha256",
        "refused by the database",
        _refused("UPDATE scans SET model_sha256 = 'x'"),
    ),
    FaultCase(
        "delete_scans_refused",
        "append-only",
        "DELETE FROM scans",
        "refused by the database",
        _refused("DELETE FROM scans"),
    ),
    FaultCase(
        "edited_result_not_reused",
        "append-only",
        "triggers dropped, p_malignant edited, same stick scanned again",
        "the edit is detected (hash) and the image analysed again",
        _edited_not_reused,
    ),
    FaultCase(
        "scan_left_running",
        "append-only",
        "a process died with its scan 'running'",
        "marked 'interrupted' at the next start",
        _abandoned,
    ),
]


def _thresholds_setting(benign: object, malignant: object):
    """The admin's threshold settings set (or tampered) to values the card does not allow."""

    def run(tmp_path: Path) -> None:
        from appliance.runtime import effective_thresholds

        card = ModelBundle.load(TINY_BUNDLE).card
        with Store.open(tmp_path / "a.db") as store:
            for key, value in (("benign_below", benign), ("malignant_at", malignant)):
                store.set_setting(f"threshold.{card.sha256}.{key}", value, actor="fault-suite")
            used = effective_thresholds(card.thresholds, store, card.sha256)
        assert used == card.thresholds, used
        note(f"ignored; the card's {used.benign_below} / {used.malignant_at} are used")

    return run


STORE_CASES += [
    FaultCase(
        "admin_thresholds_zero",
        "card",
        "stored admin thresholds 0 / 0 (outside 0.01-0.99)",
        "not used: the card's thresholds apply",
        _thresholds_setting(0.0, 0.0),
    ),
    FaultCase(
        "admin_thresholds_text",
        "card",
        "stored admin thresholds are text ('abc')",
        "not used: the card's thresholds apply",
        _thresholds_setting("abc", "0.7"),
    ),
]

CASES = STORE_CASES


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault(case: FaultCase, tmp_path: Path) -> None:
    run_and_record(case, tmp_path)
