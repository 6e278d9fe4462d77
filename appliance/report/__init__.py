"""Report: a scan's PDF, from the database alone, research-only on every page."""

from appliance.report.pdf import RESEARCH_ONLY, ReportError, write_scan_report

__all__ = ["RESEARCH_ONLY", "ReportError", "write_scan_report"]
