"""``histo-appliance backup``: a consistent copy of the database, to a folder or onto a stick.

Why its own module: a backup onto a stick is one of the two writes the appliance makes to
removable media. Sticks are mounted read-only, so the copy is first made on the appliance (SQLite's
online backup, consistent even while the GUI or watcher writes), then copied to the stick inside
:func:`~appliance.ingest.stick_write.writable_stick` — the stick is writable only for that copy.
If the stick cannot be written, the message says why and where the local copy is.

Errors name the backup's destination, not "the appliance database": the database is only read.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from appliance.errors import ApplianceError, StoreError
from appliance.ingest.mounts import MountTable
from appliance.ingest.stick_write import (
    AUTO,
    copy_onto_stick,
    existing_ancestor,
    mount_holding,
    os_reason,
    stick_holding,
)
from appliance.ingest.udisks import Mounter


class BackupFailed(ApplianceError):
    """The backup could not be written where asked; the database itself is unchanged."""


def default_name(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"histo-appliance-{moment}.db"


def _copy_database(store, dest: Path) -> Path:
    """SQLite online backup to ``dest``, with errors that name ``dest``."""
    try:
        return store.backup(dest)
    except StoreError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError):
            reason = os_reason(cause).replace("it ", "the destination ", 1)
        elif isinstance(cause, sqlite3.Error):
            reason = f"SQLite could not write it ({cause})"
        else:
            reason = str(exc)
        raise BackupFailed(
            f"The backup could not be written to {dest}: {reason}. The appliance database"
            " itself is unchanged."
        ) from exc


def _check_folder(dest: Path, mounts: MountTable) -> None:
    folder = existing_ancestor(dest.parent)
    entry = mount_holding(folder, mounts)
    if (entry is not None and entry.read_only) or not os.access(folder, os.W_OK):
        why = (
            "is on a read-only file system"
            if entry is not None and entry.read_only
            else "may not be written by this user"
        )
        raise BackupFailed(
            f"The backup could not be written to {dest}: the folder {folder} {why}. Choose a"
            " writable folder, or a USB stick (the appliance makes it writable just for the"
            " backup). The appliance database itself is unchanged."
        )


def backup_database(
    database: Path,
    destination: Path | str,
    *,
    mounter: Mounter | None = AUTO,
    mounts: MountTable | None = None,
    sys_root: Path = Path("/sys"),
) -> tuple[Path, str]:
    """Back up ``database`` to ``destination``; return the file written and a note (or "")."""
    from appliance.store import Store

    mounts = mounts if mounts is not None else MountTable()
    dest = Path(os.path.abspath(Path(destination).expanduser()))
    if dest.is_dir() or str(destination).endswith(os.sep):  # "sticks/LAB/" names a folder
        dest = dest / default_name()
    stick = stick_holding(dest, mounts, sys_root)
    with Store.open(database) as store:
        if stick is None:
            _check_folder(dest, mounts)
            written = _copy_database(store, dest)
            store.audit("backup", destination=str(written))
            return written, ""
        local = Path(database).resolve().parent / "backups" / dest.name
        _copy_database(store, local)
        target, note = copy_onto_stick(
            local,
            dest,
            stick,
            purpose="backup",
            audit=store.audit,
            mounter=mounter,
            mounts=mounts,
            refused=BackupFailed,
        )
        store.audit("backup", destination=str(target), stick=stick.mount_point.name)
        with contextlib.suppress(OSError):
            local.unlink()
        return target, note
