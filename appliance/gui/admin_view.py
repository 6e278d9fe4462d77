"""The admin corner: thresholds (inside the card's allowed range), device name, kiosk mode.

Behind the PIN from the configuration file; with no PIN set the corner stays locked and says how
to set one (a PIN cannot be set from the screen, so someone at the kiosk cannot grant themselves
access). After five wrong PINs the keypad waits a minute. Every change goes through the store,
which writes old and new values and the signed-in person's name to the audit log; the page only
collects values and shows the outcome (the saving runs off the GUI thread).

Why the page compares before it asks: a Save pressed on untouched fields must change nothing,
so the page says "Nothing changed" itself and emits nothing. Cut-offs are shown and compared at
the card's precision (:attr:`~appliance.values.Thresholds.decimals`), so 0.0588 is neither shown
nor saved as 0.06.

Why every message sits beside its control: on the 7-inch 800x480 screen a message under the
fold is a message never read ("Wrong PIN" beside the PIN, a refused cut-off beside its Save).
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
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from appliance.config import MAX_DEVICE_NAME
from appliance.gui import style
from appliance.gui.conditions_strip import status_line
from appliance.gui.keyboard import attach
from appliance.gui.widgets import button, label
from appliance.settings import NOTHING_CHANGED

MAX_TRIES = 5
LOCKOUT_SECONDS = 60
STEP = 0.01  # what − and + move a cut-off by
ERROR_STYLE = "color: #8A2E00; font-weight: bold;"
OK_STYLE = "color: #004D80; font-weight: bold;"
FIELDS = ("thresholds", "device", "kiosk")


def _say(widget: QLabel, text: str, error: bool) -> None:
    widget.setText(text)
    widget.setStyleSheet(ERROR_STYLE if error else OK_STYLE)


class PinPad(QWidget):
    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
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
            widget.setMinimumWidth(80)
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
    audit = Signal(str)  # event name (unlocked, wrong PIN), audited by the window

    def __init__(self, pin: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pin = pin or ""
        self._wrong = 0
        self._locked_until = 0.0
        self._places = 2
        self._in_force: tuple[float, float] | None = None  # cut-offs as loaded or last saved
        self._asked: tuple[float, float] | None = None  # cut-offs sent, not yet confirmed
        self._device = ""
        self._kiosk = False
        self._last = "thresholds"  # the field whose save was pressed last
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 4, 8, 4)
        box.setSpacing(2)
        top = QHBoxLayout()
        top.addWidget(label("Admin corner", role="title"), 1)
        self.lock_button = button("&Lock", tip="Lock the admin corner")
        self.lock_button.clicked.connect(self.lock)
        top.addWidget(self.lock_button)
        box.addLayout(top)
        # The Pi's health in one line, readable before unlocking (it changes nothing).
        self.health = label(status_line(None, None), role="muted")
        self.health.setAccessibleName("Health")
        box.addWidget(self.health)
        self.pages = QStackedWidget()
        # Built to fit 800x480 without scrolling; the scroll area only catches a larger font.
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.pages)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        box.addWidget(self.scroll, 1)
        self.pages.addWidget(self._build_locked())
        self.pages.addWidget(self._build_settings())
        self.lock()

    # -- building ------------------------------------------------------------------------------

    def _build_locked(self) -> QWidget:
        page = QWidget()
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 4, 0, 0)
        self.pad = PinPad()
        self.pad.submitted.connect(self.try_pin)
        row.addWidget(self.pad, 0, Qt.AlignmentFlag.AlignTop)
        side = QVBoxLayout()
        self.lock_text = label("")
        side.addWidget(self.lock_text)
        # Beside the keypad, level with the PIN field: seen where the PIN was typed.
        self.pin_message = label("")
        self.pin_message.setStyleSheet(ERROR_STYLE)
        self.pin_message.setAccessibleName("PIN message")
        side.addWidget(self.pin_message)
        side.addStretch(1)
        row.addLayout(side, 1)
        return page

    def _spin(self, name: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0.0, 1.0)  # wider than allowed on purpose: a wrong value is explained
        spin.setDecimals(self._places)
        spin.setSingleStep(STEP)
        spin.setMinimumWidth(96)
        spin.setMinimumHeight(style.MIN_TARGET)
        spin.setAccessibleName(name)
        # The − and + beside it are the finger targets; the tiny arrows would only mislead.
        # (Hidden by width, not NoButtons: with the app style sheet, NoButtons leaves the text
        # field 1 px wide, an empty-looking box.)
        spin.setStyleSheet(
            "QDoubleSpinBox::up-button, QDoubleSpinBox::down-button { width: 0px; border: 0; }"
        )
        spin.setAlignment(Qt.AlignmentFlag.AlignCenter)
        return spin

    def _stepper(self, spin: QDoubleSpinBox, name: str) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(4)
        minus, plus = button("−", tip=f"{name} down"), button("+", tip=f"{name} up")
        minus.clicked.connect(lambda: spin.setValue(spin.value() - STEP))
        plus.clicked.connect(lambda: spin.setValue(spin.value() + STEP))
        row.addWidget(minus)
        row.addWidget(spin)
        row.addWidget(plus)
        return row

    def _message(self, name: str) -> QLabel:
        widget = label("")
        widget.setAccessibleName(name)
        widget.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return widget

    def _build_settings(self) -> QWidget:
        """Four columns: what, the control, its button, and its message beside them."""
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 2, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)

        self.range_text = label("", role="muted")
        grid.addWidget(self.range_text, 0, 0, 1, 4)
        self.benign = self._spin("Benign below")
        self.malignant = self._spin("Malignant from")
        grid.addWidget(label("Benign below"), 1, 0)
        grid.addLayout(self._stepper(self.benign, "Benign below"), 1, 1)
        grid.addWidget(label("Malignant from"), 2, 0)
        grid.addLayout(self._stepper(self.malignant, "Malignant from"), 2, 1)
        self.save_thresholds_button = button("Save cut-offs", role="primary")
        self.save_thresholds_button.setSizePolicy(
            QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding
        )
        self.save_thresholds_button.clicked.connect(self._ask_thresholds)
        grid.addWidget(self.save_thresholds_button, 1, 2, 2, 1)
        self.threshold_message = self._message("Cut-off message")
        grid.addWidget(self.threshold_message, 1, 3, 2, 1)

        grid.addWidget(label("Device name"), 3, 0)
        self.device = QLineEdit()
        self.device.setMaxLength(MAX_DEVICE_NAME)
        self.device.setAccessibleName("Device name")
        device_row = QHBoxLayout()
        device_row.addWidget(self.device, 1)
        device_row.addWidget(attach(self.device, "Device name"))
        grid.addLayout(device_row, 3, 1)
        self.save_device_button = button("Save name")
        self.save_device_button.clicked.connect(self._ask_device)
        grid.addWidget(self.save_device_button, 3, 2)
        self.device_message = self._message("Device name message")
        grid.addWidget(self.device_message, 3, 3)

        grid.addWidget(label("Kiosk mode"), 4, 0)
        self.kiosk = QCheckBox("full screen")
        self.kiosk.setAccessibleName("Kiosk mode (full screen, no window frame)")
        grid.addWidget(self.kiosk, 4, 1)
        self.save_kiosk_button = button("Apply")
        self.save_kiosk_button.clicked.connect(self._ask_kiosk)
        grid.addWidget(self.save_kiosk_button, 4, 2)
        self.kiosk_message = self._message("Kiosk message")
        grid.addWidget(self.kiosk_message, 4, 3)

        grid.setRowStretch(5, 1)
        grid.setColumnStretch(3, 1)
        return page

    # -- state ---------------------------------------------------------------------------------

    @property
    def unlocked(self) -> bool:
        return self.pages.currentIndex() == 1

    @property
    def messages(self) -> dict[str, QLabel]:
        return {
            "thresholds": self.threshold_message,
            "device": self.device_message,
            "kiosk": self.kiosk_message,
        }

    @property
    def message(self) -> QLabel:
        """The message beside the control whose save was pressed last."""
        return self.messages[self._last]

    def clear_messages(self) -> None:
        for widget in self.messages.values():
            widget.setText("")

    def lock(self) -> None:
        self.pages.setCurrentIndex(0)
        self.lock_button.hide()
        self.clear_messages()
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
            self.lock_button.show()
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
        """Fill the fields with what is in force now, at the card's precision."""
        card, thresholds = session.card, session.thresholds
        enabled = card is not None and thresholds is not None
        for widget in (self.benign, self.malignant, self.save_thresholds_button):
            widget.setEnabled(enabled)
        if enabled:
            t = card.thresholds
            low, high = t.allowed_range
            # Wide enough for the card and for whatever is in force (never rounds either).
            self._places = max(t.decimals, thresholds.decimals)
            for spin in (self.benign, self.malignant):
                spin.setDecimals(self._places)
            self.benign.setValue(thresholds.benign_below)
            self.malignant.setValue(thresholds.malignant_at)
            self._in_force = self._shown()
            self.range_text.setText(
                f"Cut-offs of {card.name} {card.version}: the card's are {t.describe()};"
                f" allowed {t.show(low)} to {t.show(high)}. New values apply to the next scan."
            )
        else:
            self._in_force = None
            self.range_text.setText("No model is loaded, so there are no thresholds to change.")
        self._asked = None
        self._device = session.device_name
        self._kiosk = bool(session.kiosk)
        self.device.setText(self._device)
        self.kiosk.setChecked(self._kiosk)
        self.clear_messages()

    def _shown(self) -> tuple[float, float]:
        """The cut-offs on screen, exactly as shown."""
        return (
            round(self.benign.value(), self._places),
            round(self.malignant.value(), self._places),
        )

    # -- saving: compare first, emit only a change ---------------------------------------------

    def _pressed(self, field: str) -> None:
        self._last = field
        self.clear_messages()

    def _ask_thresholds(self) -> None:
        self._pressed("thresholds")
        wanted = self._shown()
        if wanted == self._in_force:
            _say(self.threshold_message, NOTHING_CHANGED, False)
            return
        self._asked = wanted
        self.save_thresholds.emit(wanted[0], wanted[1])

    def _ask_device(self) -> None:
        self._pressed("device")
        if self.device.text().strip() == self._device:
            _say(self.device_message, NOTHING_CHANGED, False)
            return
        self.save_device_name.emit(self.device.text())

    def _ask_kiosk(self) -> None:
        self._pressed("kiosk")
        if self.kiosk.isChecked() == self._kiosk:
            _say(self.kiosk_message, NOTHING_CHANGED, False)
            return
        self.save_kiosk.emit(self.kiosk.isChecked())

    def show_conditions(self, clock, health) -> None:
        self.health.setText(status_line(clock, health))

    def show_result(self, text: str, error: bool, field: str | None = None) -> None:
        """The outcome of a save, beside its control (``field``: one of :data:`FIELDS`; by
        default the one whose save was pressed last). A success becomes what is in force."""
        field = field or self._last
        if not error:
            if field == "thresholds" and self._asked is not None:
                self._in_force, self._asked = self._asked, None
            elif field == "device":
                self._device = self.device.text().strip()
            elif field == "kiosk":
                self._kiosk = self.kiosk.isChecked()
        widget = self.messages[field]
        _say(widget, text, error)
        self.scroll.ensureWidgetVisible(widget)
