"""Put a backup back: ``histo-appliance restore FILE``.

Why this order: the file to restore is first copied next to the database and checked there
(``PRAGMA integrity_check``, a schema version this software knows, the appliance's tables), so a
stick pulled mid-way or a wrong file changes nothing. The database as it was is then kept under a
timestamped name before anything is written over it, so a restore can itself be undone. A
healthy database is overwritten through SQLite's online backup API (the other way round from a
backup): other programs with it open see the restored contents instead of a file swapped under
them. A database that cannot be opened (empty, damaged, from newer software) is moved aside
whole and the checked copy renamed into its place. Both sides of the restore are audited.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from appliance.errors import StoreError
from appliance.store import owner as owners
from appliance.store.database import Store
from appliance.store.failures import guard
from appliance.store.migrations import LATEST_VERSION

SQLITE_MAGIC = b"SQLite format 3\x00"
REQUIRED_TABLES = frozenset({"scans", "images", "reviews", "audit"})
_JOURNALS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: from which file, where the previous database is kept (None: there
    was none), and what the restored database holds."""

    database: Path
    source: Path
    source_sha256: str
    kept_at: Path | None
    previous_state: str  # "none", "healthy" or the reason it could not be opened
    backup_schema: int
    n_scans: int
    n_images: int


def restore_database(database: Path, source: Path, *, now: datetime | None = None) -> RestoreResult:
    """Replace ``database`` with the checked contents of the backup ``source``."""
    database = Path(os.path.abspath(Path(database).expanduser()))
    source = Path(os.path.abspath(Path(source).expanduser()))
    if not source.is_file():
        raise StoreError(f"There is no backup file at {source}. Give the path of a .db backup.")
    if database.exists() and os.path.samefile(source, database):
        raise StoreError(f"{source} is the appliance database itself, not a backup of it.")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    staging = database.with_name(f".{database.name}.restore-{os.getpid()}")
    with guard(database, "prepare the restore"):
        database.parent.mkdir(parents=True, exist_ok=True)
    try:
        digest = _stage(source, staging)
        schema = check_backup(staging, source)
        result = _install(database, source, staging, digest, schema, stamp)
    finally:
        for leftover in _family(staging):
            with contextlib.suppress(OSError):
                leftover.unlink()
    return result


def _family(path: Path) -> tuple[Path, ...]:
    return (path, *(path.with_name(path.name + suffix) for suffix in _JOURNALS))


def _stage(source: Path, staging: Path) -> str:
    """Copy ``source`` (and a ``-wal`` beside it, if any) next to the database; its sha256."""
    with guard(staging, "copy the backup next to the database", "the copy of the backup"):
        for leftover in _family(staging):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(source, staging)
        wal = source.with_name(source.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, staging.with_name(staging.name + "-wal"))
        sha = hashlib.sha256()
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


def check_backup(path: Path, shown_as: Path | None = None) -> int:
    """Check that ``path`` is an intact appliance database this software understands; return
    its schema version. Refusals name ``shown_as`` (the file the admin gave)."""
    shown = shown_as or path
    with open(path, "rb") as handle:
        header = handle.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        what = "is empty" if not header else "is not a SQLite database"
        raise StoreError(f"{shown} {what}, so it is not an appliance backup; nothing was changed.")
    try:
        conn = sqlite3.connect(path)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(5)").fetchall()]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to install
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(
            f"{shown} cannot be read as a database ({exc}); nothing was changed."
        ) from exc
    if rows != ["ok"]:
        detail = "; ".join(rows)[:200]
        raise StoreError(f"{shown} is damaged ({detail}); nothing was changed. Try another backup.")
    if version > LATEST_VERSION:
        raise StoreError(
            f"{shown} was written by a newer version of the appliance software (schema {version};"
            f" this version understands up to {LATEST_VERSION}). Update the software first;"
            " nothing was changed."
        )
    if version < 1 or not tables >= REQUIRED_TABLES:
        raise StoreError(
            f"{shown} is a SQLite file but not an appliance database (no scan history in it);"
            " nothing was changed."
        )
    return version


