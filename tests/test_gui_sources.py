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
    watcher = VolumeWatcher(port, poll_interval=0.02)
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


def test_udev_watcher_runs_in_the_qt_event_loop(qtbot, tmp_path):
    """The netlink socket is watched by pyudev's PySide6 observer (a QSocketNotifier); events
    go through the shared translator, whose mount wait runs in a thread, back to the GUI."""
    pytest.importorskip("pyudev")
    watcher = VolumeWatcher(None)
    try:
        watcher.start()
    except ApplianceError as exc:
        pytest.skip(f"udev is not usable here: {exc}")
    try:
        import pyudev.pyside6

        assert isinstance(watcher._observer, pyudev.pyside6.MonitorObserver)
        watcher._translator.mounts = _Mounts(tmp_path)
        gui_thread = threading.current_thread()
        threads = []
        watcher.inserted.connect(lambda v: threads.append(threading.current_thread()))
        with qtbot.waitSignal(watcher.inserted, timeout=5_000) as blocker:
            watcher._translator.handle(_Device("add"))
        volume = blocker.args[0]
        assert (volume.label, volume.mount_point, volume.source) == ("LAB STICK", tmp_path, "usb")
        assert threads == [gui_thread]
        with qtbot.waitSignal(watcher.removed, timeout=5_000):
            watcher._translator.handle(_Device("remove"))
    finally:
        watcher.stop()
