"""Each case's specimen details (accession, specimen, site, ...) as a scan found them.

Why stored per scan: the report and the exports are made from the database alone, long after
the stick is gone, and a case's details are what a lab files the result under. They come from a
sidecar file in the case's folder (:mod:`appliance.ingest.sidecar`); without one the folder name
is all there is, and the record says so (``source = "folder"``) rather than inventing fields.
Rows are append-only like every result: a later scan of the same stick records its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.store.database import utc_now
from appliance.text import display

if TYPE_CHECKING:
    from appliance.store.database import Store

SIDECAR, FOLDER = "sidecar", "folder"
#: The file in a case folder that gives its details (format: appliance.ingest.sidecar).
SIDECAR_NAME = "specimen.txt"
SOURCES = (SIDECAR, FOLDER)

#: The fields a case may carry, in the order every face shows them, with their labels.
FIELDS: tuple[tuple[str, str], ...] = (
    ("accession", "Accession"),
    ("specimen", "Specimen"),
    ("specimen_type", "Specimen type"),
    ("body_site", "Body site"),
    ("collected", "Collected"),
    ("note", "Note"),
)


@dataclass(frozen=True)
class CaseDetails:
    """What is known about one case's specimen. ``case`` is the case name as the images carry
    it (their folder, relative to the stick). ``problems`` says in words what in a sidecar file
    could not be used (too large, unknown lines), so nothing is dropped silently."""

    case: str
    accession: str | None = None
    specimen: str | None = None
    specimen_type: str | None = None
    body_site: str | None = None
    collected: str | None = None
    note: str | None = None
    source: str = FOLDER
    problems: tuple[str, ...] = ()

    @property
    def specimen_label(self) -> str:
        """What identifies the specimen: the sidecar's ``specimen``, else the folder name."""
        return self.specimen or self.case

    def fields(self) -> list[tuple[str, str]]:
        """``(label, value)`` of every field that has a value, in :data:`FIELDS` order."""
        return [(label, value) for key, label in FIELDS if (value := getattr(self, key))]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CaseDetails:
        try:
            problems = tuple(str(p) for p in json.loads(row.get("problems_json") or "[]"))
        except (TypeError, ValueError):
            problems = ("the stored list of problems could not be read",)
        return cls(
            case=row["case_name"],
            source=row["source"],
            problems=problems,
            **{key: row.get(key) for key, _ in FIELDS},
        )


def record_cases(store: Store, scan_id: int, details: Iterable[CaseDetails]) -> None:
    """Store the details of a scan's cases, all in one transaction.

    A case is stored once per scan under its shown name (the name its images carry): two
    folders whose names differ only in bytes that are not UTF-8 show alike, their images form
    one case, and the first folder's details stand for it.
    """
    rows: dict[str, CaseDetails] = {}
    for item in details:
        rows.setdefault(display(item.case), item)
    if not rows:
        return
    with store._write("save the cases' specimen details") as db:
        for item in rows.values():
            store._insert(
                db,
                "case_details",
                {
                    "scan_id": scan_id,
                    "case_name": display(item.case),
                    "source": item.source,
                    "problems_json": json.dumps(list(item.problems), ensure_ascii=False),
                    "created_at": utc_now(),
                    **{key: getattr(item, key) for key, _ in FIELDS},
                },
            )


def case_details(store: Store, scan_id: int) -> dict[str, CaseDetails]:
    """The recorded details of each case of a scan, by case name (empty for scans recorded
    before details were kept, or read from a store that has none)."""
    rows = store._rows("SELECT * FROM case_details WHERE scan_id = ? ORDER BY id", (scan_id,))
    return {row["case_name"]: CaseDetails.from_row(row) for row in rows}
