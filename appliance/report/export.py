"""The one export service: a stored scan as PDF, CSV, JSON or FHIR, for the CLI and the GUI.

Every format is made from the database alone (the stick may be long gone), from one reading of
the scan (:func:`~appliance.report.contents.load_contents`: the same cases in the same natural
order, the same review in force), written beside its destination and renamed into place when
complete (:func:`~appliance.report.writing.atomic_output`), and audited (``report_written`` for
the PDF, ``export_written`` for the others, with the format, path and the file's sha256).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from appliance import __version__
from appliance.errors import ApplianceError
from appliance.report.contents import ExportStamp, load_contents
from appliance.report.naming import database_id, report_path
from appliance.report.writing import atomic_output
from appliance.store import Store


class ExportFormat(StrEnum):
    """What a scan can be exported as."""

    PDF = "pdf"
    CSV = "csv"
    JSON = "json"
    FHIR = "fhir"

    @property
    def suffix(self) -> str:
        """The file name ending (FHIR is JSON too: ``.fhir.json`` says which)."""
        return {"pdf": ".pdf", "csv": ".csv", "json": ".json", "fhir": ".fhir.json"}[self.value]

    @property
    def description(self) -> str:
        """In words, for a menu or a message."""
        return {
            "pdf": "PDF report (to print and sign)",
            "csv": "CSV table (one row per image, for a spreadsheet)",
            "json": "JSON (everything stored about the scan, for a program)",
            "fhir": "FHIR R4 bundle (DiagnosticReport with one Observation per image)",
        }[self.value]


def export_format(value: str | ExportFormat) -> ExportFormat:
    """``value`` as a format, or an error that lists the formats there are."""
    try:
        return ExportFormat(str(value).strip().lower())
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise ApplianceError(
            f"There is no export format {value!r}; choose one of {known}."
        ) from None


def export_path(store: Store, folder: Path, scan_id: int, fmt: ExportFormat, device: str) -> Path:
    """Where an export goes in ``folder`` by default: the report's name with the format's
    ending (``scan-7_20261202T004914Z_lab-pi-2_3f9a1c2b.csv``), so names never collide."""
    pdf = report_path(store, Path(folder), scan_id, device)
    return pdf.with_name(pdf.name.removesuffix(".pdf") + fmt.suffix)


def export_scan(
    store: Store, scan_id: int, fmt: ExportFormat | str, dest: Path, *, device: str
) -> Path:
    """Write scan ``scan_id`` in format ``fmt`` to ``dest`` and return the file written.

    ``dest`` is a file, or an existing folder (the file then gets :func:`export_path`'s name).
    Raises :class:`~appliance.store.NotFound` for an unknown scan and
    :class:`~appliance.report.ReportError` (in words) when the file cannot be written.
    """
    fmt = export_format(fmt)
    store.scan(scan_id)  # an unknown scan is refused before any file is made
    dest = Path(dest)
    if dest.is_dir():
        dest = export_path(store, dest, scan_id, fmt, device)
    if fmt is ExportFormat.PDF:
        from appliance.report.pdf import write_scan_report  # reportlab only when asked for

        return write_scan_report(store, scan_id, dest, device=device)
    data = render(store, scan_id, fmt, device)
    with atomic_output(dest) as part:
        part.write_bytes(data)
    store.audit(
        "export_written",
        scan_id=scan_id,
        format=fmt.value,
        path=str(dest),
        sha256=hashlib.sha256(data).hexdigest(),
        device=device,
    )
    return dest


def render(store: Store, scan_id: int, fmt: ExportFormat, device: str) -> bytes:
    """The bytes of a text export (CSV, JSON or FHIR) of one scan."""
    from appliance.report.csvfile import render_csv
    from appliance.report.fhir import render_fhir
    from appliance.report.jsondoc import render_json

    contents = load_contents(store, scan_id)
    stamp = ExportStamp(
        device=device,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        database_id=database_id(store),
        software_version=__version__,
    )
    if fmt is ExportFormat.CSV:
        return render_csv(contents, stamp)
    if fmt is ExportFormat.JSON:
        return render_json(contents, stamp, store)
    if fmt is ExportFormat.FHIR:
        return render_fhir(contents, stamp)
    raise ApplianceError(f"{fmt.value} is not a text export")  # the PDF is written, not rendered
