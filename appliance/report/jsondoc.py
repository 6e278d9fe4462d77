"""A scan as one JSON document: everything the database holds about it, for a program.

The document is the store's own typed records (:class:`~appliance.store.ScanRecord`,
:class:`~appliance.store.ImageRecord`, :class:`~appliance.store.ReviewRecord`, the case's
:class:`~appliance.store.cases.CaseDetails` and :class:`~appliance.values.CaseVerdict`)
serialised field by field, so it says what the appliance knows in the appliance's own names, and
a reader can rebuild and compare them. ``schema_version`` changes when a field is renamed or
removed (adding one does not).

What is left out or changed, and why: thumbnails (pictures, not results; their sha256 is kept),
and names' raw bytes, which are given in hex (``path_bytes_hex``) because JSON text cannot hold
bytes that are not UTF-8. Every review of every image is included, oldest first (the last one is
in force), with the id of the one in force beside the image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from enum import Enum
from typing import Any, Protocol

from appliance.report.contents import ExportStamp, ScanContents
from appliance.report.words import RESEARCH_ONLY
from appliance.store import ImageRecord, ReviewRecord
from appliance.text import display

SCHEMA = "histo-appliance/scan-export"
SCHEMA_VERSION = 1
# ImageRecord fields written another way (see the module's docstring).
IMAGE_FIELDS_LEFT_OUT = frozenset({"thumbnail", "path_raw", "case_raw"})


class ReviewHistory(Protocol):
    """Where every review of an image is read (a :class:`~appliance.store.Store`)."""

    def reviews(self, image_id: int) -> list[ReviewRecord]: ...


def plain(value: Any, leave_out: frozenset[str] = frozenset()) -> Any:
    """A typed value as JSON data: dataclasses field by field, enums by value, tuples as lists,
    bytes in hex, text with any undecodable byte as U+FFFD."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in leave_out
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return display(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def image_entry(image: ImageRecord, history: list[ReviewRecord]) -> dict[str, Any]:
    entry = plain(image, IMAGE_FIELDS_LEFT_OUT)
    entry["effective_decision"] = image.effective_decision.value
    entry["path_bytes_hex"] = image.path_bytes.hex()
    entry["case_bytes_hex"] = image.case_bytes.hex()
    entry["thumbnail_sha256"] = (
        hashlib.sha256(image.thumbnail).hexdigest() if image.thumbnail else None
    )
    entry["reviews"] = [plain(review) for review in history]
    entry["review_in_force"] = history[-1].id if history else None
    return entry


def export_document(
    contents: ScanContents, stamp: ExportStamp, history: ReviewHistory
) -> dict[str, Any]:
    """The document as JSON data."""
    scan = contents.scan
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "notice": RESEARCH_ONLY,
        "exported": plain(stamp),
        "model": {
            "name": display(scan.model_name),
            "version": display(scan.model_version),
            "sha256": scan.model_sha256,
        },
        "scan": plain(scan),
        "cases": [
            {
                "case": display(case.name),
                "verdict": plain(case.verdict),
                "details": plain(case.details),
                "image_ids": [image.id for image in case.images],
            }
            for case in contents.cases
        ],
        "images": [image_entry(image, history.reviews(image.id)) for image in contents.images],
    }


def render_json(contents: ScanContents, stamp: ExportStamp, history: ReviewHistory) -> bytes:
    """The document's bytes: UTF-8, indented, keys in the records' own order."""
    document = export_document(contents, stamp, history)
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
