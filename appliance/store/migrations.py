"""Versioned schema changes, applied in order and tracked in ``PRAGMA user_version``.

Appliances in the field are updated, never wiped: every schema change is a new numbered
:class:`Migration` appended to :data:`MIGRATIONS` (never edit one that has shipped). Each runs in
its own ``BEGIN IMMEDIATE`` transaction together with the bump of ``user_version``, so a power cut
mid-migration leaves the database at the previous version, and re-opening simply continues.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from appliance.errors import StoreError
from appliance.store.records import DECISIONS, IMAGE_STATUSES, SCAN_STATUSES


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _append_only(table: str, what: str) -> tuple[str, ...]:
    """Triggers that refuse UPDATE and DELETE, so history cannot be rewritten quietly."""
    return (
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{what} is append-only: entries cannot be changed'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{what} is append-only: entries cannot be deleted'); END""",
    )


_V1 = (
    f"""CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ({_in(SCAN_STATUSES)})),
        message TEXT,
        source TEXT NOT NULL,
        volume_label TEXT,
        volume_path TEXT,
        device TEXT,
        model_name TEXT NOT NULL,
        model_version TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        backend TEXT,
        thresholds_json TEXT NOT NULL DEFAULT '{{}}'
    )""",
    f"""CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        path TEXT NOT NULL,
        case_name TEXT NOT NULL,
        sha256 TEXT,
        size_bytes INTEGER,
        width INTEGER,
        height INTEGER,
        status TEXT NOT NULL CHECK (status IN ({_in(IMAGE_STATUSES)})),
        decision TEXT CHECK (decision IS NULL OR decision IN ({_in(DECISIONS)})),
        p_malignant REAL CHECK (p_malignant IS NULL OR (p_malignant >= 0 AND p_malignant <= 1)),
        error TEXT,
        tiles_json TEXT,
        thumbnail BLOB,
        elapsed_ms REAL,
        reused_from_image_id INTEGER REFERENCES images(id),
        created_at TEXT NOT NULL
    )""",
    f"""CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id),
        reviewer TEXT NOT NULL CHECK (length(trim(reviewer)) > 0),
        agreed INTEGER NOT NULL CHECK (agreed IN (0, 1)),
        corrected_decision TEXT
            CHECK (corrected_decision IS NULL OR corrected_decision IN ({_in(DECISIONS)})),
        note TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        event TEXT NOT NULL,
        scan_id INTEGER,
        image_id INTEGER,
        actor TEXT,
        payload_json TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX images_sha256 ON images(sha256)",
    "CREATE INDEX images_scan_id ON images(scan_id)",
    "CREATE INDEX scans_started_at ON scans(started_at)",
    "CREATE INDEX reviews_image_id ON reviews(image_id)",
    *_append_only("audit", "the audit log"),
    *_append_only("reviews", "the review history"),
    """CREATE TRIGGER images_no_delete BEFORE DELETE ON images
    BEGIN SELECT RAISE(ABORT, 'image results are kept: they cannot be deleted'); END""",
)

_V2 = (
    """CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value_json TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT
    )""",
)

# What the appliance knew about its own conditions when a scan ran (NULL in older rows: not
# recorded). clock_believable: 1/0, whether the clock was not earlier than the software's build
# time when the scan started (a Pi has no battery-backed clock), with the reason in clock_note.
# throttled_*: the firmware's get_throttled flags at start and end; throttled_during: the
# conditions (bit 0 under-voltage, 1 frequency capped, 2 throttled, 3 soft temperature limit)
# seen while the scan ran.
_V3 = (
    "ALTER TABLE scans ADD COLUMN clock_believable INTEGER"
    " CHECK (clock_believable IS NULL OR clock_believable IN (0, 1))",
    "ALTER TABLE scans ADD COLUMN clock_note TEXT",
    "ALTER TABLE scans ADD COLUMN throttled_at_start INTEGER",
    "ALTER TABLE scans ADD COLUMN throttled_at_end INTEGER",
    "ALTER TABLE scans ADD COLUMN throttled_during INTEGER",
)

# Columns a finishing scan may set; every other column of a scan is fixed once it is inserted.
SCAN_FINISH_COLUMNS: tuple[str, ...] = (
    "status",
    "finished_at",
    "message",
    "throttled_at_end",
    "throttled_during",
)
_SCAN_FIXED_V4: tuple[str, ...] = (
    "id",
    "started_at",
    "source",
    "volume_label",
    "volume_path",
    "device",
    "model_name",
    "model_version",
    "model_sha256",
    "backend",
    "thresholds_json",
    "clock_believable",
    "clock_note",
    "throttled_at_start",
    "owner_pid",
    "owner_boot_id",
    "owner_start_ticks",
    "owner_pid_ns",
)
_FINAL = tuple(s for s in SCAN_STATUSES if s != "running")


def _no_replace(table: str, what: str) -> str:
    """``INSERT OR REPLACE`` deletes the old row without firing DELETE triggers: refuse it."""
    return f"""CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table}
    WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{what} is append-only: entries cannot be replaced'); END"""


