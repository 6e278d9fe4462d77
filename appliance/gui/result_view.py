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
    QLabel,
    QScrollArea,
    QScroller,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from appliance.decision import Decision
from appliance.gui.image_view import ImageView, tile_overlay
from appliance.gui.review_panel import ReviewPanel
from appliance.gui.state_views import CASE_CHARS, MESSAGE_CHARS, breakable, local_time
from appliance.gui.widgets import DecisionBadge, button, label
from appliance.text import display_text

TITLE_CHARS = 120  # a file name as the result screen's title


class ResultPage(QWidget):
    back = Signal()
    previous = Signal()
    next = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = None  # ImageRecord shown
        self.scan = None
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        left = QVBoxLayout()
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
            widget.setMaximumWidth(80)
            tools.addWidget(widget)
        self.overlay_toggle = QCheckBox("&Tile map")
        self.overlay_toggle.setChecked(True)
        self.overlay_toggle.toggled.connect(self._apply_opacity)
        tools.addWidget(self.overlay_toggle)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setAccessibleName("Tile map opacity")
        self.opacity.setToolTip("Tile map opacity")
        self.opacity.valueChanged.connect(self._apply_opacity)
        tools.addWidget(self.opacity, 1)
        left.addLayout(tools)
        self.legend = label("", role="muted")
        left.addWidget(self.legend)
        self.source_note = label("", role="muted")
        left.addWidget(self.source_note)
        outer.addLayout(left, 3)

        right = QVBoxLayout()
        self.title = label("", role="title")
        self.where = label("", role="muted")
        right.addWidget(self.title)
        right.addWidget(self.where)
        # The AI's answer and the person's stay on screen together (outside the scrolling part).
        self.ai_badge, self.ai_line = self._result_card(right)
        self.human_badge, self.human_detail = self._result_card(right)

        panel = QWidget()
        side = QVBoxLayout(panel)
        side.setContentsMargins(0, 0, 4, 0)
        self.review = ReviewPanel()
        side.addWidget(self.review)
        self.ai_detail = label("", role="muted")
        side.addWidget(self.ai_detail)
        side.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        QScroller.grabGesture(scroll.viewport(), QScroller.ScrollerGestureType.TouchGesture)
        scroll.setMinimumHeight(50)
        right.addWidget(scroll, 1)
        nav = QHBoxLayout()
        self.prev_button = button("◀ &Prev", shortcut="Alt+Left", tip="Previous image")
        self.next_button = button("&Next ▶", shortcut="Alt+Right", tip="Next image")
        self.back_button = button("&Back to list", shortcut="Esc")
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        self.back_button.clicked.connect(self.back)
        for widget in (self.prev_button, self.next_button, self.back_button):
            nav.addWidget(widget)
        right.addLayout(nav)
        outer.addLayout(right, 2)
        self._overlay: tuple[QImage, float] | None = None

    @staticmethod
    def _result_card(layout) -> tuple[DecisionBadge, QLabel]:
        card = QFrame()
        card.setProperty("role", "card")
        box = QVBoxLayout(card)
        box.setContentsMargins(8, 4, 8, 4)
        box.setSpacing(2)
        badge = DecisionBadge(size=30)
        badge.word.setStyleSheet("font-weight: bold;")
        box.addWidget(badge)
        line = label("", role="muted")
        box.addWidget(line)
        layout.addWidget(card)
        return badge, line

    # -- content -------------------------------------------------------------------------------

    def show_record(
        self, image, scan, reviews: list, position: tuple[int, int], operator, can_review: bool
    ) -> None:
        """Fill everything but the pixels (those arrive from a background load)."""
        self.image, self.scan = image, scan
        index, count = position
        self.title.setText(breakable(display_text(image.name, TITLE_CHARS)))
        self.where.setText(
            f"Case {breakable(display_text(image.case, CASE_CHARS))}"
            f" · image {index + 1} of {count} · scan #{scan.id},"
            f" {local_time(scan.started_at)}"
        )
        decision = image.effective_decision
        self.ai_badge.set_decision(decision, image.p_malignant, prefix="AI: ")
        self.ai_line.setText(
            f"{scan.model_name} {scan.model_version}"
            + (" · not analysed" if image.status != "ok" else "")
        )
        self.ai_detail.setText(self._ai_words(image, scan))
        self.show_reviews(reviews)
        self.review.reset(
            decision if image.status == "ok" else Decision.UNASSESSABLE, operator, can_review
        )
        self.prev_button.setEnabled(index > 0)
        self.next_button.setEnabled(index < count - 1)
        self.view.set_image(None, placeholder="Loading…")
        self.source_note.setText("Loading the image…")
        self._prepare_overlay(image, scan)

    def show_reviews(self, reviews: list) -> None:
        if not reviews:
            self.human_badge.set_decision(None, prefix="Human review: not yet")
            self.human_detail.setText("")
            return
        latest = reviews[-1]
        if latest.agreed:
            self.human_badge.set_decision(self.image.effective_decision, prefix="Human: agreed, ")
        else:
            corrected = Decision(latest.corrected_decision)
            self.human_badge.set_decision(corrected, prefix="Human: changed to ")
        lines = [f"by {latest.reviewer}, {local_time(latest.created_at)}"]
        if latest.note:
            lines.append(f"Note: {latest.note}")
        if len(reviews) > 1:
            lines.append(f"({len(reviews) - 1} earlier review(s) kept in the record)")
        self.human_detail.setText("\n".join(lines))

    def _ai_words(self, image, scan) -> str:
        t = scan.thresholds or {}
        lines = []
        if image.status != "ok":
            lines.append(f"Not analysed: {display_text(image.error, MESSAGE_CHARS)}")
        elif "benign_below" in t and "malignant_at" in t:
            lines.append(
                f"Benign below {t['benign_below']:.2f}, malignant from {t['malignant_at']:.2f};"
                " in between: refer to a pathologist."
            )
        if image.reused_from:
            lines.append("Same file was analysed before; that result was reused.")
        if image.tiles:
            count = len(image.tiles.get("probabilities", []))
            lines.append(f"Scored on {count} tissue tiles (mean of the 3 highest).")
        return "\n".join(lines)

    def _prepare_overlay(self, image, scan) -> None:
        self._overlay = None
        t = scan.thresholds or {}
        has_tiles = bool(image.tiles) and "benign_below" in t
        if has_tiles:
            try:
                self._overlay = tile_overlay(image.tiles, t["benign_below"], t["malignant_at"])
            except (KeyError, ValueError, TypeError):
                self._overlay = None
        for widget in (self.overlay_toggle, self.opacity, self.legend):
            widget.setVisible(self._overlay is not None)
        if self._overlay is not None:
            self.legend.setText(
                f"Tile map: blue plain = benign (p < {t['benign_below']:.2f}), orange hatched ="
                " indeterminate, vermillion cross-hatched = malignant"
                f" (p ≥ {t['malignant_at']:.2f}); glass is left uncoloured."
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
