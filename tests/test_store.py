"""The store on real SQLite files: durability settings, migrations, append-only history, lookups
and the words a person reads when the file is damaged."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.errors import ApplianceError, StoreError
from appliance.store import (
    LATEST_VERSION,
    InvalidReview,
    NotFound,
    Store,
)
from appliance.store.database import translate
from appliance.values import TileMap
from tests.conftest import start_test_scan

MODEL_A = "a" * 64
MODEL_B = "b" * 64


def start(store: Store, *, label: str = "STICK", model: str = MODEL_A) -> int:
    return store.start_scan(
        source="usb",
        volume_label=label,
        volume_path=f"/media/{label}",
        device="pi-lab-1",
        model_name="breakhis-mobilenet",
        model_version="1.0",
        model_sha256=model,
        backend="ai_edge_litert",
        thresholds={"benign_below": 0.3, "malignant_at": 0.7, "operating_point": 0.5},
    )


def add(
    store: Store,
    scan_id: int,
    path: str,
    *,
    case: str = "case1",
    decision: str | None = "benign",
    p: float | None = 0.1,
    sha: str | None = None,
    error: str | None = None,
) -> int:
    return store.record_image(
        scan_id,
        path=path,
        case=case,
        sha256=sha if sha is not None else (path.encode().hex() * 4)[:64],
        size_bytes=1234,
        width=700,
        height=460,
        status="error" if error else "ok",
        decision=None if error else decision,
        p_malignant=None if error else p,
        error=error,
        tiles=None,
        thumbnail=b"\xff\xd8thumb",
        elapsed_ms=12.5,
    )


@pytest.fixture()
def store(tmp_path: Path):
    with Store.open(tmp_path / "data" / "appliance.sqlite") as opened:
        yield opened


def test_open_creates_parent_and_sets_durable_pragmas(store: Store) -> None:
    assert store.path.exists()
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"scans", "images", "reviews", "audit", "settings"} <= tables
    assert conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 1


def test_migrations_are_idempotent_and_keep_data(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with Store.open(path) as first:
        scan_id = start(first)
        assert first.schema_version == LATEST_VERSION
    for _ in range(2):
        with Store.open(path) as again:
            assert again.schema_version == LATEST_VERSION
            assert [s.id for s in again.scans()] == [scan_id]
            assert sum(1 for e in again.audit_log() if e.event == "scan_started") == 1


def test_a_database_from_newer_software_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"newer version.*Update the appliance"):
        Store.open(path)


def test_audit_log_cannot_be_changed_or_deleted(store: Store, tmp_path: Path) -> None:
    scan_id = start(store)
    store.audit("report_exported", actor="tech", scan_id=scan_id, file="r.pdf")
    entries = store.audit_log()
    assert [e.event for e in entries] == ["report_exported", "scan_started"]
    assert entries[0].payload == {"file": "r.pdf"} and entries[0].actor == "tech"
    # Even a program going around the Store (a second, raw connection) is refused.
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE audit SET event = 'nothing'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM audit")
    raw.rollback()
    raw.close()
    assert len(store.audit_log()) == 2


def test_reviews_and_images_are_never_rewritten(store: Store) -> None:
    scan_id = start(store)
    image_id = add(store, scan_id, "case1/a.png")
    store.add_review(image_id, reviewer="Dr A", agreed=True, corrected_decision=None)
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("UPDATE reviews SET agreed = 0")
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("DELETE FROM reviews")
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("DELETE FROM images")
    raw.close()


def test_scan_lifecycle_counts_and_audit(store: Store) -> None:
    scan_id = start(store)
    assert store.scan(scan_id).status == "running"
    add(store, scan_id, "case1/a.png", decision="malignant", p=0.95)
    add(store, scan_id, "case1/b.png", decision="benign", p=0.05)
    add(store, scan_id, "case2/c.png", case="case2", decision="indeterminate", p=0.5)
    add(store, scan_id, "case2/d.png", case="case2", error="The file is not a readable image.")
    store.finish_scan(scan_id, "interrupted", "The stick was removed.")
    scan = store.scan(scan_id)
    assert scan.status == "interrupted" and scan.message == "The stick was removed."
    assert scan.finished_at is not None and scan.finished_at >= scan.started_at
    assert scan.n_images == 4 and scan.n_errors == 1
    assert scan.counts == {"malignant": 1, "indeterminate": 1, "benign": 1, "unassessable": 1}
    assert scan.thresholds is not None and scan.thresholds.malignant_at == 0.7
    assert scan.rules.scope is None and scan.rules.partial == ()
    assert [i.path for i in store.images(scan_id)] == [
        "case1/a.png",
        "case1/b.png",
        "case2/c.png",
        "case2/d.png",
    ]
    events = [e.event for e in reversed(store.audit_log())]
    assert events == ["scan_started"] + ["image_result"] * 4 + ["scan_finished"]
    with pytest.raises(ValueError):
        store.finish_scan(scan_id, "running")


def test_record_image_round_trip(store: Store) -> None:
    scan_id = start(store)
    thumb = bytes(range(256)) * 4
    image_id = store.record_image(
        scan_id,
        path="case7/slide 1.tif",
        case="case7",
        sha256="c" * 64,
        size_bytes=99,
        width=2048,
        height=1536,
        status="ok",
        decision="malignant",
        p_malignant=0.873,
        error=None,
        tiles=TileMap(224, 224, 448, 224, ((0, 0), (224, 0)), (0.9, 0.2), 0),
        thumbnail=thumb,
        elapsed_ms=321.0,
    )
    image = store.image(image_id)
    assert image.thumbnail == thumb
    assert image.tiles is not None and image.tiles.probabilities[1] == 0.2
    assert image.name == "slide 1.tif" and image.case == "case7"
    assert image.effective_decision.value == "malignant"
    with pytest.raises(NotFound):
        store.image(image_id + 100)
    with pytest.raises(NotFound):
        add(store, scan_id + 100, "x.png")
    with pytest.raises(ValueError):
        add(store, scan_id, "x.png", decision="probably")
    with pytest.raises(ValueError):  # an error row must say what went wrong
        store.record_image(
            scan_id, path="y.png", case="c", sha256=None, size_bytes=None, width=None,
            height=None, status="error", decision=None, p_malignant=None, error="  ",
            tiles=None, thumbnail=None, elapsed_ms=None,
        )  # fmt: skip


def test_find_result_needs_same_bytes_and_same_model(store: Store) -> None:
    sha = "d" * 64
    first = start(store, model=MODEL_A)
    older = add(store, first, "case1/a.png", sha=sha, p=0.2)
    newer_scan = start(store, model=MODEL_A)
    newer = add(store, newer_scan, "case1/a.png", sha=sha, p=0.2)
    add(store, newer_scan, "case1/broken.png", sha="e" * 64, error="Truncated file.")
    other_model = start(store, model=MODEL_B)
    add(store, other_model, "case1/a.png", sha=sha, p=0.9)

    found = store.find_result(sha, MODEL_A)
    assert found is not None and found.id == newer and found.id != older
    assert store.find_result(sha, "f" * 64) is None  # same image, a model never used on it
    assert store.find_result("0" * 64, MODEL_A) is None
    assert store.find_result("e" * 64, MODEL_A) is None  # errors are not reusable results
    reused = store.record_image(
        newer_scan, path="case2/copy.png", case="case2", sha256=sha, size_bytes=1, width=1,
        height=1, status="ok", decision=found.decision, p_malignant=found.p_malignant,
        error=None, tiles=None, thumbnail=None, elapsed_ms=0.0, reused_from=found.id,
    )  # fmt: skip
    assert store.image(reused).reused_from == newer


def test_review_validation_and_supersession(store: Store) -> None:
    scan_id = start(store)
    image_id = add(store, scan_id, "case1/a.png", decision="benign")
    with pytest.raises(InvalidReview, match="reviewer"):
        store.add_review(image_id, reviewer="  ", agreed=True, corrected_decision=None)
    with pytest.raises(InvalidReview, match="choose the correct decision"):
        store.add_review(image_id, reviewer="Dr A", agreed=False, corrected_decision=None)
    with pytest.raises(InvalidReview, match="not a decision"):
        store.add_review(image_id, reviewer="Dr A", agreed=False, corrected_decision="cancer")
    assert isinstance(InvalidReview("x"), ApplianceError)
    with pytest.raises(NotFound):
        store.add_review(image_id + 9, reviewer="Dr A", agreed=True, corrected_decision=None)

    first = store.add_review(image_id, reviewer="Dr A", agreed=True, corrected_decision=None)
    second = store.add_review(
        image_id, reviewer="Dr B", agreed=False, corrected_decision="malignant", note="atypia"
    )
    assert [r.id for r in store.reviews(image_id)] == [first, second]
    latest = store.latest_reviews(scan_id)
    assert list(latest) == [image_id]
    assert latest[image_id].reviewer == "Dr B"
    assert latest[image_id].corrected_decision == "malignant" and not latest[image_id].agreed
    assert store.image(image_id).decision == "benign"  # the AI result itself stays as it was
    review_events = [e for e in store.audit_log() if e.event == "review"]
    assert [e.actor for e in review_events] == ["Dr B", "Dr A"]


def test_scans_search_and_filters(store: Store) -> None:
    a = start(store, label="LAB_MONDAY")
    add(store, a, "patient_17/x.png", case="patient_17", decision="malignant", p=0.9)
    b = start(store, label="TUESDAY")
    add(store, b, "p2/y.png", case="p2", decision="benign", p=0.1)
    add(store, b, "p2/z.png", case="p2", error="Not an image.")
    c = start(store, label="50%_done")

    assert [s.id for s in store.scans()] == [c, b, a]  # newest first
    assert [s.id for s in store.scans(search="monday")] == [a]  # volume label, any case
    assert [s.id for s in store.scans(search="patient_17")] == [a]  # case name
    assert [s.id for s in store.scans(search="z.png")] == [b]  # image path
    assert [s.id for s in store.scans(search="50%")] == [c]  # % is plain text
    assert store.scans(search="_") != [] and store.scans(search="nothing-like-this") == []
    assert [s.id for s in store.scans(decision="malignant")] == [a]
    assert [s.id for s in store.scans(decision="unassessable")] == [b]  # read error counts
    assert [s.id for s in store.scans(limit=1)] == [c]
    today = datetime.now(UTC).date()
    assert len(store.scans(since=today, until=today)) == 3
    assert store.scans(since=today + timedelta(days=1)) == []
    assert store.scans(until=today - timedelta(days=1)) == []
    with pytest.raises(NotFound):
        store.scan(999)


def test_settings_are_audited(store: Store) -> None:
    assert store.get_setting("device_name", "unnamed") == "unnamed"
    store.set_setting("device_name", "pi-lab-1", actor="admin")
    store.set_setting("device_name", "pi-lab-2", actor="admin")
    store.set_setting("thresholds", {"malignant_at": 0.8}, actor="admin")
    assert store.get_setting("device_name") == "pi-lab-2"
    assert store.settings() == {"device_name": "pi-lab-2", "thresholds": {"malignant_at": 0.8}}
    changes = [e.payload for e in reversed(store.audit_log()) if e.event == "setting_changed"]
    assert changes[1] == {"key": "device_name", "old": "pi-lab-1", "new": "pi-lab-2"}


def test_a_first_change_records_the_value_in_force_and_the_person(store: Store) -> None:
    """The audit row of a first change says what was in force before (the card's threshold),
    never "old": null, and who changed it; saving the same value again writes nothing."""
    key = "threshold." + "a" * 64 + ".benign_below"
    store.set_setting(key, 0.07, actor="Dr Ada Admin", default=0.0588)
    store.set_setting(key, 0.07, actor="Dr Ada Admin", default=0.0588)
    store.set_setting(key, 0.08, actor="Bo Tech", default=0.0588)
    rows = [e for e in reversed(store.audit_log()) if e.event == "setting_changed"]
    assert [(e.actor, e.payload["old"], e.payload["new"]) for e in rows] == [
        ("Dr Ada Admin", 0.0588, 0.07),
        ("Bo Tech", 0.07, 0.08),
    ]


def test_backup_round_trip(store: Store, tmp_path: Path) -> None:
    scan_id = start(store)
    image_id = add(store, scan_id, "case1/a.png", decision="malignant", p=0.8)
    store.add_review(image_id, reviewer="Dr A", agreed=True, corrected_decision=None)
    dest = store.backup(tmp_path / "backups" / "appliance-backup.sqlite")
    assert dest.exists() and not dest.with_name(dest.name + ".part").exists()
    add(store, scan_id, "case1/later.png")  # after the backup: not in it
    with Store.open(dest) as restored:
        assert [i.path for i in restored.images(scan_id)] == ["case1/a.png"]
        assert restored.latest_reviews(scan_id)[image_id].reviewer == "Dr A"
        assert restored.image(image_id).thumbnail == b"\xff\xd8thumb"


def _filled_db(path: Path) -> bytes:
    with Store.open(path) as filled:
        scan_id = start(filled)
        for k in range(150):
            filled.record_image(
                scan_id, path=f"c/{k}.png", case="c", sha256=f"{k:064x}", size_bytes=1,
                width=1, height=1, status="ok", decision="benign", p_malignant=0.1, error=None,
                tiles=None, thumbnail=os.urandom(1500), elapsed_ms=1.0,
            )  # fmt: skip
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "overwritten_pages"])
def test_damaged_database_gives_words(tmp_path: Path, damage: str) -> None:
    good = _filled_db(tmp_path / "good.sqlite")
    bad = tmp_path / "bad.sqlite"
    if damage == "garbage":
        bad.write_bytes(b"this is a photo, not a database " * 100)
    elif damage == "truncated":
        bad.write_bytes(good[: len(good) // 3])
    else:
        bad.write_bytes(good[:4096] + os.urandom(16 * 4096) + good[17 * 4096 :])
    with pytest.raises(StoreError) as caught:
        Store.open(bad)
    message = str(caught.value)
    assert "damaged" in message and "restore the latest database backup" in message
    assert str(bad) in message and "Traceback" not in message


def test_translate_words_disk_full_and_read_only(tmp_path: Path) -> None:
    full = translate(OSError(errno.ENOSPC, "No space left on device"), tmp_path, "save")
    assert "disk" in str(full) and "full" in str(full) and "Free some space" in str(full)
    full2 = translate(sqlite3.OperationalError("database or disk is full"), tmp_path, "save")
    assert "Free some space" in str(full2)
    readonly = translate(
        sqlite3.OperationalError("attempt to write a readonly database"), tmp_path, "save"
    )
    assert "read-only" in str(readonly)


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(StoreError, match="Could not open the database"):
        Store.open(blocker / "appliance.sqlite")


def test_worker_thread_writes_while_another_thread_reads(store: Store) -> None:
    scan_id = start(store)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for k in range(60):
                add(store, scan_id, f"case1/{k:03}.png")
            store.finish_scan(scan_id, "complete")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    while thread.is_alive():
        store.scans()
        store.images(scan_id)
    thread.join()
    assert not errors
    assert store.scan(scan_id).n_images == 60 and store.scan(scan_id).status == "complete"


def test_schema_2_database_is_migrated_and_old_scans_say_unknown(tmp_path: Path) -> None:
    """A database from 0.1 (schema 2) keeps its scans; their conditions read as not recorded."""
    from appliance.store.migrations import MIGRATIONS

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:2]:
        for statement in migration.statements:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO scans (started_at, status, source, model_name, model_version, model_sha256)"
        " VALUES ('2025-01-01T00:00:00+00:00', 'complete', 'usb', 'm', '1', ?)",
        (MODEL_A,),
    )
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == LATEST_VERSION >= 3
        [old] = store.scans()
        assert old.clock_believable is None and old.throttled_during is None
        assert not old.ran_throttled


def test_scan_conditions_round_trip(store: Store) -> None:
    scan_id = start_test_scan(
        store,
        model_sha256=MODEL_A,
        clock_believable=False,
        clock_note="clock reads 2020-01-01",
        throttled_at_start=0,
    )
    store.finish_scan(scan_id, "complete", throttled_at_end=0x50000, throttled_during=0x5)
    scan = store.scan(scan_id)
    assert scan.clock_believable is False and scan.clock_note == "clock reads 2020-01-01"
    assert (scan.throttled_at_start, scan.throttled_at_end, scan.throttled_during) == (
        0,
        0x50000,
        5,
    )
    assert scan.ran_throttled
    started, finished = (e for e in reversed(store.audit_log()) if e.event.startswith("scan_"))
    assert started.payload["clock_believable"] is False
    assert finished.payload["throttled_during"] == 5
    plain = start(store)
    store.finish_scan(plain, "complete")
    assert store.scan(plain).clock_believable is None and not store.scan(plain).ran_throttled


def test_a_backup_that_cannot_be_written_names_the_backup_not_the_database(
    store: Store, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    with pytest.raises(StoreError) as caught:
        store.backup(blocker / "appliance.db")
    message = str(caught.value)
    assert "the backup file" in message and "the appliance database" not in message
