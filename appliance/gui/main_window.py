"""The main window: navigation, the pages, and the traffic between them and the workers.

Rules kept here:
* the GUI thread never reads a stick, runs the model or touches the database: scans run in a
  :class:`ScanWorker`, everything else in :class:`Background` jobs whose results come back as
  queued signals (a write with ``synchronous=FULL`` can take tens of milliseconds on an SD card);
* sticks are only ever read, except "Copy PDF to stick", which the person asks for explicitly;
* a problem is shown in words (:mod:`appliance.gui.messages`), never as a stack trace.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from appliance.errors import ApplianceError
from appliance.gui import export, style
from appliance.gui.about_view import AboutPage
from appliance.gui.admin_view import ADMIN, AdminPage
from appliance.gui.conditions_strip import REFRESH_MS, ConditionsStrip, sample_conditions
from appliance.gui.history_view import HistoryFilter, HistoryPage
from appliance.gui.image_view import qimage_from_pil
from appliance.gui.messages import Problem, classify
from appliance.gui.operator_view import OperatorPage
from appliance.gui.result_view import ResultPage
from appliance.gui.session import Session
from appliance.gui.sources_qt import VolumeWatcher
from appliance.gui.state_views import LABEL_CHARS, ProblemView, ScanView, WaitingView
from appliance.gui.widgets import Banner, button, label
from appliance.gui.workers import Background, ScanWorker
from appliance.text import display_text


def shown(volume) -> str:
    """A stick's label as the screen shows it (escaped, shortened: it comes from the stick)."""
    return display_text(volume.label, LABEL_CHARS)


log = logging.getLogger(__name__)
TOAST_MS = 30_000


