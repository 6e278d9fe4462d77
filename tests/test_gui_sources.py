"""Sticks arriving and leaving reach the GUI thread as Qt signals (mock folder and udev paths)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="the GUI needs the 'gui' extra (PySide6)")
pytestmark = pytest.mark.gui

from appliance.errors import ApplianceError  # noqa: E402
from appliance.gui.sources_qt import VolumeWatcher  # noqa: E402


def test_mock_folder_events_arrive_on_the_gui_thread(qtbot, tmp_path):
    port = tmp_path / "port"
    (port / "ALREADY").mkdir(parents=True)
    from appliance.ingest import MockUsbSource

    watcher = VolumeWatcher(lambda: MockUsbSource(port, poll_interval=0.02), "test port")
    present = watcher.start()
    try:
        assert [v.label for v in present] == ["ALREADY"]
        seen: list[tuple[str, bool]] = []
        gui_thread = threading.current_thread()
        watcher.inserted.connect(
            lambda v: seen.append((v.label, threading.current_thread() is gui_thread))
        )
        with qtbot.waitSignal(watcher.inserted, timeout=5_000):
            (port / "NEW").mkdir()
        assert seen == [("NEW", True)]
        assert {v.label for v in watcher.present} == {"ALREADY", "NEW"}
        with qtbot.waitSignal(watcher.removed, timeout=5_000) as blocker:
            (port / "NEW").rmdir()
        assert blocker.args[0].label == "NEW"
        assert [v.label for v in watcher.present] == ["ALREADY"]
    finally:
        watcher.stop()


class _Mounts:
    """Where the 'system' mounted the fake stick (read-only, as the appliance expects)."""

    def __init__(self, mount_point: Path) -> None:
        self.mount_point = mount_point

    def mount_point_of(self, device_node: str) -> Path | None:
        return self.mount_point if device_node == "/dev/sdz1" else None

    def is_read_only(self, mount_point) -> bool:
        return True


class _Device:
    def __init__(self, action: str) -> None:
        self.action = action
        self.device_node = "/dev/sdz1"
        self.properties = {
            "ID_BUS": "usb",
            "ID_FS_USAGE": "filesystem",
            "DEVTYPE": "partition",
            "ID_FS_LABEL": "LAB STICK",
            "ID_FS_UUID": "1234-ABCD",
        }


def test_udev_watcher_uses_the_shared_udev_source(qtbot, tmp_path):
    """The GUI watches sticks through the same UdevSource as `watch` (one udev decision, one
    read-only mount wait); its events, from the source's threads, arrive on the GUI thread."""
    pytest.importorskip("pyudev")
    from appliance.ingest.udev import UdevSource

    watcher = VolumeWatcher(lambda: UdevSource(mounts=_Mounts(tmp_path), automount=False), "usb")
    try:
        watcher.start()
    except ApplianceError as exc:
        pytest.skip(f"udev is not usable here: {exc}")
    try:
        assert isinstance(watcher.source, UdevSource)
        translator = watcher.source._translator
        gui_thread = threading.current_thread()
        threads = []
        watcher.inserted.connect(lambda v: threads.append(threading.current_thread()))
        with qtbot.waitSignal(watcher.inserted, timeout=5_000) as blocker:
            threading.Thread(target=translator.handle, args=(_Device("add"),)).start()
        volume = blocker.args[0]
        assert (volume.label, volume.mount_point, volume.source) == ("LAB STICK", tmp_path, "usb")
        assert threads == [gui_thread]
        assert watcher.present == [volume]
        with qtbot.waitSignal(watcher.removed, timeout=5_000):
            translator.handle(_Device("remove"))
        assert watcher.present == []
    finally:
        watcher.stop()
