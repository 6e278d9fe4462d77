"""The home screen's states: waiting for a stick, a problem, and a scan (running or finished).

The scan view shows rows as they stream in from the worker (from the pipeline's progress), and
is re-filled from the database once the scan ends or when History reopens a scan, so what is on
screen after a scan is exactly what was stored (including reviews).
"""

from __future__ import annotations

from typing import ClassVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from appliance.decision import group_cases
from appliance.gui import style
from appliance.gui.widgets import ElidedLabel, StateCard, TouchTable, button, label
from appliance.gui.words import (
    CASE_CHARS,
    LABEL_CHARS,
    MESSAGE_CHARS,
    NAME_CHARS,
    NOTE_CHARS,
    condition_notes,
    local_time,
    progress_words,
    review_words,
    why,
)
from appliance.problems import WAITING_TEXT, WAITING_TITLE, Problem, problem, scan_ending
from appliance.text import display_text
from appliance.values import Thresholds, show_probability


class WaitingView(QWidget):
    """Large, friendly: what to do now."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.addStretch(1)
        self.icon = label("⇩ USB", role="huge")
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = label(WAITING_TITLE, role="huge")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = label(WAITING_TEXT)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.source = label("", role="muted")
        self.source.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for widget in (self.icon, self.title, self.text, self.source):
            box.addWidget(widget)
        box.addStretch(2)

    def set_source(self, description: str) -> None:
        self.source.setText(f"Watching: {description}")


class ProblemView(QWidget):
    """A problem that stops scanning (no model, database), in words, with what to do."""

    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.addStretch(1)
        self.card = StateCard()
        box.addWidget(self.card)
        row = QHBoxLayout()
        self.retry_button = button("Try &again", tip="Check the stick source again")
        self.retry_button.clicked.connect(self.retry)
        row.addStretch(1)
        row.addWidget(self.retry_button)
        box.addLayout(row)
        box.addStretch(2)
        self.problem: Problem | None = None

    def show_problem(self, problem: Problem, can_retry: bool = False) -> None:
        self.problem = problem
        self.card.show_problem(problem)
        self.retry_button.setVisible(can_retry)


class ScanView(QWidget):
    """One scan: state and progress on top, cases and images below."""

    image_chosen = Signal(int)
    cancel_requested = Signal()
    export_requested = Signal()
    copy_requested = Signal()
    next_stick_requested = Signal()

    IMAGE_HEADERS: ClassVar[list[str]] = ["Result", "p(malig.)", "Case", "File", "Review"]
    CASE_HEADERS: ClassVar[list[str]] = ["Verdict", "Case", "Images", "Why"]
    FLUSH_MS = 150

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scan_id: int | None = None
        self.thresholds: Thresholds | None = None
        self.total = 0
        self.done = 0
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.setSpacing(4)
        self.state = StateCard()
        box.addWidget(self.state)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m images")
        row.addWidget(self.progress, 1)
        self.cancel_button = button("Cancel scan", role="danger", shortcut="Esc")
        self.cancel_button.clicked.connect(self.cancel_requested)
        row.addWidget(self.cancel_button)
        box.addLayout(row)
        # A finished scan's actions sit beside the Cases/Images tabs: a row of their own would
        # cost the 480-px screen a whole case.
        actions = QWidget()
        corner = QHBoxLayout(actions)
        corner.setContentsMargins(0, 0, 0, 0)
        self.export_button = button("&Export PDF", tip="Save the report on this appliance")
        self.export_button.clicked.connect(self.export_requested)
        corner.addWidget(self.export_button)
        self.copy_button = button("Copy PDF to stick", tip="Write the report to the stick")
        self.copy_button.clicked.connect(self.copy_requested)
        corner.addWidget(self.copy_button)
        self.next_button = button("Scan next stick", role="primary")
        self.next_button.clicked.connect(self.next_stick_requested)
        self.next_button.hide()
        corner.addWidget(self.next_button)
        self.pace = ElidedLabel("", role="muted", mode=Qt.TextElideMode.ElideRight)
        self.pace.setAccessibleName("Scan progress")
        self.pace.hide()
        box.addWidget(self.pace)
        self.notice = label("", role="muted")
        self.notice.hide()
        box.addWidget(self.notice)
        self.tabs = QTabWidget()
        self.tabs.setCornerWidget(actions, Qt.Corner.TopRightCorner)
        self.cases = TouchTable(self.CASE_HEADERS)
        self.images = TouchTable(self.IMAGE_HEADERS)
        self.images.rowChosen.connect(self.image_chosen)
        self.cases.rowChosen.connect(self._case_chosen)
        self.tabs.addTab(self.cases, "Cases")
        self.tabs.addTab(self.images, "Images")
        box.addWidget(self.tabs, 1)
        # Rows arriving during a scan are added in batches: one table update per FLUSH_MS
        # instead of one per image keeps the GUI thread's share of a scan small.
        self._queue: list = []
        self._latest = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(self.FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._case_first_image: dict[int, int] = {}
        self._shown: set[int] = set()
        self._stick_present = False

    # -- running -------------------------------------------------------------------------------

    def start(self, label_text: str, thresholds: Thresholds | None = None) -> None:
        """``thresholds``: the cut-offs the scan runs with (its rows show p at their precision)."""
        label_text = display_text(label_text, LABEL_CHARS)
        self.thresholds = thresholds
        self.scan_id = None
        self.total = self.done = 0
        # No state card while scanning: on the 480-px screen each line here is a result row
        # less below. The stick's name is on the progress bar.
        self.state.show_state(f"Analysing stick “{label_text}”…", "", "neutral")
        self.state.hide()
        self.progress.setFormat(f"“{label_text}”: %v of %m images")
        self.progress.setRange(0, 0)  # busy until the first progress says how many
        self.progress.show()
        self.pace.setText(f"Analysing stick “{label_text}”… results appear below as they come.")
        self.pace.show()
        self.tabs.tabBar().hide()  # only the images fill in while scanning
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.export_button.hide()
        self.copy_button.hide()
        self.next_button.hide()
        self.notice.hide()
        self.images.setRowCount(0)
        self.cases.setRowCount(0)
        self._case_first_image.clear()
        self._flush_timer.stop()
        self._queue, self._latest = [], None
        self._shown: set[int] = set()
        self.tabs.setCurrentWidget(self.images)

    def add_progress(self, progress) -> None:
        """A ScanProgress from the worker: queue the rows stored since the last one (``recent``;
        results are stored a few at a time) for the next flush."""
        self._latest = progress
        for outcome in progress.recent:
            if outcome.image_id not in self._shown:
                self._shown.add(outcome.image_id)
                self._queue.append(outcome)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush(self) -> None:
        progress, self._latest = self._latest, None
        if progress is not None:
            self.total, self.done = progress.total, progress.done
            self.progress.setRange(0, max(progress.total, 1))
            self.progress.setValue(progress.done)
            words = progress_words(progress)
            if words:
                self.pace.setText(words)
        queued, self._queue = self._queue, []
        if not queued:
            return
        first = self.images.rowCount() == 0
        self.images.append_rows(
            [
                self._image_row(
                    o.image_id,
                    o.decision,
                    o.p_malignant,
                    o.case,
                    o.path,
                    o.error or ("reused earlier result" if o.reused else "not reviewed"),
                )
                for o in queued
            ]
        )
        if first:
            self.images.fit_columns()
        self.images.scrollToBottom()

    def show_problem(self, found: Problem) -> None:
        """A scan stopped by a problem: the problem in words, the running parts put away."""
        self.state.show_problem(found)
        for widget in (self.progress, self.pace, self.cancel_button):
            widget.hide()
        self.tabs.tabBar().show()

    def set_cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.notice.setText("Cancelling after the current image…")
        self.notice.show()

    def set_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def offer_next_stick(self, label_text: str | None) -> None:
        self.next_button.setVisible(label_text is not None)
        if label_text:
            self.next_button.setText(f"Scan “{display_text(label_text, LABEL_CHARS)}” now")

    # -- finished / reopened ---------------------------------------------------------------------

    def show_scan(
        self, scan, images: list, reviews: dict, *, stick: str | None, reopened: bool = False
    ) -> None:
        """Show a scan from the database (after it ended, or reopened from History)."""
        self.scan_id = scan.id
        self.thresholds = scan.thresholds
        label_text = display_text(scan.volume_label or scan.volume_path or "?", LABEL_CHARS)
        message = display_text(scan.message, MESSAGE_CHARS)
        if reopened:
            title = f"Scan #{scan.id} of “{label_text}”, {local_time(scan.started_at)}"
            text, tone = f"Status: {scan.status}. " + message, "neutral"
        elif scan.status == "interrupted" and not images:
            # Nothing could be listed at all: the stick is unreadable rather than pulled mid-way.
            found = problem("stick_unreadable", message)
            title, text, tone = found.title, f"{found.detail}\nWhat to do: {found.action}", "error"
        else:
            if scan.status in ("interrupted", "failed"):
                # Images the pipeline could not reach are recorded too (as not analysed).
                done, total = sum(1 for i in images if i.status == "ok"), len(images)
            else:
                done, total = len(images), max(self.total, len(images))
            title, text, tone = scan_ending(scan.status, done, total, label_text)
            if message and scan.status != "complete":
                text = f"{text}\nDetail: {message}"
            elif message:
                # A complete scan keeps a message only when the stick held no image to analyse
                # (the pipeline's found_nothing): "No images found on …", and what it held.
                text, tone = message, "warn"
        notes = condition_notes(scan)
        if notes:
            text = "\n".join([text, *notes])
            tone = "warn" if tone in ("ok", "neutral") else tone
        self.state.show_state(title, text, tone)
        self.progress.hide()
        self.pace.hide()
        self.tabs.tabBar().show()
        self.cancel_button.hide()
        self.export_button.show()
        self.copy_button.show()
        self.set_stick(stick)
        self._flush_timer.stop()
        self._queue, self._latest = [], None
        self.images.set_rows(
            [
                self._image_row(
                    image.id,
                    image.effective_decision,
                    image.p_malignant,
                    image.case,
                    image.path,
                    image.error or review_words(reviews.get(image.id)),
                )
                for image in images
            ]
        )
        self._fill_cases(images)
        self.tabs.setCurrentWidget(self.cases)

    def set_stick(self, label_text: str | None) -> None:
        """Name the stick a report would be copied to (None: no stick to copy to)."""
        present = label_text is not None
        label_text = display_text(label_text, LABEL_CHARS)
        self._stick_present = present
        self.copy_button.setText(f"Copy PDF to “{label_text}”" if present else "Copy PDF to stick")
        self.copy_button.setEnabled(present and self.export_button.isEnabled())
        self.copy_button.setToolTip(
            "Write the report to this stick (the only thing ever written to a stick)"
            if present
            else "Plug a stick in to copy the report to it"
        )

    def set_busy_exporting(self, busy: bool) -> None:
        self.export_button.setEnabled(not busy)
        self.copy_button.setEnabled(not busy and self._stick_present)

    def image_ids(self) -> list[int]:
        """Image ids in the order shown (for previous / next on the result screen)."""
        ids = []
        for row in range(self.images.rowCount()):
            item = self.images.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) is not None:
                ids.append(int(item.data(Qt.ItemDataRole.UserRole)))
        return ids

    def update_review(self, image_id: int, review) -> None:
        """Show a newly saved review in the image's row."""
        row = self.images.row_for(image_id)
        if row >= 0:
            self.images.item(row, len(self.IMAGE_HEADERS) - 1).setText(review_words(review))

    def _image_row(self, image_id, decision, p, case, path, note) -> tuple:
        p_text = "" if p is None else show_probability(p, self.thresholds)
        name = display_text(str(path).rsplit("/", 1)[-1], NAME_CHARS)
        cells = [
            style.SHORT_WORDS[decision],
            p_text,
            display_text(case, CASE_CHARS),
            name,
            display_text(note, NOTE_CHARS),
        ]
        return (image_id, cells, decision)

    def _fill_cases(self, images: list) -> None:
        self._case_first_image.clear()
        rows = []
        cases = group_cases(images, shown=lambda image: display_text(image.name, NAME_CHARS))
        for index, case in enumerate(cases):
            verdict = case.verdict
            counts = ", ".join(f"{n} {word}" for word, n in verdict.counts.items() if n)
            rows.append(
                (
                    index,
                    [
                        style.SHORT_WORDS[verdict.decision],
                        display_text(case.name, CASE_CHARS),
                        counts,
                        why(verdict),
                    ],
                    verdict.decision,
                )
            )
            self._case_first_image[index] = case.lead.id
        self.cases.set_rows(rows)

    def _case_chosen(self, index: int) -> None:
        if index in self._case_first_image:
            self.image_chosen.emit(self._case_first_image[index])
