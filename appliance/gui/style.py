"""Colours, shapes, sizes and the style sheet: one place, so every screen reads the same way.

The decision colours come from :mod:`appliance.palette` (shared with the PDF; why those colours is
said there). A colour is never the only signal: every decision also has its own shape (triangle,
diamond, circle, crossed square) and its word.

Why the font follows the screen: a 7" 800x480 panel and a 1080p monitor are both read from about
a metre; the base size is picked from the screen height, never below 16 px.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPainter, QPen, QPixmap, QPolygonF

from appliance.decision import Decision
from appliance.palette import BLUE, DECISION_COLOURS, ORANGE, SKY, VERMILLION

INK = "#111111"
PAPER = "#F7F7F5"
# Short words for tight places (tables); Decision.wording is the full sentence.
SHORT_WORDS: dict[Decision, str] = {
    Decision.MALIGNANT: "Malignant",
    Decision.INDETERMINATE: "Indeterminate — refer",
    Decision.BENIGN: "Benign",
    Decision.UNASSESSABLE: "Unassessable",
}
# One word for a button beside the decision's shape (the tooltip gives Decision.wording).
CHOICE_WORDS: dict[Decision, str] = {**SHORT_WORDS, Decision.INDETERMINATE: "Indeterminate"}
SHAPES: dict[Decision, str] = {
    Decision.MALIGNANT: "triangle",
    Decision.INDETERMINATE: "diamond",
    Decision.BENIGN: "circle",
    Decision.UNASSESSABLE: "crossed square",
}

MIN_TARGET = 48  # px: the smallest thing a finger must hit
BANNER_BG = "#1F1F1F"
ERROR_BG = "#FCE9DF"
WARN_BG = "#FFF3D6"
OK_BG = "#E3EFF8"


def base_font_px() -> int:
    """Base text size in pixels for the current screen (16 at 800x480, up to 24 on 1080p)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return 18
    size = screen.availableGeometry()
    return font_px_for(size.width(), size.height())


def font_px_for(width: int, height: int) -> int:
    """The base text size for a screen of ``width`` x ``height`` pixels."""
    return max(16, min(24, round(min(width / 60, height / 36))))


_ICONS: dict[tuple[Decision, int], QIcon] = {}
_PIXMAPS: dict[tuple[Decision, int], QPixmap] = {}


def decision_icon(decision: Decision, size: int = 28) -> QIcon:
    """Cached: a table of 200 rows must not paint 200 identical icons."""
    key = (decision, size)
    if key not in _ICONS:
        _ICONS[key] = QIcon(decision_pixmap(decision, size))
    return _ICONS[key]


def decision_pixmap(decision: Decision, size: int = 28) -> QPixmap:
    """The decision's coloured shape with a dark outline (visible on white and on colour)."""
    key = (decision, size)
    if key not in _PIXMAPS:
        _PIXMAPS[key] = _paint_decision(decision, size)
    return _PIXMAPS[key]


def _paint_decision(decision: Decision, size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(INK), max(1.5, size / 14)))
    painter.setBrush(QColor(DECISION_COLOURS[decision]))
    m = size * 0.1
    box = QRectF(m, m, size - 2 * m, size - 2 * m)
    if decision is Decision.MALIGNANT:
        painter.drawPolygon(
            QPolygonF([QPointF(box.center().x(), box.top()), box.bottomRight(), box.bottomLeft()])
        )
    elif decision is Decision.INDETERMINATE:
        c = box.center()
        painter.drawPolygon(
            QPolygonF(
                [
                    QPointF(c.x(), box.top()),
                    QPointF(box.right(), c.y()),
                    QPointF(c.x(), box.bottom()),
                    QPointF(box.left(), c.y()),
                ]
            )
        )
    elif decision is Decision.BENIGN:
        painter.drawEllipse(box)
    else:
        painter.drawRect(box)
        painter.drawLine(box.topLeft(), box.bottomRight())
        painter.drawLine(box.topRight(), box.bottomLeft())
    painter.end()
    return pixmap


def app_font() -> QFont:
    font = QFont("DejaVu Sans")
    font.setPixelSize(base_font_px())
    return font


