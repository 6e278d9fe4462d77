"""Exporting a scan's PDF: always to the appliance's reports folder, to a stick only when asked.

Why two steps: the local copy is the one that must exist (it is written first and never depends on
the stick); copying it to the stick is the *only* write the appliance ever makes to removable
media, so it is a separate, explicit action with its own audit entry. A stick mounted read-only
(which is how the system mounts them by default) is reported plainly and the local copy stays.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from appliance.errors import ApplianceError
from appliance.ingest import Volume


class StickWriteRefused(ApplianceError):
    """The report could not be copied to the stick; the local copy is kept (message says where)."""


def local_report_path(reports: Path, scan_id: int) -> Path:
    return Path(reports) / f"scan-{scan_id}.pdf"


def export_local(store, scan_id: int, reports: Path, device: str) -> Path:
    """Write (or rewrite, so new reviews are included) the scan's PDF in the reports folder."""
    from appliance.report import write_scan_report

    return write_scan_report(store, scan_id, local_report_path(reports, scan_id), device=device)


def is_read_only(mount_point: Path) -> bool:
    """True when the stick cannot be written: a read-only mount, or no write permission."""
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
    mount = Path(volume.mount_point)
    keep = f"The report is kept on this appliance at {pdf}."
    if not mount.is_dir():
        raise StickWriteRefused(f"The stick “{volume.label}” is no longer plugged in. {keep}")
    if is_read_only(mount):
        raise StickWriteRefused(
            f"The stick “{volume.label}” is read-only (the system mounted it so that nothing can"
            f" be written to it), so the report was not copied. {keep}"
        )
    target = mount / pdf.name
    part = target.with_name(target.name + ".part")
    try:
        shutil.copyfile(pdf, part)
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(part, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        if exc.errno == errno.EROFS:
            reason = "it is read-only"
        elif exc.errno == errno.ENOSPC:
            reason = "it is full"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            reason = "writing to it is not permitted"
        else:
            reason = f"it could not be written ({exc.strerror or exc})"
        raise StickWriteRefused(
            f"The report was not copied to the stick “{volume.label}”: {reason}. {keep}"
        ) from exc
    if store is not None:
        with contextlib.suppress(ApplianceError):
            store.audit(
                "report_copied_to_stick",
                actor=actor,
                scan_id=scan_id,
                source=str(pdf),
                path=str(target),
                stick=volume.label,
            )
    return target
