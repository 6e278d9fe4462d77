"""Scan rows: a scan's start and end, abandoned scans, and the lists of scans with their counts.

A scan row changes once (running → complete, interrupted, cancelled or failed; the schema refuses
any other change), and every start and end is in the audit log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from appliance.errors import StoreError
from appliance.store import owner as owners
from appliance.store.core import NotFound, StoreCore, _dumps, _like, utc_now
from appliance.store.names import display, storable
from appliance.store.records import DECISIONS, SCAN_STATUSES, ScanRecord
from appliance.values import ScanRules

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


class ScanRows(StoreCore):
    """Writing and reading ``scans``."""

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
        thresholds: ScanRules | Mapping[str, Any],
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
        # A mapping is taken as the stored form itself (as tests write rows); it is read back
        # through ScanRules like any row, so no reader sees an untyped value.
        recorded = thresholds.to_dict() if isinstance(thresholds, ScanRules) else dict(thresholds)
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
            "thresholds_json": _dumps(recorded),
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
                    "thresholds": recorded,
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
        db: sqlite3.Connection,
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


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value
