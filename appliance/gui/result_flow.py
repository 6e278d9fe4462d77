"""One image on screen: opening it, stepping through a scan, its pixels, the review, the reviewer.

Qt glue only: loading records, choosing full pixels or the stored thumbnail, and saving a review
are the controller's (:mod:`appliance.controller`); this module runs them off the GUI thread,
drops answers that arrive after the person moved on, and puts the rest on the result page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QImage

from appliance.controller.results import LoadedImage, Pixels, ReviewSaved
from appliance.gui.image_view import qimage_from_pil

if TYPE_CHECKING:
    from appliance.gui.main_window import MainWindow
    from appliance.gui.state_views import ScanView


def to_qimage(pixels: Pixels) -> QImage | None:
    if pixels.full is not None:
        return qimage_from_pil(pixels.full)
    if pixels.thumbnail:
        thumb = QImage.fromData(pixels.thumbnail)
        return None if thumb.isNull() else thumb
    return None


class ResultFlow(QObject):
    """The result page and the reviewer sign-in of one :class:`MainWindow`."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.image_ids: list[int] = []
        self.origin: ScanView | None = None
        self._token = 0  # the newest image asked for; older answers are dropped
        self._after_operator: Callable[[], None] | None = None
        self._operator_return = None

    def connect(self) -> None:
        w, review = self.w, self.w.result.review
        w.result.back.connect(self.back)
        w.result.previous.connect(lambda: self.step(-1))
        w.result.next.connect(lambda: self.step(1))
        review.agree_requested.connect(
            lambda note: self.review_current(agreed=True, corrected=None, note=note)
        )
        review.override_requested.connect(
            lambda fix, note: self.review_current(agreed=False, corrected=fix, note=note)
        )
        review.operator_requested.connect(lambda: self.ask_operator(None))
        w.operator_page.chosen.connect(self.operator_chosen)
        w.operator_page.cancelled.connect(self.operator_cancelled)

    # -- one image -----------------------------------------------------------------------------

    def open_image(self, image_id: int, origin: ScanView) -> None:
        self.origin = origin
        self.image_ids = origin.image_ids()
        self.load(image_id)

    def step(self, delta: int) -> None:
        image = self.w.result.image
        if image is None or image.id not in self.image_ids:
            return
        index = self.image_ids.index(image.id) + delta
        if 0 <= index < len(self.image_ids):
            self.load(self.image_ids[index])

    def load(self, image_id: int) -> None:
        w, controller = self.w, self.w.controller
        self._token += 1
        token = self._token

        def shown(loaded: LoadedImage) -> None:
            if token != self._token:
                return
            image, scan = loaded.image, loaded.scan
            w.scans.scan_records[scan.id] = scan
            ids = self.image_ids or [image.id]
            position = (ids.index(image.id) if image.id in ids else 0, len(ids))
            can_review = w.session.store is not None
            w.result.show_record(
                image, scan, loaded.reviews, position, controller.operator, can_review=can_review
            )
            w.show_page(w.result, "history" if self.origin is w.past else "home")
            volume = w.scans.stick_for(scan.id, scan)
            w.run(
                lambda: to_qimage_with_note(controller.pixels(image, scan, volume)),
                lambda px: self._pixels_ready(token, image.id, px),
                lambda exc: self._pixels_ready(token, image.id, (None, w.refusal(exc))),
            )

        w.run(lambda: controller.load_image(image_id), shown)

    def _pixels_ready(self, token: int, image_id: int, result) -> None:
        if token != self._token:
            return
        qimage, note = result
        self.w.result.set_pixels(qimage, note)
        self.w.image_shown.emit(image_id)

    def back(self) -> None:
        w = self.w
        if self.origin is None or self.origin is w.live:
            w.show_page(w.home, "home")
        else:
            w.show_page(w.past, "history")

    # -- reviews -------------------------------------------------------------------------------

    def review_current(self, *, agreed: bool, corrected: str | None, note: str) -> None:
        w, image = self.w, self.w.result.image
        if image is None:
            return
        if not w.controller.operator:
            self.ask_operator(
                lambda: self.review_current(agreed=agreed, corrected=corrected, note=note)
            )
            return

        def saved(done: ReviewSaved) -> None:
            review = w.result.review
            if w.result.image is not None and w.result.image.id == done.image_id:
                w.result.show_reviews(done.reviews)
                review.reset(review.ai_decision, done.reviewer, True)
                review.show_message("Review saved.", error=False)
            for view in (w.live, w.past):
                if view.scan_id == done.scan_id:
                    view.update_review(done.image_id, done.latest)
            w.say(done.message)
            w.review_saved.emit(done.image_id)

        w.run(
            lambda: w.controller.review(image.id, agreed=agreed, corrected=corrected, note=note),
            saved,
            lambda exc: w.result.review.show_message(w.refusal(exc)),
        )

    # -- who is at the screen ------------------------------------------------------------------

    def ask_operator(self, then: Callable[[], None] | None) -> None:
        w = self.w
        self._after_operator = then
        self._operator_return = w.pages.currentWidget()
        current = w.controller.operator
        w.run(
            w.controller.recent_operators,
            lambda names: w.operator_page.prepare(names, current),
            lambda _exc: w.operator_page.prepare([], current),
        )
        w.pages.setCurrentWidget(w.operator_page)

    def operator_chosen(self, name: str) -> None:
        w = self.w
        try:
            name = w.controller.set_operator(name)
        except Exception as exc:
            w.operator_page.show_error(w.refusal(exc))
            return
        w.run(lambda: w.controller.audit_sign_in(name), lambda _r: None, lambda _e: None)
        w.operator_button.setText(f"Reviewer: {name}")
        w.result.review.set_operator(name)
        w.pages.setCurrentWidget(self._operator_return or w.home)
        then, self._after_operator = self._after_operator, None
        if then is not None:
            then()

    def operator_cancelled(self) -> None:
        self._after_operator = None
        self.w.pages.setCurrentWidget(self._operator_return or self.w.home)


def to_qimage_with_note(pixels: Pixels) -> tuple[QImage | None, str]:
    """Runs in the background pool: building a QImage off the GUI thread is allowed."""
    return to_qimage(pixels), pixels.note
