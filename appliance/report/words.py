"""What a report says in words: the notice, scan states, times, thresholds, tiles, reviews.

Why a module of its own, without reportlab: the PDF, the CSV, the JSON and the FHIR exports say
the same things, and the text formats must not load a PDF toolkit to say them. Everything that
came from a stick or a person goes through :func:`text` (escaped, shown safely, shortened), so a
name like ``<b>x</b>.png`` prints as written and never changes the report's layout.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from appliance.store import ImageRecord, ReviewRecord
from appliance.text import display_text
from appliance.values import Decision

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


def describe_thresholds(thresholds: dict[str, Any]) -> str:
    names = {
        "benign_below": "benign below",
        "malignant_at": "malignant at or above",
        "operating_point": "operating point",
        "allowed_range": "admin may set within",
    }
    parts = []
    for key, value in thresholds.items():
        if key == "scope":  # shown in its own row (scope_words)
            continue
        if isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, list | tuple):
            value = "–".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
        parts.append(f"{names.get(key, key.replace('_', ' '))} {value}")
    return "; ".join(parts) or "not recorded"


def scope_words(thresholds: dict[str, Any]) -> str:
    """The scope gate's limits the scan ran with: what an image had to be to get an answer."""
    lines = thresholds.get("scope")
    if not lines:
        return "none recorded (only images too small were refused)"
    return "; ".join(f"{what}: {limit}" for what, limit in lines)


def tile_probabilities(tiles: Any) -> list[float] | None:
    """The per-tile malignant probabilities in a stored tile map, whatever its layout.

    Accepts a list (or grid of lists) of numbers, a list of ``{"p": ...}`` / ``{"p_malignant":
    ...}`` items, or a dict holding one of those under ``tiles`` / ``probabilities`` / ``p`` /
    ``grid``. ``None`` entries (tiles skipped as background) are not counted.
    """
    if isinstance(tiles, dict):
        for key in ("tiles", "probabilities", "p", "grid", "map"):
            if key in tiles:
                return tile_probabilities(tiles[key])
        return None
    if not isinstance(tiles, list | tuple):
        return None
    found: list[float] = []
    for item in tiles:
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            found.append(float(item))
        elif isinstance(item, dict):
            p = item.get("p", item.get("p_malignant"))
            if isinstance(p, int | float):
                found.append(float(p))
        elif isinstance(item, list | tuple):
            found.extend(tile_probabilities(list(item)) or [])
    return found


def describe_tiles(tiles: Any, thresholds: dict[str, Any], *, unicode: bool) -> str | None:
    probabilities = tile_probabilities(tiles)
    if not probabilities:
        return None
    cut = tiles.get("threshold") if isinstance(tiles, dict) else None
    if not isinstance(cut, int | float):
        cut = thresholds.get("malignant_at")
    if not isinstance(cut, int | float):
        return f"tiles: {len(probabilities)}"
    over = sum(p >= cut for p in probabilities)
    sign = "≥" if unicode else ">="
    words = f"tiles: {len(probabilities)} ({over} {sign} threshold {cut:.2f})"
    skipped = tiles.get("skipped_background") if isinstance(tiles, dict) else None
    if isinstance(skipped, int) and skipped > 0:
        words += f"; {skipped} background tiles skipped"
    return words


def review_words(review: ReviewRecord | None) -> str:
    """The review in force, as markup-safe text (the AI result stays in its own column)."""
    if review is None:
        return "not reviewed"
    if review.agreed:
        verdict = "<b>agreed</b> with the AI result"
    else:
        corrected = review.corrected_decision or ""
        with contextlib.suppress(ValueError):
            corrected = Decision(corrected).wording
        verdict = f"<b>overridden to {text(corrected)}</b>"
    parts = [f"{text(review.reviewer, WHO_CHARS)}: {verdict}"]
    if review.note:
        parts.append(f"Note: “{note_lines(review.note)}”")
    parts.append(when(review.created_at))
    return "<br/>".join(parts)


def ai_words(image: ImageRecord, thresholds: dict[str, Any], unicode: bool) -> str:
    if image.status != "ok":
        return (
            f"<b>{text(Decision.UNASSESSABLE.wording)}</b><br/>"
            f"Could not be analysed: {text(image.error or 'no reason recorded', CELL_CHARS)}"
        )
    decision = image.effective_decision
    lines = [f"<b>{text(decision.wording)}</b>"]
    if image.p_malignant is not None:
        lines.append(f"p(malignant) = {image.p_malignant:.3f}")
    tiles = describe_tiles(image.tiles, thresholds, unicode=unicode)
    if tiles:
        lines.append(text(tiles))
    if image.reused_from is not None:
        lines.append(f"same file and model as image #{image.reused_from}: result reused")
    return "<br/>".join(lines)
