"""What a report says in words: the notice, scan states, times, thresholds, tiles, reviews.

Why a module of its own, without reportlab: the PDF, the CSV, the JSON and the FHIR exports say
the same things, and the text formats must not load a PDF toolkit to say them. Everything that
came from a stick or a person goes through :func:`text` (escaped, shown safely, shortened), so a
name like ``<b>x</b>.png`` prints as written and never changes the report's layout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

from appliance.decision import decide
from appliance.store import ImageRecord, ReviewRecord
from appliance.store.cases import SIDECAR, SIDECAR_NAME, CaseDetails
from appliance.text import display_text
from appliance.values import Decision, Thresholds, TileMap, show_probability

RESEARCH_ONLY = "For research use only — not for diagnostic use"

STATUS_WORDS = {
    "running": "NOT FINISHED — the scan was still running (or the appliance stopped) when this"
    " report was made; images after the last one listed were not analysed.",
    "interrupted": "INTERRUPTED — the scan stopped before every image was analysed (for example"
    " the stick was removed). Only the images listed below have results.",
    "cancelled": "CANCELLED — the scan was stopped by the user before every image was analysed."
    " Only the images listed below have results.",
    "failed": "FAILED — the scan stopped because of an error. Only the images listed below have"
    " results.",
}

# Longest text (in characters) any one stick- or person-given value may take in the PDF. A table
# row cannot be split across pages, so a cell taller than a page makes reportlab give up
# (LayoutError): every such value is shortened in the middle to fit well inside one page.
PATH_CHARS = 300  # a file path in the 5.3 cm column: about 9 lines
CASE_CHARS = 160  # a case (folder) name in the 3.2 cm summary column and in headings
NAME_CHARS = 120  # a file name quoted inside a sentence (case explanations)
LONG_CHARS = 1200  # messages in full-width or wide cells
CELL_CHARS = 400  # an error message in the 4.2 cm AI-result column
NOTE_CHARS = 500  # a review note in the 5.4 cm review column
WHO_CHARS = 80  # a reviewer's name


def when(iso: str | None) -> str:
    """Stored UTC ISO-8601 → '2024-05-01 12:00:00 UTC' (said as UTC: no guessing the zone)."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def text(value: object, max_len: int | None = LONG_CHARS) -> str:
    """User or stick text made safe for a Paragraph: shown literally, never read as markup,
    without bytes the font cannot draw or characters that break lines, and never longer than
    ``max_len`` (see :func:`appliance.text.display_text`)."""
    return escape(display_text(value, max_len))


def note_lines(value: object, max_len: int = NOTE_CHARS, max_lines: int = 8) -> str:
    """Like :func:`text`, but a person's line breaks (a review note) stay line breaks; at most
    ``max_lines`` lines and about ``max_len`` characters in all."""
    parts = ("" if value is None else str(value)).splitlines()[:max_lines] or [""]
    each = max(max_len // len(parts), 8)
    return "<br/>".join(text(part, each) for part in parts)



def describe_tiles(
    tiles: TileMap | None, thresholds: Thresholds | None, *, unicode: bool
) -> str | None:
    """A tile map in words: how many tissue tiles, how many of them malignant by the scan's own
    cut-offs (:func:`appliance.decision.decide`, as the map in the GUI colours them)."""
    if tiles is None or not tiles.probabilities:
        return None
    words = f"tiles: {len(tiles.probabilities)}"
    if thresholds is not None:
        over = sum(decide(p, thresholds) is Decision.MALIGNANT for p in tiles.probabilities)
        sign = "≥" if unicode else ">="
        words += f" ({over} {sign} threshold {thresholds.show(thresholds.malignant_at)})"
    if tiles.skipped_background > 0:
        words += f"; {tiles.skipped_background} background tiles skipped"
    if tiles.out_of_scope:
        words += f"; {len(tiles.out_of_scope)} tissue tiles outside the model's scope"
    return words


def review_words(review: ReviewRecord | None) -> str:
    """The review in force, as markup-safe text (the AI result stays in its own column)."""
    if review is None:
        return "not reviewed"
    if review.agreed:
        verdict = "<b>agreed</b> with the AI result"
    else:
        corrected = review.corrected.wording if review.corrected else "?"
        verdict = f"<b>overridden to {text(corrected)}</b>"
    parts = [f"{text(review.reviewer, WHO_CHARS)}: {verdict}"]
    if review.note:
        parts.append(f"Note: “{note_lines(review.note)}”")
    parts.append(when(review.created_at))
    return "<br/>".join(parts)


def ai_words(image: ImageRecord, thresholds: Thresholds | None, unicode: bool) -> str:
    if image.status != "ok":
        return (
            f"<b>{text(Decision.UNASSESSABLE.wording)}</b><br/>"
            f"Could not be analysed: {text(image.error or 'no reason recorded', CELL_CHARS)}"
        )
    decision = image.effective_decision
    lines = [f"<b>{text(decision.wording)}</b>"]
    if image.p_malignant is not None:
        lines.append(f"p(malignant) = {show_probability(image.p_malignant, thresholds)}")
    tiles = describe_tiles(image.tiles, thresholds, unicode=unicode)
    if tiles:
        lines.append(text(tiles))
    if image.reused_from is not None:
        lines.append(f"same file and model as image #{image.reused_from}: result reused")
    return "<br/>".join(lines)


def specimen_cell(details: CaseDetails) -> str:
    """A case's specimen in a narrow cell: its id and accession, or that only the folder is
    known (markup-safe)."""
    if details.source != SIDECAR:
        return "<i>folder name only</i>"
    lines = [text(details.specimen_label, CASE_CHARS)]
    if details.accession:
        lines.append(f"Accession {text(details.accession, CASE_CHARS)}")
    return "<br/>".join(lines)


def specimen_words(details: CaseDetails) -> str:
    """Everything known about a case's specimen, and where it came from (markup-safe)."""
    if details.source != SIDECAR:
        return (
            f"Specimen: no {SIDECAR_NAME} in the case folder; the case is known only by its"
            f" folder name, “{text(details.case, CASE_CHARS)}”."
        )
    fields = " · ".join(f"{label}: <b>{text(value)}</b>" for label, value in details.fields())
    return f"{fields or 'no fields given'} <i>(from {SIDECAR_NAME} in the case folder)</i>"
