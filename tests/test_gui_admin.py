"""The admin corner, used as an admin would on the 7-inch 800x480 screen.

A Save on untouched fields changes nothing (no setting, no audit row, "Nothing changed" beside
it); a changed cut-off is saved exactly as shown (0.0588 stays 0.0588); every message appears
beside the control it concerns, on screen without scrolling; every target is finger-sized.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("PySide6", reason="the admin page needs the 'gui' extra (PySide6)")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QDoubleSpinBox, QLineEdit, QWidget  # noqa: E402

from appliance.config import Config  # noqa: E402
from appliance.gui import style  # noqa: E402
from appliance.gui.admin_view import AdminPage  # noqa: E402
from appliance.inference.bundle import ModelBundle  # noqa: E402
from appliance.settings import NOTHING_CHANGED, threshold_key  # noqa: E402

PIN = "2468"


def running(card, *, device: str = "lab-pi", kiosk: bool = False):
    """The parts of the running appliance the page reads."""
    return SimpleNamespace(card=card, thresholds=card.thresholds, device_name=device, kiosk=kiosk)


@pytest.fixture
def card(shipped_model: Path):
    return ModelBundle.load(shipped_model).card


@pytest.fixture
def page(qtbot, card) -> AdminPage:
    admin = AdminPage(PIN)
    qtbot.addWidget(admin)
    assert admin.try_pin(PIN)
    admin.load(running(card))
    return admin


def test_cut_offs_are_shown_at_the_card_precision(page: AdminPage, card) -> None:
    assert card.thresholds.decimals == 4
    assert page.benign.decimals() == 4 and page.benign.text() == "0.0588"
    assert page.malignant.text() == "0.5794"
    assert "benign below 0.0588, malignant from 0.5794" in page.range_text.text()
    assert "0.0100 to 0.9900" in page.range_text.text()


def test_save_untouched_emits_nothing_and_says_so(qtbot, page: AdminPage) -> None:
    saves = (page.save_thresholds, page.save_device_name, page.save_kiosk)
    buttons = (page.save_thresholds_button, page.save_device_button, page.save_kiosk_button)
    messages = (page.threshold_message, page.device_message, page.kiosk_message)
    for signal, button, message in zip(saves, buttons, messages, strict=True):
        with qtbot.assertNotEmitted(signal):
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert message.text() == NOTHING_CHANGED
        assert [m for m in messages if m.text()] == [message]  # only beside its own button


def test_a_change_is_sent_exactly_as_shown(qtbot, page: AdminPage) -> None:
    plus = [b for b in page.findChildren(QAbstractButton) if b.toolTip() == "Malignant from up"]
    with qtbot.waitSignal(page.save_thresholds) as sent:
        qtbot.mouseClick(plus[0], Qt.MouseButton.LeftButton)
        qtbot.mouseClick(page.save_thresholds_button, Qt.MouseButton.LeftButton)
    assert sent.args == [0.0588, 0.5894]  # the benign cut-off untouched, not rounded

    page.benign.lineEdit().selectAll()
    qtbot.keyClicks(page.benign.lineEdit(), "0.0601")
    with qtbot.waitSignal(page.save_thresholds) as sent:
        qtbot.mouseClick(page.save_thresholds_button, Qt.MouseButton.LeftButton)
    assert sent.args == [0.0601, 0.5894]


def test_after_a_save_the_saved_values_are_the_ones_in_force(qtbot, page: AdminPage) -> None:
    page.malignant.setValue(0.6)
    with qtbot.waitSignal(page.save_thresholds):
        page.save_thresholds_button.click()
    page.show_result("Saved.", False)
    with qtbot.assertNotEmitted(page.save_thresholds):
        page.save_thresholds_button.click()
    assert page.threshold_message.text() == NOTHING_CHANGED


def test_a_refusal_appears_beside_the_control_it_concerns(qtbot, page: AdminPage) -> None:
    page.device.setText("x" * 10)
    with qtbot.waitSignal(page.save_device_name):
        page.save_device_button.click()
    page.show_result("The device name must be one line.", True)
    assert page.device_message.text() == "The device name must be one line."
    assert not page.threshold_message.text() and not page.kiosk_message.text()
    # A refused cut-off stays unsaved: pressing Save again asks again.
    page.malignant.setValue(0.995)
    for _ in range(2):
        with qtbot.waitSignal(page.save_thresholds):
            page.save_thresholds_button.click()
        page.show_result("Malignant at 0.9950 is outside the range.", True)
        assert "outside" in page.threshold_message.text()


# -- on the real window at 800x480 -----------------------------------------------------------


def on_screen(widget: QWidget, window: QWidget) -> bool:
    """Shown, and wholly inside the window (no scrolling needed to see it)."""
    if not widget.isVisible():
        return False
    top_left = widget.mapTo(window, widget.rect().topLeft())
    bottom_right = widget.mapTo(window, widget.rect().bottomRight())
    return window.rect().contains(top_left) and window.rect().contains(bottom_right)


def finger_sized(page: AdminPage) -> list[str]:
    """Controls a finger cannot hit reliably (smaller than style.MIN_TARGET)."""
    small = []
    for widget in page.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(
            widget, QAbstractButton | QDoubleSpinBox | QLineEdit
        ):
            continue
        if isinstance(widget.parent(), QDoubleSpinBox):
            continue  # the spin box's own text field
        low = style.MIN_TARGET - 8 if isinstance(widget, QLineEdit) else style.MIN_TARGET
        if widget.height() < low or widget.width() < style.MIN_TARGET - 8:
            small.append(f"{widget.accessibleName() or widget.text()} {widget.size()}")
    return small


@pytest.fixture
def window(qtbot, tmp_path: Path, shipped_model: Path):
    from appliance.gui.app import create_window, show

    (tmp_path / "usb").mkdir()
    config = Config(
        model=shipped_model,
        database=tmp_path / "appliance.db",
        reports=tmp_path / "reports",
        device_name="lab-pi",
        mock_usb=tmp_path / "usb",
        admin_pin=PIN,
    )
    main = create_window(config, poll_interval=0.05)
    qtbot.addWidget(main)
    show(main)
    main.resize(800, 480)
    yield main
    main.close()


def test_at_800x480_messages_beside_their_controls_and_no_scrolling(qtbot, window) -> None:
    admin = window.admin
    qtbot.mouseClick(window.nav_buttons["admin"], Qt.MouseButton.LeftButton)
    for digit in "1111":
        qtbot.mouseClick(admin.pad.keys[digit], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(admin.pad.keys["OK"], Qt.MouseButton.LeftButton)
    assert admin.pin_message.text() == "Wrong PIN (4 tries left)."
    qtbot.waitUntil(lambda: admin.scroll.verticalScrollBar().maximum() == 0)
    for widget in (admin.pin_message, admin.pad.entry, *admin.pad.keys.values()):
        assert on_screen(widget, window), widget.accessibleName() or widget.text()
    assert finger_sized(admin) == []

    for digit in PIN:
        qtbot.mouseClick(admin.pad.keys[digit], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(admin.pad.keys["OK"], Qt.MouseButton.LeftButton)
    assert admin.unlocked
    qtbot.waitUntil(lambda: admin.scroll.verticalScrollBar().maximum() == 0)
    controls = (
        admin.benign, admin.malignant, admin.save_thresholds_button, admin.threshold_message,
        admin.device, admin.save_device_button, admin.device_message,
        admin.kiosk, admin.save_kiosk_button, admin.kiosk_message, admin.lock_button,
    )  # fmt: skip
    for widget in controls:
        assert on_screen(widget, window), widget.accessibleName() or widget.text()
    assert finger_sized(admin) == []


def test_untouched_save_writes_nothing_and_a_change_is_saved_exactly(qtbot, window) -> None:
    store, card = window.session.store, window.session.card
    window.controller.set_operator("Dana Admin")
    admin = window.admin
    window.go("admin")
    assert admin.try_pin(PIN)
    qtbot.waitUntil(lambda: admin.benign.text() == "0.0588")
    before = [e for e in store.audit_log() if e.event == "setting_changed"]

    qtbot.mouseClick(admin.save_thresholds_button, Qt.MouseButton.LeftButton)
    assert admin.threshold_message.text() == NOTHING_CHANGED
    qtbot.mouseClick(admin.save_device_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(admin.save_kiosk_button, Qt.MouseButton.LeftButton)
    assert store.settings() == {}
    assert [e for e in store.audit_log() if e.event == "setting_changed"] == before

    admin.benign.setValue(0.0601)
    qtbot.mouseClick(admin.save_thresholds_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: admin.threshold_message.text().startswith("Saved"), timeout=10_000)
    assert "0.0601" in admin.threshold_message.text()
    assert store.get_setting(threshold_key(card.sha256, "benign_below")) == 0.0601
    assert store.get_setting(threshold_key(card.sha256, "malignant_at")) is None  # untouched
    [change] = [e for e in store.audit_log() if e.event == "setting_changed"]
    assert change.actor == "Dana Admin"
    assert change.payload == {
        "key": threshold_key(card.sha256, "benign_below"),
        "old": 0.0588,
        "new": 0.0601,
    }
    qtbot.mouseClick(admin.save_thresholds_button, Qt.MouseButton.LeftButton)
    assert admin.threshold_message.text() == NOTHING_CHANGED
