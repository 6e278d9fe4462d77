"""The words the home screen and its tables show: pace, why, times, conditions, reviews.

Plain functions on records, kept apart from the views so the result page and History word a time,
a review or a label exactly as the scan view does. ``LABEL_CHARS`` is the controller's, which
words the stick queue with the same limit.
"""

from __future__ import annotations

from datetime import datetime

from appliance.controller.scans import LABEL_CHARS
from appliance.gui import style
from appliance.health import conditions
from appliance.progress import describe
from appliance.text import display_text

__all__ = [
    "CASE_CHARS",
    "LABEL_CHARS",
    "MESSAGE_CHARS",
    "NAME_CHARS",
    "NOTE_CHARS",
    "condition_notes",
    "local_time",
    "progress_words",
    "review_words",
    "why",
]

# How much of a stick's text (escaped by display_text, shortened in the middle) a view shows.
CASE_CHARS = 60  # a case (folder) in a table cell
NAME_CHARS = 80  # a file name in a table cell or inside an explanation
NOTE_CHARS = 300  # an error or note in a table cell
MESSAGE_CHARS = 240  # a scan's message under its title (the 480-px screen is short)


def progress_words(progress) -> str:
    """The scan's pace in one line: tiles, rate, time left (worded by :mod:`appliance.progress`,
    as the CLI words them) and the file being read. The image count is on the bar itself."""
    parts = describe(progress)[1:]
    if progress.current:
        parts.append(f"now: {display_text(progress.current, NAME_CHARS)}")
    return " · ".join(parts)


def why(verdict) -> str:
    """The verdict's explanation without repeating the verdict (shown in its own column)."""
    text = verdict.explanation()
    wording = verdict.decision.wording
    if text.startswith(wording + " "):
        text = text[len(wording) :].strip()
        text = text[:1].upper() + text[1:]
    return text


def local_time(iso: str | None) -> str:
    """A stored UTC timestamp in the appliance's local time, to the minute."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso[:16]


def condition_notes(scan) -> list[str]:
    """What the scan's record says about its conditions, when it is worth a technician's eye."""
    notes = []
    if getattr(scan, "clock_believable", None) is False:
        notes.append("⚠ The clock was wrong when this scan started: its times are wrong.")
    during = getattr(scan, "throttled_during", None)
    if during:
        names = ", ".join(conditions(during))
        notes.append(
            f"⚠ The Pi ran slowed down ({names}) during this scan; check its power supply."
        )
    return notes


def review_words(review) -> str:
    if review is None:
        return "not reviewed"
    if review.agreed:
        return f"✓ agreed ({review.reviewer})"
    word = style.SHORT_WORDS[review.corrected] if review.corrected else "?"
    return f"✎ changed to {word} ({review.reviewer})"
