"""A scan as CSV: one row per image, for a spreadsheet or a lab system's import.

Every row is self-contained (scan, case, specimen, image, AI result, the review in force, the
model and its hash, the research-only notice), so rows can be filtered, sorted or concatenated
across scans without losing what they are. Probabilities are written at the card's precision
(:meth:`appliance.values.Thresholds.show`), the precision the cut-offs beside them have.

Why names are written as shown, not as read: a stick's file name can hold control characters,
terminal escapes or bytes that are not UTF-8 (see :mod:`appliance.text`); the CSV carries the
shown form and, for names that differ from their bytes, the bytes in hex. A cell from the stick
or a person that starts with ``=``, ``+``, ``-`` or ``@`` gets a leading apostrophe, so a
spreadsheet shows it as text instead of running it as a formula ("CSV injection"); readers
that want the exact text drop that one apostrophe (:func:`unguard`).
"""

from __future__ import annotations

import csv
import io

from appliance.report.contents import CaseContents, ExportStamp, ScanContents
from appliance.report.words import RESEARCH_ONLY
from appliance.store import ImageRecord
from appliance.text import display_text
from appliance.values import show_probability

COLUMNS: tuple[str, ...] = (
    "scan_id",
    "scan_started_at",
    "scan_finished_at",
    "scan_status",
    "scanned_on_device",
    "volume_label",
    "case",
    "case_verdict",
    "specimen",
    "accession",
    "specimen_from",
    "image_id",
    "path",
    "path_bytes_hex",
    "status",
    "decision",
    "p_malignant",
    "benign_below",
    "malignant_at",
    "error",
    "tiles_analysed",
    "image_sha256",
    "width",
    "height",
    "analysed_at",
    "reused_from_image_id",
    "result_sha256",
    "review_by",
    "review_at",
    "review",
    "review_decision",
    "review_note",
    "model_name",
    "model_version",
    "model_sha256",
    "exported_at",
    "exported_by_device",
    "database_id",
    "notice",
)
FORMULA_START = ("=", "+", "-", "@")
GUARD = "'"


def guard(value: str) -> str:
    """``value`` with an apostrophe in front when a spreadsheet would read it as a formula."""
    return GUARD + value if value.startswith(FORMULA_START) else value


def unguard(cell: str) -> str:
    """The text of a guarded cell (:func:`guard` undone)."""
    if cell.startswith(GUARD) and cell[1:].startswith(FORMULA_START):
        return cell[1:]
    return cell


def shown(value: object) -> str:
    """Text from a stick or a person as one safe line (visible escapes), formula-guarded."""
    return guard(display_text(value)) if value is not None else ""


def note(value: str) -> str:
    """A review note: its line breaks kept (quoted by the CSV writer), each line shown safely."""
    return guard("\n".join(display_text(line) for line in value.splitlines()))


def bytes_hex(image: ImageRecord) -> str:
    """The path's exact bytes on the stick in hex when its shown form is not exactly them
    (undecodable bytes, control characters); else empty."""
    raw = image.path_bytes
    return raw.hex() if display_text(image.path).encode("utf-8") != raw else ""


def image_row(
    contents: ScanContents, case: CaseContents, image: ImageRecord, stamp: ExportStamp
) -> dict[str, str]:
    """One image's row (every value text, as the CSV file holds it)."""
    scan, thresholds = contents.scan, contents.thresholds
    review = contents.review(image)
    p = image.p_malignant
    row = {
        "scan_id": str(scan.id),
        "scan_started_at": scan.started_at,
        "scan_finished_at": scan.finished_at or "",
        "scan_status": scan.status,
        "scanned_on_device": shown(scan.device),
        "volume_label": shown(scan.volume_label),
        "case": shown(image.case),
        "case_verdict": case.verdict.decision.value,
        "specimen": shown(case.details.specimen),
        "accession": shown(case.details.accession),
        "specimen_from": case.details.source,
        "image_id": str(image.id),
        "path": shown(image.path),
        "path_bytes_hex": bytes_hex(image),
        "status": image.status,
        "decision": image.effective_decision.value,
        "p_malignant": "" if p is None else show_probability(p, thresholds),
        "benign_below": "" if thresholds is None else thresholds.show(thresholds.benign_below),
        "malignant_at": "" if thresholds is None else thresholds.show(thresholds.malignant_at),
        "error": shown(image.error),
        "tiles_analysed": "" if image.tiles is None else str(len(image.tiles.probabilities)),
        "image_sha256": image.sha256 or "",
        "width": "" if image.width is None else str(image.width),
        "height": "" if image.height is None else str(image.height),
        "analysed_at": image.created_at,
        "reused_from_image_id": "" if image.reused_from is None else str(image.reused_from),
        "result_sha256": image.result_sha256 or "",
        "review_by": shown(review.reviewer) if review else "",
        "review_at": review.created_at if review else "",
        "review": "" if review is None else ("agreed" if review.agreed else "corrected"),
        "review_decision": (review.corrected_decision or "") if review else "",
        "review_note": note(review.note) if review else "",
        "model_name": shown(scan.model_name),
        "model_version": shown(scan.model_version),
        "model_sha256": scan.model_sha256,
        "exported_at": stamp.at,
        "exported_by_device": shown(stamp.device),
        "database_id": stamp.database_id or "",
        "notice": RESEARCH_ONLY,
    }
    return row


def render_csv(contents: ScanContents, stamp: ExportStamp) -> bytes:
    """The CSV file's bytes: UTF-8 with a byte-order mark (so spreadsheet programs read the
    em dash and non-Latin names right), a header row, then one row per image in case order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for case in contents.cases:
        for image in case.images:
            writer.writerow(image_row(contents, case, image, stamp))
    return out.getvalue().encode("utf-8-sig")
