"""One person's review of one result: agree, or change it (with the right label and a note).

Why no "mark all reviewed": a review is a person's statement about an image they looked at, so
it is given one image at a time, on the screen that shows that image. The AI result is never
edited; a review is added beside it (and the store writes it to the audit log).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from appliance.decision import Decision
from appliance.gui import style
from appliance.gui.widgets import button, label

QUICK_NOTES = ("Artefact", "Blurred", "Little tissue", "2nd opinion")


class ReviewPanel(QFrame):
    agree_requested = Signal(str)  # note
    override_requested = Signal(str, str)  # corrected decision value, note
    operator_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "card")
        box = QVBoxLayout(self)
        box.addWidget(label("Your review", role="title"))
        self.operator_button = button("Reviewer: —", tip="Change who is reviewing")
        self.operator_button.clicked.connect(self.operator_requested)
        box.addWidget(self.operator_button)

        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (needed if you change the result)")
        self.note.setClearButtonEnabled(True)
        box.addWidget(self.note)
        chips = QGridLayout()
        for index, text in enumerate(QUICK_NOTES):
            chip = button(text, tip="Add to the note")
            chip.clicked.connect(lambda _=False, t=text: self._add_note(t))
            chips.addWidget(chip, index // 2, index % 2)
        box.addLayout(chips)

        actions = QHBoxLayout()
        self.agree_button = button("✓ &Agree with AI", role="primary", shortcut="Ctrl+Return")
        self.agree_button.clicked.connect(lambda: self.agree_requested.emit(self.note.text()))
        self.change_button = button("✎ &Change result…")
        self.change_button.setCheckable(True)
        self.change_button.toggled.connect(self._show_override)
        actions.addWidget(self.agree_button, 1)
        actions.addWidget(self.change_button, 1)
        box.addLayout(actions)

        self.override_box = QFrame()
        grid = QGridLayout(self.override_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(label("The correct result is:"), 0, 0, 1, 2)
        self.choices = QButtonGroup(self)
        self.choices.setExclusive(True)
        self.choice_buttons: dict[Decision, object] = {}
        for index, decision in enumerate(Decision):
            choice = button(style.SHORT_WORDS[decision])
            choice.setIcon(style.decision_icon(decision))
            choice.setCheckable(True)
            choice.setProperty("decision", decision.value)
            self.choices.addButton(choice)
            self.choice_buttons[decision] = choice
            grid.addWidget(choice, 1 + index // 2, index % 2)
        self.save_button = button("Save change", role="primary")
        self.save_button.clicked.connect(self._save_override)
        grid.addWidget(self.save_button, 3, 0, 1, 2)
        self.override_box.hide()
        box.addWidget(self.override_box)

        self.message = label("")
        self.message.setStyleSheet("color: #8A2E00; font-weight: bold;")
        self.message.hide()
        box.addWidget(self.message)
        self.ai_decision: Decision | None = None

    def reset(self, ai_decision: Decision | None, operator: str | None, enabled: bool) -> None:
        self.ai_decision = ai_decision
        self.note.clear()
        self.change_button.setChecked(False)
        self.choices.setExclusive(False)
        for choice in self.choice_buttons.values():
            choice.setChecked(False)
        self.choices.setExclusive(True)
        self.set_operator(operator)
        self.show_message("")
        for widget in (self.agree_button, self.change_button, self.note):
            widget.setEnabled(enabled)
        self.agree_button.setEnabled(enabled and ai_decision is not None)

    def set_operator(self, operator: str | None) -> None:
        self.operator_button.setText(f"Reviewer: {operator}" if operator else "Who are you?")

    def show_message(self, text: str, error: bool = True) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(
            "color: #8A2E00; font-weight: bold;" if error else f"color: {style.BLUE};"
        )
        self.message.setVisible(bool(text))

    def _add_note(self, text: str) -> None:
        current = self.note.text().strip()
        self.note.setText(f"{current}; {text}" if current else text)
        self.note.setFocus(Qt.FocusReason.OtherFocusReason)

    def _show_override(self, on: bool) -> None:
        self.override_box.setVisible(on)
        if on:
            first = next(iter(self.choice_buttons.values()))
            first.setFocus(Qt.FocusReason.TabFocusReason)

    def chosen(self) -> Decision | None:
        for decision, choice in self.choice_buttons.items():
            if choice.isChecked():
                return decision
        return None

    def _save_override(self) -> None:
        decision = self.chosen()
        if decision is None:
            self.show_message("Choose the correct result first.")
            return
        if decision is self.ai_decision:
            self.show_message(
                f"{style.SHORT_WORDS[decision]} is what the AI said: use “Agree with AI” instead."
            )
            return
        if not self.note.text().strip():
            self.show_message("Add a short note saying why you changed the result.")
            self.note.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        self.override_requested.emit(decision.value, self.note.text())