def _install(
    database: Path, source: Path, staging: Path, digest: str, schema: int, stamp: str
) -> RestoreResult:
    kept_at = _unused(database.with_name(f"{database.name}.before-restore-{stamp}"))
    previous = "none"
    if database.exists():
        try:
            current = Store.open(database)  # marks scans whose process is gone first
        except StoreError as exc:
            previous = str(exc)
            _move_aside(database, kept_at)
            _rename_into_place(staging, database)
        else:
            previous = "healthy"
            with current:
                _refuse_if_scanning(current)
                current.audit(
                    "restore_started", source=str(source), source_sha256=digest,
                    kept_at=str(kept_at),
                )  # fmt: skip
                current.backup(kept_at)
                with guard(kept_at, "keep the current database", "the kept copy"):
                    _same_owner_as_folder(kept_at)
                _copy_over(staging, current)
    else:
        kept_at = None
        _rename_into_place(staging, database)
    with Store.open(database) as restored:
        restored.audit(
            "database_restored",
            source=str(source),
            source_sha256=digest,
            backup_schema=schema,
            kept_at=None if kept_at is None else str(kept_at),
            previous=previous if previous in ("none", "healthy") else f"unusable: {previous}",
        )
        n_scans = int(restored.conn.execute("SELECT COUNT(*) FROM scans").fetchone()[0])
        n_images = int(restored.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])
    return RestoreResult(database, source, digest, kept_at, previous, schema, n_scans, n_images)


def _unused(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``…: two restores in one second keep both old copies."""
    candidate, n = path, 1
    while any(p.exists() for p in _family(candidate)):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _refuse_if_scanning(store: Store) -> None:
    """A scan being written now would lose its rows: wait for it (or stop the appliance)."""
    me = owners.current()
    running = store.conn.execute(
        "SELECT id, owner_pid FROM scans WHERE status = 'running' ORDER BY id"
    ).fetchall()
    for scan_id, pid in running:
        if pid == me.pid:
            continue
        raise StoreError(
            f"Scan {scan_id} is running now (process {pid}). Wait until it ends, or"
            " stop the appliance (sudo systemctl stop histo-appliance-watch"
            " histo-appliance-kiosk), then restore; nothing was changed."
        )


def _copy_over(staging: Path, current: Store) -> None:
    """SQLite's backup API from the checked copy into the open database, in one step."""
    with current._lock, guard(current.path, "restore the backup into the database"):
        source = sqlite3.connect(staging)
        try:
            live_size = current.conn.execute("PRAGMA page_size").fetchone()[0]
            if source.execute("PRAGMA page_size").fetchone()[0] != live_size:
                source.execute(f"PRAGMA page_size = {int(live_size)}")
                source.execute("VACUUM")  # a WAL database cannot change its page size
            source.backup(current.conn)
        finally:
            source.close()


def _move_aside(database: Path, kept_at: Path) -> None:
    with guard(database, "keep the current database aside"):
        for suffix in ("", *_JOURNALS):
            part = database.with_name(database.name + suffix)
            if part.exists():
                os.replace(part, kept_at.with_name(kept_at.name + suffix))


def _same_owner_as_folder(path: Path) -> None:
    """Run as root (``sudo`` without ``-u histo-appliance``), a new file would belong to root and
    the appliance could not write it: it gets the owner of the database's folder instead."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        folder = path.parent.stat()
        os.chown(path, folder.st_uid, folder.st_gid)


def _rename_into_place(staging: Path, database: Path) -> None:
    with guard(database, "put the restored database in place"):
        with open(staging, "rb+") as handle:
            os.fsync(handle.fileno())
        _same_owner_as_folder(staging)
        os.replace(staging, database)
        dir_fd = os.open(database.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


__all__ = ["RestoreResult", "check_backup", "restore_database"]
