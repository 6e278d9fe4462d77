"""The touch-screen app, driven like a technician would: offscreen, real model, real demo images.

A temporary folder plays the USB port (each sub-folder is a stick, as with ``--mock-usb``).
Copying demo images into a new sub-folder is "plugging a stick in"; deleting it mid-scan is
"pulling it out".
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="the GUI needs the 'gui' extra (PySide6)")
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402

from appliance.config import Config  # noqa: E402
from appliance.controller import export  # noqa: E402
from appliance.decision import Decision  # noqa: E402
from appliance.gui.app import create_window, show  # noqa: E402
from appliance.problems import Problem  # noqa: E402
from appliance.store import Store  # noqa: E402
from tests.conftest import DEMO_STICK, SHIPPED_MODEL, TINY_BUNDLE, start_test_scan  # noqa: E402

PIN = "2468"
SCAN_TIMEOUT_MS = 120_000


def model_path() -> Path:
    """The shipped model when it is there, else the tiny test bundle (same code paths)."""
    return SHIPPED_MODEL if (SHIPPED_MODEL / "card.json").exists() else TINY_BUNDLE


def make_config(tmp_path: Path, **overrides) -> Config:
    port = tmp_path / "usb-port"
    port.mkdir(exist_ok=True)
    values = {
        "model": model_path(),
        "database": tmp_path / "appliance.db",
        "reports": tmp_path / "reports",
        "device_name": "test-appliance",
        "mock_usb": port,
        "admin_pin": PIN,
    }
    values.update(overrides)
    return Config(**values)


def plug_in(config: Config, name: str, cases: dict[str, list[Path]]) -> Path:
    """Fill a stick folder off to the side, then move it into the port in one step (like a mount),
    so the watcher never sees a half-copied stick."""
    staging = config.mock_usb.parent / f".staging-{name}"
    for case, files in cases.items():
        (staging / case).mkdir(parents=True, exist_ok=True)
        for index, source in enumerate(files):
            shutil.copyfile(source, staging / case / f"{index:03d}-{source.name}")
    stick = config.mock_usb / name
    staging.rename(stick)
    return stick


def demo_patches(case: str, count: int | None = None) -> list[Path]:
    files = sorted((DEMO_STICK / case).glob("*.png"))
    return files[:count] if count else files


def slide_crop(tmp_path: Path) -> Path:
    """A 400x400 tissue region of the demo slide: real pixels, tiled, quick to score."""
    import numpy as np
    from PIL import Image

    source = next((DEMO_STICK / "slide-14191").glob("*.png"))
    with Image.open(source) as image:
        rgb = image.convert("RGB")
    best, best_box = -1.0, None
    for y in range(0, rgb.height - 400, 200):
        for x in range(0, rgb.width - 400, 200):
            crop = np.asarray(rgb.crop((x, y, x + 400, y + 400)).resize((20, 20)), dtype=float)
            tissue = float((crop.mean(axis=2) < 200).mean())
            if tissue > best:
                best, best_box = tissue, (x, y, x + 400, y + 400)
    target = tmp_path / "slide-region.png"
    rgb.crop(best_box).save(target)
    return target


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def open_window(qtbot):
    """Build, show and start the real window; closed (and its threads joined) at the end."""
    windows = []

    def make(config: Config):
        window = create_window(config, poll_interval=0.05)
        qtbot.addWidget(window)
        show(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def wait_scan(qtbot, window):
    with qtbot.waitSignal(window.scan_done, timeout=SCAN_TIMEOUT_MS) as blocker:
        pass
    return blocker.args[0]


def click(qtbot, widget) -> None:
    assert widget.isVisible() and widget.isEnabled(), widget.text()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def open_row(qtbot, window, table, key: int) -> None:
    """Tap the table row whose key is ``key`` and wait until its image is on screen."""
    row = table.row_for(key)
    assert row >= 0
    table.scrollToItem(table.item(row, 0))
    rect = table.visualRect(table.model().index(row, 1))
    with qtbot.waitSignal(window.image_shown, timeout=20_000):
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


# -- the main path ---------------------------------------------------------------------------


def test_insert_read_review_export(qtbot, open_window, tmp_path):
    config = make_config(tmp_path)
    window = open_window(config)
    assert window.home_state == "waiting"
    assert "research use only" in window.banner.text().lower()

    stick = plug_in(
        config,
        "LAB-STICK",
        {
            "patient-10262": demo_patches("patient-10262", 4),
            "patient-12880": demo_patches("patient-12880", 4),
            "damaged-example": demo_patches("damaged-example"),
            "slide-14191": [slide_crop(tmp_path)],
        },
    )
    before = tree_digest(stick)
    summary = wait_scan(qtbot, window)
    assert summary.status == "complete"
    assert window.home_state == "scan"
    assert window.live.state.title.text().startswith("Finished")
    assert window.live.images.rowCount() == 10
    assert window.live.cases.rowCount() == 4
    with Store.open(config.database) as store:
        images = store.images(summary.scan_id)
    assert len(images) == 10
    damaged = next(i for i in images if i.case == "damaged-example")
    assert damaged.status == "error" and damaged.effective_decision is Decision.UNASSESSABLE
    # Each row carries the word, not only a colour.
    words = {window.live.images.item(r, 0).text() for r in range(10)}
    assert "Unassessable" in words

    # Read one result: full image from the stick.
    patch = next(i for i in images if i.case == "patient-10262" and i.status == "ok")
    window.live.tabs.setCurrentWidget(window.live.images)
    open_row(qtbot, window, window.live.images, patch.id)
    assert window.pages.currentWidget() is window.result
    assert window.result.title.text().replace("\u200b", "") == patch.name
    assert window.result.view.has_image
    assert "read from the stick" in window.result.source_note.text()
    ai_word = window.result.ai_badge.word.text()
    assert Decision(patch.decision).wording in ai_word

    # Review it: change the result; the app asks who is reviewing first.
    corrected = next(d for d in (Decision.BENIGN, Decision.MALIGNANT) if d.value != patch.decision)
    panel = window.result.review
    click(qtbot, panel.change_button)
    click(qtbot, panel.choice_buttons[corrected])
    qtbot.keyClicks(panel.note, "re-cut section shows artefact")
    click(qtbot, panel.save_button)
    assert window.pages.currentWidget() is window.operator_page
    qtbot.keyClicks(window.operator_page.name, "Ada Lovelace")
    with qtbot.waitSignal(window.review_saved, timeout=20_000):
        click(qtbot, window.operator_page.ok)
    assert window.pages.currentWidget() is window.result
    # The AI's answer is still on screen, beside the human one.
    assert window.result.ai_badge.word.text() == ai_word
    assert corrected.wording in window.result.human_badge.word.text()
    assert "Ada Lovelace" in window.result.human_detail.text()
    with Store.open(config.database) as store:
        reviews = store.reviews(patch.id)
        audit = store.audit_log()
        kept = store.image(patch.id)
    assert [(r.reviewer, r.agreed, r.corrected_decision) for r in reviews] == [
        ("Ada Lovelace", False, corrected.value)
    ]
    assert kept.decision == patch.decision  # the AI result itself is never changed
    assert any(e.event == "review" and e.image_id == patch.id for e in audit)

    # Export: the PDF lands in the reports folder and shows the review; the stick is untouched.
    click(qtbot, window.result.back_button)
    assert window.pages.currentWidget() is window.home
    with qtbot.waitSignal(window.export_done, timeout=60_000) as blocker:
        click(qtbot, window.live.export_button)
    pdf = Path(blocker.args[0])
    assert pdf.parent == config.reports and pdf.exists()
    assert str(pdf) in window.toast.text()
    from pypdf import PdfReader

    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(pdf).pages)
    assert "Ada Lovelace" in text
    assert "re-cut section shows artefact" in text
    assert tree_digest(stick) == before

    # Only on request, a copy goes to the stick, and the app says where.
    with qtbot.waitSignal(window.export_done, timeout=60_000) as blocker:
        click(qtbot, window.live.copy_button)
    copied = Path(blocker.args[0])
    assert copied.parent == stick and copied.read_bytes()[:5] == b"%PDF-"
    assert "LAB-STICK" in window.toast.text() and str(config.reports) in window.toast.text()


def test_read_only_stick_keeps_local_copy(qtbot, open_window, tmp_path, monkeypatch):
    config = make_config(tmp_path)
    window = open_window(config)
    stick = plug_in(config, "RO-STICK", {"patient-9036": demo_patches("patient-9036", 2)})
    assert wait_scan(qtbot, window).status == "complete"
    before = tree_digest(stick)
    monkeypatch.setattr(export, "is_read_only", lambda mount: True)
    with qtbot.waitSignal(window.export_done, timeout=60_000) as blocker:
        click(qtbot, window.live.copy_button)
    local = Path(blocker.args[0])
    assert local.parent == config.reports and local.exists()
    assert "read-only" in window.toast.text() and str(local) in window.toast.text()
    assert tree_digest(stick) == before


def test_tile_map_overlay_with_opacity(qtbot, open_window, tmp_path):
    config = make_config(tmp_path)
    window = open_window(config)
    plug_in(config, "SLIDE", {"slide-14191": [slide_crop(tmp_path)]})
    summary = wait_scan(qtbot, window)
    image_id = summary.outcomes[0].image_id
    window.live.tabs.setCurrentWidget(window.live.images)
    open_row(qtbot, window, window.live.images, image_id)
    with Store.open(config.database) as store:
        record = store.image(image_id)
    if not record.tiles:
        pytest.skip(f"{config.model.name} scored this image whole; no tile map to show")
    result = window.result
    assert result.opacity.isVisible() and result.overlay_toggle.isChecked()
    assert not result.view.overlay_item.pixmap().isNull()
    result.opacity.setValue(80)
    assert result.view.overlay_item.opacity() == pytest.approx(0.8)
    click(qtbot, result.overlay_toggle)
    assert not result.view.overlay_item.isVisible()
    zoom = result.view.zoom
    click(qtbot, result.zoom_in)
    assert result.view.zoom > zoom


def test_stick_pulled_out_mid_scan(qtbot, open_window, tmp_path):
    config = make_config(tmp_path)
    window = open_window(config)
    classifier = window.session.analyzer.classifier
    real = classifier.classify

    def slow(image, **kwargs):  # a slower Pi: gives the test time to pull the stick mid-scan
        time.sleep(0.08)
        return real(image, **kwargs)

    classifier.classify = slow
    stick = plug_in(
        config,
        "PULLED",
        {
            "patient-10262": demo_patches("patient-10262"),
            "patient-9077": demo_patches("patient-9077"),
        },
    )
    qtbot.waitUntil(lambda: window.live.images.rowCount() >= 4, timeout=60_000)
    with qtbot.waitSignal(window.scan_done, timeout=SCAN_TIMEOUT_MS) as blocker:
        shutil.rmtree(stick)
    summary = blocker.args[0]
    assert summary.status == "interrupted"
    assert window.home_state == "scan"
    assert "removed" in window.live.state.title.text()
    assert "kept" in window.live.state.text.text()
    with Store.open(config.database) as store:
        scan = store.scan(summary.scan_id)
        kept = [i for i in store.images(summary.scan_id) if i.status == "ok"]
    assert scan.status == "interrupted"
    assert len(kept) >= 4
    # The window still works: history lists the interrupted scan.
    window.go("history")
    qtbot.waitUntil(lambda: window.history.table.rowCount() == 1, timeout=10_000)
    assert window.history.table.item(0, 4).text() == "interrupted"


# -- problems that must be shown, not crash ----------------------------------------------------


def test_rejected_model_is_shown_and_app_still_runs(qtbot, open_window, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, bundle)
    model = bundle / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    config = make_config(tmp_path, model=bundle)
    window = open_window(config)
    assert window.home_state == "problem"
    shown = window.problem_view.card
    assert shown.title.text() == "The model was refused"
    assert "does not match its card" in shown.text.text()
    assert "reinstall" in shown.action.text().lower()
    assert "no model" in window.banner.text()
    with qtbot.waitSignal(window.message_shown, timeout=10_000):
        plug_in(config, "S", {"patient-9036": demo_patches("patient-9036", 1)})
    assert "cannot be analysed" in window.toast.text()
    assert window.home_state == "problem"
    window.go("about")
    assert "The model was refused" in window.about.text.toPlainText()


def test_missing_model_and_broken_database(qtbot, open_window, tmp_path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    config = make_config(tmp_path, model=tmp_path / "no-such-model", database=broken)
    window = open_window(config)
    assert window.home_state == "problem"
    assert window.problem_view.card.title.text() == "Database problem"
    assert window.session.model_problem.title == "No model is installed"
    window.go("history")
    assert "not available" in window.history.message.text()


# -- admin corner ----------------------------------------------------------------------------


def enter_pin(qtbot, admin, pin: str) -> None:
    for digit in pin:
        click(qtbot, admin.pad.keys[digit])
    click(qtbot, admin.pad.keys["OK"])


def test_admin_pin_and_threshold_limits(qtbot, open_window, tmp_path):
    config = make_config(tmp_path)
    window = open_window(config)
    click(qtbot, window.nav_buttons["admin"])
    admin = window.admin
    enter_pin(qtbot, admin, "1111")
    assert not admin.unlocked
    assert "Wrong PIN" in admin.pin_message.text()
    enter_pin(qtbot, admin, PIN)
    assert admin.unlocked

    card = window.session.card
    low, high = card.thresholds.allowed_range
    key = f"threshold.{card.sha256}.malignant_at"
    # Untouched fields: nothing is written, and the page says so.
    click(qtbot, admin.save_thresholds_button)
    assert admin.message.text().startswith("Nothing changed")
    assert window.session.store.get_setting(key) is None

    # Outside the card's range: saving asks who is at the screen first (the audit names the
    # person, not "admin"), then refuses in words; nothing stored.
    admin.malignant.setValue(1.0 if high < 1.0 else 0.0)
    if high >= 1.0:
        admin.benign.setValue(low - 0.01 if low > 0 else 0.5)
        admin.malignant.setValue(0.4)
    click(qtbot, admin.save_thresholds_button)
    assert window.pages.currentWidget() is window.operator_page
    qtbot.keyClicks(window.operator_page.name, "Ada Admin")
    click(qtbot, window.operator_page.ok)
    assert window.pages.currentWidget() is admin and admin.unlocked
    qtbot.waitUntil(lambda: admin.message.text() != "", timeout=10_000)
    assert "Nothing was changed" in admin.message.text()
    assert window.session.store.get_setting(key) is None

    # Inside the range: saved, audited with old and new and the person, used by the next scan.
    admin.benign.setValue(card.thresholds.benign_below)
    new = round(min(high, card.thresholds.malignant_at + 0.02), 2)
    admin.malignant.setValue(new)
    admin.message.setText("")
    click(qtbot, admin.save_thresholds_button)
    qtbot.waitUntil(lambda: admin.message.text().startswith("Saved"), timeout=10_000)
    assert window.session.store.get_setting(key) == pytest.approx(new)
    assert window.session.analyzer.thresholds.malignant_at == pytest.approx(new)
    changes = [e for e in window.session.store.audit_log() if e.event == "setting_changed"]
    assert [e.payload["key"] for e in changes] == [key]  # benign_below was not rewritten
    assert changes[0].actor == "Ada Admin"
    assert changes[0].payload["old"] == pytest.approx(card.thresholds.malignant_at)
    assert changes[0].payload["new"] == pytest.approx(new)

    # Leaving the page locks the corner again.
    click(qtbot, window.nav_buttons["about"])
    assert not admin.unlocked


def test_admin_locked_without_pin(qtbot, open_window, tmp_path):
    window = open_window(make_config(tmp_path, admin_pin=""))
    window.go("admin")
    assert not window.admin.unlocked
    assert "no admin PIN is set" in window.admin.lock_text.text()
    assert not window.admin.try_pin("")


# -- history ---------------------------------------------------------------------------------


def test_history_search_and_reopen(qtbot, open_window, tmp_path):
    config = make_config(tmp_path)
    window = open_window(config)
    plug_in(config, "FIRST", {"patient-9036": demo_patches("patient-9036", 2)})
    first = wait_scan(qtbot, window)
    plug_in(config, "SECOND", {"damaged-example": demo_patches("damaged-example")})
    wait_scan(qtbot, window)

    click(qtbot, window.nav_buttons["history"])
    qtbot.waitUntil(lambda: window.history.table.rowCount() == 2, timeout=10_000)
    qtbot.keyClicks(window.history.text, "patient-9036")
    qtbot.keyClick(window.history.text, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.history.table.rowCount() == 1, timeout=10_000)
    assert window.history.table.item(0, 1).text() == f"#{first.scan_id}"

    window.history.text.clear()
    index = window.history.decision.findData(Decision.UNASSESSABLE.value)
    window.history.decision.setCurrentIndex(index)
    qtbot.waitUntil(
        lambda: (
            window.history.table.rowCount() == 1
            and window.history.table.item(0, 3).text() == "SECOND"
        ),
        timeout=10_000,
    )
    window.history.decision.setCurrentIndex(0)
    qtbot.waitUntil(lambda: window.history.table.rowCount() == 2, timeout=10_000)
    click(qtbot, window.history.ranges.buttons()[0])  # today
    qtbot.waitUntil(lambda: window.history.table.rowCount() == 2, timeout=10_000)

    row = window.history.table.row_for(first.scan_id)
    rect = window.history.table.visualRect(window.history.table.model().index(row, 1))
    qtbot.mouseClick(window.history.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.past, timeout=10_000)
    assert window.past.scan_id == first.scan_id
    assert window.past.images.rowCount() == 2


def test_about_names_model_and_versions(qtbot, open_window, tmp_path):
    window = open_window(make_config(tmp_path))
    click(qtbot, window.nav_buttons["about"])
    text = window.about.text.toPlainText()
    card = window.session.card
    assert card.short_sha in text and card.name in text and card.version in text
    assert "PySide6" in text and window.session.backend_name in text
    assert card.short_sha in window.banner.text()


def test_problem_words_never_show_a_traceback():
    from appliance.errors import StoreError, VolumeGone
    from appliance.problems import classify

    assert classify(StoreError("the disk holding x is full")).title == "The disk is full"
    assert classify(VolumeGone("gone")).kind == "stick_removed"
    found = classify(KeyError("internal"))
    assert isinstance(found, Problem) and found.kind == "unexpected"
    assert "Traceback" not in found.detail and "internal" not in found.detail


def test_disk_full_during_scan_is_said_in_words(qtbot, open_window, tmp_path):
    import errno

    from appliance.store.database import translate

    config = make_config(tmp_path)
    window = open_window(config)
    store = window.session.store
    real = store.record_images
    written: list[int] = []

    def filling_up(scan_id, rows):
        if written:
            raise translate(
                OSError(errno.ENOSPC, "No space left on device"), store.path, "save the result"
            )
        written.append(len(rows))
        return real(scan_id, rows)

    store.record_images = filling_up
    # More images than one batch of rows (store.batching.MAX_ROWS), so the disk fills mid-scan.
    plug_in(config, "FULL", {"a": demo_patches("patient-9036"), "b": demo_patches("patient-9077")})
    found = wait_scan(qtbot, window)
    assert isinstance(found, Problem) and found.kind == "disk_full"
    assert window.live.state.title.text() == "The disk is full"
    assert "Free some space" in window.live.state.text.text()
    store.record_images = real
    scans = store.scans()
    assert scans[0].status == "failed"  # History says the scan did not finish
    assert len(store.images(scans[0].id)) == written[0] > 0  # what was saved before is kept


def test_unreadable_stick(qtbot, open_window, tmp_path, monkeypatch):
    import appliance.pipeline
    from appliance.errors import VolumeGone

    def unreadable(root, **kwargs):
        raise VolumeGone(
            "The USB stick was removed or cannot be read (Input/output error)."
            " Plug it in again and start a new scan."
        )

    monkeypatch.setattr(appliance.pipeline, "list_volume", unreadable)
    config = make_config(tmp_path)
    window = open_window(config)
    plug_in(config, "BAD", {"patient-9036": demo_patches("patient-9036", 1)})
    assert wait_scan(qtbot, window).status == "interrupted"
    assert window.live.state.title.text() == "The stick cannot be read"
    assert "Input/output error" in window.live.state.text.text()


def test_keyboard_alone(qtbot, open_window, tmp_path):
    """Pages, opening an image, reviewing and going back, without touch or mouse."""
    config = make_config(tmp_path)
    window = open_window(config)
    window.activateWindow()
    plug_in(config, "KEYS", {"patient-9077": demo_patches("patient-9077", 2)})
    wait_scan(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_F3)
    assert window.pages.currentWidget() is window.history
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)  # mnemonic: animated
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.home, timeout=5_000)
    window.live.tabs.setCurrentWidget(window.live.images)
    table = window.live.images
    table.setFocus()
    table.setCurrentCell(0, 0)
    with qtbot.waitSignal(window.image_shown, timeout=20_000):
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert window.pages.currentWidget() is window.result
    window.controller.set_operator("Grace Hopper")
    with qtbot.waitSignal(window.review_saved, timeout=20_000):
        qtbot.keyClick(window.result, Qt.Key.Key_A, Qt.KeyboardModifier.AltModifier)
    reviews = window.session.store.reviews(window.result.image.id)
    assert reviews[-1].agreed and reviews[-1].reviewer == "Grace Hopper"
    with qtbot.waitSignal(window.image_shown, timeout=20_000):
        qtbot.keyClick(window.result, Qt.Key.Key_N, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(window.result, Qt.Key.Key_Escape)
    assert window.pages.currentWidget() is window.home


def fake_conditions(tmp_path: Path, *, clock_wrong: bool, flags: str = "0"):
    """A clock before the build and/or a Pi reporting ``flags``, from fixture files."""
    from datetime import UTC, datetime

    from appliance.buildinfo import judge_clock
    from appliance.health import Sources, read_health

    info = tmp_path / "build-info.json"
    info.write_text('{"built_at": "2026-11-30T12:00:00Z"}')
    now = datetime(2020, 1, 1, 9, 30, tzinfo=UTC) if clock_wrong else datetime.now(UTC)
    (tmp_path / "temp").write_text("61234\n")
    (tmp_path / "throttled").write_text(flags + "\n")
    sources = Sources(
        tmp_path / "temp", tmp_path / "throttled", tmp_path / "absent", None, tmp_path
    )
    return lambda: (
        judge_clock(now=now, paths=(info,)),
        read_health(tmp_path / "appliance.db", tmp_path / "reports", sources),
    )


def show_conditions(qtbot, window, probe) -> None:
    window.conditions_probe = probe
    with qtbot.waitSignal(window.conditions_shown, timeout=10_000):
        window.refresh_conditions()


def test_wrong_clock_and_under_voltage_stay_on_screen_at_800x480(qtbot, open_window, tmp_path):
    window = open_window(make_config(tmp_path))
    window.resize(800, 480)
    show_conditions(qtbot, window, fake_conditions(tmp_path, clock_wrong=True, flags="50005"))
    strip = window.conditions
    for key in ("home", "history", "about", "admin"):
        click(qtbot, window.nav_buttons[key])
        for line in (strip.clock_line, strip.health_line):
            assert line.isVisible()
            top = line.mapTo(window, line.rect().topLeft()).y()
            assert top >= 0 and top + line.height() <= window.height()
    assert "Clock wrong: 2020-01-01" in strip.clock_line.text()
    assert "fake-hwclock save" in strip.clock_line.text()
    assert "UNDER-VOLTAGE now: use the official 5.1 V" in strip.health_line.text()
    assert "clock WRONG" in window.admin.health.text() and "CPU 61 °C" in window.admin.health.text()
    click(qtbot, window.nav_buttons["about"])
    about = window.about.text.toPlainText()
    assert "Clock and health" in about and "EARLIER" in about and "flags 0x50005" in about

    show_conditions(qtbot, window, fake_conditions(tmp_path, clock_wrong=False))
    assert not strip.clock_line.isVisible() and not strip.health_line.isVisible()
    assert "clock ok" in window.admin.health.text()


def test_a_scan_made_with_a_wrong_clock_or_throttled_says_so(qtbot, tmp_path):
    from appliance.gui.state_views import ScanView

    with Store.open(tmp_path / "a.db") as store:
        scan_id = start_test_scan(
            store,
            clock_believable=False,
            throttled_at_start=0,
        )
        store.finish_scan(scan_id, "complete", throttled_at_end=0, throttled_during=0x1)
        scan = store.scan(scan_id)
    view = ScanView()
    qtbot.addWidget(view)
    view.show_scan(scan, [], {}, stick=None, reopened=True)
    text = view.state.text.text()
    assert "clock was wrong when this scan started" in text
    assert "ran slowed down (under-voltage)" in text
