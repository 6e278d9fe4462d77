"""Opening the database file: connect, check, migrate; create a new one only whole.

Why its own module: how a file becomes a usable database (durability pragmas, the integrity check
at every start, migrations, and an atomic first creation) is separate from what the store keeps.
An existing file is never replaced here: one that is damaged or empty is refused in words.
"""

from __future__ import annotations

import glob
import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from appliance.store.failures import damaged
from appliance.store.failures import guard as _guard
from appliance.store.migrations import check_not_newer, migrate, schema_version
from appliance.store.owner import pid_exists

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """``quick_check`` at every start: a damaged file is reported before anything is added."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
    if rows != ["ok"]:
        lines = [line.strip("* ") for row in rows for line in row.splitlines()]
        detail = "; ".join(line for line in lines if line)[:200]
        raise damaged(path, detail)


def _uri(path: Path, mode: str) -> str:
    return f"file:{quote(os.fsencode(path.absolute()))}?mode={mode}"


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Connect, check and migrate; ``create`` False never makes a file (it must exist)."""
    conn: sqlite3.Connection | None = None
    try:
        with _guard(path, "open the database"):
            conn = sqlite3.connect(
                _uri(path, "rwc" if create else "rw"),
                uri=True,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # REPLACE then fires DELETE triggers too (what sqlite-utils used to switch on).
            conn.execute("PRAGMA recursive_triggers = ON")
            # Reading the header first: a file that is not a database fails here, in words.
            check_not_newer(schema_version(conn), str(path))
            check_integrity(conn, path)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("journal_mode is %s, not wal, for %s", mode, path)
            conn.execute("PRAGMA synchronous = FULL")
            migrate(conn, str(path))
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def create(path: Path) -> None:
    """Build a new, fully migrated database beside ``path`` and link it into place.

    ``os.link`` fails if ``path`` appeared meanwhile (another process created it first): then
    that one is used and this one is dropped.
    """
    part = path.with_name(f".{path.name}.new-{os.getpid()}")
    _remove_unfinished(path)
    for leftover in _with_journals(part):
        leftover.unlink(missing_ok=True)
    connect(part, create=True).close()  # closing checkpoints and removes the -wal file
    try:
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        os.link(part, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: rename, unless one appeared meanwhile
        if not path.exists():
            os.replace(part, path)
    finally:
        for leftover in _with_journals(part):
            leftover.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _remove_unfinished(path: Path) -> None:
    """Drop half-built databases of creators that died (power cut, kill) before linking theirs;
    one whose process still runs is left to finish."""
    for part in path.parent.glob(f".{glob.escape(path.name)}.new-*"):
        pid = part.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_exists(int(pid)):
            part.unlink(missing_ok=True)


def _with_journals(path: Path) -> tuple[Path, ...]:
    return tuple(path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm", "-journal"))


__all__ = ["BUSY_TIMEOUT_MS", "check_integrity", "connect", "create"]
