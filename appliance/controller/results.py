"""What the controller's actions hand back: plain values a screen (or a test) shows as they are.

Why values and not callbacks into widgets: the same action runs under the touch screen, in a
test without Qt, and in a script; each face decides how to show the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from appliance.ingest import Volume
from appliance.problems import Problem

if TYPE_CHECKING:
    from appliance.pipeline import ScanSummary
    from appliance.store.records import ImageRecord, ReviewRecord, ScanRecord

Tone = Literal["ok", "warn", "error"]


class StickStep(StrEnum):
    """What to do with a stick that was just plugged in."""

    SCAN = "scan"  # start scanning it now
    QUEUED = "queued"  # a scan is running; it waits its turn
    REFUSED = "refused"  # it cannot be analysed (no model, no database): the message says why


@dataclass(frozen=True)
class StickAction:
    step: StickStep
    volume: Volume
    message: str = ""


@dataclass(frozen=True)
class ScanEnded:
    """How a scan ended: its summary (it ran to an end, of any status), or the problem that
    stopped it (its scan row is already marked failed by the pipeline)."""

    summary: ScanSummary | None
    problem: Problem | None
    next_stick: str | None  # label of the stick waiting to be scanned, if any

    @property
    def failed(self) -> bool:
        return self.problem is not None


@dataclass(frozen=True)
class LoadedScan:
    """A scan, its images and their latest reviews: what a scan page shows."""

    scan: ScanRecord
    images: list[ImageRecord]
    reviews: dict[int, ReviewRecord]


@dataclass(frozen=True)
class LoadedImage:
    """One image's record, its scan and every review of it: what a result page shows."""

    image: ImageRecord
    scan: ScanRecord
    reviews: list[ReviewRecord]


@dataclass(frozen=True)
class Pixels:
    """What to draw for an image: the full picture from the stick (a PIL image), or the stored
    thumbnail (JPEG bytes), or nothing; ``note`` says which and why, in words."""

    full: Any | None  # PIL.Image.Image
    thumbnail: bytes | None
    note: str


@dataclass(frozen=True)
class ReviewSaved:
    image_id: int
    scan_id: int
    reviewer: str
    reviews: list[ReviewRecord]  # every review of the image, oldest first
    latest: ReviewRecord | None  # the one in force now (for the scan's table)
    message: str


@dataclass(frozen=True)
class ExportDone:
    """A report written on the appliance (``local``), and maybe copied to a stick."""

    local: Path
    copied: Path | None
    message: str
    tone: Tone = "ok"

    @property
    def path(self) -> Path:
        """Where the person should look: the stick's copy when there is one."""
        return self.copied or self.local
