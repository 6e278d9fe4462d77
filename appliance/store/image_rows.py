"""Image rows: one per listed file, with its result or its error in words, and their fingerprints.

Each row carries a fingerprint of its result (``result_sha256``), so a later scan reuses a stored
result only if nobody has changed it since it was written.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.store.core import NotFound, StoreCore, _dumps, utc_now
from appliance.store.integrity import result_sha256, row_result_sha256
from appliance.store.names import display, raw_bytes
from appliance.store.records import DECISIONS, IMAGE_STATUSES, ImageRecord
from appliance.text import natural_key
from appliance.values import TileMap

log = logging.getLogger(__name__)


class ImageRows(StoreCore):
    """Writing and reading ``images``."""

    def record_image(self, scan_id: int, **row: Any) -> int:
        """Store one image's result (or its read error) and return the row id (the fields are
        :class:`NewImage`'s)."""
        return self.record_images(scan_id, [NewImage(**row)])[0]

    def record_images(self, scan_id: int, rows: Sequence[NewImage]) -> list[int]:
        """Store several images' rows in ONE transaction and return their ids, in order.

        Why: each transaction ends in an fdatasync, slow on an SD card; the pipeline writes the
        results of the last fraction of a second together, and shows them only once this returns,
        so a result shown is still a result stored. All rows land, or none.
        """
        prepared = [(row, _values(scan_id, row)) for row in rows]
        if not prepared:
            return []
        ids = []
        with self._write("save the image results") as db:
            scan = db.execute("SELECT model_sha256 FROM scans WHERE id = ?", (scan_id,)).fetchone()
            if scan is None:
                raise NotFound(f"There is no scan number {scan_id} in the database.")
            for row, values in prepared:
                if row.reused_from is not None:
                    self._require(db, "images", row.reused_from, "image")
                values["result_sha256"] = result_sha256(
                    image_sha256=row.sha256,
                    model_sha256=scan[0],
                    status=row.status,
                    decision=values["decision"],
                    p_malignant=values["p_malignant"],
                    tiles_json=values["tiles_json"],
                    thumbnail=row.thumbnail,
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
                        "sha256": row.sha256,
                        "status": row.status,
                        "decision": values["decision"],
                        "p_malignant": values["p_malignant"],
                        "error": row.error,
                        "reused_from": row.reused_from,
                    },
                )
                ids.append(image_id)
        return ids

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
        """The scan's images by case, then path, in natural order (``img2`` before ``img10``:
        :func:`appliance.text.natural_key`, the order the stick was listed in)."""
        rows = self._rows("SELECT * FROM images WHERE scan_id = ? ORDER BY id", (scan_id,))
        records = [ImageRecord.from_row(r) for r in rows]
        return sorted(records, key=lambda r: (natural_key(r.case), natural_key(r.path), r.id))

    def image(self, image_id: int) -> ImageRecord:
        rows = self._rows("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise NotFound(f"There is no image number {image_id} in the database.")
        return ImageRecord.from_row(rows[0])


def _tile_dict(tiles: TileMap | Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a tile map (a mapping is taken as already in it, as tests write)."""
    return tiles.to_dict() if isinstance(tiles, TileMap) else dict(tiles)


@dataclass(frozen=True)
class NewImage:
    """One image's row before it is stored: its result, or its read error in words."""

    path: str
    case: str
    sha256: str | None
    size_bytes: int | None
    width: int | None
    height: int | None
    status: str
    decision: str | None
    p_malignant: float | None
    error: str | None
    tiles: TileMap | Mapping[str, Any] | None
    thumbnail: bytes | None
    elapsed_ms: float | None
    reused_from: int | None = None


def _values(scan_id: int, row: NewImage) -> dict[str, Any]:
    """The row's columns, checked: an ``ok`` row needs a decision; an ``error`` row needs the
    error in words, because the report must say why an image has no result."""
    if row.status not in IMAGE_STATUSES:
        raise ValueError(f"image status must be one of {IMAGE_STATUSES}, not {row.status!r}")
    decision = None if row.decision is None else str(row.decision)
    if decision is not None and decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
    if row.status == "ok" and decision is None:
        raise ValueError("an image analysed without error needs a decision")
    if row.status == "error" and not (row.error and row.error.strip()):
        raise ValueError("an image that could not be analysed needs the error in words")
    return {
        "scan_id": scan_id,
        "path": display(row.path),
        "path_raw": sqlite3.Binary(raw_bytes(row.path)),
        "case_name": display(row.case),
        "case_raw": sqlite3.Binary(raw_bytes(row.case)),
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "width": row.width,
        "height": row.height,
        "status": row.status,
        "decision": decision,
        "p_malignant": None if row.p_malignant is None else float(row.p_malignant),
        "error": row.error,
        "tiles_json": None if row.tiles is None else _dumps(_tile_dict(row.tiles)),
        "thumbnail": None if row.thumbnail is None else sqlite3.Binary(row.thumbnail),
        "elapsed_ms": row.elapsed_ms,
        "reused_from_image_id": row.reused_from,
        "created_at": utc_now(),
    }
