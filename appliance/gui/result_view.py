"""One image's result: the picture (zoom, pan, tile map), the AI's answer and the human review.

The AI result and the latest human review are shown side by side and both stay visible: a
review adds to the record, it never replaces what the model said. Pixels come from the stick
when it is still plugged in (and the file is unchanged); otherwise the thumbnail stored in the
database is shown, and the screen says so.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from appliance.decision import Decision
from appliance.gui import style
from appliance.gui.image_view import ImageView, tile_overlay
from appliance.gui.review_panel import ReviewPanel
from appliance.gui.widgets import DecisionBadge, ElidedLabel, button, label
from appliance.gui.words import CASE_CHARS, MESSAGE_CHARS, local_time
from appliance.text import display_text
from appliance.values import show_probability

TITLE_CHARS = 120  # a file name as the result screen's title


class ResultPage(QWidget):
    """Image on the left, answers and review on the right: all of it on screen at once.

    Why no scroll area: on the 800x480 screen a scroll box hid Agree, Change and Save below the
    fold. Everything here is one line (file names shortened in the middle, whole in the tooltip)
    or a fixed-size button; on a short screen (:attr:`COMPACT_BELOW` px) the page goes compact:
    the image gets half the width, the quick-note chips move into the keyboard's pick-list, and
    while a result is being changed the previous/next row and the explanation step aside.
    """

    back = Signal()
    previous = Signal()
    next = Signal()

    COMPACT_BELOW = 620  # page height in px

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = None  # ImageRecord shown
        self.scan = None
        self.compact: bool | None = None
        self._overlay: tuple[QImage, float] | None = None
        self.outer = outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(8)

        self.left_box = left = QVBoxLayout()
        left.setSpacing(2)
        self.title = ElidedLabel("")
        self.title.setStyleSheet("font-weight: bold;")
        self.where = ElidedLabel("", role="muted")
        left.addWidget(self.title)
        left.addWidget(self.where)
        self.view = ImageView()
        left.addWidget(self.view, 1)
        tools = QHBoxLayout()
        self.zoom_out = button("−", tip="Zoom out", shortcut="-")
        self.zoom_fit = button("Fit", tip="Whole image", shortcut="0")
        self.zoom_in = button("+", tip="Zoom in", shortcut="+")
        self.zoom_out.clicked.connect(self.view.zoom_out)
        self.zoom_fit.clicked.connect(self.view.fit)
        self.zoom_in.clicked.connect(self.view.zoom_in)
        for widget in (self.zoom_out, self.zoom_fit, self.zoom_in):
            widget.setMaximumWidth(72)
            tools.addWidget(widget)
        self.overlay_toggle = QCheckBox("&Tile map")
        self.overlay_toggle.setChecked(True)
        self.overlay_toggle.toggled.connect(self._apply_opacity)
        tools.addWidget(self.overlay_toggle)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setMinimumWidth(60)
        self.opacity.setAccessibleName("Tile map opacity")
        self.opacity.setToolTip("Tile map opacity")
        self.opacity.valueChanged.connect(self._apply_opacity)
        tools.addWidget(self.opacity, 1)
        left.addLayout(tools)
        self.legend = label("", role="muted")
        left.addWidget(self.legend)
        self.source_note = ElidedLabel("", role="muted")
        left.addWidget(self.source_note)
        outer.addLayout(left, 3)

        self.right_box = right = QVBoxLayout()
        right.setSpacing(4)
        # The AI's answer and the person's stay on screen together, in one card.
        card = QFrame()
        card.setProperty("role", "card")
        box = QVBoxLayout(card)
        box.setContentsMargins(8, 4, 8, 4)
        box.setSpacing(0)
        self.ai_badge = self._badge(box)
        self.ai_line = ElidedLabel("", role="muted")
        box.addWidget(self.ai_line)
        self.human_badge = self._badge(box)
        self.human_detail = ElidedLabel("", role="muted", mode=Qt.TextElideMode.ElideRight)
        box.addWidget(self.human_detail)
        right.addWidget(card)
        self.review = ReviewPanel()
        self.review.changing.connect(lambda _on: self._arrange())
        right.addWidget(self.review)
        self.ai_detail = label("", role="muted")
        right.addWidget(self.ai_detail)
        right.addStretch(1)
        self.nav = QWidget()
        nav = QHBoxLayout(self.nav)
        nav.setContentsMargins(0, 0, 0, 0)
        self.prev_button = button("◀ &Prev", shortcut="Alt+Left", tip="Previous image")
        self.next_button = button("&Next ▶", shortcut="Alt+Right", tip="Next image")
        self.back_button = button("&Back to list", shortcut="Esc")
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        self.back_button.clicked.connect(self.back)
        for widget in (self.prev_button, self.next_button, self.back_button):
            nav.addWidget(widget)
        right.addWidget(self.nav)
        outer.addLayout(right, 2)
        self._arrange()

    @staticmethod
    def _badge(layout) -> DecisionBadge:
        badge = DecisionBadge(size=28)
        badge.word.setStyleSheet("font-weight: bold;")
        layout.addWidget(badge)
        return badge

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def _arrange(self) -> None:
        """Compact or roomy, from the page's height; what steps aside while changing."""
        compact = 0 < self.height() < self.COMPACT_BELOW
        if compact != self.compact:
            self.compact = compact
            self.review.set_compact(compact)
            self.title.setProperty("role", None if compact else "title")
            style.repolish(self.title)
            self.outer.setStretch(0, 1 if compact else 3)
            self.outer.setStretch(1, 1 if compact else 2)
            # Short screen: the tile map's legend goes to the right, under the explanation,
            # so the picture keeps its height.
            self.left_box.removeWidget(self.legend)
            self.right_box.removeWidget(self.legend)
            if compact:
                self.right_box.insertWidget(self.right_box.indexOf(self.ai_detail) + 1, self.legend)
            else:
                self.left_box.insertWidget(self.left_box.indexOf(self.source_note), self.legend)
        squeezed = compact and self.review.change_button.isChecked()
        self.nav.setVisible(not squeezed)
        self.ai_detail.setVisible(not squeezed and bool(self.ai_detail.text()))
        self.legend.setVisible(not squeezed and self._overlay is not None)
        self.ai_line.setVisible(not squeezed)
        self.human_detail.setVisible(not squeezed and bool(self.human_detail.text()))

    # -- content -------------------------------------------------------------------------------

    def show_record(
        self, image, scan, reviews: list, position: tuple[int, int], operator, can_review: bool
    ) -> None:
        """Fill everything but the pixels (those arrive from a background load)."""
        self.image, self.scan = image, scan
        index, count = position
        self.title.setText(display_text(image.name, TITLE_CHARS))
        self.where.setText(
            f"Case {display_text(image.case, CASE_CHARS)} · image {index + 1} of {count}"
        )
        self.where.setToolTip(
            f"{self.where.text()} · scan #{scan.id}, {local_time(scan.started_at)}"
        )
        decision = image.effective_decision
        p_text = (
            None
            if image.p_malignant is None
            else show_probability(image.p_malignant, scan.thresholds)
        )
        self.ai_badge.set_decision(decision, p_text, prefix="AI: ")
        self.ai_line.setText(
            f"{scan.model_name} {scan.model_version}"
            + (" · not analysed" if image.status != "ok" else "")
        )
        self.ai_detail.setText(self._ai_words(image, scan))
        self.ai_badge.setToolTip(self.ai_detail.text())
        self.show_reviews(reviews)
        self.review.reset(
            decision if image.status == "ok" else Decision.UNASSESSABLE, operator, can_review
        )
        self.prev_button.setEnabled(index > 0)
        self.next_button.setEnabled(index < count - 1)
        self.view.set_image(None, placeholder="Loading…")
        self.source_note.setText("Loading the image…")
        self._prepare_overlay(image, scan)
        self._arrange()

    def show_reviews(self, reviews: list) -> None:
        if not reviews:
            self.human_badge.set_decision(None, prefix="Human review: not yet")
            self.human_detail.setText("")
            self._arrange()
            return
        latest = reviews[-1]
        if latest.agreed:
            self.human_badge.set_decision(self.image.effective_decision, prefix="Human: agreed, ")
        else:
            self.human_badge.set_decision(latest.corrected, prefix="Human: changed to ")
        parts = [f"by {latest.reviewer}, {local_time(latest.created_at)}"]
        if latest.note:
            parts.append(f"note: {latest.note}")
        if len(reviews) > 1:
            parts.append(f"{len(reviews) - 1} earlier review(s) kept")
        self.human_detail.setText(" · ".join(parts))
        self._arrange()

    def _ai_words(self, image, scan) -> str:
        t = scan.thresholds  # the cut-offs this scan decided with (None: not recorded)
        lines = []
        if image.status != "ok":
            lines.append(f"Not analysed: {display_text(image.error, MESSAGE_CHARS)}")
        elif t is not None:
            band = t.describe()
            lines.append(f"{band[:1].upper()}{band[1:]} (refer to a pathologist).")
        if image.reused_from:
            lines.append("Same file was analysed before; that result was reused.")
        if image.tiles is not None:
            count = len(image.tiles.probabilities)
            lines.append(f"Scored on {count} tissue tiles (mean of the 3 highest).")
        return "\n".join(lines)

    def _prepare_overlay(self, image, scan) -> None:
        t = scan.thresholds
        self._overlay = None
        if image.tiles is not None and t is not None:
            self._overlay = tile_overlay(image.tiles, t)
        for widget in (self.overlay_toggle, self.opacity, self.legend):
            widget.setVisible(self._overlay is not None)
        if self._overlay is not None and t is not None:
            self.legend.setText(
                f"Tile map: blue plain = benign (p < {t.show(t.benign_below)}), orange hatched ="
                " indeterminate, vermillion cross-hatched = malignant"
                f" (p ≥ {t.show(t.malignant_at)}); glass is left uncoloured."
            )

    def set_pixels(self, qimage: QImage | None, note: str) -> None:
        """Show the loaded pixels (full image or stored thumbnail) and lay the tile map on top."""
        image = self.image
        width = image.width if image is not None else None
        height = image.height if image is not None else None
        self.view.set_image(qimage, width, height)
        if self._overlay is not None and qimage is not None:
            self.view.set_overlay(*self._overlay)
            self._apply_opacity()
        self.source_note.setText(note)

    def _apply_opacity(self, *_args) -> None:
        on = self.overlay_toggle.isChecked()
        self.opacity.setEnabled(on)
        self.view.set_overlay_opacity(self.opacity.value() / 100 if on else 0.0)
