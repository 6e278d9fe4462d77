"""Every state and problem the technician can meet, in words, with what to do about it.

Kept in one module without Qt so the words can be tested, so the runtime can hand the GUI (and
the CLI) a problem as a value instead of an exception, and so ``docs/technician.md`` has a single
source to follow: each :class:`Problem` is a title (what happened), the error's own
message (the detail the admin needs) and an action (what the person at the screen does now).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from appliance.errors import (
    ApplianceError,
    BackendUnavailable,
    ImageError,
    ModelRejected,
    StoreError,
    VolumeGone,
)

log = logging.getLogger(__name__)

WAITING_TITLE = "Insert a USB stick"
WAITING_TEXT = (
    "Put the images in one folder per case (for example patient-0001/) and plug the stick in."
    " The analysis starts by itself; the stick is only read, never changed."
)


@dataclass(frozen=True)
class Problem:
    """A state the technician must understand: what happened, details, and what to do."""

    kind: str
    title: str
    detail: str
    action: str


# kind -> (title, action); the detail is the error's own message.
PROBLEMS: dict[str, tuple[str, str]] = {
    "no_model": (
        "No model is installed",
        "Ask the admin to install the model bundle. No images can be analysed until then;"
        " past results can still be read under History.",
    ),
    "model": (
        "The model was refused",
        "The model file failed its safety check, so the appliance will not use it. Ask the"
        " admin to reinstall the model bundle. Past results can still be read under History.",
    ),
    "backend": (
        "The model cannot run on this appliance",
        "The TFLite interpreter is missing. Ask the admin to run 'histo-appliance doctor'"
        " and install what it names.",
    ),
    "disk_full": (
        "The disk is full",
        "New results cannot be saved. Ask the admin to free space (old reports, backups),"
        " then restart the appliance.",
    ),
    "database": (
        "Database problem",
        "Results cannot be saved or read. Do not unplug the appliance; ask the admin and"
        " show them the details below.",
    ),
    "stick_removed": (
        "The stick was removed",
        "Plug it in again to finish: images already analysed are kept and are not analysed twice.",
    ),
    "stick_unreadable": (
        "The stick cannot be read",
        "Check the stick on a computer or copy the images to another stick, then plug it in again.",
    ),
    "usb_detection": (
        "USB sticks cannot be detected",
        "Restart the appliance. If this message stays, ask the admin to run"
        " 'histo-appliance doctor'.",
    ),
    "report": (
        "The report could not be written",
        "Check that the destination has free space and is writable, then try again.",
    ),
    "unexpected": (
        "Something went wrong",
        "The problem has been logged. Restart the appliance; if it happens again, tell the"
        " admin what you were doing.",
    ),
}


def problem(kind: str, detail: str) -> Problem:
    title, action = PROBLEMS[kind]
    return Problem(kind, title, detail, action)


def classify(exc: BaseException, *, during_scan: bool = False) -> Problem:
    """The :class:`Problem` for an exception; anything not an ApplianceError is logged, and the
    person sees only that it was logged (never a stack trace)."""
    from appliance.ingest import VolumeSourceUnavailable

    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, ModelRejected):
        missing = "no model bundle" in lowered or "does not exist" in lowered
        return problem("no_model" if missing else "model", text)
    if isinstance(exc, BackendUnavailable):
        return problem("backend", text)
    if isinstance(exc, StoreError):
        full = "full" in lowered or "no space" in lowered
        return problem("disk_full" if full else "database", text)
    if isinstance(exc, VolumeGone):
        return problem("stick_removed", text)
    if isinstance(exc, VolumeSourceUnavailable):
        return problem("usb_detection", text)
    if isinstance(exc, ImageError) or (isinstance(exc, OSError) and during_scan):
        return problem("stick_unreadable", text)
    if isinstance(exc, ApplianceError):
        kind = (
            "report"
            if type(exc).__name__ == "ReportError"
            else ("stick_unreadable" if during_scan else "unexpected")
        )
        return problem(kind, text)
    log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    return problem("unexpected", f"Internal error ({type(exc).__name__}).")


# Scan endings that are not errors, as (title, explanation) given the counts.
def scan_ending(status: str, done: int, total: int, label: str) -> tuple[str, str, str]:
    """Title, explanation and tone ("ok", "warn", "error") for how a scan ended."""
    if status == "complete":
        return (
            f"Finished: stick “{label}”",
            f"All {total} images were looked at. Tap an image to see it and review it.",
            "ok",
        )
    if status == "interrupted":
        return (
            "The stick was removed before the scan finished",
            f"{done} of {total} images were analysed; their results are kept. Plug the stick in"
            " again to analyse the rest (images already done are not analysed twice).",
            "error",
        )
    if status == "cancelled":
        return (
            "Scan cancelled",
            f"{done} of {total} images were analysed before you cancelled; their results are"
            " kept. Plug the stick in again to start over.",
            "warn",
        )
    if status == "running":
        return (
            "This scan never finished",
            "The appliance stopped while it was running (for example power was lost). The"
            " results listed are kept; scan the stick again to finish.",
            "warn",
        )
    return (
        "The scan stopped because of a problem",
        f"{done} of {total} images were analysed; their results are kept.",
        "error",
    )
