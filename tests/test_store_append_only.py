"""Append-only means append-only (issue 10): results and scans cannot be changed or deleted, a
scan only goes from running to a final status once, a reused result is the one stored, and a scan
whose process died is marked interrupted at the next start (never one still running)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.store import Store
from appliance.store import owner as owners
from tests.conftest import ROOT, start_test_scan

MODEL = "a" * 64


def add(store: Store, scan_id: int, *, sha: str = "1" * 64, p: float = 0.9) -> int:
    return store.record_image(
        scan_id,
        path="case1/a.png",
        case="case1",
        sha256=sha,
        size_bytes=10,
        width=50,
        height=50,
        status="ok",
        decision="malignant" if p >= 0.5 else "benign",
        p_malignant=p,
        error=None,
        tiles={"n": 3, "p": [0.8, 0.9, 1.0]},
        thumbnail=b"\xff\xd8thumb",
        elapsed_ms=1.0,
    )


@pytest.fixture()
def store(tmp_path: Path):
    with Store.open(tmp_path / "appliance.db") as opened:
        yield opened


def raw(store: Store) -> sqlite3.Connection:
    """A second connection going around the Store, as a person with sqlite3 would."""
    return sqlite3.connect(store.path, isolation_level=None)


# -- append-only -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE images SET p_malignant = 0.01",
        "UPDATE images SET decision = 'benign'",
        "DELETE FROM scans",
        "UPDATE scans SET volume_label = 'OTHER'",
        "UPDATE scans SET status = 'running', finished_at = NULL",
        "UPDATE scans SET status = 'failed', finished_at = '2030-01-01'",
        "UPDATE scans SET message = 'rewritten'",
        "INSERT OR REPLACE INTO images (id, scan_id, path, case_name, status, decision,"
        " p_malignant, created_at) VALUES (1, 1, 'x', 'c', 'ok', 'benign', 0.0, 'now')",
        "INSERT OR REPLACE INTO scans (id, started_at, status, source, model_name,"
        " model_version, model_sha256) VALUES (1, 'now', 'complete', 'usb', 'm', '1', 'x')",
        "REPLACE INTO audit (id, at, event) VALUES (1, 'now', 'nothing')",
    ],
)
def test_results_and_finished_scans_cannot_be_rewritten(store: Store, statement: str) -> None:
    scan_id = start_test_scan(store)
    add(store, scan_id)
    store.finish_scan(scan_id, "complete")
    before = (store.scan(scan_id), store.images(scan_id), store.audit_log())
    conn = raw(store)
    with pytest.raises(sqlite3.IntegrityError, match=r"append-only|kept"):
        conn.execute(statement)
    conn.close()
    assert (store.scan(scan_id), store.images(scan_id), store.audit_log()) == before


def test_a_running_scan_may_only_be_finished_once(store: Store) -> None:
    scan_id = start_test_scan(store)
    conn = raw(store)
    with pytest.raises(sqlite3.IntegrityError):  # a final status needs its finishing time
        conn.execute("UPDATE scans SET status = 'complete' WHERE id = ?", (scan_id,))
    with pytest.raises(sqlite3.IntegrityError):  # no other column may change with it
        conn.execute(
            "UPDATE scans SET status = 'complete', finished_at = 'x', source = 'y' WHERE id = ?",
            (scan_id,),
        )
    conn.close()
    store.finish_scan(scan_id, "cancelled", "cancelled after 0 of 3 images", throttled_during=0)
    assert store.scan(scan_id).status == "cancelled"
    with pytest.raises(StoreError, match="already ended"):
        store.finish_scan(scan_id, "complete")
    assert store.scan(scan_id).status == "cancelled"
    assert store.scan(scan_id).message == "cancelled after 0 of 3 images"


# -- reused results are verified ---------------------------------------------------------------


def _tamper(store: Store, statement: str, params: tuple = ()) -> None:
    """What someone with sqlite3 could do: drop the trigger, edit, put the trigger back."""
    conn = raw(store)
    (trigger_sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'images_no_update'"
    ).fetchone()
    conn.execute("DROP TRIGGER images_no_update")
    conn.execute(statement, params)
    conn.execute(trigger_sql)
    conn.close()


def test_an_edited_result_is_never_reused_and_is_audited_once(store: Store) -> None:
    first = start_test_scan(store, model_sha256=MODEL)
    intact = add(store, first, p=0.91)
    store.finish_scan(first, "complete")
    second = start_test_scan(store, model_sha256=MODEL)
    edited = add(store, second, p=0.92)
    store.finish_scan(second, "complete")
    assert store.find_result("1" * 64, MODEL).id == edited
    assert store.verify_results(second) == []

    _tamper(store, "UPDATE images SET p_malignant = 0.02 WHERE id = ?", (edited,))
    for _ in range(2):  # the edited row is skipped: the earlier, intact one is reused
        found = store.find_result("1" * 64, MODEL)
        assert found is not None and found.id == intact and found.p_malignant == 0.91
    mismatches = [e for e in store.audit_log() if e.event == "result_mismatch"]
    assert [e.image_id for e in mismatches] == [edited]
    assert store.verify_results(second) == [edited]

    _tamper(store, "UPDATE images SET tiles_json = '{}' WHERE id = ?", (intact,))
    assert store.find_result("1" * 64, MODEL) is None  # nothing intact left: the model runs


def test_results_from_before_fingerprints_are_not_reused(store: Store) -> None:
    scan_id = start_test_scan(store, model_sha256=MODEL)
    image_id = add(store, scan_id)
    _tamper(store, "UPDATE images SET result_sha256 = NULL WHERE id = ?", (image_id,))
    assert store.find_result("1" * 64, MODEL) is None
    assert not [e for e in store.audit_log() if e.event == "result_mismatch"]


def test_the_fingerprint_survives_the_round_trip_of_awkward_values(store: Store) -> None:
    scan_id = start_test_scan(store, model_sha256=MODEL)
    for k, p in enumerate((0.1 + 0.2, 1e-17, 1.0, 0.0, 2 / 3)):
        add(store, scan_id, sha=f"{k:064x}", p=p)
    assert store.verify_results(scan_id) == []
    assert all(store.find_result(f"{k:064x}", MODEL) for k in range(5))


# -- scans whose process died ------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from appliance.store import Store
    from tests.conftest import start_test_scan
    store = Store.open(Path({db!r}))
    scan_id = start_test_scan(store, label="CHILD")
    store.record_image(
        scan_id, path="c/a.png", case="c", sha256="2" * 64, size_bytes=1, width=1, height=1,
        status="ok", decision="benign", p_malignant=0.1, error=None, tiles=None,
        thumbnail=None, elapsed_ms=1.0,
    )
    print(scan_id, flush=True)
    time.sleep(60)
    """
)


