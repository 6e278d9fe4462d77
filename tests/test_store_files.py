"""Database file problems give messages, never tracebacks, and the file is never silently replaced
(issue 10): an empty file, a locked, read-only or full disk each read as what to do."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from appliance.errors import StoreError
from appliance.store import LATEST_VERSION, Store, opening
from tests.conftest import start_test_scan


def test_an_empty_database_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "appliance.db"
    path.write_bytes(b"")
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    message = str(caught.value)
    assert "empty file (0 bytes)" in message and str(path) in message
    assert "histo-appliance restore" in message and "move the file aside" in message
    assert path.stat().st_size == 0 and sorted(os.listdir(tmp_path)) == ["appliance.db"]


def test_a_new_database_appears_only_when_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut while the database is created must not leave an empty file (which the next
    start would rightly refuse): it is built beside its name and linked in when complete."""
    path = tmp_path / "appliance.db"
    real_migrate = opening.migrate

    def power_cut(conn, where):
        real_migrate(conn, where)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(opening, "migrate", power_cut)
    with pytest.raises(KeyboardInterrupt):
        Store.open(path)
    assert not path.exists()
    monkeypatch.undo()
    dead = subprocess.run(["true"])
    (tmp_path / ".appliance.db.new-999999999").write_bytes(b"half")  # another dead creator
    assert dead.returncode == 0
    with Store.open(path) as store:
        assert store.schema_version == LATEST_VERSION
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "appliance.db"
    ]


@pytest.mark.parametrize("content", [b"SQLite format 3\x00" + b"\x00" * 84, b"\x00" * 4096])
def test_a_cut_short_or_zeroed_database_is_refused_in_words(tmp_path: Path, content) -> None:
    path = tmp_path / "appliance.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    assert "histo-appliance restore" in str(caught.value) or "damaged" in str(caught.value)
    assert path.read_bytes() == content


def test_a_database_locked_by_another_writer_gives_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "appliance.db"
    Store.open(path).close()
    monkeypatch.setattr(opening, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program writing and not letting go
    try:
        with Store.open(path) as store:
            assert store.scans() == []  # reading still works
            with pytest.raises(StoreError, match="in use by another program"):
                start_test_scan(store)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Store.open(path) as store:
        start_test_scan(store)  # once it lets go, scans are recorded again


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 1 MB tmpfs (root only): a real full or read-only file system, not a simulated one."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(store: Store, scan_id: int, n: int) -> None:
    for k in range(n):
        store.record_image(
            scan_id, path=f"c/{k}.png", case="c", sha256=f"{k:064x}", size_bytes=1, width=1,
            height=1, status="ok", decision="benign", p_malignant=0.1, error=None, tiles=None,
            thumbnail=os.urandom(2000), elapsed_ms=1.0,
        )  # fmt: skip


def test_a_full_disk_gives_words_and_keeps_what_was_written(small_disk: Path) -> None:
    path = small_disk / "appliance.db"
    with Store.open(path) as store:
        scan_id = start_test_scan(store)
        _fill(store, scan_id, 5)
        filler = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass  # the disk is full now
        finally:
            os.close(filler)
        with pytest.raises(StoreError, match=r"is full\. Free some space"):
            _fill(store, scan_id, 200)
        written = store.scan(scan_id).n_images
        assert written >= 5
    (small_disk / "filler").unlink()
    with Store.open(path) as store:
        assert store.scan(scan_id).n_images == written
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_read_only_disk_gives_words(small_disk: Path) -> None:
    path = small_disk / "appliance.db"
    with Store.open(path) as store:
        start_test_scan(store)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(StoreError) as caught, Store.open(path) as store:
        start_test_scan(store)
    message = str(caught.value)
    assert "read-only" in message and str(path) in message
    with pytest.raises(StoreError, match="read-only"):
        Store.open(small_disk / "new" / "appliance.db")


def test_a_folder_where_the_database_should_be_gives_words(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder, not a database file"):
        Store.open(tmp_path)
