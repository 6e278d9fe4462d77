"""The store's plumbing: opening, the one lock, transactions, parameter-bound reads and inserts.

Why one connection behind a lock: the scan worker writes from its thread while the GUI reads
from its own, and a single serialised connection is the simplest thing that cannot interleave a
half-written scan with a read. Every sqlite3 failure a person can meet is turned into a
:class:`StoreError` that says what to do (:mod:`appliance.store.failures`).

Why the standard library's ``sqlite3`` and nothing on top: see :mod:`appliance.store.database`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from appliance.errors import ApplianceError, StoreError
from appliance.store.failures import guard as _guard
from appliance.store.migrations import schema_version
from appliance.store.names import storable
from appliance.store.records import AuditRecord

log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


class NotFound(StoreError, LookupError):
    """A scan or image id that is not in the database."""


class InvalidReview(ApplianceError, ValueError):
    """A review the reviewer must complete before it can be saved (the message says what)."""


def utc_now() -> str:
    """UTC ISO-8601 with milliseconds: sorts as text, and is the same on every appliance."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _dumps(value: Any) -> str:
    """JSON text SQLite can store: a name with undecodable bytes reads with U+FFFD."""
    return storable(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class StoreCore:
    """The connection, the lock and the few ways every part of the store reads and writes."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock, _guard(self.path, "read the schema version"):
            return schema_version(self.conn)

    # -- plumbing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction under the lock: all of it lands, or none."""
        with self._lock, _guard(self.path, action):
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: dict[str, Any] | tuple[Any, ...] = ()) -> list[dict]:
        """Rows of a query whose values are all bound parameters (never spliced into ``sql``)."""
        if isinstance(params, dict):
            params = {k: storable(v) for k, v in params.items()}
        else:
            params = tuple(storable(v) for v in params)
        with self._lock, _guard(self.path, "read the database"):
            cursor = self.conn.execute(sql, params)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _insert(self, db: sqlite3.Connection, table: str, values: dict[str, Any]) -> int:
        """INSERT with every value bound as a parameter; table and column names are this
        module's own identifiers (checked), never text from outside."""
        if not all(_IDENTIFIER.fullmatch(name) for name in (table, *values)):
            raise ValueError(f"not an identifier in INSERT INTO {table} {list(values)}")
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        bound = {k: storable(v) for k, v in values.items()}
        cursor = db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", bound)
        return int(cursor.lastrowid)

    def _audit_in(
        self,
        db: sqlite3.Connection,
        event: str,
        *,
        actor: str | None,
        scan_id: int | None,
        image_id: int | None,
        payload: dict[str, Any],
    ) -> int:
        return self._insert(
            db,
            "audit",
            {
                "at": utc_now(),
                "event": event,
                "scan_id": scan_id,
                "image_id": image_id,
                "actor": actor,
                "payload_json": _dumps(payload),
            },
        )

    def _require(self, db: sqlite3.Connection, table: str, row_id: int, what: str) -> None:
        found = db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone()
        if found is None:
            raise NotFound(f"There is no {what} number {row_id} in the database.")

    # -- audit ---------------------------------------------------------------------------------

    def audit(
        self,
        event: str,
        *,
        actor: str | None = None,
        scan_id: int | None = None,
        image_id: int | None = None,
        **payload: Any,
    ) -> int:
        """Append one entry to the audit log (e.g. "report_exported", "model_changed")."""
        with self._write("write the audit log") as db:
            return self._audit_in(
                db, event, actor=actor, scan_id=scan_id, image_id=image_id, payload=payload
            )

    def audit_log(self, limit: int = 500) -> list[AuditRecord]:
        """The newest ``limit`` audit entries, newest first."""
        rows = self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (int(limit),))
        return [AuditRecord.from_row(r) for r in rows]

    # -- backup --------------------------------------------------------------------------------

    def backup(self, dest: Path) -> Path:
        """Copy the live database to ``dest`` with SQLite's online backup API.

        The copy is written beside ``dest`` first and renamed into place only when complete and
        checked, so a pulled stick or full disk never leaves a half backup under the real name.
        The copy is switched to a single-file journal so it can be carried as one file.
        """
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        with self._lock, _guard(dest, "write the backup", "the backup file"):
            dest.parent.mkdir(parents=True, exist_ok=True)
            part.unlink(missing_ok=True)
            target = sqlite3.connect(str(part))
            try:
                self.conn.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")
                rows = [str(r[0]) for r in target.execute("PRAGMA quick_check").fetchall()]
            finally:
                target.close()
            if rows != ["ok"]:
                part.unlink(missing_ok=True)
                raise StoreError(f"The backup copy at {dest} failed its check; try again.")
            with open(part, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(part, dest)
        return dest
