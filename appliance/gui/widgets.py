"""Building blocks shared by the screens: buttons, the banner, decision badges, state cards."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScroller,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from appliance.decision import Decision
from appliance.gui import style
from appliance.problems import Problem
from appliance.text import display_text


def button(
    text: str,
    *,
    role: str | None = None,
    shortcut: str | None = None,
    tip: str | None = None,
    parent: QWidget | None = None,
) -> QPushButton:
    """A touch-sized push button; ``&`` in the text gives an Alt shortcut, ``shortcut`` another."""
    widget = QPushButton(text, parent)
    widget.setMinimumHeight(style.MIN_TARGET)
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.setAutoDefault(False)
    if role:
        widget.setProperty("role", role)
    if shortcut:
        # A separate QShortcut, so the Alt+letter mnemonic from "&" in the text keeps working
        # (QPushButton.setShortcut would replace it). It only fires while the button is shown
        # and enabled.
        extra = QShortcut(QKeySequence(shortcut), widget)
        extra.activated.connect(partial(_press, widget))
    tooltip = tip or ""
    if shortcut:
        tooltip = f"{tooltip} ({shortcut})".strip()
    if tooltip:
        widget.setToolTip(tooltip)
    return widget


def _press(widget: QPushButton) -> None:
    if widget.isVisible() and widget.isEnabled():
        widget.click()


def qt_text(value: object) -> str:
    """``value`` as text Qt shows whole. Qt silently cuts a string at the first byte that was
    not UTF-8 (a surrogate escape: ``caf\\udce9.png`` would show as ``caf``), so such text goes
    through :func:`~appliance.text.display_text`; views call that themselves for stick text, this
    is the net under them."""
    text = "" if value is None else str(value)
    if any("\ud800" <= char <= "\udfff" for char in text):
        return display_text(text)
    return text


def label(text: str = "", role: str | None = None, wrap: bool = True) -> QLabel:
    widget = QLabel(qt_text(text))
    widget.setWordWrap(wrap)
    widget.setTextFormat(Qt.TextFormat.PlainText)
    if role:
        widget.setProperty("role", role)
    return widget


class ElidedLabel(QLabel):
    """One line that never widens its screen nor wraps a file name mid-word: when the text is
    wider than the label it is shortened in the middle (start and extension stay readable),
    and the whole text is the tooltip (shown on a long press or hover). ``text()`` stays whole.
    """

    def __init__(
        self,
        text: str = "",
        role: str | None = None,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        if role:
            self.setProperty("role", role)
        self.setText(text)

    def setText(self, text: str) -> None:
        text = qt_text(text).replace("\n", " ")
        super().setText(text)
        self.setToolTip(text)
        self.setAccessibleName(text)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """What is painted: the text, shortened to the label's width when it must be."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.text(), self.mode, max(0, width))

    def is_elided(self) -> bool:
        return self.shown_text() != self.text()

    def mouseReleaseEvent(self, event) -> None:
        """A tap shows the whole text (a touch screen shows no tooltip on hover)."""
        if self.is_elided():
            QToolTip.showText(self.mapToGlobal(self.rect().bottomLeft()), self.toolTip(), self)
        super().mouseReleaseEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(self.font())
        align = self.alignment() | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), int(align), self.shown_text())
        painter.end()


def clear_layout(layout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item.widget() is not None:
            item.widget().deleteLater()
        elif item.layout() is not None:
            clear_layout(item.layout())


class Banner(QWidget):
    """The permanent top line: research use only, and which model produced what is on screen.

    The notice is never shortened; the model part is elided on a narrow screen (the full name
    and hash are on the About page).
    """

    def __init__(self, notice: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.notice = notice
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"background: {style.BANNER_BG};")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.left = QLabel(f"⚠ {notice}")
        self.right = QLabel()
        for part in (self.left, self.right):
            part.setProperty("role", "banner")
            part.setTextFormat(Qt.TextFormat.PlainText)
        self.right.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.right.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.left)
        row.addWidget(self.right, 1)
        self._model = ""
        self.set_model(None)

    def set_model(self, card, device: str | None = None) -> None:
        model = f"model {card.name} {card.version} · {card.short_sha}" if card else "no model"
        self._model_only = model
        self._model = f"{model}   |   {device}" if device else model
        self.setAccessibleName(f"{self.notice}. {self._model}")
        self._elide()

    def text(self) -> str:
        return f"{self.left.text()}   |   {self._model}"

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.right.width() - 20)
        metrics = self.right.fontMetrics()
        # The device name goes first when space is short; the model and its hash last.
        text = self._model if metrics.horizontalAdvance(self._model) <= width else self._model_only
        self.right.setText(metrics.elidedText(text, Qt.TextElideMode.ElideRight, width))


class DecisionBadge(QWidget):
    """A decision as shape + colour + word (+ probability): never colour alone."""

    def __init__(self, parent: QWidget | None = None, size: int = 30, big: bool = False) -> None:
        super().__init__(parent)
        self.size = size
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.icon = QLabel()
        self.icon.setFixedSize(size, size)
        self.word = label("", role="title" if big else None)
        self.word.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.word, 1)

    def set_decision(
        self, decision: Decision | None, p_text: str | None = None, prefix: str = ""
    ) -> None:
        """``p_text``: the probability as the caller shows it (``values.show_probability``)."""
        if decision is None:
            self.icon.clear()
            self.word.setText(prefix or "—")
            return
        self.icon.setPixmap(style.decision_pixmap(decision, self.size))
        text = decision.wording
        if p_text is not None:
            text += f"  (p = {p_text})"
        self.word.setText(f"{prefix}{text}")
        self.setAccessibleName(self.word.text())


