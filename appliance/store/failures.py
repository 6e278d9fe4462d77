"""Database file problems in words: what failed, where, and what the admin should do.

Why its own module: every sqlite3/OS failure a person can meet (damaged, empty, read-only,
locked, full) is turned into a :class:`~appliance.errors.StoreError` here, so the store's code
says what it does and this module says how a failure reads. A database file is never silently
replaced: an empty or damaged one is refused with the way out (restore a backup, or move it aside).
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from appliance.errors import StoreError

RESTORE_HINT = (
    "Ask the admin to restore the latest database backup to that path"
    " (histo-appliance restore BACKUP-FILE), or to move the damaged file aside so that a new,"
    " empty database is started; then restart the appliance."
)


def damaged(path: Path, detail: str) -> StoreError:
    return StoreError(f"The appliance database ({path}) is damaged ({detail}). {RESTORE_HINT}")


def empty_file(path: Path) -> StoreError:
    """A zero-byte file where the database should be: something cut it short (the store itself
    never leaves one, see ``Store.open``), so starting afresh over it would hide the loss."""
    return StoreError(
        f"The appliance database ({path}) is an empty file (0 bytes): its contents were lost,"
        " for example by a power cut or a full disk while it was being written. It is not"
        " replaced by a new database on its own. Restore the latest backup with"
        f" `histo-appliance restore BACKUP-FILE --db {path}`, or, to start with an empty history,"
        " move the file aside; then restart the appliance."
    )


def translate(
    exc: BaseException, path: Path, action: str, what: str = "the appliance database"
) -> StoreError:
    """Word a sqlite3/OS failure for the technician or admin who has to act on it; ``what`` names
    the file that failed (a backup's destination is not "the appliance database")."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    lowered = text.lower()
    where = f"{what} ({path})"
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            name = "SQLITE_FULL"
        elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            name = "SQLITE_READONLY"
    if name.startswith("SQLITE_FULL") or "disk is full" in lowered or "no space" in lowered:
        return StoreError(
            f"Could not {action}: the disk holding {where} is full. Free some space (for example"
            " remove old exported reports or backups) and try again."
        )
    if (
        name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH"))
        or "readonly" in lowered
        or "read-only" in lowered
        or "unable to open" in lowered
    ):
        return StoreError(
            f"Could not {action}: {where} cannot be opened for writing. Check that the storage"
            " is not read-only or full and that the appliance user may write to that folder,"
            f" then restart the appliance. ({text})"
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or (
        "not a database" in lowered or "malformed" in lowered
    ):
        return StoreError(f"Could not {action}: {where} is damaged ({text}). {RESTORE_HINT}")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in lowered:
        return StoreError(
            f"Could not {action}: {where} is in use by another program, which kept it locked"
            " for longer than the appliance waits. Close that program (or restart the"
            " appliance) and try again."
        )
    if name.startswith("SQLITE_CONSTRAINT") and ("append-only" in lowered or "are kept" in lowered):
        return StoreError(f"Could not {action}: the history is kept as recorded ({text}).")
    if name.startswith("SQLITE_IOERR") or "disk i/o" in lowered:
        return StoreError(
            f"Could not {action}: reading or writing {where} failed ({text}). The SD card may"
            " be failing: make a backup now and ask the admin to check the storage."
        )
    if isinstance(exc, OSError):
        return StoreError(
            f"Could not {action}: the folder for {where} cannot be used ({text}). Check that the"
            " storage is mounted and writable, then restart the appliance."
        )
    return StoreError(f"Could not {action}: {where} reported an error ({text}).")


@contextlib.contextmanager
def guard(path: Path, action: str, what: str = "the appliance database") -> Iterator[None]:
    """Turn sqlite3/OS failures inside the block into a worded :class:`StoreError`."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise translate(exc, path, action, what) from exc


__all__ = ["RESTORE_HINT", "damaged", "empty_file", "guard", "translate"]