# Schema 4 (issue 10): names stored losslessly, a fingerprint of each result, who runs a scan,
# and append-only for images and scans too. path_raw/case_raw: the exact bytes of the name
# (path/case_name hold a display form, U+FFFD for undecodable bytes); NULL in older rows, whose
# names were valid text. result_sha256: see appliance.store.integrity (NULL in older rows: those
# are not reused, because whether they were edited while UPDATE was allowed cannot be known).
# owner_*: see appliance.store.owner. A scan may change only from 'running' to a final status,
# once, setting the SCAN_FINISH_COLUMNS. A later migration that adds a column to scans must
# recreate scans_only_finish with that column in the fixed list (or in SCAN_FINISH_COLUMNS).
_V4 = (
    "ALTER TABLE images ADD COLUMN path_raw BLOB",
    "ALTER TABLE images ADD COLUMN case_raw BLOB",
    "ALTER TABLE images ADD COLUMN result_sha256 TEXT",
    "ALTER TABLE scans ADD COLUMN owner_pid INTEGER",
    "ALTER TABLE scans ADD COLUMN owner_boot_id TEXT",
    "ALTER TABLE scans ADD COLUMN owner_start_ticks INTEGER",
    "ALTER TABLE scans ADD COLUMN owner_pid_ns TEXT",
    """CREATE TRIGGER images_no_update BEFORE UPDATE ON images
    BEGIN SELECT RAISE(ABORT, 'image results are kept as recorded: they cannot be changed'); END""",
    """CREATE TRIGGER scans_no_delete BEFORE DELETE ON scans
    BEGIN SELECT RAISE(ABORT, 'scans are kept: they cannot be deleted'); END""",
    f"""CREATE TRIGGER scans_only_finish BEFORE UPDATE ON scans
    WHEN NOT (OLD.status = 'running' AND NEW.status IN ({_in(_FINAL)})
        AND OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL
        AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in _SCAN_FIXED_V4)})
    BEGIN SELECT RAISE(ABORT,
        'scans are append-only: a running scan can only be finished, once'); END""",
    _no_replace("images", "the image results"),
    _no_replace("scans", "the scan history"),
    _no_replace("reviews", "the review history"),
    _no_replace("audit", "the audit log"),
)

# Schema 5 (issue 12): each case's specimen details as the scan found them, from a sidecar file
# in the case's folder (appliance.ingest.sidecar) or, without one, only the folder name
# (source 'folder'). One row per case per scan; append-only like every result. A new table, so
# the scans trigger of schema 4 stays as it is. See appliance.store.cases.
_V5 = (
    """CREATE TABLE case_details (
        id INTEGER PRIMARY KEY,
        scan_id INTEGER NOT NULL REFERENCES scans(id),
        case_name TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('sidecar', 'folder')),
        accession TEXT,
        specimen TEXT,
        specimen_type TEXT,
        body_site TEXT,
        collected TEXT,
        note TEXT,
        problems_json TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        UNIQUE (scan_id, case_name)
    )""",
    *_append_only("case_details", "the case details"),
    _no_replace("case_details", "the case details"),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "scans, images, reviews, audit", _V1),
    Migration(2, "settings", _V2),
    Migration(3, "scan conditions: clock believable, throttling", _V3),
    Migration(4, "lossless names, result fingerprints, scan owners, append-only scans", _V4),
    Migration(5, "case details: specimen and accession from the stick", _V5),
)
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_not_newer(version: int, where: str) -> None:
    """Refuse a database written by newer software: old code could misread or damage it."""
    if version > LATEST_VERSION:
        raise StoreError(
            f"The database {where} was written by a newer version of the appliance software"
            f" (schema {version}; this version understands up to {LATEST_VERSION})."
            " Update the appliance software, or restore a backup made by this version."
        )


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Bring the schema up to :data:`LATEST_VERSION`; returns the version reached.

    Idempotent: a migration already applied is skipped. The version is re-read inside each
    write transaction, so two processes opening the same file cannot both apply a step.
    """
    check_not_newer(schema_version(conn), where)
    for migration in MIGRATIONS:
        if schema_version(conn) >= migration.version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn)
            check_not_newer(current, where)
            if current < migration.version:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return schema_version(conn)
