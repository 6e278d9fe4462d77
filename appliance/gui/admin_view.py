"""The admin corner: thresholds (inside the card's allowed range), device name, kiosk mode.

Behind the PIN from the configuration file; with no PIN set the corner stays locked and says how
to set one (a PIN cannot be set from the screen, so someone at the kiosk cannot grant themselves
access). After five wrong PINs the keypad waits a minute. Every change goes through the store,
which writes old and new values to the audit log; the page only collects values and shows the
outcome (the saving runs off the GUI thread).
"""

from __future__ import annotations

import hmac
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from appliance.gui.conditions_strip import status_line
from appliance.gui.widgets import button, label

MAX_TRIES = 5
LOCKOUT_SECONDS = 60
ADMIN = "admin"


class PinPad(QWidget):
    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        self.entry = QLineEdit()
        self.entry.setEchoMode(QLineEdit.EchoMode.Password)
        self.entry.setPlaceholderText("PIN")
        self.entry.setAccessibleName("Admin PIN")
        self.entry.returnPressed.connect(self._submit)
        grid.addWidget(self.entry, 0, 0, 1, 3)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "OK"]
        self.keys = {}
        for index, key in enumerate(keys):
            widget = button(key, role="primary" if key == "OK" else None)
            widget.setMinimumWidth(72)
            widget.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            widget.clicked.connect(lambda _=False, k=key: self._press(k))
            grid.addWidget(widget, 1 + index // 3, index % 3)
            self.keys[key] = widget

    def _press(self, key: str) -> None:
        if key == "OK":
            self._submit()
        elif key == "⌫":
            self.entry.backspace()
        else:
            self.entry.insert(key)

    def _submit(self) -> None:
        pin, _ = self.entry.text(), self.entry.clear()
        self.submitted.emit(pin)


class AdminPage(QWidget):
    save_thresholds = Signal(float, float)
    save_device_name = Signal(str)
    save_kiosk = Signal(bool)
    audit = Signal(str)  # event name, actor "admin"

    def __init__(self, pin: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pin = pin or ""
        self._wrong = 0
        self._locked_until = 0.0
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 6, 8, 6)
        box.addWidget(label("Admin corner", role="title"))
        # The Pi's health in one line, readable before unlocking (it changes nothing).
        self.health = label(status_line(None, None), role="muted")
        self.health.setAccessibleName("Health")
        box.addWidget(self.health)
        self.pages = QStackedWidget()
        scroll = QScrollArea()  # the 800x480 screen is shorter than the settings
        scroll.setWidget(self.pages)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        box.addWidget(scroll, 1)

        locked = QWidget()
        locked_box = QVBoxLayout(locked)
        self.lock_text = label("")
        locked_box.addWidget(self.lock_text)
        self.pad = PinPad()
        self.pad.submitted.connect(self.try_pin)
        locked_box.addWidget(self.pad, 0, Qt.AlignmentFlag.AlignLeft)
        self.pin_message = label("")
        self.pin_message.setStyleSheet("color: #8A2E00; font-weight: bold;")
        locked_box.addWidget(self.pin_message)
        locked_box.addStretch(1)
        self.pages.addWidget(locked)

        self.pages.addWidget(self._build_settings())
        self.lock()

    # -- building ------------------------------------------------------------------------------

    def _spin(self) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0.0, 1.0)  # wider than allowed on purpose: a wrong value is explained
        spin.setDecimals(2)
        spin.setSingleStep(0.01)
        spin.setMinimumWidth(110)
        return spin

    def _stepper(self, spin: QDoubleSpinBox, name: str) -> QHBoxLayout:
        row = QHBoxLayout()
        minus, plus = button("−", tip=f"{name} down"), button("+", tip=f"{name} up")
        minus.clicked.connect(lambda: spin.setValue(spin.value() - 0.01))
        plus.clicked.connect(lambda: spin.setValue(spin.value() + 0.01))
        row.addWidget(minus)
        row.addWidget(spin)
        row.addWidget(plus)
        row.addStretch(1)
        return row

    def _build_settings(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        self.range_text = label("", role="muted")
        grid.addWidget(self.range_text, 0, 0, 1, 3)
        self.benign = self._spin()
        self.malignant = self._spin()
        self.benign.setAccessibleName("Benign below")
        self.malignant.setAccessibleName("Malignant at")
        grid.addWidget(label("Benign below"), 1, 0)
        grid.addLayout(self._stepper(self.benign, "Benign below"), 1, 1)
        grid.addWidget(label("Malignant from"), 2, 0)
        grid.addLayout(self._stepper(self.malignant, "Malignant from"), 2, 1)
        self.save_thresholds_button = button("Save thresholds", role="primary")
        self.save_thresholds_button.clicked.connect(
            lambda: self.save_thresholds.emit(self.benign.value(), self.malignant.value())
        )
        grid.addWidget(self.save_thresholds_button, 1, 2, 2, 1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        grid.addWidget(line, 3, 0, 1, 3)
        grid.addWidget(label("Device name"), 4, 0)
        self.device = QLineEdit()
        self.device.setMaxLength(64)
        grid.addWidget(self.device, 4, 1)
        self.save_device_button = button("Save name")
        self.save_device_button.clicked.connect(
            lambda: self.save_device_name.emit(self.device.text())
        )
        grid.addWidget(self.save_device_button, 4, 2)
        self.kiosk = QCheckBox("Kiosk mode (full screen, no window frame)")
        grid.addWidget(self.kiosk, 5, 0, 1, 2)
        self.save_kiosk_button = button("Apply")
        self.save_kiosk_button.clicked.connect(lambda: self.save_kiosk.emit(self.kiosk.isChecked()))
        grid.addWidget(self.save_kiosk_button, 5, 2)
        self.message = label("")
        grid.addWidget(self.message, 6, 0, 1, 3)
        self.lock_button = button("&Lock admin corner")
        self.lock_button.clicked.connect(self.lock)
        grid.addWidget(self.lock_button, 7, 0)
        grid.setRowStretch(8, 1)
        grid.setColumnStretch(1, 1)
        return page

    # -- state ---------------------------------------------------------------------------------

    @property
    def unlocked(self) -> bool:
        return self.pages.currentIndex() == 1

    def lock(self) -> None:
        self.pages.setCurrentIndex(0)
        self.message.setText("")
        if not self._pin:
            self.lock_text.setText(
                "The admin corner is locked because no admin PIN is set. The admin sets one in"
                " the configuration file (/etc/histo-appliance/config.toml), for example"
                ' admin_pin = "4821", and restarts the appliance.'
            )
            self.pad.hide()
        else:
            self.lock_text.setText("Enter the admin PIN to change thresholds and device settings.")
            self.pad.show()
        self.pin_message.setText("")

    def try_pin(self, pin: str) -> bool:
        if not self._pin:
            return False
        now = time.monotonic()
        if now < self._locked_until:
            wait = int(self._locked_until - now) + 1
            self.pin_message.setText(f"Too many wrong PINs. Try again in {wait} seconds.")
            return False
        if hmac.compare_digest(pin.encode(), self._pin.encode()):
            self._wrong = 0
            self.pin_message.setText("")
            self.pages.setCurrentIndex(1)
            self.audit.emit("admin_unlocked")
            return True
        self._wrong += 1
        self.audit.emit("admin_pin_wrong")
        if self._wrong >= MAX_TRIES:
            self._wrong = 0
            self._locked_until = now + LOCKOUT_SECONDS
            self.pin_message.setText(
                f"Wrong PIN. Too many tries: the keypad waits {LOCKOUT_SECONDS} seconds."
            )
        else:
            self.pin_message.setText(f"Wrong PIN ({MAX_TRIES - self._wrong} tries left).")
        return False

    def load(self, session) -> None:
        """Fill the fields with what is in force now."""
        card, thresholds = session.card, session.thresholds
        enabled = card is not None and thresholds is not None
        for widget in (self.benign, self.malignant, self.save_thresholds_button):
            widget.setEnabled(enabled)
        if enabled:
            low, high = card.thresholds.allowed_range
            self.benign.setValue(thresholds.benign_below)
            self.malignant.setValue(thresholds.malignant_at)
            self.range_text.setText(
                f"Thresholds of {card.name} {card.version}. The model card allows"
                f" {low:.2f} to {high:.2f}; the card's own values are benign below"
                f" {card.thresholds.benign_below:.2f}, malignant from"
                f" {card.thresholds.malignant_at:.2f}. New values apply to the next scan."
            )
        else:
            self.range_text.setText("No model is loaded, so there are no thresholds to change.")
        self.device.setText(session.device_name)
        self.kiosk.setChecked(session.kiosk)

    def show_conditions(self, clock, health) -> None:
        self.health.setText(status_line(clock, health))

    def show_result(self, text: str, error: bool) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(
            "color: #8A2E00; font-weight: bold;" if error else "color: #004D80; font-weight: bold;"
        )
