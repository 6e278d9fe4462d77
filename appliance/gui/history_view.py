"""Past scans: search by text (stick, case, file), by date and by result; tap one to reopen it.

The view only collects the filter and shows rows; the query itself runs off the GUI thread (the
main window hands it to the background pool), because the database may be busy writing a scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import ClassVar

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from appliance.decision import Decision, most_serious
from appliance.gui import keyboard, style
from appliance.gui.widgets import TouchTable, button, label
from appliance.gui.words import LABEL_CHARS, local_time
from appliance.text import display_text

RANGES = (("Today", 0), ("7 days", 7), ("30 days", 30), ("All dates", None))


@dataclass(frozen=True)
class HistoryFilter:
    """What to look for; ``since``/``until`` are inclusive dates in the appliance's local time."""

    search: str | None
    since: date | None
    until: date | None
    decision: str | None

    def query(self, store, limit: int = 300) -> list:
        """Run the search. The store compares UTC dates, so it is asked one day wider on each
        side and the rows are then kept by their local date."""
        since = self.since - timedelta(days=1) if self.since else None
        until = self.until + timedelta(days=1) if self.until else None
        scans = store.scans(
            search=self.search, since=since, until=until, decision=self.decision, limit=limit
        )
        if self.since is None and self.until is None:
            return scans
        kept = []
        for scan in scans:
            day = datetime.fromisoformat(scan.started_at).astimezone().date()
            if (self.since is None or day >= self.since) and (
                self.until is None or day <= self.until
            ):
                kept.append(scan)
        return kept


class HistoryPage(QWidget):
    search_requested = Signal(object)  # HistoryFilter
    opened = Signal(int)  # scan id

    HEADERS: ClassVar[list[str]] = ["Most serious", "Scan", "Started", "Stick", "Status", "Images"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        row = QHBoxLayout()
        self.text = QLineEdit()
        self.text.setPlaceholderText("Case, stick or file name")
        self.text.setClearButtonEnabled(True)
        self.text.returnPressed.connect(self.request)
        row.addWidget(self.text, 2)
        self.keyboard_button = keyboard.attach(
            self.text, "Case, stick or file name", on_done=self.request
        )
        row.addWidget(self.keyboard_button)
        self.decision = QComboBox()
        self.decision.addItem("Any result", None)
        for decision in Decision:
            self.decision.addItem(
                style.decision_icon(decision), style.SHORT_WORDS[decision], decision.value
            )
        self.decision.setAccessibleName("Result")
        self.decision.currentIndexChanged.connect(self.request)
        row.addWidget(self.decision, 1)
        self.search_button = button("Search", role="primary")
        self.search_button.clicked.connect(self.request)
        row.addWidget(self.search_button)
        box.addLayout(row)

        dates = QHBoxLayout()
        self.ranges = QButtonGroup(self)
        for text, days in RANGES:
            choice = button(text)
            choice.setCheckable(True)
            choice.clicked.connect(lambda _=False, d=days: self.set_range(d))
            self.ranges.addButton(choice)
            dates.addWidget(choice)
            if days is None:
                choice.setChecked(True)
        dates.addWidget(label("from"))
        self.since = QDateEdit()
        self.until = QDateEdit()
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())
            edit.dateChanged.connect(self._dates_edited)
        self.since.setAccessibleName("From date")
        self.until.setAccessibleName("To date")
        dates.addWidget(self.since)
        dates.addWidget(label("to"))
        dates.addWidget(self.until)
        box.addLayout(dates)
        self.use_dates = False

        self.message = label("", role="muted")
        box.addWidget(self.message)
        self.table = TouchTable(self.HEADERS)
        self.table.rowChosen.connect(self.opened)
        box.addWidget(self.table, 1)

    def set_range(self, days: int | None) -> None:
        today = QDate.currentDate()
        self.use_dates = days is not None
        for edit in (self.since, self.until):
            edit.blockSignals(True)
        self.until.setDate(today)
        self.since.setDate(today.addDays(-(days or 0)))
        for edit in (self.since, self.until):
            edit.blockSignals(False)
        self.request()

    def _dates_edited(self) -> None:
        self.use_dates = True
        checked = self.ranges.checkedButton()
        if checked is not None:
            self.ranges.setExclusive(False)
            checked.setChecked(False)
            self.ranges.setExclusive(True)
        self.request()

    def current_filter(self) -> HistoryFilter:
        since = until = None
        if self.use_dates:
            since = self.since.date().toPython()
            until = self.until.date().toPython()
            if since > until:
                since, until = until, since
        return HistoryFilter(
            search=self.text.text().strip() or None,
            since=since,
            until=until,
            decision=self.decision.currentData(),
        )

    def request(self, *_args) -> None:
        self.message.setText("Searching…")
        self.search_requested.emit(self.current_filter())

    def show_scans(self, scans: list) -> None:
        rows = []
        for scan in scans:
            counts = ", ".join(f"{n} {w}" for w, n in scan.counts.items() if n) or "no images"
            serious = most_serious(scan.counts)
            rows.append(
                (
                    scan.id,
                    [
                        style.SHORT_WORDS[serious] if serious else "—",
                        f"#{scan.id}",
                        local_time(scan.started_at),
                        display_text(scan.volume_label, LABEL_CHARS),
                        scan.status,
                        f"{scan.n_images}: {counts}",
                    ],
                    serious,
                )
            )
        self.table.set_rows(rows)
        self.message.setText(
            f"{len(scans)} scan(s) found. Tap one to open it." if scans else "No scans match."
        )

    def show_error(self, text: str) -> None:
        self.table.setRowCount(0)
        self.message.setText(text)
