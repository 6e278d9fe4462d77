"""Upgrading the software keeps the data: a database written by an older schema, opened by newer
software (``Store.open`` migrates), keeps every row of every table.

``tests/test_store.py`` covers reopening at the same version and refusing a newer file; this adds
the two upgrade paths a .deb upgrade takes: from the first schema to today's, and from today's to
a future one (simulated by appending a migration, as the next release will)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.store import Store, migrations
from appliance.store.migrations import MIGRATIONS, Migration


def _fill(store: Store) -> None:
    """One row in each table, through the store's own API."""
    scan_id = store.start_scan(
        source="usb",
        volume_label="STICK",
        volume_path="/media/STICK",
        device="pi-lab-1",
        model_name="tiny-redness",
        model_version="1",
        model_sha256="a" * 64,
        backend="litert",
        thresholds={"benign_below": 0.35, "malignant_at": 0.65},
    )
    image_id = store.record_image(
        scan_id,
        path="case1/a.png",
        case="case1",
        sha256="b" * 64,
        size_bytes=10,
        width=50,
        height=50,
        status="ok",
        decision="benign",
        p_malignant=0.1,
        error=None,
        tiles=None,
        thumbnail=b"jpeg",
        elapsed_ms=3.0,
    )
    store.finish_scan(scan_id, "complete")
    store.add_review(image_id, reviewer="Dr A", agreed=True, corrected_decision=None)
    store.audit("model_installed", actor="admin", new={"name": "tiny-redness"})


def _dump(path: Path, tables: tuple[str, ...], columns: dict | None = None) -> dict:
    """Every row of ``tables``; with ``columns`` (an earlier dump's), only those columns, so
    columns a migration added do not hide whether the old values survived."""
    conn = sqlite3.connect(path)
    try:
        dump = {}
        for table in tables:
            names = (columns or {}).get(table) or [
                row[1] for row in conn.execute(f"PRAGMA table_info({table})")
            ]
            rows = conn.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY rowid").fetchall()
            dump[table] = {"columns": names, "rows": rows}
        return dump
    finally:
        conn.close()


def _columns(dump: dict) -> dict:
    return {table: part["columns"] for table, part in dump.items()}


_V1_ROWS = (
    """INSERT INTO scans (id, started_at, finished_at, status, source, volume_label,
        model_name, model_version, model_sha256, thresholds_json)
        VALUES (1, '2025-01-01T10:00:00.000+00:00', '2025-01-01T10:01:00.000+00:00',
        'complete', 'usb', 'OLD', 'm', '1', 'cccc', '{"malignant_at": 0.7}')""",
    """INSERT INTO images (id, scan_id, path, case_name, sha256, status, decision,
        p_malignant, thumbnail, created_at)
        VALUES (1, 1, 'case1/a.png', 'case1', 'dddd', 'ok', 'malignant', 0.9, x'ffd8',
        '2025-01-01T10:00:30.000+00:00')""",
    """INSERT INTO reviews (image_id, reviewer, agreed, corrected_decision, note, created_at)
        VALUES (1, 'Dr A', 0, 'benign', 'looks reactive', '2025-01-02T09:00:00.000+00:00')""",
    """INSERT INTO audit (at, event, scan_id, actor, payload_json)
        VALUES ('2025-01-01T10:00:00.000+00:00', 'scan_started', 1, NULL, '{}')""",
)


def test_a_first_schema_database_is_migrated_and_keeps_every_row(tmp_path: Path) -> None:
    """A database as the first release left it (schema 1, rows written by that release's SQL,
    not today's code) comes up at today's schema with every old value unchanged."""
    path = tmp_path / "appliance.db"
    conn = sqlite3.connect(path)
    for statement in (*MIGRATIONS[0].statements, *_V1_ROWS):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    tables = ("scans", "images", "reviews", "audit")
    before = _dump(path, tables)
    with Store.open(path) as new:
        assert new.schema_version == MIGRATIONS[-1].version
        assert [s.volume_label for s in new.scans()] == ["OLD"]
        assert new.reviews(1)[0].note == "looks reactive"
    assert _dump(path, tables, _columns(before)) == before


def test_todays_database_survives_the_next_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "appliance.db"
    with Store.open(path) as today:
        _fill(today)
        today.set_setting("device_name", "pi-lab-1", actor="admin")
    tables = ("scans", "images", "reviews", "audit", "settings")
    before = _dump(path, tables)
    assert all(before[t]["rows"] for t in tables), "every table holds a row before the upgrade"

    upcoming = Migration(
        MIGRATIONS[-1].version + 1,
        "a column the next release adds",
        ("ALTER TABLE scans ADD COLUMN added_by_a_future_release INTEGER",),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, upcoming))
    monkeypatch.setattr(migrations, "LATEST_VERSION", upcoming.version)
    with Store.open(path) as upgraded:
        assert upgraded.schema_version == upcoming.version
        assert [s.volume_label for s in upgraded.scans()] == ["STICK"]
    assert _dump(path, tables, _columns(before)) == before
    assert "added_by_a_future_release" in _dump(path, ("scans",))["scans"]["columns"]