class StateCard(QFrame):
    """A coloured box with a title, an explanation and what to do (for states and problems)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "card")
        box = QVBoxLayout(self)
        self.title = label("", role="title")
        self.text = label("")
        self.action = label("")
        self.action.setStyleSheet("font-weight: bold;")
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for widget in (self.title, self.text, self.action):
            box.addWidget(widget)

    def show_state(self, title: str, text: str, tone: str = "neutral", action: str = "") -> None:
        self.title.setText(qt_text(title))
        self.text.setText(qt_text(text))
        self.text.setVisible(bool(text))
        self.action.setText(qt_text(action))
        self.action.setVisible(bool(action))
        self.setProperty("tone", tone)
        style.repolish(self)
        self.show()

    def show_problem(self, problem: Problem) -> None:
        self.show_state(problem.title, problem.detail, "error", f"What to do: {problem.action}")


class TouchTable(QTableWidget):
    """A read-only table whose rows are opened by one tap, Enter or Space; drags scroll it."""

    rowChosen = Signal(int)  # the row's data key (Qt.UserRole of column 0)

    def __init__(self, headers: list[str], parent: QWidget | None = None) -> None:
        super().__init__(0, len(headers), parent)
        self.setHorizontalHeaderLabels(headers)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(style.MIN_TARGET)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setIconSize(QSize(28, 28))
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Sizing to contents looks at this many rows at most: a long scan stays cheap to show.
        header.setResizeContentsPrecision(100)
        self.setTabKeyNavigation(False)
        QScroller.grabGesture(self.viewport(), QScroller.ScrollerGestureType.LeftMouseButtonGesture)
        self.cellClicked.connect(lambda row, _col: self._choose(row))
        # Columns are fitted to the width (long cells shortened, whole in their tooltip): a
        # sideways scroll bar would only hide the last column and take a row's height.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def _choose(self, row: int) -> None:
        item = self.item(row, 0)
        if item is not None and item.data(Qt.ItemDataRole.UserRole) is not None:
            self.rowChosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def resizeEvent(self, event) -> None:
        """Re-fit when the table got its real width (rows are often filled before layout)."""
        super().resizeEvent(event)
        fitted = getattr(self, "_fitted_width", None)
        if fitted is not None and abs(self.viewport().width() - fitted) > 40:
            QTimer.singleShot(0, self, self.fit_columns)  # dropped if self is gone

    def keyPressEvent(self, event) -> None:
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
        if event.key() in keys and self.currentRow() >= 0:
            self._choose(self.currentRow())
            return
        super().keyPressEvent(event)

    max_column_fraction = 0.45

    def result_column_width(self) -> int:
        """Room for the longest result word and its icon, so "Indeterminate — refer" is never
        cut whichever result arrives first."""
        metrics = self.fontMetrics()
        widest = max(metrics.horizontalAdvance(word) for word in style.SHORT_WORDS.values())
        return widest + self.iconSize().width() + 28

    def fit_columns(self) -> None:
        """Size columns to their contents once (not on every row), none wider than a fraction
        of the table, so one long file name cannot push the others out of sight (long cells
        are shortened in the middle; the whole text is the cell's tooltip)."""
        self._fitted_width = self.viewport().width()
        self.resizeColumnsToContents()
        self.setColumnWidth(0, max(self.columnWidth(0), self.result_column_width()))
        limit = max(120, int(self.viewport().width() * self.max_column_fraction))
        for column in range(1, self.columnCount() - 1):  # column 0 (the result) stays whole
            if self.columnWidth(column) > limit:
                self.setColumnWidth(column, limit)
        # Still wider than the screen: narrow the widest text columns (shortened in the middle,
        # whole in the tooltip) rather than hide the last ones behind a sideways scroll.
        # The last column stretches into what is left; keep it a readable share.
        last = self.columnCount() - 1
        reserve = max(120, self._fitted_width // 5)
        overflow = sum(map(self.columnWidth, range(last))) + reserve - self._fitted_width
        while overflow > 0 and last > 1:
            column = max(range(1, last), key=self.columnWidth)
            width = self.columnWidth(column)
            if width <= 100:
                break
            cut = min(overflow, width - 100, 8)  # a little at a time: the widest even out
            self.setColumnWidth(column, width - cut)
            overflow -= cut

    def set_rows(self, rows: list[tuple[int | None, list, Decision | None]]) -> None:
        """Replace all rows in one go (updates paused: one repaint, not one per row)."""
        self.setUpdatesEnabled(False)
        try:
            self.setRowCount(len(rows))
            for row, (key, cells, decision) in enumerate(rows):
                self.set_row(row, key, cells, decision)
        finally:
            self.setUpdatesEnabled(True)
        self.fit_columns()

    def append_rows(self, rows: list[tuple[int | None, list, Decision | None]]) -> None:
        self.setUpdatesEnabled(False)
        try:
            start = self.rowCount()
            self.setRowCount(start + len(rows))
            for offset, (key, cells, decision) in enumerate(rows):
                self.set_row(start + offset, key, cells, decision)
        finally:
            self.setUpdatesEnabled(True)

    def row_for(self, key: int) -> int:
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == key:
                return row
        return -1

    def set_row(self, row: int, key: int | None, cells: list, decision: Decision | None = None):
        """Fill one row; ``cells`` are strings; column 0 gets the decision's icon when given."""
        for column, text in enumerate(cells):
            item = QTableWidgetItem(qt_text(text))
            item.setToolTip(item.text())
            if column == 0:
                item.setData(Qt.ItemDataRole.UserRole, key)
                if decision is not None:
                    item.setIcon(style.decision_icon(decision))
            self.setItem(row, column, item)

    def append_row(self, key: int | None, cells: list, decision: Decision | None = None) -> int:
        row = self.rowCount()
        self.insertRow(row)
        self.set_row(row, key, cells, decision)
        return row
