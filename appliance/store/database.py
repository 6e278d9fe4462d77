"""The appliance's one local database: scans, per-image results, human reviews and an audit log.

Why SQLite in WAL mode with ``synchronous=FULL``: the Pi can lose power at any moment, and a
result that was shown to a technician must still be there after the reboot. Why one connection
behind a lock: the scan worker writes from its thread while the GUI reads from its own, and a
single serialised connection is the simplest thing that cannot interleave a half-written scan
with a read. Every sqlite3 failure a person can meet is turned into a :class:`StoreError` that
says what to do.
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from appliance.errors import ApplianceError, StoreError
from appliance.store import owner as owners
from appliance.store.failures import empty_file, translate
from appliance.store.failures import guard as _guard
from appliance.store.integrity import result_sha256, row_result_sha256
from appliance.store.migrations import LATEST_VERSION, schema_version
from appliance.store.names import display, raw_bytes, storable
from appliance.store.opening import connect, create
from appliance.store.records import (
    DECISIONS,
    IMAGE_STATUSES,
    SCAN_STATUSES,
    AuditRecord,
    ImageRecord,
    ReviewRecord,
    ScanRecord,
)

log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

_SCAN_AUDIT_FIELDS = (
    "source",
    "volume_label",
    "volume_path",
    "device",
    "model_name",
    "model_version",
    "model_sha256",
    "backend",
)


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


class Store:
    """The appliance's database. Open with :meth:`Store.open`; use as a context manager."""

    def __init__(self, path: Path, db: sqlite_utils.Database) -> None:
        self.path = path
        self.db = db
        self._lock = threading.RLock()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, mark_abandoned: bool = True) -> Store:
        """Open (creating if needed), check and migrate the database at ``path``.

        An existing file is never replaced: an empty (0-byte) or damaged one is refused in words.
        A new database is built beside ``path`` and linked into place only when complete, so a
        power cut while creating it never leaves an empty file under the real name (which is why
        an empty file there always means something was lost). Scans left ``running`` by a
        process that is gone are then marked interrupted (see :meth:`mark_abandoned_scans`).
        """
        path = Path(path)
        with _guard(path, "open the database"):
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                create(path)
            if path.is_dir():
                raise StoreError(
                    f"The appliance database ({path}) is a folder, not a database file. Give the"
                    " path of the database file (the `database` setting or --db)."
                )
            if path.is_file() and path.stat().st_size == 0:
                raise empty_file(path)
        store = cls(path, sqlite_utils.Database(connect(path)))
        if mark_abandoned:
            try:
                store.mark_abandoned_scans()
            except StoreError as exc:  # e.g. a read-only copy: opening for reading still works
                log.warning("could not check for abandoned scans in %s: %s", path, exc)
        return store

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock, _guard(self.path, "read the schema version"):
            return schema_version(self.db.conn)

    # -- plumbing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite_utils.Database]:
        """One ``BEGIN IMMEDIATE`` transaction under the lock: all of it lands, or none."""
        with self._lock, _guard(self.path, action):
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
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
            return list(self.db.query(sql, params))

    def _insert(self, db: sqlite_utils.Database, table: str, values: dict[str, Any]) -> int:
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
        db: sqlite_utils.Database,
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

    # -- scans ---------------------------------------------------------------------------------

    def start_scan(
        self,
        *,
        source: str,
        volume_label: str | None,
        volume_path: str | None,
        device: str | None,
        model_name: str,
        model_version: str,
        model_sha256: str,
        backend: str | None,
        thresholds: dict[str, Any],
        clock_believable: bool | None = None,
        clock_note: str | None = None,
        throttled_at_start: int | None = None,
        owner: owners.ScanOwner | None = None,
    ) -> int:
        """Record that a scan began (status ``running``) and return its id.

        ``clock_believable``/``clock_note``: whether the clock could be trusted (None: not
        checked); ``throttled_at_start``: the firmware's throttled flags (None: not a Pi).
        ``owner``: the process running the scan (default: this one), so that a later start can
        tell a scan whose process died from one still running.
        """
        owner = owner or owners.current()
        values = {
            "started_at": utc_now(),
            "status": "running",
            "source": source,
            "volume_label": volume_label,
            "volume_path": volume_path,
            "device": device,
            "model_name": model_name,
            "model_version": model_version,
            "model_sha256": model_sha256,
            "backend": backend,
            "thresholds_json": _dumps(thresholds),
            "clock_believable": None if clock_believable is None else int(clock_believable),
            "clock_note": clock_note,
            "throttled_at_start": throttled_at_start,
            "owner_pid": owner.pid,
            "owner_boot_id": owner.boot_id,
            "owner_start_ticks": owner.start_ticks,
            "owner_pid_ns": owner.pid_ns,
        }
        with self._write("record the start of the scan") as db:
            scan_id = self._insert(db, "scans", values)
            self._audit_in(
                db,
                "scan_started",
                actor=None,
                scan_id=scan_id,
                image_id=None,
                payload={
                    **{k: v for k, v in values.items() if k in _SCAN_AUDIT_FIELDS},
                    "thresholds": thresholds,
                    "clock_believable": clock_believable,
                    "throttled_at_start": throttled_at_start,
                },
            )
        return scan_id

    def finish_scan(
        self,
        scan_id: int,
        status: str,
        message: str | None = None,
        *,
        throttled_at_end: int | None = None,
        throttled_during: int | None = None,
    ) -> None:
        """Close a scan as complete, interrupted (stick pulled), cancelled or failed, with the
        throttled flags at its end and the conditions seen during it (None: not measured)."""
        if status not in SCAN_STATUSES or status == "running":
            raise ValueError(f"a scan cannot finish with status {status!r}")
        message = storable(message)
        with self._write("record the end of the scan") as db:
            self._require(db, "scans", scan_id, "scan")
            self._finish_in(db, scan_id, status, message, throttled_at_end, throttled_during)
            payload: dict[str, Any] = {"status": status, "message": message}
            if throttled_during is not None:
                payload["throttled_during"] = throttled_during
            self._audit_in(
                db,
                "scan_finished",
                actor=None,
                scan_id=scan_id,
                image_id=None,
                payload=payload,
            )

    @staticmethod
    def _finish_in(
        db: sqlite_utils.Database,
        scan_id: int,
        status: str,
        message: str | None,
        throttled_at_end: int | None,
        throttled_during: int | None,
    ) -> None:
        """The one change a scan row may take (the schema refuses any other): running → final."""
        (current,) = db.execute("SELECT status FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if current != "running":
            raise StoreError(
                f"Scan {scan_id} has already ended ({current}); its record is kept as it is."
            )
        db.execute(
            "UPDATE scans SET status = ?, message = ?, finished_at = ?,"
            " throttled_at_end = ?, throttled_during = ? WHERE id = ?",
            (status, message, utc_now(), throttled_at_end, throttled_during, scan_id),
        )

    def mark_abandoned_scans(self) -> list[int]:
        """Mark ``interrupted`` each scan still ``running`` whose process is certainly gone.

        Called by :meth:`open`. A scan run by a live process (the GUI and the watcher may scan
        at the same time) is never touched; see :mod:`appliance.store.owner` for the rule.
        Returns the ids marked, each with a ``scan_abandoned`` audit entry.
        """
        me = owners.current()
        marked: list[int] = []
        running = self._rows(
            "SELECT id, owner_pid, owner_boot_id, owner_start_ticks, owner_pid_ns FROM scans"
            " WHERE status = 'running' ORDER BY id"
        )
        for row in running:
            owner = (
                None
                if row["owner_pid"] is None
                else owners.ScanOwner(
                    row["owner_pid"],
                    row["owner_boot_id"],
                    row["owner_start_ticks"],
                    row["owner_pid_ns"],
                )
            )
            reason = owners.gone_reason(owner, me)
            if reason is None:
                continue
            with self._write("mark an abandoned scan as interrupted") as db:
                still = db.execute("SELECT status FROM scans WHERE id = ?", (row["id"],)).fetchone()
                if still is None or still[0] != "running":
                    continue  # another process finished or marked it meanwhile
                (n_images,) = db.execute(
                    "SELECT COUNT(*) FROM images WHERE scan_id = ?", (row["id"],)
                ).fetchone()
                message = owners.abandoned_message(reason, int(n_images))
                self._finish_in(db, row["id"], "interrupted", message, None, None)
                self._audit_in(
                    db,
                    "scan_abandoned",
                    actor=None,
                    scan_id=row["id"],
                    image_id=None,
                    payload={
                        "reason": reason,
                        "owner_pid": row["owner_pid"],
                        "owner_boot_id": row["owner_boot_id"],
                        "n_images": int(n_images),
                        "message": message,
                    },
                )
            marked.append(row["id"])
        return marked

    def _require(self, db: sqlite_utils.Database, table: str, row_id: int, what: str) -> None:
        found = db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone()
        if found is None:
            raise NotFound(f"There is no {what} number {row_id} in the database.")

    _SCAN_SELECT = """
        SELECT s.*,
            COUNT(i.id) AS n_images,
            COALESCE(SUM(i.status = 'error'), 0) AS n_errors,
            {counts}
        FROM scans s LEFT JOIN images i ON i.scan_id = s.id
    """
    _EFFECTIVE = (
        "CASE WHEN {a}.status = 'error' OR {a}.decision IS NULL"
        " THEN 'unassessable' ELSE {a}.decision END"
    )

    def _scan_select(self) -> str:
        effective = self._EFFECTIVE.format(a="i")
        counts = ",\n".join(f"COALESCE(SUM({effective} = '{d}'), 0) AS n_{d}" for d in DECISIONS)
        return self._SCAN_SELECT.format(counts=counts)

    def scans(
        self,
        *,
        search: str | None = None,
        since: date | None = None,
        until: date | None = None,
        decision: str | None = None,
        limit: int = 200,
    ) -> list[ScanRecord]:
        """Scans newest first.

        ``search`` matches (case-insensitively, as plain text) the volume label or path, any case
        name or any image path. ``since``/``until`` are inclusive UTC dates. ``decision`` keeps
        scans with at least one image of that decision (read errors count as unassessable).
        """
        where: list[str] = []
        params: dict[str, Any] = {"limit": int(limit)}
        if search:
            params["q"] = _like(display(search.strip()))
            where.append(
                "(s.volume_label LIKE :q ESCAPE '\\' OR s.volume_path LIKE :q ESCAPE '\\'"
                " OR EXISTS (SELECT 1 FROM images j WHERE j.scan_id = s.id"
                " AND (j.case_name LIKE :q ESCAPE '\\' OR j.path LIKE :q ESCAPE '\\')))"
            )
        if since is not None:
            params["since"] = _day(since).isoformat()
            where.append("s.started_at >= :since")
        if until is not None:
            params["until"] = (_day(until) + timedelta(days=1)).isoformat()
            where.append("s.started_at < :until")
        if decision is not None:
            if decision not in DECISIONS:
                raise ValueError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
            params["decision"] = decision
            where.append(
                "EXISTS (SELECT 1 FROM images j WHERE j.scan_id = s.id AND "
                + self._EFFECTIVE.format(a="j")
                + " = :decision)"
            )
        sql = self._scan_select()
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY s.id ORDER BY s.started_at DESC, s.id DESC LIMIT :limit"
        return [ScanRecord.from_row(r) for r in self._rows(sql, params)]

    def scan(self, scan_id: int) -> ScanRecord:
        rows = self._rows(self._scan_select() + " WHERE s.id = ? GROUP BY s.id", (scan_id,))
        if not rows:
            raise NotFound(f"There is no scan number {scan_id} in the database.")
        return ScanRecord.from_row(rows[0])

    # -- images --------------------------------------------------------------------------------

    def record_image(
        self,
        scan_id: int,
        *,
        path: str,
        case: str,
        sha256: str | None,
        size_bytes: int | None,
        width: int | None,
        height: int | None,
        status: str,
        decision: str | None,
        p_malignant: float | None,
        error: str | None,
        tiles: Any | None,
        thumbnail: bytes | None,
        elapsed_ms: float | None,
        reused_from: int | None = None,
    ) -> int:
        """Store one image's result (or its read error) and return the row id.

        An ``ok`` row needs a decision; an ``error`` row needs the error in words, because the
        report must say why an image has no result.
        """
        if status not in IMAGE_STATUSES:
            raise ValueError(f"image status must be one of {IMAGE_STATUSES}, not {status!r}")
        if decision is not None:
            decision = str(decision)
            if decision not in DECISIONS:
                raise ValueError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
        if status == "ok" and decision is None:
            raise ValueError("an image analysed without error needs a decision")
        if status == "error" and not (error and error.strip()):
            raise ValueError("an image that could not be analysed needs the error in words")
        values = {
            "scan_id": scan_id,
            "path": display(path),
            "path_raw": sqlite3.Binary(raw_bytes(path)),
            "case_name": display(case),
            "case_raw": sqlite3.Binary(raw_bytes(case)),
            "sha256": sha256,
            "size_bytes": size_bytes,
            "width": width,
            "height": height,
            "status": status,
            "decision": decision,
            "p_malignant": None if p_malignant is None else float(p_malignant),
            "error": error,
            "tiles_json": None if tiles is None else _dumps(tiles),
            "thumbnail": None if thumbnail is None else sqlite3.Binary(thumbnail),
            "elapsed_ms": elapsed_ms,
            "reused_from_image_id": reused_from,
            "created_at": utc_now(),
        }
        with self._write("save the image result") as db:
            scan = db.execute("SELECT model_sha256 FROM scans WHERE id = ?", (scan_id,)).fetchone()
            if scan is None:
                raise NotFound(f"There is no scan number {scan_id} in the database.")
            if reused_from is not None:
                self._require(db, "images", reused_from, "image")
            values["result_sha256"] = result_sha256(
                image_sha256=sha256,
                model_sha256=scan[0],
                status=status,
                decision=decision,
                p_malignant=values["p_malignant"],
                tiles_json=values["tiles_json"],
                thumbnail=thumbnail,
            )
            image_id = self._insert(db, "images", values)
            self._audit_in(
                db,
                "image_result",
                actor=None,
                scan_id=scan_id,
                image_id=image_id,
                payload={
                    "path": values["path"],
                    "case": values["case_name"],
                    "sha256": sha256,
                    "status": status,
                    "decision": decision,
                    "p_malignant": values["p_malignant"],
                    "error": error,
                    "reused_from": reused_from,
                },
            )
        return image_id

    def find_result(self, sha256: str, model_sha256: str) -> ImageRecord | None:
        """The latest good, intact result for these exact bytes under this exact model, if any.

        Lets a re-scan of the same stick skip inference. The caller re-decides from the stored
        probability if the thresholds have changed since. A row is reused only if its stored
        fingerprint (``result_sha256``) matches the row as it reads now: a row edited after it
        was written is skipped and reported once in the audit log (``result_mismatch``); a row
        from before fingerprints were kept (schema < 4) is not reused, since whether it was
        edited while that was still possible cannot be known. The model then runs again.
        """
        rows = self._rows(
            """SELECT i.* FROM images i JOIN scans s ON s.id = i.scan_id
               WHERE i.sha256 = ? AND s.model_sha256 = ? AND i.status = 'ok'
                 AND i.result_sha256 IS NOT NULL
               ORDER BY i.id DESC LIMIT 20""",
            (sha256, model_sha256),
        )
        for row in rows:
            if row_result_sha256(row, model_sha256) == row["result_sha256"]:
                return ImageRecord.from_row(row)
            self._report_mismatch(row)
        return None

    def _report_mismatch(self, row: dict[str, Any]) -> None:
        """Audit a result whose fingerprint does not match, once per image row."""
        with self._write("record a changed result in the audit log") as db:
            seen = db.execute(
                "SELECT 1 FROM audit WHERE event = 'result_mismatch' AND image_id = ?",
                (row["id"],),
            ).fetchone()
            if seen is None:
                log.warning("image %s: stored result does not match its fingerprint", row["id"])
                self._audit_in(
                    db,
                    "result_mismatch",
                    actor=None,
                    scan_id=row["scan_id"],
                    image_id=row["id"],
                    payload={
                        "sha256": row["sha256"],
                        "p_malignant": row["p_malignant"],
                        "decision": row["decision"],
                        "note": "this stored result was changed after it was written;"
                        " it is not reused",
                    },
                )

    def verify_results(self, scan_id: int) -> list[int]:
        """Ids of the scan's image rows whose result no longer matches its fingerprint (rows
        without one, from before schema 4, are not counted)."""
        model = self.scan(scan_id).model_sha256
        rows = self._rows(
            "SELECT * FROM images WHERE scan_id = ? AND result_sha256 IS NOT NULL ORDER BY id",
            (scan_id,),
        )
        return [r["id"] for r in rows if row_result_sha256(r, model) != r["result_sha256"]]

    def images(self, scan_id: int) -> list[ImageRecord]:
        """The scan's images, ordered by case, then path."""
        rows = self._rows(
            """SELECT * FROM images WHERE scan_id = ?
               ORDER BY case_name COLLATE NOCASE, case_name, path COLLATE NOCASE, path, id""",
            (scan_id,),
        )
        return [ImageRecord.from_row(r) for r in rows]

    def image(self, image_id: int) -> ImageRecord:
        rows = self._rows("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise NotFound(f"There is no image number {image_id} in the database.")
        return ImageRecord.from_row(rows[0])

    # -- reviews -------------------------------------------------------------------------------

    def add_review(
        self,
        image_id: int,
        *,
        reviewer: str,
        agreed: bool,
        corrected_decision: str | None,
        note: str = "",
    ) -> int:
        """Append a person's review of one AI result; the AI result itself is never changed."""
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise InvalidReview("Enter the reviewer's name before saving the review.")
        if corrected_decision is not None:
            corrected_decision = str(corrected_decision)
        if agreed:
            corrected_decision = None
        else:
            if not corrected_decision:
                raise InvalidReview(
                    "When you do not agree with the AI result, choose the correct decision"
                    " (malignant, benign, indeterminate or unassessable)."
                )
            if corrected_decision not in DECISIONS:
                raise InvalidReview(
                    f"{corrected_decision!r} is not a decision; choose malignant, benign,"
                    " indeterminate or unassessable."
                )
        values = {
            "image_id": image_id,
            "reviewer": reviewer,
            "agreed": int(bool(agreed)),
            "corrected_decision": corrected_decision,
            "note": note or "",
            "created_at": utc_now(),
        }
        with self._write("save the review") as db:
            row = db.execute("SELECT scan_id FROM images WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                raise NotFound(f"There is no image number {image_id} in the database.")
            review_id = self._insert(db, "reviews", values)
            self._audit_in(
                db,
                "review",
                actor=reviewer,
                scan_id=row[0],
                image_id=image_id,
                payload={
                    "review_id": review_id,
                    "agreed": bool(agreed),
                    "corrected_decision": corrected_decision,
                    "note": values["note"],
                },
            )
        return review_id

    def reviews(self, image_id: int) -> list[ReviewRecord]:
        """All reviews of an image, oldest first (the last one is in force)."""
        rows = self._rows("SELECT * FROM reviews WHERE image_id = ? ORDER BY id", (image_id,))
        return [ReviewRecord.from_row(r) for r in rows]

    def latest_reviews(self, scan_id: int) -> dict[int, ReviewRecord]:
        """The review in force for each reviewed image of a scan."""
        rows = self._rows(
            """SELECT r.* FROM reviews r
               WHERE r.id IN (SELECT MAX(r2.id) FROM reviews r2 JOIN images i ON i.id = r2.image_id
                              WHERE i.scan_id = ? GROUP BY r2.image_id)""",
            (scan_id,),
        )
        return {r["image_id"]: ReviewRecord.from_row(r) for r in rows}

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

    # -- settings ------------------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self._rows("SELECT value_json FROM settings WHERE key = ?", (key,))
        if not rows:
            return default
        try:
            return json.loads(rows[0]["value_json"])
        except ValueError:
            return default

    def settings(self) -> dict[str, Any]:
        rows = self._rows("SELECT key, value_json FROM settings ORDER BY key")
        return {r["key"]: json.loads(r["value_json"]) for r in rows}

    def set_setting(
        self, key: str, value: Any, actor: str | None, *, default: Any = None
    ) -> None:
        """Store a JSON-serialisable value; the old and new values and who changed it (``actor``,
        a person's name) go to the audit log.

        ``default`` is the value in force while the key was never set (a card's threshold, the
        config file's device name), recorded as ``old`` so the audit row says what changed
        rather than ``"old": null``. Saving the value already stored writes nothing: an audit
        row means a change.
        """
        encoded = storable(json.dumps(value, ensure_ascii=False, sort_keys=True))
        key = storable(key)
        with self._write("save the setting") as db:
            row = db.execute("SELECT value_json FROM settings WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] == encoded:
                return
            old = json.loads(row[0]) if row else default
            db.execute(
                """INSERT INTO settings (key, value_json, updated_at, updated_by)
                   VALUES (?, ?, ?, ?)
                   ON CONFLICT(key) DO UPDATE SET value_json = excluded.value_json,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
                (key, encoded, utc_now(), actor),
            )
            self._audit_in(
                db,
                "setting_changed",
                actor=actor,
                scan_id=None,
                image_id=None,
                payload={"key": key, "old": old, "new": value},
            )

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
                self.db.conn.backup(target)
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


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


__all__ = ["LATEST_VERSION", "InvalidReview", "NotFound", "Store", "translate", "utc_now"]
