"""The "Who is reviewing?" page: a name from a list of recent ones, or typed.

Why a list: the appliance may have no keyboard, and the same few people use it every day; one
tap on their name is enough. A new name is typed on the on-screen keyboard (tap the field), whose
pick-list offers the recent names too. The name is what the audit log and the report record for
each review.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from appliance.gui import keyboard
from appliance.gui.widgets import button, clear_layout, label


class OperatorPage(QWidget):
    chosen = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(16, 8, 16, 8)
        box.addWidget(label("Who is reviewing?", role="title"))
        box.addWidget(
            label("Your name is saved with each review you make. Tap your name, or type it.")
        )
        self.recent = QGridLayout()
        box.addLayout(self.recent)
        row = QHBoxLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("Your name")
        self.name.setMaxLength(60)
        self.name.returnPressed.connect(self._typed)
        row.addWidget(self.name, 1)
        self.keyboard_button = keyboard.attach(self.name, "Your name", lambda: self.recent_names)
        row.addWidget(self.keyboard_button)
        self.ok = button("Continue", role="primary")
        self.ok.clicked.connect(self._typed)
        row.addWidget(self.ok)
        box.addLayout(row)
        self.message = label("")
        self.message.setStyleSheet("color: #8A2E00; font-weight: bold;")
        box.addWidget(self.message)
        self.recent_names: list[str] = []
        box.addStretch(1)
        cancel = button("Cancel", shortcut="Esc")
        cancel.clicked.connect(self.cancelled)
        box.addWidget(cancel, 0, Qt.AlignmentFlag.AlignLeft)

    def prepare(self, recent: list[str], current: str | None) -> None:
        clear_layout(self.recent)
        self.recent_names = list(recent)
        for index, name in enumerate(recent):
            choice = button(name)
            choice.clicked.connect(lambda _=False, n=name: self.chosen.emit(n))
            self.recent.addWidget(choice, index // 3, index % 3)
        self.name.setText("")
        self.message.setText("")
        if recent:
            self.recent.itemAt(0).widget().setFocus()
        else:
            self.name.setFocus()

    def show_error(self, text: str) -> None:
        self.message.setText(text)

    def _typed(self) -> None:
        self.chosen.emit(self.name.text())