def _child_scanning(db: Path) -> tuple[subprocess.Popen, int]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT), db=str(db))],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline()
    assert line.strip(), "the child process did not start its scan"
    return child, int(line)


def test_a_scan_of_a_killed_process_is_marked_interrupted_at_the_next_open(
    tmp_path: Path,
) -> None:
    db = tmp_path / "appliance.db"
    Store.open(db).close()
    child, scan_id = _child_scanning(db)
    try:
        with Store.open(db) as other:  # the child is alive: its scan is left alone
            assert other.scan(scan_id).status == "running"
            assert other.mark_abandoned_scans() == []
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with Store.open(db) as after:
        scan = after.scan(scan_id)
        assert scan.status == "interrupted" and scan.finished_at
        assert "crash or killed" in scan.message and "its 1 finished image is kept" in scan.message
        assert after.images(scan_id)[0].p_malignant == 0.1
        [entry] = [e for e in after.audit_log() if e.event == "scan_abandoned"]
        assert entry.scan_id == scan_id and entry.payload["reason"] == "stopped"
    with Store.open(db) as again:  # marked once, then left as it is
        assert [e.event for e in again.audit_log()].count("scan_abandoned") == 1


def test_own_and_live_scans_are_never_marked(store: Store) -> None:
    mine = start_test_scan(store)
    assert store.mark_abandoned_scans() == []
    with Store.open(store.path) as second_open:  # GUI and watch in one process, or reopening
        assert second_open.scan(mine).status == "running"
    me = owners.current()
    unknown_ns = owners.ScanOwner(1, me.boot_id, 0, "pid:[1]")
    other_ns = start_test_scan(store, owner=unknown_ns)
    assert store.mark_abandoned_scans() == []
    assert store.scan(other_ns).status == "running"


def test_scans_from_an_earlier_boot_or_older_software_are_marked(store: Store) -> None:
    me = owners.current()
    earlier_boot = start_test_scan(
        store, owner=owners.ScanOwner(me.pid, "another-boot", me.start_ticks, me.pid_ns)
    )
    reused_pid = start_test_scan(
        store, owner=owners.ScanOwner(me.pid, me.boot_id, (me.start_ticks or 0) + 1, me.pid_ns)
    )
    conn = raw(store)
    conn.execute(
        "INSERT INTO scans (started_at, status, source, model_name, model_version, model_sha256)"
        " VALUES ('2025-01-01T00:00:00+00:00', 'running', 'usb', 'm', '1', ?)",
        (MODEL,),
    )
    older = conn.execute("SELECT MAX(id) FROM scans").fetchone()[0]
    conn.close()
    if me.boot_id is None:
        pytest.skip("no /proc/sys/kernel/random/boot_id on this system")
    assert store.mark_abandoned_scans() == [earlier_boot, reused_pid, older]
    assert "power cut" in store.scan(earlier_boot).message
    assert "crash or killed" in store.scan(reused_pid).message
    assert "software update" in store.scan(older).message
    assert all(store.scan(s).status == "interrupted" for s in (earlier_boot, reused_pid, older))


def test_pid_exists_counts_processes_of_other_users() -> None:
    assert owners.pid_exists(os.getpid())
    assert owners.pid_exists(1)  # init: another user's process may not be signalled, still alive
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    time.sleep(0.05)
    assert not owners.pid_exists(child.pid)