def stylesheet(px: int) -> str:
    """The application style sheet for a base font of ``px`` pixels.

    A button's min-height/min-width count without its padding and border (4 + 2 px a side), so
    they are MIN_TARGET less those: the finger target stays MIN_TARGET, not 60 px, which on the
    480-px screen is the difference between the review fitting or not."""
    big = round(px * 1.5)
    huge = round(px * 2.1)
    return f"""
    QWidget {{ color: {INK}; }}
    QMainWindow, QStackedWidget > QWidget {{ background: {PAPER}; }}
    QPushButton, QToolButton {{
        min-height: {MIN_TARGET - 12}px; min-width: {MIN_TARGET - 32}px; padding: 4px 14px;
        border: 2px solid #555; border-radius: 8px; background: #FFFFFF;
    }}
    QPushButton:focus, QToolButton:focus, QLineEdit:focus, QTableWidget:focus,
    QComboBox:focus, QDateEdit:focus, QDoubleSpinBox:focus, QSlider:focus, QCheckBox:focus,
    QListWidget:focus {{
        border: 3px solid {SKY};
    }}
    QPushButton:pressed, QToolButton:pressed {{ background: #DDDDDD; }}
    QPushButton:checked, QToolButton:checked {{ background: #D8E8F5; border-color: {BLUE}; }}
    QPushButton:disabled, QToolButton:disabled {{ color: #8A8A8A; border-color: #BBBBBB; }}
    QPushButton[role="primary"] {{ background: {BLUE}; color: white; border-color: {BLUE}; }}
    QPushButton[role="primary"]:disabled {{ background: #9DBBD3; border-color: #9DBBD3; }}
    QPushButton[role="danger"] {{ border-color: {VERMILLION}; color: #8A2E00; }}
    QPushButton[nav="true"] {{
        border-radius: 0px; border-width: 0 0 4px 0; background: #ECECEC; padding: 4px 2px;
    }}
    QPushButton[nav="true"]:checked {{ border-color: {BLUE}; background: #FFFFFF; }}
    QLineEdit, QComboBox, QDateEdit, QDoubleSpinBox {{
        min-height: {MIN_TARGET - 8}px; padding: 2px 8px; border: 2px solid #777;
        border-radius: 6px; background: white;
    }}
    QCheckBox::indicator {{ width: 32px; height: 32px; }}
    QCheckBox {{ min-height: {MIN_TARGET}px; }}
    QTableWidget, QListWidget {{
        background: white; border: 1px solid #BBB; gridline-color: #DDD;
        selection-background-color: #D8E8F5; selection-color: {INK};
    }}
    QTabBar::tab {{ min-height: {MIN_TARGET}px; padding: 2px 16px; }}
    QHeaderView::section {{ background: #EEE; padding: 4px; border: 0; font-weight: bold; }}
    QProgressBar {{
        min-height: 28px; border: 2px solid #555; border-radius: 6px; text-align: center;
        background: white;
    }}
    QProgressBar::chunk {{ background: {SKY}; }}
    QSlider {{ min-height: {MIN_TARGET}px; }}
    QSlider::groove:horizontal {{ height: 10px; background: #CCC; border-radius: 5px; }}
    QSlider::handle:horizontal {{
        width: 36px; margin: -14px 0; border-radius: 18px; background: {BLUE};
    }}
    QScrollBar:vertical {{ width: 32px; }}
    QScrollBar:horizontal {{ height: 32px; }}
    QLabel[role="banner"] {{ background: {BANNER_BG}; color: white; padding: 3px 10px; }}
    QLabel[role="title"] {{ font-size: {big}px; font-weight: bold; }}
    QLabel[role="huge"] {{ font-size: {huge}px; font-weight: bold; }}
    QLabel[role="muted"] {{ color: #444; }}
    QFrame[role="card"] {{ background: white; border: 1px solid #BBB; border-radius: 10px; }}
    QFrame[tone="error"] {{ background: {ERROR_BG}; border: 3px solid {VERMILLION}; }}
    QFrame[tone="warn"] {{ background: {WARN_BG}; border: 3px solid {ORANGE}; }}
    QFrame[tone="ok"] {{ background: {OK_BG}; border: 3px solid {BLUE}; }}
    QFrame[tone="neutral"] {{ background: white; border: 2px solid #999; }}
    """


def repolish(widget) -> None:
    """Re-apply the style sheet after a dynamic property (role, tone) changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()
