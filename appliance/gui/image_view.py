"""The image with zoom and pan, and the per-tile probability map laid over it.

Why a QGraphicsView: it zooms and pans a large image smoothly (drag with a finger or the mouse,
pinch or the wheel, or the + / - / 0 keys) without copying pixels. The tile map is drawn once into
a small image (at most ~1024 px on its longest side) aligned to the image's pixel coordinates and
shown on top with an adjustable opacity. Tiles are coloured by decision band *and* patterned
(malignant cross-hatched, indeterminate single-hatched, benign plain), so the map can be read
without telling colours apart.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QPinchGesture,
)

from appliance.decision import Decision, decide
from appliance.gui import style
from appliance.values import Thresholds, TileMap

OVERLAY_MAX_SIDE = 1024
PATTERNS = {
    Decision.MALIGNANT: Qt.BrushStyle.DiagCrossPattern,
    Decision.INDETERMINATE: Qt.BrushStyle.BDiagPattern,
    Decision.BENIGN: None,
}


def tile_overlay(tile_map: TileMap, thresholds: Thresholds) -> tuple[QImage, float]:
    """Paint the tile map, each tile in its band (:func:`appliance.decision.decide`, the rule
    every image is decided by); returns the image and the factor from its pixels to image
    pixels."""
    width, height = tile_map.image_width, tile_map.image_height
    factor = max(1.0, max(width, height) / OVERLAY_MAX_SIDE)
    image = QImage(
        max(1, math.ceil(width / factor)),
        max(1, math.ceil(height / factor)),
        QImage.Format.Format_ARGB32_Premultiplied,
    )
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    edge = QPen(QColor(255, 255, 255, 160), 1)
    size = tile_map.tile_size / factor
    for (x, y), p in zip(tile_map.origins, tile_map.probabilities, strict=True):
        rect = QRectF(x / factor, y / factor, size, size)
        decision = decide(p, thresholds)
        painter.fillRect(rect, QColor(style.DECISION_COLOURS[decision]))
        pattern = PATTERNS.get(decision)
        if pattern is not None:
            painter.fillRect(rect, QBrush(QColor(0, 0, 0, 150), pattern))
        painter.setPen(edge)
        painter.drawRect(rect)
    painter.end()
    return image, factor


def qimage_from_pil(pil_image) -> QImage:
    """A QImage owning a copy of an RGB PIL image's pixels (safe to make off the GUI thread)."""
    rgb = pil_image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    image = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888)
    return image.copy()


class ImageView(QGraphicsView):
    """Zoomable, pannable image with an optional overlay item on top."""

    MIN_ZOOM, MAX_ZOOM = 0.05, 40.0

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor("#2B2B2B"))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(160, 120)
        # Panned by dragging (finger or mouse): scroll bars would only take the picture's room.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.viewport().grabGesture(Qt.GestureType.PinchGesture)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setZValue(1)
        self.placeholder = QGraphicsSimpleTextItem("No picture")
        self.placeholder.setBrush(QColor("#DDDDDD"))
        self.scene().addItem(self.image_item)
        self.scene().addItem(self.overlay_item)
        self.scene().addItem(self.placeholder)
        self._fitted = True

    # -- content -------------------------------------------------------------------------------

    def set_image(
        self,
        image: QImage | None,
        width: int | None = None,
        height: int | None = None,
        placeholder: str = "No picture",
    ) -> None:
        """Show ``image`` stretched to ``width x height`` scene units (the original's pixels), so
        a small stored thumbnail lines up with a tile map made on the full image."""
        self.overlay_item.setPixmap(QPixmap())
        self.placeholder.setText(placeholder)
        self.placeholder.setVisible(image is None or image.isNull())
        if image is None or image.isNull():
            self.image_item.setPixmap(QPixmap())
            self.scene().setSceneRect(self.placeholder.boundingRect().adjusted(-20, -20, 20, 20))
            self.fit()
            return
        pixmap = QPixmap.fromImage(image)
        self.image_item.setPixmap(pixmap)
        scale = (width / pixmap.width()) if width else 1.0
        self.image_item.setScale(scale)
        w = width or pixmap.width()
        h = height or round(pixmap.height() * scale)
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.fit()

    def set_overlay(self, image: QImage | None, factor: float = 1.0) -> None:
        if image is None:
            self.overlay_item.setPixmap(QPixmap())
            return
        self.overlay_item.setPixmap(QPixmap.fromImage(image))
        self.overlay_item.setScale(factor)

    def set_overlay_opacity(self, fraction: float) -> None:
        self.overlay_item.setOpacity(max(0.0, min(1.0, fraction)))
        self.overlay_item.setVisible(fraction > 0)

    @property
    def has_image(self) -> bool:
        return not self.image_item.pixmap().isNull()

    # -- zoom ----------------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True

    def zoom_by(self, factor: float) -> None:
        target = max(self.MIN_ZOOM, min(self.MAX_ZOOM, self.zoom * factor))
        factor = target / self.zoom if self.zoom else 1.0
        self.scale(factor, factor)
        self._fitted = False

    def zoom_in(self) -> None:
        self.zoom_by(1.25)

    def zoom_out(self) -> None:
        self.zoom_by(0.8)

    def wheelEvent(self, event) -> None:
        self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key == Qt.Key.Key_Minus:
            self.zoom_out()
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.Gesture:
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if isinstance(pinch, QPinchGesture):
                self.zoom_by(pinch.scaleFactor())
                return True
        return super().viewportEvent(event)
