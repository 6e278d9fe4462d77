"""The review flow on the official 7" touch screen (800x480) and on a 1080p monitor.

Each check maps a control's geometry to the real window and fails when it is hidden, outside the
window, partly covered by its parents (``visibleRegion``), smaller than a finger, or when its text
does not fit (a button narrower than its size hint, a wrapped label shorter than its text, a
one-line label cut without its full text in the tooltip). Records are built directly, so the
views are tested whatever state the store is in.

Set ``SMALL_SCREEN_GRABS=/some/dir`` to keep a PNG of every checked screen.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="the GUI needs the 'gui' extra (PySide6)")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QPoint, QRect, QSize  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QWidget  # noqa: E402

from appliance.config import Config  # noqa: E402
from appliance.decision import Decision  # noqa: E402
from appliance.gui import style  # noqa: E402
from appliance.gui.app import application, create_window, window_size  # noqa: E402
from appliance.gui.keyboard import Keyboard, keyboard_for  # noqa: E402
from appliance.gui.widgets import ElidedLabel  # noqa: E402
from appliance.store import ImageRecord, ReviewRecord, ScanRecord  # noqa: E402
from tests.conftest import SHIPPED_MODEL, TINY_BUNDLE  # noqa: E402

SIZES = [(800, 480), (1920, 1080)]
FINGER = 44  # px: the smallest target a finger hits reliably


def _image(number: int, case: str, decision: Decision, p: float) -> ImageRecord:
    return ImageRecord(
        id=number,
        scan_id=1,
        path=f"{case}/{case}_idx5_x{1000 + number}_y2201_class{number % 2}.png",
        case=case,
        sha256=None,
        size_bytes=10,
        width=50,
        height=50,
        status="ok",
        decision=decision.value,
        p_malignant=p,
        error=None,
        tiles=None,
        thumbnail=None,
        elapsed_ms=1.0,
        reused_from=None,
        created_at="2026-12-02T01:00:00+00:00",
    )


def _images() -> list[ImageRecord]:
    decisions = [
        (Decision.MALIGNANT, 0.97),
        (Decision.INDETERMINATE, 0.31),
        (Decision.BENIGN, 0.02),
        (Decision.INDETERMINATE, 0.44),
    ]
    images = []
    for number in range(1, 25):
        decision, p = decisions[number % 4]
        images.append(_image(number, f"patient-{9000 + number // 4}", decision, p))
    return images


def _scan(**overrides) -> ScanRecord:
    values = dict(
        id=1,
        started_at="2026-12-02T01:00:00+00:00",
        finished_at="2026-12-02T01:01:00+00:00",
        status="complete",
        message=None,
        source="usb",
        volume_label="DEMO-STICK",
        volume_path="/media/DEMO-STICK",
        device="histo-lab-pi-01",
        model_name="idc-mobilenetv2",
        model_version="1.4.0",
        model_sha256="0" * 64,
        backend="litert",
    )
    if "rules" in {f.name for f in fields(ScanRecord)}:
        from appliance.values import ScanRules, Thresholds

        values["rules"] = ScanRules(Thresholds(0.3, 0.0588, 0.5794))
    else:  # the stored dict, before the store read it as a value
        values["thresholds"] = {"benign_below": 0.0588, "malignant_at": 0.5794}
    values.update(overrides)
    return ScanRecord(**values)


def _review(image_id: int) -> ReviewRecord:
    return ReviewRecord(
        id=1,
        image_id=image_id,
        reviewer="Margaret Okafor-Lindqvist",
        agreed=False,
        corrected_decision=Decision.INDETERMINATE.value,
        note="Artefact; 2nd opinion; the section is folded at the lower edge and badly stained",
        created_at="2026-12-02T01:05:00+00:00",
    )


# -- the window at a given size -----------------------------------------------------------------


@pytest.fixture(params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def window(request, qtbot, tmp_path):
    """The real window at one screen size, with the font that size gets."""
    width, height = request.param
    port = tmp_path / "usb-port"
    port.mkdir()
    model = SHIPPED_MODEL if (SHIPPED_MODEL / "card.json").exists() else TINY_BUNDLE
    config = Config(
        model=model,
        database=tmp_path / "appliance.db",
        reports=tmp_path / "reports",
        device_name="histo-lab-pi-01",
        mock_usb=port,
        admin_pin="2468",
    )
    made = create_window(config, poll_interval=0.05)
    app = application()  # the font the app would pick on a screen of this size
    px = style.font_px_for(width, height)
    font = app.font()
    font.setPixelSize(px)
    app.setFont(font)
    app.setStyleSheet(style.stylesheet(px))
    qtbot.addWidget(made)
    made.resize(width, height)
    made.show()
    qtbot.waitExposed(made)
    made.grab_name = f"{width}x{height}"
    made.asked_size = QSize(width, height)  # what the screen has, not what the window took
    yield made
    made.close()
    base = style.base_font_px()
    font.setPixelSize(base)
    app.setFont(font)
    app.setStyleSheet(style.stylesheet(base))


def settle(qtbot, window) -> None:
    qtbot.wait(30)
    window.layout().activate()
    qtbot.wait(30)


def grab(window, name: str) -> None:
    folder = os.environ.get("SMALL_SCREEN_GRABS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        window.grab().save(str(Path(folder) / f"{window.grab_name}-{name}.png"))


def problems(window: QWidget, widget: QWidget, name: str) -> list[str]:
    """Why ``widget`` is not wholly on screen and readable (empty: it is)."""
    if not widget.isVisible():
        return [f"{name}: not visible"]
    found = []
    box = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    if not window.rect().contains(box):
        found.append(f"{name}: {box} outside the window {window.rect()}")
    if widget.visibleRegion().boundingRect() != widget.rect():
        found.append(f"{name}: clipped to {widget.visibleRegion().boundingRect()}")
    if isinstance(widget, QAbstractButton | QLineEdit) and widget.height() < FINGER:
        found.append(f"{name}: {widget.height()} px tall, smaller than a finger")
    if isinstance(widget, QAbstractButton) and widget.width() < widget.sizeHint().width():
        found.append(f"{name}: text {widget.text()!r} cut ({widget.width()} < hint)")
    if isinstance(widget, ElidedLabel):
        if widget.is_elided() and widget.text() not in widget.toolTip():
            found.append(f"{name}: shortened without the whole text in its tooltip")
    elif isinstance(widget, QLabel) and widget.text():
        metrics = widget.fontMetrics()
        room = widget.contentsRect()
        if widget.wordWrap():
            needed = widget.heightForWidth(widget.width())
            if needed > widget.height():
                found.append(f"{name}: {widget.text()!r} needs {needed} px, has {widget.height()}")
        elif metrics.horizontalAdvance(widget.text()) > room.width():
            found.append(f"{name}: {widget.text()!r} wider than its {room.width()} px")
    return found


def assert_on_screen(window: QWidget, widgets: dict[str, QWidget]) -> None:
    found = [line for name, widget in widgets.items() for line in problems(window, widget, name)]
    if window.size() != window.asked_size:  # a page that needs more grows the window off screen
        found.append(f"the window grew to {window.size()} (the screen is {window.asked_size})")
    assert not found, "\n".join(found)


def text_parts_fit(window: QWidget, page: QWidget) -> None:
    """No label or button on the page is squeezed below the height its text needs."""
    found = []
    for widget in page.findChildren(QLabel) + page.findChildren(QAbstractButton):
        if widget.isVisible() and widget.height() < widget.minimumSizeHint().height():
            found.append(f"{widget.text()!r}: {widget.height()} < {widget.minimumSizeHint()}")
    assert not found, "\n".join(found)


def show_result(qtbot, window, image, reviews=()) -> None:
    window.pages.setCurrentWidget(window.result)
    window.result.show_record(image, _scan(), list(reviews), (1, 24), None, True)
    settle(qtbot, window)


# -- the result page ---------------------------------------------------------------------------


def test_result_page_before_a_review(qtbot, window):
    image = _images()[0]
    show_result(qtbot, window, image)
    page, panel = window.result, window.result.review
    grab(window, "result")
    assert_on_screen(
        window,
        {
            "image": page.view,
            "AI answer": page.ai_badge.word,
            "human answer": page.human_badge.word,
            "Agree": panel.agree_button,
            "Change": panel.change_button,
            "note": panel.note,
            "keyboard": panel.keyboard_button,
            "Next": page.next_button,
            "Back": page.back_button,
        },
    )
    assert page.view.width() >= 300 and page.view.height() >= 200
    text_parts_fit(window, page)


def test_changing_a_result_needs_no_scrolling(qtbot, window):
    show_result(qtbot, window, _images()[0])
    page, panel = window.result, window.result.review
    qtbot.mouseClick(panel.change_button, qtbot_left())
    settle(qtbot, window)
    controls = {
        "image": page.view,
        "AI answer": page.ai_badge.word,
        "Agree": panel.agree_button,
        "Change": panel.change_button,
        "note": panel.note,
        "Save": panel.save_button,
    }
    controls.update({f"choice {d.value}": b for d, b in panel.choice_buttons.items()})
    assert_on_screen(window, controls)
    # Save with nothing chosen: the error is beside the choices, on screen.
    qtbot.mouseClick(panel.save_button, qtbot_left())
    settle(qtbot, window)
    assert_on_screen(window, {"choice error": panel.choice_error, "Save": panel.save_button})
    grab(window, "change-error-choice")
    # Chosen, but no note: the error is beside the note.
    qtbot.mouseClick(panel.choice_buttons[Decision.BENIGN], qtbot_left())
    qtbot.mouseClick(panel.save_button, qtbot_left())
    settle(qtbot, window)
    assert_on_screen(window, {"note error": panel.note_error, "note": panel.note, **controls})
    grab(window, "change-error-note")
    text_parts_fit(window, page)


def test_result_page_after_a_review(qtbot, window):
    image = _images()[0]
    show_result(qtbot, window, image, [_review(image.id)])
    page, panel = window.result, window.result.review
    panel.show_message("Review saved.", error=False)
    if hasattr(window, "say"):  # the window's message line takes room from the page
        window.say(f"Review of {image.name} saved by Margaret Okafor-Lindqvist.")
    settle(qtbot, window)
    grab(window, "reviewed")
    assert_on_screen(
        window,
        {
            "image": page.view,
            "AI answer": page.ai_badge.word,
            "human answer": page.human_badge.word,
            "who and why": page.human_detail,
            "saved message": panel.message,
            "Agree": panel.agree_button,
            "Change": panel.change_button,
            "note": panel.note,
        },
    )
    assert "Okafor-Lindqvist" in page.human_detail.toolTip()
    text_parts_fit(window, page)


def test_the_keyboard_types_a_note(qtbot, window):
    show_result(qtbot, window, _images()[0])
    panel = window.result.review
    qtbot.mouseClick(panel.keyboard_button, qtbot_left())
    keyboard = keyboard_for(panel)
    assert isinstance(keyboard, Keyboard) and keyboard.isVisible()
    settle(qtbot, window)
    grab(window, "keyboard")
    keys = {f"key {c}": k for c, k in keyboard.keys.items()}
    assert_on_screen(window, {**keys, "Done": keyboard.done_button, "text": keyboard.line})
    qtbot.mouseClick(keyboard.keys["f"], qtbot_left())
    qtbot.mouseClick(keyboard.keys["o"], qtbot_left())
    keyboard.pick("Artefact")
    qtbot.mouseClick(keyboard.done_button, qtbot_left())
    assert panel.note.text() == "Fo; Artefact"
    assert not keyboard.isVisible()


def test_a_new_reviewer_picks_or_types_a_name(qtbot, window):
    page = window.operator_page
    window.pages.setCurrentWidget(page)
    page.prepare(["M. Okafor", "J. Lindqvist"], None)
    settle(qtbot, window)
    assert_on_screen(window, {"name": page.name, "keyboard": page.keyboard_button, "OK": page.ok})
    qtbot.mouseClick(page.keyboard_button, qtbot_left())
    keyboard = keyboard_for(page)
    assert keyboard.isVisible()
    # The banner (research use only, the model) stays visible above the keyboard.
    assert keyboard.geometry().top() >= window.banner.geometry().bottom()
    keyboard.pick("J. Lindqvist")  # a recent name from the pick-list
    qtbot.mouseClick(keyboard.done_button, qtbot_left())
    assert page.name.text() == "J. Lindqvist"


# -- scanning and finished ---------------------------------------------------------------------


class Progress:
    """What the pipeline reports per image (with the pace fields read by name)."""

    def __init__(self, done: int, total: int, latest) -> None:
        self.done, self.total, self.latest = done, total, latest
        self.recent = (latest,)
        self.tiles_done, self.tiles_total = done * 40, total * 40
        self.rate, self.eta_s = 2.5, (total - done) / 2.5
        self.current = "patient-9036/9036_idx5_x1051_y2401_class0.png"


class Outcome:
    def __init__(self, image: ImageRecord) -> None:
        self.image_id, self.case, self.path = image.id, image.case, image.path
        self.decision, self.p_malignant = Decision(image.decision), image.p_malignant
        self.error, self.reused = None, False


def visible_rows(table) -> int:
    """Rows wholly inside the table's viewport."""
    height = table.viewport().height()
    return sum(
        1
        for row in range(table.rowCount())
        if table.rowViewportPosition(row) >= 0
        and table.rowViewportPosition(row) + table.rowHeight(row) <= height
    )


