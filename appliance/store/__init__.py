"""Store: the local SQLite database of scans, image results, reviews and the audit log."""

from appliance.store.database import InvalidReview, NotFound, Store, utc_now
from appliance.store.migrations import LATEST_VERSION, MIGRATIONS
from appliance.store.records import (
    DECISIONS,
    IMAGE_STATUSES,
    SCAN_STATUSES,
    AuditRecord,
    ImageRecord,
    ReviewRecord,
    ScanRecord,
)

__all__ = [
    "DECISIONS",
    "IMAGE_STATUSES",
    "LATEST_VERSION",
    "MIGRATIONS",
    "SCAN_STATUSES",
    "AuditRecord",
    "ImageRecord",
    "InvalidReview",
    "NotFound",
    "ReviewRecord",
    "ScanRecord",
    "Store",
    "utc_now",
]
