"""The lines under the top banner that say when the clock is wrong or the Pi is unwell.

Why always on screen, on every page: a wrong clock silently puts wrong times on every result,
review and report, and under-voltage can corrupt the SD card; a technician who only ever looks at
the scan page must still see it. The strip is empty (zero height) when all is well, so it costs
no room on the 800x480 screen in normal use.

Readings are taken off the GUI thread (:func:`sample_conditions`, via the window's background
pool), because ``vcgencmd`` is a process start.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from appliance.buildinfo import ClockStatus, judge_clock
from appliance.gui import style
from appliance.health import Health, read_health

REFRESH_MS = 30_000


def sample_conditions(session) -> tuple[ClockStatus, Health]:
    """The clock and the Pi's health now (runs in the background pool)."""
    card = session.card
    created = card.provenance.get("created") if card is not None else None
    clock = judge_clock(card_created=created)
    return clock, read_health(session.config.database, session.config.reports)


def clock_banner_text(clock: ClockStatus) -> str:
    local = clock.now.astimezone().strftime("%Y-%m-%d %H:%M")
    built = clock.reference.when.astimezone().strftime("%Y-%m-%d") if clock.reference else "?"
    return (
        f"⚠ Clock wrong: {local} is before this software was made ({built}); times saved now"
        " are wrong. Admin: sudo date -s '…' then sudo fake-hwclock save"
    )


def health_banner_text(health: Health) -> str:
    parts = [f"{r.short}: {r.advice}" if r.advice else r.short for r in health.warnings]
    return "⚠ Pi health: " + "; ".join(parts) + "."


def status_line(clock: ClockStatus | None, health: Health | None) -> str:
    """One compact line for the admin corner and the About page."""
    if clock is None or health is None:
        return "Health: not read yet."
    when = "clock WRONG" if not clock.believable else "clock ok"
    return f"Health: {health.compact()} · {when}"


class ConditionsStrip(QWidget):
    """Two wrapped lines, each shown only while it has something to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.clock_line = self._line(style.ERROR_BG, style.VERMILLION, "Clock warning")
        self.health_line = self._line(style.WARN_BG, style.ORANGE, "Health warning")
        box.addWidget(self.clock_line)
        box.addWidget(self.health_line)

    @staticmethod
    def _line(background: str, border: str, name: str) -> QLabel:
        line = QLabel()
        line.setWordWrap(True)
        line.setTextFormat(Qt.TextFormat.PlainText)
        line.setAccessibleName(name)
        line.setStyleSheet(
            f"background: {background}; color: #111111; font-weight: bold;"
            f" border-bottom: 3px solid {border}; padding: 2px 10px;"
        )
        line.hide()
        return line

    def show_conditions(self, clock: ClockStatus, health: Health) -> None:
        self.clock_line.setVisible(not clock.believable)
        if not clock.believable:
            self.clock_line.setText(clock_banner_text(clock))
        self.health_line.setVisible(bool(health.warnings))
        if health.warnings:
            self.health_line.setText(health_banner_text(health))
