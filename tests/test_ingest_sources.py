"""Stick sources: the folder mock with real folders, udev logic with fake devices, mountinfo."""

from __future__ import annotations

import queue
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.errors import ApplianceError
from appliance.ingest.mock import MockUsbSource
from appliance.ingest.mounts import MountTable, parse_mountinfo, unescape
from appliance.ingest.sources import Volume, VolumeEvent, VolumeSourceUnavailable
from appliance.ingest.udev import UdevEventTranslator, UdevSource, is_usb_filesystem, volume_label

WAIT = 5.0  # seconds an expected event may take at most

# ---------------------------------------------------------------- mock (folder) source


def _next(events: queue.Queue[VolumeEvent], timeout: float = WAIT) -> VolumeEvent:
    return events.get(timeout=timeout)


def test_mock_source_reports_insert_and_remove(tmp_path: Path) -> None:
    (tmp_path / "already").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a-file.txt").write_text("not a stick")
    events: queue.Queue[VolumeEvent] = queue.Queue()

    with MockUsbSource(tmp_path, poll_interval=0.05) as source:
        assert source.present() == [
            Volume(id="already", label="already", mount_point=tmp_path / "already", source="folder")
        ]
        source.start(events.put)
        (tmp_path / "stick1").mkdir()
        inserted = _next(events)
        assert inserted.kind == "inserted"
        assert inserted.volume.id == "stick1"
        assert inserted.volume.mount_point == tmp_path / "stick1"
        assert inserted.volume.source == "folder"

        shutil.rmtree(tmp_path / "stick1")
        removed = _next(events)
        assert (removed.kind, removed.volume.id) == ("removed", "stick1")

        (tmp_path / "already").rmdir()
        removed = _next(events)
        assert (removed.kind, removed.volume.id) == ("removed", "already")
    assert events.empty()


def test_mock_source_stop_is_idempotent_and_silences(tmp_path: Path) -> None:
    events: queue.Queue[VolumeEvent] = queue.Queue()
    source = MockUsbSource(tmp_path, poll_interval=0.05)
    source.present()
    source.start(events.put)
    source.stop()
    source.stop()
    (tmp_path / "late").mkdir()
    time.sleep(0.3)
    assert events.empty()
    assert not any(t.name == "mock-usb-poll" for t in threading.enumerate())


def test_mock_source_receiver_error_does_not_stop_watching(tmp_path: Path) -> None:
    events: queue.Queue[VolumeEvent] = queue.Queue()

    def flaky(event: VolumeEvent) -> None:
        events.put(event)
        if event.volume.id == "first":
            raise RuntimeError("receiver bug")

    with MockUsbSource(tmp_path, poll_interval=0.05) as source:
        source.start(flaky)
        (tmp_path / "first").mkdir()
        assert _next(events).volume.id == "first"
        (tmp_path / "second").mkdir()
        assert _next(events).volume.id == "second"


def test_mock_source_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ApplianceError, match=r"mock USB folder .* does not exist"):
        MockUsbSource(tmp_path / "nope")


# ---------------------------------------------------------------- mountinfo

MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw
301 27 8:17 / /media/pi/LAB\040STICK ro,nosuid,nodev shared:200 - vfat /dev/sdb1 ro,fmask=0022
302 27 8:33 / /media/pi/writable rw,nosuid,nodev - exfat /dev/sdc1 rw
303 27 8:49 / /run/media/tab\011name ro - vfat /dev/sdd1 rw
bad line that is not mountinfo
"""


@pytest.fixture
def mounts(tmp_path: Path) -> MountTable:
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    return MountTable(path)


def test_mountinfo_parsing_unescapes_and_skips_bad_lines() -> None:
    entries = parse_mountinfo(MOUNTINFO)
    assert len(entries) == 5
    stick = entries[2]
    assert stick.mount_point == Path("/media/pi/LAB STICK")
    assert stick.source == "/dev/sdb1"
    assert stick.fs_type == "vfat"
    assert stick.device_number == (8, 17)
    assert stick.read_only
    assert unescape(r"a\040b\134c") == "a b\\c"


def test_mount_table_questions(mounts: MountTable) -> None:
    assert mounts.mount_point_of("/dev/sdb1") == Path("/media/pi/LAB STICK")
    assert mounts.mount_point_of("/dev/sdz9") is None
    assert mounts.is_read_only(Path("/media/pi/LAB STICK"))
    assert mounts.is_read_only("/run/media/tab\tname")  # per-mount "ro" is enough
    assert not mounts.is_read_only("/media/pi/writable")
    assert not mounts.is_read_only("/not/mounted")


def test_mount_table_missing_file_means_nothing_mounted(tmp_path: Path) -> None:
    table = MountTable(tmp_path / "absent")
    assert table.mount_point_of("/dev/sdb1") is None


def test_real_mountinfo_is_readable() -> None:
    assert MountTable().entries(), "this Linux system should have /proc/self/mountinfo"


# ---------------------------------------------------------------- udev logic (no real udev)

USB_PART = {
    "ID_BUS": "usb",
    "ID_FS_USAGE": "filesystem",
    "DEVTYPE": "partition",
    "ID_FS_UUID": "1234-ABCD",
    "ID_FS_LABEL": "LAB_STICK",
    "ID_FS_LABEL_ENC": r"LAB\x20STICK",
    "ID_MODEL": "Cruzer_Blade",
    "DEVNAME": "/dev/sdb1",
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"DEVTYPE": "disk"}, True),  # "superfloppy" stick: file system on the whole disk
        ({"ID_BUS": "ata"}, False),
        ({"ID_BUS": None}, False),
        ({"ID_FS_USAGE": "raid"}, False),
        ({"ID_FS_USAGE": None}, False),  # a disk holding a partition table
        ({"DEVTYPE": "loop"}, False),
        ({"DEVTYPE": None}, False),
    ],
)
def test_is_usb_filesystem(changes: dict[str, str | None], expected: bool) -> None:
    props = {k: v for k, v in {**USB_PART, **changes}.items() if v is not None}
    assert is_usb_filesystem(props) is expected


def test_volume_label_prefers_decoded_fs_label() -> None:
    assert volume_label(USB_PART, "/dev/sdb1") == "LAB STICK"
    no_label = {k: v for k, v in USB_PART.items() if not k.startswith("ID_FS_LABEL")}
    assert volume_label(no_label, "/dev/sdb1") == "Cruzer_Blade"
    assert volume_label({}, "/dev/sdb1") == "/dev/sdb1"


@dataclass
class FakeDevice:
    action: str | None
    props: dict[str, str]

    @property
    def device_node(self) -> str | None:
        return self.props.get("DEVNAME")

    @property
    def properties(self) -> Mapping[str, str]:
        return self.props

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.props.get(key, default)


@dataclass
class FakeMounts:
    """Mounts ``table`` entries only after ``delay_calls`` lookups, like a slow automounter."""

    table: dict[str, Path]
    delay_calls: int = 0
    read_only: bool = True
    calls: int = field(default=0)

    def mount_point_of(self, device_node: str) -> Path | None:
        self.calls += 1
        if self.calls <= self.delay_calls:
            return None
        return self.table.get(device_node)

    def is_read_only(self, mount_point: Path | str) -> bool:
        return self.read_only


def _translator(
    mounts: FakeMounts, timeout: float = 2.0
) -> tuple[UdevEventTranslator, queue.Queue[VolumeEvent]]:
    events: queue.Queue[VolumeEvent] = queue.Queue()
    return UdevEventTranslator(mounts, events.put, timeout, poll_interval=0.02), events


def test_add_waits_for_mount_then_remove() -> None:
    mounts = FakeMounts({"/dev/sdb1": Path("/media/pi/LAB STICK")}, delay_calls=3)
    translator, events = _translator(mounts)
    translator.handle(FakeDevice("add", dict(USB_PART)))
    translator.handle(FakeDevice("change", dict(USB_PART)))  # duplicate while waiting: ignored

    inserted = _next(events)
    assert inserted == VolumeEvent(
        "inserted",
        Volume(
            id="1234-ABCD", label="LAB STICK", mount_point=Path("/media/pi/LAB STICK"), source="usb"
        ),
    )
    assert mounts.calls >= 4

    # remove events carry few properties; the node is enough
    translator.handle(FakeDevice("remove", {"DEVNAME": "/dev/sdb1"}))
    assert _next(events) == VolumeEvent("removed", inserted.volume)
    translator.handle(FakeDevice("remove", {"DEVNAME": "/dev/sdb1"}))  # already gone: no event
    translator.stop()
    assert events.empty()


def test_non_usb_and_unmounted_devices_give_no_event() -> None:
    mounts = FakeMounts({"/dev/sda1": Path("/")})
    translator, events = _translator(mounts, timeout=0.1)
    translator.handle(FakeDevice("add", {**USB_PART, "ID_BUS": "ata", "DEVNAME": "/dev/sda1"}))
    translator.handle(FakeDevice("add", {**USB_PART, "DEVNAME": "/dev/sdx1"}))  # never mounted
    time.sleep(0.4)
    translator.stop()
    assert events.empty()


def test_remove_while_waiting_for_mount_cancels_insertion() -> None:
    mounts = FakeMounts({"/dev/sdb1": Path("/media/x")}, delay_calls=10**6)
    translator, events = _translator(mounts, timeout=5.0)
    translator.handle(FakeDevice("add", dict(USB_PART)))
    translator.handle(FakeDevice("remove", {"DEVNAME": "/dev/sdb1"}))
    started = time.perf_counter()
    translator.stop()
    assert time.perf_counter() - started < 1.0
    assert events.empty()


def test_card_reader_media_change_removes() -> None:
    mounts = FakeMounts({"/dev/sdb1": Path("/media/card")})
    translator, events = _translator(mounts)
    translator.handle(FakeDevice("change", dict(USB_PART)))
    assert _next(events).kind == "inserted"
    media_out = {k: v for k, v in USB_PART.items() if not k.startswith("ID_FS")}
    translator.handle(FakeDevice("change", media_out))
    assert _next(events).kind == "removed"
    translator.stop()


class FakeContext:
    def __init__(self, devices: list[FakeDevice]) -> None:
        self.devices = devices

    def list_devices(self, **filters: str) -> list[FakeDevice]:
        assert filters == {"subsystem": "block"}
        return self.devices


def test_udev_source_present_lists_mounted_usb_sticks() -> None:
    devices = [
        FakeDevice(None, dict(USB_PART)),
        FakeDevice(None, {**USB_PART, "DEVNAME": "/dev/sdc1", "ID_FS_UUID": "5678"}),  # unmounted
        FakeDevice(None, {**USB_PART, "DEVNAME": "/dev/sda1", "ID_BUS": "ata"}),
    ]
    mounts = FakeMounts({"/dev/sdb1": Path("/media/stick"), "/dev/sda1": Path("/")})
    source = UdevSource(context=FakeContext(devices), mounts=mounts)
    assert source.present() == [
        Volume(id="1234-ABCD", label="LAB STICK", mount_point=Path("/media/stick"), source="usb")
    ]
    source.stop()  # never started: nothing to do, no error


def test_udev_source_starts_and_stops_on_this_machine() -> None:
    pyudev = pytest.importorskip("pyudev")
    try:
        context = pyudev.Context()
    except (ImportError, OSError) as error:
        pytest.skip(f"libudev not usable here: {error}")
    with UdevSource(context=context) as source:
        assert isinstance(source.present(), list)
        try:
            source.start(lambda event: None)
        except ApplianceError as error:
            pytest.skip(f"udev monitor not available here: {error}")
        source.stop()
        source.stop()


def test_mock_source_reports_folder_created_between_present_and_start(tmp_path: Path) -> None:
    events: queue.Queue[VolumeEvent] = queue.Queue()
    with MockUsbSource(tmp_path, poll_interval=0.05) as source:
        assert source.present() == []
        (tmp_path / "quick").mkdir()
        source.start(events.put)
        assert _next(events).volume.id == "quick"


def test_udev_source_without_libudev_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyudev", None)  # makes "import pyudev" fail
    with pytest.raises(VolumeSourceUnavailable, match="USB stick detection is not available"):
        UdevSource()
