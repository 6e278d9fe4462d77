"""What a technician's tap does, driven without Qt: the controller under the touch screen.

A folder plays the stick (as ``--mock-usb`` does); the tiny test bundle plays the model, so these
run in seconds. The GUI tests (tests/test_gui.py) drive the same methods through the screen.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from appliance.config import Config
from appliance.controller import Controller
from appliance.controller.core import Refused
from appliance.controller.results import StickStep
from appliance.controller.scans import stick_for
from appliance.decision import Decision
from appliance.ingest import Volume
from appliance.runtime import Appliance
from appliance.settings import NOTHING_CHANGED, SettingRefused, threshold_key
from tests.conftest import DEMO_STICK, TINY_BUNDLE


def make_config(tmp_path: Path, **overrides) -> Config:
    values = {
        "model": TINY_BUNDLE,
        "database": tmp_path / "appliance.db",
        "reports": tmp_path / "reports",
        "device_name": "bench-pi",
        "mock_usb": tmp_path,
    }
    values.update(overrides)
    return Config(**values)


def make_stick(tmp_path: Path, name: str, per_case: int = 2) -> Volume:
    root = tmp_path / name
    for case in ("patient-9036", "patient-10262"):
        (root / case).mkdir(parents=True)
        for source in sorted((DEMO_STICK / case).glob("*.png"))[:per_case]:
            shutil.copyfile(source, root / case / source.name)
    return Volume(id=name, label=name, mount_point=root, source="folder")


@pytest.fixture
def controller(tmp_path: Path):
    made = Controller(Appliance.open(make_config(tmp_path)))
    assert made.appliance.problem is None, made.appliance.problem
    yield made
    made.close()


def test_a_mock_stick_is_scanned_reviewed_and_exported(controller, tmp_path: Path) -> None:
    stick = make_stick(tmp_path, "LAB")
    assert controller.scans.inserted(stick).step is StickStep.SCAN
    progress = []
    ended = controller.scans.scan_one(stick, on_progress=progress.append)
    assert not ended.failed and ended.summary.status == "complete"
    assert not controller.scans.busy
    assert progress and progress[-1].done == progress[-1].total == 4
    loaded = controller.load_scan(ended.summary.scan_id)
    assert len(loaded.images) == 4 and loaded.reviews == {}

    image = next(i for i in loaded.images if i.status == "ok")
    shown = controller.load_image(image.id)
    assert shown.image.id == image.id and shown.scan.id == loaded.scan.id
    pixels = controller.pixels(shown.image, shown.scan, stick)
    assert pixels.full is not None and "read from the stick" in pixels.note
    gone = controller.pixels(shown.image, shown.scan, None)
    assert gone.full is None and gone.thumbnail and "not plugged in" in gone.note

    # A review needs a person; the AI's own answer is never changed.
    with pytest.raises(Refused, match="who you are"):
        controller.review(image.id, agreed=True)
    controller.sign_in("Ada Lovelace")
    corrected = Decision.BENIGN if image.decision != "benign" else Decision.MALIGNANT
    saved = controller.review(image.id, agreed=False, corrected=corrected.value, note=" re-cut ")
    assert saved.reviewer == "Ada Lovelace" and saved.latest.corrected_decision == corrected.value
    assert [r.note for r in saved.reviews] == ["re-cut"]
    assert controller.store.image(image.id).decision == image.decision
    assert controller.recent_operators() == ["Ada Lovelace"]

    done = controller.export_pdf(loaded.scan.id)
    assert done.copied is None and done.local.parent == tmp_path / "reports"
    assert done.local.read_bytes()[:5] == b"%PDF-" and str(done.local) in done.message
    copied = controller.export_pdf(loaded.scan.id, to_stick=stick)
    assert copied.path == stick.mount_point / copied.local.name and copied.tone == "ok"


def test_an_empty_stick_says_so(controller, tmp_path: Path) -> None:
    empty = tmp_path / "EMPTY"
    empty.mkdir()
    volume = Volume(id="EMPTY", label="EMPTY", mount_point=empty, source="folder")
    ended = controller.scans.scan_one(volume)
    assert not ended.failed
    assert ended.summary.found_nothing
    assert "EMPTY" in ended.summary.message and "no images" in ended.summary.message.lower()


def test_a_second_stick_waits_its_turn_and_a_pulled_one_is_forgotten(
    controller, tmp_path: Path
) -> None:
    first, second = make_stick(tmp_path, "A", 1), make_stick(tmp_path, "B", 1)
    queue = controller.scans
    queue.begin(first)
    action = queue.inserted(second)
    assert action.step is StickStep.QUEUED and "“B” is waiting" in action.message
    assert queue.next_stick() is None  # not while a scan runs
    ended = queue.ended(queue.run(first))
    assert ended.next_stick == "B"
    assert queue.next_stick() == second and queue.pending == []
    queue.begin(second)
    queue.inserted(first)
    assert queue.pending == [first]
    assert "“A” was removed" in queue.removed(first) and queue.pending == []


def test_a_scan_that_raises_ends_as_a_problem_in_words(controller, tmp_path: Path) -> None:
    stick = make_stick(tmp_path, "S", 1)

    def broken(*args, **kwargs):
        raise KeyError("internal")

    controller.appliance.analyzer.scan = broken
    ended = controller.scans.scan_one(stick, cancel=threading.Event())
    assert ended.failed and ended.problem.kind == "unexpected" and not controller.scans.busy
    assert "internal" not in ended.problem.detail


def test_sticks_refused_without_a_model(tmp_path: Path) -> None:
    appliance = Appliance.open(make_config(tmp_path, model=tmp_path / "no-model"))
    controller = Controller(appliance)
    try:
        action = controller.scans.inserted(make_stick(tmp_path, "S", 1))
        assert action.step is StickStep.REFUSED
        assert "cannot be analysed: No model is installed." in action.message
        assert controller.search(_AllScans()) == []  # History works without a model
    finally:
        controller.close()


class _AllScans:
    def query(self, store):
        return store.scans()


def test_threshold_change_is_saved_once_with_the_person(controller) -> None:
    card = controller.appliance.card
    t = card.thresholds
    with pytest.raises(Refused, match="who you are"):
        controller.save_thresholds(t.benign_below, t.malignant_at)
    controller.set_operator("Grace Hopper")
    # Pressing Save on what is shown (the card's precision) changes nothing.
    unchanged = controller.save_thresholds(
        round(t.benign_below, t.decimals), round(t.malignant_at, t.decimals)
    )
    assert unchanged.nothing_changed and unchanged.message == NOTHING_CHANGED
    assert not [e for e in controller.store.audit_log() if e.event == "setting_changed"]

    high = t.allowed_range[1]
    new = round(min(high, t.malignant_at + 0.02), t.decimals)
    saved = controller.save_thresholds(t.benign_below, new)
    key = threshold_key(card.sha256, "malignant_at")
    assert saved.changed == (key,) and saved.message.startswith("Saved")
    assert controller.appliance.analyzer.thresholds.malignant_at == pytest.approx(new)
    assert controller.appliance.analyzer.thresholds.benign_below == t.benign_below  # untouched
    [change] = [e for e in controller.store.audit_log() if e.event == "setting_changed"]
    assert change.actor == "Grace Hopper"
    assert change.payload == {"key": key, "old": t.malignant_at, "new": new}

    with pytest.raises(SettingRefused, match="outside the range"):
        controller.save_thresholds(t.benign_below, min(0.999, high + 0.05))
    controller.scans.begin(make_stick(Path(controller.appliance.config.mock_usb), "X", 1))
    with pytest.raises(Refused, match="A scan is running"):
        controller.save_thresholds(t.benign_below, t.malignant_at)


def test_stick_for_prefers_the_scans_own_stick() -> None:
    a = Volume(id="a", label="A", mount_point=Path("/media/a"), source="usb")
    b = Volume(id="b", label="B", mount_point=Path("/media/b"), source="usb")

    class Scan:
        volume_path = "/media/b"

    assert stick_for(Scan(), [a, b]) == b
    assert stick_for(None, [a]) == a
    assert stick_for(None, [a, b]) is None
