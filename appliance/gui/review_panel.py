"""One person's review of one result: agree, or change it (with the right label and a note).

Why no "mark all reviewed": a review is a person's statement about an image they looked at, so
it is given one image at a time, on the screen that shows that image. The AI result is never
edited; a review is added beside it (and the store writes it to the audit log).

Why it never scrolls: on the 7" 800x480 screen Agree, Change, the four choices, the note and
Save must all be on screen at once, or "Save" seems to do nothing. So the panel has no title,
the quick notes move into the on-screen keyboard's pick-list when space is short
(:meth:`ReviewPanel.set_compact`), and each error appears beside the control it is about.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from appliance.decision import Decision
from appliance.gui import keyboard, style
from appliance.gui.widgets import button, label

QUICK_NOTES = ("Artefact", "Blurred", "Little tissue", "2nd opinion")
ERROR_STYLE = "color: #8A2E00; font-weight: bold;"


def _error_label() -> QLabel:
    widget = label("")
    widget.setStyleSheet(ERROR_STYLE)
    widget.hide()
    return widget


class ReviewPanel(QFrame):
    agree_requested = Signal(str)  # note
    override_requested = Signal(str, str)  # corrected decision value, note
    operator_requested = Signal()
    changing = Signal(bool)  # the "change the result" part opened / closed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "card")
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        box.setSpacing(4)
        self.operator_button = button("Reviewer: —", tip="Change who is reviewing")
        self.operator_button.clicked.connect(self.operator_requested)
        box.addWidget(self.operator_button)

        actions = QHBoxLayout()
        self.agree_button = button("✓ &Agree with AI", role="primary", shortcut="Ctrl+Return")
        self.agree_button.setToolTip("Agree with the AI's result (Ctrl+Return)")
        self.agree_button.clicked.connect(lambda: self.agree_requested.emit(self.note.text()))
        self.change_button = button("✎ &Change…", tip="Say what the correct result is")
        self.change_button.setCheckable(True)
        self.change_button.toggled.connect(self._show_override)
        actions.addWidget(self.agree_button, 1)
        actions.addWidget(self.change_button, 1)
        box.addLayout(actions)

        self.override_box = QFrame()
        grid = QGridLayout(self.override_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.choices = QButtonGroup(self)
        self.choices.setExclusive(True)
        self.choice_buttons: dict[Decision, QPushButton] = {}
        for index, decision in enumerate(Decision):
            choice = button(style.CHOICE_WORDS[decision], tip=decision.wording)
            choice.setIcon(style.decision_icon(decision))
            choice.setCheckable(True)
            choice.setProperty("decision", decision.value)
            choice.setStyleSheet("padding: 2px 4px;")
            choice.setAccessibleName(f"Correct result: {decision.wording}")
            self.choices.addButton(choice)
            self.choice_buttons[decision] = choice
            grid.addWidget(choice, index // 2, index % 2)
        self.choices.buttonClicked.connect(lambda _b: self.choice_error.hide())
        self.choice_error = _error_label()
        grid.addWidget(self.choice_error, 2, 0, 1, 2)
        self.override_box.hide()
        box.addWidget(self.override_box)

        note_row = QHBoxLayout()
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note")
        self.note.setToolTip("A short note; needed when you change the result")
        self.note.setAccessibleName("Note")
        self.note.setMaxLength(500)
        self.note.setClearButtonEnabled(True)
        self.note.textChanged.connect(lambda _t: self.note_error.hide())
        note_row.addWidget(self.note, 1)
        self.keyboard_button = keyboard.attach(
            self.note, "A short note about this image", lambda: QUICK_NOTES, join="; "
        )
        note_row.addWidget(self.keyboard_button)
        self.save_button = button("Save change", role="primary")
        self.save_button.clicked.connect(self._save_override)
        self.save_button.hide()
        note_row.addWidget(self.save_button)
        box.addLayout(note_row)
        self.note_error = _error_label()
        box.addWidget(self.note_error)
        self.chips = QWidget()
        chips = QGridLayout(self.chips)
        chips.setContentsMargins(0, 0, 0, 0)
        chips.setSpacing(4)
        for index, text in enumerate(QUICK_NOTES):
            chip = button(text, tip="Add to the note")
            chip.clicked.connect(lambda _=False, t=text: self._add_note(t))
            chips.addWidget(chip, index // 2, index % 2)
        box.addWidget(self.chips)

        self.message = _error_label()
        box.addWidget(self.message)
        self.ai_decision: Decision | None = None
        self.compact = False

    def set_compact(self, compact: bool) -> None:
        """Short screen: no reviewer button (the top bar has one) and no quick-note chips (the
        keyboard offers them)."""
        self.compact = compact
        self.operator_button.setVisible(not compact)
        self.chips.setVisible(not compact)

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
        for widget in (self.agree_button, self.change_button, self.note, self.keyboard_button):
            widget.setEnabled(enabled)
        self.chips.setEnabled(enabled)
        self.agree_button.setEnabled(enabled and ai_decision is not None)

    def set_operator(self, operator: str | None) -> None:
        self.operator_button.setText(f"Reviewer: {operator}" if operator else "Who are you?")

    def show_message(self, text: str, error: bool = True) -> None:
        """A message about the review as a whole (saved, or refused by the store), under Save."""
        for widget in (self.note_error, self.choice_error):
            widget.hide()
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else f"color: {style.BLUE};")
        self.message.setVisible(bool(text))

    def _near(self, widget: QLabel, text: str) -> None:
        self.show_message("")
        widget.setText(text)
        widget.show()

    def _add_note(self, text: str) -> None:
        current = self.note.text().strip()
        self.note.setText(f"{current}; {text}" if current else text)
        self.note.setFocus(Qt.FocusReason.OtherFocusReason)

    def _show_override(self, on: bool) -> None:
        self.override_box.setVisible(on)
        self.save_button.setVisible(on)
        self.chips.setVisible(not self.compact)
        self.change_button.setText("✕ Cancel change" if on else "✎ &Change…")
        self.show_message("")
        if on:
            first = next(iter(self.choice_buttons.values()))
            first.setFocus(Qt.FocusReason.TabFocusReason)
        self.changing.emit(on)

    def chosen(self) -> Decision | None:
        for decision, choice in self.choice_buttons.items():
            if choice.isChecked():
                return decision
        return None

    def _save_override(self) -> None:
        decision = self.chosen()
        if decision is None:
            self._near(self.choice_error, "Choose the correct result first.")
            return
        if decision is self.ai_decision:
            self._near(
                self.choice_error,
                f"{style.SHORT_WORDS[decision]} is what the AI said: tap Agree instead.",
            )
            return
        if not self.note.text().strip():
            self._near(self.note_error, "Add a short note saying why.")
            self.note.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        self.override_requested.emit(decision.value, self.note.text())
