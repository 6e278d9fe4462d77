"""``histo-appliance restore``: a backup is checked before anything is changed, the database as it
was is kept beside it, the restore is audited, and the data afterwards is the backup's."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.errors import StoreError
from appliance.store import LATEST_VERSION, Store
from appliance.store import owner as owners
from appliance.store.migrations import MIGRATIONS
from appliance.store.restore import restore_database
from tests.conftest import start_test_scan

TABLES = ("scans", "images", "reviews", "settings")


def _fill(store: Store, label: str) -> int:
    scan_id = start_test_scan(store, label=label)
    image_id = store.record_image(
        scan_id, path=f"{label}/a.png", case=label, sha256="4" * 64, size_bytes=1, width=1,
        height=1, status="ok", decision="malignant", p_malignant=0.8, error=None, tiles=None,
        thumbnail=b"jpeg", elapsed_ms=1.0,
    )  # fmt: skip
    store.finish_scan(scan_id, "complete")
    store.add_review(image_id, reviewer="Dr A", agreed=True, corrected_decision=None)
    store.set_setting("device_name", f"pi-{label}", actor="admin")
    return scan_id


def _dump(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}
    finally:
        conn.close()


def _audit_events(path: Path) -> list[str]:
    with Store.open(path) as store:
        return [e.event for e in reversed(store.audit_log())]


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "var" / "appliance.db"


def test_backup_modify_restore_gives_the_backup_back(db: Path, tmp_path: Path) -> None:
    with Store.open(db) as store:
        _fill(store, "FIRST")
        backup = store.backup(tmp_path / "stick" / "backup.db")
    saved = _dump(backup)
    with Store.open(db) as store:
        _fill(store, "LATER")
    before_restore = _dump(db)
    assert before_restore != saved

    result = restore_database(db, backup)
    assert _dump(db) == saved
    assert result.kept_at is not None and _dump(result.kept_at) == before_restore
    assert (result.n_scans, result.n_images, result.previous_state) == (1, 1, "healthy")
    assert _audit_events(db)[-1] == "database_restored"
    assert _audit_events(result.kept_at)[-1] == "restore_started"
    with Store.open(db) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.schema_version == LATEST_VERSION
    assert _dump(backup) == saved  # the backup itself is only read


def test_a_program_with_the_database_open_sees_the_restored_history(
    db: Path, tmp_path: Path
) -> None:
    with Store.open(db) as store:
        _fill(store, "FIRST")
        backup = store.backup(tmp_path / "backup.db")
    with Store.open(db) as gui:  # the kiosk keeps its connection open
        _fill(gui, "LATER")
        assert len(gui.scans()) == 2
        restore_database(db, backup)
        assert [s.volume_label for s in gui.scans()] == ["FIRST"]


def test_the_cli_restores_and_says_where_the_old_database_is(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with Store.open(db) as store:
        _fill(store, "FIRST")
    assert main(["backup", str(tmp_path / "b.db"), "--db", str(db)]) == 0
    with Store.open(db) as store:
        _fill(store, "LATER")
    capsys.readouterr()
    assert main(["restore", str(tmp_path / "b.db"), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "restored from" in out and "is kept at" in out and "before-restore-" in out
    with Store.open(db) as store:
        assert [s.volume_label for s in store.scans()] == ["FIRST"]


def _newer(path: Path) -> None:
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.commit()
    conn.close()


def _other_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (name TEXT)")
    conn.commit()
    conn.close()


def _truncated(path: Path) -> None:
    with Store.open(path) as store:
        scan_id = start_test_scan(store)
        for k in range(100):
            store.record_image(
                scan_id, path=f"c/{k}.png", case="c", sha256=None, size_bytes=1, width=1,
                height=1, status="ok", decision="benign", p_malignant=0.1, error=None,
                tiles=None, thumbnail=bytes(3000), elapsed_ms=1.0,
            )  # fmt: skip
        store.backup(path.with_suffix(".full"))
    data = path.with_suffix(".full").read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"a photo, not a database" * 50), "not a SQLite database"),
        (_other_sqlite, "not an appliance database"),
        (_newer, "newer version"),
        (_truncated, "damaged|cannot be read"),
    ],
    ids=["empty", "garbage", "other-sqlite", "newer", "truncated"],
)
def test_a_bad_backup_changes_nothing(db: Path, tmp_path: Path, make, words: str) -> None:
    with Store.open(db) as store:
        _fill(store, "CURRENT")
    before = _dump(db)
    bad = tmp_path / "bad.db"
    make(bad)
    with pytest.raises(StoreError, match=words) as caught:
        restore_database(db, bad)
    assert "nothing was changed" in str(caught.value)
    assert _dump(db) == before
    assert sorted(p.name for p in db.parent.iterdir() if "restore" in p.name) == []


def test_refuses_a_missing_file_and_the_database_itself(db: Path, tmp_path: Path) -> None:
    Store.open(db).close()
    with pytest.raises(StoreError, match="no backup file"):
        restore_database(db, tmp_path / "absent.db")
    with pytest.raises(StoreError, match="is the appliance database itself"):
        restore_database(db, db)


def test_refuses_while_another_program_is_scanning(db: Path, tmp_path: Path) -> None:
    with Store.open(db) as store:
        backup = store.backup(tmp_path / "b.db")
        me = owners.current()
        live = owners.ScanOwner(1, me.boot_id, owners.start_ticks(1), me.pid_ns)  # init: alive
        start_test_scan(store, owner=live, label="LIVE")
    before = _dump(db)
    with pytest.raises(StoreError, match=r"is running now.*nothing was changed"):
        restore_database(db, backup)
    assert _dump(db) == before


def test_an_empty_or_damaged_database_is_moved_aside_and_replaced(db: Path, tmp_path: Path) -> None:
    with Store.open(db) as store:
        _fill(store, "FIRST")
        backup = store.backup(tmp_path / "b.db")
    saved = _dump(backup)
    for leftover in db.parent.iterdir():
        leftover.unlink()
    db.write_bytes(b"")  # what a power cut during a write can leave
    result = restore_database(db, backup)
    assert _dump(db) == saved
    assert result.kept_at is not None and result.kept_at.read_bytes() == b""
    assert "empty file" in result.previous_state
    with Store.open(db) as store:
        [entry] = [e for e in store.audit_log() if e.event == "database_restored"]
        assert entry.payload["previous"].startswith("unusable: ")


def test_restoring_onto_no_database_and_from_an_older_schema(db: Path, tmp_path: Path) -> None:
    old = tmp_path / "schema3.db"
    conn = sqlite3.connect(old)
    for migration in MIGRATIONS[:3]:
        for statement in migration.statements:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO scans (started_at, status, source, volume_label, model_name, model_version,"
        " model_sha256) VALUES ('2025-01-01T00:00:00+00:00', 'complete', 'usb', 'OLD', 'm', '1',"
        " 'x')"
    )
    conn.commit()
    conn.close()
    result = restore_database(db, old)
    assert result.kept_at is None and result.backup_schema == 3
    with Store.open(db) as store:
        assert store.schema_version == LATEST_VERSION
        assert [s.volume_label for s in store.scans()] == ["OLD"]


def test_two_restores_in_the_same_second_keep_both_old_databases(db: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 12, 2, 3, 0, 0, tzinfo=UTC)
    with Store.open(db) as store:
        backup = store.backup(tmp_path / "b.db")
        _fill(store, "ONE")
    first = restore_database(db, backup, now=moment)
    with Store.open(db) as store:
        _fill(store, "TWO")
    second = restore_database(db, backup, now=moment)
    assert first.kept_at != second.kept_at
    assert first.kept_at.exists() and second.kept_at.exists()
    labels = []
    for kept in (first.kept_at, second.kept_at):
        with Store.open(kept) as old:
            labels.append([s.volume_label for s in old.scans()])
    assert labels == [["ONE"], ["TWO"]]


def test_run_as_root_the_restored_files_belong_to_the_appliance_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("checks what happens when the admin forgets `sudo -u histo-appliance`")
    folder = tmp_path / "var"
    folder.mkdir()
    os.chown(folder, 65534, 65534)  # the service user's folder (nobody here)
    db = folder / "appliance.db"
    with Store.open(tmp_path / "source.db") as store:
        _fill(store, "FIRST")
        backup = store.backup(tmp_path / "b.db")
    restore_database(db, backup)  # onto no database: the checked copy is renamed into place
    assert (db.stat().st_uid, db.stat().st_gid) == (65534, 65534)
    second = restore_database(db, backup)  # onto a healthy one: the kept copy too
    assert second.kept_at is not None and second.kept_at.stat().st_uid == 65534
