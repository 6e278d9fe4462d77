"""What a report or an export holds, read from the database once, in the order every face uses.

Why one loader: the PDF, the CSV, the JSON and the FHIR bundle must say the same thing about a
scan — the same cases in the same (natural) order, the same verdicts, the same review in force,
the same specimen details — so they all start from one :class:`ScanContents`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appliance.decision import Case, CaseVerdict, group_cases
from appliance.store import ImageRecord, ReviewRecord, ScanRecord
from appliance.store.cases import CaseDetails, case_details
from appliance.values import Thresholds


class ScanSource(Protocol):
    """The part of :class:`appliance.store.Store` a report reads, and the audit entry it adds
    (tests may pass a fake)."""

    def scan(self, scan_id: int) -> ScanRecord: ...

    def images(self, scan_id: int) -> list[ImageRecord]: ...

    def latest_reviews(self, scan_id: int) -> dict[int, ReviewRecord]: ...

    def _rows(self, sql: str, params: tuple) -> list[dict]: ...  # read by store.cases

    def audit(self, event: str, **payload: object) -> object: ...


@dataclass(frozen=True)
class CaseContents:
    """One case: its images in natural order, its verdict, its specimen details."""

    case: Case[ImageRecord]
    details: CaseDetails

    @property
    def name(self) -> str:
        return self.case.name

    @property
    def verdict(self) -> CaseVerdict:
        return self.case.verdict

    @property
    def images(self) -> tuple[ImageRecord, ...]:
        return self.case.images


@dataclass(frozen=True)
class ScanContents:
    """A scan as every report format reads it."""

    scan: ScanRecord
    cases: tuple[CaseContents, ...]
    reviews: dict[int, ReviewRecord]  # the review in force, by image id

    @property
    def thresholds(self) -> Thresholds | None:
        """The cut-offs this scan decided with (not today's settings)."""
        return self.scan.thresholds

    @property
    def images(self) -> list[ImageRecord]:
        """Every image, case by case, in natural order."""
        return [image for case in self.cases for image in case.images]

    @property
    def n_reviewed(self) -> int:
        return sum(1 for image in self.images if image.id in self.reviews)

    def review(self, image: ImageRecord) -> ReviewRecord | None:
        return self.reviews.get(image.id)


def load_contents(
    store: ScanSource, scan_id: int, *, shown: Callable[[ImageRecord], str] | None = None
) -> ScanContents:
    """Read one scan for a report. ``shown`` words an image in the verdicts' evidence (the PDF
    shortens long paths; the exports keep them whole). Raises ``NotFound`` for an unknown scan."""
    scan = store.scan(scan_id)
    images = store.images(scan_id)
    reviews = store.latest_reviews(scan_id)
    details = case_details(store, scan_id)  # type: ignore[arg-type]
    cases = tuple(
        CaseContents(case, details.get(case.name) or CaseDetails(case=case.name))
        for case in group_cases(images, shown=shown)
    )
    return ScanContents(scan=scan, cases=cases, reviews=reviews)


@dataclass(frozen=True)
class ExportStamp:
    """Who made an export, where and when: written into every text export, so a file found
    later says which appliance, database and software made it."""

    device: str
    at: str  # UTC ISO-8601
    database_id: str | None
    software_version: str
