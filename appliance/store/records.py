"""Immutable views of stored rows, so callers never hold a live cursor or a mutable row.

The GUI reads these from one thread while the scan worker writes from another: a frozen copy
cannot change under the reader's feet, and nothing can be "saved back" by accident.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from appliance.values import Decision, ScanRules, Thresholds, TileMap

DECISIONS: tuple[str, ...] = tuple(d.value for d in Decision)
SCAN_STATUSES: tuple[str, ...] = ("running", "complete", "interrupted", "cancelled", "failed")
IMAGE_STATUSES: tuple[str, ...] = ("ok", "error")


def _json(text: str | None, default: Any) -> Any:
    """Decode a JSON column; a damaged value reads as ``default`` rather than breaking a list."""
    if text is None:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _tiles(text: str | None) -> TileMap | None:
    """A stored tile map, or None when there is none or it cannot be read as one (a damaged row
    still lists its image; only the map is missing)."""
    data = _json(text, None)
    if not isinstance(data, dict):
        return None
    try:
        return TileMap.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def _blob(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class ScanRecord:
    """One scan of one stick or folder, with per-decision counts of its images.

    ``counts`` holds every decision word; an image that could not be read (``status == "error"``)
    counts as ``unassessable`` there, because that is how a case treats it. ``n_errors`` says how
    many of those were read errors.
    """

    id: int
    started_at: str
    finished_at: str | None
    status: str
    message: str | None
    source: str
    volume_label: str | None
    volume_path: str | None
    device: str | None
    model_name: str
    model_version: str
    model_sha256: str
    backend: str | None
    # What the scan ran under (cut-offs, scope gate's limits), as recorded then.
    rules: ScanRules = field(default_factory=lambda: ScanRules(None))
    n_images: int = 0
    n_errors: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    # None in scans recorded before these were kept (schema 3): "not recorded", not "fine".
    clock_believable: bool | None = None
    clock_note: str | None = None
    throttled_at_start: int | None = None
    throttled_at_end: int | None = None
    throttled_during: int | None = None
    # The process that ran the scan (None in scans from before schema 4).
    owner_pid: int | None = None
    owner_boot_id: str | None = None

    @property
    def thresholds(self) -> Thresholds | None:
        """The cut-offs this scan decided with (None: not recorded), not today's settings."""
        return self.rules.thresholds

    @property
    def finished_normally(self) -> bool:
        return self.status == "complete"

    @property
    def ran_throttled(self) -> bool:
        """True when the Pi was slowed down or under-voltage at some point during the scan."""
        return bool(self.throttled_during)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ScanRecord:
        return cls(
            id=row["id"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            status=row["status"],
            message=row["message"],
            source=row["source"],
            volume_label=row["volume_label"],
            volume_path=row["volume_path"],
            device=row["device"],
            model_name=row["model_name"],
            model_version=row["model_version"],
            model_sha256=row["model_sha256"],
            backend=row["backend"],
            rules=ScanRules.from_dict(_json(row["thresholds_json"], {})),
            n_images=int(row.get("n_images") or 0),
            n_errors=int(row.get("n_errors") or 0),
            counts={d: int(row.get(f"n_{d}") or 0) for d in DECISIONS},
            clock_believable=_bool(row.get("clock_believable")),
            clock_note=row.get("clock_note"),
            throttled_at_start=row.get("throttled_at_start"),
            throttled_at_end=row.get("throttled_at_end"),
            throttled_during=row.get("throttled_during"),
            owner_pid=row.get("owner_pid"),
            owner_boot_id=row.get("owner_boot_id"),
        )


@dataclass(frozen=True)
class ImageRecord:
    """The result for one image file. ``path`` is relative to the stick's root (POSIX form)."""

    id: int
    scan_id: int
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
    tiles: TileMap | None
    thumbnail: bytes | None = field(repr=False)
    elapsed_ms: float | None
    reused_from: int | None
    created_at: str
    # The exact bytes of the names as listed on the stick (None in rows from before schema 4,
    # whose names were valid text). ``path``/``case`` show undecodable bytes as U+FFFD.
    path_raw: bytes | None = field(default=None, repr=False)
    case_raw: bytes | None = field(default=None, repr=False)
    result_sha256: str | None = None

    @property
    def path_bytes(self) -> bytes:
        """The path's exact bytes, relative to the stick's root (to find the file again)."""
        return self.path_raw if self.path_raw is not None else self.path.encode("utf-8")

    @property
    def case_bytes(self) -> bytes:
        return self.case_raw if self.case_raw is not None else self.case.encode("utf-8")

    @property
    def name(self) -> str:
        """The file name without its folders."""
        return PurePosixPath(self.path).name or self.path

    @property
    def effective_decision(self) -> Decision:
        """The decision a case counts: a read error is *unassessable*, never silently dropped."""
        if self.status != "ok" or self.decision is None:
            return Decision.UNASSESSABLE
        return Decision(self.decision)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ImageRecord:
        return cls(
            id=row["id"],
            scan_id=row["scan_id"],
            path=row["path"],
            case=row["case_name"],
            sha256=row["sha256"],
            size_bytes=row["size_bytes"],
            width=row["width"],
            height=row["height"],
            status=row["status"],
            decision=row["decision"],
            p_malignant=row["p_malignant"],
            error=row["error"],
            tiles=_tiles(row["tiles_json"]),
            thumbnail=row["thumbnail"],
            elapsed_ms=row["elapsed_ms"],
            reused_from=row["reused_from_image_id"],
            created_at=row["created_at"],
            path_raw=_blob(row.get("path_raw")),
            case_raw=_blob(row.get("case_raw")),
            result_sha256=row.get("result_sha256"),
        )


@dataclass(frozen=True)
class ReviewRecord:
    """A person's verdict on one AI result. Later reviews supersede earlier ones; none is edited."""

    id: int
    image_id: int
    reviewer: str
    agreed: bool
    corrected_decision: str | None
    note: str
    created_at: str

    @property
    def corrected(self) -> Decision | None:
        """The decision the person changed the result to, typed (None when they agreed, or when
        an old row holds a word this release does not know: shown as "?", never guessed)."""
        if self.agreed or not self.corrected_decision:
            return None
        try:
            return Decision(self.corrected_decision)
        except ValueError:
            return None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReviewRecord:
        return cls(
            id=row["id"],
            image_id=row["image_id"],
            reviewer=row["reviewer"],
            agreed=bool(row["agreed"]),
            corrected_decision=row["corrected_decision"],
            note=row["note"] or "",
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class AuditRecord:
    """One append-only audit entry."""

    id: int
    at: str
    event: str
    scan_id: int | None
    image_id: int | None
    actor: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditRecord:
        return cls(
            id=row["id"],
            at=row["at"],
            event=row["event"],
            scan_id=row["scan_id"],
            image_id=row["image_id"],
            actor=row["actor"],
            payload=_json(row["payload_json"], {}),
        )