class MainWindow(QMainWindow):
    """Everything on screen; ``scan_done`` fires once a finished scan is shown (tests, bench)."""

    scan_done = Signal(object)  # ScanSummary, or a Problem when the scan failed
    image_shown = Signal(int)  # image id whose pixels are on screen
    review_saved = Signal(int)  # image id
    export_done = Signal(object)  # Path of the local PDF, or of the copy on the stick
    message_shown = Signal(str)
    conditions_shown = Signal(object)  # (ClockStatus, Health) now on screen

    def __init__(self, session: Session, watcher: VolumeWatcher, notice: str) -> None:
        super().__init__()
        self.session = session
        self.watcher = watcher
        self.background = Background(self)
        self.worker: ScanWorker | None = None
        self.scanning_volume = None
        self.pending: list = []
        self._image_ids: list[int] = []
        self._result_origin: QWidget | None = None
        self._after_operator = None
        self._operator_return: QWidget | None = None
        self._pixel_token = 0
        self._scan_records: dict[int, object] = {}  # ScanRecord by id, as last loaded
        self.setWindowTitle("histo-appliance")

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.banner = Banner(notice)
        self.banner.set_model(session.card, session.device_name)
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
        self.waiting = WaitingView()
        self.problem_view = ProblemView()
        self.problem_view.retry.connect(self.start)
        self.live = ScanView()
        for widget in (self.waiting, self.problem_view, self.live):
            self.home.addWidget(widget)
        self.past = ScanView()
        self.result = ResultPage()
        self.history = HistoryPage()
        self.about = AboutPage()
        self.admin = AdminPage(session.config.admin_pin)
        self.operator_page = OperatorPage()
        for page in (
            self.home,
            self.past,
            self.result,
            self.history,
            self.about,
            self.admin,
            self.operator_page,
        ):
            self.pages.addWidget(page)
        self._connect()
        self.waiting.set_source(watcher.description)

    # -- layout --------------------------------------------------------------------------------

    def _build_nav(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(0)
        self.nav = QButtonGroup(self)
        self.nav_buttons = {}
        for key, text, shortcut in (
            ("home", "&Scan", "F2"),
            ("history", "&History", "F3"),
            ("about", "Ab&out", "F4"),
            ("admin", "A&dmin", "F5"),
        ):
            widget = button(text, shortcut=shortcut)
            widget.setProperty("nav", "true")
            widget.setCheckable(True)
            widget.clicked.connect(lambda _=False, k=key: self.go(k))
            self.nav.addButton(widget)
            self.nav_buttons[key] = widget
            row.addWidget(widget, 1)
        self.operator_button = button("Reviewer: —", tip="Who is reviewing")
        self.operator_button.setProperty("nav", "true")
        self.operator_button.clicked.connect(lambda: self.ask_operator(None))
        row.addWidget(self.operator_button, 1)
        return row

    def _connect(self) -> None:
        self.watcher.inserted.connect(self.on_inserted)
        self.watcher.removed.connect(self.on_removed)
        for view in (self.live, self.past):
            view.image_chosen.connect(lambda image_id, v=view: self.open_image(image_id, v))
            view.export_requested.connect(lambda v=view: self.export_pdf(v, to_stick=False))
            view.copy_requested.connect(lambda v=view: self.export_pdf(v, to_stick=True))
        self.live.cancel_requested.connect(self.cancel_scan)
        self.live.next_stick_requested.connect(self._scan_next)
        self.result.back.connect(self._result_back)
        self.result.previous.connect(lambda: self._step(-1))
        self.result.next.connect(lambda: self._step(1))
        self.result.review.agree_requested.connect(
            lambda note: self.review_current(agreed=True, corrected=None, note=note)
        )
        self.result.review.override_requested.connect(
            lambda corrected, note: self.review_current(
                agreed=False, corrected=corrected, note=note
            )
        )
        self.result.review.operator_requested.connect(lambda: self.ask_operator(None))
        self.history.search_requested.connect(self.search_history)
        self.history.opened.connect(self.reopen_scan)
        self.operator_page.chosen.connect(self._operator_chosen)
        self.operator_page.cancelled.connect(self._operator_cancelled)
        self.admin.audit.connect(self._admin_audit)
        self.admin.save_thresholds.connect(self._admin_thresholds)
        self.admin.save_device_name.connect(self._admin_device)
        self.admin.save_kiosk.connect(self._admin_kiosk)
        QShortcut(QKeySequence("Ctrl+Q"), self, activated=self.close)

    # -- navigation ----------------------------------------------------------------------------

    def go(self, key: str) -> None:
        if key != "admin" and self.admin.unlocked:
            self.admin.lock()
        target = {
            "home": self.home,
            "history": self.history,
            "about": self.about,
            "admin": self.admin,
        }[key]
        self.nav_buttons[key].setChecked(True)
        if key == "history":
            self.history.request()
        elif key == "about":
            self.about.refresh(self.session, self.watcher.description, self.last_conditions)
        elif key == "admin":
            self.admin.lock()
        self.pages.setCurrentWidget(target)

    def _show_page(self, page: QWidget, nav_key: str | None) -> None:
        if self.admin.unlocked and page is not self.admin:
            self.admin.lock()
        if nav_key:
            self.nav_buttons[nav_key].setChecked(True)
        self.pages.setCurrentWidget(page)

    @property
    def home_state(self) -> str:
        return {self.waiting: "waiting", self.problem_view: "problem", self.live: "scan"}[
            self.home.currentWidget()
        ]

    def say(self, text: str, tone: str = "ok") -> None:
        """A message line at the bottom of every page (where a report went, what failed)."""
        colours = {"ok": style.OK_BG, "warn": style.WARN_BG, "error": style.ERROR_BG}
        self.toast.setStyleSheet(f"background: {colours.get(tone, style.OK_BG)};")
        self.toast.setText(text)
        self.toast.show()
        self._toast_timer.start()
        self.message_shown.emit(text)

    def _run(self, fn, on_done, on_error=None) -> None:
        self.background.run(fn, on_done, on_error or self._background_failed)

    def _background_failed(self, exc: BaseException) -> None:
        found = classify(exc)
        self.say(f"{found.title}: {found.detail} {found.action}", "error")

    # -- start ---------------------------------------------------------------------------------

    def refresh_conditions(self) -> None:
        """Read the clock and the Pi's health off the GUI thread, then show them (only the
        newest reading: an older one that comes back late is dropped)."""
        self._conditions_token += 1
        token = self._conditions_token
        self._run(
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
            self.on_inserted(volume)

    def _show_problem(self, found: Problem, can_retry: bool = False) -> None:
        self.problem_view.show_problem(found, can_retry)
        self.home.setCurrentWidget(self.problem_view)

    # -- sticks and scans ----------------------------------------------------------------------

    def on_inserted(self, volume) -> None:
        self.past.set_stick(self._stick_label(self.past.scan_id))
        if self.session.analyzer is None:
            found = self.session.problem
            reason = f"{found.title}." if found else "The appliance is not ready."
            self.say(
                f"Stick “{shown(volume)}” is plugged in, but it cannot be analysed: {reason}",
                "error",
            )
            return
        if self.worker is not None:
            if all(v.id != volume.id for v in self.pending):
                self.pending.append(volume)
            self.live.set_notice(
                f"Stick “{shown(volume)}” is waiting; it can be scanned when this scan is done."
            )
            return
        self.start_scan(volume)

    def on_removed(self, volume) -> None:
        self.pending = [v for v in self.pending if v.id != volume.id]
        self.say(f"Stick “{shown(volume)}” was removed.", "warn")
        for view in (self.live, self.past):
            view.set_stick(self._stick_label(view.scan_id))
        if self.worker is None and self.home.currentWidget() is self.live and not self.pending:
            self.live.offer_next_stick(None)

    def start_scan(self, volume) -> None:
        self.session.busy = True
        self.scanning_volume = volume
        self.live.start(volume.label)
        self.home.setCurrentWidget(self.live)
        self._show_page(self.home, "home")
        worker = ScanWorker(
            self.session.analyzer,
            volume,
            self.background,
            on_progress=self.live.add_progress,
            on_completed=self._scan_completed,
            on_failed=self._scan_failed,
            parent=self,
        )
        worker.finished.connect(worker.deleteLater)
        self.worker = worker
        worker.start()

    def cancel_scan(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.live.set_cancelling()

    def _scan_ended(self) -> None:
        self.session.busy = False
        self.worker = None
        self.scanning_volume = None

    def _scan_completed(self, summary) -> None:
        self._scan_ended()
        scan_id = summary.scan_id

        def load():
            return self._load_scan(scan_id)

        def shown(result) -> None:
            scan, images, reviews = result
            self._scan_records[scan.id] = scan
            self.live.show_scan(scan, images, reviews, stick=self._stick_label(scan_id, scan))
            self._offer_pending()
            self.scan_done.emit(summary)

        def failed(exc) -> None:
            self._background_failed(exc)
            self.scan_done.emit(summary)

        self._run(load, shown, failed)

    def _scan_failed(self, exc) -> None:
        self._scan_ended()
        found = classify(exc, during_scan=True)
        self.live.state.show_problem(found)
        self.live.progress.hide()
        self.live.cancel_button.hide()
        self._offer_pending()
        self.scan_done.emit(found)

    def _offer_pending(self) -> None:
        self.live.offer_next_stick(self.pending[0].label if self.pending else None)

    def _scan_next(self) -> None:
        if self.pending and self.worker is None:
            self.start_scan(self.pending.pop(0))

    def _stick_label(self, scan_id: int | None, scan=None) -> str | None:
        volume = self._stick_for(scan_id, scan)
        return volume.label if volume is not None else None

    def _stick_for(self, scan_id: int | None, scan=None):
        """The stick to show full images from / copy a report to: the scan's own stick if it is
        plugged in, otherwise the only stick plugged in (named on the button), else None."""
        present = list(self.watcher.present)
        if scan is None and scan_id is not None:
            scan = self._scan_records.get(scan_id)
        if scan is not None:
            for volume in present:
                if str(volume.mount_point) == scan.volume_path:
                    return volume
        return present[0] if len(present) == 1 else None

    # -- history -------------------------------------------------------------------------------

    def search_history(self, query: HistoryFilter) -> None:
        if self.session.store is None:
            self.history.show_error(
                "History is not available: "
                + (self.session.store_problem.detail if self.session.store_problem else "")
            )
            return
        self._run(
            lambda: query.query(self.session.store),
            self.history.show_scans,
            lambda exc: self.history.show_error(classify(exc).detail),
        )

    def _load_scan(self, scan_id: int):
        """A scan, its images and their latest reviews: what a result page shows (worker thread)."""
        store = self.session.store
        return store.scan(scan_id), store.images(scan_id), store.latest_reviews(scan_id)

    def reopen_scan(self, scan_id: int) -> None:
        def load():
            return self._load_scan(scan_id)

        def shown(result) -> None:
            scan, images, reviews = result
            self._scan_records[scan.id] = scan
            self.past.show_scan(
                scan,
                images,
                reviews,
                stick=self._stick_label(scan.id, scan),
                reopened=True,
            )
            self._show_page(self.past, "history")

        self._run(load, shown)

    # -- one image -----------------------------------------------------------------------------

    def open_image(self, image_id: int, origin: ScanView) -> None:
        self._result_origin = origin
        self._image_ids = origin.image_ids()
        self._load_image(image_id)

    def _step(self, delta: int) -> None:
        if self.result.image is None or self.result.image.id not in self._image_ids:
            return
        index = self._image_ids.index(self.result.image.id) + delta
        if 0 <= index < len(self._image_ids):
            self._load_image(self._image_ids[index])

    def _load_image(self, image_id: int) -> None:
        self._pixel_token += 1
        token = self._pixel_token

        def load():
            store = self.session.store
            image = store.image(image_id)
            return image, store.scan(image.scan_id), store.reviews(image_id)

        def shown(result) -> None:
            if token != self._pixel_token:
                return
            image, scan, reviews = result
            self._scan_records[scan.id] = scan
            ids = self._image_ids or [image.id]
            position = (ids.index(image.id) if image.id in ids else 0, len(ids))
            self.result.show_record(
                image,
                scan,
                reviews,
                position,
                self.session.operator,
                can_review=self.session.store is not None,
            )
            self._show_page(self.result, "history" if self._result_origin is self.past else "home")
            volume = self._stick_for(scan.id, scan)
            self._run(
                lambda: self._pixels(image, scan, volume),
                lambda px: self._pixels_ready(token, image.id, px),
                lambda exc: self._pixels_ready(token, image.id, (None, classify(exc).detail)),
            )

        self._run(load, shown)

    @staticmethod
    def _pixels(image, scan, volume) -> tuple[QImage | None, str]:
        """Full pixels from the stick when it is there and the file is unchanged; otherwise the
        stored thumbnail. Runs in the background pool."""
        from appliance.ingest import read_image

        if volume is not None and scan.volume_path and str(volume.mount_point) == scan.volume_path:
            path = Path(scan.volume_path).joinpath(*Path(image.path).parts)
            try:
                loaded = read_image(path, volume_root=Path(scan.volume_path))
                if image.sha256 is None or loaded.sha256 == image.sha256:
                    return qimage_from_pil(loaded.image), "Full image, read from the stick."
                reason = "the file on the stick has changed since it was analysed"
            except ApplianceError as exc:
                reason = f"the file cannot be read now ({exc})"
        else:
            reason = "the stick is not plugged in"
        if image.thumbnail:
            thumb = QImage.fromData(image.thumbnail)
            if not thumb.isNull():
                return thumb, f"Small stored copy: {reason}. Plug the stick in for full detail."
        return None, f"No picture to show: {reason}, and no copy was stored (unreadable file)."

    def _pixels_ready(self, token: int, image_id: int, result) -> None:
        if token != self._pixel_token:
            return
        qimage, note = result
        self.result.set_pixels(qimage, note)
        self.image_shown.emit(image_id)

    def _result_back(self) -> None:
        origin = self._result_origin or self.live
        if origin is self.live:
            self._show_page(self.home, "home")
        else:
            self._show_page(self.past, "history")

    # -- reviews -------------------------------------------------------------------------------

    def review_current(self, *, agreed: bool, corrected: str | None, note: str) -> None:
        image = self.result.image
        if image is None:
            return
        if not self.session.operator:
            self.ask_operator(
                lambda: self.review_current(agreed=agreed, corrected=corrected, note=note)
            )
            return
        image_id, scan_id = image.id, image.scan_id

        def save():
            self.session.review(image_id, agreed=agreed, corrected=corrected, note=note)
            return self.session.store.reviews(image_id), self.session.store.latest_reviews(scan_id)

        def saved(result) -> None:
            reviews, latest = result
            if self.result.image is not None and self.result.image.id == image_id:
                self.result.show_reviews(reviews)
                self.result.review.reset(
                    self.result.review.ai_decision, self.session.operator, True
                )
                self.result.review.show_message("Review saved.", error=False)
            for view in (self.live, self.past):
                if view.scan_id == scan_id:
                    view.update_review(image_id, latest.get(image_id))
            self.say(f"Review of {image.name} saved by {self.session.operator}.")
            self.review_saved.emit(image_id)

        def refused(exc) -> None:
            self.result.review.show_message(
                str(exc) if isinstance(exc, ApplianceError) else classify(exc).detail
            )

        self._run(save, saved, refused)

    def ask_operator(self, then) -> None:
        self._after_operator = then
        self._operator_return = self.pages.currentWidget()
        self._run(
            self.session.recent_operators,
            lambda names: self.operator_page.prepare(names, self.session.operator),
            lambda exc: self.operator_page.prepare([], self.session.operator),
        )
        self.pages.setCurrentWidget(self.operator_page)

    def _operator_chosen(self, name: str) -> None:
        try:
            name = self.session.set_operator(name)
        except ApplianceError as exc:
            self.operator_page.show_error(str(exc))
            return
        self._run(lambda: self.session.audit_sign_in(name), lambda _r: None, lambda _e: None)
        self.operator_button.setText(f"Reviewer: {name}")
        self.result.review.set_operator(name)
        self.pages.setCurrentWidget(self._operator_return or self.home)
        then, self._after_operator = self._after_operator, None
        if then is not None:
            then()

    def _operator_cancelled(self) -> None:
        self._after_operator = None
        self.pages.setCurrentWidget(self._operator_return or self.home)

    # -- export --------------------------------------------------------------------------------

    def export_pdf(self, view: ScanView, *, to_stick: bool) -> None:
        scan_id = view.scan_id
        if scan_id is None or self.session.store is None:
            return
        volume = self._stick_for(scan_id) if to_stick else None
        if to_stick and volume is None:
            self.say(
                "No stick is plugged in to copy the report to. Plug one in and try again.", "warn"
            )
            return
        store, config = self.session.store, self.session.config
        device, actor = self.session.device_name, self.session.operator

        def work():
            local = export.export_local(store, scan_id, config.reports, device)
            if volume is None:
                return local, None
            try:
                copied = export.copy_to_stick(
                    local, volume, store=store, actor=actor, scan_id=scan_id
                )
            except export.StickWriteRefused as exc:
                return local, exc
            return local, copied

        def done(result) -> None:
            view.set_busy_exporting(False)
            local, copied = result
            if isinstance(copied, export.StickWriteRefused):
                self.say(str(copied), "warn")
                self.export_done.emit(local)
            elif copied is not None:
                self.say(
                    f"Report copied to the stick “{shown(volume)}” as {copied.name}."
                    f" A copy is kept on this appliance at {local}."
                )
                self.export_done.emit(copied)
            else:
                self.say(
                    f"Report saved on this appliance at {local}. Nothing was written to the stick."
                )
                self.export_done.emit(local)

        def failed(exc) -> None:
            view.set_busy_exporting(False)
            self._background_failed(exc)

        view.set_busy_exporting(True)
        self._run(work, done, failed)

    # -- admin ---------------------------------------------------------------------------------

    def _admin_audit(self, event: str) -> None:
        store = self.session.store
        if store is not None:
            self._run(lambda: store.audit(event, actor=ADMIN), lambda _r: None, lambda _e: None)
        if event == "admin_unlocked":
            self.admin.load(self.session)

    def _admin_thresholds(self, benign: float, malignant: float) -> None:
        def saved(t) -> None:
            self.admin.show_result(
                f"Saved: benign below {t.benign_below:.2f}, malignant from {t.malignant_at:.2f}."
                " They apply from the next scan.",
                False,
            )

        self._run(
            lambda: self.session.save_thresholds(benign, malignant, ADMIN),
            saved,
            lambda exc: self.admin.show_result(self._refusal(exc), True),
        )

    def _admin_device(self, name: str) -> None:
        def saved(_r) -> None:
            self.banner.set_model(self.session.card, self.session.device_name)
            self.admin.show_result(f"Device name saved: {self.session.device_name}.", False)

        self._run(
            lambda: self.session.save_device_name(name, ADMIN),
            saved,
            lambda exc: self.admin.show_result(self._refusal(exc), True),
        )

    def _admin_kiosk(self, on: bool) -> None:
        def saved(_r) -> None:
            self.apply_kiosk(on)
            self.admin.show_result("Kiosk mode " + ("on." if on else "off."), False)

        self._run(
            lambda: self.session.save_kiosk(on, ADMIN),
            saved,
            lambda exc: self.admin.show_result(self._refusal(exc), True),
        )

    @staticmethod
    def _refusal(exc: BaseException) -> str:
        return str(exc) if isinstance(exc, ApplianceError) else classify(exc).detail

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
        self.session.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
