"""Report file names that never collide across databases, resets or devices.

Why: reports used to be ``scan-N.pdf`` in one folder, so a second database (``--db``) or a reset
(a new, empty database file whose scan ids start at 1 again) overwrote a reviewed report of an
earlier scan without warning. A scan id is only unique inside one database, so the name also
carries a random id that the database receives once (an audited setting), the device name and
the scan's start time:

    scan-7_20261202T004914Z_lab-pi-2_3f9a1c2b.pdf

Rewriting the report of the *same* scan (after a new review) still replaces its own file, which
is what the reviewer wants. ``scan-<id>_`` stays first so the folder sorts and globs as before.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

DATABASE_ID_SETTING = "database_id"
SYSTEM_ACTOR = "system"
_ID = re.compile(r"^[0-9a-f]{32}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SHORT_ID = 8  # hex digits of the database id in a file name (32 random bits)
MAX_DEVICE = 32


class SettingsStore(Protocol):
    """The part of :class:`appliance.store.Store` used here (tests may pass a fake)."""

    def get_setting(self, key: str, default: object = None) -> object: ...

    def set_setting(self, key: str, value: object, actor: str | None) -> None: ...


class ScanLookup(SettingsStore, Protocol):
    def scan(self, scan_id: int): ...  # -> ScanRecord (has .started_at)


def database_id(store: SettingsStore) -> str:
    """This database's random id (32 hex digits), created and stored on first use.

    Stored as a setting, so its creation is in the audit log and a backup carries it: a restored
    database keeps naming its reports as before, a new database never reuses an old id.
    """
    value = store.get_setting(DATABASE_ID_SETTING)
    if isinstance(value, str) and _ID.match(value):
        return value
    store.set_setting(DATABASE_ID_SETTING, uuid.uuid4().hex, actor=SYSTEM_ACTOR)
    stored = store.get_setting(DATABASE_ID_SETTING)  # another process may have won the race
    return str(stored)


def safe_device(device: str) -> str:
    """The device name as a file-name part: letters, digits, ``.``, ``_``, ``-`` only."""
    cleaned = _UNSAFE.sub("-", device.strip()).strip("-.")[:MAX_DEVICE].strip("-.")
    return cleaned or "appliance"


def compact_time(started_at: str) -> str:
    """``2026-12-02T00:49:14.123+00:00`` -> ``20261202T004914Z`` (UTC; unparsable -> digits)."""
    try:
        moment = datetime.fromisoformat(started_at)
    except ValueError:
        digits = re.sub(r"\D", "", started_at)[:14]
        return f"{digits or 'unknown'}Z"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def report_filename(*, scan_id: int, started_at: str, device: str, database_id: str) -> str:
    """The PDF's file name for one scan of one database on one device."""
    return (
        f"scan-{int(scan_id)}_{compact_time(started_at)}_{safe_device(device)}"
        f"_{database_id[:SHORT_ID]}.pdf"
    )


def report_path(store: ScanLookup, reports: Path, scan_id: int, device: str) -> Path:
    """Where the report of ``scan_id`` goes in the ``reports`` folder (the one name to use)."""
    scan = store.scan(scan_id)
    name = report_filename(
        scan_id=scan_id,
        started_at=scan.started_at,
        device=device,
        database_id=database_id(store),
    )
    return Path(reports) / name
