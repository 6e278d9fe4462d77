"""Exporting a scan's PDF: always to the appliance's reports folder, to a stick only when asked.

Qt-free, so the GUI's buttons, the command line's ``report`` and the tests run the same code.

Why two steps: the local copy is the one that must exist (it is written first and never depends on
the stick); copying it to the stick is a separate, explicit action with its own audit entry. Sticks
are mounted read-only, so the copy goes through
:func:`~appliance.ingest.stick_write.writable_stick`: writable for the copy, read-only again right
after. When that cannot be done the message says why, and the local copy stays.

Report file names come from :func:`appliance.report.naming.report_path`, so a second database or
a reset never overwrites an earlier report.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from appliance.errors import ApplianceError
from appliance.ingest import Volume
from appliance.ingest.stick_write import StickNotWritable, os_reason, place_on_stick
from appliance.text import display_text

log = logging.getLogger(__name__)


class StickWriteRefused(ApplianceError):
    """The report could not be copied to the stick; the local copy is kept (message says where)."""


def local_report_path(store, reports: Path, scan_id: int, device: str) -> Path:
    from appliance.report.naming import report_path

    return report_path(store, Path(reports), scan_id, device)


def write_pdf(store, scan_id: int, dest: Path, *, device: str) -> Path:
    """The PDF of one stored scan, through the export service every face uses."""
    from appliance.report.export import ExportFormat, export_scan

    return export_scan(store, scan_id, ExportFormat.PDF, dest, device=device)


def export_local(store, scan_id: int, reports: Path, device: str) -> Path:
    """Write (or rewrite, so new reviews are included) the scan's PDF in the reports folder."""
    path = local_report_path(store, reports, scan_id, device)
    return write_pdf(store, scan_id, path, device=device)


def is_read_only(mount_point: Path) -> bool:
    """True when the stick cannot be written now: a read-only mount, or no write permission."""
    from appliance.ingest.mounts import MountTable

    try:
        if MountTable().is_read_only(mount_point):
            return True
    except OSError:
        pass
    return not os.access(mount_point, os.W_OK)


def copy_to_stick(
    pdf: Path,
    volume: Volume,
    *,
    store=None,
    actor: str | None = None,
    scan_id: int | None = None,
) -> Path:
    """Copy the local PDF to the top folder of the stick; raise :class:`StickWriteRefused`."""
    pdf = Path(pdf)
    keep = f"The report is kept on this appliance at {pdf}."

    def audit(event: str, **payload) -> None:
        if store is not None:
            store.audit(event, actor=actor, scan_id=scan_id, **payload)

    try:
        target, stick = place_on_stick(
            pdf,
            Path(volume.mount_point),
            pdf.name,
            label=volume.label,
            purpose="report",
            removable=volume.source == "usb",
            audit=audit,
            read_only=lambda mount: is_read_only(mount),  # looked up per call (tests patch it)
        )
    except StickNotWritable as exc:
        raise StickWriteRefused(f"{exc} The report was not copied. {keep}") from exc
    except OSError as exc:
        label = display_text(volume.label, 40)
        raise StickWriteRefused(
            f"The report was not copied to the stick “{label}”: {os_reason(exc)}. {keep}"
        ) from exc
    if stick.note:
        log.warning("after copying %s to %s: %s", pdf.name, volume.label, stick.note)
    if store is not None:
        try:
            audit(
                "report_copied_to_stick",
                source=str(pdf),
                path=str(target),
                stick=volume.label,
                read_only_again=stick.read_only_again,
            )
        except ApplianceError as exc:
            log.error("could not audit the copy to %s: %s", volume.label, exc)
    return target
