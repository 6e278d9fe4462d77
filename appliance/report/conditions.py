"""What a report says about the conditions a scan ran under: the clock, and the Pi's health.

Why in the report: it is read long after the scan, by someone who was not there. If the clock
was wrong when the scan started (a Raspberry Pi has no battery-backed clock), every time printed
is suspect; if the Pi was throttled or under-voltage, the scan was slower and the SD card at risk.
Scans recorded before these were kept say "not recorded", never "fine".
"""

from __future__ import annotations

from appliance.buildinfo import judge_clock
from appliance.health import scan_throttle_words
from appliance.store import ScanRecord

CLOCK_WARNING = (
    "CLOCK NOT BELIEVABLE — when this scan started, the appliance's clock was earlier than the"
    " time its software was built, so it was wrong (a Raspberry Pi has no battery-backed clock)."
    " The dates and times in this report may be wrong; the results themselves are not affected."
)


def clock_words(scan: ScanRecord) -> str:
    if scan.clock_believable is None:
        return "not recorded (this scan was made before the appliance checked its clock)"
    note = f" — {scan.clock_note}" if scan.clock_note else ""
    return ("believable" if scan.clock_believable else "NOT believable") + note


def health_words(scan: ScanRecord) -> str:
    if scan.throttled_during is None and scan.throttled_at_start is None:
        if scan.clock_believable is None:
            return "not recorded (this scan was made before the appliance kept its health)"
        return scan_throttle_words(None)
    words = scan_throttle_words(scan.throttled_during)
    flags = [
        f"{label} 0x{value:x}"
        for label, value in (
            ("at start", scan.throttled_at_start),
            ("at end", scan.throttled_at_end),
        )
        if value is not None
    ]
    return f"{words} (firmware flags {', '.join(flags)})" if flags else words


def condition_rows(scan: ScanRecord) -> list[tuple[str, str]]:
    """Rows for the report's information table (plain text; the caller escapes)."""
    return [
        ("Clock at scan start", clock_words(scan)),
        ("Pi health during scan", health_words(scan)),
    ]


def condition_warnings(scan: ScanRecord) -> list[str]:
    """Boxed warnings at the top of the report (plain text; the caller escapes)."""
    warnings = []
    if scan.clock_believable is False:
        warnings.append(CLOCK_WARNING)
    if scan.ran_throttled:
        warnings.append(f"RAN THROTTLED — this scan {scan_throttle_words(scan.throttled_during)}.")
    return warnings


def report_time_note() -> str:
    """Said after "Report made on" when the clock is wrong now, as the report is written."""
    status = judge_clock()
    if status.believable:
        return ""
    return " (the clock is NOT believable now: this time is wrong)"
