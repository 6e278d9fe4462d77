"""The home screen's traffic: sticks plugged in and out, the running scan, History, exports.

Qt glue only: what to do with a stick, how a scan ended and what an export did are decided by the
controller (:mod:`appliance.controller`); this module runs those off the GUI thread and puts the
answers on the views. Progress from the pipeline reaches the scanning view unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from appliance.controller.results import ExportDone, LoadedScan, ScanEnded, StickStep
from appliance.controller.scans import stick_for
from appliance.gui.workers import ScanWorker
from appliance.ingest import Volume

if TYPE_CHECKING:
    from appliance.gui.history_view import HistoryFilter
    from appliance.gui.main_window import MainWindow
    from appliance.gui.state_views import ScanView
    from appliance.store.records import ScanRecord


class ScanFlow(QObject):
    """Sticks, scans, History and exports for one :class:`MainWindow`."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.queue = window.controller.scans
        self.worker: ScanWorker | None = None
        self.scan_records: dict[int, ScanRecord] = {}  # ScanRecord by id, as last loaded

    def connect(self) -> None:
        w = self.w
        w.watcher.inserted.connect(self.on_inserted)
        w.watcher.removed.connect(self.on_removed)
        for view in (w.live, w.past):
            view.image_chosen.connect(lambda image_id, v=view: w.results.open_image(image_id, v))
            view.export_requested.connect(lambda v=view: self.export_pdf(v, to_stick=False))
            view.copy_requested.connect(lambda v=view: self.export_pdf(v, to_stick=True))
        w.live.cancel_requested.connect(self.cancel_scan)
        w.live.next_stick_requested.connect(self.scan_next)
        w.history.search_requested.connect(self.search_history)
        w.history.opened.connect(self.reopen_scan)

    # -- sticks and scans ----------------------------------------------------------------------

    def on_inserted(self, volume: Volume) -> None:
        w = self.w
        w.past.set_stick(self.stick_label(w.past.scan_id))
        action = self.queue.inserted(volume)
        if action.step is StickStep.REFUSED:
            w.say(action.message, "error")
        elif action.step is StickStep.QUEUED:
            w.live.set_notice(action.message)
        else:
            self.start_scan(volume)

    def on_removed(self, volume: Volume) -> None:
        w = self.w
        w.say(self.queue.removed(volume), "warn")
        for view in (w.live, w.past):
            view.set_stick(self.stick_label(view.scan_id))
        if self.worker is None and w.home.currentWidget() is w.live and not self.queue.pending:
            w.live.offer_next_stick(None)

    def start_scan(self, volume: Volume) -> None:
        w = self.w
        self.queue.begin(volume)
        w.live.start(volume.label, w.controller.appliance.thresholds)
        w.home.setCurrentWidget(w.live)
        w.show_page(w.home, "home")
        worker = ScanWorker(
            lambda **kw: self.queue.run(volume, **kw),
            volume.label,
            w.background,
            on_progress=w.live.add_progress,
            on_finished=self._finished,
            parent=w,
        )
        worker.finished.connect(worker.deleteLater)
        self.worker = worker
        worker.start()

    def cancel_scan(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.w.live.set_cancelling()

    def _finished(self, outcome) -> None:
        self.worker = None
        self._show_end(self.queue.ended(outcome))

    def _show_end(self, ended: ScanEnded) -> None:
        w = self.w
        if ended.problem is not None:
            w.live.show_problem(ended.problem)
            w.live.offer_next_stick(ended.next_stick)
            w.scan_done.emit(ended.problem)
            return
        summary = ended.summary

        def shown(loaded: LoadedScan) -> None:
            self.scan_records[loaded.scan.id] = loaded.scan
            stick = self.stick_label(loaded.scan.id, loaded.scan)
            w.live.show_scan(loaded.scan, loaded.images, loaded.reviews, stick=stick)
            w.live.offer_next_stick(self.queue.pending[0].label if self.queue.pending else None)
            w.scan_done.emit(summary)

        def failed(exc) -> None:
            w.background_failed(exc)
            w.scan_done.emit(summary)

        w.run(lambda: w.controller.load_scan(summary.scan_id), shown, failed)

    def scan_next(self) -> None:
        volume = self.queue.next_stick() if self.worker is None else None
        if volume is not None:
            self.start_scan(volume)

    def stick_for(self, scan_id: int | None, scan: ScanRecord | None = None) -> Volume | None:
        if scan is None and scan_id is not None:
            scan = self.scan_records.get(scan_id)
        return stick_for(scan, self.w.watcher.present)

    def stick_label(self, scan_id: int | None, scan: ScanRecord | None = None) -> str | None:
        volume = self.stick_for(scan_id, scan)
        return volume.label if volume is not None else None

    # -- history -------------------------------------------------------------------------------

    def search_history(self, query: HistoryFilter) -> None:
        history, appliance = self.w.history, self.w.session
        if appliance.store is None:  # said at once: nothing to wait for
            found = appliance.store_problem
            history.show_error("History is not available: " + (found.detail if found else ""))
            return
        self.w.run(
            lambda: self.w.controller.search(query),
            history.show_scans,
            lambda exc: history.show_error(self.w.refusal(exc)),
        )

    def reopen_scan(self, scan_id: int) -> None:
        w = self.w

        def shown(loaded: LoadedScan) -> None:
            scan = loaded.scan
            self.scan_records[scan.id] = scan
            stick = self.stick_label(scan.id, scan)
            w.past.show_scan(scan, loaded.images, loaded.reviews, stick=stick, reopened=True)
            w.show_page(w.past, "history")

        w.run(lambda: w.controller.load_scan(scan_id), shown)

    # -- export --------------------------------------------------------------------------------

    def export_pdf(self, view: ScanView, *, to_stick: bool) -> None:
        w, scan_id = self.w, view.scan_id
        if scan_id is None or w.session.store is None:
            return
        volume = self.stick_for(scan_id) if to_stick else None
        if to_stick and volume is None:
            w.say(
                "No stick is plugged in to copy the report to. Plug one in and try again.", "warn"
            )
            return

        def done(result: ExportDone) -> None:
            view.set_busy_exporting(False)
            w.say(result.message, result.tone)
            w.export_done.emit(result.path)

        def failed(exc) -> None:
            view.set_busy_exporting(False)
            w.background_failed(exc)

        view.set_busy_exporting(True)
        w.run(lambda: w.controller.export_pdf(scan_id, volume), done, failed)
