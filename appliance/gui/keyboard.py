"""An on-screen keyboard for the few words a technician types: their name and a review's note.

Why our own: the kiosk has a touch screen and often no keyboard, and Qt's virtual keyboard is not
part of PySide6-Essentials (the wheel the appliance ships). Only short text is ever typed, so a
plain QWERTY layout with a shift key, digits, a few marks and a row of pick-list phrases (quick
notes, recent names) is enough; a physical keyboard keeps working in the same field.

The keyboard is an overlay inside the window (not a separate dialog), so it never ends up behind
a full-screen kiosk window and nothing blocks: :meth:`Keyboard.edit` shows it for one field and
writes the text back when the person taps Done (Cancel leaves the field as it was).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from appliance.gui import style
from appliance.gui.widgets import Banner, ElidedLabel, button

ROWS = ("1234567890", "qwertyuiop", "asdfghjkl'", "zxcvbnm,.-")
KEY_PX = style.MIN_TARGET


class Keyboard(QWidget):
    """Covers its parent window while open: what is typed, phrases to pick, the keys."""

    finished = Signal(bool)  # True: Done (text written back), False: cancelled

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"Keyboard {{ background: {style.PAPER}; }}")
        self.setAccessibleName("On-screen keyboard")
        self.target: QLineEdit | None = None
        self.join: str | None = None
        self.on_done: Callable[[], None] | None = None
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.setSpacing(4)
        box.addStretch(1)  # on a tall screen the keyboard sits at the bottom, packed together
        self.title = ElidedLabel("", role="muted")
        box.addWidget(self.title)
        top = QHBoxLayout()
        self.line = QLineEdit()
        self.line.setAccessibleName("Text being typed")
        self.line.returnPressed.connect(self.accept)
        top.addWidget(self.line, 1)
        self.cancel_button = button("Cancel", shortcut="Esc")
        self.cancel_button.clicked.connect(self.reject)
        self.done_button = button("Done", role="primary")
        self.done_button.clicked.connect(self.accept)
        top.addWidget(self.cancel_button)
        top.addWidget(self.done_button)
        box.addLayout(top)
        self.phrases = QHBoxLayout()
        box.addLayout(self.phrases)
        self.keys: dict[str, QPushButton] = {}
        grid = QGridLayout()
        grid.setSpacing(3)
        for row, letters in enumerate(ROWS):
            for column, char in enumerate(letters):
                grid.addWidget(self._key(char, char), row, column)
        self.shift = self._key("⇧", None)
        self.shift.setCheckable(True)
        self.shift.setToolTip("Capital letter")
        self.shift.toggled.connect(self._relabel)
        grid.addWidget(self.shift, len(ROWS) - 1, len(ROWS[-1]))
        bottom = QHBoxLayout()
        space = self._key("space", " ")
        back = self._key("⌫", None)
        back.setToolTip("Delete the last character")
        back.clicked.connect(self.line.backspace)
        clear = self._key("Clear", None)
        clear.clicked.connect(self.line.clear)
        bottom.addWidget(clear, 1)
        bottom.addWidget(space, 4)
        bottom.addWidget(back, 1)
        box.addLayout(grid)
        box.addLayout(bottom)
        self.hide()

    def _key(self, text: str, char: str | None) -> QPushButton:
        key = QPushButton(text)
        key.setMinimumSize(KEY_PX - 12, KEY_PX)
        key.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        key.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the typed line keeps the cursor
        key.setStyleSheet("padding: 2px;")
        key.setAutoRepeat(char is None and text == "⌫")
        if char is not None:
            key.clicked.connect(lambda _=False, c=char: self.type(c))
            if len(char) == 1:
                self.keys[char] = key
        return key

    def _relabel(self, upper: bool) -> None:
        for char, key in self.keys.items():
            key.setText(char.upper() if upper else char)

    # -- use -----------------------------------------------------------------------------------

    def edit(
        self,
        target: QLineEdit,
        title: str,
        phrases: Sequence[str] = (),
        join: str | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Open for ``target``. A tapped phrase replaces the text, or is added after ``join``;
        ``on_done`` runs after Done has written the text back (a search, say)."""
        self.target, self.join, self.on_done = target, join, on_done
        self.title.setText(title)
        self.line.setMaxLength(target.maxLength())
        self.line.setPlaceholderText(target.placeholderText())
        self.line.setText(target.text())
        while self.phrases.count():
            item = self.phrases.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for phrase in phrases:
            chip = button(phrase, tip="Add to the text" if join else "Use this")
            chip.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            chip.clicked.connect(lambda _=False, p=phrase: self.pick(p))
            self.phrases.addWidget(chip)
        self.shift.setChecked(not target.text())  # a name or sentence starts with a capital
        # Below the banner: "research use only" and the model stay on screen while typing.
        area = self.parentWidget().rect()
        banner = self.parentWidget().findChild(Banner)
        if banner is not None and banner.isVisible():
            area.setTop(banner.mapTo(self.parentWidget(), banner.rect().bottomLeft()).y() + 1)
        self.setGeometry(area)
        self.show()
        self.raise_()
        self.line.setFocus(Qt.FocusReason.OtherFocusReason)

    def type(self, char: str) -> None:
        if self.shift.isChecked():
            char = char.upper()
            self.shift.setChecked(False)
        self.line.insert(char)

    def pick(self, phrase: str) -> None:
        current = self.line.text().strip()
        if self.join and current:
            self.line.setText(f"{current}{self.join}{phrase}")
        else:
            self.line.setText(phrase)

    def accept(self) -> None:
        then = self.on_done
        if self.target is not None:
            self.target.setText(self.line.text())
            self.target.setFocus(Qt.FocusReason.OtherFocusReason)
        self._close(True)
        if then is not None:
            then()

    def reject(self) -> None:
        self._close(False)

    def _close(self, accepted: bool) -> None:
        self.hide()
        self.target = self.on_done = None
        self.finished.emit(accepted)


class _TapOpens(QObject):
    """Opens the keyboard when the field is tapped (a physical keyboard types in it as usual)."""

    def __init__(self, field: QLineEdit, open_: Callable[[], None]) -> None:
        super().__init__(field)
        self.open = open_
        field.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonRelease and watched.isEnabled():
            self.open()
        return False


def keyboard_for(widget: QWidget) -> Keyboard:
    """The one keyboard of ``widget``'s window (made on first use)."""
    window = widget.window()
    found = window.findChild(Keyboard, options=Qt.FindChildOption.FindDirectChildrenOnly)
    return found if found is not None else Keyboard(window)


def attach(
    field: QLineEdit,
    title: str,
    phrases: Callable[[], Sequence[str]] = tuple,
    join: str | None = None,
    on_done: Callable[[], None] | None = None,
) -> QPushButton:
    """Give ``field`` an on-screen keyboard: opened by tapping the field or the returned ⌨ button
    (put it beside the field). ``phrases`` is asked each time (recent names change)."""

    def open_() -> None:
        keyboard_for(field).edit(field, title, phrases(), join, on_done)

    key = button("⌨", tip="On-screen keyboard")
    key.setAccessibleName(f"Keyboard for: {title}")
    key.clicked.connect(open_)
    _TapOpens(field, open_)
    return key
