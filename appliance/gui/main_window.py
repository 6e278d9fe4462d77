"""The main window: the pages, navigation, messages, and the admin corner's saves.

A thin Qt shell over :class:`~appliance.controller.Controller`, which holds what a tap does
(sticks and scans, results, reviews, exports, settings). Rules kept here:

* the GUI thread never reads a stick, runs the model or touches the database: scans run in a
  :class:`~appliance.gui.workers.ScanWorker`, everything else in :class:`Background` jobs whose
  results come back on the GUI thread (a write with ``synchronous=FULL`` can take tens of
  milliseconds on an SD card);
* sticks are only ever read, except "Copy PDF to stick", which the person asks for explicitly;
* a problem is shown in words (:mod:`appliance.problems`), never as a stack trace.

The home screen's traffic is in :mod:`appliance.gui.scan_flow`, one image's in
:mod:`appliance.gui.result_flow`, the admin corner's in :mod:`appliance.gui.admin_flow`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from appliance.controller import Controller
from appliance.errors import ApplianceError
from appliance.gui import style
from appliance.gui.about_view import AboutPage
from appliance.gui.admin_flow import AdminFlow
from appliance.gui.admin_view import AdminPage
from appliance.gui.conditions_strip import REFRESH_MS, ConditionsStrip, sample_conditions
from appliance.gui.history_view import HistoryPage
from appliance.gui.operator_view import OperatorPage
from appliance.gui.result_flow import ResultFlow
from appliance.gui.result_view import ResultPage
from appliance.gui.scan_flow import ScanFlow
from appliance.gui.sources_qt import VolumeWatcher
from appliance.gui.state_views import ProblemView, ScanView, WaitingView
from appliance.gui.widgets import Banner, button, label
from appliance.gui.workers import Background
from appliance.problems import Problem, classify

log = logging.getLogger(__name__)
TOAST_MS = 30_000
NAV = (("home", "&Scan", "F2"), ("history", "&History", "F3"), ("about", "Ab&out", "F4"),
       ("admin", "A&dmin", "F5"))  # fmt: skip


class MainWindow(QMainWindow):
    """Everything on screen; ``scan_done`` fires once a finished scan is shown (tests, bench)."""

    scan_done = Signal(object)  # ScanSummary, or a Problem when the scan failed
    image_shown = Signal(int)  # image id whose pixels are on screen
    review_saved = Signal(int)  # image id
    export_done = Signal(object)  # Path of the local PDF, or of the copy on the stick
    message_shown = Signal(str)
    conditions_shown = Signal(object)  # (ClockStatus, Health) now on screen

    def __init__(self, controller: Controller, watcher: VolumeWatcher, notice: str) -> None:
        super().__init__()
        self.controller = controller
        self.session = controller.appliance  # what the pages read: card, settings, problems
        self.watcher = watcher
        self.background = Background(self)
        self.setWindowTitle("histo-appliance")
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.banner = Banner(notice)
        self.banner.set_model(self.session.card, self.session.device_name)
        outer.addWidget(self.banner)
        # Clock and Pi health warnings: under the banner, on every page, empty when all is well.
        self.conditions = ConditionsStrip()
        outer.addWidget(self.conditions)
        self.conditions_probe = lambda: sample_conditions(self.session)  # tests replace it
        self.last_conditions = None
        self._conditions_token = 0
        self._conditions_timer = QTimer(self, interval=REFRESH_MS)
        self._conditions_timer.timeout.connect(self.refresh_conditions)
        outer.addLayout(self._build_nav())
        self.pages = QStackedWidget()
        outer.addWidget(self.pages, 1)
        self.toast = label("")
        self.toast.setContentsMargins(10, 4, 10, 4)
        self.toast.hide()
        outer.addWidget(self.toast)
        self.setCentralWidget(central)
        self._toast_timer = QTimer(self, singleShot=True, interval=TOAST_MS)
        self._toast_timer.timeout.connect(self.toast.hide)

        self.home = QStackedWidget()
        self.waiting, self.problem_view, self.live = WaitingView(), ProblemView(), ScanView()
        for widget in (self.waiting, self.problem_view, self.live):
            self.home.addWidget(widget)
        self.past, self.result, self.history = ScanView(), ResultPage(), HistoryPage()
        self.about, self.operator_page = AboutPage(), OperatorPage()
        self.admin = AdminPage(self.session.config.admin_pin)
        for page in (self.home, self.past, self.result, self.history, self.about, self.admin,
                     self.operator_page):  # fmt: skip
            self.pages.addWidget(page)
        self.scans, self.results, self.admin_flow = (
            ScanFlow(self),
            ResultFlow(self),
            AdminFlow(self),
        )
        self._connect()
        self.waiting.set_source(watcher.description)

    def _build_nav(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(0)
        self.nav = QButtonGroup(self)
        self.nav_buttons = {}
        for key, text, shortcut in NAV:
            widget = button(text, shortcut=shortcut)
            widget.setProperty("nav", "true")
            widget.setCheckable(True)
            widget.clicked.connect(lambda _=False, k=key: self.go(k))
            self.nav.addButton(widget)
            self.nav_buttons[key] = widget
            row.addWidget(widget, 1)
        self.operator_button = button("Reviewer: —", tip="Who is reviewing")
        self.operator_button.setProperty("nav", "true")
        self.operator_button.clicked.connect(lambda: self.results.ask_operator(None))
        row.addWidget(self.operator_button, 2)  # a reviewer's name needs the room
        return row

    def _connect(self) -> None:
        self.problem_view.retry.connect(self.start)
        self.scans.connect()
        self.results.connect()
        self.admin_flow.connect()
        QShortcut(QKeySequence("Ctrl+Q"), self, activated=self.close)

    # -- what other modules use ----------------------------------------------------------------

    @property
    def worker(self):
        """The running scan's worker, None between scans (tests and scripts wait on it)."""
        return self.scans.worker

    def open_image(self, image_id: int, origin: ScanView) -> None:
        self.results.open_image(image_id, origin)

    @property
    def home_state(self) -> str:
        return {self.waiting: "waiting", self.problem_view: "problem", self.live: "scan"}[
            self.home.currentWidget()
        ]

    def go(self, key: str) -> None:
        target = {"home": self.home, "history": self.history, "about": self.about,
                  "admin": self.admin}[key]  # fmt: skip
        if key == "admin" or self.admin.unlocked:
            self.admin.lock()  # leaving the corner locks it; entering it asks for the PIN again
        self.nav_buttons[key].setChecked(True)
        if key == "history":
            self.history.request()
        elif key == "about":
            self.about.refresh(self.session, self.watcher.description, self.last_conditions)
        self.pages.setCurrentWidget(target)

    def show_page(self, page: QWidget, nav_key: str | None) -> None:
        if self.admin.unlocked and page is not self.admin:
            self.admin.lock()
        if nav_key:
            self.nav_buttons[nav_key].setChecked(True)
        self.pages.setCurrentWidget(page)

    def say(self, text: str, tone: str = "ok") -> None:
        """A message line at the bottom of every page (where a report went, what failed)."""
        colours = {"ok": style.OK_BG, "warn": style.WARN_BG, "error": style.ERROR_BG}
        self.toast.setStyleSheet(f"background: {colours.get(tone, style.OK_BG)};")
        self.toast.setText(text)
        self.toast.show()
        self._toast_timer.start()
        self.message_shown.emit(text)

    def run(self, fn, on_done, on_error=None) -> None:
        """Run ``fn`` off the GUI thread; its result (or error) comes back on it."""
        self.background.run(fn, on_done, on_error or self.background_failed)

    def background_failed(self, exc: BaseException) -> None:
        found = classify(exc)
        self.say(f"{found.title}: {found.detail} {found.action}", "error")

    @staticmethod
    def refusal(exc: BaseException) -> str:
        """An action's refusal in words (its own message; anything else is classified)."""
        return str(exc) if isinstance(exc, ApplianceError) else classify(exc).detail

    # -- start ---------------------------------------------------------------------------------

    def refresh_conditions(self) -> None:
        """Read the clock and the Pi's health off the GUI thread, then show them (only the
        newest reading: an older one that comes back late is dropped)."""
        self._conditions_token += 1
        token = self._conditions_token
        self.run(
            self.conditions_probe,
            lambda found: self._conditions_ready(found, token),
            lambda exc: log.warning("clock/health reading failed: %s", exc),
        )

    def _conditions_ready(self, conditions, token: int) -> None:
        if token != self._conditions_token:
            return
        self.last_conditions = conditions
        self.conditions.show_conditions(*conditions)
        self.admin.show_conditions(*conditions)
        self.conditions_shown.emit(conditions)

    def start(self) -> None:
        """Show the right home state and start watching for sticks (already present ones too)."""
        self.refresh_conditions()
        self._conditions_timer.start()
        self.go("home")
        if self.session.problem is not None:
            self._show_problem(self.session.problem)
        else:
            self.home.setCurrentWidget(self.waiting)
        try:
            present = self.watcher.start()
        except ApplianceError as exc:
            if self.session.problem is None:
                self._show_problem(classify(exc), can_retry=True)
            return
        for volume in present:
            self.scans.on_inserted(volume)

    def _show_problem(self, found: Problem, can_retry: bool = False) -> None:
        self.problem_view.show_problem(found, can_retry)
        self.home.setCurrentWidget(self.problem_view)

    # -- window --------------------------------------------------------------------------------

    def apply_kiosk(self, on: bool) -> None:
        """Full screen without decorations, or a normal window (developer mode)."""
        self.setWindowFlag(Qt.WindowType.FramelessWindowHint, on)
        if on:
            # Also size it by hand: a bare X session on the Pi (no window manager) ignores the
            # full-screen request, and the window would keep its default size.
            screen = self.screen() or QGuiApplication.primaryScreen()
            if screen is not None:
                self.setGeometry(screen.geometry())
            self.showFullScreen()
        else:
            self.showNormal()

    def shutdown(self, wait_ms: int = 15_000) -> None:
        """Stop the scan after its current image, stop watching, wait for jobs, close the DB."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(wait_ms)
        self.watcher.stop()
        self.background.wait(wait_ms)
        self.controller.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
