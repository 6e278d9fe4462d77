"""Report: a scan's PDF and its exports (CSV, JSON, FHIR), from the database alone.

``RESEARCH_ONLY`` and :class:`ReportError` are cheap to import; the PDF writer (reportlab) is
loaded only when it is asked for, so the CLI and the text exports start without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.report.words import RESEARCH_ONLY
from appliance.report.writing import ReportError

if TYPE_CHECKING:
    from appliance.report.pdf import write_scan_report

__all__ = ["RESEARCH_ONLY", "ReportError", "write_scan_report"]


def __getattr__(name: str) -> Any:
    if name == "write_scan_report":
        from appliance.report.pdf import write_scan_report

        return write_scan_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