def test_scanning_view(qtbot, window):
    live = window.live
    window.pages.setCurrentWidget(window.home)
    window.home.setCurrentWidget(live)
    live.start("DEMO-STICK")
    images = _images()
    for done, image in enumerate(images[:12], start=1):
        live.add_progress(Progress(done, len(images), Outcome(image)))
    qtbot.waitUntil(lambda: live.images.rowCount() == 12, timeout=5_000)
    settle(qtbot, window)
    grab(window, "scanning")
    assert_on_screen(
        window,
        {"progress": live.progress, "pace": live.pace, "Cancel": live.cancel_button},
    )
    assert "tiles 480/960" in live.pace.text() and "left" in live.pace.text()
    assert visible_rows(live.images) >= 4
    word = style.SHORT_WORDS[Decision.INDETERMINATE]
    needed = live.images.fontMetrics().horizontalAdvance(word) + live.images.iconSize().width()
    assert live.images.columnWidth(0) >= needed, "'Indeterminate — refer' is cut"


def test_finished_view(qtbot, window):
    live = window.live
    window.pages.setCurrentWidget(window.home)
    window.home.setCurrentWidget(live)
    live.start("DEMO-STICK")
    live.show_scan(_scan(), _images(), {}, stick="DEMO-STICK")
    settle(qtbot, window)
    grab(window, "finished")
    assert_on_screen(
        window,
        {
            "title": live.state.title,
            "text": live.state.text,
            "Export": live.export_button,
            "Copy": live.copy_button,
        },
    )
    assert live.cases.rowCount() == 7
    assert visible_rows(live.cases) >= 4
    text_parts_fit(window, live)


def test_empty_stick_says_so(qtbot, window):
    live = window.live
    window.pages.setCurrentWidget(window.home)
    window.home.setCurrentWidget(live)
    message = "No images found on “EMPTY” (it has 3 files, none of them an image)."
    live.show_scan(_scan(message=message, volume_label="EMPTY"), [], {}, stick="EMPTY")
    settle(qtbot, window)
    assert message in live.state.text.text()
    assert_on_screen(window, {"message": live.state.text})


def test_a_window_never_opens_larger_than_the_screen():
    assert window_size((800, 480)) == (800, 480)
    assert window_size((1920, 1050)) == (1280, 800)
    assert window_size(None) == (1280, 800)


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
